#pragma once
// WorkerAccounting: one per worker thread, written only by that thread with no
// lock. Two banks: the worker records into the active bank; the control side
// (ComplianceLedger::merge) takes the other one, like an RCU grace period:
//
//   control: sees acked == requested (acquire) -> the worker no longer touches
//            bank 1-requested; absorbs and clears it; requested = 1-requested (release)
//   worker:  quiescent(): active = requested (acquire); acked = active (release)
//
// so a bank is never written by both sides at once. The worker must call
// quiescent() once per loop, also when idle (a worker that never does so is
// never harvested). record() allocates only when a bank meets a new set key
// or a set grows past its previous size: banks keep their tables between
// harvests, so the steady state allocates nothing.

#include <atomic>
#include <cstdint>
#include <unordered_map>

#include "ftz/engine/compliance/calendar.hpp"
#include "ftz/engine/compliance/set_key.hpp"

namespace ftz::engine::compliance {

class ComplianceLedger;

class WorkerAccounting {
 public:
  explicit WorkerAccounting(uint64_t max_tokens_per_set = 2'000'000);
  WorkerAccounting(const WorkerAccounting&) = delete;
  WorkerAccounting& operator=(const WorkerAccounting&) = delete;

  // One identifier of one individual left `tenant` towards `dest_zone` at
  // ts_ns (unix ns; the Asia/Shanghai year is taken from it). Worker thread only.
  void record(uint32_t tenant, DataClass data_class, uint32_t dest_zone, uint8_t id_type, uint64_t token,
              int64_t ts_ns) noexcept;

  // Worker thread, once per loop: lets the control side harvest a bank.
  void quiescent() noexcept;

  struct Counters {
    uint64_t records = 0;            // record() calls
    uint64_t bank_overflow = 0;      // tokens refused by a full bank set (HLL still has them)
    uint64_t dropped_no_memory = 0;  // a new set key could not be allocated (record lost)
  };
  // Read by the worker thread (or after it stopped).
  const Counters& counters() const noexcept { return counters_; }

 private:
  friend class ComplianceLedger;
  using Bank = std::unordered_map<SetKey, SetState, SetKeyHash>;

  SetState* find_or_add(const SetKey& k) noexcept;

  uint64_t max_tokens_;
  Bank banks_[2];
  alignas(64) std::atomic<uint32_t> requested_{0};  // written by the control side
  alignas(64) std::atomic<uint32_t> acked_{0};      // written by the worker
  alignas(64) uint32_t active_ = 0;                 // worker-local from here on
  int64_t year_begin_s_ = 0;  // cached [begin, end) of year_ (avoids the civil calendar per record)
  int64_t year_end_s_ = 0;
  int32_t year_ = 0;
  SetKey last_key_{};
  SetState* last_set_ = nullptr;  // into banks_[active_]; reset when switching
  Counters counters_;
};

}  // namespace ftz::engine::compliance
