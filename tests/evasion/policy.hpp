#pragma once
// The policy every evasion case runs under, as an operator writes it: the
// FTZ tenant network 198.18.0.0/24, the offshore network 198.18.1.0/24 (the
// default zone), the built-in signature catalog, and one rule: personal
// information in an export is reset. Exports fail closed (an export the
// appliance cannot inspect is not let through).
//
// The rule names no zones: whoever opened the flow (an offshore client
// pulling from the zone, a datagram from port 53), identifiers leaving in it
// end it. Only exports are inspected, so traffic inside the zone is not
// affected.

#include <string>

namespace ftz::evasion {

// Host order addresses of the suite (RFC 2544 benchmarking range).
inline constexpr uint32_t kClientNet = 0xc6120000;  // 198.18.0.0/24, FTZ
inline constexpr uint32_t kClient = 0xc6120001;     // 198.18.0.1
inline constexpr uint32_t kServerNet = 0xc6120100;  // 198.18.1.0/24, offshore
inline constexpr uint32_t kServer = 0xc6120102;     // 198.18.1.2

inline std::string evasion_policy_yaml(const std::string& source_dir) {
  return "version: 1\n"
         "name: evasion-suite\n"
         "zones:\n"
         "  - {name: ftz, kind: ftz, prefixes: [198.18.0.0/24]}\n"
         "  - {name: offshore, kind: offshore, prefixes: [198.18.1.0/24], default: true}\n"
         "signature_packs: [" +
         source_dir +
         "/examples/signatures/builtin.yaml]\n"
         "rules:\n"
         "  - name: no-pi-export\n"
         "    match: {data_class: [pi, sensitive_pi]}\n"
         "    action: reset\n"
         "    alert: true\n"
         "defaults:\n"
         "  - {src_zone: ftz, dst_zone: offshore, action: allow, fail_mode: closed}\n"
         "  - {src_zone: offshore, dst_zone: ftz, action: allow, fail_mode: closed}\n"
         "limits:\n"
         "  flow_table_size: 1024\n"
         "  tcp_established_timeout_s: 120\n"
         "  default_fail_mode: closed\n";
}

}  // namespace ftz::evasion
