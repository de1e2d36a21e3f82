#pragma once
// Helpers for the classify tests. The reference check-digit code here is
// written independently of src/ (straight from DOMAIN.md §3.1/§3.3) so the
// two cannot share a bug. Synthetic identifiers built here are never printed
// unmasked: failure messages go through masked().

#include <array>
#include <string>
#include <string_view>

#include "ftz/engine/classify/masking.hpp"
#include "ftz/engine/classify/validators.hpp"

namespace ftz::engine::classify::test {

// 2026-11-15 12:00:00 +08:00 (Asia/Shanghai).
inline constexpr int64_t kPacketTime = 1794715200;
inline constexpr ValidationContext kCtx{kPacketTime};

// GB 11643-1999 MOD 11-2, from the table in DOMAIN.md §3.1.
inline char ref_id_check(std::string_view first17) {
  static constexpr std::array<int, 17> kW = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr std::string_view kMap = "10X98765432";
  int s = 0;
  for (size_t i = 0; i < 17; ++i) s += (first17[i] - '0') * kW[i];
  return kMap[static_cast<size_t>(s % 11)];
}

// An 18-character resident ID with a correct check character.
inline std::string make_id(std::string_view area6, std::string_view yyyymmdd, std::string_view seq3 = "123") {
  std::string s = std::string(area6) + std::string(yyyymmdd) + std::string(seq3);
  s.push_back(ref_id_check(s));
  return s;
}

// Luhn check digit for payload (ISO/IEC 7812 Annex B), computed left to right.
inline char ref_luhn(std::string_view payload) {
  int sum = 0;
  const size_t n = payload.size();
  for (size_t i = 0; i < n; ++i) {
    int d = payload[i] - '0';
    if ((n - i) % 2 == 1) {  // doubled: odd distance from the (future) check digit
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

inline std::string with_luhn(std::string_view payload) {
  std::string s(payload);
  s.push_back(ref_luhn(payload));
  return s;
}

// The wrong Luhn digit (for negatives).
inline std::string with_bad_luhn(std::string_view payload) {
  std::string s(payload);
  s.push_back(static_cast<char>('0' + ((ref_luhn(payload) - '0') + 1) % 10));
  return s;
}

// Safe to print: the masked form.
inline std::string masked(ValidatorId id, std::string_view value) {
  std::string out(value.size(), '\0');
  out.resize(mask(id, value, out));
  return out;
}

inline Verdict check(ValidatorId id, std::string_view candidate, const ValidationContext& ctx = kCtx) {
  return validate(id, candidate, ctx);
}

}  // namespace ftz::engine::classify::test
