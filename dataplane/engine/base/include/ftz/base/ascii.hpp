#pragma once
// ASCII character classes and case folding for protocol text (HTTP header
// names, host names, hex keys, config names). ASCII only on purpose: <cctype>
// depends on the locale and is undefined for negative `char`. The one copy:
// every layer that needs these includes this header.
//
// Each function takes `unsigned char`, so `char` and `uint8_t` arguments both
// work without casts.

#include <cstddef>
#include <string>
#include <string_view>

namespace ftz::ascii {

constexpr bool is_digit(unsigned char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_upper(unsigned char c) noexcept {
  return c >= 'A' && c <= 'Z';
}
constexpr bool is_lower(unsigned char c) noexcept {
  return c >= 'a' && c <= 'z';
}
constexpr bool is_alpha(unsigned char c) noexcept {
  return is_upper(c) || is_lower(c);
}
constexpr bool is_alnum(unsigned char c) noexcept {
  return is_digit(c) || is_alpha(c);
}

// 0..15 for [0-9a-fA-F], -1 otherwise.
constexpr int hex_value(unsigned char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
constexpr bool is_hex_digit(unsigned char c) noexcept {
  return hex_value(c) >= 0;
}

// Same type out as in (char or uint8_t); only A-Z / a-z change.
template <typename Char>
constexpr Char to_lower(Char c) noexcept {
  return is_upper(static_cast<unsigned char>(c)) ? static_cast<Char>(c + ('a' - 'A')) : c;
}
template <typename Char>
constexpr Char to_upper(Char c) noexcept {
  return is_lower(static_cast<unsigned char>(c)) ? static_cast<Char>(c - ('a' - 'A')) : c;
}

// Equal ignoring ASCII case (HTTP field names, DNS names, config keys).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

// A lower-case copy (slow path: allocates).
inline std::string to_lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

static_assert(to_lower('Q') == 'q' && to_lower('[') == '[' && to_upper('q') == 'Q');
static_assert(iequals("Content-Length", "content-length") && !iequals("a", "ab"));
static_assert(hex_value('f') == 15 && hex_value('G') == -1);

}  // namespace ftz::ascii
