#pragma once
// A fleet member for the fleet tests: its state directory, its ftzgated
// (--fleet lab), ftzctl against it as alice types it, and optionally its
// data plane (ftzgate-dp on a capture, taking its policy from this member).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "dp_runner.hpp"
#include "ftz/test/etcd.hpp"
#include "ftz/test/ftzgated.hpp"

namespace ftz::fleettest {

using ftz::test::binary;
using ftz::test::read_text;
using ftz::test::run_command;
using ftz::test::RunResult;
using ftz::test::TempDir;

inline constexpr const char* kPrefix = "/ftzgate/fleets/lab/";

// One member: its state directory, its ftzgated, ftzctl against it.
class Member {
 public:
  // `extra`: more of ftzgated's arguments (--etcd-ca ...).
  Member(const TempDir& dir, int index, std::string endpoints, std::vector<std::string> extra = {})
      : dir_(dir),
        name_("m" + std::to_string(index)),
        endpoints_(std::move(endpoints)),
        extra_(std::move(extra)) {}
  ~Member() {
    stop_dp(SIGTERM);
    kill(SIGTERM);
  }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // ftzgated --init, with `config` as generation 1 when given; its device
  // key is what its data plane trusts.
  void init(const std::string& config = "") {
    std::ofstream(dir_.file("accounts")) << ftz::test::kAccounts;
    const RunResult r = run_command(binary("ftzgated") + " --init --state-dir " + state() + " --accounts " +
                                    dir_.file("accounts") + (config.empty() ? "" : " --config " + config));
    ASSERT_EQ(r.status, 0) << r.output;
    std::filesystem::create_directories(trusted());
    std::filesystem::copy_file(state() + "/keys/device.pub", trusted() + "/ftzgated.pub",
                               std::filesystem::copy_options::overwrite_existing);
    // The fleet's member keys: every member of the test's fleet trusts
    // every other's signed commits (a member initialised after another
    // started is trusted by it after its restart).
    std::filesystem::create_directories(fleet_keys());
    std::filesystem::copy_file(state() + "/keys/device.pub", fleet_keys() + "/" + name_ + ".pub",
                               std::filesystem::copy_options::overwrite_existing);
  }
  void start() {
    std::vector<std::string> argv = {binary("ftzgated"),
                                     "--state-dir",
                                     state(),
                                     "--listen",
                                     "unix:" + socket(),
                                     "--etcd-endpoints",
                                     endpoints_,
                                     "--fleet",
                                     "lab",
                                     "--fleet-member",
                                     name_,
                                     "--fleet-keys",
                                     fleet_keys()};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    pid_ = ftz::test::start_ftzgated(argv, log());
    ASSERT_GT(pid_, 0) << read_text(log());
  }
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Its data plane: ftzgate-dp --controller on this member's socket,
  // replaying `pcap` in a loop (no NIC, no hugepages), at a lower priority
  // than the control plane: three busy-polling data planes share two cores
  // with etcd and ftzgated.
  void start_dp(const std::string& pcap) {
    std::vector<std::string> argv = {binary("ftzgate-dp"),
                                     "--controller",
                                     "unix:" + socket(),
                                     "--dataplane-id",
                                     dataplane(),
                                     "--state-dir",
                                     dir_.file(name_ + "-dp"),
                                     "--trusted-keys",
                                     trusted(),
                                     "--pcap-in",
                                     pcap,
                                     "--loop",
                                     "--duration",
                                     "600",
                                     "--",
                                     "--file-prefix",
                                     prefix_.name(),
                                     "--log-level=*:warning"};
    dp_pid_ = ftz::test::spawn(argv, dp_log(), 10);
    ASSERT_GT(dp_pid_, 0);
  }
  void stop_dp(int sig) {
    if (dp_pid_ <= 0) return;
    ::kill(dp_pid_, sig);
    ::waitpid(dp_pid_, nullptr, 0);
    dp_pid_ = -1;
  }
  // Its data plane as `show dataplanes --json` on this member shows it.
  [[nodiscard]] nlohmann::json dataplane_shown() const {
    const RunResult r = ctl("--json show dataplanes");
    const auto j = nlohmann::json::parse(r.output, nullptr, false);
    if (r.status != 0 || !j.is_object()) return nlohmann::json::object();
    for (const auto& d : j.value("dataplanes", nlohmann::json::array()))
      if (d.value("id", "") == dataplane()) return d;
    return nlohmann::json::object();
  }
  // Waits (up to ~20 s) until its data plane ACKed `generation` and runs it.
  bool dataplane_acks(uint64_t generation) const {
    for (int i = 0; i < 100; ++i) {
      const auto d = dataplane_shown();
      if (d.value("running_generation", uint64_t{0}) == generation && d.value("state", "") == "running" &&
          d.value("connected", false))
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }
  RunResult ctl(const std::string& words) const { return ctl_as("alice", words); }
  RunResult ctl_as(const std::string& user, const std::string& words) const {
    return run_command("FTZCTL_PASSWORD='" + ftz::test::password_of(user) + "' " + binary("ftzctl") +
                       " --socket " + socket() + " --user " + user + " " + words);
  }
  // The running generation and its content hash, as the store has them.
  [[nodiscard]] std::pair<uint64_t, std::string> running() const {
    const auto j = nlohmann::json::parse(read_text(state() + "/config/running"), nullptr, false);
    if (!j.is_object()) return {0, ""};
    return {j.value("generation", uint64_t{0}), j.value("sha256", std::string())};
  }
  // Waits until the member runs `generation`.
  bool reaches(uint64_t generation) const {
    for (int i = 0; i < 100; ++i) {
      if (running().first == generation) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  [[nodiscard]] std::vector<nlohmann::json> audit(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : std::filesystem::directory_iterator(state() + "/audit")) {
      if (!e.path().filename().string().starts_with("audit-")) continue;
      std::ifstream in(e.path());
      for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("event_type", "") == type) out.push_back(j);
      }
    }
    return out;
  }
  [[nodiscard]] std::string state() const { return dir_.file(name_ + "-state"); }
  [[nodiscard]] std::string socket() const { return dir_.file(name_ + ".sock"); }
  [[nodiscard]] std::string log() const { return dir_.file(name_ + ".log"); }
  [[nodiscard]] std::string trusted() const { return dir_.file(name_ + "-trusted"); }
  [[nodiscard]] std::string fleet_keys() const { return dir_.file("fleet-keys"); }
  [[nodiscard]] std::string dataplane() const { return "dp-" + name_; }
  [[nodiscard]] std::string dp_log() const { return dir_.file(name_ + "-dp.log"); }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  const TempDir& dir_;
  std::string name_;
  std::string endpoints_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  ftz::dptest::FilePrefix prefix_{"fleet"};
  pid_t dp_pid_ = -1;
};

inline std::string config_allowing(const std::string& prefix) {
  return "zones:\n"
         "  - {name: inside, kind: ftz, prefixes: [" +
         prefix +
         "]}\n"
         "  - {name: offshore, kind: offshore, default: true}\n"
         "defaults:\n"
         "  - {src_zone: inside, dst_zone: offshore, action: allow}\n";
}

// `show fleet --json` on `m` once `pred` holds for it (up to ~10 s), else
// the last seen.
inline nlohmann::json show_fleet(const Member& m, const std::function<bool(const nlohmann::json&)>& pred) {
  nlohmann::json last;
  for (int n = 0; n < 50; ++n) {
    const RunResult r = m.ctl("--json show fleet");
    last = nlohmann::json::parse(r.output, nullptr, false);
    if (r.status == 0 && last.is_object() && pred(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

// tests/fleet/no_identifiers.py over all that `etcd` holds: the identifiers
// of `capture` (found without ftzgate's scanner) must be nowhere in it. Its
// exit status and report.
inline RunResult scan_etcd_for_identifiers(const ftz::test::EtcdCluster& etcd, const TempDir& dir,
                                           const std::string& capture) {
  const std::string dump = dir.file("etcd-dump.json");
  const RunResult got = etcd.etcdctl("get --prefix '' -w json > " + dump);
  if (got.status != 0) return got;
  return run_command("/usr/bin/python3 " + ftz::test::source_dir() + "/tests/fleet/no_identifiers.py " +
                     capture + " " + dump);
}

// A member's row in `show fleet --json`.
inline nlohmann::json row(const nlohmann::json& fleet, const std::string& member) {
  for (const auto& m : fleet.value("members", nlohmann::json::array()))
    if (m.value("member", "") == member) return m;
  return nlohmann::json::object();
}

}  // namespace ftz::fleettest
