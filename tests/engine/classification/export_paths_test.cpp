// Every byte of an export reaches the content scanner (issue 8 §2), end to end
// through a Worker with the built-in catalog and a policy that blocks exports
// carrying PI: one test per way of carrying an identifier that used to pass
// unscanned (HTTP headers, bytes that are not a request, tunnels after
// Upgrade/CONNECT/h2, plaintext after a ClientHello and inside TLS records,
// DNS over UDP, encodings), each asserting the detection and the verdict
// (packets dropped, flow blocked), and negatives that must stay allowed.
// Identifiers: the public resident ID 11010519491231002X (DOMAIN.md §3.1)
// and the mobile 13912345678; test output names counts, never values.
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/app_payloads.hpp"
#include "ftz/test/files.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/tcp_session.hpp"

namespace {

using namespace ftz;
using engine::Action;
using engine::Disposition;
using engine::EventType;

constexpr std::string_view kId = "11010519491231002X";
constexpr std::string_view kMobile = "13912345678";
// 2026-03-02 12:00 Asia/Shanghai.
constexpr uint64_t kT0 = 1772424000ull * 1'000'000'000;

using test::source_dir;

struct Outcome {
  std::map<std::string, uint32_t> detections;  // confirmed per signature name (flow event)
  uint32_t dropped = 0;                        // packets (and released holds) dropped by policy
  Action final_action = Action::kAllow;
  bool uninspectable = false;
  bool flow_event = false;
  std::string client_zone;  // src_zone of the flow event
  uint32_t total() const {
    uint32_t t = 0;
    for (const auto& [k, v] : detections) t += v;
    return t;
  }
};

class ExportPaths : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string yaml =
        "zones:\n"
        "  - name: ftz\n"
        "    kind: ftz\n"
        "    prefixes: [10.60.0.0/16]\n"
        "  - name: offshore\n"
        "    kind: offshore\n"
        "    default: true\n"
        "tenants:\n"
        "  - name: t\n"
        "    zone: ftz\n"
        "    prefixes: [10.60.0.0/24]\n"
        "signature_packs: [\"" +
        source_dir() + "/examples/signatures/builtin.yaml\"]\n" +
        "rules:\n"
        "  - name: block-sensitive\n"
        "    match: {src_zone: ftz, dst_zone: offshore, data_class: sensitive_pi}\n"
        "    action: block\n"
        "    alert: true\n"
        "  - name: block-pi\n"
        "    match: {src_zone: ftz, dst_zone: offshore, data_class: pi}\n"
        "    action: block\n"
        "    alert: true\n"
        "defaults:\n"
        "  - src_zone: ftz\n"
        "    dst_zone: offshore\n"
        "    action: allow\n"
        "limits:\n"
        "  flow_table_size: 1024\n";
    auto loaded = config::load_config_from_string(yaml, "/tmp/export-paths.yaml");
    ASSERT_TRUE(loaded.has_value()) << config::format_diagnostics(loaded.error());
    auto g = engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
    ASSERT_TRUE(g.has_value()) << g.error();
    gen_ = *g;
  }
  static void TearDownTestSuite() { gen_.reset(); }

  static Outcome run_frames(const std::vector<test::CapturedPacket>& pkts) {
    engine::WorkerOptions opts;
    opts.inspect_max_flows = 64;
    engine::Worker w(gen_, engine::LinkType::kEthernet, opts);
    Outcome o;
    std::vector<engine::PacketView> views;
    uint64_t token = 1;
    for (const auto& p : pkts) {
      engine::PacketView v;
      v.data = p.frame.data();
      v.caplen = v.wirelen = static_cast<uint32_t>(p.frame.size());
      v.ts_ns = static_cast<int64_t>(p.ts_ns);
      v.token = token++;
      views.push_back(v);
    }
    std::array<engine::PacketResult, engine::kBurstSize> res{};
    auto count_released = [&] {
      for (const auto& r : w.released()) o.dropped += r.disposition == Disposition::kDrop ? 1 : 0;
    };
    for (size_t i = 0; i < views.size(); i += engine::kBurstSize) {
      const size_t n = std::min<size_t>(engine::kBurstSize, views.size() - i);
      w.process_burst(std::span(views).subspan(i, n), std::span(res.data(), n));
      for (size_t k = 0; k < n; ++k) o.dropped += res[k].disposition == Disposition::kDrop ? 1 : 0;
      count_released();
    }
    w.finish(static_cast<int64_t>(pkts.empty() ? kT0 : pkts.back().ts_ns) + 1'000'000'000);
    count_released();
    while (const engine::Event* e = w.events().front()) {
      if (e->type == EventType::kFlow) {
        o.flow_event = true;
        const auto& d = e->flow.detections;
        for (uint32_t k = 0; k < d.kinds; ++k)
          o.detections[gen_->spec().signatures[d.signature[k]].name] += d.count[k];
        o.final_action = e->verdict.action;
        o.uninspectable = d.uninspectable;
        o.client_zone = e->src_zone < gen_->spec().zones.size() ? gen_->spec().zones[e->src_zone].name : "?";
      }
      w.events().pop();
    }
    return o;
  }

  // A TCP connection 10.60.0.7 -> 203.0.113.10:port: the client sends
  // `client` (cut at `mss`), the server answers `server`.
  static Outcome tcp(std::string_view client, uint16_t port = 80, std::string_view server = {},
                     uint16_t mss = 1460) {
    test::TcpSessionConfig cfg;
    cfg.client_ip = test::Ipv4Addr{{10, 60, 0, 7}};
    cfg.server_port = port;
    cfg.mss = mss;
    cfg.start_ns = kT0;
    test::TcpSession s(cfg);
    s.handshake().client_send(client);
    if (!server.empty()) s.server_send(server);
    s.close();
    return run_frames(s.packets());
  }

  static Outcome udp(std::string_view src, uint16_t sport, std::string_view dst, uint16_t dport,
                     std::span<const uint8_t> payload) {
    const test::Bytes frame =
        test::PacketBuilder().eth().ipv4(src, dst).udp(sport, dport).payload(payload).build();
    return run_frames({{kT0, frame}});
  }

  static void expect_blocked(const Outcome& o, std::string_view sig, const char* what) {
    EXPECT_TRUE(o.flow_event) << what;
    EXPECT_GE(o.detections.count(std::string(sig)) ? o.detections.at(std::string(sig)) : 0u, 1u)
        << what << ": " << sig << " not detected (" << o.total() << " detections)";
    EXPECT_EQ(o.final_action, Action::kBlock) << what;
    EXPECT_GE(o.dropped, 1u) << what << ": nothing was dropped";
  }
  static void expect_clean(const Outcome& o, const char* what) {
    EXPECT_TRUE(o.flow_event) << what;
    EXPECT_EQ(o.total(), 0u) << what;
    EXPECT_EQ(o.final_action, Action::kAllow) << what;
    EXPECT_EQ(o.dropped, 0u) << what;
  }

  static inline std::shared_ptr<const engine::PolicyGeneration> gen_;
};

std::string id() {
  return std::string(kId);
}

// ---- HTTP/1 ---------------------------------------------------------------------

TEST_F(ExportPaths, EveryRequestHeaderIsScanned) {
  const char* const cases[][2] = {
      {"Cookie", "sid=abc; idno=@"}, {"Referer", "http://portal.example/form?id=@&x=1"},
      {"X-Customer", "@"},           {"Authorization", "Bearer @"},
      {"User-Agent", "app/1.0 (@)"},
  };
  for (const auto& c : cases) {
    std::string value = c[1];
    value.replace(value.find('@'), 1, id());
    const std::string req = "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n" + std::string(c[0]) +
                            ": " + value + "\r\nAccept: */*\r\n\r\n";
    expect_blocked(tcp(req), "cn_resident_id", c[0]);
    // The header split over two segments.
    expect_blocked(tcp(req, 80, {}, static_cast<uint16_t>(req.find(value) + 5)), "cn_resident_id", c[0]);
  }
  // Host itself, and a mobile in a custom header.
  expect_blocked(tcp("GET / HTTP/1.1\r\nHost: " + id() + ".example.com\r\n\r\n"), "cn_resident_id", "Host");
  expect_blocked(tcp("GET / HTTP/1.1\r\nHost: a\r\nX-Phone: +86 " + std::string(kMobile) + "\r\n\r\n"),
                 "cn_mobile", "X-Phone");
  // An obs-folded continuation line.
  expect_blocked(tcp("GET / HTTP/1.1\r\nHost: a\r\nX-Note: first\r\n  " + id() + "\r\n\r\n"),
                 "cn_resident_id", "folded");
  // Negative: ordinary headers.
  expect_clean(
      tcp("GET /a?b=1 HTTP/1.1\r\nHost: www.example.com\r\nCookie: sid=9f86d081884c7d65\r\n"
          "Referer: http://www.example.com/\r\nX-Request-Id: 4bf92f3577b34da6a3ce929d0e0e4736\r\n\r\n"),
      "ordinary headers");
}

TEST_F(ExportPaths, HeaderBlockOverTheCapIsScannedToItsEnd) {
  std::string req =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(9000, 'p') + "\r\nX-Id: " + id() + "\r\n\r\n";
  expect_blocked(tcp(req), "cn_resident_id", "header after 9 KB");
}

TEST_F(ExportPaths, BytesAfterARequestThatAreNoRequestAreScannedRaw) {
  const std::string data = "{\"id\":\"" + id() + "\"}\n";
  expect_blocked(tcp("GET / HTTP/1.1\r\nHost: a\r\n\r\n" + data), "cn_resident_id", "GET followed by data");
  expect_blocked(tcp("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" + data), "cn_resident_id",
                 "Content-Length: 0 then a body");
  expect_blocked(tcp("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n" + data), "cn_resident_id",
                 "short Content-Length");
  expect_blocked(tcp("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;note=" + id() +
                     "\r\nhello\r\n0\r\nX-Trailer: " + std::string(kMobile) + "\r\n\r\n"),
                 "cn_resident_id", "chunk extension");
  expect_blocked(
      tcp("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: " +
          std::string(kMobile) + "\r\n\r\n"),
      "cn_mobile", "trailer");
  expect_clean(tcp("GET / HTTP/1.1\r\nHost: a\r\n\r\nplain words after the request\n"), "garbage without PI");
}

// ---- Tunnels ----------------------------------------------------------------------

std::string ws_frame(uint8_t opcode, std::string_view payload, bool masked, bool fin = true,
                     bool rsv1 = false) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
  const uint8_t mbit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    f += static_cast<char>(mbit | payload.size());
  } else {
    f += static_cast<char>(mbit | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f += static_cast<char>(masked ? payload[i] ^ key[i & 3] : payload[i]);
  return f;
}

const std::string kWsUpgrade =
    "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

TEST_F(ExportPaths, WebSocketFramesAreUnmaskedAndScanned) {
  const std::string msg = "{\"customer\":\"" + id() + "\"}";
  // Masked (as a client must), no 101 reply ever seen.
  expect_blocked(tcp(kWsUpgrade + ws_frame(1, msg, true)), "cn_resident_id", "masked frame");
  // Unmasked, and the identifier cut between two fragments with a ping between.
  const std::string half1 = msg.substr(0, 20);
  const std::string half2 = msg.substr(20);
  expect_blocked(tcp(kWsUpgrade + ws_frame(1, half1, false, false) + ws_frame(9, "ping", true) +
                     ws_frame(0, half2, true, true)),
                 "cn_resident_id", "fragmented message");
  // A mobile in a ping payload.
  expect_blocked(tcp(kWsUpgrade + ws_frame(9, std::string(kMobile), true)), "cn_mobile", "ping payload");
  // A message that ends with the identifier: decided when the frame ends.
  expect_blocked(tcp(kWsUpgrade + ws_frame(1, std::string(kMobile), true)), "cn_mobile", "text frame");
  // Not frames at all after the Upgrade: raw.
  expect_blocked(tcp(kWsUpgrade + "\x01\x02 id " + id() + "\n"), "cn_resident_id", "junk after Upgrade");
  // The server refused: the client goes on with HTTP/1.
  expect_blocked(tcp(kWsUpgrade + "GET /next HTTP/1.1\r\nHost: a\r\nX-Id: " + id() + "\r\n\r\n"),
                 "cn_resident_id", "HTTP/1 after a refused Upgrade");
  expect_clean(tcp(kWsUpgrade + ws_frame(1, "{\"hello\":\"world\"}", true)), "websocket without PI");
}

TEST_F(ExportPaths, WebSocketPerMessageDeflateIsInflated) {
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  const std::string text = "{\"customer\":\"" + id() + "\"}";
  std::string out(text.size() + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  ASSERT_EQ(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - zs.avail_out - 4);  // without 00 00 ff ff (RFC 7692 7.2.1)
  deflateEnd(&zs);
  expect_blocked(tcp(kWsUpgrade + ws_frame(1, out, true, true, true)), "cn_resident_id",
                 "permessage-deflate");
}

std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  f += static_cast<char>(payload.size() >> 16);
  f += static_cast<char>((payload.size() >> 8) & 0xff);
  f += static_cast<char>(payload.size() & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int s = 24; s >= 0; s -= 8) f += static_cast<char>((stream >> s) & 0xff);
  f += payload;
  return f;
}

const std::string kH2Preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);

TEST_F(ExportPaths, Http2DataAndHeaderBlocksAreScanned) {
  const std::string settings = h2_frame(4, 0, 0, std::string("\x00\x03\x00\x00\x00\x64", 6));
  // HEADERS with literal (not Huffman-coded) fields: :method POST (index 3),
  // then "x-id: <id>" as a literal without indexing.
  std::string block = "\x83";
  block += '\x00';
  block += static_cast<char>(4);
  block += "x-id";
  block += static_cast<char>(kId.size());
  block += id();
  const std::string data = "{\"n\":\"" + id() + "\"}";
  // Prior knowledge: DATA cut in two frames, padded.
  const std::string padded = std::string(1, '\x04') + data.substr(0, 12) + std::string(4, '\0');
  const std::string stream = kH2Preface + settings + h2_frame(1, 0x4, 1, "\x83\x86\x84") +
                             h2_frame(0, 0x8, 1, padded) + h2_frame(0, 0x1, 1, data.substr(12));
  Outcome o = tcp(stream);
  expect_blocked(o, "cn_resident_id", "h2 DATA");
  EXPECT_TRUE(o.uninspectable) << "HPACK is not decoded: the direction is uninspectable (decode)";
  // An identifier in a header field, h2c upgrade.
  const std::string upgrade =
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
      "AAMAAABkAAQAAP__\r\n\r\n";
  expect_blocked(tcp(upgrade + kH2Preface + settings + h2_frame(1, 0x5, 3, block)), "cn_resident_id",
                 "h2c header literal");
  expect_clean(tcp(kH2Preface + settings + h2_frame(0, 0x1, 1, "{\"n\":\"none\"}")), "h2 without PI");
}

TEST_F(ExportPaths, ConnectTunnelIsScanned) {
  expect_blocked(
      tcp("CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\nINSERT " + id() + ";\n"),
      "cn_resident_id", "CONNECT");
}

// ---- TLS ----------------------------------------------------------------------------

std::string as_string(const test::Bytes& b) {
  return std::string(b.begin(), b.end());
}

std::string client_hello(std::string sni = "www.example.com") {
  test::TlsClientHelloSpec spec;
  spec.sni = std::move(sni);
  return as_string(test::tls_client_hello(spec));
}

TEST_F(ExportPaths, PlaintextAfterAClientHelloAndInsideRecordsIsScanned) {
  // Bytes that are not TLS records after the ClientHello.
  expect_blocked(tcp(client_hello() + "id=" + id() + "\n", 443), "cn_resident_id",
                 "plaintext after ClientHello");
  // A fake application-data record wrapping plaintext for a colluding server,
  // the identifier split between two records.
  const std::string text = "customer " + id() + " end";
  const auto rec = [](std::string_view body) {
    return as_string(test::tls_record(test::kTlsApplicationData,
                                      std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size())));
  };
  expect_blocked(tcp(client_hello() + rec(text.substr(0, 15)) + rec(text.substr(15)), 443), "cn_resident_id",
                 "plaintext in TLS records");
  // SNI and ALPN values.
  expect_blocked(tcp(client_hello(id() + ".example.com"), 443), "cn_resident_id", "SNI");
  // Negative: a real-looking handshake with random application data.
  std::string random_data(600, '\0');
  uint32_t x = 12345;
  for (char& c : random_data) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  expect_clean(tcp(client_hello() + rec(random_data), 443), "TLS without PI");
}

// ---- UDP and DNS -------------------------------------------------------------------

TEST_F(ExportPaths, DnsQueryNamesOverUdpAreScanned) {
  const auto q = test::dns_query(0x4242, id() + ".exfil.example");
  expect_blocked(udp("10.60.0.7", 53000, "203.0.113.53", 53, q), "cn_resident_id", "qname");
  // The identifier cut into two labels.
  const auto split = test::dns_query(0x4243, "110105194912.31002x.exfil.example");
  expect_blocked(udp("10.60.0.7", 53001, "203.0.113.53", 53, split), "cn_resident_id",
                 "qname split over labels");
  expect_clean(udp("10.60.0.7", 53002, "203.0.113.53", 53, test::dns_query(0x4244, "www.example.com")),
               "ordinary DNS");
}

TEST_F(ExportPaths, AnyUdpPayloadIsScannedAndDirectionComesFromZones) {
  const std::string text = "rows: " + id() + "\n";
  const std::span<const uint8_t> payload(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  expect_blocked(udp("10.60.0.7", 40000, "203.0.113.53", 53, payload), "cn_resident_id",
                 "non-DNS on port 53");
  // From port 53 to an offshore high port: still inside -> offshore.
  Outcome o = udp("10.60.0.7", 53, "203.0.113.53", 40001, payload);
  expect_blocked(o, "cn_resident_id", "from port 53");
  EXPECT_EQ(o.client_zone, "ftz") << "the inside endpoint is the client of an export without a handshake";
  expect_blocked(udp("10.60.0.7", 1900, "203.0.113.53", 1900, payload), "cn_resident_id", "SSDP port");
}

// ---- Encodings ---------------------------------------------------------------------

std::string post(std::string_view headers, std::string_view body) {
  return "POST /upload HTTP/1.1\r\nHost: a\r\n" + std::string(headers) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string zip(std::string_view in, int bits) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST_F(ExportPaths, EncodedBodiesAreDecoded) {
  std::string pct;
  for (const char c : kId) {
    char b[4];
    std::snprintf(b, sizeof b, "%%%02X", static_cast<unsigned char>(c));
    pct += b;
  }
  expect_blocked(tcp(post("Content-Type: text/plain\r\n", "v=" + pct)), "cn_resident_id",
                 "percent in text/plain");
  std::string uesc;
  for (const char c : kId) {
    char b[8];
    std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned char>(c));
    uesc += b;
  }
  expect_blocked(tcp(post("Content-Type: application/octet-stream\r\n", "v=" + uesc)), "cn_resident_id",
                 "\\u in octet-stream");
  const std::string json = "{\"id\":\"" + id() + "\"}";
  expect_blocked(tcp(post("Content-Type: application/json\r\nContent-Encoding: deflate, gzip\r\n",
                          zip(zip(json, 15), 15 + 16))),
                 "cn_resident_id", "deflate, gzip");
  expect_blocked(tcp(post("Content-Type: application/octet-stream\r\n", zip(json, 15 + 16))),
                 "cn_resident_id", "gzip file without Content-Encoding");
  std::string u16 = "\xff\xfe";
  for (const char c : "id: " + id() + "\r\n") {
    u16 += c;
    u16 += '\0';
  }
  expect_blocked(tcp(post("Content-Type: text/plain; charset=utf-16le\r\n", u16)), "cn_resident_id",
                 "UTF-16LE");
  std::string spaced;
  for (const char c : kId) {
    spaced += c;
    spaced += ' ';
  }
  expect_blocked(tcp(post("Content-Type: text/plain\r\n", spaced)), "cn_resident_id", "every digit spaced");
  for (const char* g : {"110105.19491231.002X", "110-105-1949-1231-002X", "1101 0519 4912 3100 2X"}) {
    expect_blocked(tcp(post("Content-Type: text/plain\r\n", std::string("no: ") + g + "\n")),
                   "cn_resident_id", g);
  }
  // base64: a JSON value, a whole body.
  static const char* kAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto b64 = [](std::string_view in) {
    std::string out;
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
      const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
      for (int k = 18; k >= 0; k -= 6) out += kAlpha[(v >> k) & 63];
    }
    const size_t left = in.size() - i;
    if (left > 0) {
      uint32_t v = uint8_t(in[i]) << 16;
      if (left == 2) v |= uint8_t(in[i + 1]) << 8;
      out += kAlpha[(v >> 18) & 63];
      out += kAlpha[(v >> 12) & 63];
      out += left == 2 ? kAlpha[(v >> 6) & 63] : '=';
      out += '=';
    }
    return out;
  };
  expect_blocked(
      tcp(post("Content-Type: application/json\r\n", "{\"blob\":\"" + b64("customer=" + id()) + "\"}")),
      "cn_resident_id", "base64 in a JSON value");
  expect_blocked(tcp(post("Content-Type: text/plain\r\n",
                          b64(std::string(3000, '-') + " tel " + std::string(kMobile) + "\n"))),
                 "cn_mobile", "base64 body");
  expect_clean(tcp(post("Content-Type: text/plain\r\n",
                        "1 2 3 4 5 6 7 8 9 0 %41%42 \\u0043 " + b64("nothing here at all"))),
               "encoded noise");
}

}  // namespace
