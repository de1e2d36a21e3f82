// Three ftzgated, one fleet (docs/fleet.md, decision 0022 §2): a commit on
// any member is the fleet's and runs on every member; of two concurrent
// commits exactly one wins; a member that was down catches up; without
// etcd nothing is committed and the running generation stays. Real etcd on
// loopback; etcdctl shows what the fleet holds.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "ftz/test/etcd.hpp"
#include "ftz/test/openssl_ca.hpp"
#include "member.hpp"

namespace {

using ftz::fleettest::config_allowing;
using ftz::fleettest::kPrefix;
using ftz::fleettest::Member;
using ftz::fleettest::row;
using ftz::test::binary;
using ftz::test::EtcdCluster;
using ftz::test::read_text;
using ftz::test::RunResult;
using ftz::test::TempDir;

class Fleet : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.start()) << read_text(etcd_.log(0));
    for (int i = 0; i < 3; ++i) {
      // A checkpoint each second while records come: anchored in etcd.
      members_[i] = std::make_unique<Member>(dir_, i, etcd_.endpoints(),
                                             std::vector<std::string>{"--audit-checkpoint-interval", "1"});
      members_[i]->init();
    }
    for (auto& m : members_) m->start();
    for (auto& m : members_) ASSERT_TRUE(m->reaches(1)) << read_text(m->log());
  }
  // `text` loaded as alice's candidate on member `i`.
  void load(int i, const std::string& text) {
    const std::string file = dir_.file("candidate-" + std::to_string(i) + ".yaml");
    std::ofstream(file) << text;
    const RunResult r = members_[i]->ctl("load " + file);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  nlohmann::json show_fleet(int i, const std::function<bool(const nlohmann::json&)>& pred) {
    return ftz::fleettest::show_fleet(*members_[i], pred);
  }
  nlohmann::json fleet_running() const {
    return nlohmann::json::parse(
        etcd_.etcdctl(std::string("get --print-value-only ") + kPrefix + "running").output, nullptr, false);
  }

  TempDir dir_{"fleet"};
  EtcdCluster etcd_{dir_, 1};
  std::array<std::unique_ptr<Member>, 3> members_;
};

// Issue 14 §3: each member's audit log stays its own, and its checkpoints
// are anchored in etcd: a member log deleted and started afresh verifies on
// its own (chain, signatures), and fails against the fleet's anchors.
TEST_F(Fleet, AMemberLogDeletedIsFoundByItsAnchorsInEtcd) {
  const auto verify_fleet = [&](int i) {
    const RunResult r = members_[i]->ctl_as("bob", "--json audit verify fleet");
    auto j = nlohmann::json::parse(r.output, nullptr, false);
    return j.is_object() ? j : nlohmann::json::object();
  };
  nlohmann::json j;
  for (int n = 0; n < 100; ++n) {
    j = verify_fleet(1);
    if (j.value("ok", false) && j.value("fleet_anchors_checked", 0) >= 1 && j["fleet_members"].size() == 3)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(j.value("ok", false)) << j.dump();
  EXPECT_GE(j.value("fleet_anchors_checked", 0), 1) << j.dump();
  ASSERT_EQ(j["fleet_members"].size(), 3u) << j.dump();
  // What etcd holds is the checkpoint's seq and hash, no record.
  const RunResult anchors = etcd_.etcdctl(std::string("get --prefix --keys-only ") + kPrefix + "audit/m1/");
  EXPECT_NE(anchors.output.find(std::string(kPrefix) + "audit/m1/0000"), std::string::npos) << anchors.output;

  members_[1]->kill(SIGTERM);
  std::filesystem::remove_all(members_[1]->state() + "/audit");
  members_[1]->start();
  ASSERT_TRUE(members_[1]->reaches(1));
  EXPECT_EQ(members_[1]->ctl_as("bob", "audit verify").status, 0) << "a new log verifies on its own";
  const RunResult found = members_[1]->ctl_as("bob", "audit verify fleet");
  EXPECT_EQ(found.status, 1) << found.output;
  EXPECT_NE(found.output.find("anchored seq"), std::string::npos) << found.output;
  EXPECT_EQ(members_[0]->ctl_as("bob", "audit verify fleet").status, 0) << "the others' logs are whole";
}

// Issue 14 §1: a commit confirmed acts fleet-wide. Confirmed on another
// member than the one that committed it, it stays; not confirmed in time,
// every member goes back together to what the fleet ran before (one member
// moves the commit point back, every member applies it as a commit).
TEST_F(Fleet, ACommitConfirmedIsConfirmedOrRolledBackFleetWide) {
  load(0, config_allowing("10.1.0.0/16"));
  ASSERT_EQ(members_[0]->ctl("commit").status, 0);
  for (auto& m : members_) ASSERT_TRUE(m->reaches(2)) << m->name();

  load(1, config_allowing("10.2.0.0/16"));
  RunResult r = members_[1]->ctl("commit confirmed 1");
  ASSERT_EQ(r.status, 0) << r.output;
  for (auto& m : members_) ASSERT_TRUE(m->reaches(3)) << m->name();
  EXPECT_GT(fleet_running().value("confirm_by_s", int64_t{0}), 0) << fleet_running();
  const auto shown =
      show_fleet(2, [](const nlohmann::json& j) { return j.value("confirm_by_unix_s", 0) > 0; });
  EXPECT_GT(shown.value("confirm_by_unix_s", int64_t{0}), 0) << shown;
  r = members_[2]->ctl("commit");  // nothing edited on m2: confirms the fleet's
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(fleet_running().value("confirm_by_s", int64_t{0}), 0) << fleet_running();
  EXPECT_EQ(fleet_running().value("generation", 0), 3) << fleet_running();
  ASSERT_EQ(members_[2]->audit("commit_confirm").size(), 1U);
  EXPECT_EQ(members_[2]->audit("commit_confirm")[0]["details"].value("generation", 0), 3);
  EXPECT_EQ(members_[0]->ctl("commit").status, 1) << "nothing pending now, and no candidate";
  const std::string confirmed = members_[1]->running().second;

  // Not confirmed: after its minute every member runs generation 3's
  // configuration again, as generation 5.
  load(2, config_allowing("10.3.0.0/16"));
  r = members_[2]->ctl("commit confirmed 1");
  ASSERT_EQ(r.status, 0) << r.output;
  for (auto& m : members_) ASSERT_TRUE(m->reaches(4)) << m->name();
  EXPECT_NE(members_[0]->running().second, confirmed);
  const auto all_back = [&] {
    return std::all_of(members_.begin(), members_.end(),
                       [](const auto& m) { return m->running().first == 5; });
  };
  for (int n = 0; n < 450 && !all_back(); ++n) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (auto& m : members_) {
    EXPECT_EQ(m->running().first, 5U) << m->name();
    EXPECT_EQ(m->running().second, confirmed) << m->name();
  }
  size_t rollbacks = 0;
  for (auto& m : members_) rollbacks += m->audit("fleet_rollback").size();
  EXPECT_EQ(rollbacks, 1U) << "one member moved the commit point back";
  EXPECT_EQ(fleet_running().value("confirm_by_s", int64_t{0}), 0) << fleet_running();
  EXPECT_EQ(fleet_running().value("config_sha256", ""), confirmed) << fleet_running();
}

TEST_F(Fleet, ACommitOnOneMemberRunsOnEveryMember) {
  // The first member to join made generation 1 the fleet's.
  EXPECT_EQ(fleet_running().value("generation", 0), 1) << fleet_running();
  load(1, config_allowing("10.1.0.0/16"));
  const RunResult commit = members_[1]->ctl("commit");
  ASSERT_EQ(commit.status, 0) << commit.output;
  for (auto& m : members_) ASSERT_TRUE(m->reaches(2)) << m->name() << ": " << read_text(m->log());
  const std::string sha = members_[1]->running().second;
  for (auto& m : members_) EXPECT_EQ(m->running().second, sha) << m->name();
  const auto fleet = fleet_running();
  EXPECT_EQ(fleet.value("generation", 0), 2);
  EXPECT_EQ(fleet.value("member", ""), "m1");
  EXPECT_EQ(fleet.value("user", ""), "alice");
  EXPECT_EQ(fleet.value("config_sha256", ""), sha);
  // The configuration is in etcd under its hash, and the others audited it.
  EXPECT_EQ(etcd_.etcdctl(std::string("get --keys-only ") + kPrefix + "configs/" + sha).output.substr(0, 10),
            std::string(kPrefix).substr(0, 10));
  for (int i : {0, 2}) {
    const auto applied = members_[i]->audit("fleet_commit_applied");
    ASSERT_EQ(applied.size(), 1U) << members_[i]->name();
    EXPECT_EQ(applied[0]["details"].value("member", ""), "m1");
    EXPECT_EQ(applied[0]["details"].value("fleet_generation", 0), 2);
  }
  // Every member shows every member on the fleet's generation, current.
  for (int i = 0; i < 3; ++i) {
    const auto shown = show_fleet(i, [](const nlohmann::json& j) {
      return j["members"].size() == 3 && std::all_of(j["members"].begin(), j["members"].end(), [](auto& m) {
               return m["running_generation"] == 2 && m["etcd_connected"] == true && m["lag_s"] == 0;
             });
    });
    ASSERT_EQ(shown.value("members", nlohmann::json::array()).size(), 3U) << shown;
    EXPECT_EQ(shown.value("fleet", ""), "lab");
    EXPECT_EQ(shown.value("member", ""), members_[i]->name());
    EXPECT_TRUE(shown.value("etcd_connected", false));
    EXPECT_EQ(shown.value("fleet_generation", 0), 2);
    EXPECT_EQ(shown.value("fleet_sha256", ""), sha);
    EXPECT_EQ(shown.value("committed_by", ""), "m1");
    EXPECT_EQ(shown.value("committed_user", ""), "alice");
    for (const auto& m : shown["members"]) {
      EXPECT_EQ(m["running_generation"], 2) << shown;
      EXPECT_EQ(m["running_sha256"], sha) << shown;
      EXPECT_EQ(m["lag_s"], 0) << shown;
      EXPECT_EQ(m["self"], m["member"] == members_[i]->name()) << shown;
      EXPECT_EQ(m["dataplanes"], 0) << shown;
    }
  }
  // The text form names the fleet and each member.
  const RunResult text = members_[0]->ctl("show fleet");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("fleet generation 2, committed by alice on m1"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("m0 *"), std::string::npos) << text.output;
  // And again from another member, on what the fleet runs now.
  load(2, config_allowing("10.2.0.0/16"));
  ASSERT_EQ(members_[2]->ctl("commit").status, 0);
  for (auto& m : members_) ASSERT_TRUE(m->reaches(3)) << m->name();
}

TEST_F(Fleet, OfTwoConcurrentCommitsExactlyOneWins) {
  load(0, config_allowing("10.10.0.0/16"));
  load(1, config_allowing("10.11.0.0/16"));
  RunResult results[2];
  std::thread a([&] { results[0] = members_[0]->ctl("commit"); });
  std::thread b([&] { results[1] = members_[1]->ctl("commit"); });
  a.join();
  b.join();
  const int winners = (results[0].status == 0) + (results[1].status == 0);
  ASSERT_EQ(winners, 1) << results[0].output << "\n" << results[1].output;
  const int loser = results[0].status == 0 ? 1 : 0;
  // Refused by the fleet's compare-and-swap, or, when the winner's commit
  // reached the loser first, because its candidate is now stale: either
  // way it is told to load again.
  EXPECT_NE(results[loser].output.find("FAILED_PRECONDITION"), std::string::npos) << results[loser].output;
  EXPECT_NE(results[loser].output.find("load again"), std::string::npos) << results[loser].output;
  for (auto& m : members_) ASSERT_TRUE(m->reaches(2)) << m->name();
  const std::string sha = members_[1 - loser]->running().second;
  for (auto& m : members_) EXPECT_EQ(m->running().second, sha) << m->name();
}

TEST_F(Fleet, AMemberThatWasDownCatchesUpAndWithoutEtcdNothingIsCommitted) {
  members_[2]->kill(SIGKILL);
  load(0, config_allowing("10.20.0.0/16"));
  ASSERT_EQ(members_[0]->ctl("commit").status, 0);
  ASSERT_TRUE(members_[1]->reaches(2));
  EXPECT_EQ(members_[2]->running().first, 1U);
  // The others show it as not connected once its lease expired, with what
  // it last ran, behind the fleet.
  const auto down =
      show_fleet(0, [](const nlohmann::json& j) { return row(j, "m2")["etcd_connected"] == false; });
  EXPECT_EQ(row(down, "m2")["etcd_connected"], false) << down;
  EXPECT_EQ(row(down, "m2")["running_generation"], 1) << down;
  EXPECT_NE(row(down, "m2")["running_sha256"], down["fleet_sha256"]) << down;
  EXPECT_GE(row(down, "m2").value("lag_s", -1), 0) << down;
  EXPECT_EQ(row(down, "m1")["etcd_connected"], true) << down;
  members_[2]->start();
  ASSERT_TRUE(members_[2]->reaches(2)) << read_text(members_[2]->log());
  EXPECT_EQ(members_[2]->running().second, members_[0]->running().second);
  const auto back = show_fleet(0, [](const nlohmann::json& j) {
    return row(j, "m2")["etcd_connected"] == true && row(j, "m2")["lag_s"] == 0;
  });
  EXPECT_EQ(row(back, "m2")["running_generation"], 2) << back;
  // etcd gone: a commit is refused, and the member keeps generation 2.
  etcd_.kill(0);
  load(0, config_allowing("10.21.0.0/16"));
  const RunResult refused = members_[0]->ctl("commit");
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("nothing committed"), std::string::npos) << refused.output;
  EXPECT_EQ(members_[0]->running().first, 2U);
  // show fleet says so, with this member's own state.
  const RunResult alone = members_[0]->ctl("--json show fleet");
  ASSERT_EQ(alone.status, 0) << alone.output;
  const auto self = nlohmann::json::parse(alone.output, nullptr, false);
  EXPECT_EQ(self.value("etcd_connected", true), false) << self;
  EXPECT_FALSE(self.value("problem", "").empty()) << self;
  ASSERT_EQ(self.value("members", nlohmann::json::array()).size(), 1U) << self;
  EXPECT_EQ(self["members"][0]["running_generation"], 2) << self;
  EXPECT_EQ(self["members"][0]["self"], true) << self;
  // etcd back: the same candidate commits, and every member follows.
  ASSERT_TRUE(etcd_.restart(0));
  RunResult again;
  for (int i = 0; i < 50; ++i) {
    again = members_[0]->ctl("commit");
    if (again.status == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(again.status, 0) << again.output;
  for (auto& m : members_) ASSERT_TRUE(m->reaches(3)) << m->name() << ": " << read_text(m->log());
}

// Write access to etcd is not the power to set the fleet's policy: a commit
// point whose signature does not hold (tampered: an older configuration
// under a new generation) or that has none is refused by every member,
// audited, and the members keep what they run.
TEST_F(Fleet, ACommitPointNotSignedByAMemberIsRefused) {
  const std::string first_sha = fleet_running().value("config_sha256", "");
  load(1, config_allowing("10.50.0.0/16"));
  ASSERT_EQ(members_[1]->ctl("commit").status, 0);
  for (auto& m : members_) ASSERT_TRUE(m->reaches(2)) << m->name();
  const std::string running_sha = members_[1]->running().second;
  auto forged = fleet_running();
  ASSERT_FALSE(forged.value("signature", "").empty()) << forged;
  forged["generation"] = 3;
  forged["config_sha256"] = first_sha;
  forged["nonce"] = "forged-1";
  ASSERT_EQ(etcd_.etcdctl(std::string("put ") + kPrefix + "running '" + forged.dump() + "'").status, 0);
  // Let every member see the first before the second replaces it.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  forged.erase("signature");
  forged["generation"] = 4;
  forged["nonce"] = "forged-2";
  ASSERT_EQ(etcd_.etcdctl(std::string("put ") + kPrefix + "running '" + forged.dump() + "'").status, 0);
  for (auto& m : members_) {
    std::vector<nlohmann::json> refused;
    for (int n = 0; n < 50 && refused.size() < 2; ++n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      refused = m->audit("fleet_commit_refused");
    }
    ASSERT_EQ(refused.size(), 2U) << m->name() << ": " << read_text(m->log());
    EXPECT_NE(refused[0]["details"].value("detail", "").find("not signed by a trusted member key"),
              std::string::npos)
        << refused[0];
    EXPECT_NE(
        refused[1]["details"].value("detail", "").find("not signed by a trusted member key: no signature"),
        std::string::npos)
        << refused[1];
    EXPECT_EQ(m->running(), std::make_pair(uint64_t{2}, running_sha)) << m->name();
  }
  // The members' own commits carry the signing key, which the others audit.
  for (int i : {0, 2}) {
    const auto applied = members_[i]->audit("fleet_commit_applied");
    ASSERT_EQ(applied.size(), 1U);
    EXPECT_EQ(applied[0]["details"].value("signed_by", "").size(), 16U) << applied[0];
  }
}

// `commit local-only`: an explicit override, audited with its reason; the
// fleet's commit point does not move; it holds across a restart of the
// member and until the fleet's next commit, which ends it.
TEST_F(Fleet, ALocalOnlyOverrideIsAuditedAndLastsUntilTheFleetsNextCommit) {
  load(0, config_allowing("10.40.0.0/16"));
  const RunResult no_reason = members_[0]->ctl("commit local-only");
  EXPECT_NE(no_reason.status, 0);
  EXPECT_NE(no_reason.output.find("needs its reason"), std::string::npos) << no_reason.output;
  const RunResult local = members_[0]->ctl("commit local-only comment 'etcd down, block now'");
  ASSERT_EQ(local.status, 0) << local.output;
  const auto override_state = members_[0]->running();
  EXPECT_EQ(override_state.first, 2U);
  const auto audited = members_[0]->audit("fleet_local_override");
  ASSERT_EQ(audited.size(), 1U);
  EXPECT_EQ(audited[0]["details"].value("reason", ""), "etcd down, block now");
  EXPECT_EQ(audited[0]["details"].value("fleet_generation", 0), 1);
  EXPECT_EQ(fleet_running().value("generation", 0), 1) << "the fleet's commit point moved";
  // The others show it off the fleet's configuration.
  const auto shown =
      show_fleet(1, [&](const nlohmann::json& j) { return row(j, "m0")["running_generation"] == 2; });
  EXPECT_NE(row(shown, "m0")["running_sha256"], shown["fleet_sha256"]) << shown;
  // A commit there goes through the fleet, which it does not follow now.
  load(0, config_allowing("10.41.0.0/16"));
  const RunResult behind = members_[0]->ctl("commit");
  EXPECT_NE(behind.output.find("runs a local-only override"), std::string::npos) << behind.output;
  // Restarted, it still runs the override (it caught up with the fleet's
  // commit point meanwhile).
  members_[0]->kill(SIGTERM);
  members_[0]->start();
  ASSERT_NE(ftz::fleettest::show_fleet(*members_[0],
                                       [](const nlohmann::json& j) {
                                         return j.value("etcd_connected", false) &&
                                                row(j, "m0")["etcd_connected"] == true;
                                       })
                .value("etcd_connected", false),
            false);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(members_[0]->running(), override_state);
  EXPECT_TRUE(members_[0]->audit("fleet_commit_refused").empty());
  // The fleet's next commit ends it.
  load(1, config_allowing("10.42.0.0/16"));
  ASSERT_EQ(members_[1]->ctl("commit").status, 0);
  ASSERT_TRUE(members_[1]->reaches(2));
  for (int n = 0; n < 100 && members_[0]->running().second != members_[1]->running().second; ++n)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(members_[0]->running().second, members_[1]->running().second) << read_text(members_[0]->log());
}

// The fleet over TLS with client certificates (etcd --client-cert-auth,
// certificates made by openssl): a member whose certificate another CA
// issued is refused by etcd; it serves its own running generation, says why
// in show fleet, refuses commits, and the fleet goes on without it.
TEST(FleetTls, AMemberWithAWrongClientCertificateIsRefused) {
  TempDir dir("fleet-tls");
  ftz::test::OpensslCa ca(dir, "fleet");
  ftz::test::OpensslCa rogue(dir, "rogue");
  ASSERT_TRUE(ca.ok() && rogue.ok());
  const auto server = ca.issue("etcd");
  const auto admin = ca.issue("root");
  EtcdCluster etcd(dir, 1);
  etcd.use_tls({ca.ca(), server.cert, server.key, admin.cert, admin.key});
  ASSERT_TRUE(etcd.start()) << read_text(etcd.log(0));
  const auto good = ca.issue("m0");
  const auto bad = rogue.issue("m1");
  Member m0(dir, 0, etcd.endpoints(),
            {"--etcd-ca", ca.ca(), "--etcd-cert", good.cert, "--etcd-key", good.key});
  Member m1(dir, 1, etcd.endpoints(), {"--etcd-ca", ca.ca(), "--etcd-cert", bad.cert, "--etcd-key", bad.key});
  m0.init();
  m1.init();
  m0.start();
  m1.start();
  const auto fleet = ftz::fleettest::show_fleet(
      m0, [](const nlohmann::json& j) { return row(j, "m0")["etcd_connected"] == true; });
  EXPECT_EQ(row(fleet, "m0")["etcd_connected"], true) << fleet;
  EXPECT_TRUE(row(fleet, "m1").empty()) << "m1 never reached etcd: " << fleet;
  const RunResult shown = m1.ctl("--json show fleet");
  ASSERT_EQ(shown.status, 0) << shown.output;
  const auto alone = nlohmann::json::parse(shown.output, nullptr, false);
  EXPECT_EQ(alone.value("etcd_connected", true), false) << alone;
  EXPECT_FALSE(alone.value("problem", "").empty()) << alone;
  // Its commits are refused; m0's go through, and m1 stays as it was.
  const std::string file = dir.file("candidate.yaml");
  std::ofstream(file) << config_allowing("10.30.0.0/16");
  ASSERT_EQ(m1.ctl("load " + file).status, 0);
  const RunResult refused = m1.ctl("commit");
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("nothing committed"), std::string::npos) << refused.output;
  ASSERT_EQ(m0.ctl("load " + file).status, 0);
  const RunResult committed = m0.ctl("commit");
  ASSERT_EQ(committed.status, 0) << committed.output;
  EXPECT_TRUE(m0.reaches(2));
  EXPECT_EQ(m1.running().first, 1U);
  // What etcd holds, read by etcdctl: m0's records, nothing of m1's.
  const RunResult keys = etcd.etcdctl(std::string("get --keys-only --prefix ") + kPrefix);
  EXPECT_NE(keys.output.find(std::string(kPrefix) + "status/m0"), std::string::npos) << keys.output;
  EXPECT_EQ(keys.output.find("/m1"), std::string::npos) << keys.output;

  // etcd's authentication on: m0 goes on as the user its certificate names;
  // m2, whose certificate names no etcd user, joins with its password.
  for (const std::string& cmd : std::vector<std::string>{
           "user add root --new-user-password=root-pw-4711", "role add fleet-lab",
           std::string("role grant-permission fleet-lab --prefix=true readwrite ") + kPrefix,
           "user add m0 --new-user-password=m0-pw-4711", "user grant-role m0 fleet-lab",
           "user add m2 --new-user-password=m2-pw-4711", "user grant-role m2 fleet-lab", "auth enable"}) {
    const auto r = etcd.etcdctl(cmd);
    ASSERT_EQ(r.status, 0) << cmd << ": " << r.output;
  }
  std::ofstream(file) << config_allowing("10.31.0.0/16");
  ASSERT_EQ(m0.ctl("load " + file).status, 0);
  const RunResult as_cn = m0.ctl("commit");
  ASSERT_EQ(as_cn.status, 0) << as_cn.output;
  const auto gateway = ca.issue("gateway");
  const std::string password = dir.file("m2.password");
  std::ofstream(password) << "m2-pw-4711\n";
  ::chmod(password.c_str(), 0644);
  Member m2(dir, 2, etcd.endpoints(),
            {"--etcd-ca", ca.ca(), "--etcd-cert", gateway.cert, "--etcd-key", gateway.key, "--etcd-user",
             "m2", "--etcd-password-file", password});
  m2.init();
  // A password others may read is refused before anything starts.
  const RunResult readable = ftz::test::run_command(
      binary("ftzgated") + " --state-dir " + m2.state() + " --listen unix:" + m2.socket() +
      " --etcd-endpoints " + etcd.endpoints() + " --fleet lab --fleet-keys " + m2.fleet_keys() +
      " --etcd-ca " + ca.ca() + " --etcd-cert " + gateway.cert + " --etcd-key " + gateway.key +
      " --etcd-user m2 --etcd-password-file " + password);
  EXPECT_EQ(readable.status, 2) << readable.output;
  EXPECT_NE(readable.output.find("group or others may read it"), std::string::npos) << readable.output;
  ::chmod(password.c_str(), 0600);
  m2.start();
  EXPECT_TRUE(m2.reaches(3)) << read_text(m2.log());
  EXPECT_EQ(m2.running().second, m0.running().second);
}

}  // namespace
