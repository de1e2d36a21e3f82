// libFuzzer target: every RPC handler of ftzgated (issue 10 §6), both
// services, reached through a real gRPC server on a unix socket in the
// scratch directory, as an account of each role or without a session. The
// request bytes travel as they are (a generic call): the server's own
// parsing is fuzzed too. Input layout: rpc_input.hpp.
//
// Invariants:
//   - no handler crashes, hangs past its deadline or trips a sanitizer;
//   - without a session, no Management call but Login succeeds;
//   - the audit administrator and the operator change nothing: their
//     Load, Edit, Commit, Confirm, Rollback, certificate and account calls
//     fail (DOMAIN.md §5, stated here, not read from the daemon's table).
//
// The daemon lives across inputs (its state grows as a real one's does);
// when a call shows that one of its sessions ended (an account deleted, a
// password changed), the next input starts a fresh daemon.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "dataplane_service.hpp"
#include "ftz/accounts/accounts.hpp"
#include "ftz/audit/audit_log.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/pki/authority.hpp"
#include "ftz/store/config_store.hpp"
#include "ftz/test/harbor.hpp"
#include "fuzz_common.hpp"
#include "rpc_input.hpp"
#include "service.hpp"

namespace {

namespace pb = ftzgate::v1;
namespace rpc = ftz::fuzz::rpc;
using ftz::fuzz::fail;

constexpr int64_t kT0Ms = int64_t{1'790'000'000} * 1000;
constexpr auto kDeadline = std::chrono::seconds(8);  // libFuzzer's -timeout is 10 s

// One tenant with a threshold, so that report batches reach the ledger.
using ftz::test::harbor::kConfig;

// What only secadmin or sysadmin may do.
const std::set<std::string> kChanges{
    "Load",    "Edit",       "Commit",   "Confirm", "Rollback", "IssueCertificate", "RevokeCertificate",
    "AddUser", "DeleteUser", "GrantRole"};

template <typename T>
T must(tl::expected<T, std::string> r, const char* what) {
  if (!r) fail(what, r.error());
  return std::move(*r);
}

class Daemon {
 public:
  explicit Daemon(const std::string& dir) : dir_(dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir + "/compliance", ec);
    ftz::fuzz::write_file(dir + "/compliance/token.key", rpc::kTokenKeyHex.data(), rpc::kTokenKeyHex.size());
    if (auto r = ftz::store::ConfigStore::init(dir + "/state", {kConfig}, "ftzgated", kT0Ms / 1000); !r)
      fail("store init", r.error().message);
    auto s = ftz::store::ConfigStore::open(dir + "/state");
    if (!s) fail("store open", s.error().message);
    store_.emplace(std::move(*s));
    key_.emplace(must(ftz::keys::SigningKey::load_or_generate(dir + "/device.key"), "device key"));
    std::string lines;
    for (const rpc::Account& a : rpc::kAccounts)
      lines += std::string(a.name) + ":" + a.role + ":" + a.password + "\n";
    const auto initial = must(ftz::accounts::AccountStore::parse_initial(lines, "accounts"), "accounts");
    accounts_.emplace(must(ftz::accounts::AccountStore::create(dir + "/accounts.json", initial), "accounts"));
    audit_.emplace(must(ftz::audit::AuditLog::open(dir + "/audit", *key_, kT0Ms), "audit log"));
    const auto clock = [] { return kT0Ms; };
    const ftz::daemon::AuditHook audit = [this](const std::string& type, bool ok, nlohmann::ordered_json d) {
      return management_->record_system(type, ok, std::move(d));
    };
    compliance_ = must(ftz::daemon::ComplianceCenter::open(dir + "/compliance", clock, audit), "compliance");
    authority_ = must(ftz::pki::Authority::open(dir + "/pki", {"localhost"}, kT0Ms / 1000), "pki");
    dataplanes_ = std::make_unique<ftz::daemon::DataplaneService>(*key_, *authority_, clock, audit,
                                                                  *compliance_, dir + "/dataplanes.json");
    management_ = std::make_unique<ftz::daemon::ManagementService>(
        *store_, *accounts_, *audit_, dir + "/audit", key_->public_pem(), *authority_, vendor_keys_, clock,
        900, *dataplanes_);
    management_->publish_running();
    grpc::ServerBuilder builder;
    // Handler threads stay: OpenSSL keeps per-thread state (the DRBGs behind
    // RAND_bytes, for session tokens and salts) that it frees when a thread
    // exits, and a leak check that catches a gRPC thread on its way out
    // reports that state as leaked (seen once in CI: 2 objects from
    // CRYPTO_zalloc, not reproduced in 10 runs since).
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 4);
    builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
    builder.AddListeningPort("unix:" + dir + "/s.sock", grpc::InsecureServerCredentials());
    builder.RegisterService(management_.get());
    builder.RegisterService(dataplanes_.get());
    server_ = builder.BuildAndStart();
    if (!server_) fail("cannot serve on the scratch socket", dir);
    channel_ = grpc::CreateChannel("unix:" + dir + "/s.sock", grpc::InsecureChannelCredentials());
    // The daemon's timer (threshold states, commit-confirm deadlines).
    ticker_ = std::thread([this] {
      while (!stop_) {
        dataplanes_->tick();
        management_->tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    for (size_t i = 0; i < rpc::kAccounts.size(); ++i) sessions_[i] = login(rpc::kAccounts[i]);
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon() {
    stop_ = true;
    ticker_.join();
    dataplanes_->stop();
    server_->Shutdown();
  }

  // Runs one input; false when a session of the fixture ended.
  bool run(rpc::Caller caller, const google::protobuf::MethodDescriptor& m, const uint8_t* data,
           size_t size) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
    if (caller != rpc::kNoSession) ctx.AddMetadata("x-ftzgate-session", sessions_[caller]);
    const std::string request(reinterpret_cast<const char*>(data), size);
    grpc::Status st;
    if (m.client_streaming()) {
      st = report(ctx, data, size);
    } else if (m.server_streaming()) {
      st = subscribe(ctx, request);
    } else {
      st = unary(ctx, "/" + m.service()->full_name() + "/" + m.name(), request);
    }
    const bool management = m.service()->name() == "Management";
    if (management && caller == rpc::kNoSession && m.name() != "Login" && st.ok())
      fail("a call without a session succeeded", m.name());
    if ((caller == rpc::kAudadmin || caller == rpc::kOperator) && kChanges.count(m.name()) != 0 && st.ok())
      fail("a role that may not change anything changed something",
           m.name() + " as " + rpc::kAccounts[caller].role);
    return !(management && caller != rpc::kNoSession && m.name() != "Login" &&
             st.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }

 private:
  std::string login(const rpc::Account& a) {
    auto stub = pb::Management::NewStub(channel_);
    grpc::ClientContext ctx;
    pb::LoginRequest req;
    req.set_user(a.name);
    req.set_password(a.password);
    pb::LoginReply reply;
    if (const auto st = stub->Login(&ctx, req, &reply); !st.ok()) fail("fixture login", st.error_message());
    return reply.session();
  }

  grpc::Status unary(grpc::ClientContext& ctx, const std::string& method, const std::string& request) {
    grpc::GenericStub stub(channel_);
    grpc::Slice slice(request);
    grpc::ByteBuffer req(&slice, 1);
    grpc::ByteBuffer reply;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &reply,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  // The first update or the refusal; then the data plane goes away.
  grpc::Status subscribe(grpc::ClientContext& ctx, const std::string& request) {
    pb::SubscribeRequest req;
    if (!req.ParseFromString(request)) return {grpc::StatusCode::INVALID_ARGUMENT, "not a SubscribeRequest"};
    auto stub = pb::Dataplane::NewStub(channel_);
    auto reader = stub->Subscribe(&ctx, req);
    pb::Update update;
    const bool got = reader->Read(&update);
    ctx.TryCancel();
    const grpc::Status st = reader->Finish();
    return got ? grpc::Status::OK : st;
  }

  // Every batch, then the acknowledgements until the server ends the stream.
  grpc::Status report(grpc::ClientContext& ctx, const uint8_t* data, size_t size) {
    auto stub = pb::Dataplane::NewStub(channel_);
    auto stream = stub->Report(&ctx);
    size_t at = 0;
    while (at + 2 <= size) {
      const size_t n = std::min<size_t>(size - at - 2, size_t{data[at]} << 8 | data[at + 1]);
      pb::ReportBatch batch;
      if (!batch.ParseFromArray(data + at + 2, static_cast<int>(n)) || !stream->Write(batch)) break;
      at += 2 + n;
    }
    stream->WritesDone();
    pb::ReportAck ack;
    while (stream->Read(&ack)) {
    }
    return stream->Finish();
  }

  std::string dir_;
  std::optional<ftz::store::ConfigStore> store_;
  std::optional<ftz::keys::SigningKey> key_;
  std::optional<ftz::accounts::AccountStore> accounts_;
  std::optional<ftz::audit::AuditLog> audit_;
  std::unique_ptr<ftz::daemon::ComplianceCenter> compliance_;
  std::unique_ptr<ftz::pki::Authority> authority_;
  ftz::bundle::TrustedKeys vendor_keys_;
  std::unique_ptr<ftz::daemon::DataplaneService> dataplanes_;
  std::unique_ptr<ftz::daemon::ManagementService> management_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::array<std::string, rpc::kAccounts.size()> sessions_;
  std::thread ticker_;
  std::atomic<bool> stop_{false};
};

// Never destroyed at exit: its server threads would outlive what static
// destruction tears down under them.
Daemon* g_daemon = nullptr;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto caller = static_cast<rpc::Caller>(data[0] % rpc::kCallers);
  const auto& methods = rpc::methods();
  if (methods.empty()) fail("the services' descriptors are not linked in");
  const google::protobuf::MethodDescriptor& m = *methods[data[1] % methods.size()];
  if (g_daemon == nullptr) g_daemon = new Daemon(ftz::fuzz::ScratchDir::path() + "/daemon");
  if (!g_daemon->run(caller, m, data + 2, size - 2)) {
    delete g_daemon;
    g_daemon = nullptr;
  }
  return 0;
}
