// ftzgate-snmp as a NOC runs it: a real snmpd (the shipped snippet) with
// ftzgate-snmp as its AgentX subagent reading a real ftzgated, a real data
// plane reporting to it, snmpwalk and snmptrapd as the NOC's side. After the
// data plane has finished the Lin-gang capture, every table walked matches
// `ftzctl show ... --json`; net-snmp reading FTZGATE-MIB names every
// instance with the type the MIB gives it; the threshold crossing reaches
// snmptrapd as a notification; authNoPriv and SNMPv2c are refused;
// ftzgated going away and coming back is a notification each way.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dp_runner.hpp"
#include "ftz/test/ftzgated.hpp"
#include "ftz/test/gen/scenario.hpp"
#include "ftz/test/snmpd.hpp"

namespace ftz::dptest {
namespace {

constexpr const char* kMib = ".1.3.6.1.4.1.32473";

// A string index as SNMP encodes it: its length, then its octets.
std::string index_of(const std::string& s) {
  std::string out = std::to_string(s.size());
  for (const char c : s) out += "." + std::to_string(static_cast<unsigned char>(c));
  return out;
}

class DpSnmp : public test::Ftzgated {
 protected:
  void TearDown() override {
    stop_subagent();
    test::Ftzgated::TearDown();
  }

  // A credentials file for `user` with `mode`.
  std::string credentials(const std::string& user, mode_t mode = 0600) {
    const std::string path = dir_.file(user + ".cred");
    std::ofstream(path) << user << ":" << test::password_of(user) << "\n";
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::vector<std::string> subagent_argv(const std::string& cred, const std::string& agentx) {
    return {binary("ftzgate-snmp"),
            "--socket",
            socket(),
            "--credentials",
            cred,
            "--agentx-socket",
            agentx,
            "--state-dir",
            dir_.file("subagent"),
            "--interval",
            "1"};
  }
  void start_subagent(const std::string& cred, const std::string& agentx) {
    const auto argv = subagent_argv(cred, agentx);
    sub_pid_ = ::fork();
    ASSERT_GE(sub_pid_, 0);
    if (sub_pid_ == 0) {
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      if (std::freopen(dir_.file("subagent.log").c_str(), "w", stderr) == nullptr) ::_exit(126);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  void stop_subagent() {
    if (sub_pid_ <= 0) return;
    ::kill(sub_pid_, SIGTERM);
    ::waitpid(sub_pid_, nullptr, 0);
    sub_pid_ = -1;
  }

  // OID -> "TYPE: value" of every instance under FTZGATE-MIB.
  std::map<std::string, std::string> walk(const test::SnmpLab& lab) {
    const test::RunResult r = test::run_command(lab.v3("snmpwalk") + " -On " + kMib + " 2>&1");
    std::map<std::string, std::string> out;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) {
      const size_t eq = line.find(" = ");
      if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 3);
    }
    return out;
  }
  // Waits (up to 20 s) until `pred` holds for a walk; the last walk.
  std::map<std::string, std::string> walk_until(
      const test::SnmpLab& lab, const std::function<bool(const std::map<std::string, std::string>&)>& pred) {
    std::map<std::string, std::string> w;
    for (int i = 0; i < 40; ++i) {
      w = walk(lab);
      if (pred(w)) return w;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return w;
  }
  nlohmann::json show(const std::string& what) {
    const test::RunResult r = ctl("carol", "--json show " + what);
    EXPECT_EQ(r.status, 0) << r.output;
    return nlohmann::json::parse(r.output, nullptr, false);
  }
  // Waits (up to 20 s) until snmptrapd logged `needle`.
  static bool trap_logged(const test::SnmpLab& lab, const std::string& needle) {
    for (int i = 0; i < 100; ++i) {
      if (test::read_text(lab.trap_log()).find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  pid_t sub_pid_ = -1;
};

TEST_F(DpSnmp, WalksShowWhatFtzctlShowsAndAThresholdCrossingIsATrap) {
  const std::string lingang = source_dir() + "/examples/lingang.yaml";
  const test::RunResult r = init("--accounts " + dir_.file("accounts") + " --config " + lingang);
  ASSERT_EQ(r.status, 0) << r.output;
  std::filesystem::create_directories(dir_.file("trusted"));
  std::filesystem::copy_file(state() + "/keys/device.pub", dir_.file("trusted/ftzgated.pub"));
  start();
  test::SnmpLab lab(dir_);
  ASSERT_TRUE(lab.start()) << test::read_text(lab.log());
  start_subagent(credentials("carol"), lab.agentx_socket());
  const std::string cp_state = std::string(kMib) + ".1.1.3.0";
  auto w = walk_until(
      lab, [&](const auto& m) { return m.count(cp_state) != 0 && m.at(cp_state) == "INTEGER: 1"; });
  ASSERT_EQ(w[cp_state], "INTEGER: 1") << test::read_text(dir_.file("subagent.log"));

  // The data plane runs the capture to its end and reports its counters.
  ASSERT_TRUE(test::gen::write_scenario(dir_.file("scenario.pcap"), 1));
  const RunResult dp =
      run_dp("--controller unix:" + socket() + " --dataplane-id dp-a --state-dir " + dir_.file("dp-state") +
             " --trusted-keys " + dir_.file("trusted") + " --pcap-in " + dir_.file("scenario.pcap"));
  ASSERT_EQ(dp.status, 0) << dp.output;
  const std::string dp_row = index_of("dp-a");
  const std::string dp_state = std::string(kMib) + ".1.2.1.3." + dp_row;
  w = walk_until(lab,
                 [&](const auto& m) { return m.count(dp_state) != 0 && m.at(dp_state) == "INTEGER: 5"; });
  ASSERT_EQ(w[dp_state], "INTEGER: 5") << "disconnected after its run";
  // ftzgate-snmp reads every second; one more read after ftzctl's.
  const nlohmann::json dps = show("dataplanes");
  // ftzgated evaluates the thresholds once a second: the tokens of the
  // data plane's exit may be counted a moment before their states are.
  nlohmann::json comp;
  for (int i = 0; i < 50; ++i) {
    comp = show("compliance");
    const auto& rows = comp["tenants"];
    if (std::any_of(rows.begin(), rows.end(), [](const auto& row) { return row["state"] != "normal"; }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const nlohmann::json status = show("system status");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  w = walk(lab);

  // The data plane table: its totals.
  ASSERT_EQ(dps["dataplanes"].size(), 1u);
  const nlohmann::json& d = dps["dataplanes"][0];
  const nlohmann::json& t = d["totals"];
  ASSERT_GT(t["packets"].get<uint64_t>(), 0u);
  const auto dp_col = [&](int col) {
    return w[std::string(kMib) + ".1.2.1." + std::to_string(col) + "." + dp_row];
  };
  const auto c64 = [](const nlohmann::json& v) { return "Counter64: " + std::to_string(v.get<uint64_t>()); };
  EXPECT_EQ(dp_col(2), "STRING: \"" + d["host"].get<std::string>() + "\"");
  EXPECT_EQ(dp_col(4), "Gauge32: " + std::to_string(d["running_generation"].get<uint64_t>()));
  EXPECT_EQ(dp_col(9), c64(t["packets"]));
  EXPECT_EQ(dp_col(10), c64(t["bytes"]));
  EXPECT_EQ(dp_col(11), c64(t["forwarded"]));
  EXPECT_EQ(dp_col(12), c64(t["dropped"]));
  EXPECT_EQ(dp_col(13), c64(t["flows_created"]));
  EXPECT_EQ(dp_col(14), c64(t["alerts"]));
  EXPECT_EQ(dp_col(15), c64(t["detections"]));
  EXPECT_GT(t["alerts"].get<uint64_t>(), 0u);
  // Its tables, as its last report gave them (what pressure compares).
  const nlohmann::json& newest = d["stats"];
  const auto gauge = [](const nlohmann::json& v) { return "Gauge32: " + std::to_string(v.get<uint64_t>()); };
  ASSERT_GT(newest["flows_capacity"].get<uint64_t>(), 0u) << newest.dump();
  ASSERT_GT(newest["scan_states_capacity"].get<uint64_t>(), 0u) << newest.dump();
  EXPECT_EQ(dp_col(18), gauge(newest["flows_capacity"]));
  EXPECT_EQ(dp_col(19), gauge(newest["scan_states_active"]));
  EXPECT_EQ(dp_col(20), gauge(newest["scan_states_capacity"]));
  EXPECT_EQ(w[std::string(kMib) + ".1.1.21.0"], "Gauge32: 80") << "the default watermark";

  // The ports, as DPDK counted them.
  ASSERT_GE(t["ports"].size(), 2u) << t.dump();
  for (const auto& p : t["ports"]) {
    const std::string row = dp_row + "." + index_of(p["name"].get<std::string>());
    const auto col = [&](int c) { return w[std::string(kMib) + ".1.3.1." + std::to_string(c) + "." + row]; };
    EXPECT_EQ(col(3), p["link_up"].get<bool>() ? "INTEGER: 1" : "INTEGER: 2") << p.dump();
    EXPECT_EQ(col(4), c64(p["rx_bytes"]));
    EXPECT_EQ(col(5), c64(p["rx_packets"]));
    EXPECT_EQ(col(6), c64(p["tx_bytes"]));
    EXPECT_EQ(col(7), c64(p["tx_packets"]));
  }

  // Ended flows by zone pair and by rule, by name.
  ASSERT_FALSE(t["zone_pairs"].empty()) << t.dump();
  for (const auto& z : t["zone_pairs"]) {
    const std::string row = dp_row + "." + index_of(z["src_zone"].get<std::string>()) + "." +
                            index_of(z["dest_zone"].get<std::string>());
    EXPECT_EQ(w[std::string(kMib) + ".1.7.1.3." + row], c64(z["flows"])) << z.dump();
    EXPECT_EQ(w[std::string(kMib) + ".1.7.1.5." + row], c64(z["bytes"])) << z.dump();
    EXPECT_EQ(w[std::string(kMib) + ".1.7.1.8." + row], c64(z["blocked"])) << z.dump();
  }
  ASSERT_FALSE(t["rule_flows"].empty()) << t.dump();
  for (const auto& [rule, n] : t["rule_flows"].items())
    EXPECT_EQ(w[std::string(kMib) + ".1.8.1.2." + dp_row + "." + index_of(rule)], c64(n)) << rule;

  // Counts by reason: the registry's key for each wire code, the count
  // ftzctl shows under that key, and 0 for every other reason.
  std::map<std::string, std::string> code_of;
  const std::string key_col = std::string(kMib) + ".1.4.1.2.";
  for (const auto& [oid, v] : w)
    if (oid.starts_with(key_col)) code_of[v.substr(9, v.size() - 10)] = oid.substr(key_col.size());
  ASSERT_GT(code_of.size(), 50u);
  uint64_t counted = 0;
  for (const auto& [key, n] : t["reasons"].items()) {
    ASSERT_EQ(code_of.count(key), 1u) << key << " is not in ftzReasonTable";
    EXPECT_EQ(w[std::string(kMib) + ".1.5.1.1." + dp_row + "." + code_of[key]], c64(n)) << key;
    counted += n.get<uint64_t>();
  }
  EXPECT_FALSE(t["reasons"].empty());
  uint64_t walked = 0;
  const std::string reason_col = std::string(kMib) + ".1.5.1.1." + dp_row + ".";
  for (const auto& [oid, v] : w)
    if (oid.starts_with(reason_col)) walked += std::stoull(v.substr(11));
  EXPECT_EQ(walked, counted);

  // The tenants' counts and threshold states; one crossed a line.
  const std::map<std::string, int> class_arc = {
      {"pi", 1}, {"sensitive_pi", 2}, {"important", 3}, {"core", 4}, {"org_id", 5}};
  const std::map<std::string, int> state_value = {{"normal", 1}, {"warn", 2}, {"exceeded", 3}};
  ASSERT_FALSE(comp["tenants"].empty());
  std::string crossed;  // the notification and instance of a crossing
  for (const auto& row : comp["tenants"]) {
    const std::string idx =
        index_of(row["tenant"].get<std::string>()) + "." + std::to_string(class_arc.at(row["data_class"]));
    const auto col = [&](int c) { return w[std::string(kMib) + ".1.6.1." + std::to_string(c) + "." + idx]; };
    EXPECT_EQ(col(3), "Gauge32: " + std::to_string(row["individuals"].get<uint64_t>())) << row.dump();
    const int state = state_value.at(row["state"]);
    EXPECT_EQ(col(7), "INTEGER: " + std::to_string(state)) << row.dump();
    if (state > 1 && crossed.empty())
      crossed =
          std::string(kMib) + ".0." + std::to_string(state - 1) + "|" + std::string(kMib) + ".1.6.1.7." + idx;
  }
  EXPECT_EQ(w[std::string(kMib) + ".1.1.4.0"],
            "Gauge32: " + std::to_string(status["running_generation"].get<uint64_t>()));
  EXPECT_EQ(w[std::string(kMib) + ".1.1.16.0"], "INTEGER: " + std::to_string(comp["year"].get<int>()));

  // snmptrapd has the crossing, with the tenant's state as its object, and
  // the data plane's leaving.
  ASSERT_FALSE(crossed.empty()) << "the Lin-gang capture crosses a tenant's warning line";
  const std::string trap = crossed.substr(0, crossed.find('|'));
  const std::string instance = crossed.substr(crossed.find('|') + 1);
  EXPECT_TRUE(trap_logged(lab, "OID: " + trap)) << test::read_text(lab.trap_log());
  EXPECT_NE(test::read_text(lab.trap_log()).find(instance + " = INTEGER: "), std::string::npos);
  EXPECT_TRUE(trap_logged(lab, "OID: " + std::string(kMib) + ".0.3")) << "ftzDataplaneLost";
  EXPECT_NE(test::read_text(dir_.file("subagent.log")).find("notification: tenant "), std::string::npos);

  // net-snmp reading FTZGATE-MIB names every instance, with its type.
  const test::RunResult named =
      test::run_command(lab.v3("snmpwalk") + " -M " + source_dir() + "/mgmt/snmp/mibs:" + source_dir() +
                        "/mgmt/snmp -m FTZGATE-MIB " + kMib + " 2>&1");
  size_t lines = 0;
  std::istringstream in(named.output);
  for (std::string line; std::getline(in, line); ++lines) {
    EXPECT_TRUE(line.starts_with("FTZGATE-MIB::")) << line;
    EXPECT_EQ(line.find("Wrong Type"), std::string::npos) << line;
  }
  EXPECT_EQ(lines, w.size());

  // SNMPv3 without privacy and SNMPv2c are refused.
  const test::RunResult no_priv =
      test::run_command(lab.v3("snmpget", "authNoPriv") + " " + cp_state + " 2>&1");
  EXPECT_NE(no_priv.output.find("authorizationError"), std::string::npos) << no_priv.output;
  const test::RunResult v2c =
      test::run_command("MIBS= snmpget -v2c -c public -t 1 -r 0 " + lab.target() + " " + cp_state + " 2>&1");
  EXPECT_NE(v2c.output.find("Timeout"), std::string::npos) << v2c.output;

  // ftzgated stops: the last values stay, marked unreachable; it returns:
  // the subagent logs in again.
  ASSERT_EQ(stop(), 0);
  EXPECT_TRUE(trap_logged(lab, "OID: " + std::string(kMib) + ".0.10")) << "ftzControlPlaneUnreachable";
  EXPECT_EQ(walk(lab)[cp_state], "INTEGER: 3");
  start();
  EXPECT_TRUE(trap_logged(lab, "OID: " + std::string(kMib) + ".0.11")) << "ftzControlPlaneReachable";
  EXPECT_EQ(walk(lab)[cp_state], "INTEGER: 1");
}

TEST_F(DpSnmp, ItReadsOnlyAsAnOperatorAndOnlyFromAPrivateFile) {
  ASSERT_EQ(init("--accounts " + dir_.file("accounts") + " --config " + dir_.file("block-hk.yaml")).status,
            0);
  start();
  const auto run_subagent = [&](const std::string& cred) {
    std::string cmd = "timeout 20";
    for (const std::string& a : subagent_argv(cred, dir_.file("no-master.sock"))) cmd += " '" + a + "'";
    return test::run_command(cmd + " 2>&1");
  };
  const test::RunResult admin = run_subagent(credentials("alice"));
  EXPECT_EQ(admin.status, 1) << admin.output;
  EXPECT_NE(admin.output.find("alice is not an operator account"), std::string::npos) << admin.output;
  const test::RunResult shared = run_subagent(credentials("carol", 0640));
  EXPECT_EQ(shared.status, 2) << shared.output;
  EXPECT_NE(shared.output.find("group or others may read it (mode 640)"), std::string::npos) << shared.output;
  const test::RunResult wrong = [&] {
    const std::string path = dir_.file("wrong.cred");
    std::ofstream(path) << "carol\n";
    ::chmod(path.c_str(), 0600);
    return run_subagent(path);
  }();
  EXPECT_EQ(wrong.status, 2) << wrong.output;
  EXPECT_NE(wrong.output.find(":1: expected NAME:PASSWORD"), std::string::npos) << wrong.output;
}

}  // namespace
}  // namespace ftz::dptest
