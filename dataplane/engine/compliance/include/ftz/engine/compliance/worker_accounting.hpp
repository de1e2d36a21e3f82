#pragma once
// WorkerAccounting: one per worker thread. The worker hands each confirmed
// identifier's token to the control thread over a bounded single-producer /
// single-consumer ring; the control thread (ComplianceLedger::merge) keeps the
// exact sets and sketches. The worker never allocates, rehashes, locks or
// throws for accounting: record() is a store into a preallocated slot
// (docs/decisions/0004-token-ring.md).
//
//   worker:  record(): writes slot tail_local_ (no atomic); quiescent(),
//            once per loop: tail_.store(tail_local_, release)
//   control: merge(): reads tail_ (acquire), absorbs slots [head, tail),
//            head_.store(tail, release) so the worker may reuse them
//
// A slot is written only between the consumer's release of it (head_) and the
// producer's publication (tail_), so a record is never read while written.
//
// Full ring (the control thread fell behind by `capacity` records): the record
// is dropped and counted in lost(tenant, class); the ledger counts every lost
// record as a possible new individual of that tenant and class for the
// thresholds (fail closed: a threshold fires early, never late).

#include <atomic>
#include <cstdint>
#include <memory>

#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine::compliance {

class ComplianceLedger;

// One confirmed identifier of one individual (32 bytes).
struct TokenRecord {
  uint64_t token = 0;
  int64_t ts_ns = 0;  // unix ns; the ledger takes the Asia/Shanghai year from it
  uint32_t tenant = 0;
  uint32_t dest_zone = 0;
  DataClass data_class = DataClass::kPi;
  uint8_t id_type = 0;
  // The low 16 bits of the policy generation whose indexes `tenant` and
  // `dest_zone` are (ComplianceLedger::map_generation).
  uint16_t generation = 0;
};
static_assert(sizeof(TokenRecord) == 32);

class WorkerAccounting {
 public:
  // 64 Ki records (2 MiB): at 10,000 confirmed identifiers per second and a
  // control thread harvesting every 100 ms the ring is 1/65 full.
  static constexpr uint32_t kDefaultCapacity = 1u << 16;

  // capacity: records the ring holds (rounded up to a power of two, at least
  // 64). tenants: lost records are attributed to tenants below this number;
  // a record of a tenant at or above it is lost for every tenant (fail closed).
  // Allocates everything here (slow path; may throw std::bad_alloc).
  explicit WorkerAccounting(uint32_t capacity = kDefaultCapacity, uint32_t tenants = 0);
  WorkerAccounting(const WorkerAccounting&) = delete;
  WorkerAccounting& operator=(const WorkerAccounting&) = delete;

  // One identifier of one individual left `tenant` towards `dest_zone` at
  // ts_ns. Worker thread only; visible to the control side after quiescent().
  // `generation`: PolicyGeneration::number() of the indexes.
  void record(uint32_t tenant, DataClass data_class, uint32_t dest_zone, uint8_t id_type, uint64_t token,
              int64_t ts_ns, uint64_t generation = 0) noexcept;

  // Worker thread, once per loop (also when idle): publishes the records
  // written since the last call.
  void quiescent() noexcept;

  struct Counters {
    uint64_t records = 0;    // record() calls
    uint64_t ring_full = 0;  // records dropped because the ring was full (see lost())
  };
  // Read by the worker thread (or after it stopped).
  const Counters& counters() const noexcept { return counters_; }
  uint32_t capacity() const noexcept { return mask_ + 1; }

 private:
  friend class ComplianceLedger;
  static constexpr uint32_t kClasses = static_cast<uint32_t>(DataClass::kCount);

  // Lost records per (generation % kLostGenerations, tenant, class): tenant
  // indexes are a generation's; tenant tenants_ stands for the tenants past it.
  static constexpr uint32_t kLostGenerations = 4;
  size_t lost_index(uint64_t slot, uint32_t tenant, uint32_t c) const noexcept {
    return (slot * (size_t{tenants_} + 1) + tenant) * kClasses + c;
  }
  std::atomic<uint64_t>& lost_slot(uint32_t tenant, DataClass c, uint64_t generation) noexcept;

  std::unique_ptr<TokenRecord[]> ring_;
  uint32_t mask_ = 0;
  uint32_t tenants_ = 0;
  std::unique_ptr<std::atomic<uint64_t>[]> lost_;  // written by the worker, read by the control side
  std::unique_ptr<uint64_t[]> lost_seen_;          // control side: lost_ already counted by the ledger
  alignas(64) std::atomic<uint64_t> tail_{0};      // published by the worker
  alignas(64) std::atomic<uint64_t> head_{0};      // released by the control side
  alignas(64) uint64_t tail_local_ = 0;            // worker-local from here on
  uint64_t head_cache_ = 0;                        // last head_ the worker read
  Counters counters_;
};

}  // namespace ftz::engine::compliance
