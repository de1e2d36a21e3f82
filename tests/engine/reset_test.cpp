// TCP resets for the `reset` verdict, checked by parsing them back and by an
// independent checksum implementation (ftz_test_support).
#include "ftz/engine/reset.hpp"

#include <gtest/gtest.h>

#include "ftz/engine/parser.hpp"
#include "ftz/test/checksum.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::engine {
namespace {

using test::PacketBuilder;

struct Built {
  test::Bytes frame;
  ParsedPacket parsed;
};

Built trigger(bool v6, bool vlan) {
  PacketBuilder b;
  b.eth();
  if (vlan) b.vlan(3001);
  if (v6) {
    b.ipv6("2001:db8::60:9:23", "2001:db8::203:0:113:30");
  } else {
    b.ipv4("10.60.9.23", "203.0.113.30");
  }
  b.tcp(41000, 80, test::kTcpAck | test::kTcpPsh, 1000, 5000).payload("110105194912310021,bulk");
  Built out{b.build(), {}};
  EXPECT_EQ(
      parse_packet(LinkType::kEthernet, out.frame.data(), static_cast<uint32_t>(out.frame.size()), out.parsed)
          .status,
      ParseStatus::kOk);
  return out;
}

class Resets : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(Resets, BothDirectionsParseBackWithTheRightSequenceNumbers) {
  const auto [v6, vlan] = GetParam();
  const Built t = trigger(v6, vlan);
  ResetFrame frames[2];
  ASSERT_EQ(build_resets(t.frame.data(), static_cast<uint32_t>(t.frame.size()), t.parsed, frames), 2u);

  ParsedPacket fwd;
  ASSERT_EQ(parse_packet(LinkType::kEthernet, frames[0].bytes.data(), frames[0].len, fwd).status,
            ParseStatus::kOk);
  EXPECT_FALSE(frames[0].to_packet_source);
  EXPECT_EQ(fwd.src, t.parsed.src);
  EXPECT_EQ(fwd.dst, t.parsed.dst);
  EXPECT_EQ(fwd.src_port, 41000);
  EXPECT_EQ(fwd.dst_port, 80);
  EXPECT_EQ(fwd.tcp_flags, tcp_flag::kRst);
  EXPECT_EQ(fwd.seq, 1000u);  // the dropped segment's first byte
  EXPECT_EQ(fwd.payload_len, 0u);
  EXPECT_EQ(fwd.vlan_count, vlan ? 1 : 0);
  if (vlan) {
    EXPECT_EQ(fwd.vlan[0], 3001);
  }

  ParsedPacket back;
  ASSERT_EQ(parse_packet(LinkType::kEthernet, frames[1].bytes.data(), frames[1].len, back).status,
            ParseStatus::kOk);
  EXPECT_TRUE(frames[1].to_packet_source);
  EXPECT_EQ(back.src, t.parsed.dst);
  EXPECT_EQ(back.dst, t.parsed.src);
  EXPECT_EQ(back.src_port, 80);
  EXPECT_EQ(back.dst_port, 41000);
  EXPECT_EQ(back.tcp_flags, tcp_flag::kRst | tcp_flag::kAck);
  EXPECT_EQ(back.seq, 5000u);
  EXPECT_EQ(back.ack, 1000u + t.parsed.payload_len);
  // MACs swapped towards the source.
  EXPECT_TRUE(std::equal(frames[1].bytes.begin(), frames[1].bytes.begin() + 6, t.frame.begin() + 6));
  EXPECT_TRUE(std::equal(frames[1].bytes.begin() + 6, frames[1].bytes.begin() + 12, t.frame.begin()));

  // Checksums verify with an independent implementation: summing a header
  // including its checksum field gives zero.
  for (const ResetFrame& f : frames) {
    const uint32_t l3 = t.parsed.l3_offset;
    const std::span<const uint8_t> all(f.bytes.data(), f.len);
    if (!v6) {
      EXPECT_EQ(test::internet_checksum(all.subspan(l3, 20)), 0);
    }
    const uint32_t ip_len = v6 ? 40 : 20;
    const auto tcp = all.subspan(l3 + ip_len, 20);
    const auto src =
        v6 ? test::IpAddr(
                 test::Ipv6Addr::parse(f.to_packet_source ? "2001:db8::203:0:113:30" : "2001:db8::60:9:23"))
           : test::IpAddr(test::Ipv4Addr::parse(f.to_packet_source ? "203.0.113.30" : "10.60.9.23"));
    const auto dst =
        v6 ? test::IpAddr(
                 test::Ipv6Addr::parse(f.to_packet_source ? "2001:db8::60:9:23" : "2001:db8::203:0:113:30"))
           : test::IpAddr(test::Ipv4Addr::parse(f.to_packet_source ? "10.60.9.23" : "203.0.113.30"));
    EXPECT_EQ(test::l4_checksum(src, dst, 6, tcp), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Engine, Resets, ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(Resets, NothingForUdpOrOtherLinkTypes) {
  const test::Bytes udp =
      PacketBuilder().eth().ipv4("10.60.9.23", "203.0.113.30").udp(5353, 53).payload("x").build();
  ParsedPacket p;
  ASSERT_EQ(parse_packet(LinkType::kEthernet, udp.data(), static_cast<uint32_t>(udp.size()), p).status,
            ParseStatus::kOk);
  ResetFrame frames[2];
  EXPECT_EQ(build_resets(udp.data(), static_cast<uint32_t>(udp.size()), p, frames), 0u);
}

}  // namespace
}  // namespace ftz::engine
