#pragma once
// Internal to ftzgate-dp: the main lcore's side of the appliance (control
// services, generations, distribution), shared by its source files,
// stats.cpp and telemetry.cpp. The workers see only its PacketPath.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "event_logger.hpp"
#include "ftz/capture/capture_reader.hpp"
#include "ftz/drivers/flow_offload.hpp"
#include "ftz/report/compliance_desk.hpp"
#include "ftz/report/output_file.hpp"
#include "packet_path.hpp"
#include "worker_slot.hpp"

namespace ftz::dpdk {

struct ReloadStats {
  uint64_t reloads = 0;
  uint64_t failures = 0;
  std::string last_error;
  double last_ms = 0;             // SIGHUP to every worker on the new generation
  double last_build_ms = 0;       // config load + generation + scanners
  uint64_t last_extra_bytes = 0;  // RSS growth while two generations were held
  double max_ms = 0;
  uint64_t max_extra_bytes = 0;
  uint64_t scanners_freed = 0;  // old scanners workers handed back after their streams moved
};

// The appliance as the main lcore owns it: the PacketPath it shares with
// the workers (const for them) and everything only the main lcore (and the
// reload thread it starts) touches.
class Appliance : public PacketPath {
 public:
  Appliance(const DpOptions& options, drivers::HardwareProfile profile);
  ~Appliance();

  std::vector<std::unique_ptr<WorkerSlot>> workers;
  std::unique_ptr<Published> running;   // the generation the workers run (or adopt)
  std::unique_ptr<Published> previous;  // waiting for its grace period
  uint64_t grace_token = 0;
  std::unique_ptr<report::ComplianceDesk> desk;
  std::vector<report::ComplianceNotice> notices;
  std::vector<std::unique_ptr<drivers::FlowOffload>> offload;  // per port index
  // Drains the workers' events and writes EVE on its own thread. Every
  // write is checked; a failure is counted, logged (OutputHealth) and makes
  // the exit code 1, the data plane keeps forwarding (docs/dpdk.md "Write
  // errors").
  std::unique_ptr<EventLogger> logger;
  rte_ring* offload_removals = nullptr;  // logger -> main lcore: rules of ended flows
  // What the operator was last told (warnings are logged when these grow,
  // at most every kWarnEvery).
  struct OutputHealth {
    uint64_t eve_errors = 0;
    uint64_t records_refused = 0;
    uint64_t records_backlogged = 0;
    std::chrono::steady_clock::time_point next_warning{};
  } health;
  // Logs a warning when EVE writes fail or flow records had to wait in a
  // backlog or were refused (ending in the fail mode) since the last one.
  void check_health(bool final);
  uint64_t next_generation = 2;
  // A reload being built on a control thread; it leaves its result in `reload_result`.
  std::future<void> building;
  tl::expected<std::unique_ptr<Published>, std::string> reload_result;
  bool reload_wanted = false;
  std::chrono::steady_clock::time_point reload_requested;
  // --controller: where generations come from, and the bundle being built
  // or waiting for its grace period (ACKed or NACKed when that ends).
  std::unique_ptr<controller::ControllerLink> controller_link;
  std::optional<controller::Incoming> applying;
  uint64_t rss_before_reload = 0;
  ReloadStats reload;
  // What telemetry (its own thread) may read while the main lcore writes.
  struct TelemetryState {
    std::atomic<uint64_t> generation{1};
    std::atomic<uint64_t> reloads{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> last_reload_us{0};
    std::atomic<uint64_t> replayed{0};           // single-pass replay: packets read into the inside port
    std::atomic<uint64_t> bundle_generation{0};  // --controller: the controller's number of `generation`
  } tel;
  std::chrono::steady_clock::time_point started;
  double elapsed_s = 0;  // workers started to workers stopped
  // Software distribution (ports without RSS, several workers).
  struct Stash {
    rte_mbuf* mbufs[engine::kBurstSize];
    uint16_t worker[engine::kBurstSize];
    uint16_t count = 0;
  };
  std::vector<uint16_t> distributed_ports;  // port indices the main lcore reads
  // Frames a full TX queue of a shared-queue port did not take from the
  // main lcore (per port index), and the same for telemetry's thread.
  std::vector<uint64_t> shared_tx_dropped;
  std::unique_ptr<std::atomic<uint64_t>[]> tel_shared_tx_dropped;
  [[nodiscard]] uint64_t shared_tx_dropped_now(size_t p) const noexcept {
    return tel_shared_tx_dropped ? tel_shared_tx_dropped[p].load(std::memory_order_relaxed) : 0;
  }
  std::vector<Stash> stash;  // per port index
  uint64_t distributed = 0;
  uint64_t distribution_waits = 0;
  // A single-pass --pcap-in replay: the main lcore reads the capture into
  // mbufs of the inside port and hands them to the workers' rings, in file
  // order per worker. The pool bounds what is in flight (no mbuf: reading
  // waits), so memory does not grow with the capture.
  struct Replay {
    std::unique_ptr<capture::CaptureReader> reader;
    uint16_t port = kNoPort;  // index of the inside port
    Stash stash;
    capture::CaptureRecordView record;  // read, not yet in an mbuf (no mbuf was free)
    bool pending = false;
    bool at_end = false;
    uint64_t read = 0;   // records handed over
    uint64_t bytes = 0;  // their captured bytes
    int64_t first_ts_ns = 0;
    int64_t last_ts_ns = 0;
    uint64_t nombuf_waits = 0;
    std::string error;  // the capture is damaged or ends mid-record
    // No mbuf free and no packet judged since: the workers hold the whole pool.
    std::chrono::steady_clock::time_point starved_since{};
    uint64_t processed_when_starved = 0;
  } replay;
  std::string fatal;  // set by the main loop: stop and exit 1 with this message

  engine::WorkerOptions worker_options(uint32_t w) const;
  // The generation of `cfg` and one scanner per worker; `db`: its catalog
  // already compiled (else the running one when unchanged, else compiled here).
  tl::expected<std::unique_ptr<Published>, std::string> build_published(
      config::LoadedConfig cfg, uint64_t number,
      std::shared_ptr<const engine::sig::SignatureDatabase> db = nullptr) const;
  void publish(std::unique_ptr<Published> p);
  bool poll_grace();
  // Frees the scanners workers handed back once their streams moved to a
  // newer one (WorkerSlot::take_retired_scanner).
  void free_retired_scanners();
  void harvest(bool stopped);
  // Hands the workers' counters to the controller link (stats.cpp), which
  // reports them to ftzgated every 5 s.
  void publish_stats();
  // Reads ports without RSS and spreads their packets over the workers'
  // rings; returns whether packets were pending (receive=false: only pushes
  // what was already read).
  bool distribute(bool receive);
  // Reads the next records of a single-pass replay into mbufs (receive) and
  // pushes them to the workers' rings; whether packets were pending.
  bool replay_step(bool receive);
  // Pushes a stash into the workers' rings in order; a full ring keeps the
  // rest (backpressure). Returns how many were pushed.
  uint16_t push_stash(Stash& s);
  uint64_t processed() const;
  bool drain_shared_tx();
  void serve_offload();
  void poll_reload();
  // Builds a generation on a control thread: from `in` (a bundle), else
  // from --config.
  void start_build(controller::Incoming* in);
  bool capture_done() const;
  int64_t newest_packet_ns() const;
};

// stats.cpp: the run as ftzgate-inspect reports it, and --stats.
report::InspectSummary run_summary(Appliance& a);
std::string stats_json(Appliance& a);
// telemetry.cpp: /ftzgate/stats, /ftzgate/workers, /ftzgate/generation
void register_telemetry(Appliance& a);
void unregister_telemetry() noexcept;

}  // namespace ftz::dpdk
