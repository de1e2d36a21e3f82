// ftzgated's services in-process, on a real gRPC unix socket, with the clock
// injected: a `commit confirmed` not confirmed by its deadline is rolled back
// and every subscribed data plane receives the previous configuration as a
// new generation (issue 10 §6), without waiting minutes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dataplane_service.hpp"
#include "ftz/bundle/bundle.hpp"
#include "ftz/config/config.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/pki/authority.hpp"
#include "ftz/test/files.hpp"
#include "ftz/test/harbor.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"
#include "ftzgate/v1/management.grpc.pb.h"
#include "service.hpp"

namespace ftz::daemon {
namespace {

namespace pb = ftzgate::v1;

constexpr const char* kAllow =
    "zones:\n"
    "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
    "  - {name: offshore, kind: offshore, default: true}\n"
    "defaults:\n"
    "  - {src_zone: inside, dst_zone: offshore, action: allow}\n";
constexpr const char* kBlock =
    "zones:\n"
    "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
    "  - {name: offshore, kind: offshore, default: true}\n"
    "defaults:\n"
    "  - {src_zone: inside, dst_zone: offshore, action: block}\n";
using test::harbor::kConfig;
constexpr int64_t kT0Ms = int64_t{1'790'000'000} * 1000;

class DaemonInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store::ConfigStore::init(tmp_.file("state"), {initial_}, "ftzgated", kT0Ms / 1000));
    auto s = store::ConfigStore::open(tmp_.file("state"));
    ASSERT_TRUE(s);
    store_.emplace(std::move(*s));
    auto k = keys::SigningKey::load_or_generate(tmp_.file("device.key"));
    ASSERT_TRUE(k);
    key_.emplace(std::move(*k));
    ASSERT_TRUE(trusted_.add(key_->public_pem()));
    auto a = accounts::AccountStore::create(
        tmp_.file("accounts.json"), {{"alice", accounts::Role::kSecadmin, "Harbor-Rule-2026", false}});
    ASSERT_TRUE(a) << a.error();
    accounts_.emplace(std::move(*a));
    auto log = audit::AuditLog::open(tmp_.file("audit"), *key_, kT0Ms);
    ASSERT_TRUE(log) << log.error();
    audit_.emplace(std::move(*log));
    const auto clock = [this] { return now_ms_.load(); };
    const AuditHook audit = [this](const std::string& type, bool ok, nlohmann::ordered_json details) {
      return management_->record_system(type, ok, std::move(details));
    };
    auto compliance = ComplianceCenter::open(tmp_.file("compliance"), clock, audit);
    ASSERT_TRUE(compliance) << compliance.error();
    compliance_ = std::move(*compliance);
    auto authority = pki::Authority::open(tmp_.file("pki"), {"localhost"}, kT0Ms / 1000);
    ASSERT_TRUE(authority) << authority.error();
    authority_ = std::move(*authority);
    dataplanes_ = std::make_unique<DataplaneService>(*key_, *authority_, clock, audit, *compliance_,
                                                     tmp_.file("dataplanes.json"));
    management_ = std::make_unique<ManagementService>(*store_, *accounts_, *audit_, tmp_.file("audit"),
                                                      key_->public_pem(), *authority_, vendor_keys_, clock,
                                                      900, *dataplanes_);
    management_->publish_running();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + tmp_.file("s.sock"), grpc::InsecureServerCredentials());
    builder.RegisterService(management_.get());
    builder.RegisterService(dataplanes_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel("unix:" + tmp_.file("s.sock"), grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    stop_ticking();
    if (dataplanes_) dataplanes_->stop();
    if (server_) server_->Shutdown();
  }

  // A management call as alice.
  template <typename Req, typename Rep>
  grpc::Status call(grpc::Status (pb::Management::Stub::*rpc)(grpc::ClientContext*, const Req&, Rep*),
                    const Req& req, Rep* reply) {
    auto stub = pb::Management::NewStub(channel_);
    if (session_.empty()) {
      grpc::ClientContext ctx;
      pb::LoginRequest login;
      login.set_user("alice");
      login.set_password("Harbor-Rule-2026");
      pb::LoginReply r;
      if (auto st = stub->Login(&ctx, login, &r); !st.ok()) return st;
      session_ = r.session();
    }
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-ftzgate-session", session_);
    return (stub.get()->*rpc)(&ctx, req, reply);
  }

  // An open subscription of data plane `id`, as ftzgate-dp opens it.
  struct Subscription {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<pb::Update>> reader;
    ~Subscription() { ctx.TryCancel(); }
  };
  std::unique_ptr<Subscription> subscribe(const std::string& id, const std::string& host = "") {
    auto s = std::make_unique<Subscription>();
    s->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::SubscribeRequest req;
    req.set_dataplane_id(id);
    req.set_host(host);
    *req.mutable_platform() = bundle::host_platform();
    s->reader = pb::Dataplane::NewStub(channel_)->Subscribe(&s->ctx, req);
    return s;
  }
  // Data plane `id` ACKs `generation` (its body hash), applied in `apply_us`.
  grpc::Status ack(const std::string& id, uint64_t generation, const std::string& sha256, uint64_t apply_us) {
    grpc::ClientContext ctx;
    pb::AckRequest req;
    req.set_dataplane_id(id);
    req.set_generation(generation);
    req.set_body_sha256(sha256);
    req.set_apply_us(apply_us);
    pb::AckReply reply;
    return pb::Dataplane::NewStub(channel_)->Ack(&ctx, req, &reply);
  }

  // The next bundle on `reader`, opened as a data plane opens it.
  // (The token key and threshold states that come first are skipped.)
  std::optional<bundle::OpenedBundle> next(grpc::ClientReader<pb::Update>& reader) {
    pb::Update u;
    do {
      if (!reader.Read(&u)) return std::nullopt;
    } while (!u.has_bundle());
    auto opened = bundle::open_bundle(u.bundle(), trusted_, bundle::host_platform());
    EXPECT_TRUE(opened) << opened.error();
    if (!opened) return std::nullopt;
    return std::move(*opened);
  }

  // The daemon's timer: the ledger is saved (and batches acknowledged) on a tick.
  void start_ticking() {
    ticker_ = std::thread([this] {
      while (!stop_ticks_) {
        dataplanes_->tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  void stop_ticking() {
    stop_ticks_ = true;
    if (ticker_.joinable()) ticker_.join();
  }

  void commit(const char* yaml) {
    pb::LoadRequest load;
    load.set_yaml(yaml);
    pb::LoadReply loaded;
    ASSERT_TRUE(call(&pb::Management::Stub::Load, load, &loaded).ok());
    pb::CommitReply committed;
    ASSERT_TRUE(call(&pb::Management::Stub::Commit, pb::CommitRequest{}, &committed).ok());
  }

  // The fleet's commit point took the commit, as `generation`.
  static ManagementService::FleetPublished won_as(uint64_t generation) {
    ManagementService::FleetPublished won;
    won.outcome = ManagementService::FleetPublished::Outcome::kWon;
    won.generation = generation;
    return won;
  }
  // A fleet whose commit point takes every commit, as `generation`.
  static ManagementService::FleetPublisher fleet_takes_it_as(uint64_t generation) {
    return
        [generation](uint64_t, const std::string&, const store::Configuration&, const std::string&,
                     const std::string&, int64_t,
                     std::optional<int64_t>) -> tl::expected<ManagementService::FleetPublished, std::string> {
          return won_as(generation);
        };
  }
  // Commits harbor's counted configuration, takes the token key it made,
  // and starts the service's clock.
  void commit_counted() {
    commit(kConfig);
    auto key = engine::compliance::TokenKey::load(tmp_.file("compliance/token.key"),
                                                  engine::compliance::MacAlgo::kHmacSha256);
    ASSERT_TRUE(key) << key.error();
    fingerprint_ = key->fingerprint();
    start_ticking();
  }
  // A batch of harbor's PI tokens as data plane `id` reports them.
  pb::ReportBatch batch(const std::string& id, uint64_t seq, const std::vector<uint64_t>& tokens) const {
    return test::harbor::pi_batch(id, seq, fingerprint_, tokens, now_ms_.load() * 1'000'000);
  }
  // Sends `b` on a new Report stream: the acknowledged seq, or the status
  // (and the acknowledgement in `ack`).
  std::pair<uint64_t, grpc::StatusCode> report(const pb::ReportBatch& b, pb::ReportAck* ack = nullptr) {
    auto dp = pb::Dataplane::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = dp->Report(&ctx);
    pb::ReportAck got;
    const bool acked = stream->Write(b) && stream->Read(&got);
    stream->WritesDone();
    const grpc::Status st = stream->Finish();
    if (ack != nullptr) *ack = got;
    return {acked ? got.seq() : 0, st.error_code()};
  }
  pb::ShowComplianceReply compliance() {
    pb::ShowComplianceReply reply;
    EXPECT_TRUE(call(&pb::Management::Stub::ShowCompliance, pb::ShowComplianceRequest{}, &reply).ok());
    return reply;
  }
  std::vector<nlohmann::json> audit_of(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : std::filesystem::directory_iterator(tmp_.file("audit"))) {
      std::ifstream in(e.path());
      for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j["event_type"] == type) out.push_back(j);
      }
    }
    return out;
  }

  test::TempDir tmp_{"daemon"};
  std::string initial_ = kAllow;  // generation 1
  uint64_t fingerprint_ = 0;
  std::thread ticker_;
  std::atomic<bool> stop_ticks_{false};
  std::atomic<int64_t> now_ms_{kT0Ms};
  std::optional<store::ConfigStore> store_;
  std::optional<keys::SigningKey> key_;
  bundle::TrustedKeys trusted_;
  std::optional<accounts::AccountStore> accounts_;
  std::optional<audit::AuditLog> audit_;
  std::unique_ptr<ComplianceCenter> compliance_;
  std::unique_ptr<pki::Authority> authority_;
  bundle::TrustedKeys vendor_keys_;
  std::unique_ptr<DataplaneService> dataplanes_;
  std::unique_ptr<ManagementService> management_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string session_;
};

TEST_F(DaemonInProcess, AnUnconfirmedCommitIsRolledBackOnEveryDataPlane) {
  const auto sub = subscribe("dp-t");
  auto& reader = sub->reader;
  auto first = next(*reader);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->generation, 1u);

  pb::LoadRequest load;
  load.set_yaml(kBlock);
  pb::LoadReply loaded;
  ASSERT_TRUE(call(&pb::Management::Stub::Load, load, &loaded).ok());
  pb::CommitRequest commit;
  commit.set_confirm_minutes(1);
  pb::CommitReply committed;
  ASSERT_TRUE(call(&pb::Management::Stub::Commit, commit, &committed).ok());
  EXPECT_EQ(committed.commit().generation(), 2u);
  auto second = next(*reader);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->generation, 2u);
  EXPECT_EQ(second->config.spec.defaults.at(0).verdict.action, engine::Action::kBlock);

  // Before the deadline nothing happens; at it, generation 1's text comes
  // back as generation 3, and the data plane receives it.
  now_ms_ += 59'000;
  management_->tick();
  EXPECT_EQ(store_->running_generation(), 2u);
  now_ms_ += 1'000;
  management_->tick();
  auto third = next(*reader);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->generation, 3u);
  EXPECT_EQ(third->config.spec.defaults.at(0).verdict.action, engine::Action::kAllow);

  pb::ShowDataplanesReply shown;
  ASSERT_TRUE(call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &shown).ok());
  EXPECT_EQ(shown.running_generation(), 3u);
  ASSERT_EQ(shown.dataplanes_size(), 1);
  EXPECT_EQ(shown.dataplanes(0).state(), "waiting") << "nothing ACKed yet";
  // The data plane ACKs: it runs the running generation.
  ASSERT_TRUE(ack("dp-t", 3, third->body_sha256, 1200).ok());
  shown.Clear();
  ASSERT_TRUE(call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &shown).ok());
  EXPECT_EQ(shown.dataplanes(0).state(), "running");
  EXPECT_EQ(shown.dataplanes(0).last_apply_us(), 1200u);
}

// In a fleet: a commit here runs as the generation the fleet gave it; a
// fleet commit older than it that arrives afterwards (the follower read the
// commit point just before this member's own commit won) is refused and
// changes nothing, a newer one is applied; show fleet is the fleet link's
// to fill.
TEST_F(DaemonInProcess, ALateOlderFleetCommitDoesNotRollTheMemberBack) {
  pb::ShowFleetReply fleet;
  EXPECT_EQ(call(&pb::Management::Stub::ShowFleet, pb::ShowFleetRequest{}, &fleet).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ManagementService::FleetLink link;
  link.publish = fleet_takes_it_as(5);
  link.show = [](pb::ShowFleetReply* reply) { reply->set_fleet("lab"); };
  management_->set_fleet("lab", std::move(link), tmp_.file("fleet.json"));
  ASSERT_TRUE(call(&pb::Management::Stub::ShowFleet, pb::ShowFleetRequest{}, &fleet).ok());
  EXPECT_EQ(fleet.fleet(), "lab");

  pb::LoadRequest load;
  load.set_yaml(kBlock);
  pb::LoadReply loaded;
  ASSERT_TRUE(call(&pb::Management::Stub::Load, load, &loaded).ok());
  pb::CommitReply committed;
  ASSERT_TRUE(call(&pb::Management::Stub::Commit, pb::CommitRequest{}, &committed).ok());
  EXPECT_EQ(committed.commit().generation(), 5U);
  const std::string block_sha = store_->running_sha256();

  const auto late = management_->apply_fleet_commit(4, "m1", "bob", "", "k1", store::Configuration(kAllow));
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().find("not newer than fleet generation 5"), std::string::npos) << late.error();
  EXPECT_EQ(store_->running_generation(), 5U);
  EXPECT_EQ(store_->running_sha256(), block_sha);

  EXPECT_TRUE(management_->apply_fleet_commit(6, "m1", "bob", "", "k1", store::Configuration(kAllow)));
  EXPECT_EQ(store_->running_generation(), 6U);
  EXPECT_NE(store_->running_sha256(), block_sha);
}

// A local-only override is not the fleet's configuration: the fleet's
// count hears so (its thresholds must not become the fleet's), until the
// fleet's next commit ends the override, or the fleet commits exactly the
// override's configuration.
TEST_F(DaemonInProcess, ALocalOnlyOverrideIsNotTheFleetsPolicyForTheFleetsCount) {
  std::vector<bool> fleet_policy;  // what the fleet's count was told, in order
  DataplaneService::FleetHooks hooks;
  hooks.store = [](const pb::ReportBatch&) { return grpc::Status::OK; };
  hooks.configured = [&](const engine::PolicySpec&, bool fleet) { fleet_policy.push_back(fleet); };
  dataplanes_->set_fleet(std::move(hooks));
  ManagementService::FleetLink link;
  link.publish = fleet_takes_it_as(5);
  management_->set_fleet("lab", std::move(link), tmp_.file("fleet.json"));
  commit(kAllow);
  ASSERT_EQ(fleet_policy, std::vector<bool>{true});

  pb::LoadRequest load;
  load.set_yaml(kBlock);
  pb::LoadReply loaded;
  ASSERT_TRUE(call(&pb::Management::Stub::Load, load, &loaded).ok());
  pb::CommitRequest local;
  local.set_local_only(true);
  local.set_comment("etcd down, block now");
  pb::CommitReply committed;
  ASSERT_TRUE(call(&pb::Management::Stub::Commit, local, &committed).ok());
  EXPECT_EQ(fleet_policy, (std::vector<bool>{true, false}));

  // Restarted in the override: the fleet's count hears of it at once.
  management_->set_fleet("lab", ManagementService::FleetLink{}, tmp_.file("fleet.json"));
  EXPECT_EQ(fleet_policy, (std::vector<bool>{true, false, false}));

  // The fleet commits the override's own configuration: it runs the
  // fleet's again, unchanged.
  ASSERT_TRUE(management_->apply_fleet_commit(6, "m1", "bob", "", "k1", store::Configuration(kBlock)));
  EXPECT_EQ(fleet_policy, (std::vector<bool>{true, false, false, true}));
  ASSERT_TRUE(management_->apply_fleet_commit(7, "m1", "bob", "", "k1", store::Configuration(kAllow)));
  EXPECT_EQ(fleet_policy, (std::vector<bool>{true, false, false, true, true}));
}

// A fleet commit waiting on etcd holds no lock that the timer (which
// systemd's watchdog waits on) or a show command needs; a fleet commit
// applied meanwhile waits for it, and then applies on top of it.
TEST_F(DaemonInProcess, AFleetCommitWaitingOnEtcdLeavesTheTimerAndShowCommandsFree) {
  std::promise<void> etcd_answers;
  std::shared_future<void> answered = etcd_answers.get_future().share();
  std::promise<void> asked;
  ManagementService::FleetLink link;
  link.publish = [&](uint64_t, const std::string&, const store::Configuration&, const std::string&,
                     const std::string&, int64_t,
                     std::optional<int64_t>) -> tl::expected<ManagementService::FleetPublished, std::string> {
    asked.set_value();
    // Bounded, so that a regression fails the test instead of hanging it.
    if (answered.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      return tl::unexpected(std::string("the test never answered"));
    return won_as(5);
  };
  management_->set_fleet("lab", std::move(link), tmp_.file("fleet.json"));
  pb::LoadRequest load;
  load.set_yaml(kBlock);
  pb::LoadReply loaded;
  ASSERT_TRUE(call(&pb::Management::Stub::Load, load, &loaded).ok());  // logged in before the threads

  std::promise<pb::CommitReply> committed;
  std::thread committing([&] {
    pb::CommitReply reply;
    EXPECT_TRUE(call(&pb::Management::Stub::Commit, pb::CommitRequest{}, &reply).ok());
    committed.set_value(reply);
  });
  ASSERT_EQ(asked.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);

  const auto t0 = std::chrono::steady_clock::now();
  management_->tick();
  pb::ShowCommitsReply commits;
  EXPECT_TRUE(call(&pb::Management::Stub::ShowCommits, pb::ShowCommitsRequest{}, &commits).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2))
      << "the timer or a show command waited on etcd";
  EXPECT_EQ(commits.running_generation(), 1U);

  std::atomic<bool> applied{false};
  std::thread applying([&] {
    EXPECT_TRUE(management_->apply_fleet_commit(6, "m1", "bob", "", "k1", store::Configuration(kAllow)));
    applied = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(applied.load()) << "a fleet commit was applied in the middle of this member's own";
  etcd_answers.set_value();
  committing.join();
  applying.join();
  EXPECT_EQ(committed.get_future().get().commit().generation(), 5U);
  EXPECT_EQ(store_->running_generation(), 6U);
  EXPECT_EQ(store_->running_sha256(), store::content_hash(store::Configuration(kAllow)));
}

// Counters come in batches of their own (seq 0) from subscribed data
// planes and show in show dataplanes; anything else in such a batch is
// refused, and a data plane not subscribed (yet) has them dropped.
TEST_F(DaemonInProcess, ADataPlanesCountersShowInShowDataplanes) {
  pb::ReportBatch counters;
  counters.set_dataplane_id("dp-s");
  counters.set_boot_id(7);
  pb::DataplaneStats* c = counters.mutable_stats();
  c->set_packets(1000);
  c->set_dropped(10);
  c->set_flows_active(3);
  (*c->mutable_reasons())["policy_block"] = 10;
  // Not subscribed (yet): dropped, and the stream goes on.
  EXPECT_EQ(report(counters), std::make_pair(uint64_t{0}, grpc::StatusCode::OK));
  pb::ShowDataplanesReply none;
  ASSERT_TRUE(call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &none).ok());
  EXPECT_EQ(none.dataplanes_size(), 0);

  const auto sub = subscribe("dp-s");
  ASSERT_TRUE(next(*sub->reader));
  EXPECT_EQ(report(counters), std::make_pair(uint64_t{0}, grpc::StatusCode::OK));
  pb::ShowDataplanesReply shown;
  ASSERT_TRUE(call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &shown).ok());
  ASSERT_EQ(shown.dataplanes_size(), 1);
  EXPECT_EQ(shown.dataplanes(0).stats().packets(), 1000u);
  EXPECT_EQ(shown.dataplanes(0).stats().reasons().at("policy_block"), 10u);
  EXPECT_EQ(shown.dataplanes(0).stats_unix_s(), kT0Ms / 1000);

  pb::ReportBatch mixed = counters;
  pb::Token* t = mixed.add_tokens();
  t->set_token(1);
  EXPECT_EQ(report(mixed).second, grpc::StatusCode::INVALID_ARGUMENT);
  pb::ReportBatch long_key = counters;
  (*long_key.mutable_stats()->mutable_reasons())[std::string(65, 'x')] = 1;
  EXPECT_EQ(report(long_key).second, grpc::StatusCode::INVALID_ARGUMENT);
}

// Alerts come with counters or alone, from data planes ftzgated knows;
// `show alerts` gives the newest, oldest first, of one data plane or all,
// and keeps the last 10,000. Batches out of bounds are refused.
TEST_F(DaemonInProcess, ADataPlanesAlertsShowInShowAlerts) {
  const auto alert = [](uint64_t flow, const std::string& masked) {
    pb::Alert a;
    a.set_flow_id(flow);
    a.set_signature("cn_resident_id");
    a.set_data_class(pb::DATA_CLASS_PI);
    a.set_verdict(pb::ACTION_BLOCK);
    a.set_masked(masked);
    return a;
  };
  pb::ReportBatch b;
  b.set_dataplane_id("dp-s");
  for (uint64_t f = 1; f <= 3; ++f) *b.add_alerts() = alert(f, "110***********123X");
  // Unknown data plane: dropped, and the stream goes on; the
  // acknowledgement says none was kept (the data plane counts them).
  pb::ReportAck ack;
  EXPECT_EQ(report(b, &ack), std::make_pair(uint64_t{0}, grpc::StatusCode::OK));
  EXPECT_EQ(ack.alerts_kept(), 0u);
  pb::ShowAlertsReply none;
  ASSERT_TRUE(call(&pb::Management::Stub::ShowAlerts, pb::ShowAlertsRequest{}, &none).ok());
  EXPECT_EQ(none.alerts_size(), 0);
  EXPECT_EQ(none.received(), 0u);

  const auto sub = subscribe("dp-s");
  ASSERT_TRUE(next(*sub->reader));
  EXPECT_EQ(report(b, &ack), std::make_pair(uint64_t{0}, grpc::StatusCode::OK));
  EXPECT_EQ(ack.alerts_kept(), 3u);
  pb::ShowAlertsRequest last2;
  last2.set_last(2);
  pb::ShowAlertsReply shown;
  ASSERT_TRUE(call(&pb::Management::Stub::ShowAlerts, last2, &shown).ok());
  ASSERT_EQ(shown.alerts_size(), 2);
  EXPECT_EQ(shown.alerts(0).alert().flow_id(), 2u) << "oldest first";
  EXPECT_EQ(shown.alerts(1).alert().flow_id(), 3u);
  EXPECT_EQ(shown.alerts(1).dataplane(), "dp-s");
  EXPECT_EQ(shown.alerts(1).received_unix_s(), kT0Ms / 1000);
  EXPECT_EQ(shown.received(), 3u);
  pb::ShowAlertsRequest other;
  other.set_dataplane("dp-z");
  shown.Clear();
  ASSERT_TRUE(call(&pb::Management::Stub::ShowAlerts, other, &shown).ok());
  EXPECT_EQ(shown.alerts_size(), 0);
  pb::ShowAlertsRequest too_many;
  too_many.set_last(10'001);
  EXPECT_EQ(call(&pb::Management::Stub::ShowAlerts, too_many, &shown).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Out of bounds: refused, nothing kept.
  pb::ReportBatch big = b;
  for (uint64_t f = 4; f <= 513; ++f) *big.add_alerts() = alert(f, "x");
  EXPECT_EQ(report(big).second, grpc::StatusCode::INVALID_ARGUMENT);
  pb::ReportBatch long_text;
  long_text.set_dataplane_id("dp-s");
  *long_text.add_alerts() = alert(9, std::string(257, '*'));
  EXPECT_EQ(report(long_text).second, grpc::StatusCode::INVALID_ARGUMENT);
  pb::ReportBatch empty;
  empty.set_dataplane_id("dp-s");
  EXPECT_EQ(report(empty).second, grpc::StatusCode::INVALID_ARGUMENT) << "neither counters nor alerts";

  // The newest 10,000 are kept.
  pb::ReportBatch full;
  full.set_dataplane_id("dp-s");
  for (uint64_t f = 100; f < 100 + 500; ++f) *full.add_alerts() = alert(f, "1**");
  for (int i = 0; i < 20; ++i) ASSERT_EQ(report(full).second, grpc::StatusCode::OK);
  pb::ShowAlertsRequest all;
  all.set_last(10'000);
  shown.Clear();
  ASSERT_TRUE(call(&pb::Management::Stub::ShowAlerts, all, &shown).ok());
  EXPECT_EQ(shown.alerts_size(), 10'000);
  EXPECT_EQ(shown.received(), 10'003u);
  EXPECT_EQ(shown.dropped(), 3u);
  EXPECT_EQ(shown.alerts(0).alert().flow_id(), 100u) << "the first three went";
}

// A certificate about to expire is said once a day, in the audit log and on
// stderr, until it is renewed, revoked or gone.
TEST_F(DaemonInProcess, ExpiringCertificatesAreRecordedOnceADay) {
  auto request = pki::make_key_and_request("dp-x");
  ASSERT_TRUE(request) << request.error();
  pb::IssueCertificateRequest issue;
  issue.set_kind(pb::CERTIFICATE_KIND_DATAPLANE);
  issue.set_name("dp-x");
  issue.set_csr_pem(request->csr_pem);
  issue.set_days(40);
  pb::IssueCertificateReply issued;
  ASSERT_TRUE(call(&pb::Management::Stub::IssueCertificate, issue, &issued).ok());
  management_->tick();
  EXPECT_TRUE(audit_of("certificate_expiring").empty()) << "40 days left";
  now_ms_ += int64_t{11} * 86400 * 1000;
  management_->tick();
  management_->tick();
  auto said = audit_of("certificate_expiring");
  ASSERT_EQ(said.size(), 1u) << "once a day";
  EXPECT_EQ(said[0]["details"]["name"], "dp-x");
  EXPECT_EQ(said[0]["details"]["days_left"], 29);
  now_ms_ += int64_t{30} * 86400 * 1000;
  management_->tick();
  said = audit_of("certificate_expiring");
  ASSERT_EQ(said.size(), 2u);
  EXPECT_EQ(said[1]["success"], false) << "expired";
}

// The registry behind `show dataplanes` outlives ftzgated: a restarted one
// lists the data plane (disconnected, with what it last ACKed) before it
// subscribes again. A damaged registry is moved aside, not overwritten.
TEST_F(DaemonInProcess, TheRegistryOfDataPlanesOutlivesARestart) {
  auto sub = subscribe("dp-r", "border-1");
  auto first = next(*sub->reader);
  ASSERT_TRUE(first);
  // A reason cut at 4,096 bytes inside a character is cut before it: the
  // audit record and the registry stay UTF-8.
  {
    grpc::ClientContext ctx;
    pb::AckRequest nack;
    nack.set_dataplane_id("dp-r");
    nack.set_generation(1);
    nack.set_nack_reason(std::string(4095, 'a') + "\u4e2d\u6587");
    pb::AckReply reply;
    ASSERT_TRUE(pb::Dataplane::NewStub(channel_)->Ack(&ctx, nack, &reply).ok());
    const auto nacks = audit_of("dataplane_nack");
    ASSERT_EQ(nacks.size(), 1u);
    EXPECT_EQ(nacks[0]["details"]["reason"].get<std::string>(), std::string(4095, 'a'));
  }
  ASSERT_TRUE(ack("dp-r", 1, first->body_sha256, 900).ok());
  // Made-up ids that never ACKed are not kept.
  auto ghost = subscribe("dp-ghost");
  ASSERT_TRUE(next(*ghost->reader));
  ghost.reset();
  sub.reset();

  const auto clock = [this] { return now_ms_.load(); };
  const AuditHook audit = [](const std::string&, bool, nlohmann::ordered_json) { return true; };
  DataplaneService restarted(*key_, *authority_, clock, audit, *compliance_, tmp_.file("dataplanes.json"));
  pb::ShowDataplanesReply shown;
  restarted.show(&shown);
  ASSERT_EQ(shown.dataplanes_size(), 1);
  EXPECT_EQ(shown.dataplanes(0).id(), "dp-r");
  EXPECT_EQ(shown.dataplanes(0).host(), "border-1");
  EXPECT_EQ(shown.dataplanes(0).state(), "disconnected");
  EXPECT_EQ(shown.dataplanes(0).running_generation(), 1u);
  EXPECT_EQ(shown.dataplanes(0).last_ack_unix_s(), kT0Ms / 1000);
  EXPECT_EQ(shown.dataplanes(0).last_apply_us(), 900u);

  std::ofstream(tmp_.file("dataplanes.json"), std::ios::trunc)
      << "{\"dataplanes\": [{\"id\": \"no spaces\"}]}";
  DataplaneService damaged(*key_, *authority_, clock, audit, *compliance_, tmp_.file("dataplanes.json"));
  shown.Clear();
  damaged.show(&shown);
  EXPECT_EQ(shown.dataplanes_size(), 0);
  EXPECT_TRUE(std::filesystem::exists(tmp_.file("dataplanes.json.damaged")));
  EXPECT_FALSE(std::filesystem::exists(tmp_.file("dataplanes.json")));
}

TEST_F(DaemonInProcess, AckFromAnUnknownDataPlaneAndBadIdsAreRefused) {
  EXPECT_EQ(ack("ghost", 1, "", 1).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ack("../etc", 1, "", 1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const auto sub = subscribe(std::string(65, 'a'));
  pb::Update u;
  EXPECT_FALSE(sub->reader->Read(&u));
  EXPECT_EQ(sub->reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Ids are made up by whoever holds the socket: the registry stays bounded.
TEST_F(DaemonInProcess, TheRegistryOfDataPlanesIsBounded) {
  // OK once it had the token key (subscribed), else the refusal.
  const auto subscribed = [&](const std::string& id) {
    const auto sub = subscribe(id);
    pb::Update u;
    if (!sub->reader->Read(&u)) return sub->reader->Finish().error_code();
    sub->ctx.TryCancel();
    (void)sub->reader->Finish();
    return grpc::StatusCode::OK;
  };
  for (int i = 0; i < 256; ++i) ASSERT_EQ(subscribed("dp-" + std::to_string(i)), grpc::StatusCode::OK) << i;
  EXPECT_EQ(subscribed("dp-one-too-many"), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(subscribed("dp-7"), grpc::StatusCode::OK) << "a known data plane comes back";
}

// Two data planes report one tenant's tokens: a person both saw counts
// once, a resent batch counts once, the batch is acknowledged once the
// ledger is on disk, and the crossing of the line is audited and sent to
// every subscriber as a threshold state.
TEST_F(DaemonInProcess, ReportsFromTwoDataPlanesCountEachPersonOnce) {
  ASSERT_NO_FATAL_FAILURE(commit_counted());

  const auto sub = subscribe("dp-a");
  auto& reader = sub->reader;
  pb::Update u;
  ASSERT_TRUE(reader->Read(&u));
  ASSERT_TRUE(u.has_token_key()) << "the key comes first";
  std::ostringstream key_file;
  key_file << std::ifstream(tmp_.file("compliance/token.key")).rdbuf();
  EXPECT_EQ(u.token_key().key_file(), key_file.str());
  ASSERT_TRUE(reader->Read(&u));
  ASSERT_TRUE(u.has_thresholds());
  ASSERT_EQ(u.thresholds().tenants_size(), 1);
  EXPECT_EQ(u.thresholds().tenants(0).name(), "harbor");
  EXPECT_EQ(u.thresholds().tenants(0).state(), pb::THRESHOLD_STATE_NORMAL);

  EXPECT_EQ(report(batch("dp-a", 1, {11, 12})), std::make_pair(uint64_t{1}, grpc::StatusCode::OK));
  EXPECT_TRUE(std::filesystem::exists(tmp_.file("compliance/ledger.state"))) << "acknowledged once on disk";
  EXPECT_EQ(report(batch("dp-a", 1, {11, 12})), std::make_pair(uint64_t{1}, grpc::StatusCode::OK))
      << "a resend is acknowledged";
  auto shown = compliance();
  ASSERT_EQ(shown.rows_size(), 1);
  EXPECT_EQ(shown.rows(0).individuals(), 2u);
  EXPECT_EQ(shown.duplicate_batches(), 1u);
  EXPECT_TRUE(audit_of("compliance_notice").empty());

  // dp-b saw person 12 too, and person 13: three people.
  EXPECT_EQ(report(batch("dp-b", 1, {12, 13})), std::make_pair(uint64_t{1}, grpc::StatusCode::OK));
  shown = compliance();
  ASSERT_EQ(shown.rows_size(), 1);
  EXPECT_EQ(shown.rows(0).tenant(), "harbor");
  EXPECT_EQ(shown.rows(0).individuals(), 3u);
  // The states reach the subscriber (skipping the generation's bundle).
  bool exceeded = false;
  while (!exceeded && reader->Read(&u)) {
    exceeded = u.has_thresholds() && u.thresholds().tenants(0).state() == pb::THRESHOLD_STATE_EXCEEDED;
  }
  EXPECT_TRUE(exceeded);
  EXPECT_EQ(compliance().rows(0).state(), pb::THRESHOLD_STATE_EXCEEDED);
  const auto notices = audit_of("compliance_notice");
  ASSERT_FALSE(notices.empty());
  EXPECT_EQ(notices.back()["details"]["tenant"], "harbor");
  EXPECT_EQ(notices.back()["details"]["individuals"], 3);
  // The count is read back from its file (as after a restart or a commit):
  // what fired is not notified again.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  management_->publish_running();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(audit_of("compliance_notice").size(), notices.size());
  EXPECT_EQ(compliance().rows(0).individuals(), 3u);
}

// A fleet member (decision 0023): a batch is acknowledged only once the
// fleet's store took it (the data plane keeps it meanwhile, and a resend
// counts once here); the data planes get the higher of the fleet's state
// and this member's; and this member's own crossings are not audited (the
// fleet's owner audits the fleet's).
TEST_F(DaemonInProcess, AFleetMemberAcknowledgesWhatTheFleetStoredAndActsOnTheHigherState) {
  std::atomic<bool> etcd_up{false};
  std::atomic<int> stored{0};
  std::atomic<int> configured{0};
  DataplaneService::FleetHooks hooks;
  hooks.store = [&](const pb::ReportBatch&) {
    if (!etcd_up.load()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcd away");
    ++stored;
    return grpc::Status::OK;
  };
  hooks.configured = [&](const engine::PolicySpec&, bool) { ++configured; };
  dataplanes_->set_fleet(std::move(hooks));
  ASSERT_NO_FATAL_FAILURE(commit_counted());
  EXPECT_EQ(configured.load(), 1) << "the fleet's count gets the running policy";
  const auto sub = subscribe("dp-a");
  pb::Update u;
  ASSERT_TRUE(sub->reader->Read(&u) && u.has_token_key());
  ASSERT_TRUE(sub->reader->Read(&u) && u.has_thresholds());
  EXPECT_EQ(u.thresholds().tenants(0).state(), pb::THRESHOLD_STATE_NORMAL);
  const auto fleet_says = [&](pb::ThresholdState state) {
    pb::ThresholdStates states;
    auto* t = states.add_tenants();
    t->set_name("harbor");
    t->set_state(state);
    dataplanes_->fleet_states(states);
  };
  // Whether the data plane is sent `state` (before the subscription's
  // deadline); states sent again on the way (a tick's) do not matter.
  const auto reaches = [&](pb::ThresholdState state) {
    while (sub->reader->Read(&u))
      if (u.has_thresholds() && u.thresholds().tenants(0).state() == state) return true;
    return false;
  };
  // The fleet crossed a line this member did not: its data planes act on it.
  fleet_says(pb::THRESHOLD_STATE_EXCEEDED);
  EXPECT_TRUE(reaches(pb::THRESHOLD_STATE_EXCEEDED));
  fleet_says(pb::THRESHOLD_STATE_NORMAL);
  EXPECT_TRUE(reaches(pb::THRESHOLD_STATE_NORMAL));

  EXPECT_EQ(report(batch("dp-a", 1, {11, 12, 13})),
            std::make_pair(uint64_t{0}, grpc::StatusCode::UNAVAILABLE))
      << "not acknowledged while the fleet cannot store it";
  etcd_up = true;
  EXPECT_EQ(report(batch("dp-a", 1, {11, 12, 13})), std::make_pair(uint64_t{1}, grpc::StatusCode::OK));
  EXPECT_EQ(stored.load(), 1);
  EXPECT_EQ(compliance().rows(0).individuals(), 3u) << "the resend counted once here";
  // Three people cross this member's own line of three: its state acts
  // though the fleet's (stale) says normal, and its notice is the fleet
  // owner's to raise.
  EXPECT_TRUE(reaches(pb::THRESHOLD_STATE_EXCEEDED));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(audit_of("compliance_notice").empty());
  stop_ticking();
}

// A batch that cannot be right counts nothing: tokens under another key,
// indexes out of range, no sequence number.
TEST_F(DaemonInProcess, AReportBatchThatCannotBeRightIsRefusedWhole) {
  ASSERT_NO_FATAL_FAILURE(commit_counted());
  const uint64_t fingerprint = fingerprint_;
  fingerprint_ = fingerprint ^ 1;
  EXPECT_EQ(report(batch("dp-a", 1, {11})).second, grpc::StatusCode::FAILED_PRECONDITION);
  fingerprint_ = fingerprint;
  pb::ReportBatch b = batch("dp-a", 1, {11, 12});
  b.mutable_tokens(1)->set_tenant(1);
  EXPECT_EQ(report(b).second, grpc::StatusCode::INVALID_ARGUMENT);
  b = batch("dp-a", 0, {11});
  EXPECT_EQ(report(b).second, grpc::StatusCode::INVALID_ARGUMENT);
  b = batch("dp-a", 1, {11});
  b.mutable_tokens(0)->set_data_class(pb::DATA_CLASS_UNSPECIFIED);
  EXPECT_EQ(report(b).second, grpc::StatusCode::INVALID_ARGUMENT);
  b = batch("../dp", 1, {11});
  EXPECT_EQ(report(b).second, grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(compliance().rows_size(), 0) << "nothing counted";
  EXPECT_FALSE(audit_of("report_refused").empty());
}

// A compliance state that does not load is never replaced by an empty
// year: ftzgated counts nothing, says why to every reporting data plane
// (which keeps its tokens), and leaves the file as it found it.
TEST(ComplianceCenterTest, AStateFileThatDoesNotLoadIsNeverReplaced) {
  test::TempDir dir{"center"};
  const std::string state = dir.file("compliance/ledger.state");
  std::filesystem::create_directories(dir.file("compliance"));
  std::ofstream(state) << "FTZCMPL not really";
  std::vector<std::string> audited;
  auto center = ComplianceCenter::open(
      dir.file("compliance"), [] { return kT0Ms; },
      [&](const std::string& type, bool, nlohmann::ordered_json) {
        audited.push_back(type);
        return true;
      });
  ASSERT_TRUE(center) << center.error();
  auto loaded = config::load_config_from_string(kConfig, "counted.yaml");
  ASSERT_TRUE(loaded);
  const auto configured = (*center)->configure(loaded->spec);
  ASSERT_FALSE(configured);
  EXPECT_NE(configured.error().find("ledger.state"), std::string::npos) << configured.error();
  pb::ReportBatch b;
  b.set_dataplane_id("dp-a");
  b.set_seq(1);
  const auto applied = (*center)->apply(b);
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(applied.error().error_message().find("cannot load its compliance state"), std::string::npos);
  (*center)->stop();
  std::ostringstream kept;
  kept << std::ifstream(state).rdbuf();
  EXPECT_EQ(kept.str(), "FTZCMPL not really");
}

// A running generation whose count cannot be configured (here a store
// written before the loader required compliance.key_file) is published at
// start with the failure audited. The audit record used to take the lock
// publish_running() held: ftzgated hung at start (found by fuzz_rpc).
class DaemonWithAnUnloadableCount : public DaemonInProcess {
 protected:
  DaemonWithAnUnloadableCount() {
    // harbor's, without the compliance files.
    initial_ = kConfig;
    for (const std::string_view line :
         {"  key_file: ignored/token.key\n", "  state_file: ignored/compliance.state\n"}) {
      const size_t at = initial_.find(line);
      EXPECT_NE(at, std::string::npos) << line;
      if (at != std::string::npos) initial_.erase(at, line.size());
    }
  }
};

TEST_F(DaemonWithAnUnloadableCount, StartsAndAuditsThatTheCountKeepsThePreviousTenants) {
  // SetUp published generation 1: reaching here means it did not hang.
  const auto failures = audit_of("compliance_configure");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0]["success"], false);
  EXPECT_NE(failures[0]["details"]["reason"].get<std::string>().find("key_file"), std::string::npos);
  pb::ShowCommitsReply commits;
  EXPECT_TRUE(call(&pb::Management::Stub::ShowCommits, pb::ShowCommitsRequest{}, &commits).ok());
  EXPECT_EQ(commits.running_generation(), 1u);
}

}  // namespace
}  // namespace ftz::daemon
