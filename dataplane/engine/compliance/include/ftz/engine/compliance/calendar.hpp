#pragma once
// The counting window is the calendar year in Asia/Shanghai (DOMAIN.md §1.1:
// "since 1 January of the current year"). China has kept UTC+08:00 without
// daylight saving since 1991, and gcc 12 has no tz database (PLATFORM.md §8),
// so the offset is fixed. 1 Jan 2027 00:00 +08:00 = 2026-12-31T16:00:00Z.

#include <cstdint>

namespace ftz::engine::compliance {

inline constexpr int64_t kShanghaiOffsetSeconds = 8 * 3600;
inline constexpr int64_t kNsPerSecond = 1'000'000'000;

namespace detail {
constexpr int64_t floor_div(int64_t a, int64_t b) noexcept {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}
// H. Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const int64_t era = floor_div(y, 400);
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
constexpr int32_t year_from_days(int64_t z) noexcept {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return static_cast<int32_t>(static_cast<int64_t>(yoe) + era * 400 + (m <= 2));
}
}  // namespace detail

// Unix seconds of 1 January `year` 00:00:00 Asia/Shanghai.
constexpr int64_t shanghai_year_start_s(int32_t year) noexcept {
  return detail::days_from_civil(year, 1, 1) * 86400 - kShanghaiOffsetSeconds;
}
constexpr int32_t shanghai_year_of_s(int64_t unix_s) noexcept {
  return detail::year_from_days(detail::floor_div(unix_s + kShanghaiOffsetSeconds, 86400));
}
constexpr int32_t shanghai_year(int64_t unix_ns) noexcept {
  return shanghai_year_of_s(detail::floor_div(unix_ns, kNsPerSecond));
}

static_assert(shanghai_year_start_s(2027) == 1798732800);  // 2026-12-31T16:00:00Z
static_assert(shanghai_year_of_s(1798732799) == 2026);
static_assert(shanghai_year_of_s(1798732800) == 2027);
static_assert(shanghai_year_of_s(0) == 1970);

}  // namespace ftz::engine::compliance
