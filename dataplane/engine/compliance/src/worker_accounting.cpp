#include "ftz/engine/compliance/worker_accounting.hpp"

#include <new>

namespace ftz::engine::compliance {

WorkerAccounting::WorkerAccounting(uint64_t max_tokens_per_set) : max_tokens_(max_tokens_per_set) {}

SetState* WorkerAccounting::find_or_add(const SetKey& k) noexcept {
  Bank& bank = banks_[active_];
  auto it = bank.find(k);
  if (it != bank.end()) return &it->second;
  try {
    return &bank.try_emplace(k, max_tokens_).first->second;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void WorkerAccounting::record(uint32_t tenant, DataClass data_class, uint32_t dest_zone, uint8_t id_type,
                              uint64_t token, int64_t ts_ns) noexcept {
  ++counters_.records;
  const int64_t ts_s = civil::floor_div(ts_ns, kNsPerSecond);
  if (ts_s < year_begin_s_ || ts_s >= year_end_s_) [[unlikely]] {
    year_ = shanghai_year_of_s(ts_s);
    year_begin_s_ = shanghai_year_start_s(year_);
    year_end_s_ = shanghai_year_start_s(year_ + 1);
  }
  const SetKey k{tenant, dest_zone, year_, data_class, id_type};
  SetState* s = (last_set_ != nullptr && last_key_ == k) ? last_set_ : find_or_add(k);
  if (s == nullptr) [[unlikely]] {
    ++counters_.dropped_no_memory;
    return;
  }
  last_key_ = k;
  last_set_ = s;
  s->hll.add(token);
  if (s->exact.insert(token) == TokenSet::Insert::kFull) [[unlikely]]
    ++counters_.bank_overflow;
}

void WorkerAccounting::quiescent() noexcept {
  const uint32_t want = requested_.load(std::memory_order_acquire);
  if (want != active_) {
    active_ = want;
    last_set_ = nullptr;
  }
  acked_.store(active_, std::memory_order_release);
}

}  // namespace ftz::engine::compliance
