#pragma once
// This appliance as a member of a fleet (decision 0022 §2): its commits
// become the fleet's in one compare-and-swap on the fleet's commit point,
// and the other members' commits are applied here as they come (a watch),
// or when etcd is back after an outage. A member that cannot reach etcd
// keeps running its last generation; it refuses commits (the caller says
// so) until etcd answers again.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ftz/fleet/etcd.hpp"
#include "ftz/fleet/records.hpp"
#include "ftz/store/config_store.hpp"

namespace ftz::fleet {

class FleetMember {
 public:
  // What the member needs of its appliance, called from the member's own
  // thread only. They may take the appliance's lock, which publish()'s
  // caller holds: publish() never calls them.
  struct Local {
    // The running generation here and its content hash.
    std::function<std::pair<uint64_t, std::string>()> running;
    std::function<Result<store::Configuration>()> running_configuration;
    // Makes the fleet's commit (signed by `signed_by`, a key id) the running
    // configuration here, as its generation (or the next one here, when
    // that is not above ours); the error says why this appliance refuses it.
    std::function<Result<void>(const FleetCommit&, const std::string& signed_by, const store::Configuration&)>
        apply;
    // This member's detached signature of `content` (the .sig text), and
    // the key id of a trusted member key whose signature `signature` is of
    // `content`, or why not.
    std::function<std::string(const std::string& content)> sign;
    std::function<Result<std::string>(const std::string& signature, const std::string& content)> verify;
    // The fleet's commit `generation` is what runs here already (its
    // content hash is the running one's).
    std::function<void(uint64_t generation, const std::string& sha256)> runs;
    // Its running generation and data planes, for the fleet's `show fleet`
    // (the member's name is filled in by the member).
    std::function<MemberStatus()> status;
    // The checkpoints this member's audit log wrote since the last call
    // (seq, record hash), oldest first: anchored in etcd as they come.
    std::function<std::vector<std::pair<uint64_t, std::string>>()> checkpoints;
    // An event for the audit log and the daemon's log: fleet_joined,
    // fleet_commit_applied, fleet_commit_refused, fleet_etcd_lost,
    // fleet_etcd_back.
    std::function<void(const std::string& event, bool success, const std::string& detail)> note;
  };

  // Connects (an unreachable etcd is not an error: the member follows once
  // it answers). Nothing happens until start().
  static Result<std::unique_ptr<FleetMember>> join(const EtcdOptions& etcd, const std::string& fleet,
                                                   const std::string& member, Local local);
  // Follows the fleet from now on (its own thread); the fleet's first
  // member makes its running configuration the fleet's.
  void start();
  ~FleetMember();
  FleetMember(const FleetMember&) = delete;
  FleetMember& operator=(const FleetMember&) = delete;

  enum class Outcome {
    kWon,     // the fleet runs it as `generation`
    kLost,    // another member's commit came first: nothing written
    kBehind,  // this member does not run the fleet's configuration yet
  };
  struct Published {
    Outcome outcome = Outcome::kLost;
    uint64_t generation = 0;  // kWon: the new one; else the fleet's
    std::string member;       // kLost, kBehind: who committed the fleet's
  };
  // Publishes a commit made here from the running configuration (its
  // generation and content hash: the caller holds its appliance's lock, so
  // Local::running is not called): an error when etcd cannot be reached
  // (nothing may be committed then).
  // With `confirm_by` (a commit confirmed), the fleet goes back to what it
  // runs now unless a member confirms it by then (confirm()).
  Result<Published> publish(uint64_t local_generation, const std::string& local_sha,
                            const store::Configuration& config, const std::string& user,
                            const std::string& comment, int64_t now_s, std::optional<int64_t> confirm_by);
  // Confirms the fleet's pending commit confirmed (any member, any user
  // who may commit): its generation, nullopt when none is pending, or why
  // etcd did not take it.
  Result<std::optional<uint64_t>> confirm(const std::string& user, int64_t now_s);
  // When the fleet's commit point waits for a confirmation: until then
  // (unix s; 0: none).
  [[nodiscard]] int64_t confirm_by() const noexcept { return confirm_by_.load(); }

  // What `show fleet` shows: the fleet's commit point and every member's
  // last report, whether it is alive (its lease holds) and how long it has
  // not run the fleet's configuration (0: it runs it).
  struct MemberView {
    MemberStatus status;
    bool alive = false;
    int64_t lag_s = 0;
  };
  struct View {
    std::optional<FleetCommit> running;  // none before the first member joined
    std::vector<MemberView> members;     // by name
  };
  Result<View> view(int64_t now_s);

  // Every member's audit anchors (`audit verify fleet`), by member and seq.
  Result<std::vector<AuditAnchor>> anchors();

  [[nodiscard]] std::string endpoint() const { return etcd_->endpoint(); }
  [[nodiscard]] bool connected() const noexcept { return connected_.load(); }
  [[nodiscard]] uint64_t fleet_generation() const noexcept { return fleet_generation_.load(); }
  [[nodiscard]] const std::string& fleet() const noexcept { return fleet_; }
  [[nodiscard]] const std::string& member() const noexcept { return member_; }

 private:
  FleetMember(std::unique_ptr<Etcd> etcd, std::string fleet, std::string member, Local local);
  void follow();
  // Applies the fleet's commit point `text` when this member does not run
  // it yet; false when etcd failed.
  bool take(const std::string& text);
  Result<void> bootstrap();
  // At most every kReport: keeps alive/MEMBER on its lease and writes
  // status/MEMBER when what it says changed.
  void report();
  // A commit confirmed past its time, not confirmed: the fleet's commit
  // point moved back to the configuration before it (one member wins the
  // transaction; every member applies it as any commit).
  void roll_back_unconfirmed();
  // Writes the checkpoints not yet anchored (at most kMaxUnanchored kept
  // while etcd is away: the newest covers the older ones through the chain).
  void anchor();

  std::unique_ptr<Etcd> etcd_;
  std::string fleet_;
  std::string member_;
  FleetKeys keys_;
  Local local_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> fleet_generation_{0};
  std::atomic<int64_t> confirm_by_{0};
  // The fleet commit last refused here: said once, tried again after a while.
  struct Refused {
    uint64_t generation = 0;
    std::string sha256;
    std::chrono::steady_clock::time_point retry_at;
  };
  std::optional<Refused> refused_;
  // The follower thread's own (report()):
  int64_t lease_ = 0;  // alive/MEMBER's; 0: none held
  std::optional<MemberStatus> reported_;
  std::vector<AuditAnchor> unanchored_;
  std::chrono::steady_clock::time_point next_report_{};
  std::thread follower_;
};

}  // namespace ftz::fleet
