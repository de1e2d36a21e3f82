// ftzgate-dp --controller as an operator runs it: a real ftzgated serving
// on a unix socket, a real data plane on net_pcap replaying a capture, ftzctl
// committing. Verdicts change with a commit, every applied generation is
// ACKed and shown, a bundle from an untrusted signer is NACKed while the ports
// stay down, the data plane keeps forwarding without its controller,
// resyncs when it returns and starts headless from its stored bundle.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "dp_runner.hpp"
#include "ftz/test/exposition.hpp"
#include "ftz/test/ftzgated.hpp"
#include "ftz/test/gen/scenario.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "ftz/test/syslog_collector.hpp"

namespace ftz::dptest {
namespace {

class DpController : public test::Ftzgated {
 protected:
  void SetUp() override {
    test::Ftzgated::SetUp();
    std::ofstream(dir_.file("allow.yaml")) << kAllowConfig;
    std::ofstream(dir_.file("block.yaml")) << kBlockConfig;
    ASSERT_EQ(run(binary("ftzgate-gen") + " bench --flows 200 --out " + dir_.file("bench.pcap")).status, 0);
  }
  void TearDown() override {
    stop_dp();
    test::Ftzgated::TearDown();
  }

  // ftzgated initialised with allow.yaml as generation 1, its key trusted.
  void init_and_start() {
    const test::RunResult r =
        init("--accounts " + dir_.file("accounts") + " --config " + dir_.file("allow.yaml"));
    ASSERT_EQ(r.status, 0) << r.output;
    std::filesystem::create_directories(dir_.file("trusted"));
    std::filesystem::copy_file(state() + "/keys/device.pub", dir_.file("trusted/ftzgated.pub"));
    start();
  }

  // ftzgate-dp --controller, replaying the capture in a loop; `extra` are
  // more of its arguments; `controller` replaces the unix socket and the id.
  void start_dp(const std::vector<std::string>& extra, std::vector<std::string> controller = {}) {
    if (controller.empty()) controller = {"--controller", "unix:" + socket(), "--dataplane-id", "dp-a"};
    std::vector<std::string> argv = {binary("ftzgate-dp")};
    argv.insert(argv.end(), controller.begin(), controller.end());
    argv.insert(argv.end(), {"--state-dir", dir_.file("dp-state"), "--trusted-keys", dir_.file("trusted"),
                             "--pcap-in", dir_.file("bench.pcap"), "--loop"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    for (const char* e : {"--", "--file-prefix", prefix_.name().c_str(), "--log-level=*:warning"})
      argv.push_back(e);
    dp_pid_ = ::fork();
    ASSERT_GE(dp_pid_, 0);
    if (dp_pid_ == 0) {
      const int fd = ::open(dp_log().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  // SIGTERM (if still running) and the wait status.
  int stop_dp() {
    if (dp_pid_ <= 0) return 0;
    ::kill(dp_pid_, SIGTERM);
    int status = 0;
    ::waitpid(dp_pid_, &status, 0);
    dp_pid_ = -1;
    return status;
  }
  std::string dp_log() const { return dir_.file("dp.log"); }

  // `show dataplanes --json` as the operator account sees it.
  nlohmann::json dataplanes() {
    const test::RunResult r = ctl("carol", "--json show dataplanes");
    if (r.status != 0) return nlohmann::json::object();
    return nlohmann::json::parse(r.output, nullptr, false);
  }
  // dp-a's entry once `pred` holds for it (up to ~20 s), else the last seen.
  nlohmann::json wait_for_dp(const std::function<bool(const nlohmann::json&)>& pred) {
    nlohmann::json last;
    for (int i = 0; i < 100; ++i) {
      const nlohmann::json j = dataplanes();
      if (j.contains("dataplanes")) {
        for (const auto& d : j["dataplanes"]) {
          if (d["id"] != "dp-a") continue;
          last = d;
          if (pred(d)) return d;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return last;
  }
  uint64_t dropped() { return telemetry(prefix_.name())["/ftzgate/stats"].value("dropped", uint64_t{0}); }
  uint64_t packets() { return telemetry(prefix_.name())["/ftzgate/stats"].value("packets", uint64_t{0}); }
  size_t audit_count(const std::string& type, uint64_t generation) {
    size_t n = 0;
    for (const auto& r : audit_records()) {
      if (r["event_type"] == type && r["details"].value("generation", uint64_t{0}) == generation) ++n;
    }
    return n;
  }

  FilePrefix prefix_{"ctl"};
  pid_t dp_pid_ = -1;
};

TEST_F(DpController, ACommitChangesVerdictsAndEachGenerationIsAcked) {
  init_and_start();
  start_dp({"--duration", "60", "--stats", dir_.file("stats.json")});
  nlohmann::json d = wait_for_dp([](const nlohmann::json& j) { return j["running_generation"] == 1; });
  ASSERT_EQ(d["state"], "running") << d.dump() << read_text(dp_log());
  EXPECT_TRUE(d["connected"].get<bool>());
  EXPECT_GT(d["last_ack"].get<int64_t>(), 0);
  ASSERT_TRUE(wait_for_traffic(prefix_.name())["/ftzgate/stats"].is_object()) << read_text(dp_log());
  EXPECT_EQ(dropped(), 0u) << "generation 1 allows every export";
  // Ended flows by rule name: generation 1 has no rule (every flow is its
  // pair's default); generation 2 puts a rule where the engine counted the
  // defaults. Names keep the counts apart, and none goes back.
  const auto rule_flows = [&]() {
    std::map<std::string, uint64_t> out;
    const nlohmann::json j =
        nlohmann::json::parse(ctl("carol", "--json show flows summary").output, nullptr, false);
    if (j.is_object())
      for (const auto& rule : j["rules"]) out[rule["rule"]] = rule["flows"];
    return out;
  };
  std::map<std::string, uint64_t> before_commit;
  for (int i = 0; i < 60 && before_commit["default"] == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    before_commit = rule_flows();
  }
  ASSERT_GT(before_commit["default"], 0u);
  EXPECT_EQ(before_commit.size(), 1u);

  ASSERT_EQ(ctl("alice", "load " + dir_.file("block.yaml")).status, 0);
  const test::RunResult commit = ctl("alice", "commit comment 'no HTTP out'");
  ASSERT_EQ(commit.status, 0) << commit.output;
  d = wait_for_dp([](const nlohmann::json& j) { return j["running_generation"] == 2; });
  ASSERT_EQ(d["state"], "running") << d.dump() << read_text(dp_log());
  EXPECT_GT(d["last_apply_us"].get<uint64_t>(), 0u);
  EXPECT_EQ(d["lag_s"], 0);
  // The new rule judges the flows the capture keeps replaying.
  const uint64_t before = dropped();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GT(dropped(), before) << "generation 2 blocks HTTP to offshore";
  const auto gen = telemetry(prefix_.name())["/ftzgate/generation"];
  EXPECT_EQ(gen.value("bundle_generation", uint64_t{0}), 2u) << gen.dump();
  std::map<std::string, uint64_t> after_commit;
  for (int i = 0; i < 60 && after_commit["no-http-out"] == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    after_commit = rule_flows();
  }
  EXPECT_GT(after_commit["no-http-out"], 0u);
  EXPECT_GE(after_commit["default"], before_commit["default"]) << "by name: never back";
  EXPECT_EQ(audit_count("dataplane_ack", 1), 1u);
  EXPECT_EQ(audit_count("dataplane_ack", 2), 1u);
  // Its counters reach show dataplanes (every 5 s), the same as its own
  // telemetry says, a little older.
  d = wait_for_dp([](const nlohmann::json& j) {
    return j.contains("stats") && j["stats"]["reasons"].value("policy_block", uint64_t{0}) > 0;
  });
  ASSERT_TRUE(d.contains("stats")) << d.dump();
  const nlohmann::json& counted = d["stats"];
  EXPECT_GT(counted["packets"].get<uint64_t>(), 0u) << counted.dump();
  EXPECT_LE(counted["packets"].get<uint64_t>(), packets()) << counted.dump();
  EXPECT_LE(counted["dropped"].get<uint64_t>(), dropped()) << counted.dump();
  EXPECT_EQ(counted["dropped"], counted["reasons"]["policy_block"]) << counted.dump();
  EXPECT_GT(counted["flows_created"].get<uint64_t>(), 0u) << counted.dump();
  // Its tables: what it holds at most and what is in use (no scan states:
  // this configuration has no signatures, so nothing is inspected).
  EXPECT_GT(counted["flows_capacity"].get<uint64_t>(), 0u) << counted.dump();
  EXPECT_LE(counted["flows_active"].get<uint64_t>(), counted["flows_capacity"].get<uint64_t>());
  EXPECT_LE(counted["scan_states_active"].get<uint64_t>(), counted["scan_states_capacity"].get<uint64_t>());

  // The controller goes: the data plane keeps forwarding under generation 2.
  ASSERT_EQ(stop(), 0);
  const uint64_t p0 = packets();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_GT(packets(), p0) << "no controller, still forwarding";
  EXPECT_EQ(::kill(dp_pid_, 0), 0) << read_text(dp_log());
  // It returns: the data plane resubscribes and reports what it runs; the
  // same bundle is not sent (and applied) again.
  start();
  d = wait_for_dp([](const nlohmann::json& j) { return j["connected"] == true; });
  EXPECT_EQ(d["state"], "running") << d.dump();
  EXPECT_EQ(d["running_generation"], 2) << d.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(telemetry(prefix_.name())["/ftzgate/generation"].value("reloads", uint64_t{9}), 1u)
      << "one reload: generation 2; the resync applied nothing";

  const int status = stop_dp();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(dp_log());
  const nlohmann::json s = read_json(dir_.file("stats.json"));
  const nlohmann::json& w = s["workers"][0];
  EXPECT_EQ(w["dropped"], w["reasons"].value("policy_block", uint64_t{0})) << w["reasons"].dump();
  EXPECT_EQ(s["reload"]["failures"], 0);

  // Restarted while its controller is down: it starts from the stored bundle.
  ASSERT_EQ(stop(), 0);
  const RunResult headless =
      run_dp("--controller unix:" + socket() + " --dataplane-id dp-a --state-dir " + dir_.file("dp-state") +
             " --trusted-keys " + dir_.file("trusted") + " --headless-after 0.5 --pcap-in " +
             dir_.file("bench.pcap") + " --loop --duration 2 --stats " + dir_.file("headless.json"));
  ASSERT_EQ(headless.status, 0) << headless.output;
  EXPECT_NE(headless.output.find("starting headless on the stored generation 2"), std::string::npos)
      << headless.output;
  const nlohmann::json h = read_json(dir_.file("headless.json"));
  EXPECT_GT(h["workers"][0]["reasons"].value("policy_block", uint64_t{0}), 0u)
      << "the stored generation 2 blocks";
}

// Over TCP the data plane is its certificate: issued with ftzctl, it names
// the data plane; revoked, the subscription ends and the data plane keeps
// forwarding under what it runs, while new generations no longer reach it.
TEST_F(DpController, OverTcpADataPlaneIsItsCertificateAndARevocationCutsItOff) {
  const test::RunResult r =
      init("--accounts " + dir_.file("accounts") + " --config " + dir_.file("allow.yaml"));
  ASSERT_EQ(r.status, 0) << r.output;
  std::filesystem::create_directories(dir_.file("trusted"));
  std::filesystem::copy_file(state() + "/keys/device.pub", dir_.file("trusted/ftzgated.pub"));
  start("900", true);
  const std::string certs = dir_.file("certs");
  std::filesystem::create_directories(certs);
  const test::RunResult issued = ctl("alice", "--json certificate issue dataplane dp-a to " + certs);
  ASSERT_EQ(issued.status, 0) << issued.output;
  const std::string serial = nlohmann::json::parse(issued.output)["serial"];
  // No --dataplane-id: the certificate names the data plane.
  start_dp({"--duration", "60"}, {"--controller", tcp_target(), "--ca", certs + "/ca.crt", "--cert",
                                  certs + "/dp-a.crt", "--key", certs + "/dp-a.key"});
  nlohmann::json d = wait_for_dp([](const nlohmann::json& j) { return j["running_generation"] == 1; });
  ASSERT_EQ(d["state"], "running") << d.dump() << read_text(dp_log());
  ASSERT_EQ(ctl("alice", "load " + dir_.file("block.yaml")).status, 0);
  ASSERT_EQ(ctl("alice", "commit").status, 0);
  d = wait_for_dp([](const nlohmann::json& j) { return j["running_generation"] == 2; });
  ASSERT_EQ(d["state"], "running") << d.dump() << read_text(dp_log());

  ASSERT_EQ(ctl("alice", "certificate revoke " + serial).status, 0);
  d = wait_for_dp([](const nlohmann::json& j) { return j["connected"] == false; });
  EXPECT_EQ(d["state"], "disconnected") << d.dump();
  ASSERT_EQ(ctl("alice", "load " + dir_.file("allow.yaml")).status, 0);
  ASSERT_EQ(ctl("alice", "commit").status, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(wait_for_dp([](const nlohmann::json&) { return true; })["running_generation"], 2)
      << "generation 3 reached a revoked data plane";
  const uint64_t p0 = packets();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GT(packets(), p0) << "cut off from its controller, still forwarding";
  EXPECT_NE(read_text(dp_log()).find("is revoked"), std::string::npos) << read_text(dp_log());
  // It retries every few seconds, on its open connection (refused per call)
  // or a new one (refused in the handshake): audited once on each path.
  size_t refused = 0;
  for (const auto& rec : audit_records()) {
    const std::string reason = rec["details"].value("reason", "");
    if ((rec["event_type"] == "tls_refused" && rec["details"]["name"] == "dp-a" && reason == "revoked") ||
        (rec["event_type"] == "dataplane_refused" && reason.ends_with(serial + " is revoked")))
      ++refused;
  }
  EXPECT_GE(refused, 1u) << "the revoked data plane's attempts are audited";
  EXPECT_LE(refused, 2u) << "its retries are audited once every 10 minutes, not each time";
  // Another data plane's id with this certificate is refused before any connection.
  const RunResult other =
      run_dp("--controller " + tcp_target() + " --ca " + certs + "/ca.crt --cert " + certs +
             "/dp-a.crt --key " + certs + "/dp-a.key --dataplane-id dp-b --state-dir " + dir_.file("dp-b") +
             " --trusted-keys " + dir_.file("trusted") + " --pcap-in " + dir_.file("bench.pcap"));
  EXPECT_EQ(other.status, 2) << other.output;
  EXPECT_NE(other.output.find("is dp-a's"), std::string::npos) << other.output;
}

// One scrape of ftzgated's metrics with a real HTTP client, checked by the
// Prometheus project's parser (tests/controlplane/check_metrics.py): series
// -> value, keyed "name{label=value,...}" with the labels sorted.
// `scratch` holds the exposition as scraped.
std::map<std::string, double> scrape(const std::string& url, const std::string& scratch) {
  const test::CheckedExposition got =
      test::check_exposition(scratch, "curl -sS --fail --max-time 10 '" + url + "' > '" + scratch + "'");
  EXPECT_EQ(got.status, 0) << got.output;
  return got.samples;
}

// Prometheus as a NOC scrapes it: the data plane's counters are those
// `ftzctl show dataplanes --json` shows as its totals, and a restart of the
// data plane does not take them back (its first run's are carried).
TEST_F(DpController, MetricsShowWhatFtzctlShowsAndNeverGoBackwards) {
  serve_args_ = {"--metrics-listen", "127.0.0.1:0"};
  ASSERT_NO_FATAL_FAILURE(init_and_start());
  const std::string log = test::read_text(dir_.file("ftzgated.log"));
  const size_t at = log.find("metrics on ");
  ASSERT_NE(at, std::string::npos) << log;
  const std::string url = log.substr(at + 11, log.find('\n', at) - at - 11);
  const std::string base = url.substr(0, url.rfind('/'));
  EXPECT_EQ(run("curl -s -o /dev/null -w '%{http_code}' " + base + "/other").output, "404");
  EXPECT_EQ(run("curl -s -o /dev/null -w '%{http_code}' -X POST -d x " + url).output, "405");

  const auto key = [](const std::string& name, const std::string& labels = "dataplane=dp-a,") {
    return name + "{" + labels + "}";
  };
  const auto same_as_totals = [&](const std::map<std::string, double>& m, const nlohmann::json& d) {
    const nlohmann::json& t = d["totals"];
    EXPECT_EQ(m.at(key("ftzgate_dataplane_packets_total")), t["packets"].get<double>());
    EXPECT_EQ(m.at(key("ftzgate_dataplane_bytes_total")), t["bytes"].get<double>());
    EXPECT_EQ(m.at(key("ftzgate_dataplane_forwarded_packets_total")), t["forwarded"].get<double>());
    EXPECT_EQ(m.at(key("ftzgate_dataplane_dropped_packets_total")), t["dropped"].get<double>());
    EXPECT_EQ(m.at(key("ftzgate_dataplane_flows_total")), t["flows_created"].get<double>());
    for (const auto& [reason, n] : t["reasons"].items()) {
      EXPECT_EQ(m.at(key("ftzgate_dataplane_reason_packets_total", "dataplane=dp-a,reason=" + reason + ",")),
                n.get<double>())
          << reason;
    }
    // The ports it drives, as DPDK counts them.
    ASSERT_GE(t["ports"].size(), 2u) << t.dump();
    for (const auto& p : t["ports"]) {
      const std::string labels = "dataplane=dp-a,port=" + p["name"].get<std::string>() +
                                 ",role=" + p["role"].get<std::string>() + ",";
      EXPECT_EQ(m.at(key("ftzgate_port_receive_packets_total", labels)), p["rx_packets"].get<double>());
      EXPECT_EQ(m.at(key("ftzgate_port_transmit_bytes_total", labels)), p["tx_bytes"].get<double>());
      EXPECT_EQ(m.at(key("ftzgate_port_up", labels)), p["link_up"].get<bool>() ? 1.0 : 0.0);
    }
    // Ended flows by name, summed over its runs.
    ASSERT_FALSE(t["zone_pairs"].empty()) << t.dump();
    for (const auto& z : t["zone_pairs"]) {
      // (labels sorted by name)
      const std::string pair = "dataplane=dp-a,dest_zone=" + z["dest_zone"].get<std::string>() +
                               ",src_zone=" + z["src_zone"].get<std::string>() + ",";
      EXPECT_EQ(m.at(key("ftzgate_zone_pair_bytes_total", pair)), z["bytes"].get<double>());
      EXPECT_EQ(m.at(key("ftzgate_zone_pair_flows_total", "action=allow," + pair)),
                z["allowed"].get<double>());
    }
    for (const auto& [rule, n] : t["rule_flows"].items())
      EXPECT_EQ(m.at(key("ftzgate_rule_flows_total", "dataplane=dp-a,rule=" + rule + ",")), n.get<double>());
    EXPECT_EQ(m.at(key("ftzgate_dataplane_generation")), d["running_generation"].get<double>());
    EXPECT_EQ(
        m.at(key("ftzgate_dataplane_state", "dataplane=dp-a,state=" + d["state"].get<std::string>() + ",")),
        1.0);
  };

  start_dp({});
  const nlohmann::json seen = wait_for_dp([](const nlohmann::json& d) {
    return d.contains("stats") && d["stats"].value("packets", uint64_t{0}) > 0;
  });
  ASSERT_TRUE(seen.contains("totals")) << seen.dump();
  ASSERT_EQ(stop_dp(), 0);
  const nlohmann::json first =
      wait_for_dp([](const nlohmann::json& d) { return !d.value("connected", true); });
  const std::map<std::string, double> m1 = scrape(url, dir_.file("scrape.txt"));
  ASSERT_FALSE(m1.empty());
  same_as_totals(m1, first);
  EXPECT_EQ(first["totals"]["packets"], first["stats"]["packets"]) << "one run so far";
  EXPECT_EQ(m1.at("ftzgate_running_generation{}"), 1.0);

  // A second run: its own counters start again; the totals do not.
  start_dp({});
  const int64_t t1 = first["stats"].value("time_unix_s", int64_t{0});
  const nlohmann::json again = wait_for_dp([&](const nlohmann::json& d) {
    return d.value("connected", false) && d.contains("stats") &&
           d["stats"].value("time_unix_s", int64_t{0}) > t1;
  });
  ASSERT_TRUE(again.value("connected", false)) << again.dump();
  ASSERT_EQ(stop_dp(), 0);
  const nlohmann::json second =
      wait_for_dp([](const nlohmann::json& d) { return !d.value("connected", true); });
  EXPECT_EQ(second["totals"]["packets"].get<uint64_t>(),
            first["stats"]["packets"].get<uint64_t>() + second["stats"]["packets"].get<uint64_t>());
  uint64_t rx_first = 0;
  uint64_t rx_second = 0;
  uint64_t rx_totals = 0;
  for (const auto& p : first["stats"]["ports"]) rx_first += p["rx_packets"].get<uint64_t>();
  for (const auto& p : second["stats"]["ports"]) rx_second += p["rx_packets"].get<uint64_t>();
  for (const auto& p : second["totals"]["ports"]) rx_totals += p["rx_packets"].get<uint64_t>();
  EXPECT_GT(rx_first, 0u);
  EXPECT_EQ(rx_totals, rx_first + rx_second) << "port counters carried across the restart too";
  const std::map<std::string, double> m2 = scrape(url, dir_.file("scrape.txt"));
  same_as_totals(m2, second);
  for (const auto& [series, v] : m1) {
    if (!series.starts_with("ftzgate_dataplane_") || series.find("_total{") == std::string::npos) continue;
    ASSERT_TRUE(m2.count(series) != 0) << series;
    EXPECT_GE(m2.at(series), v) << series << ": a counter went back";
  }
}

// The data plane's own ports as interfaces (DATAPLANE/PORT): the counters
// are the ones show dataplanes and the metrics have; clear statistics resets
// the account's view only; monitor refreshes until Ctrl-C (a person at a
// terminal, tests/dpdk/monitor_session.py).
TEST_F(DpController, InterfacesAreTheDataPlanesPortsAndMonitorRefreshesUntilCtrlC) {
  ASSERT_NO_FATAL_FAILURE(init_and_start());
  start_dp({"--duration", "120"});
  const std::string home = dir_.file("home");
  std::filesystem::create_directories(home);
  const std::string env = "HOME=" + home + " ";
  const auto interfaces = [&] {
    const test::RunResult r = ctl("carol", "--json show interfaces", "", env);
    EXPECT_EQ(r.status, 0) << r.output;
    return nlohmann::json::parse(r.output, nullptr, false);
  };
  nlohmann::json d = wait_for_dp([](const nlohmann::json& j) {
    return j.contains("totals") && !j["totals"]["ports"].empty() &&
           j["totals"]["ports"][0]["rx_packets"].get<uint64_t>() > 0;
  });
  ASSERT_TRUE(d.contains("totals")) << d.dump() << read_text(dp_log());
  // Read both until they come from the same report (every 5 s).
  nlohmann::json ifs;
  for (int i = 0; i < 10; ++i) {
    ifs = interfaces();
    d = wait_for_dp([](const nlohmann::json&) { return true; });
    if (ifs["interfaces"].size() == d["totals"]["ports"].size() && !ifs["interfaces"].empty() &&
        ifs["interfaces"][0]["as_of_unix_s"] == d["stats"]["time_unix_s"])
      break;
  }
  ASSERT_EQ(ifs["interfaces"].size(), d["totals"]["ports"].size()) << ifs.dump() << d.dump();
  for (size_t i = 0; i < ifs["interfaces"].size(); ++i) {
    const nlohmann::json& got = ifs["interfaces"][i];
    const nlohmann::json& port = d["totals"]["ports"][i];
    EXPECT_EQ(got["name"], "dp-a/" + port["name"].get<std::string>());
    EXPECT_EQ(got["link"], port["link_up"].get<bool>() ? "up" : "down");
    EXPECT_FALSE(got["since_clear"].get<bool>());
    for (const char* c : {"rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_missed"})
      EXPECT_EQ(got["counters"][c], port[c]) << c;
  }
  const std::string name = ifs["interfaces"][0]["name"];
  test::RunResult r = ctl("carol", "show interfaces " + name + " extensive", "", env);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("Physical interface: " + name + ", link up"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Data plane totals: "), std::string::npos) << r.output;
  r = ctl("carol", "show interfaces dp-a/none", "", env);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no interface dp-a/none"), std::string::npos) << r.output;

  // clear statistics: this account counts from now on; nothing else resets.
  r = ctl("carol", "clear statistics", "", env);
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat((home + "/.ftzctl_baselines.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const uint64_t at_clear = interfaces()["interfaces"][0]["totals"]["rx_packets"];
  nlohmann::json after;
  for (int i = 0; i < 60; ++i) {
    after = interfaces()["interfaces"][0];
    if (after["totals"]["rx_packets"].get<uint64_t>() > at_clear) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_GT(after["totals"]["rx_packets"].get<uint64_t>(), at_clear) << after.dump();
  EXPECT_TRUE(after["since_clear"].get<bool>()) << after.dump();
  EXPECT_EQ(after["counters"]["rx_packets"].get<uint64_t>(),
            after["totals"]["rx_packets"].get<uint64_t>() - at_clear);
  const nlohmann::json other =
      nlohmann::json::parse(ctl("carol", "--json show interfaces").output)["interfaces"][0];
  EXPECT_FALSE(other["since_clear"].get<bool>()) << "another HOME: no baseline";

  r = run("/usr/bin/python3 " + source_dir() + "/tests/dpdk/monitor_session.py " + binary("ftzctl") + " " +
          socket() + " " + home + " carol:" + test::password_of("carol") + " dp-a 2>&1");
  EXPECT_EQ(r.status, 0) << r.output << "\n--- the screen ---\n" << read_text(home + "/carol.screen");
}

// request dataplane restart: the sysadmin's; the data plane stops as at
// SIGTERM and runs again under the same process id (a supervisor sees no
// exit), subscribes, is sent its generation again and ACKs it; its totals
// go on from where they were.
TEST_F(DpController, ARestartRequestRunsTheDataPlaneAgainUnderTheSamePid) {
  ASSERT_NO_FATAL_FAILURE(init_and_start());
  start_dp({"--duration", "120", "--eve", dir_.file("eve.json")});
  nlohmann::json d = wait_for_dp([](const nlohmann::json& j) {
    return j["state"] == "running" && j.value("runs", 0) == 1 && j.contains("totals") &&
           j["totals"]["packets"].get<uint64_t>() > 0;
  });
  ASSERT_EQ(d.value("runs", 0), 1) << d.dump() << read_text(dp_log());
  const uint64_t packets_before = d["totals"]["packets"];

  test::RunResult r = ctl("carol", "request dataplane restart dp-a");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("PERMISSION_DENIED: role operator"), std::string::npos) << r.output;
  r = ctl("alice", "request dataplane restart dp-a");
  EXPECT_NE(r.output.find("PERMISSION_DENIED: role secadmin"), std::string::npos) << r.output;
  r = ctl("dave", "request dataplane restart dp-b");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("NOT_FOUND: no data plane dp-b"), std::string::npos) << r.output;

  r = ctl("dave", "request dataplane restart dp-a");
  ASSERT_EQ(r.status, 0) << r.output;
  d = wait_for_dp([](const nlohmann::json& j) {
    return j.value("runs", 0) == 2 && j["state"] == "running" && j["stats"]["packets"].get<uint64_t>() > 0;
  });
  ASSERT_EQ(d.value("runs", 0), 2) << d.dump() << read_text(dp_log());
  EXPECT_EQ(d["state"], "running") << d.dump();
  EXPECT_EQ(::waitpid(dp_pid_, nullptr, WNOHANG), 0) << "the same process, never exited";
  const std::string log = read_text(dp_log());
  EXPECT_NE(log.find("restart requested by dave through ftzgated"), std::string::npos) << log;
  EXPECT_GE(d["totals"]["packets"].get<uint64_t>(), packets_before) << "totals never go back";
  EXPECT_EQ(audit_count("dataplane_ack", 1), 2u) << "the new run was sent generation 1 and applied it";
  size_t restarts = 0;
  for (const auto& rec : audit_records()) {
    if (rec["event_type"] == "dataplane_restart" && rec["user"] == "dave" && rec["success"] == true &&
        rec["details"]["dataplane"] == "dp-a")
      ++restarts;
  }
  EXPECT_EQ(restarts, 1u);
  // It still stops on SIGTERM, cleanly.
  const int status = stop_dp();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_text(dp_log());
  // The EVE file holds both runs: the first run's flows, ended by its stop
  // ("shutdown"), then the second's (the restarted run appends).
  const std::vector<nlohmann::json> events = read_eve(dir_.file("eve.json"));
  const auto at_stop = [](const nlohmann::json& e) {
    return e.value("event_type", "") == "flow" && e["flow"].value("reason", "") == "shutdown";
  };
  const auto first_stop = std::find_if(events.begin(), events.end(), at_stop);
  ASSERT_NE(first_stop, events.end()) << "the first run's flows end at its stop";
  const auto second_run = std::find_if_not(first_stop, events.end(), at_stop);
  ASSERT_NE(second_run, events.end()) << "events of the second run follow";
  EXPECT_NE(std::find_if(second_run, events.end(), at_stop), events.end()) << "and its own stop";
  // A disconnected data plane is not sent a restart for later.
  wait_for_dp([](const nlohmann::json& j) { return j["connected"] == false; });
  r = ctl("dave", "request dataplane restart dp-a");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("FAILED_PRECONDITION: data plane dp-a is not connected"), std::string::npos)
      << r.output;
}

TEST_F(DpController, ABundleFromAnUntrustedSignerIsNackedAndThePortsStayDown) {
  init_and_start();
  // The data plane trusts another controller's key only.
  test::TempDir other("other-ftzgated");
  ASSERT_EQ(run(binary("ftzgated") + " --init --state-dir " + other.file("st") + " --accounts " +
                dir_.file("accounts"))
                .status,
            0);
  std::filesystem::remove(dir_.file("trusted/ftzgated.pub"));
  std::filesystem::copy_file(other.file("st/keys/device.pub"), dir_.file("trusted/other.pub"));
  start_dp({"--headless-after", "600"});
  const nlohmann::json d = wait_for_dp([](const nlohmann::json& j) { return j["state"] == "refused"; });
  ASSERT_EQ(d["state"], "refused") << d.dump() << read_text(dp_log());
  EXPECT_NE(d["nack_reason"].get<std::string>().find("not among the trusted keys"), std::string::npos) << d;
  EXPECT_EQ(d["running_generation"], 0);
  EXPECT_EQ(audit_count("dataplane_nack", 1), 1u);
  // Nothing started: no EAL, no ports, no runtime directory.
  EXPECT_FALSE(std::filesystem::exists("/var/run/dpdk/" + prefix_.name()));
  const int status = stop_dp();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << read_text(dp_log());
  EXPECT_NE(read_text(dp_log()).find("not among the trusted keys"), std::string::npos) << read_text(dp_log());
}

// Keyed tokens differ by design: under a controller the data plane counts
// with its own key, never one a configuration names.
void erase_tokens(nlohmann::json& j) {
  if (j.is_object()) {
    j.erase("token");
    for (auto& [k, v] : j.items()) erase_tokens(v);
  } else if (j.is_array()) {
    for (auto& v : j) erase_tokens(v);
  }
}

// The reference deployment through the control plane: lingang.yaml with its
// prefix-list files and the built-in signature pack, imported by --init,
// compiled and signed into a bundle, judges the scenario capture exactly as
// the same YAML read by the data plane itself.
TEST_F(DpController, TheLingangScenarioAsABundleJudgesAsItsYamlDoes) {
  const std::string lingang = source_dir() + "/examples/lingang.yaml";
  const test::RunResult r = init("--accounts " + dir_.file("accounts") + " --config " + lingang);
  ASSERT_EQ(r.status, 0) << r.output;
  std::filesystem::create_directories(dir_.file("trusted"));
  std::filesystem::copy_file(state() + "/keys/device.pub", dir_.file("trusted/ftzgated.pub"));
  // Alerts also go to a SOC's collector (syslog over UDP).
  test::SyslogCollector collector(dir_);
  ASSERT_TRUE(collector.start("udp", 0)) << collector.error();
  serve_args_ = {"--syslog", "udp://127.0.0.1:" + std::to_string(collector.port())};
  start();
  ASSERT_TRUE(test::gen::write_scenario(dir_.file("scenario.pcap"), 1));
  const RunResult local =
      run_dp("--config " + lingang + " --demo-token-key --pcap-in " + dir_.file("scenario.pcap") + " --eve " +
             dir_.file("local.eve") + " --stats " + dir_.file("local.json"));
  ASSERT_EQ(local.status, 0) << local.output;
  const RunResult bundled =
      run_dp("--controller unix:" + socket() + " --dataplane-id dp-a --state-dir " + dir_.file("dp-state") +
             " --trusted-keys " + dir_.file("trusted") + " --pcap-in " + dir_.file("scenario.pcap") +
             " --eve " + dir_.file("bundled.eve") + " --stats " + dir_.file("bundled.json"));
  ASSERT_EQ(bundled.status, 0) << bundled.output;
  auto events = [](const std::string& path) {
    std::vector<nlohmann::json> out = read_eve(path);
    for (auto& e : out) erase_tokens(e);
    return flow_records(out);
  };
  const auto want = events(dir_.file("local.eve"));
  EXPECT_GT(want.size(), 10u);
  EXPECT_EQ(events(dir_.file("bundled.eve")), want);
  const nlohmann::json a = read_json(dir_.file("local.json"))["workers"][0];
  const nlohmann::json b = read_json(dir_.file("bundled.json"))["workers"][0];
  for (const char* k : {"dropped", "forwarded", "alerts", "flows_created"}) EXPECT_EQ(a[k], b[k]) << k;
  EXPECT_EQ(a["reasons"], b["reasons"]);
  EXPECT_GT(a["alerts"].get<uint64_t>(), 0u);

  // show flows summary: the data plane's ended flows by zone pair and by
  // rule name, as its EVE file's flow records add up (every flow ended at
  // the capture's end; its last counters went at exit).
  std::map<std::pair<std::string, std::string>, std::array<uint64_t, 6>>
      eve_pairs;  // flows, bytes, 4 verdicts
  std::map<std::string, uint64_t> eve_rules;
  // pair -> client -> (flows, bytes)
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::pair<uint64_t, uint64_t>>>
      eve_clients;
  const std::map<std::string, size_t> verdict_at = {{"allow", 2}, {"route", 3}, {"block", 4}, {"reset", 5}};
  for (const nlohmann::json& e : read_eve(dir_.file("bundled.eve"))) {
    if (e["event_type"] != "flow") continue;
    auto& p = eve_pairs[{e["ftz"]["src_zone"], e["ftz"]["dest_zone"]}];
    ++p[0];
    p[1] += e["flow"]["bytes_toserver"].get<uint64_t>() + e["flow"]["bytes_toclient"].get<uint64_t>();
    ++p[verdict_at.at(e["ftz"]["verdict"])];
    ++eve_rules[e["ftz"]["rule"]];
    auto& c = eve_clients[{e["ftz"]["src_zone"], e["ftz"]["dest_zone"]}][e["src_ip"]];
    ++c.first;
    c.second += e["flow"]["bytes_toserver"].get<uint64_t>() + e["flow"]["bytes_toclient"].get<uint64_t>();
  }
  ASSERT_GT(eve_pairs.size(), 2u);
  uint64_t eve_flows = 0;
  for (const auto& [names, p] : eve_pairs) eve_flows += p[0];
  nlohmann::json summary;
  for (int i = 0; i < 50; ++i) {
    summary = nlohmann::json::parse(ctl("carol", "--json show flows summary").output, nullptr, false);
    uint64_t flows = 0;
    for (const auto& z : summary["zone_pairs"]) flows += z["flows"].get<uint64_t>();
    if (flows >= eve_flows) break;  // the exit's report arrived
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::map<std::pair<std::string, std::string>, std::array<uint64_t, 6>> shown_pairs;
  uint64_t last_bytes = UINT64_MAX;
  for (const auto& z : summary["zone_pairs"]) {
    shown_pairs[{z["src_zone"], z["dest_zone"]}] = {z["flows"],  z["bytes"],   z["allowed"],
                                                    z["routed"], z["blocked"], z["reset"]};
    EXPECT_LE(z["bytes"].get<uint64_t>(), last_bytes) << "the heaviest pair first";
    last_bytes = z["bytes"];
    // Its top talkers against the clients of its EVE flow records: exact
    // with at most 8 clients; beyond, each count within its error, and the
    // heaviest client there.
    const auto& truth = eve_clients[{z["src_zone"], z["dest_zone"]}];
    const nlohmann::json& top = z["top_talkers"];
    for (const auto& t : top) {
      ASSERT_EQ(truth.count(t["client"]), 1u) << t.dump();
      const auto [flows, bytes] = truth.at(t["client"]);
      EXPECT_GE(t["bytes"].get<uint64_t>(), bytes) << t.dump();
      EXPECT_LE(t["bytes"].get<uint64_t>() - t["error"].get<uint64_t>(), bytes) << t.dump();
      if (truth.size() <= 8) {
        EXPECT_EQ(t["flows"].get<uint64_t>(), flows) << t.dump();
      }
    }
    EXPECT_EQ(top.size(), std::min<size_t>(truth.size(), 8)) << z.dump();
    uint64_t heaviest = 0;
    std::string heaviest_client;
    for (const auto& [client, n] : truth)
      if (n.second > heaviest) std::tie(heaviest, heaviest_client) = std::tie(n.second, client);
    EXPECT_TRUE(std::any_of(top.begin(), top.end(), [&](const auto& t) {
      return t["client"] == heaviest_client;
    })) << z.dump();
  }
  EXPECT_EQ(shown_pairs, eve_pairs) << summary.dump();
  std::map<std::string, uint64_t> shown_rules;
  for (const auto& rule : summary["rules"]) shown_rules[rule["rule"]] = rule["flows"];
  EXPECT_EQ(shown_rules, eve_rules) << summary.dump();
  EXPECT_EQ(summary["flows_unnamed"], 0);

  // Its alerts reached ftzgated (those of the last moments too: they go
  // with the tokens at exit) and `show alerts` shows them as the data
  // plane's EVE file has them: masked, with their tokens.
  using Alert = std::tuple<uint64_t, uint64_t, std::string, std::string, std::string, std::string,
                           std::string, std::string, uint64_t>;
  std::multiset<Alert> eve_alerts;
  for (const nlohmann::json& e : read_eve(dir_.file("bundled.eve"))) {
    if (e["event_type"] != "alert") continue;
    const nlohmann::json& match = e["ftz"]["match"];
    eve_alerts.emplace(e["flow_id"].get<uint64_t>(), e["alert"]["signature_id"].get<uint64_t>(),
                       match["masked"].get<std::string>(), match["token"].get<std::string>(),
                       e["ftz"]["verdict"].get<std::string>(), e["ftz"]["rule"].get<std::string>(),
                       e["ftz"]["dest_zone"].get<std::string>(), e["direction"].get<std::string>(),
                       match["stream_offset"].get<uint64_t>());
  }
  ASSERT_EQ(eve_alerts.size(), a["alerts"].get<uint64_t>());
  // As the security administrator, who sees the tokens too.
  const test::RunResult shown = ctl("alice", "--json show alerts last 1000");
  ASSERT_EQ(shown.status, 0) << shown.output;
  const nlohmann::json j = nlohmann::json::parse(shown.output, nullptr, false);
  ASSERT_TRUE(j.is_object()) << shown.output;
  EXPECT_EQ(j["received"], eve_alerts.size());
  EXPECT_EQ(j["dropped"], 0);
  std::multiset<Alert> reported;
  for (const nlohmann::json& x : j["alerts"]) {
    EXPECT_EQ(x["dataplane"], "dp-a");
    // Masked, or nothing to mask (a keyword signature: genomic data).
    const std::string masked = x["masked"].get<std::string>();
    EXPECT_TRUE(masked.empty() || masked.find('*') != std::string::npos) << x.dump();
    reported.emplace(x["flow_id"].get<uint64_t>(), x["signature_id"].get<uint64_t>(),
                     x["masked"].get<std::string>(), x["token"].get<std::string>(),
                     x["verdict"].get<std::string>(), x["rule"].get<std::string>(),
                     x["dest_zone"].get<std::string>(), x["direction"].get<std::string>(),
                     x["stream_offset"].get<uint64_t>());
  }
  EXPECT_EQ(reported, eve_alerts);
  // The collector has each alert as the data plane's EVE file has it (the
  // EVE alert event), but without the token (pseudonymous personal data
  // stays in ftzgated) and with the data plane's id; what the record does
  // not carry (VLANs, the channel, export and inspection flags, the
  // generation) is not in it. Each follows the EVE format.
  const auto as_syslogged = [](nlohmann::json e) {
    e.erase("vlan");
    nlohmann::json& z = e["ftz"];
    nlohmann::json kept = nlohmann::json::object();
    for (const char* k : {"src_zone", "dest_zone", "tenant", "verdict", "rule", "alert"})
      if (z.contains(k)) kept[k] = z[k];
    kept["match"] = {{"masked", z["match"]["masked"]}, {"stream_offset", z["match"]["stream_offset"]}};
    e["ftz"] = kept;
    return e.dump();
  };
  std::multiset<std::string> eve_alert_lines;
  for (const nlohmann::json& e : read_eve(dir_.file("bundled.eve")))
    if (e["event_type"] == "alert") eve_alert_lines.insert(as_syslogged(e));
  std::multiset<std::string> syslogged;
  std::ofstream syslog_eve(dir_.file("syslogged.eve"));
  for (const std::string& m : collector.wait_received(eve_alerts.size())) {
    const size_t json = m.find(" alert - {");
    if (json == std::string::npos) continue;
    nlohmann::json x = nlohmann::json::parse(m.substr(json + 9), nullptr, false);
    ASSERT_TRUE(x.is_object()) << m;
    syslog_eve << x.dump() << "\n";
    EXPECT_FALSE(x["ftz"]["match"].contains("token")) << m;
    EXPECT_EQ(m.find(R"("token")"), std::string::npos) << m;
    EXPECT_EQ(x["ftz"]["dataplane"], "dp-a") << m;
    EXPECT_EQ(m.substr(0, 5), "<132>") << "local0.warning: " << m;
    x["ftz"].erase("dataplane");
    syslogged.insert(x.dump());
  }
  syslog_eve.close();
  EXPECT_EQ(syslogged, eve_alert_lines);
  const test::RunResult format =
      run("/usr/bin/python3 " + source_dir() + "/tests/offline/check_eve.py " + source_dir() +
          "/tests/offline/eve-format.schema.json --require alert " + dir_.file("syslogged.eve") + " 2>&1");
  EXPECT_EQ(format.status, 0) << format.output;
  // And the compliance notices ftzgated raised, as audited (local0.notice
  // nearing a line, local0.warning at it).
  int notices = 0;
  for (const std::string& m : collector.received()) {
    if (m.find(" compliance - {") == std::string::npos) continue;
    ++notices;
    EXPECT_NE(m.find("\"event_type\":\"compliance_notice\""), std::string::npos) << m;
    EXPECT_TRUE(m.starts_with("<132>") || m.starts_with("<133>")) << m;
  }
  EXPECT_GT(notices, 0);
  // The text form, for one data plane, the newest two.
  const test::RunResult text = ctl("carol", "show alerts last 2 dataplane dp-a");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_EQ(std::count(text.output.begin(), text.output.end(), '\n'), 2) << text.output;
  EXPECT_NE(text.output.find(" dp-a "), std::string::npos) << text.output;
  EXPECT_EQ(ctl("carol", "show alerts dataplane dp-z").output, "no alerts\n");
  // The operator sees the masked forms, not the tokens.
  const nlohmann::json op =
      nlohmann::json::parse(ctl("carol", "--json show alerts last 1000").output, nullptr, false);
  ASSERT_TRUE(op.is_object());
  ASSERT_EQ(op["alerts"].size(), eve_alerts.size());
  for (const nlohmann::json& x : op["alerts"]) EXPECT_TRUE(x["token"].is_null()) << x.dump();
  EXPECT_NE(text.output.find(" token - "), std::string::npos) << text.output;
  EXPECT_EQ(ctl("carol", "show alerts last 0").status, 2);
}

// Compliance counted in the control plane (issue 10 §2): two data planes
// see overlapping traffic of one tenant (dp-a the scenario of seed 1, dp-b
// that and the scenario of seed 2), each counts locally and streams its
// tokens under ftzgated's key; ftzgated's count is the count of one data
// plane that saw all of it (ftzgate-inspect on the whole capture), not the
// sum of the two.
class DpCompliance : public DpController {
 protected:
  void SetUp() override {
    DpController::SetUp();
    const std::string lingang = source_dir() + "/examples/lingang.yaml";
    const test::RunResult r = init("--accounts " + dir_.file("accounts") + " --config " + lingang);
    ASSERT_EQ(r.status, 0) << r.output;
    std::filesystem::create_directories(dir_.file("trusted"));
    std::filesystem::copy_file(state() + "/keys/device.pub", dir_.file("trusted/ftzgated.pub"));
    // s1: seed 1; all: seed 1, then seed 2 two hours later (other people).
    const test::gen::Scenario one = test::gen::build_scenario(1);
    const test::gen::Scenario two = test::gen::build_scenario(2);
    auto s1 = test::PcapWriter::open(dir_.file("s1.pcap"), test::TimestampPrecision::kNano);
    auto all = test::PcapWriter::open(dir_.file("all.pcap"), test::TimestampPrecision::kNano);
    ASSERT_TRUE(s1 && all);
    for (const auto& p : one.packets)
      ASSERT_TRUE(s1->write(p.ts_ns, p.frame) && all->write(p.ts_ns, p.frame));
    for (const auto& p : two.packets) ASSERT_TRUE(all->write(p.ts_ns + 7200'000'000'000ull, p.frame));
    ASSERT_TRUE(s1->close() && all->close());
  }

  // ftzgate-dp --controller as `id` on `pcap`, replayed in a loop (packets
  // take the clock: tokens of this year) for `seconds`.
  std::string dp_args(const std::string& id, const std::string& pcap, const std::string& seconds,
                      const std::string& extra = "") {
    return "--controller unix:" + socket() + " --dataplane-id " + id + " --state-dir " + dir_.file(id) +
           " --trusted-keys " + dir_.file("trusted") + " --pcap-in " + dir_.file(pcap) +
           " --loop --duration " + seconds + " --stats " + dir_.file(id + ".json") + " " + extra;
  }

  // dp-a reports s1's people to ftzgated, which then stops and forgets them:
  // what it counts afterwards reaches it only through what dp-a keeps.
  void report_s1_then_stop_and_forget() {
    start();
    const RunResult first = run_dp(dp_args("dp-a", "s1.pcap", "1"), "", "dpa");
    ASSERT_EQ(first.status, 0) << first.output;
    ASSERT_EQ(stop(), 0);
    std::filesystem::remove(state() + "/compliance/ledger.state");
  }

  // ftzgated back, then a run that sees only s1's people: the second
  // scenario's reach ftzgated through dp-a/outbox alone, which is sent first
  // and forgotten once acknowledged.
  void next_run_sends_the_kept_outbox() {
    start();
    const RunResult next = run_dp(dp_args("dp-a", "s1.pcap", "2"), "", "dpa");
    ASSERT_EQ(next.status, 0) << next.output;
    EXPECT_NE(next.output.find("kept by the last run are queued for the controller"), std::string::npos)
        << next.output;
    EXPECT_FALSE(std::filesystem::exists(dir_.file("dp-a/outbox"))) << "acknowledged, so forgotten";
    EXPECT_EQ(next.output.find("not handed to the controller"), std::string::npos) << next.output;
    EXPECT_EQ(controller_counts(), whole_capture_counts());
  }

  // (tenant, class) -> individuals, from a report's or show compliance's rows.
  static std::map<std::string, uint64_t> counts(const nlohmann::json& rows, const char* class_key) {
    std::map<std::string, uint64_t> out;
    for (const auto& r : rows) {
      out[r["tenant"].get<std::string>() + "/" + r[class_key].get<std::string>()] =
          r["individuals"].get<uint64_t>();
    }
    return out;
  }
  std::map<std::string, uint64_t> controller_counts() {
    const test::RunResult r = ctl("carol", "--json show compliance");
    EXPECT_EQ(r.status, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output, nullptr, false);
    return j.is_object() ? counts(j["tenants"], "data_class") : std::map<std::string, uint64_t>{};
  }
  // One appliance that saw everything: the oracle.
  std::map<std::string, uint64_t> whole_capture_counts() {
    const RunResult r = run(binary("ftzgate-inspect") + " --config " + source_dir() +
                            "/examples/lingang.yaml --demo-token-key --json --pcap " + dir_.file("all.pcap"));
    EXPECT_EQ(r.status, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
    return j.is_object() ? counts(j["compliance"], "class") : std::map<std::string, uint64_t>{};
  }
  // The alerts a data plane raised (its --stats file), and those it said at
  // exit it could not report to ftzgated.
  static uint64_t dp_alerts(const std::string& stats_file) {
    const nlohmann::json stats = read_json(stats_file);
    uint64_t alerts = 0;
    for (const auto& w : stats["workers"]) alerts += w["alerts"].get<uint64_t>();
    return alerts;
  }
  static uint64_t unreported_alerts(const std::string& output) {
    const size_t said = output.find(" alerts were not reported to the controller");
    if (said == std::string::npos) return 0;
    const size_t from = output.rfind("ftzgate-dp: ", said) + 12;
    return std::stoull(output.substr(from, said - from));
  }
  std::map<std::string, uint64_t> local_counts(const std::string& id) {
    return counts(read_json(dir_.file(id + ".json"))["report"]["compliance"], "class");
  }
};

TEST_F(DpCompliance, TwoDataPlanesCountATenantAsOneThatSawEverything) {
  start();
  RunResult a;
  RunResult b;
  std::thread ta([&] { a = run_dp(dp_args("dp-a", "s1.pcap", "4"), "", "dpa"); });
  std::thread tb([&] { b = run_dp(dp_args("dp-b", "all.pcap", "4"), "", "dpb"); });
  ta.join();
  tb.join();
  ASSERT_EQ(a.status, 0) << a.output;
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_EQ(a.output.find("not handed to the controller"), std::string::npos) << a.output;
  EXPECT_EQ(b.output.find("not handed to the controller"), std::string::npos) << b.output;

  const auto want = whole_capture_counts();
  ASSERT_GT(want.at("pacific-re/pi"), 1000u);
  EXPECT_EQ(controller_counts(), want);
  // Each data plane counted what it saw, and the two overlap: the sum of
  // their counts is not the tenant's count.
  const auto la = local_counts("dp-a");
  const auto lb = local_counts("dp-b");
  EXPECT_GT(la.at("pacific-re/pi"), 0u);
  EXPECT_EQ(lb, want);
  EXPECT_LT(la.at("pacific-re/pi"), want.at("pacific-re/pi"));
  // Every data plane counted under ftzgated's key.
  std::ifstream key_a(dir_.file("dp-a/token.key"));
  std::ifstream key_d(state() + "/compliance/token.key");
  std::string ka;
  std::string kd;
  std::getline(key_a, ka);
  std::getline(key_d, kd);
  EXPECT_FALSE(kd.empty());
  EXPECT_EQ(ka, kd);
}

// A data plane that starts while ftzgated is down counts on its own (the
// stored bundle and key), and hands its tokens over when ftzgated returns:
// ftzgated's count is again that of one appliance that saw everything.
TEST_F(DpCompliance, TokensCountedWithoutTheControllerAreHandedOverWhenItReturns) {
  start();
  // A first run leaves the bundle and the key in dp-a's state directory.
  const RunResult first = run_dp(dp_args("dp-a", "s1.pcap", "1"), "", "dpa");
  ASSERT_EQ(first.status, 0) << first.output;
  ASSERT_EQ(stop(), 0);
  std::filesystem::remove(state() + "/compliance/ledger.state");  // forget what the first run reported

  RunResult headless;
  std::thread t(
      [&] { headless = run_dp(dp_args("dp-a", "all.pcap", "8", "--headless-after 0.5"), "", "dpa"); });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  start();
  t.join();
  ASSERT_EQ(headless.status, 0) << headless.output;
  EXPECT_NE(headless.output.find("starting headless"), std::string::npos) << headless.output;
  EXPECT_NE(headless.output.find("cannot report tokens to the controller"), std::string::npos)
      << "the tokens waited for ftzgated";
  EXPECT_EQ(headless.output.find("not handed to the controller"), std::string::npos)
      << headless.output << read_text(dir_.file("ftzgated.log"));
  EXPECT_EQ(controller_counts(), whole_capture_counts());
  // Its alerts waited too (up to 4,096): every one either reached ftzgated
  // or was said to be unreported at exit. (How many arrive during the
  // outage depends on the machine's speed: TokensLeftAtExit... checks the
  // overflow with ftzgated away for the whole run.)
  const uint64_t alerts = dp_alerts(dir_.file("dp-a.json"));
  const test::RunResult shown = ctl("carol", "--json show alerts last 1");
  ASSERT_EQ(shown.status, 0) << shown.output;
  const uint64_t received = nlohmann::json::parse(shown.output)["received"].get<uint64_t>();
  EXPECT_GT(received, 0u);
  EXPECT_EQ(received + unreported_alerts(headless.output), alerts) << headless.output;
}

// A data plane that exits while ftzgated is down keeps what it could not
// hand over (DPSTATE/outbox); its next run sends that first, and ftzgated's
// count is again that of one appliance that saw everything.
TEST_F(DpCompliance, TokensLeftAtExitAreKeptAndSentByTheNextRun) {
  ASSERT_NO_FATAL_FAILURE(report_s1_then_stop_and_forget());

  const RunResult headless = run_dp(dp_args("dp-a", "all.pcap", "2", "--headless-after 0.5"), "", "dpa");
  ASSERT_EQ(headless.status, 0) << headless.output;
  EXPECT_NE(headless.output.find("are kept in " + dir_.file("dp-a/outbox")), std::string::npos)
      << headless.output;
  ASSERT_TRUE(std::filesystem::exists(dir_.file("dp-a/outbox")));
  // Its alerts had no ftzgated at all: every one is said to be unreported
  // (those beyond the queue's 4,096 and those left in it at exit).
  const uint64_t alerts = dp_alerts(dir_.file("dp-a.json"));
  EXPECT_GT(alerts, 0u);
  EXPECT_EQ(unreported_alerts(headless.output), alerts) << headless.output;

  next_run_sends_the_kept_outbox();
}

// A data plane killed (kill -9) while ftzgated is down loses no more than
// the last 5 s of its outbox: the file mirrors it while it runs, and the
// next run sends it first.
TEST_F(DpCompliance, TokensOfADataPlaneKilledWhileFtzgatedIsDownAreSentByTheNextRun) {
  ASSERT_NO_FATAL_FAILURE(report_s1_then_stop_and_forget());

  {
    // Killed 8 s into a 30 s run: every person of the capture was seen in
    // its first seconds, and mirrored since.
    FilePrefix prefix("dpk");
    const RunResult killed = run("timeout -s KILL 8 " + binary("ftzgate-dp") + " " +
                                 dp_args("dp-a", "all.pcap", "30", "--headless-after 0.5") +
                                 " -- --file-prefix " + prefix.name() + " --log-level=*:warning");
    ASSERT_NE(killed.status, 0) << killed.output;
    EXPECT_EQ(killed.output.find("not handed to the controller"), std::string::npos)
        << "no exit of its own: " << killed.output;
  }
  ASSERT_TRUE(std::filesystem::exists(dir_.file("dp-a/outbox")));

  next_run_sends_the_kept_outbox();
}

}  // namespace
}  // namespace ftz::dptest
