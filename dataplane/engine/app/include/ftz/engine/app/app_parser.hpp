#pragma once
// Streaming application-metadata parsers of the inspection engine.
//
// The engine feeds in-order, reassembled bytes of each TCP direction (chunks
// may split anywhere, down to one byte) or whole UDP datagrams; the parsers
// report TLS ClientHello (SNI, ALPN), HTTP/1.x requests (request line, Host,
// Content-Type, de-chunked body, pipelining) and DNS question names through
// AppSink. Per packet: no allocation, lock, syscall or exception; every
// discarded or malformed input bumps a named counter (AppAnomaly, ftz/engine/reasons/app.def).

#include <cstdint>
#include <span>
#include <type_traits>

#include "ftz/base/ascii.hpp"
#include "ftz/engine/app/buffer_pool.hpp"
#include "ftz/engine/app/metadata.hpp"
#include "ftz/engine/reasons.hpp"  // AppAnomaly (reasons/app.def)

namespace ftz::engine::app {

// Limits. A pool buffer must be at least as large as the cap a parser uses it
// for, otherwise the smaller of the two applies.
inline constexpr uint32_t kTlsHelloCap = 16 * 1024;    // whole ClientHello handshake message
inline constexpr uint32_t kHttpHeaderCap = 8 * 1024;   // request line + header block
inline constexpr uint32_t kHttpUriCap = 2048;          // reported URI length
inline constexpr uint32_t kHttpMethodCap = 32;         // longer "methods" are not HTTP
inline constexpr uint32_t kDnsMessageCap = 64 * 1024;  // DNS-over-TCP bytes kept per message
inline constexpr uint32_t kDnsMaxQuestions = 8;        // questions reported per message
inline constexpr uint32_t kDnsMaxPointerJumps = 16;    // compression jumps per name
inline constexpr uint32_t kAsideCap = 1024;  // chunk extension / trailer line / control payload kept whole
static_assert(kHttpHeaderCap < 65536, "HTTP offsets are 16-bit");

struct AppCounters {
  uint64_t anomalies[kAppAnomalyCount] = {};
  uint64_t tls_hellos = 0;
  uint64_t http_requests = 0;
  uint64_t dns_messages = 0;
  uint64_t buffer_exhausted = 0;  // acquire() failed; that parser skipped or gave up
};

struct AppContext {
  BufferPool* pool;
  AppCounters* counters;
  AppSink* sink;
};

// ---- Per-direction parser state (internal layout; read only through the API).
// Plain data: an all-zero object is a valid fresh state, so a flow table may
// memset or memcpy records freely (trivially relocatable).

struct TlsRecordState {
  uint16_t left;  // payload bytes left in the current record
  uint8_t hdr[5];
  uint8_t have;
  uint8_t raw;  // framing lost: the rest of the direction is raw
};

struct TlsDirState {
  TlsRecordState records;   // record de-framing, both directions
  uint32_t need;            // bytes of the ClientHello handshake message (4 + length), 0 = unknown yet
  uint16_t rec_left;        // fragment bytes left in the current record
  uint16_t record_version;  // of the first record
  uint8_t hdr[5];           // record header being collected
  uint8_t hdr_have;
  uint8_t phase;
};

struct HttpDirState {
  uint64_t remaining;      // body bytes left (Content-Length) or bytes left in the current chunk
  uint32_t index;          // index of the current request within the flow
  uint16_t block_len;      // bytes of the current request line + header block seen
  uint16_t line_start;     // offset of the current line within the block
  uint16_t uri_start;      // offset of the URI within the block
  uint16_t uri_len;        // URI bytes seen, saturates at kHttpUriCap + 1
  uint16_t version_start;  // offset of the version within the block
  uint16_t header_start;   // offset of the first header line
  uint8_t method_len;
  uint8_t version_len;
  uint8_t phase;
  uint8_t sub;  // request-line / chunk-line sub-state
  uint16_t flags;
  uint8_t tunnel_kind;  // what follows the current request (Tunnel), set with kAfterTunnel
};

// What a direction carries after an HTTP/1 request switched protocols.
enum class Tunnel : uint8_t {
  kNone = 0,
  kRaw = 1,        // CONNECT, an Upgrade we do not parse, or framing lost: every byte as sent
  kWebSocket = 2,  // RFC 6455 frames
  kH2 = 3,         // HTTP/2 frames after the rest of the connection preface
};

struct WsDirState {
  uint64_t left;        // payload bytes left in the current frame
  uint32_t http_index;  // next HTTP request index, if the peer never switched
  uint8_t hdr[10];      // frame header without the masking key (bytes 10..13 go to mask)
  uint8_t hdr_have;
  uint8_t opcode;  // of the current frame
  uint8_t mask[4];
  uint8_t mask_pos;
  uint8_t flags;  // WsFlag bits (internal)
};

struct H2DirState {
  uint32_t left;        // payload bytes left in the current frame
  uint32_t http_index;  // next HTTP request index, if the peer never switched
  uint8_t hdr[9];
  uint8_t hdr_have;
  uint8_t type;
  uint8_t flags;
  uint8_t preface_have;  // bytes of the expected preface rest matched
  uint8_t preface_len;   // 0 once the preface is complete
  uint8_t skip;          // pad-length / priority bytes still to skip
  uint8_t pad;           // padding bytes at the end of the frame
  uint8_t reported;      // undecodable header block reported
};

struct DnsDirState {
  uint32_t msg_left;  // bytes of the current message still to take (or skip)
  uint16_t msg_len;   // length of the current message from its 2-byte prefix
  uint8_t len_hdr[2];
  uint8_t len_have;
  uint8_t phase;
  uint8_t skipping;  // no buffer for this message: skip it, keep the framing
};

struct AppDirState {
  uint32_t buf_slot;  // pool buffer index + 1; 0 = none. At most one per direction.
  uint32_t buf_len;   // bytes accumulated in that buffer
  Tunnel tunnel;      // set once an HTTP request switched this direction's protocol
  uint8_t aside;      // AsideMode (internal): a chunk extension / trailer / control payload is collected
  union {
    TlsDirState tls;
    HttpDirState http;
    DnsDirState dns;
    WsDirState ws;
    H2DirState h2;
  };
};

struct AppFlowState {
  AppDirState dir[2] = {};  // indexed by Dir
  AppProtocol proto = AppProtocol::kUnknown;
  uint8_t detect = 0;  // detection stage (internal)
};
static_assert(std::is_trivially_copyable_v<AppFlowState>, "lives inside flow records");
static_assert(sizeof(AppDirState) <= 48, "per-direction budget");

// Feeds in-order bytes of one TCP direction. The first bytes detect the
// protocol: DNS when server_port is 53; else, in the to-server direction, a TLS
// record header (0x16 0x03 0x00..0x04) or an HTTP request line (method token,
// SP, URI, and "HTTP/x.y" or the HTTP/0.9 form "GET uri"). A flow whose server
// sends first, or whose first bytes match nothing, stays kUnknown for good.
// Returns the protocol detected so far (kUnknown while undecided).
AppProtocol feed_tcp(AppFlowState& st, Dir dir, uint16_t server_port, std::span<const uint8_t> bytes,
                     AppContext& ctx) noexcept;

// Bytes are missing in direction `dir`. TLS gives up (counted) unless the
// ClientHello was already reported; HTTP reports a request whose request line
// was complete (headers_truncated), ends it and resynchronises on the next
// request line; DNS over TCP parses what it holds and stops (framing lost).
void on_gap(AppFlowState& st, Dir dir, AppContext& ctx) noexcept;

// Flow end: reports a pending HTTP request whose request line was complete
// (headers_truncated), ends an open request, releases buffers, resets `st`.
void close(AppFlowState& st, AppContext& ctx) noexcept;

// One UDP datagram: DNS when either port is 53, 5353 (mDNS) or 5355 (LLMNR)
// and the payload parses as a DNS message; an HTTP request (SSDP, UPnP 1.1: HTTP over
// UDP, "M-SEARCH * HTTP/1.1") otherwise when it parses as one.
// Nothing is reported through on_content: the engine inspects every UDP
// payload as it is.
AppProtocol feed_udp(Dir dir, uint16_t src_port, uint16_t dst_port, std::span<const uint8_t> payload,
                     AppContext& ctx) noexcept;

// Whether feed_udp() would look at this datagram at all (a DNS port, or a
// payload that may open an HTTP request line). When false, feed_udp() returns
// kUnknown and reports nothing: the engine's short path skips the call.
// DNS (53), mDNS (5353), LLMNR (5355).
constexpr bool is_dns_port(uint16_t p) noexcept {
  return p == 53 || p == 5353 || p == 5355;
}
// Inline: the engine's short path asks it for every datagram.
inline bool udp_may_carry_app(uint16_t src_port, uint16_t dst_port,
                              std::span<const uint8_t> payload) noexcept {
  return is_dns_port(src_port) || is_dns_port(dst_port) || (!payload.empty() && ascii::is_upper(payload[0]));
}

// Releases buffers and returns `st` to the fresh state, reporting nothing.
void reset(AppFlowState& st, AppContext& ctx) noexcept;

}  // namespace ftz::engine::app
