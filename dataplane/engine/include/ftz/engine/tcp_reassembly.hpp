#pragma once
// TCP stream reassembly, one TcpDirState per flow direction.
//
// Policy ("first wins", as BSD and Windows stacks and Suricata's default):
// bytes are delivered to the layers above exactly once, in sequence order. A
// segment's bytes that were already received — delivered, or buffered out of
// order — are never replaced by later data. Where the older bytes are still
// visible (buffered out-of-order data, or the last kTailBytes delivered bytes)
// a later segment carrying different data is a conflict: counted as
// tcp_overlap_conflict, and inline the conflicting segment is dropped, because
// the receiver might keep its bytes instead of the inspected ones.
//
// Out-of-order data waits in 2 KiB chunks from one per-worker pool (the global
// memcap) and per direction at most `per_flow_limit` bytes. A hole is skipped
// (a gap, flagged and counted) when the peer acknowledges data beyond it —
// the receiver got bytes this appliance never saw — and data beyond the hole
// arrives (so a capture that lists an ACK before the segment it acknowledges
// loses nothing), or when the flow ends.
// Sequence numbers wrap: every comparison is on 32-bit differences.

#include <cstdint>
#include <cstring>
#include <vector>

namespace ftz::engine {

inline int32_t seq_diff(uint32_t a, uint32_t b) noexcept { return static_cast<int32_t>(a - b); }

class SegmentPool {
 public:
  static constexpr uint32_t kChunkData = 2048;
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Chunk {
    uint32_t seq = 0;
    uint32_t len = 0;
    uint32_t next = kNil;
    uint8_t data[kChunkData];
  };

  explicit SegmentPool(uint64_t memcap);
  uint32_t acquire() noexcept {
    if (free_.empty()) return kNil;
    const uint32_t c = free_.back();
    free_.pop_back();
    return c;
  }
  void release(uint32_t c) noexcept { free_.push_back(c); }
  Chunk& operator[](uint32_t c) noexcept { return chunks_[c]; }
  [[nodiscard]] uint32_t available() const noexcept { return static_cast<uint32_t>(free_.size()); }
  [[nodiscard]] uint32_t capacity() const noexcept { return static_cast<uint32_t>(chunks_.size()); }

 private:
  std::vector<Chunk> chunks_;
  std::vector<uint32_t> free_;
};

struct TcpDirState {
  static constexpr uint32_t kTailBytes = 32;
  uint32_t next_seq = 0;  // next byte to deliver
  uint32_t fin_seq = 0;   // sequence number of the FIN
  uint32_t ooo_head = SegmentPool::kNil;
  uint32_t ooo_bytes = 0;
  uint64_t delivered = 0;
  uint32_t gaps = 0;
  uint32_t ack_hint = 0;  // highest sequence the peer acknowledged (valid if has_ack_hint)
  bool has_ack_hint = false;
  bool seq_known = false;
  bool fin_seen = false;
  bool closed = false;  // FIN consumed in order
  uint8_t tail_len = 0;
  uint8_t tail[kTailBytes] = {};
};

enum class SegmentOutcome : uint8_t {
  kDelivered,   // new bytes delivered in order (maybe with buffered ones after)
  kDuplicate,   // nothing new (retransmission, keep-alive, pure ACK)
  kBuffered,    // ahead of a hole: kept out of order
  kConflict,    // overlaps known bytes with different data (first kept)
  kOverLimit,   // out of order but over the per-flow limit or memcap
};

struct ReassemblyCounters {
  uint64_t segments_in_order = 0;
  uint64_t segments_out_of_order = 0;
  uint64_t segments_duplicate = 0;
  uint64_t keepalives = 0;
  uint64_t overlap_conflicts = 0;
  uint64_t gaps = 0;
  uint64_t gap_bytes = 0;
  uint64_t over_limit = 0;
};

// Sink: void deliver(const uint8_t*, uint32_t) noexcept; void gap(uint32_t) noexcept.
class TcpReassembler {
 public:
  TcpReassembler(SegmentPool& pool, uint32_t per_flow_limit) : pool_(pool), per_flow_limit_(per_flow_limit) {}

  // Starts the direction at `seq` (ISN + 1 after a SYN; the first seen byte for
  // a flow picked up mid-stream).
  static void start(TcpDirState& s, uint32_t seq) noexcept {
    s.next_seq = seq;
    s.seq_known = true;
  }

  template <typename Sink>
  SegmentOutcome on_segment(TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len,
                            Sink& sink) noexcept;

  // The peer acknowledged `ack`: bytes before it that were never seen are a gap.
  template <typename Sink>
  void on_peer_ack(TcpDirState& s, uint32_t ack, Sink& sink) noexcept;

  // Flow end: skip every hole and deliver what is buffered.
  template <typename Sink>
  void flush(TcpDirState& s, Sink& sink) noexcept;

  void release(TcpDirState& s) noexcept;
  [[nodiscard]] const ReassemblyCounters& counters() const noexcept { return counters_; }

 private:
  template <typename Sink>
  void deliver(TcpDirState& s, const uint8_t* data, uint32_t len, Sink& sink) noexcept;
  template <typename Sink>
  void drain(TcpDirState& s, Sink& sink) noexcept;
  // Declares [next_seq, target) lost (capped at the FIN) and delivers what
  // buffered data follows.
  template <typename Sink>
  void skip_to(TcpDirState& s, uint32_t target, Sink& sink) noexcept;
  // Compares bytes [seq, seq+len) against the delivered tail; true on conflict.
  static bool tail_conflicts(const TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len) noexcept;
  // Buffers [seq, seq+len) first-wins; returns conflict / over-limit / ok.
  SegmentOutcome buffer(TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len) noexcept;

  SegmentPool& pool_;
  uint32_t per_flow_limit_;
  ReassemblyCounters counters_;
};

// ---- implementation of the templates ----

template <typename Sink>
void TcpReassembler::deliver(TcpDirState& s, const uint8_t* data, uint32_t len, Sink& sink) noexcept {
  if (len == 0) return;
  if (s.fin_seen) {
    // Nothing after the FIN is part of the stream.
    const int32_t room = seq_diff(s.fin_seq, s.next_seq);
    if (room <= 0) return;
    if (len > static_cast<uint32_t>(room)) len = static_cast<uint32_t>(room);
  }
  sink.deliver(data, len);
  s.next_seq += len;
  s.delivered += len;
  // Keep the last kTailBytes delivered bytes for overlap checks.
  if (len >= TcpDirState::kTailBytes) {
    std::memcpy(s.tail, data + len - TcpDirState::kTailBytes, TcpDirState::kTailBytes);
    s.tail_len = TcpDirState::kTailBytes;
  } else {
    const uint32_t keep = s.tail_len + len > TcpDirState::kTailBytes ? TcpDirState::kTailBytes - len : s.tail_len;
    std::memmove(s.tail, s.tail + (s.tail_len - keep), keep);
    std::memcpy(s.tail + keep, data, len);
    s.tail_len = static_cast<uint8_t>(keep + len);
  }
}

template <typename Sink>
void TcpReassembler::drain(TcpDirState& s, Sink& sink) noexcept {
  while (s.ooo_head != SegmentPool::kNil) {
    SegmentPool::Chunk& c = pool_[s.ooo_head];
    const int32_t rel = seq_diff(c.seq, s.next_seq);
    if (rel > 0) break;
    const uint32_t skip = static_cast<uint32_t>(-rel);
    if (skip < c.len) deliver(s, c.data + skip, c.len - skip, sink);
    const uint32_t next = c.next;
    s.ooo_bytes -= c.len;
    pool_.release(s.ooo_head);
    s.ooo_head = next;
  }
  if (s.fin_seen && !s.closed && seq_diff(s.next_seq, s.fin_seq) >= 0) s.closed = true;
}

template <typename Sink>
SegmentOutcome TcpReassembler::on_segment(TcpDirState& s, uint32_t seq, const uint8_t* data,
                                          uint32_t len, Sink& sink) noexcept {
  if (!s.seq_known) start(s, seq);
  if (len == 0) {
    ++counters_.segments_duplicate;
    return SegmentOutcome::kDuplicate;
  }
  const int32_t rel = seq_diff(seq, s.next_seq);
  if (len == 1 && rel == -1) {
    // A keep-alive probe repeats the last byte, often as garbage (RFC 1122
    // 4.2.3.6): not a conflicting retransmission.
    ++counters_.segments_duplicate;
    ++counters_.keepalives;
    return SegmentOutcome::kDuplicate;
  }
  if (rel > 0 && s.has_ack_hint && seq_diff(s.ack_hint, s.next_seq) > 0) {
    // The receiver acknowledged bytes before this segment that never passed
    // here: they are a gap, not a hole to wait for.
    const uint32_t before = s.next_seq;
    skip_to(s, seq_diff(seq, s.ack_hint) < 0 ? seq : s.ack_hint, sink);
    // skip_to() stops at the FIN: without progress the same branch would be
    // taken again forever (found by fuzz_packet: FIN consumed, an ACK hint
    // past it, then data past it). Only retry when the hole really moved.
    if (s.next_seq != before) return on_segment(s, seq, data, len, sink);
  }
  if (rel > 0) {
    const SegmentOutcome o = buffer(s, seq, data, len);
    if (o == SegmentOutcome::kBuffered) ++counters_.segments_out_of_order;
    return o;
  }
  const uint32_t old = static_cast<uint32_t>(-rel);
  const bool conflict = tail_conflicts(s, seq, data, old < len ? old : len);
  if (old >= len) {
    ++counters_.segments_duplicate;
    if (conflict) {
      ++counters_.overlap_conflicts;
      return SegmentOutcome::kConflict;
    }
    return SegmentOutcome::kDuplicate;
  }
  bool buffered_conflict = false;
  // buffer() counts the conflicts it reports itself; counting them again here
  // made one rewritten byte show as two tcp_overlap_conflicts.
  bool counted = false;
  if (s.ooo_head != SegmentPool::kNil) {
    // Buffered bytes came first: merge through the buffer so they win.
    const SegmentOutcome o = buffer(s, s.next_seq, data + old, len - old);
    buffered_conflict = o == SegmentOutcome::kConflict;
    counted = buffered_conflict;
    if (o == SegmentOutcome::kOverLimit) {
      // No room to merge: deliver the segment directly around the buffered
      // chunks. It is in order, so every byte of it must reach the stream
      // (delivering only up to the first chunk silently lost the bytes after
      // it while the segment was reported delivered and forwarded); where it
      // overlaps a chunk the buffered bytes win and differences are conflicts.
      const uint32_t seg_end = seq + len;
      for (uint32_t c = s.ooo_head; c != SegmentPool::kNil && seq_diff(pool_[c].seq, seg_end) < 0;
           c = pool_[c].next) {
        const SegmentPool::Chunk& ch = pool_[c];
        const uint32_t n = seq_diff(ch.seq + ch.len, seg_end) < 0 ? ch.len : seg_end - ch.seq;
        if (std::memcmp(ch.data, data + (ch.seq - seq), n) != 0) buffered_conflict = true;
      }
      while (seq_diff(seg_end, s.next_seq) > 0) {
        const uint32_t before = s.next_seq;
        uint32_t n = seg_end - s.next_seq;
        if (s.ooo_head != SegmentPool::kNil) {
          const int32_t room = seq_diff(pool_[s.ooo_head].seq, s.next_seq);
          if (room > 0 && static_cast<uint32_t>(room) < n) n = static_cast<uint32_t>(room);
        }
        deliver(s, data + (s.next_seq - seq), n, sink);
        drain(s, sink);
        if (s.next_seq == before) break;  // trimmed at the FIN: nothing more belongs to the stream
      }
    }
  } else {
    deliver(s, data + old, len - old, sink);
  }
  drain(s, sink);
  ++counters_.segments_in_order;
  if (conflict || buffered_conflict) {
    if (!counted) ++counters_.overlap_conflicts;
    return SegmentOutcome::kConflict;
  }
  return SegmentOutcome::kDelivered;
}

template <typename Sink>
void TcpReassembler::skip_to(TcpDirState& s, uint32_t target, Sink& sink) noexcept {
  if (s.fin_seen && seq_diff(target, s.fin_seq) > 0) target = s.fin_seq;
  if (seq_diff(target, s.next_seq) <= 0) return;
  const uint32_t missing = target - s.next_seq;
  sink.gap(missing);
  ++counters_.gaps;
  counters_.gap_bytes += missing;
  ++s.gaps;
  s.next_seq = target;
  s.tail_len = 0;
  drain(s, sink);
}

template <typename Sink>
void TcpReassembler::on_peer_ack(TcpDirState& s, uint32_t ack, Sink& sink) noexcept {
  if (!s.seq_known || seq_diff(ack, s.next_seq) <= 0) return;
  if (!s.has_ack_hint || seq_diff(ack, s.ack_hint) > 0) {
    s.ack_hint = ack;
    s.has_ack_hint = true;
  }
  // Buffered data the receiver acknowledged: the hole before it is lost.
  if (s.ooo_head != SegmentPool::kNil && seq_diff(ack, pool_[s.ooo_head].seq) > 0) {
    skip_to(s, pool_[s.ooo_head].seq, sink);
  }
}

template <typename Sink>
void TcpReassembler::flush(TcpDirState& s, Sink& sink) noexcept {
  while (s.ooo_head != SegmentPool::kNil) {
    const uint32_t before = s.next_seq;
    skip_to(s, pool_[s.ooo_head].seq, sink);
    if (s.ooo_head != SegmentPool::kNil && s.next_seq == before) {
      // Data past the FIN can never be delivered: discard it.
      const uint32_t next = pool_[s.ooo_head].next;
      s.ooo_bytes -= pool_[s.ooo_head].len;
      pool_.release(s.ooo_head);
      s.ooo_head = next;
    }
  }
  if (s.has_ack_hint) skip_to(s, s.ack_hint, sink);
}

}  // namespace ftz::engine
