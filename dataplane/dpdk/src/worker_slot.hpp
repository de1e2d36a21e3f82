#pragma once
// Internal to ftzgate-dp: one worker lcore. It reads its queues (or its
// distribution ring), runs the engine on bursts of 32 and turns the results
// into frames on ports. It sees the appliance only through a const
// PacketPath; everything it writes is its own (counters, snapshot, rings it
// alone produces into).

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "ftz/drivers/flow_offload.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"
#include "ftz/engine/reasons.hpp"
#include "ftz/engine/worker.hpp"
#include "packet_path.hpp"

namespace ftz::dpdk {

// Counters of the packet path around the engine. Each has one writer (its
// worker); others read them relaxed (stats, telemetry, end-of-capture).
struct PathCounters {
  std::atomic<uint64_t> rx{0};              // packets handed to the engine
  std::atomic<uint64_t> tx{0};              // frames queued for transmission
  std::atomic<uint64_t> tx_full_bursts{0};  // TX bursts that found the queue/ring full
  std::atomic<uint64_t> routed{0};
  std::atomic<uint64_t> trimmed{0};  // forwarded without bytes the engine trimmed off
  std::atomic<uint64_t> mirrored{0};
  std::atomic<uint64_t> resets_sent{0};
  std::atomic<uint64_t> channel_vlan_stripped{0};
  std::atomic<uint64_t> offload_requests{0};
  // Drops (and lost mirror copies, resets, offload requests) by reason of
  // the registry (engine::PathDrop, reasons/path.def; the reason's key is
  // its --stats key). The worker counts them in its burst tally and adds
  // them here once per burst (WorkerSlot::post_tallies()).
  std::atomic<uint64_t> drops[engine::kPathDropCount] = {};
  [[nodiscard]] uint64_t dropped(engine::PathDrop r) const noexcept {
    return drops[static_cast<size_t>(r)].load(std::memory_order_relaxed);
  }
  std::atomic<uint64_t> offload_requests_repeated{
      0};                               // blocked packets of a flow asked for in the last second
  std::atomic<int64_t> last_ts_ns{0};   // newest packet time seen
  std::atomic<uint64_t> generation{0};  // the generation the worker runs
  std::atomic<uint64_t> peak_flows{0};  // most flows active at once (after a burst)
  // The largest time between two of this worker's burst starts (loop
  // passes), in TSC cycles: over the run, and the two gaps next to each
  // generation switch.
  std::atomic<uint64_t> idle_sleeps{0};  // adaptive polling: sleeps of an idle worker
  std::atomic<uint64_t> max_gap_cycles{0};
  std::atomic<uint64_t> reload_gap_cycles{0};
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
  uint32_t scan_states = 0;     // in use
  uint32_t record_backlog = 0;  // flow records waiting for the event ring
};

class WorkerSlot {
 public:
  // `accounting`: the worker's compliance bank (null when counting is off).
  WorkerSlot(const PacketPath& path, uint32_t index, std::unique_ptr<engine::Worker> worker,
             engine::compliance::WorkerAccounting* accounting);
  ~WorkerSlot() { delete retired_out_.load(std::memory_order_acquire); }
  WorkerSlot(const WorkerSlot&) = delete;
  WorkerSlot& operator=(const WorkerSlot&) = delete;
  int loop() noexcept;  // the lcore function
  [[nodiscard]] uint32_t index() const noexcept { return index_; }
  [[nodiscard]] engine::Worker& engine() noexcept { return *worker_; }
  [[nodiscard]] PathCounters& counters() noexcept { return counters_; }
  [[nodiscard]] const PathCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] rte_ring* distribution_ring() const noexcept { return dist_ring_; }
  void set_distribution_ring(rte_ring* r) noexcept { dist_ring_ = r; }
  [[nodiscard]] rte_ring* offload_ring() const noexcept { return offload_ring_; }
  void set_offload_ring(rte_ring* r) noexcept { offload_ring_ = r; }
  // `scan_states`: also the scan states in use.
  void read_snapshot(engine::WorkerCounters& out, uint32_t& active,
                     uint32_t* scan_states = nullptr) const noexcept;
  // Frames port `p` (index) could not take from this worker (full queue).
  [[nodiscard]] uint64_t tx_port_dropped(size_t p) const noexcept {
    return tx_[p].dropped.load(std::memory_order_relaxed);
  }
  [[nodiscard]] uint32_t record_backlog() const noexcept;  // from the last snapshot
  [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  // A scanner whose streams this worker has all handed over to a newer one
  // (lazy hand-over, decision 0005), for the control side to free; null if
  // none. Only the worker used it, so it may be freed at once.
  [[nodiscard]] std::unique_ptr<engine::sig::Scanner> take_retired_scanner() noexcept {
    return std::unique_ptr<engine::sig::Scanner>(retired_out_.exchange(nullptr, std::memory_order_acquire));
  }

 private:
  struct TxBuffer {
    uint16_t port_id = kNoPort;
    uint16_t queue = 0;
    rte_ring* shared = nullptr;  // single-queue port shared by the workers: via the main lcore
    uint16_t count = 0;
    rte_mbuf* mbufs[engine::kBurstSize];
    std::atomic<uint64_t> dropped{0};  // frames a full queue did not take
  };
  struct RecentOffload {
    uint64_t key = 0;
    uint64_t tsc = 0;
  };
  static constexpr size_t kRecentOffloads = 1024;

  // Switches to the published generation if it changed; whether that replaced
  // a running one (a reload; the first adoption at start is not).
  bool adopt_generation() noexcept;
  // Hands a retired scanner to the control side when its slot is free.
  void give_back_retired() noexcept;
  void note_gap(uint64_t gap_cycles, bool around_reload) noexcept;
  // Adaptive polling: after `idle_polls` empty passes in a row.
  void back_off(uint32_t idle_polls) noexcept;
  static constexpr uint32_t kSpinPolls = 256;  // empty passes before the first sleep
  void process(rte_mbuf** mbufs, uint16_t n) noexcept;
  void act(rte_mbuf* m, engine::Disposition d, const engine::Verdict& v,
           const engine::PayloadTrim& trim) noexcept;
  void act_released() noexcept;  // the engine's released() list
  // A forwarded packet that needs nothing but its paired port: no mirror
  // copy, no trim, no route (the common case, sent without act()).
  static bool plain_forward(const engine::PacketResult& r) noexcept {
    return !r.verdict.mirror && !r.trim.any() && r.verdict.action != engine::Action::kRoute;
  }
  void forward(rte_mbuf* m) noexcept;  // to the ingress port's pair
  // Adds what the packets of a burst counted (tally_) to counters_: one
  // store per counter and burst, not per packet.
  void post_tallies() noexcept;
  void send_resets(const engine::ResetPair& pair, uint16_t in_port, uint16_t out_port) noexcept;
  void request_offload(const rte_mbuf* m) noexcept;
  void send(uint16_t port, rte_mbuf* m) noexcept;
  void flush(TxBuffer& t) noexcept;
  void flush_all() noexcept;
  // Counts a drop of the path in the burst's tally (no atomic per packet).
  void drop(engine::PathDrop r, uint64_t n = 1) noexcept { tally_.drops[static_cast<size_t>(r)] += n; }
  void publish_snapshot() noexcept;
  // The capture record of a replayed packet, else null.
  const CaptureRecord* capture_record(const rte_mbuf* m) const noexcept;

  const PacketPath& path_;
  uint32_t index_;
  std::unique_ptr<engine::Worker> worker_;
  engine::compliance::WorkerAccounting* accounting_;
  Published* current_ = nullptr;
  std::unique_ptr<TxBuffer[]> tx_;  // per port index (atomics: not movable, so not a vector)
  size_t nports_;
  std::unique_ptr<RecentOffload[]> recent_offload_;  // flows asked to offload lately
  rte_ring* dist_ring_ = nullptr;
  rte_ring* offload_ring_ = nullptr;
  PathCounters counters_;
  // Per-packet counts of the running burst, posted to counters_ by
  // post_tallies() (end of each burst, flush_all()).
  struct Tally {
    uint64_t tx = 0;
    uint64_t channel_vlan_stripped = 0;
    uint64_t drops[engine::kPathDropCount] = {};  // see drop()
  } tally_;
  std::atomic<engine::sig::Scanner*> retired_out_{nullptr};  // see take_retired_scanner()
  // A burst's views and the engine's results, filled for the first n
  // entries by process() (members, not stack arrays: no zeroing of 32
  // entries a burst, and the scratch sits at one place for the run).
  std::array<engine::PacketView, engine::kBurstSize> views_;
  std::array<engine::PacketResult, engine::kBurstSize> results_;
  CounterSnapshot snapshot_;
  std::atomic<bool> done_{false};
};

}  // namespace ftz::dpdk
