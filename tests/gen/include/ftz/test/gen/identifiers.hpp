// Valid personal identifiers for test data (DOMAIN.md §3): PRC resident IDs
// (GB 11643-1999, ISO 7064 MOD 11-2), mainland mobile numbers (MIIT
// allocation), USCC (GB 32100-2015), UnionPay cards (Luhn), plates (GA 36),
// Chinese names. Check functions are exposed so tests and generators agree on
// what "valid" means; the unit test re-derives them independently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "ftz/test/gen/rng.hpp"

namespace ftz::test::gen {

// GB 11643-1999 check character for the first 17 digits ('0'-'9' or 'X').
char resident_id_check_char(std::string_view first17);
// 18 chars, MOD 11-2 check, real birth date between 1900 and `today`
// (YYYYMMDD), first two digits a province code of DOMAIN.md §3.1.
bool is_valid_resident_id(std::string_view id, int today_yyyymmdd = 20260302);

// MIIT-allocated 11-digit mainland mobile number (DOMAIN.md §3.4 regex).
bool is_valid_mobile(std::string_view number);

// GB 32100-2015 check character over the 31-character charset; '\0' when the
// input contains a character outside it.
char uscc_check_char(std::string_view first17);
bool is_valid_uscc(std::string_view code);

// Luhn check digit for `payload` (all digits, without the check digit).
char luhn_check_digit(std::string_view payload);
bool luhn_valid(std::string_view digits);

bool is_real_date(int year, int month, int day);

// Real GB/T 2260 county codes used for generated IDs (Shanghai, Beijing,
// Shenzhen, Guangzhou, ...).
std::span<const std::string_view> region_codes();

// Seconds since the Unix epoch for a civil date and time at a fixed UTC
// offset. Asia/Shanghai is UTC+08:00 with no DST since 1991 (PLATFORM.md §8:
// gcc 12 has no tz database support).
std::int64_t unix_seconds(int year, int month, int day, int hour, int minute, int second,
                          int utc_offset_minutes);

// One valid adult resident ID (no distinctness tracking: for bulk benchmark
// data where a set of every ID would cost more than the generation).
std::string random_resident_id(Rng& rng, int min_birth_year, int max_birth_year);
std::string random_chinese_name(Rng& rng);

// Makes identifiers from a seeded Rng. Resident IDs and mobiles are distinct
// for the life of the factory, so one factory per capture gives exact
// "distinct individuals" counts.
class IdentityFactory {
 public:
  explicit IdentityFactory(std::uint64_t seed) : rng_(seed) {}

  // Adult (born min_year..max_year) with a real date and a valid check char.
  std::string resident_id(int min_birth_year = 1950, int max_birth_year = 2006);
  std::string mobile();
  std::string chinese_name();  // UTF-8, surname + 1 or 2 given characters
  std::string uscc();
  std::string unionpay_card();   // 16 digits: 62 + 13 digits + Luhn digit
  std::string shanghai_plate();  // 沪 + letter (no I/O) + 5 digits

  Rng& rng() { return rng_; }

 private:
  Rng rng_;
  std::unordered_set<std::string> ids_;
  std::unordered_set<std::string> mobiles_;
};

}  // namespace ftz::test::gen
