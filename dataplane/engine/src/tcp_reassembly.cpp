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

bool TcpReassembler::kept_conflicts(const TcpDirState& s, uint32_t seq, const uint8_t* data,
                                    uint32_t len) const noexcept {
  uint32_t done = 0;
  for (uint32_t c = s.kept_head; c != SegmentPool::kNil && done < len; c = pool_[c].next) {
    const SegmentPool::Chunk& ch = pool_[c];
    const uint32_t at = seq + done;
    if (seq_diff(ch.seq + ch.len, at) <= 0) continue;  // wholly before
    const uint32_t from = at - ch.seq;                 // at >= ch.seq: the chain is contiguous from kept_seq
    uint32_t n = ch.len - from;
    if (n > len - done) n = len - done;
    if (std::memcmp(ch.data + from, data + done, n) != 0) return true;
    done += n;
  }
  return false;
}

void TcpReassembler::keep(TcpDirState& s, const uint8_t* data, uint32_t len) noexcept {
  uint32_t at = s.next_seq;
  while (len > 0) {
    uint32_t c = s.kept_tail;
    if (c == SegmentPool::kNil || pool_[c].len == SegmentPool::kChunkData) {
      c = pool_.acquire();
      if (c == SegmentPool::kNil) {
        // No memory for the copy: give it up. Retransmissions of these bytes
        // are then stale (trimmed), never forwarded unverified.
        ++counters_.kept_dropped;
        release_kept(s, 0, true);
        s.kept_seq = at + len;
        return;
      }
      SegmentPool::Chunk& fresh = pool_[c];
      fresh.seq = at;
      fresh.len = 0;
      fresh.next = SegmentPool::kNil;
      if (s.kept_tail != SegmentPool::kNil)
        pool_[s.kept_tail].next = c;
      else
        s.kept_head = c;
      s.kept_tail = c;
    }
    SegmentPool::Chunk& ch = pool_[c];
    uint32_t n = SegmentPool::kChunkData - ch.len;
    if (n > len) n = len;
    std::memcpy(ch.data + ch.len, data, n);
    ch.len += n;
    s.kept_bytes += n;
    at += n;
    data += n;
    len -= n;
  }
  // Past the limit the oldest chunks go (their bytes become stale).
  while (s.kept_bytes > kept_limit_ && s.kept_head != s.kept_tail) {
    const uint32_t head = s.kept_head;
    s.kept_bytes -= pool_[head].len;
    s.kept_head = pool_[head].next;
    pool_.release(head);
    s.kept_seq = pool_[s.kept_head].seq;
  }
}

void TcpReassembler::release_kept(TcpDirState& s, uint32_t seq, bool all) noexcept {
  while (s.kept_head != SegmentPool::kNil) {
    SegmentPool::Chunk& ch = pool_[s.kept_head];
    // A partly acknowledged chunk stays: its bytes can still be compared.
    if (!all && seq_diff(ch.seq + ch.len, seq) > 0) break;
    const uint32_t next = ch.next;
    s.kept_bytes -= ch.len;
    pool_.release(s.kept_head);
    s.kept_head = next;
  }
  if (s.kept_head == SegmentPool::kNil) {
    s.kept_tail = SegmentPool::kNil;
    s.kept_bytes = 0;
    s.kept_seq = s.next_seq;  // nothing before next_seq is kept
  } else {
    s.kept_seq = pool_[s.kept_head].seq;
  }
}

void TcpReassembler::release(TcpDirState& s) noexcept {
  while (s.ooo_head != SegmentPool::kNil) {
    const uint32_t next = pool_[s.ooo_head].next;
    pool_.release(s.ooo_head);
    s.ooo_head = next;
  }
  s.ooo_bytes = 0;
  release_kept(s, 0, true);
}

}  // namespace ftz::engine
