#pragma once
// ftzgated's Management service (proto/ftzgate/v1/management.proto): the
// store, the accounts and the audit log behind one mutex (administrator
// requests are rare; none waits on another process), sessions in memory.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dataplane_service.hpp"
#include "ftz/accounts/accounts.hpp"
#include "ftz/audit/audit_log.hpp"
#include "ftz/bundle/trusted_keys.hpp"
#include "ftz/config/config.hpp"
#include "ftz/pki/authority.hpp"
#include "ftz/store/config_store.hpp"
#include "ftzgate/v1/management.grpc.pb.h"
#include "metrics.hpp"

namespace ftz::daemon {

// Wall-clock milliseconds; tests inject another.
using Clock = std::function<int64_t()>;

// The configuration check a load and a commit run: empty when `config`
// validates, else every error as "file:line:col: path: message", one a
// line. Included files come from config.files only; `filename` names the
// text (its directory is dropped: the files are found by reference).
std::string validate_config(const store::Configuration& config, const std::string& filename);
// validate_config() with the loaded configuration.
tl::expected<config::LoadedConfig, std::string> load_checked(const store::Configuration& config,
                                                             const std::string& filename);
// What a valid configuration names that will not act as written, one
// message each (ftzctl load and ftzgated --init print them).
std::vector<std::string> load_warnings(const ftzgate::v1::Config& model);

// The signature packs `model` uses, by reference, each with its
// SHA-256 and the key its vendor's detached signature (PACK.sig) verifies
// with among `trusted` ("signed_by"; null: no signature, loaded on the
// security administrator's word); or why a signature that is there does
// not hold.
tl::expected<nlohmann::ordered_json, std::string> check_pack_signatures(
    const ftzgate::v1::Config& model, const std::map<std::string, std::string>& files,
    const bundle::TrustedKeys& trusted);

class ManagementService final : public ftzgate::v1::Management::Service {
 public:
  ManagementService(store::ConfigStore& store, accounts::AccountStore& accounts, audit::AuditLog& audit,
                    std::string audit_dir, std::string audit_public_pem, pki::Authority& authority,
                    const bundle::TrustedKeys& vendor_keys, Clock clock, int64_t idle_timeout_s,
                    DataplaneService& dataplanes);

  // How often tick() verifies the audit log (seconds; the first time at the
  // first tick).
  void set_audit_verify_interval(int64_t seconds) { audit_verify_interval_ms_ = seconds * 1000; }

  // In a fleet (docs/fleet.md; main.cpp wires ftz::fleet::FleetMember, so
  // that this library stays free of etcd): a commit here is published to
  // the fleet first and happens only if the fleet takes it.
  struct FleetPublished {
    enum class Outcome : uint8_t { kWon, kLost, kBehind } outcome = Outcome::kLost;
    uint64_t generation = 0;  // kWon: the commit's; else the fleet's
    std::string member;       // kLost, kBehind: whose commit the fleet runs
  };
  // (local generation, its content hash, the configuration, user, comment,
  // now, confirm by): an error when the fleet cannot be reached. Called
  // without the service's lock (with change_mu_), as FleetConfirmer is.
  using FleetPublisher = std::function<tl::expected<FleetPublished, std::string>(
      uint64_t, const std::string&, const store::Configuration&, const std::string&, const std::string&,
      int64_t, std::optional<int64_t>)>;
  // (user, now): confirms the fleet's pending commit confirmed; its
  // generation, or nullopt when none is pending.
  using FleetConfirmer =
      std::function<tl::expected<std::optional<uint64_t>, std::string>(const std::string&, int64_t)>;
  // Fills `show fleet`'s reply from etcd (called without the service's lock).
  using FleetShower = std::function<void(ftzgate::v1::ShowFleetReply*)>;
  // Fills `show compliance fleet [year YEAR]`'s reply: the fleet's count
  // (this year's: 0) as etcd holds it (called without the service's lock).
  using FleetCount = std::function<grpc::Status(int32_t, ftzgate::v1::ShowComplianceReply*)>;
  // `audit verify fleet`: this member's anchors, and every member's in the
  // reply (called without the service's lock).
  using FleetAnchors = std::function<tl::expected<std::vector<audit::FleetAnchor>, std::string>(
      ftzgate::v1::AuditVerifyReply*)>;
  struct FleetLink {
    FleetPublisher publish;
    FleetShower show;
    FleetCount compliance;
    FleetAnchors anchors;
    FleetConfirmer confirm;
  };
  // `state_file` keeps, across restarts, the newest fleet generation this
  // member ran and a local-only override it runs (JSON, written atomically).
  void set_fleet(std::string fleet, FleetLink link, std::string state_file);
  // What this appliance reports to its fleet: the running generation, its
  // content hash and its data planes.
  struct LocalState {
    uint64_t generation = 0;
    std::string sha256;
    uint32_t dataplanes = 0;
    uint32_t dataplanes_connected = 0;
    uint32_t dataplanes_current = 0;  // connected and running the running generation
  };
  LocalState local_state();
  // The fleet's commit `generation` (by `user` on `member`, signed with the
  // member key `signed_by`): validated here
  // as a commit is, then the running configuration, pushed to the data
  // planes and audited. The error says why it was refused (nothing changes).
  tl::expected<void, std::string> apply_fleet_commit(uint64_t generation, const std::string& member,
                                                     const std::string& user, const std::string& comment,
                                                     const std::string& signed_by,
                                                     const store::Configuration& config);
  // The fleet's commit `generation` with content hash `sha256` is what runs
  // here already: it becomes the newest fleet generation this member ran.
  void runs_fleet_generation(uint64_t generation, const std::string& sha256);
  // The running generation and its content hash.
  std::pair<uint64_t, std::string> running();
  tl::expected<store::Configuration, std::string> running_configuration();

  grpc::Status Login(grpc::ServerContext* ctx, const ftzgate::v1::LoginRequest* req,
                     ftzgate::v1::LoginReply* reply) override;
  grpc::Status ChangePassword(grpc::ServerContext* ctx, const ftzgate::v1::ChangePasswordRequest* req,
                              ftzgate::v1::ChangePasswordReply* reply) override;
  grpc::Status ShowConfiguration(grpc::ServerContext* ctx, const ftzgate::v1::ShowConfigurationRequest* req,
                                 ftzgate::v1::ShowConfigurationReply* reply) override;
  grpc::Status Load(grpc::ServerContext* ctx, const ftzgate::v1::LoadRequest* req,
                    ftzgate::v1::LoadReply* reply) override;
  grpc::Status Edit(grpc::ServerContext* ctx, const ftzgate::v1::EditRequest* req,
                    ftzgate::v1::EditReply* reply) override;
  grpc::Status Commit(grpc::ServerContext* ctx, const ftzgate::v1::CommitRequest* req,
                      ftzgate::v1::CommitReply* reply) override;
  grpc::Status Confirm(grpc::ServerContext* ctx, const ftzgate::v1::ConfirmRequest* req,
                       ftzgate::v1::ConfirmReply* reply) override;
  grpc::Status Rollback(grpc::ServerContext* ctx, const ftzgate::v1::RollbackRequest* req,
                        ftzgate::v1::RollbackReply* reply) override;
  grpc::Status ShowCommits(grpc::ServerContext* ctx, const ftzgate::v1::ShowCommitsRequest* req,
                           ftzgate::v1::ShowCommitsReply* reply) override;
  grpc::Status AuditVerify(grpc::ServerContext* ctx, const ftzgate::v1::AuditVerifyRequest* req,
                           ftzgate::v1::AuditVerifyReply* reply) override;
  grpc::Status ShowDataplanes(grpc::ServerContext* ctx, const ftzgate::v1::ShowDataplanesRequest* req,
                              ftzgate::v1::ShowDataplanesReply* reply) override;
  grpc::Status ShowCompliance(grpc::ServerContext* ctx, const ftzgate::v1::ShowComplianceRequest* req,
                              ftzgate::v1::ShowComplianceReply* reply) override;
  grpc::Status ShowAlerts(grpc::ServerContext* ctx, const ftzgate::v1::ShowAlertsRequest* req,
                          ftzgate::v1::ShowAlertsReply* reply) override;
  grpc::Status IssueCertificate(grpc::ServerContext* ctx, const ftzgate::v1::IssueCertificateRequest* req,
                                ftzgate::v1::IssueCertificateReply* reply) override;
  grpc::Status RevokeCertificate(grpc::ServerContext* ctx, const ftzgate::v1::RevokeCertificateRequest* req,
                                 ftzgate::v1::RevokeCertificateReply* reply) override;
  grpc::Status ShowCertificates(grpc::ServerContext* ctx, const ftzgate::v1::ShowCertificatesRequest* req,
                                ftzgate::v1::ShowCertificatesReply* reply) override;
  grpc::Status RestartDataplane(grpc::ServerContext* ctx, const ftzgate::v1::RestartDataplaneRequest* req,
                                ftzgate::v1::RestartDataplaneReply* reply) override;
  grpc::Status AddUser(grpc::ServerContext* ctx, const ftzgate::v1::AddUserRequest* req,
                       ftzgate::v1::AddUserReply* reply) override;
  grpc::Status DeleteUser(grpc::ServerContext* ctx, const ftzgate::v1::DeleteUserRequest* req,
                          ftzgate::v1::DeleteUserReply* reply) override;
  grpc::Status GrantRole(grpc::ServerContext* ctx, const ftzgate::v1::GrantRoleRequest* req,
                         ftzgate::v1::GrantRoleReply* reply) override;
  grpc::Status ShowUsers(grpc::ServerContext* ctx, const ftzgate::v1::ShowUsersRequest* req,
                         ftzgate::v1::ShowUsersReply* reply) override;
  grpc::Status AuditShow(grpc::ServerContext* ctx, const ftzgate::v1::AuditShowRequest* req,
                         ftzgate::v1::AuditShowReply* reply) override;
  grpc::Status ShowSystemStatus(grpc::ServerContext* ctx, const ftzgate::v1::ShowSystemStatusRequest* req,
                                ftzgate::v1::ShowSystemStatusReply* reply) override;
  grpc::Status ShowFleet(grpc::ServerContext* ctx, const ftzgate::v1::ShowFleetRequest* req,
                         ftzgate::v1::ShowFleetReply* reply) override;

  // The running generation to the data planes (at start; commits and
  // confirm timeouts publish on their own).
  void publish_running();
  // A record of the daemon itself (data-plane ACKs and NACKs); false when it
  // could not be written. Safe to call with or without mu_ held.
  bool record_system(const std::string& event_type, bool success, nlohmann::ordered_json details);
  // A stop (`ftzgated_stop` with `reason`: the signal, or why it could not
  // serve), then a signed checkpoint: the log is signed to its last record.
  void record_stop(const std::string& reason);

  // The commit-confirmed timer's step (the daemon calls it every second).
  void tick();

  // The Prometheus exposition (metrics.hpp) of what `show system status`,
  // `show dataplanes`, `show compliance` and `show alerts` return.
  std::string metrics();

 private:
  struct Session {
    std::string user;
    accounts::Role role = accounts::Role::kOperator;
    bool authenticated = false;  // false: a failed login's typed name, or the daemon itself
    bool must_change = false;
    int64_t last_ms = 0;
    // The serial of the certificate the session logged in with (over TCP;
    // empty on the unix socket): every call must come with the same one.
    std::string cert_serial;
  };
  enum class Need : uint8_t { kAny, kRead, kPolicy, kAudit, kSystem };

  // The caller's session when its role may do `need`; otherwise the status
  // to return (a denial is audited as `event_type`).
  std::optional<grpc::Status> authorize(grpc::ServerContext* ctx, Need need, const char* event_type,
                                        Session& out);
  // Appends the record; an error status when it cannot be written (the
  // action is then refused).
  std::optional<grpc::Status> record(const Session& s, grpc::ServerContext* ctx,
                                     const std::string& event_type, bool success,
                                     nlohmann::ordered_json details);

  // Once a day: a record and a line on stderr for each certificate (the
  // server's included) not revoked that expires within kExpiringSeconds.
  void warn_of_expiring_certificates(int64_t now_ms);
  // Keeps `r` as the last verification; a log that stops verifying is
  // said on stderr and recorded (the appended record is itself chained).
  // The caller holds mu_ and audit_mu_.
  void note_audit_verification(const audit::VerifyReport& r, int64_t now_ms, const char* by);
  static constexpr int64_t kExpiringSeconds = int64_t{30} * 86400;

  // What committing `c` changes in the running configuration (lines,
  // top-level sections, included files), for the commit's audit record.
  nlohmann::ordered_json change_summary(const store::Candidate& c);

  // The caller's candidate, or the running configuration to start one from
  // (edits and `load merge`; the caller holds mu_).
  tl::expected<store::Candidate, grpc::Status> candidate_or_running(const std::string& user);

  // Records `event_type` as refused, `why` added to `details`; the status
  // to refuse with (the audit log's, when the record cannot be written).
  grpc::Status refuse(const Session& s, grpc::ServerContext* ctx, const std::string& event_type,
                      nlohmann::ordered_json details, grpc::StatusCode code, const std::string& why);

  // Ends every session of `user` (deleted, or its role changed).
  void end_sessions_of(const std::string& user);

  // Hands the running generation to the data planes (the caller holds mu_).
  void publish_running_locked();

  // `show system status` (the caller holds mu_).
  grpc::Status system_status_locked(ftzgate::v1::ShowSystemStatusReply* reply);

  // Confirms the pending commit confirmed. The caller holds change_mu_ and
  // `lock` on mu_, which is released while the fleet's etcd confirms.
  tl::expected<uint64_t, grpc::Status> confirm_locked(const Session& s, grpc::ServerContext* ctx,
                                                      std::unique_lock<std::mutex>& lock);

  // The data planes' counts of LocalState (the registry has its own lock).
  void count_dataplanes(LocalState& out);

  std::string fleet_;  // empty: no fleet
  FleetLink fleet_link_;
  // The newest fleet generation this member runs or ran (committed here or
  // applied): an older one that arrives late is not applied.
  uint64_t fleet_generation_ = 0;
  // The local generation of a `commit local-only` running here (0: none):
  // the fleet's commits up to fleet_generation_ leave it alone.
  uint64_t override_generation_ = 0;
  std::string fleet_state_file_;
  // fleet_generation_ and override_generation_ to fleet_state_file_; false
  // (said on stderr) when it cannot be written.
  bool save_fleet_state();
  // `generation` of the fleet runs here now: the newest fleet generation
  // this member ran, unless an older one; any override has ended. True
  // when an override ended (the data planes' service is told by a publish).
  bool ran_fleet_generation_locked(uint64_t generation);
  // Held by whatever moves the running generation or a candidate (load,
  // edit, commit, confirm, rollback, a fleet commit applied), taken before
  // mu_. It, not mu_, is held across the fleet's etcd calls: with mu_
  // released meanwhile, show commands and tick() (which systemd's watchdog
  // waits on) go on while etcd is slow or away. tick() only tries it: an
  // expired commit confirmed waits for the next tick.
  std::mutex change_mu_;
  std::mutex mu_;
  // The audit log's own lock, taken after mu_ or alone: record_system()
  // runs on data planes' threads and inside publish_running_locked(), whose
  // caller already holds mu_.
  std::mutex audit_mu_;
  store::ConfigStore& store_;
  accounts::AccountStore& accounts_;
  audit::AuditLog& audit_;
  std::string audit_dir_;
  std::string audit_pem_;
  pki::Authority& authority_;
  const bundle::TrustedKeys& vendor_keys_;  // what signature packs may be signed with
  Clock clock_;
  int64_t started_ms_;
  int64_t next_expiry_check_ms_ = 0;
  // The audit log verified by ftzgated itself (tick()) or by `audit
  // verify`: its last result, for show system status and SNMP.
  struct AuditCheck {
    int64_t at_ms = 0;  // 0: not yet
    bool ok = true;
    std::string problem;
  };
  AuditCheck audit_check_;
  int64_t audit_verify_interval_ms_ = int64_t{3600} * 1000;
  int64_t next_audit_check_ms_ = 0;
  int64_t idle_timeout_ms_;
  std::map<std::string, Session> sessions_;
  DataplaneService& dataplanes_;
};

}  // namespace ftz::daemon
