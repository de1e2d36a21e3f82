#pragma once
// Proleptic Gregorian calendar dates and the Asia/Shanghai day, for approval
// dates (config), EVE timestamps (engine), the compliance counting year and
// birth dates in resident IDs (classify). The one implementation.
//
// The calendar is C++20 <chrono>'s (year_month_day, sys_days). Two limits
// shape this header:
// - chrono::year holds -32767..32767, but packet timestamps and dates read
//   from fuzzed input reach far beyond. The Gregorian calendar repeats every
//   400 years (146,097 days), so each function moves its input into the first
//   400-year cycle after the epoch it works in, asks <chrono>, and adds the
//   whole cycles back: exact for every 64-bit input whose result fits.
// - libstdc++ 12 has no time zone database (no chrono::zoned_time), so
//   Asia/Shanghai is the fixed offset UTC+08:00: China has kept it without
//   daylight saving since 1991 (PLATFORM.md §8).

#include <chrono>
#include <cstdint>

namespace ftz::civil {

inline constexpr int64_t kShanghaiOffsetSeconds = int64_t{8} * 3600;
inline constexpr int64_t kSecondsPerDay = 86400;
inline constexpr int64_t kDaysPer400Years = 146097;

struct Date {
  int64_t year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
};

// a / b rounded toward negative infinity (b > 0): -1 s is day -1, not day 0.
constexpr int64_t floor_div(int64_t a, int64_t b) noexcept {
  return a / b - static_cast<int64_t>((a % b != 0) && ((a < 0) != (b < 0)));
}

namespace detail {
// A year inside chrono's range with the same calendar as `year`, and the
// number of 400-year cycles between them.
struct CycleYear {
  std::chrono::year year;
  int64_t cycles;
};
constexpr CycleYear in_first_cycle(int64_t year) noexcept {
  const int64_t cycles = floor_div(year, 400);
  return {std::chrono::year{static_cast<int>(year - cycles * 400)}, cycles};
}
}  // namespace detail

// Days of month `month` (1..12) in `year`; 0 for a month outside 1..12.
constexpr unsigned days_in_month(int64_t year, unsigned month) noexcept {
  if (month < 1 || month > 12) return 0;
  const std::chrono::year_month_day_last last{detail::in_first_cycle(year).year / std::chrono::month{month} /
                                              std::chrono::last};
  return static_cast<unsigned>(last.day());
}

// A real calendar date: month 1..12, day 1..days_in_month.
constexpr bool is_real_date(const Date& d) noexcept {
  return d.day >= 1 && d.day <= days_in_month(d.year, d.month);
}

// Days since 1970-01-01. `month` must be 1..12; a day past the month's end
// counts on into the next month (as sys_days does).
constexpr int64_t days_from_civil(int64_t year, unsigned month, unsigned day) noexcept {
  const detail::CycleYear y = detail::in_first_cycle(year);
  const std::chrono::year_month_day ymd{y.year, std::chrono::month{month}, std::chrono::day{day}};
  return y.cycles * kDaysPer400Years + std::chrono::sys_days{ymd}.time_since_epoch().count();
}
constexpr int64_t days_from_civil(const Date& d) noexcept {
  return days_from_civil(d.year, d.month, d.day);
}

// The date `days` days after 1970-01-01 (negative: before).
constexpr Date civil_from_days(int64_t days) noexcept {
  const int64_t cycles = floor_div(days, kDaysPer400Years);
  const std::chrono::year_month_day ymd{
      std::chrono::sys_days{std::chrono::days{days - cycles * kDaysPer400Years}}};
  return {static_cast<int>(ymd.year()) + cycles * 400, static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day())};
}

// Day number (days since 1970-01-01) of the calendar date in Asia/Shanghai at
// unix time `unix_s`.
constexpr int64_t shanghai_day(int64_t unix_s) noexcept {
  return floor_div(unix_s + kShanghaiOffsetSeconds, kSecondsPerDay);
}

// Unix seconds of 00:00:00 Asia/Shanghai on the given date.
constexpr int64_t shanghai_midnight_s(int64_t year, unsigned month, unsigned day) noexcept {
  return days_from_civil(year, month, day) * kSecondsPerDay - kShanghaiOffsetSeconds;
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(days_from_civil(-1, 12, 31) == -719529);
static_assert(civil_from_days(11017).year == 2000 && civil_from_days(11017).month == 3);
static_assert(civil_from_days(-719529).year == -1 && civil_from_days(-719529).day == 31);
static_assert(civil_from_days(days_from_civil(1'000'000, 2, 29)).day == 29);  // beyond chrono::year
static_assert(shanghai_midnight_s(2027, 1, 1) == 1798732800);                 // 2026-12-31T16:00:00Z
static_assert(shanghai_day(-1) == 0 && shanghai_day(-28801) == -1);

}  // namespace ftz::civil
