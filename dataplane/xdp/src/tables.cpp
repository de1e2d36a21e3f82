#include "ftz/xdp/tables.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

namespace ftz::xdp {

namespace {

using engine::kNoIndex;
static_assert(kNoIndex == FTZ_XDP_NO_TENANT, "the program reads an absent tenant as the engine writes it");

bool any_or_contains(const std::vector<uint32_t>& list, uint32_t v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

// The first port of every interval over which no rule's port ranges change:
// the header stage's decision is the same for every port of one interval.
std::vector<uint16_t> port_interval_starts(const engine::PolicySpec& spec) {
  std::vector<uint32_t> starts = {0};
  for (const engine::RuleSpec& r : spec.rules) {
    for (const engine::PortRange& pr : r.match.dst_ports) {
      starts.push_back(pr.lo);
      starts.push_back(uint32_t{pr.hi} + 1);
    }
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  std::vector<uint16_t> out;
  for (const uint32_t s : starts) {
    if (s <= 0xffff) out.push_back(static_cast<uint16_t>(s));
  }
  return out;
}

// A rule that may match these endpoints and asks about approvals: whether
// one holds depends on the time, so the pair stays with the engine.
bool approval_may_decide(const engine::PolicySpec& spec, uint32_t client_zone, uint32_t server_zone,
                         uint32_t tenant) {
  return std::any_of(spec.rules.begin(), spec.rules.end(), [&](const engine::RuleSpec& r) {
    return r.match.approval != engine::ApprovalMatch::kAny &&
           any_or_contains(r.match.src_zones, client_zone) &&
           any_or_contains(r.match.dst_zones, server_zone) && any_or_contains(r.match.tenants, tenant);
  });
}

uint8_t action_at_port(const engine::PolicyGeneration& gen, uint32_t client_zone, uint32_t server_zone,
                       uint32_t tenant, uint8_t l4_proto, uint16_t port) {
  const engine::Decision d =
      gen.evaluate(engine::FlowFacts::at_header(client_zone, server_zone, tenant, l4_proto, port));
  if (!d.final || d.verdict.alert || d.verdict.mirror) return FTZ_XDP_USER;
  // An export is inspected whatever its verdict allows (Worker::init_flow).
  if (d.verdict.action == engine::Action::kAllow && !gen.is_export(client_zone, server_zone))
    return FTZ_XDP_FORWARD;
  // Reset needs the engine's segments; route, the channel's rewrite.
  if (d.verdict.action == engine::Action::kBlock) return FTZ_XDP_DROP;
  return FTZ_XDP_USER;
}

uint8_t action_for_ports(const engine::PolicyGeneration& gen, const std::vector<uint16_t>& ports,
                         uint32_t client_zone, uint32_t server_zone, uint32_t tenant, uint8_t l4_proto) {
  if (approval_may_decide(gen.spec(), client_zone, server_zone, tenant)) return FTZ_XDP_USER;
  std::optional<uint8_t> action;
  for (const uint16_t port : ports) {
    const uint8_t a = action_at_port(gen, client_zone, server_zone, tenant, l4_proto, port);
    if (a == FTZ_XDP_USER || (action && *action != a)) return FTZ_XDP_USER;
    action = a;
  }
  return action.value_or(FTZ_XDP_USER);
}

// The protocol numbers the classes stand for: rules name only TCP, UDP,
// ICMP and ICMPv6 (engine::L4Proto), so any other number judges as 47 does.
constexpr uint8_t kClassProto[FTZ_XDP_PROTO_CLASSES] = {6, 17, 1, 58, 47};

void add_prefix(const engine::Prefix& p, uint32_t value, Tables& t, bool zone) {
  PrefixEntry e;
  e.key.prefixlen = p.length;
  e.value = value;
  if (p.v4) {
    std::memcpy(e.key.addr, p.addr.bytes.data() + 12, 4);
    (zone ? t.zones_v4 : t.tenants_v4).push_back(e);
  } else {
    std::memcpy(e.key.addr, p.addr.bytes.data(), 16);
    (zone ? t.zones_v6 : t.tenants_v6).push_back(e);
  }
}

// ftzgate-xdp is an inline path: the engine's default there is on
// (WorkerOptions::checksum_default), and so is the kernel's.
uint8_t checksums_of(engine::ChecksumMode mode) {
  switch (mode) {
    case engine::ChecksumMode::kAuto:
      return FTZ_XDP_CHECKSUMS_AUTO;
    case engine::ChecksumMode::kOff:
      return FTZ_XDP_CHECKSUMS_OFF;
    case engine::ChecksumMode::kOn:
    case engine::ChecksumMode::kDefault:
      break;
  }
  return FTZ_XDP_CHECKSUMS_ON;
}

}  // namespace

uint8_t kernel_action(const engine::PolicyGeneration& gen, uint32_t client_zone, uint32_t server_zone,
                      uint32_t tenant, uint8_t l4_proto) {
  return action_for_ports(gen, port_interval_starts(gen.spec()), client_zone, server_zone, tenant, l4_proto);
}

tl::expected<Tables, std::string> compile_tables(const engine::PolicyGeneration& gen) {
  const engine::PolicySpec& spec = gen.spec();
  const auto n = static_cast<uint32_t>(spec.zones.size());
  if (n > FTZ_XDP_MAX_ZONES) {
    return tl::unexpected("the XDP path takes at most " + std::to_string(FTZ_XDP_MAX_ZONES) +
                          " zones, the policy has " + std::to_string(n));
  }
  Tables t;
  t.config.generation = gen.number();
  t.config.default_zone = spec.default_zone < n ? spec.default_zone : FTZ_XDP_NO_ZONE;
  t.config.default_fail_open = spec.limits.default_fail_mode == engine::FailMode::kOpen ? 1 : 0;
  t.config.checksums = checksums_of(spec.limits.checksum_validation);
  for (uint32_t z = 0; z < n; ++z) {
    const engine::ZoneSpec& zone = spec.zones[z];
    for (const engine::Prefix& p : zone.prefixes) add_prefix(p, z, t, true);
    ftz_xdp_zone info{};
    info.ftz = zone.kind == engine::ZoneKind::kFtz ? 1 : 0;
    info.inside = engine::zone_kind_is_inside(zone.kind) ? 1 : 0;
    info.default_tenant = zone.default_tenant;
    t.zones.push_back(info);
  }
  for (uint32_t i = 0; i < spec.tenants.size(); ++i) {
    for (const engine::Prefix& p : spec.tenants[i].prefixes) add_prefix(p, i, t, false);
  }
  for (const auto* list : {&t.zones_v4, &t.zones_v6, &t.tenants_v4, &t.tenants_v6}) {
    if (list->size() > FTZ_XDP_MAX_PREFIXES) {
      return tl::unexpected("the XDP path takes at most " + std::to_string(FTZ_XDP_MAX_PREFIXES) +
                            " prefixes of one family per table, the policy has " +
                            std::to_string(list->size()));
    }
  }

  // Every zone an address can have (no zone at all when there is no default).
  std::vector<uint32_t> zones(n);
  for (uint32_t z = 0; z < n; ++z) zones[z] = z;
  if (spec.default_zone >= n) zones.push_back(kNoIndex);
  const std::vector<uint16_t> ports = port_interval_starts(spec);
  const auto is_ftz = [&](uint32_t z) { return z < n && spec.zones[z].kind == engine::ZoneKind::kFtz; };
  for (const uint32_t cz : zones) {
    for (const uint32_t sz : zones) {
      // The tenant is the FTZ end's: any tenant (by its prefixes), or none
      // (an FTZ zone without a default tenant); no tenant without an FTZ end.
      std::vector<uint32_t> tenants = {kNoIndex};
      if (is_ftz(cz) || is_ftz(sz)) {
        for (uint32_t i = 0; i < spec.tenants.size(); ++i) tenants.push_back(i);
      }
      for (const uint32_t tenant : tenants) {
        ftz_xdp_policy v{};
        for (int c = 0; c < FTZ_XDP_PROTO_CLASSES; ++c) {
          v.action[c] = action_for_ports(gen, ports, cz, sz, tenant, kClassProto[c]);
        }
        v.fail_open = gen.fail_mode(cz, sz) == engine::FailMode::kOpen ? 1 : 0;
        if (t.policy.size() == FTZ_XDP_MAX_POLICY_ENTRIES) {
          return tl::unexpected("the XDP path's policy table takes at most " +
                                std::to_string(FTZ_XDP_MAX_POLICY_ENTRIES) +
                                " (client zone, server zone, tenant) entries; fewer zones or tenants");
        }
        ftz_xdp_policy_key k{};
        k.client_zone = static_cast<uint16_t>(cz < n ? cz : FTZ_XDP_NO_ZONE);
        k.server_zone = static_cast<uint16_t>(sz < n ? sz : FTZ_XDP_NO_ZONE);
        k.tenant = tenant;
        t.policy.emplace_back(k, v);
      }
    }
  }
  return t;
}

}  // namespace ftz::xdp
