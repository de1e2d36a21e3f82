#include "ftz/xdp/records.hpp"

#include <cstddef>

#include "ftz/engine/flow_key.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::xdp {

namespace {

static_assert(sizeof(ftz_xdp_flow_key) == sizeof(engine::FlowKey) &&
                  offsetof(ftz_xdp_flow_key, hi) == offsetof(engine::FlowKey, hi_addr) &&
                  offsetof(ftz_xdp_flow_key, lo_port) == offsetof(engine::FlowKey, lo_port) &&
                  offsetof(ftz_xdp_flow_key, vlan_outer) == offsetof(engine::FlowKey, vlan_outer) &&
                  offsetof(ftz_xdp_flow_key, proto) == offsetof(engine::FlowKey, proto),
              "the program keys flows as the engine does, byte for byte");

constexpr uint8_t kFin = 0x01;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kAck = 0x10;

engine::TcpState tcp_state(const ftz_xdp_flow& f) {
  const uint8_t both = f.tcp_flags[0] | f.tcp_flags[1];
  if ((both & kRst) != 0 || ((f.tcp_flags[0] & kFin) != 0 && (f.tcp_flags[1] & kFin) != 0))
    return engine::TcpState::kClosed;
  if ((both & kAck) != 0) return engine::TcpState::kEstablished;
  return engine::TcpState::kSynSent;
}

}  // namespace

bool kernel_flow_over(const ftz_xdp_flow_key& key, const ftz_xdp_flow& flow, const engine::Limits& limits,
                      uint64_t now_mono_ns) {
  uint32_t timeout_s = limits.other_timeout_s;
  if (key.proto == 6) {
    switch (tcp_state(flow)) {
      case engine::TcpState::kClosed:
        timeout_s = limits.tcp_closed_timeout_s;
        break;
      case engine::TcpState::kEstablished:
        timeout_s = limits.tcp_established_timeout_s;
        break;
      default:
        timeout_s = limits.tcp_syn_timeout_s;
        break;
    }
  } else if (key.proto == 17) {
    timeout_s = limits.udp_timeout_s;
  }
  return now_mono_ns > flow.last_ns && now_mono_ns - flow.last_ns > uint64_t{timeout_s} * 1'000'000'000;
}

engine::Event kernel_flow_record(const ftz_xdp_flow_key& key, const ftz_xdp_flow& flow,
                                 const engine::PolicyGeneration& gen, int64_t wall_minus_mono_ns,
                                 engine::FlowEndReason why) {
  engine::FlowKey k;
  k.lo_addr = engine::IpAddr::v6_bytes(key.lo);
  k.hi_addr = engine::IpAddr::v6_bytes(key.hi);
  k.lo_port = key.lo_port;
  k.hi_port = key.hi_port;
  k.vlan_outer = key.vlan_outer;
  k.vlan_inner = key.vlan_inner;
  k.proto = key.proto;
  const bool lo = flow.client_is_lo != 0;
  const int client = lo ? 0 : 1;  // pkts[]/bytes[]/tcp_flags[] index of the client's direction
  engine::Event e;
  e.type = engine::EventType::kFlow;
  const int64_t start = static_cast<int64_t>(flow.first_ns) + wall_minus_mono_ns;
  const int64_t end = static_cast<int64_t>(flow.last_ns) + wall_minus_mono_ns;
  e.ts_ns = end;
  // As the engine makes flow ids: the key under the public hash key, mixed
  // with the start.
  e.flow_id = (engine::hash_flow_key(k, engine::FlowHashKey{}) ^
               static_cast<uint64_t>(start) * 0x9e3779b97f4a7c15ull) &
              ((uint64_t{1} << 51) - 1);
  e.generation = flow.generation;
  e.src = lo ? k.lo_addr : k.hi_addr;
  e.dst = lo ? k.hi_addr : k.lo_addr;
  e.src_port = lo ? k.lo_port : k.hi_port;
  e.dst_port = lo ? k.hi_port : k.lo_port;
  e.proto = k.proto;
  e.vlan[0] = k.vlan_outer;
  e.vlan[1] = k.vlan_inner;
  e.vlan_count = k.vlan_inner ? 2 : (k.vlan_outer ? 1 : 0);
  e.src_zone = gen.zone_of(e.src);
  e.dst_zone = gen.zone_of(e.dst);
  const auto& zones = gen.spec().zones;
  const auto ftz = [&](uint32_t z) { return z < zones.size() && zones[z].kind == engine::ZoneKind::kFtz; };
  e.tenant = ftz(e.src_zone) ? gen.tenant_of(e.src, e.src_zone)
                             : (ftz(e.dst_zone) ? gen.tenant_of(e.dst, e.dst_zone) : engine::kNoIndex);
  const engine::Decision d = gen.evaluate(
      engine::FlowFacts::at_header(e.src_zone, e.dst_zone, e.tenant, k.proto, e.dst_port, start));
  e.verdict = d.verdict;
  e.verdict.action = flow.action == FTZ_XDP_DROP ? engine::Action::kBlock : engine::Action::kAllow;
  e.rule = d.rule;
  e.is_export = gen.is_export(e.src_zone, e.dst_zone);
  e.inspected = false;
  e.kernel = true;
  e.flow = engine::FlowEventData{};
  e.flow.pkts_toserver = flow.pkts[client];
  e.flow.pkts_toclient = flow.pkts[1 - client];
  e.flow.bytes_toserver = flow.bytes[client];
  e.flow.bytes_toclient = flow.bytes[1 - client];
  e.flow.start_ns = start;
  e.flow.end_ns = end;
  e.flow.reason = why;
  e.flow.tcp_state = static_cast<uint8_t>(k.proto == 6 ? tcp_state(flow) : engine::TcpState::kNone);
  e.flow.app = static_cast<uint8_t>(engine::AppProto::kUnknown);
  e.flow.midstream = k.proto == 6 && (flow.tcp_flags[client] & kSyn) == 0;
  return e;
}

}  // namespace ftz::xdp
