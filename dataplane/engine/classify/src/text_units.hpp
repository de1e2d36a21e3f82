#pragma once
// Byte-level helpers shared by normalisation, validators and masking. ASCII
// only on purpose: no <cctype> (locale-dependent, UB on negative char).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ftz/base/ascii.hpp"

namespace ftz::engine::classify {

constexpr int digit_value(char c) noexcept {
  return c - '0';
}

namespace detail {

constexpr uint8_t byte_at(std::string_view s, size_t i) noexcept {
  return static_cast<uint8_t>(s[i]);
}

struct Unit {
  char ch;        // ASCII equivalent, or the raw byte
  uint8_t width;  // input bytes consumed: 3 for a folded full-width character, else 1
};

// Full-width forms (Unicode Halfwidth and Fullwidth Forms block):
// U+FF10..FF19 = EF BC 90..99 (digits), U+FF21..FF3A = EF BC A1..BA (A-Z),
// U+FF41..FF5A = EF BD 81..9A (a-z).
constexpr Unit decode_unit(std::string_view s, size_t i) noexcept {
  if (i + 2 < s.size() && byte_at(s, i) == 0xEF) {
    const uint8_t b1 = byte_at(s, i + 1);
    const uint8_t b2 = byte_at(s, i + 2);
    if (b1 == 0xBC && b2 >= 0x90 && b2 <= 0x99) return {static_cast<char>('0' + (b2 - 0x90)), 3};
    if (b1 == 0xBC && b2 >= 0xA1 && b2 <= 0xBA) return {static_cast<char>('A' + (b2 - 0xA1)), 3};
    if (b1 == 0xBD && b2 >= 0x81 && b2 <= 0x9A) return {static_cast<char>('a' + (b2 - 0x81)), 3};
  }
  return {s[i], 1};
}

// Bytes of the separator at i (DOMAIN.md §3: space, '-', U+00B7 '·' = C2 B7,
// '.'), or 0.
constexpr size_t separator_width(std::string_view s, size_t i) noexcept {
  const char c = s[i];
  if (c == ' ' || c == '-' || c == '.') return 1;
  if (byte_at(s, i) == 0xC2 && i + 1 < s.size() && byte_at(s, i + 1) == 0xB7) return 2;
  return 0;
}

// Length of the UTF-8 sequence led by byte b (1 for ASCII and for stray
// continuation/invalid bytes, so iteration always advances).
constexpr size_t utf8_len(uint8_t b) noexcept {
  if (b >= 0xF0 && b <= 0xF4) return 4;
  if (b >= 0xE0) return b <= 0xEF ? 3 : 1;
  if (b >= 0xC2) return 2;
  return 1;
}

}  // namespace detail
}  // namespace ftz::engine::classify
