#include "ftz/fleet/member.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "ftz/keys/encoding.hpp"

namespace ftz::fleet {

namespace {

std::string nonce() {
  unsigned char raw[12];
  if (RAND_bytes(raw, sizeof raw) != 1)
    return std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  return keys::base64_encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

constexpr auto kRetry = std::chrono::seconds(1);
constexpr auto kPoll = std::chrono::milliseconds(250);
// The commit point is read again this often while watching: a watch that
// went quiet without ending, or an event whose configuration could not be
// read, costs at most this long.
constexpr auto kResync = std::chrono::seconds(10);
// A fleet commit refused here is tried again after this long (a passing
// local failure: a full disk, an audit log that refused its record).
constexpr auto kRetryRefused = std::chrono::seconds(60);
// alive/MEMBER lives on a lease of kAliveTtl seconds, kept alive every
// kReport: a member that stops or loses etcd is shown as not connected
// within kAliveTtl. Keep-alives are not writes: etcd's revision history
// grows only when a status changes.
constexpr int64_t kAliveTtl = 5;
constexpr auto kReport = std::chrono::seconds(1);
constexpr size_t kMaxUnanchored = 64;

int64_t wall_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

FleetMember::FleetMember(std::unique_ptr<Etcd> etcd, std::string fleet, std::string member, Local local)
    : etcd_(std::move(etcd)),
      fleet_(std::move(fleet)),
      member_(std::move(member)),
      keys_(fleet_),
      local_(std::move(local)) {}

Result<std::unique_ptr<FleetMember>> FleetMember::join(const EtcdOptions& etcd, const std::string& fleet,
                                                       const std::string& member, Local local) {
  if (!valid_name(fleet))
    return tl::unexpected("--fleet " + fleet + ": 1-63 of [a-z0-9-], starting with a letter");
  if (!valid_name(member))
    return tl::unexpected("--fleet-member " + member + ": 1-63 of [a-z0-9-], starting with a letter");
  auto client = Etcd::connect(etcd);
  if (!client) return tl::unexpected(client.error());
  return std::unique_ptr<FleetMember>(new FleetMember(std::move(*client), fleet, member, std::move(local)));
}

void FleetMember::start() {
  if (!follower_.joinable()) follower_ = std::thread([this] { follow(); });
}

FleetMember::~FleetMember() {
  stop_.store(true);
  if (follower_.joinable()) follower_.join();
  // Not connected from now on, not after the lease's TTL.
  if (lease_ != 0) (void)etcd_->revoke_lease(lease_);
}

Result<void> FleetMember::bootstrap() {
  const uint64_t generation = local_.running().first;
  auto config = local_.running_configuration();
  if (!config) return tl::unexpected(config.error());
  // The hash of the configuration read, not a second read's: a commit here
  // between the two would otherwise store one configuration under
  // another's hash (which every member would then refuse).
  const std::string sha = store::content_hash(*config);
  FleetCommit c;
  c.generation = generation;
  c.config_sha256 = sha;
  c.member = member_;
  c.user = "ftzgated";
  c.comment = "the fleet's first configuration";
  c.nonce = nonce();
  c.time_s = wall_s();
  c.signature = local_.sign(signed_content(c));
  auto won = etcd_->put_if(
      keys_.running(), 0,
      {{keys_.running(), format_commit(c)}, {keys_.config(sha), format_configuration(*config)}});
  if (!won) return tl::unexpected(won.error());
  if (*won) {
    fleet_generation_.store(generation);
    local_.runs(generation, sha);
  }
  return {};
}

bool FleetMember::take(const std::string& text) {
  auto c = parse_commit(text, keys_.running());
  if (!c) {
    local_.note("fleet_commit_refused", false, c.error());
    return true;
  }
  if (c->generation > fleet_generation_.load()) fleet_generation_.store(c->generation);
  confirm_by_.store(c->confirm_by_s);
  if (local_.running().second == c->config_sha256) {
    local_.runs(c->generation, c->config_sha256);
    return true;
  }
  const auto now = std::chrono::steady_clock::now();
  if (refused_ && refused_->generation == c->generation && refused_->sha256 == c->config_sha256 &&
      now < refused_->retry_at)
    return true;
  auto value = etcd_->get(keys_.config(c->config_sha256));
  if (!value) return false;
  if (!value->has_value()) {
    local_.note("fleet_commit_refused", false, keys_.config(c->config_sha256) + ": missing");
    refused_ = Refused{c->generation, c->config_sha256, now + kRetryRefused};
    return true;
  }
  auto config = parse_configuration((*value)->value, c->config_sha256, keys_.config(c->config_sha256));
  // Only what a trusted member signed: whoever else can write to etcd
  // cannot set this member's policy.
  auto signer = local_.verify(c->signature, signed_content(*c));
  Result<void> applied;
  if (!config)
    applied = tl::unexpected(config.error());
  else if (!signer)
    applied = tl::unexpected("not signed by a trusted member key: " + signer.error());
  else
    applied = local_.apply(*c, *signer, *config);
  if (!applied) {
    // Said once a minute at most: tried again then, or when the fleet moves on.
    refused_ = Refused{c->generation, c->config_sha256, now + kRetryRefused};
    local_.note(
        "fleet_commit_refused", false,
        "generation " + std::to_string(c->generation) + " from " + c->member + ": " + applied.error());
  }
  return true;
}

void FleetMember::report() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_report_) return;
  next_report_ = now + kReport;
  if (lease_ != 0) {
    // An expired lease (etcd was away longer than its TTL) is taken again;
    // a failed keep-alive is tried again at the next report.
    if (auto ttl = etcd_->keep_alive(lease_); ttl && *ttl == 0) lease_ = 0;
  }
  if (lease_ == 0) {
    auto lease = etcd_->grant_lease(kAliveTtl);
    if (!lease) return;
    if (!etcd_->put(keys_.alive(member_), "", *lease)) {
      (void)etcd_->revoke_lease(*lease);
      return;
    }
    lease_ = *lease;
  }
  anchor();
  roll_back_unconfirmed();
  MemberStatus s = local_.status();
  s.member = member_;
  if (reported_ && reported_->same_state(s)) return;
  s.time_s = wall_s();
  if (etcd_->put(keys_.status(member_), format_status(s))) reported_ = s;
}

void FleetMember::anchor() {
  if (local_.checkpoints) {
    for (auto& [seq, hash] : local_.checkpoints())
      unanchored_.push_back({member_, seq, std::move(hash), wall_s()});
  }
  if (unanchored_.size() > kMaxUnanchored)
    unanchored_.erase(unanchored_.begin(), unanchored_.end() - static_cast<std::ptrdiff_t>(kMaxUnanchored));
  while (!unanchored_.empty()) {
    const AuditAnchor& a = unanchored_.front();
    const std::string key = keys_.audit(member_, a.seq);
    // Written once: an anchor is never rewritten, also not by this member.
    if (!etcd_->put_if(key, 0, {{key, format_anchor(a), 0}})) return;
    unanchored_.erase(unanchored_.begin());
  }
}

void FleetMember::roll_back_unconfirmed() {
  const int64_t by = confirm_by_.load();
  if (by == 0 || wall_s() <= by) return;
  auto now = etcd_->get(keys_.running());
  if (!now || !now->has_value()) return;
  auto c = parse_commit((*now)->value, keys_.running());
  if (!c) return;
  confirm_by_.store(c->confirm_by_s);
  if (c->confirm_by_s == 0 || wall_s() <= c->confirm_by_s) return;
  // Only what a member signed is rolled back (a forged deadline in etcd
  // does not move the fleet).
  if (!local_.verify(c->signature, signed_content(*c))) return;
  FleetCommit back;
  back.generation = c->generation + 1;
  back.config_sha256 = c->previous_sha256;
  back.member = member_;
  back.user = "ftzgated";
  back.time_s = wall_s();
  back.comment = "generation " + std::to_string(c->generation) + " (" + c->user + " on " + c->member +
                 ") was not confirmed in time: the fleet goes back to what it ran before";
  back.nonce = nonce();
  back.signature = local_.sign(signed_content(back));
  // The configuration is in etcd already (content-addressed, never
  // removed): only the commit point moves, if no other member moved it.
  auto won =
      etcd_->put_if(keys_.running(), (*now)->mod_revision, {{keys_.running(), format_commit(back), 0}});
  if (won && *won) {
    local_.note("fleet_rollback", true,
                "generation " + std::to_string(c->generation) + " not confirmed by " +
                    std::to_string(c->confirm_by_s) + ": the fleet runs " + c->previous_sha256.substr(0, 12) +
                    " again as generation " + std::to_string(back.generation));
  }
}

Result<std::optional<uint64_t>> FleetMember::confirm(const std::string& user, int64_t now_s) {
  auto now = etcd_->get(keys_.running());
  if (!now) return tl::unexpected(now.error());
  if (!now->has_value()) return std::optional<uint64_t>{};
  auto c = parse_commit((*now)->value, keys_.running());
  if (!c) return tl::unexpected(c.error());
  if (c->confirm_by_s == 0) return std::optional<uint64_t>{};
  FleetCommit done = *c;
  done.confirm_by_s = 0;
  done.previous_sha256.clear();
  done.member = member_;
  done.user = user;
  done.time_s = now_s;
  done.comment =
      "confirms generation " + std::to_string(c->generation) + " (" + c->user + " on " + c->member + ")";
  done.nonce = nonce();
  done.signature = local_.sign(signed_content(done));
  auto won =
      etcd_->put_if(keys_.running(), (*now)->mod_revision, {{keys_.running(), format_commit(done), 0}});
  if (!won) return tl::unexpected(won.error());
  if (!*won)
    return tl::unexpected(std::string("the fleet's commit point moved meanwhile: show fleet, then again"));
  confirm_by_.store(0);
  return std::optional<uint64_t>{c->generation};
}

Result<std::vector<AuditAnchor>> FleetMember::anchors() {
  auto listing = etcd_->list(keys_.audit());
  if (!listing) return tl::unexpected(listing.error());
  std::vector<AuditAnchor> out;
  out.reserve(listing->kvs.size());
  for (const KeyValue& kv : listing->kvs) {
    auto a = parse_anchor(kv.value, kv.key);
    if (!a) return tl::unexpected(a.error());
    if (kv.key != keys_.audit(a->member, a->seq))
      return tl::unexpected(kv.key + ": the anchor of " + a->member);
    out.push_back(std::move(*a));
  }
  return out;
}

Result<FleetMember::View> FleetMember::view(int64_t now_s) {
  View v;
  auto running = etcd_->get(keys_.running());
  if (!running) return tl::unexpected(running.error());
  if (running->has_value()) {
    auto c = parse_commit((*running)->value, keys_.running());
    if (!c) return tl::unexpected(c.error());
    v.running = std::move(*c);
  }
  auto statuses = etcd_->list(keys_.statuses());
  if (!statuses) return tl::unexpected(statuses.error());
  auto alive = etcd_->list(keys_.alive());
  if (!alive) return tl::unexpected(alive.error());
  std::set<std::string> living;
  for (const KeyValue& kv : alive->kvs) living.insert(kv.key.substr(keys_.alive().size()));
  v.members.reserve(statuses->kvs.size());
  for (const KeyValue& kv : statuses->kvs) {
    auto s = parse_status(kv.value, kv.key);
    if (!s) return tl::unexpected(s.error());
    if (kv.key != keys_.status(s->member)) return tl::unexpected(kv.key + ": the status of " + s->member);
    MemberView m{std::move(*s), false, 0};
    m.alive = living.contains(m.status.member);
    if (v.running && m.status.running_sha256 != v.running->config_sha256)
      m.lag_s = std::max<int64_t>(0, now_s - v.running->time_s);
    v.members.push_back(std::move(m));
  }
  return v;
}

void FleetMember::follow() {
  bool joined = false;
  while (!stop_.load()) {
    // Catch up with the commit point, then watch it from there.
    int64_t now_revision = 0;
    auto now = etcd_->get(keys_.running(), &now_revision);
    if (now && !now->has_value() && !joined) {
      // The fleet's first member: its running configuration is the fleet's.
      if (auto b = bootstrap(); !b) std::this_thread::sleep_for(kRetry);
      continue;
    }
    if (!now || (now->has_value() && !take((*now)->value))) {
      if (connected_.exchange(false))
        local_.note("fleet_etcd_lost", false, now ? "etcd failed" : now.error());
      std::this_thread::sleep_for(kRetry);
      continue;
    }
    if (!connected_.exchange(true)) {
      local_.note(joined ? "fleet_etcd_back" : "fleet_joined", true,
                  "fleet " + fleet_ + " as " + member_ + " via " + etcd_->endpoint() + ", fleet generation " +
                      std::to_string(fleet_generation_.load()));
    }
    joined = true;
    // From the store's revision at the read (not the key's, which etcd
    // may have compacted away since it was written).
    auto watch = etcd_->watch(keys_.running(), now_revision + 1);
    if (!watch) {
      std::this_thread::sleep_for(kRetry);
      continue;
    }
    auto resync_at = std::chrono::steady_clock::now() + kResync;
    bool fine = true;
    while (fine && !stop_.load()) {
      report();
      if (std::chrono::steady_clock::now() >= resync_at) {
        // The watch's safety net: the commit point read again.
        auto again = etcd_->get(keys_.running());
        fine = again && (!again->has_value() || take((*again)->value));
        resync_at = std::chrono::steady_clock::now() + kResync;
        continue;
      }
      auto batch = (*watch)->next(kPoll);
      if (!batch) break;  // the stream ended: catch up again
      if (!batch->has_value()) continue;
      for (const WatchEvent& e : **batch) {
        if (e.kv.key == keys_.running() && e.type == WatchEvent::Type::kPut) fine = fine && take(e.kv.value);
      }
    }
    // A broken stream, etcd not answering or a configuration it did not
    // give: catch up again after a pause, never in a tight loop.
    if (!stop_.load()) std::this_thread::sleep_for(kRetry);
  }
}

Result<FleetMember::Published> FleetMember::publish(uint64_t local_generation, const std::string& local_sha,
                                                    const store::Configuration& config,
                                                    const std::string& user, const std::string& comment,
                                                    int64_t now_s, std::optional<int64_t> confirm_by) {
  auto now = etcd_->get(keys_.running());
  if (!now) return tl::unexpected(now.error());
  Published p;
  FleetCommit c;
  c.generation = local_generation + 1;
  int64_t revision = 0;
  if (now->has_value()) {
    auto fleet = parse_commit((*now)->value, keys_.running());
    if (!fleet) return tl::unexpected(fleet.error());
    revision = (*now)->mod_revision;
    if (fleet->config_sha256 != local_sha) {
      p.outcome = Outcome::kBehind;
      p.generation = fleet->generation;
      p.member = fleet->member;
      return p;
    }
    c.generation = std::max(c.generation, fleet->generation + 1);
  }
  c.config_sha256 = store::content_hash(config);
  c.member = member_;
  c.user = user;
  c.time_s = now_s;
  c.comment = comment;
  c.nonce = nonce();
  if (confirm_by) {
    c.confirm_by_s = *confirm_by;
    c.previous_sha256 = local_sha;  // the fleet's: publish() goes on only when this member runs it
  }
  c.signature = local_.sign(signed_content(c));
  auto won = etcd_->put_if(
      keys_.running(), revision,
      {{keys_.running(), format_commit(c)}, {keys_.config(c.config_sha256), format_configuration(config)}});
  if (!won) return tl::unexpected(won.error());
  if (*won) {
    p.outcome = Outcome::kWon;
    p.generation = c.generation;
    fleet_generation_.store(c.generation);
    confirm_by_.store(c.confirm_by_s);
    return p;
  }
  auto after = etcd_->get(keys_.running());
  p.outcome = Outcome::kLost;
  if (after && after->has_value()) {
    if (auto fleet = parse_commit((*after)->value, keys_.running())) {
      p.generation = fleet->generation;
      p.member = fleet->member;
    }
  }
  return p;
}

}  // namespace ftz::fleet
