#pragma once
// The counting window is the calendar year in Asia/Shanghai (DOMAIN.md §1.1:
// "since 1 January of the current year"); the calendar and the fixed
// UTC+08:00 offset are ftz/base/civil_date.hpp's.
// 1 Jan 2027 00:00 +08:00 = 2026-12-31T16:00:00Z.

#include <cstdint>

#include "ftz/base/civil_date.hpp"

namespace ftz::engine::compliance {

inline constexpr int64_t kNsPerSecond = 1'000'000'000;

// Unix seconds of 1 January `year` 00:00:00 Asia/Shanghai.
constexpr int64_t shanghai_year_start_s(int32_t year) noexcept {
  return civil::shanghai_midnight_s(year, 1, 1);
}
// The Asia/Shanghai calendar year at unix time `unix_s` (any 64-bit value:
// packet timestamps are untrusted; the year is truncated to 32 bits).
constexpr int32_t shanghai_year_of_s(int64_t unix_s) noexcept {
  return static_cast<int32_t>(civil::civil_from_days(civil::shanghai_day(unix_s)).year);
}
constexpr int32_t shanghai_year(int64_t unix_ns) noexcept {
  return shanghai_year_of_s(civil::floor_div(unix_ns, kNsPerSecond));
}

static_assert(shanghai_year_start_s(2027) == 1798732800);  // 2026-12-31T16:00:00Z
static_assert(shanghai_year_of_s(1798732799) == 2026);
static_assert(shanghai_year_of_s(1798732800) == 2027);
static_assert(shanghai_year_of_s(0) == 1970);

}  // namespace ftz::engine::compliance
