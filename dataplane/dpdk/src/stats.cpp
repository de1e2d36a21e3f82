// --stats: ports, workers, the packet path around the engine, reloads,
// offload, and the same report as `ftzgate-inspect --json`.
#include <nlohmann/json.hpp>

#include "appliance_impl.hpp"
#include "ftz/engine/output_masking.hpp"
#include "ftz/engine/reasons.hpp"

namespace ftz::dpdk {

namespace {

using nlohmann::json;

json path_json(const PathCounters& c, uint64_t tsc_hz) {
  auto v = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  json path{
      {"rx", v(c.rx)},
      {"tx", v(c.tx)},
      {"tx_full_bursts", v(c.tx_full_bursts)},
      {"routed", v(c.routed)},
      {"trimmed", v(c.trimmed)},
      {"mirrored", v(c.mirrored)},
      {"resets_sent", v(c.resets_sent)},
      {"channel_vlan_stripped", v(c.channel_vlan_stripped)},
      {"offload_requests", v(c.offload_requests)},
      {"offload_requests_repeated", v(c.offload_requests_repeated)},
      {"generation", v(c.generation)},
      {"peak_flows", v(c.peak_flows)},
      {"idle_sleeps", v(c.idle_sleeps)},
      // The largest time between two burst starts (µs): over the
      // run, and next to a generation switch (reload goal, issue 9).
      {"max_burst_gap_us", static_cast<double>(v(c.max_gap_cycles)) * 1e6 / static_cast<double>(tsc_hz)},
      {"reload_burst_gap_us",
       static_cast<double>(v(c.reload_gap_cycles)) * 1e6 / static_cast<double>(tsc_hz)}};
  // Every path drop reason, zero or not, under its registry key
  // (reasons/path.def: "tx_dropped", "no_egress", ...).
  for (size_t r = 0; r < engine::kPathDropCount; ++r) {
    const auto reason = static_cast<engine::PathDrop>(r);
    path[std::string(engine::reason_key(reason))] = c.dropped(reason);
  }
  return path;
}

}  // namespace

json port_json(const Port& p) {
  const PortStats s = read_port_stats(p);
  json q_rx = json::array();
  for (const auto& [pk, by] : s.queue_rx) q_rx.push_back({{"packets", pk}, {"bytes", by}});
  json q_tx = json::array();
  for (const auto& [pk, by] : s.queue_tx) q_tx.push_back({{"packets", pk}, {"bytes", by}});
  json x = json::object();
  for (const auto& [name, value] : s.xstats) x[name] = value;
  return json{{"name", p.profile.name},   {"device", p.profile.device},
              {"driver", p.driver},       {"role", drivers::port_role_name(p.profile.role)},
              {"link_up", s.link_up},     {"link_speed_mbps", s.link_speed_mbps},
              {"rx_queues", p.rx_queues}, {"tx_queues", p.tx_queues},
              {"hw_rss", p.hw_rss},       {"rx_packets", s.rx_packets},
              {"rx_bytes", s.rx_bytes},   {"tx_packets", s.tx_packets},
              {"tx_bytes", s.tx_bytes},   {"imissed", s.imissed},
              {"ierrors", s.ierrors},     {"oerrors", s.oerrors},
              {"rx_nombuf", s.rx_nombuf}, {"queues_rx", q_rx},
              {"queues_tx", q_tx},        {"xstats", x}};
}

json worker_json(WorkerSlot& w, bool stopped, uint64_t tsc_hz) {
  engine::WorkerCounters c;
  uint32_t active = 0;
  if (stopped) {
    c = w.engine().counters();
    active = w.engine().active_flows();
  } else {
    w.read_snapshot(c, active);
  }
  return json{
      {"worker", w.index()},
      {"packets", c.packets},
      {"bytes", c.bytes},
      {"forwarded", c.forwarded},
      {"dropped", c.dropped},
      {"held", c.held},
      {"flows_created", c.flows_created},
      {"flows_ended", c.flows_ended},
      {"active_flows", active},
      {"flow_verdicts", report::verdicts_json(c)},
      {"reasons", report::reasons_json(c)},
      {"alerts", c.alerts},
      {"detections", c.detections},
      {"rejudged", c.rejudged},
      {"records", report::records_json(c, stopped ? w.engine().record_backlog() : w.record_backlog())},
      {"path", path_json(w.counters(), tsc_hz)}};
}

json reload_json(const Appliance& a) {
  // The reload goal's figure: the largest gap between a worker's burst
  // starts next to a generation switch, over all workers and reloads.
  uint64_t gap = 0;
  for (const auto& w : a.workers)
    gap = std::max(gap, w->counters().reload_gap_cycles.load(std::memory_order_relaxed));
  return json{{"generation", a.running->number},
              {"max_burst_gap_us", static_cast<double>(gap) * 1e6 / static_cast<double>(a.tsc_hz)},
              {"reloads", a.reload.reloads},
              {"failures", a.reload.failures},
              {"last_error", a.reload.last_error},
              {"last_ms", a.reload.last_ms},
              {"max_ms", a.reload.max_ms},
              {"last_build_ms", a.reload.last_build_ms},
              {"scanners_freed", a.reload.scanners_freed},
              {"last_extra_bytes", a.reload.last_extra_bytes},
              {"max_extra_bytes", a.reload.max_extra_bytes}};
}

json offload_json(const Appliance& a) {
  json ports = json::array();
  for (size_t p = 0; p < a.offload.size(); ++p) {
    if (!a.offload[p]) continue;
    const auto& c = a.offload[p]->counters();
    ports.push_back({{"port", a.ports[p].profile.name},
                     {"enabled", a.offload[p]->enabled()},
                     {"refusal", a.offload[p]->refusal()},
                     {"installed", c.installed},
                     {"removed", c.removed},
                     {"active", c.active},
                     {"duplicates", c.duplicates},
                     {"full", c.full},
                     {"refused", c.refused},
                     {"failed", c.failed}});
  }
  return ports;
}

void Appliance::publish_stats() {
  if (!controller_link) return;
  controller::Stats s;
  s.uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
  uint64_t reasons[engine::kReasonCount] = {};
  uint64_t path[engine::kPathDropCount] = {};
  for (auto& w : workers) {
    engine::WorkerCounters c;
    uint32_t active = 0;
    uint32_t scanning = 0;
    w->read_snapshot(c, active, &scanning);
    s.scan_states_active += scanning;
    // Fixed once the worker is built.
    s.flows_capacity += w->engine().flow_capacity();
    s.scan_states_capacity += w->engine().scan_state_capacity();
    s.packets += c.packets;
    s.bytes += c.bytes;
    s.forwarded += c.forwarded;
    s.dropped += c.dropped;
    s.flows_active += active;
    s.flows_created += c.flows_created;
    s.alerts += c.alerts;
    s.detections += c.detections;
    for (size_t r = 0; r < engine::kReasonCount; ++r) reasons[r] += c.reasons[r];
    // Dropped around the engine (a full transmit queue, no egress port).
    for (size_t r = 0; r < engine::kPathDropCount; ++r) {
      const uint64_t n = w->counters().dropped(static_cast<engine::PathDrop>(r));
      path[r] += n;
      s.dropped += n;
    }
  }
  for (size_t r = 0; r < engine::kReasonCount; ++r) {
    if (reasons[r] != 0)
      s.reasons.emplace_back(engine::reason_key(static_cast<engine::Reason>(r)), reasons[r]);
  }
  for (size_t r = 0; r < engine::kPathDropCount; ++r) {
    if (path[r] != 0) s.reasons.emplace_back(engine::reason_key(static_cast<engine::PathDrop>(r)), path[r]);
  }
  for (const Port& p : ports) {
    const PortStats ps = read_port_stats(p);
    s.ports.push_back({p.profile.name, std::string(drivers::port_role_name(p.profile.role)), ps.link_up,
                       ps.rx_packets, ps.rx_bytes, ps.tx_packets, ps.tx_bytes, ps.imissed, ps.ierrors,
                       ps.oerrors, ps.rx_nombuf});
  }
  s.flows = logger->tally().counts();
  controller_link->publish_stats(std::move(s));
}

report::InspectSummary run_summary(Appliance& a) {
  report::InspectSummary s;
  s.pcap_path = a.options.pcap_in;
  s.link_type = a.link == engine::LinkType::kEthernet ? "EN10MB" : "other";
  for (auto& w : a.workers) {
    report::add_worker_totals(s, w->engine(), *a.running->gen);
    // Each worker's own peak (flows live on one worker): their sum bounds
    // the appliance's peak from above and equals it with one worker.
    s.peak_active_flows += w->counters().peak_flows.load(std::memory_order_relaxed);
    s.packets_written += w->counters().tx.load(std::memory_order_relaxed);
    s.packets_untrimmable += w->counters().dropped(engine::PathDrop::kTrimFailed);
    s.resets_written += w->counters().resets_sent.load(std::memory_order_relaxed);
  }
  s.packets = s.counters.packets;
  s.bytes = s.counters.bytes;
  s.events = a.logger->events();
  s.compliance = a.desk->rows();
  s.compliance_note = a.desk->note();
  s.notices = a.notices;
  if (a.replay.reader && a.replay.read > 0) {
    s.first_ts_ns = a.replay.first_ts_ns;
    s.last_ts_ns = a.replay.last_ts_ns;
  }
  if (a.replay.reader) {
    s.records_over_snaplen = a.replay.reader->over_snaplen();
    s.capture_warning = a.replay.reader->over_snaplen_warning();
    s.truncated_file = !a.replay.error.empty();
    s.read_error = a.replay.error;
  }
  return s;
}

namespace {

// Every string of the statistics (names from the profile and the
// configuration, device names, error messages) through the one output
// masking; numbers stay numbers.
json masked(const json& j) {
  if (j.is_string()) return engine::masked_text(j.get_ref<const std::string&>());
  if (j.is_array()) {
    json out = json::array();
    for (const json& v : j) out.push_back(masked(v));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) out[engine::masked_text(it.key())] = masked(it.value());
    return out;
  }
  return j;
}

}  // namespace

std::string stats_json(Appliance& a) {
  json ports = json::array();
  for (size_t i = 0; i < a.ports.size(); ++i) {
    json p = port_json(a.ports[i]);
    if (a.replay.reader && i == a.replay.port) {
      // A single-pass replay enters on the inside port through the main lcore, not the PMD.
      p["rx_packets"] = p["rx_packets"].get<uint64_t>() + a.replay.read;
      p["rx_bytes"] = p["rx_bytes"].get<uint64_t>() + a.replay.bytes;
    }
    // Frames the port's full TX queue did not take (dropped, never waited
    // on): from the workers, and from the main lcore for a shared queue.
    uint64_t full = a.shared_tx_dropped.empty() ? 0 : a.shared_tx_dropped[i];
    for (auto& w : a.workers) full += w->tx_port_dropped(i);
    p["tx_full_dropped"] = full;
    ports.push_back(std::move(p));
  }
  json workers = json::array();
  for (auto& w : a.workers) workers.push_back(worker_json(*w, true, a.tsc_hz));
  const report::InspectSummary s = run_summary(a);
  const report::OutputFile* eve = a.logger->eve();
  json out{
      {"elapsed_s", a.elapsed_s},
      {"ports", ports},
      {"workers", workers},
      {"distribution",
       {{"ports", a.distributed_ports.size()}, {"packets", a.distributed}, {"waits", a.distribution_waits}}},
      {"replay", {{"packets", a.replay.read}, {"nombuf_waits", a.replay.nombuf_waits}}},
      {"mempool",
       {{"mbufs", a.profile.mbufs},
        {"data_room", a.profile.mbuf_data_room},
        {"cache", a.profile.mbuf_cache}}},
      {"reload", reload_json(a)},
      {"offload", offload_json(a)},
      {"outputs",
       {{"eve", a.options.eve},
        {"events", a.logger->events()},
        {"eve_write_errors", eve != nullptr ? eve->write_errors() : 0},
        {"eve_lines_lost", eve != nullptr ? eve->lines_lost() : 0},
        {"eve_error", eve != nullptr ? eve->error() : std::string()},
        {"eve_max_write_us", a.logger->max_write_us()}}},
      {"report", json::parse(report::format_report_json(s))}};
  return masked(out).dump(2);
}

}  // namespace ftz::dpdk
