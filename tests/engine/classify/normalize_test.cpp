// Normalisation and the offset map back to the exact input bytes.
#include "ftz/engine/classify/normalize.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "ftz/engine/classify/validators.hpp"

namespace ftz::engine::classify {
namespace {

struct Normalized {
  std::string text;
  std::array<uint32_t, 256> offsets{};
  NormalizeResult result;
};

Normalized run(std::string_view in, bool strip = true) {
  Normalized n;
  std::array<char, 256> out{};
  n.result = normalize_digits(in, out, n.offsets, strip);
  n.text.assign(out.data(), n.result.out_len);
  return n;
}

TEST(Normalize, FullWidthDigitsAndLettersFoldToAscii) {
  // "１３８" "ＡＢ" "ａｂ"
  const std::string in =
      "\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBD\x81\xEF\xBD\x82";
  const Normalized n = run(in);
  EXPECT_EQ(n.text, "138ABab");
  EXPECT_EQ(n.result.in_consumed, in.size());
  for (size_t i = 0; i < n.text.size(); ++i) EXPECT_EQ(n.offsets[i], 3 * i);
  const ByteRange r = input_range(in, n.offsets, 0, 3);
  EXPECT_EQ(r.begin, 0u);
  EXPECT_EQ(r.end, 9u);
}

TEST(Normalize, OneSeparatorInsideADigitRunIsStripped) {
  EXPECT_EQ(run("138 1234 5678").text, "13812345678");
  EXPECT_EQ(run("138-1234-5678").text, "13812345678");
  EXPECT_EQ(run("138.1234.5678").text, "13812345678");
  EXPECT_EQ(run("138\xC2\xB7"
                "1234")
                .text,
            "1381234");
  // Full-width digits on both sides of a separator.
  EXPECT_EQ(run("\xEF\xBC\x91 \xEF\xBC\x92").text, "12");
}

TEST(Normalize, SeparatorsOutsideDigitRunsAreKept) {
  EXPECT_EQ(run("A-1").text, "A-1");
  EXPECT_EQ(run("1-A").text, "1-A");
  EXPECT_EQ(run("1  2").text, "1  2");  // two separators: not one run
  EXPECT_EQ(run("12-").text, "12-");    // the next chunk is not visible
  EXPECT_EQ(run("-12").text, "-12");
  EXPECT_EQ(run("138 1234", false).text, "138 1234");
  EXPECT_EQ(run("京A·12345").text, "京A·12345");
}

TEST(Normalize, OffsetMapPointsAtExactInputBytes) {
  const std::string in = "tel: 138 1234 5678;";
  const Normalized n = run(in);
  ASSERT_EQ(n.text, "tel: 13812345678;");
  const size_t begin = n.text.find("138");
  const ByteRange r = input_range(in, n.offsets, begin, begin + 11);
  EXPECT_EQ(in.substr(r.begin, r.end - r.begin), "138 1234 5678");
  EXPECT_TRUE(has_alnum_boundaries(in, r));
}

TEST(Normalize, EmbeddedInALongerDigitRunFailsTheBoundary) {
  // The scanner reports every match end; an 18-character window inside a
  // longer run has a digit next to it in the input.
  const std::string in = "x911010519491231002X1";
  const Normalized n = run(in);
  const size_t begin = n.text.find("11010519491231002X");
  ASSERT_NE(begin, std::string::npos);
  const ByteRange r = input_range(in, n.offsets, begin, begin + 18);
  EXPECT_FALSE(has_alnum_boundaries(in, r));
  EXPECT_TRUE(validate(ValidatorId::kResidentId, in.substr(r.begin, r.end - r.begin), {}).valid);

  const std::string ok = "ID:11010519491231002X,";
  const Normalized m = run(ok);
  const size_t b2 = m.text.find("11010519491231002X");
  EXPECT_TRUE(has_alnum_boundaries(ok, input_range(ok, m.offsets, b2, b2 + 18)));
}

TEST(Normalize, MergedNumbersKeepTheirOwnBoundaries) {
  // One separator between two numbers fuses them in the normalised text, but
  // the boundaries are judged on the input: both numbers still stand alone,
  // and windows straddling the space do not.
  const std::string in = "13812345678 13912345678";
  const Normalized n = run(in);
  ASSERT_EQ(n.text.size(), 22u);
  EXPECT_TRUE(has_alnum_boundaries(in, input_range(in, n.offsets, 0, 11)));
  EXPECT_TRUE(has_alnum_boundaries(in, input_range(in, n.offsets, 11, 22)));
  for (size_t b = 1; b < 11; ++b)
    EXPECT_FALSE(has_alnum_boundaries(in, input_range(in, n.offsets, b, b + 11)));
}

TEST(Normalize, FullWidthNeighboursAreNotBoundaries) {
  const std::string in =
      "\xEF\xBC\x91"
      "11010519491231002X"
      "\xEF\xBC\xA1";
  EXPECT_FALSE(has_alnum_boundaries(in, ByteRange{3, 21}));
  const std::string left =
      "\xEF\xBC\x91"
      "11010519491231002X";
  EXPECT_FALSE(has_alnum_boundaries(left, ByteRange{3, 21}));
  const std::string right =
      "11010519491231002X"
      "\xEF\xBC\xA1";
  EXPECT_FALSE(has_alnum_boundaries(right, ByteRange{0, 18}));
  // Chinese text around is fine ("号码：" ... "。").
  const std::string zh = "号码：11010519491231002X。";
  const size_t b = zh.find('1');
  EXPECT_TRUE(has_alnum_boundaries(zh, ByteRange{b, b + 18}));
}

TEST(Normalize, BoundedOutput) {
  std::array<char, 4> out{};
  std::array<uint32_t, 4> offsets{};
  const NormalizeResult r = normalize_digits("123456", out, offsets);
  EXPECT_EQ(r.out_len, 4u);
  EXPECT_EQ(r.in_consumed, 4u);
  // Offsets shorter than out bound the output too; empty offsets are allowed.
  std::array<uint32_t, 2> few{};
  EXPECT_EQ(normalize_digits("123456", out, few).out_len, 2u);
  EXPECT_EQ(normalize_digits("123456", out, {}).out_len, 4u);
  EXPECT_EQ(normalize_digits("", out, offsets).out_len, 0u);
  // A truncated full-width sequence at the end is copied raw.
  EXPECT_EQ(run("1\xEF\xBC").text, "1\xEF\xBC");
}

TEST(Normalize, InvalidRangesAreEmptyOrRejected) {
  const std::string in = "123";
  const Normalized n = run(in);
  const ByteRange r = input_range(in, std::span<const uint32_t>(n.offsets.data(), 3), 2, 1);
  EXPECT_EQ(r.begin, r.end);
  EXPECT_FALSE(has_alnum_boundaries(in, ByteRange{2, 1}));
  EXPECT_FALSE(has_alnum_boundaries(in, ByteRange{0, 4}));
  EXPECT_TRUE(has_alnum_boundaries(in, ByteRange{0, 3}));
}

}  // namespace
}  // namespace ftz::engine::classify
