// FlowTable and the flow key: direction-free keys, VLAN separation, capacity,
// erase/reuse, and LRU eviction candidates.
#include "ftz/engine/flow_table.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "engine_fixtures.hpp"

namespace ftz::engine {
namespace {

using testing::ip;

// The public hash key (FlowHashKey{}); the tests that depend on the key
// name theirs.
uint64_t hash_of(const FlowKey& k) {
  return hash_flow_key(k, FlowHashKey{});
}

ParsedPacket packet(std::string_view src, std::string_view dst, uint16_t sport, uint16_t dport,
                    uint8_t proto = 6) {
  ParsedPacket p;
  p.src = ip(src);
  p.dst = ip(dst);
  p.src_port = sport;
  p.dst_port = dport;
  p.l4_proto = proto;
  p.ip_version = p.src.is_v4() ? 4 : 6;
  return p;
}

FlowKey key_of(const ParsedPacket& p) {
  bool from_lo = false;
  return make_flow_key(p, from_lo);
}

FlowKey numbered_key(uint32_t i) {
  ParsedPacket p = packet("10.60.0.1", "203.0.113.10", 1024, 80);
  p.src = IpAddr::v4(0x0a3c0000u + (i >> 16));
  p.src_port = static_cast<uint16_t>(i);
  return key_of(p);
}

TEST(FlowKeyTest, BothDirectionsShareOneKey) {
  const ParsedPacket out = packet("10.60.0.1", "203.0.113.10", 40000, 443);
  const ParsedPacket back = packet("203.0.113.10", "10.60.0.1", 443, 40000);
  bool out_lo = false;
  bool back_lo = true;
  const FlowKey a = make_flow_key(out, out_lo);
  const FlowKey b = make_flow_key(back, back_lo);
  EXPECT_EQ(a, b);
  EXPECT_EQ(hash_of(a), hash_of(b));
  EXPECT_TRUE(out_lo);  // 10.60.0.1 sorts below 203.0.113.10
  EXPECT_FALSE(back_lo);
  EXPECT_EQ(a.lo_addr, ip("10.60.0.1"));
  EXPECT_EQ(a.lo_port, 40000);
  EXPECT_EQ(a.hi_port, 443);
  EXPECT_EQ(a.proto, 6);
}

// The burst path keys IPv4 packets with make_flow_key_v4() (addresses from
// the header, key words built in registers): it must give exactly the key,
// hash and direction of make_flow_key() + hash_flow_key(), which every
// other path uses; and make_flow_key() must order addresses as IpAddr does.
TEST(FlowKeyTest, Ipv4BuilderMatchesGenericKey) {
  const char* addrs[] = {"10.60.0.1", "10.60.0.2", "203.0.113.10", "0.0.0.0", "255.255.255.255", "128.0.0.1"};
  int checked = 0;
  for (const char* s : addrs) {
    for (const char* d : addrs) {
      for (const auto& [sport, dport] : {std::pair<uint16_t, uint16_t>{40000, 443}, {443, 40000}, {53, 53}}) {
        for (const uint8_t proto : {uint8_t{6}, uint8_t{17}, uint8_t{1}}) {
          ParsedPacket p = packet(s, d, sport, dport, proto);
          p.vlan[0] = static_cast<uint16_t>(checked % 3 == 0 ? 0 : 100 + checked % 7);
          p.vlan[1] = static_cast<uint16_t>(checked % 5 == 0 ? 4000 : 0);
          uint8_t header[20] = {0x45};
          std::memcpy(header + 12, p.src.bytes.data() + 12, 4);
          std::memcpy(header + 16, p.dst.bytes.data() + 12, 4);
          bool lo_generic = false;
          bool lo_v4 = true;
          const FlowKey generic = make_flow_key(p, lo_generic);
          FlowKey v4;
          const FlowHashKey secret =
              FlowHashKey::from_secret(0x5eed0000u + static_cast<uint64_t>(checked % 4));
          const uint64_t h = make_flow_key_v4(header, p, secret, v4, lo_v4);
          ASSERT_EQ(generic, v4) << s << " " << d << " " << sport << " " << dport;
          EXPECT_EQ(h, hash_flow_key(generic, secret));
          EXPECT_EQ(lo_generic, lo_v4);
          EXPECT_EQ(lo_generic, p.src < p.dst || (p.src == p.dst && p.src_port <= p.dst_port));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 6 * 6 * 3 * 3);
}

// The table's hash is keyed (FlowHashKey::from_secret): keys that share a
// bucket under one secret are spread under another, so a list of colliding
// 5-tuples computed for the public code does not collide on an appliance.
TEST(FlowKeyTest, TheSecretDecidesWhichKeysCollide) {
  constexpr uint32_t kBuckets = 1024;
  constexpr uint32_t kKeys = 8192;
  const FlowHashKey a = FlowHashKey::from_secret(1);
  const FlowHashKey b = FlowHashKey::from_secret(2);
  // Keys in the primary bucket 0 under secret a (what an attacker who knew
  // a would send), then where secret b puts them.
  std::vector<FlowKey> colliding;
  for (uint32_t i = 0; colliding.size() < 64 && i < kKeys * 256; ++i) {
    const FlowKey k = numbered_key(i);
    if ((hash_flow_key(k, a) & (kBuckets - 1)) == 0) colliding.push_back(k);
  }
  ASSERT_EQ(colliding.size(), 64u);
  std::set<uint64_t> buckets_b;
  for (const FlowKey& k : colliding) buckets_b.insert(hash_flow_key(k, b) & (kBuckets - 1));
  // 64 keys over 1,024 buckets at random: ~62 distinct buckets expected.
  EXPECT_GE(buckets_b.size(), 55u);
  EXPECT_NE(hash_flow_key(colliding[0], a), hash_flow_key(colliding[0], b));
  EXPECT_NE(hash_flow_key(colliding[0], a), hash_flow_key(colliding[0], FlowHashKey{}));
}

TEST(FlowKeyTest, AddressOrderIsIpAddrOrder) {
  const char* addrs[] = {"10.60.0.1", "2001:db8::1",     "2001:db8::1:0", "::1",
                         "fe80::1",   "::ffff:10.0.0.1", "ff02::1",       "2001:db8:0:1::"};
  for (const char* s : addrs) {
    for (const char* d : addrs) {
      const ParsedPacket p = packet(s, d, 1000, 2000);
      bool from_lo = false;
      (void)make_flow_key(p, from_lo);
      EXPECT_EQ(from_lo, p.src < p.dst || p.src == p.dst) << s << " " << d;
    }
  }
}

TEST(FlowKeyTest, SameAddressOrdersByPort) {
  const ParsedPacket a = packet("10.0.0.1", "10.0.0.1", 9000, 53, 17);
  const ParsedPacket b = packet("10.0.0.1", "10.0.0.1", 53, 9000, 17);
  bool a_lo = true;
  bool b_lo = false;
  EXPECT_EQ(make_flow_key(a, a_lo), make_flow_key(b, b_lo));
  EXPECT_FALSE(a_lo);
  EXPECT_TRUE(b_lo);
}

TEST(FlowKeyTest, VlansAndProtocolSeparateFlows) {
  ParsedPacket p = packet("10.60.0.1", "203.0.113.10", 40000, 443);
  const FlowKey untagged = key_of(p);
  p.vlan[0] = 10;
  const FlowKey v10 = key_of(p);
  p.vlan[0] = 20;
  const FlowKey v20 = key_of(p);
  p.vlan[1] = 5;
  const FlowKey v20_5 = key_of(p);
  EXPECT_NE(untagged, v10);
  EXPECT_NE(v10, v20);
  EXPECT_NE(v20, v20_5);
  EXPECT_EQ(v20_5.vlan_outer, 20);
  EXPECT_EQ(v20_5.vlan_inner, 5);
  ParsedPacket u = packet("10.60.0.1", "203.0.113.10", 40000, 443, 17);
  EXPECT_NE(key_of(u), untagged);
  FlowTable t(64);
  for (const FlowKey& k : {untagged, v10, v20, v20_5}) {
    ASSERT_NE(t.insert(k, hash_of(k)), FlowTable::kNone);
  }
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.find(key_of(u), hash_of(key_of(u))), FlowTable::kNone);
}

// Every record can be used: no key is refused for want of a bucket slot
// before the table is full, over 20 different sets of keys (placement is
// random; a primary bucket filled to the brim refused ~4 keys of 16,384 a
// fill).
TEST(FlowTableTest, EveryRecordFindsASlotUnderAnySecret) {
  constexpr uint32_t kCapacity = 16384;
  for (uint32_t set = 0; set < 20; ++set) {
    FlowTable t(kCapacity);
    // Half the sets under the public key, half under secrets.
    const FlowHashKey hk = set % 2 == 0 ? FlowHashKey{} : FlowHashKey::from_secret(set);
    const auto key = [set](uint32_t i) { return numbered_key(set * 0x100000u + i); };
    for (uint32_t i = 0; i < kCapacity; ++i) {
      ASSERT_NE(t.insert(key(i), hash_flow_key(key(i), hk)), FlowTable::kNone)
          << "set " << set << ", key " << i;
    }
    EXPECT_EQ(t.size(), kCapacity);
    EXPECT_EQ(t.insert(key(kCapacity), hash_flow_key(key(kCapacity), hk)), FlowTable::kNone);
  }
}

TEST(FlowTableTest, InsertFindErase) {
  FlowTable t(16);
  const FlowKey k = numbered_key(1);
  const uint64_t h = hash_of(k);
  EXPECT_EQ(t.find(k, h), FlowTable::kNone);
  const uint32_t idx = t.insert(k, h);
  ASSERT_NE(idx, FlowTable::kNone);
  EXPECT_LT(idx, 16u);
  EXPECT_EQ(t.find(k, h), idx);
  EXPECT_TRUE(t.used(idx));
  EXPECT_EQ(t.key(idx), k);
  EXPECT_EQ(t.size(), 1u);
  t.erase(idx);
  EXPECT_FALSE(t.used(idx));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find(k, h), FlowTable::kNone);
  t.erase(idx);  // erasing twice is harmless
  EXPECT_EQ(t.size(), 0u);
}

// The burst's guess (prefetch_record's record) is taken only while it holds
// the key: a record erased since, or reused by another key, sends find()
// through the buckets.
TEST(FlowTableTest, AGuessIsTakenOnlyWhileItsRecordHoldsTheKey) {
  FlowTable t(16);
  const FlowKey k = numbered_key(1);
  const FlowKey other = numbered_key(2);
  const uint32_t idx = t.insert(k, hash_of(k));
  ASSERT_NE(idx, FlowTable::kNone);
  EXPECT_EQ(t.prefetch_record(hash_of(k)), idx);
  EXPECT_EQ(t.find(k, hash_of(k), idx), idx);
  EXPECT_EQ(t.find(k, hash_of(k), FlowTable::kNone), idx);
  const uint32_t oidx = t.insert(other, hash_of(other));
  EXPECT_EQ(t.find(k, hash_of(k), oidx), idx) << "a wrong guess falls back to the buckets";
  t.erase(idx);
  EXPECT_EQ(t.find(k, hash_of(k), idx), FlowTable::kNone) << "an erased record is not the key's";
  const uint32_t again = t.insert(k, hash_of(k));
  EXPECT_EQ(t.find(k, hash_of(k), idx), again);
}

TEST(FlowTableTest, FillsToCapacityThenRefuses) {
  constexpr uint32_t kCap = 1024;
  FlowTable t(kCap);
  EXPECT_EQ(t.capacity(), kCap);
  std::set<uint32_t> indices;
  for (uint32_t i = 0; i < kCap; ++i) {
    const FlowKey k = numbered_key(i);
    const uint32_t idx = t.insert(k, hash_of(k));
    ASSERT_NE(idx, FlowTable::kNone) << "key " << i;
    indices.insert(idx);
  }
  EXPECT_EQ(indices.size(), kCap);
  EXPECT_EQ(t.size(), kCap);
  const FlowKey extra = numbered_key(kCap);
  EXPECT_EQ(t.insert(extra, hash_of(extra)), FlowTable::kNone);
  for (uint32_t i = 0; i < kCap; ++i) {
    const FlowKey k = numbered_key(i);
    ASSERT_NE(t.find(k, hash_of(k)), FlowTable::kNone) << i;
  }
  // A freed record is reused.
  const FlowKey k0 = numbered_key(0);
  const uint32_t i0 = t.find(k0, hash_of(k0));
  t.erase(i0);
  EXPECT_EQ(t.insert(extra, hash_of(extra)), i0);
  EXPECT_EQ(t.find(extra, hash_of(extra)), i0);
}

TEST(FlowTableTest, SignatureCollisionComparesKeys) {
  FlowTable t(16);
  const FlowKey a = numbered_key(1);
  const FlowKey b = numbered_key(2);
  const uint64_t h = hash_of(a);
  // Same hash (both buckets and the signature) for two different keys.
  const uint32_t ia = t.insert(a, h);
  const uint32_t ib = t.insert(b, h);
  ASSERT_NE(ia, FlowTable::kNone);
  ASSERT_NE(ib, FlowTable::kNone);
  EXPECT_EQ(t.find(a, h), ia);
  EXPECT_EQ(t.find(b, h), ib);
  t.erase(ia);
  EXPECT_EQ(t.find(b, h), ib);
  EXPECT_EQ(t.find(a, h), FlowTable::kNone);
}

TEST(FlowTableTest, EvictionCandidateIsLeastRecentlySeen) {
  // Capacity 4 gives one bucket: every key competes in it.
  FlowTable t(4);
  const int64_t seen[] = {40, 10, 30, 20};
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < 4; ++i) {
    const FlowKey k = numbered_key(i);
    idx.push_back(t.insert(k, hash_of(k)));
    ASSERT_NE(idx.back(), FlowTable::kNone);
    t.touch(idx.back(), seen[i]);
  }
  const FlowKey newcomer = numbered_key(99);
  const uint64_t h = hash_of(newcomer);
  EXPECT_EQ(t.insert(newcomer, h), FlowTable::kNone);  // out of records
  EXPECT_EQ(t.eviction_candidate(h), idx[1]);
  EXPECT_EQ(t.last_seen(idx[1]), 10);
  t.touch(idx[1], 50);  // seen again: no longer the oldest
  EXPECT_EQ(t.eviction_candidate(h), idx[3]);
  t.erase(idx[3]);
  EXPECT_EQ(t.eviction_candidate(h), idx[2]);
  EXPECT_NE(t.insert(newcomer, h), FlowTable::kNone);
}

TEST(FlowTableTest, EvictionCandidateOfEmptyBucketsIsNone) {
  FlowTable t(64);
  const FlowKey k = numbered_key(3);
  EXPECT_EQ(t.eviction_candidate(hash_of(k)), FlowTable::kNone);
}

TEST(FlowTableTest, BucketsFullBeforeRecordsRunOut) {
  // 64 records, 16 buckets: 17 keys forced into the same two buckets cannot
  // all fit, and the candidate is the oldest of those 16.
  FlowTable t(64);
  const uint64_t h = 0x0123456789abcdefull;
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < 16; ++i) {
    idx.push_back(t.insert(numbered_key(i), h));
    ASSERT_NE(idx.back(), FlowTable::kNone) << i;
    t.touch(idx.back(), 100 + i);
  }
  EXPECT_EQ(t.insert(numbered_key(16), h), FlowTable::kNone);
  EXPECT_EQ(t.size(), 16u);
  t.touch(idx[0], 1000);
  EXPECT_EQ(t.eviction_candidate(h), idx[1]);
}

}  // namespace
}  // namespace ftz::engine
