// Shared fixtures of the engine unit tests: a small zone layout built directly
// as a PolicySpec (no config library), and packet-view helpers.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "ftz/engine/packet.hpp"
#include "ftz/engine/policy_spec.hpp"
#include "ftz/test/net_types.hpp"

namespace ftz::engine::testing {

inline Prefix prefix(std::string_view text) {
  auto p = parse_prefix(text);
  if (!p) std::abort();  // a typo in a fixture must fail loudly
  return *p;
}
inline IpAddr ip(std::string_view text) {
  auto a = parse_ip(text);
  if (!a) std::abort();
  return *a;
}

// Zone indices of zone_policy().
inline constexpr uint32_t kZoneFtz = 0;       // 10.60.0.0/16, 2001:db8:60::/48
inline constexpr uint32_t kZoneCn = 1;        // 10.0.0.0/8 (outside the FTZ), 2001:db8::/32
inline constexpr uint32_t kZoneOffshore = 2;  // everything else (default zone)
inline constexpr uint32_t kTenantAcme = 0;    // 10.60.0.0/24 in the FTZ

// Three zones and one tenant; no rules, no defaults, export_default allow.
inline PolicySpec zone_policy() {
  PolicySpec s;
  s.name = "unit";
  ZoneSpec ftz;
  ftz.name = "ftz";
  ftz.kind = ZoneKind::kFtz;
  ftz.prefixes = {prefix("10.60.0.0/16"), prefix("2001:db8:60::/48")};
  ZoneSpec cn;
  cn.name = "cn";
  cn.kind = ZoneKind::kDomestic;
  cn.prefixes = {prefix("10.0.0.0/8"), prefix("2001:db8::/32")};
  ZoneSpec off;
  off.name = "offshore";
  off.kind = ZoneKind::kOffshore;
  s.zones = {ftz, cn, off};
  s.default_zone = kZoneOffshore;
  TenantSpec acme;
  acme.name = "acme";
  acme.zone = kZoneFtz;
  acme.prefixes = {prefix("10.60.0.0/24")};
  s.tenants = {acme};
  // Small enough that a Worker per test is cheap, and the flow sweep (64
  // records per burst) visits every record each time.
  s.limits.flow_table_size = 64;
  s.limits.reassembly_memcap_bytes = 1u << 20;
  s.limits.defrag_memcap_bytes = 256u << 10;
  s.limits.defrag_max_datagrams = 64;
  s.limits.hold_max_packets = 256;
  return s;
}

// The resident-ID signature of the built-in catalog (GB 11643 validator),
// for tests that need content inspection without loading the pack.
inline SignatureSpec resident_id_signature() {
  SignatureSpec s;
  s.name = "cn_resident_id";
  s.sid = 9100001;
  s.data_class = DataClass::kSensitivePi;
  s.validator = "resident_id";
  s.patterns.push_back(
      {R"((?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3]|9\d)\d{4}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])",
       false, false, false});
  s.context = {"idcard", "id_no"};
  return s;
}

inline PacketView view_of(const test::Bytes& frame, int64_t ts_ns = 0, uint64_t token = 0) {
  PacketView v;
  v.data = frame.data();
  v.caplen = static_cast<uint32_t>(frame.size());
  v.wirelen = v.caplen;
  v.ts_ns = ts_ns;
  v.token = token;
  return v;
}

}  // namespace ftz::engine::testing
