// rte_flow drop offload: rule builder and the per-port rule table. Control
// lcore only; see flow_offload.hpp and docs/offload.md.

#include "ftz/drivers/flow_offload.hpp"

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_log.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ftz::drivers {

namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint16_t kVlanIdMask = 0x0fff;

int log_type() noexcept {
  // Registered by the first FlowOffload (after rte_eal_init in ftzgate-dp);
  // the EAL --log-level=ftz.offload:N option applies to it.
  static const int kType = [] {
    const int t = rte_log_register_type_and_pick_level("ftz.offload", RTE_LOG_NOTICE);
    return t < 0 ? static_cast<int>(RTE_LOGTYPE_EAL) : t;
  }();
  return kType;
}

// Errnos that say "not now" rather than "never": hardware tables full,
// device busy, or a colliding rule. The rule shape itself is fine.
bool transient(int err) noexcept {
  return err == ENOMEM || err == ENOSPC || err == EBUSY || err == EAGAIN || err == EEXIST;
}

std::string errno_text(int rc) noexcept {
  const int err = rc < 0 ? -rc : rc;
  const char* name = strerrorname_np(err);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %d", name != nullptr ? name : "errno", rc);
  return buf;
}

// Bit 0: IPv6, bit 1: UDP, bit 2: VLAN tagged.
int shape_of(const OffloadFlow& f) noexcept {
  return (f.src.is_v4() ? 0 : 1) | (f.proto == kUdp ? 2 : 0) | (f.vlan != 0 ? 4 : 0);
}

const char* shape_name(int shape) noexcept {
  static constexpr const char* kNames[] = {
      "eth/ipv4/tcp",      "eth/ipv6/tcp",      "eth/ipv4/udp",      "eth/ipv6/udp",
      "eth/vlan/ipv4/tcp", "eth/vlan/ipv6/tcp", "eth/vlan/ipv4/udp", "eth/vlan/ipv6/udp",
  };
  return kNames[shape & 7];
}

constexpr uint64_t mix(uint64_t h, uint64_t v) noexcept {
  h ^= v * 0x9e3779b97f4a7c15ULL;
  h = std::rotl(h, 31) * 0xbf58476d1ce4e5b9ULL;
  return h;
}

uint64_t load64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

class DpdkFlowApi final : public FlowApi {
 public:
  int validate(uint16_t port_id, const DropRule& r, rte_flow_error* error) noexcept override {
    return rte_flow_validate(port_id, &r.attr, r.pattern, r.actions, error);
  }
  rte_flow* create(uint16_t port_id, const DropRule& r, rte_flow_error* error) noexcept override {
    return rte_flow_create(port_id, &r.attr, r.pattern, r.actions, error);
  }
  int destroy(uint16_t port_id, rte_flow* flow, rte_flow_error* error) noexcept override {
    return rte_flow_destroy(port_id, flow, error);
  }
  int query_count(uint16_t port_id, rte_flow* flow, rte_flow_query_count* out,
                  rte_flow_error* error) noexcept override {
    static const rte_flow_action kCount = {RTE_FLOW_ACTION_TYPE_COUNT, nullptr};
    return rte_flow_query(port_id, flow, &kCount, out, error);
  }
};

}  // namespace

bool offloadable(const OffloadFlow& f) noexcept {
  return (f.proto == kTcp || f.proto == kUdp) && f.src.is_v4() == f.dst.is_v4() && f.vlan <= kVlanIdMask;
}

uint64_t hash_value(const OffloadFlow& f) noexcept {
  uint64_t h = 0x243f6a8885a308d3ULL;
  h = mix(h, load64(f.src.bytes.data()));
  h = mix(h, load64(f.src.bytes.data() + 8));
  h = mix(h, load64(f.dst.bytes.data()));
  h = mix(h, load64(f.dst.bytes.data() + 8));
  h = mix(h, (uint64_t{f.src_port} << 48) | (uint64_t{f.dst_port} << 32) | (uint64_t{f.proto} << 16) |
                 uint64_t{f.vlan});
  // splitmix64 finaliser: every input bit reaches the low bits used as index.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

void build_drop_rule(const OffloadFlow& f, DropRule& out, bool count) noexcept {
  // Reset field by field: DropRule is not assignable (it points into itself).
  out.attr = rte_flow_attr{};
  for (auto& item : out.pattern) item = rte_flow_item{};
  for (auto& action : out.actions) action = rte_flow_action{};
  out.eth_spec = {};
  out.eth_mask = {};
  out.vlan_spec = {};
  out.vlan_mask = {};
  out.ipv4_spec = {};
  out.ipv4_mask = {};
  out.ipv6_spec = {};
  out.ipv6_mask = {};
  out.tcp_spec = {};
  out.tcp_mask = {};
  out.udp_spec = {};
  out.udp_mask = {};
  out.count_conf = {};

  out.attr.group = 0;
  out.attr.priority = kDropRulePriority;
  out.attr.ingress = 1;

  int n = 0;
  rte_flow_item& eth = out.pattern[n++];
  eth.type = RTE_FLOW_ITEM_TYPE_ETH;
  eth.spec = &out.eth_spec;
  eth.mask = &out.eth_mask;
  if (f.vlan == 0) {
    // Untagged only: without has_vlan the rule would also drop the same
    // 5-tuple on any VLAN of this port, which may be another zone.
    out.eth_spec.has_vlan = 0;
    out.eth_mask.has_vlan = 1;
  } else {
    out.vlan_spec.hdr.vlan_tci = rte_cpu_to_be_16(f.vlan);
    out.vlan_mask.hdr.vlan_tci = rte_cpu_to_be_16(kVlanIdMask);
    rte_flow_item& vlan = out.pattern[n++];
    vlan.type = RTE_FLOW_ITEM_TYPE_VLAN;
    vlan.spec = &out.vlan_spec;
    vlan.mask = &out.vlan_mask;
  }

  rte_flow_item& ip = out.pattern[n++];
  if (f.src.is_v4()) {
    out.ipv4_spec.hdr.src_addr = rte_cpu_to_be_32(f.src.v4_host_order());
    out.ipv4_spec.hdr.dst_addr = rte_cpu_to_be_32(f.dst.v4_host_order());
    out.ipv4_spec.hdr.next_proto_id = f.proto;
    out.ipv4_mask.hdr.src_addr = UINT32_MAX;
    out.ipv4_mask.hdr.dst_addr = UINT32_MAX;
    out.ipv4_mask.hdr.next_proto_id = UINT8_MAX;
    ip.type = RTE_FLOW_ITEM_TYPE_IPV4;
    ip.spec = &out.ipv4_spec;
    ip.mask = &out.ipv4_mask;
  } else {
    std::memcpy(out.ipv6_spec.hdr.src_addr, f.src.bytes.data(), 16);
    std::memcpy(out.ipv6_spec.hdr.dst_addr, f.dst.bytes.data(), 16);
    out.ipv6_spec.hdr.proto = f.proto;
    std::memset(out.ipv6_mask.hdr.src_addr, 0xff, 16);
    std::memset(out.ipv6_mask.hdr.dst_addr, 0xff, 16);
    out.ipv6_mask.hdr.proto = UINT8_MAX;
    ip.type = RTE_FLOW_ITEM_TYPE_IPV6;
    ip.spec = &out.ipv6_spec;
    ip.mask = &out.ipv6_mask;
  }

  rte_flow_item& l4 = out.pattern[n++];
  if (f.proto == kUdp) {
    out.udp_spec.hdr.src_port = rte_cpu_to_be_16(f.src_port);
    out.udp_spec.hdr.dst_port = rte_cpu_to_be_16(f.dst_port);
    out.udp_mask.hdr.src_port = UINT16_MAX;
    out.udp_mask.hdr.dst_port = UINT16_MAX;
    l4.type = RTE_FLOW_ITEM_TYPE_UDP;
    l4.spec = &out.udp_spec;
    l4.mask = &out.udp_mask;
  } else {
    out.tcp_spec.hdr.src_port = rte_cpu_to_be_16(f.src_port);
    out.tcp_spec.hdr.dst_port = rte_cpu_to_be_16(f.dst_port);
    out.tcp_mask.hdr.src_port = UINT16_MAX;
    out.tcp_mask.hdr.dst_port = UINT16_MAX;
    l4.type = RTE_FLOW_ITEM_TYPE_TCP;
    l4.spec = &out.tcp_spec;
    l4.mask = &out.tcp_mask;
  }
  out.pattern[n].type = RTE_FLOW_ITEM_TYPE_END;

  int a = 0;
  if (count) {
    out.actions[a].type = RTE_FLOW_ACTION_TYPE_COUNT;
    out.actions[a].conf = &out.count_conf;
    ++a;
  }
  out.actions[a++].type = RTE_FLOW_ACTION_TYPE_DROP;
  out.actions[a].type = RTE_FLOW_ACTION_TYPE_END;
}

FlowApi& dpdk_flow_api() noexcept {
  static DpdkFlowApi api;
  return api;
}

FlowOffload::FlowOffload(uint16_t port_id, uint32_t capacity, FlowApi& api)
    : port_id_(port_id), capacity_(capacity), api_(api) {
  (void)log_type();  // register ftz.offload now, so later level changes find it
  if (capacity_ == 0) return;
  // Load factor at most 0.75 keeps linear-probing chains short.
  const std::size_t want = static_cast<std::size_t>(capacity_) + capacity_ / 3 + 1;
  slots_.resize(std::bit_ceil(want));
  mask_ = slots_.size() - 1;
}

FlowOffload::~FlowOffload() {
  remove_all();
}

bool FlowOffload::enabled() const noexcept {
  return capacity_ != 0 && !port_refused_;
}

std::size_t FlowOffload::find(const OffloadFlow& f, uint64_t h) const noexcept {
  for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (!s.used) return i;  // the free slot that ends the probe chain
    if (s.hash == h && s.key == f) return i;
  }
}

void FlowOffload::erase_slot(std::size_t i) noexcept {
  // Backward-shift deletion: no tombstones, so probe chains never degrade.
  slots_[i].used = false;
  slots_[i].handle = nullptr;
  for (std::size_t j = (i + 1) & mask_; slots_[j].used; j = (j + 1) & mask_) {
    const std::size_t home = slots_[j].hash & mask_;
    // Move slots_[j] into the hole unless its home lies cyclically in (i, j].
    const bool home_in_range = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (home_in_range) continue;
    slots_[i] = slots_[j];
    slots_[j].used = false;
    slots_[j].handle = nullptr;
    i = j;
  }
}

FlowOffload::Result FlowOffload::refuse(const OffloadFlow& f, int rc, const rte_flow_error& error) noexcept {
  const int shape = shape_of(f);
  const bool whole_port = rc == -ENOSYS;
  if (whole_port) {
    port_refused_ = true;
  } else {
    shape_refused_[shape] = true;
  }
  ++counters_.refused;
  char text[320];
  std::snprintf(text, sizeof text, "port %u: rte_flow_validate refused %s drop: %s (%s)%s",
                unsigned{port_id_}, shape_name(shape),
                error.message != nullptr ? error.message : "no message", errno_text(rc).c_str(),
                whole_port ? "; offload off for the port" : "; offload off for this rule shape");
  rte_log(RTE_LOG_WARNING, static_cast<uint32_t>(log_type()), "%s; flows stay blocked in software\n", text);
  if (refusal_.empty()) refusal_ = text;
  return Result::kRefused;
}

FlowOffload::Result FlowOffload::install(const OffloadFlow& f) noexcept {
  if (!enabled() || shape_refused_[shape_of(f) & 7]) {
    ++counters_.disabled;
    return Result::kDisabled;
  }
  if (!offloadable(f)) {
    ++counters_.failed;
    return Result::kFailed;
  }
  const uint64_t h = hash_value(f);
  const std::size_t i = find(f, h);
  if (slots_[i].used) {
    ++counters_.duplicates;
    return Result::kDuplicate;
  }
  if (counters_.active >= capacity_) {
    ++counters_.full;
    return Result::kFull;
  }

  DropRule rule;
  build_drop_rule(f, rule, counting_);
  rte_flow_error error{};
  int rc = api_.validate(port_id_, rule, &error);
  if (rc != 0 && counting_ && rc != -ENOSYS && !transient(-rc)) {
    // COUNT support varies most between PMDs: try the same rule without it
    // before giving up on the shape.
    DropRule bare;
    build_drop_rule(f, bare, false);
    rte_flow_error bare_error{};
    if (api_.validate(port_id_, bare, &bare_error) == 0) {
      counting_ = false;
      rte_log(RTE_LOG_WARNING, static_cast<uint32_t>(log_type()),
              "port %u: COUNT refused (%s, %s); drop rules installed without counters, "
              "hardware_drops() stays 0\n",
              unsigned{port_id_}, error.message != nullptr ? error.message : "no message",
              errno_text(rc).c_str());
      build_drop_rule(f, rule, false);
      rc = 0;
    }
  }
  if (rc != 0) {
    if (transient(-rc)) {
      ++counters_.failed;
      if (!failure_logged_) {
        failure_logged_ = true;
        rte_log(RTE_LOG_WARNING, static_cast<uint32_t>(log_type()),
                "port %u: rte_flow_validate: %s (%s); rule not installed, will retry on later flows\n",
                unsigned{port_id_}, error.message != nullptr ? error.message : "no message",
                errno_text(rc).c_str());
      }
      return Result::kFailed;
    }
    return refuse(f, rc, error);
  }

  error = {};
  rte_flow* handle = api_.create(port_id_, rule, &error);
  if (handle == nullptr) {
    ++counters_.failed;
    if (!failure_logged_) {
      failure_logged_ = true;
      rte_log(RTE_LOG_WARNING, static_cast<uint32_t>(log_type()),
              "port %u: rte_flow_create failed after validation: %s (%s); counted in failed\n",
              unsigned{port_id_}, error.message != nullptr ? error.message : "no message",
              errno_text(-rte_errno).c_str());
    }
    return Result::kFailed;
  }
  Slot& s = slots_[i];
  s.key = f;
  s.handle = handle;
  s.hash = h;
  s.used = true;
  s.counted = counting_;
  ++counters_.installed;
  ++counters_.active;
  return Result::kInstalled;
}

void FlowOffload::retire(const Slot& s) noexcept {
  if (s.counted && query_supported_) {
    rte_flow_query_count q{};
    rte_flow_error error{};
    const int rc = api_.query_count(port_id_, s.handle, &q, &error);
    if (rc == 0) {
      if (q.hits_set) retired_hits_ += q.hits;
    } else if (rc == -ENOSYS || rc == -ENOTSUP) {
      query_supported_ = false;
    }
  }
  rte_flow_error error{};
  if (api_.destroy(port_id_, s.handle, &error) == 0) {
    ++counters_.removed;
  } else {
    ++counters_.failed;
  }
}

bool FlowOffload::remove(const OffloadFlow& f) noexcept {
  if (slots_.empty()) return false;
  const uint64_t h = hash_value(f);
  const std::size_t i = find(f, h);
  if (!slots_[i].used) return false;
  const uint64_t removed_before = counters_.removed;
  retire(slots_[i]);
  erase_slot(i);
  --counters_.active;
  return counters_.removed != removed_before;
}

void FlowOffload::remove_all() noexcept {
  for (Slot& s : slots_) {
    if (!s.used) continue;
    retire(s);
    s.used = false;
    s.handle = nullptr;
  }
  counters_.active = 0;
}

uint64_t FlowOffload::hardware_drops() noexcept {
  uint64_t total = retired_hits_;
  if (!query_supported_) return total;
  for (const Slot& s : slots_) {
    if (!s.used || !s.counted) continue;
    rte_flow_query_count q{};
    rte_flow_error error{};
    const int rc = api_.query_count(port_id_, s.handle, &q, &error);
    if (rc == -ENOSYS || rc == -ENOTSUP) {
      query_supported_ = false;
      return retired_hits_;
    }
    if (rc == 0 && q.hits_set) total += q.hits;
  }
  return total;
}

}  // namespace ftz::drivers
