#include "ftz/engine/defrag.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace ftz::engine {

Defragmenter::Defragmenter(uint32_t max_datagrams, uint64_t memcap, uint32_t timeout_ms)
    : ctx_(max_datagrams == 0 ? 1 : max_datagrams),
      timeout_ns_(int64_t{timeout_ms} * 1'000'000),
      out_(kMaxDatagram),
      out_tokens_(kMaxHeld) {
  const uint32_t n = static_cast<uint32_t>(ctx_.size());
  free_ctx_.reserve(n);
  for (uint32_t i = n; i > 0; --i) free_ctx_.push_back(i - 1);
  const uint32_t nb = std::bit_ceil(n * 2);
  buckets_.assign(nb, kNil);
  bucket_mask_ = nb - 1;
  const uint64_t blocks = memcap / kBlockSize;
  pool_.resize(blocks * kBlockSize);
  free_blocks_.reserve(blocks);
  for (uint64_t i = blocks; i > 0; --i) free_blocks_.push_back(static_cast<uint32_t>(i - 1));
}

uint32_t Defragmenter::bucket_of(const ParsedPacket& p, uint32_t mask) noexcept {
  uint64_t h = p.frag_id * 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 16; ++i) h = (h ^ p.src.bytes[i] ^ (uint64_t{p.dst.bytes[i]} << 8)) * 0x100000001b3ull;
  return static_cast<uint32_t>(h ^ (h >> 29)) & mask;
}

bool Defragmenter::matches(const Context& c, const ParsedPacket& p) const noexcept {
  return c.id == p.frag_id && c.proto == p.l4_proto && c.version == p.ip_version && c.vlan[0] == p.vlan[0] &&
         c.vlan[1] == p.vlan[1] && c.src == p.src && c.dst == p.dst;
}

uint32_t Defragmenter::find_or_create(const ParsedPacket& p, int64_t now_ns, uint32_t bucket,
                                      Reason& why) noexcept {
  for (uint32_t c = buckets_[bucket]; c != kNil; c = ctx_[c].hash_next) {
    if (matches(ctx_[c], p)) return c;
  }
  if (free_ctx_.empty()) {
    why = Reason::kFragTableFull;
    return kNil;
  }
  const uint32_t c = free_ctx_.back();
  free_ctx_.pop_back();
  Context& x = ctx_[c];
  x.src = p.src;
  x.dst = p.dst;
  x.id = p.frag_id;
  x.vlan[0] = p.vlan[0];
  x.vlan[1] = p.vlan[1];
  x.proto = p.l4_proto;
  x.version = p.ip_version;
  x.have_last = false;
  x.total = 0;
  x.first_ns = now_ns;
  x.range_count = 0;
  x.token_count = 0;
  std::fill(std::begin(x.blocks), std::end(x.blocks), kNil);
  x.hash_next = buckets_[bucket];
  buckets_[bucket] = c;
  x.fifo_prev = fifo_tail_;
  x.fifo_next = kNil;
  if (fifo_tail_ != kNil) ctx_[fifo_tail_].fifo_next = c;
  fifo_tail_ = c;
  if (fifo_head_ == kNil) fifo_head_ = c;
  ++in_use_;
  return c;
}

void Defragmenter::release(uint32_t c) noexcept {
  Context& x = ctx_[c];
  for (uint32_t& b : x.blocks) {
    if (b != kNil) {
      free_blocks_.push_back(b);
      b = kNil;
    }
  }
  // Unlink from its hash chain.
  ParsedPacket probe;
  probe.frag_id = x.id;
  probe.src = x.src;
  probe.dst = x.dst;
  uint32_t* link = &buckets_[bucket_of(probe, bucket_mask_)];
  while (*link != kNil && *link != c) link = &ctx_[*link].hash_next;
  if (*link == c) *link = x.hash_next;
  // Unlink from the age FIFO.
  if (x.fifo_prev != kNil)
    ctx_[x.fifo_prev].fifo_next = x.fifo_next;
  else
    fifo_head_ = x.fifo_next;
  if (x.fifo_next != kNil)
    ctx_[x.fifo_next].fifo_prev = x.fifo_prev;
  else
    fifo_tail_ = x.fifo_prev;
  free_ctx_.push_back(c);
  --in_use_;
}

uint32_t Defragmenter::blocks_needed(const Context& c, uint32_t start, uint32_t len) const noexcept {
  if (len == 0) return 0;
  uint32_t n = 0;
  for (uint32_t b = start / kBlockSize; b <= (start + len - 1) / kBlockSize; ++b) {
    if (c.blocks[b] == kNil) ++n;
  }
  return n;
}

bool Defragmenter::covered(const Context& c, uint32_t pos) noexcept {
  for (uint32_t r = 0; r < c.range_count; ++r) {
    if (pos >= c.ranges[r].start && pos < c.ranges[r].end) return true;
  }
  return false;
}

bool Defragmenter::conflicts(const Context& c, uint32_t start, const uint8_t* data,
                             uint32_t len) const noexcept {
  for (uint32_t i = 0; i < len; ++i) {
    const uint32_t pos = start + i;
    if (!covered(c, pos)) continue;
    const uint32_t block = c.blocks[pos / kBlockSize];
    if (pool_[size_t{block} * kBlockSize + pos % kBlockSize] != data[i]) return true;
  }
  return false;
}

void Defragmenter::store(Context& c, uint32_t start, const uint8_t* data, uint32_t len) noexcept {
  for (uint32_t i = 0; i < len; ++i) {
    const uint32_t pos = start + i;
    if (covered(c, pos)) continue;  // first wins (identical, checked by conflicts())
    uint32_t& block = c.blocks[pos / kBlockSize];
    if (block == kNil) {
      block = free_blocks_.back();
      free_blocks_.pop_back();
    }
    pool_[size_t{block} * kBlockSize + pos % kBlockSize] = data[i];
  }
}

void Defragmenter::add_range(Context& c, uint32_t start, uint32_t end) noexcept {
  // Insert, then merge touching or overlapping ranges (kept sorted).
  uint32_t i = 0;
  while (i < c.range_count && c.ranges[i].start < start) ++i;
  for (uint32_t j = c.range_count; j > i; --j) c.ranges[j] = c.ranges[j - 1];
  c.ranges[i] = {start, end};
  ++c.range_count;
  uint32_t w = 0;
  for (uint32_t r = 1; r < c.range_count; ++r) {
    if (c.ranges[r].start <= c.ranges[w].end) {
      c.ranges[w].end = std::max(c.ranges[w].end, c.ranges[r].end);
    } else {
      c.ranges[++w] = c.ranges[r];
    }
  }
  c.range_count = w + 1;
}

Defragmenter::Result Defragmenter::add(const ParsedPacket& p, int64_t now_ns, uint64_t token) noexcept {
  ++counters_.fragments;
  Result res;
  const uint32_t start = p.frag_offset;
  const uint32_t end = start + p.frag_len;
  if (end > kMaxDatagram || (p.more_fragments && (p.frag_len % 8) != 0)) {
    res.status = Status::kDropped;
    res.reason = Reason::kFragBadLength;
    return res;
  }
  Reason why = Reason::kNone;
  const uint32_t bucket = bucket_of(p, bucket_mask_);
  const uint32_t c = find_or_create(p, now_ns, bucket, why);
  if (c == kNil) {
    res.status = Status::kDropped;
    res.reason = why;
    return res;
  }
  Context& x = ctx_[c];
  if (x.range_count == kMaxRanges || x.token_count == kMaxHeld) {
    res.status = Status::kDropped;
    res.reason = Reason::kFragTooMany;
    return res;
  }
  if (!p.more_fragments) {
    if (x.have_last && x.total != end) {
      res.status = Status::kDropped;
      res.reason = Reason::kFragInconsistentEnd;
      return res;
    }
    x.have_last = true;
    x.total = end;
  }
  if (blocks_needed(x, start, p.frag_len) > free_blocks_.size()) {
    res.status = Status::kDropped;
    res.reason = Reason::kFragMemcap;
    return res;
  }
  if (conflicts(x, start, p.frag_data, p.frag_len)) {
    // The receiver must reassemble what was inspected: the conflicting
    // fragment never reaches it and none of its bytes are taken, so every
    // receiver policy (first, last, discard on overlap) sees the first bytes.
    res.status = Status::kDropped;
    res.reason = Reason::kFragOverlapConflict;
    return res;
  }
  store(x, start, p.frag_data, p.frag_len);
  if (p.frag_len > 0) add_range(x, start, end);
  const bool complete =
      x.have_last && x.range_count == 1 && x.ranges[0].start == 0 && x.ranges[0].end >= x.total;
  if (!complete) {
    x.tokens[x.token_count++] = token;
    res.status = Status::kHeld;
    return res;
  }
  for (uint32_t off = 0; off < x.total; off += kBlockSize) {
    const uint32_t n = std::min(kBlockSize, x.total - off);
    std::memcpy(out_.data() + off, pool_.data() + size_t{x.blocks[off / kBlockSize]} * kBlockSize, n);
  }
  std::copy(x.tokens, x.tokens + x.token_count, out_tokens_.begin());
  res.status = Status::kComplete;
  res.datagram = std::span<const uint8_t>(out_.data(), x.total);
  res.held_tokens = std::span<const uint64_t>(out_tokens_.data(), x.token_count);
  ++counters_.datagrams_completed;
  release(c);
  return res;
}

}  // namespace ftz::engine
