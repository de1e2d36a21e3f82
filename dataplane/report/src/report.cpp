#include <cmath>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ftz/engine/eve.hpp"
#include "ftz/engine/output_masking.hpp"
#include "ftz/report/summary.hpp"

namespace ftz::report {

namespace {

constexpr engine::Action kActions[] = {engine::Action::kAllow, engine::Action::kRoute, engine::Action::kBlock,
                                       engine::Action::kReset};

std::string_view state_name(engine::ThresholdState st) {
  switch (st) {
    case engine::ThresholdState::kNormal:
      return "normal";
    case engine::ThresholdState::kWarn:
      return "warn";
    case engine::ThresholdState::kExceeded:
      return "exceeded";
  }
  return "";
}

std::string fmt_duration(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

std::string format_report_text(const InspectSummary& s) {
  std::ostringstream o;
  const auto& c = s.counters;
  // Every string that is not the report's own wording (file names, names
  // from the configuration, messages) is masked; numbers are not text.
  const auto m = [](std::string_view v) { return engine::masked_text(v); };
  o << "ftzgate-inspect report\n";
  o << "  capture            " << m(s.pcap_path) << " (" << s.link_type << ")\n";
  if (s.packets > 0) {
    o << "  time               " << engine::format_eve_timestamp(s.first_ts_ns) << " .. "
      << engine::format_eve_timestamp(s.last_ts_ns) << " (" << fmt_duration(s.last_ts_ns - s.first_ts_ns)
      << ")\n";
  }
  o << "  packets            " << s.packets << "\n";
  if (s.records_over_snaplen > 0) {
    o << "  over snap length   " << s.records_over_snaplen << " (records libpcap would cut; read in full)\n";
  }
  o << "  bytes              " << s.bytes << "\n";
  o << "  forwarded          " << c.forwarded << "\n";
  o << "  dropped            " << c.dropped << "\n";
  o << "  held, then released " << c.held << " (out-of-order segments, fragments)\n";
  o << "  non-IP frames      " << c.non_ip << "\n";
  o << "  packets written    " << s.packets_written << "\n";
  if (s.packets_untrimmable > 0) {
    o << "  not written        " << s.packets_untrimmable
      << " (forwarded with a trim the cut record cannot take)\n";
  }
  o << "\nflows\n";
  o << "  created            " << c.flows_created << "\n";
  o << "  inspected (export) " << c.flows_inspected << "\n";
  o << "  timed out          " << c.flows_timed_out << "\n";
  o << "  evicted            " << c.flows_evicted << "\n";
  o << "  untracked (full)   " << c.flows_untracked << "\n";
  o << "  peak concurrent    " << s.peak_active_flows << " of " << s.flow_capacity << " (" << s.bytes_per_flow
    << " bytes per flow)\n";
  // The pool of reassembly and app-parser state (docs/decisions/0006): only
  // flows the header stage left open, or inspected, take a slot.
  o << "  stream slots       " << s.stream_capacity << " per worker x " << s.bytes_per_stream
    << " bytes (reassembled " << c.stream_flows << ", no slot free " << c.stream_pool_exhausted << ")\n";
  o << "\nverdicts (flows)\n";
  for (const engine::Action a : kActions) {
    o << "  " << engine::action_name(a) << std::string(19 - engine::action_name(a).size(), ' ')
      << c.flows_by_action[static_cast<int>(a)] << "\n";
  }
  o << "\nbytes per zone pair (packet source -> destination)\n";
  for (const auto& [pair, bytes] : s.zone_pair_bytes) {
    o << "  " << m(pair.first) << " -> " << m(pair.second) << ": " << bytes << "\n";
  }
  o << "\napplication metadata\n";
  o << "  tls client hellos  " << s.app.tls_hellos << "\n";
  o << "  http requests      " << s.app.http_requests << "\n";
  o << "  dns messages       " << s.app.dns_messages << "\n";
  o << "  parser buffers out " << s.app.buffer_exhausted << "\n";
  // Anomalies do not drop the packet; they say what the parsers met.
  for (uint32_t r = 0; r < engine::app::kAppAnomalyCount; ++r) {
    if (s.app.anomalies[r] == 0) continue;
    const auto anomaly = static_cast<engine::app::AppAnomaly>(r);
    o << "  anomaly " << engine::reason_key(anomaly) << ": " << s.app.anomalies[r] << "  ("
      << engine::reason_description(anomaly) << ")\n";
  }
  o << "\ntcp reassembly\n";
  o << "  in order / out of order / duplicate  " << s.reassembly.segments_in_order << " / "
    << s.reassembly.segments_out_of_order << " / " << s.reassembly.segments_duplicate << "\n";
  o << "  gaps               " << s.reassembly.gaps << " (" << s.reassembly.gap_bytes << " bytes)\n";
  o << "  overlap conflicts  " << s.reassembly.overlap_conflicts << "\n";
  // Inline normalization of exports (docs/decisions/0003).
  o << "  exports normalized " << c.segments_trimmed << " segments trimmed (" << s.reassembly.stale_bytes
    << " stale bytes), " << c.urgent_cleared << " urgent flags cleared, " << c.midstream_flows
    << " picked up mid-stream\n";
  o << "\nip fragments         " << s.defrag.fragments << " (datagrams completed "
    << s.defrag.datagrams_completed << ", discarded " << s.defrag.datagrams_discarded << ")\n";
  o << "\nmalformed and dropped, by reason\n";
  bool any = false;
  for (uint32_t r = 0; r < engine::kReasonCount; ++r) {
    if (c.reasons[r] == 0) continue;
    any = true;
    const auto reason = static_cast<engine::Reason>(r);
    o << "  " << engine::reason_key(reason) << ": " << c.reasons[r] << "  ("
      << engine::reason_description(reason) << ")\n";
  }
  if (!any) o << "  (none)\n";
  o << "\ncontent inspection"
    << (s.classify_all ? " (--classify-all: every flow)" : " (flows leaving the zone)") << "\n";
  o << "  flows scanned      " << c.content_flows << " (uninspectable " << c.uninspectable_flows
    << ", no scan state free " << c.inspect_pool_exhausted << ", scan states returned at close "
    << c.scan_states_released_at_close << ")\n";
  o << "  uninspectable by   ";
  for (int r = 0; r < static_cast<int>(engine::UninspectableReason::kCount); ++r) {
    o << (r ? ", " : "") << engine::uninspectable_reason_name(static_cast<engine::UninspectableReason>(r))
      << " " << c.uninspectable_by_reason[r];
  }
  o << "; blocked by fail mode " << c.fail_closed_flows << "\n";
  for (size_t r = 1; r < engine::sig::kUninspectableCount; ++r) {
    if (s.scan_uninspectable[r] == 0) continue;
    const auto why = static_cast<engine::sig::Uninspectable>(r);
    o << "  scanner: " << engine::reason_key(why) << ": " << s.scan_uninspectable[r] << " directions  ("
      << engine::reason_description(why) << ")\n";
  }
  o << "  stream state       " << s.stream_state_bytes << " bytes per flow direction\n";
  o << "  identifiers        " << c.detections << " confirmed";
  for (int k = 0; k < static_cast<int>(engine::DataClass::kCount); ++k) {
    if (c.detections_per_class[k]) {
      o << ", " << engine::data_class_name(static_cast<engine::DataClass>(k)) << " "
        << c.detections_per_class[k];
    }
  }
  o << "\n  alerts             " << c.alerts << " (over the per-flow limit " << c.alerts_suppressed << ")\n";
  o << "  resets             " << c.resets << " verdicts, " << s.resets_written << " RST frames written\n";
  o << "  not exported       " << c.identifiers_not_exported << " identifiers in dropped packets\n";
  if (!s.signatures.empty()) {
    o << "\ndetections per signature (confirmed / raw matches / suppressed by a stronger one)\n";
    for (const auto& r : s.signatures) {
      if (r.hits == 0 && r.confirmed == 0) continue;
      o << "  " << m(r.name) << " [" << r.sid << ", " << r.data_class << "]: " << r.confirmed << " / "
        << r.hits << " / " << r.suppressed << "\n";
    }
  }
  o << "\nflows per deciding rule\n";
  for (const auto& [rule, flows] : s.flows_per_rule) {
    if (flows) o << "  " << m(rule) << ": " << flows << "\n";
  }
  o << "\ncompliance (distinct individuals exported this year, all destinations)\n";
  if (!s.compliance_note.empty()) o << "  " << m(s.compliance_note) << "\n";
  for (const auto& r : s.compliance) {
    char est[32];
    std::snprintf(est, sizeof est, "%.0f", r.estimate);
    o << "  " << m(r.tenant) << " " << engine::data_class_name(r.data_class) << ": "
      << (r.saturated ? "at least " : "") << r.individuals << " (estimate " << est << "), threshold state "
      << state_name(r.state) << "\n";
  }
  for (const auto& n : s.notices) {
    o << "  " << engine::format_eve_timestamp(n.ts_ns) << " " << n.kind << ": " << m(n.tenant);
    if (!n.threshold.empty()) {
      o << " " << m(n.threshold) << " " << n.percent << "% (" << n.individuals << " of " << n.line << " "
        << engine::data_class_name(n.data_class) << ")";
      if (!n.mechanism.empty()) o << " - " << m(n.mechanism);
    }
    if (!n.approval_id.empty()) o << " approval " << m(n.approval_id);
    o << "\n";
  }
  o << "\nevents               " << s.events << " (rate-limited " << c.events_rate_limited << ", queue drops "
    << s.events_dropped << ")\n";
  // Flow records are never dropped: these say how often they had to wait.
  o << "  flow records       " << c.flows_ended << " written; waited for the queue " << c.record_waits
    << " times, backlogged " << c.records_backlogged << ", endings refused " << c.records_refused << ", lost "
    << c.records_lost << "\n";
  if (s.truncated_file) o << "\nWARNING: " << m(s.read_error) << " (report covers the packets before it)\n";
  return o.str();
}

namespace {

// Keys keep the order they are written in (the report's documented shape);
// every string value and every key taken from a run (rule, zone, signature
// and tenant names, the capture path) goes through engine::json_text: masked,
// valid UTF-8 (DOMAIN.md: no identifier in clear in any report).
using Json = nlohmann::ordered_json;

std::string text(std::string_view s) {
  return engine::json_text(s);
}

Json notice_json(const ComplianceNotice& n) {
  Json ftz{{"kind", text(n.kind)}, {"tenant", text(n.tenant)}};
  if (!n.threshold.empty()) {
    ftz["threshold"] = text(n.threshold);
    ftz["mechanism"] = text(n.mechanism);
    ftz["data_class"] = text(engine::data_class_name(n.data_class));
    ftz["percent"] = n.percent;
    ftz["individuals"] = n.individuals;
    ftz["line"] = n.line;
  }
  if (!n.approval_id.empty()) ftz["approval"] = text(n.approval_id);
  return Json{{"timestamp", text(engine::format_eve_timestamp(n.ts_ns))},
              {"event_type", "ftz_compliance"},
              {"ftz", std::move(ftz)}};
}

}  // namespace

std::string format_notice_eve(const ComplianceNotice& n) {
  return notice_json(n).dump();
}

Json verdicts_json(const engine::WorkerCounters& c) {
  Json verdicts = Json::object();
  for (size_t i = 0; i < std::size(kActions); ++i)
    verdicts[text(engine::action_name(kActions[i]))] = c.flows_by_action[i];
  return verdicts;
}

Json reasons_json(const engine::WorkerCounters& c) {
  // From 0: eth_truncated is reason 0 (reasons/packet.def), not a placeholder.
  Json reasons = Json::object();
  for (uint32_t r = 0; r < engine::kReasonCount; ++r) {
    reasons[text(engine::reason_key(static_cast<engine::Reason>(r)))] = c.reasons[r];
  }
  return reasons;
}

Json records_json(const engine::WorkerCounters& c, uint64_t backlog_now) {
  // Flow records are never dropped (docs/dpdk.md "Records").
  return Json{{"written", c.flows_ended},     {"waits", c.record_waits}, {"backlogged", c.records_backlogged},
              {"refused", c.records_refused}, {"lost", c.records_lost},  {"backlog_now", backlog_now}};
}

std::string format_report_json(const InspectSummary& s) {
  const auto& c = s.counters;
  Json zone_pair_bytes = Json::array();
  for (const auto& [pair, bytes] : s.zone_pair_bytes) {
    zone_pair_bytes.push_back(
        {{"src_zone", text(pair.first)}, {"dest_zone", text(pair.second)}, {"bytes", bytes}});
  }
  // Every anomaly of the registry (reasons/app.def), zero or not.
  Json anomalies = Json::object();
  for (uint32_t r = 0; r < engine::app::kAppAnomalyCount; ++r) {
    anomalies[text(engine::reason_key(static_cast<engine::app::AppAnomaly>(r)))] = s.app.anomalies[r];
  }
  Json app{{"tls", s.app.tls_hellos},
           {"http", s.app.http_requests},
           {"dns", s.app.dns_messages},
           {"buffer_exhausted", s.app.buffer_exhausted},
           {"anomalies", std::move(anomalies)}};
  Json content{{"flows_scanned", c.content_flows}, {"uninspectable", c.uninspectable_flows}};
  for (int r = 0; r < static_cast<int>(engine::UninspectableReason::kCount); ++r) {
    const auto reason = static_cast<engine::UninspectableReason>(r);
    content["uninspectable_" + text(engine::uninspectable_reason_name(reason))] =
        c.uninspectable_by_reason[r];
  }
  // The scanner's own reasons behind those classes (reasons/scan.def), per
  // scan direction; every key but "none", zero or not.
  Json by_scanner = Json::object();
  for (size_t r = 1; r < engine::sig::kUninspectableCount; ++r) {
    by_scanner[text(engine::reason_key(static_cast<engine::sig::Uninspectable>(r)))] =
        s.scan_uninspectable[r];
  }
  content["uninspectable_directions"] = std::move(by_scanner);
  content["fail_closed_flows"] = c.fail_closed_flows;
  content["scan_states_released_at_close"] = c.scan_states_released_at_close;
  content["segments_trimmed"] = c.segments_trimmed;
  content["stale_bytes"] = s.reassembly.stale_bytes;
  content["urgent_cleared"] = c.urgent_cleared;
  content["midstream_flows"] = c.midstream_flows;
  content["detections"] = c.detections;
  content["alerts"] = c.alerts;
  content["resets"] = c.resets;
  content["not_exported"] = c.identifiers_not_exported;
  content["stream_state_bytes"] = s.stream_state_bytes;
  Json signatures = Json::array();
  for (const auto& r : s.signatures) {
    signatures.push_back({{"name", text(r.name)},
                          {"sid", r.sid},
                          {"class", text(r.data_class)},
                          {"confirmed", r.confirmed},
                          {"hits", r.hits},
                          {"suppressed", r.suppressed}});
  }
  Json rules = Json::object();
  for (const auto& [rule, flows] : s.flows_per_rule) rules[text(rule)] = flows;
  Json compliance = Json::array();
  for (const auto& r : s.compliance) {
    compliance.push_back({{"tenant", text(r.tenant)},
                          {"class", text(engine::data_class_name(r.data_class))},
                          {"individuals", r.individuals},
                          {"estimate", static_cast<uint64_t>(std::llround(r.estimate))},
                          {"state", text(state_name(r.state))}});
  }
  Json notices = Json::array();
  for (const auto& n : s.notices) notices.push_back(notice_json(n));

  const Json report{
      {"capture", text(s.pcap_path)},
      {"link_type", text(s.link_type)},
      {"packets", s.packets},
      {"records_over_snaplen", s.records_over_snaplen},
      {"bytes", s.bytes},
      {"forwarded", c.forwarded},
      {"held", c.held},
      {"dropped", c.dropped},
      {"non_ip", c.non_ip},
      {"packets_written", s.packets_written},
      {"packets_untrimmable", s.packets_untrimmable},
      {"flows",
       {{"created", c.flows_created},
        {"inspected", c.flows_inspected},
        {"timed_out", c.flows_timed_out},
        {"evicted", c.flows_evicted},
        {"untracked", c.flows_untracked},
        {"peak_concurrent", s.peak_active_flows},
        {"capacity", s.flow_capacity},
        {"bytes_per_flow", s.bytes_per_flow},
        {"stream_slots_per_worker", s.stream_capacity},
        {"bytes_per_stream_slot", s.bytes_per_stream},
        {"streamed", c.stream_flows},
        {"stream_pool_exhausted", c.stream_pool_exhausted}}},
      {"verdicts", verdicts_json(c)},
      {"zone_pair_bytes", std::move(zone_pair_bytes)},
      {"app", std::move(app)},
      {"tcp",
       {{"segments_in_order", s.reassembly.segments_in_order},
        {"segments_out_of_order", s.reassembly.segments_out_of_order},
        {"segments_duplicate", s.reassembly.segments_duplicate},
        {"gaps", s.reassembly.gaps},
        {"gap_bytes", s.reassembly.gap_bytes},
        {"overlap_conflicts", s.reassembly.overlap_conflicts}}},
      {"fragments",
       {{"fragments", s.defrag.fragments},
        {"datagrams_completed", s.defrag.datagrams_completed},
        {"datagrams_discarded", s.defrag.datagrams_discarded}}},
      {"reasons", reasons_json(c)},
      {"events", s.events},
      {"events_rate_limited", c.events_rate_limited},
      {"events_dropped", s.events_dropped},
      {"records", records_json(c, s.records_backlog)},
      {"content", std::move(content)},
      {"signatures", std::move(signatures)},
      {"rules", std::move(rules)},
      {"compliance", std::move(compliance)},
      {"notices", std::move(notices)},
      {"truncated_file", s.truncated_file},
  };
  return report.dump() + "\n";
}

}  // namespace ftz::report
