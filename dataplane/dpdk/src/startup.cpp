// Start-up after rte_eal_init: mempool, ports, rings, RCU, the first
// generation, the compliance desk, the workers and the outputs. Every step
// that may take long looks at SIGINT/SIGTERM first.
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>

#include <cstdio>
#include <new>

#include "appliance_impl.hpp"
#include "ftz/controller/restart.hpp"

namespace ftz::dpdk {

Appliance::Appliance(const DpOptions& o, drivers::HardwareProfile p) : PacketPath(o, std::move(p)) {}

Appliance::~Appliance() {
  logger.reset();  // its thread reads the workers' queues and the removal ring
  rte_ring_free(offload_removals);
  for (rte_ring* r : shared_tx) rte_ring_free(r);
  for (auto& w : workers) {
    rte_ring_free(w->distribution_ring());
    rte_ring_free(w->offload_ring());
  }
  rte_free(qsbr);
}

void destroy_appliance(Appliance* a) noexcept {
  delete a;
}

namespace {

constexpr uint32_t kOffloadRingSize = 1024;

rte_ring* make_ring(const std::string& name, uint32_t size, unsigned flags) {
  return rte_ring_create(name.c_str(), size, static_cast<int>(rte_socket_id()), flags);
}

StartError device_error(std::string message) {
  return StartError{1, std::move(message)};
}

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
      if (!p.profile.pair.empty() && a.ports[j].profile.name == p.profile.pair)
        p.pair = static_cast<uint16_t>(j);
    }
    if (p.profile.role == engine::PortRole::kMirror) a.mirror_port = static_cast<uint16_t>(i);
  }
  return {};
}

tl::expected<void, StartError> make_rings(Appliance& a) {
  a.shared_tx.assign(a.ports.size(), nullptr);
  a.shared_tx_dropped.assign(a.ports.size(), 0);
  a.tel_shared_tx_dropped = std::make_unique<std::atomic<uint64_t>[]>(a.ports.size());
  a.stash.resize(a.ports.size());
  for (size_t p = 0; p < a.ports.size(); ++p) {
    if (a.ports[p].tx_queues < a.nworkers) {
      a.shared_tx[p] = make_ring("ftz_tx_" + std::to_string(p), a.profile.worker_ring_size, RING_F_SC_DEQ);
      if (a.shared_tx[p] == nullptr)
        return tl::unexpected(
            device_error("TX ring for port " + a.ports[p].profile.name + ": " + rte_strerror(rte_errno)));
    }
    if (a.nworkers > 1 && !a.ports[p].hw_rss) a.distributed_ports.push_back(static_cast<uint16_t>(p));
  }
  return {};
}

// SIGINT/SIGTERM during start-up: stop building and let main() clean up.
bool stop_requested() {
  return signals().stop.load();
}
StartError interrupted() {
  return StartError{1, "stopped by a signal during start-up", true};
}

}  // namespace

tl::expected<AppliancePtr, StartError> start_appliance(
    const DpOptions& options, drivers::HardwareProfile profile, config::LoadedConfig config,
    CaptureInfo capture, std::shared_ptr<const engine::sig::SignatureDatabase> signatures) {
  AppliancePtr a(new Appliance(options, std::move(profile)));
  const engine::LinkType link = capture.link;
  a->link = link;
  a->nworkers = a->profile.workers;
  a->live_clock = options.pcap_in.empty() || options.loop;
  if (rte_lcore_count() < a->nworkers + 1) {
    return tl::unexpected(
        StartError{2, std::to_string(a->nworkers) + " workers need " + std::to_string(a->nworkers + 1) +
                          " lcores (main + workers); EAL has " + std::to_string(rte_lcore_count()) +
                          ": give -l/--lcores accordingly"});
  }
  a->tsc_hz = rte_get_tsc_hz();
  a->tsc0 = rte_rdtsc();
  a->unix0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  a->drain_cycles = a->tsc_hz / 1'000'000 * a->profile.tx_drain_us;
  a->idle_sleep_us = a->profile.idle_sleep_us;

  a->pool = rte_pktmbuf_pool_create("ftz_mbufs", a->profile.mbufs, a->profile.mbuf_cache, 0,
                                    static_cast<uint16_t>(a->profile.mbuf_data_room),
                                    static_cast<int>(rte_socket_id()));
  if (a->pool == nullptr) {
    const uint64_t mb = (uint64_t{a->profile.mbufs} * (a->profile.mbuf_data_room + 256) >> 20) + 1;
    return tl::unexpected(device_error(
        "mempool of " + std::to_string(a->profile.mbufs) + " mbufs (about " + std::to_string(mb) + " MB): " +
        rte_strerror(rte_errno) + "; give EAL more memory (-m MB, or hugepages) or lower mempool.mbufs"));
  }
  if (stop_requested()) return tl::unexpected(interrupted());
  // (A --loop replay loads the whole capture into the pool here.)
  if (auto ok = start_ports(*a); !ok) return tl::unexpected(ok.error());
  if (stop_requested()) return tl::unexpected(interrupted());
  if (auto ok = make_rings(*a); !ok) return tl::unexpected(ok.error());
  if (capture.reader) {
    static const rte_mbuf_dynfield kField = {"ftz_capture_record", sizeof(CaptureRecord),
                                             alignof(CaptureRecord), 0};
    a->capture_clock.offset = rte_mbuf_dynfield_register(&kField);
    if (a->capture_clock.offset < 0)
      return tl::unexpected(device_error("capture record field: " + std::string(rte_strerror(rte_errno))));
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
  for (const std::string& note : a->desk->key_notes())
    std::fprintf(stderr, "ftzgate-dp: warning: %s\n", note.c_str());

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
                                              std::to_string(a->nworkers) + ": lower the limits in " +
                                              options.config + " or the number of workers"});
    }
    auto slot = std::make_unique<WorkerSlot>(*a, w, std::move(engine_worker), a->desk->accounting(w));
    if (!a->distributed_ports.empty() || a->replay.reader) {
      rte_ring* r = make_ring("ftz_dist_" + std::to_string(w), a->profile.worker_ring_size,
                              RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr)
        return tl::unexpected(device_error(std::string("distribution ring: ") + rte_strerror(rte_errno)));
      slot->set_distribution_ring(r);
    }
    if (a->profile.offload_rules > 0) {
      rte_ring* r = rte_ring_create_elem(("ftz_offl_" + std::to_string(w)).c_str(), sizeof(OffloadRequest),
                                         kOffloadRingSize, static_cast<int>(rte_socket_id()),
                                         RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr)
        return tl::unexpected(device_error(std::string("offload ring: ") + rte_strerror(rte_errno)));
      slot->set_offload_ring(r);
    }
    rte_rcu_qsbr_thread_register(a->qsbr, w);
    a->workers.push_back(std::move(slot));
  }
  a->offload.resize(a->ports.size());
  if (a->profile.offload_rules > 0) {
    for (size_t p = 0; p < a->ports.size(); ++p) {
      a->offload[p] = std::make_unique<drivers::FlowOffload>(a->ports[p].id, a->profile.offload_rules);
      a->offload_open[p].store(a->offload[p]->enabled(), std::memory_order_relaxed);
    }
  }
  std::unique_ptr<report::OutputFile> eve;
  if (!options.eve.empty()) {
    // After a restart in place the file goes on (what the last run wrote stays).
    auto opened = report::OutputFile::open(options.eve, true, controller::restarted());
    if (!opened) return tl::unexpected(StartError{2, opened.error()});
    eve = std::move(*opened);
  }
  if (a->profile.offload_rules > 0) {
    static_assert(sizeof(drivers::OffloadFlow) % 4 == 0, "rte_ring elements are multiples of 4 bytes");
    a->offload_removals =
        rte_ring_create_elem("ftz_offl_end", sizeof(drivers::OffloadFlow), kOffloadRingSize,
                             static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (a->offload_removals == nullptr)
      return tl::unexpected(device_error(std::string("offload ring: ") + rte_strerror(rte_errno)));
  }
  std::vector<engine::EventQueue*> queues;
  for (auto& w : a->workers) queues.push_back(&w->engine().events());
  a->logger = std::make_unique<EventLogger>(std::move(queues), std::move(eve), a->offload_removals);
  if (stop_requested()) return tl::unexpected(interrupted());
  (*first)->requested = std::chrono::steady_clock::now();
  a->logger->add_generation(1, (*first)->gen);
  a->running = std::move(*first);
  a->published.store(a->running.get(), std::memory_order_release);
  register_telemetry(*a);
  return a;
}

}  // namespace ftz::dpdk
