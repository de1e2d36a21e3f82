// Defragmenter: in-order and out-of-order reassembly, first-wins overlaps,
// limits (contexts, memcap, ranges, held fragments), timeouts, and that every
// outcome gives its blocks back to the pool.
#include "ftz/engine/defrag.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "engine_fixtures.hpp"
#include "ftz/engine/parser.hpp"
#include "ftz/test/fragment.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::engine {
namespace {

using testing::ip;
using Status = Defragmenter::Status;

constexpr int64_t kMs = 1'000'000;

// A datagram's payload: byte i is (i * 7 + 3) mod 251 so misplaced bytes show.
std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 7 + 3) % 251);
  return v;
}

ParsedPacket frag(const std::vector<uint8_t>& data, uint32_t offset, uint32_t len, bool more, uint32_t id = 1,
                  uint8_t version = 4) {
  ParsedPacket p;
  p.ip_version = version;
  p.src = version == 4 ? ip("10.60.0.1") : ip("2001:db8:60::1");
  p.dst = version == 4 ? ip("203.0.113.10") : ip("2001:db8:ffff::1");
  p.l4_proto = 17;
  p.is_fragment = true;
  p.more_fragments = more;
  p.frag_id = id;
  p.frag_offset = static_cast<uint16_t>(offset);
  p.frag_data = data.data() + offset;
  p.frag_len = len;
  return p;
}

std::vector<uint8_t> bytes_of(std::span<const uint8_t> s) {
  return {s.begin(), s.end()};
}

TEST(DefragTest, InOrderFragmentsComplete) {
  Defragmenter d(16, 64 * 1024, 1000);
  const uint32_t all_blocks = d.blocks_free();
  const auto data = pattern(3000);
  auto r1 = d.add(frag(data, 0, 1200, true), 0, 11);
  EXPECT_EQ(r1.status, Status::kHeld);
  EXPECT_EQ(r1.reason, Reason::kNone);
  auto r2 = d.add(frag(data, 1200, 1200, true), 1, 12);
  EXPECT_EQ(r2.status, Status::kHeld);
  EXPECT_EQ(d.in_progress(), 1u);
  auto r3 = d.add(frag(data, 2400, 600, false), 2, 13);
  ASSERT_EQ(r3.status, Status::kComplete);
  EXPECT_EQ(r3.reason, Reason::kNone);
  EXPECT_EQ(bytes_of(r3.datagram), data);
  EXPECT_EQ(std::vector<uint64_t>(r3.held_tokens.begin(), r3.held_tokens.end()),
            (std::vector<uint64_t>{11, 12}));
  EXPECT_EQ(d.in_progress(), 0u);
  EXPECT_EQ(d.blocks_free(), all_blocks);
  EXPECT_EQ(d.counters().fragments, 3u);
  EXPECT_EQ(d.counters().datagrams_completed, 1u);
  EXPECT_EQ(d.counters().datagrams_discarded, 0u);
}

TEST(DefragTest, OutOfOrderFragmentsComplete) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(2000);
  EXPECT_EQ(d.add(frag(data, 1600, 400, false), 0, 1).status, Status::kHeld);
  EXPECT_EQ(d.add(frag(data, 0, 800, true), 0, 2).status, Status::kHeld);
  const auto r = d.add(frag(data, 800, 800, true), 0, 3);
  ASSERT_EQ(r.status, Status::kComplete);
  EXPECT_EQ(bytes_of(r.datagram), data);
  EXPECT_EQ(r.held_tokens.size(), 2u);
}

TEST(DefragTest, OverlapWithSameDataIsNoConflict) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(1600);
  EXPECT_EQ(d.add(frag(data, 0, 1000, true), 0, 1).status, Status::kHeld);
  const auto r = d.add(frag(data, 800, 800, false), 0, 2);
  ASSERT_EQ(r.status, Status::kComplete);
  EXPECT_EQ(r.reason, Reason::kNone);
  EXPECT_EQ(bytes_of(r.datagram), data);
}

TEST(DefragTest, OverlapWithDifferentDataIsDroppedWholeAndTakesNothing) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(1600);
  auto evil = data;
  for (size_t i = 800; i < 1000; ++i) evil[i] ^= 0xff;
  EXPECT_EQ(d.add(frag(data, 0, 1000, true), 0, 1).status, Status::kHeld);
  // The second fragment rewrites [800, 1000) and brings [1000, 1600): it is
  // dropped whole, so the receiver never sees two versions; its new bytes
  // are not taken either (they travel only in the dropped fragment).
  const auto r = d.add(frag(evil, 800, 800, false), 0, 2);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragOverlapConflict);
  // The honest last fragment completes the datagram with the first bytes.
  const auto done = d.add(frag(data, 1000, 600, false), 0, 3);
  ASSERT_EQ(done.status, Status::kComplete);
  EXPECT_EQ(bytes_of(done.datagram), data);
  EXPECT_EQ(done.held_tokens.size(), 1u);  // only the first fragment was held
}

TEST(DefragTest, LaterOverlapInsideHeldDataIsDroppedWhileHeld) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(2400);
  auto evil = data;
  evil[1000] ^= 1;
  EXPECT_EQ(d.add(frag(data, 800, 800, true), 0, 1).status, Status::kHeld);
  const auto r = d.add(frag(evil, 800, 800, true), 0, 2);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragOverlapConflict);
  EXPECT_EQ(d.add(frag(data, 0, 800, true), 0, 3).reason, Reason::kNone);
  const auto done = d.add(frag(data, 1600, 800, false), 0, 4);
  ASSERT_EQ(done.status, Status::kComplete);
  EXPECT_EQ(bytes_of(done.datagram), data);
  EXPECT_EQ(done.held_tokens.size(), 2u);
}

TEST(DefragTest, IdenticalOverlapsAndDuplicatesMerge) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(1600);
  EXPECT_EQ(d.add(frag(data, 0, 1000, true), 0, 1).status, Status::kHeld);
  EXPECT_EQ(d.add(frag(data, 0, 1000, true), 0, 2).status, Status::kHeld);   // exact duplicate
  EXPECT_EQ(d.add(frag(data, 504, 800, true), 0, 3).status, Status::kHeld);  // same bytes, partly new
  const auto done = d.add(frag(data, 1304, 296, false), 0, 4);
  ASSERT_EQ(done.status, Status::kComplete);
  EXPECT_EQ(done.reason, Reason::kNone);
  EXPECT_EQ(bytes_of(done.datagram), data);
}

TEST(DefragTest, TimeoutDiscardsAndReportsHeldTokens) {
  Defragmenter d(16, 64 * 1024, 30);
  const uint32_t all_blocks = d.blocks_free();
  const auto data = pattern(1600);
  d.add(frag(data, 0, 800, true, 1), 0, 101);
  d.add(frag(data, 0, 800, true, 2), 10 * kMs, 201);
  d.add(frag(data, 800, 800, true, 1), 20 * kMs, 102);
  std::vector<std::vector<uint64_t>> discarded;
  auto collect = [&](std::span<const uint64_t> t) { discarded.emplace_back(t.begin(), t.end()); };
  d.expire(30 * kMs, collect);  // exactly the timeout: still alive
  EXPECT_TRUE(discarded.empty());
  d.expire(30 * kMs + 1, collect);
  ASSERT_EQ(discarded.size(), 1u);
  EXPECT_EQ(discarded[0], (std::vector<uint64_t>{101, 102}));
  EXPECT_EQ(d.timeouts(), 1u);
  EXPECT_EQ(d.in_progress(), 1u);
  d.expire(41 * kMs, collect);
  ASSERT_EQ(discarded.size(), 2u);
  EXPECT_EQ(discarded[1], (std::vector<uint64_t>{201}));
  EXPECT_EQ(d.counters().datagrams_discarded, 2u);
  EXPECT_EQ(d.in_progress(), 0u);
  EXPECT_EQ(d.blocks_free(), all_blocks);
  // A late fragment of the expired datagram starts a new one.
  EXPECT_EQ(d.add(frag(data, 800, 800, false, 1), 50 * kMs, 103).status, Status::kHeld);
  EXPECT_EQ(d.in_progress(), 1u);
}

TEST(DefragTest, TableFull) {
  Defragmenter d(2, 64 * 1024, 1000);
  const auto data = pattern(1600);
  EXPECT_EQ(d.add(frag(data, 0, 800, true, 1), 0, 1).status, Status::kHeld);
  EXPECT_EQ(d.add(frag(data, 0, 800, true, 2), 0, 2).status, Status::kHeld);
  const auto r = d.add(frag(data, 0, 800, true, 3), 0, 3);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragTableFull);
  // Existing datagrams still complete, and free their context.
  EXPECT_EQ(d.add(frag(data, 800, 800, false, 1), 0, 4).status, Status::kComplete);
  EXPECT_EQ(d.add(frag(data, 0, 800, true, 3), 0, 5).status, Status::kHeld);
}

TEST(DefragTest, Memcap) {
  Defragmenter d(16, 3 * Defragmenter::kBlockSize, 1000);
  ASSERT_EQ(d.blocks_free(), 3u);
  const auto data = pattern(4096);
  EXPECT_EQ(d.add(frag(data, 0, 1024, true, 1), 0, 1).status, Status::kHeld);
  EXPECT_EQ(d.blocks_free(), 1u);
  const auto r = d.add(frag(data, 0, 1024, true, 2), 0, 2);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragMemcap);
  EXPECT_EQ(d.blocks_free(), 1u);
  // Bytes within blocks already owned need no new block.
  auto same = d.add(frag(data, 512, 512, true, 1), 0, 3);
  EXPECT_EQ(same.status, Status::kHeld);
  EXPECT_EQ(same.reason, Reason::kNone);
  const auto done = d.add(frag(data, 1024, 8, false, 1), 0, 4);
  ASSERT_EQ(done.status, Status::kComplete);
  EXPECT_EQ(done.datagram.size(), 1032u);
  EXPECT_EQ(d.blocks_free(), 3u);
}

TEST(DefragTest, BadLengths) {
  Defragmenter d(16, 128 * 1024, 1000);
  const auto data = pattern(70000);
  auto r = d.add(frag(data, 0, 1001, true), 0, 1);  // not a multiple of 8 yet not last
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragBadLength);
  r = d.add(frag(data, 65528, 8, false), 0, 2);  // ends at 65536
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragBadLength);
  r = d.add(frag(data, 65528, 7, false), 0, 3);  // ends at 65535: the largest datagram
  EXPECT_EQ(r.status, Status::kHeld);
  EXPECT_EQ(r.reason, Reason::kNone);
}

TEST(DefragTest, InconsistentEnds) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(2000);
  EXPECT_EQ(d.add(frag(data, 800, 800, false), 0, 1).status, Status::kHeld);
  const auto r = d.add(frag(data, 800, 400, false), 0, 2);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragInconsistentEnd);
  // The original end still stands.
  const auto done = d.add(frag(data, 0, 800, true), 0, 3);
  ASSERT_EQ(done.status, Status::kComplete);
  EXPECT_EQ(done.datagram.size(), 1600u);
}

TEST(DefragTest, TooManyFragments) {
  Defragmenter d(16, 128 * 1024, 1000);
  const auto data = pattern(Defragmenter::kMaxHeld * 8 + 8);
  // kMaxHeld tiny overlapping copies of the first 8 bytes are all held...
  for (uint32_t i = 0; i < Defragmenter::kMaxHeld; ++i) {
    ASSERT_EQ(d.add(frag(data, 0, 8, true), 0, i).status, Status::kHeld) << i;
  }
  // ...the next one is one too many.
  const auto r = d.add(frag(data, 8, 8, false), 0, 999);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragTooMany);
}

TEST(DefragTest, TooManyDistinctRanges) {
  Defragmenter d(16, 128 * 1024, 1000);
  const auto data = pattern(Defragmenter::kMaxRanges * 16 + 16);
  // Every other 8-byte piece: kMaxRanges disjoint ranges.
  for (uint32_t i = 0; i < Defragmenter::kMaxRanges - 1; ++i) {
    ASSERT_EQ(d.add(frag(data, 16 * i + 16, 8, true), 0, i).status, Status::kHeld) << i;
  }
  ASSERT_EQ(d.add(frag(data, 16 * Defragmenter::kMaxRanges, 8, true), 0, 63).status, Status::kHeld);
  const auto r = d.add(frag(data, 0, 8, true), 0, 64);
  EXPECT_EQ(r.status, Status::kDropped);
  EXPECT_EQ(r.reason, Reason::kFragTooMany);
}

TEST(DefragTest, KeyedByIdAddressesVersionAndVlan) {
  Defragmenter d(16, 64 * 1024, 1000);
  const auto data = pattern(1600);
  d.add(frag(data, 0, 800, true, 7), 0, 1);
  // Same id from another source, another VLAN, and IPv6: three more datagrams.
  ParsedPacket other_src = frag(data, 800, 800, false, 7);
  other_src.src = ip("10.60.0.2");
  EXPECT_EQ(d.add(other_src, 0, 2).status, Status::kHeld);
  ParsedPacket other_vlan = frag(data, 800, 800, false, 7);
  other_vlan.vlan[0] = 5;
  EXPECT_EQ(d.add(other_vlan, 0, 3).status, Status::kHeld);
  EXPECT_EQ(d.add(frag(data, 800, 800, false, 7, 6), 0, 4).status, Status::kHeld);
  EXPECT_EQ(d.in_progress(), 4u);
  EXPECT_EQ(d.add(frag(data, 800, 800, false, 7), 0, 5).status, Status::kComplete);
}

// End to end with the fixture fragmenter and the parser.
std::vector<ParsedPacket> parse_all(const std::vector<test::Bytes>& frames) {
  std::vector<ParsedPacket> out;
  for (const auto& f : frames) {
    ParsedPacket p;
    const ParseResult r = parse_packet(LinkType::kEthernet, f.data(), static_cast<uint32_t>(f.size()), p);
    EXPECT_EQ(r.status, ParseStatus::kOk);
    EXPECT_TRUE(p.is_fragment);
    out.push_back(p);
  }
  return out;
}

TEST(DefragTest, Ipv4FromFragmenterReverseOrder) {
  const std::string body(3000, 'q');
  const test::Bytes whole = test::PacketBuilder()
                                .eth()
                                .ipv4("10.60.0.1", "203.0.113.10")
                                .ip_id(77)
                                .udp(1000, 2000)
                                .payload(body)
                                .build();
  const uint32_t cuts[] = {1480, 2960};
  const auto frames = test::fragment_ipv4(whole, cuts);
  ASSERT_EQ(frames.size(), 3u);
  const auto parsed = parse_all(frames);
  Defragmenter d(16, 64 * 1024, 1000);
  EXPECT_EQ(d.add(parsed[2], 0, 2).status, Status::kHeld);
  EXPECT_EQ(d.add(parsed[1], 0, 1).status, Status::kHeld);
  const auto r = d.add(parsed[0], 0, 0);
  ASSERT_EQ(r.status, Status::kComplete);
  // The datagram is the UDP header plus body, as it left the sender.
  EXPECT_EQ(bytes_of(r.datagram), test::Bytes(whole.begin() + 34, whole.end()));
  ParsedPacket l4 = parsed[0];
  ASSERT_EQ(parse_l4(17, r.datagram.data(), static_cast<uint32_t>(r.datagram.size()),
                     static_cast<uint32_t>(r.datagram.size()), l4)
                .status,
            ParseStatus::kOk);
  EXPECT_EQ(l4.dst_port, 2000);
  EXPECT_EQ(l4.payload_len, 3000u);
}

TEST(DefragTest, Ipv6FromFragmenterWithRewrittenOverlap) {
  const std::string body(2000, 'a');
  const test::Bytes whole = test::PacketBuilder()
                                .eth()
                                .ipv6("2001:db8:60::1", "2001:db8:ffff::1")
                                .udp(1000, 2000)
                                .payload(body)
                                .build();
  std::vector<test::FragmentSpec> pieces(3);
  pieces[0].offset = 0;
  pieces[0].length = 1200;
  pieces[1].offset = 1200;
  pieces[1].length = 808;
  pieces[2].offset = 1000;  // overlaps [1000, 1200) with different bytes
  pieces[2].data = test::Bytes(200, 'Z');
  pieces[2].more_fragments = true;
  const auto frames = test::fragment_ipv6(whole, pieces, 0xabcd);
  const auto parsed = parse_all(frames);
  EXPECT_EQ(parsed[0].frag_id, 0xabcdu);
  Defragmenter d(16, 64 * 1024, 1000);
  EXPECT_EQ(d.add(parsed[0], 0, 0).status, Status::kHeld);
  const auto conflict = d.add(parsed[2], 0, 2);
  EXPECT_EQ(conflict.status, Status::kDropped);
  EXPECT_EQ(conflict.reason, Reason::kFragOverlapConflict);
  const auto r = d.add(parsed[1], 0, 1);
  ASSERT_EQ(r.status, Status::kComplete);
  EXPECT_EQ(bytes_of(r.datagram), test::Bytes(whole.begin() + 54, whole.end()));
}

}  // namespace
}  // namespace ftz::engine
