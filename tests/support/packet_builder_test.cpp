// Reference bytes come from two independent sources: the IPv4 header example
// of RFC 1071 practice (the classic 0xb861 header) and frames produced by
// Scapy 2.5 for the same fields, so the builder is not checked against itself.
#include "ftz/test/packet_builder.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "ftz/test/checksum.hpp"
#include "ftz/test/hex.hpp"

namespace ftz::test {
namespace {

const MacAddr kClient = MacAddr::parse("02:60:00:00:00:01");
const MacAddr kGateway = MacAddr::parse("02:00:5e:00:10:01");

TEST(Checksum, ClassicIpv4HeaderExample) {
  // 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7, worked by hand:
  // word sum 0x2479c -> fold 0x479e -> complement 0xb861.
  const Bytes header = from_hex("450000730000400040110000c0a80001c0a800c7");
  EXPECT_EQ(internet_checksum(header), 0xb861);
  Bytes with_sum = header;
  with_sum[10] = 0xb8;
  with_sum[11] = 0x61;
  EXPECT_EQ(internet_checksum(with_sum), 0);  // a correct header sums to 0
}

TEST(Checksum, OddLengthPadsWithZero) {
  EXPECT_EQ(internet_checksum(from_hex("0102 03")), static_cast<std::uint16_t>(~0x0402u));
}

TEST(PacketBuilder, Ipv4HeaderMatchesClassicExample) {
  // Same header as above: UDP + 87 bytes makes total length 0x73.
  const Bytes frame = PacketBuilder()
                          .eth(kClient, kGateway)
                          .ipv4("192.168.0.1", "192.168.0.199")
                          .dont_fragment()
                          .udp(1, 2)
                          .payload(std::string(87, 'x'))
                          .build();
  ASSERT_EQ(frame.size(), 14u + 0x73u);
  EXPECT_EQ(to_hex(std::span(frame).subspan(14, 20)), "45000073000040004011b861c0a80001c0a800c7");
}

TEST(PacketBuilder, TcpSynWithOptionsMatchesScapy) {
  const Bytes frame = PacketBuilder()
                          .eth(kClient, kGateway)
                          .ipv4("10.60.2.11", "203.0.113.10")
                          .ip_id(0x1234)
                          .dont_fragment()
                          .ttl(64)
                          .tcp(40001, 80, kTcpSyn, 1000, 0)
                          .window(64240)
                          .mss(1460)
                          .sack_permitted()
                          .window_scale(7)
                          .build();
  EXPECT_EQ(to_hex(frame),
            "02005e001001026000000001080045000034123440004006e03e0a3c020bcb00710a9c410050000003e8"
            "000000008002faf08c560000020405b40402010303070000");
}

TEST(PacketBuilder, VlanTcpDataMatchesScapy) {
  const Bytes frame = PacketBuilder()
                          .eth(kClient, kGateway)
                          .vlan(42)
                          .ipv4("10.60.2.11", "203.0.113.10")
                          .ip_id(1)
                          .ttl(63)
                          .tcp(40001, 80, kTcpPsh | kTcpAck, 1001, 5001)
                          .window(502)
                          .payload("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                          .build();
  EXPECT_EQ(to_hex(frame),
            "02005e0010010260000000018100002a080045000043000100003f0633630a3c020bcb00710a9c410050"
            "000003e900001389501801f65db10000474554202f20485454502f312e310d0a486f73743a20780d0a0d"
            "0a");
}

TEST(PacketBuilder, UdpMatchesScapy) {
  const Bytes frame = PacketBuilder()
                          .eth(kClient, kGateway)
                          .ipv4("10.60.1.15", "114.114.114.114")
                          .ip_id(7)
                          .udp(53000, 53)
                          .payload("hello")
                          .build();
  EXPECT_EQ(to_hex(frame),
            "02005e0010010260000000010800450000210007000040118a960a3c010f72727272cf080035000dfc94"
            "68656c6c6f");
}

TEST(PacketBuilder, Ipv6ExtensionChainMatchesScapy) {
  // Hop-by-hop -> destination options -> routing (type 0, one segment left)
  // -> fragment -> UDP. The UDP checksum uses the routing header's final
  // destination 2001:db8::3, as RFC 8200 §8.1 requires.
  const Bytes frame = PacketBuilder()
                          .eth(kClient, kGateway)
                          .ipv6("2001:db8::1", "2001:db8::2")
                          .hop_by_hop()
                          .destination_options()
                          .routing(0, {Ipv6Addr::parse("2001:db8::3")}, 1)
                          .fragment_header(0, false, 0x11223344)
                          .udp(1000, 2000)
                          .payload("abc")
                          .build();
  EXPECT_EQ(to_hex(frame),
            "02005e00100102600000000186dd60000000003b004020010db80000000000000000000000012001"
            "0db80000000000000000000000023c000104000000002b000104000000002c0200010000000020010d"
            "b8000000000000000000000003110000001122334403e807d0000bd447616263");
}

TEST(PacketBuilder, IcmpEchoMatchesScapy) {
  const Bytes v4 = PacketBuilder()
                       .eth(kClient, kGateway)
                       .ipv4("10.60.0.1", "10.60.0.2")
                       .ip_id(1)
                       .icmp_echo(0x42, 1)
                       .payload("ping")
                       .build();
  EXPECT_EQ(to_hex(v4),
            "02005e00100102600000000108004500002000010000400166620a3c00010a3c0002080018ec00420001"
            "70696e67");
  const Bytes v6 = PacketBuilder()
                       .eth(kClient, kGateway)
                       .ipv6("2001:db8::1", "2001:db8::2")
                       .icmp_echo(0x42, 1)
                       .payload("ping")
                       .build();
  EXPECT_EQ(to_hex(v6),
            "02005e00100102600000000186dd60000000000c3a4020010db80000000000000000000000012001"
            "0db8000000000000000000000002800045300042000170696e67");
}

TEST(PacketBuilder, QinqLayout) {
  const Bytes frame =
      PacketBuilder().eth(kClient, kGateway).qinq(100, 200).ipv4("10.0.0.1", "10.0.0.2").build();
  EXPECT_EQ(to_hex(std::span(frame).subspan(12, 10)), "88a80064810000c80800");
  const Bytes legacy =
      PacketBuilder().eth(kClient, kGateway).qinq(100, 200, kTpid8021Q).ipv4("10.0.0.1", "10.0.0.2").build();
  EXPECT_EQ(to_hex(std::span(legacy).subspan(12, 10)), "81000064810000c80800");
  const Bytes pcp = PacketBuilder().eth().vlan(3001, 5).ipv6("::1", "::2").build();
  EXPECT_EQ(to_hex(std::span(pcp).subspan(12, 6)), "8100abb986dd");  // 5<<13 | 0xbb9
}

TEST(PacketBuilder, Ipv4OptionsFlagsAndOffset) {
  // Router alert (RFC 2113): 94 04 00 00 -> IHL 6.
  const Bytes frame = PacketBuilder()
                          .eth()
                          .ipv4("10.0.0.1", "10.0.0.2")
                          .ipv4_options({0x94, 0x04, 0x00, 0x00})
                          .more_fragments()
                          .fragment_offset(1480)
                          .ttl(1)
                          .tos(0xb8)
                          .udp(1, 2)
                          .build();
  const auto ip = std::span(frame).subspan(14);
  EXPECT_EQ(ip[0], 0x46);
  EXPECT_EQ(ip[1], 0xb8);
  EXPECT_EQ(get_u16(ip, 2), 24 + 8);
  EXPECT_EQ(get_u16(ip, 6), 0x2000 | (1480 / 8));
  EXPECT_EQ(ip[8], 1);
  EXPECT_EQ(to_hex(ip.subspan(20, 4)), "94040000");
  EXPECT_EQ(internet_checksum(ip.first(24)), 0);
}

TEST(PacketBuilder, TcpOptionsTimestampsAndSack) {
  const Bytes frame = PacketBuilder()
                          .eth()
                          .ipv4("10.0.0.1", "10.0.0.2")
                          .tcp(1, 2, kTcpAck, 7, 9)
                          .timestamps(0x01020304, 0x05060708)
                          .sack({{100, 200}})
                          .build();
  const auto tcp = std::span(frame).subspan(34);
  EXPECT_EQ(tcp[12] >> 4, (20 + 24) / 4);
  EXPECT_EQ(to_hex(tcp.subspan(20, 24)),
            "0101080a0102030405060708"
            "0101050a00000064000000c8");
  // Verify the checksum independently: pseudo-header + segment sums to 0.
  Bytes pseudo = from_hex("0a000001 0a000002 0006");
  put_u16(pseudo, static_cast<std::uint16_t>(tcp.size()));
  EXPECT_EQ(checksum_finish(checksum_add(tcp, checksum_add(pseudo))), 0);
}

TEST(PacketBuilder, ForcedChecksumsAndEthertype) {
  const Bytes frame = PacketBuilder()
                          .eth()
                          .ethertype(0x0801)
                          .ipv4("10.0.0.1", "10.0.0.2")
                          .ipv4_checksum(0xdead)
                          .udp(1, 2)
                          .l4_checksum(0xbeef)
                          .build();
  EXPECT_EQ(get_u16(frame, 12), 0x0801);
  EXPECT_EQ(get_u16(frame, 24), 0xdead);
  EXPECT_EQ(get_u16(frame, 40), 0xbeef);
}

TEST(PacketBuilder, Ipv6InIpv4Tunnel) {
  const Bytes frame =
      PacketBuilder().eth().ipv4("192.0.2.1", "192.0.2.2").ipv6("2001:db8::1", "2001:db8::2").build();
  EXPECT_EQ(frame[14 + 9], kIpProtoIpv6);
  EXPECT_EQ(frame[34 + 6], kIpProtoNoNext);
  EXPECT_EQ(frame.size(), 14u + 20u + 40u);
}

TEST(PacketBuilder, ModifierWithoutLayerThrows) {
  EXPECT_THROW(PacketBuilder().eth().mss(1460), std::logic_error);
  EXPECT_THROW(PacketBuilder().eth().ttl(3), std::logic_error);
  EXPECT_THROW(PacketBuilder().eth().tcp(1, 2).build(), std::logic_error);
  EXPECT_THROW(PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").fragment_offset(3), std::logic_error);
  EXPECT_THROW(Ipv4Addr::parse("10.0.0.300"), std::invalid_argument);
}

}  // namespace
}  // namespace ftz::test
