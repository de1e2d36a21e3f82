#include "ftz/controller/controller_link.hpp"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <thread>

#include "ftz/base/atomic_file.hpp"
#include "ftz/config/yaml_util.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/pki/authority.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"

namespace ftz::controller {

namespace {

namespace pb = ftzgate::v1;

constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(5);
constexpr auto kAckDeadline = std::chrono::seconds(5);
constexpr auto kWaitingNotice = std::chrono::seconds(10);
// Between looks at the compliance outbox when nothing was sent.
constexpr auto kReportEvery = std::chrono::milliseconds(500);
constexpr auto kStatsEvery = std::chrono::seconds(5);
// A kept outbox holds at most ReportOutbox's capacity (1 Mi records of
// about 40 bytes of protobuf).
constexpr size_t kMaxOutboxFileBytes = size_t{128} << 20;
// What is left in the outbox at exit is sent for this long.
constexpr auto kDrainAtExit = std::chrono::seconds(5);
// How stale the outbox's file may be while it changes (a crash loses at
// most this much of what ftzgated has not acknowledged).
constexpr auto kMirrorEvery = std::chrono::seconds(5);
// Alerts waiting for ftzgated (about 200 bytes each), and per batch: the
// bounds ftzgated checks (docs/controlplane.md "Alerts").
constexpr size_t kMaxAlertsQueued = 4096;
constexpr int kMaxAlertsPerBatch = 512;

engine::ThresholdState from_proto(pb::ThresholdState s) {
  switch (s) {
    case pb::THRESHOLD_STATE_WARN:
      return engine::ThresholdState::kWarn;
    case pb::THRESHOLD_STATE_EXCEEDED:
      return engine::ThresholdState::kExceeded;
    default:
      return engine::ThresholdState::kNormal;
  }
}

pb::DataClass to_proto(engine::DataClass c) {
  return static_cast<pb::DataClass>(static_cast<int>(c) + 1);
}

pb::ReportBatch to_proto(const engine::compliance::OutboxBatch& b, const std::string& id, uint64_t boot_id,
                         uint64_t fingerprint) {
  pb::ReportBatch out;
  out.set_dataplane_id(id);
  out.set_boot_id(boot_id);
  out.set_seq(b.seq);
  out.set_key_fingerprint(fingerprint);
  for (const std::string& t : b.tenants) out.add_tenants(t);
  for (const std::string& z : b.zones) out.add_zones(z);
  for (const engine::compliance::TokenRecord& r : b.records) {
    pb::Token* t = out.add_tokens();
    t->set_tenant(r.tenant);
    t->set_dest_zone(r.dest_zone);
    t->set_data_class(to_proto(r.data_class));
    t->set_id_type(r.id_type);
    t->set_token(r.token);
    t->set_ts_unix_ns(r.ts_ns);
  }
  for (const engine::compliance::LostRecords& l : b.lost) {
    pb::LostTokens* x = out.add_lost();
    if (l.tenant == engine::compliance::ComplianceLedger::kAnyTenant) {
      x->set_any_tenant(true);
    } else {
      x->set_tenant(l.tenant);
    }
    x->set_data_class(to_proto(l.data_class));
    x->set_records(l.records);
  }
  return out;
}

void to_proto(const Stats& s, uint64_t alerts_unreported, pb::DataplaneStats* x) {
  x->set_uptime_s(s.uptime_s);
  x->set_packets(s.packets);
  x->set_bytes(s.bytes);
  x->set_forwarded(s.forwarded);
  x->set_dropped(s.dropped);
  x->set_flows_active(s.flows_active);
  x->set_flows_capacity(s.flows_capacity);
  x->set_scan_states_active(s.scan_states_active);
  x->set_scan_states_capacity(s.scan_states_capacity);
  for (const auto& [names, n] : s.flows.pairs) {
    pb::ZonePairStats* z = x->add_zone_pairs();
    z->set_src_zone(names.first);
    z->set_dest_zone(names.second);
    z->set_flows(n.flows);
    z->set_packets(n.packets);
    z->set_bytes(n.bytes);
    z->set_allowed(n.by_action[static_cast<size_t>(engine::Action::kAllow)]);
    z->set_routed(n.by_action[static_cast<size_t>(engine::Action::kRoute)]);
    z->set_blocked(n.by_action[static_cast<size_t>(engine::Action::kBlock)]);
    z->set_reset(n.by_action[static_cast<size_t>(engine::Action::kReset)]);
    std::vector<report::FlowTally::Talker> top(n.top.begin(),
                                               n.top.begin() + static_cast<std::ptrdiff_t>(n.talkers));
    std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
    for (const auto& t : top) {
      pb::Talker* talker = z->add_top_talkers();
      talker->set_client(engine::format_ip(t.client));
      talker->set_flows(t.flows);
      talker->set_bytes(t.bytes);
      talker->set_error(t.error);
    }
  }
  for (const auto& [rule, n] : s.flows.rules) (*x->mutable_rule_flows())[rule] = n;
  x->set_flows_unnamed(s.flows.overflow);
  x->set_flows_created(s.flows_created);
  x->set_alerts(s.alerts);
  x->set_detections(s.detections);
  for (const auto& [key, count] : s.reasons) (*x->mutable_reasons())[key] += count;
  x->set_alerts_unreported(alerts_unreported);
  for (const Stats::Port& p : s.ports) {
    pb::PortStats* y = x->add_ports();
    y->set_name(p.name);
    y->set_role(p.role);
    y->set_link_up(p.link_up);
    y->set_rx_packets(p.rx_packets);
    y->set_rx_bytes(p.rx_bytes);
    y->set_tx_packets(p.tx_packets);
    y->set_tx_bytes(p.tx_bytes);
    y->set_rx_missed(p.rx_missed);
    y->set_rx_errors(p.rx_errors);
    y->set_tx_errors(p.tx_errors);
    y->set_rx_nombuf(p.rx_nombuf);
  }
}

// An alert event as ftzgated keeps it: the EVE alert's fields, every name
// masked as the EVE file has it (engine::json_text).
pb::Alert to_proto(const engine::Event& e, const engine::PolicyGeneration& gen) {
  const engine::AlertEventData& a = e.alert;
  const auto& sigs = gen.spec().signatures;
  const engine::SignatureSpec* sig = a.signature < sigs.size() ? &sigs[a.signature] : nullptr;
  pb::Alert out;
  out.set_ts_unix_ns(e.ts_ns);
  out.set_flow_id(e.flow_id);
  out.set_src_ip(engine::format_ip(e.src));
  out.set_src_port(e.src_port);
  out.set_dest_ip(engine::format_ip(e.dst));
  out.set_dest_port(e.dst_port);
  out.set_ip_proto(e.proto);
  out.set_src_zone(engine::json_text(gen.zone_name(e.src_zone)));
  out.set_dest_zone(engine::json_text(gen.zone_name(e.dst_zone)));
  if (e.tenant != engine::kNoIndex) out.set_tenant(engine::json_text(gen.tenant_name(e.tenant)));
  out.set_verdict(static_cast<pb::Action>(static_cast<int>(e.verdict.action) + 1));
  out.set_rule(e.rule == engine::kNoIndex ? "default" : engine::json_text(gen.rule_name(e.rule)));
  if (sig != nullptr) {
    out.set_signature_id(sig->sid);
    out.set_signature(engine::json_text(sig->name));
  }
  out.set_data_class(to_proto(a.category));
  out.set_masked(engine::json_text(a.masked.view()));
  out.set_token(a.token);
  out.set_to_server(a.to_server);
  out.set_stream_offset(a.stream_offset);
  return out;
}

// A kept outbox file (the proto of to_proto() above, seq 0) back as a batch;
// a token of a class this build does not know counts as lost PI (fail
// closed).
engine::compliance::OutboxBatch from_proto(const pb::ReportBatch& in) {
  engine::compliance::OutboxBatch out;
  out.tenants.assign(in.tenants().begin(), in.tenants().end());
  out.zones.assign(in.zones().begin(), in.zones().end());
  const auto data_class = [](int c) -> std::optional<engine::DataClass> {
    if (c < 1 || c > static_cast<int>(engine::DataClass::kCount)) return std::nullopt;
    return static_cast<engine::DataClass>(c - 1);
  };
  for (const pb::Token& t : in.tokens()) {
    const auto c = data_class(t.data_class());
    if (!c || t.id_type() > 255) {
      out.lost.push_back({t.tenant(), engine::DataClass::kPi, 1});
      continue;
    }
    out.records.push_back(
        {t.token(), t.ts_unix_ns(), t.tenant(), t.dest_zone(), *c, static_cast<uint8_t>(t.id_type())});
  }
  for (const pb::LostTokens& l : in.lost()) {
    const uint32_t tenant = l.whom_case() == pb::LostTokens::kTenant
                                ? l.tenant()
                                : engine::compliance::ComplianceLedger::kAnyTenant;
    out.lost.push_back({tenant, data_class(l.data_class()).value_or(engine::DataClass::kPi), l.records()});
  }
  return out;
}

uint64_t random_boot_id() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// The generation an unopened bundle claims, for the NACK only (nothing of
// it is trusted).
uint64_t claimed_generation(const pb::SignedBundle& s) {
  pb::PolicyBundle b;
  return b.ParseFromString(s.body()) ? b.generation() : 0;
}

}  // namespace

struct ControllerLink::Impl {
  struct Report {
    uint64_t generation = 0;
    std::string sha256;
    std::optional<uint64_t> apply_us;  // else a NACK with `reason`
    std::string reason;
    std::string store;  // the bundle to store first (applied ones)
  };

  LinkOptions options;
  bundle::TrustedKeys trusted;
  pb::HyperscanPlatform platform = bundle::host_platform();
  std::string host = host_name();
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Dataplane::Stub> stub;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::optional<Incoming> pending;
  std::deque<Report> reports;
  grpc::ClientContext* stream_ctx = nullptr;  // the open Subscribe, for stop()
  uint64_t running_gen = 0;
  std::string running_sha;
  std::atomic<uint64_t> nacks{0};
  std::atomic<bool> restart{false};
  // Compliance: the tenants' states from ftzgated, the outbox to empty.
  using States = std::vector<std::pair<std::string, engine::ThresholdState>>;
  std::optional<States> thresholds;
  std::shared_ptr<engine::compliance::ReportOutbox> outbox;
  uint64_t key_fingerprint = 0;
  const uint64_t boot_id = random_boot_id();
  grpc::ClientContext* report_ctx = nullptr;  // the open Report stream, for the destructor
  bool tokens_done = false;
  bool abandon = false;  // the destructor waited kDrainAtExit: stop sending
  // The outbox's file as mirror_outbox() last wrote it (token thread only).
  uint64_t mirrored_version = 0;
  std::chrono::steady_clock::time_point mirrored_at{};
  bool mirror_failed = false;
  std::optional<Stats> stats;  // the newest counters, not sent yet
  std::chrono::steady_clock::time_point stats_sent_at{};
  bool counters_refused = false;  // ftzgated is older than counters
  bool alerts_refused = false;    // or than alerts
  // Alerts not yet acknowledged, oldest first: a batch takes copies of the
  // first ones and they go when ftzgated acknowledges it.
  std::deque<pb::Alert> alerts;
  uint64_t alerts_unreported = 0;

  std::thread subscriber;
  std::thread reporter;
  std::thread token_reporter;

  std::string stored_path() const { return options.state_dir + "/bundle"; }
  // What the last run could not hand over at its exit (a ReportBatch).
  std::string outbox_path() const { return options.state_dir + "/outbox"; }
  std::string key_path() const { return options.state_dir + "/token.key"; }

  // Opens a bundle as it arrived (wire or disk), the compliance paths
  // pointed at the state directory.
  tl::expected<Incoming, std::string> open(const pb::SignedBundle& s) {
    auto opened = bundle::open_bundle(s, trusted, platform);
    if (!opened) return tl::unexpected(opened.error());
    // Counting is always on under a controller, with ftzgated's key.
    engine::ComplianceSpec& c = opened->config.spec.compliance;
    c.key_file = key_path();
    c.state_file = options.state_dir + "/compliance.state";
    return Incoming{std::move(*opened), s.SerializeAsString(), std::chrono::steady_clock::now()};
  }

  void report(Report r) {
    {
      std::lock_guard lock(mu);
      reports.push_back(std::move(r));
    }
    cv.notify_all();
  }

  void on_bundle(const pb::SignedBundle& s) {
    {
      std::lock_guard lock(mu);
      if (running_gen != 0 && s.body_sha256() == running_sha) return;  // a resend of what runs
    }
    auto in = open(s);
    if (!in) {
      ++nacks;
      const uint64_t g = claimed_generation(s);
      std::fprintf(stderr, "ftzgate-dp: bundle (generation %llu by its own account) refused: %s\n",
                   static_cast<unsigned long long>(g), in.error().c_str());
      report(Report{g, s.body_sha256(), std::nullopt, in.error(), {}});
      return;
    }
    {
      std::lock_guard lock(mu);
      pending = std::move(*in);
    }
    cv.notify_all();
  }

  // ftzgated's token key, kept for this run and the next (a headless start
  // counts with it too). Written before any bundle of the subscription is
  // opened, so the compliance desk made from the first bundle finds it.
  void on_token_key(const pb::TokenKey& k) {
    const std::string& want = k.key_file();
    if (want.empty() || want.size() > 4096) {
      std::fputs("ftzgate-dp: warning: the token key from the controller is malformed: not kept\n", stderr);
      return;
    }
    const auto have = config::read_regular_file(key_path(), 4096);
    if (have && *have == want) return;
    if (auto w = base::write_file_atomically(key_path(), want, 0600); !w) {
      std::fprintf(stderr, "ftzgate-dp: warning: cannot keep the controller's token key: %s\n",
                   w.error().c_str());
      return;
    }
    bool running;
    {
      std::lock_guard lock(mu);
      running = outbox != nullptr;
    }
    if (running) {
      std::fputs(
          "ftzgate-dp: warning: the controller counts under a new token key: this run keeps its own and the "
          "controller refuses its tokens until the data plane restarts\n",
          stderr);
    }
  }

  std::string thresholds_path() const { return options.state_dir + "/thresholds"; }

  // Only while a generation runs: one still waiting for its first bundle
  // has nothing to restart (and a flag set now would end its first run
  // the moment it began).
  void on_restart(const pb::Restart& r) {
    const std::string& who = r.requested_by();
    const bool plain = !who.empty() && who.size() <= 64 && std::all_of(who.begin(), who.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
    });
    {
      std::lock_guard lock(mu);
      if (running_gen == 0) {
        std::fprintf(stderr,
                     "ftzgate-dp: ftzgated asked for a restart before the first generation: ignored\n");
        return;
      }
    }
    std::fprintf(stderr,
                 "ftzgate-dp: restart requested by %s through ftzgated: stopping, then starting again\n",
                 plain ? who.c_str() : "an administrator");
    restart.store(true);
  }

  // Also kept for a headless start: the data plane goes on seeing the
  // states ftzgated last told it (its own count only raises them).
  void on_thresholds(const pb::ThresholdStates& t, bool store) {
    States states;
    for (const auto& x : t.tenants()) states.emplace_back(x.name(), from_proto(x.state()));
    if (store) {
      if (auto w = base::write_file_atomically(thresholds_path(), t.SerializeAsString(), 0600); !w)
        std::fprintf(stderr, "ftzgate-dp: warning: cannot keep the threshold states: %s\n",
                     w.error().c_str());
    }
    std::lock_guard lock(mu);
    thresholds = std::move(states);
  }

  // The states kept by the last run (none on a first start).
  void load_thresholds() {
    const auto bytes = config::read_regular_file(thresholds_path(), 16u << 20);
    pb::ThresholdStates t;
    if (!bytes) {
      if (bytes.error().reason != "no such file")
        std::fprintf(stderr, "ftzgate-dp: warning: %s: %s\n", thresholds_path().c_str(),
                     bytes.error().reason.c_str());
      return;
    }
    if (!t.ParseFromString(*bytes)) {
      std::fprintf(stderr, "ftzgate-dp: warning: %s: not threshold states: ignored\n",
                   thresholds_path().c_str());
      return;
    }
    on_thresholds(t, false);
  }

  // Queues what the last run kept (outbox_path) before anything of this run.
  // Tokens made under another key than ftzgated's now cannot be matched:
  // each counts as a possible person (lost), never as nobody.
  void restore_outbox(engine::compliance::ReportOutbox& box, uint64_t fingerprint) {
    const std::string path = outbox_path();
    const auto bytes = config::read_regular_file(path, kMaxOutboxFileBytes);
    if (!bytes && bytes.error().reason == "no such file") return;
    size_t other_key = 0;
    auto b = bytes ? decode_outbox(*bytes, fingerprint, &other_key)
                   : tl::unexpected(std::string(bytes.error().reason));
    if (!b) {
      // Kept for whoever looks into it: the exit of this run must not
      // overwrite it.
      const std::string aside = path + ".damaged";
      const bool moved = std::rename(path.c_str(), aside.c_str()) == 0;
      std::fprintf(stderr, "ftzgate-dp: warning: %s: %s; %s, its records are not sent\n", path.c_str(),
                   b.error().c_str(), moved ? ("moved to " + aside).c_str() : "left in place");
      return;
    }
    if (other_key > 0) {
      std::fprintf(stderr,
                   "ftzgate-dp: %zu token records kept by the last run were made under another key: sent as "
                   "lost records (possible people)\n",
                   other_key);
    }
    box.restore(*b);
    std::fprintf(stderr,
                 "ftzgate-dp: %llu token records kept by the last run are queued for the controller\n",
                 static_cast<unsigned long long>(box.counters().restored));
  }

  // The outbox as a file (outbox_path), at most kMirrorEvery stale while it
  // changes, and gone once nothing waits: a crash or kill -9 loses no more
  // than that of what ftzgated has not acknowledged (the next start sends
  // the file, as the one an exit leaves). Records sent again count once
  // (ftzgated's sets); lost counts sent again count twice (early, never
  // late).
  void mirror_outbox(const engine::compliance::ReportOutbox& box, uint64_t fingerprint) {
    const auto now = std::chrono::steady_clock::now();
    const uint64_t version = box.version();
    if (version == mirrored_version || now - mirrored_at < kMirrorEvery) return;
    mirrored_at = now;
    mirrored_version = version;
    if (box.empty()) {
      if (::unlink(outbox_path().c_str()) != 0 && errno != ENOENT)
        std::fprintf(stderr, "ftzgate-dp: warning: cannot remove %s: %s\n", outbox_path().c_str(),
                     std::strerror(errno));
      return;
    }
    const std::string bytes =
        to_proto(box.snapshot(), options.dataplane_id, boot_id, fingerprint).SerializeAsString();
    if (auto w = base::write_file_atomically(outbox_path(), bytes, 0600); !w && !mirror_failed) {
      mirror_failed = true;  // said once: the exit tries again, and says so
      std::fprintf(stderr, "ftzgate-dp: warning: cannot mirror the token outbox: %s\n", w.error().c_str());
    }
  }

  // At exit, after the reporter stopped: what ftzgated did not take, kept
  // for the next run.
  void keep_outbox() {
    if (!outbox) return;
    if (outbox->empty()) {
      // Everything was acknowledged: the mirror, if any, goes (sent again
      // it would count its lost records twice).
      if (::unlink(outbox_path().c_str()) != 0 && errno != ENOENT)
        std::fprintf(stderr, "ftzgate-dp: warning: cannot remove %s: %s\n", outbox_path().c_str(),
                     std::strerror(errno));
      return;
    }
    engine::compliance::OutboxBatch left = outbox->take_all();
    const std::string bytes =
        to_proto(left, options.dataplane_id, boot_id, key_fingerprint).SerializeAsString();
    if (auto w = base::write_file_atomically(outbox_path(), bytes, 0600); !w) {
      std::fprintf(
          stderr,
          "ftzgate-dp: warning: %zu token records not handed to the controller at exit, and not kept: %s "
          "(counted here only)\n",
          left.records.size(), w.error().c_str());
      return;
    }
    std::fprintf(stderr,
                 "ftzgate-dp: %zu token records not handed to the controller at exit are kept in %s for "
                 "the next start\n",
                 left.records.size(), outbox_path().c_str());
  }

  // (mu held) Counters published and not yet sent: at the stop, the run's
  // last ones go before the report stream closes, so that ftzgated (and
  // SNMP, metrics) shows what the run did to its end.
  [[nodiscard]] bool final_counters_waiting() const { return stats.has_value() && !counters_refused; }

  // A batch without seq, or nullopt: the newest counters when kStatsEvery
  // has passed since the last sent (or at the stop), else the first
  // kMaxAlertsPerBatch alerts waiting. Never both in one batch: a
  // controller that refuses one kind (one older than it) still gets the
  // other.
  std::optional<pb::ReportBatch> due_counters() {
    std::lock_guard lock(mu);
    const auto now = std::chrono::steady_clock::now();
    const bool stats_due = stats && !counters_refused && (stopping || now - stats_sent_at >= kStatsEvery);
    if (!stats_due && (alerts.empty() || alerts_refused)) return std::nullopt;
    pb::ReportBatch b;
    b.set_dataplane_id(options.dataplane_id);
    b.set_boot_id(boot_id);
    if (stats_due) {
      stats_sent_at = now;
      to_proto(*stats, alerts_unreported, b.mutable_stats());
      stats.reset();
      return b;
    }
    const size_t n = std::min<size_t>(alerts.size(), kMaxAlertsPerBatch);
    for (size_t i = 0; i < n; ++i) *b.add_alerts() = alerts[i];
    return b;
  }
  // ftzgated took a batch of `sent` alerts and kept `kept` of them: they
  // leave the queue, and the rest are unreported.
  void alerts_acked(int sent, uint32_t kept) {
    std::lock_guard lock(mu);
    const auto n = std::min<ptrdiff_t>(sent, std::ssize(alerts));
    alerts.erase(alerts.begin(), alerts.begin() + n);
    alerts_unreported += static_cast<uint64_t>(n) - std::min<uint64_t>(kept, static_cast<uint64_t>(n));
  }
  // (mu held) The controller refused a batch without seq (INVALID_ARGUMENT:
  // one older than its kind): that kind is not sent again this run, as it
  // costs the tokens their stream.
  void refused_locked(const pb::ReportBatch& b, const std::string& why) {
    if (b.has_stats() && !counters_refused) {
      counters_refused = true;
      std::fprintf(stderr, "ftzgate-dp: the controller refuses counters (%s): not sent again\n", why.c_str());
    }
    if (b.alerts_size() > 0 && !alerts_refused) {
      alerts_refused = true;
      alerts_unreported += alerts.size();
      alerts.clear();
      std::fprintf(stderr, "ftzgate-dp: the controller refuses alerts (%s): not sent again\n", why.c_str());
    }
  }

  // Sends the outbox's batches, one in flight, each until acknowledged;
  // reconnects with the same backoff as the subscription.
  void token_loop() {
    auto backoff = std::chrono::milliseconds(kFirstBackoff);
    std::string last_problem;
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReaderWriter<pb::ReportBatch, pb::ReportAck>> stream;
    std::chrono::milliseconds wait = kReportEvery;
    bool seen_stop = false;  // after it, waits (backoff) last their full time
    for (;;) {
      std::shared_ptr<engine::compliance::ReportOutbox> box;
      uint64_t fingerprint = 0;
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, wait, [&] { return (stopping && !seen_stop) || abandon; });
        seen_stop = stopping;
        box = outbox;
        fingerprint = key_fingerprint;
        // Lost counts too: each is a possible person (fail closed).
        if (abandon || (stopping && (box == nullptr || box->empty()) && (alerts.empty() || alerts_refused) &&
                        !final_counters_waiting()))
          break;
      }
      if (box) mirror_outbox(*box, fingerprint);
      wait = kReportEvery;
      std::optional<engine::compliance::OutboxBatch> batch = box ? box->next() : std::nullopt;
      // Counters and alerts go when no tokens wait (tokens count toward
      // thresholds; the others are only shown).
      std::optional<pb::ReportBatch> counters = batch ? std::nullopt : due_counters();
      if (!batch && !counters) {
        std::lock_guard lock(mu);
        if (stopping) break;
        continue;
      }
      if (!stream) {
        ctx = std::make_unique<grpc::ClientContext>();
        {
          std::lock_guard lock(mu);
          report_ctx = ctx.get();
        }
        stream = stub->Report(ctx.get());
      }
      pb::ReportAck ack;
      const uint64_t seq = batch ? batch->seq : 0;
      if (stream->Write(batch ? to_proto(*batch, options.dataplane_id, boot_id, fingerprint) : *counters) &&
          stream->Read(&ack) && ack.seq() == seq) {
        if (batch) {
          box->acked(seq);
        } else {
          alerts_acked(counters->alerts_size(), ack.alerts_kept());
        }
        backoff = kFirstBackoff;
        last_problem.clear();
        wait = std::chrono::milliseconds(0);  // more may wait
        continue;
      }
      stream->WritesDone();
      const grpc::Status st = stream->Finish();
      {
        std::lock_guard lock(mu);
        report_ctx = nullptr;
        if (!batch && st.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
          refused_locked(*counters, st.error_message());
      }
      stream.reset();
      ctx.reset();
      const std::string problem = st.ok() ? "the report stream ended" : st.error_message();
      if (problem != last_problem) {
        std::fprintf(stderr, "ftzgate-dp: cannot report tokens to the controller: %s; kept, retrying\n",
                     problem.c_str());
        last_problem = problem;
      }
      wait = backoff;
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
    if (stream) {
      stream->WritesDone();
      (void)stream->Finish();
    }
    std::lock_guard lock(mu);
    report_ctx = nullptr;
    tokens_done = true;
    cv.notify_all();
  }

  void subscribe_loop() {
    auto backoff = std::chrono::milliseconds(kFirstBackoff);
    std::string last_problem;
    for (;;) {
      grpc::ClientContext ctx;
      pb::SubscribeRequest req;
      {
        std::lock_guard lock(mu);
        if (stopping) return;
        stream_ctx = &ctx;
        req.set_running_generation(running_gen);
        req.set_running_sha256(running_sha);
      }
      req.set_dataplane_id(options.dataplane_id);
      req.set_host(host);
      *req.mutable_platform() = platform;
      auto reader = stub->Subscribe(&ctx, req);
      pb::Update update;
      bool got = false;
      while (reader->Read(&update)) {
        if (!got && !last_problem.empty())
          std::fprintf(stderr, "ftzgate-dp: controller %s reached\n", options.target.c_str());
        got = true;
        last_problem.clear();
        backoff = kFirstBackoff;
        switch (update.update_case()) {
          case pb::Update::kBundle:
            on_bundle(update.bundle());
            break;
          case pb::Update::kTokenKey:
            on_token_key(update.token_key());
            break;
          case pb::Update::kThresholds:
            on_thresholds(update.thresholds(), true);
            break;
          case pb::Update::kRestart:
            on_restart(update.restart());
            break;
          case pb::Update::UPDATE_NOT_SET:
            break;  // a newer controller's update this data plane does not know
        }
      }
      const grpc::Status st = reader->Finish();
      std::unique_lock lock(mu);
      stream_ctx = nullptr;
      if (stopping) return;
      const std::string problem = st.ok() ? "the stream ended" : st.error_message();
      if (problem != last_problem) {
        std::fprintf(stderr, "ftzgate-dp: controller %s: %s; retrying (backoff up to %lld s)\n",
                     options.target.c_str(), problem.c_str(), static_cast<long long>(kMaxBackoff.count()));
        last_problem = problem;
      }
      cv.wait_for(lock, backoff, [&] { return stopping; });
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
  }

  void report_loop() {
    for (;;) {
      Report r;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !reports.empty(); });
        if (reports.empty()) return;  // stopping, and everything sent
        r = std::move(reports.front());
        reports.pop_front();
      }
      if (!r.store.empty()) {
        if (auto w = base::write_file_atomically(stored_path(), r.store, 0600); !w) {
          std::fprintf(stderr,
                       "ftzgate-dp: warning: cannot store bundle generation %llu for a headless start: %s\n",
                       static_cast<unsigned long long>(r.generation), w.error().c_str());
        }
      }
      pb::AckRequest req;
      req.set_dataplane_id(options.dataplane_id);
      req.set_generation(r.generation);
      req.set_body_sha256(r.sha256);
      if (r.apply_us) {
        req.set_apply_us(*r.apply_us);
      } else {
        req.set_nack_reason(r.reason);
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kAckDeadline);
      pb::AckReply reply;
      // Not retried: a resubscription reports the running generation anyway.
      if (const grpc::Status st = stub->Ack(&ctx, req, &reply); !st.ok()) {
        std::fprintf(stderr, "ftzgate-dp: cannot report generation %llu to the controller: %s\n",
                     static_cast<unsigned long long>(r.generation), st.error_message().c_str());
      }
    }
  }
};

tl::expected<std::unique_ptr<ControllerLink>, std::string> ControllerLink::create(LinkOptions options) {
  const bool tcp = options.target.rfind("unix:", 0) != 0;
  const bool files = !options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty();
  if (tcp && (options.ca_file.empty() || options.cert_file.empty() || options.key_file.empty()))
    return tl::unexpected("--controller " + options.target +
                          ": TCP needs --ca, --cert and --key (mutual TLS)");
  if (!tcp && files)
    return tl::unexpected(std::string("--ca, --cert and --key go with --controller HOST:PORT"));
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tcp) {
    // Checked here, before any handshake: a wrong file is named now, not
    // reported as an unreachable controller over and over.
    auto id = pki::load_client_identity(options.ca_file, options.cert_file, options.key_file,
                                        pki::CertKind::kDataplane);
    if (!id) return tl::unexpected(id.error());
    // ftzgated holds us to the certificate's name.
    if (options.dataplane_id.empty()) options.dataplane_id = id->cert.name;
    if (options.dataplane_id != id->cert.name)
      return tl::unexpected("--dataplane-id " + options.dataplane_id + ": the certificate " +
                            options.cert_file + " is " + id->cert.name + "'s");
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = std::move(id->ca_pem);
    tls.pem_private_key = std::move(id->key_pem);
    tls.pem_cert_chain = std::move(id->cert_pem);
    credentials = grpc::SslCredentials(tls);
  }
  if (options.dataplane_id.empty()) options.dataplane_id = host_name();
  static const std::regex kId("[A-Za-z0-9_.-]{1,64}");
  if (!std::regex_match(options.dataplane_id, kId)) {
    return tl::unexpected("--dataplane-id " + options.dataplane_id + ": 1-64 of [A-Za-z0-9_.-]");
  }
  auto trusted = bundle::TrustedKeys::load(options.trusted_keys_dir);
  if (!trusted) return tl::unexpected(trusted.error());
  if (::mkdir(options.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return tl::unexpected("--state-dir " + options.state_dir + ": cannot create: " + std::strerror(errno));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->trusted = std::move(*trusted);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(bundle::kMaxBundleBytes));
  // gRPC's own reconnection backoff grows to 120 s: a controller back after
  // a long outage would wait that long for us. Ours is the bound.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(kFirstBackoff.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(kFirstBackoff.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff).count()));
  impl->channel = grpc::CreateCustomChannel(impl->options.target, credentials, args);
  impl->stub = pb::Dataplane::NewStub(impl->channel);
  impl->load_thresholds();
  Impl* raw = impl.get();
  impl->subscriber = std::thread([raw] { raw->subscribe_loop(); });
  impl->reporter = std::thread([raw] { raw->report_loop(); });
  impl->token_reporter = std::thread([raw] { raw->token_loop(); });
  return std::unique_ptr<ControllerLink>(new ControllerLink(std::move(impl)));
}

ControllerLink::ControllerLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControllerLink::~ControllerLink() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    if (impl_->stream_ctx != nullptr) impl_->stream_ctx->TryCancel();
  }
  impl_->cv.notify_all();
  impl_->subscriber.join();
  impl_->reporter.join();
  // The tokens of the last harvest: sent while the controller takes them,
  // for kDrainAtExit at most (the rest stays in this data plane's own count).
  {
    std::unique_lock lock(impl_->mu);
    if (!impl_->cv.wait_for(lock, kDrainAtExit, [&] { return impl_->tokens_done; })) {
      impl_->abandon = true;
      if (impl_->report_ctx != nullptr) impl_->report_ctx->TryCancel();
    }
  }
  impl_->cv.notify_all();
  impl_->token_reporter.join();
  impl_->keep_outbox();
  // Alerts are not kept for the next run: the EVE file is their record.
  const uint64_t unreported = impl_->alerts_unreported + impl_->alerts.size();
  if (unreported > 0) {
    std::fprintf(stderr, "ftzgate-dp: %llu alerts were not reported to the controller\n",
                 static_cast<unsigned long long>(unreported));
  }
}

std::optional<Incoming> ControllerLink::first_bundle(const std::atomic<bool>& stop,
                                                     std::chrono::milliseconds headless_after) {
  const auto start = std::chrono::steady_clock::now();
  auto next_notice = start + kWaitingNotice;
  bool tried_stored = false;
  for (;;) {
    {
      std::unique_lock lock(impl_->mu);
      impl_->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return impl_->pending.has_value(); });
      if (impl_->pending) {
        std::optional<Incoming> out = std::move(impl_->pending);
        impl_->pending.reset();
        return out;
      }
    }
    if (stop.load()) return std::nullopt;
    const auto now = std::chrono::steady_clock::now();
    if (!tried_stored && now - start >= headless_after) {
      tried_stored = true;
      // Regular files only, and no larger than a bundle may be.
      const auto bytes = config::read_regular_file(impl_->stored_path(), bundle::kMaxBundleBytes);
      if (!bytes && bytes.error().reason != "no such file") {
        std::fprintf(stderr, "ftzgate-dp: the stored bundle %s cannot be read: %s\n",
                     impl_->stored_path().c_str(), bytes.error().reason.c_str());
      }
      if (bytes) {
        pb::SignedBundle s;
        auto in =
            s.ParseFromString(*bytes) ? impl_->open(s) : tl::unexpected(std::string("not a signed bundle"));
        if (in) {
          std::fprintf(stderr,
                       "ftzgate-dp: no bundle from %s: starting headless on the stored generation %llu\n",
                       impl_->options.target.c_str(), static_cast<unsigned long long>(in->opened.generation));
          return std::move(*in);
        }
        std::fprintf(stderr, "ftzgate-dp: the stored bundle %s is refused: %s\n",
                     impl_->stored_path().c_str(), in.error().c_str());
      }
    }
    if (now >= next_notice) {
      std::fprintf(stderr, "ftzgate-dp: waiting for the first bundle from %s (ports stay down)\n",
                   impl_->options.target.c_str());
      next_notice = now + kWaitingNotice;
    }
  }
}

std::optional<Incoming> ControllerLink::take() {
  std::lock_guard lock(impl_->mu);
  std::optional<Incoming> out = std::move(impl_->pending);
  impl_->pending.reset();
  return out;
}

void ControllerLink::applied(const Incoming& b, uint64_t apply_us) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->running_gen = b.opened.generation;
    impl_->running_sha = b.opened.body_sha256;
  }
  impl_->report({b.opened.generation, b.opened.body_sha256, apply_us, {}, b.serialized});
}

void ControllerLink::refused(const Incoming& b, const std::string& reason) {
  ++impl_->nacks;
  impl_->report({b.opened.generation, b.opened.body_sha256, std::nullopt, reason, {}});
}

void ControllerLink::attach_outbox(std::shared_ptr<engine::compliance::ReportOutbox> outbox,
                                   uint64_t key_fingerprint) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->restore_outbox(*outbox, key_fingerprint);
    impl_->outbox = std::move(outbox);
    impl_->key_fingerprint = key_fingerprint;
  }
  impl_->cv.notify_all();
}

void ControllerLink::publish_stats(Stats stats) {
  std::lock_guard lock(impl_->mu);
  impl_->stats = std::move(stats);
}

void ControllerLink::post_alert(const engine::Event& alert, const engine::PolicyGeneration& gen) {
  pb::Alert a = to_proto(alert, gen);
  std::lock_guard lock(impl_->mu);
  if (impl_->alerts_refused || impl_->alerts.size() >= kMaxAlertsQueued) {
    ++impl_->alerts_unreported;
    return;
  }
  impl_->alerts.push_back(std::move(a));
}

tl::expected<engine::compliance::OutboxBatch, std::string> decode_outbox(std::string_view bytes,
                                                                         uint64_t key_fingerprint,
                                                                         size_t* other_key) {
  pb::ReportBatch kept;
  if (bytes.size() > INT32_MAX || !kept.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return tl::unexpected(std::string("not a report batch"));
  engine::compliance::OutboxBatch b = from_proto(kept);
  if (kept.key_fingerprint() != key_fingerprint) {
    for (const engine::compliance::TokenRecord& r : b.records) b.lost.push_back({r.tenant, r.data_class, 1});
    if (other_key != nullptr) *other_key = b.records.size();
    b.records.clear();
  }
  return b;
}

std::optional<std::vector<std::pair<std::string, engine::ThresholdState>>> ControllerLink::take_thresholds() {
  std::lock_guard lock(impl_->mu);
  auto out = std::move(impl_->thresholds);
  impl_->thresholds.reset();
  return out;
}

uint64_t ControllerLink::running_generation() const {
  std::lock_guard lock(impl_->mu);
  return impl_->running_gen;
}

uint64_t ControllerLink::nacks() const noexcept {
  return impl_->nacks.load();
}

bool ControllerLink::restart_requested() const noexcept {
  return impl_->restart.load();
}

}  // namespace ftz::controller
