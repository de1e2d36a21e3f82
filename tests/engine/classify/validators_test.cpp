// Validator tests. Public vectors from DOMAIN.md appear literally; every other
// identifier is synthetic, kept in variables and printed only masked.
#include "ftz/engine/classify/validators.hpp"

#include <gtest/gtest.h>

#include <string>

#include "classify_test_support.hpp"

namespace ftz::engine::classify {
namespace {

using test::check;
using test::kCtx;
using test::make_id;
using test::masked;
using test::with_bad_luhn;
using test::with_luhn;

// Asserts validity without printing the candidate.
#define EXPECT_VALID(id, value) EXPECT_TRUE(check(id, value).valid) << "expected valid: " << masked(id, value)
#define EXPECT_INVALID(id, value) \
  EXPECT_FALSE(check(id, value).valid) << "expected invalid: " << masked(id, value)

// ---------------------------------------------------------------- resident ID

TEST(ResidentId, PublicVectors) {
  const Verdict a = check(ValidatorId::kResidentId, "11010519491231002X");
  EXPECT_TRUE(a.valid);
  EXPECT_EQ(a.strength, kStrengthStrong);
  EXPECT_FALSE(a.needs_context);
  EXPECT_FALSE(a.minor);
  EXPECT_EQ(a.id_type, IdType::kPrcId);
  EXPECT_EQ(a.normalized_view(), "11010519491231002X");

  const Verdict b = check(ValidatorId::kResidentId, "440524188001010014");
  EXPECT_TRUE(b.valid);
  EXPECT_EQ(b.strength, kStrengthStrong);
}

TEST(ResidentId, LowercaseXIsCanonicalisedToUpper) {
  const Verdict v = check(ValidatorId::kResidentId, "11010519491231002x");
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.normalized_view(), "11010519491231002X");
}

TEST(ResidentId, FullWidthAndSeparators) {
  // "１１０１０５１９４９１２３１００２Ｘ" (U+FF11... and U+FF38).
  const std::string full =
      "\xEF\xBC\x91\xEF\xBC\x91\xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x90\xEF\xBC\x95"
      "\xEF\xBC\x91\xEF\xBC\x99\xEF\xBC\x94\xEF\xBC\x99\xEF\xBC\x91\xEF\xBC\x92"
      "\xEF\xBC\x93\xEF\xBC\x91\xEF\xBC\x90\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\xB8";
  const Verdict f = check(ValidatorId::kResidentId, full);
  EXPECT_TRUE(f.valid);
  EXPECT_EQ(f.normalized_view(), "11010519491231002X");

  for (std::string_view s : {"110105 19491231 002X", "110105-19491231-002X", "110105.19491231.002X",
                             "110105\xC2\xB7"
                             "19491231\xC2\xB7"
                             "002X"}) {
    const Verdict v = check(ValidatorId::kResidentId, s);
    EXPECT_TRUE(v.valid) << masked(ValidatorId::kResidentId, s);
    EXPECT_EQ(v.normalized_view(), "11010519491231002X");
  }
  // Two separators in a row are not "inside a digit run".
  EXPECT_FALSE(check(ValidatorId::kResidentId, "110105  19491231002X").valid);
  // A separator before the first digit is not stripped.
  EXPECT_FALSE(check(ValidatorId::kResidentId, "-11010519491231002X").valid);
}

TEST(ResidentId, WrongCheckCharacter) {
  for (char c : std::string_view("0123456789")) {
    std::string s = "11010519491231002";
    s.push_back(c);
    EXPECT_FALSE(check(ValidatorId::kResidentId, s).valid) << "check char " << c;
  }
  EXPECT_FALSE(check(ValidatorId::kResidentId, "440524188001010015").valid);
}

TEST(ResidentId, ImpossibleDates) {
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "19900230"));  // Feb 30
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "19900431"));  // Apr 31
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "19001300"));  // month 13
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "19000229"));  // 1900 not leap
  EXPECT_VALID(ValidatorId::kResidentId, make_id("110105", "20000229"));    // 2000 leap
  EXPECT_VALID(ValidatorId::kResidentId, make_id("110105", "19960229"));
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "17991231"));  // before 1800
}

TEST(ResidentId, FutureDateRelativeToPacketTimeInShanghai) {
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "20301010"));
  EXPECT_INVALID(ValidatorId::kResidentId, make_id("110105", "20261116"));  // tomorrow
  EXPECT_VALID(ValidatorId::kResidentId, make_id("110105", "20261115"));    // today

  // 2026-11-15 00:00:00 +08:00 is still 2026-11-14 in UTC: Shanghai decides.
  const std::string born_today = make_id("110105", "20261115");
  const ValidationContext midnight{1794672000};
  const ValidationContext before_midnight{1794672000 - 1};
  EXPECT_TRUE(check(ValidatorId::kResidentId, born_today, midnight).valid);
  EXPECT_FALSE(check(ValidatorId::kResidentId, born_today, before_midnight).valid);

  // Unknown packet time: no future check (and no minor flag).
  const Verdict unknown = check(ValidatorId::kResidentId, make_id("110105", "20301010"), ValidationContext{});
  EXPECT_TRUE(unknown.valid);
  EXPECT_FALSE(unknown.minor);
}

TEST(ResidentId, RegionPrefixes) {
  for (std::string_view area : {"110000", "150000", "210000", "230000", "310000", "370000", "410000",
                                "460000", "500000", "540000", "610000", "650000", "710000"}) {
    EXPECT_VALID(ValidatorId::kResidentId, make_id(area, "19800101"));
  }
  for (std::string_view area : {"100000", "160000", "200000", "240000", "380000", "470000", "550000",
                                "600000", "660000", "700000", "720000", "800000", "840000", "010000"}) {
    EXPECT_INVALID(ValidatorId::kResidentId, make_id(area, "19800101"));
  }
}

TEST(ResidentId, LookAlikesGetTheirIdType) {
  EXPECT_EQ(check(ValidatorId::kResidentId, make_id("810000", "19800101")).id_type, IdType::kHmtResidence);
  EXPECT_EQ(check(ValidatorId::kResidentId, make_id("820000", "19800101")).id_type, IdType::kHmtResidence);
  EXPECT_EQ(check(ValidatorId::kResidentId, make_id("830000", "19800101")).id_type, IdType::kHmtResidence);
  // 81xxxx other than 810000 is an ordinary address code of the set.
  EXPECT_EQ(check(ValidatorId::kResidentId, make_id("810100", "19800101")).id_type, IdType::kPrcId);
  // 2023 foreigner PR card: first digit 9, MOD 11-2.
  const Verdict pr = check(ValidatorId::kResidentId, make_id("931840", "19800101"));
  EXPECT_TRUE(pr.valid);
  EXPECT_EQ(pr.id_type, IdType::kForeignPr);
}

TEST(ResidentId, MinorUnder14AtPacketTime) {
  // Packet day 2026-11-15 (Shanghai). 14th birthday on the packet day: the
  // age is reached the day after, so still a minor.
  EXPECT_TRUE(check(ValidatorId::kResidentId, make_id("110105", "20121115")).minor);
  EXPECT_TRUE(check(ValidatorId::kResidentId, make_id("110105", "20121116")).minor);
  EXPECT_FALSE(check(ValidatorId::kResidentId, make_id("110105", "20121114")).minor);
  EXPECT_TRUE(check(ValidatorId::kResidentId, make_id("110105", "20200101")).minor);
  EXPECT_FALSE(check(ValidatorId::kResidentId, make_id("110105", "19900101")).minor);

  // Born 29 Feb 2012: the 14th anniversary in common year 2026 is 28 Feb.
  const std::string leap = make_id("110105", "20120229");
  EXPECT_TRUE(check(ValidatorId::kResidentId, leap, ValidationContext{1772251200}).minor);   // 2026-02-28
  EXPECT_FALSE(check(ValidatorId::kResidentId, leap, ValidationContext{1772337600}).minor);  // 2026-03-01

  const Verdict minor = check(ValidatorId::kResidentId, make_id("110105", "20121115"));
  EXPECT_TRUE(minor.valid);
  EXPECT_EQ(minor.strength, kStrengthStrong);
}

TEST(ResidentId, LengthAndCharset) {
  EXPECT_FALSE(check(ValidatorId::kResidentId, "11010519491231002").valid);
  EXPECT_FALSE(check(ValidatorId::kResidentId, "911010519491231002X").valid);  // embedded in a longer run
  EXPECT_FALSE(check(ValidatorId::kResidentId, "11010519491231002X1").valid);
  EXPECT_FALSE(check(ValidatorId::kResidentId, "1101051949123100XX").valid);
  EXPECT_FALSE(check(ValidatorId::kResidentId, "").valid);
}

TEST(ResidentId15, UpgradesToThe18DigitForm) {
  // 15-digit form of the public vector: 110105 + 491231 + 002.
  const Verdict v = check(ValidatorId::kResidentId15, "110105491231002");
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.strength, kStrengthFormat);
  EXPECT_TRUE(v.needs_context);
  EXPECT_EQ(v.id_type, IdType::kPrcIdLegacy);
  EXPECT_EQ(v.normalized_view(), "11010519491231002X");
  EXPECT_FALSE(v.minor);
  EXPECT_FALSE(check(ValidatorId::kResidentId15, "110105490230002").valid);  // Feb 30
  EXPECT_FALSE(check(ValidatorId::kResidentId15, "100105491231002").valid);  // region 10
  EXPECT_FALSE(check(ValidatorId::kResidentId15, "11010549123100").valid);
}

// ------------------------------------------------------------------ bank card

TEST(BankCard, UnionPayIsStrong) {
  for (size_t len : {16u, 17u, 18u, 19u}) {
    const std::string card = with_luhn(std::string("622202") + std::string(len - 7, '3'));
    const Verdict v = check(ValidatorId::kBankCard, card);
    EXPECT_TRUE(v.valid) << masked(ValidatorId::kBankCard, card);
    EXPECT_EQ(v.strength, kStrengthStrong);
    EXPECT_FALSE(v.needs_context);
    EXPECT_EQ(v.id_type, IdType::kUnionPay);
    EXPECT_TRUE(v.normalized_view() == card);
  }
}

TEST(BankCard, UnionPayLuhnFailureIsDowngradedNotDropped) {
  const std::string card = with_bad_luhn("622202333333333");
  const Verdict v = check(ValidatorId::kBankCard, card);
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.strength, kStrengthFormat);
  EXPECT_TRUE(v.needs_context);
}

TEST(BankCard, OtherNetworksNeedContext) {
  struct Case {
    const char* label;
    std::string payload;
    IdType type;
  };
  const Case cases[] = {
      {"visa16", "411111111111111", IdType::kVisa},
      {"visa13", "422222222222", IdType::kVisa},
      {"mc5x", "555555555555444", IdType::kMastercard},
      {"mc2x", "222300312200322", IdType::kMastercard},
      {"amex", "37828224631000", IdType::kAmex},
      {"jcb", "353011133330000", IdType::kJcb},
      {"domestic9", "955880123456789", IdType::kDomesticCard},
  };
  for (const Case& c : cases) {
    const std::string card = with_luhn(c.payload);
    const Verdict v = check(ValidatorId::kBankCard, card);
    EXPECT_TRUE(v.valid) << c.label;
    EXPECT_EQ(v.strength, kStrengthChecked) << c.label;
    EXPECT_TRUE(v.needs_context) << c.label;
    EXPECT_EQ(v.id_type, c.type) << c.label;
    if (c.type != IdType::kDomesticCard) {
      EXPECT_FALSE(check(ValidatorId::kBankCard, with_bad_luhn(c.payload)).valid) << c.label;
    }
  }
}

TEST(BankCard, Negatives) {
  EXPECT_INVALID(ValidatorId::kBankCard, with_luhn("711111111111111"));      // no network
  EXPECT_INVALID(ValidatorId::kBankCard, with_luhn("41111111111111"));       // Visa, 15 digits
  EXPECT_INVALID(ValidatorId::kBankCard, with_luhn("62220233333"));          // too short
  EXPECT_INVALID(ValidatorId::kBankCard, with_luhn("6222023333333333333"));  // 20 digits
  EXPECT_INVALID(ValidatorId::kBankCard, with_luhn("272100000000000"));      // 2721 is not Mastercard
}

TEST(BankCard, SeparatorsAndFullWidth) {
  const std::string card = with_luhn("622202123456789");
  const std::string spaced =
      card.substr(0, 4) + " " + card.substr(4, 4) + " " + card.substr(8, 4) + " " + card.substr(12);
  const Verdict v = check(ValidatorId::kBankCard, spaced);
  EXPECT_TRUE(v.valid);
  EXPECT_TRUE(v.normalized_view() == card);
  std::string full;
  for (char c : card) {
    full += "\xEF\xBC";
    full.push_back(static_cast<char>(0x90 + (c - '0')));
  }
  EXPECT_TRUE(check(ValidatorId::kBankCard, full).normalized_view() == card);
}

// ----------------------------------------------------------------------- USCC

TEST(Uscc, PublicVector) {
  const Verdict v = check(ValidatorId::kUscc, "91350100M000100Y43");
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.strength, kStrengthStrong);
  EXPECT_FALSE(v.needs_context);
  EXPECT_EQ(v.normalized_view(), "91350100M000100Y43");
  EXPECT_EQ(check(ValidatorId::kUscc, "91350100m000100y43").normalized_view(), "91350100M000100Y43");
}

TEST(Uscc, FailingCheckCharacterDowngrades) {
  const Verdict v = check(ValidatorId::kUscc, "91350100M000100Y44");
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.strength, kStrengthFormat);
  EXPECT_TRUE(v.needs_context);
}

// One 18-digit run in 31 passes GB 32100 (order and trace numbers, resident
// IDs): an all-digit code is valid but counts only with context.
TEST(Uscc, AllDigitCodesNeedContext) {
  constexpr std::string_view kCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  constexpr int kWeights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  int found = 0;
  for (int seq = 0; seq < 200 && found < 3; ++seq) {
    char first17[18];
    std::snprintf(first17, sizeof first17, "91310115%09d", 100000000 + seq * 7919);
    int sum = 0;
    for (int i = 0; i < 17; ++i) sum += (first17[i] - '0') * kWeights[i];
    const char check_char = kCharset[static_cast<size_t>((31 - sum % 31) % 31)];
    if (check_char > '9') continue;
    const std::string code = std::string(first17) + check_char;
    const Verdict v = check(ValidatorId::kUscc, code);
    EXPECT_TRUE(v.valid) << code;
    EXPECT_EQ(v.strength, kStrengthStrong) << code;  // region 31 (Shanghai) at positions 3-4
    EXPECT_TRUE(v.needs_context) << code;
    ++found;
  }
  EXPECT_EQ(found, 3);
  // The same structure with a letter in the organisation code counts alone.
  EXPECT_FALSE(check(ValidatorId::kUscc, "91350100M000100Y43").needs_context);
}

TEST(Uscc, CharsetExcludesIOSVZ) {
  for (char c : std::string_view("IOSVZ")) {
    std::string s = "91350100M000100Y43";
    s[8] = c;
    EXPECT_FALSE(check(ValidatorId::kUscc, s).valid) << c;
  }
  EXPECT_FALSE(check(ValidatorId::kUscc, "9135A100M000100Y43").valid);  // admin code must be digits
  EXPECT_FALSE(check(ValidatorId::kUscc, "91350100M000100Y4").valid);
}

// --------------------------------------------------------------------- mobile

TEST(Mobile, AllocatedPrefixes) {
  for (std::string_view p : {"130", "139", "145", "149", "150", "153", "155", "159", "162", "165", "167",
                             "170", "178", "180", "189", "190", "193", "195", "199"}) {
    const std::string m = std::string(p) + "12345678";
    const Verdict v = check(ValidatorId::kMobile, m);
    EXPECT_TRUE(v.valid) << p;
    EXPECT_EQ(v.strength, kStrengthChecked);
    EXPECT_FALSE(v.needs_context);
  }
  EXPECT_TRUE(check(ValidatorId::kMobile, "16191234567").valid);  // satellite 1619
  for (std::string_view p :
       {"100", "120", "140", "144", "154", "160", "161", "163", "164", "168", "179", "194"}) {
    EXPECT_FALSE(check(ValidatorId::kMobile, std::string(p) + "12345678").valid) << p;
  }
}

TEST(Mobile, CountryCodeIsDroppedFromTheCanonicalForm) {
  for (std::string_view s : {"+8613812345678", "+86 13812345678", "+86-138-1234-5678", "008613812345678",
                             "0086 138 1234 5678", "8613812345678", "138 1234 5678",
                             "\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98"
                             "12345678"}) {
    const Verdict v = check(ValidatorId::kMobile, s);
    EXPECT_TRUE(v.valid) << masked(ValidatorId::kMobile, s);
    EXPECT_TRUE(v.normalized_view() == "13812345678") << masked(ValidatorId::kMobile, s);
  }
}

TEST(Mobile, TimestampsAndOrderNumbersAreNotMobiles) {
  // 13-digit millisecond timestamps (2023-2026 start with 17).
  for (std::string_view s : {"1712345678901", "1700000000000", "1794715200000", "1312345678901"}) {
    EXPECT_FALSE(check(ValidatorId::kMobile, s).valid) << masked(ValidatorId::kMobile, s);
  }
  // Order numbers: wrong length or unallocated network code.
  for (std::string_view s : {"12345678901", "202611150001", "1381234567", "138123456789", "8613812345",
                             "+8512345678901", "0086138123456789"}) {
    EXPECT_FALSE(check(ValidatorId::kMobile, s).valid) << masked(ValidatorId::kMobile, s);
  }
}

// ------------------------------------------------------ passports and permits

TEST(Passport, FormatsNeedContext) {
  struct Case {
    const char* value;
    IdType type;
  };
  for (const Case& c :
       {Case{"E12345678", IdType::kPrcPassport}, Case{"EA1234567", IdType::kPrcPassport},
        Case{"G12345678", IdType::kPrcPassport}, Case{"DE1234567", IdType::kPrcServicePassport},
        Case{"SE1234567", IdType::kPrcServicePassport}, Case{"PE1234567", IdType::kPrcServicePassport},
        Case{"MA1234567", IdType::kMsarPassport}, Case{"K12345678", IdType::kHkSarPassport},
        Case{"e12345678", IdType::kPrcPassport}}) {
    const Verdict v = check(ValidatorId::kPassport, c.value);
    EXPECT_TRUE(v.valid) << masked(ValidatorId::kPassport, c.value);
    EXPECT_EQ(v.strength, kStrengthFormat);
    EXPECT_TRUE(v.needs_context);
    EXPECT_EQ(v.id_type, c.type) << masked(ValidatorId::kPassport, c.value);
  }
  for (std::string_view s : {"EI1234567", "EO1234567", "X12345678", "E1234567", "E123456789", "GA1234567"}) {
    EXPECT_FALSE(check(ValidatorId::kPassport, s).valid) << masked(ValidatorId::kPassport, s);
  }
}

TEST(Permits, HkMacaoPermit) {
  EXPECT_TRUE(check(ValidatorId::kHkMacaoPermit, "C12345678").valid);
  EXPECT_TRUE(check(ValidatorId::kHkMacaoPermit, "CA1234567").valid);
  EXPECT_TRUE(check(ValidatorId::kHkMacaoPermit, "CA1234567").needs_context);
  EXPECT_FALSE(check(ValidatorId::kHkMacaoPermit, "CO1234567").valid);
  EXPECT_FALSE(check(ValidatorId::kHkMacaoPermit, "D12345678").valid);
}

TEST(Permits, HomeReturnPermitKeepsTheLifetimeNumber) {
  const Verdict h = check(ValidatorId::kHomeReturnPermit, "H1234567801");
  EXPECT_TRUE(h.valid);
  EXPECT_TRUE(h.normalized_view() == "H12345678");
  EXPECT_EQ(h.id_type, IdType::kHkResident);
  EXPECT_EQ(check(ValidatorId::kHomeReturnPermit, "M12345678").id_type, IdType::kMacaoResident);
  EXPECT_FALSE(check(ValidatorId::kHomeReturnPermit, "H123456789").valid);
  EXPECT_FALSE(check(ValidatorId::kHomeReturnPermit, "K12345678").valid);
}

TEST(Permits, TaiwanPermit) {
  EXPECT_TRUE(check(ValidatorId::kTaiwanPermit, "12345678").normalized_view() == "12345678");
  EXPECT_TRUE(check(ValidatorId::kTaiwanPermit, "1234567801").normalized_view() == "12345678");
  EXPECT_TRUE(check(ValidatorId::kTaiwanPermit, "1234567801(B)").normalized_view() == "12345678");
  EXPECT_TRUE(check(ValidatorId::kTaiwanPermit, "12345678").needs_context);
  EXPECT_FALSE(check(ValidatorId::kTaiwanPermit, "1234567").valid);
  EXPECT_FALSE(check(ValidatorId::kTaiwanPermit, "123456789").valid);
}

// ----------------------------------------------------------------------- IMEI

TEST(Imei, PublicVector) {
  const Verdict v = check(ValidatorId::kImei, "260531793113837");
  EXPECT_TRUE(v.valid);
  EXPECT_EQ(v.strength, kStrengthChecked);
  EXPECT_TRUE(v.needs_context);
  EXPECT_FALSE(check(ValidatorId::kImei, "260531793113838").valid);
  // Pre-2003 check digit 0: kept, format strength.
  EXPECT_EQ(check(ValidatorId::kImei, "260531793113830").strength, kStrengthFormat);
  // IMEISV (TAC + SNR + SVN) maps to the device's IMEI.
  const Verdict sv = check(ValidatorId::kImei, "2605317931138301");
  EXPECT_TRUE(sv.valid);
  EXPECT_EQ(sv.id_type, IdType::kImeiSv);
  EXPECT_EQ(sv.normalized_view(), "260531793113837");
  EXPECT_FALSE(check(ValidatorId::kImei, "26053179311383").valid);
}

// ---------------------------------------------------------------------- email

TEST(Email, Valid) {
  for (std::string_view s :
       {"zhang.san@example.com", "12345@qq.com", "a_b-c+d%e@mail.example.com.cn", "x@ab.cd"}) {
    const Verdict v = check(ValidatorId::kEmail, s);
    EXPECT_TRUE(v.valid) << masked(ValidatorId::kEmail, s);
    EXPECT_FALSE(v.needs_context);
  }
  EXPECT_TRUE(check(ValidatorId::kEmail, "Zhang.San@Example.COM").normalized_view() ==
              "zhang.san@example.com");
  const std::string local64(64, 'a');
  EXPECT_TRUE(check(ValidatorId::kEmail, local64 + "@example.com").valid);
  // Longer than the canonical buffer: valid, the caller tokens the candidate.
  EXPECT_EQ(check(ValidatorId::kEmail, local64 + "@example.com").normalized_len, 0);
}

TEST(Email, Invalid) {
  const std::string local65(65, 'a');
  for (std::string_view s :
       {".a@x.com", "a.@x.com", "a..b@x.com", "a@x", "a@x.c", "a@-x.com", "a@x-.com", "a@x.c0m", "a@@x.com",
        "@x.com", "a@x..com", "a@x.com.", "a b@x.com", "a@.com"}) {
    EXPECT_FALSE(check(ValidatorId::kEmail, s).valid) << masked(ValidatorId::kEmail, s);
  }
  EXPECT_FALSE(check(ValidatorId::kEmail, local65 + "@example.com").valid);
  EXPECT_FALSE(check(ValidatorId::kEmail, "a@" + std::string(64, 'b') + ".com").valid);  // label > 63
}

TEST(Email, ExtendLeftFindsTheLocalPart) {
  const std::string_view text = "mail: zhang.san@example.com";
  const size_t at = text.find('@');
  EXPECT_EQ(extend_left(ValidatorId::kEmail, text, at), text.find('z'));
  EXPECT_EQ(extend_left(ValidatorId::kEmail, "see....me@x.cn", 9), 7u);  // leading dots skipped
  EXPECT_EQ(extend_left(ValidatorId::kEmail, "@x.cn", 0), 0u);
  // At most 64 bytes back: a longer run leaves an alphanumeric neighbour,
  // which the boundary check rejects.
  const std::string long_local = std::string(70, 'a') + "@x.cn";
  EXPECT_EQ(extend_left(ValidatorId::kEmail, long_local, 70), 6u);
  // Other validators do not move the start.
  EXPECT_EQ(extend_left(ValidatorId::kMobile, text, at), at);
  EXPECT_EQ(extend_left(ValidatorId::kEmail, text, text.size() + 1), text.size() + 1);
}

// ---------------------------------------------------------------- coordinates

TEST(Coordinates, PairsInsideTheMainlandBox) {
  EXPECT_TRUE(check(ValidatorId::kCoordinates, "31.2304,121.4737").normalized_view() ==
              "31.230400,121.473700");
  EXPECT_TRUE(check(ValidatorId::kCoordinates, "[121.4737,31.2304]").normalized_view() ==
              "31.230400,121.473700");
  EXPECT_TRUE(check(ValidatorId::kCoordinates, "[ 121.473701, 31.230416 ]").normalized_view() ==
              "31.230416,121.473701");
  EXPECT_TRUE(check(ValidatorId::kCoordinates, "116.481488,39.990464").valid);  // lon,lat (map APIs)
  EXPECT_TRUE(check(ValidatorId::kCoordinates, "39.9904641234,116.4814881234").valid);
}

TEST(Coordinates, Rejects) {
  for (std::string_view s : {"31.23,121.47", "31.2304,121.47", "40.7128,-74.0060", "1.2345,103.8198",
                             "53.7000,121.4737", "31.2304,135.2000", "[121.4737,31.2304", "31.2304;121.4737",
                             "31.2304,121.4737x", "-31.2304,121.4737", "31,121", "1234.5678,31.2304"}) {
    EXPECT_FALSE(check(ValidatorId::kCoordinates, s).valid) << masked(ValidatorId::kCoordinates, s);
  }
}

TEST(Trajectory, Markers) {
  EXPECT_TRUE(check(ValidatorId::kTrajectory, "$GPRMC,").valid);
  EXPECT_TRUE(check(ValidatorId::kTrajectory, "$GNGGA,").valid);
  EXPECT_TRUE(check(ValidatorId::kTrajectory, "$BDGGA,").valid);
  EXPECT_TRUE(check(ValidatorId::kTrajectory, "<trkpt").valid);
  EXPECT_TRUE(check(ValidatorId::kTrajectory, "<gx:Track").valid);
  const Verdict ls = check(ValidatorId::kTrajectory, "\"type\": \"LineString\"");
  EXPECT_TRUE(ls.valid);
  EXPECT_TRUE(ls.needs_context);
  EXPECT_FALSE(check(ValidatorId::kTrajectory, "$XXRMC,").valid);
  EXPECT_FALSE(check(ValidatorId::kTrajectory, "$GPGSV,").valid);
  EXPECT_FALSE(check(ValidatorId::kTrajectory, "\"type\": \"Point\"").valid);
}

// --------------------------------------------------------------------- plates

TEST(VehiclePlate, OrdinaryAndNev) {
  struct Case {
    const char* value;
    const char* canon;
    IdType type;
  };
  for (const Case& c :
       {Case{"京A12345", "京A12345", IdType::kPlateOrdinary},
        Case{"沪A·12345", "沪A12345", IdType::kPlateOrdinary},
        Case{"粤B-1234挂", "粤B1234挂", IdType::kPlateOrdinary},
        Case{"粤Z 1234港", "粤Z1234港", IdType::kPlateOrdinary},
        Case{"京AD12345", "京AD12345", IdType::kPlateNev}, Case{"京AFA1234", "京AFA1234", IdType::kPlateNev},
        Case{"京A12345D", "京A12345D", IdType::kPlateNev}}) {
    const Verdict v = check(ValidatorId::kVehiclePlate, c.value);
    EXPECT_TRUE(v.valid) << masked(ValidatorId::kVehiclePlate, c.value);
    EXPECT_TRUE(v.normalized_view() == c.canon);
    EXPECT_EQ(v.id_type, c.type) << masked(ValidatorId::kVehiclePlate, c.value);
  }
  for (std::string_view s : {"京I12345", "京A1234O", "京A123", "美A12345", "京A1234567", "京a12345",
                             "京AD1234X", "京A12345G", "京A··12345"}) {
    EXPECT_FALSE(check(ValidatorId::kVehiclePlate, s).valid) << masked(ValidatorId::kVehiclePlate, s);
  }
}

// ---------------------------------------------------- genomic/medical markers

TEST(Markers, GenomicAndMedical) {
  EXPECT_EQ(check(ValidatorId::kVcf, "##fileformat=VCFv4.2").strength, kStrengthStrong);
  EXPECT_TRUE(check(ValidatorId::kVcf, "#CHROM\tPOS\tID\tREF\tALT").valid);
  EXPECT_FALSE(check(ValidatorId::kVcf, "##fileformat=VCFv3.3").valid);

  const std::string bases60(60, 'A');
  EXPECT_TRUE(check(ValidatorId::kFasta, ">chr1 sample\n" + bases60).valid);
  EXPECT_TRUE(check(ValidatorId::kFasta, "\n>seq1\r\n" + std::string(30, 'g')).valid);
  EXPECT_FALSE(check(ValidatorId::kFasta, ">seq1\nACGTACGT").valid);
  EXPECT_FALSE(check(ValidatorId::kFasta, "> seq1\n" + bases60).valid);

  const std::string seq(24, 'C');
  const std::string qual(24, 'I');
  EXPECT_TRUE(check(ValidatorId::kFastq, "@r1/1\n" + seq + "\n+").valid);
  EXPECT_TRUE(check(ValidatorId::kFastq, "@r1/1\n" + seq + "\n+\n" + qual).valid);
  EXPECT_TRUE(check(ValidatorId::kFastq, "@r1/1\n" + seq + "\n+\n" + qual.substr(0, 5)).valid);  // cut
  EXPECT_FALSE(check(ValidatorId::kFastq, "@r1/1\n" + seq + "\n+\n" + qual + "I\n").valid);
  EXPECT_FALSE(check(ValidatorId::kFastq, "@r1\nACGT\n+").valid);
  EXPECT_FALSE(check(ValidatorId::kFastq, "@r1\n" + seq + "\n-").valid);

  // Headerless views: a full FASTA line and the next; a FASTQ read's end,
  // its '+' line and the start of its qualities.
  EXPECT_TRUE(check(ValidatorId::kFasta, bases60 + "\n" + std::string(20, 'T')).valid);
  EXPECT_TRUE(check(ValidatorId::kFasta, bases60 + "\r\n" + std::string(20, 't')).valid);
  EXPECT_FALSE(check(ValidatorId::kFasta, std::string(59, 'A') + "\n" + std::string(20, 'T')).valid);
  EXPECT_FALSE(check(ValidatorId::kFasta, bases60 + "\n" + std::string(19, 'T')).valid);
  EXPECT_TRUE(check(ValidatorId::kFastq, std::string(20, 'G') + "\n+\n" + std::string(20, '#')).valid);
  EXPECT_TRUE(check(ValidatorId::kFastq, std::string(20, 'G') + "\r\n+r1\r\n" + std::string(20, '#')).valid);
  EXPECT_FALSE(check(ValidatorId::kFastq, std::string(20, 'G') + "\n+\n").valid);
  EXPECT_FALSE(check(ValidatorId::kFastq, std::string(20, 'G')).valid);
  EXPECT_FALSE(check(ValidatorId::kFastq, std::string(19, 'G') + "\n+\n" + std::string(20, '#')).valid);

  EXPECT_TRUE(check(ValidatorId::kHl7, "MSH|^~\\&").valid);
  EXPECT_FALSE(check(ValidatorId::kHl7, "MSH|^~\\").valid);

  std::string dicom(128, '\0');
  dicom += "DICM";
  EXPECT_EQ(check(ValidatorId::kDicom, dicom).strength, kStrengthStrong);
  EXPECT_TRUE(check(ValidatorId::kDicom, std::string("DICM\x02\x00", 6)).valid);
  EXPECT_FALSE(check(ValidatorId::kDicom, "DICM").valid);
  EXPECT_FALSE(check(ValidatorId::kDicom, std::string(128, '\0') + "DICX").valid);

  EXPECT_TRUE(check(ValidatorId::kFhirPatient, "\"resourceType\":\"Patient\"").valid);
  EXPECT_TRUE(check(ValidatorId::kFhirPatient, "\"resourceType\" :\n \"Patient\"").valid);
  EXPECT_FALSE(check(ValidatorId::kFhirPatient, "\"resourceType\":\"Observation\"").valid);
}

// ---------------------------------------------------------------------- names

TEST(Names, RoundTrip) {
  for (size_t i = 0; i < static_cast<size_t>(ValidatorId::kCount); ++i) {
    const auto id = static_cast<ValidatorId>(i);
    const std::string_view name = validator_name(id);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(validator_from_name(name), id) << name;
  }
  EXPECT_EQ(validator_from_name("no_such_validator"), std::nullopt);
  EXPECT_EQ(validator_name(ValidatorId::kCount), "");
  EXPECT_EQ(id_type_name(IdType::kHmtResidence), "hmt_residence");
  EXPECT_EQ(id_type_name(IdType::kCount), "");
}

TEST(Limits, OversizedCandidatesAreRejectedWithoutReading) {
  const std::string big(kMaxCandidate + 1, '1');
  for (size_t i = 0; i < static_cast<size_t>(ValidatorId::kCount); ++i) {
    EXPECT_FALSE(check(static_cast<ValidatorId>(i), big).valid);
  }
}

}  // namespace
}  // namespace ftz::engine::classify
