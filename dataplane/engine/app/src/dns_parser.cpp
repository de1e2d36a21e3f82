// DNS question names (RFC 1035 4.1, compression 4.1.4) over UDP datagrams and
// TCP with 2-byte length framing (RFC 1035 4.2.2, RFC 7766). Per-packet code.
#include <algorithm>

#include "internal.hpp"

namespace ftz::engine::app::detail {
namespace {

constexpr size_t kHeaderLen = 12;
constexpr uint32_t kMaxWireName = 255;  // RFC 1035 2.3.4, terminating zero included
// Presentation form: every octet may become \DDD (4 chars), plus dots.
constexpr size_t kMaxPresentation = 4 * kMaxWireName;

enum class NameResult : uint8_t { kOk, kTruncated, kBadLabel, kBadPointer, kLoop, kTooLong };

constexpr AppAnomaly to_anomaly(NameResult r) noexcept {
  switch (r) {
    case NameResult::kBadLabel:
      return AppAnomaly::kDnsBadLabel;
    case NameResult::kBadPointer:
      return AppAnomaly::kDnsBadPointer;
    case NameResult::kLoop:
      return AppAnomaly::kDnsPointerLoop;
    case NameResult::kTooLong:
      return AppAnomaly::kDnsNameTooLong;
    default:
      return AppAnomaly::kDnsTruncated;
  }
}

// Decodes the name at `off` into `out` (presentation form, lower-case, no
// trailing dot). `next` receives the offset just past the name in the
// original position (after the first pointer if one was followed).
NameResult decode_name(std::span<const uint8_t> msg, size_t off, char* out, size_t& out_len,
                       size_t& next) noexcept {
  size_t pos = off;
  size_t end_of_name = 0;  // 0: not yet known (no pointer followed)
  uint32_t jumps = 0;
  uint32_t wire = 1;  // the terminating zero
  out_len = 0;
  for (;;) {
    if (pos >= msg.size()) return NameResult::kTruncated;
    const uint8_t b = msg[pos];
    if (b == 0) {
      next = end_of_name != 0 ? end_of_name : pos + 1;
      return NameResult::kOk;
    }
    switch (b >> 6) {
      case 3: {
        if (pos + 1 >= msg.size()) return NameResult::kTruncated;
        const size_t target = (static_cast<size_t>(b & 0x3f) << 8) | msg[pos + 1];
        // Only strictly backwards and past the header: with the jump bound
        // below this rules out every loop and every read of the header.
        if (target >= pos || target < kHeaderLen) return NameResult::kBadPointer;
        if (++jumps > kDnsMaxPointerJumps) return NameResult::kLoop;
        if (end_of_name == 0) end_of_name = pos + 2;
        pos = target;
        break;
      }
      case 0: {
        const size_t len = b;
        if (pos + 1 + len > msg.size()) return NameResult::kTruncated;
        wire += static_cast<uint32_t>(len + 1);
        if (wire > kMaxWireName) return NameResult::kTooLong;
        if (out_len != 0) out[out_len++] = '.';
        for (size_t k = 0; k < len; ++k) {
          uint8_t c = msg[pos + 1 + k];
          if (c >= 'A' && c <= 'Z') c = static_cast<uint8_t>(c + ('a' - 'A'));
          if (c == '.' || c == '\\') {
            // A dot inside a label must not read as a label boundary.
            out[out_len++] = '\\';
            out[out_len++] = static_cast<char>(c);
          } else if (c <= 0x20 || c >= 0x7f) {
            out[out_len++] = '\\';
            out[out_len++] = static_cast<char>('0' + c / 100);
            out[out_len++] = static_cast<char>('0' + (c / 10) % 10);
            out[out_len++] = static_cast<char>('0' + c % 10);
          } else {
            out[out_len++] = static_cast<char>(c);
          }
        }
        pos += 1 + len;
        break;
      }
      default:
        return NameResult::kBadLabel;  // 0x40 / 0x80: reserved (RFC 6891 retired EDNS0 bit labels)
    }
  }
}

enum DnsPhase : uint8_t { kLength = 0, kMessage = 1, kStopped = 2 };

}  // namespace

void dns_parse_message(std::span<const uint8_t> msg, AppContext& ctx) noexcept {
  if (msg.size() < kHeaderLen) {
    count(ctx, AppAnomaly::kDnsTruncated);
    return;
  }
  ++ctx.counters->dns_messages;
  const uint8_t* h = msg.data();
  DnsQuery q;
  q.id = be16(h);
  q.is_response = (h[2] & 0x80) != 0;
  uint32_t qdcount = be16(h + 4);
  if (qdcount > kDnsMaxQuestions) {
    count(ctx, AppAnomaly::kDnsTooManyQuestions);
    qdcount = kDnsMaxQuestions;
  }
  char name[kMaxPresentation];
  size_t off = kHeaderLen;
  for (uint32_t i = 0; i < qdcount; ++i) {
    size_t len = 0;
    size_t next = 0;
    const NameResult r = decode_name(msg, off, name, len, next);
    if (r != NameResult::kOk) {
      count(ctx, to_anomaly(r));
      return;
    }
    if (next + 4 > msg.size()) {
      count(ctx, AppAnomaly::kDnsTruncated);
      return;
    }
    q.qname = std::string_view{name, len};
    q.qtype = be16(msg.data() + next);
    q.qclass = be16(msg.data() + next + 2);
    ctx.sink->on_dns(q);
    off = next + 4;
  }
}

void dns_tcp_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx) noexcept {
  DnsDirState& s = d.dns;
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n && s.phase != kStopped) {
    if (s.phase == kLength) {
      // Fast path: a whole message in this chunk is parsed in place.
      if (s.len_have == 0 && n - i >= 2) {
        const size_t len = be16(bytes.data() + i);
        if (n - i - 2 >= len) {
          // Same prefix as the buffered path keeps: segmentation-independent.
          dns_parse_message(bytes.subspan(i + 2, std::min<size_t>(len, usable(ctx, kDnsMessageCap))), ctx);
          i += 2 + len;
          continue;
        }
      }
      s.len_hdr[s.len_have++] = bytes[i++];
      if (s.len_have == 2) {
        s.len_have = 0;
        s.msg_len = be16(s.len_hdr);
        s.msg_left = s.msg_len;
        s.skipping = 0;
        s.phase = kMessage;
        if (s.msg_len == 0) {
          dns_parse_message({}, ctx);  // counted as truncated
          s.phase = kLength;
        }
      }
      continue;
    }
    // kMessage: keep the prefix that fits the buffer, skip the rest (only the
    // question section, at the start, is parsed).
    const size_t take = std::min<size_t>(s.msg_left, n - i);
    if (!s.skipping) {
      const uint32_t room =
          usable(ctx, kDnsMessageCap) > d.buf_len ? usable(ctx, kDnsMessageCap) - d.buf_len : 0;
      const size_t keep = std::min<size_t>(take, room);
      if (keep > 0 && !append(d, ctx, bytes.subspan(i, keep), kDnsMessageCap)) {
        // No buffer: skip this message but keep the framing for the next.
        s.skipping = 1;
        release_buffer(d, ctx);
      }
    }
    i += take;
    s.msg_left -= static_cast<uint32_t>(take);
    if (s.msg_left == 0) {
      if (!s.skipping && d.buf_slot != 0)
        dns_parse_message({ctx.pool->get(d.buf_slot - 1).data(), d.buf_len}, ctx);
      release_buffer(d, ctx);
      s.phase = kLength;
    }
  }
}

void dns_tcp_gap(AppDirState& d, AppContext& ctx) noexcept {
  if (d.dns.phase == kStopped) return;
  count(ctx, AppAnomaly::kDnsGap);
  // What is held is the start of a message: its questions may be complete.
  if (d.dns.phase == kMessage && !d.dns.skipping && d.buf_slot != 0 && d.buf_len >= kHeaderLen) {
    dns_parse_message({ctx.pool->get(d.buf_slot - 1).data(), d.buf_len}, ctx);
  }
  release_buffer(d, ctx);
  d.dns.phase = kStopped;
}

}  // namespace ftz::engine::app::detail
