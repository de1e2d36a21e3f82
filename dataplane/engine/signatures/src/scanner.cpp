#include "ftz/engine/signatures/scanner.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "decoder.hpp"
#include "judge.hpp"

namespace ftz::engine::sig {

static_assert(std::is_trivially_copyable_v<ScanState>, "ScanState lives in flow records and is memcpy-moved");
static_assert(sizeof(ScanState) <= 384, "ScanState is per flow direction: keep it small");

namespace {

constexpr std::string_view kUninspectableNames[] = {
#define FTZ_X(id, name) name,
    FTZ_SIG_UNINSPECTABLE(FTZ_X)
#undef FTZ_X
};

// hs_scan_stream runs over slices of a decoded block; recorded matches are
// judged after each slice, so the match array bounds matches per slice (a
// long digit run ends ~8 catalog patterns per byte).
constexpr size_t kSliceBytes = 1024;

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
}

}  // namespace ftz::engine::sig
