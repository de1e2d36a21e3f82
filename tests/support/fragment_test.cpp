#include "ftz/test/fragment.hpp"

#include <gtest/gtest.h>

#include "ftz/test/checksum.hpp"
#include "ftz/test/hex.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::test {
namespace {

Bytes udp_frame(std::size_t payload_size) {
  Bytes data(payload_size);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
  return PacketBuilder()
      .eth()
      .vlan(7)
      .ipv4("10.60.2.11", "203.0.113.10")
      .ip_id(0x4242)
      .udp(5000, 6000)
      .payload(data)
      .build();
}

TEST(FragmentIpv4, SplitsAtCuts) {
  const Bytes frame = udp_frame(100);  // IP payload: 8 + 100 = 108 bytes
  const std::uint32_t cuts[] = {48, 96};
  const auto frags = fragment_ipv4(frame, cuts);
  ASSERT_EQ(frags.size(), 3u);
  const std::uint16_t expected_field[] = {0x2000 | 0, 0x2000 | 6, 12};
  const std::size_t expected_len[] = {48, 48, 12};
  Bytes joined;
  for (std::size_t i = 0; i < 3; ++i) {
    const auto ip = std::span(frags[i]).subspan(18);  // Ethernet + one tag
    EXPECT_EQ(get_u16(frags[i], 16), kEtherTypeIpv4);
    EXPECT_EQ(get_u16(ip, 4), 0x4242);
    EXPECT_EQ(get_u16(ip, 6), expected_field[i]);
    EXPECT_EQ(get_u16(ip, 2), 20 + expected_len[i]);
    EXPECT_EQ(internet_checksum(ip.first(20)), 0);
    joined.insert(joined.end(), ip.begin() + 20, ip.end());
  }
  EXPECT_EQ(joined, Bytes(frame.begin() + 18 + 20, frame.end()));
}

TEST(FragmentIpv4, EvenCutsAreMultiplesOfEight) {
  const auto cuts = even_cuts(1000, 4);
  ASSERT_EQ(cuts.size(), 3u);
  for (auto c : cuts) EXPECT_EQ(c % 8, 0u);
  EXPECT_EQ(cuts[0], 256u);
}

TEST(FragmentIpv4, CopiesOnlyCopiedOptions) {
  // Router alert (type 0x94, copied) + record route (type 7, not copied).
  const Bytes frame = PacketBuilder()
                          .eth()
                          .ipv4("10.0.0.1", "10.0.0.2")
                          .ipv4_options({0x94, 0x04, 0x00, 0x00, 0x07, 0x07, 0x04, 0, 0, 0, 0})
                          .udp(1, 2)
                          .payload(std::string(40, 'a'))
                          .build();
  const std::uint32_t cuts[] = {24};
  const auto frags = fragment_ipv4(frame, cuts);
  ASSERT_EQ(frags.size(), 2u);
  EXPECT_EQ(frags[0][14], 0x48);  // IHL 8: all 12 option bytes
  EXPECT_EQ(frags[1][14], 0x46);  // IHL 6: router alert only
  EXPECT_EQ(to_hex(std::span(frags[1]).subspan(34, 4)), "94040000");
  EXPECT_EQ(internet_checksum(std::span(frags[1]).subspan(14, 24)), 0);
}

TEST(FragmentIpv4, OverlappingPiecesWithChosenData) {
  const Bytes frame = udp_frame(24);  // IP payload 32 bytes
  const FragmentSpec pieces[] = {
      {0, 16, std::nullopt, std::nullopt},
      {8, 0, Bytes(16, 0xee), std::nullopt},  // overlaps [8,24) with other bytes
      {16, 16, std::nullopt, std::nullopt},
  };
  const auto frags = fragment_ipv4(frame, pieces);
  ASSERT_EQ(frags.size(), 3u);
  EXPECT_EQ(get_u16(frags[1], 18 + 6), 0x2000 | 1);
  EXPECT_EQ(frags[1][18 + 20], 0xee);
  EXPECT_EQ(get_u16(frags[2], 18 + 6), 2);  // reaches the end: MF clear
}

TEST(FragmentIpv6, InsertsFragmentHeaderAfterUnfragmentablePart) {
  const Bytes frame = PacketBuilder()
                          .eth()
                          .ipv6("2001:db8::1", "2001:db8::2")
                          .hop_by_hop()
                          .routing(0, {Ipv6Addr::parse("2001:db8::3")}, 1)
                          .destination_options()
                          .tcp(1, 2, kTcpAck, 1, 1)
                          .payload(std::string(100, 'z'))
                          .build();
  // Fragmentable part: dest options (8) + TCP (20) + 100 = 128 bytes.
  const std::uint32_t cuts[] = {64};
  const auto frags = fragment_ipv6(frame, cuts, 0xcafe);
  ASSERT_EQ(frags.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto ip = std::span(frags[i]).subspan(14);
    EXPECT_EQ(ip[6], kIpProtoHopByHop);
    EXPECT_EQ(ip[40], kIpProtoRouting);           // hop-by-hop's next header unchanged
    EXPECT_EQ(ip[48], kIpProtoFragment);          // routing now points at the fragment header
    EXPECT_EQ(ip[72], kIpProtoDestOpts);          // fragment header carries the old value
    EXPECT_EQ(get_u16(ip, 74), i == 0 ? 1 : 64);  // offset | M
    EXPECT_EQ(get_u32(ip, 76), 0xcafeu);
    EXPECT_EQ(get_u16(ip, 4), 8 + 24 + 8 + 64);
  }
  EXPECT_EQ(Bytes(frags[1].begin() + 14 + 80, frags[1].end()),
            Bytes(frame.begin() + 14 + 72 + 64, frame.end()));
}

TEST(FragmentIpv4, RejectsIpv6) {
  const Bytes frame = PacketBuilder().eth().ipv6("::1", "::2").udp(1, 2).payload("x").build();
  const std::uint32_t cuts[] = {8};
  EXPECT_THROW(fragment_ipv4(frame, cuts), std::invalid_argument);
}

}  // namespace
}  // namespace ftz::test
