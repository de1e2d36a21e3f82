#include "ftz/engine/signatures/database.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

namespace ftz::engine::sig {
namespace {

// Serialized layout (little endian, this build's byte order; bundles are
// produced and consumed on x86-64):
//   "FTZSIGDB" | u32 format | u32 patterns | u64 catalog fingerprint
//   | patterns x { u32 signature, u16 pattern, u8 som, u8 placement, u32 min, u32 max }
//   | u32 hs length | hs bytes | u32 run-rules length | bytes
//   | u32 grouped length | bytes | u32 CRC-32 of everything before it
constexpr char kMagic[8] = {'F', 'T', 'Z', 'S', 'I', 'G', 'D', 'B'};
// 2: pattern flag byte 7 = run rule, and a second Hyperscan section (the
// run rules' BLOCK database, empty when there are none).
// 3: byte 7 is the placement (0 stream, 1 run rule, 2 grouped) and a third
// section holds the grouped patterns' BLOCK database.
constexpr uint32_t kFormat = 3;
constexpr uint8_t kPlacedInStream = 0;
constexpr uint8_t kPlacedRunRule = 1;
constexpr uint8_t kPlacedGrouped = 2;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;
constexpr size_t kPatternBytes = 16;

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::string hs_error_text(hs_error_t e) {
  switch (e) {
    case HS_SUCCESS:
      return "success";
    case HS_INVALID:
      return "invalid parameter or not a Hyperscan database (HS_INVALID)";
    case HS_NOMEM:
      return "out of memory (HS_NOMEM)";
    case HS_SCAN_TERMINATED:
      return "scan terminated (HS_SCAN_TERMINATED)";
    case HS_COMPILER_ERROR:
      return "compiler error (HS_COMPILER_ERROR)";
    case HS_DB_VERSION_ERROR:
      return "built by another Hyperscan version (HS_DB_VERSION_ERROR)";
    case HS_DB_PLATFORM_ERROR:
      return "built for a platform this CPU does not support (HS_DB_PLATFORM_ERROR)";
    case HS_DB_MODE_ERROR:
      return "wrong database mode (HS_DB_MODE_ERROR)";
    case HS_BAD_ALIGN:
      return "misaligned (HS_BAD_ALIGN)";
    case HS_BAD_ALLOC:
      return "allocator misaligned (HS_BAD_ALLOC)";
    case HS_SCRATCH_IN_USE:
      return "scratch in use (HS_SCRATCH_IN_USE)";
    case HS_ARCH_ERROR:
      return "CPU not supported by Hyperscan (HS_ARCH_ERROR)";
    case HS_INSUFFICIENT_SPACE:
      return "insufficient space (HS_INSUFFICIENT_SPACE)";
    default:
      return "Hyperscan error " + std::to_string(e);
  }
}

std::string pattern_name(const SignatureSpec& s, size_t p) {
  return "signature " + quoted(s.name) + " pattern " + std::to_string(p) + " (" + s.patterns[p].regex + ")";
}

unsigned flags_of(const SignaturePattern& p) {
  unsigned f = HS_FLAG_DOTALL;
  if (p.utf8) f |= HS_FLAG_UTF8;
  if (p.caseless) f |= HS_FLAG_CASELESS;
  if (p.som) f |= HS_FLAG_SOM_LEFTMOST;
  return f;
}

// FNV-1a 64 over everything that changes what a pattern id means or how a
// match is judged.
uint64_t fingerprint(std::span<const SignatureSpec> specs) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (char c : s) {
      h ^= static_cast<uint8_t>(c);
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const SignatureSpec& s : specs) {
    mix(s.name);
    mix(s.validator);
    mix(s.context_required ? "1" : "0");
    for (const SignaturePattern& p : s.patterns) {
      mix(p.regex);
      mix(std::to_string(flags_of(p)));
    }
  }
  return h;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

std::string fold_field_name(std::string_view s) {
  std::string out;
  for (char c : lower_ascii(s)) {
    if (c != '_' && c != '-' && c != ' ') out.push_back(c);
  }
  return out;
}

struct Flat {
  // Every pattern's meta; exprs/flags/ids: what the streaming (or, for
  // baselines, the block) database compiles; run_*: the run rules, as
  // "^(?:regex)$" for the runs database.
  std::vector<const char*> exprs;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  std::vector<PatternMeta> meta;
  std::vector<std::string> run_regex;
  std::vector<const char*> run_exprs;
  std::vector<unsigned> run_flags;
  std::vector<unsigned> run_ids;
  std::vector<const char*> grouped_exprs;
  std::vector<unsigned> grouped_flags;
  std::vector<unsigned> grouped_ids;
  bool any_som = false;
};

enum class Section { kStream, kRuns, kGrouped };

// Checks every pattern on its own (hs_expression_info) so errors name the
// signature and pattern, and derives the widths the scanner relies on. Run
// rules (is_run_pattern) go to run_* and grouped patterns
// (is_grouped_pattern) to grouped_* when `run_rules` (the scanner's
// databases); a catalog of nothing else keeps them in the streaming database
// (Hyperscan needs one pattern there).
tl::expected<Flat, std::string> flatten(std::span<const SignatureSpec> specs, bool run_rules) {
  Flat f;
  if (specs.empty()) return tl::unexpected(std::string("signature catalog is empty"));
  if (specs.size() > std::numeric_limits<uint16_t>::max()) {
    return tl::unexpected(std::string("signature catalog has more than 65535 signatures"));
  }
  for (size_t si = 0; si < specs.size(); ++si) {
    const SignatureSpec& s = specs[si];
    if (!classify::validator_from_name(s.validator)) {
      return tl::unexpected("signature " + quoted(s.name) + ": unknown validator " + quoted(s.validator));
    }
    if (s.patterns.empty()) return tl::unexpected("signature " + quoted(s.name) + ": no patterns");
    const bool bounded = has_alnum_boundary(*classify::validator_from_name(s.validator));
    for (size_t pi = 0; pi < s.patterns.size(); ++pi) {
      const SignaturePattern& p = s.patterns[pi];
      hs_expr_info_t* info = nullptr;
      hs_compile_error_t* err = nullptr;
      const unsigned flags = flags_of(p);
      if (hs_expression_info(p.regex.c_str(), flags, &info, &err) != HS_SUCCESS) {
        std::string msg = pattern_name(s, pi) + ": " + (err != nullptr ? err->message : "invalid pattern");
        hs_free_compile_error(err);
        return tl::unexpected(std::move(msg));
      }
      const unsigned min_w = info->min_width;
      const unsigned max_w = info->max_width;
      std::free(info);
      if (min_w == 0) return tl::unexpected(pattern_name(s, pi) + ": can match an empty string");
      if (max_w == UINT_MAX || max_w > kMaxPatternWidth) {
        return tl::unexpected(pattern_name(s, pi) + ": match width is unbounded or above " +
                              std::to_string(kMaxPatternWidth) + " bytes; bound it (e.g. {1,64})");
      }
      if (!p.som && min_w != max_w) {
        return tl::unexpected(pattern_name(s, pi) + ": variable width " + std::to_string(min_w) + ".." +
                              std::to_string(max_w) +
                              " bytes without SOM; set `som: true` (or split it into fixed-width patterns)");
      }
      const bool run = run_rules && bounded && is_run_pattern(p, min_w);
      const bool grouped = run_rules && !run && is_grouped_pattern(p, max_w);
      f.meta.push_back(PatternMeta{static_cast<uint32_t>(si), static_cast<uint16_t>(pi), p.som, min_w, max_w,
                                   run, grouped});
    }
  }
  if (std::all_of(f.meta.begin(), f.meta.end(),
                  [](const PatternMeta& m) { return m.run_rule || m.grouped; })) {
    for (PatternMeta& m : f.meta) m.run_rule = m.grouped = false;
  }
  f.run_regex.reserve(f.meta.size());
  for (size_t i = 0; i < f.meta.size(); ++i) {
    const PatternMeta& m = f.meta[i];
    const SignaturePattern& p = specs[m.signature].patterns[m.pattern];
    if (m.run_rule) {
      f.run_regex.push_back("^(?:" + p.regex + ")$");
      f.run_exprs.push_back(f.run_regex.back().c_str());
      f.run_flags.push_back(flags_of(p) | HS_FLAG_MULTILINE);
      f.run_ids.push_back(static_cast<unsigned>(i));
    } else if (m.grouped) {
      f.grouped_exprs.push_back(p.regex.c_str());
      f.grouped_flags.push_back(flags_of(p));
      f.grouped_ids.push_back(static_cast<unsigned>(i));
    } else {
      f.exprs.push_back(p.regex.c_str());
      f.flags.push_back(flags_of(p));
      f.ids.push_back(static_cast<unsigned>(i));
      f.any_som = f.any_som || p.som;
    }
  }
  return f;
}

tl::expected<HsDatabasePtr, std::string> compile_flat(std::span<const SignatureSpec> specs, const Flat& f,
                                                      unsigned mode, const hs_platform_info_t* platform,
                                                      Section section = Section::kStream) {
  const auto& exprs = section == Section::kRuns      ? f.run_exprs
                      : section == Section::kGrouped ? f.grouped_exprs
                                                     : f.exprs;
  const auto& flags = section == Section::kRuns      ? f.run_flags
                      : section == Section::kGrouped ? f.grouped_flags
                                                     : f.flags;
  const auto& ids = section == Section::kRuns      ? f.run_ids
                    : section == Section::kGrouped ? f.grouped_ids
                                                   : f.ids;
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                         static_cast<unsigned>(exprs.size()), mode, platform, &db, &err);
  if (rc != HS_SUCCESS) {
    std::string msg;
    if (err != nullptr && err->expression >= 0 && static_cast<size_t>(err->expression) < ids.size()) {
      const PatternMeta& m = f.meta[ids[static_cast<size_t>(err->expression)]];
      msg = pattern_name(specs[m.signature], m.pattern) + ": " + err->message;
    } else {
      msg = std::string("signature database: ") + (err != nullptr ? err->message : hs_error_text(rc).c_str());
    }
    hs_free_compile_error(err);
    return tl::unexpected(std::move(msg));
  }
  return HsDatabasePtr(db);
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

uint32_t crc_of(const uint8_t* p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed in pieces.
  while (n > 0) {
    const uInt piece = n > (1u << 30) ? (1u << 30) : static_cast<uInt>(n);
    c = crc32(c, p, piece);
    p += piece;
    n -= piece;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace

bool is_run_pattern(const SignaturePattern& pattern, uint32_t width) {
  if (pattern.som || pattern.utf8 || width == 0 || width > kMaxRunWidth) return false;
  const std::string_view re = pattern.regex;
  const auto alnum = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  };
  const auto kind = [](char c) { return c <= '9' ? 0 : (c <= 'Z' ? 1 : 2); };
  size_t i = 0;
  while (i < re.size()) {
    const char c = re[i];
    if (alnum(c) || c == ')' || c == '|' || c == '?') {
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= re.size() || re[i + 1] != 'd') return false;
      i += 2;
    } else if (c == '(') {
      if (re.compare(i, 3, "(?:") != 0) return false;
      i += 3;
    } else if (c == '{') {
      for (++i; i < re.size() && re[i] != '}'; ++i) {
        if (!(re[i] >= '0' && re[i] <= '9') && re[i] != ',') return false;
      }
      if (i >= re.size()) return false;
      ++i;
    } else if (c == '[') {
      // A class of letters, digits, \d and ranges within one kind; no '^'.
      for (++i; i < re.size() && re[i] != ']';) {
        if (re.compare(i, 2, "\\d") == 0) {
          i += 2;
        } else if (!alnum(re[i])) {
          return false;
        } else if (i + 2 < re.size() && re[i + 1] == '-' && re[i + 2] != ']') {
          if (!alnum(re[i + 2]) || kind(re[i]) != kind(re[i + 2]) || re[i + 2] < re[i]) return false;
          i += 3;
        } else {
          ++i;
        }
      }
      if (i >= re.size()) return false;
      ++i;
    } else {
      return false;
    }
  }
  return true;
}

namespace {

// is_grouped_pattern's proof. A small automaton reads a string byte class by
// byte class and ends in kFound once it has seen a digit, a separator and a
// digit in a row; a regex's meaning for it is a relation: for each state the
// set of states the regex's strings can lead to (a 5-bit mask per state).
// Concatenation composes relations, alternation joins them, a class joins
// its bytes' steps. The pattern is grouped when every string it matches
// leads from the start to kFound.
enum GroupState : uint8_t { kNone, kDigit, kDigitSep, kDigitC2, kFound, kGroupStates };
enum ByteClass : uint8_t { kOther, kDigitByte, kSepByte, kC2Byte, kB7Byte };
using Relation = std::array<uint8_t, kGroupStates>;

ByteClass byte_class(uint8_t c) {
  if (c >= '0' && c <= '9') return kDigitByte;
  if (c == ' ' || c == '-' || c == '.') return kSepByte;
  if (c == 0xC2) return kC2Byte;
  if (c == 0xB7) return kB7Byte;
  return kOther;
}

uint8_t step(uint8_t s, ByteClass c) {
  if (s == kFound) return kFound;
  switch (c) {
    case kDigitByte:
      return s == kDigitSep ? kFound : kDigit;
    case kSepByte:
      return s == kDigit ? kDigitSep : kNone;
    case kC2Byte:
      return s == kDigit ? kDigitC2 : kNone;
    case kB7Byte:
      return s == kDigitC2 ? kDigitSep : kNone;
    default:
      return kNone;
  }
}

constexpr Relation kIdentity = {1, 2, 4, 8, 16};

Relation of_classes(uint8_t classes) {  // bit per ByteClass
  Relation r{};
  for (uint8_t s = 0; s < kGroupStates; ++s) {
    for (uint8_t c = 0; c < 5; ++c) {
      if (classes >> c & 1u) r[s] |= static_cast<uint8_t>(1u << step(s, static_cast<ByteClass>(c)));
    }
  }
  return r;
}

Relation then(const Relation& a, const Relation& b) {
  Relation r{};
  for (uint8_t s = 0; s < kGroupStates; ++s) {
    for (uint8_t t = 0; t < kGroupStates; ++t) {
      if (a[s] >> t & 1u) r[s] |= b[t];
    }
  }
  return r;
}

Relation either(const Relation& a, const Relation& b) {
  Relation r{};
  for (uint8_t s = 0; s < kGroupStates; ++s) r[s] = static_cast<uint8_t>(a[s] | b[s]);
  return r;
}

// Recursive descent over the regex subset is_grouped_pattern accepts;
// `ok` turns false on anything else.
struct GroupedParser {
  std::string_view re;
  size_t i = 0;
  bool ok = true;
  std::bitset<256> bytes;  // every byte a matched string can hold

  bool at(char c) const { return i < re.size() && re[i] == c; }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // One byte or \d inside or outside a class: its class bits; sets `byte`
  // for a single byte (ranges need it).
  uint8_t escape_or_byte(int& byte) {
    const uint8_t classes = escape_or_byte_class(byte);
    if (byte >= 0) bytes.set(static_cast<size_t>(byte));
    if (classes == (1u << kDigitByte) && byte < 0) {
      for (char c = '0'; c <= '9'; ++c) bytes.set(static_cast<uint8_t>(c));
    }
    return classes;
  }

  uint8_t escape_or_byte_class(int& byte) {
    byte = -1;
    if (re[i] != '\\') {
      byte = static_cast<uint8_t>(re[i++]);
      return static_cast<uint8_t>(1u << byte_class(static_cast<uint8_t>(byte)));
    }
    if (i + 1 >= re.size()) return ok = false, 0;
    const char e = re[i + 1];
    if (e == 'd') {
      i += 2;
      return 1u << kDigitByte;
    }
    if (e == 'x' && i + 3 < re.size() && hex(re[i + 2]) >= 0 && hex(re[i + 3]) >= 0) {
      byte = hex(re[i + 2]) * 16 + hex(re[i + 3]);
      i += 4;
      return static_cast<uint8_t>(1u << byte_class(static_cast<uint8_t>(byte)));
    }
    // An escaped punctuation byte is itself; letters and digits (\s, \b, \1)
    // mean something else.
    if ((e >= '0' && e <= '9') || (e >= 'A' && e <= 'Z') || (e >= 'a' && e <= 'z')) return ok = false, 0;
    byte = static_cast<uint8_t>(e);
    i += 2;
    return static_cast<uint8_t>(1u << byte_class(static_cast<uint8_t>(byte)));
  }

  uint8_t byte_set() {  // after '['
    if (at('^')) return ok = false, 0;
    uint8_t classes = 0;
    bool first = true;
    while (ok && i < re.size() && (first || re[i] != ']')) {
      first = false;
      int lo = -1;
      classes |= escape_or_byte(lo);
      if (ok && at('-') && i + 1 < re.size() && re[i + 1] != ']') {
        ++i;
        int hi = -1;
        escape_or_byte(hi);
        if (lo < 0 || hi < lo) return ok = false, 0;
        for (int c = lo; c <= hi; ++c) bytes.set(static_cast<size_t>(c));
        for (int c = lo; c <= hi; ++c)
          classes |= static_cast<uint8_t>(1u << byte_class(static_cast<uint8_t>(c)));
      }
    }
    if (!at(']')) return ok = false, 0;
    ++i;
    return classes;
  }

  Relation atom() {
    if (at('(')) {
      if (re.compare(i, 3, "(?:") != 0) return ok = false, Relation{};
      i += 3;
      Relation r = alternation();
      if (!at(')')) return ok = false, Relation{};
      ++i;
      return r;
    }
    if (at('[')) {
      ++i;
      return of_classes(byte_set());
    }
    if (std::string_view("^$.*+?{}|)]").find(re[i]) != std::string_view::npos) return ok = false, Relation{};
    int byte = -1;
    return of_classes(escape_or_byte(byte));
  }

  size_t number() {
    size_t n = 0;
    const size_t start = i;
    while (i < re.size() && re[i] >= '0' && re[i] <= '9' && n < 1000)
      n = n * 10 + static_cast<size_t>(re[i++] - '0');
    if (i == start || n >= 1000) ok = false;
    return n;
  }

  Relation quantified(const Relation& a) {
    size_t lo = 1;
    size_t hi = 1;
    if (at('?')) {
      ++i;
      lo = 0;
    } else if (at('{')) {
      ++i;
      lo = hi = number();
      if (at(',')) {
        ++i;
        hi = number();
      }
      if (!at('}') || hi < lo) return ok = false, Relation{};
      ++i;
    } else {
      return a;
    }
    if (at('?') || at('+') || at('*') || at('{')) return ok = false, Relation{};
    Relation r = kIdentity;
    for (size_t k = 0; k < lo; ++k) r = then(r, a);
    const Relation opt = either(kIdentity, a);
    for (size_t k = lo; k < hi; ++k) r = then(r, opt);
    return r;
  }

  Relation sequence() {
    Relation r = kIdentity;
    while (ok && i < re.size() && !at('|') && !at(')')) r = then(r, quantified(atom()));
    return r;
  }

  Relation alternation() {
    Relation r = sequence();
    while (ok && at('|')) {
      ++i;
      r = either(r, sequence());
    }
    return r;
  }
};

}  // namespace

std::optional<std::bitset<256>> grouped_alphabet(const SignaturePattern& pattern, uint32_t max_width) {
  if (!pattern.som || pattern.utf8 || pattern.caseless || max_width == 0 || max_width > kMaxGroupedWidth) {
    return std::nullopt;
  }
  GroupedParser parser{pattern.regex, 0, true, {}};
  const Relation r = parser.alternation();
  if (!parser.ok || parser.bytes.test('\n') || parser.i != pattern.regex.size() ||
      r[kNone] != (1u << kFound)) {
    return std::nullopt;
  }
  return parser.bytes;
}

bool is_grouped_pattern(const SignaturePattern& pattern, uint32_t max_width) {
  return grouped_alphabet(pattern, max_width).has_value();
}

bool has_alnum_boundary(classify::ValidatorId v) noexcept {
  using classify::ValidatorId;
  // Structural markers: a FASTA line continues past the 30 bases the pattern
  // needs, a VCF header is followed by its version digits.
  switch (v) {
    case ValidatorId::kTrajectory:
    case ValidatorId::kVcf:
    case ValidatorId::kFasta:
    case ValidatorId::kFastq:
    case ValidatorId::kHl7:
    case ValidatorId::kDicom:
    case ValidatorId::kFhirPatient:
      return false;
    default:
      return true;
  }
}

SignatureDatabase::~SignatureDatabase() = default;

tl::expected<void, std::string> host_cpu_supported() {
  if (hs_valid_platform() == HS_SUCCESS) return {};
  return tl::unexpected(std::string(
      "this CPU lacks SSSE3, which the signature matcher (Hyperscan) needs: run on an x86-64 CPU with "
      "SSSE3 (in a virtual machine, pass the host's CPU model through, e.g. QEMU -cpu host)"));
}

SignatureDatabase::Result SignatureDatabase::compile(std::span<const SignatureSpec> specs,
                                                     const hs_platform_info_t* platform, bool run_rules) {
  // Another platform's database is only built here, never scanned.
  if (platform == nullptr) {
    if (auto ok = host_cpu_supported(); !ok) return tl::unexpected(ok.error());
  }
  auto flat = flatten(specs, run_rules);
  if (!flat) return tl::unexpected(flat.error());
  unsigned mode = HS_MODE_STREAM;
  if (flat->any_som) mode |= HS_MODE_SOM_HORIZON_LARGE;
  auto db = compile_flat(specs, *flat, mode, platform);
  if (!db) return tl::unexpected(db.error());
  std::unique_ptr<SignatureDatabase> self(new SignatureDatabase());
  self->db_ = std::move(*db);
  if (!flat->run_exprs.empty()) {
    auto runs = compile_flat(specs, *flat, HS_MODE_BLOCK, platform, Section::kRuns);
    if (!runs) return tl::unexpected(runs.error());
    self->runs_db_ = std::move(*runs);
  }
  if (!flat->grouped_exprs.empty()) {
    auto grouped = compile_flat(specs, *flat, HS_MODE_BLOCK, platform, Section::kGrouped);
    if (!grouped) return tl::unexpected(grouped.error());
    self->grouped_db_ = std::move(*grouped);
  }
  self->specs_.assign(specs.begin(), specs.end());
  self->patterns_ = std::move(flat->meta);
  return finish(std::move(self));
}

SignatureDatabase::Result SignatureDatabase::finish(std::unique_ptr<SignatureDatabase> self) {
  char* info = nullptr;
  if (hs_database_info(self->db_.get(), &info) == HS_SUCCESS && info != nullptr) {
    self->info_ = info;
    std::free(info);
  }
  if (self->info_.find("STREAM") == std::string::npos) {
    return tl::unexpected("signature database is not a streaming database (" + self->info_ + ")");
  }
  // The prototype scratch: allocating it also checks that this host can run
  // the database (HS_ARCH_ERROR / HS_DB_PLATFORM_ERROR otherwise).
  hs_scratch_t* scratch = nullptr;
  if (const hs_error_t rc = hs_alloc_scratch(self->db_.get(), &scratch); rc != HS_SUCCESS) {
    return tl::unexpected("signature database: scratch allocation failed: " + hs_error_text(rc));
  }
  // One scratch serves the three databases (hs_alloc_scratch grows it).
  for (const auto& [block_db, what] : {std::pair{self->runs_db_.get(), "run rules"},
                                       std::pair{self->grouped_db_.get(), "grouped patterns"}}) {
    if (block_db == nullptr) continue;
    if (const hs_error_t rc = hs_alloc_scratch(block_db, &scratch); rc != HS_SUCCESS) {
      hs_free_scratch(scratch);
      return tl::unexpected(std::string("signature database: ") + what +
                            ": scratch allocation failed: " + hs_error_text(rc));
    }
  }
  self->prototype_.reset(scratch);
  if (hs_stream_size(self->db_.get(), &self->stream_size_) != HS_SUCCESS ||
      hs_database_size(self->db_.get(), &self->database_size_) != HS_SUCCESS) {
    return tl::unexpected(std::string("signature database: size query failed"));
  }
  self->meta_.resize(self->specs_.size());
  for (size_t i = 0; i < self->specs_.size(); ++i) {
    const SignatureSpec& s = self->specs_[i];
    SignatureMeta& m = self->meta_[i];
    m.validator = classify::validator_from_name(s.validator).value_or(classify::ValidatorId::kNone);
    m.context_required = s.context_required;
    for (const std::string& k : s.context) {
      if (k.empty()) continue;
      m.keywords.push_back(lower_ascii(k));
      std::string folded = fold_field_name(k);
      if (!folded.empty()) m.field_names.push_back(std::move(folded));
    }
  }
  std::vector<RunAutomaton::Rule> run_rules;
  for (size_t i = 0; i < self->patterns_.size(); ++i) {
    const PatternMeta& p = self->patterns_[i];
    if (!p.run_rule) continue;
    const SignaturePattern& sp = self->specs_[p.signature].patterns[p.pattern];
    run_rules.push_back(RunAutomaton::Rule{static_cast<uint32_t>(i), sp.regex, sp.caseless});
  }
  if (!run_rules.empty()) self->run_automaton_ = RunAutomaton::build(run_rules);
  for (const PatternMeta& p : self->patterns_) {
    self->max_width_ = std::max(self->max_width_, p.max_width);
    if (p.run_rule) self->run_widths_ |= uint64_t{1} << p.min_width;
    if (!p.grouped) continue;
    self->grouped_width_ = std::max(self->grouped_width_, p.max_width);
    self->grouped_min_width_ =
        self->grouped_min_width_ == 0 ? p.min_width : std::min(self->grouped_min_width_, p.min_width);
    const auto bytes = grouped_alphabet(self->specs_[p.signature].patterns[p.pattern], p.max_width);
    for (size_t c = 0; bytes && c < 256; ++c)
      self->grouped_bytes_[c] = self->grouped_bytes_[c] || bytes->test(c);
  }
  return std::shared_ptr<const SignatureDatabase>(std::move(self));
}

std::vector<uint8_t> SignatureDatabase::serialize() const {
  char* bytes = nullptr;
  size_t length = 0;
  if (hs_serialize_database(db_.get(), &bytes, &length) != HS_SUCCESS) return {};
  std::vector<uint8_t> out;
  out.reserve(kHeaderBytes + patterns_.size() * kPatternBytes + 8 + length);
  out.insert(out.end(), kMagic, kMagic + sizeof kMagic);
  put32(out, kFormat);
  put32(out, static_cast<uint32_t>(patterns_.size()));
  put64(out, fingerprint(specs_));
  for (const PatternMeta& p : patterns_) {
    put32(out, p.signature);
    out.push_back(static_cast<uint8_t>(p.pattern));
    out.push_back(static_cast<uint8_t>(p.pattern >> 8));
    out.push_back(p.som ? 1 : 0);
    out.push_back(p.run_rule ? kPlacedRunRule : p.grouped ? kPlacedGrouped : kPlacedInStream);
    put32(out, p.min_width);
    put32(out, p.max_width);
  }
  put32(out, static_cast<uint32_t>(length));
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(bytes),
             reinterpret_cast<const uint8_t*>(bytes) + length);
  std::free(bytes);
  for (const hs_database_t* block_db : {runs_db_.get(), grouped_db_.get()}) {
    bytes = nullptr;
    length = 0;
    if (block_db != nullptr && hs_serialize_database(block_db, &bytes, &length) != HS_SUCCESS) return {};
    put32(out, static_cast<uint32_t>(length));
    if (length > 0) {
      out.insert(out.end(), reinterpret_cast<const uint8_t*>(bytes),
                 reinterpret_cast<const uint8_t*>(bytes) + length);
      std::free(bytes);
    }
  }
  put32(out, crc_of(out.data(), out.size()));
  return out;
}

SignatureDatabase::Result SignatureDatabase::deserialize(std::span<const uint8_t> bytes,
                                                         std::span<const SignatureSpec> specs) {
  const std::string what = "serialized signature database: ";
  if (auto ok = host_cpu_supported(); !ok) return tl::unexpected(ok.error());
  if (bytes.size() < kHeaderBytes + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return tl::unexpected(what + "not an ftzgate signature database (bad magic or truncated)");
  }
  const size_t body = bytes.size() - 4;
  if (crc_of(bytes.data(), body) != get32(bytes.data() + body)) {
    return tl::unexpected(what + "checksum mismatch (corrupted or truncated)");
  }
  const uint8_t* p = bytes.data() + sizeof kMagic;
  if (const uint32_t fmt = get32(p); fmt != kFormat) {
    return tl::unexpected(what + "format " + std::to_string(fmt) + ", expected " + std::to_string(kFormat));
  }
  const uint32_t count = get32(p + 4);
  if (get64(p + 8) != fingerprint(specs)) {
    return tl::unexpected(what + "compiled from a different signature catalog than the one given");
  }
  p += 16;
  const uint8_t* end = bytes.data() + body;
  if (static_cast<size_t>(end - p) < static_cast<size_t>(count) * kPatternBytes + 4) {
    return tl::unexpected(what + "truncated pattern table");
  }
  size_t expected_count = 0;
  for (const SignatureSpec& s : specs) expected_count += s.patterns.size();
  if (count != expected_count) {
    return tl::unexpected(what + std::to_string(count) + " patterns, the catalog has " +
                          std::to_string(expected_count));
  }
  std::unique_ptr<SignatureDatabase> self(new SignatureDatabase());
  self->patterns_.resize(count);
  for (uint32_t i = 0; i < count; ++i, p += kPatternBytes) {
    PatternMeta& m = self->patterns_[i];
    m.signature = get32(p);
    m.pattern = static_cast<uint16_t>(p[4] | (p[5] << 8));
    m.som = p[6] != 0;
    m.min_width = get32(p + 8);
    m.max_width = get32(p + 12);
    m.run_rule = p[7] == kPlacedRunRule;
    m.grouped = p[7] == kPlacedGrouped;
    if (m.signature >= specs.size() || m.pattern >= specs[m.signature].patterns.size() ||
        m.som != specs[m.signature].patterns[m.pattern].som || m.min_width == 0 ||
        m.max_width < m.min_width || m.max_width > kMaxPatternWidth ||
        (!m.som && m.min_width != m.max_width) || p[7] > kPlacedGrouped ||
        (m.run_rule && !is_run_pattern(specs[m.signature].patterns[m.pattern], m.min_width)) ||
        (m.grouped && !is_grouped_pattern(specs[m.signature].patterns[m.pattern], m.max_width))) {
      return tl::unexpected(what + "pattern table entry " + std::to_string(i) + " does not fit the catalog");
    }
  }
  const uint32_t hs_len = get32(p);
  p += 4;
  if (static_cast<size_t>(end - p) < static_cast<size_t>(hs_len) + 4) {
    return tl::unexpected(what + "Hyperscan section length mismatch");
  }
  const uint8_t* runs_p = p + hs_len;
  const uint32_t runs_len = get32(runs_p);
  runs_p += 4;
  const bool any_run = std::any_of(self->patterns_.begin(), self->patterns_.end(),
                                   [](const PatternMeta& m) { return m.run_rule; });
  if (static_cast<size_t>(end - runs_p) < static_cast<size_t>(runs_len) + 4 || (runs_len != 0) != any_run) {
    return tl::unexpected(what + "run rules section length mismatch");
  }
  const uint8_t* grouped_p = runs_p + runs_len;
  const uint32_t grouped_len = get32(grouped_p);
  grouped_p += 4;
  const bool any_grouped = std::any_of(self->patterns_.begin(), self->patterns_.end(),
                                       [](const PatternMeta& m) { return m.grouped; });
  if (static_cast<size_t>(end - grouped_p) != grouped_len || (grouped_len != 0) != any_grouped) {
    return tl::unexpected(what + "grouped patterns section length mismatch");
  }
  const char* hs_bytes = reinterpret_cast<const char*>(p);
  char* info = nullptr;
  std::string hs_info = "unreadable";
  if (hs_serialized_database_info(hs_bytes, hs_len, &info) == HS_SUCCESS && info != nullptr) {
    hs_info = info;
    std::free(info);
  } else {
    return tl::unexpected(what + "the Hyperscan section is not a serialized Hyperscan database");
  }
  hs_database_t* db = nullptr;
  if (const hs_error_t rc = hs_deserialize_database(hs_bytes, hs_len, &db); rc != HS_SUCCESS) {
    return tl::unexpected(what + "Hyperscan rejected it: " + hs_error_text(rc) + "; database: " + hs_info);
  }
  self->db_.reset(db);
  if (runs_len != 0) {
    hs_database_t* runs = nullptr;
    if (const hs_error_t rc = hs_deserialize_database(reinterpret_cast<const char*>(runs_p), runs_len, &runs);
        rc != HS_SUCCESS) {
      return tl::unexpected(what + "Hyperscan rejected the run rules: " + hs_error_text(rc));
    }
    self->runs_db_.reset(runs);
  }
  if (grouped_len != 0) {
    hs_database_t* grouped = nullptr;
    if (const hs_error_t rc =
            hs_deserialize_database(reinterpret_cast<const char*>(grouped_p), grouped_len, &grouped);
        rc != HS_SUCCESS) {
      return tl::unexpected(what + "Hyperscan rejected the grouped patterns: " + hs_error_text(rc));
    }
    self->grouped_db_.reset(grouped);
  }
  self->specs_.assign(specs.begin(), specs.end());
  return finish(std::move(self));
}

tl::expected<HsScratchPtr, std::string> SignatureDatabase::clone_scratch() const {
  std::lock_guard<std::mutex> lock(clone_mutex_);
  hs_scratch_t* s = nullptr;
  if (const hs_error_t rc = hs_clone_scratch(prototype_.get(), &s); rc != HS_SUCCESS) {
    return tl::unexpected("hs_clone_scratch: " + hs_error_text(rc));
  }
  return HsScratchPtr(s);
}

tl::expected<HsDatabasePtr, std::string> compile_block_database(std::span<const SignatureSpec> specs,
                                                                const hs_platform_info_t* platform) {
  auto flat = flatten(specs, false);
  if (!flat) return tl::unexpected(flat.error());
  return compile_flat(specs, *flat, HS_MODE_BLOCK, platform);
}

}  // namespace ftz::engine::sig
