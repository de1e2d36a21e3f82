#pragma once
// Proleptic Gregorian calendar arithmetic (H. Hinnant's days_from_civil), for
// birth dates in resident IDs. No <chrono> time zones: gcc 12 has none, and
// Asia/Shanghai is a fixed UTC+08:00 (PLATFORM.md §8).

#include <cstdint>

namespace ftz::engine::classify::detail {

struct CivilDate {
  int32_t year = 0;
  uint8_t month = 0;
  uint8_t day = 0;
};

constexpr bool is_leap_year(int32_t y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr uint8_t days_in_month(int32_t y, uint8_t m) noexcept {
  constexpr uint8_t kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12) return 0;
  return (m == 2 && is_leap_year(y)) ? 29 : kDays[m - 1];
}

constexpr bool is_real_date(const CivilDate& d) noexcept {
  return d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= days_in_month(d.year, d.month);
}

constexpr int64_t days_from_civil(const CivilDate& d) noexcept {
  const int64_t y = static_cast<int64_t>(d.year) - (d.month <= 2 ? 1 : 0);
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t mp = d.month > 2 ? d.month - 3 : d.month + 9;
  const int64_t doy = (153 * mp + 2) / 5 + d.day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

constexpr CivilDate civil_from_days(int64_t z) noexcept {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return {static_cast<int32_t>(y), static_cast<uint8_t>(m), static_cast<uint8_t>(d)};
}

// Day number (days since 1970-01-01) of the calendar date in Asia/Shanghai.
constexpr int64_t shanghai_day(int64_t unix_s) noexcept {
  constexpr int64_t kOffset = 8 * 3600;
  const int64_t t = unix_s + kOffset;
  return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

// The n-th anniversary of `d`. Civil Code art 202: a period counted in years
// ends on the corresponding day; without one (29 Feb in a common year) it
// ends on the last day of that month, 28 Feb.
constexpr CivilDate anniversary(const CivilDate& d, int32_t years) noexcept {
  CivilDate a{d.year + years, d.month, d.day};
  const uint8_t last = days_in_month(a.year, a.month);
  if (a.day > last) a.day = last;
  return a;
}

}  // namespace ftz::engine::classify::detail
