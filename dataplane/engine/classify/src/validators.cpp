#include "ftz/engine/classify/validators.hpp"

#include <array>
#include <cstring>

#include "ftz/base/civil_date.hpp"
#include "ftz/engine/classify/normalize.hpp"
#include "text_units.hpp"

namespace ftz::engine::classify {
namespace {

using CivilDate = civil::Date;

constexpr std::string_view kValidatorNames[] = {
#define FTZ_X(id, name) name,
    FTZ_CLASSIFY_VALIDATORS(FTZ_X)
#undef FTZ_X
};
static_assert(std::size(kValidatorNames) == static_cast<size_t>(ValidatorId::kCount));

constexpr std::string_view kIdTypeNames[] = {
#define FTZ_X(id, name) name,
    FTZ_CLASSIFY_ID_TYPES(FTZ_X)
#undef FTZ_X
};
static_assert(std::size(kIdTypeNames) == static_cast<size_t>(IdType::kCount));

// Identifiers are short; anything longer cannot be one (and is not copied).
constexpr size_t kMaxIdentifierInput = 96;
constexpr size_t kCanonCap = 48;

// The candidate with full-width characters folded, one separator between
// digits removed and letters upper-cased (DOMAIN.md §3 pipeline). Fails when
// the candidate does not fit: identifiers are at most 24 characters.
struct Canonical {
  std::array<char, kCanonCap> buf{};
  size_t len = 0;
  std::string_view view() const noexcept { return {buf.data(), len}; }
};

bool canonicalize(std::string_view candidate, Canonical& c) noexcept {
  if (candidate.empty() || candidate.size() > kMaxIdentifierInput) return false;
  const NormalizeResult r = normalize_digits(candidate, c.buf, {}, true);
  if (r.in_consumed != candidate.size()) return false;
  c.len = r.out_len;
  for (size_t i = 0; i < c.len; ++i) c.buf[i] = ascii::to_upper(c.buf[i]);
  return true;
}

Verdict accept(uint8_t strength, bool needs_context, IdType type, std::string_view normalized) noexcept {
  Verdict v;
  v.valid = true;
  v.strength = strength;
  v.needs_context = needs_context;
  v.id_type = type;
  if (normalized.size() <= kMaxNormalized) {
    for (size_t i = 0; i < normalized.size(); ++i) v.normalized[i] = normalized[i];
    v.normalized_len = static_cast<uint8_t>(normalized.size());
  }
  return v;
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!ascii::is_digit(c)) return false;
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

int number(std::string_view digits) noexcept {
  int n = 0;
  for (char c : digits) n = n * 10 + digit_value(c);
  return n;
}

// ---------------------------------------------------------------------------
// Resident ID (GB 11643-1999)

// First two digits of the address code (GB/T 2260 provinces, plus 71 Taiwan,
// 81/82/83 HK/Macao/Taiwan residence permits); DOMAIN.md §3.1.
bool is_region_prefix(int two) noexcept {
  return (two >= 11 && two <= 15) || (two >= 21 && two <= 23) || (two >= 31 && two <= 37) ||
         (two >= 41 && two <= 46) || (two >= 50 && two <= 54) || (two >= 61 && two <= 65) || two == 71 ||
         (two >= 81 && two <= 83);
}

// GB 11643-1999 check character, ISO 7064 MOD 11-2: W_i = 2^(18-i) mod 11,
// Y = sum mod 11, mapped 0->1 1->0 2->X 3->9 ... 10->2.
char resident_id_check(std::string_view first17) noexcept {
  constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  constexpr char kMap[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) sum += digit_value(first17[i]) * kWeights[i];
  return kMap[sum % 11];
}

// The n-th anniversary of `d`. Civil Code art 202: a period counted in years
// ends on the corresponding day; without one (29 Feb in a common year) it
// ends on the last day of that month, 28 Feb.
constexpr CivilDate anniversary(const CivilDate& d, int64_t years) noexcept {
  CivilDate a{d.year + years, d.month, d.day};
  const unsigned last = civil::days_in_month(a.year, a.month);
  if (a.day > last) a.day = last;
  return a;
}

// Date checks shared by the 18- and 15-digit forms: a real calendar date, not
// after the packet's day in Asia/Shanghai; minor = not yet past the 14th
// birthday. PIPL art 28 ("under 14"); the age is reached the day after the
// 14th birthday (Civil Code arts 201-202: a period starts the next day and
// ends on the corresponding day), so on the birthday itself the holder is
// still a minor.
bool check_birth_date(const CivilDate& birth, const ValidationContext& ctx, bool& minor) noexcept {
  minor = false;
  if (!civil::is_real_date(birth)) return false;
  if (ctx.now_unix_s == 0) return true;
  const int64_t today = civil::shanghai_day(ctx.now_unix_s);
  if (civil::days_from_civil(birth) > today) return false;
  minor = today <= civil::days_from_civil(anniversary(birth, 14));
  return true;
}

IdType resident_id_type(std::string_view s) noexcept {
  // 2023 foreigner PR card: 18 digits, first digit 9, MOD 11-2 (NIA rules).
  if (s[0] == '9') return IdType::kForeignPr;
  // HK/Macao/Taiwan residents' residence permits use 810000/820000/830000.
  const std::string_view area = s.substr(0, 6);
  if (area == "810000" || area == "820000" || area == "830000") return IdType::kHmtResidence;
  return IdType::kPrcId;
}

Verdict validate_resident_id(std::string_view candidate, const ValidationContext& ctx) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if (s.size() != 18 || !all_digits(s.substr(0, 17))) return {};
  if (!ascii::is_digit(s[17]) && s[17] != 'X') return {};
  if (s[0] != '9' && !is_region_prefix(number(s.substr(0, 2)))) return {};
  const CivilDate birth{number(s.substr(6, 4)), static_cast<unsigned>(number(s.substr(10, 2))),
                        static_cast<unsigned>(number(s.substr(12, 2)))};
  // GB 11643 issues IDs for people born from the 19th century on.
  if (birth.year < 1800) return {};
  bool minor = false;
  if (!check_birth_date(birth, ctx, minor)) return {};
  if (resident_id_check(s.substr(0, 17)) != s[17]) return {};
  Verdict v = accept(kStrengthStrong, false, resident_id_type(s), s);
  v.minor = minor;
  return v;
}

// GB 11643-1989 15-digit form: address(6) + YYMMDD (19YY) + sequence(3), no
// check digit, so format only. The canonical form is the 18-digit upgrade
// ("19" inserted, check digit computed) so one person has one token.
Verdict validate_resident_id15(std::string_view candidate, const ValidationContext& ctx) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if (s.size() != 15 || !all_digits(s)) return {};
  if (!is_region_prefix(number(s.substr(0, 2)))) return {};
  const CivilDate birth{1900 + number(s.substr(6, 2)), static_cast<unsigned>(number(s.substr(8, 2))),
                        static_cast<unsigned>(number(s.substr(10, 2)))};
  bool minor = false;
  if (!check_birth_date(birth, ctx, minor)) return {};
  std::array<char, 18> up{};
  for (size_t i = 0; i < 6; ++i) up[i] = s[i];
  up[6] = '1';
  up[7] = '9';
  for (size_t i = 6; i < 15; ++i) up[i + 2] = s[i];
  up[17] = resident_id_check(std::string_view(up.data(), 17));
  Verdict v = accept(kStrengthFormat, true, IdType::kPrcIdLegacy, std::string_view(up.data(), up.size()));
  v.minor = minor;
  return v;
}

// ---------------------------------------------------------------------------
// Luhn (ISO/IEC 7812-1 Annex B; Q/CUP 002; 3GPP TS 23.003 Annex B for IMEI)

// Check digit that makes `payload` + digit pass Luhn.
char luhn_check_digit(std::string_view payload) noexcept {
  int sum = 0;
  bool dbl = true;  // the rightmost payload digit sits at an even position once the check digit is added
  for (size_t i = payload.size(); i-- > 0;) {
    int d = digit_value(payload[i]);
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

bool luhn_ok(std::string_view digits) noexcept {
  return digits.size() >= 2 && luhn_check_digit(digits.substr(0, digits.size() - 1)) == digits.back();
}

// ---------------------------------------------------------------------------
// Bank card (ISO/IEC 7812; DOMAIN.md §3.3)

Verdict validate_bank_card(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  const size_t n = s.size();
  if (n < 13 || n > 19 || !all_digits(s)) return {};
  const bool luhn = luhn_ok(s);
  const int p2 = number(s.substr(0, 2));
  const int p4 = number(s.substr(0, 4));
  // UnionPay IIN 62, 16-19 digits. Some domestic cards fail Luhn (DOMAIN.md
  // §3.3), so a failure lowers strength instead of discarding.
  if (p2 == 62 && n >= 16) {
    return luhn ? accept(kStrengthStrong, false, IdType::kUnionPay, s)
                : accept(kStrengthFormat, true, IdType::kUnionPay, s);
  }
  // Pre-2002 domestic-only "9" BINs, 16-19 digits: same Luhn leniency.
  if (s[0] == '9' && n >= 16) {
    return accept(luhn ? kStrengthChecked : kStrengthFormat, true, IdType::kDomesticCard, s);
  }
  if (!luhn) return {};
  IdType type = IdType::kUnknown;
  if (s[0] == '4' && (n == 13 || n == 16 || n == 19)) {
    type = IdType::kVisa;
  } else if (n == 16 && ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))) {
    type = IdType::kMastercard;
  } else if (n == 15 && (p2 == 34 || p2 == 37)) {
    type = IdType::kAmex;
  } else if (n >= 16 && p4 >= 3528 && p4 <= 3589) {
    type = IdType::kJcb;
  } else {
    return {};
  }
  // Luhn alone passes 1 in 10 random strings: other networks need context.
  return accept(kStrengthChecked, true, type, s);
}

// ---------------------------------------------------------------------------
// Unified social credit code (GB 32100-2015)

Verdict validate_uscc(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if (s.size() != 18) return {};
  // Registration authority + organisation type, 6-digit admin division
  // (GB/T 2260), 9-char organisation code, check character.
  if (!all_digits(s.substr(2, 6))) return {};
  const char check = uscc_check_character(s.substr(0, 17));
  if (check == '\0' || uscc_char_value(s[17]) < 0) return {};
  if (check != s[17]) {
    // Issued codes that fail the checksum exist (DOMAIN.md §3.2): downgrade.
    return accept(kStrengthFormat, true, IdType::kUnknown, s);
  }
  const bool region = is_region_prefix(number(s.substr(2, 2)));
  // Any run of 18 digits passes the MOD 31 check one time in 31, and order,
  // trace and resident ID numbers are all digits: an all-digit code counts
  // only with a USCC field name or keyword (docs/signatures.md). Codes with a
  // letter (organisation codes issued since 2015 start "MA") count alone.
  return accept(region ? kStrengthStrong : kStrengthChecked, all_digits(s), IdType::kUnknown, s);
}

// ---------------------------------------------------------------------------
// Mobile (MIIT allocation, end of March 2023; DOMAIN.md §3.4)

bool is_allocated_mobile(std::string_view s) noexcept {
  if (s.size() != 11 || s[0] != '1' || !all_digits(s)) return false;
  const char a = s[1];
  const char b = s[2];
  switch (a) {
    case '3':  // 130-139 (1349 satellite included)
    case '8':  // 180-189
      return true;
    case '4':  // 145-149 (140-144 are 13-digit IoT numbers)
      return b >= '5';
    case '5':  // 150-153, 155-159
      return b != '4';
    case '6':  // 162, 165-167, satellite 1619
      return b == '2' || b == '5' || b == '6' || b == '7' || (b == '1' && s[3] == '9');
    case '7':  // 170-178 (174x satellite included)
      return b != '9';
    case '9':  // 190-193, 195-199
      return b != '4';
    default:
      return false;
  }
}

Verdict validate_mobile(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  std::string_view s = c.view();
  // Optional country code +86 / 0086 / 86; the canonical form drops it.
  if (starts_with(s, "+86")) {
    s.remove_prefix(3);
  } else if (s.size() == 15 && starts_with(s, "0086")) {
    s.remove_prefix(4);
  } else if (s.size() == 13 && starts_with(s, "86")) {
    s.remove_prefix(2);
  }
  if (!is_allocated_mobile(s)) return {};
  // No check digit, but the allocation table plus exact length rules out most
  // look-alikes (13-digit timestamps fail the length).
  return accept(kStrengthChecked, false, IdType::kUnknown, s);
}

// ---------------------------------------------------------------------------
// Passports and permits (DOMAIN.md §3.5): format only, need context.

// Letters used in serials: A-Z except I and O.
constexpr bool is_serial_letter(char c) noexcept {
  return ascii::is_upper(c) && c != 'I' && c != 'O';
}

Verdict validate_passport(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if (s.size() != 9) return {};
  IdType type = IdType::kUnknown;
  if (s[0] == 'E' && (ascii::is_digit(s[1]) || is_serial_letter(s[1])) && all_digits(s.substr(2))) {
    type = IdType::kPrcPassport;  // e-passport: E + 8 digits, then E + letter + 7 digits
  } else if (s[0] == 'G' && all_digits(s.substr(1))) {
    type = IdType::kPrcPassport;  // pre-2012 ordinary passport
  } else if ((s[0] == 'D' || s[0] == 'S' || s[0] == 'P') && s[1] == 'E' && all_digits(s.substr(2))) {
    type = IdType::kPrcServicePassport;  // diplomatic, official, public-affairs
  } else if (s[0] == 'M' && s[1] == 'A' && all_digits(s.substr(2))) {
    type = IdType::kMsarPassport;
  } else if (s[0] == 'K' && all_digits(s.substr(1))) {
    type = IdType::kHkSarPassport;
  } else {
    return {};
  }
  return accept(kStrengthFormat, true, type, s);
}

// Mainland residents' HK/Macao permit (card since 2014): C + 8 digits, then
// C + letter (no I, O) + 7 digits.
Verdict validate_hk_macao_permit(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if (s.size() != 9 || s[0] != 'C') return {};
  if (!ascii::is_digit(s[1]) && !is_serial_letter(s[1])) return {};
  if (!all_digits(s.substr(2))) return {};
  return accept(kStrengthFormat, true, IdType::kUnknown, s);
}

// HK/Macao residents' home-return permit: H/M + 8-digit lifetime number +
// optional 2-digit renewal count (MPS rule). The canonical form keeps the
// lifetime number only, so renewals do not count as new people.
Verdict validate_home_return_permit(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if ((s.size() != 9 && s.size() != 11) || (s[0] != 'H' && s[0] != 'M')) return {};
  if (!all_digits(s.substr(1))) return {};
  return accept(kStrengthFormat, true, s[0] == 'H' ? IdType::kHkResident : IdType::kMacaoResident,
                s.substr(0, 9));
}

// Taiwan residents' MTP: one lifetime 8-digit number since 2008; older forms
// add 2 issue digits and an "(X)" authority code. Canonical: the 8 digits.
Verdict validate_taiwan_permit(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  std::string_view s = c.view();
  if (s.size() >= 3 && s[s.size() - 3] == '(' && ascii::is_upper(s[s.size() - 2]) && s.back() == ')') {
    s.remove_suffix(3);
  }
  if ((s.size() != 8 && s.size() != 10) || !all_digits(s)) return {};
  return accept(kStrengthFormat, true, IdType::kUnknown, s.substr(0, 8));
}

// ---------------------------------------------------------------------------
// IMEI (3GPP TS 23.003 Annex B): TAC(8) + SNR(6) + Luhn check digit.

Verdict validate_imei(std::string_view candidate) noexcept {
  Canonical c;
  if (!canonicalize(candidate, c)) return {};
  const std::string_view s = c.view();
  if (!all_digits(s)) return {};
  if (s.size() == 15) {
    if (luhn_ok(s)) return accept(kStrengthChecked, true, IdType::kUnknown, s);
    // Pre-2003 IMEIs may carry check digit 0 (DOMAIN.md §3.7).
    if (s.back() == '0') return accept(kStrengthFormat, true, IdType::kUnknown, s);
    return {};
  }
  if (s.size() == 16) {
    // IMEISV: TAC + SNR + 2-digit SVN, no check digit. Canonical form is the
    // IMEI of the same device (TAC + SNR + computed check digit).
    std::array<char, 15> imei{};
    for (size_t i = 0; i < 14; ++i) imei[i] = s[i];
    imei[14] = luhn_check_digit(s.substr(0, 14));
    return accept(kStrengthFormat, true, IdType::kImeiSv, std::string_view(imei.data(), imei.size()));
  }
  return {};
}

// ---------------------------------------------------------------------------
// E-mail (DOMAIN.md §3.8): local part 1..64 of [A-Za-z0-9._%+-] (dot-atom:
// no leading, trailing or double dot), domain <= 255 with labels of 1..63
// [A-Za-z0-9-] not starting or ending with '-', TLD >= 2 letters.

constexpr bool is_local_char(char c) noexcept {
  return ascii::is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

Verdict validate_email(std::string_view s) noexcept {
  if (s.size() > 64 + 1 + 255) return {};
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return {};
  const std::string_view local = s.substr(0, at);
  const std::string_view domain = s.substr(at + 1);
  for (size_t i = 0; i < local.size(); ++i) {
    if (!is_local_char(local[i])) return {};
    if (local[i] == '.' && (i == 0 || i + 1 == local.size() || local[i - 1] == '.')) return {};
  }
  if (domain.empty() || domain.size() > 255) return {};
  size_t labels = 0;
  size_t start = 0;
  std::string_view last;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos) dot = domain.size();
    const std::string_view label = domain.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return {};
    for (char ch : label)
      if (!ascii::is_alnum(ch) && ch != '-') return {};
    ++labels;
    last = label;
    start = dot + 1;
  }
  if (labels < 2 || last.size() < 2) return {};
  for (char ch : last)
    if (!ascii::is_alpha(ch)) return {};
  Verdict v = accept(kStrengthChecked, false, IdType::kUnknown, {});
  if (s.size() <= kMaxNormalized) {
    for (size_t i = 0; i < s.size(); ++i) v.normalized[i] = ascii::to_lower(s[i]);
    v.normalized_len = static_cast<uint8_t>(s.size());
  }
  return v;
}

// ---------------------------------------------------------------------------
// Coordinates (DOMAIN.md §3.8): a decimal pair inside the mainland box
// lat 3.8-53.6, lon 73.4-135.1, each with >= 4 decimals (~11 m, a precise
// location). "lat,lon" and GeoJSON "[lon,lat]" (and the lon,lat order of
// Chinese map APIs) are told apart by range: the two boxes do not overlap.

constexpr int64_t kMicro = 1000000;

struct Decimal {
  int64_t micro = 0;  // value in 1e-6 degrees, truncated
  int decimals = 0;
};

bool parse_decimal(std::string_view s, size_t& i, Decimal& out) noexcept {
  bool negative = false;
  if (i < s.size() && s[i] == '-') {
    negative = true;
    ++i;
  }
  int64_t whole = 0;
  int int_digits = 0;
  while (i < s.size() && ascii::is_digit(s[i]) && int_digits < 3) {
    whole = whole * 10 + digit_value(s[i++]);
    ++int_digits;
  }
  if (int_digits == 0 || i >= s.size() || s[i] != '.') return false;
  ++i;
  int64_t frac = 0;
  int decimals = 0;
  while (i < s.size() && ascii::is_digit(s[i])) {
    if (decimals >= 15) return false;
    if (decimals < 6) frac = frac * 10 + digit_value(s[i]);
    ++decimals;
    ++i;
  }
  for (int d = decimals; d < 6; ++d) frac *= 10;
  out.micro = (whole * kMicro + frac) * (negative ? -1 : 1);
  out.decimals = decimals;
  return decimals > 0;
}

void skip_spaces(std::string_view s, size_t& i) noexcept {
  while (i < s.size() && s[i] == ' ') ++i;
}

size_t format_micro(int64_t micro, char* out) noexcept {
  // Positive only (inside the box). "ddd.dddddd".
  char tmp[24];
  size_t n = 0;
  int64_t whole = micro / kMicro;
  int64_t frac = micro % kMicro;
  do {
    tmp[n++] = static_cast<char>('0' + whole % 10);
    whole /= 10;
  } while (whole > 0);
  size_t o = 0;
  while (n > 0) out[o++] = tmp[--n];
  out[o++] = '.';
  for (int64_t div = kMicro / 10; div > 0; div /= 10) {
    out[o++] = static_cast<char>('0' + (frac / div) % 10);
  }
  return o;
}

// {"lat":31.2304,"lon":121.4737} (JSON named fields, either order): the two
// numbers after the colons, as "a,b" for the pair parser below.
bool json_pair_to_plain(std::string_view s, char (&out)[64], std::string_view& plain) noexcept {
  size_t n = 0;
  for (int field = 0; field < 2; ++field) {
    const size_t colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    s.remove_prefix(colon + 1);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    size_t len = 0;
    while (len < s.size() && (ascii::is_digit(s[len]) || s[len] == '.' || s[len] == '-')) ++len;
    if (len == 0 || n + len + 1 >= sizeof out) return false;
    if (field == 1) out[n++] = ',';
    std::memcpy(out + n, s.data(), len);
    n += len;
    s.remove_prefix(len);
  }
  plain = std::string_view(out, n);
  return true;
}

Verdict validate_coordinates(std::string_view s) noexcept {
  if (s.size() > 96) return {};
  char buf[64];
  if (!s.empty() && s.front() == '"' && !json_pair_to_plain(s, buf, s)) return {};
  if (s.size() > 64) return {};
  size_t i = 0;
  bool bracket = false;
  if (i < s.size() && s[i] == '[') {
    bracket = true;
    ++i;
  }
  skip_spaces(s, i);
  Decimal a;
  Decimal b;
  if (!parse_decimal(s, i, a)) return {};
  skip_spaces(s, i);
  if (i >= s.size() || s[i] != ',') return {};
  ++i;
  skip_spaces(s, i);
  if (!parse_decimal(s, i, b)) return {};
  skip_spaces(s, i);
  if (bracket) {
    if (i >= s.size() || s[i] != ']') return {};
    ++i;
  }
  if (i != s.size()) return {};
  if (a.decimals < 4 || b.decimals < 4) return {};
  const auto in_lat = [](int64_t v) { return v >= 3800000 && v <= 53600000; };
  const auto in_lon = [](int64_t v) { return v >= 73400000 && v <= 135100000; };
  int64_t lat = 0;
  int64_t lon = 0;
  if (in_lat(a.micro) && in_lon(b.micro)) {
    lat = a.micro;
    lon = b.micro;
  } else if (in_lon(a.micro) && in_lat(b.micro)) {
    lat = b.micro;
    lon = a.micro;
  } else {
    return {};
  }
  char canon[kMaxNormalized];
  size_t n = format_micro(lat, canon);
  canon[n++] = ',';
  n += format_micro(lon, canon + n);
  return accept(kStrengthChecked, false, IdType::kUnknown, std::string_view(canon, n));
}

// Trajectory markers (DOMAIN.md §3.8): NMEA 0183 position sentences, GPX
// track points, KML gx:Track. A GeoJSON LineString may be a road, not a
// person's track, so it needs context.
Verdict validate_trajectory(std::string_view s) noexcept {
  if (s.size() == 7 && s[0] == '$' && s[6] == ',') {
    const std::string_view talker = s.substr(1, 2);
    const std::string_view sentence = s.substr(3, 3);
    const bool talker_ok = talker == "GP" || talker == "GN" || talker == "GL" || talker == "GA" ||
                           talker == "GB" || talker == "BD";
    if (talker_ok && (sentence == "RMC" || sentence == "GGA")) {
      return accept(kStrengthChecked, false, IdType::kUnknown, {});
    }
    return {};
  }
  if (starts_with(s, "<trkpt") || starts_with(s, "<gx:Track")) {
    return accept(kStrengthChecked, false, IdType::kUnknown, {});
  }
  // "type" ws : ws "LineString"
  if (starts_with(s, "\"type\"")) {
    size_t i = 6;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i >= s.size() || s[i] != ':') return {};
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (s.substr(i) == "\"LineString\"") return accept(kStrengthFormat, true, IdType::kUnknown, {});
  }
  return {};
}

// ---------------------------------------------------------------------------
// Vehicle plates (GA 36; DOMAIN.md §3.6), UTF-8.

// Province abbreviations, 3 UTF-8 bytes each.
constexpr std::string_view kPlateProvinces[] = {
    "京", "津", "沪", "渝", "冀", "豫", "云", "辽", "黑", "湘", "皖", "鲁", "新", "苏", "浙", "赣",
    "鄂", "桂", "甘", "晋", "蒙", "陕", "吉", "闽", "贵", "粤", "青", "藏", "川", "宁", "琼"};
// Last character of special ordinary plates: trailer, coach, police, HK, Macao.
constexpr std::string_view kPlateSuffixes[] = {"挂", "学", "警", "港", "澳"};

constexpr bool is_plate_serial_char(char c) noexcept {
  return ascii::is_digit(c) || is_serial_letter(c);
}

Verdict validate_vehicle_plate(std::string_view s) noexcept {
  if (s.size() < 9 || s.size() > 16) return {};
  bool province = false;
  for (std::string_view p : kPlateProvinces) province = province || starts_with(s, p);
  if (!province || !is_serial_letter(s[3])) return {};
  char canon[16];
  size_t n = 0;
  for (size_t i = 0; i < 4; ++i) canon[n++] = s[i];
  std::string_view rest = s.substr(4);
  // One optional separator between the authority letter and the serial.
  if (starts_with(rest, "·")) {
    rest.remove_prefix(2);
  } else if (!rest.empty() && (rest[0] == ' ' || rest[0] == '-')) {
    rest.remove_prefix(1);
  }
  IdType type = IdType::kUnknown;
  if (rest.size() == 6) {
    // NEV: small [DF][A-HJ-NP-Z0-9]\d{4}; large \d{5}[DF].
    const bool small =
        (rest[0] == 'D' || rest[0] == 'F') && is_plate_serial_char(rest[1]) && all_digits(rest.substr(2));
    const bool large = all_digits(rest.substr(0, 5)) && (rest[5] == 'D' || rest[5] == 'F');
    if (!small && !large) return {};
    type = IdType::kPlateNev;
  } else if (rest.size() == 5 || rest.size() == 7) {
    for (size_t i = 0; i < 4; ++i)
      if (!is_plate_serial_char(rest[i])) return {};
    const std::string_view last = rest.substr(4);
    bool last_ok = last.size() == 1 && is_plate_serial_char(last[0]);
    for (std::string_view suffix : kPlateSuffixes) last_ok = last_ok || last == suffix;
    if (!last_ok) return {};
    type = IdType::kPlateOrdinary;
  } else {
    return {};
  }
  for (char ch : rest) canon[n++] = ch;
  return accept(kStrengthChecked, false, type, std::string_view(canon, n));
}

// ---------------------------------------------------------------------------
// Genomic and medical markers (DOMAIN.md §3.9): structural headers, strong.

constexpr bool is_base(char c) noexcept {
  switch (c) {
    case 'A':
    case 'C':
    case 'G':
    case 'T':
    case 'N':
    case 'a':
    case 'c':
    case 'g':
    case 't':
    case 'n':
      return true;
    default:
      return false;
  }
}

constexpr bool is_header_char(char c) noexcept {
  return c >= ' ' && c <= '~';
}

// Skips "\n" or "\r\n" at i.
bool skip_newline(std::string_view s, size_t& i) noexcept {
  if (i < s.size() && s[i] == '\r') ++i;
  if (i < s.size() && s[i] == '\n') {
    ++i;
    return true;
  }
  return false;
}

// VCF (hts-specs VCFv4.x): the fileformat line or the fixed header columns.
Verdict validate_vcf(std::string_view s) noexcept {
  if (starts_with(s, "##fileformat=VCFv4.") || starts_with(s, "#CHROM\tPOS\tID\tREF\tALT")) {
    return accept(kStrengthStrong, false, IdType::kUnknown, {});
  }
  return {};
}

// Minimum bases after a FASTA header: '>' starts many non-FASTA lines.
constexpr size_t kFastaMinBases = 30;
// FASTQ read line minimum (short reads are >= 20 bases in practice).
constexpr size_t kFastqMinBases = 20;

size_t count_bases(std::string_view s, size_t& i, bool upper_only) noexcept {
  size_t n = 0;
  while (i < s.size() && is_base(s[i]) && !(upper_only && ascii::is_lower(s[i]))) {
    ++i;
    ++n;
  }
  return n;
}

// '>' or '@' + an ID line (first character not a space) + line break.
bool skip_header_line(std::string_view s, size_t& i, char marker) noexcept {
  if (i < s.size() && s[i] == '\n') ++i;  // a pattern may anchor on the line break
  if (i >= s.size() || s[i] != marker) return false;
  ++i;
  if (i >= s.size() || s[i] == ' ' || !is_header_char(s[i])) return false;
  while (i < s.size() && is_header_char(s[i])) ++i;
  return skip_newline(s, i);
}

// Minimum bases of a full FASTA sequence line followed by more bases (the
// headerless form: the header may be far back or longer than the pattern).
constexpr size_t kFastaLineBases = 60;
constexpr size_t kFastaNextBases = 20;

// FASTA: '>' + ID line then >= 30 bases; or a >= 60-base line followed by
// another line of bases.
Verdict validate_fasta(std::string_view s) noexcept {
  size_t i = 0;
  if (!s.empty() && (s[0] == '>' || s[0] == '\n')) {
    if (!skip_header_line(s, i, '>') || count_bases(s, i, false) < kFastaMinBases) return {};
  } else {
    if (count_bases(s, i, false) < kFastaLineBases || !skip_newline(s, i)) return {};
    if (count_bases(s, i, false) < kFastaNextBases) return {};
  }
  if (i != s.size() && !skip_newline(s, i)) return {};
  return accept(kStrengthStrong, false, IdType::kUnknown, {});
}

// FASTQ 4-line records: "@id" / SEQ / "+[id]" / QUAL (as many Phred+33
// characters as bases). Two views: from the header (@id, SEQ >= 20, and the
// '+' line if visible), or around the separator (SEQ >= 20, '+' line, QUAL).
Verdict validate_fastq(std::string_view s) noexcept {
  size_t i = 0;
  const bool header = !s.empty() && (s[0] == '@' || s[0] == '\n');
  if (header && !skip_header_line(s, i, '@')) return {};
  const size_t bases = count_bases(s, i, true);
  if (bases < kFastqMinBases) return {};
  if (i == s.size()) return header ? accept(kStrengthStrong, false, IdType::kUnknown, {}) : Verdict{};
  if (!skip_newline(s, i) || i >= s.size() || s[i] != '+') return {};
  ++i;
  while (i < s.size() && is_header_char(s[i])) ++i;
  if (skip_newline(s, i)) {
    const size_t q0 = i;
    while (i < s.size() && s[i] >= '!' && s[i] <= '~') ++i;
    const size_t qual = i - q0;
    if (!header && qual == 0) return {};
    // From the header the whole read is visible: one quality character per
    // base (fewer only when the candidate ends inside the quality line).
    if (header && (i < s.size() ? qual != bases : qual > bases)) return {};
  } else if (!header) {
    return {};
  }
  if (i != s.size() && s[i] != '\r' && s[i] != '\n') return {};
  return accept(kStrengthStrong, false, IdType::kUnknown, {});
}

// HL7 v2: MSH segment with the standard delimiters.
Verdict validate_hl7(std::string_view s) noexcept {
  if (starts_with(s, "MSH|^~\\&")) return accept(kStrengthStrong, false, IdType::kUnknown, {});
  return {};
}

// DICOM PS3.10: 128-byte preamble then "DICM", then the file meta group
// (0002,xxxx). The preamble may be anything, so the marker alone also counts
// when it is followed by group 0002.
Verdict validate_dicom(std::string_view s) noexcept {
  constexpr size_t kPreamble = 128;
  if (s.size() >= kPreamble + 4 && s.substr(kPreamble, 4) == "DICM") {
    return accept(kStrengthStrong, false, IdType::kUnknown, {});
  }
  if (s.size() >= 6 && s.substr(0, 4) == "DICM" && s[4] == '\x02' && s[5] == '\x00') {
    return accept(kStrengthStrong, false, IdType::kUnknown, {});
  }
  return {};
}

// FHIR R4 JSON: "resourceType" ws : ws "Patient".
Verdict validate_fhir_patient(std::string_view s) noexcept {
  if (!starts_with(s, "\"resourceType\"")) return {};
  size_t i = 14;
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (i < s.size() && ws(s[i])) ++i;
  if (i >= s.size() || s[i] != ':') return {};
  ++i;
  while (i < s.size() && ws(s[i])) ++i;
  if (s.substr(i) != "\"Patient\"") return {};
  return accept(kStrengthStrong, false, IdType::kUnknown, {});
}

// A signature without a validator: the pattern is the whole evidence.
Verdict validate_none(std::string_view s) noexcept {
  if (s.empty()) return {};
  return accept(kStrengthFormat, false, IdType::kUnknown, s);
}

}  // namespace

size_t extend_left(ValidatorId id, std::string_view text, size_t begin) noexcept {
  if (id != ValidatorId::kEmail || begin > text.size() || begin == 0) return begin;
  // The e-mail pattern starts at '@' (a SOM pattern with a 64-byte local part
  // before it is "too large" for Hyperscan); the local part is read back here
  // on bytes the scanner already holds.
  size_t start = begin;
  while (start > 0 && begin - start < 64 && is_local_char(text[start - 1])) --start;
  // A dot-atom has no ".." and no leading dot: in prose such as
  // "see....me@x.cn" the address begins after the last run of dots.
  for (size_t i = start; i + 1 < begin; ++i) {
    if (text[i] == '.' && text[i + 1] == '.') start = i + 2;
  }
  while (start < begin && text[start] == '.') ++start;
  return start;
}

// Unified social credit code (GB 32100-2015): W_i = 3^(i-1) mod 31.
namespace {
constexpr std::string_view kUsccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
}  // namespace

int uscc_char_value(char c) noexcept {
  const size_t pos = kUsccAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

char uscc_check_character(std::string_view first17) noexcept {
  constexpr int kWeights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  if (first17.size() != 17) return '\0';
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) {
    const int v = uscc_char_value(first17[i]);
    if (v < 0) return '\0';
    sum += v * kWeights[i];
  }
  return kUsccAlphabet[static_cast<size_t>((31 - sum % 31) % 31)];
}

Verdict validate(ValidatorId id, std::string_view candidate, const ValidationContext& ctx) noexcept {
  if (candidate.size() > kMaxCandidate) return {};
  switch (id) {
    case ValidatorId::kNone:
      return validate_none(candidate);
    case ValidatorId::kResidentId:
      return validate_resident_id(candidate, ctx);
    case ValidatorId::kResidentId15:
      return validate_resident_id15(candidate, ctx);
    case ValidatorId::kBankCard:
      return validate_bank_card(candidate);
    case ValidatorId::kUscc:
      return validate_uscc(candidate);
    case ValidatorId::kMobile:
      return validate_mobile(candidate);
    case ValidatorId::kPassport:
      return validate_passport(candidate);
    case ValidatorId::kHkMacaoPermit:
      return validate_hk_macao_permit(candidate);
    case ValidatorId::kHomeReturnPermit:
      return validate_home_return_permit(candidate);
    case ValidatorId::kTaiwanPermit:
      return validate_taiwan_permit(candidate);
    case ValidatorId::kImei:
      return validate_imei(candidate);
    case ValidatorId::kEmail:
      return validate_email(candidate);
    case ValidatorId::kCoordinates:
      return validate_coordinates(candidate);
    case ValidatorId::kTrajectory:
      return validate_trajectory(candidate);
    case ValidatorId::kVehiclePlate:
      return validate_vehicle_plate(candidate);
    case ValidatorId::kVcf:
      return validate_vcf(candidate);
    case ValidatorId::kFasta:
      return validate_fasta(candidate);
    case ValidatorId::kFastq:
      return validate_fastq(candidate);
    case ValidatorId::kHl7:
      return validate_hl7(candidate);
    case ValidatorId::kDicom:
      return validate_dicom(candidate);
    case ValidatorId::kFhirPatient:
      return validate_fhir_patient(candidate);
    case ValidatorId::kCount:
      break;
  }
  return {};
}

std::string_view validator_name(ValidatorId id) noexcept {
  const auto i = static_cast<size_t>(id);
  return i < std::size(kValidatorNames) ? kValidatorNames[i] : std::string_view{};
}

std::optional<ValidatorId> validator_from_name(std::string_view name) noexcept {
  for (size_t i = 0; i < std::size(kValidatorNames); ++i) {
    if (kValidatorNames[i] == name) return static_cast<ValidatorId>(i);
  }
  return std::nullopt;
}

std::string_view id_type_name(IdType type) noexcept {
  const auto i = static_cast<size_t>(type);
  return i < std::size(kIdTypeNames) ? kIdTypeNames[i] : std::string_view{};
}

}  // namespace ftz::engine::classify
