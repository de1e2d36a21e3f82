#pragma once
// The packet view every packet path hands to the engine, and what the parser
// extracts from it. Nothing here owns memory: views point into the caller's
// buffer (an mbuf, a pcap record, an AF_XDP frame) for the duration of a burst.

#include <cstdint>

#include "ftz/engine/ip_addr.hpp"

namespace ftz::engine {

enum class LinkType : uint8_t { kEthernet, kRawIp, kLinuxSll, kLinuxSll2 };

struct PacketView {
  const uint8_t* data = nullptr;
  uint32_t caplen = 0;   // bytes present at data
  uint32_t wirelen = 0;  // bytes on the wire (>= caplen; offline captures may cut)
  int64_t ts_ns = 0;     // packet time, UTC nanoseconds: the engine's only clock
  uint64_t token = 0;    // opaque to the engine; returned for held packets
  uint8_t csum = 0;      // csum_hint bits from the NIC, 0 = nothing known
};

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
}  // namespace tcp_flag

// Checksum results a NIC reported for a packet (DPDK RX offload flags); the
// engine verifies in software what is unknown.
namespace csum_hint {
inline constexpr uint8_t kL3Good = 0x01;
inline constexpr uint8_t kL3Bad = 0x02;
inline constexpr uint8_t kL4Good = 0x04;
inline constexpr uint8_t kL4Bad = 0x08;
}  // namespace csum_hint

struct ParsedPacket {
  uint16_t vlan[2] = {0, 0};  // outer first; 0 when absent
  uint8_t vlan_count = 0;
  uint8_t ip_version = 0;  // 0 = not IP
  uint16_t l3_offset = 0;
  uint8_t ttl = 0;  // IPv4 TTL / IPv6 hop limit
  IpAddr src;
  IpAddr dst;
  uint8_t l4_proto = 0;
  bool l4_valid = false;  // false for non-first fragments and unknown protocols

  // Fragment info (IPv4 MF/offset, IPv6 fragment header that is not atomic).
  bool is_fragment = false;
  bool more_fragments = false;
  uint32_t frag_id = 0;
  uint16_t frag_offset = 0;            // bytes
  const uint8_t* frag_data = nullptr;  // the fragmentable part
  uint32_t frag_len = 0;

  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t tcp_flags = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;
  uint16_t urgent = 0;        // TCP urgent pointer
  uint8_t tcp_wscale = 0xff;  // window-scale option (SYN), 0xff = absent
  bool tcp_has_ts = false;    // timestamps option (RFC 7323)
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  // The transport header and what follows: the bytes present and the bytes
  // the IP header claims (checksums are verified over them).
  const uint8_t* l4 = nullptr;
  uint32_t l4_len = 0;
  uint32_t l4_wire_len = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;

  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;       // bytes present
  uint32_t payload_wire_len = 0;  // bytes the IP header claims (>= payload_len)
};

}  // namespace ftz::engine
