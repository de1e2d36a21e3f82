#include "ftz/report/compliance_desk.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "ftz/engine/eve.hpp"

namespace ftz::report {

namespace cmp = engine::compliance;

namespace {
constexpr uint32_t kLostTenants = 1024;
}  // namespace

tl::expected<std::unique_ptr<ComplianceDesk>, std::string> ComplianceDesk::create(
    const engine::PolicyGeneration& gen, uint32_t workers, bool allow_demo_key) {
  std::unique_ptr<ComplianceDesk> desk(new ComplianceDesk());
  desk->spec_ = gen.spec();
  const engine::ComplianceSpec& cspec = gen.spec().compliance;
  if (cspec.key_file.empty()) {
    desk->note_ = "no compliance.key_file in the configuration: individuals are not counted";
    return desk;
  }
  auto key = cmp::resolve_token_key(
      cmp::KeyRequest{cspec.key_file, cspec.state_file,
                      cspec.use_sm3 ? cmp::MacAlgo::kHmacSm3 : cmp::MacAlgo::kHmacSha256, allow_demo_key});
  if (!key) return tl::unexpected(key.error());
  desk->key_.emplace(std::move(key->key));
  desk->key_notes_ = std::move(key->notes);
  for (uint32_t w = 0; w < workers; ++w) {
    // Lost records are kept per tenant index; later generations may name
    // more tenants than the first (past this bound: lost for every tenant).
    desk->accounting_.push_back(std::make_unique<cmp::WorkerAccounting>(
        cmp::WorkerAccounting::kDefaultCapacity,
        std::max<uint32_t>(kLostTenants, static_cast<uint32_t>(gen.spec().tenants.size()))));
  }
  desk->board_ = std::make_unique<cmp::ThresholdBoard>();
  desk->register_generation(gen);
  return desk;
}

void ComplianceDesk::register_generation(const engine::PolicyGeneration& gen) {
  if (!key_) return;
  Registered r{gen.number(), {}, {}};
  for (const auto& t : gen.spec().tenants) r.tenants.push_back(t.name);
  for (const auto& z : gen.spec().zones) r.zones.push_back(z.name);
  std::erase_if(generations_, [&](const Registered& x) { return x.number == r.number; });
  if (ledger_) ledger_->map_generation(r.number, r.tenants, r.zones);
  generations_.push_back(std::move(r));
  if (generations_.size() > cmp::ThresholdBoard::kSlots) generations_.erase(generations_.begin());
  publish_states();
}

engine::WorkerOptions ComplianceDesk::worker_options(uint32_t w, engine::WorkerOptions base) const {
  if (key_) {
    base.token_key = &*key_;
    base.accounting = accounting_.at(w).get();
    base.thresholds = board_.get();
  }
  return base;
}

std::vector<ComplianceNotice> ComplianceDesk::harvest(int64_t now_ns, bool stopped) {
  std::vector<ComplianceNotice> notices;
  if (!key_) return notices;
  if (!ledger_) {
    ledger_ = std::make_unique<cmp::ComplianceLedger>(cmp::LedgerConfig::from_policy(spec_, *key_), now_ns);
    for (const Registered& g : generations_) ledger_->map_generation(g.number, g.tenants, g.zones);
  }
  cmp::Taken taken;
  cmp::Taken* forwarded = outbox_ ? &taken : nullptr;
  for (auto& acc : accounting_) {
    if (stopped)
      ledger_->merge_stopped(*acc, forwarded);
    else
      ledger_->merge(*acc, forwarded);
  }
  if (outbox_) outbox_->push(taken, ledger_->tenant_names(), ledger_->zone_names());
  auto events = ledger_->evaluate(now_ns);
  auto expiries = ledger_->check_approval_expiry(now_ns);
  events.insert(events.end(), expiries.begin(), expiries.end());
  for (const auto& e : events) {
    ComplianceNotice n;
    n.kind = cmp::compliance_event_kind_name(e.kind);
    n.ts_ns = e.ts_ns;
    n.tenant = e.tenant_name;
    n.threshold = e.threshold;
    n.mechanism = e.mechanism;
    n.data_class = e.data_class;
    n.percent = e.percent;
    n.individuals = e.individuals;
    n.line = e.line;
    n.approval_id = e.approval_id;
    notices.push_back(std::move(n));
  }
  publish_states();
  return notices;
}

void ComplianceDesk::publish_states() {
  for (const Registered& g : generations_) {
    std::vector<engine::ThresholdState> states =
        ledger_ ? ledger_->states_for(g.number)
                : std::vector<engine::ThresholdState>(g.tenants.size(), engine::ThresholdState::kNormal);
    for (const auto& [name, remote] : remote_states_) {
      for (size_t t = 0; t < g.tenants.size() && t < states.size(); ++t) {
        if (g.tenants[t] == name) states[t] = std::max(states[t], remote);
      }
    }
    board_->publish(g.number, states);
  }
}

std::shared_ptr<cmp::ReportOutbox> ComplianceDesk::forward() {
  if (key_ && !outbox_) outbox_ = std::make_shared<cmp::ReportOutbox>();
  return outbox_;
}

void ComplianceDesk::set_remote_states(std::vector<std::pair<std::string, engine::ThresholdState>> states) {
  remote_states_ = std::move(states);
  if (key_) publish_states();
}

std::vector<ComplianceRow> ComplianceDesk::rows() const {
  std::vector<ComplianceRow> rows;
  if (!ledger_) return rows;
  const auto& names = ledger_->tenant_names();
  for (uint32_t t = 0; t < names.size(); ++t) {
    for (const engine::DataClass c : {engine::DataClass::kPi, engine::DataClass::kSensitivePi}) {
      const auto count = ledger_->individuals(t, c, cmp::kAllDestZones);
      if (count.at_least == 0) continue;
      ComplianceRow row;
      row.tenant = names[t];
      row.data_class = c;
      row.individuals = count.at_least;
      row.saturated = count.saturated;
      row.estimate = ledger_->estimate(t, c, cmp::kAllDestZones);
      row.state = ledger_->tenant_state(t);
      rows.push_back(row);
    }
  }
  return rows;
}

tl::expected<void, std::string> ComplianceDesk::save(const std::string& path, int64_t now_ns) const {
  if (!ledger_) return {};
  if (auto saved = ledger_->save(path, now_ns); !saved) return tl::unexpected(path + ": " + saved.error());
  return {};
}

namespace {

// The engine's counter blocks are plain arrays of uint64_t fields: several
// workers' blocks add up field by field.
template <typename T>
void add_counters(T& total, const T& part) noexcept {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) % sizeof(uint64_t) == 0);
  uint64_t a[sizeof(T) / sizeof(uint64_t)];
  uint64_t b[sizeof(T) / sizeof(uint64_t)];
  std::memcpy(a, &total, sizeof(T));
  std::memcpy(b, &part, sizeof(T));
  for (size_t i = 0; i < std::size(a); ++i) a[i] += b[i];
  std::memcpy(&total, a, sizeof(T));
}

}  // namespace

void add_worker_totals(InspectSummary& s, engine::Worker& w, const engine::PolicyGeneration& gen) {
  add_counters(s.counters, w.counters());
  add_counters(s.reassembly, w.reassembly_counters());
  add_counters(s.defrag, w.defrag_counters());
  add_counters(s.app, w.app_counters());
  add_counters(s.scan_uninspectable, w.scan_uninspectable());
  s.events_dropped += w.events().dropped();
  s.flow_capacity += gen.spec().limits.flow_table_size;
  s.bytes_per_flow = engine::Worker::bytes_per_flow();
  s.stream_capacity = w.stream_capacity();  // per worker, as bytes_per_flow
  s.bytes_per_stream = engine::Worker::bytes_per_stream();
  if (const engine::sig::Scanner* sc = w.scanner()) {
    const auto specs = sc->database().specs();
    const auto counters = sc->signature_counters();
    if (s.signatures.empty()) {
      for (size_t i = 0; i < specs.size() && i < counters.size(); ++i) {
        s.signatures.push_back(SignatureRow{
            specs[i].name, specs[i].sid, std::string(engine::data_class_name(specs[i].data_class)), 0, 0, 0});
      }
    }
    for (size_t i = 0; i < s.signatures.size() && i < counters.size(); ++i) {
      s.signatures[i].hits += counters[i].hits;
      s.signatures[i].confirmed += counters[i].confirmed;
      s.signatures[i].suppressed += counters[i].suppressed;
    }
    s.stream_state_bytes = sc->stream_state_bytes();
  }
  const auto& per_rule = w.flows_per_rule();
  if (s.flows_per_rule.empty()) {
    for (size_t r = 0; r < per_rule.size(); ++r) {
      const bool is_default = r + 1 == per_rule.size();
      s.flows_per_rule.emplace_back(is_default ? std::string("default") : gen.spec().rules[r].name, 0);
    }
  }
  for (size_t r = 0; r < per_rule.size() && r < s.flows_per_rule.size(); ++r)
    s.flows_per_rule[r].second += per_rule[r];
  const auto& zpb = w.zone_pair_bytes();
  const size_t nz = gen.zone_count();
  for (size_t a = 0; a < nz; ++a) {
    for (size_t b = 0; b < nz; ++b) {
      if (zpb[a * nz + b] == 0) continue;
      s.zone_pair_bytes[{std::string(gen.zone_name(static_cast<uint32_t>(a))),
                         std::string(gen.zone_name(static_cast<uint32_t>(b)))}] += zpb[a * nz + b];
    }
  }
}

}  // namespace ftz::report
