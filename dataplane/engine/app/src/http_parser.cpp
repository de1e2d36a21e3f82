// HTTP/1.x requests in the client-to-server byte stream (RFC 9112): request
// line, header block, body framing (Content-Length, chunked), pipelining.
//
// The request line and header block ("block") are scanned byte by byte as they
// arrive; a block that ends inside the chunk it started in is parsed in place,
// only a block spanning chunks is copied into a pool buffer. Bodies are passed
// through without copying. Per-packet code.
#include <algorithm>

#include "ftz/base/ascii.hpp"
#include "internal.hpp"

namespace ftz::engine::app::detail {
namespace {

enum Phase : uint8_t {
  kBlock = 0,  // request line + headers
  kSkipBlock,  // rest of a block already reported (over the cap / no buffer)
  kBody,       // Content-Length body
  kChunkSize,  // chunk-size line
  kChunkData,
  kChunkDataEnd,  // CRLF after chunk data
  kTrailers,      // trailer section after the last chunk
  kBodyToEnd,     // body delimited by the end of the stream
  kResyncLine,    // skip to the next line, then try a request line
  kTunnel,        // CONNECT / Upgrade / h2 preface: no longer HTTP/1 text
};

// Request-line sub-states within kBlock.
enum Sub : uint8_t { kMethod = 0, kUri, kVersion, kHeaders };

enum Flag : uint16_t {
  kPrevCr = 1 << 0,        // last scanned byte was CR
  kFold = 1 << 1,          // an obs-fold continuation line was seen
  kResync = 1 << 2,        // looking for a request line after losing sync
  kLineNonEmpty = 1 << 3,  // current skipped line has content
  kChunkDigits = 1 << 4,   // chunk-size line had at least one hex digit
  kAfterLength = 1 << 5,   // body plan of the reported request
  kAfterChunked = 1 << 6,
  kAfterToEnd = 1 << 7,
  kAfterTunnel = 1 << 8,
  kReported = 1 << 9,  // current request already reported
};
constexpr uint16_t kAfterMask = kAfterLength | kAfterChunked | kAfterToEnd | kAfterTunnel;

// RFC 9110 5.6.2 tchar.
constexpr bool is_tchar(uint8_t c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

using ascii::iequals;

constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Content-Length: 1*DIGIT, or a list of identical values (RFC 9110 8.6).
bool parse_content_length(std::string_view v, uint64_t& out) noexcept {
  bool have = false;
  uint64_t first = 0;
  while (true) {
    const size_t comma = v.find(',');
    const std::string_view item = trim(v.substr(0, comma));
    if (item.empty() || item.size() > 18) return false;  // 18 digits: no overflow
    uint64_t x = 0;
    for (char c : item) {
      if (c < '0' || c > '9') return false;
      x = x * 10 + static_cast<uint64_t>(c - '0');
    }
    if (have && x != first) return false;
    first = x;
    have = true;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  out = first;
  return true;
}

class HttpParser {
 public:
  HttpParser(AppDirState& d, AppContext& ctx) noexcept : d_(d), s_(d.http), ctx_(ctx) {}

  bool feed(std::span<const uint8_t> bytes, bool& tentative, size_t& rest) noexcept;
  void gap() noexcept;
  void close() noexcept;

 private:
  enum class Scan : uint8_t { kMore, kComplete, kReject, kOverflow };

  Scan scan_block(const uint8_t* p, size_t n, size_t& i, size_t& begin,
                  std::span<const uint8_t> held_part) noexcept;
  std::span<uint8_t> own_block(std::span<const uint8_t> in_chunk) noexcept;
  void report_block(std::span<const uint8_t> block, uint32_t lines_end, bool truncated) noexcept;
  void begin_body() noexcept;
  void end_request() noexcept;
  void reset_block() noexcept;
  void reject_line(uint8_t c) noexcept;
  void bad_chunk(uint8_t c) noexcept;
  // Bytes of the stream that are no part of a parsed request: inspected raw.
  void raw(std::span<const uint8_t> b) noexcept { deliver(ctx_, Dir::kToServer, Content::kRaw, b); }
  void raw_held() noexcept { raw(held()); }
  std::span<uint8_t> held() noexcept {
    return d_.buf_slot ? std::span<uint8_t>{ctx_.pool->get(d_.buf_slot - 1).data(), d_.buf_len}
                       : std::span<uint8_t>{};
  }

  AppDirState& d_;
  HttpDirState& s_;
  AppContext& ctx_;
};

void HttpParser::reset_block() noexcept {
  s_.block_len = s_.line_start = s_.uri_start = s_.uri_len = 0;
  s_.version_start = s_.header_start = 0;
  s_.method_len = s_.version_len = 0;
  s_.sub = kMethod;
  s_.flags = static_cast<uint16_t>(s_.flags & kResync);
  s_.remaining = 0;
  s_.phase = kBlock;
  release_buffer(d_, ctx_);
}

// Ends the current request (if it was reported) and gets ready for the next.
void HttpParser::end_request() noexcept {
  if (s_.flags & kReported) {
    ctx_.sink->on_http_request_end(s_.index);
    ++s_.index;
  }
  const bool tunnel = (s_.flags & kAfterTunnel) != 0;
  reset_block();
  if (tunnel) s_.phase = kTunnel;
}

void HttpParser::reject_line(uint8_t c) noexcept {
  // Count once per loss of sync, not per rejected candidate line.
  if (!(s_.flags & kResync)) count(ctx_, AppAnomaly::kHttpBadRequestLine);
  reset_block();
  s_.flags |= kResync;
  // The rejecting byte may itself end the line: then the next byte starts one.
  s_.phase = c == '\n' ? kBlock : kResyncLine;
}

void HttpParser::bad_chunk(uint8_t c) noexcept {
  count(ctx_, AppAnomaly::kHttpBadChunk);
  aside_end(d_, Dir::kToServer, ctx_);
  // What follows is no chunk: the rejecting byte and the rest go raw.
  raw(std::span<const uint8_t>(&c, 1));
  end_request();
  s_.flags |= kResync;
  s_.phase = c == '\n' ? kBlock : kResyncLine;
}

// Scans block bytes p[i..n). `begin` is where the block starts in this chunk
// (moves past CR/LF that precede a request line). Stops after the byte that
// completes the block, at a rejected byte, at the cap, or at the chunk end.
// `held_part` is the part of the block held from earlier chunks; the rest
// starts at p[begin].
HttpParser::Scan HttpParser::scan_block(const uint8_t* p, size_t n, size_t& i, size_t& begin,
                                        std::span<const uint8_t> held_part) noexcept {
  const uint32_t cap = usable(ctx_, kHttpHeaderCap);
  const auto at = [&](uint32_t pos) -> uint8_t {
    return pos < held_part.size() ? held_part[pos] : p[begin + pos - held_part.size()];
  };
  while (i < n) {
    const uint8_t c = p[i];
    if (s_.block_len == 0 && (c == '\r' || c == '\n')) {
      // RFC 9112 2.2: ignore empty lines before a request line.
      ++i;
      begin = i;
      continue;
    }
    if (s_.block_len >= cap) return Scan::kOverflow;
    const uint32_t pos = s_.block_len;
    ++s_.block_len;
    ++i;
    const bool prev_cr = (s_.flags & kPrevCr) != 0;
    s_.flags = static_cast<uint16_t>(c == '\r' ? (s_.flags | kPrevCr) : (s_.flags & ~kPrevCr));
    switch (s_.sub) {
      case kMethod:
        if (is_tchar(c) && s_.method_len < kHttpMethodCap) {
          ++s_.method_len;
        } else if (c == ' ' && s_.method_len > 0) {
          s_.sub = kUri;
          s_.uri_start = static_cast<uint16_t>(pos + 1);
        } else {
          return Scan::kReject;
        }
        break;
      case kUri:
      case kVersion: {
        if (prev_cr && c != '\n') return Scan::kReject;  // bare CR in the request line
        if (c == '\r') break;
        if (c != '\n') {
          if (s_.sub == kUri) {
            if (c == ' ') {
              if (s_.uri_len == 0) return Scan::kReject;
              s_.sub = kVersion;
              s_.version_start = static_cast<uint16_t>(pos + 1);
            } else if (c < 0x20 || c == 0x7f) {
              return Scan::kReject;
            } else if (s_.uri_len <= kHttpUriCap) {
              ++s_.uri_len;  // saturates at cap + 1 = "truncated"
            }
          } else {
            // "HTTP/" DIGIT "." DIGIT, checked as it arrives.
            static constexpr char kProto[] = "HTTP/";
            const uint8_t k = s_.version_len;
            const bool ok = k < 5    ? c == static_cast<uint8_t>(kProto[k])
                            : k == 6 ? c == '.'
                            : k < 8  ? (c >= '0' && c <= '9')
                                     : false;
            if (!ok) return Scan::kReject;
            ++s_.version_len;
          }
          break;
        }
        // End of the request line.
        if (s_.uri_len == 0) return Scan::kReject;
        const bool is_get = s_.method_len == 3 && at(0) == 'G' && at(1) == 'E' && at(2) == 'T';
        if (s_.sub == kUri) {
          // HTTP/0.9 (RFC 1945 4.1): "GET uri" only, no headers. Not accepted
          // while resynchronising, where body text could look like it.
          if (!is_get || (s_.flags & kResync)) return Scan::kReject;
          s_.header_start = s_.line_start = static_cast<uint16_t>(pos + 1);
          s_.sub = kHeaders;
          s_.flags &= static_cast<uint16_t>(~kResync);
          return Scan::kComplete;
        }
        if (s_.version_len != 8) return Scan::kReject;
        s_.sub = kHeaders;
        s_.header_start = s_.line_start = static_cast<uint16_t>(pos + 1);
        s_.flags &= static_cast<uint16_t>(~kResync);
        break;
      }
      case kHeaders:
        if (c == '\n') {
          uint32_t line_len = pos - s_.line_start;
          if (prev_cr && line_len > 0) --line_len;
          if (line_len == 0) return Scan::kComplete;
          s_.line_start = static_cast<uint16_t>(pos + 1);
        } else if (pos == s_.line_start && pos != s_.header_start && (c == ' ' || c == '\t')) {
          s_.flags |= kFold;
        }
        break;
      default:
        break;
    }
  }
  return Scan::kMore;
}

// A mutable copy of the block for unfolding: the held buffer with the chunk
// part appended.
std::span<uint8_t> HttpParser::own_block(std::span<const uint8_t> in_chunk) noexcept {
  if (!append(d_, ctx_, in_chunk, kHttpHeaderCap)) return {};
  return held();
}

// Reports the request whose block is `block`; header lines are parsed up to
// `lines_end` (only complete lines). Sets the body plan flags.
void HttpParser::report_block(std::span<const uint8_t> block, uint32_t lines_end, bool truncated) noexcept {
  const auto sv = [&](uint32_t off, uint32_t len) -> std::string_view {
    if (off > block.size()) return {};
    len = std::min<uint32_t>(len, static_cast<uint32_t>(block.size()) - off);
    return {reinterpret_cast<const char*>(block.data()) + off, len};
  };
  HttpRequest req;
  req.index = s_.index;
  req.method = sv(0, s_.method_len);
  if (s_.sub >= kUri) {
    req.uri = sv(s_.uri_start, std::min<uint32_t>(s_.uri_len, kHttpUriCap));
    req.uri_truncated = s_.uri_len > kHttpUriCap;
  }
  if (s_.sub == kHeaders) req.version = sv(s_.version_start, s_.version_len);
  req.headers_truncated = truncated;
  req.request_line = s_.sub == kHeaders ? sv(0, s_.header_start) : sv(0, static_cast<uint32_t>(block.size()));

  bool te_seen = false;
  bool te_chunked = false;
  bool upgrade = false;
  Tunnel upgrade_to = Tunnel::kRaw;
  bool cl_bad = false;
  std::string_view hdrs = s_.sub == kHeaders && lines_end > s_.header_start
                              ? sv(s_.header_start, lines_end - s_.header_start)
                              : std::string_view{};
  req.header_lines = hdrs;
  while (!hdrs.empty()) {
    const size_t nl = hdrs.find('\n');
    std::string_view line = hdrs.substr(0, nl);
    hdrs.remove_prefix(nl == std::string_view::npos ? hdrs.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    // RFC 9112 5.1: no whitespace between name and colon; a line starting
    // with whitespace here is a fold before the first header.
    if (colon == std::string_view::npos || colon == 0 || is_ows(line[colon - 1]) || is_ows(line[0])) {
      count(ctx_, AppAnomaly::kHttpBadHeader);
      continue;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "host")) {
      if (req.host.empty() && !value.empty()) {
        req.host = value;
      } else {
        count(ctx_, AppAnomaly::kHttpDuplicateHost);
      }
    } else if (iequals(name, "content-type")) {
      if (req.content_type.empty()) req.content_type = value;
    } else if (iequals(name, "content-encoding")) {
      // The body is handed on as sent; content inspection inflates it.
      if (req.content_encoding.empty()) req.content_encoding = value;
    } else if (iequals(name, "content-length")) {
      uint64_t v = 0;
      if (!parse_content_length(value, v) || (req.has_content_length && v != req.content_length)) {
        cl_bad = true;
      } else {
        req.content_length = v;
        req.has_content_length = true;
      }
    } else if (iequals(name, "transfer-encoding")) {
      // The final coding decides (RFC 9112 6.3): the last list element of
      // the last Transfer-Encoding line.
      te_seen = true;
      const size_t comma = value.rfind(',');
      te_chunked =
          iequals(trim(comma == std::string_view::npos ? value : value.substr(comma + 1)), "chunked");
    } else if (iequals(name, "upgrade")) {
      // The first protocol listed is the one a server would switch to.
      upgrade = true;
      const std::string_view first = trim(value.substr(0, value.find(',')));
      if (iequals(first, "websocket"))
        upgrade_to = Tunnel::kWebSocket;
      else if (iequals(first, "h2c"))
        upgrade_to = Tunnel::kH2;
      else
        upgrade_to = Tunnel::kRaw;
    }
  }
  if (cl_bad) count(ctx_, AppAnomaly::kHttpBadContentLength);

  s_.flags &= static_cast<uint16_t>(~kAfterMask);
  if (te_seen) {
    if (req.has_content_length) count(ctx_, AppAnomaly::kHttpContentLengthAndChunked);
    if (te_chunked) {
      req.chunked = true;
      s_.flags |= kAfterChunked;
    } else {
      // Length unknowable for a request (RFC 9112 6.3 rule 4): treat the
      // rest of the stream as body so it is still inspected.
      count(ctx_, AppAnomaly::kHttpUnsupportedTransferEncoding);
      s_.flags |= kAfterToEnd;
    }
  } else if (req.has_content_length && req.content_length > 0) {
    s_.flags |= kAfterLength;
    s_.remaining = req.content_length;
  }
  // After CONNECT, an accepted Upgrade or the HTTP/2 preface the stream is
  // not HTTP/1 text any more; parsing it would only produce resync noise.
  // The tunnel's bytes are still inspected (tunnel_parser.cpp). A server
  // that refuses an Upgrade keeps HTTP/1: the WebSocket and HTTP/2 parsers
  // go back to it when the next bytes are a request line.
  if (iequals(req.method, "CONNECT")) {
    s_.flags |= kAfterTunnel;
    s_.tunnel_kind = static_cast<uint8_t>(Tunnel::kRaw);
  } else if (req.method == "PRI" && req.version == "HTTP/2.0") {
    s_.flags |= kAfterTunnel;
    s_.tunnel_kind = static_cast<uint8_t>(Tunnel::kH2) | 0x80;  // only "SM\r\n\r\n" of the preface left
  } else if (upgrade) {
    s_.flags |= kAfterTunnel;
    s_.tunnel_kind = static_cast<uint8_t>(upgrade_to);
  }
  s_.flags |= kReported;
  ++ctx_.counters->http_requests;
  ctx_.sink->on_http_request(req);
}

void HttpParser::begin_body() noexcept {
  release_buffer(d_, ctx_);
  if (s_.flags & kAfterChunked) {
    s_.phase = kChunkSize;
    s_.sub = 0;
    s_.remaining = 0;
    s_.flags &= static_cast<uint16_t>(~(kChunkDigits | kLineNonEmpty));
  } else if (s_.flags & kAfterLength) {
    s_.phase = kBody;
  } else if (s_.flags & kAfterToEnd) {
    s_.phase = kBodyToEnd;
  } else {
    end_request();
  }
}

bool HttpParser::feed(std::span<const uint8_t> bytes, bool& tentative, size_t& rest) noexcept {
  const uint8_t* p = bytes.data();
  const size_t n = bytes.size();
  size_t i = 0;
  rest = n;
  while (i < n) {
    switch (s_.phase) {
      case kBlock: {
        size_t begin = i;
        const Scan r = scan_block(p, n, i, begin, held());
        const std::span<const uint8_t> part{p + begin, i - begin};
        if (r == Scan::kReject) {
          if (tentative) return false;
          // Not a request: what was taken for one is inspected raw.
          raw_held();
          raw(part);
          reject_line(p[i - 1]);
          break;
        }
        if (s_.sub == kHeaders) tentative = false;  // a valid request line proves HTTP
        if (r == Scan::kMore) {
          if (!part.empty() && !append(d_, ctx_, part, kHttpHeaderCap)) {
            // No buffer: the block cannot be kept. Skip it and resync after.
            if (tentative) return false;
            raw(part);
            release_buffer(d_, ctx_);
            reset_block();
            s_.flags |= kResync | kLineNonEmpty;
            s_.phase = kSkipBlock;
          }
          break;
        }
        if (r == Scan::kOverflow) {
          if (tentative) return false;  // a first "request line" over the cap is not HTTP
          if (s_.sub == kMethod) {      // only with a pool buffer smaller than the method cap
            raw_held();
            raw(part);
            reject_line(0);
            break;
          }
          count(ctx_, AppAnomaly::kHttpHeaderTooLong);
          std::span<const uint8_t> block = part;
          if (d_.buf_len > 0) {
            block = own_block(part);
          }
          const uint32_t lines_end = s_.sub == kHeaders ? s_.line_start : 0;
          report_block(block, lines_end, true);
          // The line the cap cut is content too; its rest follows in kSkipBlock.
          if (s_.sub == kHeaders && lines_end < block.size()) {
            deliver(ctx_, Dir::kToServer, Content::kHttpHeadMore, block.subspan(lines_end));
          }
          release_buffer(d_, ctx_);
          s_.flags |= kResync;
          s_.flags = static_cast<uint16_t>(s_.sub == kHeaders && s_.line_start == s_.block_len
                                               ? (s_.flags & ~kLineNonEmpty)
                                               : (s_.flags | kLineNonEmpty));
          s_.phase = kSkipBlock;
          break;
        }
        // Complete block.
        std::span<const uint8_t> block = part;
        if (d_.buf_len > 0 || (s_.flags & kFold)) {
          const std::span<uint8_t> mb = own_block(part);
          if (mb.empty()) {
            // Fold in a block of this chunk and no buffer to unfold it in:
            // report without unfolding rather than not at all.
            block = part;
          } else {
            // RFC 9112 5.2: replace each obs-fold with SP before interpreting.
            for (uint32_t k = s_.header_start; k + 1 < mb.size(); ++k) {
              if (mb[k] == '\n' && (mb[k + 1] == ' ' || mb[k + 1] == '\t')) {
                mb[k] = ' ';
                if (k > s_.header_start && mb[k - 1] == '\r') mb[k - 1] = ' ';
              }
            }
            block = mb;
          }
        }
        report_block(block, static_cast<uint32_t>(block.size()), false);
        begin_body();
        break;
      }
      case kSkipBlock: {
        // The rest of a block over the cap (after its report: header bytes
        // to inspect) or of one that could not be kept (raw).
        const size_t from = i;
        const bool reported = (s_.flags & kReported) != 0;
        bool done = false;
        while (i < n && !done) {
          const uint8_t c = p[i++];
          if (c == '\n') {
            if (!(s_.flags & kLineNonEmpty)) {
              done = true;
            } else {
              s_.flags &= static_cast<uint16_t>(~kLineNonEmpty);
            }
          } else if (c != '\r') {
            s_.flags |= kLineNonEmpty;
          }
        }
        deliver(ctx_, Dir::kToServer, reported ? Content::kHttpHeadMore : Content::kRaw,
                bytes.subspan(from, i - from));
        if (done) begin_body();
        break;
      }
      case kBody: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(s_.remaining, n - i));
        ctx_.sink->on_http_body(s_.index, bytes.subspan(i, take));
        i += take;
        s_.remaining -= take;
        if (s_.remaining == 0) end_request();
        break;
      }
      case kChunkSize: {
        const uint8_t c = p[i++];
        const bool digits = (s_.flags & kChunkDigits) != 0;
        bool line_done = false;
        if (s_.sub == 0) {
          int v = -1;
          if (c >= '0' && c <= '9')
            v = c - '0';
          else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
          else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
          if (v >= 0) {
            if (s_.remaining >> 56) {  // > 2^60 bytes: nonsense, not a size
              bad_chunk(c);
              break;
            }
            s_.remaining = (s_.remaining << 4) | static_cast<uint64_t>(v);
            s_.flags |= kChunkDigits;
          } else if (!digits) {
            bad_chunk(c);
            break;
          } else if (c == ';' || c == ' ' || c == '\t') {
            s_.sub = 1;  // chunk-ext (RFC 9112 7.1.1): inspected as an aside unit
            aside_begin(d_);
            --i;  // the separator is part of the unit
          } else if (c == '\r') {
            s_.sub = 2;
          } else if (c == '\n') {
            line_done = true;
          } else {
            bad_chunk(c);
            break;
          }
        } else if (s_.sub == 1) {
          // The rest of the extension up to the line end, in one piece.
          const void* nl = std::memchr(p + i - 1, '\n', n - (i - 1));
          const size_t end = nl == nullptr ? n : static_cast<size_t>(static_cast<const uint8_t*>(nl) - p);
          // The CR of the line end is framing, not part of the extension.
          const size_t unit_end = end > i - 1 && p[end - 1] == '\r' ? end - 1 : end;
          if (nl == nullptr) {
            aside_add(d_, Dir::kToServer, bytes.subspan(i - 1, unit_end - (i - 1)), ctx_);
          } else {
            aside_whole(d_, Dir::kToServer, bytes.subspan(i - 1, unit_end - (i - 1)), ctx_);
          }
          i = end;
          if (nl != nullptr) {
            ++i;
            line_done = true;
          }
        } else if (c == '\n') {
          line_done = true;
        } else {
          bad_chunk(c);
          break;
        }
        if (line_done) {
          s_.flags &= static_cast<uint16_t>(~(kChunkDigits | kLineNonEmpty));
          s_.sub = 0;
          s_.phase = s_.remaining == 0 ? kTrailers : kChunkData;
        }
        break;
      }
      case kChunkData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(s_.remaining, n - i));
        ctx_.sink->on_http_body(s_.index, bytes.subspan(i, take));
        i += take;
        s_.remaining -= take;
        if (s_.remaining == 0) {
          s_.phase = kChunkDataEnd;
          s_.sub = 0;
        }
        break;
      }
      case kChunkDataEnd: {
        const uint8_t c = p[i++];
        if (s_.sub == 0 && c == '\r') {
          s_.sub = 1;
        } else if (c == '\n') {
          s_.phase = kChunkSize;
          s_.sub = 0;
        } else {
          bad_chunk(c);
        }
        break;
      }
      case kTrailers: {
        // Trailer lines: each is an aside unit (fields after the body).
        const uint8_t c = p[i++];
        if (c == '\n') {
          if (!(s_.flags & kLineNonEmpty)) {
            end_request();
          } else {
            aside_end(d_, Dir::kToServer, ctx_);
            s_.flags &= static_cast<uint16_t>(~kLineNonEmpty);
          }
        } else if (c != '\r') {
          if (!(s_.flags & kLineNonEmpty)) aside_begin(d_);
          s_.flags |= kLineNonEmpty;
          const void* nl = std::memchr(p + i - 1, '\n', n - (i - 1));
          size_t end = nl == nullptr ? n : static_cast<size_t>(static_cast<const uint8_t*>(nl) - p);
          // The CR of the line end is framing (also when the chunk ends between CR and LF).
          if (end > i - 1 && p[end - 1] == '\r') --end;
          if (nl == nullptr) {
            aside_add(d_, Dir::kToServer, bytes.subspan(i - 1, end - (i - 1)), ctx_);
          } else {
            aside_whole(d_, Dir::kToServer, bytes.subspan(i - 1, end - (i - 1)), ctx_);
          }
          i = end;
        }
        break;
      }
      case kBodyToEnd:
        ctx_.sink->on_http_body(s_.index, bytes.subspan(i));
        i = n;
        break;
      case kResyncLine: {
        // Not a request: bytes after a body, garbage, a short Content-Length.
        const void* nl = std::memchr(p + i, '\n', n - i);
        const size_t from = i;
        if (nl == nullptr) {
          i = n;
        } else {
          i = static_cast<size_t>(static_cast<const uint8_t*>(nl) - p) + 1;
          s_.phase = kBlock;
        }
        raw(bytes.subspan(from, i - from));
        break;
      }
      default:  // kTunnel: the caller hands the rest to tunnel_begin()/tunnel_feed()
        rest = i;
        return true;
    }
  }
  return true;
}

void HttpParser::gap() noexcept {
  if (s_.phase == kTunnel) return;
  aside_end(d_, Dir::kToServer, ctx_);
  if (s_.phase == kBodyToEnd) {
    // The body runs to the end anyway; the missing bytes are just missing.
    count(ctx_, AppAnomaly::kHttpGap);
    return;
  }
  close();
  count(ctx_, AppAnomaly::kHttpGap);
  reset_block();
  s_.flags |= kResync;
  s_.phase = kResyncLine;
}

// Reports or ends whatever request is open; leaves the block state reset.
void HttpParser::close() noexcept {
  aside_end(d_, Dir::kToServer, ctx_);
  switch (s_.phase) {
    case kBlock:
      if (s_.sub == kHeaders && !(s_.flags & kReported)) {
        // The request line is complete (everything held is in the buffer).
        count(ctx_, AppAnomaly::kHttpHeadersIncomplete);
        report_block(held(), s_.line_start, true);
        // The incomplete last header line is content too.
        const std::span<const uint8_t> h = held();
        if (s_.line_start < h.size())
          deliver(ctx_, Dir::kToServer, Content::kHttpHeadMore, h.subspan(s_.line_start));
        end_request();
      } else {
        raw_held();
        reset_block();
      }
      break;
    case kBody:
    case kChunkSize:
    case kChunkData:
    case kChunkDataEnd:
      count(ctx_, AppAnomaly::kHttpBodyTruncated);
      end_request();
      break;
    case kSkipBlock:
    case kTrailers:
    case kBodyToEnd:
      if (s_.flags & kReported)
        end_request();
      else
        reset_block();
      break;
    default:
      reset_block();
      break;
  }
}

}  // namespace

bool http_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx, bool& tentative,
               size_t& rest) noexcept {
  return HttpParser(d, ctx).feed(bytes, tentative, rest);
}

void http_gap(AppDirState& d, AppContext& ctx) noexcept {
  HttpParser(d, ctx).gap();
}

void http_close(AppDirState& d, AppContext& ctx) noexcept {
  HttpParser(d, ctx).close();
}

}  // namespace ftz::engine::app::detail
