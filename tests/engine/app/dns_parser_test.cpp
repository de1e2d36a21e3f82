// DNS question names: compression, loops, truncation, escaping, UDP ports and
// TCP length framing at every split.
#include "app_test_support.hpp"

namespace ftz::engine::app::test {
namespace {

AppProtocol udp(AppHarness& h, const Bytes& msg, uint16_t sport = 40000, uint16_t dport = 53) {
  return feed_udp(Dir::kToServer, sport, dport, msg, h.ctx);
}

TEST(DnsParser, SimpleQueryIsLowerCased) {
  AppHarness h;
  EXPECT_EQ(udp(h, dns_query(0x1234, "WWW.Example.COM", 1)), AppProtocol::kDns);
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.sink.dns[0], (DnsCopy{"www.example.com", 1, 1, 0x1234, false}));
  EXPECT_EQ(h.counters.dns_messages, 1u);
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(DnsParser, PortsDecide) {
  AppHarness h;
  EXPECT_EQ(udp(h, dns_query(1, "a.local", 255), 5353, 5353), AppProtocol::kDns);
  EXPECT_EQ(udp(h, dns_query(2, "host", 28), 53000, 5355), AppProtocol::kDns);
  EXPECT_EQ(udp(h, dns_query(3, "x.example", 1), 53, 40000), AppProtocol::kDns);
  EXPECT_EQ(udp(h, dns_query(4, "x.example", 1), 4000, 4001), AppProtocol::kUnknown);
  EXPECT_EQ(h.sink.dns.size(), 3u);
}

// Response: two questions, the second compressed against the first, and an
// answer whose name is a pointer (answers are not reported).
Bytes compressed_response() {
  Bytes m = dns_header(0xbeef, true, 2, 1);
  append(m, dns_name("www.example.com"));  // at 12; "example" at 16
  put16(m, 1);
  put16(m, 1);
  m.push_back(4);
  append(m, "mail");
  m.push_back(0xc0);
  m.push_back(16);  // -> example.com
  put16(m, 15);
  put16(m, 1);
  m.push_back(0xc0);
  m.push_back(12);
  put16(m, 1);
  put16(m, 1);
  put16(m, 0);
  put16(m, 60);
  put16(m, 4);
  append(m, Bytes{192, 0, 2, 1});
  return m;
}

TEST(DnsParser, CompressionPointers) {
  AppHarness h;
  udp(h, compressed_response(), 53, 40000);
  ASSERT_EQ(h.sink.dns.size(), 2u);
  EXPECT_EQ(h.sink.dns[0], (DnsCopy{"www.example.com", 1, 1, 0xbeef, true}));
  EXPECT_EQ(h.sink.dns[1], (DnsCopy{"mail.example.com", 15, 1, 0xbeef, true}));
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(DnsParser, PointerLoopIsBounded) {
  // Name at 12: label "a" then a pointer back to 12: a.a.a.a... forever.
  Bytes m = dns_header(1, false, 1);
  m.push_back(1);
  m.push_back('a');
  m.push_back(0xc0);
  m.push_back(12);
  put16(m, 1);
  put16(m, 1);
  AppHarness h;
  udp(h, m);
  EXPECT_TRUE(h.sink.dns.empty());
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsPointerLoop), 1u);
  EXPECT_EQ(h.total_anomalies(), 1u);
}

TEST(DnsParser, LoopThroughTwoBackwardPointers) {
  // Every pointer points backwards, yet 16 -> 14 -> "y" -> 16 loops: only
  // the jump bound stops it.
  Bytes m = dns_header(1, false, 1);
  m.push_back(1);
  m.push_back('x');  // 12
  m.push_back(1);
  m.push_back('y');  // 14
  m.push_back(0xc0);
  m.push_back(14);  // 16: -> 14 -> y -> 16 -> 14 ...
  AppHarness h;
  udp(h, m);
  EXPECT_TRUE(h.sink.dns.empty());
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsPointerLoop), 1u);
}

TEST(DnsParser, ForwardAndSelfPointersAreRejected) {
  for (uint8_t target : {uint8_t{12}, uint8_t{14}, uint8_t{40}, uint8_t{2}}) {
    Bytes m = dns_header(1, false, 1);
    m.push_back(0xc0);  // at 12
    m.push_back(target);
    put16(m, 1);
    put16(m, 1);
    AppHarness h;
    udp(h, m);
    EXPECT_TRUE(h.sink.dns.empty());
    EXPECT_EQ(h.anomaly(AppAnomaly::kDnsBadPointer), 1u) << int{target};
  }
}

TEST(DnsParser, TruncatedMessages) {
  const Bytes full = dns_query(7, "www.example.com", 1);
  for (size_t len = 0; len < full.size(); ++len) {
    AppHarness h;
    udp(h, Bytes(full.begin(), full.begin() + static_cast<long>(len)));
    EXPECT_TRUE(h.sink.dns.empty()) << len;
    EXPECT_EQ(h.anomaly(AppAnomaly::kDnsTruncated), 1u) << len;
    EXPECT_EQ(h.total_anomalies(), 1u) << len;
    EXPECT_EQ(h.counters.dns_messages, len >= 12 ? 1u : 0u) << len;
  }
}

TEST(DnsParser, SecondQuestionTruncatedKeepsTheFirst) {
  Bytes m = dns_query(9, "a.example", 1);
  m[5] = 2;  // QDCOUNT 2, only one present
  AppHarness h;
  udp(h, m);
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.sink.dns[0].qname, "a.example");
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsTruncated), 1u);
}

TEST(DnsParser, EscapingKeepsLabelsUnambiguous) {
  Bytes m = dns_header(1, false, 1);
  m.push_back(3);
  append(m, "a.B");
  m.push_back(4);
  append(m, Bytes{'c', ' ', 0x00, '\\'});
  m.push_back(3);
  append(m, "com");
  m.push_back(0);
  put16(m, 16);
  put16(m, 1);
  AppHarness h;
  udp(h, m);
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.sink.dns[0].qname, "a\\.b.c\\032\\000\\\\.com");
}

TEST(DnsParser, RootName) {
  Bytes m = dns_header(5, false, 1);
  m.push_back(0);
  put16(m, 2);
  put16(m, 1);
  AppHarness h;
  udp(h, m);
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.sink.dns[0], (DnsCopy{"", 2, 1, 5, false}));
}

TEST(DnsParser, NameTooLong) {
  Bytes m = dns_header(1, false, 1);
  for (int i = 0; i < 5; ++i) {  // 5 * 64 = 320 octets
    m.push_back(63);
    append(m, Bytes(63, 'a'));
  }
  m.push_back(0);
  put16(m, 1);
  put16(m, 1);
  AppHarness h;
  udp(h, m);
  EXPECT_TRUE(h.sink.dns.empty());
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsNameTooLong), 1u);
}

TEST(DnsParser, LongestLegalName) {
  // 3 * 64 + 62 + 1 = 255 octets: 63,63,63,61-octet labels.
  Bytes m = dns_header(1, false, 1);
  std::string want;
  for (int len : {63, 63, 63, 61}) {
    m.push_back(static_cast<uint8_t>(len));
    append(m, Bytes(static_cast<size_t>(len), 'z'));
    if (!want.empty()) want += '.';
    want += std::string(static_cast<size_t>(len), 'z');
  }
  m.push_back(0);
  put16(m, 1);
  put16(m, 1);
  AppHarness h;
  udp(h, m);
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.sink.dns[0].qname, want);
}

TEST(DnsParser, ReservedLabelType) {
  Bytes m = dns_header(1, false, 1);
  m.push_back(0x41);
  m.push_back('x');
  m.push_back(0);
  put16(m, 1);
  put16(m, 1);
  AppHarness h;
  udp(h, m);
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsBadLabel), 1u);
}

TEST(DnsParser, TooManyQuestions) {
  Bytes m = dns_header(1, false, 100);
  for (int i = 0; i < 100; ++i) {
    append(m, dns_name("q.example"));
    put16(m, 1);
    put16(m, 1);
  }
  AppHarness h;
  udp(h, m);
  EXPECT_EQ(h.sink.dns.size(), kDnsMaxQuestions);
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsTooManyQuestions), 1u);
}

Bytes tcp_stream() {
  Bytes s = tcp_frame(dns_query(0x0101, "first.example", 1));
  append(s, tcp_frame(dns_query(0x0202, "second.example", 28)));
  return s;
}

const std::vector<DnsCopy> kTcpWant = {{"first.example", 1, 1, 0x0101, false},
                                       {"second.example", 28, 1, 0x0202, false}};

TEST(DnsParser, TcpFramingAtEverySplit) {
  const Bytes s = tcp_stream();
  for (size_t cut = 0; cut < s.size(); ++cut) {
    AppHarness h;
    EXPECT_EQ(h.feed_split(53, s, {cut}), AppProtocol::kDns);
    EXPECT_EQ(h.sink.dns, kTcpWant) << cut;
    EXPECT_EQ(h.total_anomalies(), 0u);
    EXPECT_EQ(h.pool.in_use(), 0u);
  }
  AppHarness b;
  b.feed_bytewise(53, s);
  EXPECT_EQ(b.sink.dns, kTcpWant);
  EXPECT_EQ(b.pool.in_use(), 0u);
}

TEST(DnsParser, TcpBothDirections) {
  AppHarness h;
  // The server's bytes may even come first (a port-53 flow is DNS from the port).
  Bytes resp = compressed_response();
  const Bytes rs = tcp_frame(resp);
  h.feed_split(53, rs, {7}, Dir::kToClient);
  h.feed_split(53, tcp_stream(), {20});
  ASSERT_EQ(h.sink.dns.size(), 4u);
  EXPECT_EQ(h.sink.dns[1].qname, "mail.example.com");
  EXPECT_TRUE(h.sink.dns[1].is_response);
  EXPECT_EQ(h.sink.dns[3].qname, "second.example");
}

TEST(DnsParser, TcpMessageLargerThanTheBufferKeepsItsQuestions) {
  AppHarness h(/*buffers=*/1, /*size=*/64);
  Bytes msg = dns_query(0x0303, "big.example", 16);
  msg[7] = 1;  // ANCOUNT 1: a large TXT answer follows
  append(msg, Bytes{0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0x03, 0xe8});
  append(msg, Bytes(1000, 't'));
  Bytes s = tcp_frame(msg);
  append(s, tcp_frame(dns_query(0x0404, "next.example", 1)));
  h.feed_split(53, s, {30, 500});
  ASSERT_EQ(h.sink.dns.size(), 2u);
  EXPECT_EQ(h.sink.dns[0].qname, "big.example");
  EXPECT_EQ(h.sink.dns[1].qname, "next.example");
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(DnsParser, TcpPoolExhaustionSkipsTheMessageButKeepsFraming) {
  AppHarness h(/*buffers=*/0);
  h.feed_split(53, tcp_stream(), {10});  // first message split: needs a buffer
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.sink.dns[0].qname, "second.example");
  EXPECT_EQ(h.counters.buffer_exhausted, 1u);
}

TEST(DnsParser, TcpGapParsesWhatItHoldsThenStops) {
  AppHarness h;
  const Bytes s = tcp_stream();
  const size_t first_len = 2 + dns_query(0x0101, "first.example", 1).size();
  h.feed(Dir::kToServer, 53,
         std::span<const uint8_t>(s).first(first_len - 1));  // all but the qclass' last byte
  on_gap(h.flow, Dir::kToServer, h.ctx);
  EXPECT_TRUE(h.sink.dns.empty());
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsGap), 1u);
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsTruncated), 1u);
  EXPECT_EQ(h.pool.in_use(), 0u);
  h.feed(Dir::kToServer, 53, std::span<const uint8_t>(s).subspan(first_len));
  EXPECT_TRUE(h.sink.dns.empty()) << "framing lost: nothing more is parsed";

  AppHarness g;  // a gap after the question section: the question is reported
  g.feed(Dir::kToServer, 53, std::span<const uint8_t>(s).first(first_len - 0));
  EXPECT_EQ(g.sink.dns.size(), 1u);
}

TEST(DnsParser, TcpZeroAndShortLengths) {
  AppHarness h;
  Bytes s = {0, 0, 0, 3, 1, 2, 3};
  append(s, tcp_frame(dns_query(1, "ok.example", 1)));
  h.feed_split(53, s, {1, 5});
  ASSERT_EQ(h.sink.dns.size(), 1u);
  EXPECT_EQ(h.anomaly(AppAnomaly::kDnsTruncated), 2u);
}

}  // namespace
}  // namespace ftz::engine::app::test
