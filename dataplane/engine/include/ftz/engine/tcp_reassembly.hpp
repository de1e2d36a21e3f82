#pragma once
// TCP stream reassembly, one TcpDirState per flow direction.
//
// Policy ("first wins", as BSD and Windows stacks and Suricata's default):
// bytes are delivered to the layers above exactly once, in sequence order. A
// segment's bytes that were already received — delivered, or buffered out of
// order — are never replaced by later data. A later copy carrying different
// data is a conflict (tcp_overlap_conflict).
//
// Normalizing directions (the flow is an export, inspected inline; see
// docs/decisions/0003-inline-stream-normalization.md) also keep a copy of the
// delivered bytes until the receiver acknowledges them (at most
// `kept_limit` bytes, from the same pool), so that every retransmission is
// compared with what was inspected, byte for byte: a different copy is a
// conflict and nothing of it is delivered (the worker drops it). Bytes below
// the kept copy — acknowledged, skipped as a gap, or before the point where a
// flow was picked up — are never delivered again and never forwarded: the
// segment's result says how many bytes to trim off its front, or that all of
// it is stale. Bytes past an accepted FIN are trimmed off the back.
// Other directions keep the last kTailBytes delivered bytes for the same
// comparison (counting only).
//
// Out-of-order data waits in 2 KiB chunks from one per-worker pool (the global
// memcap) and per direction at most `per_flow_limit` bytes. A hole is skipped
// (a gap, flagged and counted) when the peer acknowledges data beyond it —
// the receiver got bytes this appliance never saw — and data beyond the hole
// arrives (so a capture that lists an ACK before the segment it acknowledges
// loses nothing), or when the flow ends.
// Sequence numbers wrap: every comparison is on 32-bit differences, and
// distances are taken as unsigned differences (never negated).

#include <cstdint>
#include <cstring>
#include <vector>

namespace ftz::engine {

inline int32_t seq_diff(uint32_t a, uint32_t b) noexcept {
  return static_cast<int32_t>(a - b);
}

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

// What every tracked TCP direction needs, reassembled or not: sequence
// numbers, window, timestamps and the handshake/FIN facts the worker's state
// machine and its RST/SYN/PAWS/window checks use. It lives in the hot flow
// record; a flow whose bytes are reassembled carries
// it inside its TcpDirState instead (docs/decisions/0006). 24 bytes.
struct TcpTrack {
  uint32_t next_seq = 0;            // next byte to deliver
  uint32_t fin_seq = 0;             // sequence number of the FIN
  uint32_t isn = 0;                 // sequence number of the SYN (syn_seen)
  uint32_t win_end = 0;             // highest sequence the peer's window admits (valid if win_known)
  uint32_t ts_recent = 0;           // newest timestamp accepted in order (valid if ts_known)
  uint8_t wscale = 0;               // shift of the windows this direction's sender advertises
  bool wscale_offered : 1 = false;  // its SYN carried the option (RFC 7323: both must)
  bool seq_known : 1 = false;
  bool syn_seen : 1 = false;
  bool midstream : 1 = false;  // started without a SYN
  bool fin_seen : 1 = false;
  bool closed : 1 = false;  // FIN consumed in order
  bool win_known : 1 = false;
  bool ts_known : 1 = false;
};

// A reassembled direction: its TcpTrack plus out-of-order chunks, the kept
// copy and the delivered tail (a slot of the worker's stream pool).
static_assert(sizeof(TcpTrack) == 24);

struct TcpDirState : TcpTrack {
  static constexpr uint32_t kTailBytes = 32;
  uint32_t ooo_head = SegmentPool::kNil;
  uint32_t ooo_bytes = 0;
  // Normalizing directions: delivered bytes [kept_seq, next_seq) in a chunk
  // chain, oldest first (kept_seq == next_seq when nothing is kept).
  uint32_t kept_head = SegmentPool::kNil;
  uint32_t kept_tail = SegmentPool::kNil;
  uint32_t kept_seq = 0;
  uint32_t kept_bytes = 0;
  uint64_t delivered = 0;
  uint32_t gaps = 0;
  uint32_t ack_hint = 0;  // highest sequence the peer acknowledged (valid if has_ack_hint)
  bool has_ack_hint = false;
  bool normalize = false;  // keep a copy, trim stale bytes (inspected exports)
  uint8_t tail_len = 0;
  uint8_t tail[kTailBytes] = {};
};

enum class SegmentOutcome : uint8_t {
  kDelivered,  // new bytes delivered in order (maybe with buffered ones after)
  kDuplicate,  // nothing new (retransmission, keep-alive, pure ACK)
  kBuffered,   // ahead of a hole: kept out of order
  kConflict,   // overlaps known bytes with different data (first kept)
  kOverLimit,  // out of order but over the per-flow limit or memcap
  kStale,      // normalizing: every byte is below the kept copy (trim it all)
  kAfterFin,   // every byte lies past the FIN
};

// Bytes of a segment that must not be forwarded (normalizing directions, and
// past a FIN): `front` below the kept copy, `back` past the FIN.
struct SegmentTrim {
  uint32_t front = 0;
  uint32_t back = 0;
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
  uint64_t stale_bytes = 0;   // trimmed: below the kept copy (normalizing)
  uint64_t after_fin = 0;     // segments with bytes past the FIN
  uint64_t kept_dropped = 0;  // kept copies given up for lack of pool memory
};

// Sink: void deliver(const uint8_t*, uint32_t) noexcept; void gap(uint32_t) noexcept.
class TcpReassembler {
 public:
  TcpReassembler(SegmentPool& pool, uint32_t per_flow_limit, uint32_t kept_limit = 256u << 10)
      : pool_(pool), per_flow_limit_(per_flow_limit), kept_limit_(kept_limit) {}

  // Starts the direction at `seq` (ISN + 1 after a SYN; the first seen byte for
  // a flow picked up mid-stream).
  static void start(TcpDirState& s, uint32_t seq) noexcept {
    s.next_seq = seq;
    s.kept_seq = seq;
    s.seq_known = true;
  }
  // The same for a direction tracked without reassembly.
  static void start(TcpTrack& s, uint32_t seq) noexcept {
    s.next_seq = seq;
    s.seq_known = true;
  }

  // One segment's payload. `trim` (optional) receives the bytes the packet
  // path must cut off before forwarding it (see SegmentTrim); for kStale the
  // whole payload goes, for kConflict / kAfterFin the packet is dropped.
  template <typename Sink>
  SegmentOutcome on_segment(TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len, Sink& sink,
                            SegmentTrim* trim = nullptr) noexcept;

  // The peer acknowledged `ack`: bytes before it that were never seen are a
  // gap; kept bytes before it are released.
  template <typename Sink>
  void on_peer_ack(TcpDirState& s, uint32_t ack, Sink& sink) noexcept;

  // Whether a segment starting at `seq` lies inside the window the peer
  // advertised (always true while no window is known).
  static bool in_window(const TcpTrack& s, uint32_t seq) noexcept {
    return !s.win_known || seq_diff(seq, s.win_end) <= 0;
  }

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
  // Compares bytes [seq, seq+len), inside [kept_seq, next_seq), against the
  // kept copy; true on conflict.
  bool kept_conflicts(const TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len) const noexcept;
  // Appends delivered bytes (starting at next_seq) to the kept copy, giving
  // up the oldest past kept_limit_ and all of it when the pool is empty.
  void keep(TcpDirState& s, const uint8_t* data, uint32_t len) noexcept;
  // Releases kept chunks wholly before `seq` (all of them with `all`).
  void release_kept(TcpDirState& s, uint32_t seq, bool all) noexcept;
  // Buffers [seq, seq+len) first-wins; returns conflict / over-limit / ok.
  SegmentOutcome buffer(TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len) noexcept;

  SegmentPool& pool_;
  uint32_t per_flow_limit_;
  uint32_t kept_limit_;
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
  if (s.normalize) keep(s, data, len);
  s.next_seq += len;
  s.delivered += len;
  // Keep the last kTailBytes delivered bytes for overlap checks.
  if (len >= TcpDirState::kTailBytes) {
    std::memcpy(s.tail, data + len - TcpDirState::kTailBytes, TcpDirState::kTailBytes);
    s.tail_len = TcpDirState::kTailBytes;
  } else {
    const uint32_t keep =
        s.tail_len + len > TcpDirState::kTailBytes ? TcpDirState::kTailBytes - len : s.tail_len;
    std::memmove(s.tail, s.tail + (s.tail_len - keep), keep);
    std::memcpy(s.tail + keep, data, len);
    s.tail_len = static_cast<uint8_t>(keep + len);
  }
}

template <typename Sink>
void TcpReassembler::drain(TcpDirState& s, Sink& sink) noexcept {
  while (s.ooo_head != SegmentPool::kNil) {
    SegmentPool::Chunk& c = pool_[s.ooo_head];
    if (seq_diff(c.seq, s.next_seq) > 0) break;
    const uint32_t skip = s.next_seq - c.seq;
    if (skip < c.len) deliver(s, c.data + skip, c.len - skip, sink);
    const uint32_t next = c.next;
    s.ooo_bytes -= c.len;
    pool_.release(s.ooo_head);
    s.ooo_head = next;
  }
  if (s.fin_seen && !s.closed && seq_diff(s.next_seq, s.fin_seq) >= 0) s.closed = true;
}

template <typename Sink>
SegmentOutcome TcpReassembler::on_segment(TcpDirState& s, uint32_t seq, const uint8_t* data, uint32_t len,
                                          Sink& sink, SegmentTrim* trim) noexcept {
  if (!s.seq_known) {
    start(s, seq);
    s.midstream = true;
  }
  if (len == 0) {
    ++counters_.segments_duplicate;
    return SegmentOutcome::kDuplicate;
  }
  SegmentTrim cut;
  if (s.fin_seen) {
    // Nothing after the FIN is part of the stream, nor forwarded.
    if (seq_diff(seq, s.fin_seq) >= 0) {
      ++counters_.after_fin;
      return SegmentOutcome::kAfterFin;
    }
    const uint32_t room = s.fin_seq - seq;
    if (len > room) {
      ++counters_.after_fin;
      cut.back = len - room;
      len = room;
    }
  }
  if (s.normalize && seq_diff(seq, s.kept_seq) < 0) {
    // Bytes below the kept copy cannot be compared with what was inspected
    // (acknowledged and released, a gap, or before a mid-stream pick-up).
    const uint32_t below = s.kept_seq - seq;
    if (below >= len) {
      ++counters_.segments_duplicate;
      counters_.stale_bytes += len;
      return SegmentOutcome::kStale;
    }
    counters_.stale_bytes += below;
    cut.front = below;
    seq += below;
    data += below;
    len -= below;
  }
  if (trim != nullptr) *trim = cut;
  if (seq_diff(seq, s.next_seq) > 0) {
    if (s.has_ack_hint && seq_diff(s.ack_hint, s.next_seq) > 0) {
      // The receiver acknowledged bytes before this segment that never passed
      // here: they are a gap, not a hole to wait for.
      const uint32_t before = s.next_seq;
      skip_to(s, seq_diff(seq, s.ack_hint) < 0 ? seq : s.ack_hint, sink);
      // skip_to() stops at the FIN: without progress the same branch would be
      // taken again forever (found by fuzz_packet: FIN consumed, an ACK hint
      // past it, then data past it). Only retry when the hole really moved.
      if (s.next_seq != before) {
        const SegmentOutcome o = on_segment(s, seq, data, len, sink, trim);
        if (trim != nullptr) {
          trim->front += cut.front;
          trim->back += cut.back;
        }
        return o;
      }
    }
    const SegmentOutcome o = buffer(s, seq, data, len);
    if (o == SegmentOutcome::kBuffered) ++counters_.segments_out_of_order;
    return o;
  }
  // The segment starts at or before next_seq: `old` bytes were delivered.
  const uint32_t old = s.next_seq - seq;
  if (len == 1 && old == 1) {
    // A keep-alive probe repeats the last byte, often as garbage (RFC 1122
    // 4.2.3.6): not a conflicting retransmission. Normalizing, its byte is
    // trimmed off (the receiver still answers the empty segment with an ACK).
    ++counters_.segments_duplicate;
    ++counters_.keepalives;
    if (s.normalize) {
      ++counters_.stale_bytes;
      return SegmentOutcome::kStale;
    }
    return SegmentOutcome::kDuplicate;
  }
  const uint32_t overlap = old < len ? old : len;
  const bool conflict =
      s.normalize ? kept_conflicts(s, seq, data, overlap) : tail_conflicts(s, seq, data, overlap);
  if (old >= len || (conflict && s.normalize)) {
    // Nothing new, or (normalizing) a different copy of inspected bytes: none
    // of it goes further.
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
    if (s.normalize) {
      // Compare with the buffered bytes before delivering anything: a
      // conflicting segment of a normalizing direction delivers nothing.
      const uint32_t seg_end = seq + len;
      for (uint32_t c = s.ooo_head; c != SegmentPool::kNil && seq_diff(pool_[c].seq, seg_end) < 0;
           c = pool_[c].next) {
        const SegmentPool::Chunk& ch = pool_[c];
        const uint32_t n = seq_diff(ch.seq + ch.len, seg_end) < 0 ? ch.len : seg_end - ch.seq;
        if (std::memcmp(ch.data, data + (ch.seq - seq), n) != 0) {
          ++counters_.segments_duplicate;
          ++counters_.overlap_conflicts;
          return SegmentOutcome::kConflict;
        }
      }
    }
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
  // Bytes of the gap were never inspected: nothing below the new position can
  // be compared any more, so the kept copy goes and retransmissions of those
  // bytes are stale.
  if (s.normalize) release_kept(s, target, true);
  drain(s, sink);
}

template <typename Sink>
void TcpReassembler::on_peer_ack(TcpDirState& s, uint32_t ack, Sink& sink) noexcept {
  if (!s.seq_known) return;
  if (s.normalize && s.kept_head != SegmentPool::kNil) release_kept(s, ack, false);
  if (seq_diff(ack, s.next_seq) <= 0) return;
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
