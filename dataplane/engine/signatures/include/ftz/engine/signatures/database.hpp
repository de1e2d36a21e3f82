#pragma once
// SignatureDatabase: the patterns of a signature catalog compiled into ONE
// Hyperscan STREAMING database, except run rules and grouped patterns (each
// in a small BLOCK database the scanner runs over runs and windows, below),
// with the catalog metadata kept alongside.
// Compile (control plane), serialize (bundle), deserialize (data plane) are
// separate steps. Immutable once built; shared by all workers of a
// PolicyGeneration. Slow path only: these functions allocate.
//
// Pattern rules enforced at compile time (PLATFORM.md §6, DOMAIN.md §3):
//  - no lookaround (Hyperscan rejects it; validators check boundaries);
//  - `utf8` -> HS_FLAG_UTF8, `caseless` -> HS_FLAG_CASELESS, always
//    HS_FLAG_DOTALL (a '.' in a marker such as a DICOM preamble means any byte);
//  - `som: true` -> HS_FLAG_SOM_LEFTMOST, and the database is built with
//    HS_MODE_SOM_HORIZON_LARGE;
//  - without SOM the match start is end - width, so the pattern must have a
//    fixed width (hs_expression_info min == max), else the error tells the
//    author to set `som`;
//  - every pattern has a bounded width <= kMaxPatternWidth (the scanner must be
//    able to hold a candidate to validate it) and cannot match empty.

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/classify/validators.hpp"
#include "ftz/engine/policy_spec.hpp"
#include "ftz/engine/signatures/hs_handles.hpp"
#include "ftz/engine/signatures/run_automaton.hpp"

namespace ftz::engine::sig {

// Longest match a pattern may produce (e-mail: 64 + 1 + 255).
inline constexpr uint32_t kMaxPatternWidth = 512;

// One compiled pattern; its Hyperscan id is its index in patterns().
struct PatternMeta {
  uint32_t signature = 0;  // index into specs()
  uint16_t pattern = 0;    // index into specs()[signature].patterns
  bool som = false;        // start reported by Hyperscan (HS_FLAG_SOM_LEFTMOST)
  uint32_t min_width = 0;  // hs_expression_info, bytes
  uint32_t max_width = 0;  // == min_width when !som
  // A run rule: matched against whole [0-9A-Za-z] runs by the scanner's run
  // pass (run_automaton(), else runs_hs()), not compiled into the streaming
  // database.
  bool run_rule = false;
  // A grouped pattern: scanned only in windows around "digit, separator,
  // digit" (grouped_hs()), not compiled into the streaming database.
  bool grouped = false;
};

// Widest run rule; a wider pattern stays in the streaming database.
inline constexpr uint32_t kMaxRunWidth = 63;

// Whether a pattern is a run rule: no SOM, not UTF-8, fixed width <=
// kMaxRunWidth, and written only with what matches [0-9A-Za-z] bytes:
// letters and digits, \d, classes of them without negation, (?: | ),
// ? and {n} / {n,m} (checked on the text, conservatively: anything else
// leaves the pattern to the streaming database). Such a pattern of a
// signature with alnum boundaries (DOMAIN.md §3: the byte before and after a
// candidate must not be [0-9A-Za-z]) can only yield a candidate that is one
// whole maximal run of [0-9A-Za-z] of exactly its width. The scanner finds
// those runs in one pass and reads each through one automaton of the run
// rules (run_automaton.hpp) to learn which rules match it whole, instead of Hyperscan reporting "\d{8}" or a
// mobile prefix at nearly every digit of a number-heavy body and the judge rejecting all but the whole runs.
bool is_run_pattern(const SignaturePattern& pattern, uint32_t width);

// Widest grouped pattern: the scanner's window around a separator reaches
// this far back into the 64-byte tail kept from the previous chunk.
inline constexpr uint32_t kMaxGroupedWidth = 48;

// Whether a pattern is grouped: SOM, not UTF-8 or caseless, at most
// kMaxGroupedWidth bytes, no match holds a line break (the scanner joins
// windows with one), and every string it matches holds a digit, a
// separator (' ', '-', '.' or U+00B7 as C2 B7) and a digit in a row. Proved
// on the regex text (a small parser of literals, \d, \xHH, classes, (?: | ),
// ?, {n} and {n,m}; anything else is not grouped): identifiers written in
// groups ("138 1234 5678", "6222-0212-3456-7890"). In the stream such a
// pattern starts at nearly every digit of a number-heavy body and carries
// start-of-match state through it; the scanner instead looks for the
// separator between digits (SSE2) and runs a BLOCK database with SOM over
// the windows around it. Exact: every match holds such a separator, so it
// lies whole in the window of one, with the same leftmost start.
bool is_grouped_pattern(const SignaturePattern& pattern, uint32_t max_width);
// The bytes a grouped pattern's matches can hold (from the same proof);
// nullopt when the pattern is not grouped.
std::optional<std::bitset<256>> grouped_alphabet(const SignaturePattern& pattern, uint32_t max_width);

bool has_alnum_boundary(classify::ValidatorId v) noexcept;

// Per-signature data the scanner needs on the hot path, derived from the spec.
struct SignatureMeta {
  classify::ValidatorId validator = classify::ValidatorId::kNone;
  bool context_required = false;
  // Context keywords, ASCII letters lower-cased (matching is ASCII
  // case-insensitive; UTF-8 keywords such as 身份证 match byte for byte).
  std::vector<std::string> keywords;
  // The same keywords with '_', '-', ' ' removed: a CSV header cell or JSON
  // key binds to the signature when its folded text contains one of them
  // ("id_card" and "idCard" both contain "idcard").
  std::vector<std::string> field_names;
};

// Hyperscan scans only on x86-64 CPUs with SSSE3 (hs_valid_platform). The
// programs that scan or compile check it first, so that the refusal is said
// plainly rather than as the first pattern's compile error; compile() and
// deserialize() check it too. (A virtual machine's default CPU model, such
// as QEMU's qemu64, lacks it.)
tl::expected<void, std::string> host_cpu_supported();

class SignatureDatabase {
 public:
  using Result = tl::expected<std::shared_ptr<const SignatureDatabase>, std::string>;

  // Compiles every pattern of `specs` for `platform` (nullptr = this host).
  // Errors name the signature and the pattern: `signature "cn_mobile" pattern
  // 1: ...`.
  // run_rules = false keeps every pattern in the streaming database (the
  // scanner before run rules and grouped windows): for tests that compare
  // the two.
  static Result compile(std::span<const SignatureSpec> specs, const hs_platform_info_t* platform = nullptr,
                        bool run_rules = true);

  // The serialized form: a small header (format version, catalog fingerprint,
  // pattern metadata), the Hyperscan bytes and a CRC-32 over all of it.
  // Empty when Hyperscan cannot allocate.
  [[nodiscard]] std::vector<uint8_t> serialize() const;

  // Rebuilds a database from serialize() output. `specs` must be the catalog
  // it was compiled from (checked by fingerprint). A database compiled for CPU
  // features this host lacks fails with the Hyperscan platform check
  // (HS_DB_PLATFORM_ERROR) and the serialized database's own description.
  static Result deserialize(std::span<const uint8_t> bytes, std::span<const SignatureSpec> specs);

  [[nodiscard]] const hs_database_t* hs() const noexcept { return db_.get(); }
  [[nodiscard]] std::span<const SignatureSpec> specs() const noexcept { return specs_; }
  [[nodiscard]] std::span<const PatternMeta> patterns() const noexcept { return patterns_; }
  [[nodiscard]] std::span<const SignatureMeta> signatures() const noexcept { return meta_; }
  // hs_stream_size: Hyperscan stream state bytes per scanned flow direction.
  [[nodiscard]] size_t stream_size() const noexcept { return stream_size_; }
  // hs_database_size.
  [[nodiscard]] size_t database_size() const noexcept { return database_size_; }
  // hs_database_info, e.g. "Version: 5.4.0 Features: AVX2 Mode: STREAM".
  [[nodiscard]] const std::string& info() const noexcept { return info_; }
  // Longest match any pattern can produce.
  [[nodiscard]] uint32_t max_match_width() const noexcept { return max_width_; }
  // The run rules: each compiled as "^(?:regex)$" with HS_FLAG_MULTILINE in
  // a BLOCK database (ids are pattern indices) that the scanner runs over the
  // slice's candidate runs joined by '\n' when run_automaton() is null;
  // nullptr when there are none. The
  // run lengths they need as a bit mask (bit n: some rule is n bytes wide).
  [[nodiscard]] const hs_database_t* runs_hs() const noexcept { return runs_db_.get(); }
  [[nodiscard]] uint64_t run_widths() const noexcept { return run_widths_; }
  // The same run rules as one automaton (run_automaton.hpp), which the run
  // pass reads each run through instead of scanning runs_hs(); nullptr when
  // there are no run rules or it could not be built (the run pass then uses
  // runs_hs()).
  [[nodiscard]] const RunAutomaton* run_automaton() const noexcept {
    return run_automaton_ ? &*run_automaton_ : nullptr;
  }
  // The grouped patterns (is_grouped_pattern) in a BLOCK database with
  // HS_FLAG_SOM_LEFTMOST (ids are pattern indices); nullptr when there are
  // none. Their widest match, bytes.
  [[nodiscard]] const hs_database_t* grouped_hs() const noexcept { return grouped_db_.get(); }
  [[nodiscard]] uint32_t grouped_width() const noexcept { return grouped_width_; }
  // The shortest grouped match, and whether a grouped match can hold a byte
  // (the union of grouped_alphabet()): a window is the run of such bytes
  // around the separator, skipped when shorter than the shortest match.
  [[nodiscard]] uint32_t grouped_min_width() const noexcept { return grouped_min_width_; }
  [[nodiscard]] bool in_grouped_alphabet(uint8_t c) const noexcept { return grouped_bytes_[c]; }

  // A scratch for one worker, cloned from the database's prototype
  // (hs_clone_scratch). Thread-safe; slow path.
  [[nodiscard]] tl::expected<HsScratchPtr, std::string> clone_scratch() const;

  SignatureDatabase(const SignatureDatabase&) = delete;
  SignatureDatabase& operator=(const SignatureDatabase&) = delete;
  ~SignatureDatabase();

 private:
  SignatureDatabase() = default;
  static Result finish(std::unique_ptr<SignatureDatabase> self);

  HsDatabasePtr db_;
  HsScratchPtr prototype_;
  mutable std::mutex clone_mutex_;
  std::vector<SignatureSpec> specs_;
  std::vector<PatternMeta> patterns_;
  std::vector<SignatureMeta> meta_;
  size_t stream_size_ = 0;
  size_t database_size_ = 0;
  uint32_t max_width_ = 0;
  HsDatabasePtr runs_db_;
  uint64_t run_widths_ = 0;
  std::optional<RunAutomaton> run_automaton_;
  HsDatabasePtr grouped_db_;
  uint32_t grouped_width_ = 0;
  uint32_t grouped_min_width_ = 0;
  std::array<bool, 256> grouped_bytes_{};
  std::string info_;
};

// The same patterns with the same flags (run rules included: the catalog as
// written) compiled in BLOCK mode (hs_scan on a
// streaming database returns HS_DB_MODE_ERROR). For baselines and tests only.
tl::expected<HsDatabasePtr, std::string> compile_block_database(std::span<const SignatureSpec> specs,
                                                                const hs_platform_info_t* platform = nullptr);

}  // namespace ftz::engine::sig
