#pragma once
// What the fleet keeps in etcd for its policy (decision 0022 §2), as text:
// the commit point and the committed configurations. Apart from the client,
// gRPC-free, so that the fuzz build reads them (fuzz_fleet_records): a
// value in etcd is checked, never trusted.
//
// Keys under /ftzgate/fleets/NAME/:
//   running        the fleet's commit point (FleetCommit, JSON)
//   configs/SHA    a committed configuration, content-addressed (JSON: the
//                  text and the included files, base64)
//   status/MEMBER  what a member last reported (MemberStatus, JSON),
//                  rewritten only when it changes
//   alive/MEMBER   empty, on the member's lease: gone when the member has
//                  not reached etcd for the lease's TTL
//   audit/MEMBER/SEQ
//                  a checkpoint of the member's audit log (AuditAnchor,
//                  JSON), written once
// and for its count (decision 0023):
//   tokens/YEAR/MEMBER/DATAPLANE/BOOT-SEQ-PART
//                  a data plane's report batch (ReportBatch, protobuf),
//                  written once (create only), in parts below etcd's limit
//   ledger/owner   the member that keeps the fleet's ledger, on its lease
//   ledger/summary the fleet's counts (ShowComplianceReply, protobuf),
//   ledger/states  its threshold states (ThresholdStates) and
//   ledger/years/YEAR
//                  a year's counts (ShowComplianceReply), by the owner,
//                  each signed (LedgerValue, JSON)
//   notices/YEAR/TENANT/CLASS/THRESHOLD/KIND-PERCENT
//                  a notice raised (create only: audited once in the fleet)

#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/fleet/endpoints.hpp"
#include "ftz/store/config_store.hpp"

namespace ftz::fleet {

struct FleetCommit {
  uint64_t generation = 0;
  std::string config_sha256;  // store::content_hash of the configuration
  std::string member;         // the member that committed it
  std::string user;           // the account that committed it there
  int64_t time_s = 0;
  std::string comment;
  std::string nonce;  // makes every commit point's value unique (Etcd::put_if)
  // The committing member's detached signature (keys::make_detached, the
  // .sig text) of signed_content(): members apply only what a member key
  // they trust signed, so that write access to etcd is not the power to
  // set the fleet's policy.
  std::string signature;
  // A commit confirmed (issue 14 §1): unless a member confirms it (a commit
  // point with confirm_by_s 0) by confirm_by_s, a member rolls the fleet
  // back to previous_sha256, the configuration the fleet ran before it.
  int64_t confirm_by_s = 0;
  std::string previous_sha256;
};

std::string format_commit(const FleetCommit& c);
// What the signature covers: every field but the signature, after a
// prefix of its own ("ftzgate-fleet-commit-v1"), so that no other signed
// text of the same key verifies as a commit.
std::string signed_content(const FleetCommit& c);
// The error names what is wrong; `where` is the key it was read from.
Result<FleetCommit> parse_commit(std::string_view text, const std::string& where);

// A member's running state as it reports it to the fleet (`show fleet`).
struct MemberStatus {
  std::string member;
  uint64_t running_generation = 0;
  std::string running_sha256;
  uint32_t dataplanes = 0;  // known to its ftzgated
  uint32_t dataplanes_connected = 0;
  uint32_t dataplanes_current = 0;  // connected and running its running generation
  int64_t time_s = 0;               // when this changed

  // Equal apart from the time.
  [[nodiscard]] bool same_state(const MemberStatus& o) const noexcept {
    return member == o.member && running_generation == o.running_generation &&
           running_sha256 == o.running_sha256 && dataplanes == o.dataplanes &&
           dataplanes_connected == o.dataplanes_connected && dataplanes_current == o.dataplanes_current;
  }
};

std::string format_status(const MemberStatus& s);
Result<MemberStatus> parse_status(std::string_view text, const std::string& where);

// A checkpoint of a member's audit log, anchored in etcd (issue 14 §3):
// its seq and record hash. The log stays on the member (MLPS: collected,
// not merged); the anchors let `audit verify fleet` find a member log that
// was deleted or made again.
struct AuditAnchor {
  std::string member;
  uint64_t seq = 0;
  std::string hash;  // the checkpoint record's SHA-256, hex
  int64_t time_s = 0;
};
std::string format_anchor(const AuditAnchor& a);
Result<AuditAnchor> parse_anchor(std::string_view text, const std::string& where);

// What the ledger's owner writes under ledger/: a protobuf message's bytes
// and the owner's detached signature (keys::make_detached, the .sig text)
// of ledger_signed_content(), so that write access to etcd is not the
// power to set the fleet's count or threshold states.
struct LedgerValue {
  std::string payload;
  std::string signature;
};
std::string format_ledger_value(const LedgerValue& v);
// What the signature covers: a prefix of its own
// ("ftzgate-fleet-ledger-v1"), the key the value is written under (a
// year's count does not verify as this year's, nor states as counts) and
// the payload.
std::string ledger_signed_content(std::string_view key, std::string_view payload);
Result<LedgerValue> parse_ledger_value(std::string_view text, const std::string& where);

std::string format_configuration(const store::Configuration& c);
// Also checks the content against `sha256` (its key).
Result<store::Configuration> parse_configuration(std::string_view text, const std::string& sha256,
                                                 const std::string& where);

// A fleet or member name: 1-63 of [a-z0-9-], starting with a letter (a DNS
// label: it is part of etcd keys and of audit records).
bool valid_name(std::string_view name) noexcept;

struct FleetKeys {
  explicit FleetKeys(const std::string& fleet) : prefix("/ftzgate/fleets/" + fleet + "/") {}
  [[nodiscard]] std::string running() const { return prefix + "running"; }
  [[nodiscard]] std::string config(const std::string& sha256) const { return prefix + "configs/" + sha256; }
  [[nodiscard]] std::string statuses() const { return prefix + "status/"; }
  [[nodiscard]] std::string status(const std::string& member) const { return statuses() + member; }
  [[nodiscard]] std::string alive() const { return prefix + "alive/"; }
  [[nodiscard]] std::string alive(const std::string& member) const { return alive() + member; }
  [[nodiscard]] std::string tokens() const { return prefix + "tokens/"; }
  // Under the year (Asia/Shanghai) the member stored it in, so that a
  // closed year's batches go with one prefix; hex, fixed width: a data
  // plane's batches list in (boot, seq) order.
  [[nodiscard]] std::string batch(int32_t year, const std::string& member, const std::string& dataplane,
                                  uint64_t boot_id, uint64_t seq, unsigned part) const;
  // The year of a batch's key (0 when it is not one).
  [[nodiscard]] int32_t batch_year(const std::string& key) const;
  [[nodiscard]] std::string ledger_owner() const { return prefix + "ledger/owner"; }
  [[nodiscard]] std::string ledger_summary() const { return prefix + "ledger/summary"; }
  [[nodiscard]] std::string ledger_states() const { return prefix + "ledger/states"; }
  // The fleet's count of `year` as its owner last wrote it (kept after the
  // year's batches are deleted).
  [[nodiscard]] std::string ledger_year(int32_t year) const {
    return prefix + "ledger/years/" + std::to_string(year);
  }
  [[nodiscard]] std::string notices() const { return prefix + "notices/"; }
  [[nodiscard]] std::string audit() const { return prefix + "audit/"; }
  // Zero-padded: a member's anchors list in seq order.
  [[nodiscard]] std::string audit(const std::string& member, uint64_t seq) const;
  std::string prefix;
};

}  // namespace ftz::fleet
