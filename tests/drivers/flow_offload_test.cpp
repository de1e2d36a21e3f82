// FlowOffload: the drop-rule builder, the bounded rule table (through a
// recording FlowApi) and the refusal path against real DPDK virtual devices
// (EAL in-process, --no-huge, net_null0 and net_ring0). Every vdev refuses
// rte_flow on the build machines, so installing a rule on a NIC is not
// covered here (docs/offload.md).

#include "ftz/drivers/flow_offload.hpp"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ftz::drivers {
namespace {

using engine::IpAddr;
using Result = FlowOffload::Result;

// ---------------------------------------------------------------------------
// EAL once per process (rte_eal_init cannot run twice); runtime dir removed in
// TearDown, which gtest runs even when tests failed.

class DpdkEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    prefix_ = "ftz-offload-test-" + std::to_string(::getpid());
    args_ = {
        "flow_offload_test", "--no-huge", "--no-pci",  "-m", "256", "--file-prefix",      prefix_, "--vdev",
        "net_null0",         "--vdev",    "net_ring0", "-l", "0",   "--log-level=*:error"};
    std::vector<char*> argv;
    for (std::string& a : args_) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      error_ = std::string("rte_eal_init failed: ") + rte_strerror(rte_errno);
      remove_runtime_dir();
      return;
    }
    eal_up_ = true;
    pool_ = rte_pktmbuf_pool_create("ftz_offload_test", 511, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool_ == nullptr) {
      error_ = std::string("mempool: ") + rte_strerror(rte_errno);
      return;
    }
    for (const char* name : {"net_null0", "net_ring0"}) {
      uint16_t port = 0;
      if (rte_eth_dev_get_port_by_name(name, &port) != 0) {
        error_ = std::string("no port ") + name;
        return;
      }
      rte_eth_conf conf{};
      const int socket = rte_eth_dev_socket_id(port);
      if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
          rte_eth_rx_queue_setup(port, 0, 64, static_cast<unsigned>(socket), nullptr, pool_) != 0 ||
          rte_eth_tx_queue_setup(port, 0, 64, static_cast<unsigned>(socket), nullptr) != 0 ||
          rte_eth_dev_start(port) != 0) {
        error_ = std::string("cannot configure/start ") + name;
        return;
      }
      ports_[name] = port;
    }
    error_.clear();
  }

  void TearDown() override {
    if (eal_up_) {
      for (const auto& [name, port] : ports_) {
        (void)rte_eth_dev_stop(port);
        (void)rte_eth_dev_close(port);
      }
      if (pool_ != nullptr) rte_mempool_free(pool_);
      (void)rte_eal_cleanup();
    }
    remove_runtime_dir();
  }

  // Empty when EAL and both ports are up.
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] uint16_t port(const std::string& name) const { return ports_.at(name); }

 private:
  void remove_runtime_dir() {
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + prefix_, ec);
  }

  std::string prefix_;
  std::vector<std::string> args_;
  std::string error_ = "EAL not initialised";
  bool eal_up_ = false;
  rte_mempool* pool_ = nullptr;
  std::map<std::string, uint16_t> ports_;
};

DpdkEnvironment* const g_dpdk =
    static_cast<DpdkEnvironment*>(::testing::AddGlobalTestEnvironment(new DpdkEnvironment));

#define REQUIRE_DPDK()                                             \
  do {                                                             \
    if (!g_dpdk->error().empty()) GTEST_SKIP() << g_dpdk->error(); \
  } while (0)

// ---------------------------------------------------------------------------
// Flows

OffloadFlow v4_tcp(uint32_t src = 0x0a000001, uint32_t dst = 0xc0a80102, uint16_t sport = 40000,
                   uint16_t dport = 443) {
  OffloadFlow f;
  f.src = IpAddr::v4(src);
  f.dst = IpAddr::v4(dst);
  f.src_port = sport;
  f.dst_port = dport;
  f.proto = 6;
  return f;
}

OffloadFlow v6_udp() {
  OffloadFlow f;
  f.src = *engine::parse_ip("2001:db8::1");
  f.dst = *engine::parse_ip("2001:db8:ffff::abcd");
  f.src_port = 5353;
  f.dst_port = 53;
  f.proto = 17;
  return f;
}

std::vector<rte_flow_item_type> item_types(const DropRule& r) {
  std::vector<rte_flow_item_type> out;
  for (const rte_flow_item& item : r.pattern) {
    out.push_back(item.type);
    if (item.type == RTE_FLOW_ITEM_TYPE_END) break;
  }
  return out;
}

std::vector<rte_flow_action_type> action_types(const DropRule& r) {
  std::vector<rte_flow_action_type> out;
  for (const rte_flow_action& action : r.actions) {
    out.push_back(action.type);
    if (action.type == RTE_FLOW_ACTION_TYPE_END) break;
  }
  return out;
}

template <typename T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> out(sizeof v);
  std::memcpy(out.data(), &v, sizeof v);
  return out;
}

bool has_count_action(const DropRule& r) {
  for (const rte_flow_action& a : r.actions) {
    if (a.type == RTE_FLOW_ACTION_TYPE_COUNT) return true;
    if (a.type == RTE_FLOW_ACTION_TYPE_END) break;
  }
  return false;
}

// ---------------------------------------------------------------------------
// build_drop_rule

void expect_common(const DropRule& r, bool count = true) {
  EXPECT_EQ(r.attr.ingress, 1u);
  EXPECT_EQ(r.attr.egress, 0u);
  EXPECT_EQ(r.attr.transfer, 0u);
  EXPECT_EQ(r.attr.group, 0u);
  EXPECT_EQ(r.attr.priority, kDropRulePriority);
  if (count) {
    EXPECT_EQ(action_types(r),
              (std::vector<rte_flow_action_type>{RTE_FLOW_ACTION_TYPE_COUNT, RTE_FLOW_ACTION_TYPE_DROP,
                                                 RTE_FLOW_ACTION_TYPE_END}));
    EXPECT_EQ(r.actions[0].conf, &r.count_conf);
    EXPECT_EQ(r.count_conf.id, 0u);
  } else {
    EXPECT_EQ(action_types(r),
              (std::vector<rte_flow_action_type>{RTE_FLOW_ACTION_TYPE_DROP, RTE_FLOW_ACTION_TYPE_END}));
  }
  EXPECT_EQ(r.pattern[0].type, RTE_FLOW_ITEM_TYPE_ETH);
  EXPECT_EQ(r.pattern[0].spec, &r.eth_spec);
  EXPECT_EQ(r.pattern[0].mask, &r.eth_mask);
  EXPECT_EQ(r.eth_mask.hdr.ether_type, 0) << "EtherType is implied by the IP item";
  for (const rte_flow_item& item : r.pattern) EXPECT_EQ(item.last, nullptr);
}

TEST(BuildDropRule, Ipv4TcpUntagged) {
  DropRule r;
  build_drop_rule(v4_tcp(), r);
  expect_common(r);
  EXPECT_EQ(item_types(r), (std::vector<rte_flow_item_type>{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_IPV4,
                                                            RTE_FLOW_ITEM_TYPE_TCP, RTE_FLOW_ITEM_TYPE_END}));
  // Untagged only.
  EXPECT_EQ(r.eth_spec.has_vlan, 0u);
  EXPECT_EQ(r.eth_mask.has_vlan, 1u);

  ASSERT_EQ(r.pattern[1].spec, &r.ipv4_spec);
  ASSERT_EQ(r.pattern[1].mask, &r.ipv4_mask);
  EXPECT_EQ(bytes_of(r.ipv4_spec.hdr.src_addr), (std::vector<uint8_t>{10, 0, 0, 1}));
  EXPECT_EQ(bytes_of(r.ipv4_spec.hdr.dst_addr), (std::vector<uint8_t>{192, 168, 1, 2}));
  EXPECT_EQ(r.ipv4_spec.hdr.next_proto_id, 6);
  EXPECT_EQ(r.ipv4_mask.hdr.src_addr, UINT32_MAX);
  EXPECT_EQ(r.ipv4_mask.hdr.dst_addr, UINT32_MAX);
  EXPECT_EQ(r.ipv4_mask.hdr.next_proto_id, UINT8_MAX);
  EXPECT_EQ(r.ipv4_mask.hdr.time_to_live, 0);
  EXPECT_EQ(r.ipv4_mask.hdr.total_length, 0);

  ASSERT_EQ(r.pattern[2].spec, &r.tcp_spec);
  ASSERT_EQ(r.pattern[2].mask, &r.tcp_mask);
  // 40000 = 0x9c40, 443 = 0x01bb, on the wire big-endian.
  EXPECT_EQ(bytes_of(r.tcp_spec.hdr.src_port), (std::vector<uint8_t>{0x9c, 0x40}));
  EXPECT_EQ(bytes_of(r.tcp_spec.hdr.dst_port), (std::vector<uint8_t>{0x01, 0xbb}));
  EXPECT_EQ(r.tcp_mask.hdr.src_port, UINT16_MAX);
  EXPECT_EQ(r.tcp_mask.hdr.dst_port, UINT16_MAX);
  EXPECT_EQ(r.tcp_mask.hdr.tcp_flags, 0) << "any TCP segment of the flow, not only SYN";
  EXPECT_EQ(r.pattern[4].type, RTE_FLOW_ITEM_TYPE_END);
  EXPECT_EQ(r.pattern[5].type, RTE_FLOW_ITEM_TYPE_END);
}

TEST(BuildDropRule, Ipv6Udp) {
  DropRule r;
  build_drop_rule(v6_udp(), r);
  expect_common(r);
  EXPECT_EQ(item_types(r), (std::vector<rte_flow_item_type>{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_IPV6,
                                                            RTE_FLOW_ITEM_TYPE_UDP, RTE_FLOW_ITEM_TYPE_END}));
  ASSERT_EQ(r.pattern[1].spec, &r.ipv6_spec);
  ASSERT_EQ(r.pattern[1].mask, &r.ipv6_mask);
  const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd};
  EXPECT_EQ(std::memcmp(r.ipv6_spec.hdr.src_addr, src, 16), 0);
  EXPECT_EQ(std::memcmp(r.ipv6_spec.hdr.dst_addr, dst, 16), 0);
  EXPECT_EQ(r.ipv6_spec.hdr.proto, 17);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(r.ipv6_mask.hdr.src_addr[i], 0xff);
    EXPECT_EQ(r.ipv6_mask.hdr.dst_addr[i], 0xff);
  }
  EXPECT_EQ(r.ipv6_mask.hdr.proto, UINT8_MAX);
  EXPECT_EQ(r.ipv6_mask.hdr.vtc_flow, 0u);
  EXPECT_EQ(r.ipv6_mask.hdr.hop_limits, 0);

  ASSERT_EQ(r.pattern[2].spec, &r.udp_spec);
  ASSERT_EQ(r.pattern[2].mask, &r.udp_mask);
  EXPECT_EQ(bytes_of(r.udp_spec.hdr.src_port), (std::vector<uint8_t>{0x14, 0xe9}));  // 5353
  EXPECT_EQ(bytes_of(r.udp_spec.hdr.dst_port), (std::vector<uint8_t>{0x00, 0x35}));  // 53
  EXPECT_EQ(r.udp_mask.hdr.src_port, UINT16_MAX);
  EXPECT_EQ(r.udp_mask.hdr.dst_port, UINT16_MAX);
  EXPECT_EQ(r.udp_mask.hdr.dgram_len, 0);
  EXPECT_EQ(r.udp_mask.hdr.dgram_cksum, 0);
}

TEST(BuildDropRule, VlanTagged) {
  OffloadFlow f = v4_tcp();
  f.proto = 17;
  f.vlan = 0x123;
  DropRule r;
  build_drop_rule(f, r);
  expect_common(r);
  EXPECT_EQ(item_types(r), (std::vector<rte_flow_item_type>{RTE_FLOW_ITEM_TYPE_ETH, RTE_FLOW_ITEM_TYPE_VLAN,
                                                            RTE_FLOW_ITEM_TYPE_IPV4, RTE_FLOW_ITEM_TYPE_UDP,
                                                            RTE_FLOW_ITEM_TYPE_END}));
  // The VLAN item carries the tag; ETH matches nothing of its own.
  EXPECT_EQ(r.eth_mask.has_vlan, 0u);
  EXPECT_EQ(bytes_of(r.eth_mask), bytes_of(rte_flow_item_eth{}));
  ASSERT_EQ(r.pattern[1].spec, &r.vlan_spec);
  ASSERT_EQ(r.pattern[1].mask, &r.vlan_mask);
  EXPECT_EQ(bytes_of(r.vlan_spec.hdr.vlan_tci), (std::vector<uint8_t>{0x01, 0x23}));
  EXPECT_EQ(bytes_of(r.vlan_mask.hdr.vlan_tci), (std::vector<uint8_t>{0x0f, 0xff}))
      << "VID only, not PCP/DEI";
  EXPECT_EQ(r.vlan_mask.hdr.eth_proto, 0);
  EXPECT_EQ(r.pattern[2].spec, &r.ipv4_spec);
  EXPECT_EQ(r.pattern[3].spec, &r.udp_spec);
  EXPECT_EQ(r.ipv4_spec.hdr.next_proto_id, 17);
  EXPECT_EQ(r.pattern[5].type, RTE_FLOW_ITEM_TYPE_END);
}

TEST(BuildDropRule, WithoutCountAndRebuildResetsStorage) {
  OffloadFlow tagged = v6_udp();
  tagged.vlan = 7;
  DropRule r;
  build_drop_rule(tagged, r);
  build_drop_rule(v4_tcp(), r, /*count=*/false);
  expect_common(r, /*count=*/false);
  EXPECT_EQ(item_types(r).size(), 4u);
  EXPECT_EQ(bytes_of(r.vlan_spec), bytes_of(rte_flow_item_vlan{}));
  EXPECT_EQ(bytes_of(r.ipv6_spec), bytes_of(rte_flow_item_ipv6{}));
  EXPECT_EQ(bytes_of(r.udp_mask), bytes_of(rte_flow_item_udp{}));
  EXPECT_EQ(r.actions[2].type, RTE_FLOW_ACTION_TYPE_END);
}

TEST(Offloadable, OnlyTcpUdpSameFamilyValidVlan) {
  EXPECT_TRUE(offloadable(v4_tcp()));
  EXPECT_TRUE(offloadable(v6_udp()));
  OffloadFlow icmp = v4_tcp();
  icmp.proto = 1;
  EXPECT_FALSE(offloadable(icmp));
  OffloadFlow mixed = v6_udp();
  mixed.src = IpAddr::v4(0x01020304);
  EXPECT_FALSE(offloadable(mixed));
  OffloadFlow vlan = v4_tcp();
  vlan.vlan = 4095;
  EXPECT_TRUE(offloadable(vlan));
  vlan.vlan = 4096;
  EXPECT_FALSE(offloadable(vlan));
}

TEST(OffloadFlowHash, EveryFieldCountsAndNoCollisionsOnManyFlows) {
  const OffloadFlow base = v6_udp();
  const uint64_t h = hash_value(base);
  std::vector<OffloadFlow> variants(7, base);
  variants[0].src.bytes[0] ^= 1;  // high IPv6 bytes matter
  variants[1].dst.bytes[15] ^= 1;
  variants[2].src_port ^= 1;
  variants[3].dst_port ^= 1;
  variants[4].proto = 6;
  variants[5].vlan = 1;
  std::swap(variants[6].src, variants[6].dst);  // direction matters
  for (const OffloadFlow& v : variants) EXPECT_NE(hash_value(v), h);
  EXPECT_EQ(std::hash<OffloadFlow>{}(base), static_cast<std::size_t>(h));

  // 200k IPv4 flows differing only in the low address bytes and ports (the
  // usual case): no full 64-bit collision, and the low 12 bits (a table
  // index) spread evenly.
  std::unordered_set<uint64_t> seen;
  std::vector<int> buckets(4096, 0);
  for (uint32_t i = 0; i < 200000; ++i) {
    const uint64_t x =
        hash_value(v4_tcp(0x0a000000 + (i & 0xffff), 0x0a010001, static_cast<uint16_t>(i >> 16) + 1024));
    EXPECT_TRUE(seen.insert(x).second);
    ++buckets[x & 4095];
  }
  for (int b : buckets) {
    EXPECT_GT(b, 20);
    EXPECT_LT(b, 90);
  }
}

// ---------------------------------------------------------------------------
// The table through a recording FlowApi

class RecordingFlowApi : public FlowApi {
 public:
  int validate(uint16_t, const DropRule& rule, rte_flow_error* error) noexcept override {
    ++validates;
    const bool counted = has_count_action(rule);
    validated_with_count.push_back(counted);
    const bool v6 =
        rule.pattern[rule.pattern[1].type == RTE_FLOW_ITEM_TYPE_VLAN ? 2 : 1].type == RTE_FLOW_ITEM_TYPE_IPV6;
    int rc = validate_rc;
    if (refuse_ipv6 && v6) rc = -ENOTSUP;
    if (refuse_count && counted) rc = -ENOTSUP;
    if (rc != 0) {
      error->type = RTE_FLOW_ERROR_TYPE_ITEM;
      error->message = "fake refusal";
    }
    return rc;
  }
  rte_flow* create(uint16_t, const DropRule& rule, rte_flow_error* error) noexcept override {
    ++creates;
    if (fail_create) {
      error->message = "fake create failure";
      return nullptr;
    }
    created_with_count.push_back(has_count_action(rule));
    rte_flow* handle = reinterpret_cast<rte_flow*>(next_handle++);
    live.insert(handle);
    return handle;
  }
  int destroy(uint16_t, rte_flow* flow, rte_flow_error*) noexcept override {
    ++destroys;
    live.erase(flow);
    return fail_destroy ? -EIO : 0;
  }
  int query_count(uint16_t, rte_flow* flow, rte_flow_query_count* out, rte_flow_error*) noexcept override {
    ++queries;
    if (query_rc != 0) return query_rc;
    out->hits_set = 1;
    out->hits = hits[flow];
    return 0;
  }

  int validate_rc = 0;
  bool refuse_ipv6 = false;
  bool refuse_count = false;
  bool fail_create = false;
  bool fail_destroy = false;
  int query_rc = 0;
  int validates = 0, creates = 0, destroys = 0, queries = 0;
  std::vector<bool> validated_with_count, created_with_count;
  std::uintptr_t next_handle = 0x1000;
  std::unordered_set<rte_flow*> live;
  std::unordered_map<rte_flow*, uint64_t> hits;
};

TEST(FlowOffloadTable, InstallThenDuplicate) {
  RecordingFlowApi api;
  FlowOffload off(3, 8, api);
  EXPECT_TRUE(off.enabled());
  EXPECT_EQ(off.install(v4_tcp()), Result::kInstalled);
  EXPECT_EQ(off.install(v4_tcp()), Result::kDuplicate);
  EXPECT_EQ(api.validates, 1) << "a duplicate never reaches the device";
  EXPECT_EQ(api.creates, 1);
  // The reverse direction is another rule.
  EXPECT_EQ(off.install(v4_tcp(0xc0a80102, 0x0a000001, 443, 40000)), Result::kInstalled);
  const auto& c = off.counters();
  EXPECT_EQ(c.installed, 2u);
  EXPECT_EQ(c.duplicates, 1u);
  EXPECT_EQ(c.active, 2u);
  EXPECT_TRUE(off.refusal().empty());
}

TEST(FlowOffloadTable, FullAtCapacityAndRemoveFreesASlot) {
  RecordingFlowApi api;
  FlowOffload off(0, 3, api);
  for (uint16_t p = 1; p <= 3; ++p) EXPECT_EQ(off.install(v4_tcp(1, 2, p, 80)), Result::kInstalled);
  EXPECT_EQ(off.install(v4_tcp(1, 2, 4, 80)), Result::kFull);
  EXPECT_EQ(off.install(v4_tcp(1, 2, 2, 80)), Result::kDuplicate) << "duplicate checked before full";
  EXPECT_EQ(api.creates, 3);
  EXPECT_EQ(off.counters().full, 1u);

  EXPECT_TRUE(off.remove(v4_tcp(1, 2, 2, 80)));
  EXPECT_EQ(api.destroys, 1);
  EXPECT_FALSE(off.remove(v4_tcp(1, 2, 2, 80))) << "already gone";
  EXPECT_FALSE(off.remove(v4_tcp(9, 9, 9, 9)));
  EXPECT_EQ(off.install(v4_tcp(1, 2, 4, 80)), Result::kInstalled);
  EXPECT_EQ(off.counters().active, 3u);
  EXPECT_EQ(off.counters().removed, 1u);
  EXPECT_EQ(api.live.size(), 3u);
}

TEST(FlowOffloadTable, RemoveAllDestroysEveryRuleAndDestructorToo) {
  RecordingFlowApi api;
  {
    FlowOffload off(0, 16, api);
    for (uint16_t p = 1; p <= 10; ++p) ASSERT_EQ(off.install(v4_tcp(1, 2, p, 80)), Result::kInstalled);
    off.remove_all();
    EXPECT_TRUE(api.live.empty());
    EXPECT_EQ(off.counters().active, 0u);
    EXPECT_EQ(off.counters().removed, 10u);
    EXPECT_FALSE(off.remove(v4_tcp(1, 2, 1, 80)));
    EXPECT_EQ(off.install(v4_tcp(1, 2, 1, 80)), Result::kInstalled) << "table usable after remove_all";
    EXPECT_EQ(off.install(v6_udp()), Result::kInstalled);
  }
  EXPECT_TRUE(api.live.empty()) << "destructor destroys what is left";
  EXPECT_EQ(api.destroys, 12);
}

TEST(FlowOffloadTable, MatchesAModelUnderRandomInstallRemove) {
  // A small table (capacity 7 → 16 slots) so probe chains wrap around and
  // backward-shift deletion is exercised; keys from a small space so
  // duplicates and removals of present keys are frequent.
  RecordingFlowApi api;
  FlowOffload off(0, 7, api);
  std::unordered_set<OffloadFlow> model;
  std::mt19937 rng(12345);
  for (int step = 0; step < 20000; ++step) {
    const uint32_t k = rng() % 24;
    OffloadFlow f = (k % 3 == 0) ? v6_udp() : v4_tcp();
    f.src_port = static_cast<uint16_t>(k);
    if (rng() % 2 == 0) {
      const Result r = off.install(f);
      if (model.count(f) != 0) {
        ASSERT_EQ(r, Result::kDuplicate) << "step " << step;
      } else if (model.size() == 7) {
        ASSERT_EQ(r, Result::kFull) << "step " << step;
      } else {
        ASSERT_EQ(r, Result::kInstalled) << "step " << step;
        model.insert(f);
      }
    } else {
      ASSERT_EQ(off.remove(f), model.erase(f) == 1) << "step " << step;
    }
    ASSERT_EQ(off.counters().active, model.size());
    ASSERT_EQ(api.live.size(), model.size());
  }
}

TEST(FlowOffloadTable, CapacityZeroIsDisabledWithoutDeviceCalls) {
  RecordingFlowApi api;
  FlowOffload off(0, 0, api);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.install(v4_tcp()), Result::kDisabled);
  EXPECT_FALSE(off.remove(v4_tcp()));
  off.remove_all();
  EXPECT_EQ(off.hardware_drops(), 0u);
  EXPECT_EQ(api.validates + api.creates + api.destroys + api.queries, 0);
  EXPECT_EQ(off.counters().disabled, 1u);
}

TEST(FlowOffloadTable, ShapeRefusalKeepsOtherShapes) {
  RecordingFlowApi api;
  api.refuse_ipv6 = true;
  FlowOffload off(2, 8, api);
  EXPECT_EQ(off.install(v6_udp()), Result::kRefused);
  const int validates = api.validates;
  OffloadFlow other_v6 = v6_udp();
  other_v6.src_port = 1;
  EXPECT_EQ(off.install(other_v6), Result::kDisabled);
  EXPECT_EQ(api.validates, validates) << "a refused shape is not validated again";
  OffloadFlow v6_tcp = other_v6;
  v6_tcp.proto = 6;
  EXPECT_EQ(off.install(v6_tcp), Result::kRefused) << "IPv6/TCP is another shape";
  EXPECT_EQ(off.install(v4_tcp()), Result::kInstalled);
  EXPECT_TRUE(off.enabled()) << "only ENOSYS turns the whole port off";
  EXPECT_NE(off.refusal().find("eth/ipv6/udp"), std::string::npos) << off.refusal();
  EXPECT_NE(off.refusal().find("fake refusal"), std::string::npos) << off.refusal();
  EXPECT_NE(off.refusal().find("EOPNOTSUPP -95"), std::string::npos) << off.refusal();  // ENOTSUP on Linux
  EXPECT_EQ(off.counters().refused, 2u);
  EXPECT_EQ(off.counters().disabled, 1u);
}

TEST(FlowOffloadTable, CountRefusedFallsBackToDropOnly) {
  RecordingFlowApi api;
  api.refuse_count = true;
  FlowOffload off(0, 8, api);
  EXPECT_TRUE(off.counting());
  EXPECT_EQ(off.install(v4_tcp()), Result::kInstalled);
  EXPECT_FALSE(off.counting());
  EXPECT_EQ(api.validated_with_count, (std::vector<bool>{true, false}));
  EXPECT_EQ(api.created_with_count, (std::vector<bool>{false}));
  EXPECT_EQ(off.install(v6_udp()), Result::kInstalled);
  EXPECT_EQ(api.validated_with_count.back(), false);
  EXPECT_EQ(off.hardware_drops(), 0u);
  EXPECT_EQ(api.queries, 0) << "rules without COUNT are never queried";
  EXPECT_TRUE(off.refusal().empty());
  EXPECT_EQ(off.counters().refused, 0u);
}

TEST(FlowOffloadTable, TransientAndCreateFailuresDoNotDisable) {
  RecordingFlowApi api;
  api.validate_rc = -ENOMEM;
  FlowOffload off(0, 8, api);
  EXPECT_EQ(off.install(v4_tcp()), Result::kFailed);
  api.validate_rc = -EEXIST;
  EXPECT_EQ(off.install(v4_tcp()), Result::kFailed);
  api.validate_rc = 0;
  api.fail_create = true;
  EXPECT_EQ(off.install(v4_tcp()), Result::kFailed);
  api.fail_create = false;
  EXPECT_EQ(off.install(v4_tcp()), Result::kInstalled);
  EXPECT_TRUE(off.enabled());
  EXPECT_TRUE(off.refusal().empty());
  EXPECT_EQ(off.counters().failed, 3u);
  OffloadFlow icmp = v4_tcp();
  icmp.proto = 1;
  EXPECT_EQ(off.install(icmp), Result::kFailed) << "not offloadable";
  EXPECT_EQ(api.validates, 4);
}

TEST(FlowOffloadTable, HardwareDropsSumActiveAndRemovedRules) {
  RecordingFlowApi api;
  FlowOffload off(0, 8, api);
  ASSERT_EQ(off.install(v4_tcp()), Result::kInstalled);
  ASSERT_EQ(off.install(v6_udp()), Result::kInstalled);
  rte_flow* first = reinterpret_cast<rte_flow*>(std::uintptr_t{0x1000});
  rte_flow* second = reinterpret_cast<rte_flow*>(std::uintptr_t{0x1001});
  api.hits[first] = 100;
  api.hits[second] = 5;
  EXPECT_EQ(off.hardware_drops(), 105u);
  api.hits[first] = 150;
  EXPECT_TRUE(off.remove(v4_tcp()));  // its 150 hits are read before destroy
  api.hits[second] = 7;
  EXPECT_EQ(off.hardware_drops(), 157u) << "never goes down when a rule is removed";
  api.query_rc = -ENOTSUP;
  EXPECT_EQ(off.hardware_drops(), 150u);
  const int queries = api.queries;
  EXPECT_EQ(off.hardware_drops(), 150u);
  EXPECT_EQ(api.queries, queries) << "an unsupported query is not retried";
}

TEST(FlowOffloadTable, DestroyFailureFreesTheSlotAndCounts) {
  RecordingFlowApi api;
  FlowOffload off(0, 1, api);
  ASSERT_EQ(off.install(v4_tcp()), Result::kInstalled);
  api.fail_destroy = true;
  EXPECT_FALSE(off.remove(v4_tcp()));
  EXPECT_EQ(off.counters().failed, 1u);
  EXPECT_EQ(off.counters().active, 0u);
  api.fail_destroy = false;
  EXPECT_EQ(off.install(v6_udp()), Result::kInstalled);
}

// ---------------------------------------------------------------------------
// Real DPDK: the vdevs of the build machines refuse rte_flow

// Forwards to the DPDK implementation and counts the calls.
class CountingDpdkApi : public FlowApi {
 public:
  int validate(uint16_t port, const DropRule& rule, rte_flow_error* error) noexcept override {
    ++calls;
    return dpdk_flow_api().validate(port, rule, error);
  }
  rte_flow* create(uint16_t port, const DropRule& rule, rte_flow_error* error) noexcept override {
    ++calls;
    return dpdk_flow_api().create(port, rule, error);
  }
  int destroy(uint16_t port, rte_flow* flow, rte_flow_error* error) noexcept override {
    ++calls;
    return dpdk_flow_api().destroy(port, flow, error);
  }
  int query_count(uint16_t port, rte_flow* flow, rte_flow_query_count* out,
                  rte_flow_error* error) noexcept override {
    ++calls;
    return dpdk_flow_api().query_count(port, flow, out, error);
  }
  int calls = 0;
};

class VdevOffload : public ::testing::TestWithParam<const char*> {};

TEST_P(VdevOffload, RteFlowValidateReturnCode) {
  REQUIRE_DPDK();
  const uint16_t port = g_dpdk->port(GetParam());
  for (const OffloadFlow& f : {v4_tcp(), v6_udp()}) {
    DropRule rule;
    build_drop_rule(f, rule);
    rte_flow_error error{};
    rte_errno = 0;
    const int rc = rte_flow_validate(port, &rule.attr, rule.pattern, rule.actions, &error);
    const char* name = strerrorname_np(-rc);
    std::printf(
        "[ VDEV     ] %s port %u: rte_flow_validate(%s) = %d (%s), rte_errno %d, type %d, message \"%s\"\n",
        GetParam(), unsigned{port}, f.src.is_v4() ? "eth/ipv4/tcp" : "eth/ipv6/udp", rc,
        name != nullptr ? name : "?", rte_errno, static_cast<int>(error.type),
        error.message != nullptr ? error.message : "(null)");
    RecordProperty(std::string("validate_rc_") + (f.src.is_v4() ? "v4" : "v6"), rc);
    EXPECT_LT(rc, 0) << "a vdev accepted an rte_flow rule: the refusal tests below no longer cover it";
    EXPECT_EQ(rc, -ENOSYS) << "PLATFORM.md records -38 ENOSYS on net_null/net_ring";
  }
}

TEST_P(VdevOffload, RefusalDisablesThePortAndKeepsTheReason) {
  REQUIRE_DPDK();
  const uint16_t port = g_dpdk->port(GetParam());
  CountingDpdkApi api;
  FlowOffload off(port, 64, api);
  ASSERT_TRUE(off.enabled());
  EXPECT_EQ(off.install(v4_tcp()), Result::kRefused);
  EXPECT_FALSE(off.enabled());
  ASSERT_FALSE(off.refusal().empty());
  std::printf("[ VDEV     ] %s refusal: %s\n", GetParam(), off.refusal().c_str());
  EXPECT_NE(off.refusal().find("ENOSYS"), std::string::npos) << off.refusal();
  EXPECT_NE(off.refusal().find("-38"), std::string::npos) << off.refusal();
  EXPECT_NE(off.refusal().find("port " + std::to_string(port)), std::string::npos) << off.refusal();
  EXPECT_NE(off.refusal().find("eth/ipv4/tcp"), std::string::npos) << off.refusal();
  EXPECT_EQ(api.calls, 1) << "ENOSYS: no COUNT-less retry, nothing else reaches the device";

  // Every later install, any shape, stays in software without a device call.
  EXPECT_EQ(off.install(v4_tcp()), Result::kDisabled);
  EXPECT_EQ(off.install(v6_udp()), Result::kDisabled);
  OffloadFlow tagged = v4_tcp();
  tagged.vlan = 10;
  EXPECT_EQ(off.install(tagged), Result::kDisabled);
  EXPECT_EQ(api.calls, 1);
  const std::string first = off.refusal();
  EXPECT_EQ(off.refusal(), first);

  const auto& c = off.counters();
  EXPECT_EQ(c.refused, 1u);
  EXPECT_EQ(c.disabled, 3u);
  EXPECT_EQ(c.installed, 0u);
  EXPECT_EQ(c.active, 0u);
  EXPECT_EQ(c.failed, 0u);
  EXPECT_FALSE(off.remove(v4_tcp()));
  off.remove_all();
  EXPECT_EQ(off.hardware_drops(), 0u);
  EXPECT_EQ(api.calls, 1);
}

TEST_P(VdevOffload, RefusalIsLoggedAsAWarning) {
  REQUIRE_DPDK();
  // The environment logs at error level; open ftz.offload (registered by the
  // first FlowOffload) to warnings and capture the EAL log stream for the
  // duration of one refusal.
  { FlowOffload registers_log_type(g_dpdk->port(GetParam()), 0); }
  char* text = nullptr;
  std::size_t size = 0;
  FILE* capture = open_memstream(&text, &size);
  ASSERT_NE(capture, nullptr);
  FILE* previous = rte_log_get_stream();
  ASSERT_EQ(rte_log_set_level_pattern("ftz.offload", RTE_LOG_WARNING), 0);
  rte_openlog_stream(capture);
  {
    FlowOffload off(g_dpdk->port(GetParam()), 4);
    EXPECT_EQ(off.install(v4_tcp()), Result::kRefused);
    EXPECT_EQ(off.install(v4_tcp()), Result::kDisabled);
  }
  rte_openlog_stream(previous == stderr ? nullptr : previous);
  (void)rte_log_set_level_pattern("ftz.offload", RTE_LOG_ERR);
  std::fclose(capture);
  const std::string log(text, size);
  std::free(text);
  EXPECT_NE(log.find("Function not implemented (ENOSYS -38)"), std::string::npos) << log;
  EXPECT_NE(log.find("flows stay blocked in software"), std::string::npos) << log;
  EXPECT_EQ(log.find("refused"), log.rfind("refused")) << "logged once, not per flow: " << log;
}

TEST_P(VdevOffload, RealApiThroughDefaultConstructor) {
  REQUIRE_DPDK();
  FlowOffload off(g_dpdk->port(GetParam()), 4);
  EXPECT_EQ(off.install(v6_udp()), Result::kRefused);
  EXPECT_FALSE(off.enabled());
  EXPECT_NE(off.refusal().find("eth/ipv6/udp"), std::string::npos) << off.refusal();
}

TEST_P(VdevOffload, CapacityZeroIsDisabled) {
  REQUIRE_DPDK();
  CountingDpdkApi api;
  FlowOffload off(g_dpdk->port(GetParam()), 0, api);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.install(v4_tcp()), Result::kDisabled);
  EXPECT_EQ(api.calls, 0);
  EXPECT_TRUE(off.refusal().empty());
}

INSTANTIATE_TEST_SUITE_P(NullAndRing, VdevOffload, ::testing::Values("net_null0", "net_ring0"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           return std::string(param_info.param).substr(4, 4);  // "null", "ring"
                         });

}  // namespace
}  // namespace ftz::drivers
