// The evasion suite (issue 8, "Tests and figures"): an exporter in the FTZ
// tries to get identifiers past the appliance to an offshore server; the
// oracles are a real Linux TCP/IP stack in a network namespace (what the
// server application reads from its sockets) and the wire (every frame the
// appliance let out, reassembled first-wins and last-wins, as a colluding
// offshore peer would). The appliance is the engine driven as ftzgate-inspect
// drives it (gate.hpp). README.md has the case table and the outcome of each
// case on main.
//
// Each case plants real identifiers — DOMAIN.md's public test vectors
// 11010519491231002X and 440524188001010014, and a valid mobile number — and
// passes when neither oracle sees any of them in clear, and the engine's
// flow record or counters show how it was handled. Failure messages name
// the identifiers by label and list packet headers only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attacker.hpp"
#include "ftz/config/config.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/test/app_payloads.hpp"
#include "ftz/test/fragment.hpp"
#include "ftz/test/packet_builder.hpp"
#include "gate.hpp"
#include "netns.hpp"
#include "oracle.hpp"
#include "policy.hpp"

namespace ftz::evasion {
namespace {

using engine::Action;
using engine::Disposition;
using engine::Reason;

struct Planted {
  const char* label;
  std::string_view value;
};
constexpr Planted kId1{"resident ID #1", "11010519491231002X"};  // DOMAIN.md §3.1
constexpr Planted kId2{"resident ID #2", "440524188001010014"};  // DOMAIN.md §3.1
constexpr Planted kMobile{"mobile #1", "13912345678"};

const test::MacAddr kClientMac{{0x02, 0x60, 0x00, 0x00, 0x00, 0x01}};
const test::MacAddr kServerMac{{0x02, 0x00, 0x5e, 0x00, 0x01, 0x02}};
constexpr uint16_t kHttp = 80;
constexpr uint16_t kTfo = 8000;  // a listener taking data in the SYN
constexpr uint16_t kUdp = 40000;
constexpr uint32_t kUnreachable = 0xc6120109;  // 198.18.1.9: no host behind the appliance
// 2026-03-02 01:00:00 UTC, inside every validity window the policy might get.
constexpr int64_t kT0 = 1772413200LL * 1'000'000'000;
constexpr int64_t kSecond = 1'000'000'000;

std::string source_dir() {
  const char* s = std::getenv("FTZ_SOURCE_DIR");
  return s ? s : FTZ_DEFAULT_SOURCE_DIR;
}

// The policy, loaded as the appliance loads it; the signature database is
// compiled once for the whole binary and shared by every variant.
struct Catalog {
  engine::PolicySpec spec;
  std::shared_ptr<const engine::sig::SignatureDatabase> db;
  std::string error;
};

const Catalog& catalog() {
  static const Catalog c = [] {
    Catalog out;
    const std::string dir = source_dir();
    auto loaded =
        config::load_config_from_string(evasion_policy_yaml(dir), dir + "/tests/evasion/policy.yaml");
    if (!loaded) {
      out.error = config::format_diagnostics(loaded.error());
      return out;
    }
    out.spec = loaded->spec;
    auto gen = engine::PolicyGeneration::build_with_signatures(loaded->spec, 1);
    if (!gen) {
      out.error = gen.error();
      return out;
    }
    out.db = (*gen)->signatures();
    return out;
  }();
  return c;
}

// Request bodies and where their identifiers sit.
std::string form_post(std::string_view body, std::string_view extra_headers = {}) {
  return "POST /upload HTTP/1.1\r\nHost: partner.example\r\n"
         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(extra_headers) + "\r\n" + std::string(body);
}
std::string id_body(std::string_view id, size_t filler = 300) {
  return "name=zhang+san&idcard=" + std::string(id) + "&note=" + std::string(filler, 'n');
}
// The same bytes with every planted identifier blanked: what a decoy shows.
std::string blanked(std::string s) {
  for (const Planted& p : {kId1, kId2, kMobile}) {
    for (size_t at = s.find(p.value); at != std::string::npos; at = s.find(p.value, at)) {
      s.replace(at, p.value.size(), std::string(p.value.size(), 'x'));
    }
  }
  return s;
}

// The flows of one client port as the engine recorded them (flow events).
struct FlowRecord {
  int flows = 0;
  Action action = Action::kAllow;
  uint32_t gaps = 0;
  uint32_t conflicts = 0;
  uint32_t detections = 0;
  engine::UninspectableMask uninspectable = 0;
  bool fail_closed = false;
  bool midstream = false;
  std::string describe() const {
    static const char* kActions[] = {"allow", "route", "block", "reset"};
    std::string out = std::to_string(flows) + " flow record(s), verdict " +
                      kActions[static_cast<int>(action)] + ", " + std::to_string(detections) +
                      " identifier(s), gaps " + std::to_string(gaps) + ", conflicts " +
                      std::to_string(conflicts);
    if (uninspectable != 0) {
      out += ", uninspectable:";
      for (int i = 0; i < static_cast<int>(engine::UninspectableReason::kCount); ++i) {
        const auto why = static_cast<engine::UninspectableReason>(i);
        if (uninspectable & engine::uninspectable_bit(why))
          out += " " + std::string(engine::uninspectable_reason_name(why));
      }
    }
    if (fail_closed) out += ", fail-closed";
    if (midstream) out += ", midstream";
    return out;
  }
  // The identifier was seen and the flow stopped.
  [[nodiscard]] bool caught() const { return detections > 0 && action >= Action::kBlock; }
  // The engine knows it did not see the stream as the receiver did.
  [[nodiscard]] bool flagged() const { return gaps > 0 || conflicts > 0 || uninspectable != 0; }
  // Either of those, or the flow was stopped for another reason (a
  // mid-stream policy, the fail mode): the record shows the case was handled.
  [[nodiscard]] bool handled() const { return flagged() || midstream || action >= Action::kBlock; }
};

class Evasion : public ::testing::Test {
 protected:
  using Tweak = std::function<void(engine::PolicySpec&)>;

  void SetUp() override {
    const std::string why = missing_privileges();
    if (!why.empty()) GTEST_SKIP() << "evasion suite skipped: " << why;
    ASSERT_TRUE(catalog().error.empty()) << catalog().error;
    start();
  }

  void TearDown() override {
    if (!summary_.empty()) {
      std::cout << "[evasion] " << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": "
                << summary_ << "\n";
    }
  }

  // A fresh server namespace and appliance (a policy variant, a worker size).
  void start(const Tweak& tweak = {}, uint32_t inspect_max_flows = 64) {
    gate_.reset();
    host_.reset();
    ServerConfig sc;
    sc.address = kServer;
    sc.clients = kClientNet;
    sc.tcp_ports = {kHttp};
    sc.tfo_ports = {kTfo};
    sc.udp_ports = {kUdp};
    auto host = ServerHost::create(sc);
    ASSERT_TRUE(host) << host.error();
    host_ = std::move(*host);
    engine::PolicySpec spec = catalog().spec;
    if (tweak) tweak(spec);
    auto gen = engine::PolicyGeneration::build_with_signatures(std::move(spec), 1, catalog().db);
    ASSERT_TRUE(gen) << gen.error();
    GateConfig gc;
    gc.outside_net = kServerNet;
    gc.server = kServer;
    gc.router_hops = 2;
    gc.client_mac = kClientMac;
    gc.server_mac = kServerMac;
    gc.start_ns = kT0;
    engine::WorkerOptions wo;
    wo.inspect_max_flows = inspect_max_flows;
    // As ftzgate-dp: an inline path verifies checksums unless the
    // configuration says otherwise.
    wo.checksum_default = engine::ChecksumMode::kOn;
    gate_ = std::make_unique<InlineGate>(*gen, *host_, gc, wo);
  }

  TcpAttacker attacker(uint16_t dport = kHttp) {
    AttackerConfig c;
    c.client = kClient;
    c.server = kServer;
    c.sport = next_port_++;
    c.dport = dport;
    c.isn = 0x10000000u + c.sport * 0x10000u;
    c.client_mac = kClientMac;
    c.server_mac = kServerMac;
    return TcpAttacker(*gate_, c);
  }

  FlowRecord record_of(uint16_t client_port) const {
    FlowRecord r;
    for (const engine::Event& e : gate_->events()) {
      if (e.type != engine::EventType::kFlow || (e.src_port != client_port && e.dst_port != client_port))
        continue;
      ++r.flows;
      r.action = std::max(r.action, e.verdict.action);
      r.gaps += e.flow.gaps;
      r.conflicts += e.flow.conflicts;
      r.detections += e.flow.detections.distinct;
      r.uninspectable =
          static_cast<engine::UninspectableMask>(r.uninspectable | e.flow.detections.uninspectable);
      r.fail_closed = r.fail_closed || e.flow.fail_closed;
      r.midstream = r.midstream || e.flow.midstream;
    }
    return r;
  }

  // Drops the engine counted under reasons other than the policy's own.
  std::string other_drops() const {
    std::string out;
    for (uint32_t i = 0; i < engine::kReasonCount; ++i) {
      const auto r = static_cast<Reason>(i);
      if (r == Reason::kPolicyBlock || r == Reason::kPolicyReset) continue;
      if (const uint64_t n = gate_->reason_count(r); n > 0) {
        out += (out.empty() ? "" : ", ") + std::string(engine::reason_key(r)) + " " + std::to_string(n);
      }
    }
    return out;
  }

  // Ends the run (every flow ends, held packets meet their fate) and checks
  // both oracles for every planted identifier.
  void expect_no_leak(std::initializer_list<Planted> planted, uint16_t client_port) {
    gate_->finish();
    bool app_leak = false;
    bool wire_leak = false;
    for (const Planted& p : planted) {
      for (const ReceivedStream& s : host_->streams()) {
        if (s.bytes.find(p.value) != std::string::npos) {
          app_leak = true;
          ADD_FAILURE() << "the server application read " << p.label << " in clear (connection from port "
                        << s.peer_port << ", " << s.bytes.size() << " bytes"
                        << (s.reset ? ", then reset" : "") << ")";
        }
      }
      for (const ReceivedDatagram& d : host_->datagrams()) {
        if (d.bytes.find(p.value) != std::string::npos) {
          app_leak = true;
          ADD_FAILURE() << "the server application read " << p.label << " in clear (datagram from port "
                        << d.peer_port << ")";
        }
      }
      for (const std::string& where : gate_->tap().find(p.value)) {
        wire_leak = true;
        ADD_FAILURE() << p.label << " left the zone in clear: " << where;
      }
    }
    const FlowRecord r = record_of(client_port);
    summary_ = std::string("app ") + (app_leak ? "LEAK" : "clean") + ", wire " +
               (wire_leak ? "LEAK" : "clean") + "; engine: " + r.describe() +
               (other_drops().empty() ? "" : "; drops: " + other_drops());
    if (app_leak || wire_leak) ADD_FAILURE() << "packets (headers only):\n" << gate_->trace();
  }

  // Bytes the server application read from the connection of `client_port`.
  std::string received_from(uint16_t client_port) const {
    std::string out;
    for (const ReceivedStream& s : host_->streams()) {
      if (s.peer_port == client_port) out += s.bytes;
    }
    return out;
  }
  bool reset_seen_by_server(uint16_t client_port) const {
    for (const ReceivedStream& s : host_->streams()) {
      if (s.peer_port == client_port && s.reset) return true;
    }
    return false;
  }

  // SYNs from new ports to a host behind the appliance that never answers,
  // until the flow table gives up an idle flow.
  void flood_until_evicted() {
    gate_->set_tracing(false);
    uint16_t port = 50000;
    for (; port < 52000 && gate_->worker().counters().flows_evicted == 0; ++port) {
      gate_->from_inside(test::PacketBuilder()
                             .eth(kClientMac, kServerMac)
                             .ipv4(test::Ipv4Addr::from_u32(kClient), test::Ipv4Addr::from_u32(kUnreachable))
                             .tcp(port, 443, 0x02, 1, 0)
                             .build());
    }
    gate_->set_tracing(true, std::to_string(port - 50000) +
                                 " SYNs to 198.18.1.9:443 from new ports until a flow was evicted");
  }

  // Client FIN, the server closes too (its application saw EOF), client ACK.
  void close_both(TcpAttacker& a, uint32_t length) {
    a.fin(length);
    gate_->pump(std::chrono::milliseconds(20));
    for (const Bytes& frame : gate_->inbox()) {
      const auto f = parse_frame(frame);
      if (f && f->l4 && f->dport == a.config().sport && (f->flags & 0x01)) {
        Seg ack;
        ack.offset = length + 1;
        ack.flags = 0x10;
        ack.ack = f->seq + 1;
        a.send(ack);
        return;
      }
    }
  }

  std::unique_ptr<ServerHost> host_;
  std::unique_ptr<InlineGate> gate_;
  uint16_t next_port_ = 40001;
  std::string summary_;
};

// --- Controls: the harness must be able to fail, and must not stall. -------

TEST_F(Evasion, ControlIdentifierInOneSegmentIsReset) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << gate_->trace();
  const std::string req = form_post(id_body(kId1.value));
  const Outcome o = a.send(0, req);
  EXPECT_EQ(o.disposition, Disposition::kDrop);
  EXPECT_TRUE(o.resets) << "a reset verdict sends the two RSTs";
  expect_no_leak({kId1}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
  EXPECT_TRUE(reset_seen_by_server(a.config().sport)) << "the server's stack took the appliance's RST";
  EXPECT_GE(a.resets_received(), 1);
}

TEST_F(Evasion, ControlIdentifierSplitOverThreeSegmentsIsReset) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post(id_body(kId1.value));
  const size_t at = req.find(kId1.value);
  const std::vector<size_t> cuts = {0, at + 5, at + 11, req.size()};
  for (size_t i = 0; i + 1 < cuts.size(); ++i)
    a.send(static_cast<uint32_t>(cuts[i]), req.substr(cuts[i], cuts[i + 1] - cuts[i]));
  expect_no_leak({kId1}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
  // What the server got is a prefix of the request that stops before the
  // segment completing the identifier (compared, never printed).
  const std::string got = received_from(a.config().sport);
  EXPECT_TRUE(req.compare(0, got.size(), got) == 0 && got.size() <= at + 11)
      << got.size() << " bytes received";
}

// Reordered on the way to the appliance: the last two thirds arrive first
// and are held, the first third releases them. Segments carry the
// timestamps of their original order, as reordering leaves them.
TEST_F(Evasion, ControlBenignReorderedRequestArrivesWhole) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post("note=" + std::string(3000, 'n'));
  const uint32_t third = static_cast<uint32_t>(req.size() / 3);
  const Bytes first = a.build(Seg::at(0, req.substr(0, third)));
  const Bytes second = a.build(Seg::at(third, req.substr(third, third)));
  const Bytes last = a.build(Seg::at(2 * third, req.substr(2 * third)));
  EXPECT_EQ(gate_->from_inside(second).disposition, Disposition::kHold);
  EXPECT_EQ(gate_->from_inside(last).disposition, Disposition::kHold);
  EXPECT_EQ(gate_->from_inside(first).disposition, Disposition::kForward);
  gate_->from_inside(first);  // an identical retransmission
  close_both(a, static_cast<uint32_t>(req.size()));
  gate_->finish();
  const std::string got = received_from(a.config().sport);
  EXPECT_TRUE(got == req) << got.size() << " of " << req.size() << " bytes arrived\n" << gate_->trace();
  EXPECT_FALSE(reset_seen_by_server(a.config().sport));
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_EQ(r.action, Action::kAllow) << r.describe();
  EXPECT_FALSE(r.flagged()) << r.describe();
  EXPECT_EQ(gate_->releases_dropped(), 0u);
  summary_ = "benign bytes delivered " + std::to_string(got.size()) + "/" + std::to_string(req.size()) +
             "; engine: " + r.describe();
}

// The first third was lost before the appliance and is retransmitted with a
// newer timestamp; the held segments released behind it carry older ones,
// which the receiver's PAWS check (RFC 7323 §5) discards. The client then
// retransmits them as it would after duplicate ACKs; everything must arrive.
TEST_F(Evasion, ControlBenignHoleFilledByARetransmissionArrivesWhole) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post("note=" + std::string(3000, 'n'));
  const uint32_t third = static_cast<uint32_t>(req.size() / 3);
  a.send(third, req.substr(third, third));
  a.send(2 * third, req.substr(2 * third));
  a.send(0, req.substr(0, third));
  size_t before_retransmission = received_from(a.config().sport).size();
  if (before_retransmission < req.size()) {
    a.send(third, req.substr(third, third));
    a.send(2 * third, req.substr(2 * third));
  }
  close_both(a, static_cast<uint32_t>(req.size()));
  gate_->finish();
  const std::string got = received_from(a.config().sport);
  EXPECT_TRUE(got == req) << got.size() << " of " << req.size() << " bytes arrived\n" << gate_->trace();
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_EQ(r.action, Action::kAllow) << r.describe();
  summary_ = "benign bytes delivered " + std::to_string(got.size()) + "/" + std::to_string(req.size()) +
             " (" + std::to_string(before_retransmission) +
             " before the client retransmitted the held segments)";
}

TEST_F(Evasion, ControlBenignDatagramArrives) {
  const Bytes f = test::PacketBuilder()
                      .eth(kClientMac, kServerMac)
                      .ipv4(test::Ipv4Addr::from_u32(kClient), test::Ipv4Addr::from_u32(kServer))
                      .udp(5300, kUdp)
                      .payload("telemetry=ok")
                      .build();
  gate_->from_inside(f);
  gate_->finish();
  ASSERT_EQ(host_->datagrams().size(), 1u) << gate_->trace();
  EXPECT_EQ(host_->datagrams()[0].bytes, "telemetry=ok");
  summary_ = "benign datagram delivered";
}

// --- §1 Stream integrity -----------------------------------------------------

// A SYN in an established connection with a far-away sequence number: Linux
// answers with a challenge ACK and ignores it (RFC 5961 §4); it must not
// move the appliance's idea of the stream either.
TEST_F(Evasion, MidStreamSynWithFarAwaySequenceNumber) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  Seg syn;
  syn.flags = 0x02;
  syn.raw_seq = a.seq_of(0) + 0x20000000u;
  a.send(syn);
  a.send(0, form_post(id_body(kId1.value)));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
}

// A copy of the data that the receiver never accepts arrives first; the real
// copy with the identifier follows at the same sequence numbers, differing
// only more than 32 bytes before its end.
class Decoy : public Evasion {
 protected:
  void run(Seg decoy_shape) {
    TcpAttacker a = attacker();
    ASSERT_TRUE(a.connect());
    const std::string req = form_post(id_body(kId1.value));
    decoy_shape.offset = 0;
    decoy_shape.data = blanked(req);
    if (decoy_shape.tsval) decoy_shape.tsval = a.tsval_now() - 100'000;  // PAWS: older than TS.Recent
    if (decoy_shape.ack) decoy_shape.ack = a.server_isn() + 1 + 0x10000000u;
    const Outcome decoy = a.send(decoy_shape);
    a.send(0, req);
    expect_no_leak({kId1}, a.config().sport);
    // Dropped as what it is (then the real copy is inspected), or let
    // through so that the receiver keeps it (then the real copy conflicts).
    const FlowRecord r = record_of(a.config().sport);
    EXPECT_TRUE(r.caught() || r.conflicts > 0) << r.describe();
    summary_ += std::string("; decoy ") + (decoy.disposition == Disposition::kDrop ? "dropped" : "forwarded");
  }
};

TEST_F(Decoy, BadTcpChecksumCopyFirst) {
  Seg s;
  s.bad_checksum = true;
  run(s);
}

TEST_F(Decoy, LowTtlCopyFirst) {
  // TTL 1 expires at the first of the two routers behind the appliance.
  Seg s;
  s.ttl = 1;
  run(s);
}

TEST_F(Decoy, StaleTimestampCopyFirst) {
  Seg s;
  s.tsval = 0;  // replaced by a stale value in run()
  run(s);
}

TEST_F(Decoy, BadIpHeaderChecksumCopyFirst) {
  Seg s;
  s.bad_ip_checksum = true;
  run(s);
}

TEST_F(Decoy, SourceRoutedCopyFirst) {
  // Loose source route (RFC 791 option 131) through the server itself: a
  // host with accept_source_route off (Linux's default for "all") drops it.
  Seg s;
  s.ip_options = {0x83, 7, 4, 0xc6, 0x12, 0x01, 0x02};
  run(s);
}

TEST_F(Decoy, WithoutTheAckFlagCopyFirst) {
  // RFC 9293 §3.10.7.4: a segment without ACK in a synchronized state is
  // dropped (Linux: "if (!th->ack) discard").
  Seg s;
  s.flags = 0x08;  // PSH only
  run(s);
}

TEST_F(Decoy, AcknowledgingUnsentDataCopyFirst) {
  // RFC 9293 §3.10.7.4 / RFC 5961 §5: an ACK of data the receiver never sent
  // makes it drop the segment.
  Seg s;
  s.ack = 0;  // replaced in run(): far past the server's next byte
  run(s);
}

TEST_F(Decoy, Md5SignatureOptionCopyFirst) {
  // RFC 2385 option on a connection without a key: Linux drops the segment
  // (TCPMD5Unexpected).
  Seg s;
  s.tcp_option = {19, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  run(s);
}

// Data carried by an RST: the receiver discards it, the wire carries it.
TEST_F(Evasion, RstCarryingTheIdentifier) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  Seg rst = Seg::at(0, "idcard=" + std::string(kId1.value));
  rst.flags = 0x14;  // RST|ACK, exact: the receiver accepts the reset
  a.send(rst);
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
}

// Retransmissions must still be compared (or cut) once more bytes are
// unacknowledged than the appliance keeps a copy of: a colluding receiver
// opens a large window and holds its ACKs back.
TEST_F(Evasion, ConflictingRetransmissionPastTheKeptCopy) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  // 0xffff << 7 (the server's window scale, if it offered one): ~8 MB.
  gate_->from_outside(a.forge_from_server(0x10, a.server_isn() + 1, a.seq_of(0), {}, 0xffff));
  gate_->set_server_latency(true);
  constexpr uint32_t kSegment = 1448;
  const std::string benign = "note=" + std::string(kSegment - 5, 'n');
  uint32_t offset = 0;
  gate_->set_tracing(false);
  for (; offset < 320u * 1024; offset += kSegment) a.send(offset, benign);
  gate_->set_tracing(true, std::to_string(offset / kSegment) + " segments of 1448 benign bytes in order");
  std::string first = "idcard=" + std::string(kId1.value) + "&";
  first += std::string(kSegment - first.size(), 'n');
  a.send(0, first);
  gate_->set_server_latency(false);
  gate_->pump(std::chrono::milliseconds(0));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.conflicts > 0 || gate_->worker().counters().segments_trimmed > 0 || !other_drops().empty())
      << r.describe();
}

// The urgent byte (RFC 9293 §3.8.5; BSD and Linux point one past it) sits
// inside the identifier: a receiver without SO_OOBINLINE takes it out of the
// stream, so the application reads the identifier whole while the bytes on
// the wire never hold it.
TEST_F(Evasion, UrgentByteInsideTheIdentifier) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  std::string req =
      form_post(id_body(std::string(kId1.value.substr(0, 9)) + "Z" + std::string(kId1.value.substr(9))));
  const size_t urgent_at = req.find('Z');
  Seg s = Seg::at(0, req);
  s.flags = 0x38;  // URG|ACK|PSH
  s.urgent = static_cast<uint16_t>(urgent_at + 1);
  a.send(s);
  // The oracle only: an engine may as well clear URG (the receiver then
  // reads the byte inline) as judge the stream without the urgent byte.
  expect_no_leak({kId1}, a.config().sport);
}

// The receiver got the first copy; a retransmission of the same bytes with
// different data older than the 32-byte tail must not leave (a peer reading
// the wire keeps whichever copy it likes): a conflict, or bytes already
// acknowledged cut off.
TEST_F(Evasion, ConflictingRetransmissionOlderThan32Bytes) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post(id_body(kId1.value));
  a.send(0, blanked(req));
  a.send(0, req);  // the server has acknowledged the first copy by now
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.conflicts > 0 || gate_->worker().counters().segments_trimmed > 0) << r.describe();
}

// The same before the server's acknowledgment reaches the appliance: the
// retransmission is compared with the copy the receiver has.
TEST_F(Evasion, ConflictingRetransmissionBeforeTheAcknowledgment) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post(id_body(kId1.value));
  gate_->set_server_latency(true);
  a.send(0, blanked(req));
  a.send(0, req);
  gate_->set_server_latency(false);
  gate_->pump(std::chrono::milliseconds(0));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_GT(r.conflicts, 0u) << r.describe();
}

// A RST the receiver does not accept, then the request sent "last byte
// first": an appliance that ended the flow at the RST and picks it up again
// at the first sequence number it sees takes the rest for old data.
class BogusRst : public Evasion {
 protected:
  void run(const std::function<void(TcpAttacker&, Seg&)>& shape, bool last_byte_first = true) {
    TcpAttacker a = attacker();
    ASSERT_TRUE(a.connect());
    Seg rst;
    rst.flags = 0x04;
    rst.raw_seq = a.seq_of(0);
    shape(a, rst);
    a.send(rst);
    const std::string req = form_post(id_body(kId1.value));
    if (last_byte_first) {
      a.send(static_cast<uint32_t>(req.size() - 1), req.substr(req.size() - 1));
      a.send(0, req.substr(0, req.size() - 1));
    } else {
      a.send(0, req);
    }
    expect_no_leak({kId1}, a.config().sport);
    const FlowRecord r = record_of(a.config().sport);
    EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
  }
};

TEST_F(BogusRst, OutOfWindowThenDataInOrder) {
  run([](TcpAttacker& a, Seg& s) { s.raw_seq = a.seq_of(0) + 0x40000000u; }, false);
}

TEST_F(BogusRst, OutOfWindowThenLastByteFirst) {
  run([](TcpAttacker& a, Seg& s) { s.raw_seq = a.seq_of(0) + 0x40000000u; });
}

TEST_F(BogusRst, BadChecksumThenLastByteFirst) {
  run([](TcpAttacker&, Seg& s) { s.bad_checksum = true; });
}

TEST_F(BogusRst, InWindowButNotExactThenLastByteFirst) {
  // RFC 5961 §3.2: only an RST at exactly the next expected byte resets; Linux
  // answers others with a challenge ACK.
  run([](TcpAttacker& a, Seg& s) { s.raw_seq = a.seq_of(0) + 1000; });
}

TEST_F(BogusRst, StaleTimestampThenLastByteFirst) {
  // Linux accepts an exact RST whatever its timestamp (RFC 7323 §5.3 R1 exempts
  // RSTs from PAWS), so its socket is gone; the wire oracle still sees what
  // an appliance that lost the flow lets out afterwards.
  run([](TcpAttacker& a, Seg& s) { s.tsval = a.tsval_now() - 100'000; });
}

// A FIN the receiver does not accept, then the request.
class BogusFin : public Evasion {
 protected:
  void run(const std::function<void(TcpAttacker&, Seg&)>& shape) {
    TcpAttacker a = attacker();
    ASSERT_TRUE(a.connect());
    Seg fin;
    fin.flags = 0x11;
    fin.raw_seq = a.seq_of(0);
    shape(a, fin);
    a.send(fin);
    a.send(0, form_post(id_body(kId1.value)));
    expect_no_leak({kId1}, a.config().sport);
    const FlowRecord r = record_of(a.config().sport);
    EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
  }
};

TEST_F(BogusFin, BehindTheWindowThenData) {
  run([](TcpAttacker& a, Seg& s) { s.raw_seq = a.seq_of(0) - 5000; });
}

TEST_F(BogusFin, FarAheadThenData) {
  run([](TcpAttacker& a, Seg& s) { s.raw_seq = a.seq_of(0) + 0x40000000u; });
}

TEST_F(BogusFin, BadChecksumThenData) {
  run([](TcpAttacker&, Seg& s) { s.bad_checksum = true; });
}

TEST_F(BogusFin, StaleTimestampThenData) {
  run([](TcpAttacker& a, Seg& s) { s.tsval = a.tsval_now() - 100'000; });
}

// A FIN both sides accept, then more data: Linux (CLOSE_WAIT) discards it,
// the wire carries it.
TEST_F(Evasion, DataAfterAcceptedFin) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string get = "GET / HTTP/1.1\r\nHost: partner.example\r\n\r\n";
  a.send(0, get);
  a.fin(static_cast<uint32_t>(get.size()));
  a.send(static_cast<uint32_t>(get.size() + 1), form_post(id_body(kId1.value)));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
}

// The appliance forgets a flow the receiver keeps (it accepted an RST the
// receiver ignores, the flow timed out or was evicted) between the two
// halves of an identifier: the rest is picked up mid-stream, and the
// receiver puts the identifier together. Picking up must not lose what the
// scanner needs (or the pick-up of an export fails closed).
class ForgottenFlow : public Evasion {
 protected:
  void run(const std::function<void(TcpAttacker&, uint32_t)>& forget) {
    TcpAttacker a = attacker();
    ASSERT_TRUE(a.connect());
    const std::string req = form_post(id_body(kId1.value));
    const uint32_t cut = static_cast<uint32_t>(req.find(kId1.value) + 9);
    a.send(0, req.substr(0, cut));
    forget(a, cut);
    a.send(cut, req.substr(cut));
    expect_no_leak({kId1}, a.config().sport);
    const FlowRecord r = record_of(a.config().sport);
    EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
  }
};

TEST_F(ForgottenFlow, InWindowRstTheReceiverIgnores) {
  run([](TcpAttacker& a, uint32_t cut) {
    Seg rst;
    rst.flags = 0x04;
    rst.raw_seq = a.seq_of(cut) + 1000;  // in the window, not the next byte: RFC 5961 challenge ACK
    a.send(rst);
  });
}

TEST_F(ForgottenFlow, IdleTimeout) {
  run([this](TcpAttacker&, uint32_t) { gate_->advance(121 * kSecond); });
}

TEST_F(ForgottenFlow, EvictedByAFlood) {
  start([](engine::PolicySpec& s) { s.limits.flow_table_size = 64; });
  run([this](TcpAttacker&, uint32_t) {
    gate_->advance(1100 * 1'000'000);
    flood_until_evicted();
    EXPECT_GT(gate_->worker().counters().flows_evicted, 0u);
    gate_->advance(1100 * 1'000'000);
  });
}

// Segments held behind a hole that is never filled while the appliance
// tracks the flow. The identifier is in the held part; the hole's bytes are
// harmless and sent once the flow is gone from the appliance.
class Hole : public Evasion {
 protected:
  static constexpr uint32_t kHole = 10;
  std::string req_ = form_post(id_body(kId1.value));
  void send_past_hole(TcpAttacker& a) {
    const Outcome o = a.send(kHole, req_.substr(kHole));
    EXPECT_EQ(o.disposition, Disposition::kHold)
        << "ahead of a hole: held until the bytes before it are inspected";
  }
  void fill_hole_and_check(TcpAttacker& a) {
    a.send(0, req_.substr(0, kHole));
    expect_no_leak({kId1}, a.config().sport);
    const FlowRecord r = record_of(a.config().sport);
    EXPECT_TRUE(r.caught() || gate_->releases_dropped() > 0 || r.action >= Action::kBlock)
        << "held bytes were neither inspected nor dropped: " << r.describe();
  }
};

TEST_F(Hole, NeverFilledUntilTheFlowEnds) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  send_past_hole(a);
  expect_no_leak({kId1}, a.config().sport);  // finish(): the appliance shuts down
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.caught() || gate_->releases_dropped() > 0) << r.describe();
}

TEST_F(Hole, FlowTimesOutThenTheHoleIsFilled) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  send_past_hole(a);
  gate_->advance(121 * kSecond);  // tcp_established_timeout_s 120
  EXPECT_EQ(gate_->worker().counters().flows_timed_out, 1u);
  fill_hole_and_check(a);
}

TEST_F(Hole, FlowEvictedByAFloodThenTheHoleIsFilled) {
  start([](engine::PolicySpec& s) { s.limits.flow_table_size = 64; });
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  send_past_hole(a);
  gate_->advance(1100 * 1'000'000);  // past flow_evict_min_idle_ms
  flood_until_evicted();
  ASSERT_GT(gate_->worker().counters().flows_evicted, 0u);
  // The flood's flows go idle too: the hole's bytes find room in the table.
  gate_->advance(1100 * 1'000'000);
  fill_hole_and_check(a);
}

// A colluding offshore server acknowledges bytes the appliance never saw;
// the appliance skips them as a gap, and the bytes of the hole come later.
TEST_F(Evasion, RemoteAcknowledgesPastAHoleThenTheHoleIsSent) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post(id_body(kId1.value));
  const uint32_t hole_end = static_cast<uint32_t>(req.find(kId1.value) + kId1.value.size() + 8);
  a.send(hole_end, req.substr(hole_end));
  gate_->from_outside(
      a.forge_from_server(0x10, a.server_isn() + 1, a.seq_of(static_cast<uint32_t>(req.size()))));
  a.send(0, req.substr(0, hole_end));
  expect_no_leak({kId1}, a.config().sport);
  // Either the bytes behind the acknowledged hole are a gap that makes the
  // flow uninspectable (fail closed), or the appliance does not believe an
  // acknowledgment of bytes it never forwarded and inspects them later.
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.caught() || (r.gaps > 0 && r.uninspectable != 0)) << r.describe();
}

// Held out-of-order data is released only under the verdict that covers it:
// the segment that fills the hole decides a reset, the held one (with a
// second identifier) must not leave.
TEST_F(Evasion, HeldSegmentsAfterAResetVerdict) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  const std::string req = form_post(id_body(kId1.value) + "&idcard2=" + std::string(kId2.value) + "&end=1");
  const uint32_t split = static_cast<uint32_t>(req.find(kId1.value) + kId1.value.size() + 40);
  const Outcome held = a.send(split, req.substr(split));
  const Outcome o = a.send(0, req.substr(0, split));
  EXPECT_EQ(o.disposition, Disposition::kDrop);
  expect_no_leak({kId1, kId2}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught());
  if (held.disposition == Disposition::kHold) {
    EXPECT_GT(gate_->releases_dropped(), 0u) << "the held segment is dropped under the reset";
  }
}

// IPv4 fragments of one segment overlap with different data. Linux keeps the
// first copy of an exact duplicate and drops a datagram with partial overlaps
// (RFC 5722 behaviour for IPv4 since 4.19): the receiver sees the inspected
// copy or nothing, and the other copy must not leave either.
class Fragments : public Evasion {
 protected:
  // The segment is sent in fragments: [0,64) [64,to) then a second copy of
  // [from,to) carrying the identifier, then the rest. The first copy is the
  // blanked request, whose TCP checksum the segment carries.
  void run(uint32_t from, uint32_t to) {
    TcpAttacker a = attacker();
    ASSERT_TRUE(a.connect());
    const std::string req = form_post(id_body(kId1.value));
    const Bytes benign = a.build(Seg::at(0, blanked(req)));
    const Bytes real = a.build(Seg::at(0, req));
    constexpr uint32_t kTcpHeader = 32;  // with the timestamps option
    const uint32_t l4 = static_cast<uint32_t>(benign.size() - kEthHeader - 20);
    const uint32_t id_at = kTcpHeader + static_cast<uint32_t>(req.find(kId1.value));
    ASSERT_TRUE(from >= kTcpHeader && from <= id_at && id_at + kId1.value.size() <= to && to < l4);
    const auto l4_bytes = [&](const Bytes& f, uint32_t lo, uint32_t hi) {
      return Bytes(f.begin() + kEthHeader + 20 + lo, f.begin() + kEthHeader + 20 + hi);
    };
    const std::vector<test::FragmentSpec> pieces = {
        {0, 64, std::nullopt, std::nullopt},
        {64, to - 64, std::nullopt, std::nullopt},
        {from, to - from, l4_bytes(real, from, to), std::nullopt},
        {to, l4 - to, std::nullopt, std::nullopt},
    };
    for (const Bytes& f : test::fragment_ipv4(benign, pieces)) gate_->from_inside(f);
    expect_no_leak({kId1}, a.config().sport);
    EXPECT_GT(gate_->reason_count(Reason::kFragOverlapConflict), 0u);
  }
};

TEST_F(Fragments, ExactDuplicateWithTheIdentifier) {
  run(64, 256);
}

TEST_F(Fragments, PartialOverlapWithTheIdentifier) {
  run(72, 264);
}

// A flow picked up mid-stream: the handshake went around the appliance.
TEST_F(Evasion, MidStreamPickUpFirstSegmentCarriesTheIdentifier) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect_around()) << gate_->trace();
  a.send(0, form_post(id_body(kId1.value)));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
}

TEST_F(Evasion, MidStreamPickUpLastByteFirst) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect_around());
  const std::string req = form_post(id_body(kId1.value));
  a.send(static_cast<uint32_t>(req.size() - 1), req.substr(req.size() - 1));
  a.send(0, req.substr(0, req.size() - 1));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
}

// Data in the SYN (TCP Fast Open): the server's stack hands it to the
// application with the handshake.
TEST_F(Evasion, DataInTheSyn) {
  TcpAttacker a = attacker(kTfo);
  a.connect(form_post(id_body(kId1.value)));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled() || !other_drops().empty()) << r.describe();
}

// --- §2 Everything that leaves is inspected (end to end) ---------------------

TEST_F(Evasion, IdentifierOnlyInACookieHeader) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  a.send(0, "GET /profile HTTP/1.1\r\nHost: partner.example\r\nCookie: uid=" + std::string(kId1.value) +
                "; lang=zh\r\n\r\n");
  expect_no_leak({kId1}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
}

TEST_F(Evasion, BodyAfterContentLengthZero) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  a.send(0, "POST /ping HTTP/1.1\r\nHost: partner.example\r\nContent-Length: 0\r\n\r\nidcard=" +
                std::string(kId1.value) + "&tel=" + std::string(kMobile.value));
  expect_no_leak({kId1, kMobile}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
}

// The FTZ host is the server: an offshore client fetches a record and the
// response carries the identifier out. Direction comes from the zones.
TEST_F(Evasion, ResponseOfAnFtzServerToAnOffshoreClient) {
  constexpr uint16_t kFtzPort = 8080;
  auto stream = host_->connect(kClient, kFtzPort);
  ASSERT_TRUE(stream) << stream.error();
  gate_->pump(std::chrono::milliseconds(20));
  std::optional<FrameInfo> syn;
  for (const Bytes& f : gate_->inbox()) {
    auto info = parse_frame(f);
    if (info && info->l4 && info->dport == kFtzPort && info->flags == 0x02) syn = info;
  }
  ASSERT_TRUE(syn) << "the offshore client's SYN did not cross\n" << gate_->trace();
  AttackerConfig c;
  c.client = kClient;
  c.server = kServer;
  c.sport = kFtzPort;
  c.dport = syn->sport;
  c.isn = 0x70000000u;
  c.client_mac = kClientMac;
  c.server_mac = kServerMac;
  TcpAttacker ftz(*gate_, c);
  ftz.answer(*syn);
  const std::string get = "GET /records/7 HTTP/1.1\r\nHost: records.ftz.example\r\n\r\n";
  ASSERT_TRUE(host_->send(*stream, get));
  gate_->pump(std::chrono::milliseconds(20));
  const std::string body = "{\"name\":\"zhang san\",\"idcard\":\"" + std::string(kId1.value) + "\"}";
  Seg response = Seg::at(0, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body);
  response.ack = syn->seq + 1 + static_cast<uint32_t>(get.size());
  ftz.send(response);
  expect_no_leak({kId1}, kFtzPort);
  EXPECT_TRUE(record_of(kFtzPort).caught()) << record_of(kFtzPort).describe();
}

// From source port 53 to an offshore port: direction comes from the zones.
class FromPort53 : public Evasion {
 protected:
  void run(const Bytes& payload) {
    gate_->from_inside(test::PacketBuilder()
                           .eth(kClientMac, kServerMac)
                           .ipv4(test::Ipv4Addr::from_u32(kClient), test::Ipv4Addr::from_u32(kServer))
                           .udp(53, kUdp)
                           .payload(payload)
                           .build());
    expect_no_leak({kId1}, 53);
    EXPECT_TRUE(record_of(53).caught()) << record_of(53).describe();
  }
};

TEST_F(FromPort53, RawDatagram) {
  run(test::to_bytes("idcard=" + std::string(kId1.value)));
}

TEST_F(FromPort53, DnsShapedDatagram) {
  const test::Ipv4Addr answer = test::Ipv4Addr::from_u32(kServer);
  run(test::dns_response(0x1234, std::string(kId1.value) + ".files.example", std::span(&answer, 1)));
}

// --- §3 Resource exhaustion fails closed --------------------------------------

// Short flows that have closed keep their scan state (tcp_closed_timeout_s);
// with every state taken, the next export must not pass uninspected.
TEST_F(Evasion, ScanStatesHeldByClosedFlows) {
  constexpr uint32_t kStates = 4;
  start({}, kStates);
  for (uint32_t i = 0; i < kStates; ++i) {
    TcpAttacker s = attacker();
    ASSERT_TRUE(s.connect());
    const std::string get = "GET /ping HTTP/1.1\r\nHost: partner.example\r\n\r\n";
    s.send(0, get);
    close_both(s, static_cast<uint32_t>(get.size()));
  }
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect());
  a.send(0, form_post(id_body(kId1.value)));
  expect_no_leak({kId1}, a.config().sport);
  const FlowRecord r = record_of(a.config().sport);
  EXPECT_TRUE(r.caught() || r.uninspectable != 0) << r.describe();
}

}  // namespace
}  // namespace ftz::evasion
