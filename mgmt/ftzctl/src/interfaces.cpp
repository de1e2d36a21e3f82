// The data planes' ports as interfaces (issue 12 §1): `show interfaces
// [NAME] [extensive]`, `monitor interface [NAME]` and `clear statistics`.
// An interface is DATAPLANE/PORT: a port a data plane drives itself (a DPDK
// port the kernel does not see), with the counters ftzgated keeps for it
// since it first heard from the data plane (DataplaneInfo.totals: they never
// go backwards across the data plane's restarts).
//
// `clear statistics` resets what this account sees, never a counter: it
// keeps the totals of the moment in ~/.ftzctl_baselines.json (per ftzgated)
// and later readings show what came since. A baseline above the totals (a
// restarted ftzgated counts from zero again) is not applied.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ftz/base/atomic_file.hpp"
#include "ftzctl.hpp"
#include "ftzgate/v1/management.grpc.pb.h"

namespace ftz::ctl {
namespace {

namespace pb = ftzgate::v1;
using nlohmann::ordered_json;

// One port's counters, by the names `--json` and the baselines file use.
struct Counters {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  uint64_t rx_missed = 0, rx_errors = 0, tx_errors = 0, rx_nombuf = 0;

  // Each field with its name, for the file and JSON.
  template <typename Fn>
  void each(Fn fn) {
    fn("rx_packets", rx_packets);
    fn("rx_bytes", rx_bytes);
    fn("tx_packets", tx_packets);
    fn("tx_bytes", tx_bytes);
    fn("rx_missed", rx_missed);
    fn("rx_errors", rx_errors);
    fn("tx_errors", tx_errors);
    fn("rx_nombuf", rx_nombuf);
  }
  [[nodiscard]] uint64_t input_drops() const { return rx_missed + rx_errors + rx_nombuf; }
};

Counters counters_of(const pb::PortStats& p) {
  return {p.rx_packets(), p.rx_bytes(),  p.tx_packets(), p.tx_bytes(),
          p.rx_missed(),  p.rx_errors(), p.tx_errors(),  p.rx_nombuf()};
}

// `now` less `base`, or nullopt when a counter went below its baseline.
std::optional<Counters> since(Counters now, Counters base) {
  bool below = false;
  std::vector<uint64_t> b;
  base.each([&](const char*, uint64_t v) { b.push_back(v); });
  size_t i = 0;
  now.each([&](const char*, uint64_t& v) {
    below = below || v < b[i];
    v -= std::min(v, b[i]);
    ++i;
  });
  if (below) return std::nullopt;
  return now;
}

struct Interface {
  std::string name;  // DATAPLANE/PORT
  const pb::DataplaneInfo* dataplane = nullptr;
  const pb::PortStats* port = nullptr;
  Counters totals;
};

std::vector<Interface> interfaces_of(const pb::ShowDataplanesReply& reply) {
  std::vector<Interface> out;
  for (const pb::DataplaneInfo& d : reply.dataplanes())
    for (const pb::PortStats& p : d.totals().ports())
      out.push_back({d.id() + "/" + p.name(), &d, &p, counters_of(p)});
  return out;
}

// ~/.ftzctl_baselines.json: {ftzgated: {"cleared_unix_s": T, "interfaces": {NAME: {counter: value}}}}.
std::string baselines_file() {
  const char* home = std::getenv("HOME");
  return home != nullptr ? std::string(home) + "/.ftzctl_baselines.json" : std::string();
}

std::string endpoint_key(const Args& a) {
  return a.at.controller.empty() ? "unix:" + a.at.socket : a.at.controller;
}

nlohmann::json read_baselines() {
  std::ifstream in(baselines_file());
  if (!in) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

struct Baselines {
  int64_t cleared_unix_s = 0;  // 0: never cleared
  std::map<std::string, Counters> by_interface;
};

Baselines baselines_for(const Args& a) {
  Baselines out;
  const nlohmann::json all = read_baselines();
  const auto mine = all.find(endpoint_key(a));
  if (mine == all.end() || !mine->is_object()) return out;
  out.cleared_unix_s = mine->value("cleared_unix_s", int64_t{0});
  const auto ifs = mine->find("interfaces");
  if (ifs == mine->end() || !ifs->is_object()) return out;
  for (const auto& item : ifs->items()) {
    const nlohmann::json& fields = item.value();  // (clang 14 lambdas do not capture bindings)
    Counters c;
    c.each([&](const char* key, uint64_t& v) {
      const auto f = fields.find(key);
      v = f != fields.end() && f->is_number_unsigned() ? f->get<uint64_t>() : 0;
    });
    out.by_interface[item.key()] = c;
  }
  return out;
}

// What the account sees: the totals less its baseline, when one applies.
struct Shown {
  Counters counters;
  bool since_clear = false;
};

Shown shown(const Interface& i, const Baselines& b) {
  const auto base = b.by_interface.find(i.name);
  if (base == b.by_interface.end()) return {i.totals, false};
  if (auto c = since(i.totals, base->second)) return {*c, true};
  return {i.totals, false};
}

std::string u64(uint64_t v) {
  return std::to_string(v);
}

std::string link_word(const Interface& i) {
  if (!i.dataplane->connected()) return "unknown";  // the newest report is old news
  return i.port->link_up() ? "up" : "down";
}

ordered_json interface_json(const Interface& i, const Shown& s) {
  ordered_json counters = ordered_json::object();
  Counters c = s.counters;
  c.each([&](const char* key, uint64_t v) { counters[key] = v; });
  ordered_json totals = ordered_json::object();
  Counters t = i.totals;
  t.each([&](const char* key, uint64_t v) { totals[key] = v; });
  return {{"name", i.name},
          {"dataplane", i.dataplane->id()},
          {"port", i.port->name()},
          {"role", i.port->role()},
          {"link", link_word(i)},
          {"dataplane_connected", i.dataplane->connected()},
          {"as_of_unix_s", i.dataplane->stats_unix_s()},
          {"since_clear", s.since_clear},
          {"counters", std::move(counters)},
          {"totals", std::move(totals)}};
}

std::string detail_text(const Interface& i, const Shown& s, bool extensive) {
  const Counters& c = s.counters;
  const pb::DataplaneInfo& d = *i.dataplane;
  std::string t = "Physical interface: " + i.name + ", link " + link_word(i) + "\n";
  t += "  Data plane: " + d.id() + " (" + d.state() + "), port " + i.port->name() + ", role " +
       i.port->role() + "\n";
  t += "  Counters as of " + (d.stats_unix_s() != 0 ? local_time(d.stats_unix_s()) : std::string("never")) +
       (s.since_clear ? ", since clear statistics" : "") + "\n";
  t += "  Input:  " + u64(c.rx_packets) + " packets, " + u64(c.rx_bytes) + " bytes\n";
  t += "  Output: " + u64(c.tx_packets) + " packets, " + u64(c.tx_bytes) + " bytes\n";
  t += "  Input errors: " + u64(c.rx_missed) + " missed (receive queue full), " + u64(c.rx_errors) +
       " errors, " + u64(c.rx_nombuf) + " without a buffer\n";
  t += "  Output errors: " + u64(c.tx_errors) + "\n";
  if (!extensive) return t;
  // The data plane's own counters (all its ports together): the engine's
  // verdicts and the drops by reason, since ftzgated first heard from it.
  const pb::DataplaneStats& x = d.totals();
  t += "  Data plane totals: " + u64(x.packets()) + " packets inspected, " + u64(x.forwarded()) +
       " forwarded, " + u64(x.dropped()) + " dropped, " + u64(x.flows_active()) + " flows active, " +
       u64(x.alerts()) + " alerts\n";
  const std::map<std::string, uint64_t> reasons(x.reasons().begin(), x.reasons().end());
  if (reasons.empty()) t += "  Reasons: none counted\n";
  for (const auto& [key, n] : reasons) t += "    " + key + ": " + u64(n) + "\n";
  return t;
}

grpc::Status read_dataplanes(mgmt::Session& s, pb::ShowDataplanesReply* reply) {
  return s.call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, reply);
}

const char* const kNoInterfaces =
    "no data plane has reported a port of its own (ftzgate-xdp's ports are the kernel's: ip -s link)\n";

// `words` after "show interfaces" / "monitor interface": [NAME] [extensive].
struct Selection {
  std::string name;
  bool extensive = false;
};
Selection select(const std::vector<std::string>& w) {
  Selection sel;
  for (size_t i = 2; i < w.size(); ++i) {
    if (w[i] == "extensive") {
      sel.extensive = true;
    } else {
      sel.name = w[i];
    }
  }
  return sel;
}

int no_such(const std::string& name) {
  std::fprintf(stderr, "ftzctl: no interface %s (show interfaces lists them)\n", name.c_str());
  return 1;
}

// Set by SIGINT while monitor runs.
volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int /*sig*/) {
  g_interrupted = 1;
}

std::string rate_text(double per_s, const char* unit) {
  char buf[64];
  if (per_s >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f G%s", per_s / 1e9, unit);
  } else if (per_s >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f M%s", per_s / 1e6, unit);
  } else if (per_s >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.2f k%s", per_s / 1e3, unit);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f %s", per_s, unit);
  }
  return buf;
}

}  // namespace

int show_interfaces(const Args& a, mgmt::Session& s, const std::vector<std::string>& words) {
  const Selection sel = select(words);
  pb::ShowDataplanesReply reply;
  if (auto st = read_dataplanes(s, &reply); !st.ok()) return fail(st);
  const std::vector<Interface> all = interfaces_of(reply);
  const Baselines b = baselines_for(a);
  ordered_json j{{"cleared_unix_s", b.cleared_unix_s}, {"interfaces", ordered_json::array()}};
  std::string text;
  const bool terse = sel.name.empty() && !sel.extensive;
  if (terse) {
    char line[256];
    std::snprintf(line, sizeof line, "%-24s %-8s %-8s %16s %16s %12s\n", "Interface", "Link", "Role",
                  "Input packets", "Output packets", "Input drops");
    text += line;
  }
  bool found = false;
  for (const Interface& i : all) {
    if (!sel.name.empty() && i.name != sel.name) continue;
    found = true;
    const Shown sh = shown(i, b);
    j["interfaces"].push_back(interface_json(i, sh));
    if (!terse) {
      text += detail_text(i, sh, sel.extensive);
      continue;
    }
    char line[256];
    std::snprintf(line, sizeof line, "%-24s %-8s %-8s %16" PRIu64 " %16" PRIu64 " %12" PRIu64 "\n",
                  i.name.c_str(), link_word(i).c_str(), i.port->role().c_str(), sh.counters.rx_packets,
                  sh.counters.tx_packets, sh.counters.input_drops());
    text += line;
  }
  if (!sel.name.empty() && !found) return no_such(sel.name);
  if (all.empty()) text = kNoInterfaces;
  if (b.cleared_unix_s != 0 && !all.empty())
    text += "(counters since clear statistics at " + local_time(b.cleared_unix_s) + ", where it applies)\n";
  print(a, j, text);
  return 0;
}

int clear_statistics(const Args& a, mgmt::Session& s) {
  const std::string path = baselines_file();
  if (path.empty()) {
    std::fputs("ftzctl: clear statistics keeps its baselines in $HOME, which is not set\n", stderr);
    return 1;
  }
  pb::ShowDataplanesReply reply;
  if (auto st = read_dataplanes(s, &reply); !st.ok()) return fail(st);
  nlohmann::json all = read_baselines();
  nlohmann::json mine{{"cleared_unix_s", static_cast<int64_t>(std::time(nullptr))},
                      {"interfaces", nlohmann::json::object()}};
  const std::vector<Interface> ifs = interfaces_of(reply);
  for (const Interface& i : ifs) {
    nlohmann::json fields = nlohmann::json::object();
    Counters c = i.totals;
    c.each([&](const char* key, uint64_t v) { fields[key] = v; });
    mine["interfaces"][i.name] = std::move(fields);
  }
  all[endpoint_key(a)] = std::move(mine);
  if (auto ok = base::write_file_atomically(path, all.dump(2) + "\n", 0600); !ok) {
    std::fprintf(stderr, "ftzctl: %s\n", ok.error().c_str());
    return 1;
  }
  print(a, {{"cleared_interfaces", ifs.size()}},
        "statistics cleared for " + std::to_string(ifs.size()) +
            " interfaces: your view only (ftzgated, SNMP and the metrics count on)\n");
  return 0;
}

int monitor_interface(const Args& a, mgmt::Session& s, const std::vector<std::string>& words) {
  if (a.json || ::isatty(STDOUT_FILENO) == 0) {
    std::fputs("ftzctl: monitor interface refreshes a terminal; for one reading: show interfaces\n", stderr);
    return 2;
  }
  const Selection sel = select(words);
  // Ctrl-C ends the monitor, not the shell or the command.
  struct sigaction ours {};
  struct sigaction before {};
  ours.sa_handler = on_interrupt;
  sigemptyset(&ours.sa_mask);
  g_interrupted = 0;
  ::sigaction(SIGINT, &ours, &before);
  struct Sample {
    int64_t at = 0;
    Counters totals;
  };
  std::map<std::string, Sample> previous;                  // the last distinct report per interface
  std::map<std::string, std::pair<double, double>> rates;  // input, output: packets/s
  std::map<std::string, std::pair<double, double>> bit_rates;
  int rc = 0;
  for (uint64_t refresh = 1; g_interrupted == 0; ++refresh) {
    pb::ShowDataplanesReply reply;
    if (auto st = read_dataplanes(s, &reply); !st.ok()) {
      rc = fail(st);
      break;
    }
    const std::vector<Interface> all = interfaces_of(reply);
    const Baselines b = baselines_for(a);
    std::string text = "\033[H\033[2J";
    text += "monitor interface" + (sel.name.empty() ? std::string() : " " + sel.name) + ": refresh " +
            std::to_string(refresh) + " at " + local_time(std::time(nullptr)) +
            " (every 2 s; data planes report every 5 s). Ctrl-C leaves.\n\n";
    bool found = false;
    for (const Interface& i : all) {
      if (!sel.name.empty() && i.name != sel.name) continue;
      found = true;
      const int64_t at = i.dataplane->stats_unix_s();
      auto prev = previous.find(i.name);
      if (prev != previous.end() && at > prev->second.at) {
        const auto dt = static_cast<double>(at - prev->second.at);
        const Counters& p = prev->second.totals;
        rates[i.name] = {
            static_cast<double>(i.totals.rx_packets - std::min(p.rx_packets, i.totals.rx_packets)) / dt,
            static_cast<double>(i.totals.tx_packets - std::min(p.tx_packets, i.totals.tx_packets)) / dt};
        bit_rates[i.name] = {
            8.0 * static_cast<double>(i.totals.rx_bytes - std::min(p.rx_bytes, i.totals.rx_bytes)) / dt,
            8.0 * static_cast<double>(i.totals.tx_bytes - std::min(p.tx_bytes, i.totals.tx_bytes)) / dt};
      }
      if (prev == previous.end() || at > prev->second.at) previous[i.name] = {at, i.totals};
      const Shown sh = shown(i, b);
      text += detail_text(i, sh, false);
      const auto r = rates.find(i.name);
      if (r == rates.end()) {
        text += "  Rates: after the data plane's next report\n\n";
      } else {
        text += "  Input rate:  " + rate_text(r->second.first, "pps") + ", " +
                rate_text(bit_rates[i.name].first, "bit/s") + "\n";
        text += "  Output rate: " + rate_text(r->second.second, "pps") + ", " +
                rate_text(bit_rates[i.name].second, "bit/s") + "\n\n";
      }
    }
    if (all.empty()) text += kNoInterfaces;
    if (!sel.name.empty() && !found) {
      rc = no_such(sel.name);
      break;
    }
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    for (int tick = 0; tick < 20 && g_interrupted == 0; ++tick)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::sigaction(SIGINT, &before, nullptr);
  std::fputs("\n", stdout);
  return rc;
}

}  // namespace ftz::ctl
