// The XDP program as the kernel runs it (BPF_PROG_TEST_RUN) against the
// engine on the same frames: whatever the program decides in the kernel
// (forward, drop) is what the engine decides for that packet, whichever of
// the flow's two directions the engine saw first; every header the program
// does not take whole goes to user space. Rows: the Lin-gang example
// (its full mainland prefix lists) and a small policy with blocked pairs,
// port rules and IPv6; then the rows' frames with random bytes changed.

#include "ftz/xdp/program.hpp"

#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/hex.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/xdp/records.hpp"
#include "ftz/xdp/tables.hpp"

namespace ftz::xdp {
namespace {

using engine::Action;
using engine::Disposition;
using engine::PacketResult;
using engine::PolicyGeneration;
using engine::Reason;
using engine::XdpPath;
using test::Bytes;
using test::PacketBuilder;

constexpr uint32_t kLoopback = 1;  // the ingress (and paired) interface of every run
constexpr int64_t kT0 = 1772413200LL * 1'000'000'000;

std::string source_dir() {
  const char* env = std::getenv("FTZ_SOURCE_DIR");
  return env != nullptr ? env : FTZ_DEFAULT_SOURCE_DIR;
}

// Small enough that a Worker per frame is cheap.
void shrink(engine::PolicySpec& spec) {
  spec.limits.flow_table_size = 64;
  spec.limits.stream_max_flows = 64;
  spec.limits.inspect_max_flows = 64;
  spec.limits.event_queue_size = 256;
  spec.limits.reassembly_memcap_bytes = 1u << 20;
  spec.limits.defrag_memcap_bytes = 256u << 10;
}

std::shared_ptr<const PolicyGeneration> lingang() {
  auto loaded = config::load_config(source_dir() + "/examples/lingang.yaml");
  if (!loaded) throw std::runtime_error(config::format_diagnostics(loaded.error()));
  shrink(loaded->spec);
  return PolicyGeneration::build(std::move(loaded->spec), 7);
}

// Blocked pairs without alerts, a port rule, a reset rule, a pair judged
// differently in its two directions, IPv6.
constexpr const char* kSmallPolicy = R"(
version: 1
name: xdp-test
zones:
  - name: inside
    kind: ftz
    prefixes: [198.18.1.0/24, "2001:db8:1::/48"]
  - name: dom
    kind: domestic
    prefixes: [198.18.2.0/24, "2001:db8:2::/48"]
  - name: hk
    kind: hk_macao_taiwan
    prefixes: [198.18.3.0/24]
  - name: off
    kind: offshore
    default: true
tenants:
  - name: t1
    uscc: 91310115MA1HL7K21C
    zone: inside
    prefixes: [198.18.1.0/25]
rules:
  - name: no-ssh-to-dom
    match: {dst_zone: dom, protocol: tcp, dst_port: 22}
    action: block
  - name: reset-hk
    match: {src_zone: inside, dst_zone: hk, protocol: tcp}
    action: reset
  - name: calls-in
    match: {src_zone: off, dst_zone: inside}
    action: allow
defaults:
  - src_zone: inside
    dst_zone: off
    action: INSIDE_OFF
    fail_mode: closed
export_default:
  action: block
)";

// `inside_off`: the action of the inside -> off default.
std::shared_ptr<const PolicyGeneration> small_policy(const std::string& inside_off = "block",
                                                     uint64_t number = 3) {
  std::string text = kSmallPolicy;
  text.replace(text.find("INSIDE_OFF"), std::string("INSIDE_OFF").size(), inside_off);
  auto loaded = config::load_config_from_string(text, "xdp-test.yaml");
  if (!loaded) throw std::runtime_error(config::format_diagnostics(loaded.error()));
  shrink(loaded->spec);
  return PolicyGeneration::build(std::move(loaded->spec), number);
}

// A host inside the first prefix of `zone` of the given family.
std::string host_in(const PolicyGeneration& gen, const std::string& zone, bool v4) {
  for (const auto& z : gen.spec().zones) {
    if (z.name != zone) continue;
    for (const auto& p : z.prefixes) {
      if (p.v4 != v4) continue;
      engine::IpAddr a = p.addr;
      a.bytes[15] = static_cast<uint8_t>(a.bytes[15] | 1);
      return engine::format_ip(a);
    }
  }
  throw std::runtime_error("no prefix in zone " + zone);
}

// One direction of a conversation; reverse() is the other.
struct Flow {
  Flow(std::string from, std::string to, uint8_t protocol = 17, uint16_t from_port = 40000,
       uint16_t to_port = 53, uint8_t flags = test::kTcpAck, std::vector<uint16_t> tags = {})
      : src(std::move(from)),
        dst(std::move(to)),
        proto(protocol),
        sport(from_port),
        dport(to_port),
        tcp_flags(flags),
        vlans(std::move(tags)) {}
  std::string src, dst;
  uint8_t proto;
  uint16_t sport;
  uint16_t dport;
  uint8_t tcp_flags;
  std::vector<uint16_t> vlans;

  [[nodiscard]] Flow reverse() const {
    Flow r = *this;
    std::swap(r.src, r.dst);
    std::swap(r.sport, r.dport);
    if (proto == 6 && tcp_flags == test::kTcpSyn) r.tcp_flags = test::kTcpSyn | test::kTcpAck;
    return r;
  }
  [[nodiscard]] Bytes frame() const {
    PacketBuilder b;
    b.eth();
    for (const uint16_t v : vlans) b.vlan(v);
    if (src.find(':') != std::string::npos)
      b.ipv6(src, dst);
    else
      b.ipv4(src, dst);
    switch (proto) {
      case 6:
        b.tcp(sport, dport, tcp_flags, 1000, 2000).timestamps(7, 9).payload("hello");
        break;
      case 17:
        b.udp(sport, dport).payload("hello");
        break;
      case 1:
      case 58:
        b.icmp_echo(sport, 1, dport == 0);
        break;
      default:
        b.ip_protocol(proto).payload("opaque");
        break;
    }
    return b.build();
  }
};

enum class Kernel { kForward, kDrop, kUser };

const char* name(Kernel k) {
  return k == Kernel::kForward ? "forward" : k == Kernel::kDrop ? "drop" : "user space";
}

// The engine's result for the last of `frames`, fed to a fresh worker in
// order (an inline path: checksums on).
PacketResult engine_result(const std::shared_ptr<const PolicyGeneration>& gen,
                           const std::vector<Bytes>& frames) {
  engine::WorkerOptions options;
  options.checksum_default = engine::ChecksumMode::kOn;
  engine::Worker worker(gen, engine::LinkType::kEthernet, options);
  PacketResult last;
  for (size_t i = 0; i < frames.size(); ++i) {
    engine::PacketView v;
    v.data = frames[i].data();
    v.caplen = v.wirelen = static_cast<uint32_t>(frames[i].size());
    v.ts_ns = kT0 + static_cast<int64_t>(i) * 1000;
    v.token = i;
    last = PacketResult{};
    EXPECT_EQ(worker.process_burst({&v, 1}, {&last, 1}), 1u);
  }
  return last;
}

// What the kernel did agrees with what the engine did.
void expect_agreement(Kernel k, const PacketResult& e, const std::string& what) {
  if (k == Kernel::kDrop) {
    EXPECT_EQ(e.disposition, Disposition::kDrop)
        << what << ": the engine's reason " << engine::reason_key(e.reason);
    EXPECT_EQ(e.reason, Reason::kPolicyBlock) << what;
  } else if (k == Kernel::kForward) {
    EXPECT_EQ(e.disposition, Disposition::kForward)
        << what << ": the engine's reason " << engine::reason_key(e.reason);
    EXPECT_EQ(e.verdict.action, Action::kAllow) << what;
  }
}

class XdpProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Program::load();
    ASSERT_TRUE(p) << p.error();
    program_ = std::move(*p);
    ASSERT_TRUE(program_->pair_ports(kLoopback, kLoopback));
  }
  void install(const std::shared_ptr<const PolicyGeneration>& gen) {
    gen_ = gen;
    auto tables = compile_tables(*gen);
    ASSERT_TRUE(tables) << tables.error();
    auto ok = program_->install(*tables);
    ASSERT_TRUE(ok) << ok.error();
  }
  // What the program did with `frame`, read from its counters (a packet for
  // user space leaves through a redirect too, or by its fail mode while no
  // AF_XDP socket is bound, as here). `action`: the XDP action it returned.
  Kernel run(const Bytes& frame, uint32_t* action = nullptr) {
    const auto before = program_->counters();
    auto r = program_->run(frame, kLoopback);
    const auto after = program_->counters();
    EXPECT_TRUE(r) << r.error();
    EXPECT_TRUE(before && after);
    if (!r || !before || !after) return Kernel::kUser;
    if (action != nullptr) *action = *r;
    const auto moved = [&](XdpPath p) {
      return (*after)[static_cast<size_t>(p)] - (*before)[static_cast<size_t>(p)];
    };
    uint64_t user = 0;
    for (size_t i = 0; i < after->size(); ++i) {
      if (engine::reason_key(static_cast<XdpPath>(i)).starts_with("user_"))
        user += moved(static_cast<XdpPath>(i));
    }
    const uint64_t dropped = moved(XdpPath::kKernelDropped);
    const uint64_t forwarded = moved(XdpPath::kKernelForwarded) + moved(XdpPath::kNonIp);
    EXPECT_EQ(user + dropped + forwarded, 1u) << "one outcome a frame";
    if (user != 0) {
      // Away: forwarded or dropped by the fail mode, and counted so.
      EXPECT_EQ(moved(XdpPath::kAwayForwarded) + moved(XdpPath::kAwayDropped), 1u);
      EXPECT_EQ(*r, moved(XdpPath::kAwayDropped) != 0 ? XDP_DROP : XDP_REDIRECT);
      return Kernel::kUser;
    }
    EXPECT_EQ(*r, dropped != 0 ? XDP_DROP : XDP_REDIRECT);
    return dropped != 0 ? Kernel::kDrop : Kernel::kForward;
  }
  // Both directions through the kernel and through the engine, each first
  // and each after the other; the kernel's outcome is `expected` both ways.
  void check_flow(const std::string& what, const Flow& f, Kernel expected) {
    const Bytes fwd = f.frame();
    const Bytes rev = f.reverse().frame();
    const Kernel kf = run(fwd);
    const Kernel kr = run(rev);
    EXPECT_EQ(kf, expected) << what << ": the kernel's " << name(kf) << ", expected " << name(expected);
    EXPECT_EQ(kr, expected) << what << ", reply: the kernel's " << name(kr) << ", expected "
                            << name(expected);
    ++kernel_[kf];
    ++kernel_[kr];
    expect_agreement(kf, engine_result(gen_, {fwd}), what + " (first packet)");
    expect_agreement(kf, engine_result(gen_, {rev, fwd}), what + " (after the reply)");
    expect_agreement(kr, engine_result(gen_, {rev}), what + ", reply (first packet)");
    expect_agreement(kr, engine_result(gen_, {fwd, rev}), what + ", reply (after the request)");
  }
  // A frame the kernel must leave to user space, for `why`.
  void check_user(const std::string& what, const Bytes& frame, XdpPath why) {
    const auto before = program_->counters();
    ASSERT_TRUE(before);
    EXPECT_EQ(run(frame), Kernel::kUser) << what;
    const auto after = program_->counters();
    ASSERT_TRUE(after);
    EXPECT_EQ((*after)[static_cast<size_t>(why)], (*before)[static_cast<size_t>(why)] + 1)
        << what << ": counted as " << engine::reason_key(why);
    ++kernel_[Kernel::kUser];
  }
  // Empties the kernel's verdict cache (its flow map): the next packet of
  // any flow is its first again, as for a fresh engine.
  void forget_kernel_flows() {
    for (const Program::KernelFlow& f : program_->flows(4096)) program_->forget_flow(f.key);
    ASSERT_TRUE(program_->flows(1).empty());
  }
  void expect_counters_match_runs() {
    const auto c = program_->counters();
    ASSERT_TRUE(c);
    uint64_t user = 0;
    for (size_t i = 0; i < c->size(); ++i) {
      if (engine::reason_key(static_cast<XdpPath>(i)).starts_with("user_")) user += (*c)[i];
    }
    EXPECT_EQ(
        (*c)[static_cast<size_t>(XdpPath::kKernelForwarded)] + (*c)[static_cast<size_t>(XdpPath::kNonIp)],
        kernel_[Kernel::kForward]);
    EXPECT_EQ((*c)[static_cast<size_t>(XdpPath::kKernelDropped)], kernel_[Kernel::kDrop]);
    EXPECT_EQ(user, kernel_[Kernel::kUser]);
    EXPECT_EQ((*c)[static_cast<size_t>(XdpPath::kKernelNoEgress)], 0u);
  }

  std::unique_ptr<Program> program_;
  std::shared_ptr<const PolicyGeneration> gen_;
  std::map<Kernel, uint64_t> kernel_;
};

// The verifier walks every path of the verdict program up to a limit of
// 1,000,000 instructions, and an older kernel's verifier prunes fewer paths
// than this one: the program keeps well under the limit (its header parse
// and transport checksum are global functions, walked once, for that).
TEST_F(XdpProgram, TheVerifierWalksTheProgramWellUnderItsLimit) {
  const uint64_t walked = program_->verifier_instructions();
  EXPECT_GT(walked, 1000u) << "the verifier's statistics were not read";
  EXPECT_LT(walked, 600000u) << "the verifier walked " << walked
                             << " instructions of its 1,000,000: move work into global functions";
  std::cout << "[xdp] the verifier walked " << walked << " instructions of the verdict program\n";
}

TEST_F(XdpProgram, WithoutTablesEveryIpPacketGoesToUserSpace) {
  const Flow f{"198.18.1.10", "198.18.2.10"};
  check_user("no tables", f.frame(), XdpPath::kUserNoPolicy);
  const Bytes arp = PacketBuilder().eth().ethertype(0x0806).payload(std::string(28, '\0')).build();
  EXPECT_EQ(run(arp), Kernel::kForward) << "non-IP frames pass the bump in the wire";
}

TEST_F(XdpProgram, LingangHeaderDecisionsAgreeWithTheEngine) {
  const auto gen = lingang();
  install(gen);
  const std::string ftz = "10.60.9.5";     // unregistered@lingang-ftz
  const std::string pacre = "10.60.2.11";  // pacific-re
  const std::string dom = host_in(*gen, "domestic", true);
  const std::string dom6 = host_in(*gen, "domestic", false);
  const std::string off = "203.0.113.10";
  const std::string hk = "198.51.100.7";
  // Domestic fast path: decided in the kernel, both ways.
  check_flow("FTZ -> domestic DNS", {ftz, dom, 17, 40000, 53}, Kernel::kForward);
  check_flow("tenant -> domestic HTTPS", {pacre, dom, 6, 40001, 443, test::kTcpSyn}, Kernel::kForward);
  check_flow("tenant -> domestic, established", {pacre, dom, 6, 40001, 443}, Kernel::kForward);
  check_flow("FTZ -> domestic ping", {ftz, dom, 1, 77, 0}, Kernel::kForward);
  check_flow("FTZ -> domestic GRE", {ftz, dom, 47, 0, 0}, Kernel::kForward);
  check_flow("domestic -> domestic IPv6", {dom6, host_in(*gen, "domestic", false), 17, 5000, 53},
             Kernel::kForward);
  check_flow("FTZ -> domestic, 802.1Q", {ftz, dom, 17, 40000, 53, 0, {42}}, Kernel::kForward);
  check_flow("FTZ -> domestic, QinQ", {ftz, dom, 17, 40000, 53, 0, {42, 7}}, Kernel::kForward);
  // Exports are inspected; export_default blocks with an alert (an EVE
  // event the kernel cannot write): user space.
  check_flow("FTZ -> offshore HTTPS", {ftz, off, 6, 40002, 443, test::kTcpSyn}, Kernel::kUser);
  check_flow("tenant -> offshore UDP", {pacre, off, 17, 40003, 443}, Kernel::kUser);
  check_flow("FTZ -> HK", {ftz, hk, 6, 40004, 80}, Kernel::kUser);
  check_flow("domestic -> offshore (blocked, alerted)", {dom, off, 17, 40005, 9999}, Kernel::kUser);
  expect_counters_match_runs();
}

TEST_F(XdpProgram, SmallPolicyBlocksInTheKernelAndLeavesPortRulesToTheEngine) {
  install(small_policy());
  check_flow("inside -> dom UDP", {"198.18.1.10", "198.18.2.10", 17, 40000, 53}, Kernel::kForward);
  check_flow("inside -> dom IPv6 UDP", {"2001:db8:1::10", "2001:db8:2::10", 17, 40000, 53}, Kernel::kForward);
  // A TCP port rule: the pair's TCP decision depends on the port.
  check_flow("inside -> dom TCP", {"198.18.1.10", "198.18.2.10", 6, 40000, 443}, Kernel::kUser);
  check_flow("inside -> dom SSH", {"198.18.1.10", "198.18.2.10", 6, 40000, 22}, Kernel::kUser);
  // Blocked pairs: dropped in the kernel, both ways.
  check_flow("inside -> off UDP", {"198.18.1.10", "203.0.113.9", 17, 40000, 443}, Kernel::kDrop);
  check_flow("tenant -> off UDP", {"198.18.1.200", "203.0.113.9", 17, 40000, 443}, Kernel::kDrop);
  // inside -> off is blocked, off -> inside allowed (and inspected): over
  // TCP the engine's client may be either end (whoever sends the SYN), over
  // anything else it is always the inside end.
  check_flow("inside -> off TCP", {"198.18.1.10", "203.0.113.9", 6, 40000, 443, test::kTcpSyn},
             Kernel::kUser);
  check_flow("dom -> off TCP", {"198.18.2.10", "203.0.113.9", 6, 40000, 443, test::kTcpSyn}, Kernel::kDrop);
  check_flow("inside -> off ping", {"198.18.1.10", "203.0.113.9", 1, 5, 0}, Kernel::kDrop);
  check_flow("inside -> off IPv6", {"2001:db8:1::10", "2001:db8:ff::1", 17, 40000, 443}, Kernel::kDrop);
  check_flow("inside -> off, QinQ", {"198.18.1.10", "203.0.113.9", 17, 40000, 443, 0, {100, 200}},
             Kernel::kDrop);
  // An IPv4-mapped IPv6 address takes its IPv4 zone, as in the engine.
  check_flow("mapped inside -> off", {"::ffff:198.18.1.10", "2001:db8:ff::1", 17, 40000, 443}, Kernel::kDrop);
  // Reset needs the engine's segments.
  check_flow("inside -> hk TCP (reset)", {"198.18.1.10", "198.18.3.10", 6, 40000, 80}, Kernel::kUser);
  // Ethernet padding after the IP datagram is not part of it.
  Bytes padded = Flow{"198.18.1.10", "203.0.113.9", 17, 40000, 443}.frame();
  padded.resize(padded.size() + 18, 0);
  EXPECT_EQ(run(padded), Kernel::kDrop);
  ++kernel_[Kernel::kDrop];
  expect_agreement(Kernel::kDrop, engine_result(gen_, {padded}), "padded");
  expect_counters_match_runs();
}

TEST_F(XdpProgram, HeadersTheProgramDoesNotTakeWholeGoToUserSpace) {
  install(small_policy());
  const std::string in = "198.18.1.10";
  const std::string off = "203.0.113.9";
  const auto udp = [&] { return PacketBuilder().eth().ipv4(in, off).udp(40000, 443).payload("hello"); };
  check_user("IPv4 options", udp().ipv4_options({0x94, 0x04, 0x00, 0x00}).build(), XdpPath::kUserHeaders);
  check_user("first fragment", udp().more_fragments().build(), XdpPath::kUserFragment);
  check_user("later fragment", udp().fragment_offset(64).build(), XdpPath::kUserFragment);
  check_user("bad IPv4 checksum", udp().ipv4_checksum(0x1234).build(), XdpPath::kUserChecksum);
  check_user("three VLAN tags", PacketBuilder().eth().vlan(1).vlan(2).vlan(3).ipv4(in, off).udp(1, 2).build(),
             XdpPath::kUserHeaders);
  check_user("IPv6 hop-by-hop",
             PacketBuilder().eth().ipv6("2001:db8:1::10", "2001:db8:ff::1").hop_by_hop().udp(1, 2).build(),
             XdpPath::kUserIpv6Extension);
  check_user("IPv6 fragment",
             PacketBuilder()
                 .eth()
                 .ipv6("2001:db8:1::10", "2001:db8:ff::1")
                 .fragment_header(0, true, 9)
                 .udp(1, 2)
                 .build(),
             XdpPath::kUserIpv6Extension);
  // A bad TCP option length (kind 8 claiming 40 bytes in a 12-byte list).
  Bytes bad_opt = PacketBuilder().eth().ipv4(in, off).tcp(1, 2).timestamps(1, 2).build();
  bad_opt[14 + 20 + 20 + 2 + 1] = 40;  // NOP NOP TS: the TS length byte
  check_user("TCP option length", bad_opt, XdpPath::kUserHeaders);
  // A UDP length beyond the datagram.
  Bytes bad_udp = udp().build();
  bad_udp[14 + 20 + 4] = 0x10;
  check_user("UDP length", bad_udp, XdpPath::kUserHeaders);
  // Cut at every length from a bare Ethernet header on (BPF_PROG_TEST_RUN
  // takes no frame shorter than that): the IP length says bytes are
  // missing, so the kernel never decides.
  const Bytes whole =
      PacketBuilder().eth().vlan(5).ipv4(in, off).tcp(1, 2).timestamps(1, 2).payload("x").build();
  for (size_t len = 14; len < whole.size(); ++len) {
    const Bytes cut(whole.begin(), whole.begin() + static_cast<long>(len));
    EXPECT_EQ(run(cut), Kernel::kUser) << "cut at " << len;
    ++kernel_[Kernel::kUser];
  }
  expect_counters_match_runs();
}

// Writes the right header checksum (RFC 791) into the option-less IPv4
// header at `l3`, after a test changed the header.
void set_ipv4_header_checksum(Bytes& f, size_t l3) {
  f[l3 + 10] = f[l3 + 11] = 0;
  uint32_t sum = 0;
  for (size_t k = 0; k < 20; k += 2) sum += static_cast<uint32_t>(f[l3 + k] << 8 | f[l3 + k + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[l3 + 10] = static_cast<uint8_t>(~sum >> 8);
  f[l3 + 11] = static_cast<uint8_t>(~sum);
}

// The Internet checksum of the pseudo-header (RFC 768, RFC 793, RFC 8200
// section 8.1), folded: what a sender that leaves the sum to its NIC puts
// in the field.
uint16_t pseudo_header_sum(const Bytes& f, size_t l3, bool v6, uint8_t proto, size_t l4_len) {
  uint32_t sum = 0;
  const size_t addrs = v6 ? l3 + 8 : l3 + 12;
  for (size_t i = 0; i < (v6 ? 32u : 8u); i += 2)
    sum += static_cast<uint32_t>(f[addrs + i] << 8 | f[addrs + i + 1]);
  sum += proto + static_cast<uint32_t>(l4_len);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// A packet that would open a flow in the kernel has its TCP or UDP checksum
// checked there as the engine checks it: the kernel decides only what the
// engine takes, and leaves the rest to the engine, which drops it. Payloads
// of every shape the sum loop has (empty, odd, whole 64-byte chunks and not,
// up to what BPF_PROG_TEST_RUN takes), both families; UDP without a sum; a
// sender's partial sum, which `checksum_validation: auto` takes.
TEST_F(XdpProgram, APacketThatWouldOpenAFlowHasItsTransportChecksumChecked) {
  struct Row {
    const char* what;
    const char* src;
    const char* dst;
    uint8_t proto;
    Kernel decided;
  };
  const Row rows[] = {
      {"inside -> dom UDP", "198.18.1.10", "198.18.2.10", 17, Kernel::kForward},
      {"inside -> off UDP", "198.18.1.10", "203.0.113.9", 17, Kernel::kDrop},
      {"dom -> off TCP", "198.18.2.10", "203.0.113.9", 6, Kernel::kDrop},
      {"inside -> dom IPv6 UDP", "2001:db8:1::10", "2001:db8:2::10", 17, Kernel::kForward},
      {"dom -> off IPv6 TCP", "2001:db8:2::10", "2001:db8:ff::1", 6, Kernel::kDrop},
  };
  const auto frame = [](const Row& r, size_t payload_len) {
    std::string payload(payload_len, '\0');
    for (size_t i = 0; i < payload_len; ++i) payload[i] = static_cast<char>((i * 37 + 11) & 0xff);
    PacketBuilder b;
    b.eth();
    if (std::string(r.src).find(':') != std::string::npos)
      b.ipv6(r.src, r.dst);
    else
      b.ipv4(r.src, r.dst);
    if (r.proto == 6)
      b.tcp(40000, 443, test::kTcpSyn, 1000, 0);
    else
      b.udp(40000, 53);
    return b.payload(payload).build();
  };
  const auto engine_drops_as_damaged = [](const PacketResult& e) {
    return e.disposition == Disposition::kDrop &&
           (e.reason == Reason::kTcpBadChecksum || e.reason == Reason::kUdpBadChecksum);
  };
  for (const engine::ChecksumMode mode : {engine::ChecksumMode::kDefault, engine::ChecksumMode::kAuto}) {
    engine::PolicySpec spec = small_policy()->spec();
    spec.limits.checksum_validation = mode;
    install(PolicyGeneration::build(std::move(spec), 4));
    const bool automatic = mode == engine::ChecksumMode::kAuto;
    for (const Row& r : rows) {
      const bool v6 = std::string(r.src).find(':') != std::string::npos;
      const size_t l3 = 14;
      const size_t l4 = l3 + (v6 ? 40 : 20);
      const size_t field = l4 + (r.proto == 6 ? 16 : 6);
      for (const size_t len : {0, 1, 2, 3, 5, 31, 63, 64, 65, 100, 127, 128, 129, 1000, 1459, 3001}) {
        const std::string what = std::string(r.what) + ", " + std::to_string(len) + " bytes";
        Bytes good = frame(r, len);
        forget_kernel_flows();
        EXPECT_EQ(run(good), r.decided) << what;
        ++kernel_[r.decided];
        expect_agreement(r.decided, engine_result(gen_, {good}), what);

        Bytes bad = good;
        bad[field] ^= 0x5a;
        forget_kernel_flows();
        check_user(what + ", a wrong sum", bad, XdpPath::kUserL4Checksum);
        EXPECT_TRUE(engine_drops_as_damaged(engine_result(gen_, {bad}))) << what;

        Bytes partial = good;
        const uint16_t sum = pseudo_header_sum(good, l3, v6, r.proto, good.size() - l4);
        partial[field] = static_cast<uint8_t>(sum >> 8);
        partial[field + 1] = static_cast<uint8_t>(sum);
        forget_kernel_flows();
        if (automatic) {
          EXPECT_EQ(run(partial), r.decided) << what << ", a partial sum";
          ++kernel_[r.decided];
          expect_agreement(r.decided, engine_result(gen_, {partial}), what + ", a partial sum");
        } else {
          check_user(what + ", a partial sum", partial, XdpPath::kUserL4Checksum);
          EXPECT_TRUE(engine_drops_as_damaged(engine_result(gen_, {partial}))) << what << ", a partial sum";
        }
      }
      if (r.proto == 17) {
        // No sum at all: allowed over IPv4 only.
        Bytes none = frame(r, 10);
        none[field] = none[field + 1] = 0;
        forget_kernel_flows();
        if (v6) {
          check_user(std::string(r.what) + ", no sum", none, XdpPath::kUserL4Checksum);
          EXPECT_TRUE(engine_drops_as_damaged(engine_result(gen_, {none}))) << r.what;
        } else {
          EXPECT_EQ(run(none), r.decided) << r.what << ", no sum";
          ++kernel_[r.decided];
          expect_agreement(r.decided, engine_result(gen_, {none}), std::string(r.what) + ", no sum");
        }
      }
    }
  }
  // A datagram shorter than its IP payload (bytes behind it inside the IP
  // datagram): its sum covers the UDP length, as the engine sums it.
  for (const Row& r : {rows[0], rows[1]}) {
    Bytes trailer = frame(r, 10);
    trailer.insert(trailer.end(), {0xde, 0xad, 0xbe, 0xef});
    const size_t l3 = 14;
    const uint16_t total = static_cast<uint16_t>((trailer[l3 + 2] << 8 | trailer[l3 + 3]) + 4);
    trailer[l3 + 2] = static_cast<uint8_t>(total >> 8);
    trailer[l3 + 3] = static_cast<uint8_t>(total);
    set_ipv4_header_checksum(trailer, l3);
    forget_kernel_flows();
    EXPECT_EQ(run(trailer), r.decided) << r.what << ", bytes behind the datagram";
    ++kernel_[r.decided];
    expect_agreement(r.decided, engine_result(gen_, {trailer}), std::string(r.what) + ", bytes behind");
  }
  // A packet of a flow the kernel decided goes by its verdict, as the
  // engine forwards a decided flow's packets whatever their sums.
  forget_kernel_flows();
  const Row& r = rows[0];
  EXPECT_EQ(run(frame(r, 10)), Kernel::kForward);
  Bytes later = frame(r, 20);
  later[14 + 20 + 6] ^= 0x5a;
  EXPECT_EQ(run(later), Kernel::kForward);
  kernel_[Kernel::kForward] += 2;
  expect_agreement(Kernel::kForward, engine_result(gen_, {frame(r, 10), later}), "a later packet");
  expect_counters_match_runs();
}

// The rows' frames with 1-4 random bytes changed (and the IPv4 header
// checksum made right again half of the time, so that changed headers reach
// the policy lookup): whatever the kernel decides, the engine decides too.
TEST_F(XdpProgram, ChangedBytesNeverMakeTheKernelDisagreeWithTheEngine) {
  const std::vector<Flow> flows = {
      {"198.18.1.10", "198.18.2.10", 17, 40000, 53},
      {"198.18.1.10", "203.0.113.9", 6, 4, 443},
      {"198.18.1.200", "203.0.113.9", 17, 40000, 443, 0, {9}},
      {"2001:db8:1::10", "2001:db8:ff::1", 17, 1, 2},
      {"198.18.1.10", "198.18.2.10", 1, 5, 0},
      {"198.18.3.10", "198.18.2.10", 6, 80, 40000},
  };
  install(small_policy());
  std::mt19937 rng(20261205);
  std::map<Kernel, int> seen;
  for (int i = 0; i < 3000; ++i) {
    Bytes f = flows[static_cast<size_t>(i) % flows.size()].frame();
    const int changes = 1 + static_cast<int>(rng() % 4);
    for (int c = 0; c < changes; ++c) f[rng() % std::min<size_t>(f.size(), 80)] = static_cast<uint8_t>(rng());
    if (i % 2 == 0) {
      // The IPv4 header behind 0-2 tags, if there is one: its checksum made right.
      size_t l3 = 14;
      while (l3 + 4 <= f.size() && (f[l3 - 2] == 0x81 || f[l3 - 2] == 0x88) && l3 < 22) l3 += 4;
      if (l3 + 20 <= f.size() && f[l3 - 2] == 0x08 && f[l3 - 1] == 0x00 && (f[l3] & 0x0f) == 5) {
        set_ipv4_header_checksum(f, l3);
      }
    }
    forget_kernel_flows();  // the frame opens its flow, as it does for the fresh engine
    const Kernel k = run(f);
    ++seen[k];
    expect_agreement(k, engine_result(gen_, {f}),
                     "changed frame " + std::to_string(i) + " " + test::to_hex(f));
  }
  // The sweep reached all three outcomes.
  EXPECT_GT(seen[Kernel::kForward], 100);
  EXPECT_GT(seen[Kernel::kDrop], 100);
  EXPECT_GT(seen[Kernel::kUser], 100);
}

// The flow record of the engine for `frames`, fed in order and ended.
engine::Event engine_record(const std::shared_ptr<const PolicyGeneration>& gen,
                            const std::vector<Bytes>& frames) {
  engine::Worker worker(gen, engine::LinkType::kEthernet);
  for (size_t i = 0; i < frames.size(); ++i) {
    engine::PacketView v;
    v.data = frames[i].data();
    v.caplen = v.wirelen = static_cast<uint32_t>(frames[i].size());
    v.ts_ns = kT0 + static_cast<int64_t>(i) * 1000;
    PacketResult r;
    worker.process_burst({&v, 1}, {&r, 1});
  }
  EXPECT_TRUE(worker.finish(kT0 + 1'000'000));
  engine::Event record;
  int records = 0;
  while (const engine::Event* e = worker.events().front()) {
    if (e->type == engine::EventType::kFlow) {
      record = *e;
      ++records;
    }
    worker.events().pop();
  }
  EXPECT_EQ(records, 1);
  return record;
}

// A flow the kernel decided leaves an entry in ftz_flows whose record reads
// as the engine's record of the same packets: endpoints (which is the
// client), zones, tenant, verdict, deciding rule, packets and bytes each way.
TEST_F(XdpProgram, TheRecordOfAKernelFlowIsTheEnginesRecord) {
  install(small_policy());
  struct Case {
    const char* what;
    std::vector<Bytes> frames;
  };
  const Flow dns{"198.18.1.10", "198.18.2.10", 17, 40000, 53};
  // The server's SYN-ACK seen first: the engine takes its receiver for the client.
  const Flow synack{"203.0.113.9", "198.18.2.10", 6, 443, 40001, test::kTcpSyn | test::kTcpAck};
  const Flow off{"198.18.1.10", "203.0.113.9", 17, 40002, 443};
  const Flow icmp{"2001:db8:2::10", "2001:db8:1::10", 58, 9, 0};
  const std::vector<Case> cases = {
      {"domestic DNS", {dns.frame(), dns.reverse().frame(), dns.frame()}},
      {"a blocked handshake picked up at the SYN-ACK", {synack.frame(), synack.reverse().frame()}},
      {"a blocked export from the inside", {off.reverse().frame(), off.frame()}},
      {"ICMPv6 echo", {icmp.frame()}},
  };
  for (const Case& c : cases) {
    for (const Bytes& f : c.frames) EXPECT_NE(run(f), Kernel::kUser) << c.what;
    const std::vector<Program::KernelFlow> flows = program_->flows(16);
    ASSERT_EQ(flows.size(), 1u) << c.what;
    const engine::Event k =
        kernel_flow_record(flows[0].key, flows[0].value, *gen_, 0, engine::FlowEndReason::kShutdown);
    program_->forget_flow(flows[0].key);
    const engine::Event e = engine_record(gen_, c.frames);
    EXPECT_EQ(engine::format_ip(k.src), engine::format_ip(e.src)) << c.what;
    EXPECT_EQ(engine::format_ip(k.dst), engine::format_ip(e.dst)) << c.what;
    EXPECT_EQ(k.src_port, e.src_port) << c.what;
    EXPECT_EQ(k.dst_port, e.dst_port) << c.what;
    EXPECT_EQ(k.proto, e.proto) << c.what;
    EXPECT_EQ(k.src_zone, e.src_zone) << c.what;
    EXPECT_EQ(k.dst_zone, e.dst_zone) << c.what;
    EXPECT_EQ(k.tenant, e.tenant) << c.what;
    EXPECT_EQ(k.verdict.action, e.verdict.action) << c.what;
    EXPECT_EQ(k.rule, e.rule) << c.what;
    EXPECT_EQ(k.flow.pkts_toserver, e.flow.pkts_toserver) << c.what;
    EXPECT_EQ(k.flow.pkts_toclient, e.flow.pkts_toclient) << c.what;
    EXPECT_EQ(k.flow.bytes_toserver, e.flow.bytes_toserver) << c.what;
    EXPECT_EQ(k.flow.bytes_toclient, e.flow.bytes_toclient) << c.what;
  }
  EXPECT_TRUE(program_->flows(16).empty());
}

// No AF_XDP socket bound (user space away): what is for user space follows
// its zone pair's fail mode, every other packet is decided as before.
TEST_F(XdpProgram, WhileUserSpaceIsAwayTheFailModeDecides) {
  install(small_policy());
  uint32_t action = 0;
  // inside -> dom over TCP: port rules, user space; the pair fails open.
  EXPECT_EQ(run(Flow{"198.18.1.10", "198.18.2.10", 6, 40000, 443}.frame(), &action), Kernel::kUser);
  EXPECT_EQ(action, XDP_REDIRECT);
  // inside -> off over TCP: either end may be the client, user space; the
  // pair fails closed.
  EXPECT_EQ(run(Flow{"198.18.1.10", "203.0.113.9", 6, 40000, 443}.frame(), &action), Kernel::kUser);
  EXPECT_EQ(action, XDP_DROP);
  // A header left to the engine: limits.default_fail_mode (open).
  EXPECT_EQ(run(PacketBuilder().eth().ipv4("198.18.1.10", "203.0.113.9").more_fragments().udp(1, 2).build(),
                &action),
            Kernel::kUser);
  EXPECT_EQ(action, XDP_REDIRECT);
  const auto c = program_->counters();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)[static_cast<size_t>(XdpPath::kAwayForwarded)], 2u);
  EXPECT_EQ((*c)[static_cast<size_t>(XdpPath::kAwayDropped)], 1u);
}

// A flow's entry caches its verdict for the install that made it only,
// even when a later install (a restart's first) reuses the generation's
// number.
TEST_F(XdpProgram, ACachedVerdictDoesNotOutliveItsInstall) {
  install(small_policy("block", 1));
  const Flow f{"198.18.1.10", "203.0.113.9", 17, 40000, 443};
  EXPECT_EQ(run(f.frame()), Kernel::kDrop);
  EXPECT_EQ(run(f.frame()), Kernel::kDrop) << "from the cache";
  install(small_policy("allow", 1));
  EXPECT_EQ(run(f.frame()), Kernel::kUser) << "an allowed export is inspected";
}

TEST_F(XdpProgram, AReloadSwapsEveryTableAtOnce) {
  install(small_policy());
  const Flow blocked{"198.18.1.10", "203.0.113.9", 17, 40000, 443};
  EXPECT_EQ(run(blocked.frame()), Kernel::kDrop);
  // The next generation allows inside -> off: the whole set changes.
  install(small_policy("allow", 4));
  EXPECT_EQ(program_->generation(), 4u);
  // An allowed export is inspected: user space now, no longer dropped.
  uint32_t action = 0;
  EXPECT_EQ(run(blocked.frame(), &action), Kernel::kUser);
  EXPECT_EQ(action, XDP_DROP) << "the pair still fails closed";
  install(small_policy());
  EXPECT_EQ(run(blocked.frame()), Kernel::kDrop);
}

}  // namespace
}  // namespace ftz::xdp
