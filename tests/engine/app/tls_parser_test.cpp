// TLS ClientHello: SNI/ALPN extraction across every split, across records,
// and malformed input counted without crashing.
#include "app_test_support.hpp"

namespace ftz::engine::app::test {
namespace {

constexpr uint16_t kPort = 443;

HelloCopy expected_browser_hello(uint16_t record_version = 0x0301) {
  return HelloCopy{"www.example.com", {"h2", "http/1.1"}, 0x0303, record_version, 0x0304, false, false};
}

TEST(TlsParser, FlowStateIsSmallAndRelocatable) {
  static_assert(std::is_trivially_copyable_v<AppFlowState>);
  EXPECT_LE(sizeof(AppDirState), 64u);
  // 2 x 48 (tunnel parsers, TLS record de-framing: every byte is inspected) + 2.
  EXPECT_EQ(sizeof(AppFlowState), 104u);
}

TEST(TlsParser, ClientHelloInOneSegment) {
  AppHarness h;
  const Bytes stream = records(browser_client_hello());
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, stream), AppProtocol::kTls);
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0], expected_browser_hello());
  EXPECT_EQ(h.counters.tls_hellos, 1u);
  EXPECT_EQ(h.total_anomalies(), 0u);
  EXPECT_EQ(h.pool.in_use(), 0u);
  EXPECT_EQ(h.pool.peak_in_use(), 0u) << "a whole record in one chunk is parsed in place";
  // Reported once per flow: the server's answer and later client records are ignored.
  EXPECT_EQ(h.feed(Dir::kToClient, kPort, stream), AppProtocol::kTls);
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, stream), AppProtocol::kTls);
  EXPECT_EQ(h.sink.hellos.size(), 1u);
  close(h.flow, h.ctx);
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(TlsParser, SameResultAtEverySplitPosition) {
  const Bytes stream = records(browser_client_hello());
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    AppHarness h;
    h.feed_split(kPort, stream, {cut});
    ASSERT_EQ(h.sink.hellos.size(), 1u) << "cut " << cut;
    EXPECT_EQ(h.sink.hellos[0], expected_browser_hello()) << "cut " << cut;
    EXPECT_EQ(h.total_anomalies(), 0u) << "cut " << cut;
    EXPECT_EQ(h.pool.in_use(), 0u) << "cut " << cut;
    EXPECT_EQ(h.flow.proto, AppProtocol::kTls);
  }
}

TEST(TlsParser, OneByteAtATime) {
  AppHarness h;
  const Bytes stream = records(browser_client_hello());
  EXPECT_EQ(h.feed_bytewise(kPort, stream), AppProtocol::kTls);
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0], expected_browser_hello());
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(TlsParser, DetectionNeedsThreeBytes) {
  AppHarness h;
  const Bytes stream = records(browser_client_hello());
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, std::span<const uint8_t>(stream).first(2)), AppProtocol::kUnknown);
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, std::span<const uint8_t>(stream).subspan(2, 1)), AppProtocol::kTls);
}

TEST(TlsParser, AcrossTwoRecordsAtEverySplitPosition) {
  const Bytes msg = browser_client_hello();
  // The handshake header itself is cut (3 bytes in the first record) and the
  // SNI is cut in the second variant.
  for (size_t rec_cut : {size_t{3}, size_t{100}, msg.size() - 1}) {
    const Bytes stream = records(msg, {rec_cut}, 0x0303);
    for (size_t cut = 0; cut < stream.size(); ++cut) {
      AppHarness h;
      h.feed_split(kPort, stream, {cut});
      ASSERT_EQ(h.sink.hellos.size(), 1u) << "record cut " << rec_cut << " tcp cut " << cut;
      EXPECT_EQ(h.sink.hellos[0], expected_browser_hello(0x0303));
      EXPECT_EQ(h.total_anomalies(), 0u);
      EXPECT_EQ(h.pool.in_use(), 0u);
    }
  }
}

TEST(TlsParser, ManyTinyRecords) {
  const Bytes msg = browser_client_hello();
  std::vector<size_t> cuts;
  Bytes stream;
  // One handshake byte per record: the worst legal fragmentation.
  for (size_t i = 0; i < msg.size(); ++i) {
    stream.push_back(0x16);
    put16(stream, 0x0301);
    put16(stream, 1);
    stream.push_back(msg[i]);
  }
  AppHarness h;
  h.feed(Dir::kToServer, kPort, stream);
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0], expected_browser_hello());
}

TEST(TlsParser, ExtensionOrderDoesNotMatter) {
  std::vector<Bytes> ext = browser_extensions("api.example.net");
  std::reverse(ext.begin(), ext.end());
  AppHarness h;
  h.feed(Dir::kToServer, kPort, records(handshake(1, client_hello_body(ext))));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0].sni, "api.example.net");
  EXPECT_EQ(h.sink.hellos[0].alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(TlsParser, NoExtensionsAndEch) {
  AppHarness h;
  Bytes body = client_hello_body({});
  body.resize(body.size() - 2);  // drop the empty extensions length: legal pre-1.2 form
  h.feed(Dir::kToServer, kPort, records(handshake(1, body)));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0], (HelloCopy{"", {}, 0x0303, 0x0301, 0, false, false}));

  AppHarness e;
  e.feed(Dir::kToServer, kPort,
         records(handshake(
             1, client_hello_body({sni_extension("public.example"), extension(0xfe0d, {1, 2, 3})}))));
  ASSERT_EQ(e.sink.hellos.size(), 1u);
  EXPECT_TRUE(e.sink.hellos[0].ech);
  EXPECT_EQ(e.sink.hellos[0].sni, "public.example");
}

TEST(TlsParser, MoreThanFourAlpnNamesKeepsTheFirstFour) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         records(handshake(1, client_hello_body({alpn_extension({"a", "bb", "ccc", "dddd", "eeeee"})}))));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0].alpn, (std::vector<std::string>{"a", "bb", "ccc", "dddd"}));
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(TlsParser, DuplicateSniKeepsTheFirstAndCounts) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         records(handshake(
             1, client_hello_body({sni_extension("first.example"), sni_extension("second.example")}))));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0].sni, "first.example");
  EXPECT_TRUE(h.sink.hellos[0].malformed);
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsDuplicateExtension), 1u);
  EXPECT_EQ(h.total_anomalies(), 1u);
}

TEST(TlsParser, SniWithNulIsFlagged) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         records(handshake(1, client_hello_body({sni_extension(std::string_view("ok.example\0evil", 15))}))));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0].sni, std::string("ok.example\0evil", 15));
  EXPECT_TRUE(h.sink.hellos[0].malformed);
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsBadSni), 1u);
}

TEST(TlsParser, LyingSniLengthIsAnAnomaly) {
  Bytes sni = sni_extension("www.example.com");
  sni[7] = 0x7f;  // host name length far beyond the extension
  AppHarness h;
  h.feed(Dir::kToServer, kPort, records(handshake(1, client_hello_body({sni, alpn_extension({"h2"})}))));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0].sni, "");
  EXPECT_EQ(h.sink.hellos[0].alpn, std::vector<std::string>{"h2"}) << "later extensions still parsed";
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsBadSni), 1u);
  EXPECT_EQ(h.total_anomalies(), 1u);
}

TEST(TlsParser, LyingExtensionLengthIsAnAnomaly) {
  Bytes body = client_hello_body({sni_extension("www.example.com"), extension(23, {})});
  body[body.size() - 1] = 0x40;  // last extension claims 64 bytes it does not have
  AppHarness h;
  h.feed(Dir::kToServer, kPort, records(handshake(1, body)));
  ASSERT_EQ(h.sink.hellos.size(), 1u);
  EXPECT_EQ(h.sink.hellos[0].sni, "www.example.com");
  EXPECT_TRUE(h.sink.hellos[0].malformed);
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsBadExtension), 1u);
}

TEST(TlsParser, SessionIdTooLongIsMalformed) {
  Bytes body = client_hello_body({sni_extension("x.example")});
  body[34] = 33;
  AppHarness h;
  h.feed(Dir::kToServer, kPort, records(handshake(1, body)));
  EXPECT_TRUE(h.sink.hellos.empty());
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsMalformedHello), 1u);
}

TEST(TlsParser, EveryTruncationOfTheBodyIsSafe) {
  // The handshake length is made to agree with each prefix, so every inner
  // length field in turn points past the end.
  const Bytes body = client_hello_body(browser_extensions("www.example.com"));
  for (size_t len = 0; len < body.size(); ++len) {
    AppHarness h;
    h.feed(Dir::kToServer, kPort,
           records(handshake(1, Bytes(body.begin(), body.begin() + static_cast<long>(len)))));
    EXPECT_EQ(h.sink.hellos.size() + h.total_anomalies() >= 1, true) << len;
    if (!h.sink.hellos.empty()) {
      EXPECT_TRUE(h.sink.hellos[0].malformed || h.total_anomalies() == 0) << len;
    }
    EXPECT_EQ(h.pool.in_use(), 0u);
  }
}

TEST(TlsParser, RecordLengthZeroOrTooLong) {
  for (uint16_t len : {uint16_t{0}, uint16_t{16385}}) {
    AppHarness h;
    Bytes stream = {0x16, 0x03, 0x01};
    put16(stream, len);
    stream.push_back(1);
    EXPECT_EQ(h.feed(Dir::kToServer, kPort, stream), AppProtocol::kTls);
    EXPECT_EQ(h.anomaly(AppAnomaly::kTlsBadRecordLength), 1u) << len;
    EXPECT_TRUE(h.sink.hellos.empty());
  }
}

TEST(TlsParser, HandshakeLongerThanTheCap) {
  AppHarness h;
  Bytes stream = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00};  // ClientHello of 64 KiB
  h.feed(Dir::kToServer, kPort, stream);
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsHelloTooLong), 1u);
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(TlsParser, NotAClientHelloOrNotHandshake) {
  AppHarness a;
  a.feed(Dir::kToServer, kPort, records(handshake(2, Bytes(40, 0))));  // ServerHello from the client
  EXPECT_EQ(a.anomaly(AppAnomaly::kTlsNotClientHello), 1u);

  AppHarness b;
  const Bytes msg = browser_client_hello();
  Bytes stream = records(Bytes(msg.begin(), msg.begin() + 10));
  append(stream, Bytes{0x17, 0x03, 0x03, 0x00, 0x01, 0x00});  // application data mid-handshake
  b.feed(Dir::kToServer, kPort, stream);
  EXPECT_EQ(b.anomaly(AppAnomaly::kTlsUnexpectedRecord), 1u);
  EXPECT_TRUE(b.sink.hellos.empty());
  EXPECT_EQ(b.pool.in_use(), 0u);
}

TEST(TlsParser, NotTls) {
  AppHarness a;
  EXPECT_EQ(a.feed(Dir::kToServer, kPort, Bytes{0x16, 0x03, 0x09, 0, 1, 0}), AppProtocol::kUnknown);
  EXPECT_EQ(a.flow.proto, AppProtocol::kUnknown);
  EXPECT_EQ(a.total_anomalies(), 0u);

  AppHarness b;  // the server speaks first: neither TLS nor HTTP
  EXPECT_EQ(b.feed(Dir::kToClient, kPort, to_bytes("220 smtp ready\r\n")), AppProtocol::kUnknown);
  EXPECT_EQ(b.feed(Dir::kToServer, kPort, records(browser_client_hello())), AppProtocol::kUnknown);
  EXPECT_TRUE(b.sink.hellos.empty());
}

TEST(TlsParser, GapBeforeTheHelloCompletes) {
  AppHarness h;
  const Bytes stream = records(browser_client_hello());
  h.feed(Dir::kToServer, kPort, std::span<const uint8_t>(stream).first(100));
  EXPECT_EQ(h.pool.in_use(), 1u);
  on_gap(h.flow, Dir::kToServer, h.ctx);
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsGap), 1u);
  EXPECT_EQ(h.pool.in_use(), 0u);
  h.feed(Dir::kToServer, kPort, std::span<const uint8_t>(stream).subspan(100));
  EXPECT_TRUE(h.sink.hellos.empty());
  on_gap(h.flow, Dir::kToClient, h.ctx);  // the other direction does not matter
  EXPECT_EQ(h.anomaly(AppAnomaly::kTlsGap), 1u);
}

TEST(TlsParser, CloseReleasesTheBuffer) {
  AppHarness h;
  const Bytes stream = records(browser_client_hello());
  h.feed(Dir::kToServer, kPort, std::span<const uint8_t>(stream).first(50));
  EXPECT_EQ(h.pool.in_use(), 1u);
  close(h.flow, h.ctx);
  EXPECT_EQ(h.pool.in_use(), 0u);
  EXPECT_TRUE(h.sink.hellos.empty());
  EXPECT_EQ(h.flow.proto, AppProtocol::kUnknown);
}

TEST(TlsParser, PoolExhaustionIsCounted) {
  AppHarness h(/*buffers=*/0);
  const Bytes stream = records(browser_client_hello());
  h.feed_split(kPort, stream, {60});
  EXPECT_TRUE(h.sink.hellos.empty());
  EXPECT_EQ(h.counters.buffer_exhausted, 1u);
  EXPECT_EQ(h.pool.exhausted(), 1u);

  AppHarness whole(/*buffers=*/0);  // needs no buffer
  whole.feed(Dir::kToServer, kPort, stream);
  EXPECT_EQ(whole.sink.hellos.size(), 1u);
  EXPECT_EQ(whole.counters.buffer_exhausted, 0u);
}

}  // namespace
}  // namespace ftz::engine::app::test
