// ftzgated and ftzctl as an administrator uses them: real processes, the
// real gRPC channel over a unix socket in a scratch directory.
#include "ftz/test/ftzgated.hpp"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ftz/test/files.hpp"
#include "ftzgate/v1/management.grpc.pb.h"

namespace {

using ftz::test::binary;
using ftz::test::read_text;
using ftz::test::run_command;
using ftz::test::RunResult;
using ftz::test::TempDir;

using ftz::test::Ftzgated;
using ftz::test::kBlockHk;
using ftz::test::password_of;

TEST_F(Ftzgated, InitOnceServeOnceAndTheExitStatusSaysWhy) {
  const RunResult none =
      run_command(binary("ftzgated") + " --state-dir " + state() + " --listen unix:" + socket());
  EXPECT_EQ(none.status, 2) << none.output;
  EXPECT_NE(none.output.find("ftzgated --init"), std::string::npos) << none.output;
  const RunResult first = init("--accounts " + dir_.file("accounts"));
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_NE(first.output.find("generation 1"), std::string::npos) << first.output;
  const RunResult again = init("--accounts " + dir_.file("accounts"));
  EXPECT_EQ(again.status, 2) << again.output;
  // The law keeps network logs at least six months (DOMAIN.md §4.1).
  const RunResult short_retention = run_command(binary("ftzgated") + " --state-dir " + state() +
                                                " --audit-retention-days 90 --listen unix:" + socket());
  EXPECT_EQ(short_retention.status, 2) << short_retention.output;
  EXPECT_NE(short_retention.output.find("184"), std::string::npos) << short_retention.output;
  struct stat st {};
  ASSERT_EQ(::stat((state() + "/keys/device.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((state() + "/accounts.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  start();
  ASSERT_EQ(::stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  const RunResult second = run_command(binary("ftzgated") + " --state-dir " + state() +
                                       " --listen unix:" + dir_.file("other.sock"));
  EXPECT_EQ(second.status, 2) << second.output;
  EXPECT_NE(second.output.find("another process holds"), std::string::npos) << second.output;
  EXPECT_EQ(stop(), 0);
  EXPECT_NE(::access(socket().c_str(), F_OK), 0) << "the socket outlived the daemon";
}

TEST_F(Ftzgated, LoadCheckCommitShowAndRollbackAsNewGenerations) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start();
  // An invalid file: every error as file:line:col, nothing changes.
  std::ofstream(dir_.file("bad.yaml")) << "zones:\n  - {name: inside, kind: ftz, prefixes: [10.0.0.0/33]}\n";
  const RunResult bad = ctl("alice", "load " + dir_.file("bad.yaml"));
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("INVALID_ARGUMENT"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("bad.yaml:2:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("zones[0].prefixes[0]"), std::string::npos) << bad.output;
  const RunResult nothing = ctl("alice", "commit");
  EXPECT_EQ(nothing.status, 1);
  EXPECT_NE(nothing.output.find("FAILED_PRECONDITION"), std::string::npos) << nothing.output;

  ASSERT_EQ(ctl("alice", "load " + dir_.file("block-hk.yaml")).status, 0);
  // The candidate against the running configuration, as Junos shows it.
  const RunResult diff = ctl("alice", "show configuration '| compare'");
  ASSERT_EQ(diff.status, 0) << diff.output;
  EXPECT_TRUE(
      diff.output.starts_with("--- running (generation 1)\n+++ candidate (based on generation 1)\n@@ "))
      << diff.output;
  EXPECT_NE(diff.output.find("\n+  - {src_zone: inside, dst_zone: hk, action: block}\n"), std::string::npos)
      << diff.output;
  const RunResult check = ctl("alice", "commit check");
  EXPECT_EQ(check.status, 0) << check.output;
  const RunResult done = ctl("alice", "--json commit comment 'block hk'");
  ASSERT_EQ(done.status, 0) << done.output;
  const auto j = nlohmann::json::parse(done.output);
  EXPECT_EQ(j["commit"]["generation"], 2);
  EXPECT_EQ(j["commit"]["based_on"], 1);
  EXPECT_EQ(j["commit"]["comment"], "block hk");
  const RunResult shown = ctl("carol", "show configuration");
  EXPECT_EQ(shown.status, 0) << shown.output;
  EXPECT_EQ(shown.output, std::string("# generation 2\n") + kBlockHk);
  // Nothing left to compare once committed; against generation 1 the
  // change shows again (pipes split however they are quoted).
  EXPECT_EQ(ctl("alice", "show configuration '| compare'").output, "");
  const RunResult since = ctl("alice", "--json show configuration '|compare' rollback 1");
  ASSERT_EQ(since.status, 0) << since.output;
  const auto d = nlohmann::json::parse(since.output);
  EXPECT_EQ(d["from_generation"], 1);
  EXPECT_NE(d["diff"].get<std::string>().find("+  - {src_zone: inside, dst_zone: hk, action: block}"),
            std::string::npos);
  EXPECT_EQ(ctl("alice", "show configuration '| compare' rollback x").status, 2);

  // Two editors: the second commit's candidate is stale.
  ASSERT_EQ(ctl("alice", "rollback 1").status, 0);
  ASSERT_EQ(ctl("erin", "load " + dir_.file("block-hk.yaml")).status, 0);
  ASSERT_EQ(ctl("erin", "commit comment 'same again'").status, 0);
  const RunResult stale = ctl("alice", "commit");
  EXPECT_EQ(stale.status, 1);
  EXPECT_NE(stale.output.find("FAILED_PRECONDITION"), std::string::npos) << stale.output;
  EXPECT_NE(stale.output.find("generation 3 is running"), std::string::npos) << stale.output;
  // Rolled back by loading generation 1 again: a new generation.
  ASSERT_EQ(ctl("alice", "rollback 1").status, 0);
  ASSERT_EQ(ctl("alice", "commit comment 'back to 1'").status, 0);
  const RunResult history = ctl("dave", "--json show system commit");
  ASSERT_EQ(history.status, 0) << history.output;
  const auto h = nlohmann::json::parse(history.output);
  EXPECT_EQ(h["running_generation"], 4);
  ASSERT_EQ(h["commits"].size(), 4u);
  EXPECT_EQ(h["commits"][0]["sha256"], h["commits"][3]["sha256"]) << "generation 4 is generation 1's text";
  EXPECT_EQ(ctl("dave", "show configuration rollback 9").output.find("NOT_FOUND") != std::string::npos, true);

  // The commits survive a restart.
  EXPECT_EQ(stop(), 0);
  start();
  EXPECT_NE(ctl("carol", "show system commit").output.find("* 4"), std::string::npos);
}

// A configuration with prefix-list files and a signature pack (the
// reference deployment) is loaded with its files: the generation is whole in
// the store, and survives the files' removal from the administrator's disk.
TEST_F(Ftzgated, IncludedFilesAreImportedWithTheConfiguration) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start();
  std::filesystem::copy(ftz::test::source_dir() + "/examples", dir_.file("examples"),
                        std::filesystem::copy_options::recursive);
  const std::string lingang = dir_.file("examples/lingang.yaml");
  const RunResult load = ctl("alice", "--json load " + lingang);
  ASSERT_EQ(load.status, 0) << load.output;
  const auto files = nlohmann::json::parse(load.output)["files"];
  EXPECT_EQ(files.size(), 3u) << files;  // two prefix lists, the built-in pack
  EXPECT_NE(files.dump().find("signatures/builtin.yaml"), std::string::npos) << files;
  std::filesystem::remove_all(dir_.file("examples"));
  const RunResult commit = ctl("alice", "commit comment lingang");
  ASSERT_EQ(commit.status, 0) << commit.output;
  const RunResult shown = ctl("carol", "show configuration");
  EXPECT_EQ(shown.output.find("# generation 2\n"), 0u) << shown.output;
  // The load record names each file with its hash.
  bool recorded = false;
  for (const auto& r : audit_records()) {
    if (r["event_type"] == "load" && r["success"] == true && r["details"].contains("files")) {
      recorded = r["details"]["files"].contains("signatures/builtin.yaml") &&
                 r["details"]["files"]["signatures/builtin.yaml"].get<std::string>().size() == 64;
    }
  }
  EXPECT_TRUE(recorded);
  // A file that cannot be read is named by ftzctl, and the load refused by
  // the daemon at the line that names it.
  std::ofstream(dir_.file("partial.yaml"))
      << "zones:\n"
         "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
         "  - {name: cn, kind: domestic, prefix_list_files: [data/cn.txt]}\n"
         "  - {name: offshore, kind: offshore, default: true}\n";
  const RunResult partial = ctl("alice", "load " + dir_.file("partial.yaml"));
  EXPECT_EQ(partial.status, 1);
  EXPECT_NE(partial.output.find("names data/cn.txt, which cannot be read here: no such file"),
            std::string::npos)
      << partial.output;
  EXPECT_NE(partial.output.find("partial.yaml:3:"), std::string::npos) << partial.output;
  EXPECT_NE(partial.output.find("not imported with the configuration"), std::string::npos) << partial.output;
}

TEST_F(Ftzgated, EachRoleDoesOnlyItsOwnWorkAndEveryDenialIsAudited) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start();
  ASSERT_EQ(ctl("alice", "load " + dir_.file("block-hk.yaml")).status, 0);
  struct Case {
    const char* user;
    std::string words;
    bool allowed;
  };
  const std::string load = "load " + dir_.file("block-hk.yaml");
  const Case cases[] = {
      {"bob", "commit", false},
      {"bob", load, false},
      {"bob", "show configuration", false},
      {"bob", "audit verify", true},
      {"carol", load, false},
      {"carol", "rollback 1", false},
      {"carol", "commit", false},
      {"carol", "show configuration", true},
      {"carol", "set rules r1 action block", false},
      {"carol", "delete zones hk", false},
      {"bob", "set rules r1 action block", false},
      {"carol", "audit verify", false},
      {"dave", load, false},
      {"dave", "commit", false},
      {"dave", "audit verify", false},
      {"dave", "show system commit", true},
      {"alice", "audit verify", false},
      {"alice", "commit check", true},
  };
  int denials = 0;
  for (const Case& c : cases) {
    const RunResult r = ctl(c.user, c.words);
    if (c.allowed) {
      EXPECT_EQ(r.status, 0) << c.user << " " << c.words << ": " << r.output;
    } else {
      ++denials;
      EXPECT_EQ(r.status, 1) << c.user << " " << c.words;
      EXPECT_NE(r.output.find("PERMISSION_DENIED"), std::string::npos)
          << c.user << " " << c.words << r.output;
    }
  }
  int audited = 0;
  for (const auto& rec : audit_records()) {
    if (rec["success"] == false && rec["details"].contains("denied")) ++audited;
  }
  EXPECT_EQ(audited, denials);
  EXPECT_EQ(ctl("alice", "show system commit").output.find("* 1") != std::string::npos, true)
      << "a denied commit changed the running configuration";
}

// Junos-style edits: a candidate grows from the running configuration one
// `set` at a time (or a `load merge`), an incomplete one is kept and says what commit check
// would refuse, `| compare` shows it, a commit applies it, and every edit is
// audited with its path.
TEST_F(Ftzgated, SetAndDeleteEditTheCandidateAWordPathAtATime) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts") + " --config " + dir_.file("block-hk.yaml")).status,
            0);
  start();
  RunResult r = ctl("alice", "--json set rules no-ftp-out match dst_zone nowhere");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["based_on"], 1);
  EXPECT_NE(j["problems"].get<std::string>().find("nowhere"), std::string::npos) << "an unknown zone, kept";
  ASSERT_EQ(ctl("alice", "set rules no-ftp-out match dst_zone offshore").status, 0);
  ASSERT_EQ(ctl("alice", "set rules no-ftp-out match dst_port 21").status, 0);
  r = ctl("alice", "--json set rules no-ftp-out action block");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output)["problems"], "") << "complete now";
  ASSERT_EQ(ctl("alice", "delete zones hk").status, 0);
  r = ctl("alice", "commit check");
  EXPECT_EQ(r.status, 1) << "the hk default still names the zone";
  EXPECT_NE(r.output.find("hk"), std::string::npos) << r.output;
  EXPECT_EQ(ctl("alice", "set defaults x").status, 1) << "defaults is a list of items, not a value";
  r = ctl("alice", "delete defaults");
  ASSERT_EQ(r.status, 0) << r.output;
  const RunResult diff = ctl("alice", "show configuration '| compare'");
  EXPECT_NE(diff.output.find("+  - name: no-ftp-out"), std::string::npos) << diff.output;
  EXPECT_NE(diff.output.find("-  - {name: hk"), std::string::npos) << diff.output;
  r = ctl("alice", "commit comment 'no FTP out'");
  ASSERT_EQ(r.status, 0) << r.output;
  const RunResult shown = ctl("carol", "show configuration");
  EXPECT_NE(shown.output.find("dst_port: 21"), std::string::npos) << shown.output;
  EXPECT_EQ(shown.output.find("hk"), std::string::npos) << shown.output;
  // load merge: a file with one more rule joins the running configuration.
  std::ofstream(dir_.file("smtp.yaml"))
      << "rules:\n  - {name: no-smtp-out, match: {dst_port: 25}, action: block}\n";
  r = ctl("alice", "load merge " + dir_.file("smtp.yaml"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("merged into the candidate"), std::string::npos) << r.output;
  ASSERT_EQ(ctl("alice", "commit").status, 0);
  const RunResult merged = ctl("carol", "show configuration");
  EXPECT_NE(merged.output.find("no-smtp-out"), std::string::npos) << merged.output;
  EXPECT_NE(merged.output.find("no-ftp-out"), std::string::npos) << "merged, not replaced: " << merged.output;
  r = ctl("alice", "delete rules no-such-rule");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no rules no-such-rule"), std::string::npos) << r.output;
  size_t sets = 0;
  size_t deletes = 0;
  for (const auto& rec : audit_records()) {
    if (rec["event_type"] == "set" && rec["success"] == true) ++sets;
    if (rec["event_type"] == "delete") {
      ++deletes;
      EXPECT_TRUE(rec["details"].contains("path")) << rec.dump();
    }
  }
  EXPECT_EQ(sets, 4u) << "and one refused";
  EXPECT_EQ(deletes, 3u) << "two done, one refused";
}

TEST_F(Ftzgated, FiveWrongPasswordsLockTheAccount) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start();
  for (int i = 0; i < 4; ++i) {
    const RunResult r = ctl("dave", "show system commit", "Not-The-Password-1");
    EXPECT_NE(r.output.find("UNAUTHENTICATED"), std::string::npos) << r.output;
  }
  const RunResult fifth = ctl("dave", "show system commit", "Not-The-Password-1");
  EXPECT_NE(fifth.output.find("locked"), std::string::npos) << fifth.output;
  const RunResult right = ctl("dave", "show system commit");
  EXPECT_EQ(right.status, 1);
  EXPECT_NE(right.output.find("locked"), std::string::npos)
      << "the right password during the lock: " << right.output;
  // A restart does not lift it.
  EXPECT_EQ(stop(), 0);
  start();
  EXPECT_NE(ctl("dave", "show system commit").output.find("locked"), std::string::npos);
  // The other accounts are untouched; an unknown name reads like a wrong password.
  EXPECT_EQ(ctl("carol", "show system commit").status, 0);
  EXPECT_NE(ctl("mallory", "show system commit", "Whatever-2026x").output.find("wrong user or password"),
            std::string::npos);
}

TEST_F(Ftzgated, DefaultAccountsChangeTheirPasswordFirst) {
  ASSERT_EQ(init().status, 0);
  const std::string file = state() + "/initial-passwords";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = read_text(file);
  const size_t at = text.find("secadmin:");
  ASSERT_NE(at, std::string::npos) << text;
  const std::string initial = text.substr(at + 9, text.find('\n', at) - at - 9);
  start();
  const RunResult first = ctl("secadmin", "show system commit", initial);
  EXPECT_EQ(first.status, 1);
  EXPECT_NE(first.output.find("must change its password"), std::string::npos) << first.output;
  const RunResult weak =
      run_command("FTZCTL_PASSWORD='" + initial + "' FTZCTL_NEW_PASSWORD=short " + binary("ftzctl") +
                  " --socket " + socket() + " --user secadmin user passwd");
  EXPECT_EQ(weak.status, 1);
  EXPECT_NE(weak.output.find("at least 12"), std::string::npos) << weak.output;
  const RunResult changed =
      run_command("FTZCTL_PASSWORD='" + initial + "' FTZCTL_NEW_PASSWORD=New-Secadmin-2026 " +
                  binary("ftzctl") + " --socket " + socket() + " --user secadmin user passwd");
  EXPECT_EQ(changed.status, 0) << changed.output;
  EXPECT_EQ(ctl("secadmin", "show system commit", "New-Secadmin-2026").status, 0);
  EXPECT_NE(ctl("secadmin", "show system commit", initial).output.find("UNAUTHENTICATED"), std::string::npos);
  // No password, old or new, in the audit log.
  const std::string log = read_text(state() + "/audit/audit-00000000000000000001.jsonl");
  EXPECT_EQ(log.find(initial), std::string::npos);
  EXPECT_EQ(log.find("New-Secadmin-2026"), std::string::npos);
}

TEST_F(Ftzgated, TheAuditAdministratorFindsATamperedRecord) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start();
  ASSERT_EQ(ctl("alice", "load " + dir_.file("block-hk.yaml")).status, 0);
  ASSERT_EQ(ctl("alice", "commit comment 'block hk'").status, 0);
  const RunResult clean = ctl("bob", "--json audit verify");
  ASSERT_EQ(clean.status, 0) << clean.output;
  EXPECT_EQ(nlohmann::json::parse(clean.output)["ok"], true);
  // ftzgated verifies its own log (at start, then hourly): the NOC sees it.
  const auto status = [&] {
    for (int i = 0; i < 50; ++i) {
      const nlohmann::json j =
          nlohmann::json::parse(ctl("carol", "--json show system status").output, nullptr, false);
      if (j.is_object() && j.value("audit_verified_unix_s", int64_t{0}) != 0) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nlohmann::json::object();
  };
  const nlohmann::json clean_status = status();
  EXPECT_TRUE(clean_status.value("audit_verify_ok", false)) << clean_status.dump();
  EXPECT_EQ(stop(), 0);
  // The daemon's start and stop are recorded, and a clean stop signs the
  // log to its end.
  const std::vector<nlohmann::json> records = audit_records();
  ASSERT_GE(records.size(), 3u);
  EXPECT_EQ(records.end()[-1]["event_type"], "checkpoint");
  EXPECT_EQ(records.end()[-2]["event_type"], "ftzgated_stop");
  EXPECT_EQ(records.end()[-2]["details"]["reason"], "SIGTERM");
  EXPECT_TRUE(std::any_of(records.begin(), records.end(),
                          [](const nlohmann::json& r) { return r["event_type"] == "ftzgated_start"; }));
  // An auditor's copy, verified on their own machine against the device key.
  std::filesystem::copy(state() + "/audit", dir_.file("copy"));
  const std::string key = " key " + state() + "/keys/device.pub";
  const auto offline = [&](const std::string& words) {
    return run_command(binary("ftzctl") + " --socket /nonexistent " + words);
  };
  const RunResult copy_ok = offline("--json audit verify from " + dir_.file("copy") + key);
  ASSERT_EQ(copy_ok.status, 0) << copy_ok.output;
  EXPECT_GT(nlohmann::json::parse(copy_ok.output)["records"].get<uint64_t>(),
            nlohmann::json::parse(clean.output)["records"].get<uint64_t>())
      << "and the daemon's audit_verify record";
  // Someone with the disk edits the commit's comment in the log.
  const std::string f = state() + "/audit/audit-00000000000000000001.jsonl";
  std::string text = read_text(f);
  const size_t at = text.find("block hk");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 8, "allow hk");
  std::ofstream(f, std::ios::trunc) << text;
  start();
  // Found at start, before anyone asks: the operator's status says so
  // (SNMP's ftzAuditVerifyFailed reads it), and the finding is recorded.
  const nlohmann::json broken = status();
  EXPECT_FALSE(broken.value("audit_verify_ok", true)) << broken.dump();
  EXPECT_NE(broken.value("audit_verify_problem", "").find("audit-00000000000000000001.jsonl:"),
            std::string::npos)
      << broken.dump();
  EXPECT_NE(ctl("carol", "show system status").output.find("audit log: DOES NOT VERIFY"), std::string::npos);
  const auto after = audit_records();
  EXPECT_TRUE(std::any_of(after.begin(), after.end(),
                          [](const nlohmann::json& r) { return r["event_type"] == "audit_verify_failed"; }));
  const RunResult found = ctl("bob", "audit verify");
  EXPECT_EQ(found.status, 1) << found.output;
  EXPECT_NE(found.output.find("FAILED"), std::string::npos) << found.output;
  EXPECT_NE(found.output.find("modified"), std::string::npos) << found.output;
  EXPECT_NE(found.output.find("audit-00000000000000000001.jsonl:"), std::string::npos) << found.output;
  // The same finding offline; the copy still verifies, but not against
  // another key (checkpoints are signed).
  const RunResult found_offline = offline("audit verify from " + state() + "/audit" + key);
  EXPECT_EQ(found_offline.status, 1) << found_offline.output;
  EXPECT_NE(found_offline.output.find("modified"), std::string::npos) << found_offline.output;
  EXPECT_EQ(offline("audit verify from " + dir_.file("copy") + key).status, 0);
  ASSERT_EQ(run_command(binary("ftzgate-sign") + " keygen " + dir_.file("other")).status, 0);
  const RunResult other =
      offline("audit verify from " + dir_.file("copy") + " key " + dir_.file("other.pub"));
  EXPECT_EQ(other.status, 1) << other.output;
  EXPECT_EQ(offline("audit verify from " + dir_.file("copy")).status, 2) << "needs the key";
  EXPECT_EQ(offline("audit verify from " + dir_.file("nothing") + key).status, 2);
  // The state directory instead of its audit/: not a log, never "verified".
  const RunResult wrong_dir = offline("audit verify from " + state() + key);
  EXPECT_EQ(wrong_dir.status, 1) << wrong_dir.output;
  EXPECT_NE(wrong_dir.output.find("not a copy of an audit log"), std::string::npos) << wrong_dir.output;
}

// The audit administrator reads the records as stored (audit show), and
// everyone who may show gets one screen of status.
// The metrics over HTTPS with basic authentication: a real curl against
// a certificate openssl made, users hashed with openssl passwd (crypt(3)).
TEST_F(Ftzgated, MetricsOverHttpsWithBasicAuthentication) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  const std::string cert = dir_.file("metrics.crt");
  const std::string key = dir_.file("metrics.key");
  const std::string users = dir_.file("metrics.users");
  ASSERT_EQ(
      run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + key +
                  " -out " + cert + " -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>&1")
          .status,
      0);
  const RunResult hash = run_command("openssl passwd -6 -salt 8Yq2mZ Scrape-2026");
  ASSERT_EQ(hash.status, 0);
  std::ofstream(users) << "# prometheus\nscraper:" << hash.output;
  ::chmod(users.c_str(), 0600);
  serve_args_ = {"--metrics-listen",  "127.0.0.1:0", "--metrics-tls-cert", cert,
                 "--metrics-tls-key", key,           "--metrics-users",    users};
  start();
  const std::string log = read_text(dir_.file("ftzgated.log"));
  const size_t at = log.find("metrics on https://");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string url = log.substr(at + 11, log.find('\n', at) - at - 11);
  const auto code = [&](const std::string& how) {
    return run_command("curl -s -o /dev/null -w '%{http_code}' --cacert " + cert + " " + how + " " + url)
        .output;
  };
  EXPECT_EQ(code("-u scraper:Scrape-2026"), "200");
  EXPECT_NE(run_command("curl -s --cacert " + cert + " -u scraper:Scrape-2026 " + url)
                .output.find("ftzgate_running_generation"),
            std::string::npos);
  EXPECT_EQ(code("-u scraper:wrong"), "401");
  EXPECT_EQ(code("-u nobody:Scrape-2026"), "401");
  EXPECT_EQ(code(""), "401");
  EXPECT_NE(run_command("curl -s -i --cacert " + cert + " " + url).output.find("WWW-Authenticate: Basic"),
            std::string::npos);
  // Plain HTTP is not served on the HTTPS port.
  std::string plain = url;
  plain.replace(0, 5, "http");
  EXPECT_NE(run_command("curl -s -o /dev/null -w '%{http_code}' --max-time 5 " + plain).output, "200");
  ASSERT_EQ(stop(), 0);

  // Refused at start, with the file and what is wrong: a users file others
  // can read, a bad line, passwords in clear off loopback.
  const auto refused = [&](const std::vector<std::string>& args) {
    std::string cmd =
        "timeout 20 " + binary("ftzgated") + " --state-dir " + state() + " --listen unix:" + socket();
    for (const std::string& x : args) cmd += " '" + x + "'";
    return run_command(cmd + " 2>&1");
  };
  ::chmod(users.c_str(), 0644);
  RunResult r = refused({"--metrics-listen", "127.0.0.1:0", "--metrics-users", users});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(users + ": group or others may read it (mode 644)"), std::string::npos) << r.output;
  ::chmod(users.c_str(), 0600);
  std::ofstream(users, std::ios::app) << "carol:plaintext\n";
  r = refused({"--metrics-listen", "127.0.0.1:0", "--metrics-users", users});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(users + ":3: the hash of carol is not one crypt(3) knows"), std::string::npos)
      << r.output;
  std::ofstream(users, std::ios::trunc) << "scraper:" << hash.output;
  r = refused({"--metrics-listen", "0.0.0.0:0", "--metrics-users", users});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("would send the passwords in clear"), std::string::npos) << r.output;
  r = refused({"--metrics-listen", "127.0.0.1:0", "--metrics-tls-cert", cert});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("go together"), std::string::npos) << r.output;
}

TEST_F(Ftzgated, AuditShowAndSystemStatus) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start();
  ASSERT_EQ(ctl("alice", "load " + dir_.file("block-hk.yaml")).status, 0);
  ASSERT_EQ(ctl("alice", "commit comment 'block hk'").status, 0);
  std::filesystem::create_directories(dir_.file("certs"));
  ASSERT_EQ(ctl("alice", "certificate issue dataplane dp-9 to " + dir_.file("certs") + " days 10").status, 0);

  // The commit's record says what changed.
  nlohmann::json commit;
  for (const auto& r : audit_records()) {
    if (r["event_type"] == "commit") commit = r;
  }
  ASSERT_TRUE(commit.is_object());
  EXPECT_EQ(commit["details"]["generation"], 2);
  EXPECT_EQ(commit["details"]["changes"]["from_generation"], 1) << commit;
  EXPECT_GT(commit["details"]["changes"]["lines_added"].get<uint64_t>(), 0u) << commit;
  EXPECT_FALSE(commit["details"]["changes"]["sections"].empty()) << commit;

  const RunResult shown = ctl("bob", "audit show");
  ASSERT_EQ(shown.status, 0) << shown.output;
  EXPECT_NE(shown.output.find(" alice(secadmin) "), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find(" commit {"), std::string::npos) << shown.output;
  const RunResult two = ctl("bob", "--json audit show last 2");
  ASSERT_EQ(two.status, 0) << two.output;
  const auto j = nlohmann::json::parse(two.output, nullptr, false);
  ASSERT_TRUE(j.is_object()) << two.output;
  ASSERT_EQ(j["records"].size(), 2u);
  EXPECT_GT(j["matched"].get<uint64_t>(), 2u);
  // Oldest first: this call's login is the newest. (The daemon's own
  // records, as certificate_expiring for dp-9, may come between.)
  EXPECT_EQ(j["records"][1]["event_type"], "login") << j;
  EXPECT_EQ(j["records"][1]["user"], "bob") << j;
  // Records from a time on: none from the future.
  const RunResult future = ctl("bob", "--json audit show since 2099-01-01");
  ASSERT_EQ(future.status, 0) << future.output;
  EXPECT_EQ(nlohmann::json::parse(future.output)["matched"], 0);
  EXPECT_EQ(ctl("bob", "audit show since yesterday").status, 2);
  EXPECT_EQ(ctl("bob", "audit show since 2026-02-30").status, 2) << "not a date";
  for (const char* other : {"alice", "carol", "dave"}) {
    const RunResult denied = ctl(other, "audit show");
    EXPECT_EQ(denied.status, 1) << other;
    EXPECT_NE(denied.output.find("PERMISSION_DENIED"), std::string::npos) << other << ": " << denied.output;
  }

  const RunResult status = ctl("carol", "show system status");
  ASSERT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("running generation 2"), std::string::npos) << status.output;
  // Issued for 10 days: 10 days left in the second it was issued, 9 after.
  EXPECT_TRUE(status.output.find("(dataplane dp-9) expires in 9 days") != std::string::npos ||
              status.output.find("(dataplane dp-9) expires in 10 days") != std::string::npos)
      << status.output;
  const auto sj = nlohmann::json::parse(ctl("carol", "--json show system status").output, nullptr, false);
  ASSERT_TRUE(sj.is_object());
  EXPECT_EQ(sj["running_generation"], 2);
  EXPECT_EQ(sj["dataplanes"], 0);
  EXPECT_GT(sj["audit_last_seq"].get<uint64_t>(), 5u);
  EXPECT_GT(sj["state_free_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(sj["device_key_id"].get<std::string>().size(), 16u) << sj;
  ASSERT_EQ(sj["certificates_expiring"].size(), 1u);
  EXPECT_EQ(sj["certificates_expiring"][0]["name"], "dp-9");
}

// The service itself, without ftzctl: what a client that forges or omits
// its session gets, and a session that sat idle.
// The token key and the count belong to ftzgated (decision 0012): a
// configuration's compliance paths load, and the loader says they are not
// used.
TEST_F(Ftzgated, CompliancePathsInALoadedConfigurationAreIgnoredWithAWarning) {
  const std::string plain = ftz::test::write_plain_config(dir_);
  const RunResult first = init("--accounts " + dir_.file("accounts") + " --config " + plain);
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_NE(
      first.output.find("warning: " + plain + ": compliance.key_file and compliance.state_file are ignored"),
      std::string::npos)
      << first.output;
  start();
  const RunResult loaded = ctl("alice", "load " + plain);
  ASSERT_EQ(loaded.status, 0) << loaded.output;
  EXPECT_NE(loaded.output.find("ftzctl: warning: compliance.key_file and compliance.state_file are ignored"),
            std::string::npos)
      << loaded.output;
  const RunResult quiet = ctl("alice", "load " + dir_.file("block-hk.yaml"));
  ASSERT_EQ(quiet.status, 0);
  EXPECT_EQ(quiet.output.find("warning"), std::string::npos) << quiet.output;
  // Scripts get it in the JSON, and standard error stays quiet.
  const RunResult json = ctl("alice", "--json load " + plain);
  ASSERT_EQ(json.status, 0) << json.output;
  const auto j = nlohmann::json::parse(json.output);
  ASSERT_EQ(j["warnings"].size(), 1u) << j;
  EXPECT_NE(j["warnings"][0].get<std::string>().find("compliance.key_file"), std::string::npos) << j;
}

TEST_F(Ftzgated, CallsWithoutAValidSessionAreRefusedAndIdleSessionsEnd) {
  namespace pb = ftzgate::v1;
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  start("2");
  auto stub =
      pb::Management::NewStub(grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
  const auto show = [&](const std::string& session) {
    grpc::ClientContext ctx;
    if (!session.empty()) ctx.AddMetadata("x-ftzgate-session", session);
    pb::ShowCommitsReply reply;
    return stub->ShowCommits(&ctx, pb::ShowCommitsRequest{}, &reply).error_code();
  };
  EXPECT_EQ(show(""), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(show(std::string(64, 'a')), grpc::StatusCode::UNAUTHENTICATED);
  pb::LoginRequest req;
  req.set_user("carol");
  req.set_password(password_of("carol"));
  pb::LoginReply login;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Login(&ctx, req, &login).ok());
  }
  EXPECT_EQ(login.role(), pb::ROLE_OPERATOR);
  EXPECT_EQ(login.idle_timeout_s(), 2);
  EXPECT_EQ(show(login.session()), grpc::StatusCode::OK);
  // A call within the timeout keeps the session alive; 3 s of silence end it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(show(login.session()), grpc::StatusCode::OK);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(show(login.session()), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(show(login.session()), grpc::StatusCode::UNAUTHENTICATED) << "an ended session came back";
  int timeouts = 0;
  for (const auto& rec : audit_records()) timeouts += rec["event_type"] == "session_timeout" ? 1 : 0;
  EXPECT_EQ(timeouts, 1);
}

// systemd's notification protocol (sd_notify(3)), read as the service
// manager reads it: datagrams on the socket NOTIFY_SOCKET names.
TEST_F(Ftzgated, TellsTheServiceManagerItIsReadyAliveAndStopping) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  const std::string path = dir_.file("notify.sock");
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  path.copy(addr.sun_path, path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const timeval wait{.tv_sec = 5, .tv_usec = 0};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait), 0);
  const auto next = [fd] {
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<size_t>(n));
  };
  // The environment systemd gives a Type=notify unit with WatchdogSec=1.
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "1000000", 1);
  start();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(next(), "READY=1\nSTATUS=serving, running generation 1");
  // Kept alive by the loop that evaluates thresholds and ends sessions:
  // about once a second, within the interval.
  const auto first = std::chrono::steady_clock::now();
  EXPECT_EQ(next(), "WATCHDOG=1");
  EXPECT_EQ(next(), "WATCHDOG=1");
  EXPECT_LT(std::chrono::steady_clock::now() - first, std::chrono::milliseconds(2500));
  EXPECT_EQ(stop(), 0);
  // The process is gone: what it sent is queued.
  const timeval drained{.tv_sec = 0, .tv_usec = 100'000};
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &drained, sizeof drained), 0);
  std::string last;
  for (std::string m = next(); m != "(nothing)"; m = next()) last = m;
  EXPECT_EQ(last, "STOPPING=1");
  ::close(fd);
}

}  // namespace
