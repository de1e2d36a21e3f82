#pragma once
// Internal to ftzgate-dp: the appliance's parts, shared by appliance.cpp
// (packet path and control loop), stats.cpp and telemetry.cpp.

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_rcu_qsbr.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ftz/dpdk/appliance.hpp"
#include "ftz/dpdk/ports.hpp"
#include "ftz/drivers/flow_offload.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/report/compliance_desk.hpp"
#include "ftz/report/output_file.hpp"

namespace ftz::dpdk {

// Where a generation's channels leave the appliance.
struct ChannelAction {
  uint16_t port = kNoPort;  // index into the port list
  uint16_t vlan = 0;
  std::array<uint8_t, 6> next_hop{};
};

// One published generation: what workers adopt at a burst boundary.
struct Published {
  uint64_t number = 0;
  std::shared_ptr<const engine::PolicyGeneration> gen;
  std::vector<ChannelAction> channels;
  // One scanner per worker, built off the workers; each worker takes its own
  // and leaves the one it used before in `retired` (freed after the grace period).
  std::vector<std::unique_ptr<engine::sig::Scanner>> scanners;
  std::vector<std::unique_ptr<engine::sig::Scanner>> retired;
  std::chrono::steady_clock::time_point requested;  // SIGHUP (or start)
};

// Counters of the packet path around the engine. Each has one writer (its
// worker); others read them relaxed (stats, telemetry, end-of-capture).
struct PathCounters {
  std::atomic<uint64_t> rx{0};             // packets handed to the engine
  std::atomic<uint64_t> tx{0};             // frames queued for transmission
  std::atomic<uint64_t> tx_dropped{0};     // TX queue/ring still full at the deadline
  std::atomic<uint64_t> tx_waits{0};       // TX bursts that had to wait (backpressure)
  std::atomic<uint64_t> no_egress{0};      // no paired port to forward to
  std::atomic<uint64_t> routed{0};
  std::atomic<uint64_t> route_failed{0};   // VLAN/MAC rewrite impossible (not Ethernet, no headroom)
  std::atomic<uint64_t> trimmed{0};        // forwarded without bytes the engine trimmed off
  std::atomic<uint64_t> trim_failed{0};    // could not be trimmed (chained mbuf): dropped
  std::atomic<uint64_t> mirrored{0};
  std::atomic<uint64_t> mirror_nombuf{0};
  std::atomic<uint64_t> resets_sent{0};
  std::atomic<uint64_t> reset_nombuf{0};
  std::atomic<uint64_t> channel_vlan_stripped{0};
  std::atomic<uint64_t> offload_requests{0};
  std::atomic<uint64_t> offload_requests_dropped{0};
  std::atomic<int64_t> last_ts_ns{0};      // newest packet time seen
  std::atomic<uint64_t> generation{0};     // the generation the worker runs
  std::atomic<uint64_t> peak_flows{0};     // most flows active at once (after a burst)
};

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// A blocked flow seen on an ingress port, for the control lcore to offload.
struct OffloadRequest {
  drivers::OffloadFlow flow;
  uint32_t port = kNoPort;  // index into the port list (32 bits: ring elements are multiples of 4 bytes)
};

// Engine counters copied by the worker now and then (seqlock), for readers
// on other threads while it runs.
struct CounterSnapshot {
  std::atomic<uint32_t> seq{0};
  engine::WorkerCounters counters;
  uint32_t active_flows = 0;
  uint32_t record_backlog = 0;  // flow records waiting for the event ring
};

// Verdicts depend on packet time (approval validity, timeouts, the counting
// year) and byte counts on wire lengths, which an mbuf does not carry. A
// single-pass replay therefore puts each record's time and wire length into
// a dynamic mbuf field as the main lcore reads it, so the engine sees what
// ftzgate-inspect sees.
struct CaptureClock {
  int offset = -1;  // dynamic field; -1: packets take the appliance's clock
  uint16_t port_id = 0xffff;
};

class Appliance;

class WorkerSlot {
 public:
  WorkerSlot(Appliance& app, uint32_t index, std::unique_ptr<engine::Worker> worker);
  int loop() noexcept;  // the lcore function
  [[nodiscard]] uint32_t index() const noexcept { return index_; }
  [[nodiscard]] engine::Worker& engine() noexcept { return *worker_; }
  [[nodiscard]] PathCounters& counters() noexcept { return counters_; }
  [[nodiscard]] rte_ring* distribution_ring() const noexcept { return dist_ring_; }
  void set_distribution_ring(rte_ring* r) noexcept { dist_ring_ = r; }
  [[nodiscard]] rte_ring* offload_ring() const noexcept { return offload_ring_; }
  void set_offload_ring(rte_ring* r) noexcept { offload_ring_ = r; }
  void read_snapshot(engine::WorkerCounters& out, uint32_t& active) const noexcept;
  [[nodiscard]] uint32_t record_backlog() const noexcept;  // from the last snapshot
  [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire); }

 private:
  struct TxBuffer {
    uint16_t port_id = kNoPort;
    uint16_t queue = 0;
    rte_ring* shared = nullptr;  // single-queue port shared by the workers: via the main lcore
    uint16_t count = 0;
    rte_mbuf* mbufs[engine::kBurstSize];
  };

  void adopt_generation() noexcept;
  void process(rte_mbuf** mbufs, uint16_t n) noexcept;
  void act(rte_mbuf* m, engine::Disposition d, const engine::Verdict& v, const engine::PayloadTrim& trim) noexcept;
  void act_released() noexcept;  // the engine's released() list
  void send_resets(const engine::ResetPair& pair, uint16_t in_port, uint16_t out_port) noexcept;
  void request_offload(const rte_mbuf* m) noexcept;
  void send(uint16_t port, rte_mbuf* m) noexcept;
  void flush(TxBuffer& t) noexcept;
  void flush_all() noexcept;
  void publish_snapshot() noexcept;
  // The capture record of a replayed packet, else null.
  const CaptureRecord* capture_record(const rte_mbuf* m) const noexcept;

  Appliance& app_;
  uint32_t index_;
  std::unique_ptr<engine::Worker> worker_;
  Published* current_ = nullptr;
  std::vector<TxBuffer> tx_;  // per port index
  rte_ring* dist_ring_ = nullptr;
  rte_ring* offload_ring_ = nullptr;
  PathCounters counters_;
  CounterSnapshot snapshot_;
  std::atomic<bool> done_{false};
};

struct ReloadStats {
  uint64_t reloads = 0;
  uint64_t failures = 0;
  std::string last_error;
  double last_ms = 0;             // SIGHUP to every worker on the new generation
  double last_build_ms = 0;       // config load + generation + scanners
  uint64_t last_extra_bytes = 0;  // RSS growth while two generations were held
  double max_ms = 0;
  uint64_t max_extra_bytes = 0;
};

class Appliance {
 public:
  Appliance(const DpOptions& options, drivers::HardwareProfile profile);
  ~Appliance();

  // ---- shared with the workers (read-only while they run) ----
  DpOptions options;
  drivers::HardwareProfile profile;
  std::vector<Port> ports;
  std::array<uint16_t, RTE_MAX_ETHPORTS> port_index{};  // DPDK port id -> index
  uint16_t mirror_port = kNoPort;
  engine::LinkType link = engine::LinkType::kEthernet;
  rte_mempool* pool = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::atomic<Published*> published{nullptr};
  std::vector<rte_ring*> shared_tx;  // per port index (null: per-worker queues)
  std::atomic<bool> stopping{false};
  uint64_t tsc_hz = 0;
  uint64_t tsc0 = 0;
  int64_t unix0_ns = 0;
  uint64_t tx_wait_cycles = 0;
  uint64_t drain_cycles = 0;
  int64_t clock_ns() const noexcept;
  CaptureClock capture_clock;
  uint32_t nworkers = 1;

  // ---- main lcore ----
  std::vector<std::unique_ptr<WorkerSlot>> workers;
  std::unique_ptr<Published> running;   // the generation the workers run (or adopt)
  std::unique_ptr<Published> previous;  // waiting for its grace period
  uint64_t grace_token = 0;
  std::map<uint64_t, std::shared_ptr<const engine::PolicyGeneration>> generations;  // for event formatting
  std::unique_ptr<report::ComplianceDesk> desk;
  std::vector<report::ComplianceNotice> notices;
  std::vector<std::unique_ptr<drivers::FlowOffload>> offload;  // per port index
  // EVE: every write checked; a failure is counted, logged (OutputHealth)
  // and makes the exit code 1, the data plane keeps forwarding
  // (docs/dpdk.md "Write errors").
  std::unique_ptr<report::OutputFile> eve;
  uint64_t events_written = 0;
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
  std::future<tl::expected<std::unique_ptr<Published>, std::string>> building;
  bool reload_wanted = false;
  std::chrono::steady_clock::time_point reload_requested;
  uint64_t rss_before_reload = 0;
  ReloadStats reload;
  // What telemetry (its own thread) may read while the main lcore writes.
  struct TelemetryState {
    std::atomic<uint64_t> generation{1};
    std::atomic<uint64_t> reloads{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<uint64_t> last_reload_us{0};
    std::atomic<uint64_t> events{0};
    std::atomic<uint64_t> replayed{0};  // single-pass replay: packets read into the inside port
    std::atomic<uint64_t> eve_write_errors{0};
    std::atomic<uint64_t> eve_lines_lost{0};
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
  std::vector<Stash> stash;                 // per port index
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
      config::LoadedConfig cfg, uint64_t number, std::shared_ptr<const engine::sig::SignatureDatabase> db = nullptr) const;
  void publish(std::unique_ptr<Published> p);
  bool poll_grace();
  // Formats up to max_per_worker events of each worker (all: at shutdown).
  void drain_events(uint32_t max_per_worker = 1024);
  void harvest(bool stopped);
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
