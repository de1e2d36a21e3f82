// ftzgate-dp as an operator runs it, on virtual devices: byte-exact actions,
// channel return traffic, reload under load, start-up errors, telemetry.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "dp_runner.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "ftz/test/tcp_session.hpp"

namespace ftz::dptest {
namespace {

using test::Bytes;
using test::Direction;

// Header-stage rules by destination port: each action on its own flow.
constexpr const char* kActionsConfig = R"(zones:
  - name: inside
    kind: ftz
    prefixes: [10.0.0.0/8]
  - name: offshore
    kind: offshore
    default: true
rules:
  - name: to-channel
    match: {dst_zone: offshore, dst_port: 8001}
    action: route
    channel: intl
  - name: blocked
    match: {dst_zone: offshore, dst_port: 8002}
    action: block
  - name: reset
    match: {dst_zone: offshore, dst_port: 8003}
    action: reset
  - name: mirrored
    match: {dst_zone: offshore, dst_port: 8004}
    action: allow
    mirror: true
defaults:
  - src_zone: inside
    dst_zone: offshore
    action: allow
channels:
  - name: intl
    egress_role: channel
    vlan: 3001
    next_hop_mac: "02:00:5e:00:30:01"
)";

const std::array<uint8_t, 6> kNextHop{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01};

std::vector<test::CapturedPacket> session(uint16_t port, uint64_t start_ns) {
  test::TcpSessionConfig c;
  c.client_ip = test::Ipv4Addr{{10, 0, 0, 1}};
  c.server_ip = test::Ipv4Addr{{203, 0, 113, 10}};
  c.client_port = static_cast<uint16_t>(40000 + port % 100);
  c.server_port = port;
  c.start_ns = start_ns;
  test::TcpSession s(c);
  s.handshake().client_send("GET / HTTP/1.1\r\nHost: x\r\n\r\n").server_send("HTTP/1.1 200 OK\r\n\r\n").close();
  return s.take_packets();
}

std::vector<Bytes> frames_of(const std::string& pcap) {
  auto f = test::read_pcap(pcap);
  EXPECT_TRUE(f) << pcap << ": " << (f ? "" : f.error());
  std::vector<Bytes> out;
  if (f) {
    for (auto& r : f->records) out.push_back(std::move(r.data));
  }
  return out;
}

// The route rewrite, written independently of the data plane: an 802.1Q tag
// after the MACs, the next hop as destination.
Bytes routed(Bytes f, uint16_t vlan) {
  const uint8_t tag[4] = {0x81, 0x00, static_cast<uint8_t>(vlan >> 8), static_cast<uint8_t>(vlan)};
  f.insert(f.begin() + 12, tag, tag + 4);
  std::copy(kNextHop.begin(), kNextHop.end(), f.begin());
  return f;
}

uint8_t tcp_flags(const Bytes& f) { return f[14 + 20 + 13]; }  // untagged IPv4 without options
uint16_t tcp_src_port(const Bytes& f) { return static_cast<uint16_t>((f[34] << 8) | f[35]); }
uint16_t tcp_dst_port(const Bytes& f) { return static_cast<uint16_t>((f[36] << 8) | f[37]); }

TEST(DpActions, EachActionGivesByteExactFramesOnItsPortAndCounts) {
  TempDir dir;
  std::ofstream(dir.file("actions.yaml")) << kActionsConfig;
  std::map<uint16_t, std::vector<test::CapturedPacket>> flows;
  {
    auto w = test::PcapWriter::open(dir.file("in.pcap"), test::TimestampPrecision::kNano);
    ASSERT_TRUE(w);
    uint64_t t = 1'772'413'200'000'000'000ull;
    for (uint16_t port : {8001, 8002, 8003, 8004, 8005}) {
      flows[port] = session(port, t);
      for (const auto& p : flows[port]) w->write(p.ts_ns, p.frame);
      t += 1'000'000'000;
    }
    ASSERT_TRUE(w->close());
  }
  const RunResult r = run_dp("--config " + dir.file("actions.yaml") + " --pcap-in " + dir.file("in.pcap") +
                             " --pcap-out " + dir.file("out") + " --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;

  // Route: every frame of the flow leaves on the channel port, tagged and
  // addressed to the next hop (a replay enters all frames on the inside port).
  std::vector<Bytes> want_channel;
  for (const auto& p : flows[8001]) want_channel.push_back(routed(p.frame, 3001));
  EXPECT_EQ(frames_of(dir.file("out/channel.pcap")), want_channel);

  // Mirror: copies as received; forward: L2 untouched on the paired port.
  std::vector<Bytes> want_mirror;
  for (const auto& p : flows[8004]) want_mirror.push_back(p.frame);
  EXPECT_EQ(frames_of(dir.file("out/mirror.pcap")), want_mirror);

  // Reset: the SYN is dropped; one RST towards the server on the outside
  // port, one RST|ACK towards the client back out of the inside port.
  std::vector<Bytes> outside = frames_of(dir.file("out/outside.pcap"));
  std::vector<Bytes> resets_out;
  std::vector<Bytes> forwarded;
  for (const Bytes& f : outside) (tcp_dst_port(f) == 8003 ? resets_out : forwarded).push_back(f);
  std::vector<Bytes> want_forwarded = want_mirror;
  for (const auto& p : flows[8005]) want_forwarded.push_back(p.frame);
  EXPECT_EQ(forwarded, want_forwarded);
  ASSERT_EQ(resets_out.size(), 1u);
  EXPECT_TRUE(tcp_flags(resets_out[0]) & test::kTcpRst);
  const std::vector<Bytes> inside = frames_of(dir.file("out/inside.pcap"));
  ASSERT_EQ(inside.size(), 1u);
  EXPECT_TRUE(tcp_flags(inside[0]) & test::kTcpRst);
  EXPECT_EQ(tcp_src_port(inside[0]), 8003);

  const nlohmann::json s = read_json(dir.file("stats.json"));
  const nlohmann::json& path = s["workers"][0]["path"];
  EXPECT_EQ(path["routed"], flows[8001].size());
  EXPECT_EQ(path["mirrored"], flows[8004].size());
  EXPECT_EQ(path["resets_sent"], 2);
  EXPECT_EQ(path["tx_dropped"], 0);
  const nlohmann::json& reasons = s["workers"][0]["reasons"];
  EXPECT_EQ(reasons["policy_block"], flows[8002].size());
  EXPECT_EQ(reasons["policy_reset"], flows[8003].size());
  uint64_t total = 0;
  for (const auto& [port, pkts] : flows) total += pkts.size();
  EXPECT_EQ(s["ports"][0]["rx_packets"], total);
  EXPECT_EQ(s["workers"][0]["forwarded"], flows[8001].size() + flows[8004].size() + flows[8005].size());
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["block"], 1);
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["reset"], 1);
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["route"], 1);
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["allow"], 2);
}

}  // namespace
}  // namespace ftz::dptest
