#pragma once
// A data plane's link to ftzgated (ftzgate-dp --controller): one thread
// keeps a Subscribe stream open (reconnecting with capped exponential
// backoff) and opens every bundle that arrives (bundle::open_bundle: trusted
// signer, hash, platform, validation, database) before the main loop sees it;
// a bundle that does not open is NACKed there and never reaches the engine.
// A second thread sends ACKs and NACKs and stores each applied bundle
// (atomically) for the next start without a controller. A third streams
// the compliance desk's tokens (ReportOutbox) to ftzgated, which counts
// every data plane's in one ledger, and with them the logger's alerts
// (post_alert) and every 5 s the data plane's counters (publish_stats); the token key ftzgated counts with
// arrives on the subscription and is kept in the state directory (0600)
// before the first bundle is handed over, and so are the tenants' threshold
// states as ftzgated counts them.
//
// The main loop only polls: take() hands over the newest opened bundle,
// applied() / refused() report what became of it, take_thresholds() the
// newest threshold states. Nothing here blocks it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/bundle/bundle.hpp"
#include "ftz/engine/compliance/report_outbox.hpp"
#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/report/flow_tally.hpp"

namespace ftz::controller {

struct LinkOptions {
  std::string target;            // "unix:PATH", or "HOST:PORT" with the three files below
  std::string ca_file;           // TCP: the CA that issued ftzgated's certificate
  std::string cert_file;         // TCP: our dataplane certificate (its name is dataplane_id)
  std::string key_file;          // TCP: its key
  std::string dataplane_id;      // how ftzgated and `show dataplanes` name us
  std::string state_dir;         // the stored bundle, ftzgated's token key, the compliance state
  std::string trusted_keys_dir;  // *.pub: the only signers we accept
};

// The data plane's counters since it started, as `show dataplanes` shows
// them (proto DataplaneStats).
struct Stats {
  int64_t uptime_s = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  uint64_t flows_active = 0;
  uint64_t flows_capacity = 0;  // the flow tables' slots
  uint64_t scan_states_active = 0;
  uint64_t scan_states_capacity = 0;
  uint64_t flows_created = 0;
  uint64_t alerts = 0;
  uint64_t detections = 0;
  std::vector<std::pair<std::string, uint64_t>> reasons;  // registry key, non-zero count
  // The ports the data plane drives itself (DPDK), counted since it started.
  struct Port {
    std::string name;
    std::string role;
    bool link_up = false;
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
    uint64_t rx_missed = 0, rx_errors = 0, tx_errors = 0, rx_nombuf = 0;
  };
  std::vector<Port> ports;
  // Ended flows by zone pair and deciding rule, by name.
  report::FlowTally::Counts flows;
};

// A bundle opened and ready to apply, with what identifies it to ftzgated.
// Its compliance key and state paths are the data plane's own
// (STATE/token.key, STATE/compliance.state), never the bundle's.
struct Incoming {
  bundle::OpenedBundle opened;
  std::string serialized;  // the SignedBundle as received: stored once applied
  std::chrono::steady_clock::time_point received;
};

// A kept outbox file (STATE/outbox: a ReportBatch, what an exit or the
// running mirror wrote) as the batch ReportOutbox::restore() takes. Tokens
// made under another key than `key_fingerprint` cannot be matched: each
// becomes a lost record (a possible person, fail closed), and `other_key`
// says how many; so does a token of a class this build does not know. An
// error when the bytes are not a report batch.
tl::expected<engine::compliance::OutboxBatch, std::string> decode_outbox(std::string_view bytes,
                                                                         uint64_t key_fingerprint,
                                                                         size_t* other_key = nullptr);

class ControllerLink {
 public:
  // Loads the trusted keys and creates the state directory (0700); an error
  // names what is missing.
  static tl::expected<std::unique_ptr<ControllerLink>, std::string> create(LinkOptions options);
  ~ControllerLink();
  ControllerLink(const ControllerLink&) = delete;
  ControllerLink& operator=(const ControllerLink&) = delete;

  // Before the data plane starts (its ports stay down meanwhile): the first
  // bundle from the controller, or, when the controller has not answered
  // within `headless_after`, the bundle stored by the last run (verified
  // again). Waits on while neither exists. nullopt when `stop` is set.
  std::optional<Incoming> first_bundle(const std::atomic<bool>& stop,
                                       std::chrono::milliseconds headless_after);

  // The newest bundle opened since the last call (older ones it replaced
  // were never applied and are not reported).
  std::optional<Incoming> take();
  // Every worker runs it: ACK, and store it for a headless start.
  void applied(const Incoming& b, uint64_t apply_us);
  // Opened but not applied (the engine refused it): NACK; the running
  // generation stays.
  void refused(const Incoming& b, const std::string& reason);

  // Streams what the compliance desk's harvests push into `outbox`, made
  // under the key with `key_fingerprint`, until ftzgated acknowledges it.
  // At destruction what is left is sent for up to 5 s more.
  void attach_outbox(std::shared_ptr<engine::compliance::ReportOutbox> outbox, uint64_t key_fingerprint);
  // The newest counters (the main loop calls this every few seconds); sent
  // every 5 s on the Report stream, older ones replaced unsent.
  void publish_stats(Stats stats);
  // The logger thread: an alert event `gen` names, for ftzgated's `show
  // alerts`. Queued (at most 4,096; more are counted in the counters'
  // alerts_unreported) and sent on the Report stream within 0.5 s; at
  // destruction what is queued goes with the tokens.
  void post_alert(const engine::Event& alert, const engine::PolicyGeneration& gen);

  // The tenants' threshold states as ftzgated counts them, when they
  // changed since the last call.
  std::optional<std::vector<std::pair<std::string, engine::ThresholdState>>> take_thresholds();

  // The generation running now (what a resubscription reports).
  [[nodiscard]] uint64_t running_generation() const;
  // Bundles refused, before the main loop saw them (bad signature ...) or by
  // the engine.
  [[nodiscard]] uint64_t nacks() const noexcept;
  // ftzgated asked for a restart (an administrator's `request dataplane
  // restart`): the main loop stops as at SIGTERM, then reexecute().
  [[nodiscard]] bool restart_requested() const noexcept;

 private:
  struct Impl;
  explicit ControllerLink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftz::controller
