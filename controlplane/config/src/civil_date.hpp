#pragma once
// Internal: calendar dates without a tz database (gcc 12 has none).
// Asia/Shanghai is a fixed UTC+08:00: China has observed no DST since 1991.

#include <cstdint>
#include <optional>
#include <string_view>

namespace ftz::config {

struct CivilDate {
  int year = 1970;
  unsigned month = 1;
  unsigned day = 1;
};

inline constexpr int64_t kShanghaiOffsetSeconds = int64_t{8} * 3600;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil). The date must be valid.
constexpr int64_t days_from_civil(int y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

constexpr bool is_leap_year(int y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(int y, unsigned m) noexcept {
  constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap_year(y) ? 29 : kDays[m - 1];
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);

enum class DateError { kSyntax, kImpossible, kOutOfRange };

// Parses exactly "YYYY-MM-DD". kImpossible for e.g. 2026-02-30; kOutOfRange
// outside 1970..9999 (unix time before 1970 is never a valid approval).
struct DateParse {
  std::optional<CivilDate> date;
  DateError error = DateError::kSyntax;
};
DateParse parse_civil_date(std::string_view text) noexcept;

}  // namespace ftz::config
