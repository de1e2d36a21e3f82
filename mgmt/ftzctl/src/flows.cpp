// `show flows summary` (issue 12 §1): the zone pairs that carried the most,
// by bytes, and the flows each deciding rule ended, all data planes
// together. The data planes count ended flows by name (their flow records:
// ftz/report/flow_tally.hpp), and ftzgated keeps the totals over their runs,
// so the figures never go back across reloads or restarts.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ftzctl.hpp"
#include "ftzgate/v1/management.grpc.pb.h"

namespace ftz::ctl {
namespace {

namespace pb = ftzgate::v1;
using nlohmann::ordered_json;

struct Talker {
  uint64_t flows = 0, bytes = 0, error = 0;
};

struct PairTotals {
  uint64_t flows = 0, packets = 0, bytes = 0, allowed = 0, routed = 0, blocked = 0, reset = 0;
  // Each data plane's top talkers of the pair, by client (a client two data
  // planes saw is summed).
  std::map<std::string, Talker> talkers;
  void add(const pb::ZonePairStats& z) {
    for (const pb::Talker& t : z.top_talkers()) {
      Talker& sum = talkers[t.client()];
      sum.flows += t.flows();
      sum.bytes += t.bytes();
      sum.error += t.error();
    }
    flows += z.flows();
    packets += z.packets();
    bytes += z.bytes();
    allowed += z.allowed();
    routed += z.routed();
    blocked += z.blocked();
    reset += z.reset();
  }
};

}  // namespace

int show_flows_summary(const Args& a, mgmt::Session& s) {
  pb::ShowDataplanesReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &reply); !st.ok())
    return fail(st);
  std::map<std::pair<std::string, std::string>, PairTotals> pairs;
  std::map<std::string, uint64_t> rules;
  uint64_t unnamed = 0;
  for (const pb::DataplaneInfo& d : reply.dataplanes()) {
    for (const pb::ZonePairStats& z : d.totals().zone_pairs()) pairs[{z.src_zone(), z.dest_zone()}].add(z);
    for (const auto& [rule, n] : d.totals().rule_flows()) rules[rule] += n;
    unnamed += d.totals().flows_unnamed();
  }
  // The heaviest first; equal ones by name (a stable order).
  std::vector<std::pair<std::pair<std::string, std::string>, PairTotals>> ranked(pairs.begin(), pairs.end());
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& x, const auto& y) { return x.second.bytes > y.second.bytes; });
  std::vector<std::pair<std::string, uint64_t>> by_rule(rules.begin(), rules.end());
  std::stable_sort(by_rule.begin(), by_rule.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });

  ordered_json j{
      {"zone_pairs", ordered_json::array()}, {"rules", ordered_json::array()}, {"flows_unnamed", unnamed}};
  std::string text;
  char line[512];
  std::snprintf(line, sizeof line, "%-36s %12s %14s %16s %10s %8s %8s %8s\n", "Zone pair (client -> server)",
                "Flows", "Packets", "Bytes", "Allowed", "Routed", "Blocked", "Reset");
  text += line;
  for (const auto& [names, t] : ranked) {
    std::vector<std::pair<std::string, Talker>> top(t.talkers.begin(), t.talkers.end());
    std::stable_sort(top.begin(), top.end(),
                     [](const auto& x, const auto& y) { return x.second.bytes > y.second.bytes; });
    ordered_json talkers = ordered_json::array();
    for (const auto& [client, n] : top)
      talkers.push_back({{"client", client}, {"flows", n.flows}, {"bytes", n.bytes}, {"error", n.error}});
    j["zone_pairs"].push_back({{"src_zone", names.first},
                               {"dest_zone", names.second},
                               {"flows", t.flows},
                               {"packets", t.packets},
                               {"bytes", t.bytes},
                               {"allowed", t.allowed},
                               {"routed", t.routed},
                               {"blocked", t.blocked},
                               {"reset", t.reset},
                               {"top_talkers", std::move(talkers)}});
    std::snprintf(line, sizeof line,
                  "%-36s %12" PRIu64 " %14" PRIu64 " %16" PRIu64 " %10" PRIu64 " %8" PRIu64 " %8" PRIu64
                  " %8" PRIu64 "\n",
                  (names.first + " -> " + names.second).c_str(), t.flows, t.packets, t.bytes, t.allowed,
                  t.routed, t.blocked, t.reset);
    text += line;
    // Its top talkers (clients), the heaviest three.
    for (size_t i = 0; i < top.size() && i < 3; ++i) {
      const Talker& n = top[i].second;
      const std::string maybe = n.error != 0 ? " (up to " + std::to_string(n.error) + " less)" : "";
      std::snprintf(line, sizeof line, "    %-32s %12" PRIu64 " %31" PRIu64 "%s\n", top[i].first.c_str(),
                    n.flows, n.bytes, maybe.c_str());
      text += line;
    }
  }
  if (ranked.empty()) text += "(no flow has ended yet)\n";
  text += "\nFlows by deciding rule:\n";
  for (const auto& [rule, n] : by_rule) {
    j["rules"].push_back({{"rule", rule}, {"flows", n}});
    std::snprintf(line, sizeof line, "  %-34s %12" PRIu64 "\n", rule.c_str(), n);
    text += line;
  }
  if (unnamed != 0)
    text +=
        std::to_string(unnamed) + " flows of names past a data plane's bounds (4,096 zone pairs or rules)\n";
  text += "(ended flows, all data planes, since ftzgated first heard from each)\n";
  print(a, j, text);
  return 0;
}

}  // namespace ftz::ctl
