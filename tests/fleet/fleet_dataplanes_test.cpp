// A fleet as issue 14 §4 runs it: a 3-member etcd cluster, three ftzgated,
// and under each its own ftzgate-dp on a capture (net_pcap, --loop),
// trusting only its own ftzgated. A commit on any member is ACKed by every
// data plane at the same generation and changes their verdicts; the etcd
// leader killed, commits go on after the election; a member cut off from
// etcd keeps its data plane forwarding on its last generation, refuses
// commits and resyncs when etcd is back; kill -9 of a member's ftzgated or
// data plane is followed by the same state on restart; and nothing etcd
// holds carries an identifier of the traffic (tests/fleet/no_identifiers.py).
#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "dp_runner.hpp"
#include "ftz/test/etcd.hpp"
#include "ftz/test/gen/bench.hpp"
#include "member.hpp"

namespace {

using ftz::fleettest::Member;
using ftz::fleettest::row;
using ftz::test::EtcdCluster;
using ftz::test::read_text;
using ftz::test::RunResult;
using ftz::test::TempDir;

// The data planes' counters as their member last heard them (every 5 s).
uint64_t counter(const nlohmann::json& dataplane, const char* name) {
  return dataplane.contains("stats") ? dataplane["stats"].value(name, uint64_t{0}) : 0;
}

class FleetDataplanes : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.start()) << read_text(etcd_.log(0));
    ftz::test::gen::BenchOptions bench;
    bench.out_path = dir_.file("bench.pcap");
    bench.flows = 200;
    bench.pi_percent = 30;  // resident IDs the data planes count (none may reach etcd)
    ASSERT_TRUE(ftz::test::gen::write_bench(bench).has_value());
    std::ofstream(dir_.file("allow.yaml")) << ftz::dptest::kAllowConfig;
    for (int i = 0; i < 3; ++i) {
      // m2 reaches etcd only through etcd member 2: stopping that one cuts
      // m2 off while the cluster keeps its quorum.
      members_[i] = std::make_unique<Member>(dir_, i, i == 2 ? etcd_.endpoint(2) : etcd_.endpoints());
      members_[i]->init(dir_.file("allow.yaml"));
    }
    for (auto& m : members_) m->start();
    for (auto& m : members_) m->start_dp(dir_.file("bench.pcap"));
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& m : members_) {
        std::fprintf(stderr, "--- %s\n%s--- %s\n%s", m->log().c_str(), read_text(m->log()).c_str(),
                     m->dp_log().c_str(), read_text(m->dp_log()).c_str());
      }
    }
  }
  // `text` committed by alice on member `i` (retried while etcd elects).
  RunResult commit(int i, const std::string& text, int attempts = 1) {
    const std::string file = dir_.file("candidate-" + std::to_string(i) + ".yaml");
    std::ofstream(file) << text;
    RunResult r = members_[i]->ctl("load " + file);
    if (r.status != 0) return r;
    for (int n = 0; n < attempts; ++n) {
      r = members_[i]->ctl("commit");
      if (r.status == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return r;
  }
  void expect_all_ack(uint64_t generation, const std::vector<int>& which = {0, 1, 2}) {
    for (int i : which) {
      EXPECT_TRUE(members_[i]->reaches(generation)) << members_[i]->name();
      EXPECT_TRUE(members_[i]->dataplane_acks(generation))
          << members_[i]->name() << ": " << members_[i]->dataplane_shown();
    }
  }

  TempDir dir_{"fleet-dp"};
  EtcdCluster etcd_{dir_, 3};
  std::array<std::unique_ptr<Member>, 3> members_;
};

// `kBlockConfig` (HTTP to offshore blocked) with a comment line `tag`, so
// that each commit is a new configuration.
std::string block(const std::string& tag) {
  return std::string(ftz::dptest::kBlockConfig) + "# " + tag + "\n";
}
std::string allow(const std::string& tag) {
  return std::string(ftz::dptest::kAllowConfig) + "# " + tag + "\n";
}

TEST_F(FleetDataplanes, EveryDataplaneAcksTheFleetsGenerationThroughLeaderLossCutOffAndKills) {
  // How long each step took, in the log (a slow step is a lead).
  auto mark = std::chrono::steady_clock::now();
  const auto took = [&mark](const char* step) {
    const auto now = std::chrono::steady_clock::now();
    std::printf("%s: %.1f s\n", step, std::chrono::duration<double>(now - mark).count());
    mark = now;
  };
  expect_all_ack(1);
  took("every data plane on generation 1");
  // 1. A commit on m1: every data plane ACKs generation 2 and blocks.
  ASSERT_EQ(commit(1, block("g2")).status, 0);
  expect_all_ack(2);
  const auto fleet = ftz::fleettest::show_fleet(*members_[0], [](const nlohmann::json& j) {
    return j["members"].size() == 3 && row(j, "m0")["dataplanes_current"] == 1 &&
           row(j, "m1")["dataplanes_current"] == 1 && row(j, "m2")["dataplanes_current"] == 1 &&
           row(j, "m2")["running_generation"] == 2;
  });
  for (const char* m : {"m0", "m1", "m2"}) {
    EXPECT_EQ(row(fleet, m)["running_generation"], 2) << fleet;
    EXPECT_EQ(row(fleet, m)["dataplanes_current"], 1) << fleet;
    EXPECT_EQ(row(fleet, m)["lag_s"], 0) << fleet;
  }
  for (auto& m : members_) {
    nlohmann::json d;
    for (int n = 0; n < 60 && counter(d, "dropped") == 0; ++n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      d = m->dataplane_shown();
    }
    EXPECT_GT(counter(d, "dropped"), 0U) << m->name() << " does not block under generation 2: " << d;
  }
  took("1. a commit on m1");

  // 2. The etcd leader killed: the next commit goes through after the
  // election, and every data plane follows.
  const int leader = etcd_.leader();
  ASSERT_GE(leader, 0);
  etcd_.kill(leader);
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult after_leader = commit(0, allow("g3"), 100);
  ASSERT_EQ(after_leader.status, 0) << after_leader.output;
  std::printf("etcd leader %d killed: a commit succeeded after %.1f s\n", leader,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  ASSERT_TRUE(etcd_.restart(leader)) << read_text(etcd_.log(leader));
  expect_all_ack(3);
  // (What the others will show of m2 once it is cut off: its last report.)
  const auto reported = ftz::fleettest::show_fleet(*members_[0], [](const nlohmann::json& j) {
    return row(j, "m2")["running_generation"] == 3 && row(j, "m2")["dataplanes_current"] == 1;
  });
  ASSERT_EQ(row(reported, "m2")["running_generation"], 3) << reported;
  took("2. the etcd leader killed");

  // 3. m2 cut off from etcd: its data plane keeps forwarding on generation
  // 3, its commits are refused, the fleet goes on without it.
  etcd_.kill(2);
  ASSERT_EQ(commit(0, block("g4"), 100).status, 0);
  expect_all_ack(4, {0, 1});
  const RunResult refused = commit(2, allow("local"));
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("nothing committed"), std::string::npos) << refused.output;
  EXPECT_EQ(members_[2]->running().first, 3U);
  const auto before = members_[2]->dataplane_shown();
  nlohmann::json later = before;
  for (int n = 0; n < 60 && counter(later, "packets") <= counter(before, "packets"); ++n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    later = members_[2]->dataplane_shown();
  }
  EXPECT_GT(counter(later, "packets"), counter(before, "packets")) << "m2's data plane stopped: " << later;
  EXPECT_EQ(later.value("running_generation", 0), 3) << later;
  const auto cut = ftz::fleettest::show_fleet(
      *members_[0], [](const nlohmann::json& j) { return row(j, "m2")["etcd_connected"] == false; });
  EXPECT_EQ(row(cut, "m2")["etcd_connected"], false) << cut;
  EXPECT_EQ(row(cut, "m2")["running_generation"], 3) << cut;
  // etcd member 2 back: m2 resyncs, its data plane ACKs generation 4.
  ASSERT_TRUE(etcd_.restart(2)) << read_text(etcd_.log(2));
  expect_all_ack(4, {2});
  took("3. m2 cut off from etcd and back");

  // 4. kill -9 of m1's ftzgated and m0's data plane; a commit on m2 while
  // they are down; both come back to the fleet's generation.
  members_[1]->kill(SIGKILL);
  members_[0]->stop_dp(SIGKILL);
  ASSERT_EQ(commit(2, allow("g5"), 100).status, 0);
  EXPECT_TRUE(members_[2]->dataplane_acks(5));
  members_[1]->start();
  members_[0]->start_dp(dir_.file("bench.pcap"));
  expect_all_ack(5);
  for (auto& m : members_) EXPECT_EQ(m->running().second, members_[2]->running().second) << m->name();
  took("4. kill -9 of a ftzgated and a data plane");

  // 5. Nothing etcd holds carries an identifier of the traffic the data
  // planes inspected (the capture's IDs found by an independent script).
  const RunResult scan = ftz::fleettest::scan_etcd_for_identifiers(etcd_, dir_, dir_.file("bench.pcap"));
  EXPECT_EQ(scan.status, 0) << scan.output;
  std::printf("%s", scan.output.c_str());
}

}  // namespace
