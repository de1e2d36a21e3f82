// The evasion suite through the DPDK fast path: the same cases, the same
// oracles, ftzgate-dp as an operator runs it (real EAL, --no-huge --no-pci,
// net_af_packet ports, a hardware profile written here) between two links:
//
//   ns client+appliance:  c0 ==veth== d0 [ftzgate-dp inside]  [outside] d1 ==veth==+
//   ns server:                                                              s0 198.18.1.2 (Linux, sockets)
//
// The attacker writes crafted frames on c0 with a packet socket; the server
// is a real Linux stack behind s0 (a static neighbour entry for the client,
// whose frames nobody answers ARP for); a packet socket on s0 is the wire tap
// (frames arriving from the appliance) and the colluding peer's forgery
// (frames leaving s0 that the server's stack did not send). Each case runs
// its own ftzgate-dp, stopped with SIGTERM so that every flow ends and its
// record is written; namespaces go with their descriptors, the DPDK runtime
// directory with its prefix object, whatever the outcome.
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "attacker.hpp"
#include "dp_runner.hpp"
#include "frame.hpp"
#include "ftz/test/packet_builder.hpp"
#include "netns.hpp"
#include "oracle.hpp"
#include "policy.hpp"
#include "wire.hpp"

namespace ftz::evasion {
namespace {

using dptest::TempDir;

struct Planted {
  const char* label;
  std::string_view value;
};
constexpr Planted kId1{"resident ID #1", "11010519491231002X"};  // DOMAIN.md §3.1
constexpr Planted kId2{"resident ID #2", "440524188001010014"};  // DOMAIN.md §3.1

const test::MacAddr kClientMac{{0x02, 0x60, 0x00, 0x00, 0x00, 0x01}};
const test::MacAddr kServerMac{{0x02, 0x00, 0x5e, 0x00, 0x01, 0x02}};
constexpr uint8_t kServerMacBytes[6] = {0x02, 0x00, 0x5e, 0x00, 0x01, 0x02};
constexpr uint8_t kClientMacBytes[6] = {0x02, 0x60, 0x00, 0x00, 0x00, 0x01};
constexpr uint16_t kHttp = 80;
constexpr uint16_t kUdp = 40000;

std::string form_post(std::string_view body) {
  return "POST /upload HTTP/1.1\r\nHost: partner.example\r\n"
         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}
std::string id_body(std::string_view id) {
  return "name=zhang+san&idcard=" + std::string(id) + "&note=" + std::string(300, 'n');
}
std::string blanked(std::string s) {
  for (const Planted& p : {kId1, kId2}) {
    for (size_t at = s.find(p.value); at != std::string::npos; at = s.find(p.value, at)) {
      s.replace(at, p.value.size(), std::string(p.value.size(), 'x'));
    }
  }
  return s;
}

// DPDK runtime directories of earlier runs that were killed before their
// FilePrefix could remove them (ftzgate-dp keeps a directory whose prefix it
// was given).
void remove_stale_runtime_dirs() {
  std::error_code ec;
  const std::string tag = "ftz-test-evasion-";
  for (const auto& e : std::filesystem::directory_iterator("/var/run/dpdk", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(tag, 0) != 0) continue;
    const pid_t owner = static_cast<pid_t>(std::atoi(name.c_str() + tag.size()));
    if (owner > 0 && kill(owner, 0) != 0 && errno == ESRCH) std::filesystem::remove_all(e.path(), ec);
  }
}

// One command over DPDK's telemetry socket (protocol v2: a banner on
// connect, then one JSON reply per command); null when it does not answer.
nlohmann::json telemetry(const std::string& prefix, const std::string& cmd) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  const std::string path = "/var/run/dpdk/" + prefix + "/dpdk_telemetry.v2";
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  nlohmann::json out;
  char buf[16384];
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 &&
      recv(fd, buf, sizeof buf, 0) > 0 &&
      send(fd, cmd.data(), cmd.size(), 0) == static_cast<ssize_t>(cmd.size())) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      auto j = nlohmann::json::parse(std::string(buf, static_cast<size_t>(n)), nullptr, false);
      if (j.is_object() && j.contains(cmd)) out = j[cmd];
    }
  }
  close(fd);
  return out;
}

// Frames read from a packet socket, without the ones this host sent.
std::vector<Bytes> read_frames(int fd) {
  std::vector<Bytes> out;
  uint8_t buf[65536];
  for (;;) {
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) break;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    out.emplace_back(buf, buf + n);
  }
  return out;
}

// The links, the server and the appliance of one case.
class DpLab final : public Wire {
 public:
  static tl::expected<std::unique_ptr<DpLab>, std::string> create(const TempDir& dir) {
    remove_stale_runtime_dirs();
    std::unique_ptr<DpLab> lab(new DpLab(dir));
    auto ns = NetNamespace::create();
    if (!ns) return tl::unexpected(ns.error());
    lab->appliance_ns_ = std::make_unique<NetNamespace>(std::move(*ns));
    const NetNamespace& a = *lab->appliance_ns_;
    for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "c0", "type", "veth", "peer", "name", "d0"},
             {"ip", "link", "add", "d1", "type", "veth", "peer", "name", "s0"},
         }) {
      if (auto r = a.exec(cmd); !r) return tl::unexpected(r.error());
    }
    ServerConfig sc;
    sc.address = kServer;
    sc.clients = kClientNet;
    sc.tcp_ports = {kHttp};
    sc.udp_ports = {kUdp};
    auto host = ServerHost::create(sc, [&](const NetNamespace& server_ns) -> tl::expected<void, std::string> {
      if (auto r = a.exec({"ip", "link", "set", "s0", "netns", server_ns.path()}); !r) return r;
      return server_ns.run([]() -> tl::expected<void, std::string> {
        if (auto r = set_mac("s0", kServerMacBytes); !r) return r;
        if (auto r = disable_tx_offloads("s0"); !r) return r;
        if (auto r = set_address("s0", Ipv4Net{kServer, 24}); !r) return r;
        if (auto r = set_up("s0"); !r) return r;
        if (auto r = set_up("lo"); !r) return r;
        if (auto r = add_route("s0", Ipv4Net{kClientNet, 24}); !r) return r;
        return add_neighbour("s0", kClient, kClientMacBytes);
      });
    });
    if (!host) return tl::unexpected(host.error());
    lab->server_ = std::move(*host);
    auto up = a.run([]() -> tl::expected<void, std::string> {
      for (const char* i : {"c0", "d0", "d1"}) {
        if (auto r = disable_tx_offloads(i); !r) return r;
        if (auto r = set_up(i); !r) return r;
      }
      return {};
    });
    if (!up) return tl::unexpected(up.error());
    auto client = open_packet_socket(a, "c0");
    if (!client) return tl::unexpected(client.error());
    lab->client_fd_ = *client;
    auto outside = open_packet_socket(lab->server_->ns(), "s0");
    if (!outside) return tl::unexpected(outside.error());
    lab->outside_fd_ = *outside;
    return lab;
  }

  ~DpLab() override {
    stop();
    if (client_fd_ >= 0) close(client_fd_);
    if (outside_fd_ >= 0) close(outside_fd_);
  }

  // Starts ftzgate-dp between d0 and d1 and waits until a datagram crosses.
  tl::expected<void, std::string> start() {
    std::ofstream(dir_.file("policy.yaml")) << evasion_policy_yaml(dptest::source_dir());
    std::ofstream(dir_.file("profile.yaml"))
        << "profile: evasion-veth\nworkers: 1\nmempool: {mbufs: 4095, cache: 128}\ntx_drain_us: 50\nports:\n"
           "  - {name: ge-0/0/0, device: net_af_packet0, devargs: iface=d0, role: inside, pair: ge-0/0/1}\n"
           "  - {name: ge-0/0/1, device: net_af_packet1, devargs: iface=d1, role: outside, pair: ge-0/0/0}\n";
    auto pid = appliance_ns_->spawn(
        {dptest::binary("ftzgate-dp"), "--config", dir_.file("policy.yaml"), "--profile",
         dir_.file("profile.yaml"), "--eve", dir_.file("eve.json"), "--stats", dir_.file("stats.json"),
         "--duration", "60", "--", "--file-prefix", prefix_.name(), "--log-level=*:warning"},
        dir_.file("dp.log"));
    if (!pid) return tl::unexpected(pid.error());
    pid_ = *pid;
    const Bytes probe = test::PacketBuilder()
                            .eth(kClientMac, kServerMac)
                            .ipv4(test::Ipv4Addr::from_u32(kClient), test::Ipv4Addr::from_u32(kServer))
                            .udp(5353, kUdp)
                            .payload("probe")
                            .build();
    for (int attempt = 0; attempt < 300; ++attempt) {
      (void)!send(client_fd_, probe.data(), probe.size(), 0);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      server_->drain();
      if (!server_->datagrams().empty()) {
        collect(std::chrono::milliseconds(50));
        tap_ = WireTap{};  // the probes are not part of the case
        judged_before_ = judged();
        sent_ = 0;
        return {};
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return tl::unexpected("ftzgate-dp exited during start-up:\n" +
                              dptest::read_text(dir_.file("dp.log")));
      }
    }
    return tl::unexpected("no probe crossed ftzgate-dp within 15 s:\n" +
                          dptest::read_text(dir_.file("dp.log")));
  }

  // SIGTERM: the appliance ends every flow (records written, held packets
  // released) and writes its statistics. Returns its exit status.
  int stop() {
    if (pid_ < 0) return exit_status_;
    // Every frame of the case judged (SIGTERM stops reading at once), and
    // the count settled (what it released or sent back has arrived).
    uint64_t last = 0;
    for (int i = 0; i < 60; ++i) {
      collect(std::chrono::milliseconds(50));
      const uint64_t now = judged();
      if (now >= judged_before_ + sent_ && now == last) break;
      last = now;
    }
    judged_in_case_ = last - judged_before_;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) break;
      if (i == 199) {
        kill(-pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_ = -1;
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    collect(std::chrono::milliseconds(100));
    return exit_status_;
  }

  // Wire.
  Outcome from_inside(Bytes frame) override {
    ++sent_;
    (void)!send(client_fd_, frame.data(), frame.size(), 0);
    collect(std::chrono::milliseconds(8));
    return Outcome{};
  }
  // Frames of the two links meet only in the appliance: what was sent on
  // the inside is judged before a frame on the outside follows it.
  Outcome from_outside(Bytes frame) override {
    wait_judged();
    ++sent_;
    (void)!send(outside_fd_, frame.data(), frame.size(), 0);
    collect(std::chrono::milliseconds(8));
    wait_judged();
    return Outcome{};
  }
  void bypass(const Bytes&) override { ADD_FAILURE() << "no path around the appliance in the DPDK lab"; }
  void pump(std::chrono::milliseconds wait) override { collect(wait); }
  std::vector<Bytes>& inbox() override { return inbox_; }

  [[nodiscard]] ServerHost& server() { return *server_; }
  [[nodiscard]] const WireTap& tap() const { return tap_; }
  [[nodiscard]] std::string log() const { return dptest::read_text(dir_.file("dp.log")); }
  [[nodiscard]] std::vector<nlohmann::json> eve() const { return dptest::read_eve(dir_.file("eve.json")); }
  [[nodiscard]] nlohmann::json stats() const { return dptest::read_json(dir_.file("stats.json")); }

 private:
  explicit DpLab(const TempDir& dir) : dir_(dir), prefix_("evasion") {}

  // Packets the appliance's workers judged so far (telemetry).
  uint64_t judged() const {
    const nlohmann::json s = telemetry(prefix_.name(), "/ftzgate/stats");
    return s.is_object() ? s.value("packets", uint64_t{0}) : 0;
  }
  void wait_judged() {
    for (int i = 0; i < 100 && judged() < judged_before_ + sent_; ++i) collect(std::chrono::milliseconds(10));
  }

  // Reads both links and the server's sockets for `wait`.
  void collect(std::chrono::milliseconds wait) {
    const auto until = std::chrono::steady_clock::now() + wait;
    do {
      pollfd p[2] = {{client_fd_, POLLIN, 0}, {outside_fd_, POLLIN, 0}};
      poll(p, 2, 2);
      for (Bytes& f : read_frames(client_fd_)) inbox_.push_back(std::move(f));
      for (const Bytes& f : read_frames(outside_fd_)) tap_.record(f);
      server_->drain();
    } while (std::chrono::steady_clock::now() < until);
  }

  const TempDir& dir_;
  dptest::FilePrefix prefix_;
  std::unique_ptr<NetNamespace> appliance_ns_;
  std::unique_ptr<ServerHost> server_;
  int client_fd_ = -1;
  int outside_fd_ = -1;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  uint64_t judged_before_ = 0;  // packets judged when the case began (probes)
  uint64_t sent_ = 0;           // frames the case sent into the appliance
  uint64_t judged_in_case_ = 0;

 public:
  // Packets the appliance judged during the case (its own and the server's).
  [[nodiscard]] uint64_t judged_in_case() const { return judged_in_case_; }
  [[nodiscard]] uint64_t sent() const { return sent_; }
  std::vector<Bytes> inbox_;
  WireTap tap_;
};

class DpEvasion : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = missing_privileges();
    if (!why.empty()) GTEST_SKIP() << "DPDK evasion cases skipped: " << why;
    if (access(dptest::binary("ftzgate-dp").c_str(), X_OK) != 0) GTEST_SKIP() << "ftzgate-dp is not built";
    auto lab = DpLab::create(dir_);
    ASSERT_TRUE(lab) << lab.error();
    lab_ = std::move(*lab);
    auto started = lab_->start();
    ASSERT_TRUE(started) << started.error();
  }
  void TearDown() override {
    if (!summary_.empty()) {
      std::cout << "[evasion-dp] " << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": "
                << summary_ << "\n";
    }
    lab_.reset();
  }

  TcpAttacker attacker() {
    AttackerConfig c;
    c.client = kClient;
    c.server = kServer;
    c.sport = 41001;
    c.dport = kHttp;
    c.isn = 0x30000000u;
    c.client_mac = kClientMac;
    c.server_mac = kServerMac;
    return TcpAttacker(*lab_, c);
  }

  // The flow record of the attacker's connection from the appliance's EVE.
  struct Record {
    int flows = 0;
    std::string verdict = "allow";
    uint64_t gaps = 0, conflicts = 0, identifiers = 0;
    std::string uninspectable;  // the reasons the record lists
    bool fail_closed = false;
    bool midstream = false;
    std::string describe() const {
      return std::to_string(flows) + " flow record(s), verdict " + verdict + ", " +
             std::to_string(identifiers) + " identifier(s), gaps " + std::to_string(gaps) + ", conflicts " +
             std::to_string(conflicts) + (uninspectable.empty() ? "" : ", uninspectable:" + uninspectable) +
             (fail_closed ? ", fail-closed" : "") + (midstream ? ", midstream" : "");
    }
    [[nodiscard]] bool caught() const {
      return identifiers > 0 && (verdict == "reset" || verdict == "block");
    }
    [[nodiscard]] bool flagged() const { return gaps > 0 || conflicts > 0 || !uninspectable.empty(); }
    [[nodiscard]] bool handled() const {
      return flagged() || midstream || verdict == "reset" || verdict == "block";
    }
  };
  Record record_of(uint16_t port) const {
    static const char* kOrder[] = {"allow", "route", "block", "reset"};
    auto rank = [](const std::string& v) {
      for (int i = 0; i < 4; ++i) {
        if (v == kOrder[i]) return i;
      }
      return 0;
    };
    Record r;
    for (const nlohmann::json& e : lab_->eve()) {
      if (e.value("event_type", "") != "flow" || e.value("src_port", 0) != port) continue;
      ++r.flows;
      const nlohmann::json& z = e["ftz"];
      const nlohmann::json f = z.value("flow", nlohmann::json::object());
      r.gaps += f.value("tcp_gaps", uint64_t{0});
      r.conflicts += f.value("tcp_overlap_conflicts", uint64_t{0});
      r.identifiers += z.value("distinct_identifiers", uint64_t{0});
      // A list of reasons (a bare true before issue 8).
      const nlohmann::json u = z.contains("uninspectable") ? z["uninspectable"] : nlohmann::json();
      if (u.is_array()) {
        for (const auto& why : u) r.uninspectable += " " + why.get<std::string>();
      } else if (u.is_boolean() && u.get<bool>()) {
        r.uninspectable += " yes";
      }
      r.fail_closed = r.fail_closed || z.value("fail_closed", false);
      r.midstream = r.midstream || z.value("midstream", false);
      const std::string v = z.value("verdict", "allow");
      if (rank(v) > rank(r.verdict)) r.verdict = v;
    }
    return r;
  }

  // Stops the appliance (every flow ends) and checks both oracles.
  void expect_no_leak(std::initializer_list<Planted> planted, uint16_t port) {
    const int status = lab_->stop();
    EXPECT_EQ(status, 0) << lab_->log();
    bool app_leak = false;
    bool wire_leak = false;
    for (const Planted& p : planted) {
      for (const ReceivedStream& s : lab_->server().streams()) {
        if (s.bytes.find(p.value) != std::string::npos) {
          app_leak = true;
          ADD_FAILURE() << "the server application read " << p.label << " in clear (connection from port "
                        << s.peer_port << ", " << s.bytes.size() << " bytes)";
        }
      }
      for (const std::string& where : lab_->tap().find(p.value)) {
        wire_leak = true;
        ADD_FAILURE() << p.label << " left the zone in clear: " << where;
      }
    }
    const Record r = record_of(port);
    summary_ = std::string("app ") + (app_leak ? "LEAK" : "clean") + ", wire " +
               (wire_leak ? "LEAK" : "clean") + "; ftzgate-dp: " + r.describe() + "; judged " +
               std::to_string(lab_->judged_in_case()) + " packets (" + std::to_string(lab_->sent()) +
               " from the attacker)";
    if (app_leak || wire_leak) {
      std::string frames;
      for (const Bytes& f : lab_->tap().frames()) frames += "  " + describe(f) + "\n";
      ADD_FAILURE() << "frames that left towards the server (headers only):\n" << frames;
    }
  }

  std::string received_from(uint16_t port) const {
    std::string out;
    for (const ReceivedStream& s : lab_->server().streams()) {
      if (s.peer_port == port) out += s.bytes;
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<DpLab> lab_;
  std::string summary_;
};

TEST_F(DpEvasion, ControlIdentifierInOneSegmentIsReset) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  a.send(0, form_post(id_body(kId1.value)));
  lab_->pump(std::chrono::milliseconds(50));
  EXPECT_GE(a.resets_received(), 1) << "the RST towards the client";
  expect_no_leak({kId1}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
  bool reset = false;
  for (const ReceivedStream& s : lab_->server().streams()) reset = reset || s.reset;
  EXPECT_TRUE(reset) << "the server's stack took the appliance's RST";
}

TEST_F(DpEvasion, ControlBenignReorderedRequestArrivesWhole) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  const std::string req = form_post("note=" + std::string(3000, 'n'));
  const uint32_t third = static_cast<uint32_t>(req.size() / 3);
  const Bytes first = a.build(Seg::at(0, req.substr(0, third)));
  const Bytes second = a.build(Seg::at(third, req.substr(third, third)));
  const Bytes last = a.build(Seg::at(2 * third, req.substr(2 * third)));
  lab_->from_inside(second);
  lab_->from_inside(last);
  lab_->from_inside(first);
  lab_->pump(std::chrono::milliseconds(50));
  const std::string got = received_from(a.config().sport);
  EXPECT_TRUE(got == req) << got.size() << " of " << req.size() << " bytes arrived before shutdown";
  EXPECT_EQ(lab_->stop(), 0) << lab_->log();
  EXPECT_EQ(record_of(a.config().sport).verdict, "allow") << record_of(a.config().sport).describe();
  summary_ = "benign bytes delivered " + std::to_string(got.size()) + "/" + std::to_string(req.size());
}

TEST_F(DpEvasion, BadTcpChecksumCopyFirst) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  const std::string req = form_post(id_body(kId1.value));
  Seg decoy = Seg::at(0, blanked(req));
  decoy.bad_checksum = true;
  a.send(decoy);
  a.send(0, req);
  expect_no_leak({kId1}, a.config().sport);
  const Record r = record_of(a.config().sport);
  EXPECT_TRUE(r.caught() || r.conflicts > 0) << r.describe();
}

TEST_F(DpEvasion, OutOfWindowRstThenLastByteFirst) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  Seg rst;
  rst.flags = 0x04;
  rst.raw_seq = a.seq_of(0) + 0x40000000u;
  a.send(rst);
  const std::string req = form_post(id_body(kId1.value));
  a.send(static_cast<uint32_t>(req.size() - 1), req.substr(req.size() - 1));
  a.send(0, req.substr(0, req.size() - 1));
  expect_no_leak({kId1}, a.config().sport);
  const Record r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled()) << r.describe();
}

TEST_F(DpEvasion, RemoteAcknowledgesPastAHoleThenTheHoleIsSent) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  const std::string req = form_post(id_body(kId1.value));
  const uint32_t hole_end = static_cast<uint32_t>(req.find(kId1.value) + kId1.value.size() + 8);
  a.send(hole_end, req.substr(hole_end));
  lab_->from_outside(
      a.forge_from_server(0x10, a.server_isn() + 1, a.seq_of(static_cast<uint32_t>(req.size()))));
  a.send(0, req.substr(0, hole_end));
  expect_no_leak({kId1}, a.config().sport);
  const Record r = record_of(a.config().sport);
  EXPECT_TRUE(r.caught() || (r.gaps > 0 && !r.uninspectable.empty())) << r.describe();
}

// The appliance ends the flow at an RST the receiver ignores (in the window,
// not the next byte: RFC 5961) between the halves of an identifier.
TEST_F(DpEvasion, IdentifierSplitAroundAnRstTheReceiverIgnores) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  const std::string req = form_post(id_body(kId1.value));
  const uint32_t cut = static_cast<uint32_t>(req.find(kId1.value) + 9);
  a.send(0, req.substr(0, cut));
  Seg rst;
  rst.flags = 0x04;
  rst.raw_seq = a.seq_of(cut) + 1000;
  a.send(rst);
  a.send(cut, req.substr(cut));
  expect_no_leak({kId1}, a.config().sport);
  const Record r = record_of(a.config().sport);
  EXPECT_TRUE(r.handled()) << r.describe();
}

TEST_F(DpEvasion, HeldSegmentsAfterAResetVerdict) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  const std::string req = form_post(id_body(kId1.value) + "&idcard2=" + std::string(kId2.value) + "&end=1");
  const uint32_t split = static_cast<uint32_t>(req.find(kId1.value) + kId1.value.size() + 40);
  a.send(split, req.substr(split));
  a.send(0, req.substr(0, split));
  expect_no_leak({kId1, kId2}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
}

TEST_F(DpEvasion, IdentifierOnlyInACookieHeader) {
  TcpAttacker a = attacker();
  ASSERT_TRUE(a.connect()) << lab_->log();
  a.send(0, "GET /profile HTTP/1.1\r\nHost: partner.example\r\nCookie: uid=" + std::string(kId1.value) +
                "; lang=zh\r\n\r\n");
  expect_no_leak({kId1}, a.config().sport);
  EXPECT_TRUE(record_of(a.config().sport).caught()) << record_of(a.config().sport).describe();
}

}  // namespace
}  // namespace ftz::evasion
