#include "decoder.hpp"

#include <bit>
#include <cstring>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

// Percent escapes, whatever the content type: an exporter can percent-encode
// a text body it labels text/plain. '+' is a space only in form bodies
// (elsewhere it is a sign: "+86 138…"). A '%' directly before an
// identifier's first two digits reads as an escape (documented limit).
size_t url_stage(ScanState& st, const uint8_t* in, size_t n, uint8_t* out, bool plus_is_space) noexcept {
  size_t o = 0;
  size_t i = 0;
  while (i < n) {
    if (st.pct_len == 0) {
      // Copy up to the next '%' (and '+' for forms) at memchr speed.
      const void* hit = std::memchr(in + i, '%', n - i);
      size_t j = hit == nullptr ? n : static_cast<size_t>(static_cast<const uint8_t*>(hit) - in);
      if (plus_is_space) {
        for (size_t k = i; k < j; ++k) out[o++] = in[k] == '+' ? ' ' : in[k];
      } else {
        std::memcpy(out + o, in + i, j - i);
        o += j - i;
      }
      i = j;
      if (i == n) break;
      st.pct[0] = '%';
      st.pct_len = 1;
      ++i;
      continue;
    }
    const uint8_t c = in[i];
    if (hex_value(c) >= 0) {
      st.pct[st.pct_len++] = c;
      ++i;
      if (st.pct_len == 3) {
        out[o++] = static_cast<uint8_t>(hex_value(st.pct[1]) * 16 + hex_value(st.pct[2]));
        st.pct_len = 0;
      }
      continue;
    }
    // Not an escape: the held bytes stand for themselves, c is judged again.
    for (uint8_t k = 0; k < st.pct_len; ++k) out[o++] = st.pct[k];
    st.pct_len = 0;
  }
  return o;
}

constexpr bool u16_alnum(uint8_t c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
constexpr bool u16_unit(uint8_t c) noexcept {
  return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\r' || c == '\n';
}

// UTF-16 text (LE, and BE shifted by one byte): a run of at least four ASCII
// code units (c, 00) loses its NUL bytes. Non-ASCII code units end a run
// (their bytes pass as they are); line breaks around a run keep what the
// bytes next to it happen to be from joining an identifier in it.
constexpr uint8_t kU16Pairs = 4;

size_t utf16_stage(ScanState& st, const uint8_t* in, size_t n, uint8_t* out) noexcept {
  size_t o = 0;
  size_t i = 0;
  while (i < n) {
    if (st.u16_len == 0 && !st.u16_on) {
      // Outside a run, text without NUL bytes is copied at memchr speed; only
      // the byte before a NUL (or the last byte, whose NUL may come with the
      // next chunk) is looked at one by one.
      const void* nul = std::memchr(in + i, 0, n - i);
      const size_t j = nul == nullptr ? n : static_cast<size_t>(static_cast<const uint8_t*>(nul) - in);
      size_t stop = j;
      if (nul != nullptr)
        stop = j > i ? j - 1 : i;
      else if (u16_alnum(in[n - 1]))
        stop = n - 1;  // only an alphanumeric unit can start a run that matters
      std::memcpy(out + o, in + i, stop - i);
      o += stop - i;
      i = stop;
      if (i == n) break;
    }
    const uint8_t c = in[i];
    if (st.u16_on) {
      // u16_len: 0 = expecting a unit, 1 = holding one and expecting its NUL.
      if (st.u16_len == 0) {
        if (u16_unit(c)) {
          st.u16[0] = c;
          st.u16_len = 1;
          ++i;
          continue;
        }
      } else if (c == 0) {
        out[o++] = st.u16[0];
        st.u16_len = 0;
        ++i;
        continue;
      } else {
        out[o++] = st.u16[0];  // a unit whose second byte is not 0: it was just a byte
        st.u16_len = 0;
      }
      st.u16_on = 0;
      out[o++] = '\n';
      continue;  // c is judged again outside a run
    }
    if (st.u16_len == 0) {
      if (u16_unit(c)) {
        st.u16[st.u16_len++] = c;
      } else {
        out[o++] = c;
      }
      ++i;
      continue;
    }
    const bool want_nul = (st.u16_len & 1) != 0;
    if (want_nul ? c == 0 : u16_unit(c)) {
      st.u16[st.u16_len++] = c;
      ++i;
      if (st.u16_len == 2 * kU16Pairs) {
        out[o++] = '\n';
        for (uint8_t k = 0; k < st.u16_len; k += 2) out[o++] = st.u16[k];
        st.u16_len = 0;
        st.u16_on = 1;
      }
      continue;
    }
    // Not a run: the held bytes go as they are, c is judged again.
    std::memcpy(out + o, st.u16, st.u16_len);
    o += st.u16_len;
    st.u16_len = 0;
  }
  return o;
}

constexpr bool ds_alnum(uint8_t c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
constexpr bool ds_digit(uint8_t c) noexcept {
  return (c >= '0' && c <= '9') || c == 'X' || c == 'x';
}

// Every digit spaced ("1 1 0 1 0 5 …", an ID or a mobile typed with a space
// after each digit): a run of at least kDsMin single digits (the last may be
// X) each separated by one space loses the spaces. Such a run holds no
// identifier as it is (every digit stands alone), so nothing is lost.
constexpr uint8_t kDsMin = 7;

size_t spaced_stage(ScanState& st, const uint8_t* in, size_t n, uint8_t* out) noexcept {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    if (!st.ds_on && st.ds_len == 0) {
      // Fast path: copy up to the next digit that could start a run (a digit
      // after a non-alphanumeric byte, followed by a space or by the chunk
      // end), found from the spaces (memchr) rather than byte by byte.
      size_t start = n;
      auto candidate = [&](size_t j) {  // a space at j after a lone digit
        if (j <= i) return false;
        const uint8_t d = in[j - 1];
        const uint8_t before = j - 1 > i ? in[j - 2] : st.ds_prev;
        return d >= '0' && d <= '9' && !ds_alnum(before);
      };
      size_t k = i;
      static_assert(std::endian::native == std::endian::little, "lane order below");
      // Eight bytes at a time (SWAR): a digit lane followed by a space lane.
      // Most text has no digit next to a space, and a word without one is
      // passed over with a few operations.
      constexpr uint64_t kOnes = 0x0101010101010101ull;
      constexpr uint64_t kHigh = 0x8080808080808080ull;
      constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full;
#ifdef __SSE2__
      // Sixteen bytes at a time where SSE2 is there (every x86-64): lanes
      // of spaces against lanes of digits one byte earlier.
      if (n - i > 16) {
        const __m128i space = _mm_set1_epi8(' ');
        const __m128i zero = _mm_set1_epi8('0');
        const __m128i nine = _mm_set1_epi8(9);
        for (k = i + 1; k + 16 <= n && start == n; k += 16) {
          const __m128i cur = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + k));
          const __m128i d = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + k - 1)), zero);
          const __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d);
          auto m = static_cast<uint32_t>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(cur, space), digit)));
          while (m != 0) {
            const size_t j = k + static_cast<size_t>(std::countr_zero(m));
            if (candidate(j)) {
              start = j - 1;
              break;
            }
            m &= m - 1;
          }
        }
      }
#endif
      // The byte before k was a digit: a space at k is then a candidate.
      uint64_t carry_digit = k > i && in[k - 1] >= '0' && in[k - 1] <= '9' ? 0x80 : 0;
      for (; k + 8 <= n && start == n; k += 8) {
        uint64_t w;
        std::memcpy(&w, in + k, 8);
        const uint64_t x = w ^ (kOnes * ' ');
        const uint64_t space = (x - kOnes) & ~x & kHigh;  // exact below the first real space
        // Bytes strictly between '/' and ':' (Bit Twiddling Hacks "hasbetween").
        const uint64_t low = w & kLow7;
        const uint64_t digit = ((kOnes * (127 + ':')) - low) & ~w & (low + kOnes * (127 - '/')) & kHigh;
        uint64_t m = space & ((digit << 8) | carry_digit);
        carry_digit = (digit >> 56) & 0x80;
        while (m != 0) {
          const size_t j = k + static_cast<size_t>(std::countr_zero(m) >> 3);
          if (in[j] == ' ' && candidate(j)) {
            start = j - 1;
            break;
          }
          m &= m - 1;
        }
      }
      for (; k < n && start == n; ++k) {
        if (in[k] == ' ' && candidate(k)) start = k - 1;
      }
      if (start == n && n - i >= 1) {
        // The last byte may start a run whose space comes with the next chunk.
        const uint8_t d = in[n - 1];
        const uint8_t before = n - 1 > i ? in[n - 2] : st.ds_prev;
        if (d >= '0' && d <= '9' && !ds_alnum(before)) start = n - 1;
      }
      std::memcpy(out + o, in + i, start - i);
      o += start - i;
      if (start > i) st.ds_prev = in[start - 1];
      i = start;
      if (i == n) break;
    }
    const uint8_t c = in[i];
    if (st.ds_on) {
      // ds holds at most " d": a space, then a digit whose successor decides.
      if (st.ds_len == 0) {
        if (c == ' ') {
          st.ds[st.ds_len++] = c;
          ++i;
          continue;
        }
      } else if (st.ds_len == 1) {
        if (ds_digit(c)) {
          st.ds[st.ds_len++] = c;
          ++i;
          continue;
        }
      } else if (!ds_alnum(c)) {
        out[o++] = st.ds[1];  // a single digit: the space before it goes
        st.ds_len = 0;
        st.ds_prev = st.ds[1];
        continue;  // c: a space continues the run, anything else ends it below
      }
      // The run ends; what is held goes as it is.
      std::memcpy(out + o, st.ds, st.ds_len);
      o += st.ds_len;
      if (st.ds_len > 0) st.ds_prev = st.ds[st.ds_len - 1];
      st.ds_len = 0;
      st.ds_on = 0;
      continue;
    }
    if (st.ds_len == 0) {
      if (ds_digit(c) && c != 'X' && c != 'x' && !ds_alnum(st.ds_prev)) {
        st.ds[st.ds_len++] = c;
        st.ds_count = 1;
      } else {
        out[o++] = c;
        st.ds_prev = c;
      }
      ++i;
      continue;
    }
    const bool after_digit = st.ds[st.ds_len - 1] != ' ';
    if (after_digit ? c == ' ' : ds_digit(c)) {
      st.ds[st.ds_len++] = c;
      if (!after_digit) ++st.ds_count;
      ++i;
      if (st.ds_count == kDsMin && !after_digit) {
        // Wait for the last digit's successor before deciding: `ds_on` with
        // " d" held is exactly that state.
        for (uint8_t k = 0; k + 2 < st.ds_len; k += 2) out[o++] = st.ds[k];
        st.ds[0] = ' ';
        st.ds[1] = st.ds[st.ds_len - 1];
        st.ds_len = 2;
        st.ds_on = 1;
      }
      continue;
    }
    if (after_digit && !ds_alnum(c) && st.ds_len == 1) {
      // A lone digit followed by something else: nothing to collapse.
    }
    // Not a run (or a digit that is not single): held bytes go as they are.
    std::memcpy(out + o, st.ds, st.ds_len);
    o += st.ds_len;
    st.ds_prev = st.ds[st.ds_len - 1];
    st.ds_len = 0;
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
              const uint32_t full =
                  0x10000 + ((static_cast<uint32_t>(st.high_surrogate) - 0xD800) << 10) + (cp - 0xDC00);
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
      // "\/" is '/' (PHP escapes every slash; base64 and URLs carry them).
      o += drop_high(st, out + o);
      if (c != '/') out[o++] = '\\';
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

size_t decode(ScanState& st, const uint8_t* in, size_t n, uint8_t* tmp, uint8_t* tmp2,
              uint8_t* out) noexcept {
  size_t m = utf16_stage(st, in, n, tmp);
  m = url_stage(st, tmp, m, tmp2, st.kind == ContentKind::kForm);
  m = json_stage(st, tmp2, m, tmp);
  m = fold(st, tmp, m, tmp2);
  return spaced_stage(st, tmp2, m, out);
}

size_t flush(ScanState& st, uint8_t* out) noexcept {
  // Each stage's held bytes, in stage order, through the later stages.
  uint8_t a[kDecoderSlack];
  uint8_t b[kDecoderSlack];
  size_t h = 0;
  if (st.u16_on && st.u16_len == 1)
    a[h++] = st.u16[0];
  else {
    std::memcpy(a, st.u16, st.u16_len);
    h = st.u16_len;
  }
  st.u16_len = 0;
  st.u16_on = 0;
  size_t m = url_stage(st, a, h, b, st.kind == ContentKind::kForm);
  for (uint8_t k = 0; k < st.pct_len; ++k) b[m++] = st.pct[k];
  st.pct_len = 0;
  m = json_stage(st, b, m, a);
  m += drop_high(st, a + m);
  if (st.json_backslash) a[m++] = '\\';
  for (uint8_t k = 0; k < st.esc_len; ++k) a[m++] = st.esc[k];
  st.json_backslash = false;
  st.esc_len = 0;
  m = fold(st, a, m, b);
  for (uint8_t k = 0; k < st.fw_len; ++k) b[m++] = st.fw[k];
  st.fw_len = 0;
  size_t o = spaced_stage(st, b, m, out);
  if (st.ds_on && st.ds_len == 2) {
    out[o++] = st.ds[1];  // the run's last digit: the end of data is not alphanumeric
  } else {
    std::memcpy(out + o, st.ds, st.ds_len);
    o += st.ds_len;
  }
  st.ds_len = 0;
  st.ds_on = 0;
  return o;
}

size_t flush_lookahead(ScanState& st, uint8_t* out) noexcept {
  uint8_t a[kDecoderSlack];
  uint8_t b[kDecoderSlack];
  size_t h = 0;
  if (st.u16_on && st.u16_len == 1) {
    a[h++] = st.u16[0];
  } else {
    std::memcpy(a, st.u16, st.u16_len);
    h = st.u16_len;
  }
  st.u16_len = 0;
  st.u16_on = 0;
  size_t m = url_stage(st, a, h, b, st.kind == ContentKind::kForm);
  m = json_stage(st, b, m, a);
  m = fold(st, a, m, b);
  size_t o = spaced_stage(st, b, m, out);
  if (st.ds_on && st.ds_len == 2) {
    out[o++] = st.ds[1];
  } else {
    std::memcpy(out + o, st.ds, st.ds_len);
    o += st.ds_len;
  }
  st.ds_len = 0;
  st.ds_on = 0;
  return o;
}

void reset(ScanState& st) noexcept {
  st.esc_len = 0;
  st.fw_len = 0;
  st.json_backslash = false;
  st.high_surrogate = 0;
  st.pct_len = 0;
  st.u16_len = 0;
  st.u16_on = 0;
  st.ds_len = 0;
  st.ds_count = 0;
  st.ds_on = 0;
  st.ds_prev = 0;
}

}  // namespace ftz::engine::sig::detail
