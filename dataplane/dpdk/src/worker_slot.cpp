// A worker lcore: RX, the engine on bursts of 32, actions, TX. Per packet:
// no allocation, lock or system call (docs/dpdk.md, dataplane/dpdk/README.md).
#include "worker_slot.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstring>

#include "ftz/dpdk/l2.hpp"
#include "ftz/engine/parser.hpp"

namespace ftz::dpdk {

namespace {

// The request's identity for the once-per-flow cache: FNV-1a over its
// fields (not its bytes: the struct has padding).
uint64_t offload_key(const OffloadRequest& r) noexcept {
  uint64_t h = 1469598103934665603ull;
  const auto mix = [&h](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ull;
  };
  for (uint8_t b : r.flow.src.bytes) mix(b, 1);
  for (uint8_t b : r.flow.dst.bytes) mix(b, 1);
  mix(r.flow.src_port, 2);
  mix(r.flow.dst_port, 2);
  mix(r.flow.proto, 1);
  mix(r.flow.vlan, 2);
  mix(r.port, 4);
  return h | 1;  // 0 marks an empty slot
}

// What the NIC verified (RX checksum offload): the engine computes only what
// it does not know (UNKNOWN, or a PMD without the offload).
uint8_t checksum_hints(uint64_t ol_flags) noexcept {
  uint8_t h = 0;
  const uint64_t ip = ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD) h |= engine::csum_hint::kL3Good;
  if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD) h |= engine::csum_hint::kL3Bad;
  const uint64_t l4 = ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD) h |= engine::csum_hint::kL4Good;
  if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) h |= engine::csum_hint::kL4Bad;
  return h;
}

}  // namespace

WorkerSlot::WorkerSlot(const PacketPath& path, uint32_t index, std::unique_ptr<engine::Worker> worker,
                       engine::compliance::WorkerAccounting* accounting)
    : path_(path),
      index_(index),
      worker_(std::move(worker)),
      accounting_(accounting),
      tx_(std::make_unique<TxBuffer[]>(path.ports.size())),
      nports_(path.ports.size()),
      recent_offload_(std::make_unique<RecentOffload[]>(kRecentOffloads)) {
  for (size_t p = 0; p < path.ports.size(); ++p) {
    TxBuffer& t = tx_[p];
    t.port_id = path.ports[p].id;
    t.shared = path.shared_tx[p];
    t.queue = t.shared != nullptr ? 0 : static_cast<uint16_t>(index);
  }
}

namespace {

// The engine is DPDK-free: it holds a packet it keeps back as an opaque
// token, which is the mbuf's address.
rte_mbuf* mbuf_of(const engine::Release& r) noexcept {
  return reinterpret_cast<rte_mbuf*>(r.token);  // NOLINT(performance-no-int-to-ptr): the token is a pointer
}

}  // namespace

const CaptureRecord* WorkerSlot::capture_record(const rte_mbuf* m) const noexcept {
  const CaptureClock& c = path_.capture_clock;
  if (c.offset < 0 || m->port != c.port_id) return nullptr;
  return RTE_MBUF_DYNFIELD(m, c.offset, const CaptureRecord*);
}

bool WorkerSlot::adopt_generation() noexcept {
  Published* p = path_.published.load(std::memory_order_acquire);
  if (p == current_) return false;
  // The first generation is the start, not a reload: its burst (first
  // touches of the tables) is not the reload goal's figure.
  const bool reload = current_ != nullptr;
  // Streams of a changed signature database are closed under the old one;
  // the worker keeps the old scanner alive until the control side frees it.
  p->retired[index_] = worker_->set_generation(p->gen, std::move(p->scanners[index_]));
  current_ = p;
  counters_.generation.store(p->number, std::memory_order_relaxed);
  return reload;
}

void WorkerSlot::give_back_retired() noexcept {
  if (retired_out_.load(std::memory_order_relaxed) != nullptr)
    return;  // the control side has not taken the last one
  if (std::unique_ptr<engine::sig::Scanner> s = worker_->take_retired_scanner()) {
    retired_out_.store(s.release(), std::memory_order_release);
  }
}

void WorkerSlot::note_gap(uint64_t gap, bool around_reload) noexcept {
  // Reload goal (issue 9, goal 4): the largest time between two burst
  // starts of this worker, over the run and next to a generation switch
  // (the switch happens at a burst start; its cost falls in the gap that
  // ends at the next one). Kept in cycles, converted by readers.
  if (gap > counters_.max_gap_cycles.load(std::memory_order_relaxed)) {
    counters_.max_gap_cycles.store(gap, std::memory_order_relaxed);
  }
  if (around_reload && gap > counters_.reload_gap_cycles.load(std::memory_order_relaxed)) {
    counters_.reload_gap_cycles.store(gap, std::memory_order_relaxed);
  }
}

void WorkerSlot::back_off(uint32_t idle_polls) noexcept {
  // Adaptive polling (idle_sleep_us > 0, lab profiles): a short idle spell
  // only relaxes the core (rte_pause); a longer one sleeps, 10 µs more per
  // empty pass up to idle_sleep_us, after sending what is buffered. The
  // first packet after a sleep waits at most idle_sleep_us (plus the
  // kernel's timer slack).
  if (idle_polls < kSpinPolls) {
    rte_pause();
    return;
  }
  flush_all();
  const uint32_t us = std::min<uint32_t>(path_.idle_sleep_us, (idle_polls - kSpinPolls + 1) * 10);
  rte_delay_us_sleep(us);
  bump(counters_.idle_sleeps);
}

int WorkerSlot::loop() noexcept {
  rte_rcu_qsbr_thread_online(path_.qsbr, index_);
  rte_mbuf* mbufs[engine::kBurstSize];
  uint64_t next_drain = rte_rdtsc() + path_.drain_cycles;
  uint64_t next_snapshot = 0;
  // Sources: this worker's RX queue on ports with RSS (or every port with a
  // single worker), and the distribution ring the main lcore fills.
  std::vector<std::pair<uint16_t, uint16_t>> queues;
  for (const Port& port : path_.ports) {
    if (port.hw_rss)
      queues.emplace_back(port.id, static_cast<uint16_t>(index_));
    else if (path_.nworkers == 1)
      queues.emplace_back(port.id, 0);
  }
  uint64_t last_start = rte_rdtsc();
  uint32_t idle_polls = 0;  // empty passes in a row (adaptive polling)
  bool adopted = false;     // the previous burst start switched generations
  while (!path_.stopping.load(std::memory_order_relaxed)) {
    const uint64_t start = rte_rdtsc();
    const bool adopting = adopt_generation();
    note_gap(start - last_start, adopted || adopting);
    last_start = start;
    adopted = adopting;
    bool busy = false;
    for (const auto& [port, queue] : queues) {
      const uint16_t n = rte_eth_rx_burst(port, queue, mbufs, engine::kBurstSize);
      if (n > 0) {
        process(mbufs, n);
        busy = true;
      }
    }
    if (dist_ring_ != nullptr) {
      const unsigned n =
          rte_ring_sc_dequeue_burst(dist_ring_, reinterpret_cast<void**>(mbufs), engine::kBurstSize, nullptr);
      if (n > 0) {
        process(mbufs, static_cast<uint16_t>(n));
        busy = true;
      }
    }
    const uint64_t now = rte_rdtsc();
    if (now >= next_drain) {
      flush_all();
      if (!busy && path_.live_clock) {
        worker_->advance_time(path_.clock_ns());
        act_released();
      }
      next_drain = now + path_.drain_cycles;
      if (now >= next_snapshot) {
        publish_snapshot();
        next_snapshot = now + path_.tsc_hz / 100;
      }
    }
    // A reload's share of an idle worker (a busy one does it in process_burst).
    if (!busy) worker_->hand_over_idle();
    give_back_retired();
    if (accounting_ != nullptr) accounting_->quiescent();
    rte_rcu_qsbr_quiescent(path_.qsbr, index_);
    if (busy) {
      idle_polls = 0;
    } else if (path_.idle_sleep_us > 0) {
      back_off(++idle_polls);
    }
  }
  adopt_generation();
  while (dist_ring_ != nullptr) {
    const unsigned n =
        rte_ring_sc_dequeue_burst(dist_ring_, reinterpret_cast<void**>(mbufs), engine::kBurstSize, nullptr);
    if (n == 0) break;
    process(mbufs, static_cast<uint16_t>(n));
  }
  // Shutdown: every flow ends (events), held packets are released and sent.
  // A replay ends at the capture's last packet over all workers, as offline:
  // flows idle past their timeout by then time out, the rest shut down.
  const int64_t end_ts =
      path_.live_clock ? path_.clock_ns() : path_.replay_end_ns.load(std::memory_order_acquire);
  worker_->advance_time(end_ts);
  act_released();
  // Flows end as the event ring has room for their records; the main lcore
  // drains it meanwhile (run_appliance waits for done()).
  while (!worker_->finish(end_ts)) {
    act_released();
    flush_all();
    publish_snapshot();
    rte_pause();
  }
  act_released();
  flush_all();
  publish_snapshot();
  rte_rcu_qsbr_thread_offline(path_.qsbr, index_);
  done_.store(true, std::memory_order_release);
  return 0;
}

void WorkerSlot::process(rte_mbuf** mbufs, uint16_t n) noexcept {
  const int64_t clock = path_.clock_ns();
  int64_t newest = counters_.last_ts_ns.load(std::memory_order_relaxed);
  const bool ethernet = path_.link == engine::LinkType::kEthernet;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + 1], void*));
    rte_mbuf* m = mbufs[i];
    const uint16_t in = path_.port_index[m->port];
    if (ethernet && path_.ports[in].profile.role == engine::PortRole::kChannel) {
      for (const ChannelAction& c : current_->channels) {
        if (c.port == in && strip_channel_vlan(m, c.vlan)) {
          ++tally_.channel_vlan_stripped;
          break;
        }
      }
    }
    engine::PacketView& v = views_[i];
    v = engine::PacketView{
        rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m),    rte_pktmbuf_pkt_len(m), clock,
        reinterpret_cast<uintptr_t>(m),      checksum_hints(m->ol_flags)};
    if (const CaptureRecord* rec = capture_record(m)) {
      v.ts_ns = rec->ts_ns;
      v.wirelen = std::max(v.wirelen, rec->wirelen);
    }
    if (v.ts_ns > newest) newest = v.ts_ns;
  }
  // The engine sets every result it returns (results_[i] for i < n).
  worker_->process_burst(std::span<const engine::PacketView>(views_.data(), n),
                         std::span<engine::PacketResult>(results_.data(), n));
  // Held packets a packet released go out right before it, in the order the
  // sender sent them (engine::Release::before).
  const auto released = worker_->released();
  size_t next_release = 0;
  // Packets dropped by the engine (counted there by reason) are freed
  // together after the burst: one mempool put instead of one per packet.
  rte_mbuf* dropped[engine::kBurstSize];
  uint16_t ndropped = 0;
  for (uint16_t i = 0; i < n; ++i) {
    while (next_release < released.size() && released[next_release].before <= i) {
      const engine::Release& rel = released[next_release++];
      act(mbuf_of(rel), rel.disposition, rel.verdict, rel.trim);
    }
    rte_mbuf* m = mbufs[i];
    const engine::PacketResult& r = results_[i];
    if (r.send_resets) {
      const uint16_t in = path_.port_index[m->port];
      send_resets(worker_->resets()[r.reset_index], in, path_.ports[in].pair);
    }
    switch (r.disposition) {
      case engine::Disposition::kHold:
        break;
      case engine::Disposition::kDrop:
        if ((r.reason == engine::Reason::kPolicyBlock || r.reason == engine::Reason::kPolicyReset) &&
            path_.offload_open[path_.port_index[m->port]].load(std::memory_order_relaxed)) {
          request_offload(m);
        }
        dropped[ndropped++] = m;
        break;
      case engine::Disposition::kForward:
        if (plain_forward(r)) {
          forward(m);
        } else {
          act(m, r.disposition, r.verdict, r.trim);
        }
        break;
    }
  }
  for (; next_release < released.size(); ++next_release) {
    const engine::Release& rel = released[next_release];
    act(mbuf_of(rel), rel.disposition, rel.verdict, rel.trim);
  }
  if (ndropped > 0) rte_pktmbuf_free_bulk(dropped, ndropped);
  // The report's "peak concurrent": sampled after every burst, as
  // ftzgate-inspect samples it.
  const uint64_t active = worker_->active_flows();
  if (active > counters_.peak_flows.load(std::memory_order_relaxed)) {
    counters_.peak_flows.store(active, std::memory_order_relaxed);
  }
  counters_.last_ts_ns.store(newest, std::memory_order_relaxed);
  post_tallies();
  // Release: whoever sees every packet counted also sees their times (and drops).
  counters_.rx.store(counters_.rx.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

void WorkerSlot::post_tallies() noexcept {
  if (tally_.tx != 0) bump(counters_.tx, tally_.tx);
  if (tally_.channel_vlan_stripped != 0) bump(counters_.channel_vlan_stripped, tally_.channel_vlan_stripped);
  for (size_t r = 0; r < engine::kPathDropCount; ++r) {
    if (tally_.drops[r] != 0) bump(counters_.drops[r], tally_.drops[r]);
  }
  tally_ = Tally{};
}

void WorkerSlot::act_released() noexcept {
  for (const engine::Release& r : worker_->released()) {
    act(mbuf_of(r), r.disposition, r.verdict, r.trim);
  }
}

void WorkerSlot::act(rte_mbuf* m, engine::Disposition d, const engine::Verdict& v,
                     const engine::PayloadTrim& trim) noexcept {
  if (d == engine::Disposition::kDrop) {
    rte_pktmbuf_free(m);
    return;
  }
  const uint16_t in = path_.port_index[m->port];
  if (v.mirror && path_.mirror_port != kNoPort) {
    // The mirror gets the frame as it arrived, before any rewrite.
    if (rte_mbuf* copy = rte_pktmbuf_copy(m, path_.pool, 0, UINT32_MAX)) {
      send(path_.mirror_port, copy);
      bump(counters_.mirrored);
    } else {
      drop(engine::PathDrop::kMirrorNoMbuf);
    }
  }
  if (trim.any()) {
    // Bytes an inspected flow's receiver must not get uninspected (the
    // engine's normalization, docs/decisions/0003): cut off in place.
    const engine::FrameSpan fs =
        m->nb_segs == 1
            ? engine::apply_trim(path_.link, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), trim)
            : engine::FrameSpan{0, 0};
    if (fs.len == 0) {
      drop(engine::PathDrop::kTrimFailed);
      rte_pktmbuf_free(m);
      return;
    }
    rte_pktmbuf_adj(m, static_cast<uint16_t>(fs.offset));
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - fs.len));
    bump(counters_.trimmed);
  }
  uint16_t out = path_.ports[in].pair;
  // Route applies to exports: packets entering on the inside port. Replies
  // come back through the channel port and go to its pair (inside).
  if (v.action == engine::Action::kRoute && path_.ports[in].profile.role == engine::PortRole::kInside &&
      v.channel < current_->channels.size() && current_->channels[v.channel].port != kNoPort) {
    const ChannelAction& c = current_->channels[v.channel];
    if (path_.link == engine::LinkType::kEthernet && rewrite_for_channel(m, c.vlan, c.next_hop)) {
      out = c.port;
      bump(counters_.routed);
    } else {
      drop(engine::PathDrop::kRouteFailed);
      rte_pktmbuf_free(m);
      return;
    }
  }
  if (out == kNoPort) {
    drop(engine::PathDrop::kNoEgress);
    rte_pktmbuf_free(m);
    return;
  }
  send(out, m);
}

void WorkerSlot::forward(rte_mbuf* m) noexcept {
  const uint16_t out = path_.ports[path_.port_index[m->port]].pair;
  if (out == kNoPort) [[unlikely]] {
    drop(engine::PathDrop::kNoEgress);
    rte_pktmbuf_free(m);
    return;
  }
  send(out, m);
}

void WorkerSlot::send_resets(const engine::ResetPair& pair, uint16_t in_port, uint16_t out_port) noexcept {
  for (uint32_t i = 0; i < pair.count; ++i) {
    const engine::ResetFrame& f = pair.frame[i];
    // Towards the sender: back out of the port it came in on; towards the
    // receiver: where the packet was going.
    const uint16_t port = f.to_packet_source ? in_port : out_port;
    if (port == kNoPort) continue;
    rte_mbuf* m = rte_pktmbuf_alloc(path_.pool);
    char* dst = m != nullptr ? rte_pktmbuf_append(m, static_cast<uint16_t>(f.len)) : nullptr;
    if (dst == nullptr) {
      if (m != nullptr) rte_pktmbuf_free(m);
      drop(engine::PathDrop::kResetNoMbuf);
      continue;
    }
    std::memcpy(dst, f.bytes.data(), f.len);
    send(port, m);
    bump(counters_.resets_sent);
  }
}

void WorkerSlot::request_offload(const rte_mbuf* m) noexcept {
  if (offload_ring_ == nullptr) return;
  engine::ParsedPacket p;
  engine::parse_packet(path_.link, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), p);
  if (!p.l4_valid || (p.l4_proto != 6 && p.l4_proto != 17)) return;
  OffloadRequest req;
  req.flow.src = p.src;
  req.flow.dst = p.dst;
  req.flow.src_port = p.src_port;
  req.flow.dst_port = p.dst_port;
  req.flow.proto = p.l4_proto;
  req.flow.vlan = p.vlan[0];
  req.port = path_.port_index[m->port];
  // Once per flow, not per blocked packet: a flow asked for within the last
  // second is not asked for again (the cache is direct-mapped by the
  // flow's hash; a collision costs one more request, which the main lcore
  // counts as a duplicate). After a second it may be asked again, so a
  // later flow on the same tuple, whose predecessor's rule went with it,
  // still gets one.
  const uint64_t key = offload_key(req);
  RecentOffload& slot = recent_offload_[key % kRecentOffloads];
  const uint64_t now = rte_rdtsc();
  if (slot.key == key && now - slot.tsc < path_.tsc_hz) {
    bump(counters_.offload_requests_repeated);
    return;
  }
  slot = RecentOffload{key, now};
  static_assert(sizeof(OffloadRequest) % 4 == 0, "rte_ring elements are multiples of 4 bytes");
  if (rte_ring_sp_enqueue_elem(offload_ring_, &req, sizeof(req)) == 0)
    bump(counters_.offload_requests);
  else
    drop(engine::PathDrop::kOffloadRequestDropped);
}

void WorkerSlot::send(uint16_t port, rte_mbuf* m) noexcept {
  TxBuffer& t = tx_[port];
  t.mbufs[t.count++] = m;
  ++tally_.tx;
  if (t.count == engine::kBurstSize) flush(t);
}

void WorkerSlot::flush(TxBuffer& t) noexcept {
  const uint16_t sent = t.shared != nullptr
                            ? static_cast<uint16_t>(rte_ring_mp_enqueue_burst(
                                  t.shared, reinterpret_cast<void**>(t.mbufs), t.count, nullptr))
                            : rte_eth_tx_burst(t.port_id, t.queue, t.mbufs, t.count);
  if (sent < t.count) [[unlikely]] {
    // A full queue (or shared ring): the rest is dropped and counted against
    // the port. Never waited on: a stuck or slow port must not stall this
    // worker's RX and its other ports (the NIC's own queue absorbs bursts).
    const uint16_t left = static_cast<uint16_t>(t.count - sent);
    rte_pktmbuf_free_bulk(t.mbufs + sent, left);
    drop(engine::PathDrop::kTxDropped, left);
    bump(counters_.tx_full_bursts);
    bump(t.dropped, left);
  }
  t.count = 0;
}

void WorkerSlot::flush_all() noexcept {
  for (size_t p = 0; p < nports_; ++p) {
    if (tx_[p].count > 0) flush(tx_[p]);
  }
  post_tallies();  // frames and drops outside a burst (released by time, shutdown)
}

void WorkerSlot::publish_snapshot() noexcept {
  const uint32_t s = snapshot_.seq.load(std::memory_order_relaxed);
  snapshot_.seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  snapshot_.counters = worker_->counters();
  snapshot_.active_flows = worker_->active_flows();
  snapshot_.scan_states = worker_->scan_states_in_use();
  snapshot_.record_backlog = worker_->record_backlog();
  snapshot_.seq.store(s + 2, std::memory_order_release);
}

uint32_t WorkerSlot::record_backlog() const noexcept {
  for (;;) {
    const uint32_t s1 = snapshot_.seq.load(std::memory_order_acquire);
    if (s1 & 1u) continue;
    const uint32_t n = snapshot_.record_backlog;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (snapshot_.seq.load(std::memory_order_relaxed) == s1) return n;
  }
}

void WorkerSlot::read_snapshot(engine::WorkerCounters& out, uint32_t& active,
                               uint32_t* scan_states) const noexcept {
  for (;;) {
    const uint32_t s1 = snapshot_.seq.load(std::memory_order_acquire);
    if (s1 & 1u) continue;
    out = snapshot_.counters;
    active = snapshot_.active_flows;
    if (scan_states != nullptr) *scan_states = snapshot_.scan_states;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (snapshot_.seq.load(std::memory_order_relaxed) == s1) return;
  }
}

}  // namespace ftz::dpdk
