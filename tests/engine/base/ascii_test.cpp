#include "ftz/base/ascii.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>

namespace ftz::ascii {
namespace {

// Every byte against <cctype> in the "C" locale, the classes the copies this
// header replaced spelled out by hand; bytes >= 0x80 are never ASCII letters.
TEST(AsciiTest, MatchesTheCLocaleForEveryByte) {
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    EXPECT_EQ(is_digit(c), std::isdigit(b) != 0) << b;
    EXPECT_EQ(is_alpha(c), std::isalpha(b) != 0) << b;
    EXPECT_EQ(is_alnum(c), std::isalnum(b) != 0) << b;
    EXPECT_EQ(is_hex_digit(c), std::isxdigit(b) != 0) << b;
    EXPECT_EQ(to_lower(c), static_cast<unsigned char>(std::tolower(b))) << b;
    EXPECT_EQ(to_upper(c), static_cast<unsigned char>(std::toupper(b))) << b;
  }
}

TEST(AsciiTest, SignedCharAndCaseInsensitiveCompare) {
  const char high = static_cast<char>(0xC4);  // negative where char is signed
  EXPECT_FALSE(is_alpha(high));
  EXPECT_EQ(to_lower(high), high);
  EXPECT_TRUE(iequals("HOST", "host"));
  EXPECT_FALSE(iequals("host", "hosT "));
  EXPECT_FALSE(iequals("\xC4", "\xE4"));  // no Latin-1 folding
  EXPECT_EQ(to_lower_copy("Example.CN"), "example.cn");
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
  EXPECT_EQ(hex_value('g'), -1);
}

}  // namespace
}  // namespace ftz::ascii
