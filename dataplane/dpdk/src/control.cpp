// The main lcore: its loop (distribution, shared TX, offload
// requests, reloads, compliance harvests, output health) and the shutdown
// that ends every flow, writes the outputs and checks them.
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <cstdio>
#include <filesystem>

#include "appliance_impl.hpp"
#include "ftz/service/notify.hpp"

namespace ftz::dpdk {

Signals& signals() noexcept {
  static Signals s;
  return s;
}

namespace {

constexpr auto kHarvestEvery = std::chrono::milliseconds(100);
// Degraded-output warnings (write errors, records waiting or refused): at
// most one line per this period, with the totals so far.
constexpr auto kWarnEvery = std::chrono::seconds(10);

int worker_main(void* arg) {
  return static_cast<WorkerSlot*>(arg)->loop();
}

}  // namespace

void Appliance::check_health(bool final) {
  const auto now = std::chrono::steady_clock::now();
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
  const uint64_t eve_errors = logger->write_errors();
  const bool news = eve_errors > health.eve_errors || refused > health.records_refused ||
                    backlogged > health.records_backlogged;
  if (!news || (!final && now < health.next_warning)) return;
  if (eve_errors > health.eve_errors) {
    std::fprintf(
        stderr, "ftzgate-dp: warning: events are being lost: %s (%llu write errors, %llu event lines lost)\n",
        logger->first_error().c_str(), static_cast<unsigned long long>(eve_errors),
        static_cast<unsigned long long>(logger->lines_lost()));
  }
  if (refused > health.records_refused || backlogged > health.records_backlogged) {
    std::fprintf(
        stderr,
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
  if (controller_link) {
    if (auto states = controller_link->take_thresholds()) desk->set_remote_states(std::move(*states));
  }
  for (report::ComplianceNotice& n : desk->harvest(now, stopped)) {
    logger->post_notice(n);
    notices.push_back(std::move(n));
  }
}

void Appliance::serve_offload() {
  OffloadRequest req;
  for (auto& w : workers) {
    rte_ring* r = w->offload_ring();
    if (r == nullptr) continue;
    while (rte_ring_sc_dequeue_elem(r, &req, sizeof(req)) == 0) {
      if (req.port >= offload.size() || !offload[req.port]) continue;
      drivers::FlowOffload& o = *offload[req.port];
      o.install(req.flow);
      // A port without rte_flow (ENOSYS) refuses every later rule too: the
      // workers stop asking (requests already in the ring are refused here).
      if (!o.enabled()) offload_open[req.port].store(false, std::memory_order_relaxed);
    }
  }
  // Flows that ended (the logger saw their records): their rules go.
  drivers::OffloadFlow f;
  while (offload_removals != nullptr && rte_ring_sc_dequeue_elem(offload_removals, &f, sizeof(f)) == 0) {
    for (auto& o : offload) {
      if (o) o->remove(f);
    }
  }
}

int run_appliance(Appliance& a) {
  if (auto ok = a.logger->start(); !ok) {
    std::fprintf(stderr, "ftzgate-dp: %s\n", ok.error().c_str());
    return 1;
  }
  unsigned lcore = 0;
  uint32_t w = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (w == a.workers.size()) break;
    rte_eal_remote_launch(worker_main, a.workers[w].get(), lcore);
    ++w;
  }
  a.started = std::chrono::steady_clock::now();
  auto next_harvest = a.started + kHarvestEvery;
  service::Notifier systemd;
  systemd.ready("forwarding, generation " + std::to_string(a.running->number));
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    systemd.alive(now);
    if (signals().stop.load()) break;
    if (a.controller_link && a.controller_link->restart_requested()) {
      signals().restart.store(true);
      break;
    }
    if (a.options.duration_s > 0 &&
        std::chrono::duration<double>(now - a.started).count() >= a.options.duration_s)
      break;
    if (a.capture_done()) break;
    if (!a.fatal.empty()) break;
    bool busy = a.distribute(true);
    busy = a.drain_shared_tx() || busy;
    a.serve_offload();
    a.poll_reload();
    if (now >= next_harvest) {
      a.harvest(false);
      a.publish_stats();
      a.check_health(false);
      next_harvest = now + kHarvestEvery;
    }
    if (!busy && a.distributed_ports.empty()) rte_delay_us_sleep(200);
  }
  systemd.stopping();
  // Packets already read are judged and sent: hand the stash to the workers,
  // then let them drain their rings, finish their flows and flush.
  while (a.distribute(false)) a.drain_shared_tx();
  a.replay_end_ns.store(a.replay.last_ts_ns, std::memory_order_release);
  a.stopping.store(true);
  // The logger drains the workers' events meanwhile (flows end as their
  // queues have room).
  for (;;) {
    a.drain_shared_tx();
    a.serve_offload();
    bool all_done = true;
    for (const auto& slot : a.workers) all_done = all_done && slot->done();
    if (all_done) break;
  }
  rte_eal_mp_wait_lcore();
  a.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a.started).count();
  while (a.drain_shared_tx()) {
  }
  a.poll_grace();
  a.harvest(true);
  // Every event and notice is written before the file closes.
  a.logger->stop();
  // The run's last counters, sent to the controller before the link closes:
  // after the logger's last pass, which counts the last flow records by name.
  a.publish_stats();
  a.serve_offload();
  int rc = 0;
  // Events first: --stats reports whether they all reached the file.
  if (report::OutputFile* eve = a.logger->eve()) {
    if (auto closed = eve->close(); !closed) {
      std::fprintf(stderr, "ftzgate-dp: %s (%llu event lines not written)\n", closed.error().c_str(),
                   static_cast<unsigned long long>(eve->lines_lost()));
      a.health.eve_errors = eve->write_errors();  // said just now
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
      std::fprintf(stderr,
                   "ftzgate-dp: %s: write failed: the file holds %llu bytes, the frames the port sent need "
                   "%llu (%s)\n",
                   path.c_str(), static_cast<unsigned long long>(ec ? 0 : size),
                   static_cast<unsigned long long>(bytes), ec ? ec.message().c_str() : "disk full?");
      rc = 1;
    }
  }
  return rc;
}

}  // namespace ftz::dpdk
