#pragma once
// ftzgated's Dataplane service (proto/ftzgate/v1/dataplane.proto): data
// planes subscribe and receive the token key, the tenants' threshold states
// and the running generation's signed bundle, now and after every change;
// they ACK or NACK each bundle and report their tokens (ComplianceCenter
// counts them), counters and alerts. The registry behind `show dataplanes` lives here, kept in
// a file so that a restarted ftzgated still lists every data plane.
//
// Bundles are built (validated, Hyperscan compiled for the subscriber's
// platform, signed) outside the lock and cached per (generation, platform):
// one compile per distinct CPU, however many data planes share it.

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "compliance_center.hpp"
#include "ftz/bundle/bundle.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"
#include "ftzgate/v1/management.pb.h"
#include "peer.hpp"

namespace ftz::keys {
class SigningKey;
}

namespace ftz::daemon {

// Adds the counters of `from` (not the gauges: uptime_s, flows_active, the
// tables' capacities and scan states) into `into`,
// ports by name.
void add_counters(ftzgate::v1::DataplaneStats& into, const ftzgate::v1::DataplaneStats& from);

class DataplaneService final : public ftzgate::v1::Dataplane::Service {
 public:
  // `registry` (STATE/dataplanes.json; empty: memory only) is read now and
  // written whenever a data plane's record changes. A file that does not
  // read is moved aside (REGISTRY.damaged) with a warning on stderr: the
  // registry is what the NOC sees, not what the appliance enforces.
  DataplaneService(const keys::SigningKey& key, const pki::Authority& authority,
                   std::function<int64_t()> clock_ms, AuditHook audit, ComplianceCenter& compliance,
                   std::string registry = {});

  // The running generation changed (start, commit, confirm timeout): every
  // subscriber gets its bundle, and the count takes its tenants and
  // thresholds. `fleet_policy`: it is the fleet's configuration, not a
  // local-only override (FleetHooks::configured).
  void publish(bundle::Commit running, bool fleet_policy);
  // Once a second: the count saves and evaluates; changed threshold states
  // go to every subscriber.
  void tick();
  // Ends every Subscribe stream (before the server shuts down).
  void stop();

  grpc::Status Subscribe(grpc::ServerContext* ctx, const ftzgate::v1::SubscribeRequest* req,
                         grpc::ServerWriter<ftzgate::v1::Update>* writer) override;
  grpc::Status Ack(grpc::ServerContext* ctx, const ftzgate::v1::AckRequest* req,
                   ftzgate::v1::AckReply* reply) override;

  grpc::Status Report(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<ftzgate::v1::ReportAck, ftzgate::v1::ReportBatch>* stream) override;

  // Before serving: where each alert goes besides `show alerts` (the
  // syslog export). Called with the service's lock held: it must not block.
  void set_alert_sink(std::function<void(const ftzgate::v1::AlertRecord&)> sink) {
    alert_sink_ = std::move(sink);
  }

  // A member of a fleet (decision 0023), before serving: `store` puts a
  // batch, once counted and saved here, into etcd (an error: the batch is
  // not acknowledged, its data plane keeps it); `configured` gets the
  // running generation's policy for the fleet's count, and whether it is
  // the fleet's (false: a local-only override, decision 0023). The fleet's owner
  // audits the notices: this member's own count stays quiet.
  struct FleetHooks {
    std::function<grpc::Status(const ftzgate::v1::ReportBatch&)> store;
    std::function<void(const engine::PolicySpec&, bool fleet_policy)> configured;
  };
  void set_fleet(FleetHooks hooks);
  // The fleet's threshold states (its owner's): the data planes get, per
  // tenant, the higher of them and this member's own, so that neither a
  // fleet owner out of reach nor a stale fleet state lowers what this
  // member saw itself.
  void fleet_states(const ftzgate::v1::ThresholdStates& states);

  void show(ftzgate::v1::ShowDataplanesReply* reply);
  // Sends data plane `id` a Restart on its subscription (every open one).
  // NOT_FOUND when it is not known, FAILED_PRECONDITION when it is not
  // connected: a restart is never kept for later.
  grpc::Status request_restart(const std::string& id, const std::string& user);
  void show_compliance(ftzgate::v1::ShowComplianceReply* reply) const { compliance_.show(reply); }
  // The newest `req.last` (0: 50) alerts, of `req.dataplane` or of all.
  void show_alerts(const ftzgate::v1::ShowAlertsRequest& req, ftzgate::v1::ShowAlertsReply* reply);

 private:
  struct Record {
    std::string host;
    int streams = 0;  // open Subscribe calls
    uint64_t running_generation = 0;
    int64_t last_ack_ms = 0;
    uint64_t last_apply_us = 0;
    uint64_t nack_generation = 0;
    std::string nack_reason;
    ftzgate::v1::DataplaneStats stats;  // the newest counters (memory only)
    int64_t stats_ms = 0;               // when they came; 0: never
    uint64_t stats_boot_id = 0;         // the run that sent them
    // The counters of its earlier runs (DataplaneInfo.totals; memory only).
    ftzgate::v1::DataplaneStats carried;
    uint32_t runs = 0;  // distinct boot_ids heard from (memory only)
    // Restarts asked for: each open subscription sends one Restart per step.
    uint64_t restarts_requested = 0;
    std::string restart_requested_by;
  };
  using Built = std::shared_ptr<const tl::expected<ftzgate::v1::SignedBundle, std::string>>;

  // The caller, when it may act as data plane `id` (over TCP: its
  // certificate is a data plane's and names `id`); a refusal is audited.
  tl::expected<Peer, grpc::Status> admit(const grpc::ServerContext& ctx, const std::string& id,
                                         const char* call);

  // A batch without seq: its counters kept as the data plane's newest, its
  // alerts with the last kAlertsKept, when the registry knows the data
  // plane; how many alerts were kept. INVALID_ARGUMENT when the batch holds
  // anything else or is out of bounds.
  tl::expected<uint32_t, grpc::Status> keep_counters(const ftzgate::v1::ReportBatch& b);

  void load_registry();
  // Writes the registry as it is now (the last of racing writers writes
  // the newest state: each takes its snapshot under save_mu_).
  void save_registry();

  // The running generation's bundle for `platform`, built on first request.
  Built bundle_for(const bundle::Commit& running, const ftzgate::v1::HyperscanPlatform& platform);

  // What the data planes act on: this member's states, raised to the fleet's.
  ftzgate::v1::ThresholdStates states_for_dataplanes();

  const keys::SigningKey& key_;
  const pki::Authority& authority_;
  std::function<int64_t()> clock_ms_;
  AuditHook audit_;
  ComplianceCenter& compliance_;

  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  uint64_t epoch_ = 0;             // counts publish() calls
  uint64_t thresholds_epoch_ = 0;  // counts changes of the threshold states
  std::optional<bundle::Commit> running_;
  FleetHooks fleet_;
  std::optional<ftzgate::v1::ThresholdStates> fleet_states_;
  // (tune, cpu features) -> the running generation's bundle; cleared on publish.
  std::map<std::pair<uint32_t, uint64_t>, Built> cache_;
  std::map<std::string, Record> dataplanes_;
  // Every data plane's newest alerts, as they arrived (memory only: each
  // data plane's EVE file is the record).
  std::deque<ftzgate::v1::AlertRecord> alerts_;
  uint64_t alerts_received_ = 0;
  uint64_t alerts_dropped_ = 0;  // older than the newest kept
  std::function<void(const ftzgate::v1::AlertRecord&)> alert_sink_;
  RefusalThrottle revoked_refusals_;
  std::string registry_;
  std::mutex save_mu_;

  // Serialises bundle builds: two subscribers of one platform wait for one
  // compile instead of running two.
  std::mutex build_mu_;
};

}  // namespace ftz::daemon
