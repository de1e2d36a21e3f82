// libFuzzer target: the worker's content path. A generation compiled from a
// small configuration (the built-in signature catalog, content rules that
// reset, block and alert) judges conversations the fuzzer writes
// (worker_content_input.hpp): handshakes, data both ways, out-of-order and
// kept-back segments, conflicting retransmissions, FIN, RST, idle time, more
// connections, DNS datagrams. The harness builds the frames, so inputs reach
// reassembly, the app parsers, the scanner, the verdicts and the resets.
//
// Invariants (the inline contract of worker.hpp, fail closed):
//  - a forwarded packet, at once or when released, is under an allow or
//    route verdict;
//  - once a packet of a flow was judged block or reset, no later packet of
//    that flow is forwarded (verdicts only escalate), until the flow could
//    have timed out or ended with a valid RST that was forwarded (a RST the
//    verdict dropped ends nothing: the endpoints never saw it);
//  - a reset verdict comes with its two RSTs, which parse back as TCP RSTs
//    between the connection's endpoints;
//  - every held packet is released exactly once, and by finish() at the
//    latest; packets == forwarded + dropped afterwards; no flow and no scan
//    stream is left;
//  - every event formats to one strict JSON object; alerts carry a signature
//    of the generation and a value that is masked (or none at all).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/engine/parser.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/packet_builder.hpp"
#include "fuzz_common.hpp"
#include "worker_content_input.hpp"

namespace {

using namespace ftz::engine;
namespace fc = ftz::fuzz::content;
using ftz::fuzz::fail;
using ftz::test::Bytes;
using ftz::test::PacketBuilder;

// Timeouts of 1-2 s so that idle operations end flows; small hold and
// reassembly limits so that their overflow paths are reached.
constexpr const char* kConfig = R"(version: 1
name: fuzz-worker-content
zones:
  - name: inside
    kind: ftz
    prefixes: [10.60.0.0/16, "2001:db8:60::/48"]
    default_tenant: tenant
  - name: offshore
    kind: offshore
    default: true
tenants:
  - name: tenant
    zone: inside
signature_packs: [signatures/builtin.yaml]
rules:
  - name: block-host
    match:
      server_name: block.example
    action: block
    alert: true
  - name: reset-sensitive
    match:
      src_zone: inside
      dst_zone: offshore
      data_class: sensitive_pi
    action: reset
    alert: true
  - name: reset-bulk-pi
    match:
      src_zone: inside
      dst_zone: offshore
      data_class: pi
      min_count: 3
    action: reset
    alert: true
  - name: alert-pi
    match:
      data_class: pi
    action: allow
    alert: true
defaults:
  - src_zone: inside
    dst_zone: offshore
    action: allow
    fail_mode: closed
limits:
  flow_table_size: 1024
  flow_evict_min_idle_ms: 0
  tcp_syn_timeout_s: 1
  tcp_established_timeout_s: 2
  tcp_closed_timeout_s: 1
  udp_timeout_s: 1
  other_timeout_s: 1
  reassembly_per_flow_bytes: 4096
  hold_max_packets: 8
  events_per_second: 10000000
  alerts_per_flow: 3
)";

constexpr int64_t kTimeoutNs = 2'000'000'000;     // the longest timeout above
constexpr int64_t kMinTimeoutNs = 1'000'000'000;  // the shortest
constexpr uint32_t kMaxConnections = 16;
// One packet per burst: what released() lists after a burst was then caused
// by that packet, so "released after the reset" is unambiguous (fuzz_packet
// covers bursts of several packets).
constexpr size_t kBurst = 1;

Worker& the_worker() {
  static std::unique_ptr<Worker> w = [] {
    auto loaded =
        ftz::config::load_config_from_string(kConfig, ftz::fuzz::source_dir() + "/examples/fuzz.yaml");
    if (!loaded)
      fail("the fuzz configuration does not load", ftz::config::format_diagnostics(loaded.error()));
    auto gen = PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
    if (!gen) fail("the fuzz generation does not build", gen.error());
    WorkerOptions o;
    o.event_queue_capacity = 256;
    o.inspect_max_flows = 8;  // fewer than connections: the pool runs out too
    return std::make_unique<Worker>(*gen, LinkType::kEthernet, o);
  }();
  return *w;
}

struct Conn {
  uint16_t client_port = 0;
  uint32_t seq[2] = {0, 0};  // next sequence number: [0] client, [1] server
};

// What the harness knows of one flow of the engine (protocol and port pair;
// the addresses are fixed per input).
struct FlowSeen {
  uint32_t key = 0;
  bool judged_stop = false;  // a packet was judged block or reset
  int64_t last_seen = 0;     // time of its last packet given to the worker
};

struct Step {
  Bytes frame;  // empty: advance time to `ts`
  int64_t ts = 0;
  uint32_t conn = 0;
  uint32_t flow = 0;  // index into Conversation::flows()
  bool rst = false;   // a valid RST: the flow ends, a later packet starts another
};

class Conversation {
 public:
  Conversation(uint8_t setup, int64_t start) : now_(start) {
    service_ = setup & 3;
    v6_ = (setup & 4) != 0;
    import_ = (setup & 8) != 0;
    midstream_ = (setup & 16) != 0;
    mss_ = size_t{8} << (setup >> 5);
    server_port_ = service_ == 0 ? 80 : service_ == 1 ? 443 : service_ == 2 ? 8080 : 53;
    new_connection();
  }

  void op(uint8_t op, std::span<const uint8_t> bytes) {
    const uint8_t arg = op >> 4;
    switch (op & 0x0f) {
      case fc::kClientData:
        data(0, bytes);
        break;
      case fc::kServerData:
        data(1, bytes);
        break;
      case fc::kClientReversed: {
        const auto segs = cut(bytes);
        std::vector<std::pair<uint32_t, std::span<const uint8_t>>> out;
        uint32_t s = conn().seq[0];
        for (auto seg : segs) {
          out.emplace_back(s, seg);
          s += static_cast<uint32_t>(seg.size());
        }
        conn().seq[0] = s;
        for (auto it = out.rbegin(); it != out.rend(); ++it) send(0, kTcpPshAck, it->first, it->second);
        break;
      }
      case fc::kClientHole: {
        const auto segs = cut(bytes);
        uint32_t s = conn().seq[0];
        for (size_t i = 0; i < segs.size(); ++i) {
          if (i == 0) {
            kept_.push_back({current_, s, segs[i]});
          } else {
            send(0, kTcpPshAck, s, segs[i]);
          }
          s += static_cast<uint32_t>(segs[i].size());
        }
        conn().seq[0] = s;
        break;
      }
      case fc::kFillHoles: {
        const uint32_t keep = current_;
        for (const Kept& k : kept_) {
          current_ = k.conn;
          send(0, kTcpPshAck, k.seq, k.bytes);
        }
        kept_.clear();
        current_ = keep;
        break;
      }
      case fc::kClientConflict: {
        if (udp()) break;
        const auto segs = cut(bytes);
        if (segs.empty()) break;
        const uint32_t len = static_cast<uint32_t>(segs[0].size());
        send(0, kTcpPshAck, conn().seq[0] - len, segs[0]);  // over the last bytes sent
        break;
      }
      case fc::kFin: {
        if (udp()) break;
        const int dir = arg & 1;
        send(dir, ftz::test::kTcpFin | ftz::test::kTcpAck, conn().seq[dir], {});
        ++conn().seq[dir];
        break;
      }
      case fc::kRst: {
        if (udp()) break;
        const int dir = arg & 1;
        send(dir, ftz::test::kTcpRst | ftz::test::kTcpAck, conn().seq[dir], {});
        break;
      }
      case fc::kIdle: {
        now_ += int64_t{arg} * 250'000'000;
        steps_.push_back({{}, now_, current_, 0});
        break;
      }
      case fc::kNewConnection:
        if (conns_.size() < kMaxConnections) new_connection();
        break;
      case fc::kUdp: {
        const bool from53 = (arg & 1) != 0;
        datagram(from53 ? 53 : conn().client_port, from53 ? 40053 : 53, bytes, false);
        break;
      }
      default:
        data(0, bytes);
        break;
    }
  }

  std::vector<Step>& steps() { return steps_; }
  std::vector<Conn>& conns() { return conns_; }
  std::vector<FlowSeen>& flows() { return flows_; }
  int64_t now() const { return now_; }

 private:
  static constexpr uint8_t kTcpPshAck = ftz::test::kTcpPsh | ftz::test::kTcpAck;
  struct Kept {
    uint32_t conn;
    uint32_t seq;
    std::span<const uint8_t> bytes;
  };

  bool udp() const { return service_ == 3; }
  Conn& conn() { return conns_[current_]; }

  std::vector<std::span<const uint8_t>> cut(std::span<const uint8_t> bytes) const {
    std::vector<std::span<const uint8_t>> out;
    for (size_t at = 0; at < bytes.size(); at += mss_)
      out.push_back(bytes.subspan(at, std::min(mss_, bytes.size() - at)));
    return out;
  }

  void new_connection() {
    Conn c;
    c.client_port = static_cast<uint16_t>(40000 + conns_.size());
    c.seq[0] = 1000 + 0x01000000u * static_cast<uint32_t>(conns_.size());
    c.seq[1] = 0xfffff000u;  // the server's numbers wrap early
    conns_.push_back(c);
    current_ = static_cast<uint32_t>(conns_.size() - 1);
    if (udp() || midstream_) return;
    send(0, ftz::test::kTcpSyn, conn().seq[0] - 1, {});
    send(1, ftz::test::kTcpSyn | ftz::test::kTcpAck, conn().seq[1] - 1, {});
    send(0, ftz::test::kTcpAck, conn().seq[0], {});
  }

  void data(int dir, std::span<const uint8_t> bytes) {
    if (udp()) {
      datagram(dir == 0 ? conn().client_port : server_port_, dir == 0 ? server_port_ : conn().client_port,
               bytes, dir == 1);
      return;
    }
    for (auto seg : cut(bytes)) {
      send(dir, kTcpPshAck, conn().seq[dir], seg);
      conn().seq[dir] += static_cast<uint32_t>(seg.size());
    }
  }

  PacketBuilder& ip(PacketBuilder& b, bool from_client) const {
    const char* in4 = "10.60.1.5";
    const char* out4 = "203.0.113.10";
    const char* in6 = "2001:db8:60::5";
    const char* out6 = "2001:db8:ff::10";
    const char* client = v6_ ? (import_ ? out6 : in6) : (import_ ? out4 : in4);
    const char* server = v6_ ? (import_ ? in6 : out6) : (import_ ? in4 : out4);
    const char* src = from_client ? client : server;
    const char* dst = from_client ? server : client;
    return v6_ ? b.ipv6(src, dst) : b.ipv4(src, dst);
  }

  void send(int dir, uint8_t flags, uint32_t seq, std::span<const uint8_t> payload) {
    PacketBuilder b;
    b.eth();
    ip(b, dir == 0);
    const uint16_t sport = dir == 0 ? conn().client_port : server_port_;
    const uint16_t dport = dir == 0 ? server_port_ : conn().client_port;
    const uint32_t ack = (flags & ftz::test::kTcpAck) != 0 ? conn().seq[1 - dir] : 0;
    b.tcp(sport, dport, flags, seq, ack);
    if ((flags & ftz::test::kTcpSyn) != 0) b.mss(1460);
    if (!payload.empty()) b.payload(payload);
    push(b.build(), 6, sport, dport);
    steps_.back().rst = (flags & ftz::test::kTcpRst) != 0;
  }

  void datagram(uint16_t sport, uint16_t dport, std::span<const uint8_t> payload, bool from_server) {
    PacketBuilder b;
    b.eth();
    ip(b, !from_server);
    b.udp(sport, dport);
    b.payload(payload);
    push(b.build(), 17, sport, dport);
  }

  void push(Bytes frame, uint8_t proto, uint16_t sport, uint16_t dport) {
    now_ += 10'000;
    const uint32_t key =
        (uint32_t{proto} << 24) ^ (uint32_t{std::min(sport, dport)} << 16 | std::max(sport, dport));
    uint32_t flow = 0;
    while (flow < flows_.size() && flows_[flow].key != key) ++flow;
    if (flow == flows_.size()) flows_.push_back({key});
    steps_.push_back({std::move(frame), now_, current_, flow});
  }

  uint8_t service_ = 0;
  bool v6_ = false;
  bool import_ = false;
  bool midstream_ = false;
  size_t mss_ = 8;
  uint16_t server_port_ = 80;
  int64_t now_;
  uint32_t current_ = 0;
  std::vector<Conn> conns_;
  std::vector<Kept> kept_;
  std::vector<Step> steps_;
  std::vector<FlowSeen> flows_;
};

void check_events(Worker& w) {
  const PolicyGeneration& gen = w.generation();
  std::string line;
  while (const Event* e = w.events().front()) {
    line.clear();
    format_eve(*e, gen, line);
    const nlohmann::json j = ftz::fuzz::parse_json_line(line);
    if (e->type == EventType::kAlert) {
      if (e->alert.signature >= gen.spec().signatures.size()) fail("an alert names no signature", line);
      // Empty is allowed: an identifier whose masked form does not fit the
      // scanner's buffer (an e-mail over 64 bytes) is reported without one.
      const std::string_view masked = e->alert.masked.view();
      if (!masked.empty() && masked.find('*') == std::string_view::npos)
        fail("an alert value is not masked", line);
    }
    w.events().pop();
  }
}

void check_resets(const Worker& w, const PacketResult& r, const Conn& c) {
  if (r.disposition != Disposition::kDrop || r.verdict.action != Action::kReset)
    fail("resets sent for a packet that is not dropped under a reset verdict");
  const auto resets = w.resets();
  if (r.reset_index >= resets.size()) fail("reset index out of range");
  const ResetPair& pair = resets[r.reset_index];
  if (pair.count > 2) fail("more than two resets");
  for (uint32_t i = 0; i < pair.count; ++i) {
    const ResetFrame& f = pair.frame[i];
    ParsedPacket p;
    if (f.len > ResetFrame::kMaxLen ||
        parse_packet(LinkType::kEthernet, f.bytes.data(), f.len, p).status != ParseStatus::kOk)
      fail("a reset frame does not parse");
    if (p.l4_proto != 6 || (p.tcp_flags & tcp_flag::kRst) == 0) fail("a reset frame is not a TCP RST");
    const uint16_t client = c.client_port;
    const bool ok = (p.src_port == client || p.dst_port == client) && p.src_port != p.dst_port;
    if (!ok) fail("a reset frame is not between the connection's endpoints");
  }
}

}  // namespace

// The configuration, the Hyperscan compile of the built-in catalog and the
// worker's memory before the first input: -timeout counts per input, and
// this takes seconds on a loaded machine.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)the_worker();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1u << 18)) return 0;
  Worker& w = the_worker();
  static int64_t clock = 1'780'272'000'000'000'000;  // moves forward across inputs
  Conversation conv(data[0], clock);
  size_t at = 1;
  while (at < size) {
    const uint8_t op = data[at++];
    std::span<const uint8_t> bytes;
    if (fc::carries_data(op)) {
      size_t len = 0;
      if (at < size) len = size_t{data[at++]} << 8;
      if (at < size) len |= data[at++];
      len = std::min(len, size - at);
      bytes = {data + at, len};
      at += len;
    }
    conv.op(op, bytes);
  }
  std::vector<Step>& steps = conv.steps();
  std::vector<Conn>& conns = conv.conns();
  std::vector<FlowSeen>& flows = conv.flows();

  // Token = index of the step. Fate: 0 unseen, 1 held, 2 settled.
  std::vector<uint8_t> fate(steps.size(), 0);
  uint64_t packets = 0;
  // FTZ_FUZZ_TRACE=1: every packet's and release's fate on stderr, to read a finding.
  static const bool trace = std::getenv("FTZ_FUZZ_TRACE") != nullptr;
  auto settle = [&](uint64_t token, Disposition d, const Verdict& v) {
    FlowSeen& c = flows[steps[token].flow];
    if (trace)
      std::fprintf(stderr, "  token %llu (conn %u): %s under %s\n", static_cast<unsigned long long>(token),
                   steps[token].conn, d == Disposition::kForward ? "forward" : "drop",
                   std::string(action_name(v.action)).c_str());
    if (d == Disposition::kForward && v.action >= Action::kBlock)
      fail("forwarded under a block or reset verdict");
    if (d == Disposition::kForward && c.judged_stop) fail("forwarded after its flow was blocked or reset");
    if (v.action >= Action::kBlock) c.judged_stop = true;
  };
  auto check_released = [&] {
    for (const Release& r : w.released()) {
      if (trace) std::fprintf(stderr, "  release:\n");
      if (r.token >= steps.size() || fate[r.token] != 1) fail("a release of a packet that is not held");
      if (r.disposition == Disposition::kHold) fail("released to be held");
      fate[r.token] = 2;
      settle(r.token, r.disposition, r.verdict);
    }
  };
  auto idle = [&](int64_t to) {
    w.advance_time(to);
    check_released();
    check_events(w);
  };

  PacketView views[kBurst];
  PacketResult results[kBurst];
  std::vector<uint32_t> rst_ended;  // flows a forwarded RST ended in this burst
  size_t i = 0;
  while (i < steps.size()) {
    if (steps[i].frame.empty()) {
      idle(steps[i].ts);
      fate[i] = 2;
      ++i;
      continue;
    }
    size_t n = 0;
    while (i + n < steps.size() && n < kBurst && !steps[i + n].frame.empty()) {
      const Step& s = steps[i + n];
      views[n].data = s.frame.data();
      views[n].caplen = static_cast<uint32_t>(s.frame.size());
      views[n].wirelen = views[n].caplen;
      views[n].ts_ns = s.ts;
      views[n].token = i + n;
      ++n;
    }
    if (w.process_burst({views, n}, {results, n}) != n) fail("a burst was not processed whole");
    packets += n;
    for (size_t k = 0; k < n; ++k) {
      const PacketResult& r = results[k];
      const uint64_t token = i + k;
      Conn& conn = conns[steps[token].conn];
      FlowSeen& flow = flows[steps[token].flow];
      // After a silence the flow may have timed out: a new flow, a new verdict.
      if (steps[token].ts - flow.last_seen >= kMinTimeoutNs) flow.judged_stop = false;
      flow.last_seen = steps[token].ts;
      if (trace) {
        ParsedPacket p;
        (void)parse_packet(LinkType::kEthernet, steps[token].frame.data(),
                           static_cast<uint32_t>(steps[token].frame.size()), p);
        std::fprintf(stderr, "packet %llu: %u -> %u flags %02x seq %u len %u%s%s\n",
                     static_cast<unsigned long long>(token), p.src_port, p.dst_port, p.tcp_flags, p.seq,
                     p.payload_len, r.disposition == Disposition::kHold ? " HELD" : "",
                     r.send_resets ? " RESETS" : "");
      }
      if (r.send_resets) check_resets(w, r, conn);
      if (r.disposition == Disposition::kHold) {
        fate[token] = 1;
      } else {
        fate[token] = 2;
        settle(token, r.disposition, r.verdict);
      }
      // A RST that reaches its receiver (in window) ends the connection
      // there too: what follows is a new flow. One the verdict dropped ends
      // nothing, and the block stays.
      if (steps[token].rst && r.disposition == Disposition::kForward) rst_ended.push_back(steps[token].flow);
    }
    // After the releases this packet caused (they belong to the flow it ended).
    check_released();
    for (const uint32_t f : rst_ended) flows[f].judged_stop = false;
    rst_ended.clear();
    check_events(w);
    i += n;
  }

  clock = conv.now() + 10 * kTimeoutNs;
  // finish() ends flows while their records have room: drain and call again.
  for (int round = 0;; ++round) {
    const bool done = w.finish(clock);
    check_released();
    check_events(w);
    if (done) break;
    if (round > 1000) fail("finish() never completes");
  }
  for (size_t k = 0; k < steps.size(); ++k) {
    if (fate[k] == 1) fail("a held packet was never released");
  }
  if (w.active_flows() != 0) fail("flows left after finish()");
  if (w.scanner() != nullptr && w.scanner()->counters().streams_in_use != 0)
    fail("scan streams left after finish()");
  const WorkerCounters& c = w.counters();
  if (c.forwarded + c.dropped != c.packets) fail("packets != forwarded + dropped after finish()");
  (void)packets;
  return 0;
}
