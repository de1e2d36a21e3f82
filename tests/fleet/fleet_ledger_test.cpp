// One count for a fleet (issue 14 §2 and §4, decision 0023): three members,
// each with its data plane on a capture of the Lin-gang scenario. m0's data
// plane sees the people of seed 1, m1's those of seed 2, m2's those of
// seed 3 and the first twentieth of seed 1's traffic again: most people reach
// the fleet through one member only, some through two. The fleet's count
// (`show compliance fleet`) must be the count of one appliance that saw
// all of it (ftzgate-inspect on the three seeds, the oracle: it shares no
// code path with etcd, the ledger's owner or its rebuild), however the
// owner of the fleet's ledger is killed on the way; each notice is audited
// once in the fleet; and the fleet crosses a line (10,000 people's
// sensitive PI) that no member reaches alone.
#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "ftz/test/etcd.hpp"
#include "ftz/test/gen/scenario.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "member.hpp"

namespace {

using ftz::fleettest::Member;
using ftz::test::EtcdCluster;
using ftz::test::read_text;
using ftz::test::RunResult;
using ftz::test::TempDir;
using Counts = std::map<std::string, uint64_t>;  // "tenant/class" -> individuals

Counts counts(const nlohmann::json& rows, const char* class_key) {
  Counts out;
  for (const auto& r : rows)
    out[r.value("tenant", "") + "/" + r.value(class_key, "")] = r.value("individuals", uint64_t{0});
  return out;
}

std::string str(const Counts& c) {
  std::string s;
  for (const auto& [k, v] : c) s += k + "=" + std::to_string(v) + " ";
  return s;
}

class FleetLedger : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.start()) << read_text(etcd_.log(0));
    // Seed k two hours after seed k-1, in every capture it is in.
    std::array<ftz::test::gen::Scenario, 3> seeds;
    for (int k = 0; k < 3; ++k) seeds[k] = ftz::test::gen::build_scenario(static_cast<uint64_t>(k + 1));
    // `file`: of each (seed, share of its packets from the start).
    const auto write = [&](const std::string& file, const std::vector<std::pair<int, double>>& which) {
      auto w = ftz::test::PcapWriter::open(dir_.file(file), ftz::test::TimestampPrecision::kNano);
      ASSERT_TRUE(w);
      for (const auto& [k, share] : which) {
        const auto& packets = seeds[static_cast<size_t>(k)].packets;
        const auto n = static_cast<size_t>(static_cast<double>(packets.size()) * share);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(
              w->write(packets[i].ts_ns + static_cast<uint64_t>(k) * 7200'000'000'000ull, packets[i].frame));
        }
      }
      ASSERT_TRUE(w->close());
    };
    write("m0.pcap", {{0, 1.0}});
    write("m1.pcap", {{1, 1.0}});
    write("m2.pcap", {{0, 0.05}, {2, 1.0}});
    write("all.pcap", {{0, 1.0}, {1, 1.0}, {2, 1.0}});
    const std::string lingang = ftz::test::source_dir() + "/examples/lingang.yaml";
    for (int i = 0; i < 3; ++i) {
      members_[i] = std::make_unique<Member>(dir_, i, etcd_.endpoints());
      members_[i]->init(lingang);
    }
    // One token key for the fleet: the operator copies m0's to the others
    // (decision 0023 §1).
    for (int i = 1; i < 3; ++i) {
      std::filesystem::copy_file(members_[0]->state() + "/compliance/token.key",
                                 members_[i]->state() + "/compliance/token.key",
                                 std::filesystem::copy_options::overwrite_existing);
      std::filesystem::remove(members_[i]->state() + "/compliance/ledger.state");
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& m : members_) {
        std::fprintf(stderr, "--- %s\n%s--- %s\n%s", m->log().c_str(), read_text(m->log()).c_str(),
                     m->dp_log().c_str(), read_text(m->dp_log()).c_str());
      }
    }
  }
  std::string capture(int i) const { return dir_.file("m" + std::to_string(i) + ".pcap"); }

  // `show compliance fleet --json` on member i (null when it fails).
  nlohmann::json fleet_count(int i) const {
    const RunResult r = members_[i]->ctl("--json show compliance fleet");
    const auto j = nlohmann::json::parse(r.output, nullptr, false);
    return r.status == 0 && j.is_object() ? j : nlohmann::json();
  }
  // One appliance that saw everything: the oracle.
  Counts whole_capture_counts() const {
    const RunResult r = ftz::test::run_command(
        ftz::test::binary("ftzgate-inspect") + " --config " + ftz::test::source_dir() +
        "/examples/lingang.yaml --demo-token-key --json --pcap " + dir_.file("all.pcap"));
    EXPECT_EQ(r.status, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
    return j.is_object() ? counts(j["compliance"], "class") : Counts{};
  }
  // The fleet's count on member i once it is `want` (up to `seconds`), else the last seen.
  Counts fleet_reaches(int i, const Counts& want, int seconds) const {
    Counts last;
    for (int n = 0; n < seconds * 4; ++n) {
      const auto j = fleet_count(i);
      if (!j.is_null()) last = counts(j["tenants"], "data_class");
      if (last == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return last;
  }
  // Members whose audit log records `type`.
  std::vector<nlohmann::json> audited(const std::string& type) const {
    std::vector<nlohmann::json> all;
    for (const auto& m : members_) {
      for (auto& e : m->audit(type)) {
        e["at_member"] = m->name();
        all.push_back(std::move(e));
      }
    }
    return all;
  }

  TempDir dir_{"fleet-ledger"};
  EtcdCluster etcd_{dir_, 3};
  std::array<std::unique_ptr<Member>, 3> members_;
};

TEST_F(FleetLedger, CountsEveryPersonOnceThroughAnOwnerKilledMidStream) {
  const Counts want = whole_capture_counts();
  ASSERT_GT(want.at("pacific-re/sensitive_pi"), 20000u) << str(want);
  for (auto& m : members_) m->start();
  // m0's data plane first (seed 1); the owner of the fleet's ledger is
  // killed once it counted some of them, before the other data planes have
  // begun. Most of seed 1's people reach the fleet only through m0's
  // batches: a takeover that lost them would count too few.
  members_[0]->start_dp(capture(0));
  std::string owner;
  for (int n = 0; n < 240 && owner.empty(); ++n) {
    const auto j = fleet_count(0);
    if (!j.is_null() && !counts(j["tenants"], "data_class").empty()) owner = j.value("ledger_owner", "");
    if (owner.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_FALSE(owner.empty()) << "no fleet count within 60 s";
  const int killed = owner[1] - '0';
  const Counts before = counts(fleet_count(0)["tenants"], "data_class");
  std::printf("owner %s killed at %s\n", owner.c_str(), str(before).c_str());
  members_[killed]->kill(SIGKILL);
  members_[1]->start_dp(capture(1));
  members_[2]->start_dp(capture(2));
  // Another member takes over once the killed owner's lease has expired,
  // and counts from etcd; the killed member's data plane keeps its
  // batches until its ftzgated is back.
  const int other = killed == 0 ? 1 : 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::string next;
  for (int n = 0; n < 80 && (next.empty() || next == owner); ++n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    next = fleet_count(other).value("ledger_owner", "");
  }
  ASSERT_NE(next, owner) << "no other member took the ledger over within 20 s";
  std::printf("%s took over after %.1f s\n", next.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  members_[killed]->start();
  const Counts got = fleet_reaches(other, want, 90);
  EXPECT_EQ(got, want) << "fleet " << str(got) << " want " << str(want);
  // Every member shows the same count, written by a member that took over.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fleet_reaches(i, want, 10), want) << members_[i]->name();
  EXPECT_EQ(members_[next[1] - '0']->audit("fleet_ledger_owner").size(), 1u) << "it took over once";
  // The year's count is kept by year too (after its batches are deleted).
  const std::string year = std::to_string(fleet_count(2).value("year", 0));
  const RunResult by_year = members_[2]->ctl("--json show compliance fleet year " + year);
  const auto kept = nlohmann::json::parse(by_year.output, nullptr, false);
  ASSERT_TRUE(kept.is_object()) << by_year.output;
  EXPECT_EQ(counts(kept["tenants"], "data_class"), want) << by_year.output;
  const RunResult none = members_[2]->ctl("show compliance fleet year 2001");
  EXPECT_NE(none.status, 0);
  EXPECT_NE(none.output.find("no count of the fleet for 2001"), std::string::npos) << none.output;

  // No member's own count reaches the line the fleet crossed; and some
  // people were seen by two members (their own counts add up to more than
  // the fleet's), counted once by the fleet.
  uint64_t sum = 0;
  for (const auto& m : members_) {
    const RunResult own = m->ctl("--json show compliance");
    Counts mine = counts(nlohmann::json::parse(own.output)["tenants"], "data_class");
    EXPECT_LT(mine["pacific-re/sensitive_pi"], 10000u) << m->name() << ": " << str(mine);
    sum += mine["pacific-re/sensitive_pi"];
  }
  EXPECT_GT(sum, want.at("pacific-re/sensitive_pi"));
  std::printf("members' own counts add up to %llu, the fleet's is %llu\n",
              static_cast<unsigned long long>(sum),
              static_cast<unsigned long long>(want.at("pacific-re/sensitive_pi")));
  const RunResult local = members_[0]->ctl("--json show compliance");

  // 2. Each notice once in the fleet, whoever owned the ledger when it was
  // crossed or evaluated again after a takeover.
  std::map<std::string, int> notices;
  for (const auto& e : audited("compliance_notice")) {
    const auto& d = e["details"];
    notices[d.value("tenant", "") + "/" + d.value("data_class", "") + "/" + d.value("threshold", "") + "/" +
            d.value("kind", "") + "-" + (d.contains("percent") ? d["percent"].dump() : "")]++;
  }
  std::string said;
  for (const auto& [k, n] : notices) said += k + " x" + std::to_string(n) + "\n";
  EXPECT_TRUE(notices.contains("pacific-re/sensitive_pi/sensitive-pi-sa/threshold_exceeded-100")) << said;
  for (const auto& [k, n] : notices) EXPECT_EQ(n, 1) << said;

  // 3. The fleet's state of pacific-re is exceeded, though no member's own
  // is (what its data planes then get: DaemonInProcess.AFleetMember...).
  const auto j = fleet_count(1);
  for (const auto& r : j["tenants"]) {
    if (r.value("tenant", "") == "pacific-re") {
      EXPECT_EQ(r.value("state", ""), "exceeded") << j.dump();
    }
  }
  for (const auto& r : nlohmann::json::parse(local.output)["tenants"]) {
    if (r.value("tenant", "") == "pacific-re") {
      EXPECT_NE(r.value("state", ""), "exceeded") << local.output;
    }
  }

  // 4. etcd holds tokens, never identifiers (an independent scan).
  const RunResult scan = ftz::fleettest::scan_etcd_for_identifiers(etcd_, dir_, dir_.file("all.pcap"));
  EXPECT_EQ(scan.status, 0) << scan.output;
  std::printf("%s", scan.output.c_str());
}

}  // namespace
