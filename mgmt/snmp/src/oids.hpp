#pragma once
// FTZGATE-MIB's object identifiers (mgmt/snmp/FTZGATE-MIB.txt), as the
// subagent serves them. tests/mgmt/snmp_view_test checks them against the
// MIB through smidump, so the two cannot drift apart.

#include <cstdint>
#include <vector>

namespace ftz::snmp {

using Oid = std::vector<uint32_t>;

// IANA's Private Enterprise Number for documentation (RFC 5612): a
// placeholder. A vendor puts its own here and in FTZGATE-MIB's
// MODULE-IDENTITY, nowhere else (docs/noc.md, "SNMP").
inline constexpr uint32_t kEnterpriseNumber = 32473;

// ftzgateMIB = enterprises.kEnterpriseNumber
inline Oid mib_root() {
  return {1, 3, 6, 1, 4, 1, kEnterpriseNumber};
}

// Arcs under ftzgateMIB.
inline constexpr uint32_t kNotifications = 0;
inline constexpr uint32_t kObjects = 1;

// Arcs under ftzObjects: the scalars' group and the tables (each table's
// entry is .1 under it).
inline constexpr uint32_t kSystem = 1;
inline constexpr uint32_t kDataplaneTable = 2;
inline constexpr uint32_t kPortTable = 3;
inline constexpr uint32_t kReasonTable = 4;
inline constexpr uint32_t kDpReasonTable = 5;
inline constexpr uint32_t kTenantTable = 6;
inline constexpr uint32_t kZonePairTable = 7;
inline constexpr uint32_t kRuleTable = 8;

// ftzSystem's scalars.
enum class Sys : uint32_t {
  kSoftwareVersion = 1,
  kHostName = 2,
  kControlPlaneState = 3,
  kRunningGeneration = 4,
  kBundleHash = 5,
  kLastCommitTime = 6,
  kLastCommitUser = 7,
  kPendingConfirmGeneration = 8,
  kStartTime = 9,
  kAuditRecords = 10,
  kStateFreeMBytes = 11,
  kCertificatesExpiring = 12,
  kDataplanesKnown = 13,
  kDataplanesConnected = 14,
  kDataplanesCurrent = 15,
  kComplianceYear = 16,
  kAlertsReceived = 17,
  kAlertsDropped = 18,
  kConfirmBy = 19,
  kNotificationsSuppressed = 20,
  kPressureWatermark = 21,
  kAuditVerified = 22,
  kAuditVerifiedTime = 23,
  kAuditVerifyProblem = 24,
};

// ftzDataplaneEntry's columns (1, ftzDpId, is the index).
enum class DpCol : uint32_t {
  kHost = 2,
  kState = 3,
  kGeneration = 4,
  kLag = 5,
  kNackReason = 6,
  kUptime = 7,
  kFlowsActive = 8,
  kPackets = 9,
  kOctets = 10,
  kForwarded = 11,
  kDropped = 12,
  kFlowsCreated = 13,
  kAlerts = 14,
  kIdentifiers = 15,
  kAlertsUnreported = 16,
  kLastReport = 17,
  kFlowsCapacity = 18,
  kScanStates = 19,
  kScanStatesCapacity = 20,
};

// ftzPortEntry's columns (1, ftzPortName, is an index).
enum class PortCol : uint32_t {
  kRole = 2,
  kOperStatus = 3,
  kInOctets = 4,
  kInPkts = 5,
  kOutOctets = 6,
  kOutPkts = 7,
  kInMissed = 8,
  kInErrors = 9,
  kOutErrors = 10,
  kInNoBuffer = 11,
};

// ftzReasonEntry's columns (1, ftzReasonCode, is the index).
enum class ReasonCol : uint32_t { kKey = 2, kDescription = 3 };
// ftzDpReasonEntry's one column.
inline constexpr uint32_t kDpReasonPackets = 1;

// ftzTenantEntry's columns (1 and 2 are the index).
enum class TenantCol : uint32_t {
  kIndividuals = 3,
  kEstimate = 4,
  kLost = 5,
  kSaturated = 6,
  kThresholdState = 7,
};

// ftzZonePairEntry's columns (1 and 2, the zones, are indexes with ftzDpId).
enum class ZonePairCol : uint32_t {
  kFlows = 3,
  kPkts = 4,
  kOctets = 5,
  kAllowed = 6,
  kRouted = 7,
  kBlocked = 8,
  kReset = 9,
};
// ftzRuleEntry's one column (1, ftzRuleName, is an index with ftzDpId).
inline constexpr uint32_t kRuleFlows = 2;

// Notifications: ftzNotifications.N.
enum class Trap : uint32_t {
  kThresholdWarn = 1,
  kThresholdExceeded = 2,
  kDataplaneLost = 3,
  kDataplaneRefused = 4,
  kDataplaneCurrent = 5,
  kPortLinkDown = 6,
  kPortLinkUp = 7,
  kCommit = 8,
  kRollback = 9,
  kControlPlaneUnreachable = 10,
  kControlPlaneReachable = 11,
  kFlowTablePressure = 12,
  kFlowTablePressureEnded = 13,
  kScanStatePressure = 14,
  kScanStatePressureEnded = 15,
  kAuditVerifyFailed = 16,
};

// Enumerations as the MIB numbers them.
enum class ControlPlaneState : int32_t { kRunning = 1, kConfirmPending = 2, kUnreachable = 3 };

}  // namespace ftz::snmp
