#include "decoder.hpp"

#include <cstring>

namespace ftz::engine::sig::detail {
namespace {

constexpr int hex_value(uint8_t c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ASCII equivalent of the full-width character EF b1 b2, or 0.
constexpr uint8_t full_width(uint8_t b1, uint8_t b2) noexcept {
  if (b1 == 0xBC && b2 >= 0x90 && b2 <= 0x99) return static_cast<uint8_t>('0' + (b2 - 0x90));
  if (b1 == 0xBC && b2 >= 0xA1 && b2 <= 0xBA) return static_cast<uint8_t>('A' + (b2 - 0xA1));
  if (b1 == 0xBD && b2 >= 0x81 && b2 <= 0x9A) return static_cast<uint8_t>('a' + (b2 - 0x81));
  return 0;
}

// Full-width fold; st.fw holds "EF" or "EF BC|BD" cut by the end of `in`.
size_t fold(ScanState& st, const uint8_t* in, size_t n, uint8_t* out) noexcept {
  size_t i = 0;
  size_t o = 0;
  while (st.fw_len > 0 && i < n) {
    const uint8_t c = in[i];
    if (st.fw_len == 1) {
      if (c == 0xBC || c == 0xBD) {
        st.fw[1] = c;
        st.fw_len = 2;
        ++i;
        continue;
      }
      out[o++] = 0xEF;
      st.fw_len = 0;
      break;
    }
    if (const uint8_t a = full_width(st.fw[1], c); a != 0) {
      out[o++] = a;
      ++i;
    } else {
      out[o++] = 0xEF;
      out[o++] = st.fw[1];
    }
    st.fw_len = 0;
  }
  while (i < n) {
    const void* hit = std::memchr(in + i, 0xEF, n - i);
    const size_t j = hit == nullptr ? n : static_cast<size_t>(static_cast<const uint8_t*>(hit) - in);
    std::memcpy(out + o, in + i, j - i);
    o += j - i;
    i = j;
    if (i == n) break;
    if (i + 2 < n) {
      if (const uint8_t a = full_width(in[i + 1], in[i + 2]); a != 0) {
        out[o++] = a;
        i += 3;
      } else {
        out[o++] = 0xEF;
        ++i;
      }
      continue;
    }
    // EF or EF xx at the end: hold it if it can still become a full-width character.
    if (i + 1 == n) {
      st.fw[0] = 0xEF;
      st.fw_len = 1;
      i = n;
    } else if (in[i + 1] == 0xBC || in[i + 1] == 0xBD) {
      st.fw[0] = 0xEF;
      st.fw[1] = in[i + 1];
      st.fw_len = 2;
      i = n;
    } else {
      out[o++] = 0xEF;
      ++i;
    }
  }
  return o;
}

size_t url_stage(ScanState& st, const uint8_t* in, size_t n, uint8_t* out) noexcept {
  size_t o = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = in[i];
    if (st.esc_len > 0) {
      if (hex_value(c) >= 0) {
        st.esc[st.esc_len++] = c;
        if (st.esc_len == 3) {
          out[o++] = static_cast<uint8_t>(hex_value(st.esc[1]) * 16 + hex_value(st.esc[2]));
          st.esc_len = 0;
        }
        continue;
      }
      // Not an escape: the held bytes stand for themselves.
      for (uint8_t k = 0; k < st.esc_len; ++k) out[o++] = st.esc[k];
      st.esc_len = 0;
    }
    if (c == '%') {
      st.esc[0] = c;
      st.esc_len = 1;
    } else {
      out[o++] = c == '+' ? ' ' : c;
    }
  }
  return o;
}

size_t put_utf8(uint32_t cp, uint8_t* out) noexcept {
  if (cp < 0x80) {
    out[0] = static_cast<uint8_t>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
  out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  return 4;
}

constexpr uint32_t kReplacement = 0xFFFD;

// A dangling high surrogate becomes U+FFFD before anything else is written.
size_t drop_high(ScanState& st, uint8_t* out) noexcept {
  if (st.high_surrogate == 0) return 0;
  st.high_surrogate = 0;
  return put_utf8(kReplacement, out);
}

size_t json_stage(ScanState& st, const uint8_t* in, size_t n, uint8_t* out) noexcept {
  size_t o = 0;
  size_t i = 0;
  while (i < n) {
    const uint8_t c = in[i];
    if (st.esc_len > 0) {  // "\u" + hex digits held
      if (hex_value(c) >= 0) {
        st.esc[st.esc_len++] = c;
        ++i;
        if (st.esc_len == 6) {
          uint32_t cp = 0;
          for (int k = 2; k < 6; ++k) cp = cp * 16 + static_cast<uint32_t>(hex_value(st.esc[k]));
          st.esc_len = 0;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            o += drop_high(st, out + o);
            st.high_surrogate = static_cast<uint16_t>(cp);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            if (st.high_surrogate != 0) {
              const uint32_t full = 0x10000 + ((static_cast<uint32_t>(st.high_surrogate) - 0xD800) << 10) + (cp - 0xDC00);
              st.high_surrogate = 0;
              o += put_utf8(full, out + o);
            } else {
              o += put_utf8(kReplacement, out + o);
            }
          } else {
            o += drop_high(st, out + o);
            o += put_utf8(cp, out + o);
          }
        }
        continue;
      }
      o += drop_high(st, out + o);
      for (uint8_t k = 0; k < st.esc_len; ++k) out[o++] = st.esc[k];
      st.esc_len = 0;
      continue;  // c is judged again below
    }
    if (st.json_backslash) {
      st.json_backslash = false;
      ++i;
      if (c == 'u') {
        st.esc[0] = '\\';
        st.esc[1] = 'u';
        st.esc_len = 2;
        continue;
      }
      // Other escapes (\" \\ \n ...) stay as written: JSON structure is kept.
      o += drop_high(st, out + o);
      out[o++] = '\\';
      out[o++] = c;
      continue;
    }
    const void* hit = std::memchr(in + i, '\\', n - i);
    const size_t j = hit == nullptr ? n : static_cast<size_t>(static_cast<const uint8_t*>(hit) - in);
    if (j > i) {
      o += drop_high(st, out + o);
      std::memcpy(out + o, in + i, j - i);
      o += j - i;
      i = j;
    }
    if (i < n) {  // a backslash
      st.json_backslash = true;
      ++i;
    }
  }
  return o;
}

}  // namespace

size_t decode(ScanState& st, const uint8_t* in, size_t n, uint8_t* tmp, uint8_t* out) noexcept {
  switch (st.kind) {
    case ContentKind::kForm: return fold(st, tmp, url_stage(st, in, n, tmp), out);
    case ContentKind::kJson: return fold(st, tmp, json_stage(st, in, n, tmp), out);
    case ContentKind::kRaw:
    case ContentKind::kCsv: break;
  }
  return fold(st, in, n, out);
}

size_t flush(ScanState& st, uint8_t* out) noexcept {
  uint8_t held[12];
  size_t h = drop_high(st, held);
  if (st.json_backslash) held[h++] = '\\';
  for (uint8_t k = 0; k < st.esc_len; ++k) held[h++] = st.esc[k];
  st.json_backslash = false;
  st.esc_len = 0;
  size_t o = fold(st, held, h, out);
  for (uint8_t k = 0; k < st.fw_len; ++k) out[o++] = st.fw[k];
  st.fw_len = 0;
  return o;
}

void reset(ScanState& st) noexcept {
  st.esc_len = 0;
  st.fw_len = 0;
  st.json_backslash = false;
  st.high_surrogate = 0;
}

}  // namespace ftz::engine::sig::detail
