// Output masking (redact.hpp): identifiers planted in the kinds of strings
// the appliance writes (URLs, host names, SNI, DNS names, content types, log
// lines) come out masked with mask()'s rule; realistic look-alikes stay.
// Failure messages show where texts differ, never the texts themselves
// (they may hold an identifier in clear).
#include "ftz/engine/classify/redact.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "classify_test_support.hpp"

namespace ftz::engine::classify {
namespace {

using test::make_id;
using test::with_bad_luhn;
using test::with_luhn;

std::string redacted(std::string s) {
  mask_identifiers(std::span<char>(s.data(), s.size()));
  return s;
}

// Where two strings first differ (safe to print: no content).
std::string where(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "first difference at byte " + std::to_string(i) + " (sizes " + std::to_string(got.size()) + " / " +
         std::to_string(want.size()) + ")";
}

#define EXPECT_REDACTED(in, want)                     \
  do {                                                \
    const std::string got_ = redacted(in);            \
    const std::string want_ = (want);                 \
    EXPECT_TRUE(got_ == want_) << where(got_, want_); \
  } while (0)

#define EXPECT_UNTOUCHED(in)                                     \
  do {                                                           \
    const std::string in_ = (in);                                \
    const std::string got_ = redacted(in_);                      \
    EXPECT_TRUE(got_ == in_) << "masked a look-alike: " << got_; \
  } while (0)

const std::string kId = make_id("110105", "19491231", "002");  // 11010519491231002X
const std::string kCard = with_luhn("622202123456789");        // UnionPay, 16 digits

TEST(Redact, ResidentIdInQueryString) {
  ASSERT_EQ(kId.back(), 'X');
  EXPECT_REDACTED("/api/v1/user?idcard=" + kId + "&page=2", "/api/v1/user?idcard=110105********002X&page=2");
  // Written in groups, lower-case x, full-width digits.
  EXPECT_REDACTED("/u?sfz=110105 19491231 002x", "/u?sfz=110105 ******** 002x");
  EXPECT_REDACTED("/u?sfz=110105-19491231-002X", "/u?sfz=110105-********-002X");
  // Percent-encoded: each hidden escape becomes "***".
  EXPECT_REDACTED("/u?id=%31%31%30%31%30%35%31%39%34%39%31%32%33%31%30%30%32%58",
                  "/u?id=%31%31%30%31%30%35************************%30%30%32%58");
  EXPECT_REDACTED("/u?id=110105%2019491231%20002X", "/u?id=110105%20********%20002X");
}

TEST(Redact, FullWidthDigits) {
  // "１３８１２３４５６７８" (U+FF11...): each hidden character is three '*'.
  const std::string fw =
      "\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93\xEF\xBC\x94"
      "\xEF\xBC\x95\xEF\xBC\x96\xEF\xBC\x97\xEF\xBC\x98";
  const std::string want = "tel " + fw.substr(0, 9) + std::string(12, '*') + fw.substr(21);
  EXPECT_REDACTED("tel " + fw, want);
}

TEST(Redact, HostNamesSniAndDnsNames) {
  EXPECT_REDACTED("13812345678.example.com", "138****5678.example.com");
  EXPECT_REDACTED("110105.19491231.002x.exfil.example", "110105.********.002x.exfil.example");
  EXPECT_REDACTED("u-" + kCard + ".cdn.example", "u-622202******" + kCard.substr(12) + ".cdn.example");
}

TEST(Redact, MethodContentTypeAlpnAndFreeText) {
  EXPECT_REDACTED("13812345678", "138****5678");
  EXPECT_REDACTED("text/plain; id=" + kId, "text/plain; id=110105********002X");
  EXPECT_REDACTED("h2,13812345678", "h2,138****5678");
  EXPECT_REDACTED("ftzgate-dp: /data/13812345678.pcap: cannot read capture",
                  "ftzgate-dp: /data/138****5678.pcap: cannot read capture");
}

TEST(Redact, MobileForms) {
  EXPECT_REDACTED("+86 138 1234 5678", "+86 138 **** 5678");
  EXPECT_REDACTED("0086-13812345678", "0086-138****5678");
  EXPECT_REDACTED("phone=138+1234+5678", "phone=138+****+5678");
  // Two numbers joined by one space are one digit run after normalisation:
  // both still have clear boundaries in the text.
  EXPECT_REDACTED("13812345678 13912345678", "138****5678 139****5678");
  EXPECT_REDACTED("13812345678,13912345678", "138****5678,139****5678");
}

TEST(Redact, EmailCoordinatesPlates) {
  EXPECT_REDACTED("mailto:zhang.san@example.com.", "mailto:z********@example.com.");
  EXPECT_REDACTED("/s?u=zhang.san%40example.com", "/s?u=z********%40example.com");
  EXPECT_REDACTED("/m?loc=31.230416,121.473701&z=1", "/m?loc=31" + std::string(16, '*') + "01&z=1");
  EXPECT_REDACTED("/m?loc=121.473701%2C31.230416", "/m?loc=12" + std::string(18, '*') + "16");
  EXPECT_REDACTED("车牌:沪A12345;", "车牌:沪A****5;");
}

TEST(Redact, BankCards) {
  EXPECT_REDACTED("/pay?c=" + kCard, "/pay?c=622202******" + kCard.substr(12));
  // A Visa number passes Luhn 1 time in 10 at random: only with context.
  const std::string visa = with_luhn("411111111111111");
  EXPECT_UNTOUCHED("/order/" + visa);
  EXPECT_REDACTED("/pay?card=" + visa, "/pay?card=411111******" + visa.substr(12));
  EXPECT_UNTOUCHED("/pay?c=" + with_bad_luhn("411111111111111"));
}

TEST(Redact, FormatOnlyIdentifiersNeedContext) {
  EXPECT_UNTOUCHED("/parts/E12345678");
  EXPECT_REDACTED("/visa?passport=E12345678", "/visa?passport=E1*****78");
  EXPECT_REDACTED("护照号码 G12345678", "护照号码 G1*****78");
  EXPECT_UNTOUCHED("/build/20260302");
  EXPECT_REDACTED("imei=" + with_luhn("35693803564380"),
                  "imei=35***********" + with_luhn("35693803564380").substr(13));
  EXPECT_UNTOUCHED("/o/" + with_luhn("35693803564380"));
}

TEST(Redact, RealisticNegativesStay) {
  for (const std::string s : {
           "/api/v2/policyholders/batch?filing=SCC-SH-2026-0142&seq=1",
           "upload.pacre-sg.example",
           "text/csv; charset=utf-8",
           "HTTP/1.1",
           "2026-03-02T09:00:01.286012+0800",
           "/ts/1767225600000",  // 13-digit millisecond time
           "/ts/1767225600",     // Unix seconds
           "139.210.201.12",     // an address, not a mobile
           "12.201.210.139.in-addr.arpa",
           "http://139.210.201.12:8080/x",
           "123e4567-e89b-12d3-a456-426614174000",  // UUID
           "sess=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
           "/orders/12345678901",        // 11 digits, unallocated prefix
           "/trace/202603021234567890",  // 18 digits, no region, no context
           "/v/1.2.3.4567",
           "bytes 191129062 packets 266010",
           "sid 9100001 sid 9200001",
           "_googlecast._tcp.local",
           "\\229\\176\\143\\228\\189\\155",
           "v=3.14159265",
       }) {
    EXPECT_UNTOUCHED(s);
  }
}

TEST(Redact, LongTextEveryWindowPosition) {
  // Identifiers at every offset around the window edges (2048, 1536, ...).
  for (size_t pos = 1400; pos < 2200; pos += 7) {
    std::string s(4000, 'a');
    for (size_t i = 0; i < s.size(); i += 50) s[i] = ' ';
    std::string want = s;
    const std::string id = " idcard=" + kId + " ";
    s.replace(pos, id.size(), id);
    want.replace(pos, id.size(), " idcard=110105********002X ");
    EXPECT_REDACTED(s, want);
  }
}

TEST(Redact, IdempotentAndLengthPreserving) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "0123456789 -.+%@xXabc,\xEF\xBC\x91";
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const size_t n = rng() % 120;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    if (round % 3 == 0) s.insert(rng() % (s.size() + 1), " " + kId + " ");
    const std::string once = redacted(s);
    ASSERT_EQ(once.size(), s.size());
    for (size_t i = 0; i < s.size(); ++i) ASSERT_TRUE(once[i] == s[i] || once[i] == '*') << "byte " << i;
    ASSERT_TRUE(redacted(once) == once) << "round " << round;
  }
}

TEST(Redact, CountsMaskedSpans) {
  std::string s = "a 13812345678 b " + kId + " c 13912345678";
  EXPECT_EQ(mask_identifiers(std::span<char>(s.data(), s.size())), 3u);
  EXPECT_EQ(mask_identifiers(std::span<char>(s.data(), s.size())), 0u);
  std::string empty;
  EXPECT_EQ(mask_identifiers(std::span<char>(empty.data(), 0)), 0u);
}

}  // namespace
}  // namespace ftz::engine::classify
