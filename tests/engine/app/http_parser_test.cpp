// HTTP/1.x requests: pipelining, Content-Length and chunked bodies at every
// split, caps, HTTP/0.9, gaps and close.
#include "app_test_support.hpp"

namespace ftz::engine::app::test {
namespace {

constexpr uint16_t kPort = 80;

const std::string kPipelined =
    "POST /upload?x=1 HTTP/1.1\r\n"
    "Host: Example.com\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello"
    "GET /a HTTP/1.1\r\n"
    "host:  b.example \r\n"
    "\r\n"
    "PUT /c HTTP/1.1\r\n"
    "Host: c\r\n"
    "Transfer-Encoding: gzip, Chunked\r\n"
    "\r\n"
    "4;ext=1\r\nWiki\r\n"
    "9\r\npedia in \r\n"
    "0\r\nTrailer: x\r\n\r\n"
    "\r\n"  // a stray empty line before a request line is allowed
    "DELETE /d HTTP/1.0\n"
    "Content-Length:0\n"
    "\n";

std::vector<RequestCopy> expected_pipelined() {
  return {
      {"POST", "/upload?x=1", "HTTP/1.1", "Example.com", "text/plain", 5, true, false, false, false, 0,
       "hello", true},
      {"GET", "/a", "HTTP/1.1", "b.example", "", 0, false, false, false, false, 1, "", true},
      {"PUT", "/c", "HTTP/1.1", "c", "", 0, false, true, false, false, 2, "Wikipedia in ", true},
      {"DELETE", "/d", "HTTP/1.0", "", "", 0, true, false, false, false, 3, "", true},
  };
}

TEST(HttpParser, PipelinedRequestsInOneChunk) {
  AppHarness h;
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes(kPipelined)), AppProtocol::kHttp);
  EXPECT_EQ(h.sink.requests, expected_pipelined());
  EXPECT_EQ(h.counters.http_requests, 4u);
  EXPECT_EQ(h.total_anomalies(), 0u);
  EXPECT_EQ(h.pool.in_use(), 0u);
  EXPECT_EQ(h.pool.peak_in_use(), 0u) << "blocks inside one chunk are parsed in place";
  close(h.flow, h.ctx);
  EXPECT_EQ(h.sink.requests.size(), 4u);
}

TEST(HttpParser, PipelinedRequestsSplitAtEveryPosition) {
  const Bytes stream = to_bytes(kPipelined);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    AppHarness h;
    h.feed_split(kPort, stream, {cut});
    ASSERT_EQ(h.sink.requests, expected_pipelined()) << "cut " << cut;
    EXPECT_EQ(h.total_anomalies(), 0u) << "cut " << cut;
    EXPECT_EQ(h.pool.in_use(), 0u) << "cut " << cut;
  }
}

TEST(HttpParser, PipelinedRequestsSplitAtEveryPairOfPositions) {
  const Bytes stream = to_bytes(kPipelined);
  for (size_t a = 1; a < stream.size(); a += 3) {
    for (size_t b = a + 1; b < stream.size(); b += 5) {
      AppHarness h;
      h.feed_split(kPort, stream, {a, b});
      ASSERT_EQ(h.sink.requests, expected_pipelined()) << "cuts " << a << "," << b;
    }
  }
}

TEST(HttpParser, OneByteAtATime) {
  AppHarness h;
  EXPECT_EQ(h.feed_bytewise(kPort, to_bytes(kPipelined)), AppProtocol::kHttp);
  EXPECT_EQ(h.sink.requests, expected_pipelined());
  EXPECT_EQ(h.total_anomalies(), 0u);
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(HttpParser, DetectionWaitsForTheRequestLine) {
  AppHarness h;
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes("GET / HTT")), AppProtocol::kUnknown);
  EXPECT_EQ(h.flow.proto, AppProtocol::kHttp) << "tentative";
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes("P/1.1\r\n")), AppProtocol::kHttp);
  EXPECT_TRUE(h.sink.requests.empty()) << "headers not complete yet";
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes("\r\n")), AppProtocol::kHttp);
  ASSERT_EQ(h.sink.requests.size(), 1u);
}

TEST(HttpParser, NotHttp) {
  for (const char* text : {"EHLO mail.example\r\n", "SSH-2.0-OpenSSH_9.2\r\n", "get / HTTP/1.1\r\n\r\n",
                           "GET / FTP/1.0\r\n\r\n", "POST /x\r\n", "GET /\x01 HTTP/1.1\r\n\r\n"}) {
    AppHarness h;
    EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes(text)), AppProtocol::kUnknown) << text;
    EXPECT_EQ(h.flow.proto, AppProtocol::kUnknown) << text;
    EXPECT_TRUE(h.sink.requests.empty());
    EXPECT_EQ(h.total_anomalies(), 0u);
    EXPECT_EQ(h.pool.in_use(), 0u);
    // Once given up, nothing is parsed any more.
    EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes("GET / HTTP/1.1\r\n\r\n")), AppProtocol::kUnknown);
  }
}

TEST(HttpParser, Http09) {
  AppHarness h;
  EXPECT_EQ(h.feed(Dir::kToServer, kPort, to_bytes("GET /index.html\r\n")), AppProtocol::kHttp);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0],
            (RequestCopy{"GET", "/index.html", "", "", "", 0, false, false, false, false, 0, "", true}));
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(HttpParser, AnyMethodToken) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("PROPFIND /dav HTTP/1.1\r\nHost: d\r\n\r\nM-SEARCH * HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[0].method, "PROPFIND");
  EXPECT_EQ(h.sink.requests[1].method, "M-SEARCH");
  EXPECT_EQ(h.sink.requests[1].uri, "*");
}

TEST(HttpParser, LongUriIsTruncated) {
  const std::string uri = "/" + std::string(2999, 'u');
  const Bytes stream = to_bytes("GET " + uri + " HTTP/1.1\r\nHost: h\r\n\r\n");
  for (size_t cut : {size_t{0}, size_t{100}, size_t{2052}, size_t{3003}}) {
    AppHarness h;
    h.feed_split(kPort, stream, {cut});
    ASSERT_EQ(h.sink.requests.size(), 1u);
    EXPECT_EQ(h.sink.requests[0].uri, uri.substr(0, kHttpUriCap));
    EXPECT_TRUE(h.sink.requests[0].uri_truncated);
    EXPECT_EQ(h.sink.requests[0].host, "h");
    EXPECT_EQ(h.sink.requests[0].version, "HTTP/1.1");
    EXPECT_EQ(h.total_anomalies(), 0u);
  }
}

TEST(HttpParser, UriAtTheCapIsNotTruncated) {
  const std::string uri = "/" + std::string(kHttpUriCap - 1, 'u');
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("GET " + uri + " HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].uri, uri);
  EXPECT_FALSE(h.sink.requests[0].uri_truncated);
}

TEST(HttpParser, HeaderBlockOverTheCap) {
  const std::string big = "X-Big: " + std::string(9000, 'b') + "\r\n";
  const std::string first =
      "POST /f HTTP/1.1\r\nHost: first\r\nContent-Length: 3\r\n" + big + "Y: 1\r\n\r\nabc";
  const std::string second = "GET /s HTTP/1.1\r\nHost: second\r\n\r\n";
  const Bytes stream = to_bytes(first + second);
  for (size_t cut : {size_t{0}, size_t{10}, size_t{5000}, size_t{8192 + 20}, first.size() - 1}) {
    AppHarness h;
    h.feed_split(kPort, stream, {cut});
    ASSERT_EQ(h.sink.requests.size(), 2u) << cut;
    EXPECT_EQ(h.sink.requests[0], (RequestCopy{"POST", "/f", "HTTP/1.1", "first", "", 3, true, false, false,
                                               true, 0, "abc", true}))
        << cut;
    EXPECT_EQ(h.sink.requests[1], (RequestCopy{"GET", "/s", "HTTP/1.1", "second", "", 0, false, false, false,
                                               false, 1, "", true}));
    EXPECT_EQ(h.anomaly(AppAnomaly::kHttpHeaderTooLong), 1u);
    EXPECT_EQ(h.total_anomalies(), 1u);
    EXPECT_EQ(h.pool.in_use(), 0u);
  }
}

TEST(HttpParser, ChunkedBodySplitAtEveryPosition) {
  const std::string text =
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
      "1B; name=\"v\"\r\n{\"id\":\"110101199003077777\"}\r\n"
      "3\r\n, 1\r\n"
      "0\r\n\r\n"
      "GET /next HTTP/1.1\r\n\r\n";
  const Bytes stream = to_bytes(text);
  const std::vector<RequestCopy> want = {
      {"POST", "/c", "HTTP/1.1", "", "application/json", 0, false, true, false, false, 0,
       "{\"id\":\"110101199003077777\"}, 1", true},
      {"GET", "/next", "HTTP/1.1", "", "", 0, false, false, false, false, 1, "", true},
  };
  for (size_t cut = 0; cut < stream.size(); ++cut) {
    AppHarness h;
    h.feed_split(kPort, stream, {cut});
    ASSERT_EQ(h.sink.requests, want) << cut;
    EXPECT_EQ(h.total_anomalies(), 0u);
  }
}

TEST(HttpParser, ContentLengthAndChunkedTogether) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_TRUE(h.sink.requests[0].chunked);
  EXPECT_EQ(h.sink.requests[0].body, "ok");
  EXPECT_TRUE(h.sink.requests[0].ended);
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpContentLengthAndChunked), 1u);
}

TEST(HttpParser, BadContentLength) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nGET /n HTTP/1.1\r\nContent-Length: 2, "
                  "2\r\n\r\nok"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_FALSE(h.sink.requests[0].has_content_length);
  EXPECT_EQ(h.sink.requests[1].content_length, 2u);
  EXPECT_EQ(h.sink.requests[1].body, "ok");
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBadContentLength), 1u);
}

TEST(HttpParser, UnsupportedTransferEncodingMeansBodyToTheEnd) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc"));
  h.feed(Dir::kToServer, kPort, to_bytes("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].body, "abcGET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpUnsupportedTransferEncoding), 1u);
  close(h.flow, h.ctx);
  EXPECT_TRUE(h.sink.requests[0].ended);
}

TEST(HttpParser, ObsFoldIsUnfolded) {
  const Bytes stream = to_bytes(
      "GET / HTTP/1.1\r\nContent-Type: text/html;\r\n charset=utf-8\r\nHost:\r\n\tfolded.example\r\n\r\n");
  for (size_t cut : {size_t{0}, size_t{30}}) {
    AppHarness h;
    h.feed_split(kPort, stream, {cut});
    ASSERT_EQ(h.sink.requests.size(), 1u);
    EXPECT_EQ(h.sink.requests[0].content_type, "text/html;   charset=utf-8");
    EXPECT_EQ(h.sink.requests[0].host, "folded.example");
    EXPECT_EQ(h.total_anomalies(), 0u);
    EXPECT_EQ(h.pool.in_use(), 0u);
  }
}

TEST(HttpParser, ContentEncodingIsReportedAndTheBodyPassedAsSent) {
  const Bytes stream = to_bytes(
      "POST /up HTTP/1.1\r\nHost: a.example\r\nContent-Encoding: gzip\r\nContent-Length: "
      "4\r\n\r\n\x1f\x8b\x08\x01");
  AppHarness h;
  h.feed_split(kPort, stream, {});
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.content_encodings, std::vector<std::string>{"gzip"});
  EXPECT_EQ(h.sink.requests[0].body, std::string("\x1f\x8b\x08\x01", 4));
  EXPECT_TRUE(h.sink.requests[0].ended);
}

TEST(HttpParser, BadHeadersAndDuplicateHost) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("GET / HTTP/1.1\r\nHost : spaced\r\nnocolon\r\nHost: a\r\nHOST: b\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].host, "a");
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBadHeader), 2u);
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpDuplicateHost), 1u);
}

TEST(HttpParser, CloseReportsARequestWithIncompleteHeaders) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("POST /form HTTP/1.1\r\nHost: h.example\r\nContent-Ty"));
  EXPECT_TRUE(h.sink.requests.empty());
  EXPECT_EQ(h.pool.in_use(), 1u);
  close(h.flow, h.ctx);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0], (RequestCopy{"POST", "/form", "HTTP/1.1", "h.example", "", 0, false, false,
                                             false, true, 0, "", true}));
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpHeadersIncomplete), 1u);
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(HttpParser, CloseWithIncompleteRequestLineReportsNothing) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("GET /partial"));
  close(h.flow, h.ctx);
  EXPECT_TRUE(h.sink.requests.empty());
  EXPECT_EQ(h.pool.in_use(), 0u);
}

TEST(HttpParser, CloseInsideABody) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  close(h.flow, h.ctx);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].body, "abc");
  EXPECT_TRUE(h.sink.requests[0].ended);
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBodyTruncated), 1u);
}

TEST(HttpParser, GapInHeadersThenResync) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("GET /one HTTP/1.1\r\nHost: one\r\n"));
  on_gap(h.flow, Dir::kToServer, h.ctx);
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_TRUE(h.sink.requests[0].headers_truncated);
  EXPECT_TRUE(h.sink.requests[0].ended);
  EXPECT_EQ(h.sink.requests[0].host, "one");
  EXPECT_EQ(h.pool.in_use(), 0u);
  // After the gap: the tail of something, then a real request.
  h.feed(Dir::kToServer, kPort,
         to_bytes("ail of a header\r\nGET not a request\r\nGET /two HTTP/1.1\r\nHost: two\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[1],
            (RequestCopy{"GET", "/two", "HTTP/1.1", "two", "", 0, false, false, false, false, 1, "", true}));
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpGap), 1u);
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpHeadersIncomplete), 1u);
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBadRequestLine), 0u)
      << "lines skipped while resyncing are not counted";
  EXPECT_EQ(h.total_anomalies(), 2u);
}

TEST(HttpParser, GapInBodyThenResync) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
  on_gap(h.flow, Dir::kToServer, h.ctx);
  h.feed(Dir::kToServer, kPort, to_bytes("xyz\r\nGET /next HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[0].body, "abc");
  EXPECT_TRUE(h.sink.requests[0].ended);
  EXPECT_EQ(h.sink.requests[1].uri, "/next");
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBodyTruncated), 1u);
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpGap), 1u);
}

TEST(HttpParser, BadRequestLineAfterARequestResyncs) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("GET /a HTTP/1.1\r\n\r\n\x01garbage\r\nmore garbage\r\nGET /b HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[1].uri, "/b");
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBadRequestLine), 1u);
}

TEST(HttpParser, BadChunkSize) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /after HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_TRUE(h.sink.requests[0].ended);
  EXPECT_EQ(h.sink.requests[1].uri, "/after");
  EXPECT_EQ(h.anomaly(AppAnomaly::kHttpBadChunk), 1u);
}

TEST(HttpParser, ConnectStopsParsing) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort,
         to_bytes("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
  h.feed(Dir::kToServer, kPort, records(browser_client_hello()));
  h.feed(Dir::kToServer, kPort, to_bytes("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.sink.requests[0].uri, "example.com:443");
  EXPECT_TRUE(h.sink.requests[0].ended);
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(HttpParser, ResponsesAreIgnored) {
  AppHarness h;
  h.feed(Dir::kToServer, kPort, to_bytes("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(h.feed(Dir::kToClient, kPort, to_bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")),
            AppProtocol::kHttp);
  EXPECT_EQ(h.sink.requests.size(), 1u);
  EXPECT_EQ(h.total_anomalies(), 0u);
}

TEST(HttpParser, PoolExhaustionWhileHeadersSpanSegments) {
  AppHarness h(/*buffers=*/0);
  // First request whole in one chunk: needs no buffer.
  h.feed(Dir::kToServer, kPort, to_bytes("GET /a HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 1u);
  // Second spans chunks: no buffer, skipped and counted; the third is found.
  h.feed(Dir::kToServer, kPort, to_bytes("GET /b HTTP/1.1\r\nHo"));
  h.feed(Dir::kToServer, kPort, to_bytes("st: b\r\n\r\nGET /c HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(h.sink.requests.size(), 2u);
  EXPECT_EQ(h.sink.requests[1].uri, "/c");
  EXPECT_EQ(h.counters.buffer_exhausted, 1u);
}

}  // namespace
}  // namespace ftz::engine::app::test
