#include "ftz/engine/compliance/ledger.hpp"

#include <algorithm>
#include <cmath>

#include "ftz/engine/compliance/calendar.hpp"
#include "ftz/engine/compliance/token_key.hpp"

namespace ftz::engine::compliance {

const char* compliance_event_kind_name(ComplianceEventKind k) noexcept {
  switch (k) {
    case ComplianceEventKind::kThresholdWarn:
      return "threshold_warn";
    case ComplianceEventKind::kThresholdExceeded:
      return "threshold_exceeded";
    case ComplianceEventKind::kApprovalExpired:
      return "approval_expired";
    case ComplianceEventKind::kYearRollover:
      return "year_rollover";
  }
  return "?";
}

LedgerConfig LedgerConfig::from_policy(const PolicySpec& policy, const TokenKey& key, LedgerOptions options) {
  LedgerConfig c;
  for (const auto& t : policy.tenants) c.tenant_names.push_back(t.name);
  for (const auto& z : policy.zones) c.zone_names.push_back(z.name);
  c.thresholds = policy.compliance.thresholds;
  c.warn_percents = policy.compliance.warn_percents;
  c.count_mode = policy.compliance.count_mode;
  c.max_tokens_per_set = policy.compliance.max_tokens_per_set;
  for (uint32_t i = 0; i < policy.tenants.size(); ++i)
    for (const auto& a : policy.tenants[i].approvals) {
      c.approvals.push_back({i, a.id, a.valid_until, a.valid_from, a.mechanism, a.classes});
    }
  c.algo = key.algo();
  c.key_fingerprint = key.fingerprint();
  c.options = options;
  return c;
}

ComplianceLedger::ComplianceLedger(LedgerConfig config, int64_t now_ns)
    : config_(std::move(config)),
      year_(shanghai_year(now_ns)),
      previous_year_(year_ - 1),
      states_(config_.tenant_names.size(), ThresholdState::kNormal) {}

SetState& ComplianceLedger::set_for(const SetKey& k) {
  auto it = sets_.find(k);
  if (it != sets_.end()) return it->second;
  return sets_.try_emplace(k, config_.max_tokens_per_set).first->second;
}

void ComplianceLedger::insert(const SetKey& k, const SetState& from) {
  SetKey targets[4];
  size_t n = 0;
  SetKey base = k;
  base.year = 0;
  targets[n++] = base;
  if (base.dest_zone != kAllDestZones) {
    targets[n] = base;
    targets[n++].dest_zone = kAllDestZones;
  }
  // OPEN question of DOMAIN.md §1.4, configurable: sensitive PI also counts as PI.
  if (config_.options.sensitive_counts_as_pi && base.data_class == DataClass::kSensitivePi) {
    for (size_t i = 0, m = n; i < m; ++i) {
      targets[n] = targets[i];
      targets[n++].data_class = DataClass::kPi;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    SetState& t = set_for(targets[i]);
    from.exact.for_each([&](uint64_t tok) { t.exact.insert(tok); });
    t.exact.add_overflow(from.exact.overflow());
    t.hll.merge(from.hll);
  }
  counters_.tokens_merged += from.exact.size();
}

void ComplianceLedger::absorb(WorkerAccounting::Bank& bank) {
  int32_t max_year = year_;
  for (const auto& [k, s] : bank)
    if ((s.exact.size() != 0 || s.exact.overflow() != 0) && k.year > max_year) max_year = k.year;
  if (max_year > year_) roll_to(max_year, shanghai_year_start_s(max_year) * kNsPerSecond, &pending_);

  for (auto it = bank.begin(); it != bank.end();) {
    auto& [k, s] = *it;
    if (s.exact.size() != 0 || s.exact.overflow() != 0) {
      if (k.year == year_) {
        insert(k, s);
      } else if (k.year == previous_year_) {
        // Recorded before midnight, harvested after: the year's exact count is
        // frozen at rollover; the sketch still takes them, and they are counted.
        for (uint32_t dest : {k.dest_zone, kAllDestZones}) {
          SetKey pk = k;
          pk.year = 0;
          pk.dest_zone = dest;
          Summary& sum = previous_[pk];
          sum.hll.merge(s.hll);
          sum.late_tokens += s.exact.size();
          if (dest == kAllDestZones) break;
        }
        counters_.late_tokens += s.exact.size();
      } else {
        counters_.stale_tokens += s.exact.size();
      }
    }
    if (k.year < year_) {
      it = bank.erase(it);  // old-year keys do not come back
    } else {
      s.exact.clear();
      s.hll.clear();
      ++it;
    }
  }
}

bool ComplianceLedger::merge(WorkerAccounting& worker) {
  const uint32_t cur = worker.requested_.load(std::memory_order_relaxed);  // only we write it
  if (worker.acked_.load(std::memory_order_acquire) != cur) return false;
  // The worker writes bank `cur` now and will not touch the other until it
  // sees our next request: that one is ours.
  absorb(worker.banks_[1 - cur]);
  worker.requested_.store(1 - cur, std::memory_order_release);
  return true;
}

void ComplianceLedger::merge_stopped(WorkerAccounting& worker) {
  absorb(worker.banks_[0]);
  absorb(worker.banks_[1]);
  worker.last_set_ = nullptr;
}

void ComplianceLedger::roll_to(int32_t year, int64_t now_ns, std::vector<ComplianceEvent>* events) {
  if (year <= year_) return;
  previous_.clear();
  if (year == year_ + 1) {
    for (auto& [k, s] : sets_) {
      Summary sum;
      sum.individuals = s.exact.size();
      sum.overflow = s.exact.overflow();
      sum.hll = std::move(s.hll);
      previous_.emplace(k, std::move(sum));
    }
  }
  sets_.clear();
  fired_.clear();
  std::fill(states_.begin(), states_.end(), ThresholdState::kNormal);
  previous_year_ = year - 1;
  year_ = year;
  ++counters_.rollovers;
  if (events != nullptr) {
    ComplianceEvent e;
    e.kind = ComplianceEventKind::kYearRollover;
    e.ts_ns = now_ns;
    e.year = year;
    events->push_back(std::move(e));
  }
}

namespace {
// count reached `percent` % of line (integer arithmetic: the 8,000th of 10,000 is 80 %).
bool reached(uint64_t count, uint64_t line, uint32_t percent) noexcept {
  uint64_t scaled = 0;
  if (__builtin_mul_overflow(line, uint64_t{percent}, &scaled)) return false;
  const uint64_t need = scaled / 100 + (scaled % 100 != 0 ? 1 : 0);
  return count >= need;
}

uint64_t set_value(const SetState& s) noexcept {
  // A saturated set is a lower bound; past it, the sketch (which saw every
  // token) is the better figure, never below what the set holds.
  if (!s.exact.saturated()) return s.exact.size();
  return std::max<uint64_t>(s.exact.size(), static_cast<uint64_t>(std::llround(s.hll.estimate())));
}
}  // namespace

bool ComplianceLedger::satisfied(uint32_t tenant, const ThresholdSpec& th, int64_t now_ns) const noexcept {
  const int64_t now_s = now_ns / 1'000'000'000;
  for (const TrackedApproval& a : config_.approvals) {
    if (a.tenant != tenant || now_s < a.valid_from_s || now_s >= a.valid_until_s) continue;
    if ((a.classes & (1u << static_cast<unsigned>(th.data_class))) == 0) continue;
    if (std::find(th.satisfied_by.begin(), th.satisfied_by.end(), a.mechanism) != th.satisfied_by.end()) return true;
  }
  return false;
}

std::vector<ComplianceEvent> ComplianceLedger::evaluate(int64_t now_ns) {
  std::vector<ComplianceEvent> events = std::move(pending_);
  pending_.clear();
  roll_to(shanghai_year(now_ns), now_ns, &events);

  // One pass: per (tenant, class) the max and the sum over identifier types
  // of the all-destination sets.
  struct Agg {
    uint64_t max = 0, sum = 0;
    bool lower_bound = false;
  };
  std::map<std::pair<uint32_t, DataClass>, Agg> agg;
  for (const auto& [k, s] : sets_) {
    if (k.dest_zone != kAllDestZones) continue;
    Agg& a = agg[{k.tenant, k.data_class}];
    const uint64_t v = set_value(s);
    a.max = std::max(a.max, v);
    a.sum += v;
    a.lower_bound |= s.exact.saturated();
  }
  std::vector<uint32_t> percents = config_.warn_percents;
  std::sort(percents.begin(), percents.end());
  percents.erase(std::unique(percents.begin(), percents.end()), percents.end());
  const uint32_t first_warn = percents.empty() ? 100 : std::min<uint32_t>(percents.front(), 100);

  states_.assign(config_.tenant_names.size(), ThresholdState::kNormal);
  for (uint32_t t = 0; t < config_.tenant_names.size(); ++t) {
    for (const ThresholdSpec& th : config_.thresholds) {
      if (th.individuals == 0 || satisfied(t, th, now_ns)) continue;
      auto it = agg.find({t, th.data_class});
      if (it == agg.end()) continue;
      const uint64_t v =
          config_.count_mode == CountMode::kSumOverIdentifierTypes ? it->second.sum : it->second.max;
      for (uint32_t p : percents) {
        if (!reached(v, th.individuals, p)) break;
        if (!fired_.emplace(t, th.name, p).second) continue;
        ComplianceEvent e;
        e.kind = p >= 100 ? ComplianceEventKind::kThresholdExceeded : ComplianceEventKind::kThresholdWarn;
        e.ts_ns = now_ns;
        e.year = year_;
        e.tenant = t;
        e.tenant_name = config_.tenant_names[t];
        e.threshold = th.name;
        e.mechanism = th.mechanism;
        e.data_class = th.data_class;
        e.percent = p;
        e.individuals = v;
        e.line = th.individuals;
        e.lower_bound = it->second.lower_bound;
        events.push_back(std::move(e));
      }
      ThresholdState st = ThresholdState::kNormal;
      if (reached(v, th.individuals, 100))
        st = ThresholdState::kExceeded;
      else if (reached(v, th.individuals, first_warn))
        st = ThresholdState::kWarn;
      states_[t] = std::max(states_[t], st);
    }
  }
  return events;
}

std::vector<ComplianceEvent> ComplianceLedger::check_approval_expiry(int64_t now_ns) {
  std::vector<ComplianceEvent> events;
  for (const TrackedApproval& a : config_.approvals) {
    if (a.valid_until_s == 0) continue;  // no end given
    if (civil::floor_div(now_ns, kNsPerSecond) < a.valid_until_s) continue;
    if (!approvals_fired_.emplace(a.tenant, a.id).second) continue;
    ComplianceEvent e;
    e.kind = ComplianceEventKind::kApprovalExpired;
    e.ts_ns = now_ns;
    e.year = year_;
    e.tenant = a.tenant;
    if (a.tenant < config_.tenant_names.size()) e.tenant_name = config_.tenant_names[a.tenant];
    e.approval_id = a.id;
    events.push_back(std::move(e));
  }
  return events;
}

IndividualCount ComplianceLedger::individuals(uint32_t tenant, DataClass c, uint32_t dest_zone,
                                              uint8_t id_type) const {
  auto it = sets_.find(SetKey{tenant, dest_zone, 0, c, id_type});
  if (it == sets_.end()) return {};
  return {it->second.exact.size(), it->second.exact.saturated(), it->second.exact.overflow()};
}

IndividualCount ComplianceLedger::individuals(uint32_t tenant, DataClass c, uint32_t dest_zone) const {
  IndividualCount r;
  for (const auto& [k, s] : sets_) {
    if (k.tenant != tenant || k.data_class != c || k.dest_zone != dest_zone) continue;
    if (config_.count_mode == CountMode::kSumOverIdentifierTypes)
      r.at_least += s.exact.size();
    else
      r.at_least = std::max(r.at_least, s.exact.size());
    r.saturated |= s.exact.saturated();
    r.overflow += s.exact.overflow();
  }
  return r;
}

double ComplianceLedger::estimate(uint32_t tenant, DataClass c, uint32_t dest_zone, uint8_t id_type) const {
  auto it = sets_.find(SetKey{tenant, dest_zone, 0, c, id_type});
  return it == sets_.end() ? 0.0 : it->second.hll.estimate();
}

double ComplianceLedger::estimate(uint32_t tenant, DataClass c, uint32_t dest_zone) const {
  double r = 0.0;
  for (const auto& [k, s] : sets_) {
    if (k.tenant != tenant || k.data_class != c || k.dest_zone != dest_zone) continue;
    const double e = s.hll.estimate();
    r = config_.count_mode == CountMode::kSumOverIdentifierTypes ? r + e : std::max(r, e);
  }
  return r;
}

IndividualCount ComplianceLedger::previous_year_individuals(uint32_t tenant, DataClass c,
                                                            uint32_t dest_zone) const {
  IndividualCount r;
  for (const auto& [k, s] : previous_) {
    if (k.tenant != tenant || k.data_class != c || k.dest_zone != dest_zone) continue;
    if (config_.count_mode == CountMode::kSumOverIdentifierTypes)
      r.at_least += s.individuals;
    else
      r.at_least = std::max(r.at_least, s.individuals);
    r.saturated |= s.overflow != 0;
    r.overflow += s.overflow;
  }
  return r;
}

ThresholdState ComplianceLedger::tenant_state(uint32_t tenant) const noexcept {
  return tenant < states_.size() ? states_[tenant] : ThresholdState::kNormal;
}

size_t ComplianceLedger::memory_bytes() const noexcept {
  size_t n = 0;
  for (const auto& [k, s] : sets_) n += s.exact.memory_bytes() + Hll::kRegisters;
  return n + previous_.size() * Hll::kRegisters;
}

uint32_t ComplianceLedger::tenant_index(const std::string& name) {
  auto& v = config_.tenant_names;
  auto it = std::find(v.begin(), v.end(), name);
  if (it != v.end()) return static_cast<uint32_t>(it - v.begin());
  v.push_back(name);  // a tenant no longer configured: its counts are kept
  states_.resize(v.size(), ThresholdState::kNormal);
  return static_cast<uint32_t>(v.size() - 1);
}

uint32_t ComplianceLedger::zone_index(const std::string& name) {
  auto& v = config_.zone_names;
  auto it = std::find(v.begin(), v.end(), name);
  if (it != v.end()) return static_cast<uint32_t>(it - v.begin());
  v.push_back(name);
  return static_cast<uint32_t>(v.size() - 1);
}

}  // namespace ftz::engine::compliance
