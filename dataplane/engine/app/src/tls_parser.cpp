// TLS ClientHello: record reassembly across records and TCP segments, then a
// bounds-checked parse of the handshake message (RFC 8446 4.1.2, RFC 6066 3
// server_name, RFC 7301 ALPN, RFC 8701 GREASE). Per-packet code.
#include <algorithm>

#include "internal.hpp"

namespace ftz::engine::app::detail {
namespace {

constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr uint32_t kMaxRecordLen = 1u << 14;  // TLSPlaintext.length limit
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;
constexpr uint16_t kExtSupportedVersions = 43;
constexpr uint16_t kExtEch = 0xfe0d;

enum TlsPhase : uint8_t { kCollect = 0, kDone = 1 };

// RFC 8701: GREASE values are 0x?A?A with both bytes equal.
constexpr bool is_grease16(uint16_t v) noexcept {
  return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

constexpr bool record_header_ok(const uint8_t* h) noexcept {
  // SSL 3.0 .. TLS 1.3 record versions are 0x0300..0x0304 (1.3 sends 0x0301/0x0303).
  return h[0] == kContentHandshake && h[1] == 3 && h[2] <= 4;
}

uint32_t be24(const uint8_t* p) noexcept {
  return (static_cast<uint32_t>(p[0]) << 16) | (static_cast<uint32_t>(p[1]) << 8) | p[2];
}

// Bounds-checked reader: any overrun sets !ok() and yields zeros / empty.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> s) noexcept : s_(s) {}
  bool ok() const noexcept { return ok_; }
  size_t left() const noexcept { return s_.size() - off_; }
  uint8_t u8() noexcept { return need(1) ? s_[off_++] : 0; }
  uint16_t u16() noexcept {
    if (!need(2)) return 0;
    const uint16_t v = be16(s_.data() + off_);
    off_ += 2;
    return v;
  }
  std::span<const uint8_t> take(size_t n) noexcept {
    if (!need(n)) return {};
    const auto v = s_.subspan(off_, n);
    off_ += n;
    return v;
  }

 private:
  bool need(size_t n) noexcept {
    if (!ok_ || n > left()) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::span<const uint8_t> s_;
  size_t off_ = 0;
  bool ok_ = true;
};

std::string_view as_sv(std::span<const uint8_t> s) noexcept {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

// server_name extension body: ServerNameList (RFC 6066 3).
bool parse_sni(std::span<const uint8_t> body, TlsClientHello& out) noexcept {
  Reader r(body);
  const uint16_t list_len = r.u16();
  if (!r.ok() || list_len != r.left() || list_len == 0) return false;
  while (r.left() > 0) {
    const uint8_t type = r.u8();
    const uint16_t len = r.u16();
    const auto name = r.take(len);
    if (!r.ok()) return false;
    if (type != 0 || !out.sni.empty()) continue;  // only the first host_name counts
    if (name.empty()) return false;
    out.sni = as_sv(name);
    // Host names are printable ASCII without spaces; anything else is either
    // broken or an evasion attempt (a NUL that some matchers stop at).
    for (uint8_t c : name) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
  }
  return true;
}

// application_layer_protocol_negotiation body: ProtocolNameList (RFC 7301 3.1).
bool parse_alpn(std::span<const uint8_t> body, TlsClientHello& out) noexcept {
  Reader r(body);
  const uint16_t list_len = r.u16();
  if (!r.ok() || list_len != r.left() || list_len < 2) return false;
  while (r.left() > 0) {
    const uint8_t len = r.u8();
    const auto name = r.take(len);
    if (!r.ok() || len == 0) return false;
    if (len == 2 && is_grease16(be16(name.data()))) continue;
    if (out.alpn_count < std::size(out.alpn)) out.alpn[out.alpn_count++] = as_sv(name);
  }
  return true;
}

bool parse_supported_versions(std::span<const uint8_t> body, TlsClientHello& out) noexcept {
  Reader r(body);
  const uint8_t len = r.u8();
  if (!r.ok() || len != r.left() || len % 2 != 0 || len == 0) return false;
  while (r.left() > 0) {
    const uint16_t v = r.u16();
    if (!is_grease16(v) && v > out.max_supported_version) out.max_supported_version = v;
  }
  return true;
}

void report(AppDirState& d, AppContext& ctx, std::span<const uint8_t> msg) noexcept {
  TlsClientHello hello;
  if (parse_client_hello(msg, d.tls.record_version, hello, *ctx.counters)) {
    ++ctx.counters->tls_hellos;
    ctx.sink->on_tls_client_hello(hello);
  }
}

void finish(AppDirState& d, AppContext& ctx) noexcept {
  d.tls.phase = kDone;
  release_buffer(d, ctx);
}

}  // namespace

bool parse_client_hello(std::span<const uint8_t> msg, uint16_t record_version, TlsClientHello& out,
                        AppCounters& counters) noexcept {
  out = TlsClientHello{};
  out.record_version = record_version;
  Reader r(msg);
  const uint8_t type = r.u8();
  const auto body_len = r.take(3);
  if (!r.ok() || type != kHandshakeClientHello || be24(body_len.data()) != r.left()) {
    count(counters, AppAnomaly::kTlsMalformedHello);
    return false;
  }
  out.legacy_version = r.u16();
  r.take(32);  // random
  const uint8_t sid_len = r.u8();
  r.take(sid_len);
  const uint16_t cs_len = r.u16();
  r.take(cs_len);
  const uint8_t comp_len = r.u8();
  r.take(comp_len);
  // RFC 8446 4.1.2: session id <0..32>, cipher suites <2..2^16-2> (pairs),
  // compression methods <1..2^8-1>.
  if (!r.ok() || sid_len > 32 || cs_len < 2 || cs_len % 2 != 0 || comp_len == 0) {
    count(counters, AppAnomaly::kTlsMalformedHello);
    return false;
  }
  if (r.left() == 0) return true;  // no extensions (pre-TLS 1.2 clients)

  const uint16_t ext_total = r.u16();
  if (!r.ok() || ext_total != r.left()) {
    // Parse what is there (the SNI usually is), but flag it.
    count(counters, AppAnomaly::kTlsBadExtension);
    out.malformed = true;
  }
  Reader ext(r.take(std::min<size_t>(ext_total, r.left())));
  // Duplicates matter for the extensions we report (a second SNI could hide
  // the real one from a matcher that takes the last); track types < 64.
  uint64_t seen = 0;
  while (ext.left() > 0) {
    const uint16_t etype = ext.u16();
    const uint16_t elen = ext.u16();
    const auto ebody = ext.take(elen);
    if (!ext.ok()) {
      count(counters, AppAnomaly::kTlsBadExtension);
      out.malformed = true;
      break;
    }
    if (is_grease16(etype)) continue;
    if (etype < 64) {
      const uint64_t bit = uint64_t{1} << etype;
      if (seen & bit) {
        count(counters, AppAnomaly::kTlsDuplicateExtension);
        out.malformed = true;
        continue;  // keep the first
      }
      seen |= bit;
    }
    switch (etype) {
      case kExtServerName:
        if (!parse_sni(ebody, out)) {
          count(counters, AppAnomaly::kTlsBadSni);
          out.malformed = true;
        }
        break;
      case kExtAlpn:
        if (!parse_alpn(ebody, out)) {
          count(counters, AppAnomaly::kTlsBadAlpn);
          out.malformed = true;
        }
        break;
      case kExtSupportedVersions:
        if (!parse_supported_versions(ebody, out)) {
          count(counters, AppAnomaly::kTlsBadExtension);
          out.malformed = true;
        }
        break;
      case kExtEch:
        out.ech = true;
        break;
      default:
        break;
    }
  }
  return true;
}

bool tls_feed(AppDirState& d, std::span<const uint8_t> bytes, AppContext& ctx, bool& tentative) noexcept {
  TlsDirState& t = d.tls;
  if (t.phase == kDone) return true;
  const uint8_t* p = bytes.data();
  const size_t n = bytes.size();

  // Fast path: the whole ClientHello inside the first record of this chunk
  // (the common case) is parsed in place, without a pool buffer.
  if (t.hdr_have == 0 && d.buf_len == 0 && t.need == 0 && n >= 9 && record_header_ok(p)) {
    const uint32_t rec_len = be16(p + 3);
    const uint32_t msg_len = 4 + be24(p + 6);
    // The cap applies here too, so the result never depends on segmentation.
    if (rec_len <= kMaxRecordLen && 5 + size_t{rec_len} <= n && p[5] == kHandshakeClientHello &&
        msg_len <= rec_len && msg_len <= usable(ctx, kTlsHelloCap)) {
      tentative = false;
      t.record_version = be16(p + 1);
      report(d, ctx, bytes.subspan(5, msg_len));
      finish(d, ctx);
      return true;
    }
  }

  size_t i = 0;
  while (i < n) {
    if (t.hdr_have < 5) {
      t.hdr[t.hdr_have++] = p[i++];
      if (t.hdr_have == 3) {
        if (!record_header_ok(t.hdr)) {
          if (tentative) return false;  // not TLS after all
          // A later record that is not handshake: the client sent something
          // else before finishing its ClientHello.
          count(ctx, AppAnomaly::kTlsUnexpectedRecord);
          finish(d, ctx);
          return true;
        }
        tentative = false;
      }
      if (t.hdr_have == 5) {
        const uint32_t rec_len = be16(t.hdr + 3);
        if (rec_len == 0 || rec_len > kMaxRecordLen) {
          count(ctx, AppAnomaly::kTlsBadRecordLength);
          finish(d, ctx);
          return true;
        }
        if (t.record_version == 0) t.record_version = be16(t.hdr + 1);
        t.rec_left = static_cast<uint16_t>(rec_len);
      }
      continue;
    }
    // Handshake fragment bytes: collect the 4-byte handshake header first,
    // then exactly the message (anything after it is not ours to parse).
    const uint32_t want = t.need == 0 ? 4 - d.buf_len : t.need - d.buf_len;
    const size_t take = std::min({size_t{t.rec_left}, n - i, size_t{want}});
    if (!append(d, ctx, bytes.subspan(i, take), kTlsHelloCap)) {
      finish(d, ctx);  // pool exhausted: counted in buffer_exhausted
      return true;
    }
    i += take;
    t.rec_left = static_cast<uint16_t>(t.rec_left - take);
    const uint8_t* buf = ctx.pool->get(d.buf_slot - 1).data();
    if (t.need == 0 && d.buf_len == 4) {
      if (buf[0] != kHandshakeClientHello) {
        count(ctx, AppAnomaly::kTlsNotClientHello);
        finish(d, ctx);
        return true;
      }
      const uint32_t need = 4 + be24(buf + 1);
      if (need > usable(ctx, kTlsHelloCap)) {
        count(ctx, AppAnomaly::kTlsHelloTooLong);
        finish(d, ctx);
        return true;
      }
      t.need = need;
    }
    if (t.need != 0 && d.buf_len == t.need) {
      report(d, ctx, {buf, t.need});
      finish(d, ctx);
      return true;
    }
    if (t.rec_left == 0) t.hdr_have = 0;  // next record continues the message
  }
  return true;
}

void tls_gap(AppDirState& d, AppContext& ctx) noexcept {
  if (d.tls.phase == kDone) return;
  count(ctx, AppAnomaly::kTlsGap);
  finish(d, ctx);
}

}  // namespace ftz::engine::app::detail

namespace ftz::engine::app::detail {

// TLSPlaintext / TLSCiphertext framing (RFC 8446 5.1, 5.2): content type
// change_cipher_spec..heartbeat (20..24), legacy version 3.0..3.4, length up
// to 2^14 + 2048 (a TLS 1.2 ciphertext's largest). Payloads are handed over
// for inspection with the headers removed, as the receiver's record layer
// would reassemble them: a client can wrap plaintext into records a
// colluding server reads, and identifiers split across records must still
// be seen whole. The first header that is not well-formed ends the framing:
// it and everything after go raw.
namespace {
constexpr uint32_t kMaxCiphertextLen = (1u << 14) + 2048;
constexpr bool record_header_valid(const uint8_t* h) noexcept {
  return h[0] >= 20 && h[0] <= 24 && h[1] == 3 && h[2] <= 4 && be16(h + 3) <= kMaxCiphertextLen;
}
}  // namespace

void tls_records_feed(AppDirState& d, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx) noexcept {
  TlsRecordState& r = d.tls.records;
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    if (r.raw) {
      deliver(ctx, dir, Content::kRaw, bytes.subspan(i));
      return;
    }
    if (r.left > 0) {
      const size_t take = std::min<size_t>(r.left, n - i);
      deliver(ctx, dir, Content::kRaw, bytes.subspan(i, take));
      i += take;
      r.left = static_cast<uint16_t>(r.left - take);
      continue;
    }
    const size_t take = std::min<size_t>(5 - r.have, n - i);
    std::memcpy(r.hdr + r.have, bytes.data() + i, take);
    r.have = static_cast<uint8_t>(r.have + take);
    i += take;
    if (r.have < 5) continue;
    r.have = 0;
    if (!record_header_valid(r.hdr)) {
      r.raw = 1;
      deliver(ctx, dir, Content::kRaw, {r.hdr, 5});
      continue;
    }
    r.left = be16(r.hdr + 3);
  }
}

std::span<const uint8_t> tls_records_held(const AppDirState& d) noexcept {
  return {d.tls.records.hdr, d.tls.records.raw ? 0u : d.tls.records.have};
}

}  // namespace ftz::engine::app::detail
