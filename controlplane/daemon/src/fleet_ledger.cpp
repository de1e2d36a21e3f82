#include "fleet_ledger.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>

#include "ftz/engine/compliance/calendar.hpp"
#include "ftz/engine/compliance/token_key.hpp"

namespace ftz::daemon {

namespace pb = ftzgate::v1;
using grpc::Status;
using grpc::StatusCode;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

namespace {

// Tokens per etcd value: about 0.5 MB, below etcd's 1.5 MiB request limit
// (a data plane's batches hold at most 16,384; other senders up to 65,536).
constexpr int kPartTokens = 16384;
// ledger/owner's lease, kept alive every kTick; an owner that has not
// reached etcd for kStepDown stops counting (the lease is about to go).
constexpr int64_t kOwnerTtl = 5;
constexpr auto kTick = std::chrono::seconds(1);
constexpr auto kStepDown = std::chrono::seconds(3);
constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr auto kSummary = std::chrono::seconds(5);
// A notice key's value ends with its state.
constexpr const char* kRaised = " raised";
constexpr const char* kAudited = " audited";

// A notice's field as a key part ("-" when it has none).
std::string part(const ojson& d, const char* name) {
  if (!d.contains(name)) return "-";
  return d[name].is_string() ? d[name].get<std::string>() : d[name].dump();
}

}  // namespace

FleetLedger::FleetLedger(Options options) : options_(std::move(options)), keys_(options_.fleet) {}

fleet::Result<std::unique_ptr<FleetLedger>> FleetLedger::open(Options options) {
  std::unique_ptr<FleetLedger> l(new FleetLedger(std::move(options)));
  auto store = fleet::Etcd::connect(l->options_.etcd);
  if (!store) return tl::unexpected(store.error());
  auto own = fleet::Etcd::connect(l->options_.etcd);
  if (!own) return tl::unexpected(own.error());
  l->store_etcd_ = std::move(*store);
  l->etcd_ = std::move(*own);
  auto key =
      engine::compliance::TokenKey::load(l->options_.key_path, engine::compliance::MacAlgo::kHmacSha256);
  if (!key) return tl::unexpected(key.error());
  l->own_fingerprint_ = key->fingerprint();
  return l;
}

void FleetLedger::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

FleetLedger::~FleetLedger() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  // Another member takes over now, not after the lease's TTL.
  if (lease_ != 0) step_down("ftzgated stops");
}

Status FleetLedger::store(const pb::ReportBatch& b) {
  // Tokens under another key than the fleet's count for nobody in the
  // fleet: not acknowledged (the data plane keeps them), and said.
  if (const uint64_t fleet_key = fleet_fingerprint_.load();
      fleet_key != 0 && b.key_fingerprint() != fleet_key) {
    if (!key_mismatch_said_.exchange(true)) {
      (void)options_.audit("fleet_key_mismatch", false,
                           ojson{{"fleet", options_.fleet},
                                 {"member", options_.member},
                                 {"reason",
                                  "this member's token key is not the fleet's: copy the fleet's "
                                  "compliance/token.key here (docs/fleet.md)"}});
    }
    return {StatusCode::FAILED_PRECONDITION,
            "this member's token key is not the fleet's (docs/fleet.md, \"One count\"): the data plane keeps "
            "its batches"};
  }
  // Never under a year the fleet has left (a clock behind): pruned with it.
  const int32_t year =
      std::max(engine::compliance::shanghai_year(options_.clock_ms() * 1'000'000), fleet_year_.load());
  const int n = b.tokens_size();
  const int parts = std::max(1, (n + kPartTokens - 1) / kPartTokens);
  for (int p = 0; p < parts; ++p) {
    pb::ReportBatch out;
    out.set_dataplane_id(b.dataplane_id());
    out.set_boot_id(b.boot_id());
    out.set_seq(b.seq());
    out.set_key_fingerprint(b.key_fingerprint());
    *out.mutable_tenants() = b.tenants();
    *out.mutable_zones() = b.zones();
    for (int i = p * kPartTokens; i < std::min(n, (p + 1) * kPartTokens); ++i)
      *out.add_tokens() = b.tokens(i);
    if (p == 0) *out.mutable_lost() = b.lost();
    // Created once: a batch sent again after a lost acknowledgement finds
    // its key and counts nothing twice.
    const std::string key =
        keys_.batch(year, options_.member, b.dataplane_id(), b.boot_id(), b.seq(), static_cast<unsigned>(p));
    auto done = store_etcd_->put_if(key, 0, {{key, out.SerializeAsString(), 0}});
    if (!done) {
      return {StatusCode::UNAVAILABLE,
              "the fleet's count cannot take the batch (" + done.error() + "): the data plane keeps it"};
    }
  }
  return Status::OK;
}

void FleetLedger::configure(const engine::PolicySpec& spec, bool fleet_policy) {
  std::lock_guard lock(spec_mu_);
  spec_ = spec;
  fleet_policy_ = fleet_policy;
  ++spec_epoch_;
}

Status FleetLedger::show(int32_t year, pb::ShowComplianceReply* reply) {
  const std::string key = year == 0 ? keys_.ledger_summary() : keys_.ledger_year(year);
  auto summary = store_etcd_->get(key);
  if (!summary) return {StatusCode::UNAVAILABLE, "the fleet's count: " + summary.error()};
  if (!summary->has_value() && year == 0)
    return {StatusCode::FAILED_PRECONDITION, "no member has written the fleet's count yet"};
  if (!summary->has_value())
    return {StatusCode::NOT_FOUND, "etcd holds no count of the fleet for " + std::to_string(year)};
  auto value = opened(key, (*summary)->value);
  if (!value) return {StatusCode::DATA_LOSS, value.error()};
  if (!reply->ParseFromString(value->first)) return {StatusCode::DATA_LOSS, key + ": not a count"};
  reply->set_signed_by(value->second);
  reply->set_final(year != 0 && engine::compliance::shanghai_year(reply->written_unix_s() * 1'000'000'000) >
                                    reply->year());
  return Status::OK;
}

void FleetLedger::run() {
  while (!stop_.load()) {
    follow_states();
    if (center_) {
      serve();
    } else {
      campaign();
      if (!center_) std::this_thread::sleep_for(kPoll);
    }
  }
}

void FleetLedger::follow_states() {
  const auto now = Clock::now();
  if (now < next_states_) return;
  next_states_ = now + kTick;
  if (auto summary = read_owned(keys_.ledger_summary(), nullptr)) {
    pb::ShowComplianceReply s;
    uint64_t fingerprint = 0;
    if (s.ParseFromString(*summary) &&
        std::from_chars(s.key_fingerprint().data(), s.key_fingerprint().data() + s.key_fingerprint().size(),
                        fingerprint, 16)
                .ec == std::errc())
      fleet_fingerprint_.store(fingerprint);
    if (s.year() > fleet_year_.load()) fleet_year_.store(s.year());
  }
  auto states = read_owned(keys_.ledger_states(), &states_revision_);
  if (!states) return;
  pb::ThresholdStates s;
  if (!s.ParseFromString(*states)) {
    std::fprintf(stderr, "ftzgated: %s: not threshold states, ignored\n", keys_.ledger_states().c_str());
  } else {
    options_.states(s);
  }
}

std::optional<std::string> FleetLedger::read_owned(const std::string& key, int64_t* seen_revision) {
  auto kv = etcd_->get(key);
  if (!kv || !kv->has_value()) return std::nullopt;
  if (seen_revision != nullptr) {
    if ((*kv)->mod_revision == *seen_revision) return std::nullopt;
    *seen_revision = (*kv)->mod_revision;
  }
  auto value = opened(key, (*kv)->value);
  if (value) {
    refused_values_.erase(key);
    return std::move(value->first);
  }
  // Someone who can write to etcd but holds no member key wrote it: not
  // acted on, and said once.
  if (refused_values_.insert(key).second) {
    std::fprintf(stderr, "ftzgated: fleet %s: %s\n", options_.fleet.c_str(), value.error().c_str());
    (void)options_.audit(
        "fleet_ledger_refused", false,
        ojson{{"fleet", options_.fleet}, {"key", key}, {"reason", value.error().substr(0, 512)}});
  }
  return std::nullopt;
}

std::string FleetLedger::sealed(const std::string& key, const std::string& payload) const {
  return fleet::format_ledger_value({payload, options_.sign(fleet::ledger_signed_content(key, payload))});
}

fleet::Result<std::pair<std::string, std::string>> FleetLedger::opened(const std::string& key,
                                                                       const std::string& value) const {
  auto v = fleet::parse_ledger_value(value, key);
  if (!v) return tl::unexpected(v.error());
  auto signer = options_.verify(v->signature, fleet::ledger_signed_content(key, v->payload));
  if (!signer) return tl::unexpected(key + ": not signed by a member key of --fleet-keys: " + signer.error());
  return std::pair{std::move(v->payload), std::move(*signer)};
}

void FleetLedger::campaign() {
  const auto now = Clock::now();
  if (now < next_campaign_) return;
  next_campaign_ = now + kTick;
  {
    std::lock_guard lock(spec_mu_);
    // Nothing to count under yet, or a local-only override's thresholds.
    if (!spec_ || !fleet_policy_) return;
  }
  // A member whose token key is not the fleet's would refuse every other
  // member's batches: it does not count for the fleet.
  if (const uint64_t fleet_key = fleet_fingerprint_.load(); fleet_key != 0 && fleet_key != own_fingerprint_)
    return;
  // A clock behind the fleet's year would count the fleet in a year it has
  // left, and write that year's count again.
  if (engine::compliance::shanghai_year(options_.clock_ms() * 1'000'000) < fleet_year_.load()) {
    if (!clock_behind_said_) {
      clock_behind_said_ = true;
      (void)options_.audit("fleet_clock_behind", false,
                           ojson{{"fleet", options_.fleet},
                                 {"member", options_.member},
                                 {"fleet_year", fleet_year_.load()},
                                 {"reason",
                                  "this member's clock is in a year the fleet has left: it does not "
                                  "keep the fleet's count (check its time source)"}});
    }
    return;
  }
  const std::string key = keys_.ledger_owner();
  auto owner = etcd_->get(key);
  if (!owner || owner->has_value()) return;
  // Whoever creates the key first owns the ledger while its lease lives
  // (etcd's election recipe: one create succeeds).
  auto lease = etcd_->grant_lease(kOwnerTtl);
  if (!lease) return;
  auto won = etcd_->put_if(key, 0, {{key, options_.member, *lease}});
  auto mine = won && *won ? etcd_->get(key) : fleet::Result<std::optional<fleet::KeyValue>>{};
  if (!mine || !mine->has_value() || (*mine)->value != options_.member || (*mine)->lease != *lease) {
    (void)etcd_->revoke_lease(*lease);
    return;
  }
  lease_ = *lease;
  owner_revision_ = (*mine)->mod_revision;
  last_alive_ = Clock::now();
  if (!rebuild()) step_down("the count could not be rebuilt from etcd");
}

bool FleetLedger::rebuild() {
  const auto t0 = Clock::now();
  center_.reset();
  watch_.reset();
  engine::PolicySpec spec;
  {
    std::lock_guard lock(spec_mu_);
    spec = *spec_;
    counted_epoch_ = spec_epoch_;
  }
  auto center = ComplianceCenter::open_fleet(
      options_.key_path, options_.clock_ms,
      [this](const std::string& type, bool success, ojson d) { return notice(type, success, std::move(d)); });
  if (!center) {
    (void)options_.audit("fleet_ledger_owner", false,
                         ojson{{"fleet", options_.fleet}, {"reason", center.error()}});
    return false;
  }
  if (auto configured = (*center)->configure(spec); !configured) {
    (void)options_.audit("fleet_ledger_owner", false,
                         ojson{{"fleet", options_.fleet}, {"reason", configured.error()}});
    return false;
  }
  center_ = std::move(*center);
  // A new count: what it wrote of last year is not this one's to freeze.
  written_year_ = 0;
  last_written_.Clear();
  refused_.clear();
  refused_batches_ = 0;
  size_t batches = 0;
  auto revision = etcd_->list(keys_.tokens(), [&](std::vector<fleet::KeyValue>&& kvs) {
    for (const fleet::KeyValue& kv : kvs) apply(kv);
    batches += kvs.size();
    // A long rebuild keeps the lease: this member owns the ledger meanwhile.
    if (Clock::now() >= next_tick_) {
      next_tick_ = Clock::now() + kTick;
      if (auto ttl = etcd_->keep_alive(lease_); ttl && *ttl > 0) last_alive_ = Clock::now();
    }
  });
  if (!revision) {
    center_.reset();
    return false;
  }
  auto watch = etcd_->watch(keys_.tokens(), *revision + 1);
  if (!watch) {
    center_.reset();
    return false;
  }
  watch_ = std::move(*watch);
  dirty_ = true;
  next_tick_ = Clock::now();
  next_summary_ = next_tick_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  pb::ShowComplianceReply counted;
  center_->show(&counted);
  (void)options_.audit("fleet_ledger_owner", true,
                       ojson{{"fleet", options_.fleet},
                             {"member", options_.member},
                             {"batches", batches},
                             {"tokens", counted.tokens_merged()},
                             {"refused_batches", refused_batches_},
                             {"rebuild_ms", ms}});
  std::fprintf(stderr, "ftzgated: fleet %s: this member keeps the fleet's count (%zu batches, %lld ms)\n",
               options_.fleet.c_str(), batches, static_cast<long long>(ms));
  return true;
}

void FleetLedger::apply(const fleet::KeyValue& kv) {
  // tokens/MEMBER/...: whose batch it is, for what is said about it.
  // tokens/YEAR/MEMBER/...
  const std::string rest = kv.key.substr(std::min(kv.key.size(), keys_.tokens().size()));
  const size_t year_end = rest.find('/');
  const std::string after = year_end == std::string::npos ? std::string() : rest.substr(year_end + 1);
  const std::string member = after.substr(0, after.find('/'));
  pb::ReportBatch b;
  tl::expected<uint64_t, Status> applied =
      tl::unexpected(Status(StatusCode::INVALID_ARGUMENT, "not a batch"));
  if (b.ParseFromString(kv.value)) {
    // Lost records carry no time: a batch of a past year counted them in
    // that year (its tokens carry their own times).
    if (keys_.batch_year(kv.key) < engine::compliance::shanghai_year(options_.clock_ms() * 1'000'000))
      b.clear_lost();
    applied = center_->apply(b);
  }
  if (applied) {
    dirty_ = true;
    return;
  }
  ++refused_batches_;
  if (refused_.insert(member).second) {
    (void)options_.audit("fleet_batch_refused", false,
                         ojson{{"fleet", options_.fleet},
                               {"member", member.substr(0, 64)},
                               {"key", kv.key.substr(0, 256)},
                               {"reason", applied.error().error_message()}});
  }
}

void FleetLedger::serve() {
  const auto now = Clock::now();
  if (now >= next_tick_) {
    next_tick_ = now + kTick;
    auto ttl = etcd_->keep_alive(lease_);
    if (ttl && *ttl > 0) {
      last_alive_ = now;
    } else if (ttl || now - last_alive_ > kStepDown) {
      step_down(ttl ? "its lease expired" : "etcd out of reach: " + ttl.error());
      return;
    }
    bool respec = false;
    bool fleet_policy = false;
    {
      std::lock_guard lock(spec_mu_);
      respec = spec_epoch_ != counted_epoch_;
      fleet_policy = fleet_policy_;
    }
    if (!fleet_policy) {
      step_down("this member runs a local-only override: a member on the fleet's configuration counts");
      return;
    }
    if (respec && !rebuild()) {
      step_down("the count could not be rebuilt under the new configuration");
      return;
    }
    // States at once; counts every kSummary (etcd keeps each version
    // until compaction: a summary every second would grow it without need),
    // every second in a year's last minute. A new year (the count rolled
    // over) is written at once too.
    const bool changed = center_->tick().has_value() || center_->year() != written_year_;
    const int64_t ms = options_.clock_ms();
    const bool year_ends = engine::compliance::shanghai_year((ms + 60'000) * 1'000'000) !=
                           engine::compliance::shanghai_year(ms * 1'000'000);
    if (changed || (dirty_ && (now >= next_summary_ || year_ends))) {
      next_summary_ = now + kSummary;
      if (!write_summary()) return;
    }
    prune();
  }
  auto batch = watch_->next(kPoll);
  if (!batch) {
    // The stream broke (or etcd cancelled it: a compacted revision, a
    // response too large): everything counted again from a listing, which
    // misses nothing whatever the watch did; a pause first, never a tight
    // loop, and the ledger given up when that fails.
    std::this_thread::sleep_for(kTick);
    if (!rebuild()) step_down("the watch on the batches broke and they could not be listed again");
    return;
  }
  if (!batch->has_value()) return;
  for (const fleet::WatchEvent& e : **batch) {
    if (e.type == fleet::WatchEvent::Type::kPut && e.kv.version == 1) apply(e.kv);
  }
}

bool FleetLedger::write_summary() {
  pb::ShowComplianceReply summary;
  center_->show(&summary);
  summary.set_ledger_owner(options_.member);
  summary.set_written_unix_s(options_.clock_ms() / 1000);
  summary.set_saved_unix_s(0);
  const std::string counts = summary.SerializeAsString();
  const std::string year_key = keys_.ledger_year(summary.year());
  std::vector<fleet::Put> puts{
      {keys_.ledger_summary(), sealed(keys_.ledger_summary(), counts), 0},
      {keys_.ledger_states(), sealed(keys_.ledger_states(), center_->states().SerializeAsString()), 0},
      {year_key, sealed(year_key, counts), 0}};
  // This member counted last year up to its end: last year's count is its
  // individuals as frozen at rollover (exact, as one appliance keeps them),
  // with the lost records and states it last wrote of that year.
  if (last_written_.year() != 0 && last_written_.year() < summary.year()) {
    prune_before_ = last_written_.year();
    pb::ShowComplianceReply last;
    center_->show_previous_year(&last);
    if (last.year() == last_written_.year()) {
      for (pb::ComplianceRow& row : *last.mutable_rows()) {
        for (const pb::ComplianceRow& written : last_written_.rows()) {
          if (written.tenant() != row.tenant() || written.data_class() != row.data_class()) continue;
          row.set_lost(written.lost());
          row.set_state(written.state());
          row.set_estimate(written.estimate());
        }
      }
      // Rows of lost records only (no one counted) are kept too.
      for (const pb::ComplianceRow& written : last_written_.rows()) {
        const bool kept =
            std::any_of(last.rows().begin(), last.rows().end(), [&](const pb::ComplianceRow& r) {
              return r.tenant() == written.tenant() && r.data_class() == written.data_class();
            });
        if (!kept) *last.add_rows() = written;
      }
      last.set_tokens_merged(last_written_.tokens_merged());
      last.set_ledger_owner(options_.member);
      last.set_written_unix_s(summary.written_unix_s());
      const std::string last_key = keys_.ledger_year(last.year());
      puts.push_back({last_key, sealed(last_key, last.SerializeAsString()), 0});
    }
  }
  // Only while this member still owns the ledger: a deposed owner writes
  // nothing.
  auto written = etcd_->put_if(keys_.ledger_owner(), owner_revision_, puts);
  if (written && !*written) {
    step_down("another member owns the fleet's count");
    return false;
  }
  // Not written: again at the next tick, states included.
  dirty_ = !written;
  if (!written) {
    next_summary_ = Clock::now();
    return true;
  }
  written_year_ = summary.year();
  last_written_ = std::move(summary);
  return true;
}

void FleetLedger::prune() {
  // The year that ended and this one stay: a member whose clock was behind
  // a data plane's stored some of this year's tokens under last year.
  const int32_t keep_from = prune_before_;
  if (keep_from <= pruned_before_) return;
  // Years are four digits: [tokens/, tokens/KEEP_FROM/) is every older year.
  auto deleted = etcd_->delete_range_if(keys_.ledger_owner(), owner_revision_, keys_.tokens(),
                                        keys_.tokens() + std::to_string(keep_from) + "/");
  if (!deleted) return;  // again at the next tick
  if (!*deleted) {
    step_down("another member owns the fleet's count");
    return;
  }
  pruned_before_ = keep_from;
  if (**deleted == 0) return;
  (void)options_.audit("fleet_ledger_pruned", true,
                       ojson{{"fleet", options_.fleet},
                             {"member", options_.member},
                             {"before_year", keep_from},
                             {"batches", **deleted}});
}

void FleetLedger::step_down(const std::string& why) {
  watch_.reset();
  center_.reset();
  if (lease_ != 0) (void)etcd_->revoke_lease(lease_);
  lease_ = 0;
  owner_revision_ = 0;
  next_campaign_ = Clock::now() + kTick;
  (void)options_.audit("fleet_ledger_released", true,
                       ojson{{"fleet", options_.fleet}, {"member", options_.member}, {"reason", why}});
  std::fprintf(stderr, "ftzgated: fleet %s: no longer keeps the fleet's count: %s\n", options_.fleet.c_str(),
               why.c_str());
}

bool FleetLedger::notice(const std::string& type, bool success, ojson d) {
  // notices/YEAR/TENANT/CLASS/THRESHOLD/KIND-PERCENT, created once: an
  // owner that evaluates a crossing an earlier owner raised finds it, and
  // says nothing. An approval expires once, whatever year an owner that
  // counts again is in: notices/approvals/TENANT/ID.
  const std::string key =
      d.contains("approval_id")
          ? keys_.notices() + "approvals/" + part(d, "tenant") + "/" + part(d, "approval_id")
          : keys_.notices() + part(d, "year") + "/" + part(d, "tenant") + "/" + part(d, "data_class") + "/" +
                part(d, "threshold") + "/" + part(d, "kind") + "-" + part(d, "percent");
  // A value of this notice's own: a retried create that finds it knows it
  // is its own, not an earlier owner's. "raised" until it is audited.
  const std::string value =
      options_.member + " " + std::to_string(options_.clock_ms()) + " " + std::to_string(++notices_raised_);
  // Signed as the ledger's values are: an "audited" that no member key
  // signed silences nothing.
  auto created = etcd_->put_if(key, 0, {{key, sealed(key, value + kRaised), 0}});
  if (created && !*created) {
    // Raised before: audited, unless the owner that raised it stopped
    // between raising and auditing (killed, or cut off). That one is
    // audited now: twice rather than never.
    auto raised = etcd_->get(key);
    if (!raised || !raised->has_value()) return true;
    auto said = opened(key, (*raised)->value);
    if (said && !said->first.ends_with(kRaised)) return true;
    auto claimed = etcd_->put_if(key, (*raised)->mod_revision, {{key, sealed(key, value + kRaised), 0}});
    if (!claimed || !*claimed) return true;
    d["fleet_raised_by"] = said ? said->first.substr(0, std::min<size_t>(said->first.find(' '), 64))
                                : std::string("(no member key signed it)");
  }
  d["fleet"] = options_.fleet;
  // Said rather than lost when etcd cannot tell whether it was raised.
  if (!created) d["fleet_unconfirmed"] = created.error();
  if (!options_.audit(type, success, std::move(d))) return false;
  // Raised here (created, or claimed): audited now. A failed write leaves
  // it "raised": a later owner audits it again (twice rather than never).
  if (created.has_value()) (void)etcd_->put(key, sealed(key, value + kAudited));
  return true;
}

}  // namespace ftz::daemon
