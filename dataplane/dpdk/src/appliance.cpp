#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <thread>

#include "appliance_impl.hpp"
#include "ftz/config/config.hpp"
#include "ftz/dpdk/l2.hpp"
#include "ftz/dpdk/symmetric_hash.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/engine/parser.hpp"

namespace ftz::dpdk {

Signals& signals() noexcept {
  static Signals s;
  return s;
}

namespace {

constexpr uint32_t kOffloadRingSize = 1024;
constexpr auto kHarvestEvery = std::chrono::milliseconds(100);
// Degraded-output warnings (write errors, records waiting or refused): at
// most one line per this period, with the totals so far.
constexpr auto kWarnEvery = std::chrono::seconds(10);

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

uint64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

rte_ring* make_ring(const std::string& name, uint32_t size, unsigned flags) {
  return rte_ring_create(name.c_str(), size, static_cast<int>(rte_socket_id()), flags);
}

}  // namespace

// ---------------------------------------------------------------- worker --

WorkerSlot::WorkerSlot(Appliance& app, uint32_t index, std::unique_ptr<engine::Worker> worker)
    : app_(app), index_(index), worker_(std::move(worker)), tx_(app.ports.size()) {
  for (size_t p = 0; p < app.ports.size(); ++p) {
    TxBuffer& t = tx_[p];
    t.port_id = app.ports[p].id;
    t.shared = app.shared_tx[p];
    t.queue = t.shared != nullptr ? 0 : static_cast<uint16_t>(index);
  }
}

int64_t Appliance::clock_ns() const noexcept {
  const uint64_t cycles = rte_rdtsc() - tsc0;
  // Whole seconds and the remainder separately: cycles * 1e9 overflows 64 bits after a few seconds.
  const uint64_t secs = cycles / tsc_hz;
  const uint64_t rest = cycles % tsc_hz;
  return unix0_ns + static_cast<int64_t>(secs * 1'000'000'000 + rest * 1'000'000'000 / tsc_hz);
}

const CaptureRecord* WorkerSlot::capture_record(const rte_mbuf* m) const noexcept {
  const CaptureClock& c = app_.capture_clock;
  if (c.offset < 0 || m->port != c.port_id) return nullptr;
  return RTE_MBUF_DYNFIELD(m, c.offset, const CaptureRecord*);
}

void WorkerSlot::adopt_generation() noexcept {
  Published* p = app_.published.load(std::memory_order_acquire);
  if (p == current_) return;
  // Streams of a changed signature database are closed under the old one;
  // the worker keeps the old scanner alive until the control side frees it.
  p->retired[index_] = worker_->set_generation(p->gen, std::move(p->scanners[index_]));
  current_ = p;
  counters_.generation.store(p->number, std::memory_order_relaxed);
}

int WorkerSlot::loop() noexcept {
  rte_rcu_qsbr_thread_online(app_.qsbr, index_);
  rte_mbuf* mbufs[engine::kBurstSize];
  uint64_t next_drain = rte_rdtsc() + app_.drain_cycles;
  uint64_t next_snapshot = 0;
  // Sources: this worker's RX queue on ports with RSS (or every port with a
  // single worker), and the distribution ring the main lcore fills.
  std::vector<std::pair<uint16_t, uint16_t>> queues;
  for (const Port& port : app_.ports) {
    if (port.hw_rss) queues.emplace_back(port.id, static_cast<uint16_t>(index_));
    else if (app_.workers.size() == 1) queues.emplace_back(port.id, 0);
  }
  const bool live_clock = app_.options.pcap_in.empty() || app_.options.loop;
  while (!app_.stopping.load(std::memory_order_relaxed)) {
    adopt_generation();
    bool busy = false;
    for (const auto& [port, queue] : queues) {
      const uint16_t n = rte_eth_rx_burst(port, queue, mbufs, engine::kBurstSize);
      if (n > 0) {
        process(mbufs, n);
        busy = true;
      }
    }
    if (dist_ring_ != nullptr) {
      const unsigned n = rte_ring_sc_dequeue_burst(dist_ring_, reinterpret_cast<void**>(mbufs), engine::kBurstSize, nullptr);
      if (n > 0) {
        process(mbufs, static_cast<uint16_t>(n));
        busy = true;
      }
    }
    const uint64_t now = rte_rdtsc();
    if (now >= next_drain) {
      flush_all();
      if (!busy && live_clock) {
        worker_->advance_time(app_.clock_ns());
        act_released();
      }
      next_drain = now + app_.drain_cycles;
      if (now >= next_snapshot) {
        publish_snapshot();
        next_snapshot = now + app_.tsc_hz / 100;
      }
    }
    if (engine::compliance::WorkerAccounting* acc = app_.desk->accounting(index_)) acc->quiescent();
    rte_rcu_qsbr_quiescent(app_.qsbr, index_);
  }
  adopt_generation();
  while (dist_ring_ != nullptr) {
    const unsigned n = rte_ring_sc_dequeue_burst(dist_ring_, reinterpret_cast<void**>(mbufs), engine::kBurstSize, nullptr);
    if (n == 0) break;
    process(mbufs, static_cast<uint16_t>(n));
  }
  // Shutdown: every flow ends (events), held packets are released and sent.
  // A replay ends at the capture's last packet over all workers, as offline:
  // flows idle past their timeout by then time out, the rest shut down.
  const int64_t end_ts = live_clock ? app_.clock_ns() : app_.newest_packet_ns();
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
  rte_rcu_qsbr_thread_offline(app_.qsbr, index_);
  done_.store(true, std::memory_order_release);
  return 0;
}

void WorkerSlot::process(rte_mbuf** mbufs, uint16_t n) noexcept {
  engine::PacketView views[engine::kBurstSize];
  engine::PacketResult results[engine::kBurstSize];
  const int64_t clock = app_.clock_ns();
  int64_t newest = counters_.last_ts_ns.load(std::memory_order_relaxed);
  const bool ethernet = app_.link == engine::LinkType::kEthernet;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + 1], void*));
    rte_mbuf* m = mbufs[i];
    const uint16_t in = app_.port_index[m->port];
    if (ethernet && app_.ports[in].profile.role == engine::PortRole::kChannel) {
      for (const ChannelAction& c : current_->channels) {
        if (c.port == in && strip_channel_vlan(m, c.vlan)) {
          bump(counters_.channel_vlan_stripped);
          break;
        }
      }
    }
    views[i].data = rte_pktmbuf_mtod(m, const uint8_t*);
    views[i].caplen = rte_pktmbuf_data_len(m);
    views[i].wirelen = rte_pktmbuf_pkt_len(m);
    views[i].ts_ns = clock;
    if (const CaptureRecord* rec = capture_record(m)) {
      views[i].ts_ns = rec->ts_ns;
      views[i].wirelen = std::max(views[i].wirelen, rec->wirelen);
    }
    views[i].token = reinterpret_cast<uintptr_t>(m);
    views[i].csum = checksum_hints(m->ol_flags);
    if (views[i].ts_ns > newest) newest = views[i].ts_ns;
  }
  worker_->process_burst(std::span<const engine::PacketView>(views, n), std::span<engine::PacketResult>(results, n));
  // Held packets a packet released go out right before it, in the order the
  // sender sent them (engine::Release::before).
  const auto released = worker_->released();
  size_t next_release = 0;
  for (uint16_t i = 0; i < n; ++i) {
    while (next_release < released.size() && released[next_release].before <= i) {
      const engine::Release& rel = released[next_release++];
      act(reinterpret_cast<rte_mbuf*>(rel.token), rel.disposition, rel.verdict, rel.trim);
    }
    const engine::PacketResult& r = results[i];
    if (r.send_resets) {
      const uint16_t in = app_.port_index[mbufs[i]->port];
      send_resets(worker_->resets()[r.reset_index], in, app_.ports[in].pair);
    }
    if (r.disposition == engine::Disposition::kDrop &&
        (r.reason == engine::Reason::policy_block || r.reason == engine::Reason::policy_reset)) {
      request_offload(mbufs[i]);
    }
    if (r.disposition != engine::Disposition::kHold) act(mbufs[i], r.disposition, r.verdict, r.trim);
  }
  for (; next_release < released.size(); ++next_release) {
    const engine::Release& rel = released[next_release];
    act(reinterpret_cast<rte_mbuf*>(rel.token), rel.disposition, rel.verdict, rel.trim);
  }
  // The report's "peak concurrent": sampled after every burst, as
  // ftzgate-inspect samples it.
  const uint64_t active = worker_->active_flows();
  if (active > counters_.peak_flows.load(std::memory_order_relaxed)) {
    counters_.peak_flows.store(active, std::memory_order_relaxed);
  }
  counters_.last_ts_ns.store(newest, std::memory_order_relaxed);
  // Release: whoever sees every packet counted also sees their times.
  counters_.rx.store(counters_.rx.load(std::memory_order_relaxed) + n, std::memory_order_release);
}

void WorkerSlot::act_released() noexcept {
  for (const engine::Release& r : worker_->released()) {
    act(reinterpret_cast<rte_mbuf*>(r.token), r.disposition, r.verdict, r.trim);
  }
}

void WorkerSlot::act(rte_mbuf* m, engine::Disposition d, const engine::Verdict& v,
                     const engine::PayloadTrim& trim) noexcept {
  if (d == engine::Disposition::kDrop) {
    rte_pktmbuf_free(m);
    return;
  }
  const uint16_t in = app_.port_index[m->port];
  if (v.mirror && app_.mirror_port != kNoPort) {
    // The mirror gets the frame as it arrived, before any rewrite.
    if (rte_mbuf* copy = rte_pktmbuf_copy(m, app_.pool, 0, UINT32_MAX)) {
      send(app_.mirror_port, copy);
      bump(counters_.mirrored);
    } else {
      bump(counters_.mirror_nombuf);
    }
  }
  if (trim.any()) {
    // Bytes an inspected flow's receiver must not get uninspected (the
    // engine's normalization, docs/decisions/0003): cut off in place.
    const engine::FrameSpan fs =
        m->nb_segs == 1 ? engine::apply_trim(app_.link, rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m), trim)
                        : engine::FrameSpan{0, 0};
    if (fs.len == 0) {
      bump(counters_.trim_failed);
      rte_pktmbuf_free(m);
      return;
    }
    rte_pktmbuf_adj(m, static_cast<uint16_t>(fs.offset));
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - fs.len));
    bump(counters_.trimmed);
  }
  uint16_t out = app_.ports[in].pair;
  // Route applies to exports: packets entering on the inside port. Replies
  // come back through the channel port and go to its pair (inside).
  if (v.action == engine::Action::kRoute && app_.ports[in].profile.role == engine::PortRole::kInside &&
      v.channel < current_->channels.size() && current_->channels[v.channel].port != kNoPort) {
    const ChannelAction& c = current_->channels[v.channel];
    if (app_.link == engine::LinkType::kEthernet && rewrite_for_channel(m, c.vlan, c.next_hop)) {
      out = c.port;
      bump(counters_.routed);
    } else {
      bump(counters_.route_failed);
      rte_pktmbuf_free(m);
      return;
    }
  }
  if (out == kNoPort) {
    bump(counters_.no_egress);
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
    rte_mbuf* m = rte_pktmbuf_alloc(app_.pool);
    char* dst = m != nullptr ? rte_pktmbuf_append(m, static_cast<uint16_t>(f.len)) : nullptr;
    if (dst == nullptr) {
      if (m != nullptr) rte_pktmbuf_free(m);
      bump(counters_.reset_nombuf);
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
  engine::parse_packet(app_.link, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), p);
  if (!p.l4_valid || (p.l4_proto != 6 && p.l4_proto != 17)) return;
  OffloadRequest req;
  req.flow.src = p.src;
  req.flow.dst = p.dst;
  req.flow.src_port = p.src_port;
  req.flow.dst_port = p.dst_port;
  req.flow.proto = p.l4_proto;
  req.flow.vlan = p.vlan[0];
  req.port = app_.port_index[m->port];
  static_assert(sizeof(OffloadRequest) % 4 == 0, "rte_ring elements are multiples of 4 bytes");
  if (rte_ring_sp_enqueue_elem(offload_ring_, &req, sizeof(req)) == 0) bump(counters_.offload_requests);
  else bump(counters_.offload_requests_dropped);
}

void WorkerSlot::send(uint16_t port, rte_mbuf* m) noexcept {
  TxBuffer& t = tx_[port];
  t.mbufs[t.count++] = m;
  bump(counters_.tx);
  if (t.count == engine::kBurstSize) flush(t);
}

void WorkerSlot::flush(TxBuffer& t) noexcept {
  uint16_t sent = 0;
  uint64_t deadline = 0;
  while (sent < t.count) {
    const uint16_t left = static_cast<uint16_t>(t.count - sent);
    sent += t.shared != nullptr
                ? static_cast<uint16_t>(rte_ring_mp_enqueue_burst(t.shared, reinterpret_cast<void**>(t.mbufs + sent), left, nullptr))
                : rte_eth_tx_burst(t.port_id, t.queue, t.mbufs + sent, left);
    if (sent == t.count) break;
    // Backpressure: wait for the queue (or the main lcore draining the
    // shared ring) up to a deadline; past it the link is stuck, so drop and count.
    const uint64_t now = rte_rdtsc();
    if (deadline == 0) {
      deadline = now + app_.tx_wait_cycles;
      bump(counters_.tx_waits);
    } else if (now > deadline) {
      for (uint16_t i = sent; i < t.count; ++i) rte_pktmbuf_free(t.mbufs[i]);
      bump(counters_.tx_dropped, t.count - sent);
      break;
    }
    rte_pause();
  }
  t.count = 0;
}

void WorkerSlot::flush_all() noexcept {
  for (TxBuffer& t : tx_) {
    if (t.count > 0) flush(t);
  }
}

void WorkerSlot::publish_snapshot() noexcept {
  const uint32_t s = snapshot_.seq.load(std::memory_order_relaxed);
  snapshot_.seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  snapshot_.counters = worker_->counters();
  snapshot_.active_flows = worker_->active_flows();
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

void WorkerSlot::read_snapshot(engine::WorkerCounters& out, uint32_t& active) const noexcept {
  for (;;) {
    const uint32_t s1 = snapshot_.seq.load(std::memory_order_acquire);
    if (s1 & 1u) continue;
    out = snapshot_.counters;
    active = snapshot_.active_flows;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (snapshot_.seq.load(std::memory_order_relaxed) == s1) return;
  }
}

// ------------------------------------------------------------- appliance --

Appliance::Appliance(const DpOptions& o, drivers::HardwareProfile p) : options(o), profile(std::move(p)) {
  port_index.fill(kNoPort);
}

Appliance::~Appliance() {
  for (rte_ring* r : shared_tx) rte_ring_free(r);
  for (auto& w : workers) {
    rte_ring_free(w->distribution_ring());
    rte_ring_free(w->offload_ring());
  }
  rte_free(qsbr);
}

void destroy_appliance(Appliance* a) noexcept { delete a; }

engine::WorkerOptions Appliance::worker_options(uint32_t w) const {
  engine::WorkerOptions base;
  base.event_queue_capacity = profile.event_ring_size;
  // Inline ports validate every checksum; a replayed capture accepts the
  // offloaded sums of the host that captured it, as ftzgate-inspect does.
  base.checksum_default = options.pcap_in.empty() ? engine::ChecksumMode::kOn : engine::ChecksumMode::kAuto;
  return desk->worker_options(w, base);
}

tl::expected<std::unique_ptr<Published>, std::string> Appliance::build_published(
    config::LoadedConfig cfg, uint64_t number, std::shared_ptr<const engine::sig::SignatureDatabase> db) const {
  // An unchanged catalog keeps the running database: no compile, and the
  // workers' scan streams continue untouched (docs/decisions/0002).
  if (!db && running && running->gen->signatures() && running->gen->spec().signatures == cfg.spec.signatures) {
    db = running->gen->signatures();
  }
  if (!db && !cfg.spec.signatures.empty()) {
    // Compiled here so that a pattern Hyperscan refuses is reported at its
    // file:line:col.
    auto compiled = config::compile_signatures(cfg);
    if (!compiled) return tl::unexpected(config::format_diagnostics(compiled.error()));
    db = std::move(*compiled);
  }
  auto built = engine::PolicyGeneration::build_with_signatures(std::move(cfg.spec), number, std::move(db));
  if (!built) return tl::unexpected(built.error());
  auto p = std::make_unique<Published>();
  p->number = number;
  p->gen = std::move(*built);
  for (const engine::ChannelSpec& c : p->gen->spec().channels) {
    ChannelAction a;
    a.vlan = c.vlan;
    a.next_hop = c.next_hop_mac;
    for (size_t i = 0; i < ports.size(); ++i) {
      if (ports[i].profile.role == c.egress_role) a.port = static_cast<uint16_t>(i);
    }
    p->channels.push_back(a);
  }
  p->scanners.resize(nworkers);
  p->retired.resize(nworkers);
  if (number > 1) {
    for (uint32_t w = 0; w < nworkers; ++w) {
      auto scanner = engine::Worker::make_scanner(*p->gen, worker_options(w));
      if (!scanner) return tl::unexpected(scanner.error());
      p->scanners[w] = std::move(*scanner);
    }
  }
  return p;
}

void Appliance::publish(std::unique_ptr<Published> p) {
  Published* raw = p.get();
  generations[raw->number] = raw->gen;
  while (generations.size() > 8) generations.erase(generations.begin());  // events of older flows are long gone
  previous = std::move(running);
  running = std::move(p);
  published.store(raw, std::memory_order_release);
  grace_token = rte_rcu_qsbr_start(qsbr);
}

bool Appliance::poll_grace() {
  if (!previous) return false;
  if (rte_rcu_qsbr_check(qsbr, grace_token, false) != 1) return false;
  // Every worker has passed a quiescent point since the new pointer was
  // stored, so none still reads the old generation or its scanners.
  reload.last_ms = ms_since(running->requested);
  const uint64_t rss = resident_bytes();
  reload.last_extra_bytes = rss > rss_before_reload ? rss - rss_before_reload : 0;
  reload.max_ms = std::max(reload.max_ms, reload.last_ms);
  reload.max_extra_bytes = std::max(reload.max_extra_bytes, reload.last_extra_bytes);
  ++reload.reloads;
  tel.reloads.store(reload.reloads, std::memory_order_relaxed);
  tel.generation.store(running->number, std::memory_order_relaxed);
  tel.last_reload_us.store(static_cast<uint64_t>(reload.last_ms * 1000), std::memory_order_relaxed);
  std::fprintf(stderr, "ftzgate-dp: generation %llu running on %zu workers (%.1f ms after SIGHUP, build %.1f ms)\n",
               static_cast<unsigned long long>(running->number), workers.size(), reload.last_ms, reload.last_build_ms);
  drain_events();
  previous.reset();
  return true;
}

void Appliance::drain_events(uint32_t max_per_worker) {
  std::string line;
  for (auto& w : workers) {
    engine::EventQueue& q = w->engine().events();
    // Bounded per call: a worker producing as fast as this loop formats must
    // not starve the main lcore's other duties (reloads, distribution).
    uint32_t taken = 0;
    while (taken++ < max_per_worker) {
      const engine::Event* e = q.front();
      if (e == nullptr) break;
      if (eve) {
        auto it = generations.find(e->generation);
        const engine::PolicyGeneration& gen = it != generations.end() ? *it->second : *running->gen;
        line.clear();
        engine::format_eve(*e, gen, line);
        line += '\n';
        eve->write(line);
      }
      if (e->type == engine::EventType::kFlow &&
          (e->verdict.action == engine::Action::kBlock || e->verdict.action == engine::Action::kReset)) {
        // The flow ended: its offloaded drop rules (both directions) go.
        drivers::OffloadFlow f{e->src, e->dst, e->src_port, e->dst_port, e->proto, e->vlan[0]};
        drivers::OffloadFlow r{e->dst, e->src, e->dst_port, e->src_port, e->proto, e->vlan[0]};
        for (auto& o : offload) {
          if (o) {
            o->remove(f);
            o->remove(r);
          }
        }
      }
      ++events_written;
      q.pop();
      tel.events.store(events_written, std::memory_order_relaxed);
    }
  }
}

void Appliance::check_health(bool final) {
  const auto now = std::chrono::steady_clock::now();
  if (eve) eve->flush();  // a full disk shows now, not at exit
  uint64_t refused = 0, backlogged = 0, backlog_now = 0;
  for (auto& w : workers) {
    engine::WorkerCounters c;
    uint32_t active = 0;
    if (final) {
      c = w->engine().counters();
    } else {
      w->read_snapshot(c, active);
    }
    refused += c.records_refused;
    backlogged += c.records_backlogged;
    backlog_now += final ? w->engine().record_backlog() : w->record_backlog();
  }
  const uint64_t eve_errors = eve ? eve->write_errors() : 0;
  if (eve) {
    tel.eve_write_errors.store(eve_errors, std::memory_order_relaxed);
    tel.eve_lines_lost.store(eve->lines_lost(), std::memory_order_relaxed);
  }
  const bool news = eve_errors > health.eve_errors || refused > health.records_refused ||
                    backlogged > health.records_backlogged;
  if (!news || (!final && now < health.next_warning)) return;
  if (eve_errors > health.eve_errors) {
    std::fprintf(stderr, "ftzgate-dp: warning: events are being lost: %s (%llu write errors, %llu event lines lost)\n",
                 eve->error().c_str(), static_cast<unsigned long long>(eve_errors),
                 static_cast<unsigned long long>(eve->lines_lost()));
  }
  if (refused > health.records_refused || backlogged > health.records_backlogged) {
    std::fprintf(stderr,
                 "ftzgate-dp: warning: the event logger is behind: %llu flow records held in the record backlog "
                 "(%llu waiting now), %llu flow endings refused (their packets followed the fail mode)\n",
                 static_cast<unsigned long long>(backlogged), static_cast<unsigned long long>(backlog_now),
                 static_cast<unsigned long long>(refused));
  }
  health.eve_errors = eve_errors;
  health.records_refused = refused;
  health.records_backlogged = backlogged;
  health.next_warning = now + kWarnEvery;
}

int64_t Appliance::newest_packet_ns() const {
  int64_t t = 0;
  for (const auto& w : workers) t = std::max(t, w->counters().last_ts_ns.load(std::memory_order_acquire));
  return t;
}

void Appliance::harvest(bool stopped) {
  if (!desk->active()) return;
  const bool live = options.pcap_in.empty() || options.loop;
  const int64_t now = live ? clock_ns() : newest_packet_ns();
  if (now == 0) return;
  std::string line;
  for (report::ComplianceNotice& n : desk->harvest(now, stopped)) {
    if (eve) {
      line = report::format_notice_eve(n);
      line += '\n';
      eve->write(line);
    }
    notices.push_back(std::move(n));
  }
}

uint16_t Appliance::push_stash(Stash& s) {
  if (workers.size() == 1) {
    // One worker: the burst goes whole or waits, so the worker judges the
    // bursts as they were read (a replay then expires flows at the same
    // packets as ftzgate-inspect, which judges the capture 32 at a time).
    if (rte_ring_sp_enqueue_bulk(workers[0]->distribution_ring(), reinterpret_cast<void* const*>(s.mbufs), s.count,
                                 nullptr) == 0) {
      ++distribution_waits;
      return 0;
    }
    const uint16_t pushed = s.count;
    s.count = 0;
    return pushed;
  }
  // In arrival order per worker; a full ring blocks that worker's later
  // packets too (backpressure: nothing is dropped, RX simply waits).
  uint16_t kept = 0;
  uint16_t pushed = 0;
  bool blocked[64] = {};
  for (uint16_t i = 0; i < s.count; ++i) {
    const uint16_t w = s.worker[i];
    if (!blocked[w] && rte_ring_sp_enqueue(workers[w]->distribution_ring(), s.mbufs[i]) == 0) {
      ++pushed;
      continue;
    }
    blocked[w] = true;
    s.mbufs[kept] = s.mbufs[i];
    s.worker[kept] = w;
    ++kept;
  }
  if (kept > 0) ++distribution_waits;
  s.count = kept;
  return pushed;
}

bool Appliance::distribute(bool receive) {
  bool busy = replay.reader != nullptr && replay_step(receive);
  const uint32_t nw = static_cast<uint32_t>(workers.size());
  for (uint16_t p : distributed_ports) {
    Stash& s = stash[p];
    if (s.count == 0 && receive) {
      s.count = rte_eth_rx_burst(ports[p].id, 0, s.mbufs, engine::kBurstSize);
      for (uint16_t i = 0; i < s.count; ++i) {
        const rte_mbuf* m = s.mbufs[i];
        s.worker[i] = static_cast<uint16_t>(
            frame_hash(link, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)) % nw);
      }
    }
    if (s.count == 0) continue;
    busy = true;
    distributed += push_stash(s);
  }
  return busy;
}

namespace {

// The record in mbufs of `pool`: one segment when the mbufs were sized for
// the capture's longest record (main.cpp), chained otherwise. Null, with
// nothing allocated, when the pool is empty.
rte_mbuf* record_to_mbuf(rte_mempool* pool, const capture::CaptureRecordView& r) {
  rte_mbuf* head = nullptr;
  uint32_t done = 0;
  while (done < r.caplen || head == nullptr) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      if (head != nullptr) rte_pktmbuf_free(head);
      return nullptr;
    }
    const uint32_t n = std::min<uint32_t>(r.caplen - done, rte_pktmbuf_tailroom(m));
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(n)), r.data + done, n);
    done += n;
    if (head == nullptr) {
      head = m;
    } else if (rte_pktmbuf_chain(head, m) != 0) {
      rte_pktmbuf_free(m);
      rte_pktmbuf_free(head);
      return nullptr;
    }
  }
  return head;
}

}  // namespace

uint64_t Appliance::processed() const {
  uint64_t n = 0;
  for (const auto& w : workers) n += w->counters().rx.load(std::memory_order_acquire);
  return n;
}

bool Appliance::replay_step(bool receive) {
  Replay& r = replay;
  Stash& s = r.stash;
  if (s.count == 0 && receive && !r.at_end) {
    const uint32_t nw = static_cast<uint32_t>(workers.size());
    const uint16_t port_id = ports[r.port].id;
    while (s.count < engine::kBurstSize) {
      if (!r.pending) {
        const capture::CaptureReader::Next next = r.reader->next(r.record);
        if (next != capture::CaptureReader::Next::kRecord) {
          if (next == capture::CaptureReader::Next::kError) r.error = r.reader->error();
          r.at_end = true;
          break;
        }
        r.pending = true;
      }
      rte_mbuf* m = record_to_mbuf(pool, r.record);
      if (m == nullptr) {
        // The workers hold the pool (held segments and fragments, rings):
        // wait for them. A pool they fill without ever judging another
        // packet cannot drain, and the run says so instead of hanging.
        ++r.nombuf_waits;
        const auto now = std::chrono::steady_clock::now();
        const uint64_t done = processed();
        if (r.starved_since == std::chrono::steady_clock::time_point{} || done != r.processed_when_starved) {
          r.starved_since = now;
          r.processed_when_starved = done;
        } else if (now - r.starved_since > std::chrono::seconds(5)) {
          fatal = "replay stalled after " + std::to_string(r.read) + " packets: the workers hold all " +
                  std::to_string(profile.mbufs) + " mbufs (held segments and fragments); raise mempool.mbufs";
        }
        break;
      }
      r.starved_since = {};
      r.pending = false;
      m->port = port_id;
      *RTE_MBUF_DYNFIELD(m, capture_clock.offset, CaptureRecord*) = CaptureRecord{r.record.ts_ns, r.record.wirelen};
      r.bytes += r.record.caplen;
      if (r.read++ == 0) r.first_ts_ns = r.record.ts_ns;
      r.last_ts_ns = std::max(r.last_ts_ns, r.record.ts_ns);
      s.mbufs[s.count] = m;
      s.worker[s.count] = static_cast<uint16_t>(
          frame_hash(link, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)) % nw);
      ++s.count;
    }
  }
  tel.replayed.store(r.read, std::memory_order_relaxed);
  if (s.count == 0) return false;
  distributed += push_stash(s);  // the replay's hand-over is software distribution too
  return true;
}

bool Appliance::drain_shared_tx() {
  bool busy = false;
  rte_mbuf* mbufs[engine::kBurstSize];
  for (size_t p = 0; p < shared_tx.size(); ++p) {
    if (shared_tx[p] == nullptr) continue;
    const unsigned n = rte_ring_sc_dequeue_burst(shared_tx[p], reinterpret_cast<void**>(mbufs), engine::kBurstSize, nullptr);
    uint16_t sent = 0;
    while (sent < n) {
      sent += rte_eth_tx_burst(ports[p].id, 0, mbufs + sent, static_cast<uint16_t>(n - sent));
      if (sent < n) rte_pause();  // the ring behind us applies the backpressure to the workers
    }
    busy = busy || n > 0;
  }
  return busy;
}

void Appliance::serve_offload() {
  OffloadRequest req;
  for (auto& w : workers) {
    rte_ring* r = w->offload_ring();
    if (r == nullptr) continue;
    while (rte_ring_sc_dequeue_elem(r, &req, sizeof(req)) == 0) {
      if (req.port < offload.size() && offload[req.port]) offload[req.port]->install(req.flow);
    }
  }
}

void Appliance::poll_reload() {
  if (signals().reload.exchange(false)) {
    if (!reload_wanted) reload_requested = std::chrono::steady_clock::now();
    reload_wanted = true;
  }
  if (reload_wanted && !building.valid() && !previous) {
    reload_wanted = false;
    rss_before_reload = resident_bytes();
    const uint64_t number = next_generation++;
    const auto requested = reload_requested;
    // The config is read and the Hyperscan database compiled off the
    // workers and off this loop, on a control thread.
    building = std::async(std::launch::async, [this, number, requested]()
                              -> tl::expected<std::unique_ptr<Published>, std::string> {
      const auto t0 = std::chrono::steady_clock::now();
      auto cfg = config::load_config(options.config);
      if (!cfg) return tl::unexpected(config::format_diagnostics(cfg.error()));
      auto p = build_published(std::move(*cfg), number);
      if (p) {
        (*p)->requested = requested;
        reload.last_build_ms = ms_since(t0);
      }
      return p;
    });
  }
  if (building.valid() && building.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    auto built = building.get();
    if (!built) {
      ++reload.failures;
      tel.failures.store(reload.failures, std::memory_order_relaxed);
      reload.last_error = built.error();
      std::fprintf(stderr, "%sftzgate-dp: %s: reload rejected, generation %llu keeps running\n", built.error().c_str(),
                   options.config.c_str(), static_cast<unsigned long long>(running->number));
    } else {
      publish(std::move(*built));
    }
  }
  poll_grace();
}

bool Appliance::capture_done() const {
  if (replay.reader == nullptr) return false;
  return replay.at_end && replay.stash.count == 0 && processed() >= replay.read;
}

// ------------------------------------------------------------ start / run --

namespace {

int worker_main(void* arg) { return static_cast<WorkerSlot*>(arg)->loop(); }

StartError device_error(std::string message) { return StartError{1, std::move(message)}; }

tl::expected<void, StartError> start_ports(Appliance& a) {
  for (const drivers::PortProfile& pp : a.profile.ports) {
    auto port = start_port(pp, a.nworkers, a.pool);
    if (!port) return tl::unexpected(device_error(port.error()));
    a.port_index[port->id] = static_cast<uint16_t>(a.ports.size());
    a.ports.push_back(std::move(*port));
  }
  for (size_t i = 0; i < a.ports.size(); ++i) {
    Port& p = a.ports[i];
    for (size_t j = 0; j < a.ports.size(); ++j) {
      if (!p.profile.pair.empty() && a.ports[j].profile.name == p.profile.pair) p.pair = static_cast<uint16_t>(j);
    }
    if (p.profile.role == engine::PortRole::kMirror) a.mirror_port = static_cast<uint16_t>(i);
  }
  return {};
}

tl::expected<void, StartError> make_rings(Appliance& a) {
  a.shared_tx.assign(a.ports.size(), nullptr);
  a.stash.resize(a.ports.size());
  for (size_t p = 0; p < a.ports.size(); ++p) {
    if (a.ports[p].tx_queues < a.nworkers) {
      a.shared_tx[p] = make_ring("ftz_tx_" + std::to_string(p), a.profile.worker_ring_size, RING_F_SC_DEQ);
      if (a.shared_tx[p] == nullptr) return tl::unexpected(device_error("TX ring for port " + a.ports[p].profile.name + ": " + rte_strerror(rte_errno)));
    }
    if (a.nworkers > 1 && !a.ports[p].hw_rss) a.distributed_ports.push_back(static_cast<uint16_t>(p));
  }
  return {};
}

}  // namespace

namespace {

// SIGINT/SIGTERM during start-up: stop building and let main() clean up.
bool stop_requested() { return signals().stop.load(); }
StartError interrupted() { return StartError{1, "stopped by a signal during start-up", true}; }

}  // namespace

tl::expected<AppliancePtr, StartError> start_appliance(const DpOptions& options, drivers::HardwareProfile profile,
                                                       config::LoadedConfig config, CaptureInfo capture,
                                                       std::shared_ptr<const engine::sig::SignatureDatabase> signatures) {
  AppliancePtr a(new Appliance(options, std::move(profile)));
  const engine::LinkType link = capture.link;
  a->link = link;
  a->nworkers = a->profile.workers;
  if (rte_lcore_count() < a->nworkers + 1) {
    return tl::unexpected(StartError{2, std::to_string(a->nworkers) + " workers need " + std::to_string(a->nworkers + 1) +
                                            " lcores (main + workers); EAL has " + std::to_string(rte_lcore_count()) +
                                            ": give -l/--lcores accordingly"});
  }
  a->tsc_hz = rte_get_tsc_hz();
  a->tsc0 = rte_rdtsc();
  a->unix0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  a->tx_wait_cycles = a->tsc_hz / 1000;  // 1 ms
  a->drain_cycles = a->tsc_hz / 1'000'000 * a->profile.tx_drain_us;

  a->pool = rte_pktmbuf_pool_create("ftz_mbufs", a->profile.mbufs, a->profile.mbuf_cache, 0,
                                    static_cast<uint16_t>(a->profile.mbuf_data_room), static_cast<int>(rte_socket_id()));
  if (a->pool == nullptr) {
    const uint64_t mb = (uint64_t{a->profile.mbufs} * (a->profile.mbuf_data_room + 256) >> 20) + 1;
    return tl::unexpected(device_error("mempool of " + std::to_string(a->profile.mbufs) + " mbufs (about " +
                                       std::to_string(mb) + " MB): " + rte_strerror(rte_errno) +
                                       "; give EAL more memory (-m MB, or hugepages) or lower mempool.mbufs"));
  }
  if (stop_requested()) return tl::unexpected(interrupted());
  // (A --loop replay loads the whole capture into the pool here.)
  if (auto ok = start_ports(*a); !ok) return tl::unexpected(ok.error());
  if (stop_requested()) return tl::unexpected(interrupted());
  if (auto ok = make_rings(*a); !ok) return tl::unexpected(ok.error());
  if (capture.reader) {
    static const rte_mbuf_dynfield kField = {"ftz_capture_record", sizeof(CaptureRecord), alignof(CaptureRecord), 0};
    a->capture_clock.offset = rte_mbuf_dynfield_register(&kField);
    if (a->capture_clock.offset < 0) return tl::unexpected(device_error("capture record field: " + std::string(rte_strerror(rte_errno))));
    a->capture_clock.port_id = a->ports.front().id;  // the capture enters on the inside port
    a->replay.reader = std::move(capture.reader);
    a->replay.port = 0;
  }

  const size_t qsbr_size = rte_rcu_qsbr_get_memsize(a->nworkers);
  a->qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("ftz_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
  if (a->qsbr == nullptr || rte_rcu_qsbr_init(a->qsbr, a->nworkers) != 0) {
    return tl::unexpected(device_error("RCU state: out of DPDK memory"));
  }

  auto first = a->build_published(std::move(config), 1, std::move(signatures));
  if (!first) return tl::unexpected(StartError{2, options.config + ": " + first.error()});
  auto desk = report::ComplianceDesk::create(*(*first)->gen, a->nworkers, options.demo_token_key);
  if (!desk) return tl::unexpected(StartError{2, desk.error()});
  a->desk = std::move(*desk);
  for (const std::string& note : a->desk->key_notes()) std::fprintf(stderr, "ftzgate-dp: warning: %s\n", note.c_str());

  for (uint32_t w = 0; w < a->nworkers; ++w) {
    // Each worker allocates (and touches) its tables here: seconds for many
    // workers, so a signal is looked at between them.
    if (stop_requested()) return tl::unexpected(interrupted());
    std::unique_ptr<engine::Worker> engine_worker;
    try {
      engine_worker = std::make_unique<engine::Worker>((*first)->gen, link, a->worker_options(w));
    } catch (const std::bad_alloc&) {
      // main() checked the memory budget; memory taken by others since still ends here, with a message.
      return tl::unexpected(StartError{1, "out of memory building worker " + std::to_string(w) + " of " +
                                              std::to_string(a->nworkers) + ": lower the limits in " + options.config +
                                              " or the number of workers"});
    }
    auto slot = std::make_unique<WorkerSlot>(*a, w, std::move(engine_worker));
    if (!a->distributed_ports.empty() || a->replay.reader) {
      rte_ring* r = make_ring("ftz_dist_" + std::to_string(w), a->profile.worker_ring_size, RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr) return tl::unexpected(device_error(std::string("distribution ring: ") + rte_strerror(rte_errno)));
      slot->set_distribution_ring(r);
    }
    if (a->profile.offload_rules > 0) {
      rte_ring* r = rte_ring_create_elem(("ftz_offl_" + std::to_string(w)).c_str(), sizeof(OffloadRequest),
                                         kOffloadRingSize, static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr) return tl::unexpected(device_error(std::string("offload ring: ") + rte_strerror(rte_errno)));
      slot->set_offload_ring(r);
    }
    rte_rcu_qsbr_thread_register(a->qsbr, w);
    a->workers.push_back(std::move(slot));
  }
  a->offload.resize(a->ports.size());
  if (a->profile.offload_rules > 0) {
    for (size_t p = 0; p < a->ports.size(); ++p) {
      a->offload[p] = std::make_unique<drivers::FlowOffload>(a->ports[p].id, a->profile.offload_rules);
    }
  }
  if (!options.eve.empty()) {
    auto eve = report::OutputFile::open(options.eve);
    if (!eve) return tl::unexpected(StartError{2, eve.error()});
    a->eve = std::move(*eve);
  }
  if (stop_requested()) return tl::unexpected(interrupted());
  (*first)->requested = std::chrono::steady_clock::now();
  a->generations[1] = (*first)->gen;
  a->running = std::move(*first);
  a->published.store(a->running.get(), std::memory_order_release);
  register_telemetry(*a);
  return a;
}

int run_appliance(Appliance& a) {
  unsigned lcore = 0;
  uint32_t w = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w == a.workers.size()) break;
    rte_eal_remote_launch(worker_main, a.workers[w].get(), lcore);
    ++w;
  }
  a.started = std::chrono::steady_clock::now();
  auto next_harvest = a.started + kHarvestEvery;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (signals().stop.load()) break;
    if (a.options.duration_s > 0 && std::chrono::duration<double>(now - a.started).count() >= a.options.duration_s) break;
    if (a.capture_done()) break;
    if (!a.fatal.empty()) break;
    bool busy = a.distribute(true);
    busy = a.drain_shared_tx() || busy;
    a.drain_events();
    a.serve_offload();
    a.poll_reload();
    if (now >= next_harvest) {
      a.harvest(false);
      a.check_health(false);
      next_harvest = now + kHarvestEvery;
    }
    if (!busy && a.distributed_ports.empty()) rte_delay_us_sleep(200);
  }
  // Packets already read are judged and sent: hand the stash to the workers,
  // then let them drain their rings, finish their flows and flush.
  while (a.distribute(false)) a.drain_shared_tx();
  a.stopping.store(true);
  for (;;) {
    a.drain_shared_tx();
    a.drain_events();
    bool all_done = true;
    for (const auto& slot : a.workers) all_done = all_done && slot->done();
    if (all_done) break;
  }
  rte_eal_mp_wait_lcore();
  a.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a.started).count();
  while (a.drain_shared_tx()) {
  }
  a.poll_grace();
  a.drain_events(UINT32_MAX);
  a.serve_offload();
  a.harvest(true);
  int rc = 0;
  // Events first: --stats reports whether they all reached the file.
  if (a.eve) {
    if (auto closed = a.eve->close(); !closed) {
      std::fprintf(stderr, "ftzgate-dp: %s (%llu event lines not written)\n", closed.error().c_str(),
                   static_cast<unsigned long long>(a.eve->lines_lost()));
      a.health.eve_errors = a.eve->write_errors();  // said just now
      rc = 1;
    }
  }
  a.check_health(true);
  if (!a.options.stats.empty()) {
    auto f = report::OutputFile::open(a.options.stats);
    if (f) {
      (*f)->write(stats_json(a) + '\n');
      if (auto closed = (*f)->close(); !closed) f = tl::unexpected(closed.error());
    }
    if (!f) {
      std::fprintf(stderr, "ftzgate-dp: cannot write statistics: %s\n", f.error().c_str());
      rc = 1;
    }
  }
  // The operator's summary, as ftzgate-inspect prints it.
  std::fputs(report::format_report_text(run_summary(a)).c_str(), stdout);
  // What the capture did not give as written, as ftzgate-inspect says it.
  if (a.replay.reader) {
    const std::string warning = a.replay.reader->over_snaplen_warning();
    if (!warning.empty()) std::fprintf(stderr, "ftzgate-dp: warning: %s\n", warning.c_str());
  }
  if (!a.replay.error.empty()) {
    std::fprintf(stderr, "ftzgate-dp: %s\n", a.replay.error.c_str());
    rc = 1;
  }
  if (!a.fatal.empty()) {
    std::fprintf(stderr, "ftzgate-dp: %s\n", a.fatal.c_str());
    rc = 1;
  }
  unregister_telemetry();
  for (auto& o : a.offload) {
    if (o) o->remove_all();
  }
  // --pcap-out files are written by net_pcap, which reports no write error.
  // What a port sent is known, so a file that holds less is one (a full disk):
  // a classic pcap of nanosecond records is 24 + 16 per frame + the frames.
  std::vector<std::pair<std::string, uint64_t>> expected;
  for (const Port& p : a.ports) {
    const std::string& args = p.profile.devargs;
    const size_t at = args.find("tx_pcap=");
    if (at == std::string::npos) continue;
    const size_t end = args.find(',', at);
    const PortStats st = read_port_stats(p);
    expected.emplace_back(args.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8),
                          24 + 16 * st.tx_packets + st.tx_bytes);
  }
  for (const Port& p : a.ports) stop_port(p);  // closes (flushes) net_pcap's files
  for (const auto& [path, bytes] : expected) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec || size != bytes) {
      std::fprintf(stderr, "ftzgate-dp: %s: write failed: the file holds %llu bytes, the frames the port sent need %llu (%s)\n",
                   path.c_str(), static_cast<unsigned long long>(ec ? 0 : size), static_cast<unsigned long long>(bytes),
                   ec ? ec.message().c_str() : "disk full?");
      rc = 1;
    }
  }
  return rc;
}

}  // namespace ftz::dpdk
