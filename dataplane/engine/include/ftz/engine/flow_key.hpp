#pragma once
// Bidirectional flow key. Both directions of a conversation map to the same
// key: the endpoint that sorts lower is stored first. VLAN IDs are part of the
// key, so the same 5-tuple on two VLANs is two flows (zeek vlan-collisions).

#include <array>
#include <bit>
#include <cstddef>
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
  // (5% of the header-only worker, perf/README.md "Figures after issue 8"),
  // and written out, where GCC -O2 kept a loop over the five words.
  friend bool operator==(const FlowKey& a, const FlowKey& b) noexcept {
    const auto word = [](const FlowKey& k, size_t at) {
      uint64_t w;
      std::memcpy(&w, reinterpret_cast<const uint8_t*>(&k) + at, sizeof w);
      return w;
    };
    uint32_t ta, tb;
    std::memcpy(&ta, reinterpret_cast<const uint8_t*>(&a) + 40, sizeof ta);
    std::memcpy(&tb, reinterpret_cast<const uint8_t*>(&b) + 40, sizeof tb);
    const uint64_t diff = (word(a, 0) ^ word(b, 0)) | (word(a, 8) ^ word(b, 8)) |
                          (word(a, 16) ^ word(b, 16)) | (word(a, 24) ^ word(b, 24)) |
                          (word(a, 32) ^ word(b, 32)) | (ta ^ tb);
    return diff == 0;
  }
};
static_assert(sizeof(FlowKey) == 44);

namespace detail {

// An address's 16 bytes as two integers whose order is the bytes'
// (lexicographic) order: IpAddr's defaulted <=> is a memcmp call, twice a
// packet in make_flow_key().
inline void address_words(const IpAddr& a, uint64_t& high, uint64_t& low) noexcept {
  std::memcpy(&high, a.bytes.data(), 8);
  std::memcpy(&low, a.bytes.data() + 8, 8);
  if constexpr (std::endian::native == std::endian::little) {
    high = __builtin_bswap64(high);
    low = __builtin_bswap64(low);
  }
}

}  // namespace detail

// Builds the key of a parsed packet; `from_lo` says whether the packet travels
// from the lower endpoint to the higher one (addresses in IpAddr's order,
// then ports).
inline FlowKey make_flow_key(const ParsedPacket& p, bool& from_lo) noexcept {
  FlowKey k;
  uint64_t sh, sl, dh, dl;
  detail::address_words(p.src, sh, sl);
  detail::address_words(p.dst, dh, dl);
  const bool same = sh == dh && sl == dl;
  const bool src_lower = sh < dh || (sh == dh && sl < dl) || (same && p.src_port <= p.dst_port);
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

// The key of the flow table's hash: six words, each mixed into one of the
// flow key's words before it is multiplied. Workers derive theirs from a
// secret (FlowHashKey::from_secret, a label's MAC under the token key), so
// that nobody without the key can compute in advance 5-tuples that share a
// bucket pair: a flood of those would fill the pair and make the table
// refuse or evict the flows that hash there. It is not a PRF (multiply and
// rotate, no rounds): it takes away the offline computation, and leaves
// only blind probing through evictions the sender cannot see.
// FlowHashKey{} is public: tests and benchmarks only.
struct FlowHashKey {
  std::array<uint64_t, 6> word = {0x9e3779b97f4a7c15ull, 0x243f6a8885a308d3ull, 0x13198a2e03707344ull,
                                  0xa4093822299f31d0ull, 0x082efa98ec4e6c89ull, 0x452821e638d01377ull};
  // Six words from one 64-bit secret (splitmix64's sequence from it).
  static FlowHashKey from_secret(uint64_t secret) noexcept {
    FlowHashKey k;
    for (uint64_t& w : k.word) {
      secret += 0x9e3779b97f4a7c15ull;
      uint64_t z = secret;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      w = z ^ (z >> 31);
    }
    return k;
  }
};

namespace detail {

// The hash of a key given as its memory image: five 8-byte words and the
// last 4 bytes. Each word, mixed with its word of the hash key, is
// multiplied on its own (six independent multiplies the core runs in
// parallel, where a chain through one accumulator cost six multiply
// latencies a packet), the products are folded with rotations so every
// word's high bits reach the low half, and a final mix (splitmix64's)
// spreads them over all 64 bits: the buckets take the low 32 bits, the
// second bucket and the signature the high ones.
inline uint64_t hash_key_words(const FlowHashKey& key, uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3,
                               uint64_t w4, uint64_t w5) noexcept {
  const uint64_t a = (w0 ^ key.word[0]) * 0xbf58476d1ce4e5b9ull;
  const uint64_t b = (w1 ^ key.word[1]) * 0x94d049bb133111ebull;
  const uint64_t c = (w2 ^ key.word[2]) * 0xbf58476d1ce4e5b9ull;
  const uint64_t d = (w3 ^ key.word[3]) * 0x94d049bb133111ebull;
  const uint64_t e = (w4 ^ key.word[4]) * 0xbf58476d1ce4e5b9ull;
  const uint64_t f = (w5 ^ key.word[5]) * 0x94d049bb133111ebull;
  uint64_t h =
      (a ^ std::rotl(b, 21)) + (std::rotl(c, 42) ^ std::rotl(d, 11)) + (std::rotl(e, 32) ^ std::rotl(f, 53));
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ull;
  h ^= h >> 32;
  return h;
}

}  // namespace detail

// 64-bit hash of the key under `hash_key`; symmetric by construction
// because the key is already direction-free.
inline uint64_t hash_flow_key(const FlowKey& k, const FlowHashKey& hash_key) noexcept {
  uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  uint32_t last;
  std::memcpy(&last, reinterpret_cast<const uint8_t*>(&k) + sizeof w, sizeof last);
  return detail::hash_key_words(hash_key, w[0], w[1], w[2], w[3], w[4], last);
}

// make_flow_key() and hash_flow_key() of a parsed IPv4 packet in one step,
// with the addresses read from its IP header (`ip`: the frame at
// p.l3_offset): the key's words are put together in registers and stored
// whole. Going through make_flow_key() stores the key field by field and
// hash_flow_key() loads it back by words, which the store buffer cannot
// forward (two stalls a packet, a fifth of the header-only engine).
inline uint64_t make_flow_key_v4(const uint8_t* ip, const ParsedPacket& p, const FlowHashKey& hash_key,
                                 FlowKey& k, bool& from_lo) noexcept {
  if constexpr (std::endian::native != std::endian::little) {
    k = make_flow_key(p, from_lo);
    return hash_flow_key(k, hash_key);
  }
  uint32_t src, dst;  // network order, as IpAddr keeps them
  std::memcpy(&src, ip + 12, 4);
  std::memcpy(&dst, ip + 16, 4);
  const uint32_t src_h = __builtin_bswap32(src);
  const uint32_t dst_h = __builtin_bswap32(dst);
  const bool src_lower = src_h < dst_h || (src_h == dst_h && p.src_port <= p.dst_port);
  from_lo = src_lower;
  // An IPv4-mapped address's bytes 8-15 (00 00 ff ff a b c d) as one word.
  const auto mapped = [](uint32_t a) { return (uint64_t{a} << 32) | 0xffff0000ull; };
  const uint64_t w1 = mapped(src_lower ? src : dst);
  const uint64_t w3 = mapped(src_lower ? dst : src);
  const uint16_t lo_port = src_lower ? p.src_port : p.dst_port;
  const uint16_t hi_port = src_lower ? p.dst_port : p.src_port;
  const uint64_t w4 =
      uint64_t{lo_port} | uint64_t{hi_port} << 16 | uint64_t{p.vlan[0]} << 32 | uint64_t{p.vlan[1]} << 48;
  const uint64_t w5 = p.l4_proto;
  // Stored word by word, straight from the registers (copying a local image
  // would load it back across the stores that built it).
  static_assert(offsetof(FlowKey, lo_port) == 32 && offsetof(FlowKey, proto) == 40);
  auto* out = reinterpret_cast<uint8_t*>(&k);
  const uint64_t zero = 0;
  const auto last = static_cast<uint32_t>(w5);
  std::memcpy(out, &zero, 8);
  std::memcpy(out + 8, &w1, 8);
  std::memcpy(out + 16, &zero, 8);
  std::memcpy(out + 24, &w3, 8);
  std::memcpy(out + 32, &w4, 8);
  std::memcpy(out + 40, &last, 4);
  return detail::hash_key_words(hash_key, 0, w1, 0, w3, w4, w5);
}

}  // namespace ftz::engine
