#pragma once
// Test support for the app parsers: a sink that records copies of what it is
// told, a context fixture, and byte builders for TLS and DNS messages.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/engine/app/app_parser.hpp"

namespace ftz::engine::app::test {

using Bytes = std::vector<uint8_t>;

inline Bytes to_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

struct HelloCopy {
  std::string sni;
  std::vector<std::string> alpn;
  uint16_t legacy_version = 0, record_version = 0, max_supported_version = 0;
  bool ech = false, malformed = false;
  bool operator==(const HelloCopy&) const = default;
};

struct RequestCopy {
  std::string method, uri, version, host, content_type;
  uint64_t content_length = 0;
  bool has_content_length = false, chunked = false, uri_truncated = false, headers_truncated = false;
  uint32_t index = 0;
  std::string body;  // concatenated on_http_body
  bool ended = false;
  bool operator==(const RequestCopy&) const = default;
};

struct DnsCopy {
  std::string qname;
  uint16_t qtype = 0, qclass = 0, id = 0;
  bool is_response = false;
  bool operator==(const DnsCopy&) const = default;
};

inline void PrintTo(const HelloCopy& h, std::ostream* os) {
  *os << "{sni=" << testing::PrintToString(h.sni) << " alpn=" << testing::PrintToString(h.alpn) << std::hex
      << " legacy=" << h.legacy_version << " record=" << h.record_version
      << " max=" << h.max_supported_version << std::dec << " ech=" << h.ech << " malformed=" << h.malformed
      << "}";
}
inline void PrintTo(const RequestCopy& r, std::ostream* os) {
  *os << "{#" << r.index << " " << r.method << " " << testing::PrintToString(r.uri) << " "
      << testing::PrintToString(r.version) << " host=" << testing::PrintToString(r.host)
      << " ct=" << testing::PrintToString(r.content_type) << " cl=" << r.content_length << "/"
      << r.has_content_length << " chunked=" << r.chunked << " uri_trunc=" << r.uri_truncated
      << " hdr_trunc=" << r.headers_truncated << " body=" << testing::PrintToString(r.body)
      << " ended=" << r.ended << "}";
}
inline void PrintTo(const DnsCopy& d, std::ostream* os) {
  *os << "{" << testing::PrintToString(d.qname) << " type=" << d.qtype << " class=" << d.qclass
      << " id=" << d.id << " resp=" << d.is_response << "}";
}

class RecordingSink final : public AppSink {
 public:
  std::vector<std::string> content_encodings;  // per request, in order

  void on_tls_client_hello(const TlsClientHello& h) noexcept override {
    HelloCopy c{std::string(h.sni),      {},    h.legacy_version, h.record_version,
                h.max_supported_version, h.ech, h.malformed};
    for (uint8_t i = 0; i < h.alpn_count; ++i) c.alpn.emplace_back(h.alpn[i]);
    hellos.push_back(c);
  }
  void on_http_request(const HttpRequest& r) noexcept override {
    EXPECT_EQ(r.index, requests.size()) << "requests reported in index order";
    requests.push_back(RequestCopy{std::string(r.method),
                                   std::string(r.uri),
                                   std::string(r.version),
                                   std::string(r.host),
                                   std::string(r.content_type),
                                   r.content_length,
                                   r.has_content_length,
                                   r.chunked,
                                   r.uri_truncated,
                                   r.headers_truncated,
                                   r.index,
                                   {},
                                   false});
    content_encodings.emplace_back(r.content_encoding);
    heads.push_back(std::string(r.request_line) + std::string(r.header_lines));
  }
  void on_http_body(uint32_t index, std::span<const uint8_t> b) noexcept override {
    EXPECT_FALSE(b.empty()) << "no empty body callbacks";
    ASSERT_LT(index, requests.size());
    EXPECT_FALSE(requests[index].ended);
    requests[index].body.append(b.begin(), b.end());
  }
  void on_http_request_end(uint32_t index) noexcept override {
    ASSERT_LT(index, requests.size());
    EXPECT_FALSE(requests[index].ended) << "request ended twice";
    requests[index].ended = true;
  }
  void on_dns(const DnsQuery& q) noexcept override {
    dns.push_back(DnsCopy{std::string(q.qname), q.qtype, q.qclass, q.id, q.is_response});
  }
  void on_content(Dir d, Content c, std::span<const uint8_t> b) noexcept override {
    content[{d, c}].append(b.begin(), b.end());
    if (c == Content::kAside) asides.emplace_back(b.begin(), b.end());
  }
  void on_undecodable(Dir, Undecodable u) noexcept override { undecodable.push_back(u); }
  // Content handed over, by direction and kind (concatenated).
  std::string of(Dir d, Content c) const {
    const auto it = content.find({d, c});
    return it == content.end() ? std::string() : it->second;
  }

  std::vector<std::string> heads;  // request line + header lines, per request
  std::map<std::pair<Dir, Content>, std::string> content;
  std::vector<std::string> asides;
  std::vector<Undecodable> undecodable;

  std::vector<HelloCopy> hellos;
  std::vector<RequestCopy> requests;
  std::vector<DnsCopy> dns;
};

// A worker's context with a small pool.
struct AppHarness {
  explicit AppHarness(uint32_t buffers = 4, uint32_t size = 16384) : pool(buffers, size) {}
  BufferPool pool;
  AppCounters counters{};
  RecordingSink sink;
  AppContext ctx{&pool, &counters, &sink};
  AppFlowState flow{};

  uint64_t anomaly(AppAnomaly a) const { return counters.anomalies[static_cast<size_t>(a)]; }
  uint64_t total_anomalies() const {
    uint64_t t = 0;
    for (uint64_t v : counters.anomalies) t += v;
    return t;
  }
  AppProtocol feed(Dir dir, uint16_t port, std::span<const uint8_t> b) {
    return feed_tcp(flow, dir, port, b, ctx);
  }
  // Feeds `b` to the server in chunks cut at `cuts` (ascending offsets).
  AppProtocol feed_split(uint16_t port, const Bytes& b, std::initializer_list<size_t> cuts,
                         Dir dir = Dir::kToServer) {
    size_t prev = 0;
    AppProtocol p = AppProtocol::kUnknown;
    for (size_t c : cuts) {
      if (c > prev && c <= b.size()) {
        p = feed(dir, port, std::span<const uint8_t>(b).subspan(prev, c - prev));
        prev = c;
      }
    }
    if (prev < b.size()) p = feed(dir, port, std::span<const uint8_t>(b).subspan(prev));
    return p;
  }
  AppProtocol feed_bytewise(uint16_t port, const Bytes& b, Dir dir = Dir::kToServer) {
    AppProtocol p = AppProtocol::kUnknown;
    for (size_t i = 0; i < b.size(); ++i) p = feed(dir, port, std::span<const uint8_t>(b).subspan(i, 1));
    return p;
  }
};

inline void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
inline void put24(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
inline void append(Bytes& b, const Bytes& x) {
  b.insert(b.end(), x.begin(), x.end());
}
inline void append(Bytes& b, std::string_view x) {
  b.insert(b.end(), x.begin(), x.end());
}

inline Bytes extension(uint16_t type, const Bytes& body) {
  Bytes e;
  put16(e, type);
  put16(e, static_cast<uint16_t>(body.size()));
  append(e, body);
  return e;
}

inline Bytes sni_extension(std::string_view host) {
  Bytes list;
  list.push_back(0);  // host_name
  put16(list, static_cast<uint16_t>(host.size()));
  append(list, host);
  Bytes body;
  put16(body, static_cast<uint16_t>(list.size()));
  append(body, list);
  return extension(0, body);
}

inline Bytes alpn_extension(std::initializer_list<std::string_view> names) {
  Bytes list;
  for (auto n : names) {
    list.push_back(static_cast<uint8_t>(n.size()));
    append(list, n);
  }
  Bytes body;
  put16(body, static_cast<uint16_t>(list.size()));
  append(body, list);
  return extension(16, body);
}

// A ClientHello handshake message (type + 24-bit length + body) shaped like a
// current browser's: GREASE cipher, GREASE extensions first and last, SNI,
// ALPN with a GREASE entry, supported_versions, a key_share-sized padding.
inline Bytes client_hello_body(const std::vector<Bytes>& extensions) {
  Bytes b;
  put16(b, 0x0303);                                                       // legacy_version
  for (int i = 0; i < 32; ++i) b.push_back(static_cast<uint8_t>(i * 7));  // random
  b.push_back(32);                                                        // legacy_session_id
  for (int i = 0; i < 32; ++i) b.push_back(static_cast<uint8_t>(0xa0 + i));
  Bytes cs = {0x3a, 0x3a, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f};
  put16(b, static_cast<uint16_t>(cs.size()));
  append(b, cs);
  b.push_back(1);  // compression methods: null
  b.push_back(0);
  Bytes ext;
  for (const Bytes& e : extensions) append(ext, e);
  put16(b, static_cast<uint16_t>(ext.size()));
  append(b, ext);
  return b;
}

inline Bytes handshake(uint8_t type, const Bytes& body) {
  Bytes m;
  m.push_back(type);
  put24(m, static_cast<uint32_t>(body.size()));
  append(m, body);
  return m;
}

inline std::vector<Bytes> browser_extensions(std::string_view host) {
  return {
      extension(0x0a0a, {}),  // GREASE, empty
      sni_extension(host),
      extension(23, {}),                                          // extended_master_secret
      alpn_extension({"\x4a\x4a", "h2", "http/1.1"}),             // GREASE ALPN first
      extension(43, {0x06, 0x8a, 0x8a, 0x03, 0x04, 0x03, 0x03}),  // supported_versions
      extension(51, Bytes(300, 0x11)),                            // key_share-sized
      extension(0xdada, {0x00}),                                  // GREASE, 1 byte
  };
}

inline Bytes browser_client_hello(std::string_view host = "www.example.com") {
  return handshake(1, client_hello_body(browser_extensions(host)));
}

// Wraps a handshake byte string into TLS records cut at `cuts` (offsets into
// `msg`), record version 0x0301 as browsers send it.
inline Bytes records(const Bytes& msg, std::initializer_list<size_t> cuts = {}, uint16_t version = 0x0301) {
  Bytes out;
  size_t prev = 0;
  auto emit = [&](size_t end) {
    out.push_back(0x16);
    put16(out, version);
    put16(out, static_cast<uint16_t>(end - prev));
    out.insert(out.end(), msg.begin() + static_cast<long>(prev), msg.begin() + static_cast<long>(end));
    prev = end;
  };
  for (size_t c : cuts) emit(c);
  emit(msg.size());
  return out;
}

// DNS name in wire form from dotted text (no compression).
inline Bytes dns_name(std::string_view dotted) {
  Bytes b;
  while (!dotted.empty()) {
    const size_t dot = dotted.find('.');
    const std::string_view label = dotted.substr(0, dot);
    b.push_back(static_cast<uint8_t>(label.size()));
    append(b, label);
    dotted.remove_prefix(dot == std::string_view::npos ? dotted.size() : dot + 1);
  }
  b.push_back(0);
  return b;
}

inline Bytes dns_header(uint16_t id, bool response, uint16_t qdcount, uint16_t ancount = 0) {
  Bytes b;
  put16(b, id);
  put16(b, response ? 0x8180 : 0x0100);
  put16(b, qdcount);
  put16(b, ancount);
  put16(b, 0);
  put16(b, 0);
  return b;
}

inline Bytes dns_query(uint16_t id, std::string_view name, uint16_t qtype) {
  Bytes b = dns_header(id, false, 1);
  append(b, dns_name(name));
  put16(b, qtype);
  put16(b, 1);
  return b;
}

inline Bytes tcp_frame(const Bytes& msg) {
  Bytes b;
  put16(b, static_cast<uint16_t>(msg.size()));
  append(b, msg);
  return b;
}

}  // namespace ftz::engine::app::test
