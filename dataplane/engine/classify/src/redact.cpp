#include "ftz/engine/classify/redact.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "ftz/base/ascii.hpp"
#include "ftz/engine/classify/masking.hpp"
#include "ftz/engine/classify/normalize.hpp"
#include "ftz/engine/classify/validators.hpp"
#include "text_units.hpp"

namespace ftz::engine::classify {
namespace {

// Input bytes judged at once. Longer text is judged in windows that overlap
// by more than the longest encoded identifier (an 18-character ID written
// "%31%31..." with separators is about 110 bytes; an e-mail's local part is
// at most 64 characters), and a candidate touching a window edge that is not
// an edge of the text is left to the window that holds it whole.
constexpr size_t kWindow = 2048;
constexpr size_t kOverlap = 512;
// A context keyword counts when it starts this close before the candidate
// (the scanner's free-text fallback: a label on the same line).
constexpr size_t kContextReach = 64;
// Identifier lengths after normalisation: an 8-digit MTP number up to a
// 19-digit PAN (0086 + mobile is 15).
constexpr size_t kMinCandidate = 8;
constexpr size_t kMaxCandidate = 19;

// Validators tried on each digit/letter candidate, strongest evidence first;
// the first one that confirms decides the masking rule.
constexpr ValidatorId kRunValidators[] = {
    ValidatorId::kResidentId,   ValidatorId::kMobile,        ValidatorId::kBankCard,
    ValidatorId::kUscc,         ValidatorId::kImei,          ValidatorId::kResidentId15,
    ValidatorId::kPassport,     ValidatorId::kHkMacaoPermit, ValidatorId::kHomeReturnPermit,
    ValidatorId::kTaiwanPermit,
};

// Context keywords of the built-in catalog's signatures whose validators ask
// for context (examples/signatures/builtin.yaml), ASCII ones matched without
// regard to case. Short generic words of the catalog ("pan", "tel", "read")
// are left out: they occur inside ordinary words.
constexpr std::string_view kContextKeywords[] = {
    "passport",  "permit", "mtp",     "eep",         "home_return", "imei",   "deviceid",
    "device_id", "idcard", "id_card", "idno",        "id_no",       "sfzh",   "sfz",
    "card",      "acct",   "uscc",    "credit_code", "creditcode",  "huzhao", "护照",
    "通行证",    "回乡证", "台胞证",  "设备号",      "串号",        "身份证", "证件",
    "卡号",      "银行卡", "信用卡",  "账号",        "信用代码",    "税号",
};

using ascii::hex_value;

bool all_digits(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return ascii::is_digit(c); });
}

// "a.b.c.d" with four groups of 1-3 digits, each at most 255.
bool is_ipv4_literal(std::string_view s) noexcept {
  int groups = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = i;
    int value = 0;
    while (j < s.size() && ascii::is_digit(s[j]) && j - i < 4) value = value * 10 + digit_value(s[j++]);
    if (j == i || j - i > 3 || value > 255) return false;
    ++groups;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return groups == 4;
}

constexpr bool is_local_char(char c) noexcept {
  return ascii::is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
constexpr bool is_domain_char(char c) noexcept {
  return ascii::is_alnum(c) || c == '.' || c == '-';
}

// One window of the text, decoded (percent-escapes) and normalised, with the
// maps back to the input bytes.
class Window {
 public:
  Window(std::span<char> text, size_t begin, size_t end) noexcept
      : text_(text), base_(begin), open_left_(begin > 0), open_right_(end < text.size()) {
    decode(std::string_view(text.data() + begin, end - begin));
    const NormalizeResult r = normalize_digits(dec(), std::span<char>(norm_, dec_len_),
                                               std::span<uint32_t>(norm_dec_, dec_len_), true);
    norm_len_ = r.out_len;
  }

  size_t run() noexcept {
    runs();
    emails();
    coordinates();
    plates();
    return masked_;
  }

 private:
  std::string_view dec() const noexcept { return {dec_, dec_len_}; }

  // %XX is read as the byte it stands for; '+' between two digits as a space
  // (form encoding of "138+1234+5678"); everything else as written.
  void decode(std::string_view in) noexcept {
    size_t i = 0;
    while (i < in.size() && dec_len_ < kWindow) {
      char c = in[i];
      uint8_t width = 1;
      if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
        c = static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
        width = 3;
      } else if (c == '+' && i > 0 && i + 1 < in.size() && ascii::is_digit(in[i - 1]) &&
                 ascii::is_digit(in[i + 1])) {
        c = ' ';
      }
      dec_[dec_len_] = c;
      dec_in_[dec_len_] = static_cast<uint32_t>(i);
      dec_w_[dec_len_] = width;
      ++dec_len_;
      i += width;
    }
  }

  void hide_dec(size_t d) noexcept {
    for (size_t k = 0; k < dec_w_[d]; ++k) text_[base_ + dec_in_[d] + k] = '*';
  }
  size_t norm_width(size_t k) const noexcept { return detail::decode_unit(dec(), norm_dec_[k]).width; }
  // One past the last decoded byte of norm_[k].
  size_t norm_end(size_t k) const noexcept { return norm_dec_[k] + norm_width(k); }
  void hide_norm(size_t k) noexcept {
    for (size_t d = norm_dec_[k]; d < norm_end(k); ++d) hide_dec(d);
  }

  // A span [b, e) of decoded bytes that touches an edge of the window which
  // is not an edge of the text: its true extent is unknown here.
  bool at_open_edge(size_t b, size_t e) const noexcept {
    return (b == 0 && open_left_) || (e == dec_len_ && open_right_);
  }

  bool has_context(size_t start) const noexcept {
    const size_t from = start > kContextReach ? start - kContextReach : 0;
    const std::string_view before = dec().substr(from, start - from);
    for (std::string_view kw : kContextKeywords) {
      if (kw.size() > before.size()) continue;
      for (size_t i = 0; i + kw.size() <= before.size(); ++i) {
        size_t k = 0;
        while (k < kw.size() && ascii::to_lower(before[i + k]) == kw[k]) ++k;
        if (k == kw.size()) return true;
      }
    }
    return false;
  }

  // Digit/letter runs of the normalised text and their parts.
  void runs() noexcept {
    size_t i = 0;
    while (i < norm_len_) {
      if (!ascii::is_alnum(norm_[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < norm_len_ && ascii::is_alnum(norm_[j])) ++j;
      run(i, j);
      i = j;
    }
  }

  // The run norm_[i, j): candidates start and end where the run does or
  // where normalisation removed a separator (so "13812345678 13912345678",
  // one 22-digit run, still holds two numbers with clear boundaries).
  void run(size_t i, size_t j) noexcept {
    size_t ncuts = 0;
    cuts_[ncuts++] = static_cast<uint16_t>(i);
    for (size_t k = i + 1; k < j; ++k) {
      if (norm_dec_[k] != norm_end(k - 1)) cuts_[ncuts++] = static_cast<uint16_t>(k);
    }
    cuts_[ncuts++] = static_cast<uint16_t>(j);
    for (size_t a = 0; a + 1 < ncuts; ++a) {
      for (size_t b = a + 1; b < ncuts; ++b) {
        const size_t from = cuts_[a];
        const size_t to = cuts_[b];
        if (to - from > kMaxCandidate) break;
        if (to - from >= kMinCandidate) candidate(from, to);
      }
    }
  }

  void candidate(size_t from, size_t to) noexcept {
    const size_t dbegin = norm_dec_[from];
    const size_t dend = norm_end(to - 1);
    if (at_open_edge(dbegin, dend)) return;
    if (is_ipv4_literal(dec().substr(dbegin, dend - dbegin))) return;
    const std::string_view cand(norm_ + from, to - from);
    int context = -1;  // unknown until a verdict needs it
    for (const ValidatorId id : kRunValidators) {
      const Verdict v = validate(id, cand, ValidationContext{});
      if (!v.valid) continue;
      bool needs = v.needs_context || v.strength < kStrengthChecked;
      // An all-digit string passes the GB 32100 check 1 time in 31: an
      // organisation code (not PI) that is only that needs context.
      if (id == ValidatorId::kUscc && all_digits(cand)) needs = true;
      if (needs) {
        if (context < 0) context = has_context(dbegin) ? 1 : 0;
        if (context == 0) continue;
      }
      // A mobile written with its country code keeps the code in clear.
      const size_t skip = id == ValidatorId::kMobile && cand.size() > 11 ? cand.size() - 11 : 0;
      char out[kMaxCandidate];
      const size_t n = mask(id, cand.substr(skip), std::span<char>(out, sizeof out));
      for (size_t k = 0; k < n; ++k) {
        if (out[k] == '*') hide_norm(from + skip + k);
      }
      ++masked_;
      return;
    }
  }

  void emails() noexcept {
    const std::string_view d = dec();
    for (size_t at = d.find('@'); at != std::string_view::npos; at = d.find('@', at + 1)) {
      size_t b = at;
      while (b > 0 && at - b < 64 && is_local_char(d[b - 1])) --b;
      while (b < at && d[b] == '.') ++b;
      size_t e = at + 1;
      while (e < d.size() && e - at - 1 < 255 && is_domain_char(d[e])) ++e;
      while (e > at + 1 && (d[e - 1] == '.' || d[e - 1] == '-')) --e;
      if (b == at || e == at + 1 || at_open_edge(b, e)) continue;
      const std::string_view cand = d.substr(b, e - b);
      if (!validate(ValidatorId::kEmail, cand, ValidationContext{}).valid) continue;
      hide_masked(ValidatorId::kEmail, b, cand);
    }
  }

  // Hides the bytes mask() hides in the decoded span starting at b.
  void hide_masked(ValidatorId id, size_t b, std::string_view cand) noexcept {
    char out[320];
    const size_t n = mask(id, cand, std::span<char>(out, sizeof out));
    for (size_t k = 0; k < n; ++k) {
      if (out[k] == '*') hide_dec(b + k);
    }
    if (n > 0) ++masked_;
  }

  // "-?d{1,3}.d+" at i; returns the end, or i when there is none.
  size_t decimal(size_t i) const noexcept {
    const std::string_view d = dec();
    size_t k = i;
    if (k < d.size() && d[k] == '-') ++k;
    const size_t int_begin = k;
    while (k < d.size() && ascii::is_digit(d[k]) && k - int_begin < 4) ++k;
    if (k == int_begin || k - int_begin > 3 || k >= d.size() || d[k] != '.') return i;
    const size_t frac_begin = ++k;
    while (k < d.size() && ascii::is_digit(d[k])) ++k;
    return k > frac_begin ? k : i;
  }

  // Decimal pairs "31.2304,121.4737" (also "[lon, lat]").
  void coordinates() noexcept {
    const std::string_view d = dec();
    for (size_t i = 0; i < d.size(); ++i) {
      const char c = d[i];
      if (!ascii::is_digit(c) && c != '-') continue;
      if (i > 0 && (ascii::is_alnum(d[i - 1]) || d[i - 1] == '.' || d[i - 1] == '-')) continue;
      const size_t first = decimal(i);
      if (first == i) continue;
      size_t k = first;
      while (k < d.size() && d[k] == ' ') ++k;
      if (k >= d.size() || d[k] != ',') continue;
      ++k;
      while (k < d.size() && d[k] == ' ') ++k;
      const size_t e = decimal(k);
      if (e == k) continue;
      if (e < d.size() && (ascii::is_alnum(d[e]) || d[e] == '.')) continue;
      if (at_open_edge(i, e)) continue;
      const std::string_view cand = d.substr(i, e - i);
      if (!validate(ValidatorId::kCoordinates, cand, ValidationContext{}).valid) continue;
      hide_masked(ValidatorId::kCoordinates, i, cand);
      i = e;
    }
  }

  // Plates: a province character (3 UTF-8 bytes) and an authority letter,
  // then the serial; the longest form the validator accepts.
  void plates() noexcept {
    const std::string_view d = dec();
    for (size_t i = 0; i + 9 <= d.size(); ++i) {
      const auto lead = static_cast<uint8_t>(d[i]);
      if (lead < 0xE4 || lead > 0xE9 || !ascii::is_upper(d[i + 3])) continue;
      if (i > 0 && ascii::is_alnum(d[i - 1])) continue;
      for (size_t e = std::min(d.size(), i + 16); e >= i + 9; --e) {
        if (e < d.size() && ascii::is_alnum(d[e])) continue;
        if (at_open_edge(i, e)) continue;
        const std::string_view cand = d.substr(i, e - i);
        if (!validate(ValidatorId::kVehiclePlate, cand, ValidationContext{}).valid) continue;
        hide_masked(ValidatorId::kVehiclePlate, i, cand);
        i = e - 1;
        break;
      }
    }
  }

  std::span<char> text_;
  size_t base_;
  bool open_left_;
  bool open_right_;
  char dec_[kWindow];
  uint32_t dec_in_[kWindow];  // window-relative input offset of dec_[i]
  uint8_t dec_w_[kWindow];    // its input bytes: 1, or 3 for %XX
  size_t dec_len_ = 0;
  char norm_[kWindow];
  uint32_t norm_dec_[kWindow];  // offset in dec_ of norm_[i]
  size_t norm_len_ = 0;
  uint16_t cuts_[kWindow + 1];
  size_t masked_ = 0;
};

// Every identifier needs one of these bytes: a digit (all of them but a
// plate or an e-mail without one), '@' (e-mail), '%' (an escape for either),
// a full-width form (EF) or a CJK lead byte (a plate's province). Most
// strings (methods, content types, names) have none and cost one scan.
bool may_hold_identifier(std::span<const char> text) noexcept {
  for (const char c : text) {
    const auto b = static_cast<uint8_t>(c);
    if ((b >= '0' && b <= '9') || b == '@' || b == '%' || (b >= 0xE4 && b <= 0xE9) || b == 0xEF) return true;
  }
  return false;
}

}  // namespace

size_t mask_identifiers(std::span<char> text) noexcept {
  if (!may_hold_identifier(text)) return 0;
  size_t masked = 0;
  size_t begin = 0;
  for (;;) {
    const size_t end = std::min(text.size(), begin + kWindow);
    Window w(text, begin, end);
    masked += w.run();
    if (end == text.size()) break;
    begin = end - kOverlap;
  }
  return masked;
}

}  // namespace ftz::engine::classify
