// Inline stream normalization of exports (docs/decisions/0003), one evasion
// per test through a Worker with a resident-ID signature and a rule that
// blocks sensitive PI: control segments that fail checks change nothing,
// retransmissions are compared with what was inspected, stale bytes are
// trimmed, bytes behind a hole never leave, and what cannot be inspected
// follows the fail mode. (tests/evasion replays the same attacks against a
// real Linux receiver.)
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "engine_fixtures.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::engine {
namespace {

using namespace ftz::engine::testing;
using test::PacketBuilder;

constexpr int64_t kT0 = 1772413200LL * 1'000'000'000;
constexpr std::string_view kId = "11010519491231002X";  // DOMAIN.md §3.1
constexpr uint32_t kCIsn = 1000;
constexpr uint32_t kSIsn = 5000;
constexpr DataClassMask kSensitive = 1u << static_cast<int>(DataClass::kSensitivePi);

// Exports from the FTZ: sensitive PI is blocked; the pair fails closed.
PolicySpec export_policy(FailMode fail = FailMode::kClosed) {
  PolicySpec s = zone_policy();
  s.limits.flow_table_size = 1024;
  RuleSpec sensitive;
  sensitive.name = "sensitive";
  sensitive.match.data_classes = kSensitive;
  sensitive.verdict.action = Action::kBlock;
  sensitive.verdict.alert = true;
  s.rules = {sensitive};
  ZonePairDefault d;
  d.src_zone = kZoneFtz;
  d.dst_zone = kZoneOffshore;
  d.fail_mode = fail;
  s.defaults = {d};
  s.signatures = {resident_id_signature()};
  return s;
}

std::shared_ptr<const PolicyGeneration> generation(PolicySpec spec) {
  auto g = PolicyGeneration::build_with_signatures(std::move(spec), 1);
  EXPECT_TRUE(g) << (g ? "" : g.error());
  return *g;
}

struct Seg {
  bool from_client = true;
  uint8_t flags = test::kTcpAck | test::kTcpPsh;
  uint32_t seq = 0;
  uint32_t ack = 0;
  std::string payload;
  std::optional<uint16_t> checksum;  // forced (wrong) TCP checksum
  std::optional<std::pair<uint32_t, uint32_t>> ts;
  std::optional<uint8_t> wscale;
  uint16_t window = 1024;
  uint16_t client_port = 40000;
};

Seg seg(bool from_client, uint8_t flags, uint32_t seq, uint32_t ack, std::string payload = {},
        uint16_t client_port = 40000) {
  Seg s;
  s.from_client = from_client;
  s.flags = flags;
  s.seq = seq;
  s.ack = ack;
  s.payload = std::move(payload);
  s.client_port = client_port;
  return s;
}

test::Bytes frame(const Seg& s) {
  PacketBuilder b;
  b.eth();
  if (s.from_client) {
    b.ipv4("10.60.0.1", "203.0.113.10").tcp(s.client_port, 9000, s.flags, s.seq, s.ack);
  } else {
    b.ipv4("203.0.113.10", "10.60.0.1").tcp(9000, s.client_port, s.flags, s.seq, s.ack);
  }
  b.window(s.window);
  if (s.wscale) b.window_scale(*s.wscale);
  if (s.ts) b.timestamps(s.ts->first, s.ts->second);
  if (s.checksum) b.l4_checksum(*s.checksum);
  if (!s.payload.empty()) b.payload(s.payload);
  return b.build();
}

struct Runner {
  explicit Runner(PolicySpec spec, WorkerOptions o = {})
      : worker(generation(std::move(spec)), LinkType::kEthernet, o) {}

  PacketResult send(const Seg& s) {
    frames.push_back(frame(s));
    const PacketView v =
        view_of(frames.back(), kT0 + static_cast<int64_t>(frames.size()) * 1'000'000, frames.size());
    PacketResult r;
    EXPECT_EQ(worker.process_burst(std::span<const PacketView>(&v, 1), std::span<PacketResult>(&r, 1)), 1u);
    for (const Release& rel : worker.released()) released.push_back(rel);
    return r;
  }
  // SYN (window scale 0 both ways: windows are what the test says), SYN-ACK, ACK.
  void handshake(bool timestamps = false, uint16_t client_port = 40000) {
    Seg syn = seg(true, test::kTcpSyn, kCIsn, 0, "", client_port);
    syn.wscale = 0;
    Seg synack = seg(false, test::kTcpSyn | test::kTcpAck, kSIsn, kCIsn + 1, "", client_port);
    synack.wscale = 0;
    Seg ack = seg(true, test::kTcpAck, kCIsn + 1, kSIsn + 1, "", client_port);
    if (timestamps) {
      syn.ts = {100, 0};
      synack.ts = {500, 100};
      ack.ts = {101, 500};
    }
    EXPECT_EQ(send(syn).disposition, Disposition::kForward);
    EXPECT_EQ(send(synack).disposition, Disposition::kForward);
    EXPECT_EQ(send(ack).disposition, Disposition::kForward);
  }
  // Client data at stream offset `off`.
  PacketResult data(uint32_t off, std::string payload, uint8_t flags = test::kTcpAck | test::kTcpPsh) {
    return send(seg(true, flags, kCIsn + 1 + off, kSIsn + 1, std::move(payload)));
  }
  PacketResult server_ack(uint32_t client_off) {
    return send(seg(false, test::kTcpAck, kSIsn + 1, kCIsn + 1 + client_off, ""));
  }
  uint64_t reason(Reason r) const { return worker.counters().reasons[static_cast<uint32_t>(r)]; }
  std::vector<Event> drain() {
    std::vector<Event> out;
    while (const Event* e = worker.events().front()) {
      out.push_back(*e);
      worker.events().pop();
    }
    return out;
  }

  Worker worker;
  std::vector<test::Bytes> frames;
  std::vector<Release> released;
};

// Raw uploads (port 9000, no app protocol): the stream itself is scanned.
constexpr std::string_view kHead = "upload v1 ----------";  // 20 bytes
std::string request_with(std::string_view id) {
  return std::string(kHead) + "idcard=" + std::string(id) + "\n";
}

TEST(StreamIntegrityTest, ControlCaseTheIdentifierIsBlocked) {
  Runner r(export_policy());
  r.handshake();
  const PacketResult res = r.data(0, request_with(kId));
  EXPECT_EQ(res.disposition, Disposition::kDrop);
  EXPECT_EQ(res.reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, MidStreamSynWithAnotherSequenceIsDroppedAndMovesNothing) {
  Runner r(export_policy());
  r.handshake();
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  const PacketResult syn = r.send(seg(true, test::kTcpSyn, 0x7000'0000, 0, ""));
  EXPECT_EQ(syn.disposition, Disposition::kDrop);
  EXPECT_EQ(syn.reason, Reason::kTcpSynInvalid);
  // The real request continues where it was: inspected, blocked.
  const std::string rest = "idcard=" + std::string(kId) + "\n";
  const PacketResult res = r.data(20, rest);
  EXPECT_EQ(res.disposition, Disposition::kDrop);
  EXPECT_EQ(res.reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, BadChecksumDecoyNeverCounts) {
  Runner r(export_policy());
  r.handshake();
  Seg decoy = seg(true, test::kTcpAck | test::kTcpPsh, kCIsn + 1, kSIsn + 1,
                  std::string(request_with(kId).size(), 'A'));
  decoy.checksum = 0x1234;
  const PacketResult d = r.send(decoy);
  EXPECT_EQ(d.disposition, Disposition::kDrop);
  EXPECT_EQ(d.reason, Reason::kTcpBadChecksum);
  const PacketResult real = r.data(0, request_with(kId));
  EXPECT_EQ(real.disposition, Disposition::kDrop);
  EXPECT_EQ(real.reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, ConflictingRetransmissionFarBehindIsDropped) {
  // A decoy the receiver never got (low TTL, say) is inspected first; the
  // real copy carries an identifier 200 bytes back, past any small tail.
  Runner r(export_policy());
  r.handshake();
  const std::string benign = std::string(kHead) + std::string(300, 'a');
  EXPECT_EQ(r.data(0, benign).disposition, Disposition::kForward);
  std::string real = benign;
  real.replace(100, kId.size(), kId);
  const PacketResult res = r.data(0, real);
  EXPECT_EQ(res.disposition, Disposition::kDrop);
  EXPECT_EQ(res.reason, Reason::kTcpOverlapConflict);
  // An identical retransmission still goes (legitimate loss recovery).
  EXPECT_EQ(r.data(0, benign).disposition, Disposition::kForward);
}

TEST(StreamIntegrityTest, AcknowledgedBytesSentAgainAreTrimmedOff) {
  Runner r(export_policy());
  r.handshake();
  const std::string benign = std::string(kHead) + std::string(100, 'a');
  EXPECT_EQ(r.data(0, benign).disposition, Disposition::kForward);
  r.server_ack(static_cast<uint32_t>(benign.size()));  // the copy is released
  std::string real = benign;
  real.replace(30, kId.size(), kId);
  const PacketResult res = r.data(0, real);
  ASSERT_EQ(res.disposition, Disposition::kForward);  // goes on empty: the receiver re-ACKs
  EXPECT_EQ(res.trim.back, real.size());
  EXPECT_EQ(res.trim.front, 0u);
  EXPECT_EQ(r.worker.counters().detections, 0u);
  // A segment straddling the acknowledgment keeps only its new bytes.
  const PacketResult straddle = r.data(static_cast<uint32_t>(benign.size()) - 10, std::string(30, 'b'));
  ASSERT_EQ(straddle.disposition, Disposition::kForward);
  EXPECT_EQ(straddle.trim.front, 10u);
}

TEST(StreamIntegrityTest, AckPastAHoleMakesAGapAndTheHoleBytesNeverLeave) {
  Runner r(export_policy(FailMode::kOpen));  // open: the gap alone does not block
  r.handshake();
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  EXPECT_EQ(r.data(60, std::string(40, 'z')).disposition, Disposition::kHold);
  r.server_ack(100);  // a colluding receiver claims bytes 20..60
  ASSERT_EQ(r.released.size(), 1u);
  EXPECT_EQ(r.released[0].disposition, Disposition::kForward);  // inspected once the gap was skipped
  // The hole's bytes, sent now, carry the identifier: below the kept copy.
  std::string hole = "idcard=" + std::string(kId) + std::string(40 - 7 - kId.size(), ' ');
  const PacketResult res = r.data(20, hole);
  ASSERT_EQ(res.disposition, Disposition::kForward);
  EXPECT_EQ(res.trim.back, hole.size());
  EXPECT_EQ(r.worker.counters().detections, 0u);
  EXPECT_EQ(r.worker.counters().uninspectable_by_reason[static_cast<int>(UninspectableReason::kGap)], 1u);
}

TEST(StreamIntegrityTest, AGapOnAnExportFailsClosed) {
  Runner r(export_policy(FailMode::kClosed));
  r.handshake();
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  EXPECT_EQ(r.data(60, std::string(40, 'z')).disposition, Disposition::kHold);
  r.server_ack(100);
  ASSERT_EQ(r.released.size(), 1u);
  EXPECT_EQ(r.released[0].disposition, Disposition::kDrop);
  EXPECT_EQ(r.released[0].reason, Reason::kUninspectableFailClosed);
  EXPECT_EQ(r.data(100, "more").reason, Reason::kUninspectableFailClosed);
  r.worker.finish(kT0 + 10'000'000'000);
  bool seen = false;
  for (const Event& e : r.drain()) {
    if (e.type != EventType::kFlow) continue;
    seen = true;
    EXPECT_FALSE(e.inspected);
    EXPECT_TRUE(e.flow.fail_closed);
    EXPECT_EQ(e.flow.detections.uninspectable, uninspectable_bit(UninspectableReason::kGap));
  }
  EXPECT_TRUE(seen);
}

TEST(StreamIntegrityTest, RstOutOfWindowOrWithABadChecksumDoesNotEndTheFlow) {
  Runner r(export_policy());
  r.handshake();
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  EXPECT_EQ(r.send(seg(true, test::kTcpRst, kCIsn + 1 + 100'000, 0, "")).reason, Reason::kTcpRstInvalid);
  Seg bad = seg(true, test::kTcpRst, kCIsn + 21, 0, "");
  bad.checksum = 0x4321;
  EXPECT_EQ(r.send(bad).reason, Reason::kTcpBadChecksum);
  // The flow and its position are intact: the rest is inspected in order.
  const PacketResult res = r.data(20, "idcard=" + std::string(kId) + "\n");
  EXPECT_EQ(res.reason, Reason::kPolicyBlock);
  EXPECT_EQ(r.worker.counters().flows_ended, 0u);
}

TEST(StreamIntegrityTest, RstWithAStaleTimestampIsDropped) {
  Runner r(export_policy());
  r.handshake(/*timestamps=*/true);
  Seg d = seg(true, test::kTcpAck | test::kTcpPsh, kCIsn + 1, kSIsn + 1, std::string(kHead));
  d.ts = {200, 500};
  EXPECT_EQ(r.send(d).disposition, Disposition::kForward);
  Seg rst = seg(true, test::kTcpRst, kCIsn + 21, 0, "");
  rst.ts = {1, 500};
  EXPECT_EQ(r.send(rst).reason, Reason::kTcpRstInvalid);
  Seg decoy = seg(true, test::kTcpAck | test::kTcpPsh, kCIsn + 21, kSIsn + 1, std::string(26, 'A'));
  decoy.ts = {2, 500};  // PAWS: the receiver drops it, so must we
  EXPECT_EQ(r.send(decoy).reason, Reason::kTcpPaws);
  Seg real =
      seg(true, test::kTcpAck | test::kTcpPsh, kCIsn + 21, kSIsn + 1, "idcard=" + std::string(kId) + "\n");
  real.ts = {201, 500};
  EXPECT_EQ(r.send(real).reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, AfterAnAcceptedRstThePickedUpFlowNeverForwardsEarlierBytes) {
  Runner r(export_policy(FailMode::kOpen));  // open: the pick-up alone does not block
  r.handshake();
  const PacketResult rst = r.send(seg(true, test::kTcpRst, kCIsn + 1, 0, ""));
  EXPECT_EQ(rst.disposition, Disposition::kForward);
  EXPECT_EQ(r.worker.counters().flows_ended, 1u);
  // Last byte first: the flow is picked up at it ...
  const std::string req = request_with(kId);
  EXPECT_EQ(r.data(static_cast<uint32_t>(req.size()) - 1, req.substr(req.size() - 1)).disposition,
            Disposition::kForward);
  // ... and the bytes before it are never forwarded (nothing to compare them with).
  const PacketResult rest = r.data(0, req.substr(0, req.size() - 1));
  ASSERT_EQ(rest.disposition, Disposition::kForward);
  EXPECT_EQ(rest.trim.back, req.size() - 1);
  EXPECT_EQ(r.worker.counters().midstream_flows, 1u);
  // What came before the pick-up point is a gap the fail mode decides on.
  EXPECT_EQ(r.worker.counters().uninspectable_by_reason[static_cast<int>(UninspectableReason::kGap)], 1u);
}

TEST(StreamIntegrityTest, AnExportPickedUpMidStreamFailsClosed) {
  // A flow this appliance forgot (RST it accepted, timeout, eviction) while
  // the receiver kept it: an identifier split around the pick-up point
  // would be seen by neither flow. The start is a gap: fail mode closed.
  Runner r(export_policy(FailMode::kClosed));
  r.handshake();
  const std::string req = request_with(kId);
  EXPECT_EQ(r.data(0, req.substr(0, 35)).disposition, Disposition::kForward);  // 9 digits of the ID
  r.worker.advance_time(kT0 + 4000LL * 1'000'000'000);  // idle past tcp_established_timeout_s
  EXPECT_EQ(r.worker.counters().flows_timed_out, 1u);
  const PacketResult rest = r.data(35, req.substr(35));
  EXPECT_EQ(rest.disposition, Disposition::kDrop);
  EXPECT_EQ(rest.reason, Reason::kUninspectableFailClosed);
}

TEST(StreamIntegrityTest, RstInsideTheWindowButNotAtTheNextByteIsDropped) {
  Runner r(export_policy());
  r.handshake();
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  // RFC 5961: the receiver answers with a challenge ACK and keeps the flow.
  EXPECT_EQ(r.send(seg(true, test::kTcpRst | test::kTcpAck, kCIsn + 1 + 20 + 100, kSIsn + 1, "")).reason,
            Reason::kTcpRstInvalid);
  EXPECT_EQ(r.worker.counters().flows_ended, 0u);
  // A RST's payload never leaves.
  const PacketResult rst =
      r.send(seg(true, test::kTcpRst | test::kTcpAck, kCIsn + 21, kSIsn + 1, "idcard=" + std::string(kId)));
  ASSERT_EQ(rst.disposition, Disposition::kForward);
  EXPECT_EQ(rst.trim.back, 7 + kId.size());
  EXPECT_EQ(r.worker.counters().flows_ended, 1u);
}

TEST(StreamIntegrityTest, MidstreamDropPolicyDropsExportsWithoutHandshake) {
  PolicySpec spec = export_policy();
  spec.limits.tcp_midstream = TcpMidstream::kDrop;
  Runner r(std::move(spec));
  EXPECT_EQ(r.data(0, "hello").reason, Reason::kTcpMidstream);
}

TEST(StreamIntegrityTest, FinOutsideTheWindowOrInsideDeliveredDataIsDropped) {
  Runner r(export_policy());
  r.handshake();
  r.server_ack(0);  // window 1024 from the server
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  EXPECT_EQ(r.send(seg(true, test::kTcpFin | test::kTcpAck, kCIsn + 1 + 50'000, kSIsn + 1, "")).reason,
            Reason::kTcpOutOfWindow);
  EXPECT_EQ(r.send(seg(true, test::kTcpFin | test::kTcpAck, kCIsn + 5, kSIsn + 1, "")).reason,
            Reason::kTcpFinInvalid);
  // The stream was not cut: the identifier after it is inspected.
  EXPECT_EQ(r.data(20, "idcard=" + std::string(kId) + "\n").reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, DataPastTheFinIsDropped) {
  Runner r(export_policy());
  r.handshake();
  EXPECT_EQ(r.data(0, "hello", test::kTcpAck | test::kTcpFin).disposition, Disposition::kForward);
  EXPECT_EQ(r.data(5, request_with(kId)).reason, Reason::kTcpDataAfterFin);
}

TEST(StreamIntegrityTest, SegmentsBehindAHoleNeverFilledAreDroppedAtTheEnd) {
  Runner r(export_policy());
  r.handshake();
  EXPECT_EQ(r.data(0, std::string(kHead)).disposition, Disposition::kForward);
  EXPECT_EQ(r.data(40, request_with(kId)).disposition, Disposition::kHold);
  r.worker.finish(kT0 + 100'000'000'000);
  ASSERT_EQ(r.worker.released().size(), 1u);
  EXPECT_EQ(r.worker.released()[0].disposition, Disposition::kDrop);
  EXPECT_EQ(r.worker.released()[0].reason, Reason::kTcpHoleAtEnd);
}

// A segment behind a hole whose frame the snap length cut: it is held, and
// the cut rest of it is a gap that moves delivery past it in the same call.
// Its fate is its own result, never a Release of a packet the packet path
// has not stored yet (regression: fuzz_pcap, 4 read, 3 forwarded, 2 written).
TEST(StreamIntegrityTest, ASnapCutSegmentBehindAHoleIsJudgedInItsOwnResult) {
  for (const FailMode fail : {FailMode::kClosed, FailMode::kOpen}) {
    SCOPED_TRACE(fail == FailMode::kClosed ? "fail closed" : "fail open");
    Runner r(export_policy(fail));
    r.handshake();
    const test::Bytes f =
        frame(seg(true, test::kTcpAck | test::kTcpPsh, kCIsn + 1 + 40, kSIsn + 1, std::string(60, 'x')));
    constexpr uint64_t kToken = 99;
    PacketView v = view_of(f, kT0 + 10'000'000, kToken);
    v.caplen -= 20;  // the last 20 payload bytes are not in the record
    PacketResult res;
    ASSERT_EQ(r.worker.process_burst(std::span<const PacketView>(&v, 1), std::span<PacketResult>(&res, 1)),
              1u);
    EXPECT_EQ(res.disposition, fail == FailMode::kClosed ? Disposition::kDrop : Disposition::kForward);
    for (const Release& rel : r.worker.released()) EXPECT_NE(rel.token, kToken);
    const WorkerCounters& c = r.worker.counters();
    EXPECT_EQ(c.forwarded + c.dropped, c.packets);  // nothing left held
  }
}

TEST(StreamIntegrityTest, HeldSegmentsGoUnderTheVerdictTheirBytesGot) {
  Runner r(export_policy());
  r.handshake();
  const std::string req = request_with(kId);
  const size_t cut = req.size() - 8;  // the identifier straddles the two segments
  EXPECT_EQ(r.data(static_cast<uint32_t>(cut), req.substr(cut)).disposition, Disposition::kHold);
  const PacketResult first = r.data(0, req.substr(0, cut));
  EXPECT_EQ(first.disposition, Disposition::kDrop);
  EXPECT_EQ(first.reason, Reason::kPolicyBlock);
  ASSERT_EQ(r.released.size(), 1u);
  EXPECT_EQ(r.released[0].disposition, Disposition::kDrop);
  EXPECT_EQ(r.released[0].reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, SynDataIsInspected) {
  Runner r(export_policy());
  const PacketResult syn = r.send(seg(true, test::kTcpSyn, kCIsn, 0, request_with(kId)));
  EXPECT_EQ(syn.disposition, Disposition::kDrop);
  EXPECT_EQ(syn.reason, Reason::kPolicyBlock);
}

TEST(StreamIntegrityTest, UrgentDataStaysInTheInspectedStream) {
  Runner r(export_policy());
  r.handshake();
  const PacketResult res = r.data(0, "hello", test::kTcpAck | test::kTcpUrg);
  ASSERT_EQ(res.disposition, Disposition::kForward);
  EXPECT_TRUE(res.trim.clear_urgent);
}

TEST(StreamIntegrityTest, SequenceTwoToThe31stAwayIsNoUndefinedBehaviour) {
  // ../shared/findings/fuzz_packet-seq-2pow31.bin: a SYN, then data exactly
  // 2^31 after the expected byte (the negated distance overflowed int32).
  Runner r(export_policy());
  r.send(seg(true, test::kTcpSyn, 0x3E8, 0, ""));
  const PacketResult res = r.send(seg(true, test::kTcpAck | test::kTcpPsh, 0x800003E9, 0, "x"));
  EXPECT_NE(res.disposition, Disposition::kHold);
  EXPECT_EQ(r.worker.counters().detections, 0u);
}

// §3: scan states come back when a flow closes, and an export that finds none
// follows its pair's fail mode unless a rule names `resource`.
TEST(StreamIntegrityTest, ShortFlowsGiveTheirScanStatesBack) {
  WorkerOptions o;
  o.inspect_max_flows = 16;
  Runner r(export_policy(), o);
  for (uint16_t i = 0; i < 100; ++i) {
    const uint16_t port = static_cast<uint16_t>(30000 + i);
    r.handshake(false, port);
    EXPECT_EQ(
        r.send(seg(true, test::kTcpAck | test::kTcpPsh | test::kTcpFin, kCIsn + 1, kSIsn + 1, "hello", port))
            .disposition,
        Disposition::kForward);
    r.send(seg(false, test::kTcpAck | test::kTcpFin, kSIsn + 1, kCIsn + 7, "", port));
  }
  EXPECT_EQ(r.worker.counters().inspect_pool_exhausted, 0u);
  EXPECT_EQ(r.worker.counters().scan_states_released_at_close, 100u);
  EXPECT_EQ(r.worker.counters().uninspectable_flows, 0u);
}

TEST(StreamIntegrityTest, NoScanStateFailsClosedUnlessARuleNamesResource) {
  for (const bool named : {false, true}) {
    PolicySpec spec = export_policy();
    RuleSpec blind;
    blind.name = "uninspectable-allowed";
    blind.match.uninspectable =
        named ? UninspectableMatch{uninspectable_bit(UninspectableReason::kResource), true}
              : UninspectableMatch{kUninspectableAny, false};  // `true`: not enough
    blind.verdict.alert = true;
    spec.rules.push_back(blind);
    WorkerOptions o;
    o.inspect_max_flows = 16;
    Runner r(std::move(spec), o);
    for (uint16_t i = 0; i < 17; ++i) {
      const uint16_t port = static_cast<uint16_t>(30000 + i);
      r.handshake(false, port);
      const PacketResult res =
          r.send(seg(true, test::kTcpAck | test::kTcpPsh, kCIsn + 1, kSIsn + 1, "hello", port));
      if (i < 16) {
        EXPECT_EQ(res.disposition, Disposition::kForward) << i;
      } else if (named) {
        EXPECT_EQ(res.disposition, Disposition::kForward);
      } else {
        EXPECT_EQ(res.disposition, Disposition::kDrop);
        EXPECT_EQ(res.reason, Reason::kUninspectableFailClosed);
      }
    }
    EXPECT_EQ(r.worker.counters().inspect_pool_exhausted, 1u);
  }
}

}  // namespace
}  // namespace ftz::engine
