// FTZGATE-MIB and the view ftzgate-snmp serves from ftzgated's replies: the
// MIB passes smilint -l 3 without a message (smilint exits 0 on errors, so
// any output fails), every instance the view holds is an object the MIB
// defines (smidump is the oracle, not our oids.hpp), the enterprise number
// is one constant, and notifications follow state changes, rate-limited.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "ftz/test/files.hpp"
#include "oids.hpp"
#include "view.hpp"

namespace ftz::snmp {
namespace {

namespace pb = ftzgate::v1;

std::string mib_dir() {
  return test::source_dir() + "/mgmt/snmp";
}

std::string dotted(const Oid& o) {
  std::string s;
  for (const uint32_t x : o) s += (s.empty() ? "" : ".") + std::to_string(x);
  return s;
}

// name -> (kind, OID) of every node FTZGATE-MIB defines, as smidump reads it.
struct Node {
  std::string name;
  std::string kind;
};
std::map<std::string, Node> mib_nodes() {
  const test::RunResult r = test::run_command("SMIPATH=" + mib_dir() + "/mibs smidump -f identifiers " +
                                              mib_dir() + "/FTZGATE-MIB.txt 2>&1");
  std::map<std::string, Node> out;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string module, name, kind, oid;
    if (f >> module >> name >> kind >> oid && module == "FTZGATE-MIB" && !oid.empty() && std::isdigit(oid[0]))
      out[oid] = {name, kind};
  }
  return out;
}

pb::DataplaneInfo dataplane(const std::string& id, const std::string& state) {
  pb::DataplaneInfo d;
  d.set_id(id);
  d.set_host("gw-1");
  d.set_state(state);
  d.set_running_generation(3);
  d.mutable_totals()->set_packets(1000);
  d.mutable_totals()->set_bytes(5'000'000'000ULL);
  (*d.mutable_totals()->mutable_reasons())["ipv4_truncated"] = 7;
  auto* p = d.mutable_totals()->add_ports();
  p->set_name("uplink0");
  p->set_role("outside");
  p->set_link_up(true);
  p->set_rx_bytes(1ULL << 40);
  auto* z = d.mutable_totals()->add_zone_pairs();
  z->set_src_zone("inside");
  z->set_dest_zone("offshore");
  z->set_flows(12);
  z->set_bytes(3456);
  z->set_blocked(2);
  (*d.mutable_totals()->mutable_rule_flows())["harbor-to-hk"] = 5;
  return d;
}
pb::ComplianceRow tenant(const std::string& name, pb::ThresholdState state) {
  pb::ComplianceRow r;
  r.set_tenant(name);
  r.set_data_class(pb::DATA_CLASS_PI);
  r.set_individuals(900);
  r.set_estimate(903.4);
  r.set_state(state);
  return r;
}
Snapshot snapshot() {
  Snapshot s;
  s.reachable = true;
  s.system.set_version("0.1.0");
  s.system.set_running_generation(3);
  s.commits.set_running_generation(3);
  auto* c = s.commits.add_commits();
  c->set_generation(3);
  c->set_sha256("ab12");
  c->set_user("alice");
  s.compliance.set_year(2026);
  *s.dataplanes.add_dataplanes() = dataplane("dp-a", "running");
  *s.compliance.add_rows() = tenant("pacific-re", pb::THRESHOLD_STATE_NORMAL);
  return s;
}

TEST(FtzgateMib, PassesSmilintAtLevelThreeWithoutAMessage) {
  const test::RunResult r =
      test::run_command("SMIPATH=" + mib_dir() + "/mibs smilint -l 3 " + mib_dir() + "/FTZGATE-MIB.txt 2>&1");
  EXPECT_EQ(r.output, "");
  // smilint does report: a broken copy is not silent.
  test::TempDir dir("mib");
  std::string text = test::read_text(mib_dir() + "/FTZGATE-MIB.txt");
  text.replace(text.find("SYNTAX      Counter64"), 21, "SYNTAX      Counter65");
  std::ofstream(dir.file("FTZGATE-MIB.txt")) << text;
  EXPECT_NE(test::run_command("SMIPATH=" + mib_dir() + "/mibs smilint -l 3 " + dir.file("FTZGATE-MIB.txt") +
                              " 2>&1")
                .output,
            "");
}

TEST(FtzgateMib, TheEnterpriseNumberIsTheCodesOneConstant) {
  const std::string text = test::read_text(mib_dir() + "/FTZGATE-MIB.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(::= \{ enterprises (\d+) \})")));
  EXPECT_EQ(std::stoul(m[1]), kEnterpriseNumber);
  EXPECT_EQ(dotted(mib_root()), "1.3.6.1.4.1." + std::to_string(kEnterpriseNumber));
}

TEST(FtzgateMib, EveryInstanceServedIsAnObjectOfTheMibAndEveryObjectIsServed) {
  const auto nodes = mib_nodes();
  ASSERT_GT(nodes.size(), 50u);
  std::set<std::string> served;
  for (const auto& [oid, value] : build_view(snapshot())) {
    // The object is the longest prefix the MIB names.
    Oid prefix = oid;
    const Node* node = nullptr;
    while (!prefix.empty() && node == nullptr) {
      prefix.pop_back();
      const auto at = nodes.find(dotted(prefix));
      if (at != nodes.end()) node = &at->second;
    }
    ASSERT_NE(node, nullptr) << dotted(oid);
    ASSERT_TRUE(node->kind == "scalar" || node->kind == "column") << dotted(oid) << " is in " << node->name;
    if (node->kind == "scalar") {
      EXPECT_EQ(oid.size(), prefix.size() + 1) << node->name << " is .0";
      EXPECT_EQ(oid.back(), 0u) << node->name;
    }
    served.insert(node->name);
  }
  for (const auto& [oid, node] : nodes) {
    // Index columns are not-accessible: never served.
    if (node.kind != "scalar" && node.kind != "column") continue;
    static const std::set<std::string> kIndexes = {"ftzDpId",       "ftzPortName",    "ftzReasonCode",
                                                   "ftzTenantName", "ftzTenantClass", "ftzZpSrcZone",
                                                   "ftzZpDestZone", "ftzRuleName"};
    EXPECT_TRUE(served.count(node.name) != 0 || kIndexes.count(node.name) != 0)
        << node.name << " is not served";
  }
}

TEST(SnmpView, ValuesAndIndexesAreWhatTheRepliesSay) {
  const View v = build_view(snapshot());
  // ftzDpOctets."dp-a": a Counter64 past 2^32.
  Oid octets = mib_root();
  octets.insert(octets.end(),
                {kObjects, kDataplaneTable, 1, static_cast<uint32_t>(DpCol::kOctets), 4, 'd', 'p', '-', 'a'});
  ASSERT_EQ(v.count(octets), 1u);
  EXPECT_EQ(v.at(octets).type, Value::Type::kCounter64);
  EXPECT_EQ(v.at(octets).number, 5'000'000'000ULL);
  // ftzDpReasonPackets."dp-a".<wire code of ipv4_truncated>: its count;
  // reasons it never counted are rows with 0.
  uint32_t code = 0;
  for (const auto& [oid, value] : v)
    if (value.type == Value::Type::kOctets && value.octets == "ipv4_truncated") code = oid.back();
  ASSERT_EQ(code >> 8, 1u) << "the packet group";
  Oid reason = mib_root();
  reason.insert(reason.end(), {kObjects, kDpReasonTable, 1, kDpReasonPackets, 4, 'd', 'p', '-', 'a', code});
  ASSERT_EQ(v.count(reason), 1u);
  EXPECT_EQ(v.at(reason).number, 7u);
  reason.back() = code + 1;
  ASSERT_EQ(v.count(reason), 1u);
  EXPECT_EQ(v.at(reason).number, 0u);
  // A tenant's estimate rounded; its class as the index's last arc.
  Oid estimate = mib_root();
  estimate.insert(estimate.end(),
                  {kObjects, kTenantTable, 1, static_cast<uint32_t>(TenantCol::kEstimate), 10});
  for (const char c : std::string("pacific-re")) estimate.push_back(static_cast<unsigned char>(c));
  estimate.push_back(pb::DATA_CLASS_PI);
  ASSERT_EQ(v.count(estimate), 1u);
  EXPECT_EQ(v.at(estimate).number, 903u);
  // Ended flows by name: ftzZpBlocked."dp-a"."inside"."offshore" and
  // ftzRuleFlows."dp-a"."harbor-to-hk".
  const auto with = [](Oid o, const std::string& s) {
    o.push_back(static_cast<uint32_t>(s.size()));
    for (const char c : s) o.push_back(static_cast<unsigned char>(c));
    return o;
  };
  Oid blocked = mib_root();
  blocked.insert(blocked.end(), {kObjects, kZonePairTable, 1, static_cast<uint32_t>(ZonePairCol::kBlocked)});
  blocked = with(with(with(blocked, "dp-a"), "inside"), "offshore");
  ASSERT_EQ(v.count(blocked), 1u);
  EXPECT_EQ(v.at(blocked).number, 2u);
  Oid rule = mib_root();
  rule.insert(rule.end(), {kObjects, kRuleTable, 1, kRuleFlows});
  rule = with(with(rule, "dp-a"), "harbor-to-hk");
  ASSERT_EQ(v.count(rule), 1u);
  EXPECT_EQ(v.at(rule).number, 5u);
}

TEST(SnmpView, RowsWhoseIndexExceedsSnmpsOidLimitAreLeftOut) {
  Snapshot s = snapshot();
  auto* d = s.dataplanes.mutable_dataplanes(0);
  d->set_id(std::string(64, 'd'));
  d->mutable_totals()->mutable_ports(0)->set_name(std::string(64, 'p'));
  const View v = build_view(s);
  for (const auto& [oid, value] : v) EXPECT_LE(oid.size(), 128u);
  bool dp_row = false;
  for (const auto& [oid, value] : v) dp_row = dp_row || (oid[8] == kDataplaneTable);
  EXPECT_TRUE(dp_row) << "the data plane's own row fits";
}

TEST(SnmpView, DateAndTimeIsElevenOctetsInUtc) {
  const std::string t = date_and_time(1796540796);  // 2026-12-06 07:06:36 UTC
  ASSERT_EQ(t.size(), 11u);
  EXPECT_EQ(static_cast<unsigned char>(t[0]) * 256 + static_cast<unsigned char>(t[1]), 2026);
  EXPECT_EQ(t[2], 12);
  EXPECT_EQ(t[3], 6);
  EXPECT_EQ(t[4], 7);
  EXPECT_EQ(t[5], 6);
  EXPECT_EQ(t[6], 36);
  EXPECT_EQ(t[8], '+');
}

std::vector<Trap> traps(const Snapshot& a, const Snapshot& b) {
  std::vector<Trap> out;
  for (const auto& n : notifications(a, b)) out.push_back(n.trap);
  return out;
}

TEST(SnmpNotifications, TheFirstReadIsABaseline) {
  Snapshot s = snapshot();
  s.compliance.mutable_rows(0)->set_state(pb::THRESHOLD_STATE_EXCEEDED);
  s.dataplanes.mutable_dataplanes(0)->set_state("refused");
  EXPECT_TRUE(traps(Snapshot{}, s).empty());
}

TEST(SnmpNotifications, DataPlanesLostRefusingAndBack) {
  const Snapshot a = snapshot();
  Snapshot b = a;
  b.dataplanes.mutable_dataplanes(0)->set_state("disconnected");
  EXPECT_EQ(traps(a, b), std::vector{Trap::kDataplaneLost});
  EXPECT_EQ(traps(b, a), std::vector{Trap::kDataplaneCurrent});
  Snapshot c = a;
  c.dataplanes.mutable_dataplanes(0)->set_state("refused");
  EXPECT_EQ(traps(a, c), std::vector{Trap::kDataplaneRefused});
  EXPECT_TRUE(traps(a, a).empty());
  // A data plane seen for the first time: no "current again".
  Snapshot d = a;
  *d.dataplanes.add_dataplanes() = dataplane("dp-b", "running");
  EXPECT_TRUE(traps(a, d).empty());
  // One that came and went between two reads was lost all the same.
  Snapshot gone = a;
  *gone.dataplanes.add_dataplanes() = dataplane("dp-b", "disconnected");
  EXPECT_EQ(traps(a, gone), std::vector{Trap::kDataplaneLost});
  // The notification's objects are instances of the later view.
  const auto n = notifications(a, b);
  const View v = build_view(b);
  for (const Oid& o : n.at(0).objects) EXPECT_EQ(v.count(o), 1u) << dotted(o);
}

TEST(SnmpNotifications, PortLinksDownAndUp) {
  const Snapshot a = snapshot();
  Snapshot b = a;
  b.dataplanes.mutable_dataplanes(0)->mutable_totals()->mutable_ports(0)->set_link_up(false);
  EXPECT_EQ(traps(a, b), std::vector{Trap::kPortLinkDown});
  EXPECT_EQ(traps(b, a), std::vector{Trap::kPortLinkUp});
}

// The flow table and the scan states against the watermark (80 % by
// default), either way; a data plane that reports no capacity never.
TEST(SnmpNotifications, TablePressureAtTheWatermarkAndBelowItAgain) {
  Snapshot a = snapshot();
  pb::DataplaneStats& calm = *a.dataplanes.mutable_dataplanes(0)->mutable_stats();
  calm.set_flows_active(799);
  calm.set_flows_capacity(1000);
  calm.set_scan_states_active(10);
  calm.set_scan_states_capacity(100);
  Snapshot full = a;
  full.dataplanes.mutable_dataplanes(0)->mutable_stats()->set_flows_active(800);
  EXPECT_EQ(traps(a, full), std::vector{Trap::kFlowTablePressure});
  EXPECT_TRUE(traps(full, full).empty()) << "once, not at every read";
  EXPECT_EQ(traps(full, a), std::vector{Trap::kFlowTablePressureEnded});
  Snapshot scanning = a;
  scanning.dataplanes.mutable_dataplanes(0)->mutable_stats()->set_scan_states_active(100);
  EXPECT_EQ(traps(a, scanning), std::vector{Trap::kScanStatePressure});
  EXPECT_EQ(traps(scanning, a), std::vector{Trap::kScanStatePressureEnded});
  // The watermark is the subagent's.
  Snapshot strict = a;
  strict.pressure_watermark = 50;
  Snapshot half = strict;
  half.dataplanes.mutable_dataplanes(0)->mutable_stats()->set_scan_states_active(50);
  EXPECT_EQ(traps(strict, half), std::vector{Trap::kScanStatePressure});
  // No capacity reported (an older data plane): no pressure.
  Snapshot older = snapshot();
  older.dataplanes.mutable_dataplanes(0)->mutable_stats()->set_flows_active(1'000'000);
  EXPECT_TRUE(traps(snapshot(), older).empty());
  // The notification's objects are instances of the later view, with its values.
  const auto n = notifications(a, full);
  ASSERT_EQ(n.size(), 1u);
  const View v = build_view(full);
  for (const Oid& o : n[0].objects) EXPECT_EQ(v.count(o), 1u) << dotted(o);
  EXPECT_EQ(v.at(n[0].objects[1]).number, 800u);
  EXPECT_EQ(v.at(n[0].objects[2]).number, 1000u);
  EXPECT_EQ(v.at(n[0].objects[3]).number, 80u);
  EXPECT_NE(n[0].what.find("flow table at 800 of 1000"), std::string::npos) << n[0].what;
}

// ftzgated's verification of its audit log: a failure is notified once
// (again only where it fails anew); not yet verified is not a failure.
TEST(SnmpNotifications, AnAuditLogThatStopsVerifying) {
  Snapshot a = snapshot();
  a.system.set_audit_verified_unix_s(1796000000);
  a.system.set_audit_verify_ok(true);
  Snapshot broken = a;
  broken.system.set_audit_verify_ok(false);
  broken.system.set_audit_verify_problem("record 7 modified (audit-00000000000000000001.jsonl:7)");
  EXPECT_EQ(traps(a, broken), std::vector{Trap::kAuditVerifyFailed});
  EXPECT_TRUE(traps(broken, broken).empty());
  Snapshot elsewhere = broken;
  elsewhere.system.set_audit_verify_problem("record 9 removed (audit-00000000000000000001.jsonl:9)");
  EXPECT_EQ(traps(broken, elsewhere), std::vector{Trap::kAuditVerifyFailed});
  EXPECT_TRUE(traps(broken, a).empty());
  EXPECT_TRUE(traps(snapshot(), a).empty());
  const View v = build_view(broken);
  const auto n = notifications(a, broken);
  ASSERT_EQ(n.size(), 1u);
  for (const Oid& o : n[0].objects) EXPECT_EQ(v.count(o), 1u) << dotted(o);
  EXPECT_EQ(v.at(n[0].objects[0]).integer, 2) << "TruthValue false";
  EXPECT_EQ(v.at(n[0].objects[1]).octets, broken.system.audit_verify_problem());
  EXPECT_EQ(build_view(snapshot()).at(n[0].objects[0]).integer, 1) << "not verified yet: true";
}

TEST(SnmpNotifications, ThresholdsOnTheWayUpOnlyAndAgainInANewYear) {
  const Snapshot a = snapshot();
  Snapshot warn = a;
  warn.compliance.mutable_rows(0)->set_state(pb::THRESHOLD_STATE_WARN);
  Snapshot exceeded = a;
  exceeded.compliance.mutable_rows(0)->set_state(pb::THRESHOLD_STATE_EXCEEDED);
  EXPECT_EQ(traps(a, warn), std::vector{Trap::kThresholdWarn});
  EXPECT_EQ(traps(warn, exceeded), std::vector{Trap::kThresholdExceeded});
  EXPECT_EQ(traps(a, exceeded), std::vector{Trap::kThresholdExceeded});
  EXPECT_TRUE(traps(exceeded, warn).empty());
  EXPECT_TRUE(traps(exceeded, exceeded).empty());
  // A tenant that appears already past its warning line.
  Snapshot fresh = a;
  *fresh.compliance.add_rows() = tenant("harbor", pb::THRESHOLD_STATE_WARN);
  EXPECT_EQ(traps(a, fresh), std::vector{Trap::kThresholdWarn});
  // The count starts again each year: a crossing in the new one is news.
  Snapshot next_year = warn;
  next_year.compliance.set_year(2027);
  EXPECT_EQ(traps(exceeded, next_year), std::vector{Trap::kThresholdWarn});
}

TEST(SnmpNotifications, CommitsAndRollbacks) {
  const Snapshot a = snapshot();
  Snapshot b = a;
  b.system.set_running_generation(4);
  b.commits.set_running_generation(4);
  auto* c = b.commits.add_commits();
  c->set_generation(4);
  c->set_sha256("cd34");
  EXPECT_EQ(traps(a, b), std::vector{Trap::kCommit});
  // Generation 5 has generation 3's configuration again.
  Snapshot r = b;
  r.system.set_running_generation(5);
  r.commits.set_running_generation(5);
  auto* back = r.commits.add_commits();
  back->set_generation(5);
  back->set_sha256("ab12");
  EXPECT_EQ(traps(b, r), std::vector{Trap::kRollback});
}

TEST(SnmpNotifications, FtzgatedUnreachableAndBack) {
  const Snapshot a = snapshot();
  Snapshot gone = a;
  gone.reachable = false;
  EXPECT_EQ(traps(a, gone), std::vector{Trap::kControlPlaneUnreachable});
  EXPECT_TRUE(traps(gone, gone).empty());
  EXPECT_EQ(traps(gone, a), std::vector{Trap::kControlPlaneReachable});
  // The unreachable state is what the MIB says too.
  Oid state = mib_root();
  state.insert(state.end(), {kObjects, kSystem, static_cast<uint32_t>(Sys::kControlPlaneState), 0});
  EXPECT_EQ(build_view(gone).at(state).integer, static_cast<int64_t>(ControlPlaneState::kUnreachable));
}

TEST(SnmpRateLimit, ABurstThenOnePerInterval) {
  RateLimit limit(3, 10.0);
  EXPECT_TRUE(limit.allow(100));
  EXPECT_TRUE(limit.allow(100));
  EXPECT_TRUE(limit.allow(100));
  EXPECT_FALSE(limit.allow(100));
  EXPECT_FALSE(limit.allow(105));
  EXPECT_TRUE(limit.allow(110.5));
  EXPECT_FALSE(limit.allow(111));
  // A long quiet time refills the burst, no more.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limit.allow(1000)) << i;
  EXPECT_FALSE(limit.allow(1000));
}

}  // namespace
}  // namespace ftz::snmp
