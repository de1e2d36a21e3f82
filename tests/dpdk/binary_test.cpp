// ftzgate-dp as an operator runs it, on virtual devices: byte-exact actions,
// channel return traffic, reload under load, start-up errors, telemetry.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "dp_runner.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "ftz/test/tcp_session.hpp"

namespace ftz::dptest {
namespace {

using test::Bytes;
using test::Direction;

// Header-stage rules by destination port: each action on its own flow.
constexpr const char* kActionsConfig = R"(zones:
  - name: inside
    kind: ftz
    prefixes: [10.0.0.0/8]
  - name: offshore
    kind: offshore
    default: true
rules:
  - name: to-channel
    match: {dst_zone: offshore, dst_port: 8001}
    action: route
    channel: intl
  - name: blocked
    match: {dst_zone: offshore, dst_port: 8002}
    action: block
  - name: reset
    match: {dst_zone: offshore, dst_port: 8003}
    action: reset
  - name: mirrored
    match: {dst_zone: offshore, dst_port: 8004}
    action: allow
    mirror: true
defaults:
  - src_zone: inside
    dst_zone: offshore
    action: allow
channels:
  - name: intl
    egress_role: channel
    vlan: 3001
    next_hop_mac: "02:00:5e:00:30:01"
)";

const std::array<uint8_t, 6> kNextHop{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01};

std::vector<test::CapturedPacket> session(uint16_t port, uint64_t start_ns) {
  test::TcpSessionConfig c;
  c.client_ip = test::Ipv4Addr{{10, 0, 0, 1}};
  c.server_ip = test::Ipv4Addr{{203, 0, 113, 10}};
  c.client_port = static_cast<uint16_t>(40000 + port % 100);
  c.server_port = port;
  c.start_ns = start_ns;
  test::TcpSession s(c);
  s.handshake()
      .client_send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      .server_send("HTTP/1.1 200 OK\r\n\r\n")
      .close();
  return s.take_packets();
}

std::vector<Bytes> frames_of(const std::string& pcap) {
  auto f = test::read_pcap(pcap);
  EXPECT_TRUE(f) << pcap << ": " << (f ? "" : f.error());
  std::vector<Bytes> out;
  if (f) {
    for (auto& r : f->records) out.push_back(std::move(r.data));
  }
  return out;
}

// The route rewrite, written independently of the data plane: an 802.1Q tag
// after the MACs, the next hop as destination.
Bytes routed(Bytes f, uint16_t vlan) {
  const uint8_t tag[4] = {0x81, 0x00, static_cast<uint8_t>(vlan >> 8), static_cast<uint8_t>(vlan)};
  f.insert(f.begin() + 12, tag, tag + 4);
  std::copy(kNextHop.begin(), kNextHop.end(), f.begin());
  return f;
}

uint8_t tcp_flags(const Bytes& f) {
  return f[14 + 20 + 13];
}  // untagged IPv4 without options
uint16_t tcp_src_port(const Bytes& f) {
  return static_cast<uint16_t>((f[34] << 8) | f[35]);
}
uint16_t tcp_dst_port(const Bytes& f) {
  return static_cast<uint16_t>((f[36] << 8) | f[37]);
}

TEST(DpActions, EachActionGivesByteExactFramesOnItsPortAndCounts) {
  TempDir dir;
  std::ofstream(dir.file("actions.yaml")) << kActionsConfig;
  std::map<uint16_t, std::vector<test::CapturedPacket>> flows;
  {
    auto w = test::PcapWriter::open(dir.file("in.pcap"), test::TimestampPrecision::kNano);
    ASSERT_TRUE(w);
    uint64_t t = 1'772'413'200'000'000'000ull;
    for (uint16_t port : {8001, 8002, 8003, 8004, 8005}) {
      flows[port] = session(port, t);
      for (const auto& p : flows[port]) w->write(p.ts_ns, p.frame);
      t += 1'000'000'000;
    }
    ASSERT_TRUE(w->close());
  }
  const RunResult r = run_dp("--config " + dir.file("actions.yaml") + " --pcap-in " + dir.file("in.pcap") +
                             " --pcap-out " + dir.file("out") + " --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;

  // Route: every frame of the flow leaves on the channel port, tagged and
  // addressed to the next hop (a replay enters all frames on the inside port).
  std::vector<Bytes> want_channel;
  for (const auto& p : flows[8001]) want_channel.push_back(routed(p.frame, 3001));
  EXPECT_EQ(frames_of(dir.file("out/channel.pcap")), want_channel);

  // Mirror: copies as received; forward: L2 untouched on the paired port.
  std::vector<Bytes> want_mirror;
  for (const auto& p : flows[8004]) want_mirror.push_back(p.frame);
  EXPECT_EQ(frames_of(dir.file("out/mirror.pcap")), want_mirror);

  // Reset: the SYN is dropped; one RST towards the server on the outside
  // port, one RST|ACK towards the client back out of the inside port.
  std::vector<Bytes> outside = frames_of(dir.file("out/outside.pcap"));
  std::vector<Bytes> resets_out;
  std::vector<Bytes> forwarded;
  for (const Bytes& f : outside) (tcp_dst_port(f) == 8003 ? resets_out : forwarded).push_back(f);
  std::vector<Bytes> want_forwarded = want_mirror;
  for (const auto& p : flows[8005]) want_forwarded.push_back(p.frame);
  EXPECT_EQ(forwarded, want_forwarded);
  ASSERT_EQ(resets_out.size(), 1u);
  EXPECT_TRUE(tcp_flags(resets_out[0]) & test::kTcpRst);
  const std::vector<Bytes> inside = frames_of(dir.file("out/inside.pcap"));
  ASSERT_EQ(inside.size(), 1u);
  EXPECT_TRUE(tcp_flags(inside[0]) & test::kTcpRst);
  EXPECT_EQ(tcp_src_port(inside[0]), 8003);

  const nlohmann::json s = read_json(dir.file("stats.json"));
  const nlohmann::json& path = s["workers"][0]["path"];
  EXPECT_EQ(path["routed"], flows[8001].size());
  EXPECT_EQ(path["mirrored"], flows[8004].size());
  EXPECT_EQ(path["resets_sent"], 2);
  EXPECT_EQ(path["tx_dropped"], 0);
  const nlohmann::json& reasons = s["workers"][0]["reasons"];
  EXPECT_EQ(reasons["policy_block"], flows[8002].size());
  EXPECT_EQ(reasons["policy_reset"], flows[8003].size());
  uint64_t total = 0;
  for (const auto& [port, pkts] : flows) total += pkts.size();
  EXPECT_EQ(s["ports"][0]["rx_packets"], total);
  EXPECT_EQ(s["workers"][0]["forwarded"], flows[8001].size() + flows[8004].size() + flows[8005].size());
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["block"], 1);
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["reset"], 1);
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["route"], 1);
  EXPECT_EQ(s["workers"][0]["flow_verdicts"]["allow"], 2);

  // The blocked and reset flows were offered to rte_flow; net_pcap refuses
  // it, so the inside port blocks in software from the first refusal on.
  EXPECT_GT(path["offload_requests"].get<uint64_t>(), 0u);
  const nlohmann::json& inside_offload = s["offload"][0];
  EXPECT_EQ(inside_offload["port"], "ge-0/0/0");
  EXPECT_FALSE(inside_offload["enabled"].get<bool>());
  EXPECT_EQ(inside_offload["refused"], 1);
  EXPECT_EQ(inside_offload["installed"], 0);
  EXPECT_NE(inside_offload["refusal"].get<std::string>().find("ENOSYS"), std::string::npos)
      << inside_offload.dump();
}

Bytes udp(bool from_client, std::optional<uint16_t> vlan, int i) {
  test::PacketBuilder b;
  b.eth();
  if (vlan) b.vlan(*vlan);
  if (from_client)
    b.ipv4("10.0.0.1", "203.0.113.10").udp(5000, 8001);
  else
    b.ipv4("203.0.113.10", "10.0.0.1").udp(8001, 5000);
  return b.payload("datagram " + std::to_string(i)).build();
}

void write_pcap(const std::string& path, const std::vector<Bytes>& frames) {
  auto w = test::PcapWriter::open(path, test::TimestampPrecision::kNano);
  ASSERT_TRUE(w);
  uint64_t t = 1'772'413'200'000'000'000ull;
  for (const Bytes& f : frames) w->write(t += 1'000'000, f);
  ASSERT_TRUE(w->close());
}

// A hardware profile of net_pcap ports: the inside port replays `in`, the
// channel port replays `ret` (return traffic tagged with the channel VLAN).
std::string pcap_profile(const TempDir& dir) {
  return "profile: return-test\n"
         "workers: 1\n"
         "ports:\n"
         "  - {name: ge-0/0/0, device: net_pcap0, role: inside, pair: ge-0/0/1,\n"
         "     devargs: 'rx_pcap=" +
         dir.file("in.pcap") + ",tx_pcap=" + dir.file("inside.pcap") +
         "'}\n"
         "  - {name: ge-0/0/1, device: net_pcap1, role: outside, pair: ge-0/0/0,\n"
         "     devargs: 'tx_pcap=" +
         dir.file("outside.pcap") +
         "'}\n"
         "  - {name: ge-0/0/2, device: net_pcap2, role: channel, pair: ge-0/0/0,\n"
         "     devargs: 'rx_pcap=" +
         dir.file("ret.pcap") + ",tx_pcap=" + dir.file("channel.pcap") +
         "'}\n"
         "  - {name: ge-0/0/3, device: net_null0, role: mirror, devargs: no-rx=1}\n";
}

TEST(DpChannel, ReturnTrafficLosesTheChannelVlanAndStaysOneFlow) {
  TempDir dir;
  std::ofstream(dir.file("actions.yaml")) << kActionsConfig;
  std::ofstream(dir.file("profile.yaml")) << pcap_profile(dir);
  std::vector<Bytes> out, ret, ret_untagged;
  for (int i = 0; i < 3; ++i) {
    out.push_back(udp(true, std::nullopt, i));
    ret.push_back(udp(false, 3001, i));
    ret_untagged.push_back(udp(false, std::nullopt, i));
  }
  write_pcap(dir.file("in.pcap"), out);
  write_pcap(dir.file("ret.pcap"), ret);
  const RunResult r = run_dp("--config " + dir.file("actions.yaml") + " --profile " +
                             dir.file("profile.yaml") + " --duration 1.5 --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  std::vector<Bytes> want_channel;
  for (const Bytes& f : out) want_channel.push_back(routed(f, 3001));
  EXPECT_EQ(frames_of(dir.file("channel.pcap")), want_channel);
  EXPECT_EQ(frames_of(dir.file("inside.pcap")), ret_untagged)
      << "replies reach the inside without the channel tag";
  EXPECT_TRUE(frames_of(dir.file("outside.pcap")).empty());
  const nlohmann::json s = read_json(dir.file("stats.json"));
  EXPECT_EQ(s["workers"][0]["flows_created"], 1) << "both directions are one flow";
  EXPECT_EQ(s["workers"][0]["path"]["channel_vlan_stripped"], 3);
  EXPECT_EQ(s["workers"][0]["path"]["routed"], 3);
}

// Runs `cmd` through the shell in the background, its output to `log`
// ("exec": the pid is the program itself, not a shell a signal would kill).
pid_t spawn(const std::string& cmd, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >" + log + " 2>&1").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

TEST(DpReload, SighupStormWhileTrafficRunsLosesNothing) {
  TempDir dir;
  const std::string cfg = dir.file("policy.yaml");
  std::ofstream(cfg) << kAllowConfig;
  ASSERT_EQ(run(binary("ftzgate-gen") + " bench --flows 400 --out " + dir.file("bench.pcap")).status, 0);
  FilePrefix prefix("reload");
  const std::string cmd = binary("ftzgate-dp") + " --config " + cfg + " --pcap-in " + dir.file("bench.pcap") +
                          " --loop --duration 7 --stats " + dir.file("stats.json") + " --eve " +
                          dir.file("eve.json") + " -- --file-prefix " + prefix.name() +
                          " --log-level=*:warning";
  const pid_t pid = spawn(cmd, dir.file("dp.log"));
  ASSERT_GE(pid, 0);
  // "exec": pid is ftzgate-dp itself, not a shell that SIGHUP would kill.
  // The storm starts once traffic flows (start-up takes longer on a busy machine).
  ASSERT_TRUE(wait_for_traffic(prefix.name())["/ftzgate/stats"].is_object());
  int sent = 0;
  for (; sent < 40; ++sent) {
    // Replaced whole (rename), as an operator's editor or config management
    // does: a reload still reading the previous file never sees it half
    // written (an in-place rewrite made a reload read an empty file).
    const std::string next = cfg + ".next";
    std::ofstream(next, std::ios::trunc) << (sent % 2 == 0 ? kBlockConfig : kAllowConfig);
    std::filesystem::rename(next, cfg);
    kill(pid, SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string output = read_text(dir.file("dp.log"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;

  const nlohmann::json s = read_json(dir.file("stats.json"));
  const nlohmann::json& ports = s["ports"];
  const uint64_t in = ports[0]["rx_packets"];
  const uint64_t out = ports[1]["tx_packets"].get<uint64_t>() + ports[2]["tx_packets"].get<uint64_t>();
  const nlohmann::json& w = s["workers"][0];
  const uint64_t dropped = w["dropped"];
  EXPECT_GT(in, 10'000u);
  EXPECT_EQ(in, out + dropped) << "every packet read was sent or dropped by policy";
  EXPECT_EQ(dropped, w["reasons"].value("policy_block", uint64_t{0})) << w["reasons"].dump();
  EXPECT_GT(dropped, 0u) << "the block generation judged traffic";
  EXPECT_EQ(w["path"]["tx_dropped"], 0);
  EXPECT_EQ(ports[0]["imissed"], 0);
  EXPECT_EQ(ports[0]["rx_nombuf"], 0);
  EXPECT_GE(s["reload"]["reloads"].get<uint64_t>(), 10u) << output;
  EXPECT_EQ(s["reload"]["failures"], 0);
  EXPECT_GT(w["rejudged"].get<uint64_t>(), 0u);
  // The reload goal's figure: the largest gap between the worker's burst
  // starts next to a switch, bounded by the run's largest gap and well
  // under the 7 s run (it measures passes, not the run).
  const double reload_gap = s["reload"]["max_burst_gap_us"];
  const double run_gap = w["path"]["max_burst_gap_us"];
  EXPECT_GT(reload_gap, 0.0);
  EXPECT_EQ(reload_gap, w["path"]["reload_burst_gap_us"].get<double>())
      << "one worker: its gap is the appliance's";
  EXPECT_LE(reload_gap, run_gap);
  EXPECT_LT(run_gap, 1e6) << "a gap of a second or more is not a gap between bursts";
  std::cout << "reloads " << s["reload"].dump() << "\n";
}

// logrotate renames the event file and sends SIGUSR1 (images/logrotate):
// the data plane goes on in a new file, and every event it took from its
// workers is a whole line in one of the two.
TEST(DpEve, ALogRotationBySignalLosesNoLine) {
  TempDir dir;
  const std::string cfg = dir.file("policy.yaml");
  std::ofstream(cfg) << kAllowConfig;
  ASSERT_EQ(run(binary("ftzgate-gen") + " bench --flows 400 --out " + dir.file("bench.pcap")).status, 0);
  FilePrefix prefix("rotate");
  const std::string eve = dir.file("eve.json");
  const std::string cmd = binary("ftzgate-dp") + " --config " + cfg + " --pcap-in " + dir.file("bench.pcap") +
                          " --loop --duration 5 --stats " + dir.file("stats.json") + " --eve " + eve +
                          " -- --file-prefix " + prefix.name() + " --log-level=*:warning";
  const pid_t pid = spawn(cmd, dir.file("dp.log"));
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(wait_for_traffic(prefix.name())["/ftzgate/stats"].is_object());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::filesystem::rename(eve, eve + ".1");
  kill(pid, SIGUSR1);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string output = read_text(dir.file("dp.log"));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;

  const nlohmann::json s = read_json(dir.file("stats.json"));
  uint64_t lines[2] = {0, 0};
  int file = 0;
  for (const std::string& path : {eve + ".1", eve}) {
    std::istringstream in(read_text(path));
    for (std::string line; std::getline(in, line); ++lines[file])
      ASSERT_TRUE(nlohmann::json::accept(line)) << path << ": " << line;
    ++file;
  }
  EXPECT_GT(lines[0], 0u) << "events before the rotation";
  EXPECT_GT(lines[1], 0u) << "events after it, in the new file";
  EXPECT_EQ(lines[0] + lines[1], s["outputs"]["events"].get<uint64_t>()) << s["outputs"];
  EXPECT_EQ(s["outputs"]["eve_lines_lost"], 0);
  EXPECT_EQ(s["outputs"]["eve_write_errors"], 0);
}

TEST(DpStart, BadInputsGiveAClearErrorAndANonZeroExit) {
  TempDir dir;
  const std::string minimal = source_dir() + "/examples/minimal.yaml";
  std::ofstream(dir.file("bad.yaml")) << "zones:\n  - name: inside\n    kind: ftzz\n";
  std::ofstream(dir.file("bad-profile.yaml"))
      << "profile: x\nports:\n  - {name: a, device: net_null0, role: sideways}\n";
  std::ofstream(dir.file("absent.yaml"))
      << "profile: absent\nports:\n  - {name: ge-0/0/0, device: '0000:07:00.0', role: inside, pair: "
         "ge-0/0/1}\n"
         "  - {name: ge-0/0/1, device: '0000:07:00.1', role: outside, pair: ge-0/0/0}\n";
  write_pcap(dir.file("small.pcap"), {udp(true, std::nullopt, 0)});

  auto usage = run_dp("");
  EXPECT_EQ(usage.status, 2);
  EXPECT_NE(usage.output.find("--config FILE or --controller unix:PATH is required"), std::string::npos)
      << usage.output;

  auto config = run_dp("--config " + dir.file("bad.yaml") + " --pcap-in " + dir.file("small.pcap"));
  EXPECT_EQ(config.status, 2);
  EXPECT_NE(config.output.find(dir.file("bad.yaml") + ":3:"), std::string::npos) << config.output;

  auto profile = run_dp("--config " + minimal + " --profile " + dir.file("bad-profile.yaml"));
  EXPECT_EQ(profile.status, 2);
  EXPECT_NE(profile.output.find(dir.file("bad-profile.yaml") + ":3:"), std::string::npos) << profile.output;
  EXPECT_NE(profile.output.find("hardware profile rejected"), std::string::npos) << profile.output;

  auto capture = run_dp("--config " + minimal + " --pcap-in " + dir.file("missing.pcap"));
  EXPECT_EQ(capture.status, 1);
  EXPECT_NE(capture.output.find("missing.pcap: cannot read capture"), std::string::npos) << capture.output;

  auto device =
      run_dp("--config " + minimal + " --profile " + dir.file("absent.yaml"), "--no-huge -m 128 --no-pci");
  EXPECT_EQ(device.status, 1);
  EXPECT_NE(device.output.find("port ge-0/0/0 (0000:07:00.0): no such DPDK device"), std::string::npos)
      << device.output;

  auto memory = run_dp("--config " + minimal + " --pcap-in " + dir.file("small.pcap"), "-m 24");
  EXPECT_EQ(memory.status, 1);
  EXPECT_NE(memory.output.find("mempool of"), std::string::npos) << memory.output;
  EXPECT_NE(memory.output.find("give EAL more memory"), std::string::npos) << memory.output;
}

// ---------------------------------------------- start-up and resources --

// `binary ARGS` with stdout and stderr into `log`, without a shell (so the
// signal mask and pending signals given here reach the binary). With
// `pending_sigterm` the child starts with SIGTERM blocked and pending, as a
// supervisor that blocked it around fork would leave it.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log, bool pending_sigterm = false,
            const std::string& env = "") {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (!env.empty()) putenv(const_cast<char*>(env.c_str()));
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 1);
  dup2(fd, 2);
  if (pending_sigterm) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    kill(getpid(), SIGTERM);  // pending across exec
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// The runtime directory EAL makes for the prefix ftzgate-dp makes up when
// none is given (root: /var/run/dpdk).
std::string own_runtime_dir(pid_t pid) {
  return "/var/run/dpdk/ftzgate-dp-" + std::to_string(pid);
}

TEST(DpStart, HelpPrintsTheUsageAndExitsZero) {
  for (const std::string bin : {"ftzgate-dp", "ftzgate-inspect", "ftzgate-gen"}) {
    for (const char* h : {"--help", "-h"}) {
      const RunResult r = run(binary(bin) + " " + h + " 2>/dev/null");
      EXPECT_EQ(r.status, 0) << bin << " " << h << ": " << r.output;
      // "usage:" or CLI11's "Usage:" (the tools move to CLI11 one by one).
      std::string lower = r.output;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      EXPECT_NE(lower.find("usage:"), std::string::npos) << bin << " " << h << ": " << r.output;
    }
  }
  // After other arguments too ("what did that option do again?").
  EXPECT_EQ(run(binary("ftzgate-dp") + " --config x.yaml --help").status, 0);
  EXPECT_EQ(run(binary("ftzgate-gen") + " bench --help").status, 0);
  EXPECT_EQ(run(binary("ftzgate-inspect") + " --config x.yaml --help").status, 0);
}

TEST(DpStart, SigtermPendingAtStartEndsTheProcessBeforeEal) {
  TempDir dir;
  write_pcap(dir.file("small.pcap"), {udp(true, std::nullopt, 0)});
  const pid_t pid = spawn({binary("ftzgate-dp"), "--config", source_dir() + "/examples/minimal.yaml",
                           "--pcap-in", dir.file("small.pcap"), "--", "--log-level=*:warning"},
                          dir.file("dp.log"), /*pending_sigterm=*/true);
  ASSERT_GT(pid, 0);
  const int status = wait_for(pid);
  const std::string log = read_text(dir.file("dp.log"));
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                                   << ":\n"
                                   << log;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_NE(log.find("ftzgate-dp: SIGTERM during start-up: stopped"), std::string::npos) << log;
  EXPECT_EQ(log.find("report"), std::string::npos) << "nothing ran: " << log;
  EXPECT_FALSE(std::filesystem::exists(own_runtime_dir(pid)));
}

// SIGTERM while EAL is initialising: net_pcap opens each tx_pcap file while
// EAL probes the devices, and a FIFO nobody reads blocks that open, so the
// signal arrives with the runtime directory made and EAL not yet done.
TEST(DpStart, SigtermDuringEalInitIsHonouredAndLeavesNoRuntimeDirectory) {
  TempDir dir;
  write_pcap(dir.file("small.pcap"), {udp(true, std::nullopt, 0)});
  std::filesystem::create_directories(dir.file("out"));
  ASSERT_EQ(mkfifo(dir.file("out/outside.pcap").c_str(), 0600), 0);
  const pid_t pid =
      spawn({binary("ftzgate-dp"), "--config", source_dir() + "/examples/minimal.yaml", "--pcap-in",
             dir.file("small.pcap"), "--pcap-out", dir.file("out"), "--", "--log-level=*:warning"},
            dir.file("dp.log"));
  ASSERT_GT(pid, 0);
  bool made = false;
  for (int i = 0; i < 200 && !made; ++i) {
    made = std::filesystem::exists(own_runtime_dir(pid) + "/config");
    if (!made) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGTERM);
  // Let the probe go on: read the FIFO until ftzgate-dp closes it.
  std::thread reader([&] {
    std::ifstream fifo(dir.file("out/outside.pcap"), std::ios::binary);
    char buf[4096];
    while (fifo.read(buf, sizeof buf) || fifo.gcount() > 0) {
    }
  });
  const int status = wait_for(pid);
  reader.join();
  const std::string log = read_text(dir.file("dp.log"));
  ASSERT_TRUE(made) << "EAL never made " << own_runtime_dir(pid) << ": " << log;
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                                   << ":\n"
                                   << log;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(log.find("report"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(own_runtime_dir(pid))) << log;
}

TEST(DpStart, FailuresAfterEalStartedLeaveNoRuntimeDirectory) {
  TempDir dir;
  write_pcap(dir.file("small.pcap"), {udp(true, std::nullopt, 0)});
  const std::vector<std::string> base{binary("ftzgate-dp"),
                                      "--config",
                                      source_dir() + "/examples/minimal.yaml",
                                      "--pcap-in",
                                      dir.file("small.pcap"),
                                      "--",
                                      "--log-level=*:warning"};
  // EAL itself fails (an unknown device), after it made its runtime directory.
  auto eal = base;
  eal.insert(eal.end(), {"--vdev", "net_bogus0"});
  pid_t pid = spawn(eal, dir.file("eal.log"));
  int status = wait_for(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_text(dir.file("eal.log"));
  EXPECT_NE(read_text(dir.file("eal.log")).find("EAL initialisation failed"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(own_runtime_dir(pid)));
  // The appliance fails to start (no memory for its pool).
  auto pool = base;
  pool.insert(pool.end(), {"-m", "24"});
  pid = spawn(pool, dir.file("pool.log"));
  status = wait_for(pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << read_text(dir.file("pool.log"));
  EXPECT_NE(read_text(dir.file("pool.log")).find("mempool of"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(own_runtime_dir(pid)));
}

TEST(DpStart, WorkersThatDoNotFitInMemoryAreRefusedBeforeEal) {
  TempDir dir;
  write_pcap(dir.file("small.pcap"), {udp(true, std::nullopt, 0)});
  const pid_t pid =
      spawn({binary("ftzgate-dp"), "--config", source_dir() + "/examples/minimal.yaml", "--pcap-in",
             dir.file("small.pcap"), "--workers", "64", "--", "--log-level=*:warning"},
            dir.file("dp.log"), false, "FTZGATE_MEMORY_LIMIT=2G");
  const int status = wait_for(pid);
  const std::string log = read_text(dir.file("dp.log"));
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 1) << log;
  EXPECT_NE(log.find("not enough memory: the configuration and command line need "), std::string::npos)
      << log;
  EXPECT_NE(log.find("(64 workers x "), std::string::npos) << log;
  EXPECT_NE(log.find("of the 2.0 GiB available (FTZGATE_MEMORY_LIMIT)"), std::string::npos) << log;
  EXPECT_NE(log.find("or the number of workers"), std::string::npos) << log;
  EXPECT_EQ(log.find("TELEMETRY:"), std::string::npos) << "refused before EAL started: " << log;
  EXPECT_FALSE(std::filesystem::exists(own_runtime_dir(pid)));
}

// A single pass streams the capture through a pool sized for the workers,
// not for the file (a 1 GB capture sized a pool for every packet and failed).
TEST(DpReplay, ACaptureLargerThanThePoolStreamsThroughIt) {
  TempDir dir;
  ASSERT_EQ(run(binary("ftzgate-gen") + " bench --small-packets --flows 3000 --packets-per-flow 8 --out " +
                dir.file("many.pcap"))
                .status,
            0);
  const RunResult r = run_dp("--config " + source_dir() + "/examples/minimal.yaml --pcap-in " +
                             dir.file("many.pcap") + " --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json s = read_json(dir.file("stats.json"));
  const uint64_t packets = s["report"]["packets"];
  EXPECT_EQ(packets, 24'000u);
  EXPECT_LT(s["mempool"]["mbufs"].get<uint64_t>(), packets) << "the pool did not grow with the capture";
  EXPECT_EQ(s["replay"]["packets"], packets);
  EXPECT_EQ(s["ports"][0]["rx_packets"], packets) << "the replay enters on the inside port";
  EXPECT_EQ(s["workers"][0]["forwarded"], packets);
  EXPECT_EQ(s["report"]["flows"]["created"], 3000);
  EXPECT_EQ(s["report"]["flows"]["peak_concurrent"], 3000)
      << "every flow is still open at the end of the capture";
}

// Two counters the fast path reported wrong: eth_truncated (reason 0) was
// never listed in --stats, and the report's peak was the flows active at
// exit (always 0).
TEST(DpStats, ReportEthTruncatedAndThePeakOfConcurrentFlows) {
  TempDir dir;
  std::vector<Bytes> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(udp(true, std::nullopt, i));
  frames.push_back(Bytes(10, 0xab));  // shorter than an Ethernet header
  write_pcap(dir.file("in.pcap"), frames);
  const RunResult r = run_dp("--config " + source_dir() + "/examples/minimal.yaml --pcap-in " +
                             dir.file("in.pcap") + " --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  const nlohmann::json s = read_json(dir.file("stats.json"));
  EXPECT_EQ(s["workers"][0]["reasons"].value("eth_truncated", uint64_t{0}), 1u)
      << s["workers"][0]["reasons"].dump();
  EXPECT_EQ(s["report"]["reasons"]["eth_truncated"], 1);
  EXPECT_EQ(s["workers"][0]["reasons"], s["report"]["reasons"]) << "one worker: the same counts, every key";
  EXPECT_EQ(s["workers"][0]["records"], s["report"]["records"]);
  EXPECT_EQ(s["report"]["flows"]["peak_concurrent"], 1);
  EXPECT_NE(r.output.find("peak concurrent    1 of "), std::string::npos) << r.output;
  // Starting on the first generation is not a reload: no reload gap.
  EXPECT_EQ(s["reload"]["reloads"], 0);
  EXPECT_EQ(s["reload"]["max_burst_gap_us"], 0.0);
  EXPECT_GT(s["workers"][0]["path"]["max_burst_gap_us"].get<double>(), 0.0);
  // The path object's keys are documented API (docs/dpdk.md); its drop
  // counters come from the reason registry (reasons/path.def), every one
  // present, zero or not.
  std::set<std::string> keys;
  for (const auto& [k, v] : s["workers"][0]["path"].items()) keys.insert(k);
  const std::set<std::string> documented = {"rx",
                                            "tx",
                                            "tx_dropped",
                                            "tx_full_bursts",
                                            "no_egress",
                                            "routed",
                                            "route_failed",
                                            "trimmed",
                                            "trim_failed",
                                            "mirrored",
                                            "mirror_nombuf",
                                            "resets_sent",
                                            "reset_nombuf",
                                            "channel_vlan_stripped",
                                            "offload_requests",
                                            "offload_requests_dropped",
                                            "offload_requests_repeated",
                                            "generation",
                                            "peak_flows",
                                            "idle_sleeps",
                                            "max_burst_gap_us",
                                            "reload_burst_gap_us"};
  EXPECT_EQ(keys, documented);
}

// A classic pcap whose header declares a snap length below what its records
// hold: libpcap (and net_pcap through it) cut them silently; the replay
// reads them whole, like ftzgate-inspect, and says so. --loop goes through
// net_pcap and refuses such a capture.
TEST(DpReplay, RecordsLongerThanTheSnapLengthAreReadWholeOrRefused) {
  TempDir dir;
  std::vector<Bytes> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(udp(true, std::nullopt, i));
  Bytes big = test::PacketBuilder()
                  .eth()
                  .ipv4("10.0.0.1", "203.0.113.10")
                  .udp(5000, 8001)
                  .payload(std::string(300, 'x'))
                  .build();
  frames.push_back(big);
  std::vector<test::PcapRecord> records;
  uint64_t t = 1'772'413'200;
  for (const Bytes& fr : frames) records.push_back({t++ * 1'000'000'000, 0, fr});
  ASSERT_TRUE(test::write_pcap_over_snaplen(dir.file("lying.pcap"), records, 128));
  const RunResult r =
      run_dp("--config " + source_dir() + "/examples/minimal.yaml --pcap-in " + dir.file("lying.pcap") +
             " --pcap-out " + dir.file("out") + " --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("warning: " + dir.file("lying.pcap") +
                          ": 1 record is longer than the file's snap length 128"),
            std::string::npos)
      << r.output;
  const nlohmann::json s = read_json(dir.file("stats.json"));
  EXPECT_EQ(s["report"]["records_over_snaplen"], 1);
  EXPECT_EQ(s["report"]["reasons"]["capture_truncated"], 0) << "judged whole, not as a cut frame";
  EXPECT_EQ(s["report"]["bytes"].get<uint64_t>(), 3 * frames[0].size() + big.size());
  const std::vector<Bytes> out = frames_of(dir.file("out/outside.pcap"));
  ASSERT_EQ(out.size(), frames.size());
  EXPECT_EQ(out.back(), big) << "forwarded whole";

  const RunResult loop = run_dp("--config " + source_dir() + "/examples/minimal.yaml --pcap-in " +
                                dir.file("lying.pcap") + " --loop --duration 1");
  EXPECT_EQ(loop.status, 1) << loop.output;
  EXPECT_NE(loop.output.find("--loop replays through net_pcap, which cuts them to the snap length"),
            std::string::npos)
      << loop.output;
}

// Adaptive polling (idle_sleep_us, lab profiles): an idle worker sleeps
// instead of spinning; a hardware profile (0) never does. Measured CPU time
// is in docs/dpdk.md; here the sleeps are counted and the CPU time of the
// whole process over 2 s compared, with and without.
TEST(DpPolling, IdleWorkerSleepsOnlyWhenTheProfileAsks) {
  TempDir dir;
  const std::string cfg = dir.file("policy.yaml");
  std::ofstream(cfg) << kAllowConfig;
  double cpu[2] = {0, 0};
  for (const uint32_t sleep_us : {0u, 100u}) {
    const std::string profile = dir.file("idle" + std::to_string(sleep_us) + ".yaml");
    std::ofstream(profile)
        << "profile: idle\nworkers: 1\nidle_sleep_us: " << sleep_us
        << "\noffload: {drop_rules: 0}\nports:\n"
           "  - {name: ge-0/0/0, device: net_null0, devargs: no-rx=1, role: inside, pair: ge-0/0/1}\n"
           "  - {name: ge-0/0/1, device: net_null1, devargs: no-rx=1, role: outside, pair: ge-0/0/0}\n";
    const std::string stats = dir.file("stats" + std::to_string(sleep_us) + ".json");
    rusage before{};
    getrusage(RUSAGE_CHILDREN, &before);
    const RunResult r =
        run_dp("--config " + cfg + " --profile " + profile + " --duration 2 --stats " + stats);
    rusage after{};
    getrusage(RUSAGE_CHILDREN, &after);
    ASSERT_EQ(r.status, 0) << r.output;
    const auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    cpu[sleep_us == 0 ? 0 : 1] =
        secs(after.ru_utime) - secs(before.ru_utime) + secs(after.ru_stime) - secs(before.ru_stime);
    const uint64_t sleeps = read_json(stats)["workers"][0]["path"]["idle_sleeps"];
    if (sleep_us == 0) {
      EXPECT_EQ(sleeps, 0u);
    } else {
      EXPECT_GT(sleeps, 1000u) << "2 s idle with sleeps of at most 100 us";
    }
  }
  std::cout << "CPU seconds over 2 s idle: busy polling " << cpu[0] << ", adaptive " << cpu[1] << "\n";
  EXPECT_LT(cpu[1], cpu[0]) << "the sleeping worker uses less CPU";
}

TEST(DpTelemetry, CommandsAnswerThroughDpdkTelemetryPy) {
  TempDir dir;
  ASSERT_EQ(run(binary("ftzgate-gen") + " bench --flows 50 --out " + dir.file("bench.pcap")).status, 0);
  FilePrefix prefix("telemetry");
  const std::string cmd = binary("ftzgate-dp") + " --config " + source_dir() +
                          "/examples/minimal.yaml --pcap-in " + dir.file("bench.pcap") +
                          " --loop --duration 4 -- --file-prefix " + prefix.name() + " --log-level=*:warning";
  const pid_t pid = spawn(cmd, "/dev/null");
  ASSERT_GE(pid, 0);
  RunResult q;
  auto replies = wait_for_traffic(prefix.name(), &q);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(replies["/ftzgate/stats"].is_object()) << q.output;
  EXPECT_GT(replies["/ftzgate/stats"]["packets"].get<uint64_t>(), 0u) << q.output;
  EXPECT_GT(replies["/ftzgate/stats"]["port_rx_packets"].get<uint64_t>(), 0u);
  ASSERT_TRUE(replies["/ftzgate/workers"].is_object()) << q.output;
  EXPECT_TRUE(replies["/ftzgate/workers"].contains("worker0")) << q.output;
  ASSERT_TRUE(replies["/ftzgate/generation"].is_object()) << q.output;
  EXPECT_EQ(replies["/ftzgate/generation"]["generation"], 1);
}

// A network namespace for one test, deleted with the object.
class Netns {
 public:
  explicit Netns(const std::string& tag) : name_("ftz-" + tag + "-" + std::to_string(getpid())) {
    ok_ = run("ip netns add " + name_).status == 0 &&
          run("ip netns exec " + name_ + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1").status == 0;
  }
  ~Netns() { run("ip netns del " + name_); }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::string exec(const std::string& cmd) const {
    return "ip netns exec " + name_ + " " + cmd;
  }

 private:
  std::string name_;
  bool ok_ = false;
};

// A port whose TX queue refuses frames (here the mirror port: the kernel
// side of its TAP is down, so every write fails) neither stalls the worker
// nor loses a frame uncounted: what it refuses is dropped and counted
// against it (tx_full_dropped), and the inside/outside pair keeps
// forwarding every frame. Issue 9: drop-and-count per port instead of the
// up-to-1 ms TX spin. (That nothing waits is not timed here: a worker
// preempted on a loaded test machine would make a time bound flaky.)
TEST(DpTx, AFullPortDropsAndCountsAndTheOtherPortsKeepForwarding) {
  Netns ns("txfull");
  ASSERT_TRUE(ns.ok()) << "cannot create a network namespace";
  TempDir dir;
  std::ofstream(dir.file("policy.yaml"))
      << "zones:\n"
         "  - {name: inside, kind: ftz, prefixes: [198.18.0.0/16]}\n"
         "  - {name: offshore, kind: offshore, default: true}\n"
         "rules:\n"
         "  - {name: watched, match: {dst_port: 7}, action: allow, mirror: true}\n"
         "defaults:\n"
         "  - {src_zone: inside, dst_zone: offshore, action: allow}\n";
  const std::string t = "tf" + std::to_string(getpid() % 100000);  // TAP names: t + i, o, m
  std::ofstream(dir.file("profile.yaml")) << "profile: tap-mirror\nworkers: 1\nports:\n"
                                             "  - {name: ge-0/0/0, device: net_tap0, devargs: iface=" +
                                                 t +
                                                 "i, role: inside, pair: ge-0/0/1}\n"
                                                 "  - {name: ge-0/0/1, device: net_tap1, devargs: iface=" +
                                                 t +
                                                 "o, role: outside, pair: ge-0/0/0}\n"
                                                 "  - {name: ge-0/0/2, device: net_tap2, devargs: iface=" +
                                                 t + "m, role: mirror}\n";
  FilePrefix prefix("txfull");
  const pid_t pid =
      spawn(ns.exec(binary("ftzgate-dp") + " --config " + dir.file("policy.yaml") + " --profile " +
                    dir.file("profile.yaml") + " --duration 60 --stats " + dir.file("stats.json") +
                    " -- --file-prefix " + prefix.name() + " --log-level=*:warning"),
            dir.file("dp.log"));
  ASSERT_GE(pid, 0);
  // The mirror's kernel side goes down once the ports are up; then 200
  // mirrored frames (port 7) and 100 plain ones go in through the inside
  // port while a sniffer counts what the outside port delivers.
  const std::string send =
      "import time, subprocess\n"
      "from scapy.all import Ether, IP, UDP, sendp, AsyncSniffer\n"
      "def up(name):\n"
      "    r = subprocess.run(['ip', '-o', 'link', 'show', name], capture_output=True, text=True)\n"
      "    return r.returncode == 0 and ',UP' in r.stdout\n"
      "for _ in range(600):\n"
      "    if up('" +
      t + "i') and up('" + t + "o') and up('" + t +
      "m'): break\n"
      "    time.sleep(0.1)\n"
      "time.sleep(0.5)\n"
      "subprocess.run(['ip', 'link', 'set', '" +
      t +
      "m', 'down'], check=True)\n"
      "sniffer = AsyncSniffer(iface='" +
      t +
      "o', filter='udp and src host 198.18.0.1', store=True)\n"
      "sniffer.start()\n"
      "time.sleep(1)\n"
      "frames = []\n"
      "for i in range(100):\n"
      "    frames += [Ether()/IP(src='198.18.0.1', dst='198.19.0.1')/UDP(sport=5000 + i, dport=7)/b'x'] * 2\n"
      "    frames.append(Ether()/IP(src='198.18.0.1', dst='198.19.0.2')/UDP(sport=6000 + i, dport=9)/b'y')\n"
      "sendp(frames, iface='" +
      t +
      "i', verbose=0)\n"
      "time.sleep(1)\n"
      "sniffer.stop()\n"
      "print('delivered', len(sniffer.results))\n";
  std::ofstream(dir.file("send.py")) << send;
  const RunResult sent = run(ns.exec("/usr/bin/python3 " + dir.file("send.py")));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(sent.status, 0) << sent.output;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(dir.file("dp.log"));
  EXPECT_NE(sent.output.find("delivered 300"), std::string::npos) << sent.output;

  const nlohmann::json s = read_json(dir.file("stats.json"));
  const auto& ports = s["ports"];
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0]["rx_packets"], 300);
  EXPECT_EQ(ports[1]["tx_packets"], 300) << "the pair forwards every frame";
  EXPECT_EQ(ports[1]["tx_full_dropped"], 0);
  EXPECT_EQ(ports[2]["tx_packets"], 0);
  EXPECT_EQ(ports[2]["tx_full_dropped"], 200) << "every refused mirror copy is counted against its port";
  EXPECT_EQ(s["workers"][0]["forwarded"], 300);
}

TEST(DpWorkers, TwoWorkersOnMultiQueueTapKeepBothDirectionsOfEachFlowTogether) {
  Netns ns("workers");
  ASSERT_TRUE(ns.ok()) << "cannot create a network namespace";
  TempDir dir;
  std::ofstream(dir.file("policy.yaml")) << "zones:\n"
                                            "  - {name: inside, kind: ftz, prefixes: [198.18.0.0/16]}\n"
                                            "  - {name: offshore, kind: offshore, default: true}\n"
                                            "defaults:\n"
                                            "  - {src_zone: inside, dst_zone: offshore, action: allow}\n";
  const std::string tap = std::to_string(getpid() % 100000);
  std::ofstream(dir.file("profile.yaml")) << "profile: tap-2w\nworkers: 2\nports:\n"
                                             "  - {name: ge-0/0/0, device: net_tap0, devargs: iface=fi" +
                                                 tap +
                                                 ", role: inside, pair: ge-0/0/1}\n"
                                                 "  - {name: ge-0/0/1, device: net_tap1, devargs: iface=fo" +
                                                 tap + ", role: outside, pair: ge-0/0/0}\n";
  FilePrefix prefix("workers");
  const std::string cmd =
      ns.exec(binary("ftzgate-dp") + " --config " + dir.file("policy.yaml") + " --profile " +
              dir.file("profile.yaml") + " --duration 60 --stats " + dir.file("stats.json") + " --eve " +
              dir.file("eve.json") + " -- --file-prefix " + prefix.name() + " --log-level=*:warning");
  const pid_t pid = spawn(cmd, dir.file("dp.log"));
  ASSERT_GE(pid, 0);
  // The kernel side of the TAP ports: 16 UDP flows, each once per direction
  // (requests into the inside port, replies into the outside port).
  const std::string send =
      "import time, subprocess\n"
      "from scapy.all import Ether, IP, UDP, sendp\n"
      "def up(name):\n"
      "    r = subprocess.run(['ip', '-o', 'link', 'show', name], capture_output=True, text=True)\n"
      "    return r.returncode == 0 and ',UP' in r.stdout\n"
      "for _ in range(600):\n"  // a loaded host takes a while to start the EAL and compile the policy
      "    if up('fi" +
      tap + "') and up('fo" + tap +
      "'): break\n"
      "    time.sleep(0.1)\n"
      "time.sleep(0.5)\n"
      "for i in range(16):\n"
      "    c, s = '198.18.0.%d' % (10 + i), '198.19.%d.1' % i\n"
      "    sendp(Ether()/IP(src=c, dst=s)/UDP(sport=4000 + i, dport=53)/b'q', iface='fi" +
      tap +
      "', verbose=0)\n"
      "    sendp(Ether()/IP(src=s, dst=c)/UDP(sport=53, dport=4000 + i)/b'a', iface='fo" +
      tap + "', verbose=0)\n";
  std::ofstream(dir.file("send.py")) << send;
  const RunResult sent = run(ns.exec("/usr/bin/python3 " + dir.file("send.py")));
  // Give the workers a moment with the last frames, then stop the run (it
  // writes its flow records and --stats on the way out).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_EQ(sent.status, 0) << sent.output;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(dir.file("dp.log"));

  const nlohmann::json s = read_json(dir.file("stats.json"));
  EXPECT_TRUE(s["ports"][0]["hw_rss"].get<bool>()) << "the TAP port spreads its 2 queues";
  uint64_t flows = 0;
  for (const auto& w : s["workers"]) {
    flows += w["flows_created"].get<uint64_t>();
    EXPECT_GT(w["packets"].get<uint64_t>(), 0u) << "both workers received traffic: " << s["workers"].dump();
  }
  EXPECT_EQ(flows, 16u) << "a flow split over two workers would count twice";
  int both_ways = 0;
  for (const auto& e : read_eve(dir.file("eve.json"))) {
    if (e["event_type"] == "flow" && e["flow"]["pkts_toserver"] == 1 && e["flow"]["pkts_toclient"] == 1)
      ++both_ways;
  }
  EXPECT_EQ(both_ways, 16);
}

}  // namespace
}  // namespace ftz::dptest
