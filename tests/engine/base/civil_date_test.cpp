// ftz/base/civil_date.hpp against H. Hinnant's closed-form algorithms (the
// arithmetic the four copies it replaced used), over chrono's range and far
// beyond it: packet timestamps and fuzzed dates reach any 64-bit value.
#include "ftz/base/civil_date.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace ftz::civil {
namespace {

int64_t reference_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = floor_div(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

Date reference_civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

void expect_round_trip(int64_t days) {
  const Date ours = civil_from_days(days);
  const Date ref = reference_civil_from_days(days);
  ASSERT_EQ(ours.year, ref.year) << days;
  ASSERT_EQ(ours.month, ref.month) << days;
  ASSERT_EQ(ours.day, ref.day) << days;
  ASSERT_EQ(days_from_civil(ours), days) << days;
  ASSERT_EQ(days_from_civil(ours), reference_days_from_civil(ref.year, ref.month, ref.day)) << days;
  ASSERT_TRUE(is_real_date(ours)) << days;
}

TEST(CivilDateTest, EveryDayOfTwoCyclesAroundTheEpoch) {
  for (int64_t z = -2 * kDaysPer400Years; z <= 2 * kDaysPer400Years; ++z) expect_round_trip(z);
}

TEST(CivilDateTest, FarBeyondChronoYearRange) {
  // Days of unix seconds anywhere in int64 (±1.07e14 days) and the edges.
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int64_t> any_day(-106'751'991'167'300, 106'751'991'167'300);
  for (int i = 0; i < 200'000; ++i) expect_round_trip(any_day(rng));
  for (int64_t edge : {int64_t{-106'751'991'167'301}, int64_t{106'751'991'167'300}, int64_t{11'967'900},
                       int64_t{-11'967'900}, int64_t{11'967'901}}) {
    expect_round_trip(edge);
  }
}

TEST(CivilDateTest, DaysInMonthAndLeapYears) {
  EXPECT_EQ(days_in_month(2024, 2), 29u);
  EXPECT_EQ(days_in_month(2100, 2), 28u);
  EXPECT_EQ(days_in_month(2000, 2), 29u);
  EXPECT_EQ(days_in_month(-4, 2), 29u);             // proleptic: 5 BC
  EXPECT_EQ(days_in_month(1'000'000'000, 2), 29u);  // divisible by 400
  EXPECT_EQ(days_in_month(1'000'000'100, 2), 28u);  // a century, not /400
  EXPECT_EQ(days_in_month(2026, 0), 0u);
  EXPECT_EQ(days_in_month(2026, 13), 0u);
  EXPECT_FALSE(is_real_date({2026, 2, 29}));
  EXPECT_FALSE(is_real_date({2026, 4, 0}));
  EXPECT_TRUE(is_real_date({2026, 12, 31}));
}

TEST(CivilDateTest, ShanghaiDayAndMidnight) {
  // 2026-03-01T16:00:00Z is 00:00 on 2 March in Shanghai.
  EXPECT_EQ(shanghai_midnight_s(2026, 3, 2), 1772380800);
  EXPECT_EQ(shanghai_day(1772380800), days_from_civil(2026, 3, 2));
  EXPECT_EQ(shanghai_day(1772380799), days_from_civil(2026, 3, 1));
  EXPECT_EQ(shanghai_day(-28800), 0);
  EXPECT_EQ(shanghai_day(-28801), -1);
}

}  // namespace
}  // namespace ftz::civil
