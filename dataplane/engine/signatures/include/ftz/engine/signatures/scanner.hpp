#pragma once
// Scanner: one per worker thread. Scans the byte streams of inspected flow
// directions against a SignatureDatabase with Hyperscan in streaming mode,
// then validates every raw match on the exact bytes (boundaries, check
// characters, context) and delivers confirmed identifiers to a DetectionSink.
//
// Threading: a Scanner and the ScanStates it serves belong to one thread.
// Memory: everything is allocated by create(): the scratch (cloned from the
// database's prototype), `max_streams` Hyperscan streams opened up front and
// recycled with hs_reset_stream, the inflate arenas (inflate_memcap_bytes) and
// the work buffers. scan()/finish()/release() never allocate, lock or throw.
//
// Per chunk: decode (inflate, URL / JSON \uXXXX, full-width fold) into a
// block, hs_scan_stream the block (the callback only records (pattern, from,
// to)), then judge the recorded matches (DOMAIN.md §3):
//  - boundaries: the byte before the start and after the end is not
//    [0-9A-Za-z] (identifier signatures; structural markers have none); the
//    previous bytes come from the ScanState's 64-byte tail, a right boundary
//    at the end of the visible bytes waits for the next chunk or finish();
//  - validator on the exact matched bytes;
//  - context, bound to the candidate's own field (docs/signatures.md
//    "Context"): the name of its field (JSON key or the key of its array, form
//    key, CSV column header or the key cell of a key/value row), else a label
//    on the same line inside the same value; a neighbouring field never
//    vouches. Weak identifiers need it; a field or label that names something
//    else (order, trace, QQ, time...) vetoes weak numeric ones;
//  - one span, one identifier: when several signatures accept the same span
//    the one its field names wins, then the strongest, then the most
//    sensitive class, then catalog order; the others count as suppressed.
// Offsets are in the decoded stream of the direction.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/engine/classify/validators.hpp"
#include "ftz/engine/policy_spec.hpp"
#include "ftz/engine/reasons.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/engine/signatures/hs_handles.hpp"

namespace ftz::engine::sig {

enum class ContentKind : uint8_t { kRaw, kForm, kJson, kCsv };
// kDeflate: HTTP "deflate" (zlib, or raw deflate as some servers send it);
// kDeflateRaw: raw deflate only (WebSocket permessage-deflate, RFC 7692).
enum class Encoding : uint8_t { kIdentity, kGzip, kDeflate, kDeflateRaw };

struct ScanContext {
  int64_t now_unix_s = 0;  // packet time, for date checks and the minor flag
  ContentKind kind = ContentKind::kRaw;
  Encoding encoding = Encoding::kIdentity;  // content coding of this chunk (the last one applied)
  // First chunk of a new message body (HTTP keep-alive): decoders, the
  // inflater and the CSV header restart. The Hyperscan stream continues.
  bool body_start = false;
  // A second coding under `encoding` ("Content-Encoding: deflate, gzip":
  // encoding = gzip, inner = deflate). More than two codings are not decoded
  // (the caller marks the direction uninspectable, kDecodeDepth).
  Encoding inner = Encoding::kIdentity;
};

// Why a flow direction could not be (fully) inspected: sig::Uninspectable
// and kUninspectableCount come from the reason registry (reasons/scan.def).

inline constexpr uint32_t kNoSlot = UINT32_MAX;
inline constexpr uint32_t kNoSignature = UINT32_MAX;
inline constexpr size_t kTailBytes = 64;
inline constexpr size_t kPendingSpans = 4;
inline constexpr size_t kCsvBindings = 8;
// A decoded block is scanned and judged in slices of this many bytes: the
// match array, the run and grouped buffers and the field marks are sized for
// one slice. 2 KiB holds a whole TCP segment of a 1500-byte MTU, so a
// segment costs one pass of each stage (1 KiB slices made most segments two).
inline constexpr size_t kSliceBytes = 2048;

// The name of the field a value belongs to (JSON key, form key, CSV key cell):
// a range of the decoded stream while its bytes are still held, judged once
// (signatures it binds, veto) before they leave the window. Plain data.
struct FieldName {
  // Not judged yet: the stream offset of the name's first byte (its bytes are
  // still held). Judged (kFieldJudged): bit i = the name binds signature i.
  uint64_t ref = 0;
  uint8_t len = 0;    // 0: no name
  uint8_t flags = 0;  // kFieldJudged, kFieldVeto
};
inline constexpr uint8_t kFieldJudged = 1;
inline constexpr uint8_t kFieldVeto = 2;  // names a non-identifier number (order, trace, QQ, time...)

// A candidate span whose right boundary or right context was not visible yet.
// Up to 3 signatures that accepted the same span wait together.
struct PendingSpan {
  uint64_t from = 0;
  uint16_t len = 0;
  uint8_t count = 0;
  uint8_t bound = 0;  // bit i: sig[i] was bound by a field name / left context
  uint16_t sig[3] = {};
};

// Per inspected flow direction, kept in the worker's flow record. Plain data:
// trivially copyable and relocatable (memcpy is a valid move); the stream and
// inflater it refers to are slots of the Scanner. Zero-initialise it (`{}`)
// before the first scan(); release() it when the flow ends without finish().
struct ScanState {
  uint32_t stream = kNoSlot;    // Hyperscan stream slot
  uint32_t inflater = kNoSlot;  // inflate arena slot while a compressed body is open
  uint64_t offset = 0;          // decoded bytes scanned so far
  // `offset` when the current Hyperscan stream started: 0, or the point where
  // a reload handed the direction to another database (hand_over()).
  uint64_t stream_base = 0;
  uint64_t inflated = 0;  // decoded bytes of the current compressed body
  bool uninspectable = false;
  Uninspectable reason = Uninspectable::kNone;
  // Set by degrade(): the direction was not fully decoded (first reason) but
  // scanning goes on with what can be seen.
  Uninspectable degraded = Uninspectable::kNone;
  bool finished = false;
  bool body_started = false;
  // Decoder state (bytes of an escape or a UTF-8 sequence cut by the chunk end).
  ContentKind kind = ContentKind::kRaw;
  Encoding encoding = Encoding::kIdentity;
  bool inflate_done = false;
  bool zhold_set = false;  // first byte of a body, held to read a zlib header or a gzip magic
  uint8_t zhold = 0;
  // Second layer (ScanContext::inner, or a gzip member found inside the first
  // layer's output) and the outer layer found by its magic (1f 8b) at a body
  // start without a declared coding.
  Encoding inner = Encoding::kIdentity;       // effective second layer (declared or sniffed)
  Encoding inner_decl = Encoding::kIdentity;  // ScanContext::inner of the body
  Encoding outer = Encoding::kIdentity;       // effective first layer (declared or sniffed)
  uint32_t inflater2 = kNoSlot;
  bool inflate2_done = false;
  bool passthrough =
      false;  // bytes after the end of the first layer's stream: not compressed, scanned as sent
  bool passthrough2 = false;
  uint8_t sniff = 0;   // 1: the body's first bytes are still to be checked for a gzip magic
  uint8_t sniff2 = 0;  // the same for the first layer's output
  // Text decoders: percent escapes (all kinds), UTF-16 text (ASCII code
  // units with NUL bytes), every digit spaced ("1 1 0 1 ...").
  uint8_t pct_len = 0;
  uint8_t pct[3] = {};
  uint8_t u16_len = 0;
  uint8_t u16_on = 0;
  uint8_t u16[8] = {};
  uint8_t ds_len = 0;
  uint8_t ds_count = 0;
  uint8_t ds_on = 0;
  uint8_t ds_prev = 0;
  uint8_t ds[16] = {};
  // base64 runs (RFC 4648, standard and URL-safe alphabets): a run of at
  // least kBase64MinRun characters with both letter cases is decoded into a
  // child state of the scanner (its own stream, finished at the run's end).
  uint32_t child = kNoSlot;
  uint32_t b64_run = 0;   // alphabet characters in the current run
  uint32_t b64_bits = 0;  // sextets not yet a whole byte
  uint8_t b64_nbits = 0;
  uint8_t b64_case = 0;     // 1: a lower-case letter seen, 2: an upper-case one
  uint8_t b64_line = 0;     // characters since the last line break (saturates)
  uint8_t b64_pre_len = 0;  // decoded bytes held until the run qualifies
  uint8_t b64_pre[12] = {};
  uint8_t depth = 0;    // base64 nesting of this state (0: the direction)
  uint8_t esc_len = 0;  // URL "%X" / JSON "\uXXX" bytes held
  uint8_t fw_len = 0;   // bytes of a possible full-width character held
  bool json_backslash = false;
  uint8_t esc[6] = {};
  uint8_t fw[2] = {};
  uint16_t high_surrogate = 0;
  // CSV: the header row binds columns to signatures (mask over signature
  // indices < 64).
  uint8_t csv_line = 0;  // 0 = header row, 1 = data (saturates)
  bool csv_quoted = false;
  uint8_t csv_bindings = 0;
  uint16_t csv_column = 0;
  uint64_t csv_cell_start = 0;  // stream offset of the current header cell
  uint16_t csv_bound_column[kCsvBindings] = {};
  uint64_t csv_bound_mask[kCsvBindings] = {};
  uint64_t csv_veto_columns = 0;  // bit c: the header of column c vetoes (order_no, qq, ts...)
  uint8_t csv_digit_run = 0;      // digits in a row so far (saturates)
  bool csv_no_header = false;     // row 0 held a long digit run: data, not a header
  // The field of the value being read (docs/signatures.md "Context"): JSON
  // key (or the array's key inside an array), form key, CSV cell left of the
  // value in its row. JSON: containers open (bit d: depth d+1 is an array).
  uint8_t field_flags = 0;  // kJson* / kForm* bits (scanner.cpp)
  uint8_t json_depth = 0;
  uint32_t json_arrays = 0;
  FieldName field;
  FieldName json_array_field;  // the key the innermost open array belongs to
  // Last decoded bytes: left boundaries, straddling candidates, context.
  uint8_t tail_len = 0;
  uint8_t pending_count = 0;
  uint8_t tail[kTailBytes] = {};
  PendingSpan pending[kPendingSpans] = {};
};

// A confirmed identifier. Never log `normalized` or `candidate` (tokens only).
struct Detection {
  uint32_t signature = 0;  // index into the database's specs()
  uint32_t sid = 0;
  DataClass data_class = DataClass::kPi;  // kSensitivePi when `minor`
  classify::ValidatorId validator = classify::ValidatorId::kNone;
  classify::IdType id_type = classify::IdType::kUnknown;
  uint8_t strength = 0;
  bool minor = false;
  bool by_context = false;     // a weak identifier confirmed by keyword or field name
  uint64_t stream_offset = 0;  // decoded-stream offset of the first byte
  uint32_t length = 0;         // matched bytes
  uint8_t normalized_len = 0;  // 0: identifier longer than the buffer (token the candidate)
  uint8_t masked_len = 0;
  char normalized[classify::kMaxNormalized] = {};
  char masked[64] = {};
  // The exact matched bytes; valid only during on_detection().
  std::string_view candidate;

  std::string_view normalized_view() const noexcept { return {normalized, normalized_len}; }
  std::string_view masked_view() const noexcept { return {masked, masked_len}; }
};

class DetectionSink {
 public:
  virtual void on_detection(const Detection& d) noexcept = 0;

 protected:
  ~DetectionSink() = default;
};

struct SignatureCounters {
  uint64_t hits = 0;        // raw Hyperscan matches
  uint64_t confirmed = 0;   // delivered detections
  uint64_t suppressed = 0;  // accepted but a stronger signature took the span
};

struct ScannerCounters {
  uint64_t chunks = 0;
  uint64_t bytes_in = 0;       // bytes given to scan()
  uint64_t bytes_scanned = 0;  // decoded bytes given to Hyperscan
  uint64_t blocks = 0;
  // Whole [0-9A-Za-z] runs of a run rule's length handed to the run rules
  // (database.hpp): a run rule inside a longer run is never a raw match, so
  // it is not counted in boundary_rejected.
  uint64_t runs_checked = 0;
  // Windows around "digit, separator, digit" scanned with the grouped
  // patterns' BLOCK database (database.hpp, is_grouped_pattern).
  uint64_t grouped_windows = 0;
  uint64_t boundary_rejected = 0;
  uint64_t invalid = 0;     // the validator said no
  uint64_t no_context = 0;  // weak identifier without keyword or field name
  uint64_t field_veto = 0;  // weak numeric identifier whose field names something else
  uint64_t truncated = 0;   // candidate began before the bytes still held
  uint64_t pending_overflow = 0;
  uint64_t uninspectable[kUninspectableCount] = {};
  uint32_t streams_in_use = 0;
  uint32_t streams_peak = 0;
  uint32_t inflaters_in_use = 0;
};

inline constexpr uint32_t kBase64MinRun = 16;  // characters (12 decoded bytes)
inline constexpr uint8_t kBase64MaxDepth = 2;  // base64 inside base64 is decoded once more

struct ScannerConfig {
  uint32_t max_streams = 1024;  // flow directions scanned at once
  // base64 runs decoded at once (each a child state with its own stream,
  // taken while a run lasts); 0: max_streams / 4, at least 8.
  uint32_t max_children = 0;
  uint64_t inflate_memcap_bytes = 16u << 20;   // all inflate arenas of this worker
  uint64_t max_inflated_per_body = 64u << 20;  // decompression-bomb guard
  uint32_t block_bytes = 16384;                // decoded bytes per hs_scan_stream
  uint32_t max_matches_per_block = 8192;       // raw matches recorded per block
};

// Bytes of one inflate arena (zlib inflate state + 32 KiB window).
inline constexpr size_t kInflateArenaBytes = 48u << 10;

// For hand_over(): index in `from` -> index of the signature of the same name
// in `to`, kNoSignature when `to` has none (names are the stable identity of
// a signature; indices are not stable across catalogs). Slow path.
std::vector<uint32_t> map_signatures(std::span<const SignatureSpec> from, std::span<const SignatureSpec> to);

namespace detail {
struct FoldedName;  // judge.cpp
}  // namespace detail

class Scanner {
 public:
  static tl::expected<std::unique_ptr<Scanner>, std::string> create(
      std::shared_ptr<const SignatureDatabase> db, const ScannerConfig& config);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Scans the next bytes of the direction. Takes a stream slot on first use;
  // none free -> the state becomes uninspectable (kStreamPoolExhausted).
  void scan(ScanState& st, std::span<const uint8_t> bytes, const ScanContext& ctx,
            DetectionSink& sink) noexcept;
  // End of the direction: flushes decoders, reports end-of-data matches,
  // decides pending right boundaries, returns the slots. Idempotent.
  void finish(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept;
  // Returns the slots without reporting (flow evicted / timed out).
  void release(ScanState& st) noexcept;
  // End of a message within the direction (an HTTP body, a WebSocket
  // message, a datagram): bytes held by the text decoders are emitted and a
  // line break follows, so identifiers at the message's end are decided now
  // rather than with the next message. The stream goes on. Also done by
  // scan() before a new body (ScanContext::body_start, kind or coding change).
  void end_unit(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept;
  // The direction is not fully decoded (`why`, counted once per state) but
  // stays under inspection: later bytes are still scanned.
  void degrade(ScanState& st, Uninspectable why) noexcept;
  // Reload with another signature database: ends the direction's Hyperscan
  // stream under THIS scanner as at the end of the data (end-of-data matches
  // reported, pending right boundaries and right context decided as if no byte
  // followed; detections go to `sink` with this database's signature indices)
  // and returns the stream slot. `st` then continues with `next`, which opens
  // a new stream on the next scan(); offsets continue (st.stream_base):
  //  - the decoding state carries over (held escape bytes, body kind and
  //    coding, CSV position, the 64-byte tail for left boundaries and context,
  //    an open inflater copied into one of next's arenas with inflateCopy), so
  //    a body under way keeps decoding; signature-indexed state (CSV column
  //    bindings, judged field names) is mapped with `sig_map` (this
  //    database's index -> next's, kNoSignature when next lacks it; see
  //    map_signatures()); the field being read and the JSON nesting carry over;
  //  - without `next` (the new generation scans nothing) the direction is
  //    finish()ed and `st` starts over, keeping only its offset.
  // A finished, uninspectable or never-scanned state is left as it is (with a
  // next) or reset likewise (without). Identifiers straddling the switch are
  // not found by either database (the new stream does not see the bytes
  // before it). No allocation; `next` may be out of inflate arenas only if it
  // is configured smaller than this scanner (the direction becomes
  // uninspectable, kInflateMemcap).
  void hand_over(ScanState& st, const ScanContext& ctx, DetectionSink& sink, Scanner* next,
                 std::span<const uint32_t> sig_map) noexcept;

  // Slow path, off the worker (next to create()): prepares the switch from
  // the scanner of `from` to this one, i.e. map_signatures(from's specs,
  // this database's specs), so that the worker's switch allocates nothing.
  void prepare_hand_over_from(const std::shared_ptr<const SignatureDatabase>& from);
  // The map prepared for a switch from `from` (indices into from's specs),
  // or null when none was prepared for that database (the caller maps itself).
  [[nodiscard]] const std::vector<uint32_t>* hand_over_map(const SignatureDatabase* from) const noexcept;

  [[nodiscard]] const ScannerCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::span<const SignatureCounters> signature_counters() const noexcept {
    return sig_counters_;
  }
  [[nodiscard]] const SignatureDatabase& database() const noexcept { return *db_; }
  // Hyperscan stream state per flow direction (hs_stream_size); the
  // ScanState itself is sizeof(ScanState) in the flow record.
  [[nodiscard]] size_t stream_state_bytes() const noexcept { return db_->stream_size(); }
  [[nodiscard]] uint32_t inflater_slots() const noexcept { return static_cast<uint32_t>(inflaters_.size()); }
  // hs_scratch_size of this scanner's scratch.
  [[nodiscard]] size_t scratch_bytes() const noexcept;

 private:
  Scanner() = default;
  struct RawMatch {
    uint32_t pattern;
    uint64_t from;
    uint64_t to;
  };
  // Where a field starts in the slice being judged: the field of the bytes
  // from `offset` on (until the next mark). CSV also: column and row kind.
  struct FieldMark {
    uint64_t offset;  // first byte after the structural byte
    FieldName name;   // judged lazily, cached here
    uint16_t column;
    uint8_t line;
  };
  // What the field of a candidate says about a signature.
  struct FieldVerdict {
    uint64_t sigs = 0;
    bool veto = false;
  };
  struct Inflater;
  struct Candidate;
  struct InflateStep {
    size_t used = 0;      // input bytes consumed
    bool ended = false;   // end of the compressed stream
    bool failed = false;  // the state became uninspectable
  };
  InflateStep inflate_step(ScanState& st, const ScanContext& ctx, DetectionSink& sink, uint32_t slot,
                           uint8_t* outbuf, const uint8_t* in, size_t n, size_t& produced,
                           int layer) noexcept;
  bool layer1(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n,
              size_t& produced) noexcept;
  bool layer2(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n,
              size_t& produced) noexcept;
  bool text(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n,
            size_t& produced) noexcept;
  // base64: runs in decoded bytes -> segments of the block (b64_), replayed
  // into the child state after the block is scanned.
  void b64_track(ScanState& st, const uint8_t* p, size_t n) noexcept;
  void b64_replay(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept;
  void b64_end_run(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept;

  void feed(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n) noexcept;
  void scan_block(ScanState& st, const ScanContext& ctx, DetectionSink& sink, size_t produced,
                  bool at_end) noexcept;
  // The run pass (database.hpp, is_run_pattern): collects every maximal run
  // of [0-9A-Za-z] ending in win_[begin, end) (or reaching `end`: its right
  // boundary is the judge's to decide) whose length some run rule has, then
  // records a raw match for each rule that matches a run whole (one hs_scan
  // of the runs joined by '\n' on the runs database). False on a scan error.
  bool find_runs(uint64_t win_base, size_t begin, size_t end) noexcept;
  void collect_run(size_t from, size_t to) noexcept;
  static int on_run_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                          void* ctx) noexcept;
  // The grouped pass (database.hpp, is_grouped_pattern): records the grouped
  // patterns' matches ending in win_(begin, end] as the stream would have
  // reported them, from BLOCK scans of the merged windows of
  // +-grouped_width() bytes around each "digit, separator, digit" seen from
  // grouped_width() bytes before `begin` on, joined by '\n' into one scan.
  // False on a scan error.
  bool find_grouped(uint64_t win_base, size_t begin, size_t end) noexcept;
  void collect_grouped_window(size_t from, size_t to) noexcept;
  static int on_grouped_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                              void* ctx) noexcept;
  void judge(ScanState& st, const ScanContext& ctx, DetectionSink& sink, uint64_t win_base, size_t vis_len,
             bool at_end) noexcept;
  void emit(const ScanContext& ctx, DetectionSink& sink, const Candidate& c, uint64_t win_base,
            DataClass span_class) noexcept;
  void init_context();
  // Context (judge.cpp): field tracking per slice, field names,
  // labels on the same line.
  void field_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept;
  void json_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept;
  void form_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept;
  void csv_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept;
  void push_mark(uint64_t offset, const FieldName& name, uint16_t column, uint8_t line) noexcept;
  void settle_fields(ScanState& st, uint64_t win_base, uint64_t keep_from) noexcept;
  void judge_name(FieldName& name, uint64_t win_base) const noexcept;
  [[nodiscard]] FieldVerdict field_of(const ScanState& st, uint64_t from, uint64_t win_base) noexcept;
  [[nodiscard]] FieldVerdict name_verdict(const uint8_t* p, size_t n) const noexcept;
  [[nodiscard]] FieldVerdict name_verdict_uncached(const uint8_t* p, size_t n) const noexcept;
  [[nodiscard]] bool names_signature(const detail::FoldedName& f, uint32_t sig) const noexcept;
  [[nodiscard]] bool label_left(ContentKind kind, uint32_t sig, uint64_t win_base, uint64_t from,
                                bool& veto) const noexcept;
  [[nodiscard]] bool label_right(ContentKind kind, uint32_t sig, uint64_t win_base, uint64_t vis_end,
                                 uint64_t to, bool& complete) const noexcept;
  bool acquire_inflater(uint32_t& out_slot, Encoding enc, const uint8_t* in, size_t n) noexcept;
  void release_inflater(ScanState& st) noexcept;
  void release_slot(uint32_t& slot) noexcept;
  void mark_uninspectable(ScanState& st, Uninspectable why) noexcept;
  void release_stream(ScanState& st) noexcept;
  bool copy_inflater(uint32_t& out_slot, Inflater& from) noexcept;
  void restart_body(ScanState& st, const ScanContext& ctx) noexcept;

  static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                      void* ctx) noexcept;

  std::shared_ptr<const SignatureDatabase> db_;
  ScannerConfig config_;
  HsScratchPtr scratch_;
  std::vector<HsStreamPtr> streams_;
  std::vector<uint32_t> free_streams_;
  std::vector<std::unique_ptr<Inflater>> inflaters_;
  std::vector<uint32_t> free_inflaters_;
  // window_ = [reserved kTailBytes | decoded block]; the state's tail is
  // copied right before the block so tail + block are contiguous (win_).
  std::vector<uint8_t> window_;
  uint8_t* win_ = nullptr;
  std::vector<uint8_t> tmp_;
  std::vector<uint8_t> tmp2_;
  // Inflate output per base64 depth: a child's inflater must not overwrite
  // what its parent is still decoding.
  std::vector<uint8_t> inflated_d_[kBase64MaxDepth + 1];
  std::vector<uint8_t> inflated2_d_[kBase64MaxDepth + 1];
  struct B64Segment {
    uint32_t at;  // offset in the depth's buffer
    uint32_t len;
    uint8_t open;  // the run qualified here: a child starts with these bytes
    uint8_t end;   // the run ends after these bytes
  };
  struct B64Depth {
    std::vector<uint8_t> out;
    std::vector<B64Segment> segs;
    uint32_t used = 0;
    uint32_t nsegs = 0;
  };
  B64Depth b64_[kBase64MaxDepth + 1];
  std::vector<ScanState> children_;
  std::vector<uint32_t> free_children_;
  std::vector<uint32_t> free_child_streams_;
  std::vector<RawMatch> matches_;
  // The run pass's buffer: candidate runs of one slice joined by '\n'; for
  // each run its window offset (run_from_) and, at the buffer offset where it
  // ends, its index + 1 (run_at_end_).
  std::vector<uint8_t> run_buf_;
  std::vector<uint32_t> run_from_;
  std::vector<uint16_t> run_at_end_;
  size_t run_buf_len_ = 0;
  size_t run_count_ = 0;
  uint64_t run_win_base_ = 0;
  // The grouped pass's buffer: a slice's windows joined by '\n'; for each
  // window where it starts in the buffer and in win_; the window offset a
  // match must end after (the slice start) to be new.
  std::vector<uint8_t> grouped_buf_;
  std::vector<uint32_t> grouped_at_;
  std::vector<uint32_t> grouped_from_;
  size_t grouped_buf_len_ = 0;
  size_t grouped_count_ = 0;
  size_t grouped_new_after_ = 0;
  size_t match_count_ = 0;
  uint64_t match_base_ = 0;  // stream_base of the state being scanned
  bool match_overflow_ = false;
  std::vector<Candidate> cands_;
  std::vector<uint32_t> order_;
  std::vector<uint32_t> emitted_;
  std::vector<FieldMark> marks_;
  size_t marks_count_ = 0;
  FieldMark mark_before_{};  // the field at the start of the slice
  ScannerCounters counters_;
  std::vector<SignatureCounters> sig_counters_;
  // prepare_hand_over_from(): weak, so a prepared scanner keeps no old
  // database alive (and a freed one cannot match by a reused address).
  std::weak_ptr<const SignatureDatabase> map_from_;
  std::vector<uint32_t> map_from_sigs_;
  // Recent field names and their verdicts, direct-mapped: a body repeats its
  // keys in every object ("order_id" before each order number) and a name's
  // verdict depends only on its bytes (and this scanner's catalog).
  struct NameCacheEntry {
    uint8_t len = 0;  // 0: empty
    uint8_t text[64] = {};
    FieldVerdict verdict;
  };
  mutable std::array<NameCacheEntry, 16> name_cache_{};
  // Per signature: the alnum boundary rule applies (identifiers, not markers).
  std::vector<uint8_t> alnum_boundary_;
  // Per signature: folded field names for CSV headers, JSON keys, form keys.
  std::vector<std::vector<std::string>> field_names_;
  // Per signature: the sensitivity rank of its class (one span, one identifier).
  std::vector<uint8_t> class_rank_;
  // Field names of signatures < 64 by first byte (views into field_names_).
  std::vector<std::vector<std::pair<uint32_t, std::string_view>>> names_by_first_;
};

}  // namespace ftz::engine::sig
