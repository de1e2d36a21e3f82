// ftzgate-dp's records and outputs, as an operator runs it on a capture:
// every flow record written when 12,000 flows end together, a blocked EVE
// sink that does not stall forwarding, write errors
// that are errors (counted, logged, exit status 1), outputs that would
// overwrite the capture refused, log lines masked, and the published demo
// token key used only with --demo-token-key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "dp_runner.hpp"

namespace ftz::dptest {
namespace {

namespace fs = std::filesystem;

// ftzgate-gen bench --small-packets: N UDP flows of 2 frames, all ending at
// the end of the capture.
std::string udp_flows(const TempDir& dir, int flows) {
  const std::string pcap = dir.file("udp.pcap");
  const auto r = run(binary("ftzgate-gen") + " bench --small-packets --packets-per-flow 2 --flows " +
                     std::to_string(flows) + " --out " + pcap);
  EXPECT_EQ(r.status, 0) << r.output;
  return pcap;
}

TEST(DpRecords, TwelveThousandFlowsEndingTogetherAllHaveRecords) {
  TempDir dir;
  const std::string pcap = udp_flows(dir, 12'000);
  const auto r = run_dp("--config " + test::write_plain_config(dir) + " --demo-token-key --pcap-in " + pcap +
                        " --eve " + dir.file("eve.json") + " --stats " + dir.file("stats.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  size_t flows = 0;
  for (const auto& e : read_eve(dir.file("eve.json"))) flows += e["event_type"] == "flow";
  EXPECT_EQ(flows, 12'000u);
  const auto stats = nlohmann::json::parse(read_text(dir.file("stats.json")));
  const auto& records = stats["workers"][0]["records"];
  EXPECT_EQ(records["written"], 12'000) << records;
  EXPECT_EQ(records["lost"], 0) << records;
  EXPECT_EQ(records["backlog_now"], 0) << records;
  EXPECT_GE(records["waits"], 1) << "12,000 records through a ring of 4,096 must have waited";
  EXPECT_EQ(stats["report"]["events_dropped"], 0);
}

// The logger thread (ARCHITECTURE.md step 9): an EVE sink that does not
// take its lines — a FIFO nobody reads yet — stalls only the logger. The
// single-pass replay (the main lcore distributes it, like a port without
// RSS) is judged to its last packet while the FIFO is full, and once a
// reader comes every record arrives: none lost.
TEST(DpRecords, BlockedEveSinkDoesNotStallForwarding) {
  TempDir dir;
  const std::string pcap = dir.file("bench.pcap");
  const auto gen = run(binary("ftzgate-gen") + " bench --flows 1000 --out " + pcap);
  ASSERT_EQ(gen.status, 0) << gen.output;
  // "bench.pcap: 1000 flows (...), N packets, ..."
  const size_t comma = gen.output.find("), ");
  ASSERT_NE(comma, std::string::npos) << gen.output;
  const uint64_t packets = std::stoull(gen.output.substr(comma + 3));
  const std::string fifo = dir.file("eve.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opened for reading (so the writer's open succeeds) and not read: the
  // pipe fills after 64 KiB, about 130 of the 2,000 events.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  FilePrefix prefix("logger");
  const std::string cmd = binary("ftzgate-dp") + " --config " + test::write_plain_config(dir) +
                          " --demo-token-key --pcap-in " + pcap + " --eve " + fifo + " --stats " +
                          dir.file("stats.json") + " -- --file-prefix " + prefix.name() +
                          " --log-level=*:warning";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >" + dir.file("dp.log") + " 2>&1").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  uint64_t judged = 0;
  RunResult q;
  for (int attempt = 0; attempt < 100 && judged < packets; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto replies = telemetry(prefix.name(), &q);
    if (replies["/ftzgate/stats"].is_object())
      judged = replies["/ftzgate/stats"].value("packets", uint64_t{0});
  }
  // The sink stays blocked a while longer, so the logger's write provably
  // waited (the pipe may fill only as the last flows end: reading at once
  // made the wait as short as the last poll interval, ~94 ms once).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  // Now read everything: the run ends (its flows end as the logger drains).
  ASSERT_EQ(::fcntl(reader, F_SETFL, 0), 0);
  std::string eve;
  char buf[65536];
  for (ssize_t n; (n = ::read(reader, buf, sizeof buf)) > 0;) eve.append(buf, static_cast<size_t>(n));
  ::close(reader);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(judged, packets) << "the replay stalled behind the blocked EVE sink\n" << q.output;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(dir.file("dp.log"));
  size_t flows = 0, http = 0;
  std::istringstream lines(eve);
  for (std::string line; std::getline(lines, line);) {
    const auto e = nlohmann::json::parse(line);
    flows += e["event_type"] == "flow";
    http += e["event_type"] == "http";
  }
  const auto stats = nlohmann::json::parse(read_text(dir.file("stats.json")));
  const auto& records = stats["workers"][0]["records"];
  EXPECT_EQ(flows, 1000u);
  EXPECT_EQ(records["written"], 1000) << records;
  EXPECT_EQ(records["lost"], 0) << records;
  // App events dropped on a full queue are counted; none here (4,096 slots).
  EXPECT_EQ(http + stats["report"]["events_dropped"].get<size_t>(), 1000u);
  EXPECT_EQ(stats["report"]["packets"], packets);
  EXPECT_GT(stats["outputs"]["eve_max_write_us"].get<uint64_t>(), 100'000u)
      << "a write waited for the reader: the sink was blocked";
}

TEST(DpRecords, WriteErrorsAreCountedLoggedAndFailTheRun) {
  TempDir dir;
  const std::string pcap = udp_flows(dir, 50);
  const std::string base =
      "--config " + test::write_plain_config(dir) + " --demo-token-key --pcap-in " + pcap;
  const auto eve = run_dp(base + " --eve /dev/full --stats " + dir.file("stats.json"));
  EXPECT_EQ(eve.status, 1) << eve.output;
  EXPECT_NE(eve.output.find("/dev/full: write failed: No space left on device"), std::string::npos)
      << eve.output;
  EXPECT_NE(eve.output.find("event lines not written"), std::string::npos) << eve.output;
  const auto stats = nlohmann::json::parse(read_text(dir.file("stats.json")));
  EXPECT_GE(stats["outputs"]["eve_write_errors"], 1) << stats["outputs"];
  EXPECT_EQ(stats["outputs"]["eve_lines_lost"], 50) << stats["outputs"];

  const auto st = run_dp(base + " --stats /dev/full");
  EXPECT_EQ(st.status, 1) << st.output;
  EXPECT_NE(st.output.find("cannot write statistics: /dev/full: write failed"), std::string::npos)
      << st.output;
}

// net_pcap reports no write error: a --pcap-out file shorter than what its
// port sent is caught at exit. A small tmpfs in a mount namespace of its own
// plays the full disk.
TEST(DpRecords, PcapOutOnAFullDiskFailsTheRun) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs (CI runs as root)";
  TempDir dir;
  const std::string pcap = udp_flows(dir, 400);
  fs::create_directories(dir.file("small"));
  FilePrefix prefix("records");
  const std::string cmd = "unshare -m sh -c 'mount -t tmpfs -o size=16k none " + dir.file("small") +
                          " && exec " + binary("ftzgate-dp") + " --config " + test::write_plain_config(dir) +
                          " --demo-token-key --pcap-in " + pcap + " --pcap-out " + dir.file("small") +
                          " -- --file-prefix " + prefix.name() + " --log-level=*:warning'";
  const auto r = run(cmd);
  if (r.output.find("mount:") != std::string::npos || r.output.find("unshare:") != std::string::npos) {
    GTEST_SKIP() << "no mount namespace here: " << r.output;
  }
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("outside.pcap: write failed: the file holds"), std::string::npos) << r.output;
}

TEST(DpRecords, OutputsNeverOverwriteTheCapture) {
  TempDir dir;
  const std::string pcap = udp_flows(dir, 10);
  const std::string before = read_text(pcap);
  ASSERT_EQ(::symlink(pcap.c_str(), dir.file("link.pcap").c_str()), 0);
  const std::string base =
      "--config " + test::write_plain_config(dir) + " --demo-token-key --pcap-in " + pcap;
  for (const std::string& args : {base + " --eve " + pcap, base + " --stats " + dir.file("link.pcap")}) {
    const auto r = run_dp(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("would destroy the input"), std::string::npos) << r.output;
  }
  // --pcap-out DIR writes DIR/inside.pcap: a capture there is refused.
  fs::create_directories(dir.file("ports"));
  fs::copy_file(pcap, dir.file("ports/inside.pcap"));
  const auto in_dir = run_dp("--config " + test::write_plain_config(dir) + " --pcap-in " +
                             dir.file("ports/inside.pcap") + " --pcap-out " + dir.file("ports"));
  EXPECT_EQ(in_dir.status, 2) << in_dir.output;
  EXPECT_TRUE(read_text(pcap) == before);
  EXPECT_TRUE(read_text(dir.file("ports/inside.pcap")) == before);
}

TEST(DpRecords, DemoKeyOnlyWithTheOptionAndLogsMasked) {
  TempDir dir;
  const std::string pcap = udp_flows(dir, 10);
  const std::string cfg = test::write_plain_config(dir);
  const auto demo = run_dp("--config " + cfg + " --demo-token-key --pcap-in " + pcap);
  EXPECT_EQ(demo.status, 0) << demo.output;
  EXPECT_NE(demo.output.find("used because --demo-token-key was given"), std::string::npos) << demo.output;
  EXPECT_FALSE(fs::exists(dir.file("cfg/state/token.key")));
  const auto own = run_dp("--config " + cfg + " --pcap-in " + pcap);
  EXPECT_EQ(own.status, 0) << own.output;
  EXPECT_NE(own.output.find("is the published demo key: not used"), std::string::npos) << own.output;
  EXPECT_NE(own.output.find("generated a new token key"), std::string::npos) << own.output;
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("cfg/state/token.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A log line with an identifier in it (here a file name) is masked.
  const auto masked = run_dp("--config " + cfg + " --pcap-in " + dir.file("13812345678.pcap"));
  EXPECT_EQ(masked.status, 1) << masked.output;
  EXPECT_NE(masked.output.find("138****5678.pcap"), std::string::npos) << masked.output;
  EXPECT_EQ(masked.output.find("13812345678"), std::string::npos) << masked.output;
  // So are the report and --stats (every string of the JSON, numbers stay).
  const std::string named = dir.file("11010519491231002X.pcap");
  fs::copy_file(pcap, named);
  const auto run = run_dp("--config " + cfg + " --demo-token-key --pcap-in " + named + " --stats " +
                          dir.file("stats.json"));
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_EQ(run.output.find("11010519491231002X"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("110105********002X.pcap"), std::string::npos) << run.output;
  const std::string stats = read_text(dir.file("stats.json"));
  EXPECT_EQ(stats.find("11010519491231002X"), std::string::npos) << "identifier in clear in --stats";
  EXPECT_NE(stats.find("110105********002X.pcap"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(stats)["workers"][0]["records"]["written"], 10);
}

}  // namespace
}  // namespace ftz::dptest
