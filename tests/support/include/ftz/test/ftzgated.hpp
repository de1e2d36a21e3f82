#pragma once
// ftzgated as the tests run it: a state directory initialised with known
// accounts, the daemon as a child process on a unix socket in a scratch
// directory, ftzctl as an administrator types it, and the audit log's
// records. A gtest fixture (tests/controlplane, tests/dpdk).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ftz/test/files.hpp"
#include "ftz/test/spawn.hpp"

namespace ftz::test {

inline const char* const kAccounts =
    "# name:role:password\n"
    "alice:secadmin:Harbor-Rule-2026\n"
    "erin:secadmin:Second-Editor-2026\n"
    "bob:audadmin:Audit-Trail-2026\n"
    "carol:operator:Read-Only-2026x\n"
    "dave:sysadmin:System-Admin-2026\n";

inline const char* const kBlockHk =
    "zones:\n"
    "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
    "  - {name: hk, kind: hk_macao_taiwan, prefixes: [198.51.100.0/24]}\n"
    "  - {name: offshore, kind: offshore, default: true}\n"
    "defaults:\n"
    "  - {src_zone: inside, dst_zone: offshore, action: allow}\n"
    "  - {src_zone: inside, dst_zone: hk, action: block}\n";

inline std::string password_of(const std::string& user) {
  const std::string acc = kAccounts;
  const size_t at = acc.find("\n" + user + ":");
  const size_t pw = acc.find(':', acc.find(':', at + 1) + 1) + 1;
  return acc.substr(pw, acc.find('\n', pw) - pw);
}

// Starts ftzgated with `argv` (argv[0] the binary), stdout and stderr in
// `log` (emptied first: never the previous run's "serving"), and waits
// until it serves: its pid, or -1 (the log says why).
inline pid_t start_ftzgated(const std::vector<std::string>& argv, const std::string& log) {
  ::unlink(log.c_str());
  const pid_t pid = spawn(argv, log);
  for (int i = 0; i < 100 && read_text(log).find("serving") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return read_text(log).find("serving") == std::string::npos ? -1 : pid;
}

class Ftzgated : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::ofstream(dir_.file("accounts")) << kAccounts;
    std::ofstream(dir_.file("block-hk.yaml")) << kBlockHk;
  }
  void TearDown() override { stop(); }

  RunResult init(const std::string& extra = "") {
    return run_command(binary("ftzgated") + " --init --state-dir " + state() + " " + extra);
  }
  // `tcp`: also --listen-tcp 127.0.0.1:0 (mutual TLS); tcp_target() names
  // the port it bound.
  void start(const std::string& idle_timeout_s = "900", bool tcp = false) {
    std::vector<std::string> argv = {binary("ftzgated"), "--state-dir",    state(),       "--listen",
                                     "unix:" + socket(), "--idle-timeout", idle_timeout_s};
    if (tcp) argv.insert(argv.end(), {"--listen-tcp", "127.0.0.1:0"});
    argv.insert(argv.end(), serve_args_.begin(), serve_args_.end());
    const std::string log = dir_.file("ftzgated.log");
    pid_ = start_ftzgated(argv, log);
    ASSERT_GT(pid_, 0) << read_text(log);
  }
  // "127.0.0.1:PORT" as the running daemon reported it ("" without TCP).
  std::string tcp_target() const {
    const std::string log = read_text(dir_.file("ftzgated.log"));
    const size_t at = log.find("and tcp ");
    if (at == std::string::npos) return {};
    const size_t from = at + 8;
    return log.substr(from, log.find(' ', from) - from);
  }
  // ftzctl over TCP as `user`, presenting the certificate CERTS/NAME.crt.
  RunResult ctl_tcp(const std::string& user, const std::string& cert, const std::string& words,
                    const std::string& password = "") {
    const std::string certs = dir_.file("certs/");
    return run_command("FTZCTL_PASSWORD='" + (password.empty() ? password_of(user) : password) + "' " +
                       binary("ftzctl") + " --controller " + tcp_target() + " --ca " + certs +
                       "ca.crt --cert " + certs + cert + ".crt --key " + certs + cert + ".key --user " +
                       user + " " + words);
  }
  // SIGTERM and its exit status (0 expected).
  int stop() {
    if (pid_ <= 0) return 0;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // `env` is more of ftzctl's environment ("NAME='value' ").
  RunResult ctl(const std::string& user, const std::string& words, const std::string& password = "",
                const std::string& env = "") {
    return run_command(env + "FTZCTL_PASSWORD='" + (password.empty() ? password_of(user) : password) + "' " +
                       binary("ftzctl") + " --socket " + socket() + " --user " + user + " " + words);
  }
  // The audit log's records (all files, in order).
  std::vector<nlohmann::json> audit_records() const {
    std::vector<nlohmann::json> out;
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(state() + "/audit")) {
      if (e.path().filename().string().starts_with("audit-")) files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f);
      for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    }
    return out;
  }
  std::string state() const { return dir_.file("state"); }
  std::string socket() const { return dir_.file("ftzgated.sock"); }

  TempDir dir_{"ftzgated"};
  pid_t pid_ = -1;
  std::vector<std::string> serve_args_;  // more of ftzgated's arguments when it serves
};

}  // namespace ftz::test
