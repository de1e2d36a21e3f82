#include "metrics.hpp"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ftz/proto/enum_word.hpp"

namespace ftz::daemon {

namespace pb = ftzgate::v1;

namespace {

// A label value or help text as the format wants it: backslash and
// newline escaped, and in label values the double quote.
void append_escaped(std::string& out, std::string_view s, bool label) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && label) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

// The states a stateset family has a sample for, each 1 for the current one.
constexpr std::array kDataplaneStates = {"waiting", "running", "behind", "refused", "disconnected"};
constexpr std::array kThresholdStates = {"normal", "warn", "exceeded"};

// The data plane's counters since ftzgated first heard from it, as
// `ftzctl show dataplanes` shows them under "totals".
struct CounterFamily {
  const char* name;
  const char* help;
  uint64_t (pb::DataplaneStats::*get)() const;
};
constexpr std::array kDataplaneCounters = {
    CounterFamily{"ftzgate_dataplane_packets_total", "Packets the data plane's engine saw.",
                  &pb::DataplaneStats::packets},
    CounterFamily{"ftzgate_dataplane_bytes_total", "Bytes of the packets the data plane's engine saw.",
                  &pb::DataplaneStats::bytes},
    CounterFamily{"ftzgate_dataplane_forwarded_packets_total", "Packets the data plane forwarded.",
                  &pb::DataplaneStats::forwarded},
    CounterFamily{"ftzgate_dataplane_dropped_packets_total",
                  "Packets the data plane dropped (verdicts, malformed, around the engine).",
                  &pb::DataplaneStats::dropped},
    CounterFamily{"ftzgate_dataplane_flows_total", "Flows the data plane tracked.",
                  &pb::DataplaneStats::flows_created},
    CounterFamily{"ftzgate_dataplane_alerts_total", "Alerts the data plane raised.",
                  &pb::DataplaneStats::alerts},
    CounterFamily{"ftzgate_dataplane_alerts_unreported_total",
                  "Alerts the data plane could not send to ftzgated (its EVE file has them).",
                  &pb::DataplaneStats::alerts_unreported},
    CounterFamily{"ftzgate_dataplane_identifiers_total", "Identifiers the data plane confirmed in exports.",
                  &pb::DataplaneStats::detections},
};

// A port's counters (PortStats), as node_exporter names a host's.
struct PortFamily {
  const char* name;
  const char* help;
  uint64_t (pb::PortStats::*get)() const;
};
constexpr std::array kPortCounters = {
    PortFamily{"ftzgate_port_receive_packets_total", "Packets the port received.",
               &pb::PortStats::rx_packets},
    PortFamily{"ftzgate_port_receive_bytes_total", "Bytes the port received.", &pb::PortStats::rx_bytes},
    PortFamily{"ftzgate_port_transmit_packets_total", "Packets the port sent.", &pb::PortStats::tx_packets},
    PortFamily{"ftzgate_port_transmit_bytes_total", "Bytes the port sent.", &pb::PortStats::tx_bytes},
    PortFamily{"ftzgate_port_receive_missed_packets_total",
               "Packets the port dropped for want of room in a receive queue.", &pb::PortStats::rx_missed},
    PortFamily{"ftzgate_port_receive_errors_total", "Erroneous packets the port received.",
               &pb::PortStats::rx_errors},
    PortFamily{"ftzgate_port_transmit_errors_total", "Packets the port failed to send.",
               &pb::PortStats::tx_errors},
    PortFamily{"ftzgate_port_receive_nombuf_total", "Receives that found no buffer.",
               &pb::PortStats::rx_nombuf},
};

}  // namespace

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  name_ = name;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += type == Type::kCounter ? " counter\n" : " gauge\n";
}

void Exposition::start_sample(Labels labels) {
  text_ += name_;
  if (labels.size() != 0) {
    text_ += '{';
    bool first = true;
    for (const auto& [key, value] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += key;
      text_ += "=\"";
      append_escaped(text_, value, true);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
}

void Exposition::sample(Labels labels, uint64_t value) {
  start_sample(labels);
  text_ += std::to_string(value);
  text_ += '\n';
}

void Exposition::sample(Labels labels, int64_t value) {
  start_sample(labels);
  text_ += std::to_string(value);
  text_ += '\n';
}

void Exposition::sample(Labels labels, double value) {
  start_sample(labels);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  text_ += buf;
  text_ += '\n';
}

std::string render_metrics(const MetricsInput& in) {
  using Type = Exposition::Type;
  Exposition x;
  const pb::ShowSystemStatusReply& sys = in.system;
  x.family("ftzgate_build_info", Type::kGauge, "The control plane's version and host (always 1).");
  x.sample({{"version", sys.version()}, {"host", sys.host()}}, uint64_t{1});
  x.family("ftzgate_start_time_seconds", Type::kGauge, "When ftzgated started (Unix time).");
  x.sample({}, sys.started_unix_s());
  x.family("ftzgate_running_generation", Type::kGauge, "The committed generation data planes should run.");
  x.sample({}, sys.running_generation());
  x.family("ftzgate_pending_confirm_generation", Type::kGauge,
           "A commit confirmed that rolls back unless confirmed (0: none).");
  x.sample({}, sys.pending_confirm_generation());
  x.family("ftzgate_audit_records_total", Type::kCounter,
           "Records in the audit log (its last sequence number).");
  x.sample({}, sys.audit_last_seq());
  x.family("ftzgate_audit_verified", Type::kGauge,
           "Whether the audit log verified the last time ftzgated or the audit administrator checked it "
           "(1 until the first check).");
  x.sample({}, uint64_t{sys.audit_verified_unix_s() == 0 || sys.audit_verify_ok() ? 1U : 0U});
  x.family("ftzgate_audit_verified_timestamp_seconds", Type::kGauge,
           "When the audit log was last verified (Unix time; 0: not yet).");
  x.sample({}, sys.audit_verified_unix_s());
  x.family("ftzgate_state_free_bytes", Type::kGauge, "Free bytes on the state directory's file system.");
  x.sample({}, sys.state_free_bytes());
  x.family("ftzgate_certificates_expiring", Type::kGauge,
           "Certificates not revoked that expire within 30 days or have expired.");
  x.sample({}, static_cast<uint64_t>(sys.certificates_expiring_size()));

  const auto& planes = in.dataplanes.dataplanes();
  x.family("ftzgate_dataplane_state", Type::kGauge, "The data plane's state (1 for the current one).");
  for (const pb::DataplaneInfo& d : planes) {
    for (const char* state : kDataplaneStates)
      x.sample({{"dataplane", d.id()}, {"state", state}}, uint64_t{d.state() == state ? 1U : 0U});
  }
  x.family("ftzgate_dataplane_generation", Type::kGauge, "The last generation the data plane acknowledged.");
  for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, d.running_generation());
  x.family("ftzgate_dataplane_lag_seconds", Type::kGauge,
           "Seconds since the running generation was committed, while the data plane does not run it.");
  for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, d.lag_s());
  x.family("ftzgate_dataplane_last_report_timestamp_seconds", Type::kGauge,
           "When ftzgated last received the data plane's counters (Unix time; 0: never).");
  for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, d.stats_unix_s());
  x.family("ftzgate_dataplane_uptime_seconds", Type::kGauge, "The data plane's uptime at its last report.");
  for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, d.totals().uptime_s());
  x.family("ftzgate_dataplane_flows_active", Type::kGauge,
           "Flows the data plane tracked at its last report.");
  for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, d.totals().flows_active());
  x.family("ftzgate_dataplane_flows_capacity", Type::kGauge,
           "Flows the data plane's flow tables hold at most (all workers), at its last report.");
  for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, d.totals().flows_capacity());
  x.family("ftzgate_dataplane_scan_states", Type::kGauge,
           "Content-inspection states in use at the data plane's last report.");
  for (const pb::DataplaneInfo& d : planes)
    x.sample({{"dataplane", d.id()}}, d.totals().scan_states_active());
  x.family("ftzgate_dataplane_scan_states_capacity", Type::kGauge,
           "Content-inspection states the data plane has (limits.inspect_max_flows per worker).");
  for (const pb::DataplaneInfo& d : planes)
    x.sample({{"dataplane", d.id()}}, d.totals().scan_states_capacity());
  for (const CounterFamily& c : kDataplaneCounters) {
    x.family(c.name, Type::kCounter, c.help);
    for (const pb::DataplaneInfo& d : planes) x.sample({{"dataplane", d.id()}}, (d.totals().*c.get)());
  }
  x.family("ftzgate_dataplane_reason_packets_total", Type::kCounter,
           "Packets by the reason registry's key: the engine's reasons, drops around it, the kernel's "
           "decisions (docs/reasons.md).");
  for (const pb::DataplaneInfo& d : planes) {
    // Sorted: the exposition is stable from one scrape to the next.
    for (const auto& [reason, n] :
         std::map<std::string, uint64_t>(d.totals().reasons().begin(), d.totals().reasons().end()))
      x.sample({{"dataplane", d.id()}, {"reason", reason}}, n);
  }

  // Ended flows by name (zone pair, deciding rule): the names outlive
  // reloads, so a series never goes back or changes meaning.
  const auto sorted_pairs = [](const pb::DataplaneInfo& d) {
    std::vector<const pb::ZonePairStats*> out;
    for (const pb::ZonePairStats& z : d.totals().zone_pairs()) out.push_back(&z);
    std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
      return std::tie(a->src_zone(), a->dest_zone()) < std::tie(b->src_zone(), b->dest_zone());
    });
    return out;
  };
  x.family("ftzgate_zone_pair_flows_total", Type::kCounter,
           "Flows that ended between two zones (the client's, the server's), by verdict.");
  for (const pb::DataplaneInfo& d : planes) {
    for (const pb::ZonePairStats* z : sorted_pairs(d)) {
      const std::pair<const char*, uint64_t> by_action[] = {
          {"allow", z->allowed()}, {"route", z->routed()}, {"block", z->blocked()}, {"reset", z->reset()}};
      for (const auto& [action, n] : by_action)
        x.sample({{"dataplane", d.id()},
                  {"src_zone", z->src_zone()},
                  {"dest_zone", z->dest_zone()},
                  {"action", action}},
                 n);
    }
  }
  x.family("ftzgate_zone_pair_bytes_total", Type::kCounter,
           "Bytes (both ways) of the flows that ended between two zones.");
  for (const pb::DataplaneInfo& d : planes) {
    for (const pb::ZonePairStats* z : sorted_pairs(d))
      x.sample({{"dataplane", d.id()}, {"src_zone", z->src_zone()}, {"dest_zone", z->dest_zone()}},
               z->bytes());
  }
  x.family("ftzgate_rule_flows_total", Type::kCounter,
           "Flows that ended by their deciding rule's name (default: a zone pair's default).");
  for (const pb::DataplaneInfo& d : planes) {
    for (const auto& [rule, n] :
         std::map<std::string, uint64_t>(d.totals().rule_flows().begin(), d.totals().rule_flows().end()))
      x.sample({{"dataplane", d.id()}, {"rule", rule}}, n);
  }

  // Ports the data planes drive themselves (DPDK: the kernel does not see
  // them). Labelled by data plane, port and role.
  x.family("ftzgate_port_up", Type::kGauge, "Whether the port's link is up (1) or down (0).");
  for (const pb::DataplaneInfo& d : planes) {
    for (const pb::PortStats& p : d.totals().ports())
      x.sample({{"dataplane", d.id()}, {"port", p.name()}, {"role", p.role()}},
               uint64_t{p.link_up() ? 1U : 0U});
  }
  for (const PortFamily& f : kPortCounters) {
    x.family(f.name, Type::kCounter, f.help);
    for (const pb::DataplaneInfo& d : planes) {
      for (const pb::PortStats& p : d.totals().ports())
        x.sample({{"dataplane", d.id()}, {"port", p.name()}, {"role", p.role()}}, (p.*f.get)());
    }
  }

  const pb::ShowComplianceReply& comp = in.compliance;
  const auto class_of = [](const pb::ComplianceRow& r) {
    return proto::enum_word(pb::DataClass_Name(r.data_class()), "DATA_CLASS_");
  };
  x.family("ftzgate_compliance_year", Type::kGauge, "The year the counts are for (Asia/Shanghai).");
  x.sample({}, int64_t{comp.year()});
  x.family("ftzgate_tenant_individuals", Type::kGauge,
           "Individuals whose data of the class the tenant exported this year (exact; at least, when "
           "saturated).");
  for (const pb::ComplianceRow& r : comp.rows()) {
    x.sample({{"tenant", r.tenant()}, {"class", class_of(r)}}, r.individuals());
  }
  x.family("ftzgate_tenant_individuals_estimate", Type::kGauge,
           "The HyperLogLog estimate of the same count.");
  for (const pb::ComplianceRow& r : comp.rows()) {
    x.sample({{"tenant", r.tenant()}, {"class", class_of(r)}}, r.estimate());
  }
  x.family("ftzgate_tenant_records_lost", Type::kGauge,
           "Records data planes could not keep this year, counted as possible individuals.");
  for (const pb::ComplianceRow& r : comp.rows()) {
    x.sample({{"tenant", r.tenant()}, {"class", class_of(r)}}, r.lost());
  }
  x.family("ftzgate_tenant_threshold_state", Type::kGauge,
           "The tenant's state against its legal thresholds for the class (1 for the current one).");
  for (const pb::ComplianceRow& r : comp.rows()) {
    const std::string cls = class_of(r);
    const std::string now = proto::enum_word(pb::ThresholdState_Name(r.state()), "THRESHOLD_STATE_");
    for (const char* state : kThresholdStates)
      x.sample({{"tenant", r.tenant()}, {"class", cls}, {"state", state}}, uint64_t{now == state ? 1U : 0U});
  }
  x.family("ftzgate_compliance_tokens_merged_total", Type::kCounter,
           "Identifier tokens merged into the year's count.");
  x.sample({}, comp.tokens_merged());
  x.family("ftzgate_compliance_batches_total", Type::kCounter, "Report batches of data planes applied.");
  x.sample({}, comp.batches());
  x.family("ftzgate_compliance_duplicate_batches_total", Type::kCounter,
           "Report batches sent again and skipped (already applied).");
  x.sample({}, comp.duplicate_batches());
  x.family("ftzgate_compliance_saved_timestamp_seconds", Type::kGauge,
           "When the count was last saved (Unix time; 0: never).");
  x.sample({}, comp.saved_unix_s());

  x.family("ftzgate_alerts_received_total", Type::kCounter, "Alerts data planes sent to ftzgated.");
  x.sample({}, in.alerts.received());
  x.family("ftzgate_alerts_dropped_total", Type::kCounter,
           "Alerts ftzgated no longer keeps for `show alerts` (older than the newest kept).");
  x.sample({}, in.alerts.dropped());
  return x.text();
}

std::string render_syslog_metrics(const SyslogCounters& c) {
  using Type = Exposition::Type;
  Exposition x;
  x.family("ftzgate_syslog_connected", Type::kGauge,
           "Whether the syslog collector is connected (1) or not (0).");
  x.sample({}, uint64_t{c.connected ? 1U : 0U});
  x.family("ftzgate_syslog_messages_sent_total", Type::kCounter, "Messages sent to the syslog collector.");
  x.sample({}, c.sent);
  x.family("ftzgate_syslog_messages_dropped_total", Type::kCounter,
           "Messages dropped because the queue to the syslog collector was full.");
  x.sample({}, c.dropped);
  x.family("ftzgate_syslog_reconnects_total", Type::kCounter,
           "Connections to the syslog collector made again.");
  x.sample({}, c.reconnects);
  return x.text();
}

}  // namespace ftz::daemon
