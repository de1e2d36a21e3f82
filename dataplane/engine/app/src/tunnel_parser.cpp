// What follows an HTTP/1 request that switched protocols: WebSocket frames
// (RFC 6455), HTTP/2 frames after the connection preface (RFC 9113), or raw
// bytes (CONNECT, other upgrades). Nothing is skipped: payloads are handed to
// the engine unmasked and de-framed, everything that does not parse is handed
// over raw. The server's answer is not awaited (a client may send frames
// before the 101, or without one); a direction whose first bytes are an HTTP
// request line instead goes back to HTTP/1 (the server refused the switch).
// Also the aside units shared by the parsers. Per-packet code.
#include <algorithm>

#include "ftz/base/ascii.hpp"
#include "internal.hpp"

namespace ftz::engine::app::detail {

void aside_add(AppDirState& d, Dir dir, std::span<const uint8_t> b, AppContext& ctx) noexcept {
  if (b.empty()) return;
  if (d.aside == kAsideKeep) {
    if (append(d, ctx, b, kAsideCap)) return;
    // Over the cap or no buffer: what is held goes now, then pieces as they come.
    ctx.sink->on_undecodable(dir, Undecodable::kAsideTooLong);
    if (d.buf_slot != 0)
      deliver(ctx, dir, Content::kAside, {ctx.pool->get(d.buf_slot - 1).data(), d.buf_len});
    release_buffer(d, ctx);
    d.aside = kAsidePieces;
  }
  deliver(ctx, dir, Content::kAside, b);
}

void aside_whole(AppDirState& d, Dir dir, std::span<const uint8_t> b, AppContext& ctx) noexcept {
  if (d.aside == kAsideKeep && d.buf_slot == 0) {
    // The whole unit in one chunk: handed over in place, no buffer. The cap
    // is reported all the same, so the outcome does not depend on segments.
    if (b.size() > kAsideCap) ctx.sink->on_undecodable(dir, Undecodable::kAsideTooLong);
    deliver(ctx, dir, Content::kAside, b);
    d.aside = kAsideNone;
    return;
  }
  aside_add(d, dir, b, ctx);
  aside_end(d, dir, ctx);
}

void aside_end(AppDirState& d, Dir dir, AppContext& ctx) noexcept {
  if (d.aside == kAsideKeep && d.buf_slot != 0) {
    deliver(ctx, dir, Content::kAside, {ctx.pool->get(d.buf_slot - 1).data(), d.buf_len});
  }
  if (d.aside != kAsideNone) release_buffer(d, ctx);
  d.aside = kAsideNone;
}

namespace {

using ascii::is_upper;

// ---- WebSocket -------------------------------------------------------------

enum WsFlag : uint8_t {
  kWsInMessage = 1 << 0,  // a fragmented data message is open
  kWsDeflate = 1 << 1,    // the open message is compressed (RSV1 on its first frame)
  kWsMasked = 1 << 2,     // the current frame is masked
  kWsSeenFrame = 1 << 3,  // a valid frame header was seen
  kWsControl = 1 << 4,    // the current frame is a control frame (aside unit)
};

constexpr uint32_t kWsUnmaskChunk = 2048;

// Header length once the first two bytes are known.
constexpr uint8_t ws_header_len(const uint8_t* h) noexcept {
  const uint8_t len7 = h[1] & 0x7f;
  return static_cast<uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0));
}

// RFC 6455 5.2: RSV2/RSV3 need an extension we do not know; RSV1 only on the
// first frame of a data message (permessage-deflate, RFC 7692 6); opcodes
// 3-7 and 11-15 are reserved; control frames are final and <= 125 bytes; a
// continuation needs an open message and a new message a closed one.
bool ws_header_ok(const WsDirState& s, const uint8_t* h) noexcept {
  const uint8_t op = h[0] & 0x0f;
  const bool fin = (h[0] & 0x80) != 0;
  const bool rsv1 = (h[0] & 0x40) != 0;
  if (h[0] & 0x30) return false;
  const bool in_message = (s.flags & kWsInMessage) != 0;
  if (op >= 8) {
    if (op > 10 || !fin || rsv1 || (h[1] & 0x7f) > 125) return false;
    return true;
  }
  if (op > 2) return false;
  if (op == 0) return in_message && !rsv1;
  return !in_message;
}

// Returns where HTTP/1 resumes (back_to_http) or bytes.size().
size_t ws_feed(AppDirState& d, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx,
               Replay& replay) noexcept {
  WsDirState& s = d.ws;
  const uint8_t* p = bytes.data();
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    if (d.tunnel != Tunnel::kWebSocket) {  // framing lost below: the rest is raw
      deliver(ctx, dir, Content::kRaw, bytes.subspan(i));
      return n;
    }
    if (s.left == 0) {
      // Collect a frame header (bytes 10..13, a masking key after a 64-bit
      // length, go straight to `mask`).
      const uint8_t need = s.hdr_have >= 2 ? ws_header_len(s.hdr) : 2;
      while (s.hdr_have < need && i < n) {
        if (s.hdr_have < sizeof s.hdr)
          s.hdr[s.hdr_have] = p[i];
        else
          s.mask[s.hdr_have - sizeof s.hdr] = p[i];
        ++s.hdr_have;
        ++i;
      }
      if (s.hdr_have == 2 && !ws_header_ok(s, s.hdr)) {
        if (!(s.flags & kWsSeenFrame) && dir == Dir::kToServer && is_upper(s.hdr[0])) {
          // A request line: the server did not switch, HTTP/1 goes on. Its
          // first byte may have come with the previous chunk.
          const size_t here = std::min<size_t>(i, 2);
          replay.len = static_cast<uint8_t>(2 - here);
          std::memcpy(replay.bytes, s.hdr, replay.len);
          return i - here;
        }
        d.tunnel = Tunnel::kRaw;
        deliver(ctx, dir, Content::kRaw, {s.hdr, 2});
        continue;
      }
      if (s.hdr_have < 2 || s.hdr_have < ws_header_len(s.hdr)) continue;
      // Whole header.
      const uint8_t* h = s.hdr;
      const uint8_t len7 = h[1] & 0x7f;
      uint64_t len = len7;
      size_t at = 2;
      if (len7 == 126) {
        len = be16(h + 2);
        at = 4;
      } else if (len7 == 127) {
        len = 0;
        for (int k = 0; k < 8; ++k) len = (len << 8) | h[2 + k];
        at = 10;
        if (len >> 63) {  // RFC 6455 5.2: the most significant bit must be 0
          d.tunnel = Tunnel::kRaw;
          deliver(ctx, dir, Content::kRaw, {s.hdr, 10});
          continue;
        }
      }
      s.flags = static_cast<uint8_t>(s.flags | kWsSeenFrame);
      s.flags = static_cast<uint8_t>((h[1] & 0x80) ? (s.flags | kWsMasked) : (s.flags & ~kWsMasked));
      if ((h[1] & 0x80) && at < sizeof s.hdr) std::memcpy(s.mask, h + at, 4);
      s.mask_pos = 0;
      const uint8_t op = h[0] & 0x0f;
      const bool fin = (h[0] & 0x80) != 0;
      s.opcode = op;
      if (op >= 8) {
        s.flags = static_cast<uint8_t>(s.flags | kWsControl);
        aside_begin(d);
      } else {
        s.flags = static_cast<uint8_t>(s.flags & ~kWsControl);
        if (op != 0) {
          s.flags = static_cast<uint8_t>((h[0] & 0x40) ? (s.flags | kWsDeflate) : (s.flags & ~kWsDeflate));
        }
        s.flags = static_cast<uint8_t>(fin ? (s.flags & ~kWsInMessage) : (s.flags | kWsInMessage));
        // Remember whether this frame ends its message (hdr[0] is kept).
      }
      s.left = len;
      s.hdr_have = 0;
      if (len == 0) {
        // Empty frame: a control frame ends at once, a final data frame ends its message.
        if (s.flags & kWsControl) {
          aside_end(d, dir, ctx);
          s.flags = static_cast<uint8_t>(s.flags & ~kWsControl);
        } else if (fin) {
          ctx.sink->on_content(dir, (s.flags & kWsDeflate) ? Content::kWsDeflateEnd : Content::kWsMessageEnd,
                               {});
        }
      }
      continue;  // hdr[0] (FIN) stays until the next header starts
    }
    // Payload bytes, unmasked in small pieces.
    const size_t take = static_cast<size_t>(std::min<uint64_t>(s.left, n - i));
    size_t done = 0;
    while (done < take) {
      uint8_t out[kWsUnmaskChunk];
      const size_t piece = std::min<size_t>(take - done, sizeof out);
      const uint8_t* src = p + i + done;
      const uint8_t* use = src;
      if (s.flags & kWsMasked) {
        for (size_t k = 0; k < piece; ++k)
          out[k] = static_cast<uint8_t>(src[k] ^ s.mask[(s.mask_pos + k) & 3]);
        s.mask_pos = static_cast<uint8_t>((s.mask_pos + piece) & 3);
        use = out;
      }
      const std::span<const uint8_t> chunk(use, piece);
      if (s.flags & kWsControl) {
        aside_add(d, dir, chunk, ctx);
      } else {
        deliver(ctx, dir, (s.flags & kWsDeflate) ? Content::kWsPayloadDeflate : Content::kWsPayload, chunk);
      }
      done += piece;
    }
    i += take;
    s.left -= take;
    if (s.left == 0) {
      if (s.flags & kWsControl) {
        aside_end(d, dir, ctx);
        s.flags = static_cast<uint8_t>(s.flags & ~kWsControl);
      } else if (s.hdr[0] & 0x80) {
        ctx.sink->on_content(dir, (s.flags & kWsDeflate) ? Content::kWsDeflateEnd : Content::kWsMessageEnd,
                             {});
      }
    }
  }
  return n;
}

// ---- HTTP/2 ----------------------------------------------------------------

constexpr uint8_t kH2Data = 0x0;
constexpr uint8_t kH2Headers = 0x1;
constexpr uint8_t kH2PushPromise = 0x5;
constexpr uint8_t kH2Continuation = 0x9;
constexpr uint8_t kH2FlagPadded = 0x8;
constexpr uint8_t kH2FlagPriority = 0x20;
constexpr char kH2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kH2PrefaceLen = 24;
constexpr uint8_t kH2PrefaceRest = 6;  // "SM\r\n\r\n" after the PRI request the HTTP/1 parser took

bool carries_header_block(uint8_t type) noexcept {
  return type == kH2Headers || type == kH2PushPromise || type == kH2Continuation;
}

size_t h2_feed(AppDirState& d, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx,
               Replay& replay) noexcept {
  H2DirState& s = d.h2;
  const uint8_t* p = bytes.data();
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    if (d.tunnel != Tunnel::kH2) {
      deliver(ctx, dir, Content::kRaw, bytes.subspan(i));
      return n;
    }
    if (s.preface_len != 0) {
      const uint8_t* want = reinterpret_cast<const uint8_t*>(kH2Preface) + (kH2PrefaceLen - s.preface_len);
      if (p[i] != want[s.preface_have]) {
        if (s.preface_len == kH2PrefaceLen && dir == Dir::kToServer &&
            (s.preface_have > 0 || is_upper(p[i]))) {
          // Another HTTP/1 request ("PUT", "GET"): the upgrade was refused.
          const size_t here = std::min<size_t>(i, s.preface_have);
          replay.len = static_cast<uint8_t>(s.preface_have - here);
          std::memcpy(replay.bytes, kH2Preface, replay.len);
          return i - here;
        }
        d.tunnel = Tunnel::kRaw;
        deliver(ctx, dir, Content::kRaw, {want, s.preface_have});
        continue;
      }
      ++i;
      if (++s.preface_have == s.preface_len) s.preface_len = 0;
      continue;
    }
    if (s.left == 0 && s.skip == 0 && s.pad == 0 && s.hdr_have < 9) {
      if (s.hdr_have == 0) aside_end(d, dir, ctx);  // a frame that held only skipped bytes
      const size_t take = std::min<size_t>(9 - s.hdr_have, n - i);
      std::memcpy(s.hdr + s.hdr_have, p + i, take);
      s.hdr_have = static_cast<uint8_t>(s.hdr_have + take);
      i += take;
      if (s.hdr_have < 9) continue;
      s.hdr_have = 0;
      const uint32_t len =
          (static_cast<uint32_t>(s.hdr[0]) << 16) | (static_cast<uint32_t>(s.hdr[1]) << 8) | s.hdr[2];
      s.type = s.hdr[3];
      s.flags = s.hdr[4];
      s.left = len;
      s.skip = 0;
      s.pad = 0;
      if (s.type == kH2Data || s.type == kH2Headers || s.type == kH2PushPromise) {
        // Pad Length (1), and for HEADERS with PRIORITY the 5 priority bytes,
        // for PUSH_PROMISE the 4-byte promised stream id: structure, skipped.
        uint32_t skip = (s.flags & kH2FlagPadded) ? 1 : 0;
        if (s.type == kH2Headers && (s.flags & kH2FlagPriority)) skip += 5;
        if (s.type == kH2PushPromise) skip += 4;
        if (skip > len) {
          d.tunnel = Tunnel::kRaw;
          deliver(ctx, dir, Content::kRaw, {s.hdr, 9});
          continue;
        }
        s.skip = static_cast<uint8_t>(skip);
      }
      if (s.type != kH2Data && len > 0) aside_begin(d);
      if (carries_header_block(s.type) && !s.reported) {
        // HPACK is not decoded here: the block's bytes are inspected as they
        // are (literal strings), the direction is reported undecodable.
        s.reported = 1;
        ctx.sink->on_undecodable(dir, Undecodable::kHpack);
      }
      continue;
    }
    if (s.skip > 0) {
      // The first skipped byte of a PADDED frame is the pad length.
      const bool pad_len_byte = (s.flags & kH2FlagPadded) && s.pad == 0 &&
                                s.skip == ((s.type == kH2Headers && (s.flags & kH2FlagPriority)) ? 6
                                           : s.type == kH2PushPromise                            ? 5
                                                                                                 : 1);
      if (pad_len_byte) {
        s.pad = p[i];
        s.flags = static_cast<uint8_t>(s.flags & ~kH2FlagPadded);
        if (s.pad > s.left - s.skip) {
          d.tunnel = Tunnel::kRaw;
          aside_end(d, dir, ctx);
          deliver(ctx, dir, Content::kRaw, bytes.subspan(i));
          return n;
        }
      }
      ++i;
      --s.skip;
      --s.left;
      continue;
    }
    const uint32_t body = s.left - s.pad;
    if (body > 0) {
      const size_t take = std::min<size_t>(body, n - i);
      if (s.type == kH2Data)
        deliver(ctx, dir, Content::kH2Data, bytes.subspan(i, take));
      else
        aside_add(d, dir, bytes.subspan(i, take), ctx);
      i += take;
      s.left -= static_cast<uint32_t>(take);
      if (s.left > s.pad) continue;
    }
    // Padding: must be zero (RFC 9113 6.1); anything else is inspected too.
    while (i < n && s.left > 0) {
      if (p[i] != 0) {
        if (s.type == kH2Data) aside_begin(d);
        aside_add(d, dir, bytes.subspan(i, 1), ctx);
      }
      ++i;
      --s.left;
      --s.pad;
    }
    if (s.left == 0) {
      aside_end(d, dir, ctx);
      s.pad = 0;
    }
  }
  return n;
}

}  // namespace

void tunnel_begin(AppDirState& d, Tunnel kind, uint32_t http_index, bool full_h2_preface) noexcept {
  d.tunnel = kind;
  switch (kind) {
    case Tunnel::kWebSocket:
      d.ws = WsDirState{};
      d.ws.http_index = http_index;
      break;
    case Tunnel::kH2:
      d.h2 = H2DirState{};
      d.h2.http_index = http_index;
      d.h2.preface_len = full_h2_preface ? kH2PrefaceLen : kH2PrefaceRest;
      break;
    default:
      break;
  }
}

size_t tunnel_feed(AppDirState& d, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx,
                   Replay& replay) noexcept {
  replay.len = 0;
  switch (d.tunnel) {
    case Tunnel::kWebSocket:
      return ws_feed(d, dir, bytes, ctx, replay);
    case Tunnel::kH2:
      return h2_feed(d, dir, bytes, ctx, replay);
    default:
      deliver(ctx, dir, Content::kRaw, bytes);
      return bytes.size();
  }
}

void tunnel_gap(AppDirState& d, Dir dir, AppContext& ctx) noexcept {
  aside_end(d, dir, ctx);
  if (d.tunnel != Tunnel::kNone) d.tunnel = Tunnel::kRaw;
}

}  // namespace ftz::engine::app::detail
