#pragma once
// ComplianceLedger: the control-side record of distinct individuals whose PI
// left the zone since 1 January (Asia/Shanghai), per tenant, data class,
// destination zone and identifier type (DOMAIN.md §1.1 rows 4-6, §1.4). It
// takes the workers' token records, evaluates the configured thresholds, emits
// events once, and persists itself so that a restart keeps the year's counts.
// Single-threaded: call it from one control thread.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ftz/engine/compliance/hmac.hpp"
#include "ftz/engine/compliance/set_key.hpp"
#include "ftz/engine/compliance/threshold_board.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"
#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine::compliance {

class TokenKey;

struct TrackedApproval {
  uint32_t tenant = 0;
  std::string id;
  int64_t valid_until_s = 0;  // unix seconds, exclusive (ApprovalSpec::valid_until)
  int64_t valid_from_s = 0;
  Mechanism mechanism = Mechanism::kStandardContract;
  DataClassMask classes = 0;
};

// The OPEN questions of DOMAIN.md §1.4 that are not in ComplianceSpec.
struct LedgerOptions {
  // A person whose sensitive PI left also counts as a PI (general) individual.
  bool sensitive_counts_as_pi = false;
};

struct LedgerConfig {
  std::vector<std::string> tenant_names;  // index = tenant id (state file maps by name)
  std::vector<std::string> zone_names;    // index = destination zone id
  std::vector<ThresholdSpec> thresholds;
  std::vector<uint32_t> warn_percents = {80, 95, 100};
  CountMode count_mode = CountMode::kMaxOverIdentifierTypes;
  uint64_t max_tokens_per_set = 2'000'000;
  std::vector<TrackedApproval> approvals;
  MacAlgo algo = MacAlgo::kHmacSha256;
  uint64_t key_fingerprint = 0;  // TokenKey::fingerprint()
  LedgerOptions options;

  static LedgerConfig from_policy(const PolicySpec& policy, const TokenKey& key, LedgerOptions options = {});
};

enum class ComplianceEventKind : uint8_t {
  kThresholdWarn,
  kThresholdExceeded,
  kApprovalExpired,
  kYearRollover
};
const char* compliance_event_kind_name(ComplianceEventKind k) noexcept;

struct ComplianceEvent {
  ComplianceEventKind kind = ComplianceEventKind::kThresholdWarn;
  int64_t ts_ns = 0;
  int32_t year = 0;  // counting year (Asia/Shanghai)
  uint32_t tenant = 0;
  std::string tenant_name;
  // Thresholds:
  std::string threshold;  // ThresholdSpec::name
  std::string mechanism;  // ThresholdSpec::mechanism
  DataClass data_class = DataClass::kPi;
  uint32_t percent = 0;      // the warn percent crossed
  uint64_t individuals = 0;  // count at evaluation
  uint64_t line = 0;         // ThresholdSpec::individuals
  bool lower_bound = false;  // a set overflowed: "at least individuals"
  // Records a full worker ring dropped (WorkerAccounting), included in
  // `individuals` as possible new individuals: the count is then an upper bound.
  uint64_t lost = 0;
  // Approvals:
  std::string approval_id;
};

// Records a full ring or buffer dropped, attributed to a tenant
// (ComplianceLedger::kAnyTenant: to every tenant).
struct LostRecords {
  uint32_t tenant = 0;
  DataClass data_class = DataClass::kPi;
  uint64_t records = 0;
};

// What a merge took from the workers, for a data plane that forwards it to
// ftzgated (ReportOutbox): tenant and zone indexes are the ledger's.
struct Taken {
  std::vector<TokenRecord> records;
  std::vector<LostRecords> lost;
};

struct IndividualCount {
  uint64_t at_least = 0;   // exact unless saturated, then a lower bound
  bool saturated = false;  // a set reached max_tokens_per_set
  uint64_t overflow = 0;   // refused insertions (not deduplicated)
  uint64_t lost = 0;       // records a full worker ring dropped for this tenant and class (not in at_least)
};

class ComplianceLedger {
 public:
  // now_ns fixes the counting year until load() or a later evaluate().
  ComplianceLedger(LedgerConfig config, int64_t now_ns);

  // Takes the records the worker published (quiescent()) since the last call
  // and the records its full ring dropped (counted as possible individuals).
  // Returns how many records it took. Never blocks.
  // With `taken`, what it took is also appended there: the records that
  // were new to this ledger (a person seen again is forwarded once), and
  // every record a full set refused (it cannot tell), and the lost counts.
  size_t merge(WorkerAccounting& worker, Taken* taken = nullptr);
  // Also takes what the worker wrote after its last quiescent(). Only when
  // the worker thread is stopped or is the caller.
  size_t merge_stopped(WorkerAccounting& worker, Taken* taken = nullptr);

  // Unattributed lost records (a tenant the worker did not know) count for
  // every tenant.
  static constexpr uint32_t kAnyTenant = UINT32_MAX;
  // Names beyond this many tenants (or zones) are not given an index: a
  // tenant the configuration no longer has keeps its counts, but a peer
  // cannot grow the tables without bound.
  static constexpr size_t kMaxNames = 4096;

  // ftzgated: records another process took (a data plane's report). Ids
  // come from tenant_id() / zone_id(): a name gets an index on first use
  // (nullopt past kMaxNames; the caller counts the record as lost for every
  // tenant). Lost records count as possible individuals (fail closed).
  std::optional<uint32_t> tenant_id(std::string_view name);
  std::optional<uint32_t> zone_id(std::string_view name);
  void add(const TokenRecord& r) { (void)absorb(r); }
  void add_lost(uint32_t tenant, DataClass c, uint64_t records);

  // Rolls the year if now_ns is in a later one, evaluates every threshold of
  // every tenant, updates tenant states and returns the newly crossed
  // percents: each (tenant, threshold, percent, year) fires once, also across
  // restarts (the fired set is persisted).
  std::vector<ComplianceEvent> evaluate(int64_t now_ns);
  // One event per approval once now_ns >= valid_until (persisted too).
  std::vector<ComplianceEvent> check_approval_expiry(int64_t now_ns);

  // Exact counts (kAllDestZones = union over destinations). Without id_type
  // the identifier types combine by count_mode (max or sum); that overload
  // also reports the tenant's and class's lost records.
  IndividualCount individuals(uint32_t tenant, DataClass c, uint32_t dest_zone, uint8_t id_type) const;
  IndividualCount individuals(uint32_t tenant, DataClass c, uint32_t dest_zone) const;
  // HyperLogLog estimates, same combination rule.
  double estimate(uint32_t tenant, DataClass c, uint32_t dest_zone, uint8_t id_type) const;
  double estimate(uint32_t tenant, DataClass c, uint32_t dest_zone) const;
  // Last year's frozen summary (exact count at rollover, plus HLL).
  IndividualCount previous_year_individuals(uint32_t tenant, DataClass c, uint32_t dest_zone) const;
  int32_t previous_year() const noexcept { return previous_year_; }

  // Records from workers carry their generation's tenant and zone indexes:
  // once a generation is mapped here (by its tenants' and zones' names, before
  // any worker runs it), records of every generation are read through their
  // generation's map, so counts follow tenants by name however commits
  // reorder them. A record of a generation not mapped (more than kGenerations
  // old) counts as a lost record of every tenant. A worker's lost records
  // (full ring) are attributed through the newest map of their generation
  // slot (generation mod 4). Without any map, indexes are the ledger's own
  // (one generation: ftzgate-inspect, tests).
  static constexpr size_t kGenerations = 8;
  void map_generation(uint64_t generation, const std::vector<std::string>& tenants,
                      const std::vector<std::string>& zones);
  // The tenants' states in `generation`'s order (mapped; else the ledger's order).
  std::vector<ThresholdState> states_for(uint64_t generation) const;

  ThresholdState tenant_state(uint32_t tenant) const noexcept;
  // The tenant holds a valid approval that satisfies the threshold.
  bool satisfied(uint32_t tenant, const ThresholdSpec& th, int64_t now_ns) const noexcept;
  const std::vector<ThresholdState>& tenant_states() const noexcept { return states_; }

  int32_t year() const noexcept { return year_; }
  const std::vector<std::string>& tenant_names() const noexcept { return config_.tenant_names; }
  const std::vector<std::string>& zone_names() const noexcept { return config_.zone_names; }
  const LedgerConfig& config() const noexcept { return config_; }
  size_t memory_bytes() const noexcept;

  struct Counters {
    uint64_t tokens_merged = 0;  // records of the current year taken from workers
    uint64_t lost_records = 0;   // records workers' full rings dropped (fail closed: counted as individuals)
    uint64_t late_tokens = 0;    // previous year's records after rollover (HLL only)
    uint64_t stale_tokens = 0;   // older than the previous year: dropped
    uint64_t rollovers = 0;
  };
  const Counters& counters() const noexcept { return counters_; }

  // Atomic: temp file, fsync, rename, fsync of the directory.
  tl::expected<void, std::string> save(const std::string& path, int64_t now_ns) const;
  // true: loaded; false: no file (first start). A corrupt, truncated or
  // foreign (other key, other algorithm) file is an error and the ledger is
  // left exactly as it was: never a silent reset of the year.
  tl::expected<bool, std::string> load(const std::string& path);

 private:
  struct Summary {
    uint64_t individuals = 0;
    uint64_t overflow = 0;
    uint64_t late_tokens = 0;
    Hll hll;
  };
  using SetMap = std::unordered_map<SetKey, SetState, SetKeyHash>;

  size_t take(WorkerAccounting& worker, uint64_t tail, Taken* taken);
  // false when the record adds nothing (a person this ledger has for the
  // key already, or a record older than the previous year).
  bool absorb(const TokenRecord& r);
  // The result for the record's own set (its destination zone).
  TokenSet::Insert insert(const SetKey& k, uint64_t token);
  uint64_t lost(uint32_t tenant, DataClass c) const noexcept;
  SetState& set_for(const SetKey& k);
  void roll_to(int32_t year, int64_t now_ns, std::vector<ComplianceEvent>* events);
  uint64_t threshold_value(uint32_t tenant, DataClass c, bool* lower_bound) const;
  uint32_t tenant_index(const std::string& name);
  uint32_t zone_index(const std::string& name);

  struct GenerationMap {
    uint64_t generation = 0;
    std::vector<std::optional<uint32_t>> tenants;  // generation index -> ledger id
    std::vector<std::optional<uint32_t>> zones;
  };
  // The record in the ledger's indexes; nullopt when no map names its tenant.
  std::optional<TokenRecord> translate(const TokenRecord& r) const;
  // The ledger's id of a worker's lost-record slot (generation slot, tenant
  // index; `unknown` is the worker's "past its tenants"), or kAnyTenant.
  uint32_t lost_tenant(uint32_t slot, uint32_t tenant, uint32_t unknown) const;

  LedgerConfig config_;
  std::vector<GenerationMap> maps_;  // the newest last, at most kGenerations
  int32_t year_ = 0;
  SetMap sets_;  // current year, key.year == 0
  int32_t previous_year_ = 0;
  std::unordered_map<SetKey, Summary, SetKeyHash> previous_;
  std::set<std::tuple<uint32_t, std::string, uint32_t>> fired_;  // (tenant, threshold, percent), this year
  std::set<std::pair<uint32_t, std::string>> approvals_fired_;
  std::vector<ThresholdState> states_;
  std::map<std::pair<uint32_t, DataClass>, uint64_t> lost_;  // this year, by (tenant or kAnyTenant, class)
  std::vector<ComplianceEvent> pending_;  // rollover seen by merge(), returned by evaluate()
  Counters counters_;
};

}  // namespace ftz::engine::compliance
