#include "ftz/engine/classify/normalize.hpp"

#include "text_units.hpp"

namespace ftz::engine::classify {

NormalizeResult normalize_digits(std::string_view in, std::span<char> out, std::span<uint32_t> offsets,
                                 bool strip_separators) noexcept {
  size_t cap = out.size();
  if (!offsets.empty() && offsets.size() < cap) cap = offsets.size();
  size_t i = 0;
  size_t o = 0;
  bool last_out_digit = false;
  while (i < in.size()) {
    // One separator between two digits goes (DOMAIN.md §3 pipeline: strip
    // space - · . inside digit runs). Only one: "1 - 2" stays apart, which
    // keeps columns of numbers from fusing into one long run.
    if (strip_separators && last_out_digit) {
      const size_t sep = detail::separator_width(in, i);
      if (sep != 0 && i + sep < in.size()) {
        const detail::Unit next = detail::decode_unit(in, i + sep);
        if (ascii::is_digit(next.ch)) {
          i += sep;
          continue;
        }
      }
    }
    if (o == cap) break;
    const detail::Unit u = detail::decode_unit(in, i);
    out[o] = u.ch;
    if (!offsets.empty()) offsets[o] = static_cast<uint32_t>(i);
    ++o;
    i += u.width;
    last_out_digit = ascii::is_digit(u.ch);
  }
  return {o, i};
}

ByteRange input_range(std::string_view in, std::span<const uint32_t> offsets, size_t out_begin,
                      size_t out_end) noexcept {
  if (out_begin >= out_end || out_end > offsets.size()) return {};
  const size_t begin = offsets[out_begin];
  const size_t last = offsets[out_end - 1];
  if (begin > in.size() || last >= in.size()) return {};
  return {begin, last + detail::decode_unit(in, last).width};
}

bool has_alnum_boundaries(std::string_view text, ByteRange r) noexcept {
  if (r.begin > r.end || r.end > text.size()) return false;
  if (r.begin > 0) {
    if (ascii::is_alnum(text[r.begin - 1])) return false;
    // The last byte of a full-width digit/letter (EF BC 90..99 etc.).
    if (r.begin >= 3 && detail::decode_unit(text, r.begin - 3).width == 3) return false;
  }
  if (r.end < text.size()) {
    if (ascii::is_alnum(text[r.end])) return false;
    if (detail::decode_unit(text, r.end).width == 3) return false;
  }
  return true;
}

}  // namespace ftz::engine::classify
