#include "ftz/engine/signatures/scanner.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <type_traits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "decoder.hpp"
#include "judge.hpp"

namespace ftz::engine::sig {

static_assert(std::is_trivially_copyable_v<ScanState>, "ScanState lives in flow records and is memcpy-moved");
static_assert(sizeof(ScanState) <= 448, "ScanState is per flow direction: keep it small");

namespace {

// RFC 4648 base64 values, both alphabets ('+' '-' = 62, '/' '_' = 63); -1 otherwise.
constexpr std::array<int8_t, 256> make_b64_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  return t;
}
constexpr std::array<int8_t, 256> kB64 = make_b64_table();

}  // namespace

struct Scanner::Inflater {
  z_stream zs{};
  std::unique_ptr<uint8_t[]> arena;
  size_t used = 0;
  bool live = false;

  // zlib allocates its state and window from the slot's arena: no malloc per
  // flow, and the arena bounds the memory of one inflater.
  static voidpf alloc(voidpf opaque, uInt items, uInt size) {
    auto* self = static_cast<Inflater*>(opaque);
    const size_t n = (static_cast<size_t>(items) * size + 15) & ~static_cast<size_t>(15);
    if (self->used + n > kInflateArenaBytes) return Z_NULL;
    void* p = self->arena.get() + self->used;
    self->used += n;
    return p;
  }
  static void free_fn(voidpf, voidpf) {}
};

// The match callback only records (STYLE.md): validation runs after the scan.
int Scanner::on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned,
                      void* ctx) noexcept {
  auto* self = static_cast<Scanner*>(ctx);
  if (self->match_count_ == self->matches_.size()) {
    self->match_overflow_ = true;
    return 0;
  }
  // Hyperscan offsets count from the stream's start; the state's from its
  // direction's start.
  self->matches_[self->match_count_++] = RawMatch{id, from + self->match_base_, to + self->match_base_};
  return 0;
}

namespace {

// Bit i set when p[i] is [0-9A-Za-z], for 64 bytes (SSE2, every x86-64).
inline uint64_t alnum_mask64(const uint8_t* p) noexcept {
  const auto in_range = [](__m128i v, char lo, char span) {
    // (v - lo) <= span, unsigned: saturating subtract of span leaves 0.
    const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_subs_epu8(d, _mm_set1_epi8(span)), _mm_setzero_si128());
  };
  uint64_t m = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 25);
    const __m128i alnum = _mm_or_si128(in_range(v, '0', 9), letter);
    m |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(alnum))) << (16 * k);
  }
  return m;
}

constexpr bool is_alnum_byte(uint8_t c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

void Scanner::collect_run(size_t from, size_t to) noexcept {
  const size_t len = to - from;
  if (len > kMaxRunWidth || (db_->run_widths() >> len & 1u) == 0) return;
  if (const RunAutomaton* automaton = db_->run_automaton(); automaton != nullptr) {
    // The run read through the automaton: each rule it names matches the run
    // whole, recorded as the raw match Hyperscan would have reported.
    ++run_count_;
    for (const uint32_t id : automaton->match(win_ + from, len)) {
      if (match_count_ == matches_.size()) {
        match_overflow_ = true;
        return;
      }
      const uint64_t at = run_win_base_ + from;
      matches_[match_count_++] = RawMatch{id, at, at + len};
    }
    return;
  }
  std::memcpy(run_buf_.data() + run_buf_len_, win_ + from, len);
  run_buf_len_ += len;
  run_from_[run_count_++] = static_cast<uint32_t>(from);
  run_at_end_[run_buf_len_] = static_cast<uint16_t>(run_count_);
  run_buf_[run_buf_len_++] = '\n';
}

// Each run rule is "^(?:regex)$" (multi-line): a match is one whole run.
int Scanner::on_run_match(unsigned id, unsigned long long, unsigned long long to, unsigned,
                          void* ctx) noexcept {
  auto* self = static_cast<Scanner*>(ctx);
  const uint16_t k = self->run_at_end_[to];
  if (k == 0) return 0;  // cannot happen: every match ends at a '\n'
  if (self->match_count_ == self->matches_.size()) {
    self->match_overflow_ = true;
    return 0;
  }
  const uint64_t from = self->run_win_base_ + self->run_from_[k - 1u];
  const uint64_t width = self->db_->patterns()[id].min_width;
  self->matches_[self->match_count_++] = RawMatch{id, from, from + width};
  return 0;
}

bool Scanner::find_runs(uint64_t win_base, size_t begin, size_t end) noexcept {
  if (db_->runs_hs() == nullptr || begin >= end) return true;
  run_buf_len_ = 0;
  run_count_ = 0;
  run_win_base_ = win_base;
  // A run going on from before `begin`: where it starts decides whether it
  // can be a candidate. Hyperscan's matches began inside the window and at or
  // after the stream's start (stream_base); one whose byte before was not
  // visible was "truncated", one with an alnum byte before was rejected at
  // the boundary. So the run counts only when its start is seen: a non-alnum
  // byte before it, or the direction's first byte.
  bool in_run = false;
  bool usable = false;
  size_t start = 0;
  if (begin > 0 && is_alnum_byte(win_[begin]) && is_alnum_byte(win_[begin - 1])) {
    const size_t lo = match_base_ > win_base ? static_cast<size_t>(match_base_ - win_base) : 0;
    size_t i = begin - 1;
    while (i > lo && is_alnum_byte(win_[i - 1]) && begin - i <= kMaxRunWidth) --i;
    in_run = true;
    start = i;
    if (begin - i > kMaxRunWidth) {
      usable = false;
    } else if (i > lo) {
      usable = true;  // stopped at a non-alnum byte
    } else {
      usable = lo > 0 ? !is_alnum_byte(win_[lo - 1]) : win_base == 0;
    }
  }
  size_t at = begin;
  if (in_run) {
    // Its end decides its length; a run reaching `end` is collected as it
    // stands: the judge keeps its candidates pending until the next byte (or
    // the end of data) decides the boundary, as it did for a Hyperscan match
    // ending there.
    while (at < end && is_alnum_byte(win_[at])) ++at;
    if (usable) collect_run(start, at);
  }
  // Maximal runs from the alnum bit masks of 128 bytes (bytes from `end` on
  // count as non-alnum): only the starts of runs at least as long as the
  // shortest run rule are visited (number-heavy bodies have a run edge every
  // few bytes; few runs are that long).
  const auto min_width = static_cast<unsigned>(std::countr_zero(db_->run_widths()));
  const auto mask_at = [this, end](size_t from) -> uint64_t {
    if (from >= end) return 0;
    if (end - from >= 64) return alnum_mask64(win_ + from);
    uint8_t last[64] = {};
    std::memcpy(last, win_ + from, end - from);
    return alnum_mask64(last) & ((uint64_t{1} << (end - from)) - 1);
  };
  uint64_t m = mask_at(at);
  uint64_t carry = 0;  // the byte before `at` ends no run here: it is not alnum, or the run was handled
  while (at < end) {
    const uint64_t next = mask_at(at + 64);
    // Bit i of `held`: bytes i .. i + min_width - 1 are all alnum (the
    // 128 bits of m and next shifted as one; min_width <= 63).
    uint64_t held = m;
    uint64_t held_hi = next;
    for (unsigned k = 1; k < min_width;) {
      const unsigned step = std::min(k, min_width - k);
      held &= (held >> step) | (held_hi << (64 - step));
      held_hi &= held_hi >> step;
      k += step;
    }
    uint64_t starts = m & ~((m << 1) | carry) & held;
    while (starts != 0) {
      const auto i = static_cast<unsigned>(std::countr_zero(starts));
      starts &= starts - 1;
      // The run's length: the first non-alnum byte after it, within 64 bytes
      // (a longer run holds no run rule).
      const uint64_t after = ~(i == 0 ? m : (m >> i) | (next << (64 - i)));
      if (after != 0) collect_run(at + i, at + i + static_cast<size_t>(std::countr_zero(after)));
    }
    carry = m >> 63;
    m = next;
    at += 64;
  }
  counters_.runs_checked += run_count_;
  if (run_count_ == 0 || db_->run_automaton() != nullptr) return true;
  return hs_scan(db_->runs_hs(), reinterpret_cast<const char*>(run_buf_.data()),
                 static_cast<unsigned>(run_buf_len_), 0, scratch_.get(), &Scanner::on_run_match,
                 this) == HS_SUCCESS;
}

namespace {

// Bit i set when "digit, separator, digit" starts at p[i] (separator ' ',
// '-', '.' or C2 B7, as is_grouped_pattern reads them), for i < 60: the
// 64 bytes at p are read, the last four only as the tail of a triple.
inline uint64_t grouped_starts64(const uint8_t* p) noexcept {
  uint64_t digit = 0;
  uint64_t sep = 0;
  __m128i high = _mm_setzero_si128();
  const auto bits = [](__m128i m) {
    return static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(m)));
  };
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    const __m128i is_digit = _mm_cmpeq_epi8(_mm_subs_epu8(d, _mm_set1_epi8(9)), _mm_setzero_si128());
    const __m128i is_sep = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-'))),
        _mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
    digit |= bits(is_digit) << (16 * k);
    sep |= bits(is_sep) << (16 * k);
    high = _mm_or_si128(high, v);
  }
  uint64_t starts = digit & (sep >> 1) & (digit >> 2);
  // The two-byte separator C2 B7 only where a byte has its high bit set:
  // ASCII text (JSON of numbers) skips these compares.
  if (_mm_movemask_epi8(high) != 0) {
    uint64_t c2 = 0;
    uint64_t b7 = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
      c2 |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(0xC2)))) << (16 * k);
      b7 |= bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(0xB7)))) << (16 * k);
    }
    starts |= digit & (c2 >> 1) & (b7 >> 2) & (digit >> 3);
  }
  return starts & ((uint64_t{1} << 60) - 1);
}

}  // namespace

// A grouped pattern's match is reported for the slice its end falls in:
// matches ending at or before the slice start were the previous slice's. No
// match crosses the '\n' between windows (is_grouped_pattern).
int Scanner::on_grouped_match(unsigned id, unsigned long long from, unsigned long long to, unsigned,
                              void* ctx) noexcept {
  auto* self = static_cast<Scanner*>(ctx);
  const auto first = self->grouped_at_.begin();
  const auto k = static_cast<size_t>(
      std::upper_bound(first, first + static_cast<std::ptrdiff_t>(self->grouped_count_), from) - first - 1);
  const size_t shift = self->grouped_from_[k] - self->grouped_at_[k];  // buffer -> window offset (mod 2^64)
  if (to + shift <= self->grouped_new_after_) return 0;
  if (self->match_count_ == self->matches_.size()) {
    self->match_overflow_ = true;
    return 0;
  }
  const uint64_t at = self->run_win_base_ + shift;
  self->matches_[self->match_count_++] = RawMatch{id, at + from, at + to};
  return 0;
}

void Scanner::collect_grouped_window(size_t from, size_t to) noexcept {
  grouped_at_[grouped_count_] = static_cast<uint32_t>(grouped_buf_len_);
  grouped_from_[grouped_count_++] = static_cast<uint32_t>(from);
  std::memcpy(grouped_buf_.data() + grouped_buf_len_, win_ + from, to - from);
  grouped_buf_len_ += to - from;
  grouped_buf_[grouped_buf_len_++] = '\n';
}

bool Scanner::find_grouped(uint64_t win_base, size_t begin, size_t end) noexcept {
  if (db_->grouped_hs() == nullptr || begin >= end) return true;
  // Window offsets: nothing before the stream's start (a stream that began
  // at a hand-over never saw the bytes before it) or before the tail.
  const size_t w = db_->grouped_width();
  const size_t lo = match_base_ > win_base ? static_cast<size_t>(match_base_ - win_base) : 0;
  run_win_base_ = win_base;
  grouped_new_after_ = begin;
  grouped_buf_len_ = 0;
  grouped_count_ = 0;
  // A match ending after `begin` is at most w bytes long and holds a triple
  // starting after begin - w: look from there. The triple's last byte must
  // be visible (< end); its window reaches w bytes each way.
  size_t at = std::max(lo, begin > w ? begin - w : 0);
  size_t open_from = 0;
  size_t open_to = 0;
  bool open = false;
  uint8_t last[64];
  while (at + 2 < end) {
    const size_t n = std::min<size_t>(64, end - at);
    uint64_t m;
    if (n == 64) {
      m = grouped_starts64(win_ + at);
    } else {
      std::memset(last, 0, sizeof last);
      std::memcpy(last, win_ + at, n);
      m = grouped_starts64(last);
    }
    while (m != 0) {
      const size_t q = at + static_cast<size_t>(__builtin_ctzll(m));
      m &= m - 1;
      // A match holding the triple lies in the run of bytes a grouped match
      // can hold around it (at most w each way): the window; none fits in a
      // run shorter than the shortest grouped pattern.
      const size_t left = std::max(lo, q > w ? q - w : 0);
      const size_t right = std::min(end, q + w + 4);
      size_t from = q;
      while (from > left && db_->in_grouped_alphabet(win_[from - 1])) --from;
      size_t to = q + 3;
      while (to < right && db_->in_grouped_alphabet(win_[to])) ++to;
      if (to - from < db_->grouped_min_width()) continue;
      if (open && from <= open_to) {
        open_to = std::max(open_to, to);
        continue;
      }
      if (open) collect_grouped_window(open_from, open_to);
      open = true;
      open_from = from;
      open_to = to;
    }
    at += std::min<size_t>(60, n);
  }
  if (!open) return true;
  collect_grouped_window(open_from, open_to);
  counters_.grouped_windows += grouped_count_;
  return hs_scan(db_->grouped_hs(), reinterpret_cast<const char*>(grouped_buf_.data()),
                 static_cast<unsigned>(grouped_buf_len_), 0, scratch_.get(), &Scanner::on_grouped_match,
                 this) == HS_SUCCESS;
}

tl::expected<std::unique_ptr<Scanner>, std::string> Scanner::create(
    std::shared_ptr<const SignatureDatabase> db, const ScannerConfig& config) {
  if (!db) return tl::unexpected(std::string("scanner: no signature database"));
  if (config.block_bytes < 256) return tl::unexpected(std::string("scanner: block_bytes below 256"));
  if (config.max_matches_per_block < 64)
    return tl::unexpected(std::string("scanner: max_matches_per_block below 64"));
  std::unique_ptr<Scanner> s(new Scanner());
  s->db_ = std::move(db);
  s->config_ = config;
  auto scratch = s->db_->clone_scratch();
  if (!scratch) return tl::unexpected(scratch.error());
  s->scratch_ = std::move(*scratch);
  s->streams_.reserve(config.max_streams);
  s->free_streams_.reserve(config.max_streams);
  for (uint32_t i = 0; i < config.max_streams; ++i) {
    hs_stream_t* h = nullptr;
    if (hs_open_stream(s->db_->hs(), 0, &h) != HS_SUCCESS) {
      return tl::unexpected("scanner: hs_open_stream failed for stream " + std::to_string(i));
    }
    s->streams_.emplace_back(h);
  }
  for (uint32_t i = config.max_streams; i-- > 0;) s->free_streams_.push_back(i);
  const uint64_t slots = config.inflate_memcap_bytes / kInflateArenaBytes;
  for (uint64_t i = 0; i < slots; ++i) {
    auto inf = std::make_unique<Inflater>();
    inf->arena = std::make_unique<uint8_t[]>(kInflateArenaBytes);
    s->inflaters_.push_back(std::move(inf));
  }
  for (size_t i = s->inflaters_.size(); i-- > 0;) s->free_inflaters_.push_back(static_cast<uint32_t>(i));
  s->window_.assign(kTailBytes + config.block_bytes + detail::kDecoderSlack, 0);
  s->tmp_.assign(config.block_bytes + detail::kDecoderSlack, 0);
  s->tmp2_.assign(config.block_bytes + detail::kDecoderSlack, 0);
  for (uint8_t d = 0; d <= kBase64MaxDepth; ++d) {
    s->inflated_d_[d].assign(config.block_bytes, 0);
    s->inflated2_d_[d].assign(config.block_bytes, 0);
    s->b64_[d].out.assign(config.block_bytes * 3 / 4 + 64, 0);
    s->b64_[d].segs.resize(config.block_bytes / kBase64MinRun + 8);
  }
  const uint32_t children =
      config.max_children != 0 ? config.max_children : std::max<uint32_t>(8, config.max_streams / 4);
  s->children_.resize(children);
  for (uint32_t i = children; i-- > 0;) s->free_children_.push_back(i);
  // Children have streams of their own (indices from max_streams on).
  for (uint32_t i = 0; i < children; ++i) {
    hs_stream_t* h = nullptr;
    if (hs_open_stream(s->db_->hs(), 0, &h) != HS_SUCCESS) {
      return tl::unexpected("scanner: hs_open_stream failed for child stream " + std::to_string(i));
    }
    s->free_child_streams_.push_back(static_cast<uint32_t>(s->streams_.size()));
    s->streams_.emplace_back(h);
  }
  s->matches_.resize(config.max_matches_per_block);
  // A slice's runs, each with its '\n', plus a run begun up to kMaxRunWidth
  // bytes before the slice.
  const size_t run_bytes = 2 * (kSliceBytes + kMaxRunWidth) + 2;
  s->run_buf_.resize(run_bytes);
  s->run_from_.resize(run_bytes / 2);
  s->run_at_end_.resize(run_bytes);
  // A slice's grouped windows: disjoint, within kMaxGroupedWidth bytes
  // before the slice and 4 + kMaxGroupedWidth after a triple in it, each
  // with its '\n'.
  const size_t grouped_bytes = 2 * (kSliceBytes + 2 * kMaxGroupedWidth + 4) + 2;
  s->grouped_buf_.resize(grouped_bytes);
  s->grouped_at_.resize(grouped_bytes / 2);
  s->grouped_from_.resize(grouped_bytes / 2);
  s->cands_.resize(detail::kMaxCandidates + kPendingSpans * 3);
  s->order_.resize(s->cands_.size());
  s->emitted_.resize(s->cands_.size());
  s->marks_.resize(kSliceBytes);  // at most one field mark per byte of a slice
  s->sig_counters_.resize(s->db_->specs().size());
  s->init_context();
  return s;
}

size_t Scanner::scratch_bytes() const noexcept {
  size_t n = 0;
  return hs_scratch_size(scratch_.get(), &n) == HS_SUCCESS ? n : 0;
}

Scanner::~Scanner() {
  for (auto& inf : inflaters_) {
    if (inf->live) inflateEnd(&inf->zs);
  }
}

void Scanner::mark_uninspectable(ScanState& st, Uninspectable why) noexcept {
  if (!st.uninspectable) {
    st.uninspectable = true;
    st.reason = why;
    ++counters_.uninspectable[static_cast<size_t>(why)];
  }
  release(st);
}

void Scanner::release(ScanState& st) noexcept {
  release_stream(st);
  release_inflater(st);
  release_slot(st.inflater2);
  st.pending_count = 0;
  if (st.child != kNoSlot) {
    const uint32_t c = st.child;
    st.child = kNoSlot;
    release(children_[c]);
    free_children_.push_back(c);
  }
  st.b64_run = 0;
  st.b64_case = 0;
}

void Scanner::degrade(ScanState& st, Uninspectable why) noexcept {
  if (st.degraded != Uninspectable::kNone || why == Uninspectable::kNone) return;
  st.degraded = why;
  ++counters_.uninspectable[static_cast<size_t>(why)];
}

void Scanner::release_stream(ScanState& st) noexcept {
  if (st.stream == kNoSlot) return;
  hs_reset_stream(streams_[st.stream].get(), 0, nullptr, nullptr, nullptr);
  (st.stream >= config_.max_streams ? free_child_streams_ : free_streams_).push_back(st.stream);
  st.stream = kNoSlot;
  --counters_.streams_in_use;
}

std::vector<uint32_t> map_signatures(std::span<const SignatureSpec> from, std::span<const SignatureSpec> to) {
  std::vector<uint32_t> map(from.size(), kNoSignature);
  for (size_t i = 0; i < from.size(); ++i) {
    for (size_t j = 0; j < to.size(); ++j) {
      if (to[j].name == from[i].name) {
        map[i] = static_cast<uint32_t>(j);
        break;
      }
    }
  }
  return map;
}

void Scanner::prepare_hand_over_from(const std::shared_ptr<const SignatureDatabase>& from) {
  map_from_ = from;
  map_from_sigs_ = from ? map_signatures(from->specs(), db_->specs()) : std::vector<uint32_t>{};
}

const std::vector<uint32_t>* Scanner::hand_over_map(const SignatureDatabase* from) const noexcept {
  const std::shared_ptr<const SignatureDatabase> prepared = map_from_.lock();
  return prepared != nullptr && prepared.get() == from ? &map_from_sigs_ : nullptr;
}

void Scanner::hand_over(ScanState& st, const ScanContext& ctx, DetectionSink& sink, Scanner* next,
                        std::span<const uint32_t> sig_map) noexcept {
  if (next == nullptr) {
    // Nothing scans this direction for now: finish it; whatever scanner
    // comes later starts afresh (the bytes in between are not scanned).
    finish(st, ctx, sink);
    const uint64_t offset = st.offset;
    const bool uninspectable = st.uninspectable;
    const Uninspectable reason = st.reason;
    st = ScanState{};
    st.offset = offset;
    st.stream_base = offset;
    st.uninspectable = uninspectable;
    st.reason = reason;
    return;
  }
  if (st.finished || st.uninspectable || st.stream == kNoSlot) return;
  // A base64 run under way ends here (its child belongs to this scanner).
  b64_end_run(st, ctx, sink);
  // End of data for this database: `$` matches, pending spans decided (the
  // look-ahead decoders' held bytes first, so an identifier they hold back
  // is decided here as well).
  scan_block(st, ctx, sink, detail::flush_lookahead(st, window_.data() + kTailBytes), true);
  if (st.uninspectable) return;  // match overflow: slots already returned
  release_stream(st);
  st.pending_count = 0;
  // Signatures bound by field names (CSV header row, judged JSON / form /
  // key-value names): the same signatures in `next`. Vetoes (CSV veto
  // columns, kFieldVeto) do not depend on the catalog.
  auto remap = [&sig_map](uint64_t sigs) {
    uint64_t mask = 0;
    for (uint64_t m = sigs; m != 0; m &= m - 1) {
      const auto from = static_cast<size_t>(std::countr_zero(m));
      const uint32_t to = from < sig_map.size() ? sig_map[from] : kNoSignature;
      if (to < 64) mask |= uint64_t{1} << to;
    }
    return mask;
  };
  uint8_t kept = 0;
  for (uint8_t i = 0; i < st.csv_bindings; ++i) {
    const uint64_t mask = remap(st.csv_bound_mask[i]);
    if (mask != 0) {
      st.csv_bound_column[kept] = st.csv_bound_column[i];
      st.csv_bound_mask[kept] = mask;
      ++kept;
    }
  }
  st.csv_bindings = kept;
  for (FieldName* name : {&st.field, &st.json_array_field}) {
    if ((name->flags & kFieldJudged) != 0) name->ref = remap(name->ref);
  }
  // A compressed body under way: its inflate states move to `next`.
  bool copied = true;
  for (uint32_t* slot : {&st.inflater, &st.inflater2}) {
    if (*slot == kNoSlot) continue;
    const uint32_t mine = *slot;
    Inflater& from = *inflaters_[mine];
    *slot = kNoSlot;
    copied = next->copy_inflater(*slot, from) && copied;
    if (from.live) inflateEnd(&from.zs);
    from.live = false;
    free_inflaters_.push_back(mine);
    --counters_.inflaters_in_use;
  }
  if (!copied) next->mark_uninspectable(st, Uninspectable::kInflateMemcap);
}

bool Scanner::copy_inflater(uint32_t& out_slot, Inflater& from) noexcept {
  if (free_inflaters_.empty()) return false;
  const uint32_t slot = free_inflaters_.back();
  Inflater& to = *inflaters_[slot];
  if (to.live) inflateEnd(&to.zs);
  to.live = false;
  to.used = 0;
  // inflateCopy allocates through the SOURCE's zalloc and opaque: point the
  // source at this arena for the copy. The copy keeps the opaque (&to).
  from.zs.opaque = &to;
  const int rc = inflateCopy(&to.zs, &from.zs);
  from.zs.opaque = &from;
  if (rc != Z_OK) return false;
  to.zs.opaque = &to;
  to.live = true;
  free_inflaters_.pop_back();
  out_slot = slot;
  ++counters_.inflaters_in_use;
  return true;
}

bool Scanner::acquire_inflater(uint32_t& out_slot, Encoding enc, const uint8_t* in, size_t n) noexcept {
  if (free_inflaters_.empty()) return false;
  const uint32_t slot = free_inflaters_.back();
  free_inflaters_.pop_back();
  Inflater& inf = *inflaters_[slot];
  if (inf.live) inflateEnd(&inf.zs);
  inf.zs = z_stream{};
  inf.zs.zalloc = &Inflater::alloc;
  inf.zs.zfree = &Inflater::free_fn;
  inf.zs.opaque = &inf;
  inf.used = 0;
  int wbits = 15 + 16;  // gzip
  if (enc == Encoding::kDeflate) {
    // HTTP "deflate" is zlib (RFC 1950), but servers also send raw deflate.
    const bool zlib_header = n >= 2 && (in[0] & 0x0F) == 8 && ((in[0] << 8) | in[1]) % 31 == 0;
    wbits = zlib_header || n < 2 ? 15 : -15;
  } else if (enc == Encoding::kDeflateRaw) {
    wbits = -15;
  }
  if (inflateInit2(&inf.zs, wbits) != Z_OK) {
    free_inflaters_.push_back(slot);
    return false;
  }
  inf.live = true;
  out_slot = slot;
  ++counters_.inflaters_in_use;
  return true;
}

void Scanner::release_slot(uint32_t& slot) noexcept {
  if (slot == kNoSlot) return;
  Inflater& inf = *inflaters_[slot];
  if (inf.live) inflateEnd(&inf.zs);
  inf.live = false;
  free_inflaters_.push_back(slot);
  slot = kNoSlot;
  --counters_.inflaters_in_use;
}

void Scanner::release_inflater(ScanState& st) noexcept {
  release_slot(st.inflater);
}

void Scanner::restart_body(ScanState& st, const ScanContext& ctx) noexcept {
  st.b64_run = 0;  // the run ended with the previous body (end_unit)
  st.b64_case = 0;
  st.b64_bits = 0;
  st.b64_nbits = 0;
  st.b64_pre_len = 0;
  detail::reset(st);
  release_inflater(st);
  release_slot(st.inflater2);
  st.inflate_done = false;
  st.inflate2_done = false;
  st.passthrough = false;
  st.passthrough2 = false;
  st.zhold_set = false;
  st.inflated = 0;
  st.kind = ctx.kind;
  st.encoding = ctx.encoding;
  st.inner = ctx.inner;
  st.inner_decl = ctx.inner;
  // A body without a declared coding may still be a gzip file (1f 8b), and
  // the content of a coding may be gzip again: both are looked at.
  st.outer = ctx.encoding;
  st.sniff = ctx.encoding == Encoding::kIdentity ? 1 : 0;
  st.sniff2 = ctx.inner == Encoding::kIdentity ? 1 : 2;
  st.csv_line = 0;
  st.csv_quoted = false;
  st.csv_bindings = 0;
  st.csv_column = 0;
  st.csv_cell_start = st.offset;
  st.csv_veto_columns = 0;
  st.csv_digit_run = 0;
  st.csv_no_header = false;
  st.field_flags = 0;
  st.json_depth = 0;
  st.json_arrays = 0;
  st.field = FieldName{};
  st.field.ref = st.offset;  // a form body's first key starts here
  st.json_array_field = FieldName{};
  st.body_started = true;
}

void Scanner::scan(ScanState& st, std::span<const uint8_t> bytes, const ScanContext& ctx,
                   DetectionSink& sink) noexcept {
  if (st.finished || st.uninspectable) return;
  ++counters_.chunks;
  counters_.bytes_in += bytes.size();
  if (st.stream == kNoSlot) {
    std::vector<uint32_t>& pool = st.depth > 0 ? free_child_streams_ : free_streams_;
    if (pool.empty()) {
      mark_uninspectable(st, Uninspectable::kStreamPoolExhausted);
      return;
    }
    st.stream = pool.back();
    pool.pop_back();
    st.stream_base = st.offset;
    counters_.streams_peak = std::max(counters_.streams_peak, ++counters_.streams_in_use);
  }
  if (ctx.body_start || !st.body_started || ctx.kind != st.kind || ctx.encoding != st.encoding ||
      ctx.inner != st.inner_decl) {
    // What the previous body's decoders still hold is content of that body.
    if (st.body_started) {
      end_unit(st, ctx, sink);
      if (st.uninspectable) return;
    }
    restart_body(st, ctx);
  }
  if (!bytes.empty()) feed(st, ctx, sink, bytes.data(), bytes.size());
}

// Decoding, one chunk: [first layer: declared coding or a gzip magic] ->
// [second layer: declared inner coding or a gzip member inside the first] ->
// text decoders -> blocks for Hyperscan. Bytes after the end of a compressed
// stream that are not another gzip member are scanned as sent (never
// dropped). Corrupt compressed data makes the direction uninspectable
// (kDecodeError); a third level of compression is not decoded (kDecodeDepth).
void Scanner::feed(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in,
                   size_t n) noexcept {
  size_t produced = 0;
  // The first two bytes of a body decide a gzip magic (no declared coding) or
  // the zlib header of "deflate": a 1-byte first chunk waits in zhold.
  const bool peek = st.sniff != 0 || (st.outer == Encoding::kDeflate && st.inflater == kNoSlot &&
                                      !st.inflate_done && !st.passthrough);
  if (peek) {
    uint8_t head[2];
    if (st.zhold_set) {
      head[0] = st.zhold;
      head[1] = in[0];
    } else if (n == 1) {
      st.zhold = in[0];
      st.zhold_set = true;
      return;
    } else {
      head[0] = in[0];
      head[1] = in[1];
    }
    if (st.sniff != 0) {
      st.sniff = 0;
      if (head[0] == 0x1f && head[1] == 0x8b) st.outer = Encoding::kGzip;
    }
    if (st.outer != Encoding::kIdentity && st.inflater == kNoSlot) {
      if (!acquire_inflater(st.inflater, st.outer, head, 2)) {
        mark_uninspectable(st, Uninspectable::kInflateMemcap);
        return;
      }
      st.inflated = 0;
    }
    if (st.zhold_set) {
      st.zhold_set = false;
      const uint8_t held = st.zhold;
      if (!layer1(st, ctx, sink, &held, 1, produced)) return;
    }
  }
  if (!layer1(st, ctx, sink, in, n, produced)) return;
  if (produced > 0) scan_block(st, ctx, sink, produced, false);
}

bool Scanner::layer1(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n,
                     size_t& produced) noexcept {
  if (st.outer == Encoding::kIdentity || st.passthrough) return layer2(st, ctx, sink, in, n, produced);
  while (n > 0) {
    if (st.inflate_done) {
      // After the end of a compressed stream: another gzip member, or bytes
      // that are not compressed (scanned as they are).
      if (st.outer != Encoding::kGzip || in[0] != 0x1f) {
        st.passthrough = true;
        return layer2(st, ctx, sink, in, n, produced);
      }
      st.inflate_done = false;
    }
    if (st.inflater == kNoSlot && !acquire_inflater(st.inflater, st.outer, in, n)) {
      if (produced > 0) scan_block(st, ctx, sink, produced, false);
      mark_uninspectable(st, Uninspectable::kInflateMemcap);
      return false;
    }
    const InflateStep r =
        inflate_step(st, ctx, sink, st.inflater, inflated_d_[st.depth].data(), in, n, produced, 1);
    if (r.failed) return false;
    in += r.used;
    n -= r.used;
    if (!r.ended) break;
    release_inflater(st);
    st.inflate_done = true;
  }
  return true;
}

bool Scanner::layer2(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n,
                     size_t& produced) noexcept {
  if (n == 0) return true;
  if (st.sniff2 == 1) {
    // A gzip member inside the first layer (a .gz uploaded with gzip coding,
    // "Content-Encoding: gzip" over a gzip file): decoded as a second layer.
    st.sniff2 = 0;
    if (st.outer != Encoding::kIdentity && n >= 2 && in[0] == 0x1f && in[1] == 0x8b)
      st.inner = Encoding::kGzip;
    // A third level (gzip inside the second layer) is not decoded: checked
    // on the second layer's first output.
    if (st.inner != Encoding::kIdentity) st.sniff2 = 2;
  }
  if (st.inner == Encoding::kIdentity || st.passthrough2) return text(st, ctx, sink, in, n, produced);
  while (n > 0) {
    if (st.inflate2_done) {
      if (st.inner != Encoding::kGzip || in[0] != 0x1f) {
        st.passthrough2 = true;
        return text(st, ctx, sink, in, n, produced);
      }
      st.inflate2_done = false;
    }
    if (st.inflater2 == kNoSlot && !acquire_inflater(st.inflater2, st.inner, in, n)) {
      if (produced > 0) scan_block(st, ctx, sink, produced, false);
      mark_uninspectable(st, Uninspectable::kInflateMemcap);
      return false;
    }
    const InflateStep r =
        inflate_step(st, ctx, sink, st.inflater2, inflated2_d_[st.depth].data(), in, n, produced, 2);
    if (r.failed) return false;
    in += r.used;
    n -= r.used;
    if (!r.ended) break;
    release_slot(st.inflater2);
    st.inflate2_done = true;
  }
  return true;
}

bool Scanner::text(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n,
                   size_t& produced) noexcept {
  uint8_t* const block = window_.data() + kTailBytes;
  const size_t cap = config_.block_bytes;
  while (n > 0) {
    if (cap - produced < 2 * detail::kDecoderSlack) {
      scan_block(st, ctx, sink, produced, false);
      produced = 0;
      if (st.uninspectable) return false;
    }
    const size_t piece = std::min(n, cap - produced - detail::kDecoderSlack);
    const size_t before = produced;
    produced += detail::decode(st, in, piece, tmp_.data(), tmp2_.data(), block + produced);
    b64_track(st, block + before, produced - before);
    in += piece;
    n -= piece;
  }
  return true;
}

namespace {
// First index in [i, n) of an ASCII capital letter, n if none.
size_t next_upper(const uint8_t* p, size_t i, size_t n) noexcept {
  static_assert(std::endian::native == std::endian::little, "lane order below");
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full;
#ifdef __SSE2__
  // Sixteen bytes at a time where SSE2 is there (every x86-64).
  const __m128i a = _mm_set1_epi8('A');
  const __m128i z = _mm_set1_epi8('Z' - 'A');
  for (; i + 16 <= n; i += 16) {
    const __m128i d = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), a);
    const auto m = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, z), d)));
    if (m != 0) return i + static_cast<size_t>(std::countr_zero(m));
  }
#endif
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    const uint64_t low = w & kLow7;
    // Bytes strictly between '@' and '[' (Bit Twiddling Hacks "hasbetween").
    const uint64_t m = ((kOnes * (127 + '[')) - low) & ~w & (low + kOnes * (127 - '@')) & kHigh;
    if (m != 0) return i + static_cast<size_t>(std::countr_zero(m) >> 3);
  }
  for (; i < n; ++i) {
    if (p[i] >= 'A' && p[i] <= 'Z') return i;
  }
  return n;
}
}  // namespace

// base64 runs in the decoded bytes of a block. Short runs (words, numbers)
// are passed over without decoding; a run of kBase64MinRun characters with
// both letter cases is decoded into this depth's buffer as segments, which
// b64_replay() feeds to the child state once the block has been scanned
// (the child reuses the scanner's work buffers). A line break inside a run
// whose line has 40+ characters continues it (MIME, PEM).
void Scanner::b64_track(ScanState& st, const uint8_t* p, size_t n) noexcept {
  B64Depth& b64 = b64_[st.depth];
  auto seg = [&](bool open) -> B64Segment* {
    if (!open && b64.nsegs > 0 && !b64.segs[b64.nsegs - 1].end) return &b64.segs[b64.nsegs - 1];
    if (b64.nsegs == b64.segs.size()) return nullptr;  // bounded: cannot happen (runs >= 16 chars)
    B64Segment& g = b64.segs[b64.nsegs++];
    g = B64Segment{b64.used, 0, static_cast<uint8_t>(open ? 1 : 0), 0};
    return &g;
  };
  auto put = [&](uint8_t byte) {
    if (st.b64_case & 4) {
      B64Segment* g = seg(false);
      if (g == nullptr || b64.used >= b64.out.size()) return;
      b64.out[b64.used++] = byte;
      ++g->len;
    } else if (st.b64_pre_len < sizeof st.b64_pre) {
      st.b64_pre[st.b64_pre_len++] = byte;
    }
  };
  auto end_run = [&] {
    if (st.b64_case & 4) {
      B64Segment* g = seg(false);
      if (g != nullptr) g->end = 1;
    }
    st.b64_run = 0;
    st.b64_case = 0;
    st.b64_bits = 0;
    st.b64_nbits = 0;
    st.b64_pre_len = 0;
    st.b64_line = 0;
  };
  size_t i = 0;
  while (i < n) {
    if (st.b64_run == 0) {
      // Outside a run. A run that qualifies has an upper-case letter: find
      // the next one eight bytes at a time (exact SWAR range test), then the
      // run around it; text without capitals is passed over at word speed.
      // A run still open at the chunk end is tracked byte by byte (it may
      // go on in the next chunk).
      const size_t u = next_upper(p, i, n);
      if (u == n) {
        size_t t = n;
        while (t > i && kB64[p[t - 1]] >= 0) --t;
        if (t == n) break;
        i = t;
      } else {
        size_t s0 = u;
        while (s0 > i && kB64[p[s0 - 1]] >= 0) --s0;
        size_t j = u;
        while (j < n && kB64[p[j]] >= 0) ++j;
        if (j < n && j - s0 < kBase64MinRun) {
          i = j;
          continue;
        }
        i = s0;
      }
    }
    const uint8_t c = p[i];
    const int v = kB64[c];  // NOLINT(bugprone-signed-char-misuse): -1 marks a non-alphabet byte
    if (v >= 0) {
      ++st.b64_run;
      if (st.b64_line < 255) ++st.b64_line;
      if (c >= 'a' && c <= 'z')
        st.b64_case |= 1;
      else if (c >= 'A' && c <= 'Z')
        st.b64_case |= 2;
      st.b64_bits = (st.b64_bits << 6) | static_cast<uint32_t>(v);
      st.b64_nbits = static_cast<uint8_t>(st.b64_nbits + 6);
      if (st.b64_nbits >= 8) {
        st.b64_nbits = static_cast<uint8_t>(st.b64_nbits - 8);
        put(static_cast<uint8_t>(st.b64_bits >> st.b64_nbits));
        st.b64_bits &= (1u << st.b64_nbits) - 1;
      }
      if (st.b64_run == kBase64MinRun && (st.b64_case & 8) == 0) {
        if ((st.b64_case & 3) == 3) {
          // The run qualifies: a child starts with what was held.
          st.b64_case |= 4;
          B64Segment* g = seg(true);
          if (g != nullptr) {
            const size_t k = std::min<size_t>(st.b64_pre_len, b64.out.size() - b64.used);
            std::memcpy(b64.out.data() + b64.used, st.b64_pre, k);
            b64.used += static_cast<uint32_t>(k);
            g->len += static_cast<uint32_t>(k);
          }
        } else {
          st.b64_case |= 8;  // one letter case only (digits, hex, words): not base64
        }
      }
      ++i;
      continue;
    }
    if ((c == '\r' || c == '\n') && st.b64_line >= 40) {
      st.b64_line = 0;
      ++i;
      continue;
    }
    end_run();
    ++i;
  }
}

void Scanner::b64_replay(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept {
  B64Depth& b64 = b64_[st.depth];
  if (b64.nsegs == 0) return;
  ScanContext cctx;
  cctx.now_unix_s = ctx.now_unix_s;
  for (uint32_t k = 0; k < b64.nsegs; ++k) {
    const B64Segment g = b64.segs[k];
    if (g.open) {
      if (st.depth >= kBase64MaxDepth) {
        degrade(st, Uninspectable::kDecodeDepth);  // base64 nested deeper than decoded
      } else if (free_children_.empty()) {
        degrade(st, Uninspectable::kStreamPoolExhausted);
      } else {
        st.child = free_children_.back();
        free_children_.pop_back();
        children_[st.child] = ScanState{};
        children_[st.child].depth = static_cast<uint8_t>(st.depth + 1);
      }
    }
    if (st.child == kNoSlot) continue;
    ScanState& c = children_[st.child];
    if (g.len > 0) scan(c, {b64.out.data() + g.at, g.len}, cctx, sink);
    if (g.end) {
      finish(c, cctx, sink);
      if (c.uninspectable) degrade(st, c.reason);
      if (c.degraded != Uninspectable::kNone) degrade(st, c.degraded);
      free_children_.push_back(st.child);
      st.child = kNoSlot;
    }
  }
  b64.used = 0;
  b64.nsegs = 0;
}

void Scanner::b64_end_run(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept {
  b64_replay(st, ctx, sink);
  if (st.child != kNoSlot) {
    ScanState& c = children_[st.child];
    finish(c, ctx, sink);
    if (c.uninspectable) degrade(st, c.reason);
    if (c.degraded != Uninspectable::kNone) degrade(st, c.degraded);
    free_children_.push_back(st.child);
    st.child = kNoSlot;
  }
  st.b64_run = 0;
  st.b64_case = 0;
  st.b64_bits = 0;
  st.b64_nbits = 0;
  st.b64_pre_len = 0;
  st.b64_line = 0;
}

Scanner::InflateStep Scanner::inflate_step(ScanState& st, const ScanContext& ctx, DetectionSink& sink,
                                           uint32_t slot, uint8_t* outbuf, const uint8_t* in, size_t n,
                                           size_t& produced, int layer) noexcept {
  InflateStep step;
  z_stream& zs = inflaters_[slot]->zs;
  zs.next_in = const_cast<Bytef*>(in);
  zs.avail_in = static_cast<uInt>(std::min<size_t>(n, UINT32_MAX));
  const size_t offered = zs.avail_in;
  for (;;) {
    const size_t room = config_.block_bytes;
    zs.next_out = outbuf;
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t got = room - zs.avail_out;
    st.inflated += got;
    if (st.inflated > config_.max_inflated_per_body) {
      if (produced > 0) scan_block(st, ctx, sink, produced, false);
      mark_uninspectable(st, Uninspectable::kInflateLimit);
      step.failed = true;
      return step;
    }
    if (layer == 2 && st.sniff2 == 2 && got > 0) {
      st.sniff2 = 0;
      if (got >= 2 && outbuf[0] == 0x1f && outbuf[1] == 0x8b) degrade(st, Uninspectable::kDecodeDepth);
    }
    const bool ok = layer == 1 ? layer2(st, ctx, sink, outbuf, got, produced)
                               : text(st, ctx, sink, outbuf, got, produced);
    if (!ok || st.uninspectable) {
      step.failed = true;
      return step;
    }
    if (rc == Z_STREAM_END) {
      step.ended = true;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      if (produced > 0) scan_block(st, ctx, sink, produced, false);
      mark_uninspectable(st, Uninspectable::kDecodeError);
      step.failed = true;
      return step;
    }
    // Done with this input once zlib neither consumes nor produces more.
    if (zs.avail_in == 0 && zs.avail_out != 0) break;
    if (rc == Z_BUF_ERROR && got == 0) break;
  }
  step.used = offered - zs.avail_in;
  return step;
}

void Scanner::end_unit(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept {
  if (st.finished || st.uninspectable || st.stream == kNoSlot) return;
  uint8_t* const block = window_.data() + kTailBytes;
  size_t produced = 0;
  if (st.zhold_set) {
    // A 1-byte body: no coding to decode, the byte is content.
    st.zhold_set = false;
    const uint8_t held = st.zhold;
    st.outer = Encoding::kIdentity;
    st.passthrough = true;
    if (!layer1(st, ctx, sink, &held, 1, produced)) return;
  }
  produced += detail::flush(st, block + produced);
  block[produced++] = '\n';
  scan_block(st, ctx, sink, produced, false);
  b64_end_run(st, ctx, sink);
}

void Scanner::finish(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept {
  if (st.finished) return;
  st.finished = true;
  if (st.uninspectable || st.stream == kNoSlot) {
    release(st);
    return;
  }
  uint8_t* const block = window_.data() + kTailBytes;
  size_t produced = 0;
  if (st.zhold_set) {
    // A 1-byte body: no coding to decode, the byte is content.
    st.zhold_set = false;
    const uint8_t held = st.zhold;
    st.outer = Encoding::kIdentity;
    st.passthrough = true;
    if (!layer1(st, ctx, sink, &held, 1, produced)) return;
  }
  produced += detail::flush(st, block + produced);
  scan_block(st, ctx, sink, produced, true);
  b64_end_run(st, ctx, sink);
  release(st);
}

void Scanner::scan_block(ScanState& st, const ScanContext& ctx, DetectionSink& sink, size_t produced,
                         bool at_end) noexcept {
  const size_t tail = st.tail_len;
  uint8_t* const block = window_.data() + kTailBytes;
  win_ = block - tail;
  std::memcpy(win_, st.tail, tail);
  const uint64_t win_base = st.offset - tail;
  hs_stream_t* const stream = streams_[st.stream].get();
  match_base_ = st.stream_base;
  size_t done = 0;
  do {
    const size_t slice = std::min(kSliceBytes, produced - done);
    if (slice > 0) {
      if (hs_scan_stream(stream, reinterpret_cast<const char*>(block + done), static_cast<unsigned>(slice), 0,
                         scratch_.get(), &Scanner::on_match, this) != HS_SUCCESS) {
        match_count_ = 0;
        mark_uninspectable(st, Uninspectable::kScanError);
        return;
      }
      if (!find_runs(win_base, tail + done, tail + done + slice) ||
          !find_grouped(win_base, tail + done, tail + done + slice)) {
        match_count_ = 0;
        mark_uninspectable(st, Uninspectable::kScanError);
        return;
      }
      ++counters_.blocks;
      counters_.bytes_scanned += slice;
      st.offset += slice;
      done += slice;
    }
    const bool last = at_end && done == produced;
    if (last) {
      // End of data: matches of `$`-anchored patterns, then a clean stream.
      hs_reset_stream(stream, 0, scratch_.get(), &Scanner::on_match, this);
    }
    field_advance(st, win_base, done - slice + tail, done + tail);
    judge(st, ctx, sink, win_base, tail + done, last);
    if (match_overflow_) {
      match_overflow_ = false;
      mark_uninspectable(st, Uninspectable::kMatchOverflow);
      return;
    }
  } while (done < produced);
  // Keep the last kTailBytes decoded bytes for the next block.
  const size_t vis = tail + produced;
  const size_t keep = std::min(vis, kTailBytes);
  settle_fields(st, win_base, win_base + vis - keep);
  std::memmove(st.tail, win_ + vis - keep, keep);
  st.tail_len = static_cast<uint8_t>(keep);
  // The block's base64 runs go to the child now that the block is done.
  b64_replay(st, ctx, sink);
}

}  // namespace ftz::engine::sig
