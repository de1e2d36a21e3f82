// Masking (DOMAIN.md §4.3): exact outputs, and never more revealed than the rule.
#include "ftz/engine/classify/masking.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "classify_test_support.hpp"

namespace ftz::engine::classify {
namespace {

using test::masked;

TEST(Mask, ExactOutputs) {
  EXPECT_EQ(masked(ValidatorId::kResidentId, "11010519491231002X"), "110105********002X");
  EXPECT_EQ(masked(ValidatorId::kResidentId15, "11010519491231002X"), "110105********002X");
  EXPECT_EQ(masked(ValidatorId::kMobile, "13812345678"), "138****5678");
  EXPECT_EQ(masked(ValidatorId::kBankCard, "6222021234567890"), "622202******7890");
  EXPECT_EQ(masked(ValidatorId::kBankCard, "6222021234567890123"), "622202*********0123");
  EXPECT_EQ(masked(ValidatorId::kUscc, "91350100M000100Y43"), "91**************43");
  EXPECT_EQ(masked(ValidatorId::kPassport, "E12345678"), "E1*****78");
  EXPECT_EQ(masked(ValidatorId::kImei, "260531793113837"), "26***********37");
  EXPECT_EQ(masked(ValidatorId::kEmail, "zhangsan@example.com"), "z*******@example.com");
  EXPECT_EQ(masked(ValidatorId::kEmail, "ab@qq.com"), "a*@qq.com");
  EXPECT_EQ(masked(ValidatorId::kEmail, "a@qq.com"), "*@qq.com");
  EXPECT_EQ(masked(ValidatorId::kVehiclePlate, "京A12345"), "京A****5");  // 2 + 2 would hide only 3
  EXPECT_EQ(masked(ValidatorId::kVehiclePlate, "粤B1234挂"), "粤B****挂");
}

TEST(Mask, ShortValuesHideAtLeastFourOrAll) {
  EXPECT_EQ(masked(ValidatorId::kPassport, "abcde"), "a****");
  EXPECT_EQ(masked(ValidatorId::kPassport, "abcd"), "****");
  EXPECT_EQ(masked(ValidatorId::kPassport, "ab"), "**");
  EXPECT_EQ(masked(ValidatorId::kPassport, "abcdefg"), "ab****g");
  // A 13-digit PAN would show 10 of 13 with BIN + last 4: the longer side shrinks.
  EXPECT_EQ(masked(ValidatorId::kBankCard, "4222222222222"), "42222****2222");
  // An e-mail without '@' falls back to 2 + 2.
  EXPECT_EQ(masked(ValidatorId::kEmail, "abcdefgh"), "ab****gh");
}

TEST(Mask, OutputBufferTooSmallWritesNothing) {
  std::string out(5, '#');
  EXPECT_EQ(mask(ValidatorId::kMobile, "13812345678", out), 0u);
  EXPECT_EQ(out, "#####");
  EXPECT_EQ(mask(ValidatorId::kMobile, "", out), 0u);
}

// Upper bound on characters a rule may show (head + tail).
size_t allowed(ValidatorId id) {
  switch (id) {
    case ValidatorId::kResidentId:
    case ValidatorId::kResidentId15:
    case ValidatorId::kBankCard:
      return 10;
    case ValidatorId::kMobile:
      return 7;
    default:
      return 4;
  }
}

TEST(Mask, NeverRevealsMoreThanTheRule) {
  std::mt19937 rng(20261115);
  std::uniform_int_distribution<int> digit('0', '9');
  for (size_t i = 0; i < static_cast<size_t>(ValidatorId::kCount); ++i) {
    const auto id = static_cast<ValidatorId>(i);
    if (id == ValidatorId::kEmail) continue;  // separate rule below
    for (size_t len = 1; len <= kMaxNormalized; ++len) {
      std::string value(len, '0');
      for (char& c : value) c = static_cast<char>(digit(rng));
      const std::string m = masked(id, value);
      ASSERT_EQ(m.size(), value.size());
      size_t shown = 0;
      for (size_t k = 0; k < len; ++k) {
        if (m[k] != '*') {
          ++shown;
          ASSERT_EQ(m[k], value[k]) << "a kept character must be the original one";
        }
      }
      const size_t hidden = len - shown;
      EXPECT_LE(shown, allowed(id)) << validator_name(id) << " len " << len;
      EXPECT_GE(hidden, std::min<size_t>(4, len)) << validator_name(id) << " len " << len;
    }
  }
}

TEST(Mask, EmailRevealsOneLocalCharacterAtMost) {
  for (size_t local = 1; local <= 64; ++local) {
    const std::string email = std::string(local, '7') + "@qq.com";
    const std::string m = masked(ValidatorId::kEmail, email);
    ASSERT_EQ(m.size(), email.size());
    const size_t at = m.find('@');
    ASSERT_EQ(at, local);
    size_t shown = 0;
    for (size_t k = 0; k < at; ++k) shown += m[k] != '*';
    EXPECT_LE(shown, 1u);
    EXPECT_LT(shown, local);
  }
}

TEST(Mask, ValidatorOutputsMaskToTheSameLength) {
  const std::string id = test::make_id("110105", "19800101");
  const Verdict v = validate(ValidatorId::kResidentId, id, test::kCtx);
  ASSERT_TRUE(v.valid);
  const std::string m = masked(ValidatorId::kResidentId, v.normalized_view());
  EXPECT_EQ(m.size(), 18u);
  EXPECT_EQ(m.substr(0, 14), "110105********");
}

}  // namespace
}  // namespace ftz::engine::classify
