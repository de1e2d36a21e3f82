#include "ftz/engine/app/buffer_pool.hpp"

namespace ftz::engine::app {

BufferPool::BufferPool(uint32_t count, uint32_t size)
    : count_(count),
      size_(size),
      free_top_(count),
      // make_unique<T[]> value-initialises: pages are touched once here, not
      // on the first packets.
      storage_(std::make_unique<uint8_t[]>(static_cast<size_t>(count) * size)),
      free_(std::make_unique<uint32_t[]>(count)),
      in_use_(std::make_unique<uint8_t[]>(count)) {
  // Lowest indices on top so a lightly loaded worker keeps touching the same
  // few buffers (warm in cache).
  for (uint32_t i = 0; i < count; ++i) free_[i] = count - 1 - i;
}

uint32_t BufferPool::acquire() noexcept {
  if (free_top_ == 0) [[unlikely]] {
    ++exhausted_;
    return kNoBuffer;
  }
  const uint32_t idx = free_[--free_top_];
  in_use_[idx] = 1;
  if (count_ - free_top_ > peak_) peak_ = count_ - free_top_;
  return idx;
}

void BufferPool::release(uint32_t index) noexcept {
  if (index >= count_ || in_use_[index] == 0) [[unlikely]] {
    ++bad_releases_;
    return;
  }
  in_use_[index] = 0;
  free_[free_top_++] = index;
}

std::span<uint8_t> BufferPool::get(uint32_t index) noexcept {
  if (index >= count_) [[unlikely]]
    return {};
  return {storage_.get() + static_cast<size_t>(index) * size_, size_};
}

}  // namespace ftz::engine::app
