#pragma once
// Fixed pool of fixed-size accumulation buffers for the app parsers.
//
// Everything is allocated once in the constructor (slow path, may throw
// std::bad_alloc); acquire/release/get never allocate and are O(1). Not
// thread-safe: each worker owns its pool, like the rest of its AppContext.

#include <cstdint>
#include <memory>
#include <span>

namespace ftz::engine::app {

class BufferPool {
 public:
  static constexpr uint32_t kNoBuffer = UINT32_MAX;

  // `count` buffers of `size` bytes each. Either may be 0 (every acquire then
  // fails and is counted), which keeps tests and tiny configs simple.
  BufferPool(uint32_t count, uint32_t size);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A free buffer's index, or kNoBuffer when all are in use (counted in
  // exhausted()). The buffer's content is unspecified.
  uint32_t acquire() noexcept;
  // Returns a buffer. Releasing kNoBuffer, an out-of-range index or a buffer
  // that is not in use is a no-op counted in bad_releases() (never corrupts
  // the free list).
  void release(uint32_t index) noexcept;
  // The bytes of buffer `index`; empty span for an invalid index.
  std::span<uint8_t> get(uint32_t index) noexcept;

  uint32_t in_use() const noexcept { return count_ - free_top_; }
  uint32_t count() const noexcept { return count_; }
  uint32_t buffer_size() const noexcept { return size_; }
  uint64_t exhausted() const noexcept { return exhausted_; }
  uint64_t bad_releases() const noexcept { return bad_releases_; }
  // High-water mark of in_use(), for sizing the pool from field data.
  uint32_t peak_in_use() const noexcept { return peak_; }

 private:
  uint32_t count_;
  uint32_t size_;
  uint32_t free_top_;  // number of entries in free_
  uint32_t peak_ = 0;
  uint64_t exhausted_ = 0;
  uint64_t bad_releases_ = 0;
  std::unique_ptr<uint8_t[]> storage_;  // count_ * size_ bytes
  std::unique_ptr<uint32_t[]> free_;    // stack of free indices
  std::unique_ptr<uint8_t[]> in_use_;   // 1 per buffer; guards double release
};

}  // namespace ftz::engine::app
