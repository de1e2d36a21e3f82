#pragma once
// What ftzgate-snmp serves, without net-snmp: a snapshot of ftzgated's
// replies (the ones `ftzctl show ...` prints), the MIB view built from it
// (every instance OID of FTZGATE-MIB with its value, in SNMP order), and the
// notifications one snapshot after another calls for.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ftzgate/v1/management.pb.h"
#include "oids.hpp"

namespace ftz::snmp {

struct Snapshot {
  ftzgate::v1::ShowSystemStatusReply system;
  ftzgate::v1::ShowDataplanesReply dataplanes;
  ftzgate::v1::ShowComplianceReply compliance;
  ftzgate::v1::ShowAlertsReply alerts;  // its counters only
  ftzgate::v1::ShowCommitsReply commits;
  bool reachable = false;   // these replies are this poll's (else the last good one's)
  uint64_t suppressed = 0;  // notifications the rate limit held back
  // Percent of a table's capacity that is pressure (--pressure-watermark).
  uint32_t pressure_watermark = 80;
};

struct Value {
  enum class Type : uint8_t { kInteger, kGauge, kCounter64, kOctets };
  Type type = Type::kInteger;
  int64_t integer = 0;  // kInteger
  uint64_t number = 0;  // kGauge (at most 2^32 - 1), kCounter64
  std::string octets;   // kOctets
};

using View = std::map<Oid, Value>;

// Every instance, longest OIDs included only when they fit SNMP's 128
// sub-identifiers (a data plane id and a port name of 64 bytes each do not).
View build_view(const Snapshot& s);

struct Notification {
  Trap trap;
  std::vector<Oid> objects;  // instance OIDs in the view of the later snapshot
  std::string what;          // one line for the log
};

// What changed from `before` to `after` that a NOC must hear of. The first
// snapshot (before.reachable false and no data planes) is a baseline: states
// already reached are in the tables, not sent again.
std::vector<Notification> notifications(const Snapshot& before, const Snapshot& after);

// At most `burst` notifications at once, then one per `interval_s`.
class RateLimit {
 public:
  RateLimit(uint32_t burst, double interval_s) : burst_(burst), interval_s_(interval_s), tokens_(burst) {}
  bool allow(double now_s);

 private:
  uint32_t burst_;
  double interval_s_;
  double tokens_;
  double last_s_ = -1;
};

// DateAndTime (RFC 2579) of a UTC time: 11 octets, "+0:0".
std::string date_and_time(int64_t unix_s);

}  // namespace ftz::snmp
