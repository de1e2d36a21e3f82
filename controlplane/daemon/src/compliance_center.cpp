#include "compliance_center.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "ftz/config/yaml_util.hpp"
#include "ftz/proto/enum_word.hpp"

namespace ftz::daemon {

namespace pb = ftzgate::v1;
namespace cmp = engine::compliance;
using grpc::Status;
using grpc::StatusCode;
using ojson = nlohmann::ordered_json;

namespace {

// Data planes whose last batch is remembered (the registry's bound).
constexpr size_t kMaxReporters = 256;
constexpr int kMaxBatchTokens = 65536;
constexpr int kMaxBatchLost = 65536;

pb::ThresholdState to_proto(engine::ThresholdState s) {
  switch (s) {
    case engine::ThresholdState::kNormal:
      return pb::THRESHOLD_STATE_NORMAL;
    case engine::ThresholdState::kWarn:
      return pb::THRESHOLD_STATE_WARN;
    case engine::ThresholdState::kExceeded:
      return pb::THRESHOLD_STATE_EXCEEDED;
  }
  return pb::THRESHOLD_STATE_UNSPECIFIED;
}

// The wire's DataClass (UNSPECIFIED = 0) to the engine's; nullopt when out of range.
std::optional<engine::DataClass> data_class(int c) {
  if (c < 1 || c > static_cast<int>(engine::DataClass::kCount)) return std::nullopt;
  return static_cast<engine::DataClass>(c - 1);
}

cmp::MacAlgo algo_of(const engine::PolicySpec& spec) {
  return spec.compliance.use_sm3 ? cmp::MacAlgo::kHmacSm3 : cmp::MacAlgo::kHmacSha256;
}

// "pi", "sensitive_pi": the configuration's words (data_class: in rules).
std::string class_word(engine::DataClass c) {
  return proto::enum_word(pb::DataClass_Name(static_cast<pb::DataClass>(static_cast<int>(c) + 1)),
                          "DATA_CLASS_");
}

std::string hex64(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// A row of `show compliance`: tenant `name`'s individuals of class `c`.
pb::ComplianceRow* add_row(pb::ShowComplianceReply* reply, const std::string& name, engine::DataClass c,
                           const cmp::IndividualCount& n) {
  pb::ComplianceRow* row = reply->add_rows();
  row->set_tenant(name);
  row->set_data_class(static_cast<pb::DataClass>(static_cast<int>(c) + 1));
  row->set_individuals(n.at_least);
  row->set_saturated(n.saturated);
  return row;
}

}  // namespace

tl::expected<std::unique_ptr<ComplianceCenter>, std::string> ComplianceCenter::open(
    const std::string& dir, std::function<int64_t()> clock_ms, AuditHook audit) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return tl::unexpected(dir + ": cannot create: " + std::strerror(errno));
  std::unique_ptr<ComplianceCenter> c(new ComplianceCenter());
  c->key_path_ = dir + "/token.key";
  c->state_path_ = dir + "/ledger.state";
  c->clock_ms_ = std::move(clock_ms);
  c->audit_ = std::move(audit);
  // The appliance's own key, generated on first start; never a demo key.
  auto resolved = cmp::resolve_token_key({c->key_path_, c->state_path_, cmp::MacAlgo::kHmacSha256, false});
  if (!resolved) return tl::unexpected(resolved.error());
  for (const std::string& note : resolved->notes) std::fprintf(stderr, "ftzgated: %s\n", note.c_str());
  auto text = config::read_regular_file(c->key_path_, 4096);
  if (!text) return tl::unexpected(c->key_path_ + ": " + text.error().reason);
  c->key_file_ = std::move(*text);
  c->key_.emplace(std::move(resolved->key));
  ComplianceCenter* raw = c.get();
  c->saver_ = std::thread([raw] { raw->saver_loop(); });
  return c;
}

tl::expected<std::unique_ptr<ComplianceCenter>, std::string> ComplianceCenter::open_fleet(
    const std::string& key_path, std::function<int64_t()> clock_ms, AuditHook audit) {
  std::unique_ptr<ComplianceCenter> c(new ComplianceCenter());
  c->key_path_ = key_path;
  c->dedup_ = false;
  c->clock_ms_ = std::move(clock_ms);
  c->audit_ = std::move(audit);
  auto key = cmp::TokenKey::load(key_path, cmp::MacAlgo::kHmacSha256);
  if (!key) return tl::unexpected(key.error());
  auto text = config::read_regular_file(key_path, 4096);
  if (!text) return tl::unexpected(key_path + ": " + text.error().reason);
  c->key_file_ = std::move(*text);
  c->key_.emplace(std::move(*key));
  ComplianceCenter* raw = c.get();
  c->saver_ = std::thread([raw] { raw->saver_loop(); });
  return c;
}

ComplianceCenter::~ComplianceCenter() {
  stop();
}

void ComplianceCenter::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  dirty_cv_.notify_all();
  if (saver_.joinable()) saver_.join();
}

void ComplianceCenter::saver_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    dirty_cv_.wait(lock, [&] { return stopping_ || applied_epoch_ != saved_epoch_; });
    save_locked();
    // A failed save (said once) is tried again a second later.
    if (applied_epoch_ != saved_epoch_)
      dirty_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
  }
  save_locked();
}

tl::expected<void, std::string> ComplianceCenter::configure(const engine::PolicySpec& spec) {
  std::lock_guard lock(mu_);
  std::optional<cmp::TokenKey> key;
  if (key_->algo() != algo_of(spec)) {
    auto k = cmp::TokenKey::load(key_path_, algo_of(spec));
    if (!k) return tl::unexpected(k.error());
    key.emplace(std::move(*k));
  }
  const cmp::TokenKey& use = key ? *key : *key_;
  // Counts carry over by name: the ledger as saved, read under the new
  // tenants and thresholds.
  if (ledger_) save_locked();
  if (ledger_ && saved_epoch_ != applied_epoch_)
    return tl::unexpected("the compliance state cannot be saved: " + save_problem_);
  auto next = std::make_unique<cmp::ComplianceLedger>(cmp::LedgerConfig::from_policy(spec, use), now_ns());
  // In memory (a fleet's count) the ledger starts empty: its owner adds
  // every batch again.
  if (auto loaded = state_path_.empty() ? tl::expected<bool, std::string>{false} : next->load(state_path_);
      !loaded) {
    // Never a silent restart of the year's counts: without a ledger the
    // data planes keep their tokens (and are told why).
    if (!ledger_) load_problem_ = loaded.error();
    return tl::unexpected(loaded.error());
  }
  load_problem_.clear();
  ledger_ = std::move(next);
  if (key) key_ = std::move(key);
  return {};
}

tl::expected<uint64_t, Status> ComplianceCenter::apply(const pb::ReportBatch& b) {
  if (b.tenants_size() > static_cast<int>(cmp::ComplianceLedger::kMaxNames) ||
      b.zones_size() > static_cast<int>(cmp::ComplianceLedger::kMaxNames) ||
      b.tokens_size() > kMaxBatchTokens || b.lost_size() > kMaxBatchLost) {
    return tl::unexpected(Status(StatusCode::INVALID_ARGUMENT, "a report batch larger than allowed"));
  }
  if (b.seq() == 0) return tl::unexpected(Status(StatusCode::INVALID_ARGUMENT, "a report batch without seq"));
  // Everything is checked before anything is counted: a refused batch
  // counts nothing, and the data plane keeps it.
  for (const pb::Token& t : b.tokens()) {
    if (t.tenant() >= static_cast<uint32_t>(b.tenants_size()) ||
        t.dest_zone() >= static_cast<uint32_t>(b.zones_size()) || !data_class(t.data_class()) ||
        t.id_type() > 255) {
      return tl::unexpected(Status(StatusCode::INVALID_ARGUMENT, "a token with an index out of range"));
    }
  }
  for (const pb::LostTokens& l : b.lost()) {
    const bool named = l.whom_case() == pb::LostTokens::kTenant;
    if ((named && l.tenant() >= static_cast<uint32_t>(b.tenants_size())) || (!named && !l.any_tenant()) ||
        !data_class(l.data_class())) {
      return tl::unexpected(Status(StatusCode::INVALID_ARGUMENT, "a lost count with an index out of range"));
    }
  }
  std::lock_guard lock(mu_);
  if (!ledger_) {
    return tl::unexpected(
        Status(StatusCode::UNAVAILABLE, load_problem_.empty()
                                            ? "no running configuration yet"
                                            : "ftzgated cannot load its compliance state: " + load_problem_));
  }
  if (b.key_fingerprint() != key_->fingerprint()) {
    return tl::unexpected(
        Status(StatusCode::FAILED_PRECONDITION, "tokens made under key " + hex64(b.key_fingerprint()) +
                                                    ", ftzgated counts under " + hex64(key_->fingerprint()) +
                                                    ": restart the data plane to take the key"));
  }
  if (dedup_) {
    auto seen = seen_.find(b.dataplane_id());
    if (seen == seen_.end()) {
      if (seen_.size() >= kMaxReporters)
        return tl::unexpected(Status(StatusCode::RESOURCE_EXHAUSTED, "too many data planes report"));
      seen = seen_.emplace(b.dataplane_id(), std::pair<uint64_t, uint64_t>{b.boot_id(), 0}).first;
    }
    if (seen->second.first == b.boot_id() && b.seq() <= seen->second.second) {
      ++duplicates_;  // applied already; its acknowledgement was lost
      return applied_epoch_;
    }
    seen->second = {b.boot_id(), b.seq()};
  }
  // The batch's names to the ledger's ids; a name past the ledger's bound
  // makes its records lost records of every tenant (fail closed).
  std::vector<std::optional<uint32_t>> tenants;
  std::vector<std::optional<uint32_t>> zones;
  for (const std::string& n : b.tenants()) tenants.push_back(ledger_->tenant_id(n));
  for (const std::string& n : b.zones()) zones.push_back(ledger_->zone_id(n));
  for (const pb::Token& t : b.tokens()) {
    const engine::DataClass c = *data_class(t.data_class());
    const auto& tenant = tenants[t.tenant()];
    const auto& zone = zones[t.dest_zone()];
    if (!tenant || !zone) {
      ledger_->add_lost(cmp::ComplianceLedger::kAnyTenant, c, 1);
      continue;
    }
    cmp::TokenRecord r;
    r.token = t.token();
    r.ts_ns = t.ts_unix_ns();
    r.tenant = *tenant;
    r.dest_zone = *zone;
    r.data_class = c;
    r.id_type = static_cast<uint8_t>(t.id_type());
    ledger_->add(r);
  }
  for (const pb::LostTokens& l : b.lost()) {
    std::optional<uint32_t> tenant = cmp::ComplianceLedger::kAnyTenant;
    if (l.whom_case() == pb::LostTokens::kTenant) tenant = tenants[l.tenant()];
    ledger_->add_lost(tenant.value_or(cmp::ComplianceLedger::kAnyTenant), *data_class(l.data_class()),
                      l.records());
  }
  ++batches_;
  ++applied_epoch_;
  dirty_cv_.notify_one();
  return applied_epoch_;
}

bool ComplianceCenter::wait_saved(uint64_t epoch, std::chrono::milliseconds max) {
  std::unique_lock lock(mu_);
  return saved_cv_.wait_for(lock, max, [&] { return saved_epoch_ >= epoch; });
}

void ComplianceCenter::save_locked() {
  if (!ledger_ || saved_epoch_ == applied_epoch_) return;
  if (state_path_.empty()) {
    saved_epoch_ = applied_epoch_;  // in memory: nothing to wait for
    saved_cv_.notify_all();
    return;
  }
  const int64_t now = now_ns();
  if (auto saved = ledger_->save(state_path_, now); !saved) {
    // Unacknowledged batches stay with their data planes meanwhile.
    if (saved.error() != save_problem_)
      std::fprintf(stderr, "ftzgated: cannot save the compliance state %s: %s\n", state_path_.c_str(),
                   saved.error().c_str());
    save_problem_ = saved.error();
    return;
  }
  save_problem_.clear();
  saved_epoch_ = applied_epoch_;
  saved_unix_s_ = now / 1'000'000'000;
  saved_cv_.notify_all();
}

std::optional<pb::ThresholdStates> ComplianceCenter::tick() {
  std::vector<cmp::ComplianceEvent> events;
  std::optional<pb::ThresholdStates> changed;
  {
    std::lock_guard lock(mu_);
    if (!ledger_) return std::nullopt;
    const int64_t now = now_ns();
    events = ledger_->evaluate(now);
    auto expiries = ledger_->check_approval_expiry(now);
    events.insert(events.end(), expiries.begin(), expiries.end());
    if (!events.empty()) {
      // What fired (and a year's rollover) is kept in the state file, so a
      // restart does not notify again: the saver writes it.
      ++applied_epoch_;
      dirty_cv_.notify_one();
    }
    pb::ThresholdStates states = states_locked();
    std::string serialized = states.SerializeAsString();
    if (serialized != published_) {
      published_ = std::move(serialized);
      changed = std::move(states);
    }
  }
  // Notices name tenants, thresholds and counts, never a person.
  if (quiet_.load()) events.clear();
  for (const cmp::ComplianceEvent& e : events) {
    ojson d{{"kind", cmp::compliance_event_kind_name(e.kind)}, {"year", e.year}, {"tenant", e.tenant_name}};
    if (e.kind == cmp::ComplianceEventKind::kApprovalExpired) {
      d["approval_id"] = e.approval_id;
    } else if (e.kind != cmp::ComplianceEventKind::kYearRollover) {
      d["threshold"] = e.threshold;
      d["mechanism"] = e.mechanism;
      d["data_class"] = class_word(e.data_class);
      d["percent"] = e.percent;
      d["individuals"] = e.individuals;
      d["line"] = e.line;
      d["lower_bound"] = e.lower_bound;
      d["lost"] = e.lost;
    }
    if (!audit_("compliance_notice", true, d))
      std::fprintf(stderr, "ftzgated: a compliance notice could not be audited: %s\n", d.dump().c_str());
  }
  return changed;
}

pb::ThresholdStates ComplianceCenter::states_locked() const {
  pb::ThresholdStates out;
  if (!ledger_) return out;
  const auto& names = ledger_->tenant_names();
  for (uint32_t t = 0; t < names.size(); ++t) {
    pb::ThresholdStates::Tenant* x = out.add_tenants();
    x->set_name(names[t]);
    x->set_state(to_proto(ledger_->tenant_state(t)));
  }
  return out;
}

void ComplianceCenter::show_previous_year(pb::ShowComplianceReply* reply) const {
  std::lock_guard lock(mu_);
  reply->set_key_fingerprint(hex64(key_->fingerprint()));
  if (!ledger_) return;
  reply->set_year(ledger_->previous_year());
  const auto& names = ledger_->tenant_names();
  for (uint32_t t = 0; t < names.size(); ++t) {
    for (const engine::DataClass c : {engine::DataClass::kPi, engine::DataClass::kSensitivePi}) {
      const cmp::IndividualCount n = ledger_->previous_year_individuals(t, c, cmp::kAllDestZones);
      if (n.at_least != 0) add_row(reply, names[t], c, n);
    }
  }
}

int32_t ComplianceCenter::year() const {
  std::lock_guard lock(mu_);
  return ledger_ ? ledger_->year() : 0;
}

pb::ThresholdStates ComplianceCenter::states() const {
  std::lock_guard lock(mu_);
  return states_locked();
}

void ComplianceCenter::show(pb::ShowComplianceReply* reply) const {
  std::lock_guard lock(mu_);
  reply->set_key_fingerprint(hex64(key_->fingerprint()));
  reply->set_batches(batches_);
  reply->set_duplicate_batches(duplicates_);
  reply->set_saved_unix_s(saved_unix_s_);
  if (!ledger_) return;
  reply->set_year(ledger_->year());
  reply->set_tokens_merged(ledger_->counters().tokens_merged);
  const auto& names = ledger_->tenant_names();
  for (uint32_t t = 0; t < names.size(); ++t) {
    for (const engine::DataClass c : {engine::DataClass::kPi, engine::DataClass::kSensitivePi}) {
      const cmp::IndividualCount n = ledger_->individuals(t, c, cmp::kAllDestZones);
      if (n.at_least == 0 && n.lost == 0) continue;
      pb::ComplianceRow* row = add_row(reply, names[t], c, n);
      row->set_estimate(ledger_->estimate(t, c, cmp::kAllDestZones));
      row->set_lost(n.lost);
      row->set_state(to_proto(ledger_->tenant_state(t)));
    }
  }
}

}  // namespace ftz::daemon
