#include "ftz/engine/signatures/scanner.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "decoder.hpp"
#include "ftz/engine/classify/masking.hpp"

namespace ftz::engine::sig {

static_assert(std::is_trivially_copyable_v<ScanState>, "ScanState lives in flow records and is memcpy-moved");
static_assert(sizeof(ScanState) <= 384, "ScanState is per flow direction: keep it small");

namespace {

constexpr std::string_view kUninspectableNames[] = {
#define FTZ_X(id, name) name,
    FTZ_SIG_UNINSPECTABLE(FTZ_X)
#undef FTZ_X
};

// DOMAIN.md §3: keywords count within ±40 bytes of the match.
constexpr uint64_t kContextBytes = 40;
// hs_scan_stream runs over slices of a decoded block; recorded matches are
// judged after each slice, so the match array bounds matches per slice (a
// long digit run ends ~8 catalog patterns per byte).
constexpr size_t kSliceBytes = 1024;
constexpr size_t kMaxCandidates = 2048;
constexpr size_t kMaxKey = 64;

constexpr bool is_alnum(uint8_t c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
constexpr uint8_t lower(uint8_t c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; }

// Identifiers written in groups ("138 1234 5678", "6222 0212 3456 7890 128";
// catalog patterns allow one ' ', '-' or U+00B7 at group boundaries). Such a
// match must not be one part of a longer run grouped with the same separator:
// the 16-digit window of a 19-digit card, or "138 1234 5678" in
// "138 1234 5678 9". Contiguous matches are unaffected.
constexpr bool is_digit(uint8_t c) noexcept { return c >= '0' && c <= '9'; }

// Width of a separator at p (1 for ' ' and '-', 2 for UTF-8 U+00B7), 0 if none.
constexpr size_t separator_at(const uint8_t* p, size_t avail) noexcept {
  if (avail >= 1 && (p[0] == ' ' || p[0] == '-')) return 1;
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

// Structural markers (file headers, track markers) have no alnum boundary:
// a FASTA line continues past the 30 bases the pattern needs.
constexpr bool is_marker(classify::ValidatorId v) noexcept {
  using classify::ValidatorId;
  switch (v) {
    case ValidatorId::kTrajectory:
    case ValidatorId::kVcf:
    case ValidatorId::kFasta:
    case ValidatorId::kFastq:
    case ValidatorId::kHl7:
    case ValidatorId::kDicom:
    case ValidatorId::kFhirPatient:
      return true;
    default:
      return false;
  }
}

// Field names every catalog gets in addition to its keywords (folded: lower
// case, no '_', '-', ' '): the common spellings of the columns and keys of
// exports, which are not good near-match keywords ("phone" is).
struct FieldAlias {
  classify::ValidatorId validator;
  std::string_view name;
};
constexpr FieldAlias kFieldAliases[] = {
    {classify::ValidatorId::kResidentId, "idnumber"},    {classify::ValidatorId::kResidentId, "identityno"},
    {classify::ValidatorId::kResidentId15, "idnumber"},  {classify::ValidatorId::kBankCard, "cardnumber"},
    {classify::ValidatorId::kPassport, "passportnumber"}, {classify::ValidatorId::kMobile, "mobile"},
    {classify::ValidatorId::kMobile, "手机"},
};

// Folded text of a header cell / key: ASCII lower case, no '_', '-', ' ', '"'.
size_t fold_name(const uint8_t* p, size_t n, char* out, size_t cap) noexcept {
  size_t o = 0;
  for (size_t i = 0; i < n && o < cap; ++i) {
    const uint8_t c = p[i];
    if (c == '_' || c == '-' || c == ' ' || c == '"' || c == '\t' || c == '\r') continue;
    out[o++] = static_cast<char>(lower(c));
  }
  return o;
}

}  // namespace

std::string_view uninspectable_name(Uninspectable r) noexcept {
  const auto i = static_cast<size_t>(r);
  return i < std::size(kUninspectableNames) ? kUninspectableNames[i] : std::string_view{};
}

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

struct Scanner::Candidate {
  uint64_t from;
  uint64_t to;
  uint32_t sig;
  uint16_t column;
  bool satisfied;     // context already established (pending from an earlier slice)
  bool wants_binding; // weak, no keyword: look for a field name
  bool pending_right; // right boundary not visible yet
  bool pending_ctx;   // right context not visible yet
  bool dropped;
  bool by_context;
  classify::Verdict verdict;
};

// The match callback only records (STYLE.md): validation runs after the scan.
int Scanner::on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) noexcept {
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

tl::expected<std::unique_ptr<Scanner>, std::string> Scanner::create(std::shared_ptr<const SignatureDatabase> db,
                                                                    const ScannerConfig& config) {
  if (!db) return tl::unexpected(std::string("scanner: no signature database"));
  if (config.block_bytes < 256) return tl::unexpected(std::string("scanner: block_bytes below 256"));
  if (config.max_matches_per_block < 64) return tl::unexpected(std::string("scanner: max_matches_per_block below 64"));
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
  s->inflated_.assign(config.block_bytes, 0);
  s->tmp_.assign(config.block_bytes + detail::kDecoderSlack, 0);
  s->matches_.resize(config.max_matches_per_block);
  s->cands_.resize(kMaxCandidates + kPendingSpans * 3);
  s->order_.resize(s->cands_.size());
  s->emitted_.resize(s->cands_.size());
  s->csv_marks_.resize(kSliceBytes);
  s->sig_counters_.resize(s->db_->specs().size());
  const auto meta = s->db_->signatures();
  s->alnum_boundary_.resize(meta.size());
  s->field_names_.resize(meta.size());
  for (size_t i = 0; i < meta.size(); ++i) {
    s->alnum_boundary_[i] = is_marker(meta[i].validator) ? 0 : 1;
    s->field_names_[i] = meta[i].field_names;
    for (const FieldAlias& a : kFieldAliases) {
      if (a.validator == meta[i].validator) s->field_names_[i].emplace_back(a.name);
    }
  }
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
  st.pending_count = 0;
}

void Scanner::release_stream(ScanState& st) noexcept {
  if (st.stream == kNoSlot) return;
  hs_reset_stream(streams_[st.stream].get(), 0, nullptr, nullptr, nullptr);
  free_streams_.push_back(st.stream);
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
  // End of data for this database: `$` matches, pending spans decided.
  scan_block(st, ctx, sink, 0, true);
  if (st.uninspectable) return;  // match overflow: slots already returned
  release_stream(st);
  st.pending_count = 0;
  // CSV columns bound by the header row: the same signatures in `next`.
  uint8_t kept = 0;
  for (uint8_t i = 0; i < st.csv_bindings; ++i) {
    uint64_t mask = 0;
    for (uint64_t m = st.csv_bound_mask[i]; m != 0; m &= m - 1) {
      const auto from = static_cast<size_t>(std::countr_zero(m));
      const uint32_t to = from < sig_map.size() ? sig_map[from] : kNoSignature;
      if (to < 64) mask |= uint64_t{1} << to;
    }
    if (mask != 0) {
      st.csv_bound_column[kept] = st.csv_bound_column[i];
      st.csv_bound_mask[kept] = mask;
      ++kept;
    }
  }
  st.csv_bindings = kept;
  // A compressed body under way: its inflate state moves to `next`.
  if (st.inflater != kNoSlot) {
    const uint32_t slot = st.inflater;
    Inflater& from = *inflaters_[slot];
    st.inflater = kNoSlot;
    const bool copied = next->copy_inflater(st, from);
    if (from.live) inflateEnd(&from.zs);
    from.live = false;
    free_inflaters_.push_back(slot);
    --counters_.inflaters_in_use;
    if (!copied) next->mark_uninspectable(st, Uninspectable::kInflateMemcap);
  }
}

bool Scanner::copy_inflater(ScanState& st, Inflater& from) noexcept {
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
  st.inflater = slot;
  ++counters_.inflaters_in_use;
  return true;
}

bool Scanner::acquire_inflater(ScanState& st, const uint8_t* in, size_t n) noexcept {
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
  if (st.encoding == Encoding::kDeflate) {
    // HTTP "deflate" is zlib (RFC 1950), but servers also send raw deflate.
    const bool zlib_header = n >= 2 && (in[0] & 0x0F) == 8 && ((in[0] << 8) | in[1]) % 31 == 0;
    wbits = zlib_header || n < 2 ? 15 : -15;
  }
  if (inflateInit2(&inf.zs, wbits) != Z_OK) {
    free_inflaters_.push_back(slot);
    return false;
  }
  inf.live = true;
  st.inflater = slot;
  st.inflated = 0;
  ++counters_.inflaters_in_use;
  return true;
}

void Scanner::release_inflater(ScanState& st) noexcept {
  if (st.inflater == kNoSlot) return;
  Inflater& inf = *inflaters_[st.inflater];
  if (inf.live) inflateEnd(&inf.zs);
  inf.live = false;
  free_inflaters_.push_back(st.inflater);
  st.inflater = kNoSlot;
  --counters_.inflaters_in_use;
}

void Scanner::restart_body(ScanState& st, const ScanContext& ctx) noexcept {
  detail::reset(st);
  release_inflater(st);
  st.inflate_done = false;
  st.zhold_set = false;
  st.inflated = 0;
  st.kind = ctx.kind;
  st.encoding = ctx.encoding;
  st.csv_line = 0;
  st.csv_quoted = false;
  st.csv_bindings = 0;
  st.csv_column = 0;
  st.csv_cell_start = st.offset;
  st.body_started = true;
}

void Scanner::scan(ScanState& st, std::span<const uint8_t> bytes, const ScanContext& ctx,
                   DetectionSink& sink) noexcept {
  if (st.finished || st.uninspectable) return;
  ++counters_.chunks;
  counters_.bytes_in += bytes.size();
  if (st.stream == kNoSlot) {
    if (free_streams_.empty()) {
      mark_uninspectable(st, Uninspectable::kStreamPoolExhausted);
      return;
    }
    st.stream = free_streams_.back();
    free_streams_.pop_back();
    st.stream_base = st.offset;
    counters_.streams_peak = std::max(counters_.streams_peak, ++counters_.streams_in_use);
  }
  if (ctx.body_start || !st.body_started || ctx.kind != st.kind || ctx.encoding != st.encoding) {
    restart_body(st, ctx);
  }
  if (!bytes.empty()) feed(st, ctx, sink, bytes.data(), bytes.size());
}

void Scanner::feed(ScanState& st, const ScanContext& ctx, DetectionSink& sink, const uint8_t* in, size_t n) noexcept {
  uint8_t* const block = window_.data() + kTailBytes;
  const size_t cap = config_.block_bytes;
  size_t produced = 0;
  if (st.encoding == Encoding::kIdentity) {
    while (n > 0) {
      if (cap - produced < 2 * detail::kDecoderSlack) {
        scan_block(st, ctx, sink, produced, false);
        produced = 0;
        if (st.uninspectable) return;
      }
      const size_t piece = std::min(n, cap - produced - detail::kDecoderSlack);
      produced += detail::decode(st, in, piece, tmp_.data(), block + produced);
      in += piece;
      n -= piece;
    }
  } else {
    while (n > 0) {
      if (st.inflate_done) {
        // Bytes after the end of a compressed body: another gzip member, or
        // trailing garbage (ignored, as browsers do).
        if (st.encoding != Encoding::kGzip || in[0] != 0x1f) break;
        st.inflate_done = false;
      }
      if (st.inflater == kNoSlot) {
        // "deflate" is told apart from raw deflate by its 2-byte zlib header:
        // a body whose first chunk is 1 byte long holds that byte.
        uint8_t head[2] = {in[0], n > 1 ? in[1] : uint8_t{0}};
        size_t head_len = std::min<size_t>(n, 2);
        if (st.encoding == Encoding::kDeflate && st.zhold_set) {
          head[1] = head[0];
          head[0] = st.zhold;
          head_len = 2;
        } else if (st.encoding == Encoding::kDeflate && n == 1) {
          st.zhold = in[0];
          st.zhold_set = true;
          break;
        }
        if (!acquire_inflater(st, head, head_len)) {
          if (produced > 0) scan_block(st, ctx, sink, produced, false);
          mark_uninspectable(st, Uninspectable::kInflateMemcap);
          return;
        }
        if (st.zhold_set) {
          st.zhold_set = false;
          const uint8_t held = st.zhold;
          const InflateStep r = inflate_step(st, ctx, sink, &held, 1, produced);
          if (r.failed) return;
        }
      }
      const InflateStep r = inflate_step(st, ctx, sink, in, n, produced);
      if (r.failed) return;
      in += r.used;
      n -= r.used;
      if (!r.ended) break;
      release_inflater(st);
      st.inflate_done = true;
    }
  }
  if (produced > 0) scan_block(st, ctx, sink, produced, false);
}

Scanner::InflateStep Scanner::inflate_step(ScanState& st, const ScanContext& ctx, DetectionSink& sink,
                                           const uint8_t* in, size_t n, size_t& produced) noexcept {
  uint8_t* const block = window_.data() + kTailBytes;
  const size_t cap = config_.block_bytes;
  InflateStep step;
  z_stream& zs = inflaters_[st.inflater]->zs;
  zs.next_in = const_cast<Bytef*>(in);
  zs.avail_in = static_cast<uInt>(std::min<size_t>(n, UINT32_MAX));
  const size_t offered = zs.avail_in;
  for (;;) {
    if (cap - produced < 2 * detail::kDecoderSlack) {
      scan_block(st, ctx, sink, produced, false);
      produced = 0;
      if (st.uninspectable) {
        step.failed = true;
        return step;
      }
    }
    const size_t room = std::min(cap - produced - detail::kDecoderSlack, inflated_.size());
    zs.next_out = inflated_.data();
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
    produced += detail::decode(st, inflated_.data(), got, tmp_.data(), block + produced);
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

void Scanner::finish(ScanState& st, const ScanContext& ctx, DetectionSink& sink) noexcept {
  if (st.finished) return;
  st.finished = true;
  if (st.uninspectable || st.stream == kNoSlot) {
    release(st);
    return;
  }
  uint8_t* const block = window_.data() + kTailBytes;
  const size_t produced = detail::flush(st, block);
  scan_block(st, ctx, sink, produced, true);
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
    if (st.kind == ContentKind::kCsv) csv_advance(st, win_base, done - slice + tail, done + tail);
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
  std::memmove(st.tail, win_ + vis - keep, keep);
  st.tail_len = static_cast<uint8_t>(keep);
}

// CSV structure over window bytes [begin, end): tracks the column, binds
// header cells to signatures whose field names they contain.
void Scanner::csv_advance(ScanState& st, uint64_t win_base, size_t begin, size_t end) noexcept {
  csv_marks_count_ = 0;
  csv_col_before_ = st.csv_column;
  csv_line_before_ = st.csv_line;
  for (size_t i = begin; i < end; ++i) {
    const uint8_t c = win_[i];
    if (c == '"') {
      st.csv_quoted = !st.csv_quoted;
      continue;
    }
    if (st.csv_quoted || (c != ',' && c != '\n')) continue;
    if (st.csv_line == 0) {
      const uint64_t cell_end = win_base + i;
      if (st.csv_cell_start >= win_base && cell_end > st.csv_cell_start && cell_end - st.csv_cell_start <= kMaxKey &&
          st.csv_bindings < kCsvBindings) {
        const uint64_t mask = names_match(win_ + (st.csv_cell_start - win_base), cell_end - st.csv_cell_start);
        if (mask != 0) {
          st.csv_bound_column[st.csv_bindings] = st.csv_column;
          st.csv_bound_mask[st.csv_bindings] = mask;
          ++st.csv_bindings;
        }
      }
      st.csv_cell_start = win_base + i + 1;
    }
    if (c == ',') {
      if (st.csv_column < UINT16_MAX) ++st.csv_column;
    } else {
      st.csv_column = 0;
      st.csv_line = 1;
    }
    // Column changes inside this range, for candidates starting here.
    if (csv_marks_count_ < csv_marks_.size()) csv_marks_[csv_marks_count_++] = CsvMark{win_base + i + 1, st.csv_column,
                                                                                        st.csv_line};
  }
}

// Bit i set: the folded name contains a field name of signature i (< 64).
uint64_t Scanner::names_match(const uint8_t* p, size_t n) const noexcept {
  char folded[kMaxKey];
  const size_t len = fold_name(p, n, folded, sizeof folded);
  if (len == 0) return 0;
  const std::string_view name(folded, len);
  uint64_t mask = 0;
  const size_t sigs = std::min<size_t>(field_names_.size(), 64);
  for (size_t s = 0; s < sigs; ++s) {
    for (const std::string& f : field_names_[s]) {
      if (name.find(f) != std::string_view::npos) {
        mask |= uint64_t{1} << s;
        break;
      }
    }
  }
  return mask;
}

bool Scanner::csv_binds(const ScanState& st, uint32_t sig, uint64_t from) const noexcept {
  if (sig >= 64 || st.csv_bindings == 0) return false;
  // The column and line at `from`: the last structural mark at or before it
  // in this range, else the state before the range.
  uint16_t column = csv_col_before_;
  uint8_t line = csv_line_before_;
  for (size_t i = 0; i < csv_marks_count_; ++i) {
    if (csv_marks_[i].offset > from) break;
    column = csv_marks_[i].column;
    line = csv_marks_[i].line;
  }
  if (line == 0) return false;
  for (uint8_t b = 0; b < st.csv_bindings; ++b) {
    if (st.csv_bound_column[b] == column && (st.csv_bound_mask[b] >> sig & 1u) != 0) return true;
  }
  return false;
}

// JSON: `"key" : "value` or `"key": value`; form: `key=value`. The key is
// read backwards from the value on the visible bytes.
bool Scanner::key_binds(ContentKind kind, uint32_t sig, uint64_t win_base, uint64_t from) const noexcept {
  if (sig >= 64 || from <= win_base) return false;
  size_t i = from - win_base;  // index of the first value byte
  auto ws = [](uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  size_t key_end = 0;
  size_t key_begin = 0;
  if (kind == ContentKind::kJson) {
    if (i > 0 && win_[i - 1] == '"') --i;
    while (i > 0 && ws(win_[i - 1])) --i;
    if (i == 0 || win_[i - 1] != ':') return false;
    --i;
    while (i > 0 && ws(win_[i - 1])) --i;
    if (i == 0 || win_[i - 1] != '"') return false;
    key_end = --i;
    while (i > 0 && win_[i - 1] != '"' && key_end - i < kMaxKey) --i;
    if (i == 0 || win_[i - 1] != '"') return false;
    key_begin = i;
  } else if (kind == ContentKind::kForm) {
    if (i == 0 || win_[i - 1] != '=') return false;
    key_end = --i;
    while (i > 0 && win_[i - 1] != '&' && win_[i - 1] != '?' && key_end - i < kMaxKey) --i;
    key_begin = i;
  } else {
    return false;
  }
  if (key_end <= key_begin) return false;
  return (names_match(win_ + key_begin, key_end - key_begin) >> sig & 1u) != 0;
}

// A context keyword of `sig` within ±40 bytes of [from, to) on the visible
// bytes; after_complete tells whether all 40 bytes after were visible.
bool Scanner::keyword_near(uint32_t sig, uint64_t win_base, uint64_t vis_end, uint64_t from, uint64_t to,
                           bool& after_complete) const noexcept {
  const uint64_t lo = from > win_base + kContextBytes ? from - kContextBytes : win_base;
  const uint64_t hi = std::min(vis_end, to + kContextBytes);
  after_complete = to + kContextBytes <= vis_end;
  const auto& keywords = db_->signatures()[sig].keywords;
  if (keywords.empty() || hi <= lo) return false;
  char text[kContextBytes * 2 + kMaxPatternWidth];
  const size_t n = std::min<size_t>(hi - lo, sizeof text);
  const uint8_t* p = win_ + (lo - win_base);
  for (size_t i = 0; i < n; ++i) text[i] = static_cast<char>(lower(p[i]));
  const std::string_view hay(text, n);
  for (const std::string& k : keywords) {
    if (hay.find(k) != std::string_view::npos) return true;
  }
  return false;
}

void Scanner::judge(ScanState& st, const ScanContext& ctx, DetectionSink& sink, uint64_t win_base, size_t vis_len,
                    bool at_end) noexcept {
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
      if (alnum_boundary_[c.sig] != 0 && c.to < vis_end && is_alnum(win_[c.to - win_base])) {
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
      if (to < vis_end && is_alnum(win_[to - win_base])) {
        ++counters_.boundary_rejected;
        continue;
      }
    }
    if (n == kMaxCandidates) {
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

  // Validate and look for context.
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
    const bool needs = c.verdict.needs_context || sm.context_required;
    if (!needs || c.satisfied) {
      c.by_context = c.satisfied;
      continue;
    }
    bool after_complete = false;
    if (keyword_near(c.sig, win_base, vis_end, c.from, c.to, after_complete)) {
      c.by_context = c.satisfied = true;
      continue;
    }
    bool bound = false;
    if (st.kind == ContentKind::kCsv) {
      bound = csv_binds(st, c.sig, c.from);
    } else if (st.kind == ContentKind::kJson || st.kind == ContentKind::kForm) {
      bound = key_binds(st.kind, c.sig, win_base, c.from);
    }
    if (bound) {
      c.by_context = c.satisfied = true;
    } else if (!after_complete && !at_end) {
      c.pending_ctx = true;
    } else {
      ++counters_.no_context;
      c.dropped = true;
    }
  }

  // One span, one identifier: order by span, strongest first, catalog order.
  size_t live = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!cands_[i].dropped) order_[live++] = static_cast<uint32_t>(i);
  }
  std::sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(live), [this](uint32_t a, uint32_t b) {
    const Candidate& x = cands_[a];
    const Candidate& y = cands_[b];
    if (x.from != y.from) return x.from < y.from;
    if (x.to != y.to) return x.to < y.to;
    if (x.verdict.strength != y.verdict.strength) return x.verdict.strength > y.verdict.strength;
    return x.sig < y.sig;
  });
  // A group waits when its winner is not decided yet: the first in (strength,
  // catalog order) still needs its right boundary or right context. Members
  // behind a decided winner lose now, decided or not.
  size_t emitted = 0;
  for (size_t g = 0; g < live;) {
    size_t e = g + 1;
    const Candidate& head = cands_[order_[g]];
    while (e < live && cands_[order_[e]].from == head.from && cands_[order_[e]].to == head.to) ++e;
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
      emit(ctx, sink, head, win_base);
      if (emitted < emitted_.size()) emitted_[emitted++] = order_[g];
    }
    for (size_t k = g + 1; k < e; ++k) ++sig_counters_[cands_[order_[k]].sig].suppressed;
    g = e;
  }
}

void Scanner::emit(const ScanContext&, DetectionSink& sink, const Candidate& c, uint64_t win_base) noexcept {
  const SignatureSpec& spec = db_->specs()[c.sig];
  const SignatureMeta& sm = db_->signatures()[c.sig];
  Detection d;
  d.signature = c.sig;
  d.sid = spec.sid;
  d.data_class = c.verdict.minor ? DataClass::kSensitivePi : spec.data_class;
  d.validator = sm.validator;
  d.id_type = c.verdict.id_type;
  d.strength = c.verdict.strength;
  d.minor = c.verdict.minor;
  d.by_context = c.by_context;
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
