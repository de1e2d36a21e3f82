// Account administration as two administrators share it (MLPS 8.1.5): the
// system administrator adds and deletes accounts, the security
// administrator grants roles, nobody changes their own, no administrator
// role is left without an account, and no password reaches the audit log.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftz/test/files.hpp"
#include "ftz/test/ftzgated.hpp"

namespace {

using ftz::test::read_text;
using ftz::test::RunResult;

constexpr const char* kFirst = "Frank-First-2026";
constexpr const char* kOwn = "Frank-Own-Choice-26";

class Users : public ftz::test::Ftzgated {
 protected:
  void SetUp() override {
    Ftzgated::SetUp();
    ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
    start();
  }
  // ftzctl with a new password for `user add` / `user passwd`.
  RunResult ctl_new(const std::string& user, const std::string& words, const std::string& new_password,
                    const std::string& password = "") {
    return ctl(user, words, password, "FTZCTL_NEW_PASSWORD='" + new_password + "' ");
  }
  nlohmann::json users() {
    return nlohmann::json::parse(ctl("carol", "--json show system users").output, nullptr, false);
  }
  std::string role_of(const std::string& name) {
    const auto j = users();
    if (!j.is_object()) return "?";
    for (const auto& u : j["users"]) {
      if (u["name"] == name) return u["role"];
    }
    return "none";
  }
};

TEST_F(Users, TheSystemAdministratorAddsTheSecurityAdministratorGrants) {
  // Added as an operator that must change the given password.
  const RunResult added = ctl_new("dave", "user add frank", kFirst);
  ASSERT_EQ(added.status, 0) << added.output;
  EXPECT_EQ(role_of("frank"), "operator");
  const RunResult first = ctl("frank", "show system commit", kFirst);
  EXPECT_EQ(first.status, 1);
  EXPECT_NE(first.output.find("must change its password"), std::string::npos) << first.output;
  ASSERT_EQ(ctl_new("frank", "user passwd", kOwn, kFirst).status, 0);
  EXPECT_EQ(ctl("frank", "show system commit", kOwn).status, 0);
  EXPECT_NE(ctl("frank", "load " + dir_.file("block-hk.yaml"), kOwn).output.find("PERMISSION_DENIED"),
            std::string::npos);
  // Only the security administrator grants; the new role counts from the
  // next login.
  EXPECT_NE(ctl("dave", "user grant frank secadmin").output.find("PERMISSION_DENIED"), std::string::npos);
  const RunResult granted = ctl("alice", "user grant frank secadmin");
  ASSERT_EQ(granted.status, 0) << granted.output;
  EXPECT_EQ(role_of("frank"), "secadmin");
  EXPECT_EQ(ctl("frank", "load " + dir_.file("block-hk.yaml"), kOwn).status, 0);
  // Only the system administrator adds and deletes.
  EXPECT_NE(ctl_new("alice", "user add gina", kFirst).output.find("PERMISSION_DENIED"), std::string::npos);
  EXPECT_NE(ctl("alice", "user del frank").output.find("PERMISSION_DENIED"), std::string::npos);
  EXPECT_NE(ctl("bob", "user del frank").output.find("PERMISSION_DENIED"), std::string::npos);
  EXPECT_NE(ctl_new("dave", "user add gina", "weak").output.find("INVALID_ARGUMENT"), std::string::npos);
  EXPECT_NE(ctl_new("dave", "user add frank", kFirst).output.find("exists"), std::string::npos);

  const RunResult deleted = ctl("dave", "user del frank");
  ASSERT_EQ(deleted.status, 0) << deleted.output;
  EXPECT_EQ(role_of("frank"), "none");
  EXPECT_NE(ctl("frank", "show system commit", kOwn).output.find("UNAUTHENTICATED"), std::string::npos);

  // Every step is audited, with names and roles, never a password.
  // (Requests come before the act; each has its outcome.)
  std::vector<std::string> done;
  size_t requested = 0;
  size_t outcomes = 0;
  for (const auto& r : audit_records()) {
    const std::string line = r.dump();
    EXPECT_EQ(line.find(kFirst), std::string::npos) << line;
    EXPECT_EQ(line.find(kOwn), std::string::npos) << line;
    const std::string t = r["event_type"];
    if (!t.starts_with("user_")) continue;
    if (t.ends_with("_requested")) {
      ++requested;
      continue;
    }
    if (r["details"].contains("denied")) continue;  // refused by role, before any request
    ++outcomes;
    if (r["success"] == true) done.push_back(t + " " + r["details"]["name"].get<std::string>());
  }
  EXPECT_EQ(done, (std::vector<std::string>{"user_add frank", "user_grant frank", "user_delete frank"}));
  EXPECT_EQ(requested, outcomes);
}

TEST_F(Users, NobodyChangesTheirOwnAccountAndEveryAdministratorRoleStaysHeld) {
  EXPECT_NE(ctl("dave", "user del dave").output.find("does not delete itself"), std::string::npos);
  EXPECT_NE(ctl("alice", "user grant alice sysadmin").output.find("does not change its own role"),
            std::string::npos);
  // bob is the only audit administrator: neither deleted nor demoted.
  const RunResult last = ctl("dave", "user del bob");
  EXPECT_EQ(last.status, 1);
  EXPECT_NE(last.output.find("bob is the only audadmin"), std::string::npos) << last.output;
  EXPECT_NE(ctl("alice", "user grant bob operator").output.find("only audadmin"), std::string::npos);
  EXPECT_NE(ctl("alice", "user grant nobody operator").output.find("NOT_FOUND"), std::string::npos);
  EXPECT_EQ(role_of("bob"), "audadmin");
  // With a second audit administrator, the first can go.
  ASSERT_EQ(ctl_new("dave", "user add auditor2", kFirst).status, 0);
  ASSERT_EQ(ctl("alice", "user grant auditor2 audadmin").status, 0);
  EXPECT_EQ(ctl("dave", "user del bob").status, 0);
  // Refusals are audited too.
  size_t refused = 0;
  for (const auto& r : audit_records()) {
    if (r["success"] == false && r["event_type"].get<std::string>().starts_with("user_")) ++refused;
  }
  EXPECT_EQ(refused, 5u);
}

TEST_F(Users, ADeletedAccountsCertificatesAreRevokedWithIt) {
  std::filesystem::create_directories(dir_.file("certs"));
  ASSERT_EQ(ctl_new("dave", "user add frank", kFirst).status, 0);
  const RunResult issued = ctl("alice", "--json certificate issue admin frank to " + dir_.file("certs"));
  ASSERT_EQ(issued.status, 0) << issued.output;
  const std::string serial = nlohmann::json::parse(issued.output)["serial"];
  const RunResult deleted = ctl("dave", "--json user del frank");
  ASSERT_EQ(deleted.status, 0) << deleted.output;
  EXPECT_EQ(nlohmann::json::parse(deleted.output)["revoked_certificates"], nlohmann::json::array({serial}));
  const auto listed = nlohmann::json::parse(ctl("carol", "--json show certificates").output);
  ASSERT_EQ(listed["certificates"].size(), 1u);
  EXPECT_GT(listed["certificates"][0]["revoked_unix_s"].get<int64_t>(), 0);
}

}  // namespace
