#pragma once
// PolicySpec: the validated, compiled form of an operator configuration, as the
// engine consumes it. The control plane's compiler fills it from the protobuf
// model (controlplane/config); the engine never sees protobuf. Cross references
// are indices into the vectors of this struct, already checked by validation.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/engine/ip_addr.hpp"

namespace ftz::engine {

inline constexpr uint32_t kNoIndex = UINT32_MAX;

enum class ZoneKind : uint8_t { kDomestic, kFtz, kOffshore, kHkMacaoTaiwan };
// Domestic and FTZ zones are inside China; data leaving them towards the other
// kinds is an export (DOMAIN.md §0: HK, Macao and Taiwan are cross-border).
constexpr bool zone_kind_is_inside(ZoneKind k) noexcept {
  return k == ZoneKind::kDomestic || k == ZoneKind::kFtz;
}

enum class Mechanism : uint8_t {
  kSecurityAssessment,
  kStandardContract,
  kCertification,
  kFtzListExempt,
  kScenarioExempt,
};

enum class DataClass : uint8_t { kPi, kSensitivePi, kImportant, kCore, kOrgId, kCount };
using DataClassMask = uint8_t;  // bit (1 << DataClass)

// The forwarding decision; the order is the escalation order (allow < route <
// block < reset): within one flow and one generation it only goes up.
enum class Action : uint8_t { kAllow = 0, kRoute = 1, kBlock = 2, kReset = 3 };

enum class PortRole : uint8_t { kInside, kOutside, kChannel, kMirror };
inline constexpr size_t kPortRoleCount = 4;
enum class FailMode : uint8_t { kOpen, kClosed };
// Checksum validation: kDefault lets the packet path choose (inline: on;
// captures: auto, which also accepts the pseudo-header sums that checksum
// offload leaves in captures taken on the sending host).
enum class ChecksumMode : uint8_t { kDefault, kOn, kAuto, kOff };
// Exports whose TCP handshake was not seen: inspected from the first byte
// seen (nothing before it is forwarded), or dropped.
enum class TcpMidstream : uint8_t { kInspect, kDrop };

enum class AppProto : uint8_t { kUnknown, kHttp, kTls, kDns, kCount };
using AppMask = uint8_t;

enum class L4Proto : uint8_t { kTcp = 6, kUdp = 17, kIcmp = 1, kIcmpv6 = 58 };

struct ZoneSpec {
  std::string name;
  ZoneKind kind = ZoneKind::kOffshore;
  std::vector<Prefix> prefixes;
  uint32_t default_tenant = kNoIndex;  // FTZ zones: tenant for unregistered hosts
};

struct ApprovalSpec {
  std::string id;
  Mechanism mechanism = Mechanism::kStandardContract;
  DataClassMask classes = 0;
  std::vector<uint32_t> dest_zones;
  int64_t valid_from = 0;   // unix seconds, inclusive (00:00 Asia/Shanghai)
  int64_t valid_until = 0;  // unix seconds, exclusive (end of the last day)
  // Maximum individuals per data class; 0 = no cap given.
  uint64_t max_individuals[static_cast<int>(DataClass::kCount)] = {};
};

struct TenantSpec {
  std::string name;
  std::string uscc;
  std::string ftz_registration;
  bool is_ciio = false;
  std::string sector;
  uint32_t zone = kNoIndex;
  std::vector<Prefix> prefixes;
  std::vector<ApprovalSpec> approvals;
};

struct ChannelSpec {
  std::string name;
  PortRole egress_role = PortRole::kChannel;
  uint16_t vlan = 0;  // 0 = untagged
  std::array<uint8_t, 6> next_hop_mac{};
};

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
};

enum class ApprovalMatch : uint8_t { kAny, kApproved, kUnapproved };

// Why a flow's content was not (fully) inspected. `encrypted` is for policy
// rules to decide; the others are failures that follow the zone pair's
// fail mode unless the deciding rule names them (docs/decisions/0003).
enum class UninspectableReason : uint8_t { kEncrypted, kGap, kDecode, kResource, kCount };
using UninspectableMask = uint8_t;  // bit (1 << UninspectableReason)
constexpr UninspectableMask uninspectable_bit(UninspectableReason r) noexcept {
  return static_cast<UninspectableMask>(1u << static_cast<unsigned>(r));
}
inline constexpr UninspectableMask kUninspectableFailures = uninspectable_bit(UninspectableReason::kGap) |
                                                            uninspectable_bit(UninspectableReason::kDecode) |
                                                            uninspectable_bit(UninspectableReason::kResource);
inline constexpr UninspectableMask kUninspectableAny =
    kUninspectableFailures | uninspectable_bit(UninspectableReason::kEncrypted);
std::string_view uninspectable_reason_name(UninspectableReason r) noexcept;

// A rule's `uninspectable:` condition: `true` (any reason), `false` (fully
// inspected) or a list of reasons named explicitly.
struct UninspectableMatch {
  UninspectableMask reasons = 0;  // 0: the flow must be fully inspected
  bool named = false;             // the reasons were listed (may cover failures)
  friend bool operator==(const UninspectableMatch&, const UninspectableMatch&) = default;
};
enum class ThresholdState : uint8_t { kNormal, kWarn, kExceeded };

// Every field is optional; an empty vector or nullopt matches anything.
struct RuleMatch {
  std::vector<uint32_t> src_zones;
  std::vector<uint32_t> dst_zones;
  std::vector<uint32_t> tenants;
  std::vector<L4Proto> protocols;
  std::vector<PortRange> dst_ports;
  AppMask apps = 0;                               // 0 = any
  std::vector<std::string> server_name_suffixes;  // SNI or HTTP Host
  DataClassMask data_classes = 0;                 // content stage
  uint32_t min_count = 0;                         // confirmed identifiers
  ApprovalMatch approval = ApprovalMatch::kAny;
  std::optional<ThresholdState> threshold;
  std::optional<UninspectableMatch> uninspectable;
};

struct Verdict {
  Action action = Action::kAllow;
  uint32_t channel = kNoIndex;  // for kRoute
  bool alert = false;
  bool mirror = false;
};

struct RuleSpec {
  std::string name;
  RuleMatch match;
  Verdict verdict;
};

struct ZonePairDefault {
  uint32_t src_zone = kNoIndex;
  uint32_t dst_zone = kNoIndex;
  Verdict verdict;
  FailMode fail_mode = FailMode::kOpen;
};

struct Limits {
  uint32_t flow_table_size = 65536;
  uint32_t flow_evict_min_idle_ms = 1000;
  uint32_t tcp_syn_timeout_s = 30;
  uint32_t tcp_established_timeout_s = 3600;
  uint32_t tcp_closed_timeout_s = 10;
  uint32_t udp_timeout_s = 60;
  uint32_t other_timeout_s = 30;
  uint64_t defrag_memcap_bytes = 8u << 20;
  uint32_t defrag_max_datagrams = 4096;
  uint32_t defrag_timeout_ms = 30000;
  uint64_t reassembly_memcap_bytes = 64u << 20;
  uint32_t reassembly_per_flow_bytes = 1u << 20;
  uint32_t hold_max_packets = 4096;
  uint32_t events_per_second = 10000;
  uint32_t alerts_per_flow = 10;
  FailMode default_fail_mode = FailMode::kOpen;
  // Flows whose content is scanned at once, per worker (two scan states each);
  // an export that finds none is uninspectable (resource).
  uint32_t inspect_max_flows = 8192;
  // Flows reassembled and app-parsed at once, per worker (a stream slot
  // each, ~420 bytes; at most flow_table_size are allocated). Flows decided
  // for good at the header stage take none; one that needs a slot and finds
  // none is uninspectable (resource) and follows its pair's fail mode.
  uint32_t stream_max_flows = 65536;
  // Flows decided for good at the header stage still get a stream slot for
  // their app metadata (EVE tls/http/dns events, the record's app) while
  // more than half of the pool is free; never otherwise, and never with
  // false (the pure fast path: their TCP state lives in the hot record only).
  bool header_decided_metadata = true;
  uint32_t event_queue_size = 4096;  // events buffered per worker
  ChecksumMode checksum_validation = ChecksumMode::kDefault;
  TcpMidstream tcp_midstream = TcpMidstream::kInspect;
  // Delivered bytes of an inspected direction kept until acknowledged, to
  // compare retransmissions with what was inspected (docs/decisions/0003).
  uint32_t reassembly_kept_per_flow_bytes = 256u << 10;
};

// A classification signature (issue "Classification"): Hyperscan patterns
// whose matches a validator confirms on the exact bytes.
struct SignaturePattern {
  std::string regex;      // Hyperscan syntax: no lookaround
  bool utf8 = false;      // HS_FLAG_UTF8
  bool som = false;       // variable width: HS_FLAG_SOM_LEFTMOST
  bool caseless = false;  // HS_FLAG_CASELESS
  friend bool operator==(const SignaturePattern&, const SignaturePattern&) = default;
};

struct SignatureSpec {
  std::string name;  // stable, e.g. "cn_resident_id"
  uint32_t sid = 0;  // EVE alert.signature_id
  DataClass data_class = DataClass::kPi;
  std::vector<std::string> tags;  // e.g. "hgr", "minor"
  std::string validator;          // classify::validator_name(), "none" = pattern only
  std::vector<SignaturePattern> patterns;
  std::vector<std::string> context;  // keywords looked for near the match
  bool context_required = false;     // weak identifiers count only with context
  std::string rationale;             // one line citing the rule
  // A reload with an equal catalog keeps the compiled database (and the
  // flows' scan streams).
  friend bool operator==(const SignatureSpec&, const SignatureSpec&) = default;
};

// A legal line on the number of individuals whose PI left the zone since
// 1 January (Asia/Shanghai), per tenant (DOMAIN.md §1.1, §1.4).
struct ThresholdSpec {
  std::string name;  // e.g. "sensitive-pi-sa"
  DataClass data_class = DataClass::kPi;
  uint64_t individuals = 0;  // the line itself
  std::string mechanism;     // what crossing it requires, for the event text
  // A tenant holding a valid approval of one of these mechanisms for the
  // class already has what crossing the line requires (e.g. Pacific Re's
  // standard contract covers the "1 sensitive individual" line).
  std::vector<Mechanism> satisfied_by = {};
};

enum class CountMode : uint8_t { kMaxOverIdentifierTypes, kSumOverIdentifierTypes };

struct ComplianceSpec {
  std::string key_file;    // HMAC key for identifier tokens (never logged)
  std::string state_file;  // exact token sets persisted across restarts
  bool use_sm3 = false;    // HMAC-SM3 instead of HMAC-SHA-256
  std::vector<ThresholdSpec> thresholds;
  std::vector<uint32_t> warn_percents = {80, 95, 100};
  CountMode count_mode = CountMode::kMaxOverIdentifierTypes;
  uint64_t max_tokens_per_set = 2'000'000;  // bounded memory: 8 bytes each
  uint32_t bulk_min_count = 50;             // distinct identifiers in one flow = bulk export
};

struct PolicySpec {
  std::string name;  // config name, for events and reports
  std::vector<ZoneSpec> zones;
  uint32_t default_zone = kNoIndex;  // zone for addresses in no prefix
  std::vector<TenantSpec> tenants;
  std::vector<ChannelSpec> channels;
  std::vector<RuleSpec> rules;
  std::vector<ZonePairDefault> defaults;
  Verdict export_default;  // exports without rule or pair default
  Limits limits;
  std::string signature_pack_version;
  std::vector<SignatureSpec> signatures;
  ComplianceSpec compliance;
};

}  // namespace ftz::engine
