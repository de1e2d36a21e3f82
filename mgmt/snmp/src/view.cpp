#include "view.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <string_view>
#include <utility>

#include "ftz/engine/reasons.hpp"

namespace ftz::snmp {

namespace pb = ftzgate::v1;

namespace {

constexpr size_t kMaxOidLength = 128;  // SNMP's limit (RFC 2578 3.5)

Value integer(int64_t v) {
  return {Value::Type::kInteger, v, 0, {}};
}
Value gauge(uint64_t v) {
  return {Value::Type::kGauge, 0, std::min<uint64_t>(v, 0xffffffffULL), {}};
}
Value gauge(int64_t v) {
  return gauge(static_cast<uint64_t>(std::max<int64_t>(v, 0)));
}
Value counter(uint64_t v) {
  return {Value::Type::kCounter64, 0, v, {}};
}
Value octets(std::string v) {
  return {Value::Type::kOctets, 0, 0, std::move(v)};
}
Value truth(bool v) {
  return integer(v ? 1 : 2);
}

// A string index: its length, then its octets (not IMPLIED).
void append_string(Oid& oid, std::string_view s) {
  oid.push_back(static_cast<uint32_t>(s.size()));
  for (const char c : s) oid.push_back(static_cast<unsigned char>(c));
}

Oid object(uint32_t arc) {
  Oid o = mib_root();
  o.push_back(kObjects);
  o.push_back(arc);
  return o;
}
Oid scalar(Sys s) {
  Oid o = object(kSystem);
  o.push_back(static_cast<uint32_t>(s));
  o.push_back(0);
  return o;
}
// table.entry.column.index...
Oid column(uint32_t table, uint32_t col, const Oid& index) {
  Oid o = object(table);
  o.push_back(1);
  o.push_back(col);
  o.insert(o.end(), index.begin(), index.end());
  return o;
}
Oid name_index(std::string_view name) {
  Oid i;
  append_string(i, name);
  return i;
}
Oid dp_index(const pb::DataplaneInfo& d) {
  return name_index(d.id());
}
Oid port_index(const pb::DataplaneInfo& d, const pb::PortStats& p) {
  Oid i = dp_index(d);
  append_string(i, p.name());
  return i;
}
Oid tenant_index(const pb::ComplianceRow& r) {
  Oid i = name_index(r.tenant());
  i.push_back(static_cast<uint32_t>(r.data_class()));
  return i;
}

Oid dp_column(DpCol c, const pb::DataplaneInfo& d) {
  return column(kDataplaneTable, static_cast<uint32_t>(c), dp_index(d));
}
Oid port_column(PortCol c, const pb::DataplaneInfo& d, const pb::PortStats& p) {
  return column(kPortTable, static_cast<uint32_t>(c), port_index(d, p));
}
Oid tenant_column(TenantCol c, const pb::ComplianceRow& r) {
  return column(kTenantTable, static_cast<uint32_t>(c), tenant_index(r));
}

int64_t dataplane_state(const std::string& s) {
  constexpr std::array<std::string_view, 5> kStates = {"waiting", "running", "behind", "refused",
                                                       "disconnected"};
  const auto at = std::find(kStates.begin(), kStates.end(), s);
  return at == kStates.end() ? 5 : (at - kStates.begin()) + 1;
}
int64_t port_role(const std::string& r) {
  constexpr std::array<std::string_view, 4> kRoles = {"inside", "outside", "channel", "mirror"};
  const auto at = std::find(kRoles.begin(), kRoles.end(), r);
  return at == kRoles.end() ? 1 : (at - kRoles.begin()) + 2;
}

// One row of the reason registry: wire code, key, description.
struct RegistryRow {
  uint16_t code;
  std::string_view key;
  std::string_view description;
};
template <class E>
void add_group(std::vector<RegistryRow>& out) {
  for (size_t i = 0; i < engine::kReasonCountOf<E>; ++i) {
    const auto e = static_cast<E>(i);
    out.push_back({engine::reason_wire_code(e), engine::reason_key(e), engine::reason_description(e)});
  }
}
const std::vector<RegistryRow>& registry() {
  static const std::vector<RegistryRow> kRows = [] {
    std::vector<RegistryRow> r;
    add_group<engine::Reason>(r);
    add_group<engine::app::AppAnomaly>(r);
    add_group<engine::sig::Uninspectable>(r);
    add_group<engine::PathDrop>(r);
    add_group<engine::XdpPath>(r);
    return r;
  }();
  return kRows;
}

// The commit of the running generation ({} if not among those kept).
const pb::CommitInfo* running_commit(const Snapshot& s) {
  for (const auto& c : s.commits.commits())
    if (c.generation() == s.commits.running_generation()) return &c;
  return nullptr;
}

void put(View& v, Oid oid, Value value) {
  if (oid.size() <= kMaxOidLength) v.emplace(std::move(oid), std::move(value));
}

void add_system(View& v, const Snapshot& s) {
  const auto& sys = s.system;
  put(v, scalar(Sys::kSoftwareVersion), octets(sys.version()));
  put(v, scalar(Sys::kHostName), octets(sys.host()));
  const ControlPlaneState state = !s.reachable                            ? ControlPlaneState::kUnreachable
                                  : sys.pending_confirm_generation() != 0 ? ControlPlaneState::kConfirmPending
                                                                          : ControlPlaneState::kRunning;
  put(v, scalar(Sys::kControlPlaneState), integer(static_cast<int64_t>(state)));
  put(v, scalar(Sys::kRunningGeneration), gauge(sys.running_generation()));
  const pb::CommitInfo* c = running_commit(s);
  put(v, scalar(Sys::kBundleHash), octets(c != nullptr ? c->sha256() : ""));
  put(v, scalar(Sys::kLastCommitTime), octets(date_and_time(c != nullptr ? c->time_unix_s() : 0)));
  put(v, scalar(Sys::kLastCommitUser), octets(c != nullptr ? c->user() : ""));
  put(v, scalar(Sys::kPendingConfirmGeneration), gauge(sys.pending_confirm_generation()));
  put(v, scalar(Sys::kStartTime), octets(date_and_time(sys.started_unix_s())));
  put(v, scalar(Sys::kAuditRecords), counter(sys.audit_last_seq()));
  put(v, scalar(Sys::kStateFreeMBytes), gauge(sys.state_free_bytes() >> 20));
  put(v, scalar(Sys::kCertificatesExpiring), gauge(static_cast<uint64_t>(sys.certificates_expiring_size())));
  put(v, scalar(Sys::kDataplanesKnown), gauge(uint64_t{sys.dataplanes()}));
  put(v, scalar(Sys::kDataplanesConnected), gauge(uint64_t{sys.dataplanes_connected()}));
  put(v, scalar(Sys::kDataplanesCurrent), gauge(uint64_t{sys.dataplanes_current()}));
  put(v, scalar(Sys::kComplianceYear), integer(s.compliance.year()));
  put(v, scalar(Sys::kAlertsReceived), counter(s.alerts.received()));
  put(v, scalar(Sys::kAlertsDropped), counter(s.alerts.dropped()));
  put(v, scalar(Sys::kConfirmBy),
      octets(date_and_time(sys.pending_confirm_generation() != 0 ? sys.confirm_by_unix_s() : 0)));
  put(v, scalar(Sys::kNotificationsSuppressed), counter(s.suppressed));
  put(v, scalar(Sys::kPressureWatermark), gauge(uint64_t{s.pressure_watermark}));
  put(v, scalar(Sys::kAuditVerified), truth(sys.audit_verified_unix_s() == 0 || sys.audit_verify_ok()));
  put(v, scalar(Sys::kAuditVerifiedTime), octets(date_and_time(sys.audit_verified_unix_s())));
  put(v, scalar(Sys::kAuditVerifyProblem), octets(sys.audit_verify_problem()));
}

void add_dataplane(View& v, const pb::DataplaneInfo& d) {
  const pb::DataplaneStats& t = d.totals();
  const pb::DataplaneStats& now = d.stats();
  put(v, dp_column(DpCol::kHost, d), octets(d.host()));
  put(v, dp_column(DpCol::kState, d), integer(dataplane_state(d.state())));
  put(v, dp_column(DpCol::kGeneration, d), gauge(d.running_generation()));
  put(v, dp_column(DpCol::kLag, d), gauge(d.lag_s()));
  put(v, dp_column(DpCol::kNackReason, d), octets(d.nack_reason()));
  put(v, dp_column(DpCol::kUptime, d), gauge(now.uptime_s()));
  put(v, dp_column(DpCol::kFlowsActive, d), gauge(now.flows_active()));
  put(v, dp_column(DpCol::kPackets, d), counter(t.packets()));
  put(v, dp_column(DpCol::kOctets, d), counter(t.bytes()));
  put(v, dp_column(DpCol::kForwarded, d), counter(t.forwarded()));
  put(v, dp_column(DpCol::kDropped, d), counter(t.dropped()));
  put(v, dp_column(DpCol::kFlowsCreated, d), counter(t.flows_created()));
  put(v, dp_column(DpCol::kAlerts, d), counter(t.alerts()));
  put(v, dp_column(DpCol::kIdentifiers, d), counter(t.detections()));
  put(v, dp_column(DpCol::kAlertsUnreported, d), counter(t.alerts_unreported()));
  put(v, dp_column(DpCol::kLastReport, d), octets(date_and_time(d.stats_unix_s())));
  put(v, dp_column(DpCol::kFlowsCapacity, d), gauge(now.flows_capacity()));
  put(v, dp_column(DpCol::kScanStates, d), gauge(now.scan_states_active()));
  put(v, dp_column(DpCol::kScanStatesCapacity, d), gauge(now.scan_states_capacity()));
  for (const pb::PortStats& p : t.ports()) {
    put(v, port_column(PortCol::kRole, d, p), integer(port_role(p.role())));
    put(v, port_column(PortCol::kOperStatus, d, p), integer(p.link_up() ? 1 : 2));
    put(v, port_column(PortCol::kInOctets, d, p), counter(p.rx_bytes()));
    put(v, port_column(PortCol::kInPkts, d, p), counter(p.rx_packets()));
    put(v, port_column(PortCol::kOutOctets, d, p), counter(p.tx_bytes()));
    put(v, port_column(PortCol::kOutPkts, d, p), counter(p.tx_packets()));
    put(v, port_column(PortCol::kInMissed, d, p), counter(p.rx_missed()));
    put(v, port_column(PortCol::kInErrors, d, p), counter(p.rx_errors()));
    put(v, port_column(PortCol::kOutErrors, d, p), counter(p.tx_errors()));
    put(v, port_column(PortCol::kInNoBuffer, d, p), counter(p.rx_nombuf()));
  }
  // Ended flows by name: rows whose names an FtzName cannot hold are left
  // out (the configuration's names are shorter).
  const auto fits = [](const std::string& name) { return !name.empty() && name.size() <= 64; };
  for (const pb::ZonePairStats& z : t.zone_pairs()) {
    if (!fits(z.src_zone()) || !fits(z.dest_zone())) continue;
    Oid index = dp_index(d);
    append_string(index, z.src_zone());
    append_string(index, z.dest_zone());
    const std::pair<ZonePairCol, uint64_t> cols[] = {
        {ZonePairCol::kFlows, z.flows()},   {ZonePairCol::kPkts, z.packets()},
        {ZonePairCol::kOctets, z.bytes()},  {ZonePairCol::kAllowed, z.allowed()},
        {ZonePairCol::kRouted, z.routed()}, {ZonePairCol::kBlocked, z.blocked()},
        {ZonePairCol::kReset, z.reset()}};
    for (const auto& [c, n] : cols)
      put(v, column(kZonePairTable, static_cast<uint32_t>(c), index), counter(n));
  }
  for (const auto& [rule, n] : t.rule_flows()) {
    if (!fits(rule)) continue;
    Oid index = dp_index(d);
    append_string(index, rule);
    put(v, column(kRuleTable, kRuleFlows, index), counter(n));
  }
  for (const RegistryRow& r : registry()) {
    const auto n = t.reasons().find(std::string(r.key));
    Oid index = dp_index(d);
    index.push_back(r.code);
    put(v, column(kDpReasonTable, kDpReasonPackets, index), counter(n == t.reasons().end() ? 0 : n->second));
  }
}

void add_tenant(View& v, const pb::ComplianceRow& r) {
  put(v, tenant_column(TenantCol::kIndividuals, r), gauge(r.individuals()));
  put(v, tenant_column(TenantCol::kEstimate, r),
      gauge(static_cast<uint64_t>(std::llround(std::max(r.estimate(), 0.0)))));
  put(v, tenant_column(TenantCol::kLost, r), gauge(r.lost()));
  put(v, tenant_column(TenantCol::kSaturated, r), truth(r.saturated()));
  put(v, tenant_column(TenantCol::kThresholdState, r),
      integer(r.state() == pb::THRESHOLD_STATE_UNSPECIFIED ? 1 : static_cast<int64_t>(r.state())));
}

}  // namespace

std::string date_and_time(int64_t unix_s) {
  const auto t = static_cast<time_t>(unix_s);
  tm tm{};
  ::gmtime_r(&t, &tm);
  const int year = tm.tm_year + 1900;
  std::string out(11, '\0');
  out[0] = static_cast<char>((year >> 8) & 0xff);
  out[1] = static_cast<char>(year & 0xff);
  out[2] = static_cast<char>(tm.tm_mon + 1);
  out[3] = static_cast<char>(tm.tm_mday);
  out[4] = static_cast<char>(tm.tm_hour);
  out[5] = static_cast<char>(tm.tm_min);
  out[6] = static_cast<char>(tm.tm_sec);
  out[8] = '+';
  return out;
}

View build_view(const Snapshot& s) {
  View v;
  add_system(v, s);
  for (const RegistryRow& r : registry()) {
    put(v, column(kReasonTable, static_cast<uint32_t>(ReasonCol::kKey), {r.code}),
        octets(std::string(r.key)));
    put(v, column(kReasonTable, static_cast<uint32_t>(ReasonCol::kDescription), {r.code}),
        octets(std::string(r.description)));
  }
  for (const pb::DataplaneInfo& d : s.dataplanes.dataplanes()) add_dataplane(v, d);
  for (const pb::ComplianceRow& r : s.compliance.rows()) add_tenant(v, r);
  return v;
}

namespace {

using DpById = std::map<std::string, const pb::DataplaneInfo*>;
DpById by_id(const Snapshot& s) {
  DpById m;
  for (const auto& d : s.dataplanes.dataplanes()) m[d.id()] = &d;
  return m;
}

// At or above `watermark` percent of a capacity (none: never).
bool pressed(uint64_t used, uint64_t capacity, uint32_t watermark) {
  return capacity != 0 && used * 100 >= capacity * watermark;
}

// A table crossing the watermark, either way, between two reports. No
// hysteresis: the rate limit bounds a table that hovers at the mark.
void pressure_changes(const pb::DataplaneInfo& was, const pb::DataplaneInfo& d, uint32_t watermark,
                      std::vector<Notification>& out) {
  struct Table {
    const char* what;
    uint64_t (pb::DataplaneStats::*used)() const;
    uint64_t (pb::DataplaneStats::*capacity)() const;
    DpCol used_col, capacity_col;
    Trap on, off;
  };
  static const Table kTables[] = {
      {"flow table", &pb::DataplaneStats::flows_active, &pb::DataplaneStats::flows_capacity,
       DpCol::kFlowsActive, DpCol::kFlowsCapacity, Trap::kFlowTablePressure, Trap::kFlowTablePressureEnded},
      {"scan states", &pb::DataplaneStats::scan_states_active, &pb::DataplaneStats::scan_states_capacity,
       DpCol::kScanStates, DpCol::kScanStatesCapacity, Trap::kScanStatePressure,
       Trap::kScanStatePressureEnded}};
  for (const Table& t : kTables) {
    const bool before = pressed((was.stats().*t.used)(), (was.stats().*t.capacity)(), watermark);
    const bool now = pressed((d.stats().*t.used)(), (d.stats().*t.capacity)(), watermark);
    if (before == now) continue;
    const std::string use =
        std::to_string((d.stats().*t.used)()) + " of " + std::to_string((d.stats().*t.capacity)());
    if (now) {
      out.push_back({t.on,
                     {dp_column(DpCol::kHost, d), dp_column(t.used_col, d), dp_column(t.capacity_col, d),
                      scalar(Sys::kPressureWatermark)},
                     "data plane " + d.id() + ": " + t.what + " at " + use + " (watermark " +
                         std::to_string(watermark) + " %)"});
    } else {
      out.push_back({t.off,
                     {dp_column(t.used_col, d), dp_column(t.capacity_col, d)},
                     "data plane " + d.id() + ": " + t.what + " below the watermark again (" + use + ")"});
    }
  }
}

void dataplane_changes(const Snapshot& before, const Snapshot& after, std::vector<Notification>& out) {
  const DpById was = by_id(before);
  for (const pb::DataplaneInfo& d : after.dataplanes.dataplanes()) {
    const auto w = was.find(d.id());
    const std::string old_state = w == was.end() ? "" : w->second->state();
    const std::string& state = d.state();
    if (state != old_state) {
      // A data plane first seen disconnected came and went between two reads.
      if (state == "disconnected")
        out.push_back(
            {Trap::kDataplaneLost,
             {dp_column(DpCol::kState, d), dp_column(DpCol::kHost, d), dp_column(DpCol::kGeneration, d)},
             "data plane " + d.id() + " lost"});
      else if (state == "refused")
        out.push_back({Trap::kDataplaneRefused,
                       {dp_column(DpCol::kState, d), dp_column(DpCol::kNackReason, d),
                        dp_column(DpCol::kGeneration, d), scalar(Sys::kRunningGeneration)},
                       "data plane " + d.id() + " refused generation " +
                           std::to_string(after.system.running_generation())});
      else if (state == "running" &&
               (old_state == "disconnected" || old_state == "refused" || old_state == "behind"))
        out.push_back({Trap::kDataplaneCurrent,
                       {dp_column(DpCol::kState, d), dp_column(DpCol::kGeneration, d)},
                       "data plane " + d.id() + " current again"});
    }
    if (w == was.end()) continue;
    pressure_changes(*w->second, d, after.pressure_watermark, out);
    std::map<std::string, bool> link;
    for (const auto& p : w->second->totals().ports()) link[p.name()] = p.link_up();
    for (const auto& p : d.totals().ports()) {
      const auto l = link.find(p.name());
      if (l == link.end() || l->second == p.link_up()) continue;
      out.push_back({p.link_up() ? Trap::kPortLinkUp : Trap::kPortLinkDown,
                     {port_column(PortCol::kOperStatus, d, p), port_column(PortCol::kRole, d, p)},
                     "port " + p.name() + " of " + d.id() + (p.link_up() ? " up" : " down")});
    }
  }
}

void threshold_changes(const Snapshot& before, const Snapshot& after, std::vector<Notification>& out) {
  std::map<std::pair<std::string, int>, pb::ThresholdState> was;
  // A new year starts every count again: no notification for the old one.
  if (before.compliance.year() == after.compliance.year())
    for (const auto& r : before.compliance.rows()) was[{r.tenant(), r.data_class()}] = r.state();
  for (const pb::ComplianceRow& r : after.compliance.rows()) {
    const auto w = was.find({r.tenant(), r.data_class()});
    const pb::ThresholdState old = w == was.end() ? pb::THRESHOLD_STATE_NORMAL : w->second;
    if (r.state() <= old || r.state() < pb::THRESHOLD_STATE_WARN) continue;
    const bool exceeded = r.state() == pb::THRESHOLD_STATE_EXCEEDED;
    out.push_back({exceeded ? Trap::kThresholdExceeded : Trap::kThresholdWarn,
                   {tenant_column(TenantCol::kThresholdState, r), tenant_column(TenantCol::kIndividuals, r),
                    scalar(Sys::kComplianceYear)},
                   "tenant " + r.tenant() + (exceeded ? " exceeded" : " warned") + " (class " +
                       std::to_string(r.data_class()) + ")"});
  }
}

void commit_changes(const Snapshot& before, const Snapshot& after, std::vector<Notification>& out) {
  const uint64_t gen = after.commits.running_generation();
  if (gen == before.commits.running_generation()) return;
  const pb::CommitInfo* c = running_commit(after);
  // Back to an earlier generation's configuration: a rollback (or an
  // unconfirmed commit confirmed that reverted).
  bool rollback = false;
  for (const auto& k : after.commits.commits())
    rollback = rollback || (c != nullptr && k.generation() < gen && k.sha256() == c->sha256());
  out.push_back({rollback ? Trap::kRollback : Trap::kCommit,
                 {scalar(Sys::kRunningGeneration), scalar(Sys::kBundleHash), scalar(Sys::kLastCommitUser)},
                 std::string(rollback ? "rollback" : "commit") + " to generation " + std::to_string(gen)});
}

}  // namespace

namespace {

// The audit log stopped verifying (or fails anew, in another place).
void audit_changes(const Snapshot& before, const Snapshot& after, std::vector<Notification>& out) {
  const auto& b = before.system;
  const auto& a = after.system;
  if (a.audit_verified_unix_s() == 0 || a.audit_verify_ok()) return;
  const bool was_broken = b.audit_verified_unix_s() != 0 && !b.audit_verify_ok();
  if (was_broken && b.audit_verify_problem() == a.audit_verify_problem()) return;
  out.push_back({Trap::kAuditVerifyFailed,
                 {scalar(Sys::kAuditVerified), scalar(Sys::kAuditVerifyProblem),
                  scalar(Sys::kAuditVerifiedTime), scalar(Sys::kAuditRecords)},
                 "the audit log does not verify: " + a.audit_verify_problem()});
}

}  // namespace

std::vector<Notification> notifications(const Snapshot& before, const Snapshot& after) {
  std::vector<Notification> out;
  const bool baseline =
      !before.reachable && before.dataplanes.dataplanes().empty() && before.commits.running_generation() == 0;
  if (baseline) return out;
  if (before.reachable && !after.reachable) {
    out.push_back(
        {Trap::kControlPlaneUnreachable, {scalar(Sys::kControlPlaneState)}, "ftzgated unreachable"});
    return out;
  }
  if (!after.reachable) return out;
  if (!before.reachable)
    out.push_back({Trap::kControlPlaneReachable,
                   {scalar(Sys::kControlPlaneState), scalar(Sys::kRunningGeneration)},
                   "ftzgated reachable again"});
  commit_changes(before, after, out);
  dataplane_changes(before, after, out);
  threshold_changes(before, after, out);
  audit_changes(before, after, out);
  return out;
}

bool RateLimit::allow(double now_s) {
  if (last_s_ >= 0 && interval_s_ > 0)
    tokens_ = std::min<double>(burst_, tokens_ + (now_s - last_s_) / interval_s_);
  last_s_ = now_s;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

}  // namespace ftz::snmp
