// rte_telemetry commands, served on DPDK's telemetry thread:
//   /ftzgate/stats       totals over ports and workers
//   /ftzgate/workers     per worker: packets, verdicts, flows, generation
//   /ftzgate/generation  running generation, reloads, last reload time
// They read only what is safe from another thread: port statistics (DPDK),
// the workers' seqlock snapshots and relaxed atomics.
#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include <atomic>
#include <thread>

#include "appliance_impl.hpp"
#include "ftz/engine/output_masking.hpp"

namespace ftz::dpdk {

namespace {

std::atomic<Appliance*> g_appliance{nullptr};
std::atomic<int> g_in_flight{0};

// Holds the appliance for one command; unregister_telemetry() waits for
// commands in flight before the appliance goes away.
class Use {
 public:
  Use() { g_in_flight.fetch_add(1); }
  ~Use() { g_in_flight.fetch_sub(1); }
  Appliance* get() const { return g_appliance.load(); }
};

void add(rte_tel_data* d, const char* name, uint64_t v) {
  rte_tel_data_add_dict_u64(d, name, v);
}

int stats_cmd(const char*, const char*, rte_tel_data* d) {
  const Use use;
  Appliance* a = use.get();
  if (a == nullptr) return -1;
  rte_tel_data_start_dict(d);
  uint64_t rx = 0, tx = 0, imissed = 0, nombuf = 0;
  for (const Port& p : a->ports) {
    rte_eth_stats s{};
    if (rte_eth_stats_get(p.id, &s) != 0) continue;
    rx += s.ipackets;
    tx += s.opackets;
    imissed += s.imissed;
    nombuf += s.rx_nombuf;
  }
  rx += a->tel.replayed.load(std::memory_order_relaxed);  // a single-pass replay enters on the inside port
  add(d, "port_rx_packets", rx);
  add(d, "port_tx_packets", tx);
  add(d, "port_imissed", imissed);
  add(d, "port_rx_nombuf", nombuf);
  uint64_t packets = 0, forwarded = 0, dropped = 0, flows = 0, alerts = 0, tx_dropped = 0;
  uint64_t backlogged = 0, backlog = 0, refused = 0, lost = 0;
  for (auto& w : a->workers) {
    engine::WorkerCounters c;
    uint32_t active = 0;
    w->read_snapshot(c, active);
    backlogged += c.records_backlogged;
    backlog += w->record_backlog();
    refused += c.records_refused;
    lost += c.records_lost;
    packets += c.packets;
    forwarded += c.forwarded;
    dropped += c.dropped;
    alerts += c.alerts;
    flows += active;
    tx_dropped += w->counters().dropped(engine::PathDrop::kTxDropped);
  }
  add(d, "packets", packets);
  add(d, "forwarded", forwarded);
  add(d, "dropped", dropped);
  add(d, "active_flows", flows);
  add(d, "alerts", alerts);
  add(d, "tx_dropped", tx_dropped);
  // Per port (index in the profile): one stuck port shows on its own.
  for (size_t p = 0; p < a->ports.size(); ++p) {
    uint64_t full = a->shared_tx_dropped_now(p);
    for (auto& w : a->workers) full += w->tx_port_dropped(p);
    const std::string name = "tx_full_dropped_port" + std::to_string(p);
    add(d, name.c_str(), full);
  }
  add(d, "events", a->logger->events());
  add(d, "records_backlogged", backlogged);
  add(d, "records_backlog_now", backlog);
  add(d, "records_refused", refused);
  add(d, "records_lost", lost);
  add(d, "eve_write_errors", a->logger->write_errors());
  add(d, "eve_lines_lost", a->logger->lines_lost());
  add(d, "generation", a->tel.generation.load(std::memory_order_relaxed));
  return 0;
}

int workers_cmd(const char*, const char*, rte_tel_data* d) {
  const Use use;
  Appliance* a = use.get();
  if (a == nullptr) return -1;
  rte_tel_data_start_dict(d);
  for (auto& w : a->workers) {
    rte_tel_data* c = rte_tel_data_alloc();
    if (c == nullptr) return -1;
    rte_tel_data_start_dict(c);
    engine::WorkerCounters k;
    uint32_t active = 0;
    w->read_snapshot(k, active);
    add(c, "packets", k.packets);
    add(c, "forwarded", k.forwarded);
    add(c, "dropped", k.dropped);
    add(c, "held", k.held);
    add(c, "active_flows", active);
    add(c, "flows_created", k.flows_created);
    add(c, "allow", k.flows_by_action[0]);
    add(c, "route", k.flows_by_action[1]);
    add(c, "block", k.flows_by_action[2]);
    add(c, "reset", k.flows_by_action[3]);
    add(c, "alerts", k.alerts);
    add(c, "tx_dropped", w->counters().dropped(engine::PathDrop::kTxDropped));
    add(c, "generation", w->counters().generation.load(std::memory_order_relaxed));
    add(c, "max_burst_gap_us",
        w->counters().max_gap_cycles.load(std::memory_order_relaxed) * 1'000'000 / a->tsc_hz);
    add(c, "reload_burst_gap_us",
        w->counters().reload_gap_cycles.load(std::memory_order_relaxed) * 1'000'000 / a->tsc_hz);
    const std::string name = "worker" + std::to_string(w->index());
    rte_tel_data_add_dict_container(d, name.c_str(), c, 0);
  }
  return 0;
}

int generation_cmd(const char*, const char*, rte_tel_data* d) {
  const Use use;
  Appliance* a = use.get();
  if (a == nullptr) return -1;
  rte_tel_data_start_dict(d);
  add(d, "generation", a->tel.generation.load(std::memory_order_relaxed));
  add(d, "reloads", a->tel.reloads.load(std::memory_order_relaxed));
  add(d, "reload_failures", a->tel.failures.load(std::memory_order_relaxed));
  add(d, "last_reload_us", a->tel.last_reload_us.load(std::memory_order_relaxed));
  if (a->options.link.link.target.empty()) {
    rte_tel_data_add_dict_string(d, "config", engine::masked_text(a->options.config).c_str());
  } else {
    rte_tel_data_add_dict_string(d, "controller", engine::masked_text(a->options.link.link.target).c_str());
    add(d, "bundle_generation", a->tel.bundle_generation.load(std::memory_order_relaxed));
  }
  return 0;
}

}  // namespace

void register_telemetry(Appliance& a) {
  g_appliance.store(&a);
  // Registration fails only for duplicate names (a second appliance in one
  // process, i.e. tests); the first registration keeps serving.
  rte_telemetry_register_cmd("/ftzgate/stats", stats_cmd, "ftzgate totals: ports, packets, verdicts, events");
  rte_telemetry_register_cmd("/ftzgate/workers", workers_cmd, "ftzgate per-worker counters and generation");
  rte_telemetry_register_cmd("/ftzgate/generation", generation_cmd, "ftzgate running generation and reloads");
}

void unregister_telemetry() noexcept {
  g_appliance.store(nullptr);
  while (g_in_flight.load() != 0) std::this_thread::yield();
}

}  // namespace ftz::dpdk
