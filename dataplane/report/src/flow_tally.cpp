#include "ftz/report/flow_tally.hpp"

#include <algorithm>

namespace ftz::report {

void FlowTally::count(const engine::Event& e, const engine::PolicyGeneration& gen) {
  if (e.type != engine::EventType::kFlow) return;
  std::pair<std::string, std::string> pair{std::string(gen.zone_name(e.src_zone)),
                                           std::string(gen.zone_name(e.dst_zone))};
  const std::string rule(e.rule == engine::kNoIndex ? std::string_view("default") : gen.rule_name(e.rule));
  const auto action = static_cast<size_t>(e.verdict.action);
  std::lock_guard lock(mu_);
  auto p = counts_.pairs.find(pair);
  if (p == counts_.pairs.end() && counts_.pairs.size() < kMaxPairs)
    p = counts_.pairs.emplace(std::move(pair), Pair{}).first;
  auto r = counts_.rules.find(rule);
  if (r == counts_.rules.end() && counts_.rules.size() < kMaxRules) r = counts_.rules.emplace(rule, 0).first;
  if (p == counts_.pairs.end() || r == counts_.rules.end()) ++counts_.overflow;
  if (p != counts_.pairs.end()) {
    Pair& x = p->second;
    const uint64_t bytes = e.flow.bytes_toserver + e.flow.bytes_toclient;
    ++x.flows;
    x.packets += e.flow.pkts_toserver + e.flow.pkts_toclient;
    x.bytes += bytes;
    if (action < x.by_action.size()) ++x.by_action[action];
    count_talker(x, e.src, bytes);
  }
  if (r != counts_.rules.end()) ++r->second;
}

void FlowTally::count_talker(Pair& p, const engine::IpAddr& client, uint64_t bytes) {
  const auto used = p.top.begin() + static_cast<std::ptrdiff_t>(p.talkers);
  auto t = std::find_if(p.top.begin(), used, [&](const Talker& x) { return x.client == client; });
  if (t == used && p.talkers < p.top.size()) {
    ++p.talkers;
    t->client = client;
  } else if (t == used) {
    // Space-Saving: the smallest gives its place, its count kept as the
    // newcomer's possible error.
    t = std::min_element(p.top.begin(), p.top.end(),
                         [](const Talker& a, const Talker& b) { return a.bytes < b.bytes; });
    *t = Talker{client, 0, t->bytes, t->bytes};
  }
  ++t->flows;
  t->bytes += bytes;
}

FlowTally::Counts FlowTally::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

}  // namespace ftz::report
