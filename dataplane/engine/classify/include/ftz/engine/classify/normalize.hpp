#pragma once
// Normalisation before matching (DOMAIN.md §3 pipeline): full-width digits and
// letters -> ASCII, and one separator (space, '-', U+00B7 '·', '.') between two
// digits removed, so "１３８ 1234-5678" scans as "13812345678". An offset map
// leads every output byte back to the input, because boundaries are judged on
// the exact input bytes: in "13812345678 13912345678" the merged run is 22
// digits, yet each number still has a clear boundary in the input.
//
// Bounded output, no allocation, noexcept.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ftz::engine::classify {

struct NormalizeResult {
  size_t out_len = 0;      // bytes written to out (and offsets)
  size_t in_consumed = 0;  // input bytes consumed; < in.size() when out filled up
};

// Maps `in` into `out`. Full-width U+FF10..FF19, U+FF21..FF3A, U+FF41..FF5A
// (3 UTF-8 bytes each) become one ASCII byte; everything else is copied byte by
// byte, except that with strip_separators one separator whose neighbours are
// both digits (after folding) is dropped. A separator at the very end of `in`
// is kept (the next chunk is not visible); callers keep a tail window.
// When `offsets` is non-empty, offsets[i] is the input offset of the unit that
// produced out[i]; output stops at min(out.size(), offsets.size()).
NormalizeResult normalize_digits(std::string_view in, std::span<char> out, std::span<uint32_t> offsets,
                                 bool strip_separators = true) noexcept;

struct ByteRange {
  size_t begin = 0;
  size_t end = 0;  // one past the last input byte
};

// The input bytes that produced out[out_begin, out_end) of a normalize_digits
// call over `in` (out_begin < out_end <= out_len; offsets as filled).
ByteRange input_range(std::string_view in, std::span<const uint32_t> offsets, size_t out_begin,
                      size_t out_end) noexcept;

// DOMAIN.md §3 boundary rule on exact bytes: the byte before `r.begin` and the
// byte at `r.end` are not [0-9A-Za-z] and not part of a full-width digit or
// letter. An edge of `text` counts as clear: the caller passes text that
// includes its tail window and defers a match ending at the edge to the next
// chunk or the end of the stream.
bool has_alnum_boundaries(std::string_view text, ByteRange r) noexcept;

}  // namespace ftz::engine::classify
