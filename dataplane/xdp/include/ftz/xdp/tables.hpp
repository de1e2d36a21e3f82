#pragma once
// A policy generation as the XDP program's tables (ftz/xdp/shared.h): the
// zone and tenant prefixes, the zones' kinds, and for every (client zone,
// server zone, tenant) the zone pair's fail mode and, per protocol class,
// the header-stage action when no server port, app, content, approval or
// time can change it (else FTZ_XDP_USER, "to user space"): the tables never
// decide a packet the engine would decide differently (tests/xdp).
//
// Plain C++ over the engine's PolicyGeneration: no libbpf (program.hpp
// writes these into the kernel's maps).

#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/engine/generation.hpp"
#include "ftz/xdp/shared.h"

namespace ftz::xdp {

struct PrefixEntry {
  ftz_xdp_lpm_key key{};
  uint32_t value = 0;
};

struct Tables {
  std::vector<PrefixEntry> zones_v4;
  std::vector<PrefixEntry> zones_v6;
  std::vector<PrefixEntry> tenants_v4;
  std::vector<PrefixEntry> tenants_v6;
  std::vector<ftz_xdp_zone> zones;  // [zone]
  std::vector<std::pair<ftz_xdp_policy_key, ftz_xdp_policy>> policy;
  ftz_xdp_config config{};
};

// What the kernel may do with a flow judged client -> server under `gen`
// (FTZ_XDP_USER unless the header stage decides it for good, the same way
// for every server port and at any time, without inspection, alert or
// mirror, and as plain allow or block).
uint8_t kernel_action(const engine::PolicyGeneration& gen, uint32_t client_zone, uint32_t server_zone,
                      uint32_t tenant, uint8_t l4_proto);

// The tables of `gen`; an error names what does not fit the program's maps
// (more zones, prefixes or policy entries than their sizes).
tl::expected<Tables, std::string> compile_tables(const engine::PolicyGeneration& gen);

}  // namespace ftz::xdp
