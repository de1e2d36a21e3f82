// The generators' identifiers checked by implementations written differently
// from src/identifiers.cpp: weights recomputed from their definitions
// (2^(18-i) mod 11, 3^(i-1) mod 31), std::regex from DOMAIN.md §3.
#include "ftz/test/gen/identifiers.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace ftz::test::gen {
namespace {

// ISO 7064 MOD 11-2 as the standard states it: sum a_i * 2^(18-i) over all
// 18 positions (X = 10) must be congruent to 1 mod 11.
bool independent_id_valid(const std::string& id) {
  if (id.size() != 18) return false;
  int sum = 0;
  for (int i = 0; i < 18; ++i) {
    const char c = id[static_cast<std::size_t>(i)];
    const int a = c == 'X' ? 10 : c - '0';
    int w = 1;
    for (int k = 0; k < 17 - i; ++k) w = w * 2 % 11;
    sum += a * w;
  }
  return sum % 11 == 1;
}

bool independent_luhn(const std::string& digits) {
  int sum = 0;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    int d = digits[digits.size() - 1 - k] - '0';
    if (k % 2 == 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 == 0;
}

TEST(ResidentId, DomainTestVectors) {
  EXPECT_TRUE(independent_id_valid("11010519491231002X"));
  EXPECT_TRUE(independent_id_valid("440524188001010014"));
  EXPECT_TRUE(is_valid_resident_id("11010519491231002X"));
  EXPECT_TRUE(is_valid_resident_id("11010519491231002x"));  // lowercase x (DOMAIN.md pitfall)
  EXPECT_TRUE(is_valid_resident_id("440524188001010014", 20260302) == false);  // born 1880: before 1900
  EXPECT_EQ(resident_id_check_char("11010519491231002"), 'X');
  EXPECT_EQ(resident_id_check_char("44052418800101001"), '4');
  EXPECT_FALSE(is_valid_resident_id("110105194912310021"));  // wrong check char
  EXPECT_FALSE(is_valid_resident_id("110105194902300027"));  // 30 February
  EXPECT_FALSE(is_valid_resident_id("910105194912310020"));  // province 91 not allocated
}

TEST(ResidentId, GeneratedIdsAreValidDistinctAdults) {
  IdentityFactory f(42);
  std::set<std::string> seen;
  std::set<std::string_view> regions(region_codes().begin(), region_codes().end());
  for (int i = 0; i < 20000; ++i) {
    const std::string id = f.resident_id(1950, 2006);
    ASSERT_TRUE(independent_id_valid(id)) << id;
    ASSERT_TRUE(is_valid_resident_id(id)) << id;
    ASSERT_TRUE(regions.count(id.substr(0, 6))) << id;
    ASSERT_LE(id.substr(6, 8), std::string("20080302")) << id;  // 18 or older on 2026-03-02
    ASSERT_TRUE(seen.insert(id).second) << "duplicate " << id;
  }
}

TEST(ResidentId, RegionCodesAreSixDigitCountyCodes) {
  for (auto code : region_codes()) {
    EXPECT_EQ(code.size(), 6u);
    EXPECT_NE(code.substr(4), "00") << code;  // county level, not a province/city aggregate
  }
}

TEST(Mobile, GeneratedNumbersMatchDomainRegex) {
  // DOMAIN.md §3.4 pattern without the lookarounds and the +86 prefix.
  const std::regex pattern("1(?:(?:3\\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\\d|9[0-35-9])\\d{8}|619\\d{7})");
  IdentityFactory f(7);
  std::set<std::string> seen;
  for (int i = 0; i < 5000; ++i) {
    const std::string m = f.mobile();
    ASSERT_TRUE(std::regex_match(m, pattern)) << m;
    ASSERT_TRUE(is_valid_mobile(m)) << m;
    ASSERT_TRUE(seen.insert(m).second);
  }
  EXPECT_FALSE(is_valid_mobile("14012345678"));  // 140: IoT range
  EXPECT_FALSE(is_valid_mobile("15412345678"));  // 154 unallocated
  EXPECT_TRUE(is_valid_mobile("16191234567"));   // 1619 satellite
}

TEST(Uscc, WorkedExampleAndGenerated) {
  EXPECT_EQ(uscc_check_char("91350100M000100Y4"), '3');  // DOMAIN.md §3.2
  EXPECT_TRUE(is_valid_uscc("91350100M000100Y43"));
  EXPECT_EQ(uscc_check_char("91350100M000100I4"), '\0');  // I is not in the charset
  const std::string charset = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  IdentityFactory f(3);
  for (int i = 0; i < 1000; ++i) {
    const std::string code = f.uscc();
    int sum = 0;
    int w = 1;
    for (int k = 0; k < 17; ++k, w = w * 3 % 31)
      sum += static_cast<int>(charset.find(code[static_cast<std::size_t>(k)])) * w;
    ASSERT_EQ(charset[static_cast<std::size_t>((31 - sum % 31) % 31)], code[17]) << code;
  }
}

TEST(Luhn, VectorsAndUnionPay) {
  EXPECT_EQ(luhn_check_digit("26053179311383"), '7');  // 3GPP TS 23.003 IMEI example
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  IdentityFactory f(5);
  for (int i = 0; i < 1000; ++i) {
    const std::string pan = f.unionpay_card();
    ASSERT_EQ(pan.size(), 16u);
    ASSERT_EQ(pan.substr(0, 2), "62");
    ASSERT_TRUE(independent_luhn(pan)) << pan;
  }
}

TEST(Plate, ShanghaiOrdinaryPlate) {
  IdentityFactory f(9);
  for (int i = 0; i < 200; ++i) {
    const std::string p = f.shanghai_plate();
    ASSERT_EQ(p.substr(0, 3), "沪");
    ASSERT_EQ(p.size(), 3u + 6u);
    ASSERT_NE(p[3], 'I');
    ASSERT_NE(p[3], 'O');
    for (std::size_t k = 4; k < p.size(); ++k) ASSERT_TRUE(p[k] >= '0' && p[k] <= '9');
  }
}

TEST(Names, Utf8Chinese) {
  IdentityFactory f(11);
  const std::string n = f.chinese_name();
  EXPECT_GE(n.size(), 6u);  // at least two 3-byte CJK characters
  EXPECT_EQ(static_cast<unsigned char>(n[0]) & 0xf0, 0xe0);
}

TEST(Time, ShanghaiCivilTime) {
  EXPECT_EQ(unix_seconds(2026, 3, 2, 9, 0, 0, 8 * 60), 1772413200);
  EXPECT_EQ(unix_seconds(1970, 1, 1, 0, 0, 0, 0), 0);
  EXPECT_TRUE(is_real_date(2000, 2, 29));
  EXPECT_FALSE(is_real_date(1900, 2, 29));
  EXPECT_FALSE(is_real_date(2026, 4, 31));
}

TEST(Rng, DeterministicPerSeed) {
  Rng a(1), b(1), c(2);
  EXPECT_EQ(a.next(), b.next());
  EXPECT_NE(a.next(), c.next());
  IdentityFactory x(99), y(99);
  EXPECT_EQ(x.resident_id(), y.resident_id());
}

}  // namespace
}  // namespace ftz::test::gen
