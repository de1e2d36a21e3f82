// What the parsers hand back for inspection (AppSink::on_content and the HTTP
// request's request_line/header_lines): every byte of a stream, except the
// framing they validated and removed, at every split.
#include "app_test_support.hpp"

namespace ftz::engine::app::test {
namespace {

constexpr uint16_t kHttp = 80;

std::string s_of(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

TEST(AppContent, RequestLineAndEveryHeaderLineAreHandedOver) {
  const std::string req =
      "GET /a?q=1 HTTP/1.1\r\nHost: h\r\nCookie: sid=SECRET1\r\nReferer: http://r/?x=SECRET2\r\n"
      "X-Custom: SECRET3\r\n\r\n";
  for (size_t cut = 1; cut < req.size(); ++cut) {
    AppHarness h;
    h.feed_split(kHttp, to_bytes(req), {cut});
    ASSERT_EQ(h.sink.heads.size(), 1u) << "cut " << cut;
    EXPECT_EQ(h.sink.heads[0], req) << "cut " << cut;
  }
}

TEST(AppContent, HeaderBlockOverTheCapGoesOnAsHeadMore) {
  const std::string tail = "X-Late: SECRET\r\n";
  const std::string req =
      "GET / HTTP/1.1\r\nX-Pad: " + std::string(kHttpHeaderCap, 'p') + "\r\n" + tail + "\r\n";
  AppHarness h;
  h.feed(Dir::kToServer, kHttp, to_bytes(req));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_TRUE(h.sink.requests[0].headers_truncated);
  const std::string more = h.sink.of(Dir::kToServer, Content::kHttpHeadMore);
  EXPECT_NE(more.find(tail), std::string::npos);
  EXPECT_EQ(h.sink.heads[0].size() + more.size(), req.size()) << "every header byte once";
}

TEST(AppContent, BytesThatAreNoRequestAreRaw) {
  const std::string after = "not a request SECRET\n";
  for (const std::string first :
       {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n"}) {
    const std::string stream = first + after;
    for (size_t cut = 1; cut < stream.size(); cut += 3) {
      AppHarness h;
      h.feed_split(kHttp, to_bytes(stream), {cut});
      const std::string raw = h.sink.of(Dir::kToServer, Content::kRaw);
      const std::string body = h.sink.requests.empty() ? "" : h.sink.requests[0].body;
      EXPECT_NE((body + raw).find("SECRET"), std::string::npos) << first << " cut " << cut;
      EXPECT_EQ(h.sink.heads[0].size() + body.size() + raw.size(), stream.size()) << "cut " << cut;
    }
  }
}

TEST(AppContent, ChunkExtensionsAndTrailersAreAsideUnits) {
  const std::string req =
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=SECRET1\r\nhello\r\n0\r\nX-Trailer: SECRET2\r\n\r\n";
  for (size_t cut = 1; cut < req.size(); ++cut) {
    AppHarness h;
    h.feed_split(kHttp, to_bytes(req), {cut});
    ASSERT_EQ(h.sink.requests.size(), 1u);
    EXPECT_EQ(h.sink.requests[0].body, "hello");
    ASSERT_EQ(h.sink.asides.size(), 2u) << "cut " << cut;
    EXPECT_EQ(h.sink.asides[0], ";ext=SECRET1") << "cut " << cut;
    EXPECT_EQ(h.sink.asides[1], "X-Trailer: SECRET2") << "cut " << cut;
    EXPECT_TRUE(h.sink.undecodable.empty());
  }
  // Over the cap: handed over in pieces, reported.
  AppHarness h;
  h.feed(Dir::kToServer, kHttp,
         to_bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
                  std::string(2 * kAsideCap, 'e') + "\r\nhello\r\n0\r\n\r\n"));
  ASSERT_EQ(h.sink.undecodable.size(), 1u);
  EXPECT_EQ(h.sink.undecodable[0], Undecodable::kAsideTooLong);
  EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kAside).size(), 2 * kAsideCap + 1);
  EXPECT_EQ(h.pool.in_use(), 0u);
}

std::string ws(uint8_t b0, std::string_view payload, bool masked) {
  std::string f(1, static_cast<char>(b0));
  f += static_cast<char>((masked ? 0x80 : 0) | payload.size());
  const char key[4] = {0x11, 0x22, 0x33, 0x44};
  if (masked) f.append(key, 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f += static_cast<char>(masked ? payload[i] ^ key[i & 3] : payload[i]);
  return f;
}

TEST(AppContent, WebSocketPayloadsUnmaskedControlFramesAside) {
  const std::string up = "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
  const std::string stream = up + ws(0x01, "part one ", true) + ws(0x89, "PING", true) +
                             ws(0x80, "part two", false) + ws(0x82, "bin", true);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    AppHarness h;
    h.feed_split(kHttp, to_bytes(stream), {cut});
    EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kWsPayload), "part one part twobin") << "cut " << cut;
    ASSERT_EQ(h.sink.asides.size(), 1u) << "cut " << cut;
    EXPECT_EQ(h.sink.asides[0], "PING");
    EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kRaw), "") << "cut " << cut;
  }
  // RSV2 set: not a frame; the rest is raw.
  AppHarness bad;
  bad.feed(Dir::kToServer, kHttp,
           to_bytes(up +
                    "\xa1\x03"
                    "abc" +
                    "more"));
  EXPECT_EQ(bad.sink.of(Dir::kToServer, Content::kRaw),
            "\xa1\x03"
            "abcmore");
  // A request line instead of a frame: HTTP/1 goes on, at every split.
  const std::string next = "GET /x HTTP/1.1\r\nX: SECRET\r\n\r\n";
  for (size_t cut = up.size() + 1; cut < up.size() + next.size(); ++cut) {
    AppHarness back;
    back.feed_split(kHttp, to_bytes(up + next), {up.size(), cut});
    ASSERT_EQ(back.sink.requests.size(), 2u) << "cut " << cut;
    EXPECT_EQ(back.sink.requests[1].index, 1u);
    EXPECT_EQ(back.sink.heads[1], next) << "cut " << cut;
  }
  // The same after an h2c upgrade the server refused.
  const std::string h2c = "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n";
  for (const std::string& n2 : {next, std::string("PUT /y HTTP/1.1\r\n\r\n")}) {
    for (size_t cut = h2c.size() + 1; cut < h2c.size() + 6; ++cut) {
      AppHarness back;
      back.feed_split(kHttp, to_bytes(h2c + n2), {h2c.size(), cut});
      ASSERT_EQ(back.sink.requests.size(), 2u) << "cut " << cut;
      EXPECT_EQ(back.sink.heads[1], n2) << "cut " << cut;
    }
  }
}

std::string h2(uint8_t type, uint8_t flags, std::string_view payload) {
  std::string f;
  f += static_cast<char>(0);
  f += static_cast<char>(payload.size() >> 8);
  f += static_cast<char>(payload.size() & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += std::string("\x00\x00\x00\x01", 4);
  f += payload;
  return f;
}

TEST(AppContent, Http2DataDeframedHeaderBlocksAsideAndReported) {
  const std::string preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
  const std::string stream = preface + h2(4, 0, "") + h2(1, 0x4, "HDRBLOCK") +
                             h2(0, 0x8, std::string("\x02", 1) + "data-one" + std::string(2, '\0')) +
                             h2(0, 0x1, "data-two");
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    AppHarness h;
    h.feed_split(kHttp, to_bytes(stream), {cut});
    EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kH2Data), "data-onedata-two") << "cut " << cut;
    EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kAside), "HDRBLOCK") << "cut " << cut;
    ASSERT_EQ(h.sink.undecodable.size(), 1u);
    EXPECT_EQ(h.sink.undecodable[0], Undecodable::kHpack);
    EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kRaw), "") << "cut " << cut;
  }
}

TEST(AppContent, TlsRecordPayloadsWithoutHeadersThenRawAfterNonRecords) {
  const Bytes hello = records(browser_client_hello("SECRET.example"));
  std::string app = "\x17\x03\x03";
  app += '\x00';
  app += '\x05';
  app += "ABCDE";
  const std::string stream = s_of(hello) + app + "plain SECRET2";
  for (size_t cut = 1; cut < stream.size(); cut += 7) {
    AppHarness h;
    h.feed_split(443, to_bytes(stream), {cut});
    ASSERT_EQ(h.sink.hellos.size(), 1u);
    const std::string raw = h.sink.of(Dir::kToServer, Content::kRaw);
    EXPECT_EQ(raw, s_of(hello).substr(5) + "ABCDE" + "plain SECRET2") << "cut " << cut;
  }
  // Server side: de-framed as well.
  AppHarness h;
  h.feed(Dir::kToServer, 443, hello);
  h.feed(Dir::kToClient, 443, to_bytes(std::string("\x16\x03\x03\x00\x03xyz", 8)));
  EXPECT_EQ(h.sink.of(Dir::kToClient, Content::kRaw), "xyz");
}

TEST(AppContent, UnknownProtocolsAndResponsesAreRaw) {
  AppHarness h;
  h.feed(Dir::kToServer, 9000,
         to_bytes("\x01"
                  "binary SECRET"));
  EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kRaw),
            "\x01"
            "binary SECRET");
  AppHarness r;
  r.feed(Dir::kToServer, kHttp, to_bytes("GET / HTTP/1.1\r\n\r\n"));
  r.feed(Dir::kToClient, kHttp, to_bytes("HTTP/1.1 200 OK\r\n\r\nSECRET"));
  EXPECT_EQ(r.sink.of(Dir::kToClient, Content::kRaw), "HTTP/1.1 200 OK\r\n\r\nSECRET");
  // A flow first taken for HTTP that is not: what was held goes raw.
  AppHarness t;
  t.feed_bytewise(kHttp, to_bytes("EHLO\x01 mail SECRET\r\n"));
  EXPECT_EQ(t.sink.of(Dir::kToServer, Content::kRaw), "EHLO\x01 mail SECRET\r\n");
}

TEST(AppContent, WhatATentativeParserHeldIsRawAfterAGap) {
  AppHarness h;
  h.feed(Dir::kToServer, kHttp, to_bytes("GET /SECRET"));
  EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kRaw), "");
  on_gap(h.flow, Dir::kToClient, h.ctx);
  EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kRaw), "GET /SECRET");
  h.feed(Dir::kToServer, kHttp, to_bytes(" more"));
  EXPECT_EQ(h.sink.of(Dir::kToServer, Content::kRaw), "GET /SECRET more");
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(AppContent, SsdpRequestOverUdpIsReported) {
  AppHarness h;
  const std::string m =
      "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n";
  EXPECT_EQ(feed_udp(Dir::kToServer, 50000, 1900, to_bytes(m), h.ctx), AppProtocol::kHttp);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].method, "M-SEARCH");
  EXPECT_EQ(h.sink.requests[0].uri, "*");
  EXPECT_EQ(h.sink.requests[0].host, "239.255.255.250:1900");
  EXPECT_EQ(h.pool.in_use(), 0u);
  EXPECT_EQ(feed_udp(Dir::kToServer, 50000, 9999, to_bytes("\x01\x02 not http"), h.ctx),
            AppProtocol::kUnknown);
}

}  // namespace
}  // namespace ftz::engine::app::test
