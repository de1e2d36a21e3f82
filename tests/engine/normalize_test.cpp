// Checksums, payload trimming (normalize.hpp) and the route action's layer-2
// rewrite (channel.hpp), verified with the test
// support's own RFC 1071 implementation and packet builder: the engine's
// checksum code and the fixtures cannot share a bug.
#include "ftz/engine/normalize.hpp"

#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <random>
#include <string>

#include "ftz/engine/channel.hpp"
#include "ftz/engine/parser.hpp"
#include "ftz/test/checksum.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::engine {
namespace {

using test::PacketBuilder;

ParsedPacket parse(LinkType link, const test::Bytes& f) {
  ParsedPacket p;
  EXPECT_EQ(parse_packet(link, f.data(), static_cast<uint32_t>(f.size()), p).status, ParseStatus::kOk);
  return p;
}

// The rewritten frame's L4 checksum, recomputed independently.
bool l4_ok(LinkType link, const test::Bytes& frame) {
  const ParsedPacket p = parse(link, frame);
  if (p.l4 == nullptr || p.l4_len < 20) return false;
  test::Bytes seg(p.l4, p.l4 + p.l4_len);
  const uint16_t field = static_cast<uint16_t>((seg.at(16) << 8) | seg.at(17));
  seg[16] = seg[17] = 0;
  test::IpAddr src;
  test::IpAddr dst;
  if (p.ip_version == 4) {
    src = test::Ipv4Addr{{p.src.bytes[12], p.src.bytes[13], p.src.bytes[14], p.src.bytes[15]}};
    dst = test::Ipv4Addr{{p.dst.bytes[12], p.dst.bytes[13], p.dst.bytes[14], p.dst.bytes[15]}};
  } else {
    test::Ipv6Addr s6;
    test::Ipv6Addr d6;
    std::copy(p.src.bytes.begin(), p.src.bytes.end(), s6.octets.begin());
    std::copy(p.dst.bytes.begin(), p.dst.bytes.end(), d6.octets.begin());
    src = s6;
    dst = d6;
  }
  return test::l4_checksum(src, dst, 6, seg) == field;
}

test::Bytes segment_v4(std::string_view payload, uint8_t flags = test::kTcpAck | test::kTcpPsh) {
  return PacketBuilder()
      .eth()
      .ipv4("10.60.0.1", "203.0.113.10")
      .tcp(40000, 80, flags, 1000, 5000)
      .payload(payload)
      .build();
}

// The word-at-a-time sum against RFC 1071 done byte pair by byte pair: every
// length 0..300 (odd ones and tails of 1-3 bytes), random and all-ones data
// (sums that fold to 0xffff), any starting sum.
TEST(NormalizeTest, ChecksumSumMatchesTheReferenceForEveryLengthAndContent) {
  std::mt19937 rng(7);
  for (uint32_t len = 0; len <= 300; ++len) {
    for (int fill = 0; fill < 3; ++fill) {
      test::Bytes data(len);
      for (auto& b : data) b = fill == 0 ? static_cast<uint8_t>(rng()) : fill == 1 ? 0xff : 0x00;
      EXPECT_EQ(checksum_finish(checksum_add(data.data(), len, 0)), test::internet_checksum(data))
          << len << " " << fill;
      // A running sum goes on: the pseudo-header, then the segment.
      test::Bytes joined = {0x12, 0x34, 0xab, 0xcd};
      joined.insert(joined.end(), data.begin(), data.end());
      EXPECT_EQ(checksum_finish(checksum_add(data.data(), len, 0x1234 + 0xabcd)),
                test::internet_checksum(joined));
    }
  }
}

TEST(NormalizeTest, ChecksumsOfBuiltFramesVerify) {
  const test::Bytes f = segment_v4("hello");
  const ParsedPacket p = parse(LinkType::kEthernet, f);
  EXPECT_EQ(ipv4_header_checksum(f.data(), p), ChecksumStatus::kGood);
  EXPECT_EQ(l4_checksum(p), ChecksumStatus::kGood);
  const test::Bytes u =
      PacketBuilder().eth().ipv6("2001:db8:60::1", "2001:db8:ffff::1").udp(1, 2).payload("x").build();
  EXPECT_EQ(l4_checksum(parse(LinkType::kEthernet, u)), ChecksumStatus::kGood);
}

TEST(NormalizeTest, WrongAndOffloadedChecksumsAreTold) {
  const test::Bytes bad = PacketBuilder()
                              .eth()
                              .ipv4("10.60.0.1", "203.0.113.10")
                              .tcp(40000, 80, test::kTcpAck, 1, 2)
                              .payload("abc")
                              .l4_checksum(0x1234)
                              .build();
  EXPECT_EQ(l4_checksum(parse(LinkType::kEthernet, bad)), ChecksumStatus::kBad);
  // What a sending host leaves for its NIC: the folded pseudo-header sum.
  const test::Bytes good = segment_v4("abc");
  const ParsedPacket p = parse(LinkType::kEthernet, good);
  const uint64_t pseudo = pseudo_header_sum(p, p.l4_len);
  const uint16_t partial = static_cast<uint16_t>(~checksum_finish(pseudo));
  const test::Bytes offloaded = PacketBuilder()
                                    .eth()
                                    .ipv4("10.60.0.1", "203.0.113.10")
                                    .tcp(40000, 80, test::kTcpAck | test::kTcpPsh, 1000, 5000)
                                    .payload("abc")
                                    .l4_checksum(partial)
                                    .build();
  EXPECT_EQ(l4_checksum(parse(LinkType::kEthernet, offloaded)), ChecksumStatus::kOffloaded);
  const test::Bytes zero_ip =
      PacketBuilder().eth().ipv4("10.60.0.1", "203.0.113.10").ipv4_checksum(0).tcp(1, 2).build();
  EXPECT_EQ(ipv4_header_checksum(zero_ip.data(), parse(LinkType::kEthernet, zero_ip)),
            ChecksumStatus::kOffloaded);
  const test::Bytes wrong_ip =
      PacketBuilder().eth().ipv4("10.60.0.1", "203.0.113.10").ipv4_checksum(0xbeef).tcp(1, 2).build();
  EXPECT_EQ(ipv4_header_checksum(wrong_ip.data(), parse(LinkType::kEthernet, wrong_ip)),
            ChecksumStatus::kBad);
}

TEST(NormalizeTest, TrimFrontMovesHeadersAndAdvancesSequence) {
  test::Bytes f = segment_v4("0123456789", test::kTcpAck | test::kTcpPsh | test::kTcpFin);
  const FrameSpan out =
      apply_trim(LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()), {4, 0, false});
  ASSERT_EQ(out.offset, 4u);
  const test::Bytes rewritten(f.begin() + out.offset, f.begin() + out.offset + out.len);
  const ParsedPacket p = parse(LinkType::kEthernet, rewritten);
  EXPECT_EQ(p.seq, 1004u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.payload), p.payload_len), "456789");
  EXPECT_EQ(p.tcp_flags & tcp_flag::kFin, tcp_flag::kFin);  // the FIN keeps its place at the end
  EXPECT_EQ(test::internet_checksum(std::span<const uint8_t>(rewritten.data() + 14, 20)), 0);
  EXPECT_TRUE(l4_ok(LinkType::kEthernet, rewritten));
}

TEST(NormalizeTest, TrimBackAndUrgentOnIpv6) {
  test::Bytes f = PacketBuilder()
                      .eth()
                      .ipv6("2001:db8:60::1", "2001:db8:ffff::1")
                      .tcp(40000, 80, test::kTcpAck | 0x20, 7, 9)
                      .urgent_pointer(3)
                      .payload("abcdefgh")
                      .build();
  const FrameSpan out =
      apply_trim(LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()), {0, 8, true});
  ASSERT_EQ(out.offset, 0u);
  const test::Bytes rewritten(f.begin(), f.begin() + out.len);
  const ParsedPacket p = parse(LinkType::kEthernet, rewritten);
  EXPECT_EQ(p.payload_len, 0u);
  EXPECT_EQ(p.seq, 7u);  // an empty old segment: the receiver answers it with an ACK
  EXPECT_EQ(p.tcp_flags & 0x20, 0);
  EXPECT_EQ(p.urgent, 0);
  EXPECT_TRUE(l4_ok(LinkType::kEthernet, rewritten));
}

TEST(NormalizeTest, TrimOnRawIpAndRefusals) {
  test::Bytes f = PacketBuilder()
                      .ipv4("10.60.0.1", "203.0.113.10")
                      .tcp(1, 2, test::kTcpAck, 100, 1)
                      .payload("xyz")
                      .build();
  const FrameSpan out =
      apply_trim(LinkType::kRawIp, f.data(), static_cast<uint32_t>(f.size()), {1, 1, false});
  const test::Bytes rewritten(f.begin() + out.offset, f.begin() + out.offset + out.len);
  const ParsedPacket p = parse(LinkType::kRawIp, rewritten);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.payload), p.payload_len), "y");
  EXPECT_EQ(p.seq, 101u);
  EXPECT_TRUE(l4_ok(LinkType::kRawIp, rewritten));
  // More than the payload, or not TCP: refused (len 0), nothing written.
  test::Bytes g = PacketBuilder().ipv4("10.60.0.1", "203.0.113.10").tcp(1, 2).payload("ab").build();
  EXPECT_EQ(apply_trim(LinkType::kRawIp, g.data(), static_cast<uint32_t>(g.size()), {2, 1, false}).len, 0u);
  test::Bytes u = PacketBuilder().ipv4("10.60.0.1", "203.0.113.10").udp(1, 2).payload("ab").build();
  EXPECT_EQ(apply_trim(LinkType::kRawIp, u.data(), static_cast<uint32_t>(u.size()), {1, 0, false}).len, 0u);
  // No trim: the frame as it is.
  EXPECT_EQ(apply_trim(LinkType::kRawIp, u.data(), static_cast<uint32_t>(u.size()), {}).len, u.size());
}

const std::array<uint8_t, 6> kNextHop{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01};
const test::MacAddr kNextHopMac{{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01}};

test::Bytes routed_frame(std::optional<uint16_t> vlan, const test::MacAddr& dst, uint8_t pcp = 0) {
  PacketBuilder b;
  b.eth(test::MacAddr{{0x02, 0x60, 0, 0, 0, 1}}, dst);
  if (vlan) b.vlan(*vlan, pcp);
  return b.ipv4("10.60.2.11", "203.0.113.10").tcp(40001, 80, test::kTcpAck, 1, 1).payload("hello").build();
}

// The frame with the channel's header in place of the one it had.
test::Bytes with_header(const test::Bytes& f, const ChannelHeader& h) {
  test::Bytes out(h.bytes.begin(), h.bytes.begin() + h.len);
  out.insert(out.end(), f.begin() + h.replaces, f.end());
  return out;
}

TEST(ChannelHeader, PushesOrRewritesTheTagAndSetsTheNextHop) {
  const test::MacAddr gw{{0x02, 0x00, 0x5e, 0x00, 0x10, 0x01}};
  ChannelHeader h;
  const test::Bytes untagged = routed_frame(std::nullopt, gw);
  ASSERT_TRUE(channel_header(untagged, 3001, kNextHop, h));
  EXPECT_EQ(with_header(untagged, h), routed_frame(3001, kNextHopMac));
  const test::Bytes tagged = routed_frame(42, gw, 5);
  ASSERT_TRUE(channel_header(tagged, 3001, kNextHop, h));
  EXPECT_EQ(with_header(tagged, h), routed_frame(3001, kNextHopMac, 5)) << "the priority stays";
  ASSERT_TRUE(channel_header(tagged, 0, kNextHop, h));
  EXPECT_EQ(with_header(tagged, h), routed_frame(42, kNextHopMac, 5)) << "VLAN 0: only the MAC";
  EXPECT_FALSE(channel_header(test::Bytes(13, 0xab), 3001, kNextHop, h));
  EXPECT_FALSE(channel_header(test::Bytes(tagged.begin(), tagged.begin() + 17), 3001, kNextHop, h));
}

TEST(ChannelHeader, StrippingTheChannelsTagUndoesTheRoute) {
  const test::Bytes before = routed_frame(std::nullopt, kNextHopMac);
  test::Bytes f = routed_frame(3001, kNextHopMac);
  ASSERT_EQ(strip_channel_vlan(f, 3001), 4u);
  EXPECT_EQ(test::Bytes(f.begin() + 4, f.end()), before);
  test::Bytes other = routed_frame(42, kNextHopMac);
  EXPECT_EQ(strip_channel_vlan(other, 3001), 0u);
  EXPECT_EQ(other, routed_frame(42, kNextHopMac));
  EXPECT_EQ(strip_channel_vlan(f, 0), 0u);
  test::Bytes runt(17, 0x81);
  EXPECT_EQ(strip_channel_vlan(runt, 3001), 0u);
}

}  // namespace
}  // namespace ftz::engine
