// parse_packet / parse_l4: field extraction, and every malformed shape mapped
// to its Reason. The truncation tests copy each prefix of a frame into a heap
// buffer of exactly that size, so the ASan build catches any read past caplen.
#include "ftz/engine/parser.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "engine_fixtures.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::engine {
namespace {

using test::Bytes;
using test::PacketBuilder;
using testing::ip;

struct Parsed {
  ParseResult result;
  ParsedPacket pkt;
};

// Parses the first `len` bytes of `frame` from an exactly sized allocation.
Parsed parse_prefix_of(LinkType link, const Bytes& frame, size_t len) {
  auto buf = std::make_unique<uint8_t[]>(len);
  if (len > 0) std::memcpy(buf.get(), frame.data(), len);
  Parsed out;
  out.result = parse_packet(link, buf.get(), static_cast<uint32_t>(len), out.pkt);
  // Views must not outlive the buffer: the callers only look at scalars.
  out.pkt.payload = nullptr;
  out.pkt.frag_data = nullptr;
  return out;
}

Parsed parse(LinkType link, const Bytes& frame) {
  Parsed out;
  out.result = parse_packet(link, frame.data(), static_cast<uint32_t>(frame.size()), out.pkt);
  return out;
}

Parsed parse_eth(const Bytes& frame) {
  return parse(LinkType::kEthernet, frame);
}

std::string payload_of(const ParsedPacket& p) {
  return std::string(reinterpret_cast<const char*>(p.payload), p.payload_len);
}

void expect_malformed(const Parsed& r, Reason want, size_t len) {
  EXPECT_EQ(r.result.status, ParseStatus::kMalformed) << "length " << len;
  EXPECT_EQ(reason_key(r.result.reason), reason_key(want)) << "length " << len;
}

Bytes tcp4_frame(std::string_view payload = "hello") {
  return PacketBuilder()
      .eth()
      .ipv4("10.60.0.1", "203.0.113.10")
      .tcp(40000, 80, test::kTcpPsh | test::kTcpAck, 1001, 5001)
      .window(502)
      .payload(payload)
      .build();
}

Bytes tcp6_frame() {
  return PacketBuilder()
      .eth()
      .ipv6("2001:db8:60::1", "2001:db8:ffff::10")
      .tcp(40000, 443, test::kTcpAck, 7, 9)
      .payload("hello")
      .build();
}

// Strips the 14-byte Ethernet header.
Bytes l3_of(const Bytes& frame) {
  return Bytes(frame.begin() + 14, frame.end());
}

TEST(ParserTest, Ipv4TcpFields) {
  const Bytes f = tcp4_frame();
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.result.reason, Reason::kNone);
  const ParsedPacket& p = r.pkt;
  EXPECT_EQ(p.ip_version, 4);
  EXPECT_EQ(p.l3_offset, 14);
  EXPECT_EQ(p.vlan_count, 0);
  EXPECT_EQ(p.src, ip("10.60.0.1"));
  EXPECT_EQ(p.dst, ip("203.0.113.10"));
  EXPECT_EQ(p.l4_proto, 6);
  EXPECT_TRUE(p.l4_valid);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.tcp_flags, tcp_flag::kPsh | tcp_flag::kAck);
  EXPECT_EQ(p.seq, 1001u);
  EXPECT_EQ(p.ack, 5001u);
  EXPECT_EQ(p.window, 502);
  EXPECT_EQ(payload_of(p), "hello");
  EXPECT_EQ(p.payload_wire_len, 5u);
  EXPECT_EQ(p.payload, f.data() + 54);
}

TEST(ParserTest, Ipv4TcpTruncatedAtEveryLength) {
  const Bytes f = tcp4_frame();
  ASSERT_EQ(f.size(), 59u);
  for (size_t len = 0; len < f.size(); ++len) {
    const Parsed r = parse_prefix_of(LinkType::kEthernet, f, len);
    if (len < 14) {
      expect_malformed(r, Reason::kEthTruncated, len);
    } else if (len < 34) {
      expect_malformed(r, Reason::kIpv4Truncated, len);
    } else if (len < 54) {
      expect_malformed(r, Reason::kTcpTruncated, len);
    } else {
      // Snap-length cut inside the payload: what is there, and what was sent.
      ASSERT_EQ(r.result.status, ParseStatus::kOk) << len;
      EXPECT_EQ(r.pkt.payload_len, len - 54) << len;
      EXPECT_EQ(r.pkt.payload_wire_len, 5u) << len;
    }
  }
}

TEST(ParserTest, TcpOptionsCutBySnapLengthKeepHeaderFields) {
  const Bytes f = PacketBuilder()
                      .eth()
                      .ipv4("10.60.0.1", "203.0.113.10")
                      .tcp(40000, 80, test::kTcpSyn, 77, 0)
                      .mss(1460)
                      .sack_permitted()
                      .window_scale(7)
                      .timestamps(1, 2)
                      .build();
  const size_t tcp_header = static_cast<size_t>(f[46] >> 4) * 4;
  ASSERT_EQ(f.size(), 14u + 20 + tcp_header);
  ASSERT_GT(tcp_header, 40u);
  for (size_t len = 54; len < f.size(); ++len) {
    const Parsed r = parse_prefix_of(LinkType::kEthernet, f, len);
    ASSERT_EQ(r.result.status, ParseStatus::kOk) << len;
    EXPECT_TRUE(r.pkt.l4_valid);
    EXPECT_EQ(r.pkt.seq, 77u);
    EXPECT_EQ(r.pkt.tcp_flags, tcp_flag::kSyn);
    EXPECT_EQ(r.pkt.payload_len, 0u);
    EXPECT_EQ(r.pkt.payload_wire_len, 0u);
  }
  EXPECT_EQ(parse_eth(f).result.status, ParseStatus::kOk);
}

TEST(ParserTest, Ipv6TcpTruncatedAtEveryLength) {
  const Bytes f = tcp6_frame();
  ASSERT_EQ(f.size(), 79u);
  for (size_t len = 0; len < f.size(); ++len) {
    const Parsed r = parse_prefix_of(LinkType::kEthernet, f, len);
    if (len < 14) {
      expect_malformed(r, Reason::kEthTruncated, len);
    } else if (len < 54) {
      // Including len == 14 (EtherType IPv6, no byte of the header at all).
      expect_malformed(r, Reason::kIpv6Truncated, len);
    } else if (len < 74) {
      expect_malformed(r, Reason::kTcpTruncated, len);
    } else {
      ASSERT_EQ(r.result.status, ParseStatus::kOk) << len;
      EXPECT_EQ(r.pkt.payload_len, len - 74) << len;
      EXPECT_EQ(r.pkt.payload_wire_len, 5u);
    }
  }
}

TEST(ParserTest, UdpTruncatedAtEveryLength) {
  const Bytes f = PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").udp(5353, 53).payload("abcd").build();
  ASSERT_EQ(f.size(), 46u);
  for (size_t len = 34; len < f.size(); ++len) {
    const Parsed r = parse_prefix_of(LinkType::kEthernet, f, len);
    if (len < 42) {
      expect_malformed(r, Reason::kUdpTruncated, len);
    } else {
      ASSERT_EQ(r.result.status, ParseStatus::kOk) << len;
      EXPECT_EQ(r.pkt.payload_len, len - 42);
      EXPECT_EQ(r.pkt.payload_wire_len, 4u);
    }
  }
  const Parsed full = parse_eth(f);
  ASSERT_EQ(full.result.status, ParseStatus::kOk);
  EXPECT_EQ(full.pkt.src_port, 5353);
  EXPECT_EQ(full.pkt.dst_port, 53);
  EXPECT_EQ(payload_of(full.pkt), "abcd");
}

TEST(ParserTest, UdpLengthFieldOutOfRange) {
  Bytes f = PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").udp(5353, 53).payload("abcd").build();
  f[38] = 0;
  f[39] = 7;  // below the header size
  expect_malformed(parse_eth(f), Reason::kUdpBadLength, f.size());
  f[39] = 13;  // one past the IP payload
  expect_malformed(parse_eth(f), Reason::kUdpBadLength, f.size());
  f[39] = 10;  // shorter than the IP payload: trailing bytes are not UDP payload
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(payload_of(r.pkt), "ab");
}

TEST(ParserTest, EthernetPaddingIsNotPayload) {
  Bytes f = PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").udp(5353, 53).payload("ab").build();
  f.resize(60, 0);  // minimum Ethernet frame
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(payload_of(r.pkt), "ab");
  EXPECT_EQ(r.pkt.payload_wire_len, 2u);
}

TEST(ParserTest, TcpDataOffsetOutOfRange) {
  Bytes f = tcp4_frame();
  f[46] = 0x40;  // 16 bytes: below the fixed header
  expect_malformed(parse_eth(f), Reason::kTcpBadDataOffset, f.size());
  f[46] = 0x70;  // 28 bytes, but the IP payload holds 25
  expect_malformed(parse_eth(f), Reason::kTcpBadDataOffset, f.size());
}

TEST(ParserTest, TcpOptionWithImpossibleLength) {
  const Bytes good = PacketBuilder()
                         .eth()
                         .ipv4("10.60.0.1", "203.0.113.10")
                         .tcp(40000, 80, test::kTcpSyn, 1, 0)
                         .mss(1460)
                         .build();
  ASSERT_EQ(parse_eth(good).result.status, ParseStatus::kOk);
  Bytes f = good;
  f[55] = 0;  // MSS option length 0
  expect_malformed(parse_eth(f), Reason::kTcpBadOptions, f.size());
  f[55] = 5;  // runs past the 4 option bytes
  expect_malformed(parse_eth(f), Reason::kTcpBadOptions, f.size());
}

TEST(ParserTest, Ipv4OptionsAreSkipped) {
  // Record Route (type 7, length 7, pointer 4, one empty slot) + NOP.
  const Bytes f = PacketBuilder()
                      .eth()
                      .ipv4("10.60.0.1", "203.0.113.10")
                      .ipv4_options({7, 7, 4, 0, 0, 0, 0, 1})
                      .tcp(40000, 80, test::kTcpAck, 5, 6)
                      .payload("xy")
                      .build();
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.src_port, 40000);
  EXPECT_EQ(r.pkt.seq, 5u);
  EXPECT_EQ(payload_of(r.pkt), "xy");
  EXPECT_EQ(r.pkt.payload, f.data() + 14 + 28 + 20);

  Bytes bad = f;
  bad[35] = 30;  // Record Route longer than the 8 option bytes
  expect_malformed(parse_eth(bad), Reason::kIpv4BadOptions, bad.size());
  bad[35] = 1;  // a length below 2 cannot cover kind and length
  expect_malformed(parse_eth(bad), Reason::kIpv4BadOptions, bad.size());
}

TEST(ParserTest, Ipv4HeaderLengthAndTotalLength) {
  Bytes f = tcp4_frame();
  f[14] = 0x44;  // IHL 16 bytes
  expect_malformed(parse_eth(f), Reason::kIpv4BadIhl, f.size());
  f[14] = 0x40;  // IHL 0
  expect_malformed(parse_eth(f), Reason::kIpv4BadIhl, f.size());
  f = tcp4_frame("");
  f[14] = 0x4f;  // IHL 60 > 40 bytes present
  expect_malformed(parse_eth(f), Reason::kIpv4Truncated, f.size());
  f = tcp4_frame();
  f[16] = 0;
  f[17] = 19;  // total length below the header
  expect_malformed(parse_eth(f), Reason::kIpv4BadTotalLength, f.size());
}

TEST(ParserTest, VersionMustMatchEtherType) {
  Bytes f = tcp4_frame();
  f[14] = 0x65;
  expect_malformed(parse_eth(f), Reason::kIpv4BadVersion, f.size());
  Bytes g = tcp6_frame();
  g[14] = 0x45;
  expect_malformed(parse_eth(g), Reason::kIpv4BadVersion, g.size());
}

TEST(ParserTest, NonIpFrameIsNotMalformed) {
  Bytes arp(14 + 28, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  const Parsed r = parse_eth(arp);
  EXPECT_EQ(r.result.status, ParseStatus::kNotIp);
  EXPECT_EQ(r.result.reason, Reason::kNone);
}

TEST(ParserTest, SingleVlanTruncatedAtEveryLength) {
  const Bytes f = PacketBuilder().eth().vlan(42).ipv4("10.60.0.1", "203.0.113.10").tcp(1, 2).build();
  for (size_t len = 14; len < 38; ++len) {
    const Parsed r = parse_prefix_of(LinkType::kEthernet, f, len);
    expect_malformed(r, len < 18 ? Reason::kVlanTruncated : Reason::kIpv4Truncated, len);
  }
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.vlan_count, 1);
  EXPECT_EQ(r.pkt.vlan[0], 42);
  EXPECT_EQ(r.pkt.vlan[1], 0);
  EXPECT_EQ(r.pkt.l3_offset, 18);
}

TEST(ParserTest, QinQTwoTags) {
  const Bytes f = PacketBuilder().eth().qinq(100, 200).ipv4("10.60.0.1", "203.0.113.10").tcp(1, 2).build();
  for (size_t len = 14; len < 22; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kEthernet, f, len), Reason::kVlanTruncated, len);
  }
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.vlan_count, 2);
  EXPECT_EQ(r.pkt.vlan[0], 100);
  EXPECT_EQ(r.pkt.vlan[1], 200);
  EXPECT_EQ(r.pkt.l3_offset, 22);
  EXPECT_EQ(r.pkt.src_port, 1);
  // The legacy 0x9100 outer TPID is a tag too.
  const Bytes old =
      PacketBuilder().eth().vlan(7, 0, 0x9100).vlan(8).ipv4("10.60.0.1", "1.1.1.1").udp(1, 2).build();
  const Parsed o = parse_eth(old);
  ASSERT_EQ(o.result.status, ParseStatus::kOk);
  EXPECT_EQ(o.pkt.vlan[0], 7);
  EXPECT_EQ(o.pkt.vlan[1], 8);
}

TEST(ParserTest, ThreeTagsAreTooMany) {
  const Bytes f = PacketBuilder()
                      .eth()
                      .vlan(1, 0, test::kTpid8021AD)
                      .vlan(2)
                      .vlan(3)
                      .ipv4("10.60.0.1", "1.1.1.1")
                      .tcp(1, 2)
                      .build();
  expect_malformed(parse_eth(f), Reason::kVlanTooManyTags, f.size());
  // Even when the third tag itself is cut short, the count decides first.
  expect_malformed(parse_prefix_of(LinkType::kEthernet, f, 24), Reason::kVlanTooManyTags, 24);
}

TEST(ParserTest, Ipv6ExtensionChainIsWalked) {
  const auto dst = test::Ipv6Addr::parse("2001:db8:ffff::10");
  const Bytes f = PacketBuilder()
                      .eth()
                      .ipv6("2001:db8:60::1", "2001:db8:ffff::10")
                      .hop_by_hop()
                      .routing(4, {dst}, 0)
                      .destination_options()
                      .tcp(40000, 443, test::kTcpAck, 11, 12)
                      .payload("abc")
                      .build();
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.ip_version, 6);
  EXPECT_EQ(r.pkt.src, ip("2001:db8:60::1"));
  EXPECT_EQ(r.pkt.dst, ip("2001:db8:ffff::10"));
  EXPECT_EQ(r.pkt.l4_proto, 6);
  EXPECT_TRUE(r.pkt.l4_valid);
  EXPECT_EQ(r.pkt.src_port, 40000);
  EXPECT_EQ(r.pkt.seq, 11u);
  EXPECT_EQ(payload_of(r.pkt), "abc");
  EXPECT_EQ(r.pkt.payload_wire_len, 3u);
  // 8 (HBH) + 24 (SRH with one segment) + 8 (dest opts) before TCP.
  EXPECT_EQ(r.pkt.payload, f.data() + 14 + 40 + 40 + 20);
}

TEST(ParserTest, Ipv6ExtensionChainLimit) {
  PacketBuilder eight;
  eight.eth().ipv6("2001:db8:60::1", "2001:db8:ffff::10");
  for (int i = 0; i < 8; ++i) eight.destination_options();
  eight.udp(1, 2).payload("z");
  const Parsed ok = parse_eth(eight.build());
  ASSERT_EQ(ok.result.status, ParseStatus::kOk);
  EXPECT_EQ(ok.pkt.l4_proto, 17);
  EXPECT_EQ(ok.pkt.dst_port, 2);

  PacketBuilder nine;
  nine.eth().ipv6("2001:db8:60::1", "2001:db8:ffff::10");
  for (int i = 0; i < 9; ++i) nine.destination_options();
  nine.udp(1, 2);
  const Bytes f = nine.build();
  expect_malformed(parse_eth(f), Reason::kIpv6ExtChainTooLong, f.size());
}

TEST(ParserTest, Ipv6ExtensionHeaderTruncated) {
  const Bytes f =
      PacketBuilder().eth().ipv6("2001:db8:60::1", "2001:db8:ffff::10").hop_by_hop().tcp(1, 2).build();
  for (size_t len = 54; len < 62; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kEthernet, f, len), Reason::kIpv6ExtTruncated, len);
  }
  for (size_t len = 62; len < 82; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kEthernet, f, len), Reason::kTcpTruncated, len);
  }
  Bytes longer = f;
  longer[55] = 3;  // HBH claims 32 bytes, 28 are there
  expect_malformed(parse_eth(longer), Reason::kIpv6ExtTruncated, longer.size());
  // The payload length, not the capture, bounds the chain.
  Bytes short_plen = f;
  short_plen[18] = 0;
  short_plen[19] = 6;
  expect_malformed(parse_eth(short_plen), Reason::kIpv6ExtTruncated, short_plen.size());
}

TEST(ParserTest, Ipv6FragmentHeader) {
  const Bytes first = PacketBuilder()
                          .eth()
                          .ipv6("2001:db8:60::1", "2001:db8:ffff::10")
                          .fragment_header(0, true, 0xdeadbeef)
                          .tcp(1, 2)
                          .payload("0123456789ab")
                          .build();
  const Parsed r = parse_eth(first);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_TRUE(r.pkt.is_fragment);
  EXPECT_TRUE(r.pkt.more_fragments);
  EXPECT_EQ(r.pkt.frag_id, 0xdeadbeefu);
  EXPECT_EQ(r.pkt.frag_offset, 0);
  EXPECT_EQ(r.pkt.l4_proto, 6);
  EXPECT_FALSE(r.pkt.l4_valid);
  EXPECT_EQ(r.pkt.frag_len, 32u);
  EXPECT_EQ(r.pkt.frag_data, first.data() + 14 + 40 + 8);

  const Bytes later = PacketBuilder()
                          .eth()
                          .ipv6("2001:db8:60::1", "2001:db8:ffff::10")
                          .hop_by_hop()
                          .fragment_header(1232, false, 5)
                          .ip_protocol(17)
                          .payload("tail")
                          .build();
  const Parsed l = parse_eth(later);
  ASSERT_EQ(l.result.status, ParseStatus::kOk);
  EXPECT_TRUE(l.pkt.is_fragment);
  EXPECT_FALSE(l.pkt.more_fragments);
  EXPECT_EQ(l.pkt.frag_offset, 1232);
  EXPECT_EQ(l.pkt.l4_proto, 17);
  EXPECT_EQ(l.pkt.frag_len, 4u);

  // Cut by the snap length: the fragment cannot be reassembled.
  expect_malformed(parse_prefix_of(LinkType::kEthernet, first, first.size() - 1), Reason::kCaptureTruncated,
                   first.size() - 1);
}

TEST(ParserTest, Ipv6AtomicFragmentIsParsedThrough) {
  const Bytes f = PacketBuilder()
                      .eth()
                      .ipv6("2001:db8:60::1", "2001:db8:ffff::10")
                      .fragment_header(0, false, 9)
                      .udp(1000, 53)
                      .payload("q")
                      .build();
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_FALSE(r.pkt.is_fragment);
  EXPECT_TRUE(r.pkt.l4_valid);
  EXPECT_EQ(r.pkt.l4_proto, 17);
  EXPECT_EQ(r.pkt.dst_port, 53);
  EXPECT_EQ(payload_of(r.pkt), "q");
}

TEST(ParserTest, Ipv4Fragments) {
  const Bytes first = PacketBuilder()
                          .eth()
                          .ipv4("10.60.0.1", "203.0.113.10")
                          .ip_id(0x4242)
                          .more_fragments()
                          .tcp(1, 2)
                          .payload("0123")
                          .build();
  const Parsed r = parse_eth(first);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_TRUE(r.pkt.is_fragment);
  EXPECT_TRUE(r.pkt.more_fragments);
  EXPECT_EQ(r.pkt.frag_id, 0x4242u);
  EXPECT_EQ(r.pkt.frag_offset, 0);
  EXPECT_EQ(r.pkt.frag_len, 24u);
  EXPECT_FALSE(r.pkt.l4_valid);
  EXPECT_EQ(r.pkt.src_port, 0);  // not parsed before reassembly

  const Bytes last = PacketBuilder()
                         .eth()
                         .ipv4("10.60.0.1", "203.0.113.10")
                         .ip_id(0x4242)
                         .fragment_offset(65528)
                         .ip_protocol(6)
                         .payload("x")
                         .build();
  const Parsed l = parse_eth(last);
  ASSERT_EQ(l.result.status, ParseStatus::kOk);
  EXPECT_TRUE(l.pkt.is_fragment);
  EXPECT_FALSE(l.pkt.more_fragments);
  EXPECT_EQ(l.pkt.frag_offset, 65528);
  EXPECT_EQ(l.pkt.frag_len, 1u);

  expect_malformed(parse_prefix_of(LinkType::kEthernet, first, first.size() - 3), Reason::kCaptureTruncated,
                   first.size() - 3);
}

TEST(ParserTest, IcmpEchoKeysOnIdentifier) {
  const Bytes f =
      PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").icmp_echo(0x77, 3).payload("ping").build();
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.l4_proto, 1);
  EXPECT_EQ(r.pkt.icmp_type, 8);
  EXPECT_EQ(r.pkt.src_port, 0x77);
  EXPECT_EQ(r.pkt.payload_len, 8u);  // id, seq and "ping"
  for (size_t len = 34; len < 38; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kEthernet, f, len), Reason::kIcmpTruncated, len);
  }
  const Bytes v6 =
      PacketBuilder().eth().ipv6("2001:db8:60::1", "2001:db8:ffff::1").icmp_echo(9, 1, true).build();
  const Parsed r6 = parse_eth(v6);
  ASSERT_EQ(r6.result.status, ParseStatus::kOk);
  EXPECT_EQ(r6.pkt.l4_proto, 58);
  EXPECT_EQ(r6.pkt.icmp_type, 129);
  EXPECT_EQ(r6.pkt.src_port, 9);
}

TEST(ParserTest, UnknownProtocolCarriesPayloadWithoutPorts) {
  const Bytes f = PacketBuilder().eth().ipv4("10.60.0.1", "8.8.8.8").ip_protocol(47).payload("gre!").build();
  const Parsed r = parse_eth(f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.l4_proto, 47);
  EXPECT_FALSE(r.pkt.l4_valid);
  EXPECT_EQ(r.pkt.src_port, 0);
  EXPECT_EQ(payload_of(r.pkt), "gre!");
}

TEST(ParserTest, RawIpLinkType) {
  const Bytes v4 = l3_of(tcp4_frame());
  const Parsed r = parse(LinkType::kRawIp, v4);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.l3_offset, 0);
  EXPECT_EQ(r.pkt.dst_port, 80);
  const Parsed r6 = parse(LinkType::kRawIp, l3_of(tcp6_frame()));
  ASSERT_EQ(r6.result.status, ParseStatus::kOk);
  EXPECT_EQ(r6.pkt.ip_version, 6);
  EXPECT_EQ(r6.pkt.dst_port, 443);
  expect_malformed(parse_prefix_of(LinkType::kRawIp, v4, 0), Reason::kIpv4Truncated, 0);
  Bytes bad = v4;
  bad[0] = 0x55;
  expect_malformed(parse(LinkType::kRawIp, bad), Reason::kIpv4BadVersion, bad.size());
  for (size_t len = 1; len < 20; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kRawIp, v4, len), Reason::kIpv4Truncated, len);
  }
}

TEST(ParserTest, LinuxCookedV1) {
  Bytes f = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x86, 0xdd};
  const Bytes l3 = l3_of(tcp6_frame());
  f.insert(f.end(), l3.begin(), l3.end());
  const Parsed r = parse(LinkType::kLinuxSll, f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.l3_offset, 16);
  EXPECT_EQ(r.pkt.ip_version, 6);
  EXPECT_EQ(r.pkt.dst_port, 443);
  for (size_t len = 0; len < 16; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kLinuxSll, f, len), Reason::kSllTruncated, len);
  }
  expect_malformed(parse_prefix_of(LinkType::kLinuxSll, f, 16), Reason::kIpv6Truncated, 16);
  f[14] = 0x08;
  f[15] = 0x06;  // ARP
  EXPECT_EQ(parse(LinkType::kLinuxSll, f).result.status, ParseStatus::kNotIp);
}

TEST(ParserTest, LinuxCookedV2) {
  Bytes f = {0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
  const Bytes l3 = l3_of(tcp4_frame());
  f.insert(f.end(), l3.begin(), l3.end());
  const Parsed r = parse(LinkType::kLinuxSll2, f);
  ASSERT_EQ(r.result.status, ParseStatus::kOk);
  EXPECT_EQ(r.pkt.l3_offset, 20);
  EXPECT_EQ(r.pkt.src, ip("10.60.0.1"));
  EXPECT_EQ(r.pkt.dst_port, 80);
  for (size_t len = 0; len < 20; ++len) {
    expect_malformed(parse_prefix_of(LinkType::kLinuxSll2, f, len), Reason::kSllTruncated, len);
  }
  expect_malformed(parse_prefix_of(LinkType::kLinuxSll2, f, 20), Reason::kIpv4Truncated, 20);
}

TEST(ParserTest, ParseL4OnReassembledDatagram) {
  const Bytes f = tcp4_frame("reassembled");
  ParsedPacket p;
  p.src_port = 1;
  const ParseResult r = parse_l4(6, f.data() + 34, static_cast<uint32_t>(f.size() - 34),
                                 static_cast<uint32_t>(f.size() - 34), p);
  ASSERT_EQ(r.status, ParseStatus::kOk);
  EXPECT_EQ(p.l4_proto, 6);
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(payload_of(p), "reassembled");
  ParsedPacket q;
  EXPECT_EQ(parse_l4(17, f.data(), 7, 7, q).reason, Reason::kUdpTruncated);
}

TEST(ParserTest, ParseResetsOutput) {
  ParsedPacket p;
  p.is_fragment = true;
  p.vlan_count = 2;
  p.src_port = 9;
  const Bytes arp(42, 0);
  parse_packet(LinkType::kEthernet, arp.data(), static_cast<uint32_t>(arp.size()), p);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_EQ(p.vlan_count, 0);
  EXPECT_EQ(p.src_port, 0);
}

}  // namespace
}  // namespace ftz::engine
