#pragma once
// Running ftzgate-dp (and ftzgate-inspect) as an operator does, for the
// DPDK tests: real EAL, virtual devices, one --file-prefix per run whose
// runtime directory is removed afterwards, whatever the outcome.

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/test/files.hpp"

namespace ftz::dptest {

using test::binary;
using test::read_text;
using test::RunResult;
using test::shared_dir;
using test::source_dir;

// A scratch directory for one test (removed whatever the outcome).
struct TempDir : test::TempDir {
  TempDir() : test::TempDir("dp-test") {}
};

// Two policies the reload and controller tests switch between: offshore
// allowed, then HTTP to offshore blocked (flows are re-judged on their next
// packet).
inline constexpr const char* kAllowConfig = R"(zones:
  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}
  - {name: offshore, kind: offshore, default: true}
defaults:
  - {src_zone: inside, dst_zone: offshore, action: allow}
)";
inline constexpr const char* kBlockConfig = R"(zones:
  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}
  - {name: offshore, kind: offshore, default: true}
rules:
  - {name: no-http-out, match: {dst_zone: offshore, dst_port: 80}, action: block}
defaults:
  - {src_zone: inside, dst_zone: offshore, action: allow}
)";

inline RunResult run(const std::string& cmd) {
  return test::run_command(cmd);
}

// A unique EAL file prefix; its /var/run/dpdk directory goes with the object.
class FilePrefix {
 public:
  explicit FilePrefix(const std::string& tag) {
    static std::atomic<int> n{0};
    name_ = "ftz-test-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  }
  ~FilePrefix() {
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + name_, ec);
  }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// ftzgate-dp ARGS -- --file-prefix P --log-level=*:warning EAL...
inline RunResult run_dp(const std::string& args, const std::string& eal = "", const std::string& tag = "dp") {
  FilePrefix prefix(tag);
  return run(binary("ftzgate-dp") + " " + args + " -- --file-prefix " + prefix.name() +
             " --log-level=*:warning " + eal);
}

inline std::vector<nlohmann::json> read_eve(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// The per-flow record of a run: every flow, alert and app event with what
// identifies and judges it, without flow ids (hashes salted by start time)
// or compliance notices (their timing follows the harvest cadence).
inline std::multiset<std::string> flow_records(const std::vector<nlohmann::json>& events) {
  std::multiset<std::string> out;
  for (nlohmann::json e : events) {
    if (e.value("event_type", "") == "ftz_compliance") continue;
    e.erase("flow_id");
    out.insert(e.dump());
  }
  return out;
}

// dpdk-telemetry.py's replies, one JSON object per command after its banner.
inline std::map<std::string, nlohmann::json> telemetry(const std::string& prefix, RunResult* raw = nullptr) {
  const RunResult r = run(
      "printf '/ftzgate/stats\\n/ftzgate/workers\\n/ftzgate/generation\\n' | dpdk-telemetry.py -f " + prefix);
  std::map<std::string, nlohmann::json> replies;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t brace = line.find('{');
    if (brace == std::string::npos) continue;
    auto j = nlohmann::json::parse(line.substr(brace), nullptr, false);
    if (j.is_object() && !j.empty()) replies[j.begin().key()] = j.begin().value();
  }
  if (raw != nullptr) *raw = r;
  return replies;
}

// Polls telemetry (up to ~10 s) until the appliance reports judged packets.
inline std::map<std::string, nlohmann::json> wait_for_traffic(const std::string& prefix,
                                                              RunResult* raw = nullptr) {
  std::map<std::string, nlohmann::json> replies;
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    replies = telemetry(prefix, raw);
    const nlohmann::json& stats = replies["/ftzgate/stats"];
    if (stats.is_object() && stats.value("packets", uint64_t{0}) > 0) break;
  }
  return replies;
}

inline bool replace_once(std::string& s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at == std::string::npos) return false;
  s.replace(at, from.size(), to);
  return true;
}

// "private": examples/minimal.yaml with every private and unique-local
// range inside, so that the public captures (mostly 192.168/16 and
// 172.16/12 clients) have exports whose content the built-in catalog scans,
// and with the demo token key, so that alert tokens are comparable too.
inline tl::expected<std::string, std::string> write_private_config(const TempDir& dir) {
  std::string yaml = read_text(source_dir() + "/examples/minimal.yaml");
  if (!replace_once(yaml, "prefixes: [10.0.0.0/8]",
                    "prefixes: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, \"fc00::/7\", \"fe80::/10\"]") ||
      !replace_once(yaml, "signature_packs: [signatures/builtin.yaml]",
                    "signature_packs: [" + source_dir() + "/examples/signatures/builtin.yaml]")) {
    return tl::unexpected(std::string("examples/minimal.yaml changed: update write_private_config"));
  }
  yaml += "compliance:\n  key_file: " + source_dir() +
          "/examples/keys/token.key\n  state_file: " + dir.file("compliance.state") + "\n";
  const std::string path = dir.file("private.yaml");
  std::ofstream(path) << yaml;
  return path;
}

}  // namespace ftz::dptest
