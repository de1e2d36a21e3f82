#pragma once
// The compliance side of a run, shared by every packet path that owns
// workers (ftzgate-inspect, ftzgate-dp): the token key, one WorkerAccounting
// per worker, the ledger that merges them, and the threshold board the
// workers read. The ledger lives on the control side; workers only record.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/engine/compliance/ledger.hpp"
#include "ftz/engine/compliance/report_outbox.hpp"
#include "ftz/engine/compliance/threshold_board.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/report/summary.hpp"

namespace ftz::report {

class ComplianceDesk {
 public:
  // Loads the key named by the generation's compliance section
  // (compliance::resolve_token_key: the published demo key only with
  // allow_demo_key, i.e. --demo-token-key; otherwise the appliance's own key,
  // generated on first use beside the state file). Without a key_file the
  // desk is inert (note() says why) and individuals are not counted.
  static tl::expected<std::unique_ptr<ComplianceDesk>, std::string> create(
      const engine::PolicyGeneration& gen, uint32_t workers, bool allow_demo_key = false);
  // Warnings about the key for the operator's log (a generated key, a
  // refused or used demo key, a key file others can read).
  [[nodiscard]] const std::vector<std::string>& key_notes() const noexcept { return key_notes_; }

  // Options for worker `w` (key, its accounting, the board).
  [[nodiscard]] engine::WorkerOptions worker_options(uint32_t w, engine::WorkerOptions base) const;
  // Worker w's bank (null when inactive): its thread calls quiescent() once per loop.
  [[nodiscard]] engine::compliance::WorkerAccounting* accounting(uint32_t w) const noexcept {
    return w < accounting_.size() ? accounting_[w].get() : nullptr;
  }
  [[nodiscard]] bool active() const noexcept { return key_.has_value(); }
  [[nodiscard]] const std::string& note() const noexcept { return note_; }

  // Merges what the workers retired (`stopped`: the workers have exited and
  // both banks are taken), evaluates thresholds and approval expiry at
  // now_ns, publishes tenant states to the board and returns the notices.
  std::vector<ComplianceNotice> harvest(int64_t now_ns, bool stopped);

  // A policy generation the workers are about to run (the first one is
  // registered by create()): its tenants' threshold states are on the board
  // before any worker reads them, and its records are counted by tenant name.
  // Control thread; before the workers can see the generation.
  void register_generation(const engine::PolicyGeneration& gen);

  // ftzgate-dp --controller: what every later harvest takes also goes to
  // this outbox, for ftzgated (null while the desk is inactive).
  std::shared_ptr<engine::compliance::ReportOutbox> forward();
  // The key's published fingerprint (0 while inactive).
  [[nodiscard]] uint64_t key_fingerprint() const noexcept { return key_ ? key_->fingerprint() : 0; }
  // The tenants' states as ftzgated counts them (every data plane). From the
  // next harvest on, the board shows for each tenant the graver of those and
  // this data plane's own count (fail closed: a controller out of reach
  // never lowers a state).
  void set_remote_states(std::vector<std::pair<std::string, engine::ThresholdState>> states);

  // The year's table for the report (tenants with exports only).
  [[nodiscard]] std::vector<ComplianceRow> rows() const;
  // Persists the ledger (atomic); nothing to save before the first harvest.
  tl::expected<void, std::string> save(const std::string& path, int64_t now_ns) const;

 private:
  ComplianceDesk() = default;
  // The board, for every registered generation: this data plane's states,
  // raised to ftzgated's.
  void publish_states();

  struct Registered {
    uint64_t number = 0;
    std::vector<std::string> tenants;
    std::vector<std::string> zones;
  };

  engine::PolicySpec spec_;  // thresholds and approvals of the first generation
  std::optional<engine::compliance::TokenKey> key_;
  std::vector<std::unique_ptr<engine::compliance::WorkerAccounting>> accounting_;
  std::unique_ptr<engine::compliance::ThresholdBoard> board_;
  std::unique_ptr<engine::compliance::ComplianceLedger> ledger_;
  std::shared_ptr<engine::compliance::ReportOutbox> outbox_;
  std::vector<std::pair<std::string, engine::ThresholdState>> remote_states_;
  std::vector<Registered> generations_;  // the newest last, at most ThresholdBoard::kSlots
  std::string note_;
  std::vector<std::string> key_notes_;
};

// Adds one worker's totals (counters, reassembly, defrag, app, signatures,
// flows per rule, zone-pair bytes) to a run's summary: several workers add up
// to the report one worker would give.
void add_worker_totals(InspectSummary& s, engine::Worker& w, const engine::PolicyGeneration& gen);

}  // namespace ftz::report
