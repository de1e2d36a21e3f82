#pragma once
// Shared internals of the app parsers (not installed; tests use the public API).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "ftz/engine/app/app_parser.hpp"

namespace ftz::engine::app::detail {

inline void count(AppContext& ctx, AppAnomaly a) noexcept {
  ++ctx.counters->anomalies[static_cast<size_t>(a)];
}
inline void count(AppCounters& c, AppAnomaly a) noexcept {
  ++c.anomalies[static_cast<size_t>(a)];
}

inline uint16_t be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// The direction's pool buffer, acquiring one if it holds none. Empty span when
// the pool is exhausted (counted in buffer_exhausted).
inline std::span<uint8_t> buffer(AppDirState& d, AppContext& ctx) noexcept {
  if (d.buf_slot == 0) {
    const uint32_t idx = ctx.pool->acquire();
    if (idx == BufferPool::kNoBuffer) {
      ++ctx.counters->buffer_exhausted;
      return {};
    }
    d.buf_slot = idx + 1;
    d.buf_len = 0;
  }
  return ctx.pool->get(d.buf_slot - 1);
}

inline void release_buffer(AppDirState& d, AppContext& ctx) noexcept {
  if (d.buf_slot != 0) ctx.pool->release(d.buf_slot - 1);
  d.buf_slot = 0;
  d.buf_len = 0;
}

// Appends `src` to the direction's buffer, keeping at most `cap` bytes in it.
// False when no buffer could be had or `src` does not fit.
inline bool append(AppDirState& d, AppContext& ctx, std::span<const uint8_t> src, uint32_t cap) noexcept {
  if (src.empty()) return true;
  const std::span<uint8_t> b = buffer(d, ctx);
  if (b.empty()) return false;
  const uint32_t limit = cap < b.size() ? cap : static_cast<uint32_t>(b.size());
  if (d.buf_len > limit || src.size() > limit - d.buf_len) return false;
  std::memcpy(b.data() + d.buf_len, src.data(), src.size());
  d.buf_len += static_cast<uint32_t>(src.size());
  return true;
}

// Hands stream bytes to the engine for inspection (AppSink::on_content).
inline void deliver(AppContext& ctx, Dir dir, Content c, std::span<const uint8_t> b) noexcept {
  if (!b.empty()) ctx.sink->on_content(dir, c, b);
}

// Aside units (a chunk extension, a trailer line, a control frame payload):
// kept whole in the direction's pool buffer up to kAsideCap and handed over
// as one Content::kAside. Over the cap or without a buffer the pieces go as
// they come and the direction is reported undecodable (an identifier cut
// between two pieces could be missed). The direction must hold no other
// buffer while an aside unit is open.
enum AsideMode : uint8_t { kAsideNone = 0, kAsideKeep = 1, kAsidePieces = 2 };

inline void aside_begin(AppDirState& d) noexcept {
  d.aside = kAsideKeep;
}

void aside_add(AppDirState& d, Dir dir, std::span<const uint8_t> b, AppContext& ctx) noexcept;
void aside_end(AppDirState& d, Dir dir, AppContext& ctx) noexcept;
// The last piece of a unit: the whole unit in place when nothing is held.
void aside_whole(AppDirState& d, Dir dir, std::span<const uint8_t> b, AppContext& ctx) noexcept;

// Usable capacity of one pool buffer for a parser with cap `cap`.
inline uint32_t usable(const AppContext& ctx, uint32_t cap) noexcept {
  const uint32_t s = ctx.pool->buffer_size();
  return s < cap ? s : cap;
}

// TLS (to-server direction). `tentative`: the flow is not yet known to be TLS;
// cleared once the record header proves it. Returns false when the bytes are
// not TLS (only possible while tentative).
bool tls_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx, bool& tentative) noexcept;
void tls_gap(AppDirState& d, AppContext& ctx) noexcept;
// Parses one complete ClientHello handshake message (4-byte header included).
// False when the fixed part is unusable (nothing to report).
bool parse_client_hello(std::span<const uint8_t> msg, uint16_t record_version, TlsClientHello& out,
                        AppCounters& counters) noexcept;

// HTTP requests (to-server direction). Same `tentative` contract as TLS.
// `rest` receives the offset where the bytes of a tunnel begin (the request
// that switched protocols ended there; tunnel_begin() takes over), or
// bytes.size() when none began.
bool http_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx, bool& tentative,
               size_t& rest) noexcept;
void http_gap(AppDirState& d, AppContext& ctx) noexcept;
void http_close(AppDirState& d, AppContext& ctx) noexcept;

// Tunnels (tunnel_parser.cpp). tunnel_begin() turns the direction (its
// HttpDirState) into `kind`; tunnel_feed() parses it. A WebSocket or HTTP/2
// direction whose first bytes are an HTTP request line (the server refused
// the switch) returns to HTTP/1: tunnel_feed() then returns the offset where
// HTTP resumes, else bytes.size().
// Bytes of the request line that came with earlier chunks (held as a frame
// header or preface prefix): HTTP/1 gets them first.
struct Replay {
  uint8_t bytes[24];
  uint8_t len = 0;
};
void tunnel_begin(AppDirState& d, Tunnel kind, uint32_t http_index, bool full_h2_preface) noexcept;
size_t tunnel_feed(AppDirState& d, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx,
                   Replay& replay) noexcept;
// Bytes lost: framing cannot be trusted any more, the rest is raw.
void tunnel_gap(AppDirState& d, Dir dir, AppContext& ctx) noexcept;

// TLS record layer (both directions): payloads go to the engine raw with the
// record headers removed; bytes that are not a well-formed record switch the
// direction to raw for good.
void tls_records_feed(AppDirState& d, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx) noexcept;
// Record-header bytes held back (an incomplete header), for a flow found not
// to be TLS after all.
std::span<const uint8_t> tls_records_held(const AppDirState& d) noexcept;

// DNS. `msg` is one message, or the kept prefix of a longer TCP message
// (only the question section is parsed, so a cut answer section is harmless).
void dns_parse_message(std::span<const uint8_t> msg, AppContext& ctx) noexcept;
void dns_tcp_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx) noexcept;
void dns_tcp_gap(AppDirState& d, AppContext& ctx) noexcept;

}  // namespace ftz::engine::app::detail
