#pragma once
// The fleet's one count (issue 14 §2, decision 0023): every member puts its
// data planes' report batches into etcd before it acknowledges them, one
// member (the owner of `ledger/owner`, a key on its lease) counts them all
// in a ComplianceCenter of its own, raises each notice once for the fleet
// and writes the fleet's counts and threshold states, which every member
// reads and hands to its data planes.
//
// Part of ftzgated, not of ftz_daemon: the services' library stays free of
// etcd (the fuzz build compiles it without).

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "compliance_center.hpp"
#include "ftz/engine/policy_spec.hpp"
#include "ftz/fleet/etcd.hpp"
#include "ftz/fleet/records.hpp"
#include "ftzgate/v1/dataplane.pb.h"
#include "ftzgate/v1/management.pb.h"

namespace ftz::daemon {

class FleetLedger {
 public:
  struct Options {
    fleet::EtcdOptions etcd;
    std::string fleet;
    std::string member;
    // The member's token key (STATE/compliance/token.key): the fleet's, as
    // every member holds the same one (decision 0023 §1).
    std::string key_path;
    std::function<int64_t()> clock_ms;
    AuditHook audit;
    // The fleet's threshold states, whenever the owner wrote new ones.
    std::function<void(const ftzgate::v1::ThresholdStates&)> states;
    // As the fleet's commit points are: this member's device key signs what
    // it writes as the owner (detached signature text of the content), and
    // what is read is taken only when a member key of --fleet-keys signed
    // it (the key's id, or why not).
    std::function<std::string(const std::string& content)> sign;
    std::function<fleet::Result<std::string>(const std::string& signature, const std::string& content)>
        verify;
  };
  // Connects (etcd out of reach is no error: the ledger follows once it
  // answers); start() begins following.
  static fleet::Result<std::unique_ptr<FleetLedger>> open(Options options);
  void start();
  // Stops following; an owner gives its ownership up at once.
  ~FleetLedger();
  FleetLedger(const FleetLedger&) = delete;
  FleetLedger& operator=(const FleetLedger&) = delete;

  // A batch this member counted and saved, into etcd (from the Report
  // streams' threads): OK once etcd holds it, now or from an earlier send;
  // UNAVAILABLE when etcd does not answer (the data plane keeps it).
  grpc::Status store(const ftzgate::v1::ReportBatch& batch);
  // The running generation's policy: an owner counts everything again under
  // it. Not `fleet_policy` (a local-only override runs here): this member
  // does not keep the fleet's count, whose thresholds are the fleet's.
  void configure(const engine::PolicySpec& spec, bool fleet_policy);
  // `show compliance fleet [year YEAR]`: the counts the owner last wrote,
  // this year's (`year` 0) or those of `year`.
  grpc::Status show(int32_t year, ftzgate::v1::ShowComplianceReply* reply);

 private:
  explicit FleetLedger(Options options);
  void run();
  // Not an owner: reads who is, and becomes the owner when nobody is.
  void campaign();
  // The owner: a new count from every batch in etcd, then a watch on them.
  bool rebuild();
  // The owner, for at most a poll: the watch's batches, the lease kept
  // alive, and once a second the thresholds and what etcd shows of them.
  void serve();
  // The owner: the count, the states and the year's count into etcd while
  // this member owns the ledger; false when it no longer does (stepped down).
  bool write_summary();
  // The owner: deletes the batches of the years before last year.
  void prune();
  void step_down(const std::string& why);
  void follow_states();
  void apply(const fleet::KeyValue& kv);
  // The notice hook of the owner's count: audited once in the fleet.
  bool notice(const std::string& type, bool success, nlohmann::ordered_json details);
  // `payload` signed, as the owner writes it under `key`.
  [[nodiscard]] std::string sealed(const std::string& key, const std::string& payload) const;
  // The payload of `value` read from `key` and the key id that signed it,
  // or why it is not taken (unsigned, or not by a member key).
  [[nodiscard]] fleet::Result<std::pair<std::string, std::string>> opened(const std::string& key,
                                                                          const std::string& value) const;
  // Reads ledger/summary and ledger/states with opened(); a value refused
  // is audited once until a good one is read there again.
  std::optional<std::string> read_owned(const std::string& key, int64_t* mod_revision);

  Options options_;
  fleet::FleetKeys keys_;
  std::unique_ptr<fleet::Etcd> store_etcd_;  // store(), show(): the Report threads'
  std::unique_ptr<fleet::Etcd> etcd_;        // the ledger thread's

  std::mutex spec_mu_;
  std::optional<engine::PolicySpec> spec_;
  bool fleet_policy_ = false;  // spec_ is the fleet's configuration
  uint64_t spec_epoch_ = 0;

  // The ledger thread's own:
  std::atomic<bool> stop_{false};
  std::thread thread_;
  int64_t lease_ = 0;
  int64_t owner_revision_ = 0;  // ledger/owner's mod_revision while this member owns it
  uint64_t counted_epoch_ = 0;  // the spec_epoch_ the count was built under
  std::unique_ptr<ComplianceCenter> center_;
  std::unique_ptr<fleet::Watch> watch_;
  bool dirty_ = false;                             // counted since the last summary written
  int32_t written_year_ = 0;                       // the year of the last summary written
  ftzgate::v1::ShowComplianceReply last_written_;  // that summary
  // The year this owner counted when it saw its count roll over: the
  // batches of the years before it may go (never on the clock alone, which
  // may be wrong by years).
  int32_t prune_before_ = 0;
  int32_t pruned_before_ = 0;  // the batches of the years before it are deleted
  std::chrono::steady_clock::time_point next_tick_{};
  std::chrono::steady_clock::time_point next_summary_{};
  std::chrono::steady_clock::time_point next_campaign_{};
  std::chrono::steady_clock::time_point last_alive_{};
  std::chrono::steady_clock::time_point next_states_{};
  int64_t states_revision_ = 0;
  std::set<std::string> refused_values_;  // keys whose value was refused (said once)
  std::set<std::string> refused_;         // members whose batches were refused (said once per ownership)
  uint64_t notices_raised_ = 0;
  // The fleet's token key (its owner's, from ledger/summary; 0: not known
  // yet): a batch under another is not stored.
  std::atomic<uint64_t> fleet_fingerprint_{0};
  // The fleet's year (Asia/Shanghai), from the same signed summary: a member
  // whose clock is behind stores its batches under it, and does not count
  // for the fleet.
  std::atomic<int32_t> fleet_year_{0};
  bool clock_behind_said_ = false;
  std::atomic<bool> key_mismatch_said_{false};
  uint64_t own_fingerprint_ = 0;  // this member's token key's
  uint64_t refused_batches_ = 0;
};

}  // namespace ftz::daemon
