#pragma once
// Reading Ethernet/IPv4 frames in the harness, written independently of the
// engine's parser (the suite must not share the bugs it looks for).

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "ftz/test/net_types.hpp"

namespace ftz::evasion {

using test::Bytes;

inline constexpr uint32_t kEthHeader = 14;

struct FrameInfo {
  uint32_t src = 0;  // IPv4, host order
  uint32_t dst = 0;
  uint8_t ttl = 0;
  uint8_t proto = 0;
  uint16_t ip_id = 0;
  bool fragment = false;  // MF set or offset > 0
  bool more_fragments = false;
  uint32_t frag_offset = 0;  // bytes
  uint32_t ip_offset = 0;    // of the IPv4 header in the frame
  uint32_t ip_header_len = 0;
  uint32_t ip_total_len = 0;
  // TCP/UDP (first fragment or whole datagram only).
  bool l4 = false;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  std::optional<uint32_t> tsval;
  std::optional<uint32_t> tsecr;
  std::span<const uint8_t> payload;  // L4 payload, or the fragment's data
  std::span<const uint8_t> ip_payload;
};

// Ethernet + IPv4 (no VLAN: the harness never tags). nullopt for anything else.
std::optional<FrameInfo> parse_frame(std::span<const uint8_t> frame);

// Adds an Ethernet header to a bare IPv4 packet (what a TUN delivers).
Bytes with_ethernet(std::span<const uint8_t> ip_packet, const test::MacAddr& src, const test::MacAddr& dst);

// Recomputes the IPv4 header checksum in place (after a TTL rewrite).
void fix_ipv4_checksum(Bytes& frame, uint32_t ip_offset);

// "198.18.0.1:40001 > 198.18.1.2:80 [S.] seq 1 ack 2 len 10 ttl 64" for
// failure messages (never the payload: it may hold an identifier).
std::string describe(std::span<const uint8_t> frame);

}  // namespace ftz::evasion
