#pragma once
// Bidirectional flow key. Both directions of a conversation map to the same
// key: the endpoint that sorts lower is stored first. VLAN IDs are part of the
// key, so the same 5-tuple on two VLANs is two flows (zeek vlan-collisions).

#include <cstdint>
#include <cstring>

#include "ftz/engine/ip_addr.hpp"
#include "ftz/engine/packet.hpp"

namespace ftz::engine {

struct FlowKey {
  IpAddr lo_addr;
  IpAddr hi_addr;
  uint16_t lo_port = 0;
  uint16_t hi_port = 0;
  uint16_t vlan_outer = 0;
  uint16_t vlan_inner = 0;
  uint8_t proto = 0;
  uint8_t pad[3] = {0, 0, 0};

  // Every byte, padding included (zeroed), in five 8-byte and one 4-byte
  // compare without branches: inlined, where memcmp was a call per lookup
  // (5% of the header-only worker, perf/README.md "Figures after issue 8").
  friend bool operator==(const FlowKey& a, const FlowKey& b) noexcept {
    uint64_t wa[5], wb[5];
    uint32_t ta, tb;
    std::memcpy(wa, &a, sizeof wa);
    std::memcpy(wb, &b, sizeof wb);
    std::memcpy(&ta, reinterpret_cast<const uint8_t*>(&a) + sizeof wa, sizeof ta);
    std::memcpy(&tb, reinterpret_cast<const uint8_t*>(&b) + sizeof wb, sizeof tb);
    uint64_t diff = ta ^ tb;
    for (int i = 0; i < 5; ++i) diff |= wa[i] ^ wb[i];
    return diff == 0;
  }
};
static_assert(sizeof(FlowKey) == 44);

// Builds the key of a parsed packet; `from_lo` says whether the packet travels
// from the lower endpoint to the higher one.
inline FlowKey make_flow_key(const ParsedPacket& p, bool& from_lo) noexcept {
  FlowKey k;
  const bool src_lower = p.src < p.dst || (p.src == p.dst && p.src_port <= p.dst_port);
  from_lo = src_lower;
  k.lo_addr = src_lower ? p.src : p.dst;
  k.hi_addr = src_lower ? p.dst : p.src;
  k.lo_port = src_lower ? p.src_port : p.dst_port;
  k.hi_port = src_lower ? p.dst_port : p.src_port;
  k.vlan_outer = p.vlan[0];
  k.vlan_inner = p.vlan[1];
  k.proto = p.l4_proto;
  return k;
}

// 64-bit hash of the key (multiply-xorshift over 8-byte words); symmetric by
// construction because the key is already direction-free.
inline uint64_t hash_flow_key(const FlowKey& k) noexcept {
  uint64_t words[6] = {};
  std::memcpy(words, &k, sizeof k);
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t w : words) {
    h ^= w;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  }
  return h;
}

}  // namespace ftz::engine
