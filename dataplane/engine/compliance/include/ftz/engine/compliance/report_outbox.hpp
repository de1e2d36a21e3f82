#pragma once
// ReportOutbox: what a data plane's ledger took from its workers, waiting to
// reach ftzgated (ftzgate-dp --controller), which counts every data plane's
// tokens in one ledger (docs/compliance.md "Counting in the control plane").
// The compliance desk pushes from the main loop; the controller link's
// reporter takes one batch at a time and acknowledges it once ftzgated has
// it on disk. Until then the batch is sent again, unchanged (same sequence
// number), after every reconnection.
//
// Bounded: records beyond `capacity` are not kept. Each counts as a lost
// record of its tenant and class, which ftzgated counts as a possible new
// individual (fail closed: a threshold fires early, never late).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ftz/engine/compliance/ledger.hpp"

namespace ftz::engine::compliance {

struct OutboxBatch {
  uint64_t seq = 0;  // 1, 2, ...
  // The names the records' tenant and dest_zone index.
  std::vector<std::string> tenants;
  std::vector<std::string> zones;
  std::vector<TokenRecord> records;
  // tenant == ComplianceLedger::kAnyTenant: lost for every tenant.
  std::vector<LostRecords> lost;
};

class ReportOutbox {
 public:
  // 1 Mi records of 32 bytes (32 MiB): at 10,000 confirmed identifiers a
  // second, 100 s without ftzgated.
  static constexpr size_t kDefaultCapacity = size_t{1} << 20;
  static constexpr size_t kBatchRecords = 16384;

  explicit ReportOutbox(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // What one harvest took; indexes are the ledger's (tenant_names,
  // zone_names name them).
  void push(const Taken& taken, const std::vector<std::string>& tenant_names,
            const std::vector<std::string>& zone_names);

  // The batch to send: the unacknowledged one again, else a new one of up
  // to kBatchRecords records and every lost count; nullopt when nothing waits.
  std::optional<OutboxBatch> next();
  // ftzgated has batch `seq`: it is not sent again.
  void acked(uint64_t seq);

  // Everything not acknowledged (the batch in flight first) as one batch
  // with seq 0, the outbox left empty: what a data plane keeps for its next
  // run when ftzgated did not take it before the exit.
  OutboxBatch take_all();
  // The same without emptying the outbox: what a data plane mirrors to
  // disk while it runs, so that a crash loses no more than the mirror's age.
  [[nodiscard]] OutboxBatch snapshot() const;
  // Changes whenever what waits changes (push, acknowledgement, restore,
  // take_all): a mirror that is current need not be written again.
  [[nodiscard]] uint64_t version() const;
  // A previous run's take_all(), queued before what this run pushed (its
  // records are older). Records beyond the capacity, or whose names are
  // missing, become lost counts.
  void restore(const OutboxBatch& b);

  struct Counters {
    uint64_t pushed = 0;        // records pushed
    uint64_t overflow = 0;      // records not kept (sent as lost counts)
    uint64_t acked = 0;         // records ftzgated acknowledged
    uint64_t pending = 0;       // records waiting, in flight included
    uint64_t lost_pending = 0;  // lost records waiting to be counted (in flight included)
    uint64_t restored = 0;      // records a previous run kept (restore())
  };
  [[nodiscard]] Counters counters() const;
  // Nothing waits: no record and no lost count (in flight included).
  [[nodiscard]] bool empty() const;

 private:
  // The outbox's own index of a name (names are few: tenants and zones).
  static uint32_t intern(std::vector<std::string>& names, const std::string& name);
  // Everything not acknowledged, as take_all() returns it (mu_ held).
  [[nodiscard]] OutboxBatch collect() const;

  mutable std::mutex mu_;
  size_t capacity_;
  std::deque<TokenRecord> pending_;  // tenant, dest_zone: indexes into tenants_, zones_
  std::vector<std::string> tenants_;
  std::vector<std::string> zones_;
  std::map<std::pair<uint32_t, DataClass>, uint64_t> lost_;  // tenant: an index into tenants_ or kAnyTenant
  std::optional<OutboxBatch> in_flight_;
  uint64_t next_seq_ = 1;
  uint64_t version_ = 0;
  Counters counters_;
};

}  // namespace ftz::engine::compliance
