#include <cstdio>
#include <sstream>

#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"

namespace ftz::offline {

namespace {

constexpr engine::Action kActions[] = {engine::Action::kAllow, engine::Action::kRoute, engine::Action::kBlock,
                                        engine::Action::kReset};

std::string fmt_duration(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ns) / 1e9);
  return buf;
}

}  // namespace

std::string format_report_text(const InspectSummary& s) {
  std::ostringstream o;
  const auto& c = s.counters;
  o << "ftzgate-inspect report\n";
  o << "  capture            " << s.pcap_path << " (" << s.link_type << ")\n";
  if (s.packets > 0) {
    o << "  time               " << engine::format_eve_timestamp(s.first_ts_ns) << " .. "
      << engine::format_eve_timestamp(s.last_ts_ns) << " (" << fmt_duration(s.last_ts_ns - s.first_ts_ns) << ")\n";
  }
  o << "  packets            " << s.packets << "\n";
  o << "  bytes              " << s.bytes << "\n";
  o << "  forwarded          " << c.forwarded << "\n";
  o << "  dropped            " << c.dropped << "\n";
  o << "  held, then released " << c.held << " (out-of-order segments, fragments)\n";
  o << "  non-IP frames      " << c.non_ip << "\n";
  o << "  packets written    " << s.packets_written << "\n";
  o << "\nflows\n";
  o << "  created            " << c.flows_created << "\n";
  o << "  inspected (export) " << c.flows_inspected << "\n";
  o << "  timed out          " << c.flows_timed_out << "\n";
  o << "  evicted            " << c.flows_evicted << "\n";
  o << "  untracked (full)   " << c.flows_untracked << "\n";
  o << "  peak concurrent    " << s.peak_active_flows << " of " << s.flow_capacity << " (" << s.bytes_per_flow
    << " bytes per flow)\n";
  o << "\nverdicts (flows)\n";
  for (const engine::Action a : kActions) {
    o << "  " << engine::action_name(a) << std::string(19 - engine::action_name(a).size(), ' ')
      << c.flows_by_action[static_cast<int>(a)] << "\n";
  }
  o << "\nbytes per zone pair (packet source -> destination)\n";
  for (const auto& [pair, bytes] : s.zone_pair_bytes) {
    o << "  " << pair.first << " -> " << pair.second << ": " << bytes << "\n";
  }
  o << "\napplication metadata\n";
  o << "  tls client hellos  " << s.app_tls << "\n";
  o << "  http requests      " << s.app_http << "\n";
  o << "  dns messages       " << s.app_dns << "\n";
  o << "\ntcp reassembly\n";
  o << "  in order / out of order / duplicate  " << s.reassembly.segments_in_order << " / "
    << s.reassembly.segments_out_of_order << " / " << s.reassembly.segments_duplicate << "\n";
  o << "  gaps               " << s.reassembly.gaps << " (" << s.reassembly.gap_bytes << " bytes)\n";
  o << "  overlap conflicts  " << s.reassembly.overlap_conflicts << "\n";
  o << "\nip fragments         " << s.defrag.fragments << " (datagrams completed " << s.defrag.datagrams_completed
    << ", discarded " << s.defrag.datagrams_discarded << ")\n";
  o << "\nmalformed and dropped, by reason\n";
  bool any = false;
  for (uint32_t r = 0; r < engine::kReasonCount; ++r) {
    if (c.reasons[r] == 0) continue;
    any = true;
    const auto reason = static_cast<engine::Reason>(r);
    o << "  " << engine::reason_name(reason) << ": " << c.reasons[r] << "  (" << engine::reason_description(reason)
      << ")\n";
  }
  if (!any) o << "  (none)\n";
  o << "\nevents               " << s.events << " (rate-limited " << c.events_rate_limited << ", queue drops "
    << s.events_dropped << ")\n";
  if (s.truncated_file) o << "\nWARNING: " << s.read_error << " (report covers the packets before it)\n";
  return o.str();
}

std::string format_report_json(const InspectSummary& s) {
  std::string o;
  const auto& c = s.counters;
  auto num = [&](std::string_view k, uint64_t v, bool comma = true) {
    engine::append_json_string(o, k);
    o += ':';
    o += std::to_string(v);
    if (comma) o += ',';
  };
  o += "{\"capture\":";
  engine::append_json_string(o, s.pcap_path);
  o += ",\"link_type\":";
  engine::append_json_string(o, s.link_type);
  o += ',';
  num("packets", s.packets);
  num("bytes", s.bytes);
  num("forwarded", c.forwarded);
  num("held", c.held);
  num("dropped", c.dropped);
  num("non_ip", c.non_ip);
  num("packets_written", s.packets_written);
  o += "\"flows\":{";
  num("created", c.flows_created);
  num("inspected", c.flows_inspected);
  num("timed_out", c.flows_timed_out);
  num("evicted", c.flows_evicted);
  num("untracked", c.flows_untracked);
  num("peak_concurrent", s.peak_active_flows);
  num("capacity", s.flow_capacity);
  num("bytes_per_flow", s.bytes_per_flow, false);
  o += "},\"verdicts\":{";
  for (size_t i = 0; i < 4; ++i) num(engine::action_name(kActions[i]), c.flows_by_action[i], i + 1 < 4);
  o += "},\"zone_pair_bytes\":[";
  bool first = true;
  for (const auto& [pair, bytes] : s.zone_pair_bytes) {
    if (!first) o += ',';
    first = false;
    o += "{\"src_zone\":";
    engine::append_json_string(o, pair.first);
    o += ",\"dest_zone\":";
    engine::append_json_string(o, pair.second);
    o += ",\"bytes\":" + std::to_string(bytes) + "}";
  }
  o += "],\"app\":{";
  num("tls", s.app_tls);
  num("http", s.app_http);
  num("dns", s.app_dns, false);
  o += "},\"tcp\":{";
  num("segments_in_order", s.reassembly.segments_in_order);
  num("segments_out_of_order", s.reassembly.segments_out_of_order);
  num("segments_duplicate", s.reassembly.segments_duplicate);
  num("gaps", s.reassembly.gaps);
  num("gap_bytes", s.reassembly.gap_bytes);
  num("overlap_conflicts", s.reassembly.overlap_conflicts, false);
  o += "},\"fragments\":{";
  num("fragments", s.defrag.fragments);
  num("datagrams_completed", s.defrag.datagrams_completed);
  num("datagrams_discarded", s.defrag.datagrams_discarded, false);
  o += "},\"reasons\":{";
  first = true;
  for (uint32_t r = 0; r < engine::kReasonCount; ++r) {
    if (!first) o += ',';
    first = false;
    num(engine::reason_name(static_cast<engine::Reason>(r)), c.reasons[r], false);
  }
  o += "},";
  num("events", s.events);
  num("events_rate_limited", c.events_rate_limited);
  num("events_dropped", s.events_dropped);
  o += "\"truncated_file\":";
  o += s.truncated_file ? "true" : "false";
  o += "}\n";
  return o;
}

}  // namespace ftz::offline
