#include "dataplane_service.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "ftz/base/atomic_file.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/diagnostics.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"
#include "ftz/keys/signing_key.hpp"

namespace ftz::daemon {

namespace pb = ftzgate::v1;
using grpc::Status;
using grpc::StatusCode;
using ojson = nlohmann::ordered_json;

namespace {

// How often a waiting Subscribe looks whether its client went away.
constexpr auto kCancelPoll = std::chrono::milliseconds(500);
// Data planes the registry keeps (bounded memory: an id is a key that any
// holder of the socket can make up). An appliance has a handful.
constexpr size_t kMaxDataplanes = 256;
// Reason keys in one report of counters (the registry has fewer).
constexpr int kMaxReasons = 512;
// Ports a data plane reports (PortStats), and the length of their names.
constexpr int kMaxPorts = 16;
constexpr size_t kMaxPortName = 64;
// Zone pairs and rules a data plane counts flows of by name (its
// FlowTally's bounds), and the length of a name (the configuration's are
// shorter).
constexpr int kMaxNamedCounts = 4096;
constexpr size_t kMaxCountedName = 256;
// Alerts in one batch, and kept for `show alerts` (about 300 bytes each).
constexpr int kMaxAlertsPerBatch = 512;
constexpr size_t kAlertsKept = 10'000;
// An alert's strings: names the configuration bounds, masked forms of 48
// bytes (a stray byte written as two), addresses.
constexpr size_t kMaxAlertText = 256;

// Whether `a`'s strings are no longer than an alert's may be.
bool alert_in_bounds(const pb::Alert& a) {
  for (const std::string* s : {&a.src_ip(), &a.dest_ip(), &a.src_zone(), &a.dest_zone(), &a.tenant(),
                               &a.rule(), &a.signature(), &a.masked()}) {
    if (s->size() > kMaxAlertText) return false;
  }
  return true;
}

bool valid_id(const std::string& id) {
  static const std::regex kId("[A-Za-z0-9_.-]{1,64}");
  return std::regex_match(id, kId);
}

}  // namespace

DataplaneService::DataplaneService(const keys::SigningKey& key, const pki::Authority& authority,
                                   std::function<int64_t()> clock_ms, AuditHook audit,
                                   ComplianceCenter& compliance, std::string registry)
    : key_(key),
      authority_(authority),
      clock_ms_(std::move(clock_ms)),
      audit_(std::move(audit)),
      compliance_(compliance),
      registry_(std::move(registry)) {
  load_registry();
}

void DataplaneService::load_registry() {
  std::error_code ec;
  if (registry_.empty() || !std::filesystem::exists(registry_, ec)) return;  // none yet
  auto text = config::read_regular_file(registry_, size_t{4} << 20);
  const auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
  std::map<std::string, Record> loaded;
  std::string problem;
  const auto str = [](const nlohmann::json& e, const char* k, size_t max) {
    return e.contains(k) && e[k].is_string() && e[k].get_ref<const std::string&>().size() <= max;
  };
  const auto num = [](const nlohmann::json& e, const char* k) {
    return e.contains(k) && e[k].is_number_unsigned();
  };
  if (!text) {
    problem = text.error().reason;
  } else if (!j.is_object() || !j.contains("dataplanes") || !j["dataplanes"].is_array()) {
    problem = "not an object with a \"dataplanes\" list";
  } else {
    for (const auto& e : j["dataplanes"]) {
      if (!e.is_object() || !str(e, "id", 64) || !valid_id(e["id"].get<std::string>()) ||
          !str(e, "host", 255) || !num(e, "running_generation") || !num(e, "last_ack_ms") ||
          !num(e, "last_apply_us") || !num(e, "nack_generation") || !str(e, "nack_reason", 4096) ||
          loaded.size() >= kMaxDataplanes) {
        problem = "entry " + std::to_string(loaded.size() + 1) + " is damaged";
        break;
      }
      Record& r = loaded[e["id"].get<std::string>()];
      r.host = e["host"].get<std::string>();
      r.running_generation = e["running_generation"].get<uint64_t>();
      r.last_ack_ms = static_cast<int64_t>(e["last_ack_ms"].get<uint64_t>());
      r.last_apply_us = e["last_apply_us"].get<uint64_t>();
      r.nack_generation = e["nack_generation"].get<uint64_t>();
      r.nack_reason = e["nack_reason"].get<std::string>();
    }
  }
  if (problem.empty()) {
    dataplanes_ = std::move(loaded);
    return;
  }
  // Kept for whoever looks into it; the registry starts empty and fills as
  // data planes subscribe.
  const std::string aside = registry_ + ".damaged";
  const bool moved = std::rename(registry_.c_str(), aside.c_str()) == 0;
  std::fprintf(stderr, "ftzgated: %s: %s; %s, the registry starts empty\n", registry_.c_str(),
               problem.c_str(), moved ? ("moved to " + aside).c_str() : "left in place");
}

void DataplaneService::save_registry() {
  if (registry_.empty()) return;
  std::lock_guard saving(save_mu_);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, r] : dataplanes_) {
      // Ids that never ACKed or NACKed are not kept: anyone on the socket
      // can make one up, and the registry's bound would outlive a restart.
      if (r.last_ack_ms == 0 && r.nack_generation == 0) continue;
      list.push_back({{"id", id},
                      {"host", r.host},
                      {"running_generation", r.running_generation},
                      {"last_ack_ms", static_cast<uint64_t>(std::max<int64_t>(0, r.last_ack_ms))},
                      {"last_apply_us", r.last_apply_us},
                      {"nack_generation", r.nack_generation},
                      {"nack_reason", r.nack_reason}});
    }
  }
  const std::string text = nlohmann::ordered_json{{"dataplanes", std::move(list)}}.dump(
                               1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                           "\n";
  if (auto w = base::write_file_atomically(registry_, text, 0640); !w)
    std::fprintf(stderr, "ftzgated: the registry of data planes is not saved: %s\n", w.error().c_str());
}

tl::expected<Peer, Status> DataplaneService::admit(const grpc::ServerContext& ctx, const std::string& id,
                                                   const char* call) {
  auto peer = require_certificate(ctx, authority_, pki::CertKind::kDataplane, id);
  // A revoked data plane retries on its open connection every few seconds.
  if (!peer &&
      (!is_revocation(peer.error()) || revoked_refusals_.due(peer.error().error_message(), clock_ms_()))) {
    (void)audit_("dataplane_refused", false,
                 ojson{{"dataplane", id.substr(0, 64)},
                       {"call", call},
                       {"source", ctx.peer()},
                       {"reason", peer.error().error_message()}});
  }
  return peer;
}

void DataplaneService::publish(bundle::Commit running, bool fleet_policy) {
  // The count follows the running generation's tenants and thresholds. The
  // commit validated this text; a failure here leaves the count on the
  // previous generation's, and says so.
  config::LoadOptions options;
  options.read_included = config::read_from(running.files);
  auto loaded = config::load_config_from_string(running.yaml, "running.yaml", options);
  auto configured = loaded ? compliance_.configure(loaded->spec)
                           : tl::unexpected(config::format_diagnostics(loaded.error()));
  if (loaded && fleet_.configured) fleet_.configured(loaded->spec, fleet_policy);
  if (!configured) {
    std::fprintf(stderr, "ftzgated: the count keeps the previous generation's tenants: %s\n",
                 configured.error().c_str());
    (void)audit_("compliance_configure", false,
                 ojson{{"generation", running.generation}, {"reason", configured.error()}});
  }
  {
    std::lock_guard lock(mu_);
    running_ = std::move(running);
    cache_.clear();
    ++epoch_;
  }
  changed_.notify_all();
}

void DataplaneService::tick() {
  if (!compliance_.tick()) return;
  {
    std::lock_guard lock(mu_);
    ++thresholds_epoch_;
  }
  changed_.notify_all();
}

void DataplaneService::set_fleet(FleetHooks hooks) {
  compliance_.quiet_notices();
  std::lock_guard lock(mu_);
  fleet_ = std::move(hooks);
}

void DataplaneService::fleet_states(const pb::ThresholdStates& states) {
  {
    std::lock_guard lock(mu_);
    if (fleet_states_ && fleet_states_->SerializeAsString() == states.SerializeAsString()) return;
    fleet_states_ = states;
    ++thresholds_epoch_;
  }
  changed_.notify_all();
}

pb::ThresholdStates DataplaneService::states_for_dataplanes() {
  pb::ThresholdStates out = compliance_.states();
  std::lock_guard lock(mu_);
  if (!fleet_states_) return out;
  std::map<std::string, pb::ThresholdState> fleet;
  for (const auto& t : fleet_states_->tenants()) fleet[t.name()] = t.state();
  for (auto& t : *out.mutable_tenants()) {
    // The states are ordered NORMAL < WARN < EXCEEDED.
    if (auto f = fleet.find(t.name()); f != fleet.end() && f->second > t.state()) t.set_state(f->second);
  }
  return out;
}

void DataplaneService::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
}

DataplaneService::Built DataplaneService::bundle_for(const bundle::Commit& running,
                                                     const pb::HyperscanPlatform& platform) {
  const std::pair<uint32_t, uint64_t> key{platform.tune(), platform.cpu_features()};
  std::lock_guard build(build_mu_);
  {
    std::lock_guard lock(mu_);
    if (running_ && running_->generation == running.generation) {
      if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto built = std::make_shared<const tl::expected<pb::SignedBundle, std::string>>(
      bundle::build_bundle(running, platform, key_));
  const auto build_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  if (*built) {
    // What was signed, for whom, and what it cost (the Hyperscan compile is
    // most of it): the record an auditor matches a data plane's ACK against.
    const pb::SignedBundle& b = **built;
    (void)audit_("bundle_build", true,
                 ojson{{"generation", running.generation},
                       {"platform", bundle::describe(platform)},
                       {"sha256", b.body_sha256()},
                       {"key_id", b.key_id()},
                       {"bytes", b.ByteSizeLong()},
                       {"build_ms", build_ms}});
  }
  std::lock_guard lock(mu_);
  if (running_ && running_->generation == running.generation) cache_[key] = built;
  return built;
}

Status DataplaneService::Subscribe(grpc::ServerContext* ctx, const pb::SubscribeRequest* req,
                                   grpc::ServerWriter<pb::Update>* writer) {
  const std::string& id = req->dataplane_id();
  if (!valid_id(id)) return {StatusCode::INVALID_ARGUMENT, "dataplane_id must be 1-64 of [A-Za-z0-9_.-]"};
  auto peer = admit(*ctx, id, "Subscribe");
  if (!peer) return peer.error();
  uint64_t seen_epoch = 0;
  uint64_t sent_generation = 0;
  uint64_t seen_restarts = 0;  // a restart asked for before this subscription is not sent
  {
    std::lock_guard lock(mu_);
    if (dataplanes_.size() >= kMaxDataplanes && dataplanes_.count(id) == 0) {
      return {StatusCode::RESOURCE_EXHAUSTED,
              "ftzgated keeps at most " + std::to_string(kMaxDataplanes) + " data planes"};
    }
    Record& r = dataplanes_[id];
    ++r.streams;
    seen_restarts = r.restarts_requested;
    r.host = config::utf8_prefix(req->host(), 255);
    r.running_generation = req->running_generation();
  }
  save_registry();
  // The key first: the data plane counts with it from its first bundle on.
  pb::Update key_update;
  key_update.mutable_token_key()->set_key_file(compliance_.key_file());
  bool open = writer->Write(key_update);
  // Threshold states: at subscription, then whenever they change.
  std::optional<uint64_t> sent_thresholds;
  Status result = Status::OK;
  std::unique_lock lock(mu_);
  // The map's nodes stay where they are: records are never erased.
  const Record& record = dataplanes_[id];
  while (open) {
    changed_.wait_for(lock, kCancelPoll, [&] {
      return stopping_ || epoch_ != seen_epoch || sent_thresholds != thresholds_epoch_ ||
             record.restarts_requested != seen_restarts;
    });
    if (stopping_) {
      result = Status(StatusCode::UNAVAILABLE, "ftzgated is stopping");
      break;
    }
    if (ctx->IsCancelled()) break;
    // A revocation ends the subscription within kCancelPoll; the
    // reconnection is refused.
    if (peer->tls && authority_.revoked(peer->serial)) {
      result = Status(StatusCode::UNAUTHENTICATED, "certificate " + peer->serial + " is revoked");
      break;
    }
    if (sent_thresholds != thresholds_epoch_) {
      const uint64_t now_epoch = thresholds_epoch_;
      lock.unlock();
      pb::Update update;
      *update.mutable_thresholds() = states_for_dataplanes();
      open = writer->Write(update);
      lock.lock();
      sent_thresholds = now_epoch;
      if (!open) break;
    }
    if (record.restarts_requested != seen_restarts) {
      seen_restarts = record.restarts_requested;
      pb::Update update;
      update.mutable_restart()->set_requested_by(record.restart_requested_by);
      lock.unlock();
      open = writer->Write(update);
      lock.lock();
      if (!open) break;
    }
    if (epoch_ == seen_epoch || !running_) continue;
    seen_epoch = epoch_;
    const bundle::Commit running = *running_;
    if (running.generation == sent_generation) continue;
    lock.unlock();
    const Built built = bundle_for(running, req->platform());
    if (!*built) {
      // The commit validated this text: a build failure is a fault (a
      // platform this host cannot compile for, out of memory).
      (void)audit_("bundle_build", false,
                   ojson{{"generation", running.generation}, {"dataplane", id}, {"reason", built->error()}});
      lock.lock();
      result = Status(StatusCode::INTERNAL, built->error());
      break;
    }
    // A data plane that runs this very bundle already (a resync) is not sent
    // it again.
    const bool current = sent_generation == 0 && req->running_generation() == running.generation &&
                         req->running_sha256() == (*built)->body_sha256();
    pb::Update update;
    *update.mutable_bundle() = **built;
    if (!current && !writer->Write(update)) {
      lock.lock();
      break;
    }
    lock.lock();
    sent_generation = running.generation;
  }
  --dataplanes_[id].streams;
  return result;
}

Status DataplaneService::Ack(grpc::ServerContext* ctx, const pb::AckRequest* req, pb::AckReply*) {
  if (!valid_id(req->dataplane_id())) return {StatusCode::INVALID_ARGUMENT, "bad dataplane_id"};
  if (auto peer = admit(*ctx, req->dataplane_id(), "Ack"); !peer) return peer.error();
  const bool applied = req->result_case() == pb::AckRequest::kApplyUs;
  if (!applied && req->result_case() != pb::AckRequest::kNackReason)
    return {StatusCode::INVALID_ARGUMENT, "an Ack carries apply_us or nack_reason"};
  {
    std::lock_guard lock(mu_);
    auto it = dataplanes_.find(req->dataplane_id());
    if (it == dataplanes_.end() || it->second.streams == 0)
      return {StatusCode::FAILED_PRECONDITION, "data plane " + req->dataplane_id() + " is not subscribed"};
    Record& r = it->second;
    if (applied) {
      r.running_generation = req->generation();
      r.last_ack_ms = clock_ms_();
      r.last_apply_us = req->apply_us();
      r.nack_generation = 0;
      r.nack_reason.clear();
    } else {
      r.nack_generation = req->generation();
      r.nack_reason = config::utf8_prefix(req->nack_reason(), 4096);
    }
  }
  save_registry();
  ojson details{{"dataplane", req->dataplane_id()},
                {"generation", req->generation()},
                {"sha256", config::utf8_prefix(req->body_sha256(), 64)}};
  if (applied) {
    details["apply_us"] = req->apply_us();
  } else {
    details["reason"] = config::utf8_prefix(req->nack_reason(), 4096);
  }
  if (!audit_(applied ? "dataplane_ack" : "dataplane_nack", applied, std::move(details)))
    return {StatusCode::INTERNAL, "the audit record cannot be written"};
  return Status::OK;
}

Status DataplaneService::Report(grpc::ServerContext* ctx,
                                grpc::ServerReaderWriter<pb::ReportAck, pb::ReportBatch>* stream) {
  pb::ReportBatch batch;
  while (stream->Read(&batch)) {
    if (!valid_id(batch.dataplane_id())) return {StatusCode::INVALID_ARGUMENT, "bad dataplane_id"};
    // Every batch: its id must be the certificate's, which must not have
    // been revoked meanwhile.
    if (auto peer = admit(*ctx, batch.dataplane_id(), "Report"); !peer) return peer.error();
    if (batch.seq() == 0) {
      auto kept = keep_counters(batch);
      if (!kept) return kept.error();
      pb::ReportAck ack;
      ack.set_alerts_kept(*kept);
      if (!stream->Write(ack)) break;
      continue;
    }
    auto epoch = compliance_.apply(batch);
    if (!epoch) {
      (void)audit_("report_refused", false,
                   ojson{{"dataplane", batch.dataplane_id()},
                         {"seq", batch.seq()},
                         {"reason", epoch.error().error_message()}});
      return epoch.error();
    }
    // Acknowledged once on disk (the ledger is saved once a second): until
    // then the data plane keeps the batch.
    while (!compliance_.wait_saved(*epoch, kCancelPoll)) {
      std::lock_guard lock(mu_);
      if (stopping_) return {StatusCode::UNAVAILABLE, "ftzgated is stopping"};
      if (ctx->IsCancelled()) return Status::CANCELLED;
    }
    // In a fleet, acknowledged once in etcd too (decision 0023 §2).
    FleetHooks fleet;
    {
      std::lock_guard lock(mu_);
      fleet = fleet_;
    }
    if (fleet.store) {
      if (Status stored = fleet.store(batch); !stored.ok()) return stored;
    }
    pb::ReportAck ack;
    ack.set_seq(batch.seq());
    if (!stream->Write(ack)) break;
  }
  return Status::OK;
}

namespace {

// The counters of a DataplaneStats, by field (not uptime_s, flows_active:
// they are states, not counts).
constexpr std::array kCounters = {&pb::DataplaneStats::packets,       &pb::DataplaneStats::bytes,
                                  &pb::DataplaneStats::forwarded,     &pb::DataplaneStats::dropped,
                                  &pb::DataplaneStats::alerts,        &pb::DataplaneStats::detections,
                                  &pb::DataplaneStats::flows_created, &pb::DataplaneStats::alerts_unreported,
                                  &pb::DataplaneStats::flows_unnamed};
constexpr std::array kSetters = {
    &pb::DataplaneStats::set_packets,       &pb::DataplaneStats::set_bytes,
    &pb::DataplaneStats::set_forwarded,     &pb::DataplaneStats::set_dropped,
    &pb::DataplaneStats::set_alerts,        &pb::DataplaneStats::set_detections,
    &pb::DataplaneStats::set_flows_created, &pb::DataplaneStats::set_alerts_unreported,
    &pb::DataplaneStats::set_flows_unnamed};
static_assert(kCounters.size() == kSetters.size());

}  // namespace

namespace {

constexpr std::array kPortCounters = {&pb::PortStats::rx_packets, &pb::PortStats::rx_bytes,
                                      &pb::PortStats::tx_packets, &pb::PortStats::tx_bytes,
                                      &pb::PortStats::rx_missed,  &pb::PortStats::rx_errors,
                                      &pb::PortStats::tx_errors,  &pb::PortStats::rx_nombuf};
constexpr std::array kPortSetters = {&pb::PortStats::set_rx_packets, &pb::PortStats::set_rx_bytes,
                                     &pb::PortStats::set_tx_packets, &pb::PortStats::set_tx_bytes,
                                     &pb::PortStats::set_rx_missed,  &pb::PortStats::set_rx_errors,
                                     &pb::PortStats::set_tx_errors,  &pb::PortStats::set_rx_nombuf};
static_assert(kPortCounters.size() == kPortSetters.size());
constexpr std::array kPairCounters = {&pb::ZonePairStats::flows,  &pb::ZonePairStats::packets,
                                      &pb::ZonePairStats::bytes,  &pb::ZonePairStats::allowed,
                                      &pb::ZonePairStats::routed, &pb::ZonePairStats::blocked,
                                      &pb::ZonePairStats::reset};
constexpr std::array kPairSetters = {&pb::ZonePairStats::set_flows,  &pb::ZonePairStats::set_packets,
                                     &pb::ZonePairStats::set_bytes,  &pb::ZonePairStats::set_allowed,
                                     &pb::ZonePairStats::set_routed, &pb::ZonePairStats::set_blocked,
                                     &pb::ZonePairStats::set_reset};
static_assert(kPairCounters.size() == kPairSetters.size());

// Two runs' top talkers of a zone pair as one list: a client in both is
// summed; one missing from a full list may have had up to that list's
// smallest count there, which its error then includes. The heaviest
// kTopTalkers stay.
void merge_top_talkers(google::protobuf::RepeatedPtrField<pb::Talker>& into,
                       const google::protobuf::RepeatedPtrField<pb::Talker>& from) {
  constexpr int kTopTalkers = 8;  // report::FlowTally::kTopTalkers
  const auto floor_of = [](const google::protobuf::RepeatedPtrField<pb::Talker>& l) {
    uint64_t low = UINT64_MAX;
    for (const pb::Talker& t : l) low = std::min(low, t.bytes());
    return l.size() >= kTopTalkers ? low : 0;
  };
  const uint64_t into_floor = floor_of(into);
  const uint64_t from_floor = floor_of(from);
  std::map<std::string, pb::Talker> all;
  for (const pb::Talker& t : into) all[t.client()] = t;
  for (auto& entry : all) entry.second.set_error(entry.second.error() + from_floor);  // until seen in `from`
  for (const pb::Talker& t : from) {
    auto [at, added] = all.try_emplace(t.client(), t);
    pb::Talker& m = at->second;
    if (added) {
      m.set_error(t.error() + into_floor);
    } else {
      m.set_flows(m.flows() + t.flows());
      m.set_bytes(m.bytes() + t.bytes());
      m.set_error(m.error() - from_floor + t.error());
    }
  }
  std::vector<pb::Talker> ranked;
  ranked.reserve(all.size());
  for (auto& [client, t] : all) ranked.push_back(std::move(t));
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.bytes() > b.bytes(); });
  if (ranked.size() > kTopTalkers) ranked.resize(kTopTalkers);
  into.Clear();
  for (pb::Talker& t : ranked) *into.Add() = std::move(t);
}

}  // namespace

void add_counters(pb::DataplaneStats& into, const pb::DataplaneStats& from) {
  for (size_t i = 0; i < kCounters.size(); ++i)
    (into.*kSetters[i])((into.*kCounters[i])() + (from.*kCounters[i])());
  for (const auto& [key, count] : from.reasons()) (*into.mutable_reasons())[key] += count;
  for (const auto& [rule, n] : from.rule_flows()) (*into.mutable_rule_flows())[rule] += n;
  // Zone pairs by their two names.
  std::map<std::pair<std::string, std::string>, int> at;
  for (int i = 0; i < into.zone_pairs_size(); ++i)
    at[{into.zone_pairs(i).src_zone(), into.zone_pairs(i).dest_zone()}] = i;
  for (const pb::ZonePairStats& z : from.zone_pairs()) {
    const auto [where, added] = at.try_emplace({z.src_zone(), z.dest_zone()}, into.zone_pairs_size());
    pb::ZonePairStats* sum = nullptr;
    if (added) {
      sum = into.add_zone_pairs();
      sum->set_src_zone(z.src_zone());
      sum->set_dest_zone(z.dest_zone());
    } else {
      sum = into.mutable_zone_pairs(where->second);
    }
    for (size_t i = 0; i < kPairCounters.size(); ++i)
      (sum->*kPairSetters[i])((sum->*kPairCounters[i])() + (z.*kPairCounters[i])());
    merge_top_talkers(*sum->mutable_top_talkers(), z.top_talkers());
  }
  // Ports by name; role and link state are the newest's.
  for (const pb::PortStats& p : from.ports()) {
    pb::PortStats* sum = nullptr;
    for (pb::PortStats& q : *into.mutable_ports()) {
      if (q.name() == p.name()) sum = &q;
    }
    if (sum == nullptr) {
      sum = into.add_ports();
      sum->set_name(p.name());
    }
    sum->set_role(p.role());
    sum->set_link_up(p.link_up());
    for (size_t i = 0; i < kPortCounters.size(); ++i)
      (sum->*kPortSetters[i])((sum->*kPortCounters[i])() + (p.*kPortCounters[i])());
  }
}

tl::expected<uint32_t, Status> DataplaneService::keep_counters(const pb::ReportBatch& b) {
  if (b.tokens_size() != 0 || b.lost_size() != 0 || b.tenants_size() != 0 || b.zones_size() != 0 ||
      (!b.has_stats() && b.alerts_size() == 0))
    return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT,
                                 "a report batch without seq carries counters or alerts and nothing else"});
  const pb::DataplaneStats& stats = b.stats();
  if (stats.reasons_size() > kMaxReasons)
    return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT,
                                 "counters of more than " + std::to_string(kMaxReasons) + " reasons"});
  for (const auto& [key, count] : stats.reasons()) {
    if (key.empty() || key.size() > 64)
      return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT,
                                   "a reason key of 1 to 64 bytes, not " + std::to_string(key.size())});
  }
  if (stats.ports_size() > kMaxPorts)
    return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT,
                                 "counters of more than " + std::to_string(kMaxPorts) + " ports"});
  for (const pb::PortStats& p : stats.ports()) {
    if (p.name().empty() || p.name().size() > kMaxPortName || p.role().size() > kMaxPortName)
      return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT, "a port name of 1 to 64 bytes"});
  }
  if (stats.zone_pairs_size() > kMaxNamedCounts || stats.rule_flows_size() > kMaxNamedCounts)
    return tl::unexpected(
        Status{StatusCode::INVALID_ARGUMENT,
               "flows of more than " + std::to_string(kMaxNamedCounts) + " zone pairs or rules"});
  for (const pb::ZonePairStats& z : stats.zone_pairs()) {
    if (z.src_zone().size() > kMaxCountedName || z.dest_zone().size() > kMaxCountedName)
      return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT, "a zone name of more than 256 bytes"});
    if (z.top_talkers_size() > 8)
      return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT, "more than 8 top talkers of a zone pair"});
    for (const pb::Talker& t : z.top_talkers()) {
      if (t.client().size() > 64)
        return tl::unexpected(
            Status{StatusCode::INVALID_ARGUMENT, "a talker's address of more than 64 bytes"});
    }
  }
  for (const auto& [rule, n] : stats.rule_flows()) {
    if (rule.size() > kMaxCountedName)
      return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT, "a rule name of more than 256 bytes"});
  }
  if (b.alerts_size() > kMaxAlertsPerBatch)
    return tl::unexpected(Status{StatusCode::INVALID_ARGUMENT,
                                 "more than " + std::to_string(kMaxAlertsPerBatch) + " alerts in one batch"});
  for (const pb::Alert& a : b.alerts()) {
    if (!alert_in_bounds(a))
      return tl::unexpected(
          Status{StatusCode::INVALID_ARGUMENT,
                 "an alert with a text of more than " + std::to_string(kMaxAlertText) + " bytes"});
  }
  std::lock_guard lock(mu_);
  auto it = dataplanes_.find(b.dataplane_id());
  // Kept for data planes the registry knows (its bound holds); a data
  // plane that exits reports its last alerts after its subscription ended.
  // An unknown one: the counters and alerts are dropped, not its Report
  // stream (its tokens travel on it too); the next counters come in 5 s,
  // the alerts are acknowledged as not kept (the data plane counts them).
  if (it == dataplanes_.end()) return 0;
  const int64_t now_ms = clock_ms_();
  if (b.has_stats()) {
    // Another run of the data plane (boot_id): its last run's counters are
    // carried.
    if (it->second.stats_ms != 0 && it->second.stats_boot_id != b.boot_id())
      add_counters(it->second.carried, it->second.stats);
    if (it->second.stats_ms == 0 || it->second.stats_boot_id != b.boot_id()) ++it->second.runs;
    it->second.stats = stats;
    it->second.stats_boot_id = b.boot_id();
    it->second.stats_ms = now_ms;
  }
  for (const pb::Alert& a : b.alerts()) {
    pb::AlertRecord& r = alerts_.emplace_back();
    r.set_dataplane(b.dataplane_id());
    r.set_received_unix_s(now_ms / 1000);
    *r.mutable_alert() = a;
    ++alerts_received_;
    if (alert_sink_) alert_sink_(r);
  }
  while (alerts_.size() > kAlertsKept) {
    alerts_.pop_front();
    ++alerts_dropped_;
  }
  return static_cast<uint32_t>(b.alerts_size());
}

void DataplaneService::show_alerts(const pb::ShowAlertsRequest& req, pb::ShowAlertsReply* reply) {
  std::lock_guard lock(mu_);
  const size_t want = req.last() == 0 ? 50 : req.last();
  std::vector<const pb::AlertRecord*> picked;
  for (auto it = alerts_.rbegin(); it != alerts_.rend() && picked.size() < want; ++it) {
    if (req.dataplane().empty() || it->dataplane() == req.dataplane()) picked.push_back(&*it);
  }
  for (auto it = picked.rbegin(); it != picked.rend(); ++it) *reply->add_alerts() = **it;
  reply->set_received(alerts_received_);
  reply->set_dropped(alerts_dropped_);
}

void DataplaneService::show(pb::ShowDataplanesReply* reply) {
  std::lock_guard lock(mu_);
  const int64_t now_ms = clock_ms_();
  const uint64_t running = running_ ? running_->generation : 0;
  reply->set_running_generation(running);
  for (const auto& [id, r] : dataplanes_) {
    pb::DataplaneInfo* d = reply->add_dataplanes();
    d->set_id(id);
    d->set_host(r.host);
    d->set_connected(r.streams > 0);
    d->set_running_generation(r.running_generation);
    d->set_last_ack_unix_s(r.last_ack_ms / 1000);
    d->set_last_apply_us(r.last_apply_us);
    d->set_runs(r.runs);
    if (r.stats_ms != 0) {
      *d->mutable_stats() = r.stats;
      d->set_stats_unix_s(r.stats_ms / 1000);
      pb::DataplaneStats& totals = *d->mutable_totals();
      totals = r.carried;
      add_counters(totals, r.stats);
      totals.set_uptime_s(r.stats.uptime_s());
      totals.set_flows_active(r.stats.flows_active());
      totals.set_flows_capacity(r.stats.flows_capacity());
      totals.set_scan_states_active(r.stats.scan_states_active());
      totals.set_scan_states_capacity(r.stats.scan_states_capacity());
    }
    const bool refused = r.nack_generation == running && running != 0;
    if (refused) d->set_nack_reason(r.nack_reason);
    if (r.running_generation != running && running_) {
      d->set_lag_s(std::max<int64_t>(0, now_ms / 1000 - running_->committed_unix_s));
    }
    if (r.streams == 0) {
      d->set_state("disconnected");
    } else if (refused) {
      d->set_state("refused");
    } else if (r.running_generation == running) {
      d->set_state("running");
    } else {
      d->set_state(r.running_generation == 0 ? "waiting" : "behind");
    }
  }
}

Status DataplaneService::request_restart(const std::string& id, const std::string& user) {
  std::lock_guard lock(mu_);
  const auto it = dataplanes_.find(id);
  if (it == dataplanes_.end()) return {StatusCode::NOT_FOUND, "no data plane " + config::utf8_prefix(id, 64)};
  if (it->second.streams == 0)
    return {StatusCode::FAILED_PRECONDITION, "data plane " + id + " is not connected: nothing to send it"};
  ++it->second.restarts_requested;
  it->second.restart_requested_by = user;
  changed_.notify_all();
  return Status::OK;
}

}  // namespace ftz::daemon
