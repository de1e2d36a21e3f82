// TcpReassembler: in-order delivery, out-of-order buffering and draining,
// first-wins overlaps and their conflicts, gaps on ACK and at flush, limits,
// FIN trimming and sequence-number wrap.
#include "ftz/engine/tcp_reassembly.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ftz::engine {
namespace {

struct Sink {
  std::string bytes;
  std::vector<uint32_t> gaps;
  // Each deliver() call, to check delivery is in pieces as expected.
  std::vector<uint32_t> calls;
  void deliver(const uint8_t* d, uint32_t n) noexcept {
    bytes.append(reinterpret_cast<const char*>(d), n);
    calls.push_back(n);
  }
  void gap(uint32_t n) noexcept {
    gaps.push_back(n);
    bytes.append(n, '#');  // mark where bytes are missing
  }
};

// A stream "abcdefghij..." of n bytes.
std::string stream(size_t n) {
  std::string s(n, ' ');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

struct Fixture {
  explicit Fixture(uint64_t memcap = 1 << 20, uint32_t per_flow = 1 << 16, uint32_t isn = 1000)
      : pool(memcap), reasm(pool, per_flow), base(isn) {
    TcpReassembler::start(dir, isn);
  }
  SegmentOutcome seg(uint32_t offset, const std::string& data) {
    return reasm.on_segment(dir, base + offset, reinterpret_cast<const uint8_t*>(data.data()),
                            static_cast<uint32_t>(data.size()), sink);
  }
  SegmentOutcome seg(uint32_t offset, const std::string& whole, uint32_t len) {
    return seg(offset, whole.substr(offset, len));
  }
  SegmentPool pool;
  TcpReassembler reasm;
  TcpDirState dir;
  Sink sink;
  uint32_t base;
};

TEST(TcpReassemblyTest, InOrderDelivery) {
  Fixture f;
  const std::string s = stream(300);
  EXPECT_EQ(f.seg(0, s, 100), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.seg(100, s, 200), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s);
  EXPECT_EQ(f.dir.next_seq, 1300u);
  EXPECT_EQ(f.dir.delivered, 300u);
  EXPECT_EQ(f.reasm.counters().segments_in_order, 2u);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 0u);
}

TEST(TcpReassemblyTest, EmptySegmentIsDuplicate) {
  Fixture f;
  EXPECT_EQ(f.seg(0, ""), SegmentOutcome::kDuplicate);
  EXPECT_EQ(f.reasm.counters().segments_duplicate, 1u);
  EXPECT_TRUE(f.sink.bytes.empty());
}

TEST(TcpReassemblyTest, OutOfOrderBufferedThenDrained) {
  Fixture f;
  const std::string s = stream(400);
  EXPECT_EQ(f.seg(300, s, 100), SegmentOutcome::kBuffered);
  EXPECT_EQ(f.seg(100, s, 100), SegmentOutcome::kBuffered);
  EXPECT_TRUE(f.sink.bytes.empty());
  EXPECT_EQ(f.dir.ooo_bytes, 200u);
  EXPECT_EQ(f.pool.available(), f.pool.capacity() - 2);
  EXPECT_EQ(f.seg(0, s, 100), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 200));
  EXPECT_EQ(f.seg(200, s, 100), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s);
  EXPECT_EQ(f.dir.ooo_bytes, 0u);
  EXPECT_EQ(f.dir.ooo_head, SegmentPool::kNil);
  EXPECT_EQ(f.pool.available(), f.pool.capacity());
  EXPECT_EQ(f.reasm.counters().segments_out_of_order, 2u);
  EXPECT_EQ(f.reasm.counters().segments_in_order, 2u);
}

TEST(TcpReassemblyTest, LargeOutOfOrderSegmentSpansChunks) {
  Fixture f;
  const std::string s = stream(6000);
  EXPECT_EQ(f.seg(1000, s, 5000), SegmentOutcome::kBuffered);
  EXPECT_EQ(f.pool.available(), f.pool.capacity() - 3);  // 2048 + 2048 + 904
  EXPECT_EQ(f.seg(0, s, 1000), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s);
  EXPECT_EQ(f.pool.available(), f.pool.capacity());
}

TEST(TcpReassemblyTest, RetransmissionWithSameDataIsDuplicate) {
  Fixture f;
  const std::string s = stream(200);
  f.seg(0, s, 200);
  EXPECT_EQ(f.seg(150, s, 50), SegmentOutcome::kDuplicate);
  EXPECT_EQ(f.seg(0, s, 100), SegmentOutcome::kDuplicate);
  EXPECT_EQ(f.reasm.counters().segments_duplicate, 2u);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 0u);
  EXPECT_EQ(f.sink.bytes, s);
}

TEST(TcpReassemblyTest, RetransmissionWithDifferentDataIsConflict) {
  Fixture f;
  const std::string s = stream(200);
  f.seg(0, s, 200);
  // Within the last 32 delivered bytes: visible, so a conflict.
  std::string evil = s.substr(180, 20);
  evil[5] = 'X';
  EXPECT_EQ(f.seg(180, evil), SegmentOutcome::kConflict);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 1u);
  EXPECT_EQ(f.sink.bytes, s);  // first wins
  // Older than the tail: not visible any more, a plain duplicate.
  std::string old = s.substr(0, 20);
  old[0] = 'X';
  EXPECT_EQ(f.seg(0, old), SegmentOutcome::kDuplicate);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 1u);
}

TEST(TcpReassemblyTest, PartialOverlapWithTailConflictStillDeliversNewBytes) {
  Fixture f;
  const std::string s = stream(300);
  f.seg(0, s, 200);
  std::string seg = s.substr(190, 110);
  seg[0] = 'X';  // rewrites delivered byte 190
  EXPECT_EQ(f.seg(190, seg), SegmentOutcome::kConflict);
  EXPECT_EQ(f.sink.bytes, s);  // the new bytes [200, 300) are the segment's
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 1u);
}

TEST(TcpReassemblyTest, OverlapWithBufferedDataFirstWins) {
  Fixture f;
  const std::string s = stream(300);
  EXPECT_EQ(f.seg(100, s, 100), SegmentOutcome::kBuffered);
  std::string evil = s.substr(150, 100);
  evil[10] = 'X';  // stream byte 160, buffered already
  EXPECT_EQ(f.seg(150, evil), SegmentOutcome::kConflict);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 1u);
  EXPECT_EQ(f.seg(0, s, 100), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 250));
}

TEST(TcpReassemblyTest, InOrderSegmentOverlappingBufferedConflictCountedOnce) {
  Fixture f;
  const std::string s = stream(300);
  EXPECT_EQ(f.seg(100, s, 100), SegmentOutcome::kBuffered);
  std::string evil = s.substr(0, 150);
  evil[120] = 'X';
  EXPECT_EQ(f.seg(0, evil), SegmentOutcome::kConflict);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 200));  // buffered bytes won
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 1u);
}

TEST(TcpReassemblyTest, GapWhenPeerAcksBeyondHole) {
  Fixture f;
  const std::string s = stream(400);
  f.seg(0, s, 100);
  EXPECT_EQ(f.seg(200, s, 100), SegmentOutcome::kBuffered);
  // An ACK below or at next_seq says nothing.
  f.reasm.on_peer_ack(f.dir, f.base + 100, f.sink);
  EXPECT_TRUE(f.sink.gaps.empty());
  // The receiver acknowledged through 250: it got [100, 200) which we never saw.
  f.reasm.on_peer_ack(f.dir, f.base + 250, f.sink);
  EXPECT_EQ(f.sink.gaps, (std::vector<uint32_t>{100}));
  EXPECT_EQ(f.sink.bytes, s.substr(0, 100) + std::string(100, '#') + s.substr(200, 100));
  EXPECT_EQ(f.dir.next_seq, f.base + 300);
  EXPECT_EQ(f.dir.gaps, 1u);
  EXPECT_EQ(f.reasm.counters().gaps, 1u);
  EXPECT_EQ(f.reasm.counters().gap_bytes, 100u);
  // An ACK beyond everything with nothing buffered is only a hint: a capture
  // may list the ACK before the segment it acknowledges.
  f.reasm.on_peer_ack(f.dir, f.base + 350, f.sink);
  EXPECT_EQ(f.sink.gaps, (std::vector<uint32_t>{100}));
  EXPECT_EQ(f.dir.next_seq, f.base + 300);
  // Data beyond the acknowledged point arrives: [300, 350) is a gap, and the
  // segment waits for [350, 360).
  EXPECT_EQ(f.seg(360, s, 40), SegmentOutcome::kBuffered);
  EXPECT_EQ(f.sink.gaps, (std::vector<uint32_t>{100, 50}));
  EXPECT_EQ(f.dir.next_seq, f.base + 350);
  EXPECT_EQ(f.seg(350, s, 10), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 100) + std::string(100, '#') + s.substr(200, 100) +
                              std::string(50, '#') + s.substr(350, 50));
}

TEST(TcpReassemblyTest, AckedSegmentArrivingAfterItsAckIsNotLost) {
  Fixture f;
  const std::string s = stream(200);
  f.seg(0, s, 100);
  f.reasm.on_peer_ack(f.dir, f.base + 200, f.sink);  // the ACK overtook the data
  EXPECT_EQ(f.seg(100, s, 100), SegmentOutcome::kDelivered);
  EXPECT_TRUE(f.sink.gaps.empty());
  EXPECT_EQ(f.sink.bytes, s);
}

TEST(TcpReassemblyTest, DataPastConsumedFinWithAckHintTerminates) {
  // Regression (fuzz_packet hang): FIN consumed, the peer's ACK hint lies
  // beyond it, then a segment beyond both arrives. The gap cannot move past
  // the FIN; the segment must neither loop nor reach the stream.
  Fixture f;
  const std::string s = stream(300);
  f.seg(0, s, 100);
  f.dir.fin_seen = true;
  f.dir.fin_seq = f.base + 100;
  f.dir.closed = true;
  f.reasm.on_peer_ack(f.dir, f.base + 240, f.sink);
  EXPECT_EQ(f.seg(240, s, 14), SegmentOutcome::kAfterFin);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 100));
  EXPECT_TRUE(f.sink.gaps.empty());
  EXPECT_EQ(f.dir.next_seq, f.base + 100);
  f.reasm.flush(f.dir, f.sink);  // and the flow end discards it
  EXPECT_EQ(f.sink.bytes, s.substr(0, 100));
  EXPECT_EQ(f.dir.ooo_head, SegmentPool::kNil);
}

TEST(TcpReassemblyTest, KeepAliveProbeIsNotConflict) {
  Fixture f;
  const std::string s = stream(100);
  f.seg(0, s, 100);
  EXPECT_EQ(f.seg(99, std::string(1, '\0')), SegmentOutcome::kDuplicate);
  EXPECT_EQ(f.reasm.counters().keepalives, 1u);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 0u);
}

TEST(TcpReassemblyTest, AckOfFinIsNoGap) {
  Fixture f;
  const std::string s = stream(100);
  f.seg(0, s, 100);
  f.dir.fin_seen = true;
  f.dir.fin_seq = f.base + 100;
  f.reasm.on_peer_ack(f.dir, f.base + 101, f.sink);  // the FIN's own sequence number
  EXPECT_TRUE(f.sink.gaps.empty());
  EXPECT_EQ(f.dir.next_seq, f.base + 100);
}

TEST(TcpReassemblyTest, FlushSkipsHolesAndDeliversBuffered) {
  Fixture f;
  const std::string s = stream(500);
  f.seg(0, s, 100);
  f.seg(200, s, 100);
  f.seg(400, s, 100);
  f.reasm.flush(f.dir, f.sink);
  EXPECT_EQ(f.sink.gaps, (std::vector<uint32_t>{100, 100}));
  EXPECT_EQ(f.sink.bytes, s.substr(0, 100) + std::string(100, '#') + s.substr(200, 100) +
                              std::string(100, '#') + s.substr(400));
  EXPECT_EQ(f.dir.ooo_head, SegmentPool::kNil);
  EXPECT_EQ(f.pool.available(), f.pool.capacity());
}

TEST(TcpReassemblyTest, ReleaseReturnsChunks) {
  Fixture f;
  const std::string s = stream(500);
  f.seg(200, s, 300);
  EXPECT_EQ(f.pool.available(), f.pool.capacity() - 1);
  f.reasm.release(f.dir);
  EXPECT_EQ(f.pool.available(), f.pool.capacity());
  EXPECT_EQ(f.dir.ooo_bytes, 0u);
  EXPECT_EQ(f.dir.ooo_head, SegmentPool::kNil);
}

TEST(TcpReassemblyTest, PerFlowOutOfOrderLimit) {
  Fixture f(1 << 20, 1000);
  const std::string s = stream(3000);
  EXPECT_EQ(f.seg(100, s, 1000), SegmentOutcome::kBuffered);
  EXPECT_EQ(f.seg(1200, s, 1), SegmentOutcome::kOverLimit);
  EXPECT_EQ(f.reasm.counters().over_limit, 1u);
  EXPECT_EQ(f.dir.ooo_bytes, 1000u);
  // Bytes already buffered cost nothing: a full retransmission of them is fine.
  EXPECT_EQ(f.seg(100, s, 1000), SegmentOutcome::kBuffered);
  EXPECT_EQ(f.seg(0, s, 100), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 1100));
}

TEST(TcpReassemblyTest, GlobalMemcap) {
  Fixture f(2 * sizeof(SegmentPool::Chunk), 1 << 20);
  ASSERT_EQ(f.pool.capacity(), 2u);
  const std::string s = stream(10000);
  EXPECT_EQ(f.seg(100, s, 4096), SegmentOutcome::kBuffered);
  EXPECT_EQ(f.pool.available(), 0u);
  EXPECT_EQ(f.seg(5000, s, 10), SegmentOutcome::kOverLimit);
  EXPECT_EQ(f.reasm.counters().over_limit, 1u);
}

TEST(TcpReassemblyTest, InOrderSegmentOverLimitStillDeliversItsBytes) {
  // [100, 1000) is buffered and the per-flow limit is nearly used up. The
  // in-order segment [0, 1500) cannot merge through the buffer (its 600 new
  // bytes would pass the limit), yet it is in order: all of it must reach the
  // stream, with the buffered bytes winning where they overlap.
  Fixture f(1 << 20, 1000);
  const std::string s = stream(1500);
  EXPECT_EQ(f.seg(100, s, 900), SegmentOutcome::kBuffered);
  std::string seg = s;
  seg[500] = 'X';  // disagrees with a buffered byte
  EXPECT_EQ(f.seg(0, seg), SegmentOutcome::kConflict);
  EXPECT_EQ(f.sink.bytes, s);
  EXPECT_EQ(f.dir.next_seq, f.base + 1500);
  EXPECT_EQ(f.dir.ooo_head, SegmentPool::kNil);
  EXPECT_EQ(f.reasm.counters().overlap_conflicts, 1u);
}

TEST(TcpReassemblyTest, DataAfterFinIsNotDelivered) {
  Fixture f;
  const std::string s = stream(200);
  f.dir.fin_seen = true;
  f.dir.fin_seq = f.base + 150;
  EXPECT_EQ(f.seg(0, s, 200), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 150));
  EXPECT_EQ(f.dir.next_seq, f.base + 150);
}

TEST(TcpReassemblyTest, SequenceWrap) {
  // ISN just below 2^32: the stream crosses zero.
  Fixture f(1 << 20, 1 << 16, 0xffffff00u);
  const std::string s = stream(1000);
  EXPECT_EQ(f.seg(600, s, 400), SegmentOutcome::kBuffered);  // seq 0x158: past zero
  EXPECT_EQ(f.seg(200, s, 200), SegmentOutcome::kBuffered);  // seq 0xffffffc8 to 0x90: across zero
  EXPECT_EQ(f.seg(0, s, 200), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s.substr(0, 400));
  EXPECT_EQ(f.dir.next_seq, 0xffffff00u + 400);  // wrapped
  EXPECT_EQ(f.seg(400, s, 200), SegmentOutcome::kDelivered);
  EXPECT_EQ(f.sink.bytes, s);
  EXPECT_EQ(f.dir.next_seq, 1000u - 0x100u);
  // An old segment from before the wrap is a duplicate, not "far ahead".
  EXPECT_EQ(f.seg(0, s, 100), SegmentOutcome::kDuplicate);
  f.reasm.on_peer_ack(f.dir, 0xffffff00u + 10, f.sink);
  EXPECT_TRUE(f.sink.gaps.empty());
}

TEST(TcpReassemblyTest, SeqDiff) {
  EXPECT_EQ(seq_diff(5, 3), 2);
  EXPECT_EQ(seq_diff(3, 5), -2);
  EXPECT_EQ(seq_diff(2, 0xfffffffeu), 4);
  EXPECT_EQ(seq_diff(0xfffffffeu, 2), -4);
}

TEST(TcpReassemblyTest, MidStreamPickUpStartsAtFirstSegment) {
  SegmentPool pool(1 << 16);
  TcpReassembler r(pool, 1 << 16);
  TcpDirState st;
  Sink sink;
  const std::string d = "mid-stream";
  EXPECT_EQ(r.on_segment(st, 777, reinterpret_cast<const uint8_t*>(d.data()), 10, sink),
            SegmentOutcome::kDelivered);
  EXPECT_TRUE(st.seq_known);
  EXPECT_EQ(st.next_seq, 787u);
  EXPECT_EQ(sink.bytes, d);
}

}  // namespace
}  // namespace ftz::engine
