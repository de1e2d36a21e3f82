// ftzgate-snmp: FTZGATE-MIB for the system's snmpd, as an AgentX subagent
// (docs/noc.md, "SNMP"). It reads ftzgated as an operator account (the
// least privilege that reads) every --interval seconds, serves what it read
// and sends a notification for each change a NOC must hear of (thresholds,
// data planes lost, refusing or back, port links, a flow table or scan
// states over --pressure-watermark percent, commits and rollbacks, ftzgated
// unreachable), at most --trap-burst at once and then one per
// --trap-interval seconds.
//
//   ftzgate-snmp --credentials FILE [--socket PATH | --controller HOST:PORT --ca F --cert F --key F]
//                [--agentx-socket PATH] [--state-dir DIR] [--interval S]
//                [--trap-burst N] [--trap-interval S] [--pressure-watermark PERCENT]
//
// The credentials file holds one line, NAME:PASSWORD; it must belong to the
// user running ftzgate-snmp (or root) and be readable by nobody else.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "agent.hpp"
#include "ftz/base/secret_file.hpp"
#include "ftz/mgmt/client.hpp"
#include "ftz/mgmt/endpoint_options.hpp"
#include "ftz/service/notify.hpp"
#include "view.hpp"

namespace {

namespace pb = ftzgate::v1;
using ftz::snmp::Snapshot;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int /*sig*/) {
  g_stop = 1;
}

struct Args {
  ftz::mgmt::Endpoint at;
  std::string credentials;
  std::string agentx_socket = "/var/agentx/master";
  std::string state_dir = "/var/lib/ftzgate/snmp";
  int interval_s = 5;
  uint32_t trap_burst = 10;
  double trap_interval_s = 6;
  uint32_t pressure_watermark = 80;  // percent
};

struct Credentials {
  std::string user;
  std::string password;
};

// The account, or why not (a file others may read is refused).
std::optional<Credentials> read_credentials(const std::string& path, std::string& why) {
  auto text = ftz::base::read_secret_file(path, 4096);
  if (!text) {
    why = text.error();
    return std::nullopt;
  }
  std::string line = text->substr(0, text->find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
    why = path + ":1: expected NAME:PASSWORD";
    return std::nullopt;
  }
  return Credentials{line.substr(0, colon), line.substr(colon + 1)};
}

// ftzgated as the operator account: logs in again when the session lapsed
// (idle timeout, a restart of ftzgated).
class Reader {
 public:
  Reader(std::shared_ptr<grpc::Channel> channel, Credentials c)
      : channel_(std::move(channel)), cred_(std::move(c)) {}

  // This poll's snapshot; false (and why) if any read failed.
  bool read(Snapshot& out, std::string& why) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!session_ && !login(why)) return false;
      const grpc::Status s = read_all(out);
      if (s.ok()) return true;
      why = std::string(ftz::mgmt::code_name(s.error_code())) + ": " + s.error_message();
      if (s.error_code() != grpc::StatusCode::UNAUTHENTICATED) return false;
      session_.reset();
    }
    return false;
  }
  // A configuration error that retrying does not mend (wrong role).
  [[nodiscard]] bool fatal() const { return fatal_; }

 private:
  bool login(std::string& why) {
    auto s = std::make_unique<ftz::mgmt::Session>(channel_);
    const grpc::Status st = s->login(cred_.user, cred_.password);
    if (!st.ok()) {
      why =
          "login as " + cred_.user + ": " + ftz::mgmt::code_name(st.error_code()) + ": " + st.error_message();
      return false;
    }
    if (s->role() != pb::ROLE_OPERATOR) {
      why = cred_.user + " is not an operator account: ftzgate-snmp only reads, and reads as an operator";
      fatal_ = true;
      return false;
    }
    if (s->must_change()) {
      why = cred_.user + " must change its password first (ftzctl user passwd)";
      fatal_ = true;
      return false;
    }
    session_ = std::move(s);
    return true;
  }
  grpc::Status read_all(Snapshot& out) {
    using Stub = pb::Management::Stub;
    constexpr std::chrono::seconds kDeadline(5);
    grpc::Status s =
        session_->call(&Stub::ShowSystemStatus, pb::ShowSystemStatusRequest(), &out.system, kDeadline);
    if (s.ok())
      s = session_->call(&Stub::ShowDataplanes, pb::ShowDataplanesRequest(), &out.dataplanes, kDeadline);
    if (s.ok())
      s = session_->call(&Stub::ShowCompliance, pb::ShowComplianceRequest(), &out.compliance, kDeadline);
    pb::ShowAlertsRequest alerts;
    alerts.set_last(1);  // only its counters are served
    if (s.ok()) s = session_->call(&Stub::ShowAlerts, alerts, &out.alerts, kDeadline);
    if (s.ok()) s = session_->call(&Stub::ShowCommits, pb::ShowCommitsRequest(), &out.commits, kDeadline);
    return s;
  }

  std::shared_ptr<grpc::Channel> channel_;
  Credentials cred_;
  std::unique_ptr<ftz::mgmt::Session> session_;
  bool fatal_ = false;
};

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int run(int argc, char** argv) {
  Args a;
  CLI::App app{"FTZGATE-MIB for snmpd: an AgentX subagent reading ftzgated.", "ftzgate-snmp"};
  ftz::mgmt::add_endpoint_options(app, a.at);
  app.add_option("--credentials", a.credentials, "NAME:PASSWORD of an operator account (mode 600)")
      ->type_name("FILE")
      ->required();
  app.add_option("--agentx-socket", a.agentx_socket, "the master agent's AgentX socket")
      ->type_name("PATH")
      ->capture_default_str();
  app.add_option("--state-dir", a.state_dir, "net-snmp's persistent state")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_option("--interval", a.interval_s, "seconds between reads of ftzgated")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--trap-burst", a.trap_burst, "notifications sent at once before the rate limit")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--trap-interval", a.trap_interval_s, "then one notification per this many seconds")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--pressure-watermark", a.pressure_watermark,
                 "percent of a data plane's flow table or scan states that is pressure (a notification)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (const auto problem = ftz::mgmt::endpoint_problem(a.at)) {
    std::fprintf(stderr, "ftzgate-snmp: %s\n", problem->c_str());
    return 2;
  }
  std::string why;
  const auto cred = read_credentials(a.credentials, why);
  if (!cred) {
    std::fprintf(stderr, "ftzgate-snmp: %s\n", why.c_str());
    return 2;
  }
  auto channel = ftz::mgmt::open_channel(a.at);
  if (!channel) {
    std::fprintf(stderr, "ftzgate-snmp: %s\n", channel.error().c_str());
    return 2;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the agent's select() returns
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  ftz::snmp::Agent agent(a.agentx_socket, a.state_dir, 5);
  if (!agent.ok()) {
    std::fprintf(stderr, "ftzgate-snmp: %s\n", agent.error().c_str());
    return 1;
  }
  Reader reader(std::move(*channel), *cred);
  ftz::snmp::RateLimit limit(a.trap_burst, a.trap_interval_s);
  Snapshot last;
  last.pressure_watermark = a.pressure_watermark;
  agent.publish(ftz::snmp::build_view(last));
  // net-snmp says above when it cannot connect yet, and tries again every
  // ping interval (5 s).
  std::fprintf(stderr, "ftzgate-snmp: serving FTZGATE-MIB to the master agent at %s\n",
               a.agentx_socket.c_str());
  ftz::service::Notifier systemd;
  systemd.ready("serving FTZGATE-MIB");
  std::string last_problem;
  double next_poll = 0;
  while (g_stop == 0) {
    if (now_s() >= next_poll) {
      next_poll = now_s() + a.interval_s;
      Snapshot next;
      if (!reader.read(next, why)) {
        if (reader.fatal()) {
          std::fprintf(stderr, "ftzgate-snmp: %s\n", why.c_str());
          return 1;
        }
        // What was read last stays served, marked unreachable.
        next = last;
        next.reachable = false;
        if (why != last_problem) std::fprintf(stderr, "ftzgate-snmp: ftzgated: %s\n", why.c_str());
        last_problem = why;
      } else {
        next.reachable = true;
        last_problem.clear();
      }
      next.suppressed = last.suppressed;
      next.pressure_watermark = a.pressure_watermark;
      std::vector<const ftz::snmp::Notification*> send;
      const auto changes = ftz::snmp::notifications(last, next);
      for (const auto& n : changes) {
        if (limit.allow(now_s()))
          send.push_back(&n);
        else
          ++next.suppressed;
      }
      if (send.size() < changes.size())
        std::fprintf(stderr, "ftzgate-snmp: %zu notifications held back by the rate limit\n",
                     changes.size() - send.size());
      // The view first: the notifications carry its values.
      agent.publish(ftz::snmp::build_view(next));
      for (const auto* n : send) {
        std::fprintf(stderr, "ftzgate-snmp: notification: %s\n", n->what.c_str());
        agent.notify(*n);
      }
      last = std::move(next);
    }
    agent.run_once();
    systemd.alive(std::chrono::steady_clock::now());
  }
  systemd.stopping();
  std::fputs("ftzgate-snmp: stopped\n", stderr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftzgate-snmp: %s\n", e.what());
    return 1;
  }
}
