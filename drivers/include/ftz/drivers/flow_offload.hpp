#pragma once
// rte_flow drop offload for flows blocked by policy (docs/offload.md).
//
// Threading: one FlowOffload per ingress port, owned and called only by the
// main (control) lcore of ftzgate-dp. Workers never touch it: they report a
// policy-blocked flow to the main lcore, which calls install() for each
// direction on the port that direction arrives on, and remove() at flow end.
// Nothing here runs per packet; software keeps blocking the flow whatever
// install() returns, so every failure only costs hardware savings.

#include <rte_flow.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ftz/engine/ip_addr.hpp"

namespace ftz::drivers {

// One direction of a flow as it arrives on an ingress port.
struct OffloadFlow {
  engine::IpAddr src, dst;  // both IPv4 (mapped) or both IPv6
  uint16_t src_port = 0, dst_port = 0;
  uint8_t proto = 0;  // 6 (TCP) or 17 (UDP)
  uint16_t vlan = 0;  // outer VLAN id (1..4095), 0 = untagged
  friend bool operator==(const OffloadFlow&, const OffloadFlow&) = default;
};

// True when `f` can become a drop rule: TCP or UDP, same address family on
// both sides, VLAN id below 4096. ICMP and other protocols stay in software.
[[nodiscard]] bool offloadable(const OffloadFlow& f) noexcept;

// 64-bit hash of every field of `f` (all 32 address bytes included).
[[nodiscard]] uint64_t hash_value(const OffloadFlow& f) noexcept;

// The rte_flow pattern + actions of a drop rule, with the spec/mask storage
// the items point into, so a rule can be built and inspected without a
// device. Self-referential: not copyable or movable.
struct DropRule {
  rte_flow_attr attr{};
  rte_flow_item pattern[6]{};    // ETH [VLAN] IPV4|IPV6 TCP|UDP END (END = 0 pads)
  rte_flow_action actions[3]{};  // COUNT DROP END, or DROP END without counting
  rte_flow_item_eth eth_spec{}, eth_mask{};
  rte_flow_item_vlan vlan_spec{}, vlan_mask{};
  rte_flow_item_ipv4 ipv4_spec{}, ipv4_mask{};
  rte_flow_item_ipv6 ipv6_spec{}, ipv6_mask{};
  rte_flow_item_tcp tcp_spec{}, tcp_mask{};
  rte_flow_item_udp udp_spec{}, udp_mask{};
  rte_flow_action_count count_conf{};

  DropRule() = default;
  DropRule(const DropRule&) = delete;
  DropRule& operator=(const DropRule&) = delete;
};

// Priority of every drop rule in group 0 (0 = highest; several PMDs accept
// only 0 in their flow-director path).
inline constexpr uint32_t kDropRulePriority = 0;

// Fills `out` (all of it, previous content discarded) with an ingress,
// group 0, kDropRulePriority rule for `f`:
//   ETH    untagged: spec has_vlan=0, mask has_vlan=1 (matches untagged only);
//          tagged: no field matched (the VLAN item implies the tag)
//   VLAN   tagged only: tci = vlan, mask 0x0fff (VID only; PCP/DEI ignored)
//   IPV4|IPV6  src, dst, next protocol, all fully masked
//   TCP|UDP    src and dst port, fully masked
//   END
// Actions: COUNT (id 0), DROP, END when `count`; DROP, END otherwise.
// All spec values are in network byte order. Precondition: offloadable(f).
void build_drop_rule(const OffloadFlow& f, DropRule& out, bool count = true) noexcept;

// The rte_flow calls FlowOffload makes, behind an interface so the table
// logic can be tested with a recording fake. dpdk_flow_api() forwards to
// rte_flow_validate/create/destroy/query. Every call follows the rte_flow
// convention: 0 / non-null on success, a negative errno (or null) with
// `error` filled on failure.
class FlowApi {
 public:
  virtual ~FlowApi() = default;
  virtual int validate(uint16_t port_id, const DropRule& rule, rte_flow_error* error) noexcept = 0;
  virtual rte_flow* create(uint16_t port_id, const DropRule& rule, rte_flow_error* error) noexcept = 0;
  virtual int destroy(uint16_t port_id, rte_flow* flow, rte_flow_error* error) noexcept = 0;
  virtual int query_count(uint16_t port_id, rte_flow* flow, rte_flow_query_count* out,
                          rte_flow_error* error) noexcept = 0;
};
FlowApi& dpdk_flow_api() noexcept;

class FlowOffload {
 public:
  // capacity = most rules held at once (0 = offload disabled). The slot
  // table is allocated here and never again (open addressing, linear probing,
  // load factor <= 0.75). `api` is not owned and must outlive this object.
  FlowOffload(uint16_t port_id, uint32_t capacity, FlowApi& api = dpdk_flow_api());
  // Destroys the rules still installed (remove_all()): destroy a FlowOffload
  // before rte_eth_dev_stop/close of its port and before rte_eal_cleanup.
  ~FlowOffload();
  FlowOffload(const FlowOffload&) = delete;
  FlowOffload& operator=(const FlowOffload&) = delete;

  enum class Result : uint8_t {
    kInstalled,  // rule created in the device
    kDuplicate,  // already installed for this port
    kFull,       // table holds `capacity` rules
    kRefused,    // rte_flow_validate refused the rule (see refusal())
    kDisabled,   // capacity 0, device has no rte_flow, or this rule shape was refused before
    kFailed,     // not offloadable(f), hardware busy/full (ENOMEM, ENOSPC, EBUSY,
                 // EAGAIN, EEXIST) or rte_flow_create failed after validation
  };

  // Validates, then creates the drop rule for `f`. A validate error of the
  // refusal kind (anything but the transient errnos above) is remembered:
  // ENOSYS (the PMD has no rte_flow at all) disables the whole port for good;
  // any other refusal disables only that rule shape (IPv4/IPv6 x TCP/UDP x
  // tagged/untagged), since NICs commonly take some shapes and not others.
  // If the rule is refused with COUNT but accepted without it, the port stops
  // counting (counting() false) and installs DROP-only rules from then on;
  // rules already installed with COUNT keep being queried.
  // The first refusal is kept as text (message, errno name) and logged once.
  Result install(const OffloadFlow& f) noexcept;

  // Destroys the rule for `f` (at flow expiry). False when none is installed
  // or rte_flow_destroy failed (counted in `failed`; the slot is freed anyway
  // since the rule's handle is no longer usable).
  bool remove(const OffloadFlow& f) noexcept;

  // Destroys every rule of this port (shutdown, or before the port stops:
  // PMDs may drop or keep rules across a stop). The table is empty afterwards.
  void remove_all() noexcept;

  // False when capacity is 0 or the device has no rte_flow (ENOSYS).
  [[nodiscard]] bool enabled() const noexcept;
  // True while rules carry a COUNT action.
  [[nodiscard]] bool counting() const noexcept { return counting_; }
  // The first refusal, e.g. "port 0: rte_flow_validate refused eth/ipv4/tcp
  // drop: <PMD message> (ENOSYS -38)"; empty when nothing was refused.
  [[nodiscard]] const std::string& refusal() const noexcept { return refusal_; }
  [[nodiscard]] uint16_t port_id() const noexcept { return port_id_; }
  [[nodiscard]] uint32_t capacity() const noexcept { return capacity_; }

  struct Counters {
    uint64_t installed = 0;   // kInstalled results
    uint64_t removed = 0;     // rules destroyed (remove and remove_all)
    uint64_t duplicates = 0;  // kDuplicate results
    uint64_t full = 0;        // kFull results
    uint64_t refused = 0;     // kRefused results (at most one per shape)
    uint64_t failed = 0;      // kFailed results and failed rte_flow_destroy
    uint64_t disabled = 0;    // kDisabled results (flows left to software)
    uint64_t active = 0;      // rules installed now
  };
  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }

  // Packets dropped in hardware by this port's rules: COUNT hits of the
  // active rules plus the hits read from each rule just before it was
  // destroyed, so the value never goes down (a Counter64 for the stats).
  // 0 when the rules do not count or the PMD cannot query counters.
  uint64_t hardware_drops() noexcept;

 private:
  struct Slot {
    OffloadFlow key;
    rte_flow* handle = nullptr;
    uint64_t hash = 0;
    bool used = false;
    bool counted = false;  // the rule carries a COUNT action
  };
  static constexpr int kShapes = 8;

  [[nodiscard]] std::size_t find(const OffloadFlow& f, uint64_t h) const noexcept;
  void erase_slot(std::size_t i) noexcept;
  void retire(const Slot& s) noexcept;  // queries its count, then destroys it; counts the result
  Result refuse(const OffloadFlow& f, int rc, const rte_flow_error& error) noexcept;

  uint16_t port_id_;
  uint32_t capacity_;
  FlowApi& api_;
  std::vector<Slot> slots_;  // size is a power of two, or empty when capacity is 0
  std::size_t mask_ = 0;
  bool port_refused_ = false;
  bool shape_refused_[kShapes]{};
  bool counting_ = true;
  bool query_supported_ = true;
  bool failure_logged_ = false;  // first kFailed from the device is logged, later ones counted
  uint64_t retired_hits_ = 0;
  std::string refusal_;
  Counters counters_;
};

}  // namespace ftz::drivers

template <>
struct std::hash<ftz::drivers::OffloadFlow> {
  std::size_t operator()(const ftz::drivers::OffloadFlow& f) const noexcept {
    return static_cast<std::size_t>(ftz::drivers::hash_value(f));
  }
};
