#include "ftz/report/flow_tally.hpp"

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
    ++x.flows;
    x.packets += e.flow.pkts_toserver + e.flow.pkts_toclient;
    x.bytes += e.flow.bytes_toserver + e.flow.bytes_toclient;
    if (action < x.by_action.size()) ++x.by_action[action];
  }
  if (r != counts_.rules.end()) ++r->second;
}

FlowTally::Counts FlowTally::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

}  // namespace ftz::report
