// Judging the matches of a slice (DOMAIN.md §3, docs/signatures.md): exact
// boundaries, the validator, context bound to the candidate's own field, and
// one identifier per span. Runs on the worker after each hs_scan_stream slice;
// noexcept, no allocation (every buffer is sized by Scanner::create()).
//
// Context is the candidate's own record and field, never a neighbour's
// (docs/signatures.md "Context"; supersedes DOMAIN.md §3's ±40-character
// window):
//  - field name: JSON key (inside an array, the array's key), form key, CSV
//    column header, or the first cell of a key/value row ("card_no,6222...").
//    A streaming tracker (field_advance) follows the structure of the decoded
//    body and records where each field starts in the slice; the name is kept
//    as a range of the stream while its bytes are in the window and judged
//    lazily (only for candidates that need it), or when it would leave the
//    window (settle_fields);
//  - label: in the same value and on the same line, the text before the
//    candidate back to the previous value (a run of >= 4 digits), at most 32
//    bytes; after it, up to 16 bytes, unless a digit follows (then the text
//    is the next value's label);
//  - veto: a field or label that names a number that is not a personal
//    identifier (order, trade, trace, serial, QQ, timestamp...) rejects weak
//    numeric identifiers (strength <= 2: mobiles, cards without a strong
//    check, IMEI...) unless it also names the candidate's own type. Strong
//    identifiers (check character + semantic checks) are never vetoed: a field
//    name is the exporter's to choose.
#include "judge.hpp"

#include <emmintrin.h>

#include <algorithm>
#include <cstring>

#include "ftz/engine/classify/masking.hpp"

namespace ftz::engine::sig {
namespace {

constexpr size_t kMaxKey = 64;        // longest field name judged
constexpr size_t kLabelBytes = 32;    // label before a value, same line, same field
constexpr size_t kRightBytes = 16;    // text after a value: "E12345678 (passport)"
constexpr size_t kValueDigits = 4;    // a run of this many digits is a value, not a label
constexpr uint8_t kHeaderDigits = 6;  // a CSV first row with such a run is data, not a header

// ScanState::field_flags.
constexpr uint8_t kJsonInString = 1;
constexpr uint8_t kJsonEscape = 2;
constexpr uint8_t kJsonKey = 4;        // the open string is a key
constexpr uint8_t kJsonExpectKey = 8;  // in an object, after '{' or ','
constexpr uint8_t kFormInValue = 16;
constexpr uint8_t kMaxJsonArrayDepth = 32;  // json_arrays bits

constexpr bool is_alnum(uint8_t c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
constexpr bool is_digit(uint8_t c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr uint8_t lower(uint8_t c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c;
}

// Identifiers written in groups ("138 1234 5678", "6222 0212 3456 7890 128";
// catalog patterns allow one ' ', '-' or U+00B7 at group boundaries). Such a
// match must not be one part of a longer run grouped with the same separator:
// the 16-digit window of a 19-digit card, or "138 1234 5678" in
// "138 1234 5678 9". Contiguous matches are unaffected.

// Width of a separator at p (1 for ' ' and '-', 2 for UTF-8 U+00B7), 0 if none.
constexpr size_t separator_at(const uint8_t* p, size_t avail) noexcept {
  if (avail >= 1 && (p[0] == ' ' || p[0] == '-' || p[0] == '.')) return 1;  // '.': resident IDs (issue 8)
  if (avail >= 2 && p[0] == 0xC2 && p[1] == 0xB7) return 2;
  return 0;
}

// The lead byte of the first separator between two digits inside the match, 0
// when the match is contiguous.
uint8_t inner_separator(const uint8_t* m, size_t len) noexcept {
  for (size_t i = 1; i + 1 < len; ++i) {
    if (!is_digit(m[i - 1])) continue;
    const size_t w = separator_at(m + i, len - i);
    if (w != 0 && i + w < len && is_digit(m[i + w])) return m[i];
  }
  return 0;
}

enum class GroupEdge : uint8_t { kClear, kContinues, kUnknown };

// After the match: the same separator then a digit continues the run. kUnknown
// when the bytes needed are not visible yet (decided with the next chunk).
GroupEdge group_continues_right(const uint8_t* p, size_t avail, uint8_t sep) noexcept {
  if (avail == 0) return GroupEdge::kUnknown;
  if (p[0] != sep) return GroupEdge::kClear;
  const size_t w = sep == 0xC2 ? 2 : 1;
  if (avail < w + 1) return GroupEdge::kUnknown;
  if (separator_at(p, avail) != w) return GroupEdge::kClear;
  return is_digit(p[w]) ? GroupEdge::kContinues : GroupEdge::kClear;
}

// Before the match (`before` bytes held ahead of it): a digit then the same
// separator. Bytes no longer held count as clear.
bool group_continues_left(const uint8_t* m, size_t before, uint8_t sep) noexcept {
  const size_t w = sep == 0xC2 ? 2 : 1;
  if (before < w + 1) return false;
  const uint8_t* q = m - w;
  return separator_at(q, w) == w && q[0] == sep && is_digit(q[-1]);
}

// Field names every catalog gets in addition to its keywords (folded: lower
// case, ASCII punctuation dropped): the common spellings of the columns and
// keys of exports, which are not good near-match keywords ("phone" is).
struct FieldAlias {
  classify::ValidatorId validator;
  std::string_view name;
};
constexpr FieldAlias kFieldAliases[] = {
    {classify::ValidatorId::kResidentId, "idnumber"},
    {classify::ValidatorId::kResidentId, "identityno"},
    {classify::ValidatorId::kResidentId15, "idnumber"},
    {classify::ValidatorId::kBankCard, "cardnumber"},
    {classify::ValidatorId::kPassport, "passportnumber"},
    {classify::ValidatorId::kMobile, "mobile"},
    {classify::ValidatorId::kMobile, "手机"},
};

// Words of field names and labels that name numbers which are not personal
// identifiers: order, payment and logistics numbers, trace and request IDs,
// QQ numbers, times. ASCII words match whole words only ("ts" in "create_ts",
// not in "contacts"); Chinese ones anywhere. They veto weak numeric
// identifiers (an 11-digit QQ or order number with a mobile prefix, a
// Luhn-valid order number) unless the name also binds the candidate's type
// ("order_mobile", "订单手机号").
constexpr std::string_view kNotIdentifierWords[] = {
    "order",    "trade",   "txn",   "transaction", "serial",  "trace", "request", "req",
    "span",     "qq",      "ts",    "timestamp",   "time",    "seq",   "sku",     "invoice",
    "tracking", "waybill", "batch", "created",     "updated", "订单",  "交易",    "流水",
    "单号",     "时间",    "批次",  "运单",        "快递",    "发票",
};

constexpr bool is_ascii(std::string_view w) noexcept {
  return std::all_of(w.begin(), w.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; });
}
// Short ASCII keywords ("tel", "pan", "sfz", "imei") match whole words only:
// "pan" is not in "company" or "span_id", "tel" not in "hotel".
constexpr bool whole_word_only(std::string_view w) noexcept {
  return w.size() <= 4 && is_ascii(w);
}

}  // namespace

// A field name or label folded for matching: ASCII letters and digits
// lower-cased, UTF-8 bytes kept, every other byte dropped. `bound[i]`: a word
// starts or ends at i (a dropped byte, a camelCase hump, a letter/digit or
// ASCII/UTF-8 change), so "idNo", "id_no" and "ID-NO" all read as the words
// "id", "no".
struct detail::FoldedName {
  char text[kMaxKey];
  bool bound[kMaxKey + 1];
  size_t len = 0;
  uint64_t present[4] = {};  // bytes that occur in text: most words are ruled out by their first byte

  [[nodiscard]] bool has(uint8_t c) const noexcept { return (present[c >> 6] >> (c & 63) & 1u) != 0; }
};

namespace {

using detail::FoldedName;

void fold_name(const uint8_t* p, size_t n, FoldedName& out) noexcept {
  out.len = 0;
  out.present[0] = out.present[1] = out.present[2] = out.present[3] = 0;
  bool gap = true;
  uint8_t prev = 0;
  for (size_t i = 0; i < n && out.len < kMaxKey; ++i) {
    const uint8_t c = p[i];
    if (!is_alnum(c) && c < 0x80) {
      gap = true;
      continue;
    }
    const bool hump = prev >= 'a' && prev <= 'z' && c >= 'A' && c <= 'Z';
    const bool change = is_digit(prev) != is_digit(c) || (prev >= 0x80) != (c >= 0x80);
    out.bound[out.len] = gap || out.len == 0 || hump || change;
    const uint8_t l = lower(c);
    out.present[l >> 6] |= uint64_t{1} << (l & 63);
    out.text[out.len++] = static_cast<char>(l);
    prev = c;
    gap = false;
  }
  out.bound[out.len] = true;
}

// `word` occurs in the folded text; `whole`: only as a whole word (it starts
// and ends on a word boundary).
inline bool has_word(const FoldedName& f, std::string_view word, bool whole) noexcept {
  if (word.empty() || word.size() > f.len || !f.has(static_cast<uint8_t>(word[0]))) return false;
  const std::string_view text(f.text, f.len);
  for (size_t pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    if (!whole || (f.bound[pos] && f.bound[pos + word.size()])) return true;
  }
  return false;
}

bool names_not_identifier(const FoldedName& f) noexcept {
  for (const std::string_view w : kNotIdentifierWords) {
    if (f.has(static_cast<uint8_t>(w[0])) && has_word(f, w, is_ascii(w))) return true;
  }
  return false;
}

// Where a value's text ends or starts, by body kind (the JSON string quote,
// the form pair separators, the CSV cell separator). Lines end everywhere.
constexpr bool ends_field_left(ContentKind kind, uint8_t c) noexcept {
  switch (kind) {
    case ContentKind::kJson:
      return c == '"';
    case ContentKind::kForm:
      return c == '&' || c == '=';
    case ContentKind::kCsv:
      return c == ',';
    default:
      return false;
  }
}
constexpr bool ends_field_right(ContentKind kind, uint8_t c) noexcept {
  switch (kind) {
    case ContentKind::kJson:
      return c == '"' || c == ',' || c == '}' || c == ']';
    case ContentKind::kForm:
      return c == '&';
    case ContentKind::kCsv:
      return c == ',';
    default:
      return false;
  }
}

// A clause break inside a label: ',' ';' '|' and the full-width ，；。、 —
// a veto word before it belongs to another clause ("订单已付，13912345678").
size_t clause_start(const uint8_t* p, size_t n) noexcept {
  for (size_t i = n; i-- > 0;) {
    const uint8_t c = p[i];
    if (c == ',' || c == ';' || c == '|') return i + 1;
    if (i >= 2 && ((p[i - 2] == 0xEF && p[i - 1] == 0xBC && (c == 0x8C || c == 0x9B)) ||
                   (p[i - 2] == 0xE3 && p[i - 1] == 0x80 && (c == 0x82 || c == 0x81)))) {
      return i + 1;
    }
  }
  return 0;
}

// Rank of a class for "就高从严" (GB/T 43697-2024): the most sensitive wins.
constexpr uint8_t class_rank(DataClass c) noexcept {
  switch (c) {
    case DataClass::kOrgId:
      return 0;
    case DataClass::kPi:
      return 1;
    case DataClass::kSensitivePi:
      return 2;
    case DataClass::kImportant:
      return 3;
    case DataClass::kCore:
      return 4;
    default:
      return 0;
  }
}

bool all_digits(std::string_view s) noexcept {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return is_digit(static_cast<uint8_t>(c)); });
}

}  // namespace

void Scanner::init_context() {
  const auto meta = db_->signatures();
  alnum_boundary_.resize(meta.size());
  field_names_.resize(meta.size());
  class_rank_.resize(meta.size());
  for (size_t i = 0; i < meta.size(); ++i) {
    alnum_boundary_[i] = has_alnum_boundary(meta[i].validator) ? 1 : 0;
    field_names_[i] = meta[i].field_names;
    for (const FieldAlias& a : kFieldAliases) {
      if (a.validator == meta[i].validator) field_names_[i].emplace_back(a.name);
    }
    class_rank_[i] = class_rank(db_->specs()[i].data_class);
  }
  // Every field name of the first 64 signatures by its first byte: judging a
  // name looks only at the names that can start in it.
  names_by_first_.assign(256, {});
  for (size_t i = 0; i < std::min<size_t>(field_names_.size(), 64); ++i) {
    for (const std::string& w : field_names_[i]) {
      if (!w.empty()) names_by_first_[static_cast<uint8_t>(w[0])].push_back({static_cast<uint32_t>(i), w});
    }
  }
}

// --- Field tracking ------------------------------------------------------------

inline void Scanner::push_mark(uint64_t offset, const FieldName& name, uint16_t column,
                               uint8_t line) noexcept {
  // A mark that changes nothing (JSON: ',' '{' and a key's quote after a
  // value without a name) is not needed.
  const FieldMark& last = marks_count_ > 0 ? marks_[marks_count_ - 1] : mark_before_;
  if (name.len == 0 && last.name.len == 0 && last.column == column && last.line == line) return;
  // At most one mark per byte of the slice: marks_ holds a slice's worth.
  if (marks_count_ == marks_.size()) return;
  // Member by member: a whole-struct copy from a temporary built on the
  // stack stalled on store forwarding at every structural byte of a JSON
  // body (the tracker's largest cost on the bench capture, perf annotate).
  FieldMark& m = marks_[marks_count_++];
  m.offset = offset;
  m.name.ref = name.ref;
  m.name.len = name.len;
  m.name.flags = name.flags;
  m.column = column;
  m.line = line;
}

void Scanner::field_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept {
  marks_count_ = 0;
  mark_before_ = FieldMark{win_base + begin, st.field, st.csv_column, st.csv_line};
  switch (st.kind) {
    case ContentKind::kJson:
      json_advance(st, win_base, begin, end);
      break;
    case ContentKind::kForm:
      form_advance(st, win_base, begin, end);
      break;
    case ContentKind::kCsv:
      csv_advance(st, win_base, begin, end);
      break;
    default:
      break;
  }
}

// JSON: strings (escapes kept by the decoder, except \uXXXX), keys, ':' ','
// and the nesting of objects and arrays. The field of a value is the key
// before it; inside an array, the key of the array (the innermost one only:
// after an inner array closes, the outer array's elements have no name, which
// costs recall, never precision).
namespace {

// Bit i set when p[i] can change the JSON tracker's state: '"' ':' ','
// and, by one range test on c | 0x20, '[' '\\' ']' '{' '|' '}' ('|' is
// passed over). Digits and letters, most of a body, are never visited.
inline uint64_t json_structural64(const uint8_t* p) noexcept {
  uint64_t m = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i d = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x7B));
    const __m128i brackets = _mm_cmpeq_epi8(_mm_subs_epu8(d, _mm_set1_epi8(2)), _mm_setzero_si128());
    const __m128i punct = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8(':'))),
        _mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
    m |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(_mm_or_si128(brackets, punct))))
         << (16 * k);
  }
  return m;
}

}  // namespace

void Scanner::json_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept {
  // The tracker's state and the mark array in locals, written back at the
  // end: a mark written through marks_ may alias the state's members for the
  // compiler, which then reloaded them at every structural byte (perf
  // annotate: the tracker's largest cost on the bench capture).
  uint8_t f = st.field_flags;
  FieldName field = st.field;
  FieldName array_field = st.json_array_field;
  uint8_t depth = st.json_depth;
  uint32_t arrays = st.json_arrays;
  FieldMark* const marks = marks_.data();
  const size_t cap = marks_.size();
  size_t count = marks_count_;
  // push_mark() for JSON (column and line 0): a mark that changes nothing
  // is not needed; at most a slice's worth.
  const FieldMark& before = count > 0 ? marks[count - 1] : mark_before_;
  bool last_unnamed = before.name.len == 0 && before.column == 0 && before.line == 0;
  const auto mark = [&](uint64_t offset, const FieldName& name) {
    if ((name.len == 0 && last_unnamed) || count == cap) return;
    FieldMark& mk = marks[count++];
    mk.offset = offset;
    mk.name.ref = name.ref;
    mk.name.len = name.len;
    mk.name.flags = name.flags;
    mk.column = 0;
    mk.line = 0;
    last_unnamed = name.len == 0;
  };
  auto in_array = [&depth, &arrays] {
    return depth > 0 && depth <= kMaxJsonArrayDepth && (arrays >> (depth - 1) & 1u) != 0;
  };
  // Only structural bytes are visited (json_structural64); an escape
  // applies to the byte right after the backslash, visited or not.
  size_t escaped = begin;
  uint8_t last[64];
  for (size_t base = begin; base < end; base += 64) {
    const size_t n = std::min<size_t>(64, end - base);
    uint64_t m;
    if (n == 64) {
      m = json_structural64(win_ + base);
    } else {
      std::memset(last, 0, sizeof last);
      std::memcpy(last, win_ + base, n);
      m = json_structural64(last) & ((uint64_t{1} << n) - 1);
    }
    if ((f & kJsonEscape) != 0 && escaped < base) {
      f &= static_cast<uint8_t>(~kJsonEscape);  // the escaped byte was not structural
    }
    for (; m != 0; m &= m - 1) {
      const size_t i = base + static_cast<size_t>(__builtin_ctzll(m));
      const uint8_t c = win_[i];
      const uint64_t at = win_base + i;
      // A closing quote: the string ends; a key's name is its bytes.
      const auto close_string = [&](uint64_t quote_at) {
        f &= static_cast<uint8_t>(~kJsonInString);
        if ((f & kJsonKey) != 0) {
          f &= static_cast<uint8_t>(~kJsonKey);
          const uint64_t len = quote_at - field.ref;
          if (field.ref >= win_base && len > 0 && len <= kMaxKey) {
            field.len = static_cast<uint8_t>(len);
            field.flags = 0;
          } else {
            field = FieldName{};
          }
        }
      };
      if ((f & kJsonInString) != 0) {
        if ((f & kJsonEscape) != 0 && escaped < i) f &= static_cast<uint8_t>(~kJsonEscape);
        if ((f & kJsonEscape) != 0) {
          f &= static_cast<uint8_t>(~kJsonEscape);
        } else if (c == '\\') {
          f |= kJsonEscape;
          escaped = i + 1;
        } else if (c == '"') {
          close_string(at);
        }
        continue;
      }
      switch (c) {
        case '"': {
          f |= kJsonInString;
          if ((f & kJsonExpectKey) != 0 && !in_array()) {
            f = static_cast<uint8_t>((f | kJsonKey) & ~kJsonExpectKey);
            field = FieldName{};
            field.ref = at + 1;
            mark(at + 1, FieldName{});
          }
          // Most strings (keys, values) hold no structural byte: when the
          // next one in this word is a quote, it closes the string here (a
          // backslash would have been visited first), one visit instead of
          // two.
          const uint64_t rest = m & (m - 1);
          if (rest != 0) {
            const size_t j = base + static_cast<size_t>(__builtin_ctzll(rest));
            if (win_[j] == '"') {
              close_string(win_base + j);
              m = rest;  // the loop's step drops j
            }
          }
          break;
        }
        case ':':
          mark(at + 1, field);
          break;
        case ',':
          if (in_array()) {
            field = array_field;
          } else {
            f |= kJsonExpectKey;
            field = FieldName{};
          }
          mark(at + 1, field);
          break;
        case '{':
        case '[':
          if (depth < UINT8_MAX) ++depth;
          if (depth <= kMaxJsonArrayDepth) {
            const uint32_t bit = uint32_t{1} << (depth - 1);
            arrays = c == '[' ? (arrays | bit) : (arrays & ~bit);
          }
          if (c == '[') {
            array_field = field;  // elements belong to the array's key
            f &= static_cast<uint8_t>(~kJsonExpectKey);
          } else {
            f |= kJsonExpectKey;
            field = FieldName{};
          }
          mark(at + 1, field);
          break;
        case '}':
        case ']':
          if (depth > 0) --depth;
          if (c == ']') array_field = FieldName{};  // an outer array's key is not kept
          field = in_array() ? array_field : FieldName{};
          f &= static_cast<uint8_t>(~kJsonExpectKey);
          mark(at + 1, field);
          break;
        default:
          break;
      }
    }
  }
  // An escape whose byte came before the end is spent; one at the last
  // byte applies to the next call's first byte.
  if ((f & kJsonEscape) != 0 && escaped < end) f &= static_cast<uint8_t>(~kJsonEscape);
  st.field_flags = f;
  st.field = field;
  st.json_array_field = array_field;
  st.json_depth = depth;
  st.json_arrays = arrays;
  marks_count_ = count;
}

// Form bodies and request targets: key=value pairs separated by '&' (or a
// line break; '?' before the first '=' starts the query of a request target).
void Scanner::form_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept {
  uint8_t f = st.field_flags;
  for (size_t i = begin; i < end; ++i) {
    const uint8_t c = win_[i];
    const uint64_t at = win_base + i;
    if (c == '&' || c == '\n' || c == '\r' || (c == '?' && (f & kFormInValue) == 0)) {
      f &= static_cast<uint8_t>(~kFormInValue);
      st.field = FieldName{};
      st.field.ref = at + 1;
      push_mark(at + 1, FieldName{}, 0, 0);
    } else if (c == '=' && (f & kFormInValue) == 0) {
      f |= kFormInValue;
      const uint64_t len = at - st.field.ref;
      if (st.field.ref >= win_base && len > 0 && len <= kMaxKey) {
        st.field.len = static_cast<uint8_t>(len);
        st.field.flags = 0;
      } else {
        st.field = FieldName{};
      }
      push_mark(at + 1, st.field, 0, 0);
    }
  }
  st.field_flags = f;
}

// CSV: quotes, cells and rows. The first row binds columns to signatures
// (and vetoes columns such as order_no, qq, ts) unless it holds a long digit
// run (then it is data: a key/value export without a header). In every row
// the first cell names the second ("card_no,6222...", key/value rows); it
// names nothing in the next row.
void Scanner::csv_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept {
  for (size_t i = begin; i < end; ++i) {
    const uint8_t c = win_[i];
    if (is_digit(c)) {
      if (st.csv_digit_run < UINT8_MAX) ++st.csv_digit_run;
      if (st.csv_line == 0 && st.csv_digit_run >= kHeaderDigits && !st.csv_no_header) {
        st.csv_no_header = true;
        st.csv_bindings = 0;
        st.csv_veto_columns = 0;
      }
      continue;
    }
    st.csv_digit_run = 0;
    if (c == '"') {
      st.csv_quoted = !st.csv_quoted;
      continue;
    }
    if (st.csv_quoted || (c != ',' && c != '\n')) continue;
    const uint64_t at = win_base + i;
    const uint64_t cell_from = st.csv_cell_start;
    const bool cell_held = cell_from >= win_base && at > cell_from && at - cell_from <= kMaxKey;
    if (st.csv_line == 0 && !st.csv_no_header && cell_held) {
      const FieldVerdict v = name_verdict(win_ + (cell_from - win_base), at - cell_from);
      if (v.sigs != 0 && st.csv_bindings < kCsvBindings) {
        st.csv_bound_column[st.csv_bindings] = st.csv_column;
        st.csv_bound_mask[st.csv_bindings] = v.sigs;
        ++st.csv_bindings;
      }
      if (v.veto && st.csv_column < 64) st.csv_veto_columns |= uint64_t{1} << st.csv_column;
    }
    st.field = FieldName{};
    if (c == ',') {
      if (st.csv_column == 0 && cell_held) {
        st.field.ref = cell_from;
        st.field.len = static_cast<uint8_t>(at - cell_from);
      }
      if (st.csv_column < UINT16_MAX) ++st.csv_column;
    } else {
      st.csv_column = 0;
      st.csv_line = 1;
    }
    st.csv_cell_start = at + 1;
    push_mark(at + 1, st.field, st.csv_column, st.csv_line);
  }
}

// Field names about to leave the window (the next block keeps only the last
// kTailBytes) are judged while their bytes are here.
void Scanner::settle_fields(ScanState& st, uint64_t win_base, uint64_t keep_from) noexcept {
  for (FieldName* n : {&st.field, &st.json_array_field}) {
    if (n->len != 0 && (n->flags & kFieldJudged) == 0 && n->ref < keep_from) judge_name(*n, win_base);
  }
}

void Scanner::judge_name(FieldName& name, uint64_t win_base) const noexcept {
  if (name.len == 0 || (name.flags & kFieldJudged) != 0) return;
  FieldVerdict v;
  if (name.ref >= win_base) v = name_verdict(win_ + (name.ref - win_base), name.len);
  name.ref = v.sigs;
  name.flags = static_cast<uint8_t>(kFieldJudged | (v.veto ? kFieldVeto : 0));
}

// Bit i: the name names signature i (< 64). veto: it names a non-identifier
// number.
Scanner::FieldVerdict Scanner::name_verdict(const uint8_t* p, size_t n) const noexcept {
  static_assert(kMaxKey <= sizeof(NameCacheEntry::text), "every judged name fits the cache");
  if (n == 0 || n > sizeof(NameCacheEntry::text)) return name_verdict_uncached(p, n);
  NameCacheEntry& e = name_cache_[(n * 7 + p[0] * 3 + p[n - 1] + p[n / 2] * 5) % name_cache_.size()];
  if (e.len != n || std::memcmp(e.text, p, n) != 0) {
    e.verdict = name_verdict_uncached(p, n);
    e.len = static_cast<uint8_t>(n);
    std::memcpy(e.text, p, n);
  }
  return e.verdict;
}

Scanner::FieldVerdict Scanner::name_verdict_uncached(const uint8_t* p, size_t n) const noexcept {
  FieldVerdict v;
  FoldedName f;
  fold_name(p, n, f);
  if (f.len == 0) return v;
  uint64_t seen[4] = {};
  for (size_t i = 0; i < f.len; ++i) {
    const auto b = static_cast<uint8_t>(f.text[i]);
    if ((seen[b >> 6] >> (b & 63) & 1u) != 0) continue;
    seen[b >> 6] |= uint64_t{1} << (b & 63);
    for (const auto& [sig, w] : names_by_first_[b]) {
      if ((v.sigs >> sig & 1u) == 0 && has_word(f, w, whole_word_only(w))) v.sigs |= uint64_t{1} << sig;
    }
  }
  v.veto = names_not_identifier(f);
  return v;
}

// The field at stream offset `from` of the slice being judged: its name, and
// in CSV the header binding of its column.
Scanner::FieldVerdict Scanner::field_of(const ScanState& st, uint64_t from, uint64_t win_base) noexcept {
  FieldMark* m = &mark_before_;
  const auto it = std::upper_bound(marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(marks_count_),
                                   from, [](uint64_t off, const FieldMark& k) { return off < k.offset; });
  if (it != marks_.begin()) m = &*(it - 1);
  judge_name(m->name, win_base);
  FieldVerdict v;
  if (m->name.len != 0) {
    v.sigs = m->name.ref;
    v.veto = (m->name.flags & kFieldVeto) != 0;
  }
  if (st.kind == ContentKind::kCsv && m->line > 0 && !st.csv_no_header) {
    for (uint8_t b = 0; b < st.csv_bindings; ++b) {
      if (st.csv_bound_column[b] == m->column) v.sigs |= st.csv_bound_mask[b];
    }
    v.veto = v.veto || (m->column < 64 && (st.csv_veto_columns >> m->column & 1u) != 0);
  }
  return v;
}

// True when the folded text names signature `sig` (its keywords with '_',
// '-', ' ' removed, and the field aliases; short ASCII ones as whole words).
bool Scanner::names_signature(const detail::FoldedName& f, uint32_t sig) const noexcept {
  for (const std::string& w : field_names_[sig]) {
    if (has_word(f, w, whole_word_only(w))) return true;
  }
  return false;
}

// The label before a value: back from `from` to the line start, the start of
// the value's field, a tag ('<': "<orderNo>6222..."), the end of the previous
// value (a run of >= 4 digits), at most kLabelBytes. True when it names
// `sig`; `veto`: its last clause names a non-identifier number.
bool Scanner::label_left(ContentKind kind, uint32_t sig, uint64_t win_base, uint64_t from,
                         bool& veto) const noexcept {
  veto = false;
  if (from <= win_base) return false;
  const size_t end = from - win_base;
  const size_t limit = end > kLabelBytes ? end - kLabelBytes : 0;
  size_t lo = end;
  size_t digits = 0;
  while (lo > limit) {
    const uint8_t c = win_[lo - 1];
    if (c == '\n' || c == '\r' || c == '<' || ends_field_left(kind, c)) break;
    digits = is_digit(c) ? digits + 1 : 0;
    if (digits == kValueDigits) {
      // lo - 1 is the 4th digit from the right of a previous value: the
      // label starts after that value.
      lo += kValueDigits - 1;
      break;
    }
    --lo;
  }
  if (lo >= end) return false;
  const uint8_t* p = win_ + lo;
  const size_t n = end - lo;
  FoldedName f;
  const size_t clause = clause_start(p, n);
  fold_name(p + clause, n - clause, f);
  veto = names_not_identifier(f);
  if (clause != 0) fold_name(p, n, f);
  return names_signature(f, sig);
}

// The text right after a value, up to kRightBytes, to the end of its field,
// line or a tag ("E12345678 (passport)"). A digit before that ends it as the
// label of the next value: nothing. complete: false when it runs past the
// visible bytes (decided with the next chunk).
bool Scanner::label_right(ContentKind kind, uint32_t sig, uint64_t win_base, uint64_t vis_end, uint64_t to,
                          bool& complete) const noexcept {
  complete = true;
  const size_t begin = to - win_base;
  const size_t vis = vis_end - win_base;
  size_t n = 0;
  for (; n < kRightBytes; ++n) {
    if (begin + n >= vis) {
      complete = false;
      break;
    }
    const uint8_t c = win_[begin + n];
    if (c == '\n' || c == '\r' || c == '<' || ends_field_right(kind, c)) break;
    if (is_digit(c)) return false;
  }
  if (n == 0) return false;
  FoldedName f;
  fold_name(win_ + begin, n, f);
  if (!names_signature(f, sig)) return false;
  complete = true;
  return true;
}

// --- Judging -----------------------------------------------------------------------

namespace {
// Whether the identifier goes on past its end (`avail` visible bytes from
// there): an alphanumeric byte, or for an e-mail a '.' or '-' followed by
// one (the domain continues: Hyperscan also ends a match at "@mail.example"
// inside "@mail.example.cn", and that prefix is not a second address).
bool continues_right(const SignatureMeta& sm, const uint8_t* p, uint64_t avail) noexcept {
  if (avail == 0) return false;
  if (is_alnum(p[0])) return true;
  return sm.validator == classify::ValidatorId::kEmail && (p[0] == '.' || p[0] == '-') && avail >= 2 &&
         is_alnum(p[1]);
}
}  // namespace

void Scanner::judge(ScanState& st, const ScanContext& ctx, DetectionSink& sink, uint64_t win_base,
                    size_t vis_len, bool at_end) noexcept {
  const uint64_t vis_end = win_base + vis_len;
  const auto patterns = db_->patterns();
  const auto meta = db_->signatures();
  const classify::ValidationContext vctx{ctx.now_unix_s};
  size_t n = 0;

  auto visible = [&](uint64_t from, uint64_t to, uint32_t sig) {
    // The matched bytes, and for identifiers the byte before them, must still
    // be held (stream start counts as a clear boundary).
    const bool need_before = alnum_boundary_[sig] != 0 && from > 0;
    return from >= win_base + (need_before ? 1 : 0) && to <= vis_end && to > from;
  };

  // Candidates waiting from an earlier slice or chunk.
  const uint8_t npending = st.pending_count;
  st.pending_count = 0;
  for (uint8_t p = 0; p < npending; ++p) {
    const PendingSpan& ps = st.pending[p];
    for (uint8_t k = 0; k < ps.count && n < cands_.size(); ++k) {
      Candidate& c = cands_[n];
      c = Candidate{};
      c.from = ps.from;
      c.to = ps.from + ps.len;
      c.sig = ps.sig[k];
      c.satisfied = (ps.bound >> k & 1u) != 0;
      if (!visible(c.from, c.to, c.sig)) {
        ++counters_.truncated;
        continue;
      }
      if (alnum_boundary_[c.sig] != 0 &&
          continues_right(meta[c.sig], win_ + (c.to - win_base), vis_end - c.to)) {
        ++counters_.boundary_rejected;
        continue;
      }
      ++n;
    }
  }
  // New raw matches: boundaries first (cheap), then the validator.
  for (size_t m = 0; m < match_count_; ++m) {
    const RawMatch& r = matches_[m];
    const PatternMeta& pm = patterns[r.pattern];
    const uint32_t sig = pm.signature;
    ++sig_counters_[sig].hits;
    const uint64_t to = r.to;
    uint64_t from = pm.som ? r.from : to - pm.min_width;
    // E-mail patterns start at '@' (a 64-byte local part makes the SOM
    // pattern too large): the validator reads the local part back.
    if (meta[sig].validator == classify::ValidatorId::kEmail && from > win_base && from < vis_end) {
      const std::string_view text(reinterpret_cast<const char*>(win_), vis_len);
      from = win_base + classify::extend_left(classify::ValidatorId::kEmail, text, from - win_base);
    }
    if (to < from + 1 || to - from > kMaxPatternWidth || !visible(from, to, sig)) {
      ++counters_.truncated;
      continue;
    }
    if (alnum_boundary_[sig] != 0) {
      if (from > 0 && is_alnum(win_[from - 1 - win_base])) {
        ++counters_.boundary_rejected;
        continue;
      }
      if (continues_right(meta[sig], win_ + (to - win_base), vis_end - to)) {
        ++counters_.boundary_rejected;
        continue;
      }
    }
    if (n == detail::kMaxCandidates) {
      match_overflow_ = true;
      break;
    }
    Candidate& c = cands_[n++];
    c = Candidate{};
    c.from = from;
    c.to = to;
    c.sig = sig;
  }
  match_count_ = 0;

  // Validate, then context from the candidate's own field (file comment).
  for (size_t i = 0; i < n; ++i) {
    Candidate& c = cands_[i];
    const SignatureMeta& sm = meta[c.sig];
    const uint8_t* mp = win_ + (c.from - win_base);
    const std::string_view bytes(reinterpret_cast<const char*>(mp), c.to - c.from);
    bool group_pending = false;
    if (alnum_boundary_[c.sig] != 0) {
      if (const uint8_t sep = inner_separator(mp, c.to - c.from); sep != 0) {
        const GroupEdge right = group_continues_right(win_ + (c.to - win_base), vis_end - c.to, sep);
        if (right == GroupEdge::kContinues || group_continues_left(mp, c.from - win_base, sep)) {
          ++counters_.boundary_rejected;
          c.dropped = true;
          continue;
        }
        group_pending = right == GroupEdge::kUnknown;
      }
    }
    c.verdict = classify::validate(sm.validator, bytes, vctx);
    if (!c.verdict.valid) {
      ++counters_.invalid;
      c.dropped = true;
      continue;
    }
    c.pending_right = alnum_boundary_[c.sig] != 0 && (c.to == vis_end || group_pending) && !at_end;
    c.needs = c.verdict.needs_context || sm.context_required;
    if (c.satisfied) continue;
    // Weak numeric identifiers (mobiles, cards without a strong check, IMEI,
    // ...) are the ones a field can veto.
    const bool weak_numeric =
        c.verdict.strength <= classify::kStrengthChecked && all_digits(c.verdict.normalized_view());
    if (!c.needs && !weak_numeric) {
      // Strong or structural: counts anyway; the field name only ranks it
      // against other types of the same span (below).
      const FieldVerdict fv = field_of(st, c.from, win_base);
      c.satisfied = c.sig < 64 && (fv.sigs >> c.sig & 1u) != 0;
      continue;
    }
    const FieldVerdict fv = field_of(st, c.from, win_base);
    bool label_veto = false;
    c.satisfied = (c.sig < 64 && (fv.sigs >> c.sig & 1u) != 0) ||
                  label_left(st.kind, c.sig, win_base, c.from, label_veto);
    if (c.satisfied) continue;
    if (!c.needs) {
      if (fv.veto || label_veto) {
        ++counters_.field_veto;
        c.dropped = true;
      }
      continue;
    }
    bool complete = true;
    if (label_right(st.kind, c.sig, win_base, vis_end, c.to, complete)) {
      c.satisfied = true;
    } else if (!complete && !at_end) {
      c.pending_ctx = true;
    } else {
      ++counters_.no_context;
      c.dropped = true;
    }
  }

  // One span, one identifier: group the candidates by span.
  size_t live = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!cands_[i].dropped) order_[live++] = static_cast<uint32_t>(i);
  }
  std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(live),
            [this](uint32_t a, uint32_t b) {
              const Candidate& x = cands_[a];
              const Candidate& y = cands_[b];
              if (x.from != y.from) return x.from < y.from;
              if (x.to != y.to) return x.to < y.to;
              return x.sig < y.sig;
            });
  // The winner of a span (docs/signatures.md "One span, one identifier"):
  // the type its field or label names, then a candidate that counts (context
  // not needed or found), then strength, then the more sensitive class, then
  // catalog order. A group waits when its winner is not decided yet (right
  // boundary or right context not visible); members behind a decided winner
  // lose now, decided or not.
  auto rank_less = [this](const Candidate& x, const Candidate& y) {  // x ranks below y
    const bool xc = !x.needs || x.satisfied;
    const bool yc = !y.needs || y.satisfied;
    if (x.satisfied != y.satisfied) return y.satisfied;
    if (xc != yc) return yc;
    if (x.verdict.strength != y.verdict.strength) return x.verdict.strength < y.verdict.strength;
    if (class_rank_[x.sig] != class_rank_[y.sig]) return class_rank_[x.sig] < class_rank_[y.sig];
    return x.sig > y.sig;
  };
  size_t emitted = 0;
  for (size_t g = 0; g < live;) {
    size_t e = g + 1;
    const Candidate& first = cands_[order_[g]];
    while (e < live && cands_[order_[e]].from == first.from && cands_[order_[e]].to == first.to) ++e;
    if (e - g > 1) {
      // Several types on one span: a label can name one of them (a field
      // name was looked up above).
      for (size_t k = g; k < e; ++k) {
        Candidate& c = cands_[order_[k]];
        bool unused = false;
        if (!c.satisfied && !c.needs) c.satisfied = label_left(st.kind, c.sig, win_base, c.from, unused);
      }
      size_t best = g;
      for (size_t k = g + 1; k < e; ++k) {
        if (rank_less(cands_[order_[best]], cands_[order_[k]])) best = k;
      }
      std::swap(order_[g], order_[best]);
    }
    const Candidate& head = cands_[order_[g]];
    if (head.pending_right || head.pending_ctx) {
      if (st.pending_count < kPendingSpans && head.to - head.from <= UINT16_MAX) {
        PendingSpan& ps = st.pending[st.pending_count++];
        ps = PendingSpan{};
        ps.from = head.from;
        ps.len = static_cast<uint16_t>(head.to - head.from);
        for (size_t k = g; k < e && ps.count < 3; ++k) {
          const Candidate& c = cands_[order_[k]];
          if (c.satisfied) ps.bound = static_cast<uint8_t>(ps.bound | (1u << ps.count));
          ps.sig[ps.count++] = static_cast<uint16_t>(c.sig);
        }
      } else {
        counters_.pending_overflow += e - g;
      }
      g = e;
      continue;
    }
    // The same identifier seen through a longer pattern of the same signature
    // ("+86 139..." and "139..."): the inner span is not a second identifier.
    bool nested = false;
    for (size_t k = emitted > 4 ? emitted - 4 : 0; k < emitted; ++k) {
      const Candidate& prev = cands_[emitted_[k]];
      nested = nested || (prev.sig == head.sig && prev.from <= head.from && head.to <= prev.to);
    }
    if (nested) {
      ++sig_counters_[head.sig].suppressed;
    } else {
      // 就高从严 (GB/T 43697-2024): the detection's class is the most
      // sensitive of the types that count on this span, so a field name can
      // change the reported type but not lower the class.
      DataClass cls = DataClass::kCount;
      uint8_t rank = 0;
      for (size_t k = g; k < e; ++k) {
        const Candidate& c = cands_[order_[k]];
        if (c.needs && !c.satisfied) continue;
        const DataClass ck = c.verdict.minor ? DataClass::kSensitivePi : db_->specs()[c.sig].data_class;
        if (cls == DataClass::kCount || class_rank(ck) > rank) {
          cls = ck;
          rank = class_rank(ck);
        }
      }
      emit(ctx, sink, head, win_base, cls);
      if (emitted < emitted_.size()) emitted_[emitted++] = order_[g];
    }
    for (size_t k = g + 1; k < e; ++k) ++sig_counters_[cands_[order_[k]].sig].suppressed;
    g = e;
  }
}

void Scanner::emit(const ScanContext&, DetectionSink& sink, const Candidate& c, uint64_t win_base,
                   DataClass span_class) noexcept {
  const SignatureSpec& spec = db_->specs()[c.sig];
  const SignatureMeta& sm = db_->signatures()[c.sig];
  Detection d;
  d.signature = c.sig;
  d.sid = spec.sid;
  d.data_class = c.verdict.minor ? DataClass::kSensitivePi : spec.data_class;
  if (span_class != DataClass::kCount && class_rank(span_class) > class_rank(d.data_class))
    d.data_class = span_class;
  d.validator = sm.validator;
  d.id_type = c.verdict.id_type;
  d.strength = c.verdict.strength;
  d.minor = c.verdict.minor;
  d.by_context = c.needs && c.satisfied;
  d.stream_offset = c.from;
  d.length = static_cast<uint32_t>(c.to - c.from);
  d.candidate = std::string_view(reinterpret_cast<const char*>(win_ + (c.from - win_base)), c.to - c.from);
  d.normalized_len = c.verdict.normalized_len;
  std::memcpy(d.normalized, c.verdict.normalized, c.verdict.normalized_len);
  // Markers have no identifier to mask; an e-mail too long for the
  // normalized buffer is masked from the candidate when it fits.
  std::string_view to_mask = c.verdict.normalized_view();
  if (to_mask.empty() && sm.validator == classify::ValidatorId::kEmail) to_mask = d.candidate;
  if (!to_mask.empty()) {
    d.masked_len = static_cast<uint8_t>(classify::mask(sm.validator, to_mask, std::span<char>(d.masked)));
  }
  ++sig_counters_[c.sig].confirmed;
  sink.on_detection(d);
}

}  // namespace ftz::engine::sig
