#include "ftz/engine/compliance/worker_accounting.hpp"

#include <algorithm>
#include <bit>

namespace ftz::engine::compliance {

WorkerAccounting::WorkerAccounting(uint32_t capacity, uint32_t tenants)
    : mask_(std::bit_ceil(std::max<uint32_t>(capacity, 64)) - 1), tenants_(tenants) {
  ring_ = std::make_unique<TokenRecord[]>(size_t{mask_} + 1);
  const size_t lost_slots = kLostGenerations * (size_t{tenants_} + 1) * kClasses;
  lost_ = std::make_unique<std::atomic<uint64_t>[]>(lost_slots);
  lost_seen_ = std::make_unique<uint64_t[]>(lost_slots);
  for (size_t i = 0; i < lost_slots; ++i) {
    lost_[i].store(0, std::memory_order_relaxed);
    lost_seen_[i] = 0;
  }
}

std::atomic<uint64_t>& WorkerAccounting::lost_slot(uint32_t tenant, DataClass c,
                                                   uint64_t generation) noexcept {
  const uint32_t t = tenant < tenants_ ? tenant : tenants_;
  const uint32_t k = static_cast<uint32_t>(c) < kClasses ? static_cast<uint32_t>(c) : 0;
  return lost_[lost_index(generation % kLostGenerations, t, k)];
}

void WorkerAccounting::record(uint32_t tenant, DataClass data_class, uint32_t dest_zone, uint8_t id_type,
                              uint64_t token, int64_t ts_ns, uint64_t generation) noexcept {
  ++counters_.records;
  if (tail_local_ - head_cache_ > mask_) {
    head_cache_ = head_.load(std::memory_order_acquire);
    if (tail_local_ - head_cache_ > mask_) [[unlikely]] {
      ++counters_.ring_full;
      // Relaxed: a monotonic counter; the ledger reads it with the records it
      // harvests and only needs to see it eventually.
      std::atomic<uint64_t>& lost = lost_slot(tenant, data_class, generation);
      lost.store(lost.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return;
    }
  }
  ring_[tail_local_ & mask_] =
      TokenRecord{token, ts_ns, tenant, dest_zone, data_class, id_type, static_cast<uint16_t>(generation)};
  ++tail_local_;
}

void WorkerAccounting::quiescent() noexcept {
  tail_.store(tail_local_, std::memory_order_release);
}

}  // namespace ftz::engine::compliance
