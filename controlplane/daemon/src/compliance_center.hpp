#pragma once
// ftzgated's count of individuals (docs/compliance.md "Counting in the
// control plane"): one ComplianceLedger for every data plane, fed by their
// Report streams, under the token key ftzgated owns and hands to them. It
// saves the ledger before a batch is acknowledged, decides the thresholds,
// audits every notice and says when a tenant's state changed, so that the
// data planes' rules (`threshold:`) see what all of them saw together.
//
// Files, under <state-dir>/compliance/ (0700): token.key (generated on first
// start, 0600) and ledger.state (ComplianceLedger::save). A saver thread
// writes the ledger whenever batches changed it; one save covers every
// batch applied meanwhile, so the acknowledgements wait for at most about
// two saves.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <tl/expected.hpp>
#include <utility>

#include "ftz/engine/compliance/ledger.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/policy_spec.hpp"
#include "ftzgate/v1/dataplane.pb.h"
#include "ftzgate/v1/management.pb.h"

namespace ftz::daemon {

// Writes a system audit record (event type, success, details); false when it
// could not be written.
using AuditHook = std::function<bool(const std::string&, bool, nlohmann::ordered_json)>;

class ComplianceCenter {
 public:
  // Loads the token key (generating it on first start) and, with the first
  // configure(), the saved ledger.
  static tl::expected<std::unique_ptr<ComplianceCenter>, std::string> open(const std::string& dir,
                                                                           std::function<int64_t()> clock_ms,
                                                                           AuditHook audit);
  // A fleet's count (decision 0023 §4), kept by the member that owns the
  // fleet's ledger: in memory only (the owner rebuilds it from etcd), under
  // the token key at `key_path` (the member's own: one key per fleet), and
  // without the per-data-plane sequence check: etcd's keys already make
  // every batch count once, and batches come in key order, not send order.
  static tl::expected<std::unique_ptr<ComplianceCenter>, std::string> open_fleet(
      const std::string& key_path, std::function<int64_t()> clock_ms, AuditHook audit);

  // The running generation's tenants, thresholds and approvals (at start
  // and after every change of the running generation). Counts carry over by
  // tenant name. An error (an unreadable or foreign state file) leaves the
  // ledger as it was.
  tl::expected<void, std::string> configure(const engine::PolicySpec& spec);

  // A data plane's batch. Returns the save epoch to wait for before the
  // batch is acknowledged, or the status refusing it (nothing of it counted).
  tl::expected<uint64_t, grpc::Status> apply(const ftzgate::v1::ReportBatch& batch);
  // Waits (up to `max`) until the ledger on disk holds epoch `epoch`.
  bool wait_saved(uint64_t epoch, std::chrono::milliseconds max);

  // Once a second: evaluates the thresholds and approvals (each notice
  // audited) and returns the states when one changed since the last call.
  std::optional<ftzgate::v1::ThresholdStates> tick();

  [[nodiscard]] ftzgate::v1::ThresholdStates states() const;
  // The year counted (Asia/Shanghai; 0 before the first configure()).
  [[nodiscard]] int32_t year() const;
  // In a fleet the fleet's owner audits notices (once for the fleet); this
  // count still evaluates, and its states still act, but says nothing.
  void quiet_notices() { quiet_.store(true); }
  // The token key file's content, for data planes (the authenticated channel only).
  [[nodiscard]] const std::string& key_file() const noexcept { return key_file_; }
  void show(ftzgate::v1::ShowComplianceReply* reply) const;
  // Last year's counts as they were frozen at rollover (exact, as the
  // state file keeps them): year, key fingerprint and, per tenant and
  // class, individuals and saturated (no lost records, states or
  // estimates: the rollover does not keep them).
  void show_previous_year(ftzgate::v1::ShowComplianceReply* reply) const;
  // Stops the saver after a last save (at shutdown; also the destructor).
  void stop();
  ~ComplianceCenter();
  ComplianceCenter(const ComplianceCenter&) = delete;
  ComplianceCenter& operator=(const ComplianceCenter&) = delete;

 private:
  ComplianceCenter() = default;
  void saver_loop();
  [[nodiscard]] int64_t now_ns() const { return clock_ms_() * 1'000'000; }
  ftzgate::v1::ThresholdStates states_locked() const;
  void save_locked();

  std::string key_path_;
  std::string state_path_;  // empty: in memory (open_fleet)
  bool dedup_ = true;       // skip a data plane's batches of a seq already applied
  std::atomic<bool> quiet_{false};
  std::string key_file_;
  std::function<int64_t()> clock_ms_;
  AuditHook audit_;

  mutable std::mutex mu_;
  std::condition_variable saved_cv_;  // saved_epoch_ moved
  std::condition_variable dirty_cv_;  // applied_epoch_ moved, or stopping_
  bool stopping_ = false;
  std::thread saver_;
  std::optional<engine::compliance::TokenKey> key_;
  std::unique_ptr<engine::compliance::ComplianceLedger> ledger_;
  uint64_t applied_epoch_ = 0;  // batches applied
  uint64_t saved_epoch_ = 0;    // ... of which the state file holds
  int64_t saved_unix_s_ = 0;
  std::string save_problem_;  // the last save's error, said once
  std::string load_problem_;  // why there is no ledger (a state file that does not load)
  std::string published_;     // the states last returned by tick() (serialized)
  // (boot_id, last seq) per data plane: a resent batch is applied once.
  std::map<std::string, std::pair<uint64_t, uint64_t>> seen_;
  uint64_t batches_ = 0;
  uint64_t duplicates_ = 0;
};

}  // namespace ftz::daemon
