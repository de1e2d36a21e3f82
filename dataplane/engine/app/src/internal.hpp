#pragma once
// Shared internals of the app parsers (not installed; tests use the public API).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "ftz/engine/app/app_parser.hpp"

namespace ftz::engine::app::detail {

inline void count(AppContext& ctx, AppAnomaly a) noexcept { ++ctx.counters->anomalies[static_cast<size_t>(a)]; }
inline void count(AppCounters& c, AppAnomaly a) noexcept { ++c.anomalies[static_cast<size_t>(a)]; }

inline uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

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
bool http_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx, bool& tentative) noexcept;
void http_gap(AppDirState& d, AppContext& ctx) noexcept;
void http_close(AppDirState& d, AppContext& ctx) noexcept;

// DNS. `msg` is one message, or the kept prefix of a longer TCP message
// (only the question section is parsed, so a cut answer section is harmless).
void dns_parse_message(std::span<const uint8_t> msg, AppContext& ctx) noexcept;
void dns_tcp_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx) noexcept;
void dns_tcp_gap(AppDirState& d, AppContext& ctx) noexcept;

}  // namespace ftz::engine::app::detail
