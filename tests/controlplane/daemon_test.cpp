// ftzgated's services in-process, on a real gRPC unix socket, with the clock
// injected: a `commit confirmed` not confirmed by its deadline is rolled back
// and every subscribed data plane receives the previous configuration as a
// new generation (issue 10 §6), without waiting minutes.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "dataplane_service.hpp"
#include "ftz/bundle/bundle.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/test/files.hpp"
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
constexpr int64_t kT0Ms = int64_t{1'790'000'000} * 1000;

class DaemonInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store::ConfigStore::init(tmp_.file("state"), {kAllow}, "ftzgated", kT0Ms / 1000));
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
    dataplanes_ = std::make_unique<DataplaneService>(
        *key_, clock, [this](const std::string& type, bool ok, nlohmann::ordered_json details) {
          return management_->record_system(type, ok, std::move(details));
        });
    management_ = std::make_unique<ManagementService>(*store_, *accounts_, *audit_, tmp_.file("audit"),
                                                      key_->public_pem(), clock, 900, *dataplanes_);
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

  // The next bundle on `reader`, opened as a data plane opens it.
  std::optional<bundle::OpenedBundle> next(grpc::ClientReader<pb::BundleUpdate>& reader) {
    pb::BundleUpdate u;
    if (!reader.Read(&u)) return std::nullopt;
    auto opened = bundle::open_bundle(u.bundle(), trusted_, bundle::host_platform());
    EXPECT_TRUE(opened) << opened.error();
    if (!opened) return std::nullopt;
    return std::move(*opened);
  }

  test::TempDir tmp_{"daemon"};
  std::atomic<int64_t> now_ms_{kT0Ms};
  std::optional<store::ConfigStore> store_;
  std::optional<keys::SigningKey> key_;
  bundle::TrustedKeys trusted_;
  std::optional<accounts::AccountStore> accounts_;
  std::optional<audit::AuditLog> audit_;
  std::unique_ptr<DataplaneService> dataplanes_;
  std::unique_ptr<ManagementService> management_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string session_;
};

TEST_F(DaemonInProcess, AnUnconfirmedCommitIsRolledBackOnEveryDataPlane) {
  auto dp = pb::Dataplane::NewStub(channel_);
  grpc::ClientContext sub;
  pb::SubscribeRequest req;
  req.set_dataplane_id("dp-t");
  *req.mutable_platform() = bundle::host_platform();
  auto reader = dp->Subscribe(&sub, req);
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
  grpc::ClientContext ack_ctx;
  pb::AckRequest ack;
  ack.set_dataplane_id("dp-t");
  ack.set_generation(3);
  ack.set_body_sha256(third->body_sha256);
  ack.set_apply_us(1200);
  pb::AckReply acked;
  ASSERT_TRUE(dp->Ack(&ack_ctx, ack, &acked).ok());
  shown.Clear();
  ASSERT_TRUE(call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest{}, &shown).ok());
  EXPECT_EQ(shown.dataplanes(0).state(), "running");
  EXPECT_EQ(shown.dataplanes(0).last_apply_us(), 1200u);
  sub.TryCancel();
}

TEST_F(DaemonInProcess, AckFromAnUnknownDataPlaneAndBadIdsAreRefused) {
  auto dp = pb::Dataplane::NewStub(channel_);
  grpc::ClientContext ctx;
  pb::AckRequest ack;
  ack.set_dataplane_id("ghost");
  ack.set_generation(1);
  ack.set_apply_us(1);
  pb::AckReply reply;
  EXPECT_EQ(dp->Ack(&ctx, ack, &reply).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  grpc::ClientContext bad;
  ack.set_dataplane_id("../etc");
  EXPECT_EQ(dp->Ack(&bad, ack, &reply).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext sub;
  pb::SubscribeRequest req;
  req.set_dataplane_id(std::string(65, 'a'));
  auto reader = dp->Subscribe(&sub, req);
  pb::BundleUpdate u;
  EXPECT_FALSE(reader->Read(&u));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Ids are made up by whoever holds the socket: the registry stays bounded.
TEST_F(DaemonInProcess, TheRegistryOfDataPlanesIsBounded) {
  auto dp = pb::Dataplane::NewStub(channel_);
  const auto subscribe = [&](const std::string& id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::SubscribeRequest req;
    req.set_dataplane_id(id);
    *req.mutable_platform() = bundle::host_platform();
    auto reader = dp->Subscribe(&ctx, req);
    pb::BundleUpdate u;
    if (!reader->Read(&u)) return reader->Finish().error_code();
    ctx.TryCancel();  // it had generation 1 at once: subscribed
    (void)reader->Finish();
    return grpc::StatusCode::OK;
  };
  for (int i = 0; i < 256; ++i) ASSERT_EQ(subscribe("dp-" + std::to_string(i)), grpc::StatusCode::OK) << i;
  EXPECT_EQ(subscribe("dp-one-too-many"), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(subscribe("dp-7"), grpc::StatusCode::OK) << "a known data plane comes back";
}

}  // namespace
}  // namespace ftz::daemon
