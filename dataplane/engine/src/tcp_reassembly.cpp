#include "ftz/engine/tcp_reassembly.hpp"

namespace ftz::engine {

SegmentPool::SegmentPool(uint64_t memcap) : chunks_(memcap / sizeof(Chunk)) {
  free_.reserve(chunks_.size());
  for (size_t i = chunks_.size(); i > 0; --i) free_.push_back(static_cast<uint32_t>(i - 1));
}

bool TcpReassembler::tail_conflicts(const TcpDirState& s, uint32_t seq, const uint8_t* data,
                                    uint32_t len) noexcept {
  // Delivered bytes [next_seq - tail_len, next_seq) are in s.tail.
  const uint32_t tail_start = s.next_seq - s.tail_len;
  for (uint32_t i = 0; i < len; ++i) {
    const int32_t pos = seq_diff(seq + i, tail_start);
    if (pos < 0) continue;
    if (pos >= static_cast<int32_t>(s.tail_len)) break;
    if (s.tail[pos] != data[i]) return true;
  }
  return false;
}

SegmentOutcome TcpReassembler::buffer(TcpDirState& s, uint32_t seq, const uint8_t* data,
                                      uint32_t len) noexcept {
  // Walk the sorted, non-overlapping chunk list; fill only the holes in
  // [seq, seq + len) and compare the bytes that are already there.
  const uint32_t end = seq + len;
  // Dry run: how many new bytes and chunks.
  uint32_t new_bytes = 0;
  uint32_t new_chunks = 0;
  {
    uint32_t cur = seq;
    uint32_t c = s.ooo_head;
    while (seq_diff(cur, end) < 0) {
      while (c != SegmentPool::kNil && seq_diff(pool_[c].seq + pool_[c].len, cur) <= 0) c = pool_[c].next;
      uint32_t hole_end = end;
      if (c != SegmentPool::kNil && seq_diff(pool_[c].seq, end) < 0) {
        if (seq_diff(pool_[c].seq, cur) <= 0) {
          cur = pool_[c].seq + pool_[c].len;
          continue;
        }
        hole_end = pool_[c].seq;
      }
      const uint32_t n = hole_end - cur;
      new_bytes += n;
      new_chunks += (n + SegmentPool::kChunkData - 1) / SegmentPool::kChunkData;
      cur = hole_end;
    }
  }
  if (new_bytes > 0 && (s.ooo_bytes + new_bytes > per_flow_limit_ || new_chunks > pool_.available())) {
    ++counters_.over_limit;
    return SegmentOutcome::kOverLimit;
  }
  bool conflict = false;
  uint32_t* link = &s.ooo_head;
  uint32_t cur = seq;
  while (seq_diff(cur, end) < 0) {
    while (*link != SegmentPool::kNil && seq_diff(pool_[*link].seq + pool_[*link].len, cur) <= 0) {
      link = &pool_[*link].next;
    }
    const uint32_t c = *link;
    if (c != SegmentPool::kNil && seq_diff(pool_[c].seq, cur) <= 0) {
      // Overlap with a buffered chunk: first wins, compare.
      SegmentPool::Chunk& ch = pool_[c];
      const uint32_t from = cur - ch.seq;
      uint32_t n = ch.len - from;
      if (n > end - cur) n = end - cur;
      if (std::memcmp(ch.data + from, data + (cur - seq), n) != 0) conflict = true;
      cur += n;
      continue;
    }
    uint32_t hole_end = end;
    if (c != SegmentPool::kNil && seq_diff(pool_[c].seq, end) < 0) hole_end = pool_[c].seq;
    while (seq_diff(cur, hole_end) < 0) {
      uint32_t n = hole_end - cur;
      if (n > SegmentPool::kChunkData) n = SegmentPool::kChunkData;
      const uint32_t fresh = pool_.acquire();
      SegmentPool::Chunk& ch = pool_[fresh];
      ch.seq = cur;
      ch.len = n;
      std::memcpy(ch.data, data + (cur - seq), n);
      ch.next = *link;
      *link = fresh;
      link = &ch.next;
      s.ooo_bytes += n;
      cur += n;
    }
  }
  if (conflict) {
    ++counters_.overlap_conflicts;
    return SegmentOutcome::kConflict;
  }
  return SegmentOutcome::kBuffered;
}

void TcpReassembler::release(TcpDirState& s) noexcept {
  while (s.ooo_head != SegmentPool::kNil) {
    const uint32_t next = pool_[s.ooo_head].next;
    pool_.release(s.ooo_head);
    s.ooo_head = next;
  }
  s.ooo_bytes = 0;
}

}  // namespace ftz::engine
