// ftzctl: the one-shot management command line (issue 10 §5). It logs in to
// ftzgated over its unix socket, or over TCP with mutual TLS (an admin
// certificate naming the account, and the password: two factors), runs one
// command and prints the result, as text for people or JSON (--json) for
// scripts.
//
//   ftzctl [--socket PATH | --controller HOST:PORT --ca F --cert F --key F]
//          [--user NAME] [--json] COMMAND WORDS...
//
// Commands: show configuration [candidate | rollback N | '| compare' [rollback N]], show system commit,
// show dataplanes, show fleet, show compliance, show alerts [last N] [dataplane ID],
// show zones, show tenants, show interfaces [NAME] [extensive], show flows summary, monitor interface [NAME],
// clear statistics, request dataplane restart ID, load [merge] FILE, set PATH... VALUE, delete PATH...,
// commit [check] [comment TEXT] [confirmed MINUTES], commit local-only comment TEXT, commit confirm, rollback
// N, audit verify [from DIR key FILE], user passwd|add|del|grant, show system users, show certificates,
// certificate issue dataplane|admin NAME to DIR [days N], certificate revoke SERIAL. The password comes from
// FTZCTL_PASSWORD or a prompt on the terminal; a new one (user passwd) from FTZCTL_NEW_PASSWORD or a prompt.
//
// Exit status: 0 done; 1 the daemon refused or failed (its status code and
// message on standard error); 2 a bad command line.
#include <grpcpp/grpcpp.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/audit/audit_log.hpp"
#include "ftz/base/atomic_file.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/diagnostics.hpp"
#include "ftz/config/diff.hpp"
#include "ftz/config/yaml_util.hpp"
#include "ftz/mgmt/client.hpp"
#include "ftz/mgmt/endpoint_options.hpp"
#include "ftz/pki/authority.hpp"
#include "ftz/proto/enum_word.hpp"
#include "ftzctl.hpp"
#include "ftzgate/v1/management.grpc.pb.h"

namespace ftz::ctl {

std::string role_word(ftzgate::v1::Role r) {
  switch (r) {
    case ftzgate::v1::ROLE_SYSADMIN:
      return "sysadmin";
    case ftzgate::v1::ROLE_SECADMIN:
      return "secadmin";
    case ftzgate::v1::ROLE_AUDADMIN:
      return "audadmin";
    case ftzgate::v1::ROLE_OPERATOR:
      return "operator";
    default:
      return "?";
  }
}

int fail(const grpc::Status& s) {
  std::fprintf(stderr, "ftzctl: %s: %s\n", ftz::mgmt::code_name(s.error_code()), s.error_message().c_str());
  return 1;
}

std::string local_time(int64_t unix_s) {
  const time_t t = static_cast<time_t>(unix_s);
  tm tm{};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return buf;
}

void print(const Args& a, const nlohmann::ordered_json& j, const std::string& text) {
  if (a.json)
    std::printf("%s\n", j.dump(2).c_str());
  else
    std::fputs(text.c_str(), stdout);
}

}  // namespace ftz::ctl

namespace {

namespace pb = ftzgate::v1;
using ftz::ctl::role_word;
using nlohmann::ordered_json;

using ftz::ctl::Args;
using ftz::ctl::fail;
using ftz::ctl::local_time;
using ftz::ctl::print;

int usage(const std::string& why) {
  std::fprintf(stderr, "ftzctl: %s\nRun with --help for more information.\n", why.c_str());
  return 2;
}

// From the environment (scripts) or the terminal without echo.
std::string secret(const char* env, const char* prompt) {
  if (const char* v = std::getenv(env)) return v;
  std::FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return {};
  std::fputs(prompt, tty);
  std::fflush(tty);
  termios old{};
  const bool echo_off = ::tcgetattr(fileno(tty), &old) == 0;
  if (echo_off) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
  }
  char buf[512];
  std::string out = std::fgets(buf, sizeof buf, tty) != nullptr ? buf : "";
  if (echo_off) ::tcsetattr(fileno(tty), TCSAFLUSH, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A logged-in session; the password from the environment or the terminal.
using ftz::mgmt::Session;
grpc::Status login(Session& s, const std::string& user) {
  return s.login(user, secret("FTZCTL_PASSWORD", "Password: "));
}

// An alert as ftzgated keeps it (management.proto AlertRecord): never an
// identifier, the masked form, and the keyed token only where the record
// still carries one (null otherwise; the security administrator's).
ordered_json alert_json(const ftzgate::v1::AlertRecord& r) {
  const pb::Alert& x = r.alert();
  char token[24] = "";
  if (x.token() != 0)
    std::snprintf(token, sizeof token, "%016llx", static_cast<unsigned long long>(x.token()));
  return {{"dataplane", r.dataplane()},
          {"received_unix_s", r.received_unix_s()},
          {"time_unix_ns", x.ts_unix_ns()},
          {"flow_id", x.flow_id()},
          {"src_ip", x.src_ip()},
          {"src_port", x.src_port()},
          {"dest_ip", x.dest_ip()},
          {"dest_port", x.dest_port()},
          {"ip_proto", x.ip_proto()},
          {"src_zone", x.src_zone()},
          {"dest_zone", x.dest_zone()},
          {"tenant", x.tenant()},
          {"verdict", ftz::proto::enum_word(pb::Action_Name(x.verdict()), "ACTION_")},
          {"rule", x.rule()},
          {"signature_id", x.signature_id()},
          {"signature", x.signature()},
          {"data_class", ftz::proto::enum_word(pb::DataClass_Name(x.data_class()), "DATA_CLASS_")},
          {"masked", x.masked()},
          {"token", x.token() != 0 ? ordered_json(token) : ordered_json(nullptr)},
          {"direction", x.to_server() ? "to_server" : "to_client"},
          {"stream_offset", x.stream_offset()}};
}

ordered_json commit_json(const pb::CommitInfo& c) {
  return {{"generation", c.generation()}, {"user", c.user()},     {"time_unix_s", c.time_unix_s()},
          {"comment", c.comment()},       {"sha256", c.sha256()}, {"based_on", c.based_on()}};
}

// The words of a command with its pipes split off: "| compare" and
// "|compare" (a quoted pipe in one-shot mode) become "|", "compare".
std::vector<std::string> split_pipes(const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (const std::string& word : words) {
    std::istringstream in(word);
    for (std::string t; in >> t;) {
      while (t.size() > 1 && t[0] == '|') {
        out.emplace_back("|");
        t.erase(0, 1);
      }
      out.push_back(t);
    }
  }
  return out;
}

// A word that is a whole unsigned decimal number (a generation, days, a count).
std::optional<uint64_t> unsigned_word(const std::string& w) {
  char* end = nullptr;
  const unsigned long long g = std::strtoull(w.c_str(), &end, 10);
  if (w.empty() || end == w.c_str() || *end != '\0' || w[0] == '-') return std::nullopt;
  return g;
}

// show configuration | compare [rollback N]: the caller's candidate against
// the running configuration, or against generation N.
int compare_configuration(const Args& a, Session& s, std::optional<uint64_t> rollback) {
  pb::ShowConfigurationRequest base_req;
  if (rollback) {
    base_req.set_rollback(*rollback);
  } else {
    base_req.set_running(true);
  }
  pb::ShowConfigurationRequest cand_req;
  cand_req.set_candidate(true);
  pb::ShowConfigurationReply base;
  pb::ShowConfigurationReply cand;
  if (auto st = s.call(&pb::Management::Stub::ShowConfiguration, base_req, &base); !st.ok()) return fail(st);
  if (auto st = s.call(&pb::Management::Stub::ShowConfiguration, cand_req, &cand); !st.ok()) return fail(st);
  const std::string from = (rollback ? "generation " : "running (generation ") +
                           std::to_string(base.generation()) + (rollback ? "" : ")");
  const std::string to = "candidate (based on generation " + std::to_string(cand.generation()) + ")";
  const std::string diff = ftz::config::unified_diff(base.yaml(), cand.yaml(), from, to);
  print(a, {{"from_generation", base.generation()}, {"candidate_base", cand.generation()}, {"diff", diff}},
        diff);
  return 0;
}

int show_configuration(const Args& a, Session& s, const std::vector<std::string>& words) {
  const std::vector<std::string> w = split_pipes(words);
  if (w.size() >= 4 && w[2] == "|" && w[3] == "compare") {
    if (w.size() == 4) return compare_configuration(a, s, std::nullopt);
    if (w.size() == 6 && w[4] == "rollback") {
      if (auto g = unsigned_word(w[5])) return compare_configuration(a, s, g);
    }
    return usage("show configuration | compare [rollback N]");
  }
  pb::ShowConfigurationRequest req;
  if (w.size() == 2) {
    req.set_running(true);
  } else if (w.size() == 3 && w[2] == "candidate") {
    req.set_candidate(true);
  } else if (w.size() == 4 && w[2] == "rollback") {
    const auto g = unsigned_word(w[3]);
    if (!g) return usage("rollback takes a generation number");
    req.set_rollback(*g);
  } else {
    return usage("show configuration [candidate | rollback N | '| compare' [rollback N]]");
  }
  pb::ShowConfigurationReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowConfiguration, req, &reply); !st.ok()) return fail(st);
  print(a, {{"generation", reply.generation()}, {"yaml", reply.yaml()}},
        "# generation " + std::to_string(reply.generation()) + "\n" + reply.yaml());
  return 0;
}

int show_commits(const Args& a, Session& s) {
  pb::ShowCommitsReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowCommits, pb::ShowCommitsRequest{}, &reply); !st.ok())
    return fail(st);
  ordered_json j{{"running_generation", reply.running_generation()}, {"commits", ordered_json::array()}};
  std::string text;
  for (const auto& c : reply.commits()) {
    j["commits"].push_back(commit_json(c));
    char line[512];
    std::snprintf(line, sizeof line, "%s %-6llu %s by %s%s%s\n",
                  c.generation() == reply.running_generation() ? "*" : " ",
                  static_cast<unsigned long long>(c.generation()), local_time(c.time_unix_s()).c_str(),
                  c.user().c_str(), c.comment().empty() ? "" : ": ", c.comment().c_str());
    text += line;
  }
  if (reply.pending_confirm_generation() != 0) {
    j["pending_confirm"] = {{"generation", reply.pending_confirm_generation()},
                            {"confirm_by_unix_s", reply.confirm_by_unix_s()}};
    text += "generation " + std::to_string(reply.pending_confirm_generation()) +
            " is rolled back unless confirmed by " + local_time(reply.confirm_by_unix_s()) + " (commit)\n";
  }
  print(a, j, text);
  return 0;
}

ordered_json stats_json(const pb::DataplaneStats& c) {
  ordered_json ports = ordered_json::array();
  for (const pb::PortStats& p : c.ports()) {
    ports.push_back({{"name", p.name()},
                     {"role", p.role()},
                     {"link_up", p.link_up()},
                     {"rx_packets", p.rx_packets()},
                     {"rx_bytes", p.rx_bytes()},
                     {"tx_packets", p.tx_packets()},
                     {"tx_bytes", p.tx_bytes()},
                     {"rx_missed", p.rx_missed()},
                     {"rx_errors", p.rx_errors()},
                     {"tx_errors", p.tx_errors()},
                     {"rx_nombuf", p.rx_nombuf()}});
  }
  ordered_json reasons = ordered_json::object();
  for (const auto& [key, count] : std::map<std::string, uint64_t>(c.reasons().begin(), c.reasons().end()))
    reasons[key] = count;
  ordered_json pairs = ordered_json::array();
  for (const pb::ZonePairStats& z : c.zone_pairs()) {
    pairs.push_back({{"src_zone", z.src_zone()},
                     {"dest_zone", z.dest_zone()},
                     {"flows", z.flows()},
                     {"packets", z.packets()},
                     {"bytes", z.bytes()},
                     {"allowed", z.allowed()},
                     {"routed", z.routed()},
                     {"blocked", z.blocked()},
                     {"reset", z.reset()}});
  }
  ordered_json rules = ordered_json::object();
  for (const auto& [rule, n] : std::map<std::string, uint64_t>(c.rule_flows().begin(), c.rule_flows().end()))
    rules[rule] = n;
  return {{"uptime_s", c.uptime_s()},
          {"packets", c.packets()},
          {"bytes", c.bytes()},
          {"forwarded", c.forwarded()},
          {"dropped", c.dropped()},
          {"flows_active", c.flows_active()},
          {"flows_capacity", c.flows_capacity()},
          {"scan_states_active", c.scan_states_active()},
          {"scan_states_capacity", c.scan_states_capacity()},
          {"flows_created", c.flows_created()},
          {"alerts", c.alerts()},
          {"alerts_unreported", c.alerts_unreported()},
          {"detections", c.detections()},
          {"reasons", std::move(reasons)},
          {"ports", std::move(ports)},
          {"zone_pairs", std::move(pairs)},
          {"rule_flows", std::move(rules)},
          {"flows_unnamed", c.flows_unnamed()}};
}

int show_dataplanes(const Args& a, Session& s) {
  pb::ShowDataplanesReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &reply); !st.ok())
    return fail(st);
  ordered_json j{{"running_generation", reply.running_generation()}, {"dataplanes", ordered_json::array()}};
  std::string text = "running generation " + std::to_string(reply.running_generation()) + "\n";
  if (reply.dataplanes().empty()) text += "no data plane has subscribed\n";
  for (const auto& d : reply.dataplanes()) {
    j["dataplanes"].push_back({{"id", d.id()},
                               {"host", d.host()},
                               {"state", d.state()},
                               {"running_generation", d.running_generation()},
                               {"last_ack", d.last_ack_unix_s()},
                               {"lag_s", d.lag_s()},
                               {"nack_reason", d.nack_reason()},
                               {"connected", d.connected()},
                               {"last_apply_us", d.last_apply_us()},
                               {"runs", d.runs()}});
    if (d.stats_unix_s() != 0) {
      // Its newest report, and the totals over its runs (never backwards).
      j["dataplanes"].back()["stats"] = stats_json(d.stats());
      j["dataplanes"].back()["stats"]["time_unix_s"] = d.stats_unix_s();
      j["dataplanes"].back()["totals"] = stats_json(d.totals());
    }
    char line[512];
    std::snprintf(line, sizeof line, "%-20s %-12s %-13s generation %-6llu last ACK %s%s\n", d.id().c_str(),
                  d.host().c_str(), d.state().c_str(),
                  static_cast<unsigned long long>(d.running_generation()),
                  d.last_ack_unix_s() == 0 ? "never" : local_time(d.last_ack_unix_s()).c_str(),
                  d.lag_s() > 0 ? (", " + std::to_string(d.lag_s()) + " s behind").c_str() : "");
    text += line;
    if (!d.nack_reason().empty()) text += "  refused the running generation: " + d.nack_reason() + "\n";
    if (d.stats_unix_s() != 0) {
      const pb::DataplaneStats& c = d.stats();
      std::snprintf(
          line, sizeof line,
          "  %llu packets (%llu forwarded, %llu dropped), %llu flows active of %llu, %llu alerts, "
          "%llu identifiers; as of %s\n",
          static_cast<unsigned long long>(c.packets()), static_cast<unsigned long long>(c.forwarded()),
          static_cast<unsigned long long>(c.dropped()), static_cast<unsigned long long>(c.flows_active()),
          static_cast<unsigned long long>(c.flows_created()), static_cast<unsigned long long>(c.alerts()),
          static_cast<unsigned long long>(c.detections()), local_time(d.stats_unix_s()).c_str());
      text += line;
      if (c.flows_capacity() > 0) {
        std::snprintf(line, sizeof line, "  tables: %llu of %llu flows, %llu of %llu scan states in use\n",
                      static_cast<unsigned long long>(c.flows_active()),
                      static_cast<unsigned long long>(c.flows_capacity()),
                      static_cast<unsigned long long>(c.scan_states_active()),
                      static_cast<unsigned long long>(c.scan_states_capacity()));
        text += line;
      }
      if (c.alerts_unreported() > 0)
        text += "  " + std::to_string(c.alerts_unreported()) +
                " alerts not reported here (its queue was full; its EVE file has them)\n";
    }
  }
  print(a, j, text);
  return 0;
}

// The data plane stops as at SIGTERM and starts again (dataplane.proto Restart).
int request_restart(const Args& a, Session& s, const std::string& id) {
  pb::RestartDataplaneRequest req;
  req.set_dataplane_id(id);
  pb::RestartDataplaneReply reply;
  if (auto st = s.call(&pb::Management::Stub::RestartDataplane, req, &reply); !st.ok()) return fail(st);
  print(a, {{"dataplane", id}, {"restart", "sent"}},
        "restart sent to " + id + ": it stops as at SIGTERM and starts again (show dataplanes: runs)\n");
  return 0;
}

using ftz::proto::enum_word;

// show compliance [fleet [year YEAR]]: this appliance's count, or its
// fleet's (this year's, or that of YEAR).
int show_compliance(const Args& a, Session& s, const std::vector<std::string>& w) {
  const bool fleet = w.size() >= 3;
  pb::ShowComplianceRequest req;
  req.set_fleet(fleet);
  if (w.size() == 5) {
    const auto year = unsigned_word(w[4]);
    if (!year || *year < 2000 || *year > 9999)
      return usage("show compliance fleet year " + w[4] + ": a year");
    req.set_year(static_cast<int32_t>(*year));
  }
  pb::ShowComplianceReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowCompliance, req, &reply); !st.ok()) return fail(st);
  ordered_json j{{"year", reply.year()},
                 {"key_fingerprint", reply.key_fingerprint()},
                 {"tokens_merged", reply.tokens_merged()},
                 {"batches", reply.batches()},
                 {"duplicate_batches", reply.duplicate_batches()},
                 {"saved", reply.saved_unix_s()},
                 {"tenants", ordered_json::array()}};
  std::string text = "year " + std::to_string(reply.year()) + " (Asia/Shanghai), " +
                     (fleet ? "the fleet's data planes" : "all data planes") + "; token key " +
                     reply.key_fingerprint() + "\n";
  if (fleet) {
    j["ledger_owner"] = reply.ledger_owner();
    j["written"] = reply.written_unix_s();
    j["signed_by"] = reply.signed_by();
    text += "counted by " + reply.ledger_owner() + " (signed by key " + reply.signed_by() + "), written " +
            std::to_string(reply.written_unix_s()) + " (unix s)\n";
    if (req.year() != 0) {
      j["final"] = reply.final();
      text += reply.final() ? "the year's final count (written after it ended)\n"
                            : "not final: written before the year ended\n";
    }
  }
  if (reply.rows().empty()) text += "no individuals counted\n";
  for (const pb::ComplianceRow& r : reply.rows()) {
    const std::string cls = enum_word(pb::DataClass_Name(r.data_class()), "DATA_CLASS_");
    const std::string state = enum_word(pb::ThresholdState_Name(r.state()), "THRESHOLD_STATE_");
    j["tenants"].push_back({{"tenant", r.tenant()},
                            {"data_class", cls},
                            {"individuals", r.individuals()},
                            {"saturated", r.saturated()},
                            {"estimate", r.estimate()},
                            {"lost", r.lost()},
                            {"state", state}});
    char line[512];
    std::snprintf(line, sizeof line, "%-24s %-13s %s%llu individuals (estimate %.0f)%s, %s\n",
                  r.tenant().c_str(), cls.c_str(), r.saturated() ? "at least " : "",
                  static_cast<unsigned long long>(r.individuals()), r.estimate(),
                  r.lost() > 0 ? (", " + std::to_string(r.lost()) + " lost records counted").c_str() : "",
                  state.c_str());
    text += line;
  }
  print(a, j, text);
  return 0;
}

// A data plane's text for a terminal: control characters (a data plane's
// strings are bounded, not trusted) become '?'.
std::string printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return s;
}

// show alerts [last N] [dataplane ID]: never an identifier, its masked
// form (and the token, for the security administrator).
int show_alerts(const Args& a, Session& s, const std::vector<std::string>& w) {
  pb::ShowAlertsRequest req;
  for (size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return usage("show alerts: " + w[i] + " needs a value");
    if (w[i] == "last") {
      const auto n = unsigned_word(w[i + 1]);
      if (!n || *n == 0 || *n > 10'000) return usage("show alerts last " + w[i + 1] + ": 1 to 10000");
      req.set_last(static_cast<uint32_t>(*n));
    } else if (w[i] == "dataplane") {
      req.set_dataplane(w[i + 1]);
    } else {
      return usage("show alerts: unknown word " + w[i] + " (last N, dataplane ID)");
    }
  }
  pb::ShowAlertsReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowAlerts, req, &reply); !st.ok()) return fail(st);
  ordered_json j{
      {"received", reply.received()}, {"dropped", reply.dropped()}, {"alerts", ordered_json::array()}};
  std::string text;
  if (reply.alerts().empty()) text += "no alerts\n";
  for (const pb::AlertRecord& r : reply.alerts()) {
    const pb::Alert& x = r.alert();
    const std::string verdict = enum_word(pb::Action_Name(x.verdict()), "ACTION_");
    const std::string cls = enum_word(pb::DataClass_Name(x.data_class()), "DATA_CLASS_");
    // No token for roles that may not see it (ftzgated clears it): "-".
    char token[24] = "-";
    if (x.token() != 0)
      std::snprintf(token, sizeof token, "%016llx", static_cast<unsigned long long>(x.token()));
    j["alerts"].push_back(alert_json(r));
    char line[4096];  // eight texts of at most 256 bytes (ftzgated's bound)
    std::snprintf(line, sizeof line, "%s %s %s %s (%s) %s token %s %s:%u -> %s:%u %s -> %s%s%s rule %s\n",
                  local_time(x.ts_unix_ns() / 1'000'000'000).c_str(), printable(r.dataplane()).c_str(),
                  verdict.c_str(), printable(x.signature()).c_str(), cls.c_str(),
                  printable(x.masked()).c_str(), token, printable(x.src_ip()).c_str(), x.src_port(),
                  printable(x.dest_ip()).c_str(), x.dest_port(), printable(x.src_zone()).c_str(),
                  printable(x.dest_zone()).c_str(), x.tenant().empty() ? "" : " tenant ",
                  printable(x.tenant()).c_str(), printable(x.rule()).c_str());
    text += line;
  }
  if (reply.dropped() > 0)
    text += "(" + std::to_string(reply.dropped()) +
            " older alerts are no longer kept here: see the data planes' EVE files)\n";
  print(a, j, text);
  return 0;
}

// load FILE / load merge FILE.
int load(const Args& a, Session& s, std::vector<std::string> w) {
  const bool merge = w.size() == 3 && w[1] == "merge";
  if (merge) w.erase(w.begin() + 1);
  if (w.size() != 2) return usage("load [merge] FILE");
  // The configuration and the files it includes (prefix lists, signature
  // packs) go together: ftzgated keeps them with the candidate, so a
  // generation never depends on files that stay on this machine. ftzgated
  // validates (and records the attempt).
  auto imported = ftz::config::import_config(w[1]);
  if (!imported) return usage(ftz::config::format_diagnostics(imported.error()));
  for (const auto& [ref, why] : imported->unread)
    std::fprintf(stderr, "ftzctl: %s names %s, which cannot be read here: %s\n", w[1].c_str(), ref.c_str(),
                 why.c_str());
  pb::LoadRequest req;
  req.set_yaml(imported->text);
  req.set_filename(w[1]);
  req.set_merge(merge);
  for (const auto& [path, content] : imported->files) (*req.mutable_files())[path] = content;
  pb::LoadReply reply;
  if (auto st = s.call(&pb::Management::Stub::Load, req, &reply); !st.ok()) return fail(st);
  // Warnings go with the JSON for scripts, to standard error for people.
  ordered_json warnings = ordered_json::array();
  for (const std::string& warning : reply.warnings()) {
    warnings.push_back(warning);
    if (!a.json) std::fprintf(stderr, "ftzctl: warning: %s\n", warning.c_str());
  }
  ordered_json files = ordered_json::array();
  for (const auto& [path, content] : imported->files) files.push_back(path);
  std::string text = (merge ? "merged into the candidate: " : "candidate loaded from ") + w[1];
  if (!imported->files.empty()) text += " with " + std::to_string(imported->files.size()) + " included files";
  print(a, {{"based_on", reply.based_on()}, {"files", files}, {"warnings", warnings}},
        text + " (edited from generation " + std::to_string(reply.based_on()) + "; commit to apply)\n");
  return 0;
}

int commit(const Args& a, Session& s, const std::vector<std::string>& w) {
  pb::CommitRequest req;
  for (size_t i = 1; i < w.size(); ++i) {
    if (w[i] == "check") {
      req.set_check_only(true);
    } else if (w[i] == "local-only") {
      req.set_local_only(true);
    } else if (w[i] == "comment" && i + 1 < w.size()) {
      req.set_comment(w[++i]);
    } else if (w[i] == "confirmed" && i + 1 < w.size()) {
      const int minutes = std::atoi(w[++i].c_str());
      if (minutes < 1 || minutes > 65535) return usage("commit confirmed takes 1..65535 minutes");
      req.set_confirm_minutes(static_cast<uint32_t>(minutes));
    } else if (w[i] == "confirm" && w.size() == 2) {
      pb::ConfirmReply reply;
      if (auto st = s.call(&pb::Management::Stub::Confirm, pb::ConfirmRequest{}, &reply); !st.ok())
        return fail(st);
      print(a, {{"confirmed", reply.generation()}},
            "generation " + std::to_string(reply.generation()) + " confirmed\n");
      return 0;
    } else {
      return usage(
          "commit [check] [comment TEXT] [confirmed MINUTES] | commit local-only comment TEXT | commit "
          "confirm");
    }
  }
  pb::CommitReply reply;
  if (auto st = s.call(&pb::Management::Stub::Commit, req, &reply); !st.ok()) return fail(st);
  if (req.check_only()) {
    print(a, {{"check", "ok"}}, "configuration check succeeds\n");
    return 0;
  }
  ordered_json j{{"commit", commit_json(reply.commit())}};
  std::string text = "commit complete: generation " + std::to_string(reply.commit().generation()) + "\n";
  if (reply.confirm_by_unix_s() != 0) {
    j["confirm_by_unix_s"] = reply.confirm_by_unix_s();
    text += "rolled back at " + local_time(reply.confirm_by_unix_s()) + " unless confirmed (commit)\n";
  }
  print(a, j, text);
  return 0;
}

// set PATH... VALUE / delete PATH...: one edit of the caller's candidate.
int edit(const Args& a, Session& s, const std::vector<std::string>& w) {
  const bool set = w[0] == "set";
  if (w.size() < (set ? 3u : 2u)) return usage(set ? "set PATH... VALUE" : "delete PATH...");
  pb::EditRequest req;
  for (size_t i = 1; i + (set ? 1 : 0) < w.size(); ++i) req.add_path(w[i]);
  if (set) {
    req.set_set_value(w.back());
  } else {
    req.set_remove(true);
  }
  pb::EditReply reply;
  if (auto st = s.call(&pb::Management::Stub::Edit, req, &reply); !st.ok()) return fail(st);
  std::string text = "candidate changed (based on generation " + std::to_string(reply.based_on()) + ")\n";
  if (!reply.problems().empty()) text += "commit check would refuse it now:\n" + reply.problems();
  print(a, {{"based_on", reply.based_on()}, {"problems", reply.problems()}}, text);
  return 0;
}

int rollback(const Args& a, Session& s, const std::vector<std::string>& w) {
  if (w.size() != 2) return usage("rollback N");
  const auto g = unsigned_word(w[1]);
  if (!g) return usage("rollback takes a generation number");
  pb::RollbackRequest req;
  req.set_generation(*g);
  pb::RollbackReply reply;
  if (auto st = s.call(&pb::Management::Stub::Rollback, req, &reply); !st.ok()) return fail(st);
  print(a, {{"based_on", reply.based_on()}},
        "generation " + w[1] + " loaded into the candidate; commit to apply\n");
  return 0;
}

// What audit verify prints, from ftzgated or from a copy verified here.
int print_verify(const Args& a, const ftz::audit::VerifyReport& r) {
  ordered_json j{{"ok", r.ok},
                 {"problem", r.problem},
                 {"where", r.where},
                 {"records", r.records},
                 {"checkpoints", r.checkpoints},
                 {"last_seq", r.last_seq},
                 {"unsigned_tail", r.unsigned_tail},
                 {"removed_through", r.removed_through}};
  const std::string removed = r.removed_through == 0 ? std::string()
                                                     : "; records 1.." + std::to_string(r.removed_through) +
                                                           " removed by retention (signed anchor)";
  const std::string text = r.ok ? "audit log verified: " + std::to_string(r.records) + " records to seq " +
                                      std::to_string(r.last_seq) + ", " + std::to_string(r.checkpoints) +
                                      " signed checkpoints, " + std::to_string(r.unsigned_tail) +
                                      " records after the last" + removed + "\n"
                                : "audit log FAILED verification at " + r.where + ": " + r.problem + "\n";
  print(a, j, text);
  return r.ok ? 0 : 1;
}

// audit verify [fleet]: fleet also checks the log against the checkpoints
// this member anchored in its fleet's etcd, and lists every member's anchors.
int audit_verify(const Args& a, Session& s, bool fleet) {
  pb::AuditVerifyRequest req;
  req.set_fleet(fleet);
  pb::AuditVerifyReply r;
  if (auto st = s.call(&pb::Management::Stub::AuditVerify, req, &r); !st.ok()) return fail(st);
  const ftz::audit::VerifyReport report{
      r.ok(),          r.problem(),  r.where(),         r.records(),
      r.checkpoints(), r.last_seq(), r.unsigned_tail(), r.removed_through()};
  if (!fleet) return print_verify(a, report);
  ordered_json members = ordered_json::array();
  std::string text = "against " + std::to_string(r.fleet_anchors_checked()) +
                     " checkpoints this member anchored in its fleet\n"
                     "MEMBER               ANCHORS  NEWEST SEQ  ANCHORED (unix s)\n";
  for (const pb::FleetAuditMember& m : r.fleet_members()) {
    members.push_back({{"member", m.member()},
                       {"anchors", m.anchors()},
                       {"newest_seq", m.newest_seq()},
                       {"newest_unix_s", m.newest_unix_s()}});
    char line[160];
    std::snprintf(line, sizeof line, "%-20s %8llu  %10llu  %lld\n", m.member().c_str(),
                  static_cast<unsigned long long>(m.anchors()),
                  static_cast<unsigned long long>(m.newest_seq()), static_cast<long long>(m.newest_unix_s()));
    text += line;
  }
  if (a.json) {
    ordered_json j{{"ok", r.ok()},
                   {"problem", r.problem()},
                   {"where", r.where()},
                   {"records", r.records()},
                   {"checkpoints", r.checkpoints()},
                   {"last_seq", r.last_seq()},
                   {"unsigned_tail", r.unsigned_tail()},
                   {"removed_through", r.removed_through()},
                   {"fleet_anchors_checked", r.fleet_anchors_checked()},
                   {"fleet_members", std::move(members)}};
    print(a, j, "");
    return r.ok() ? 0 : 1;
  }
  const int status = print_verify(a, report);
  std::printf("%s", text.c_str());
  return status;
}

// audit verify from DIR key FILE: a copy of the log (ftzgated's audit/
// directory: its files, head and anchor) verified here, without ftzgated,
// against the device's public key (STATE/keys/device.pub) from a source the
// auditor trusts. The same code as ftzgated's audit verify.
int audit_verify_copy(const Args& a, const std::vector<std::string>& w) {
  std::string dir;
  std::string key_file;
  for (size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return usage("audit verify: " + w[i] + " needs a value");
    if (w[i] == "from") {
      dir = w[i + 1];
    } else if (w[i] == "key") {
      key_file = w[i + 1];
    } else {
      return usage("audit verify: unknown word " + w[i] + " (from DIR key FILE)");
    }
  }
  if (dir.empty() || key_file.empty())
    return usage("audit verify from DIR needs key FILE (device.pub), and the reverse");
  if (!std::filesystem::is_directory(dir)) return usage("audit verify from " + dir + ": not a directory");
  // A copy is the whole audit/ directory: a wrong or empty directory must
  // not verify as an empty log.
  std::error_code ec;
  const bool any_file =
      std::any_of(std::filesystem::directory_iterator(dir, ec), std::filesystem::directory_iterator(),
                  [](const auto& e) { return e.path().filename().string().starts_with("audit-"); });
  if (ec || !any_file || !std::filesystem::is_regular_file(dir + "/head")) {
    std::fprintf(stderr, "ftzctl: %s: not a copy of an audit log (its audit-*.jsonl files and head)%s%s\n",
                 dir.c_str(), ec ? ": " : "", ec ? ec.message().c_str() : "");
    return 1;
  }
  const auto pem = ftz::config::read_regular_file(key_file, 64 * 1024);
  if (!pem) {
    std::fprintf(stderr, "ftzctl: %s: %s\n", key_file.c_str(), pem.error().reason.c_str());
    return 1;
  }
  return print_verify(a, ftz::audit::verify(dir, *pem));
}

std::string kind_word(pb::CertificateKind k) {
  return k == pb::CERTIFICATE_KIND_DATAPLANE ? "dataplane" : k == pb::CERTIFICATE_KIND_ADMIN ? "admin" : "?";
}

ordered_json certificate_json(const pb::Certificate& c) {
  return {{"serial", c.serial()},
          {"kind", kind_word(c.kind())},
          {"name", c.name()},
          {"not_before_unix_s", c.not_before_unix_s()},
          {"not_after_unix_s", c.not_after_unix_s()},
          {"revoked_unix_s", c.revoked_unix_s()},
          {"sha256", c.sha256()}};
}

int show_certificates(const Args& a, Session& s) {
  pb::ShowCertificatesReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowCertificates, pb::ShowCertificatesRequest{}, &reply);
      !st.ok())
    return fail(st);
  ordered_json j{{"ca_sha256", reply.ca_sha256()}, {"certificates", ordered_json::array()}};
  std::string text = "CA sha256 " + reply.ca_sha256() + "\n";
  if (reply.certificates().empty()) text += "no certificate has been issued\n";
  for (const auto& c : reply.certificates()) {
    j["certificates"].push_back(certificate_json(c));
    char line[512];
    std::snprintf(line, sizeof line, "%-34s %-9s %-20s until %s%s\n", c.serial().c_str(),
                  kind_word(c.kind()).c_str(), c.name().c_str(), local_time(c.not_after_unix_s()).c_str(),
                  c.revoked_unix_s() != 0 ? (", REVOKED " + local_time(c.revoked_unix_s())).c_str() : "");
    text += line;
  }
  print(a, j, text);
  return 0;
}

// certificate issue dataplane|admin NAME to DIR [days N]: the key is made
// here and stays here (DIR/NAME.key, 0600); ftzgated signs its CSR.
int issue_certificate(const Args& a, Session& s, const std::vector<std::string>& w) {
  const char* form = "certificate issue dataplane|admin NAME to DIR [days N]";
  if (!(w.size() == 6 || w.size() == 8) || w[4] != "to" || (w.size() == 8 && w[6] != "days"))
    return usage(form);
  pb::IssueCertificateRequest req;
  if (w[2] == "dataplane") {
    req.set_kind(pb::CERTIFICATE_KIND_DATAPLANE);
  } else if (w[2] == "admin") {
    req.set_kind(pb::CERTIFICATE_KIND_ADMIN);
  } else {
    return usage(form);
  }
  if (w.size() == 8) {
    const auto days = unsigned_word(w[7]);
    if (!days || *days == 0 || *days > ftz::pki::Authority::kMaxDays)
      return usage("days is 1 to " + std::to_string(ftz::pki::Authority::kMaxDays));
    req.set_days(static_cast<uint32_t>(*days));
  }
  const std::string& name = w[3];
  const std::string base = w[5] + "/" + name;
  // Never over an existing key: it may be the one a data plane runs with.
  for (const std::string& f : {base + ".key", base + ".crt"}) {
    if (std::ifstream(f)) {
      std::fprintf(stderr, "ftzctl: %s exists; remove it or choose another directory\n", f.c_str());
      return 1;
    }
  }
  auto made = ftz::pki::make_key_and_request(name);
  if (!made) return usage(made.error());
  req.set_name(name);
  req.set_csr_pem(made->csr_pem);
  pb::IssueCertificateReply reply;
  if (auto st = s.call(&pb::Management::Stub::IssueCertificate, req, &reply); !st.ok()) return fail(st);
  const auto write = [](const std::string& path, const std::string& text, mode_t mode) {
    auto written = ftz::base::write_file_atomically(path, text, mode, ftz::base::IfExists::kKeep);
    if (written && *written) return true;
    std::fprintf(stderr, "ftzctl: %s\n",
                 written ? (path + " appeared meanwhile").c_str() : written.error().c_str());
    return false;
  };
  if (!write(base + ".key", made->key_pem, 0600) || !write(base + ".crt", reply.certificate_pem(), 0644))
    return 1;
  // ca.crt beside them: the same CA for every certificate of this ftzgated.
  if (auto ca = ftz::base::write_file_atomically(w[5] + "/ca.crt", reply.ca_pem(), 0644); !ca) {
    std::fprintf(stderr, "ftzctl: %s\n", ca.error().c_str());
    return 1;
  }
  ordered_json j = certificate_json(reply.certificate());
  j["files"] = {base + ".key", base + ".crt", w[5] + "/ca.crt"};
  print(a, j,
        "issued " + kind_word(reply.certificate().kind()) + " certificate " + reply.certificate().serial() +
            " for " + name + ", valid until " + local_time(reply.certificate().not_after_unix_s()) + ": " +
            base + ".crt, " + base + ".key, " + w[5] + "/ca.crt\n");
  return 0;
}

int revoke_certificate(const Args& a, Session& s, const std::vector<std::string>& w) {
  if (w.size() != 3) return usage("certificate revoke SERIAL");
  pb::RevokeCertificateRequest req;
  req.set_serial(w[2]);
  pb::RevokeCertificateReply reply;
  if (auto st = s.call(&pb::Management::Stub::RevokeCertificate, req, &reply); !st.ok()) return fail(st);
  print(a, certificate_json(reply.certificate()),
        "revoked " + kind_word(reply.certificate().kind()) + " certificate " + reply.certificate().serial() +
            " of " + reply.certificate().name() + "\n");
  return 0;
}

// The channel to ftzgated: its unix socket, or TCP with mutual TLS.
// Replies up to 64 MiB (gRPC's default is 4): show alerts last 10000 with
// long names and IPv6 addresses is more than 4.

int show_users(const Args& a, Session& s) {
  pb::ShowUsersReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowUsers, pb::ShowUsersRequest{}, &reply); !st.ok())
    return fail(st);
  ordered_json j{{"users", ordered_json::array()}};
  std::string text;
  for (const auto& u : reply.users()) {
    j["users"].push_back({{"name", u.name()},
                          {"role", role_word(u.role())},
                          {"must_change_password", u.must_change_password()},
                          {"locked_until_unix_s", u.locked_until_unix_s()},
                          {"failures", u.failures()}});
    char line[256];
    std::snprintf(
        line, sizeof line, "%-32s %-9s%s%s\n", u.name().c_str(), role_word(u.role()).c_str(),
        u.must_change_password() ? " must change password" : "",
        u.locked_until_unix_s() != 0 ? (" locked until " + local_time(u.locked_until_unix_s())).c_str() : "");
    text += line;
  }
  print(a, j, text);
  return 0;
}

// user add NAME | user del NAME | user grant NAME ROLE.
int administer_user(const Args& a, Session& s, const std::vector<std::string>& w) {
  if (w[1] == "add" && w.size() == 3) {
    pb::AddUserRequest req;
    req.set_name(w[2]);
    req.set_password(secret("FTZCTL_NEW_PASSWORD", ("Password for " + w[2] + ": ").c_str()));
    pb::AddUserReply reply;
    if (auto st = s.call(&pb::Management::Stub::AddUser, req, &reply); !st.ok()) return fail(st);
    print(a, {{"added", w[2]}, {"role", "operator"}},
          "added " + w[2] + " (operator; the password must be changed at first login)\n");
    return 0;
  }
  if (w[1] == "del" && w.size() == 3) {
    pb::DeleteUserRequest req;
    req.set_name(w[2]);
    pb::DeleteUserReply reply;
    if (auto st = s.call(&pb::Management::Stub::DeleteUser, req, &reply); !st.ok()) return fail(st);
    ordered_json revoked = ordered_json::array();
    std::string text = "deleted " + w[2] + "\n";
    for (const auto& serial : reply.revoked_certificates()) {
      revoked.push_back(serial);
      text += "revoked its certificate " + serial + "\n";
    }
    print(a, {{"deleted", w[2]}, {"revoked_certificates", revoked}}, text);
    return 0;
  }
  if (w[1] == "grant" && w.size() == 4) {
    pb::GrantRoleRequest req;
    req.set_name(w[2]);
    const std::string& r = w[3];
    req.set_role(r == "sysadmin"   ? pb::ROLE_SYSADMIN
                 : r == "secadmin" ? pb::ROLE_SECADMIN
                 : r == "audadmin" ? pb::ROLE_AUDADMIN
                 : r == "operator" ? pb::ROLE_OPERATOR
                                   : pb::ROLE_UNSPECIFIED);
    if (req.role() == pb::ROLE_UNSPECIFIED)
      return usage("a role is sysadmin, secadmin, audadmin or operator");
    pb::GrantRoleReply reply;
    if (auto st = s.call(&pb::Management::Stub::GrantRole, req, &reply); !st.ok()) return fail(st);
    print(a, {{"name", w[2]}, {"role", r}}, w[2] + " is " + r + " from the next login on\n");
    return 0;
  }
  return usage("user add NAME | user del NAME | user grant NAME ROLE | user passwd");
}

int passwd(const Args& a, Session& s) {
  pb::ChangePasswordRequest req;
  req.set_new_password(secret("FTZCTL_NEW_PASSWORD", "New password: "));
  pb::ChangePasswordReply reply;
  if (auto st = s.call(&pb::Management::Stub::ChangePassword, req, &reply); !st.ok()) return fail(st);
  print(a, {{"changed", true}}, "password changed\n");
  return 0;
}

// A time as administrators write it, at +08:00 (Asia/Shanghai, as the audit
// log's): 2026-12-01, 2026-12-01T08:30 or 2026-12-01T08:30:15.
std::optional<int64_t> shanghai_time_ms(const std::string& text) {
  for (const char* layout : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    std::tm tm{};
    const char* end = ::strptime(text.c_str(), layout, &tm);
    if (end == nullptr || *end != '\0') continue;
    std::tm parsed = tm;
    const time_t t = ::timegm(&tm);
    // timegm() carries 2026-02-30 into March: a date that is not one is refused.
    if (tm.tm_year != parsed.tm_year || tm.tm_mon != parsed.tm_mon || tm.tm_mday != parsed.tm_mday ||
        tm.tm_hour != parsed.tm_hour || tm.tm_min != parsed.tm_min || tm.tm_sec != parsed.tm_sec)
      return std::nullopt;
    return (static_cast<int64_t>(t) - 8 * 3600) * 1000;
  }
  return std::nullopt;
}

// audit show [since TIME] [last N]
int audit_show(const Args& a, Session& s, const std::vector<std::string>& w) {
  pb::AuditShowRequest req;
  for (size_t i = 2; i < w.size(); i += 2) {
    if (i + 1 >= w.size()) return usage("audit show: " + w[i] + " needs a value");
    if (w[i] == "since") {
      const auto ms = shanghai_time_ms(w[i + 1]);
      if (!ms) return usage("audit show since " + w[i + 1] + ": not YYYY-MM-DD[THH:MM[:SS]] (+08:00)");
      req.set_since_unix_ms(*ms);
    } else if (w[i] == "last") {
      const auto n = unsigned_word(w[i + 1]);
      if (!n || *n == 0 || *n > 10'000) return usage("audit show last " + w[i + 1] + ": 1 to 10000");
      req.set_last(static_cast<uint32_t>(*n));
    } else {
      return usage("audit show: unknown word " + w[i] + " (since TIME, last N)");
    }
  }
  pb::AuditShowReply reply;
  if (auto st = s.call(&pb::Management::Stub::AuditShow, req, &reply); !st.ok()) return fail(st);
  ordered_json j{{"matched", reply.matched()}, {"records", ordered_json::array()}};
  std::string text;
  for (const std::string& line : reply.records()) {
    const ordered_json r = ordered_json::parse(line, nullptr, false);
    j["records"].push_back(r.is_discarded() ? ordered_json(line) : r);
    if (!r.is_object()) {
      text += "(unreadable record) " + line + "\n";
      continue;
    }
    const auto str = [&r](const char* k) {
      return r.contains(k) && r[k].is_string() ? r[k].get<std::string>() : "";
    };
    text += str("time") + " " + str("user") + (str("role").empty() ? "" : "(" + str("role") + ")") + " " +
            str("source") + " " + str("event_type") +
            (r.contains("success") && r["success"] == false ? " FAILED" : "") + " " +
            (r.contains("details") ? r["details"].dump() : "{}") + "\n";
  }
  if (reply.matched() > static_cast<uint64_t>(reply.records_size()))
    text += "(" + std::to_string(reply.records_size()) + " newest of " + std::to_string(reply.matched()) +
            " records; narrow with since TIME or widen with last N)\n";
  print(a, j, text);
  return 0;
}

int show_system_status(const Args& a, Session& s) {
  pb::ShowSystemStatusReply r;
  if (auto st = s.call(&pb::Management::Stub::ShowSystemStatus, pb::ShowSystemStatusRequest{}, &r); !st.ok())
    return fail(st);
  ordered_json expiring = ordered_json::array();
  for (const auto& c : r.certificates_expiring()) expiring.push_back(certificate_json(c));
  const ordered_json j{{"version", r.version()},
                       {"host", r.host()},
                       {"started_unix_s", r.started_unix_s()},
                       {"now_unix_s", r.now_unix_s()},
                       {"running_generation", r.running_generation()},
                       {"pending_confirm_generation", r.pending_confirm_generation()},
                       {"confirm_by_unix_s", r.confirm_by_unix_s()},
                       {"dataplanes", r.dataplanes()},
                       {"dataplanes_connected", r.dataplanes_connected()},
                       {"dataplanes_current", r.dataplanes_current()},
                       {"audit_last_seq", r.audit_last_seq()},
                       {"audit_verified_unix_s", r.audit_verified_unix_s()},
                       {"audit_verify_ok", r.audit_verify_ok()},
                       {"audit_verify_problem", r.audit_verify_problem()},
                       {"state_free_bytes", r.state_free_bytes()},
                       {"device_key_id", r.device_key_id()},
                       {"token_key_fingerprint", r.token_key_fingerprint()},
                       {"certificates_expiring", expiring}};
  const int64_t up = r.now_unix_s() - r.started_unix_s();
  char line[256];
  std::snprintf(line, sizeof line, "ftzgated %s on %s, up %lldd %02lld:%02lld since %s\n",
                r.version().c_str(), r.host().c_str(), static_cast<long long>(up / 86400),
                static_cast<long long>(up / 3600 % 24), static_cast<long long>(up / 60 % 60),
                local_time(r.started_unix_s()).c_str());
  std::string text = line;
  text += "running generation " + std::to_string(r.running_generation());
  if (r.pending_confirm_generation() != 0)
    text += " (commit confirmed: generation " + std::to_string(r.pending_confirm_generation()) +
            " is rolled back unless confirmed by " + local_time(r.confirm_by_unix_s()) + ")";
  text += "\n";
  text += "data planes: " + std::to_string(r.dataplanes()) + " known, " +
          std::to_string(r.dataplanes_connected()) + " connected, " + std::to_string(r.dataplanes_current()) +
          " on the running generation\n";
  std::snprintf(line, sizeof line, "audit log: %llu records; state directory: %.1f GiB free\n",
                static_cast<unsigned long long>(r.audit_last_seq()),
                static_cast<double>(r.state_free_bytes()) / (1024.0 * 1024 * 1024));
  text += line;
  if (r.audit_verified_unix_s() == 0) {
    text += "audit log: not verified yet\n";
  } else if (r.audit_verify_ok()) {
    text += "audit log: verified at " + local_time(r.audit_verified_unix_s()) + "\n";
  } else {
    text += "audit log: DOES NOT VERIFY (at " + local_time(r.audit_verified_unix_s()) +
            "): " + r.audit_verify_problem() + "\n";
  }
  text += "device key " + r.device_key_id() + "; token key fingerprint " + r.token_key_fingerprint() + "\n";
  if (r.certificates_expiring().empty()) text += "no certificate expires within 30 days\n";
  for (const auto& c : r.certificates_expiring()) {
    const int64_t days = (c.not_after_unix_s() - r.now_unix_s()) / 86400;
    text += "certificate " + c.serial() + " (" + kind_word(c.kind()) + " " + c.name() + ") " +
            (c.not_after_unix_s() <= r.now_unix_s() ? "EXPIRED "
                                                    : "expires in " + std::to_string(days) + " days, ") +
            "on " + local_time(c.not_after_unix_s()) + "\n";
  }
  print(a, j, text);
  return 0;
}

int show_fleet(const Args& a, Session& s) {
  pb::ShowFleetReply r;
  if (auto st = s.call(&pb::Management::Stub::ShowFleet, pb::ShowFleetRequest{}, &r); !st.ok())
    return fail(st);
  ordered_json members = ordered_json::array();
  std::string table;
  for (const pb::FleetMemberStatus& m : r.members()) {
    members.push_back({{"member", m.member()},
                       {"self", m.self()},
                       {"etcd_connected", m.etcd_connected()},
                       {"running_generation", m.running_generation()},
                       {"running_sha256", m.running_sha256()},
                       {"lag_s", m.lag_s()},
                       {"dataplanes", m.dataplanes()},
                       {"dataplanes_connected", m.dataplanes_connected()},
                       {"dataplanes_current", m.dataplanes_current()},
                       {"reported_unix_s", m.reported_unix_s()}});
    char line[256];
    std::snprintf(line, sizeof line, "%-20s %-14s %-11llu %-9s %u/%u/%u\n",
                  (m.member() + (m.self() ? " *" : "")).c_str(),
                  m.etcd_connected() ? "connected" : "NOT CONNECTED",
                  static_cast<unsigned long long>(m.running_generation()),
                  m.lag_s() == 0 ? "current" : (std::to_string(m.lag_s()) + " s").c_str(),
                  m.dataplanes_current(), m.dataplanes_connected(), m.dataplanes());
    table += line;
  }
  const ordered_json j{{"fleet", r.fleet()},
                       {"member", r.member()},
                       {"etcd_connected", r.etcd_connected()},
                       {"etcd_endpoint", r.etcd_endpoint()},
                       {"fleet_generation", r.fleet_generation()},
                       {"fleet_sha256", r.fleet_sha256()},
                       {"committed_by", r.committed_by()},
                       {"committed_user", r.committed_user()},
                       {"committed_unix_s", r.committed_unix_s()},
                       {"confirm_by_unix_s", r.confirm_by_unix_s()},
                       {"problem", r.problem()},
                       {"members", members}};
  std::string text =
      "fleet " + r.fleet() + ", as member " + r.member() + " sees it via " + r.etcd_endpoint() + "\n";
  if (!r.problem().empty()) {
    text += "etcd CANNOT BE READ: " + r.problem() + "\nthis member only:\n";
  } else if (r.fleet_generation() != 0) {
    text += "fleet generation " + std::to_string(r.fleet_generation()) + ", committed by " +
            r.committed_user() + " on " + r.committed_by() + " at " + local_time(r.committed_unix_s()) + "\n";
    if (r.confirm_by_unix_s() != 0) {
      text += "a commit confirmed: every member goes back at " + local_time(r.confirm_by_unix_s()) +
              " unless confirmed (commit on any member)\n";
    }
  }
  text += "MEMBER               ETCD           GENERATION  LAG       DATA PLANES current/connected/known\n" +
          table;
  print(a, j, text);
  return 0;
}

}  // namespace

namespace ftz::ctl {

bool known_command(const std::vector<std::string>& w) {
  if (w.empty()) return false;
  return (w[0] == "show" && w.size() >= 2 &&
          (w[1] == "configuration" ||
           (w[1] == "compliance" && w.size() >= 3 && w[2] == "fleet" &&
            (w.size() == 3 || (w.size() == 5 && w[3] == "year"))) ||
           ((w[1] == "dataplanes" || w[1] == "compliance" || w[1] == "fleet" || w[1] == "certificates" ||
             w[1] == "zones" || w[1] == "tenants") &&
            w.size() == 2) ||
           w[1] == "alerts" || (w[1] == "interfaces" && w.size() <= 4) ||
           (w[1] == "flows" && w.size() == 3 && w[2] == "summary") ||
           (w[1] == "system" && w.size() == 3 && (w[2] == "commit" || w[2] == "status")))) ||
         (w[0] == "monitor" && w.size() >= 2 && w.size() <= 3 && w[1] == "interface") ||
         (w[0] == "clear" && w.size() == 2 && w[1] == "statistics") ||
         (w[0] == "request" && w.size() == 4 && w[1] == "dataplane" && w[2] == "restart") || w[0] == "load" ||
         w[0] == "set" || w[0] == "delete" || w[0] == "commit" || w[0] == "rollback" ||
         (w[0] == "audit" && w.size() >= 2 && w[1] == "verify") ||
         (w[0] == "audit" && w.size() >= 2 && w[1] == "show") ||
         (w[0] == "user" && w.size() >= 2 &&
          (w[1] == "passwd" || w[1] == "add" || w[1] == "del" || w[1] == "grant")) ||
         (w[0] == "show" && w.size() == 3 && w[1] == "system" && w[2] == "users") ||
         (w[0] == "certificate" && w.size() >= 2 && (w[1] == "issue" || w[1] == "revoke"));
}

int execute(const Args& a, Session& s, const std::vector<std::string>& w) {
  if (w[0] == "user" && w[1] == "passwd") return passwd(a, s);
  if (w[0] == "show" && w[1] == "configuration") return show_configuration(a, s, w);
  if (w[0] == "show" && w[1] == "dataplanes") return show_dataplanes(a, s);
  if (w[0] == "show" && w[1] == "fleet") return show_fleet(a, s);
  if (w[0] == "show" && w[1] == "compliance") return show_compliance(a, s, w);
  if (w[0] == "show" && w[1] == "alerts") return show_alerts(a, s, w);
  if (w[0] == "show" && w[1] == "interfaces") return show_interfaces(a, s, w);
  if (w[0] == "show" && w[1] == "flows") return show_flows_summary(a, s);
  if (w[0] == "show" && w[1] == "zones") return show_zones(a, s);
  if (w[0] == "show" && w[1] == "tenants") return show_tenants(a, s);
  if (w[0] == "monitor") return monitor_interface(a, s, w);
  if (w[0] == "clear") return clear_statistics(a, s);
  if (w[0] == "request") return request_restart(a, s, w[3]);
  if (w[0] == "show" && w[1] == "certificates") return show_certificates(a, s);
  if (w[0] == "show" && w[1] == "system" && w[2] == "users") return show_users(a, s);
  if (w[0] == "show" && w[1] == "system" && w[2] == "status") return show_system_status(a, s);
  if (w[0] == "audit" && w[1] == "show") return audit_show(a, s, w);
  if (w[0] == "user") return administer_user(a, s, w);
  if (w[0] == "certificate")
    return w[1] == "issue" ? issue_certificate(a, s, w) : revoke_certificate(a, s, w);
  if (w[0] == "show") return show_commits(a, s);
  if (w[0] == "load") return load(a, s, w);
  if (w[0] == "set" || w[0] == "delete") return edit(a, s, w);
  if (w[0] == "commit") return commit(a, s, w);
  if (w[0] == "rollback") return rollback(a, s, w);
  return audit_verify(a, s, w.size() == 3 && w[2] == "fleet");
}

std::string read_secret(const char* env, const char* prompt) {
  return secret(env, prompt);
}

}  // namespace ftz::ctl

static int run(int argc, char** argv) {
  Args a;
  CLI::App app{"Manage ftzgate through ftzgated.", "ftzctl"};
  ftz::mgmt::add_endpoint_options(app, a.at);
  app.add_option("--user", a.user, "account to log in as (default: $USER)")->type_name("NAME");
  app.add_flag("--json", a.json, "print JSON instead of text");
  app.add_option("command", a.words, "the command and its words")->type_name("WORDS");
  app.positionals_at_end();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    std::fputs(
        "\nCommands:\n"
        "  show configuration [candidate | rollback N]\n"
        "  show configuration '| compare' [rollback N]   your candidate against the running configuration\n"
        "  show system commit\n"
        "  show system status                 version, uptime, generation, data planes, expiring "
        "certificates\n"
        "  show dataplanes                    which data plane runs which generation\n"
        "  show compliance [fleet [year YEAR]]   individuals counted this year, all data planes (fleet:\n"
        "                                     of every member, as the fleet's ledger counted them; YEAR:\n"
        "                                     a past year's, as its owner last wrote it)\n"
        "  show alerts [last N] [dataplane ID]   the newest alerts (50 by default), masked\n"
        "  show zones                         the running configuration's zones\n"
        "  show tenants                       its tenants, with this year's individuals and threshold state\n"
        "  show flows summary                 zone pairs by bytes and flows by rule, all data planes\n"
        "  show interfaces [NAME] [extensive]   the data planes' own ports (DATAPLANE/PORT) and counters\n"
        "  monitor interface [NAME]           the same, refreshed every 2 s with rates, until Ctrl-C\n"
        "  clear statistics                   count interfaces from now on (your view only)\n"
        "  request dataplane restart ID       (sysadmin) the data plane stops as at SIGTERM and starts\n"
        "                                     again with its command line\n"
        "  load FILE                          replace your candidate\n"
        "  load merge FILE                    merge FILE into your candidate\n"
        "  set PATH... VALUE                  e.g. set rules harbor-to-hk action block\n"
        "  delete PATH...                     e.g. delete zones inside prefixes 10.9.0.0/16\n"
        "  commit [check] [comment TEXT] [confirmed MINUTES]\n"
        "  commit confirm                     keep a commit confirmed\n"
        "  rollback N                         generation N into your candidate\n"
        "  audit verify [fleet]               (fleet: also against this member's anchors in its fleet)\n"
        "  audit verify from DIR key FILE     a copy of the audit log verified here, without ftzgated,\n"
        "                                     against the device's public key (keys/device.pub)\n"
        "  audit show [since TIME] [last N]   records as stored (audadmin); TIME is +08:00,\n"
        "                                     YYYY-MM-DD[THH:MM[:SS]]; the newest 100 by default\n"
        "  user passwd                        your own password\n"
        "  user add NAME                      an operator account (sysadmin; first password from\n"
        "                                     FTZCTL_NEW_PASSWORD or a prompt, changed at first login)\n"
        "  user del NAME                      (sysadmin) and its admin certificates revoked\n"
        "  user grant NAME ROLE               (secadmin) sysadmin, secadmin, audadmin or operator\n"
        "  show system users\n"
        "  show certificates                  every certificate issued for mutual TLS\n"
        "  certificate issue dataplane|admin NAME to DIR [days N]\n"
        "                                     a key made here (DIR/NAME.key) and its certificate\n"
        "  certificate revoke SERIAL          refused from the next call on\n",
        stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    return usage(e.what());
  }
  // No command on a terminal: the interactive shell (shell.cpp).
  if (a.words.empty() && ::isatty(0) == 0) return usage("a command is required (on a terminal: the shell)");
  if (const auto problem = ftz::mgmt::endpoint_problem(a.at)) return usage(*problem);
  if (a.user.empty()) {
    const char* u = std::getenv("USER");
    a.user = u != nullptr ? u : "";
  }
  const auto& w = a.words;
  // Unknown commands are refused before any password is asked for.
  if (!w.empty() && !ftz::ctl::known_command(w)) return usage("unknown command: " + w[0]);
  // A copy of the log is verified here: no daemon, no login.
  if (!w.empty() && w[0] == "audit" && w[1] == "verify" && w.size() > 2 && w[2] != "fleet")
    return audit_verify_copy(a, w);
  auto channel = ftz::mgmt::open_channel(a.at);
  if (!channel) {
    std::fprintf(stderr, "ftzctl: %s\n", channel.error().c_str());
    return 1;
  }
  Session s(std::move(*channel));
  if (auto st = login(s, a.user); !st.ok()) return fail(st);
  // Also the one thing an account that must change its password may do.
  if (!w.empty() && w[0] == "user" && w[1] == "passwd") return ftz::ctl::execute(a, s, w);
  if (s.must_change()) {
    std::fputs("ftzctl: this account must change its password first: ftzctl user passwd\n", stderr);
    return 1;
  }
  if (w.empty()) return ftz::ctl::run_shell(a, s);
  return ftz::ctl::execute(a, s, w);
}

int main(int argc, char** argv) {
  // A last barrier: what escapes (allocation, I/O) ends the run with a
  // message and the error exit status, not std::terminate.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftzctl: %s\n", e.what());
    return 1;
  }
}
