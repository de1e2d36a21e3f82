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

TokenSet::Insert ComplianceLedger::insert(const SetKey& k, uint64_t token) {
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
  TokenSet::Insert first = TokenSet::Insert::kPresent;
  for (size_t i = 0; i < n; ++i) {
    SetState& t = set_for(targets[i]);
    const TokenSet::Insert r = t.exact.insert(token);  // a full set counts the refusal in its overflow()
    if (i == 0) first = r;
    t.hll.add(token);
  }
  return first;
}

bool ComplianceLedger::absorb(const TokenRecord& r) {
  const int32_t year = shanghai_year(r.ts_ns);
  if (year > year_) roll_to(year, shanghai_year_start_s(year) * kNsPerSecond, &pending_);
  const SetKey k{r.tenant, r.dest_zone, 0, r.data_class, r.id_type};
  if (year == year_) {
    ++counters_.tokens_merged;
    return insert(k, r.token) != TokenSet::Insert::kPresent;
  }
  if (year == previous_year_) {
    // Recorded before midnight, harvested after: the year's exact count is
    // frozen at rollover; the sketch still takes the token, and it is counted.
    for (uint32_t dest : {k.dest_zone, kAllDestZones}) {
      SetKey pk = k;
      pk.dest_zone = dest;
      Summary& sum = previous_[pk];
      sum.hll.add(r.token);
      ++sum.late_tokens;
      if (dest == kAllDestZones) break;
    }
    ++counters_.late_tokens;
    return true;
  }
  ++counters_.stale_tokens;
  return false;
}

size_t ComplianceLedger::take(WorkerAccounting& worker, uint64_t tail, Taken* taken) {
  const uint64_t head = worker.head_.load(std::memory_order_relaxed);  // only we write it
  for (uint64_t i = head; i != tail; ++i) {
    const std::optional<TokenRecord> r = translate(worker.ring_[i & worker.mask_]);
    if (!r) {
      const LostRecords lost{kAnyTenant, worker.ring_[i & worker.mask_].data_class, 1};
      add_lost(lost.tenant, lost.data_class, lost.records);
      if (taken != nullptr) taken->lost.push_back(lost);
      continue;
    }
    if (absorb(*r) && taken != nullptr) taken->records.push_back(*r);
  }
  // Release: the worker may overwrite these slots once it sees the new head.
  worker.head_.store(tail, std::memory_order_release);
  // Lost records: each may be a person not yet counted, so the thresholds
  // count it (fail closed); attributed to the year being counted now.
  for (uint32_t g = 0; g < WorkerAccounting::kLostGenerations; ++g) {
    for (uint32_t t = 0; t <= worker.tenants_; ++t) {
      for (uint32_t c = 0; c < WorkerAccounting::kClasses; ++c) {
        const size_t i = worker.lost_index(g, t, c);
        const uint64_t now = worker.lost_[i].load(std::memory_order_relaxed);
        if (now == worker.lost_seen_[i]) continue;
        const uint64_t delta = now - worker.lost_seen_[i];
        worker.lost_seen_[i] = now;
        const LostRecords lost{lost_tenant(g, t, worker.tenants_), static_cast<DataClass>(c), delta};
        add_lost(lost.tenant, lost.data_class, lost.records);
        if (taken != nullptr) taken->lost.push_back(lost);
      }
    }
  }
  return static_cast<size_t>(tail - head);
}

size_t ComplianceLedger::merge(WorkerAccounting& worker, Taken* taken) {
  return take(worker, worker.tail_.load(std::memory_order_acquire), taken);
}

size_t ComplianceLedger::merge_stopped(WorkerAccounting& worker, Taken* taken) {
  worker.quiescent();  // the worker is stopped or is the caller: publish its last records
  return take(worker, worker.tail_.load(std::memory_order_acquire), taken);
}

void ComplianceLedger::map_generation(uint64_t generation, const std::vector<std::string>& tenants,
                                      const std::vector<std::string>& zones) {
  GenerationMap m;
  m.generation = generation;
  for (const std::string& t : tenants) m.tenants.push_back(tenant_id(t));
  for (const std::string& z : zones) m.zones.push_back(zone_id(z));
  std::erase_if(maps_, [&](const GenerationMap& x) { return x.generation == generation; });
  maps_.push_back(std::move(m));
  if (maps_.size() > kGenerations) maps_.erase(maps_.begin());
}

std::optional<TokenRecord> ComplianceLedger::translate(const TokenRecord& r) const {
  if (maps_.empty()) return r;
  for (auto it = maps_.rbegin(); it != maps_.rend(); ++it) {
    if (static_cast<uint16_t>(it->generation) != r.generation) continue;
    if (r.tenant >= it->tenants.size() || !it->tenants[r.tenant] || r.dest_zone >= it->zones.size() ||
        !it->zones[r.dest_zone])
      return std::nullopt;
    TokenRecord out = r;
    out.tenant = *it->tenants[r.tenant];
    out.dest_zone = *it->zones[r.dest_zone];
    return out;
  }
  return std::nullopt;
}

uint32_t ComplianceLedger::lost_tenant(uint32_t slot, uint32_t tenant, uint32_t unknown) const {
  if (tenant == unknown) return kAnyTenant;
  if (maps_.empty()) return tenant;
  for (auto it = maps_.rbegin(); it != maps_.rend(); ++it) {
    if (it->generation % WorkerAccounting::kLostGenerations != slot) continue;
    return tenant < it->tenants.size() && it->tenants[tenant] ? *it->tenants[tenant] : kAnyTenant;
  }
  return kAnyTenant;
}

std::vector<ThresholdState> ComplianceLedger::states_for(uint64_t generation) const {
  for (const GenerationMap& m : maps_) {
    if (m.generation != generation) continue;
    std::vector<ThresholdState> out;
    for (const auto& id : m.tenants) out.push_back(id ? tenant_state(*id) : ThresholdState::kExceeded);
    return out;
  }
  return states_;
}

void ComplianceLedger::add_lost(uint32_t tenant, DataClass c, uint64_t records) {
  if (records == 0) return;
  lost_[{tenant, c}] += records;
  counters_.lost_records += records;
}

std::optional<uint32_t> ComplianceLedger::tenant_id(std::string_view name) {
  const auto& v = config_.tenant_names;
  if (std::find(v.begin(), v.end(), name) == v.end() && v.size() >= kMaxNames) return std::nullopt;
  return tenant_index(std::string(name));
}

std::optional<uint32_t> ComplianceLedger::zone_id(std::string_view name) {
  const auto& v = config_.zone_names;
  if (std::find(v.begin(), v.end(), name) == v.end() && v.size() >= kMaxNames) return std::nullopt;
  return zone_index(std::string(name));
}

uint64_t ComplianceLedger::lost(uint32_t tenant, DataClass c) const noexcept {
  uint64_t n = 0;
  for (const uint32_t t : {tenant, kAnyTenant}) {
    auto it = lost_.find({t, c});
    if (it != lost_.end()) n += it->second;
  }
  return n;
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
  lost_.clear();
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
    if (std::find(th.satisfied_by.begin(), th.satisfied_by.end(), a.mechanism) != th.satisfied_by.end())
      return true;
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
      const uint64_t lost_records = lost(t, th.data_class);
      if (it == agg.end() && lost_records == 0) continue;
      const Agg a = it == agg.end() ? Agg{} : it->second;
      // Fail closed: every record a full ring dropped may be a new person.
      const uint64_t v =
          (config_.count_mode == CountMode::kSumOverIdentifierTypes ? a.sum : a.max) + lost_records;
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
        e.lower_bound = a.lower_bound;
        e.lost = lost_records;
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
  r.lost = lost(tenant, c);
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
