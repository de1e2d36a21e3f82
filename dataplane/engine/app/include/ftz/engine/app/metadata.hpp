#pragma once
// What the app parsers report, and the callback interface that receives it.
// Every string_view / span points into the packet chunk or a pool buffer and
// is valid only for the duration of the callback: copy what you keep.

#include <cstdint>
#include <span>
#include <string_view>

namespace ftz::engine::app {

enum class Dir : uint8_t { kToServer = 0, kToClient = 1 };

enum class AppProtocol : uint8_t { kUnknown, kHttp, kTls, kDns };

struct TlsClientHello {
  std::string_view sni;      // first host_name (type 0) entry, raw bytes as sent
  std::string_view alpn[4];  // first 4 non-GREASE protocol names, in order
  uint8_t alpn_count = 0;
  uint16_t legacy_version = 0;         // ClientHello.legacy_version (0x0303 for TLS 1.2/1.3)
  uint16_t record_version = 0;         // version of the first record carrying it
  uint16_t max_supported_version = 0;  // highest non-GREASE supported_versions entry, 0 if absent
  bool ech = false;                    // encrypted_client_hello (0xfe0d) present: sni is the public name
  bool malformed = false;              // an anomaly was counted while parsing; fields hold what parsed
};

struct HttpRequest {
  std::string_view method, uri, version, host, content_type;  // version empty for HTTP/0.9
  // The request line (method SP target [SP version], line end included) and
  // the header lines that were parsed (obs-folds replaced by SP): content to
  // inspect (query strings, Cookie, Referer, custom headers). When the block
  // was over the cap, the rest of it follows through AppSink::on_content
  // (Content::kHttpHeadMore).
  std::string_view request_line, header_lines;
  std::string_view content_encoding;  // e.g. "gzip"; the body is not decoded here
  uint64_t content_length = 0;        // 0 when absent (see has_content_length)
  bool has_content_length = false;
  bool chunked = false;            // Transfer-Encoding final coding is chunked
  bool uri_truncated = false;      // uri cut at kHttpUriCap bytes
  bool headers_truncated = false;  // header block over the cap, or never completed (gap/close)
  uint32_t index = 0;              // 0-based within the flow
};

struct DnsQuery {
  std::string_view qname;  // lower-case, dot-separated, no trailing dot; "" for the root;
                           // '.', '\\' and non-printable octets inside labels as \DDD or \.
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  uint16_t id = 0;
  bool is_response = false;  // QR bit
};

// How a run of stream bytes handed to AppSink::on_content is to be inspected.
// Every byte of a TCP stream reaches the sink exactly once, through
// on_content, an HTTP request's request_line/header_lines or on_http_body,
// except protocol framing the parsers validated and removed (TLS record
// headers, HTTP chunk-size digits and CRLFs, WebSocket and HTTP/2 frame
// headers, masks, zero padding).
enum class Content : uint8_t {
  kRaw,               // as sent: unknown protocols, DNS over TCP, HTTP responses, bytes between or
                      // after HTTP requests that are not a request, TLS record payloads and whatever
                      // follows bytes that are not TLS records, CONNECT tunnels, unparsed upgrades
  kHttpHeadMore,      // the part of an HTTP request's header block over the cap (after its report)
  kAside,             // a complete small unit that sits between body bytes and is inspected on its
                      // own: an HTTP chunk extension or trailer line, a WebSocket control payload,
                      // an HTTP/2 header block fragment or control frame payload
  kWsPayload,         // unmasked WebSocket data-frame payload (messages in order)
  kWsPayloadDeflate,  // the same, of a per-message-deflate message (RFC 7692, raw deflate)
  kWsMessageEnd,      // end of a WebSocket data message (no bytes): its last bytes are decided now
  kWsDeflateEnd,      // the same for a compressed message (the inflater first gets 00 00 ff ff)
  kH2Data,            // HTTP/2 DATA payload (padding removed), frames in order, all streams
};

// Why a direction could not be decoded (the flow becomes uninspectable, reason `decode`).
enum class Undecodable : uint8_t {
  kHpack,         // HTTP/2 header block (HPACK) not decoded: its raw bytes were inspected as they are
  kAsideTooLong,  // chunk extension / trailer / control payload over the cap or without a buffer
};

// Receives what the parsers find. Called synchronously from feed_*/on_gap/close
// on the worker thread; must not call back into the parser of the same flow.
class AppSink {
 public:
  virtual ~AppSink() = default;
  // Once per flow, when the whole ClientHello has been seen.
  virtual void on_tls_client_hello(const TlsClientHello&) noexcept = 0;
  // Once per request, after its header block (or when it is given up, flagged).
  virtual void on_http_request(const HttpRequest&) noexcept = 0;
  // De-chunked body bytes of request `request_index`, in order, any split.
  virtual void on_http_body(uint32_t request_index, std::span<const uint8_t> decoded) noexcept = 0;
  // After the last body byte (or the header block when there is no body).
  virtual void on_http_request_end(uint32_t request_index) noexcept = 0;
  // Once per question of each DNS message (queries and responses).
  virtual void on_dns(const DnsQuery&) noexcept = 0;
  // Stream bytes to inspect (see Content), in stream order within a direction.
  virtual void on_content(Dir, Content, std::span<const uint8_t>) noexcept {}
  // Something in direction `dir` could not be decoded; its bytes were still
  // handed over raw where they exist.
  virtual void on_undecodable(Dir, Undecodable) noexcept {}
};

}  // namespace ftz::engine::app
