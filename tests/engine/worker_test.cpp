// Worker end to end: TcpSession conversations and built packets through
// process_burst(), checking dispositions, held/released packets, events and
// per-flow counters.
#include "ftz/engine/worker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "engine_fixtures.hpp"
#include "ftz/test/app_payloads.hpp"
#include "ftz/test/fragment.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/tcp_session.hpp"

namespace ftz::engine {
namespace {

using namespace testing;
using test::Bytes;
using test::CapturedPacket;
using test::Direction;
using test::TcpSession;
using test::TcpSessionConfig;

// 2026-03-02 01:00:00 UTC.
constexpr int64_t kT0 = 1772413200LL * 1'000'000'000;

struct Runner {
  explicit Runner(PolicySpec spec)
      : worker(PolicyGeneration::build(std::move(spec), 1), LinkType::kEthernet) {}

  // Runs `frames` as one burst (token = the index given); returns the results.
  std::vector<PacketResult> burst(const std::vector<const CapturedPacket*>& pkts,
                                  const std::vector<uint64_t>& tokens) {
    std::vector<PacketView> views;
    for (size_t i = 0; i < pkts.size(); ++i) {
      views.push_back(view_of(pkts[i]->frame, static_cast<int64_t>(pkts[i]->ts_ns), tokens[i]));
    }
    std::vector<PacketResult> res(views.size());
    EXPECT_EQ(worker.process_burst(views, res), views.size());
    released.assign(worker.released().begin(), worker.released().end());
    return res;
  }
  // Runs every packet, in bursts of kBurstSize, tokens = index.
  std::vector<PacketResult> run_all(const std::vector<CapturedPacket>& pkts, uint64_t first_token = 0) {
    std::vector<PacketResult> all;
    for (size_t i = 0; i < pkts.size(); i += kBurstSize) {
      std::vector<const CapturedPacket*> b;
      std::vector<uint64_t> t;
      for (size_t j = i; j < pkts.size() && j < i + kBurstSize; ++j) {
        b.push_back(&pkts[j]);
        t.push_back(first_token + j);
      }
      const auto r = burst(b, t);
      all.insert(all.end(), r.begin(), r.end());
    }
    return all;
  }
  std::vector<Event> drain_events() {
    std::vector<Event> out;
    while (const Event* e = worker.events().front()) {
      out.push_back(*e);
      worker.events().pop();
    }
    return out;
  }
  Worker worker;
  std::vector<Release> released;
};

std::vector<Event> of_type(const std::vector<Event>& evs, EventType t) {
  std::vector<Event> out;
  for (const Event& e : evs) {
    if (e.type == t) out.push_back(e);
  }
  return out;
}

TcpSessionConfig session_config(uint16_t server_port = 80) {
  TcpSessionConfig c;
  c.server_port = server_port;
  c.start_ns = static_cast<uint64_t>(kT0);
  return c;
}

// Client-to-server (0) or server-to-client (1) per frame, from the IPv4 source.
int direction_of(const CapturedPacket& p, const TcpSessionConfig& c, size_t l2 = 14) {
  const auto client = std::get<test::Ipv4Addr>(c.client_ip);
  return std::equal(client.octets.begin(), client.octets.end(), p.frame.begin() + static_cast<long>(l2) + 12)
             ? 0
             : 1;
}

TEST(WorkerTest, HttpRequestYieldsOneHttpEventAndFlowCounts) {
  const TcpSessionConfig cfg = session_config(80);
  TcpSession s(cfg);
  s.handshake()
      .client_send("GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: t\r\n\r\n")
      .server_send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      .close();
  Runner r(zone_policy());
  const auto res = r.run_all(s.packets());
  for (size_t i = 0; i < res.size(); ++i) {
    EXPECT_EQ(res[i].disposition, Disposition::kForward) << i;
    EXPECT_EQ(res[i].reason, Reason::kNone) << i;
  }
  EXPECT_EQ(r.worker.active_flows(), 1u);
  const auto during = r.drain_events();
  const auto http = of_type(during, EventType::kHttp);
  ASSERT_EQ(http.size(), 1u);
  const Event& e = http[0];
  EXPECT_EQ(e.http.method.view(), "GET");
  EXPECT_EQ(e.http.hostname.view(), "www.example.com");
  EXPECT_EQ(e.http.url.view(), "/index.html?q=1");
  EXPECT_EQ(e.http.protocol.view(), "HTTP/1.1");
  EXPECT_EQ(e.src, ip("10.60.0.1"));
  EXPECT_EQ(e.dst, ip("203.0.113.10"));
  EXPECT_EQ(e.src_port, 40000);
  EXPECT_EQ(e.dst_port, 80);
  EXPECT_EQ(e.proto, 6);
  EXPECT_EQ(e.src_zone, kZoneFtz);
  EXPECT_EQ(e.dst_zone, kZoneOffshore);
  EXPECT_EQ(e.tenant, kTenantAcme);
  EXPECT_TRUE(e.is_export);
  EXPECT_FALSE(e.inspected);  // an export, but this policy has no signatures to scan with
  EXPECT_EQ(e.verdict.action, Action::kAllow);

  // The record is written when both FINs are through and every byte is
  // delivered (the scan state goes back then): before the client's last ACK,
  // which the closed flow still absorbs until tcp_closed_timeout_s.
  uint64_t pkts[2] = {0, 0};
  uint64_t bytes[2] = {0, 0};
  for (size_t i = 0; i + 1 < s.packets().size(); ++i) {
    const auto& p = s.packets()[i];
    const int d = direction_of(p, cfg);
    ++pkts[d];
    bytes[d] += p.frame.size();
  }
  const auto flows = of_type(during, EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  const FlowEventData& f = flows[0].flow;
  EXPECT_EQ(f.pkts_toserver, pkts[0]);
  EXPECT_EQ(f.pkts_toclient, pkts[1]);
  EXPECT_EQ(f.bytes_toserver, bytes[0]);
  EXPECT_EQ(f.bytes_toclient, bytes[1]);
  EXPECT_EQ(f.pkts_toserver, 5u);  // SYN, ACK, request, ACK of the response, FIN
  EXPECT_EQ(f.start_ns, kT0);
  EXPECT_EQ(f.reason, FlowEndReason::kClosed);
  EXPECT_EQ(f.tcp_state, static_cast<uint8_t>(TcpState::kClosed));
  EXPECT_EQ(f.app, static_cast<uint8_t>(AppProto::kHttp));
  EXPECT_EQ(f.gaps, 0u);
  EXPECT_EQ(f.conflicts, 0u);
  EXPECT_EQ(flows[0].flow_id, http[0].flow_id);

  const int64_t end = static_cast<int64_t>(s.now_ns()) + 1'000'000;
  r.worker.finish(end);
  EXPECT_EQ(r.worker.active_flows(), 0u);
  EXPECT_TRUE(of_type(r.drain_events(), EventType::kFlow).empty());  // one record per flow
  EXPECT_EQ(r.worker.counters().flows_created, 1u);
  EXPECT_EQ(r.worker.counters().flows_ended, 1u);
  EXPECT_EQ(r.worker.counters().flows_inspected, 1u);
  EXPECT_EQ(r.worker.counters().packets, s.packets().size());
}

TEST(WorkerTest, TlsClientHelloYieldsSni) {
  TcpSession s(session_config(443));
  test::TlsClientHelloSpec hello;
  hello.sni = "api.example.org";
  const Bytes ch = test::tls_client_hello(hello);
  s.handshake().send(Direction::kClientToServer, ch);
  Runner r(zone_policy());
  r.run_all(s.packets());
  const auto tls = of_type(r.drain_events(), EventType::kTls);
  ASSERT_EQ(tls.size(), 1u);
  EXPECT_EQ(tls[0].tls.sni.view(), "api.example.org");
  ASSERT_EQ(tls[0].tls.alpn_count, 2);
  EXPECT_EQ(tls[0].tls.alpn[0].view(), "h2");
  EXPECT_EQ(tls[0].tls.alpn[1].view(), "http/1.1");
  EXPECT_EQ(tls[0].tls.version, 0x0304);  // supported_versions offers TLS 1.3
  EXPECT_EQ(tls[0].dst_port, 443);
}

TEST(WorkerTest, SniRuleBlocksAtAppStage) {
  PolicySpec spec = zone_policy();
  RuleSpec r;
  r.name = "no-example";
  r.match.server_name_suffixes = {"example.org"};
  r.verdict.action = Action::kBlock;
  spec.rules = {r};
  TcpSessionConfig cfg = session_config(443);
  cfg.mss = 100;  // the ClientHello spans segments
  TcpSession s(cfg);
  test::TlsClientHelloSpec hello;
  hello.sni = "www.example.org";
  s.handshake().send(Direction::kClientToServer, test::tls_client_hello(hello)).server_send("x");
  Runner run(std::move(spec));
  const auto res = run.run_all(s.packets());
  // The handshake passes; from the segment that completes the hello on, drop.
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  EXPECT_EQ(res[2].disposition, Disposition::kForward);
  EXPECT_EQ(res.back().disposition, Disposition::kDrop);
  EXPECT_EQ(res.back().reason, Reason::kPolicyBlock);
  const auto tls = of_type(run.drain_events(), EventType::kTls);
  ASSERT_EQ(tls.size(), 1u);
  EXPECT_EQ(tls[0].verdict.action, Action::kBlock);
  EXPECT_EQ(tls[0].rule, 0u);
}

TEST(WorkerTest, DnsOverUdpYieldsRrname) {
  const Bytes q = test::dns_query(0x1234, "www.example.cn");
  const Bytes frame =
      test::PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").udp(53000, 53).payload(q).build();
  std::vector<CapturedPacket> pkts = {{static_cast<uint64_t>(kT0), frame}};
  Runner r(zone_policy());
  const auto res = r.run_all(pkts);
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  const auto dns = of_type(r.drain_events(), EventType::kDns);
  ASSERT_EQ(dns.size(), 1u);
  EXPECT_EQ(dns[0].dns.rrname.view(), "www.example.cn");
  EXPECT_EQ(dns[0].dns.rrtype, 1);
  EXPECT_EQ(dns[0].dns.id, 0x1234);
  EXPECT_FALSE(dns[0].dns.is_response);
  EXPECT_EQ(dns[0].proto, 17);
  EXPECT_EQ(dns[0].src_port, 53000);
  EXPECT_EQ(dns[0].dst_port, 53);
  r.worker.finish(kT0 + 1);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.app, static_cast<uint8_t>(AppProto::kDns));
  EXPECT_EQ(flows[0].flow.pkts_toserver, 1u);
  EXPECT_EQ(flows[0].flow.bytes_toserver, frame.size());
  EXPECT_EQ(flows[0].flow.pkts_toclient, 0u);
}

TEST(WorkerTest, BlockRuleDropsEveryPacketOfTheFlow) {
  PolicySpec spec = zone_policy();
  RuleSpec r;
  r.name = "block-http-out";
  r.match.dst_zones = {kZoneOffshore};
  r.match.protocols = {L4Proto::kTcp};
  r.match.dst_ports = {{80, 80}};
  r.verdict.action = Action::kBlock;
  spec.rules = {r};
  TcpSession s(session_config(80));
  s.handshake()
      .client_send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
      .server_send("HTTP/1.1 204 No Content\r\n\r\n");
  Runner run(std::move(spec));
  const auto res = run.run_all(s.packets());
  ASSERT_EQ(res.size(), s.packets().size());
  for (size_t i = 0; i < res.size(); ++i) {
    EXPECT_EQ(res[i].disposition, Disposition::kDrop) << i;
    EXPECT_EQ(res[i].reason, Reason::kPolicyBlock) << i;
    EXPECT_EQ(res[i].verdict.action, Action::kBlock) << i;
  }
  EXPECT_EQ(run.worker.counters().reasons[static_cast<uint32_t>(Reason::kPolicyBlock)], res.size());
  // Another port of the same hosts is not blocked.
  TcpSessionConfig other = session_config(8080);
  other.client_port = 40001;
  TcpSession s2(other);
  s2.handshake();
  for (const auto& p : run.run_all(s2.packets(), 100)) EXPECT_EQ(p.disposition, Disposition::kForward);
}

TEST(WorkerTest, OutOfOrderSegmentOfInspectedFlowIsHeldUntilHoleFilled) {
  TcpSessionConfig cfg = session_config(80);
  cfg.mss = 100;
  TcpSession s(cfg);
  s.handshake().client_send(std::string(300, 'a'));
  const auto& pk = s.packets();
  const auto& segs = s.segments();
  ASSERT_EQ(segs.size(), 3u);
  Runner r(zone_policy());
  auto res = r.burst({&pk[0], &pk[1], &pk[2]}, {0, 1, 2});
  for (const auto& x : res) EXPECT_EQ(x.disposition, Disposition::kForward);
  // Segment 2 before segment 1: held, nothing released.
  const size_t i1 = segs[0].packet_index;
  const size_t i2 = segs[1].packet_index;
  const size_t i3 = segs[2].packet_index;
  res = r.burst({&pk[i2]}, {i2});
  EXPECT_EQ(res[0].disposition, Disposition::kHold);
  EXPECT_TRUE(r.released.empty());
  res = r.burst({&pk[i3]}, {i3});
  EXPECT_EQ(res[0].disposition, Disposition::kHold);
  EXPECT_TRUE(r.released.empty());
  EXPECT_EQ(r.worker.counters().held, 2u);
  // Segment 1 fills the hole: it goes, and both held segments are released.
  res = r.burst({&pk[i1]}, {i1});
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  ASSERT_EQ(r.released.size(), 2u);
  std::vector<uint64_t> tokens = {r.released[0].token, r.released[1].token};
  std::sort(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens, (std::vector<uint64_t>{i2, i3}));
  for (const Release& rel : r.released) {
    EXPECT_EQ(rel.disposition, Disposition::kForward);
    EXPECT_EQ(rel.reason, Reason::kNone);
  }
  EXPECT_EQ(r.worker.reassembly_counters().segments_out_of_order, 2u);
  // A later burst does not list them again.
  res = r.burst({&pk[i1 + 2]}, {i1 + 2});
  EXPECT_TRUE(r.released.empty());
}

TEST(WorkerTest, OutOfOrderSegmentOfLocalFlowIsNotHeld) {
  TcpSessionConfig cfg = session_config(80);
  cfg.mss = 100;
  cfg.server_ip = test::Ipv4Addr{{10, 1, 0, 9}};  // cn: not an export
  TcpSession s(cfg);
  s.handshake().client_send(std::string(200, 'a'));
  const auto& pk = s.packets();
  Runner r(zone_policy());
  r.burst({&pk[0], &pk[1], &pk[2]}, {0, 1, 2});
  const auto res = r.burst({&pk[s.segments()[1].packet_index]}, {9});
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  EXPECT_EQ(r.worker.counters().flows_inspected, 0u);
}

TEST(WorkerTest, SameFiveTupleOnTwoVlansIsTwoFlows) {
  TcpSessionConfig a = session_config(80);
  a.vlans = {10};
  TcpSessionConfig b = a;
  b.vlans = {20};
  TcpSession sa(a);
  TcpSession sb(b);
  sa.handshake().client_send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n");
  sb.handshake()
      .client_send("GET /b HTTP/1.1\r\nHost: b.example\r\n\r\n")
      .client_send("GET /c HTTP/1.1\r\nHost: b.example\r\n\r\n");
  Runner r(zone_policy());
  // Interleaved: each packet of one, then of the other.
  std::vector<CapturedPacket> mixed;
  for (size_t i = 0; i < std::max(sa.packets().size(), sb.packets().size()); ++i) {
    if (i < sa.packets().size()) mixed.push_back(sa.packets()[i]);
    if (i < sb.packets().size()) mixed.push_back(sb.packets()[i]);
  }
  r.run_all(mixed);
  EXPECT_EQ(r.worker.active_flows(), 2u);
  std::map<uint16_t, std::vector<std::string>> urls;
  for (const Event& e : of_type(r.drain_events(), EventType::kHttp)) {
    EXPECT_EQ(e.vlan_count, 1);
    urls[e.vlan[0]].emplace_back(e.http.url.view());
  }
  EXPECT_EQ(urls[10], (std::vector<std::string>{"/a"}));
  EXPECT_EQ(urls[20], (std::vector<std::string>{"/b", "/c"}));
  r.worker.finish(kT0 + 10'000'000'000);
  std::map<uint16_t, uint64_t> pkts;
  for (const Event& e : of_type(r.drain_events(), EventType::kFlow)) {
    pkts[e.vlan[0]] = e.flow.pkts_toserver + e.flow.pkts_toclient;
  }
  EXPECT_EQ(pkts[10], sa.packets().size());
  EXPECT_EQ(pkts[20], sb.packets().size());
}

TEST(WorkerTest, FinishEndsAllFlows) {
  Runner r(zone_policy());
  std::vector<CapturedPacket> pkts;
  for (uint16_t i = 0; i < 5; ++i) {
    TcpSessionConfig c = session_config(443);
    c.client_port = static_cast<uint16_t>(41000 + i);
    TcpSession s(c);
    s.handshake();
    for (auto& p : s.take_packets()) pkts.push_back(std::move(p));
  }
  r.run_all(pkts);
  EXPECT_EQ(r.worker.active_flows(), 5u);
  r.worker.finish(kT0 + 1'000'000'000);
  EXPECT_EQ(r.worker.active_flows(), 0u);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 5u);
  for (const Event& e : flows) {
    EXPECT_EQ(e.flow.reason, FlowEndReason::kShutdown);
    EXPECT_EQ(e.flow.pkts_toserver, 2u);
    EXPECT_EQ(e.flow.pkts_toclient, 1u);
    EXPECT_EQ(e.flow.tcp_state, static_cast<uint8_t>(TcpState::kEstablished));
  }
  EXPECT_EQ(r.worker.counters().flows_ended, 5u);
  EXPECT_EQ(r.worker.counters().flows_by_action[static_cast<int>(Action::kAllow)], 5u);
}

TEST(WorkerTest, ResetEndsTheFlowAtOnce) {
  TcpSession s(session_config(80));
  s.handshake().reset(Direction::kServerToClient);
  Runner r(zone_policy());
  r.run_all(s.packets());
  EXPECT_EQ(r.worker.active_flows(), 0u);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.reason, FlowEndReason::kClosed);
  EXPECT_EQ(flows[0].flow.pkts_toclient, 2u);  // SYN-ACK and RST
}

// A RST the verdict drops reaches no endpoint: it ends neither the
// connection nor the block (found by fuzz_worker_content). Before, the flow
// ended at the RST and the rest of the connection came back as a new flow,
// judged afresh at mid-stream, where no Host header names the blocked server.
TEST(WorkerTest, ARstTheBlockDropsEndsNeitherTheFlowNorTheBlock) {
  PolicySpec spec = zone_policy();
  RuleSpec r;
  r.name = "block-host";
  r.match.server_name_suffixes = {"blocked.example"};
  r.verdict.action = Action::kBlock;
  spec.rules = {r};
  TcpSession s(session_config(80));
  s.handshake().client_send("POST /up HTTP/1.1\r\nHost: blocked.example\r\nContent-Length: 20\r\n\r\n");
  const size_t request = s.packets().size() - 1;
  s.reset(Direction::kClientToServer);
  const size_t rst = s.packets().size() - 1;
  s.client_send("the rest of the body");
  Runner run(std::move(spec));
  const auto res = run.run_all(s.packets());
  ASSERT_EQ(res.size(), s.packets().size());
  EXPECT_EQ(res[request].verdict.action, Action::kBlock);
  EXPECT_EQ(res[rst].disposition, Disposition::kDrop);
  EXPECT_EQ(res.back().disposition, Disposition::kDrop) << "the connection goes on: so does its block";
  EXPECT_EQ(res.back().verdict.action, Action::kBlock);
  EXPECT_EQ(run.worker.active_flows(), 1u);
  EXPECT_EQ(run.worker.counters().flows_created, 1u);
}

TEST(WorkerTest, IdleFlowTimesOut) {
  PolicySpec spec = zone_policy();
  spec.limits.tcp_syn_timeout_s = 5;
  TcpSession s(session_config(80));
  s.handshake();
  const auto& pk = s.packets();
  Runner r(std::move(spec));
  r.burst({&pk[0]}, {0});  // a SYN only: the short timeout applies
  EXPECT_EQ(r.worker.active_flows(), 1u);
  r.worker.advance_time(kT0 + 5'000'000'000);
  EXPECT_EQ(r.worker.active_flows(), 1u);  // exactly the timeout: not yet
  r.worker.advance_time(kT0 + 5'000'000'001);
  EXPECT_EQ(r.worker.active_flows(), 0u);
  EXPECT_EQ(r.worker.counters().flows_timed_out, 1u);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.reason, FlowEndReason::kTimeout);
}

TEST(WorkerTest, MalformedAndNonIpPackets) {
  Runner r(zone_policy());
  Bytes arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  Bytes cut = test::PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").tcp(1, 2).build();
  cut.resize(40);
  std::vector<CapturedPacket> pkts = {{static_cast<uint64_t>(kT0), arp}, {static_cast<uint64_t>(kT0), cut}};
  const auto res = r.run_all(pkts);
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  EXPECT_EQ(res[1].disposition, Disposition::kDrop);
  EXPECT_EQ(res[1].reason, Reason::kTcpTruncated);
  EXPECT_EQ(r.worker.counters().non_ip, 1u);
  EXPECT_EQ(r.worker.counters().reasons[static_cast<uint32_t>(Reason::kTcpTruncated)], 1u);
  EXPECT_EQ(r.worker.active_flows(), 0u);
}

TEST(WorkerTest, FragmentedDatagramIsJudgedWhole) {
  const Bytes q = test::dns_query(7, "frag.example.cn");
  const Bytes whole =
      test::PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").ip_id(99).udp(53001, 53).payload(q).build();
  const uint32_t cuts[] = {16};
  const auto frags = test::fragment_ipv4(whole, cuts);
  ASSERT_EQ(frags.size(), 2u);
  std::vector<CapturedPacket> pkts = {{static_cast<uint64_t>(kT0), frags[0]},
                                      {static_cast<uint64_t>(kT0), frags[1]}};
  Runner r(zone_policy());
  auto res = r.burst({&pkts[0]}, {10});
  EXPECT_EQ(res[0].disposition, Disposition::kHold);
  res = r.burst({&pkts[1]}, {11});
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  ASSERT_EQ(r.released.size(), 1u);
  EXPECT_EQ(r.released[0].token, 10u);
  EXPECT_EQ(r.released[0].disposition, Disposition::kForward);
  const auto dns = of_type(r.drain_events(), EventType::kDns);
  ASSERT_EQ(dns.size(), 1u);
  EXPECT_EQ(dns[0].dns.rrname.view(), "frag.example.cn");
}

TEST(WorkerTest, IncompleteDatagramDroppedAtTimeout) {
  PolicySpec spec = zone_policy();
  spec.limits.defrag_timeout_ms = 100;
  const Bytes whole = test::PacketBuilder()
                          .eth()
                          .ipv4("10.60.0.1", "8.8.8.8")
                          .ip_id(5)
                          .udp(1, 2)
                          .payload(std::string(64, 'x'))
                          .build();
  const uint32_t cuts[] = {32};
  const auto frags = test::fragment_ipv4(whole, cuts);
  std::vector<CapturedPacket> pkts = {{static_cast<uint64_t>(kT0), frags[0]}};
  Runner r(std::move(spec));
  r.run_all(pkts, 42);
  r.worker.advance_time(kT0 + 100'000'001);
  // advance_time() lists what it released (a new list, like a burst).
  const auto rel = r.worker.released();
  ASSERT_EQ(rel.size(), 1u);
  EXPECT_EQ(rel[0].token, 42u);
  EXPECT_EQ(rel[0].disposition, Disposition::kDrop);
  EXPECT_EQ(rel[0].reason, Reason::kFragTimeout);
}

TEST(WorkerTest, AckBeyondHoleSkipsGapAndReleasesHeld) {
  TcpSessionConfig cfg = session_config(80);
  cfg.mss = 100;
  TcpSession s(cfg);
  s.handshake().client_send(std::string(300, 'a'));
  const auto& pk = s.packets();
  const auto& segs = s.segments();
  const size_t i2 = segs[1].packet_index;
  const size_t ack = i2 + 1;  // the server acknowledges segments 1 and 2
  ASSERT_EQ(direction_of(pk[ack], cfg), 1);
  Runner r(zone_policy());
  r.burst({&pk[0], &pk[1], &pk[2]}, {0, 1, 2});
  // Segment 1 never reaches this appliance (another path); 2 is held.
  auto res = r.burst({&pk[i2]}, {i2});
  EXPECT_EQ(res[0].disposition, Disposition::kHold);
  // The receiver got segment 1 anyway: its ACK skips the hole as a gap.
  res = r.burst({&pk[ack]}, {ack});
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  ASSERT_EQ(r.released.size(), 1u);
  EXPECT_EQ(r.released[0].token, i2);
  EXPECT_EQ(r.released[0].disposition, Disposition::kForward);
  EXPECT_EQ(r.worker.reassembly_counters().gaps, 1u);
  EXPECT_EQ(r.worker.reassembly_counters().gap_bytes, 100u);
  r.worker.finish(kT0 + 1'000'000'000);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.gaps, 1u);
}

TEST(WorkerTest, FullFlowTableFailsClosedThenEvictsIdleFlow) {
  PolicySpec spec = zone_policy();
  spec.limits.flow_table_size = 4;
  spec.limits.flow_evict_min_idle_ms = 1000;
  spec.limits.default_fail_mode = FailMode::kClosed;
  Runner r(std::move(spec));
  std::vector<CapturedPacket> syns;
  for (uint16_t i = 0; i < 6; ++i) {
    TcpSessionConfig c = session_config(443);
    c.client_port = static_cast<uint16_t>(42000 + i);
    c.start_ns = static_cast<uint64_t>(kT0) + (i < 5 ? i : 2'000'000'000ull);
    TcpSession s(c);
    s.handshake();
    syns.push_back(s.packets()[0]);
  }
  auto res = r.burst({&syns[0], &syns[1], &syns[2], &syns[3], &syns[4]}, {0, 1, 2, 3, 4});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(res[i].disposition, Disposition::kForward) << i;
  // No record free and no flow idle for a second: untracked, fail-closed.
  EXPECT_EQ(res[4].disposition, Disposition::kDrop);
  EXPECT_EQ(res[4].reason, Reason::kFailClosed);
  EXPECT_EQ(r.worker.counters().reasons[static_cast<uint32_t>(Reason::kFlowTableFull)], 1u);
  EXPECT_EQ(r.worker.counters().flows_untracked, 1u);
  // Two seconds later every flow is idle: the least recently seen one goes.
  res = r.burst({&syns[5]}, {5});
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  EXPECT_EQ(r.worker.counters().flows_evicted, 1u);
  EXPECT_EQ(r.worker.active_flows(), 4u);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.reason, FlowEndReason::kEvicted);
  EXPECT_EQ(flows[0].src_port, 42000);
}

// BUG (worker.cpp, process_one): when the fragment that completes a datagram
// carries an out-of-order TCP segment of an inspected flow, handle_tcp holds
// it, but process_one then turns kHold into kForward and releases the earlier
// fragments as kForward at once; the held entry is released a second time
// when the hole fills. Bytes reach the receiver before the hole was inspected.
TEST(WorkerTest, FragmentedOutOfOrderSegmentIsHeldWithItsFragments) {
  TcpSessionConfig cfg = session_config(80);
  cfg.mss = 100;
  TcpSession s(cfg);
  s.handshake().client_send(std::string(200, 'a'));
  const auto& pk = s.packets();
  const size_t i1 = s.segments()[0].packet_index;
  const size_t i2 = s.segments()[1].packet_index;
  const uint32_t cuts[] = {64};
  const auto frags = test::fragment_ipv4(pk[i2].frame, cuts);
  ASSERT_EQ(frags.size(), 2u);
  const CapturedPacket f0{pk[i2].ts_ns, frags[0]};
  const CapturedPacket f1{pk[i2].ts_ns, frags[1]};
  Runner r(zone_policy());
  r.burst({&pk[0], &pk[1], &pk[2]}, {0, 1, 2});
  auto res = r.burst({&f0, &f1}, {100, 101});
  EXPECT_EQ(res[0].disposition, Disposition::kHold);
  EXPECT_EQ(res[1].disposition, Disposition::kHold);
  EXPECT_TRUE(r.released.empty());
  res = r.burst({&pk[i1]}, {i1});
  EXPECT_EQ(res[0].disposition, Disposition::kForward);
  std::vector<uint64_t> tokens;
  for (const Release& rel : r.released) tokens.push_back(rel.token);
  std::sort(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens, (std::vector<uint64_t>{100, 101}));
}

// Decision::final: a flow blocked at the header stage with no rule skipped
// before the deciding one drops every packet, and nothing of it is scanned
// (nothing leaves); with a content rule before it, the header stage does not
// decide for good and the same flow is scanned (and still dropped).
TEST(WorkerTest, FlowBlockedAtHeaderForGoodIsNotScanned) {
  const Bytes frame = test::PacketBuilder()
                          .eth()
                          .ipv4("10.60.0.1", "203.0.113.5")
                          .udp(40000, 9999)
                          .payload("id=11010519491231002X\n")
                          .build();
  auto run = [&](bool content_rule_first) {
    PolicySpec s = zone_policy();
    s.signatures = {resident_id_signature()};
    s.export_default.action = Action::kBlock;  // ftz -> offshore has no default: blocked
    if (content_rule_first) {
      RuleSpec r;
      r.name = "sensitive";
      r.match.data_classes = static_cast<DataClassMask>(1u << static_cast<int>(DataClass::kSensitivePi));
      r.verdict.action = Action::kReset;
      s.rules = {r};
    }
    auto g = PolicyGeneration::build_with_signatures(std::move(s), 1);
    EXPECT_TRUE(g) << (g ? "" : g.error());
    Worker w(*g, LinkType::kEthernet);
    const PacketView v = view_of(frame, kT0, 1);
    PacketResult res;
    EXPECT_EQ(w.process_burst(std::span<const PacketView>(&v, 1), std::span<PacketResult>(&res, 1)), 1u);
    EXPECT_EQ(res.disposition, Disposition::kDrop);
    return w.counters();
  };
  const WorkerCounters decided = run(false);
  EXPECT_EQ(decided.content_flows, 0u);
  EXPECT_EQ(decided.detections, 0u);
  EXPECT_EQ(decided.reasons[static_cast<uint32_t>(Reason::kPolicyBlock)], 1u);
  const WorkerCounters open = run(true);
  EXPECT_EQ(open.content_flows, 1u);
  EXPECT_EQ(open.detections, 1u);
}

// Issue 9 goal 3 (docs/decisions/0006): hot flow state per tracked flow,
// the flow table's share included, within 256 bytes.
TEST(WorkerStreamTest, BytesPerFlowIsAtMost256) {
  std::printf("bytes per flow %zu (hot), bytes per stream slot %zu\n", Worker::bytes_per_flow(),
              Worker::bytes_per_stream());
  EXPECT_LE(Worker::bytes_per_flow(), 256u);
  EXPECT_GT(Worker::bytes_per_stream(), 0u);
  EXPECT_EQ(Worker::footprint().per_stream_flow, Worker::bytes_per_stream());
}

// A session from its own client port, `start_ns` after kT0, with a request
// and a response, closed.
TcpSession http_session(uint16_t client_port, int64_t start_ns, const char* server = "203.0.113.10") {
  TcpSessionConfig c = session_config(80);
  c.client_port = client_port;
  c.start_ns = static_cast<uint64_t>(start_ns);
  c.server_ip = test::Ipv4Addr::parse(server);
  TcpSession s(c);
  s.handshake()
      .client_send("POST /u HTTP/1.1\r\nHost: up.example.com\r\nContent-Length: 5\r\n\r\nhello")
      .server_send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      .close();
  return s;
}

// An export that needs a Stream slot and finds none is not passed
// uninspected: uninspectable (resource), counted, and its pair's fail mode
// decides (closed: dropped; open: forwarded, flagged in its record).
TEST(WorkerStreamTest, StreamPoolFullFailsClosed) {
  for (const FailMode mode : {FailMode::kClosed, FailMode::kOpen}) {
    PolicySpec spec = zone_policy();
    spec.limits.stream_max_flows = 1;
    spec.limits.default_fail_mode = mode;
    Runner r(spec);
    ASSERT_EQ(r.worker.stream_capacity(), 1u);
    const TcpSession first = http_session(40001, kT0);
    const TcpSession second = http_session(40002, kT0 + 1'000'000);
    // Interleaved: the first flow holds the only slot while the second starts.
    std::vector<CapturedPacket> pkts;
    for (size_t i = 0; i < std::max(first.packets().size(), second.packets().size()); ++i) {
      if (i < first.packets().size()) pkts.push_back(first.packets()[i]);
      if (i < second.packets().size()) pkts.push_back(second.packets()[i]);
    }
    const auto res = r.run_all(pkts);
    const WorkerCounters& c = r.worker.counters();
    EXPECT_EQ(c.stream_flows, 1u);
    EXPECT_EQ(c.stream_pool_exhausted, 1u);
    EXPECT_EQ(c.uninspectable_by_reason[static_cast<int>(UninspectableReason::kResource)], 1u);
    // The second flow's request (its 4th packet: SYN, SYN-ACK, ACK, request).
    const size_t request = 2 * 3 + 1;
    ASSERT_LT(request, res.size());
    if (mode == FailMode::kClosed) {
      EXPECT_EQ(res[request].disposition, Disposition::kDrop);
      EXPECT_EQ(res[request].reason, Reason::kUninspectableFailClosed);
      EXPECT_EQ(c.fail_closed_flows, 1u);
    } else {
      EXPECT_EQ(res[request].disposition, Disposition::kForward);
      EXPECT_EQ(c.fail_closed_flows, 0u);
    }
    // The first flow was reassembled and parsed: its request is an event.
    auto events = r.drain_events();
    const auto http = of_type(events, EventType::kHttp);
    ASSERT_EQ(http.size(), 1u);
    EXPECT_EQ(http[0].src_port, 40001);
    r.worker.finish(kT0 + 60'000'000'000);
    const auto rest = r.drain_events();
    events.insert(events.end(), rest.begin(), rest.end());
    bool flagged = false;
    for (const Event& e : of_type(events, EventType::kFlow)) {
      if (e.src_port == 40002)
        flagged = (e.flow.detections.uninspectable & uninspectable_bit(UninspectableReason::kResource)) != 0;
    }
    EXPECT_TRUE(flagged) << "the refused flow's record says why it was not inspected";
    EXPECT_EQ(r.worker.streams_in_use(), 0u);
  }
}

// A flow the header stage decided for good (a rule on zones before any app
// or content rule) takes no Stream slot when header_decided_metadata is off,
// and its state machine still closes it; by default it takes a spare one for
// its app events; the same flow behind a rule that needs its Host takes one.
TEST(WorkerStreamTest, HeaderDecidedFlowsTakeNoStreamSlot) {
  RuleSpec domestic;
  domestic.name = "domestic";
  domestic.match.dst_zones = {kZoneCn};
  domestic.verdict.action = Action::kAllow;
  RuleSpec by_name;
  by_name.name = "by-name";
  by_name.match.server_name_suffixes = {"blocked.example"};
  by_name.verdict.action = Action::kBlock;
  const TcpSession to_cn = http_session(40001, kT0, "10.1.2.3");  // FTZ -> domestic: no export

  PolicySpec decided = zone_policy();
  decided.rules = {domestic, by_name};
  decided.limits.header_decided_metadata = false;
  Runner a(decided);
  for (const PacketResult& p : a.run_all(to_cn.packets())) EXPECT_EQ(p.disposition, Disposition::kForward);
  EXPECT_EQ(a.worker.counters().stream_flows, 0u);
  EXPECT_EQ(a.worker.streams_in_use(), 0u);
  const auto events = a.drain_events();
  EXPECT_TRUE(of_type(events, EventType::kHttp).empty()) << "not reassembled, not parsed";
  const auto flows = of_type(events, EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.tcp_state, static_cast<uint8_t>(TcpState::kClosed));
  EXPECT_EQ(flows[0].flow.reason, FlowEndReason::kClosed);
  EXPECT_EQ(flows[0].rule, 0u);
  EXPECT_EQ(a.worker.counters().stream_metadata_skipped, 1u);

  // Default: a spare slot (more than half of the pool free) for its events.
  PolicySpec spare = decided;
  spare.limits.header_decided_metadata = true;
  Runner m(spare);
  m.run_all(to_cn.packets());
  EXPECT_EQ(m.worker.counters().stream_flows, 1u);
  EXPECT_EQ(of_type(m.drain_events(), EventType::kHttp).size(), 1u);
  EXPECT_EQ(m.worker.counters().stream_metadata_skipped, 0u);

  PolicySpec open = zone_policy();
  open.rules = {by_name, domestic};
  Runner b(open);
  for (const PacketResult& p : b.run_all(to_cn.packets())) EXPECT_EQ(p.disposition, Disposition::kForward);
  EXPECT_EQ(b.worker.counters().stream_flows, 1u);
  const auto http = of_type(b.drain_events(), EventType::kHttp);
  ASSERT_EQ(http.size(), 1u);
  EXPECT_EQ(http[0].http.hostname.view(), "up.example.com");
  EXPECT_EQ(b.worker.streams_in_use(), 1u) << "kept while the closed flow lingers";
  b.worker.finish(kT0 + 60'000'000'000);
  EXPECT_EQ(b.worker.streams_in_use(), 0u);
}

TEST(WorkerStreamTest, BlockedAtHeaderTakesNoStreamSlot) {
  PolicySpec spec = zone_policy();
  spec.export_default.action = Action::kBlock;  // ftz -> offshore: blocked, final
  spec.limits.header_decided_metadata = false;
  Runner r(spec);
  const TcpSession s = http_session(40001, kT0);
  const auto res = r.run_all(s.packets());
  for (const PacketResult& p : res) EXPECT_EQ(p.disposition, Disposition::kDrop);
  EXPECT_EQ(r.worker.counters().stream_flows, 0u);
  EXPECT_EQ(r.worker.streams_in_use(), 0u);
  const auto flows = of_type(r.drain_events(), EventType::kFlow);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].flow.tcp_state, static_cast<uint8_t>(TcpState::kClosed));
}

// Header-decided flows take spare slots only while more than half of the
// pool is free: the other half stays for flows whose verdict needs one.
TEST(WorkerStreamTest, HeaderDecidedFlowsLeaveHalfThePool) {
  PolicySpec spec = zone_policy();
  RuleSpec domestic;
  domestic.name = "domestic";
  domestic.match.dst_zones = {kZoneCn};
  domestic.verdict.action = Action::kAllow;
  spec.rules = {domestic};
  spec.limits.stream_max_flows = 8;
  Runner r(spec);
  std::vector<CapturedPacket> pkts;
  std::vector<TcpSession> sessions;
  for (uint16_t i = 0; i < 8; ++i)
    sessions.push_back(http_session(static_cast<uint16_t>(30000 + i), kT0, "10.1.2.3"));
  // Interleaved so that all eight are open at once.
  for (size_t k = 0; k < sessions[0].packets().size(); ++k) {
    for (const TcpSession& t : sessions) {
      if (k < t.packets().size()) pkts.push_back(t.packets()[k]);
    }
  }
  r.run_all(pkts);
  EXPECT_EQ(r.worker.counters().stream_flows, 4u);
  EXPECT_EQ(r.worker.counters().stream_metadata_skipped, 4u);
  EXPECT_EQ(r.worker.counters().stream_pool_exhausted, 0u);
  // An export arriving now still finds a slot.
  const TcpSession exp = http_session(40009, kT0 + 1'000'000'000);
  for (const PacketResult& p : r.run_all(exp.packets(), 1000))
    EXPECT_EQ(p.disposition, Disposition::kForward);
  EXPECT_EQ(r.worker.counters().stream_flows, 5u);
  EXPECT_EQ(r.worker.counters().stream_pool_exhausted, 0u);
}

// Slots go back when flows end (closed flows at their timeout, open ones
// when they time out or at finish()): many more flows than slots, none
// refused, none left in use.
TEST(WorkerStreamTest, StreamSlotsReturnAtEndAndExpiry) {
  PolicySpec spec = zone_policy();
  spec.limits.stream_max_flows = 4;
  Runner r(spec);
  constexpr int kFlows = 200;
  for (int i = 0; i < kFlows; ++i) {
    // 20 s apart: each closed flow has passed tcp_closed_timeout_s (10 s)
    // when the next one starts.
    const TcpSession s = http_session(static_cast<uint16_t>(20000 + i), kT0 + int64_t{i} * 20'000'000'000);
    const auto res = r.run_all(s.packets(), static_cast<uint64_t>(i) * 100);
    for (const PacketResult& p : res) EXPECT_EQ(p.disposition, Disposition::kForward);
    EXPECT_LE(r.worker.streams_in_use(), 2u);
    r.drain_events();
  }
  // One flow left open (no FIN): it returns its slot at its timeout.
  TcpSessionConfig c = session_config(80);
  c.client_port = 19999;
  c.start_ns = static_cast<uint64_t>(kT0 + int64_t{kFlows} * 20'000'000'000);
  TcpSession open(c);
  open.handshake().client_send("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
  r.run_all(open.packets(), 1'000'000);
  EXPECT_GE(r.worker.streams_in_use(), 1u);
  r.worker.advance_time(static_cast<int64_t>(open.now_ns()) + 4000LL * 1'000'000'000);
  r.drain_events();
  EXPECT_EQ(r.worker.streams_in_use(), 0u);
  EXPECT_EQ(r.worker.counters().stream_flows, kFlows + 1u);
  EXPECT_EQ(r.worker.counters().stream_pool_exhausted, 0u);
  EXPECT_EQ(r.worker.counters().flows_timed_out, kFlows + 1u);
}

}  // namespace
}  // namespace ftz::engine
