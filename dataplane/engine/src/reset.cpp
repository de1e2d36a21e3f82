#include "ftz/engine/reset.hpp"

#include <cstring>

#include "ftz/engine/normalize.hpp"

namespace ftz::engine {

namespace {

void put16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) noexcept {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

// One reset: L2 header (MACs swapped when reversed), IP, 20-byte TCP.
uint32_t build_one(const uint8_t* frame, const ParsedPacket& p, bool reverse, ResetFrame& out) noexcept {
  uint8_t* o = out.bytes.data();
  const uint32_t l2 = p.l3_offset;
  std::memcpy(o, frame, l2);
  if (reverse && l2 >= 12) {
    std::memcpy(o, frame + 6, 6);
    std::memcpy(o + 6, frame, 6);
  }
  const IpAddr& src = reverse ? p.dst : p.src;
  const IpAddr& dst = reverse ? p.src : p.dst;
  const uint16_t sport = reverse ? p.dst_port : p.src_port;
  const uint16_t dport = reverse ? p.src_port : p.dst_port;
  const uint32_t seq = reverse ? p.ack : p.seq;
  const uint32_t ack = reverse ? p.seq + p.payload_wire_len + ((p.tcp_flags & tcp_flag::kSyn) ? 1u : 0u) : 0u;
  const uint8_t flags = reverse ? (tcp_flag::kRst | tcp_flag::kAck) : tcp_flag::kRst;
  uint8_t* ip = o + l2;
  uint32_t ip_len;
  uint64_t pseudo = 0;
  if (p.ip_version == 4) {
    ip_len = 20;
    std::memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, 40);
    ip[6] = 0x40;  // DF
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, &src.bytes[12], 4);
    std::memcpy(ip + 16, &dst.bytes[12], 4);
    put16(ip + 10, checksum_finish(checksum_add(ip, 20, 0)));
    pseudo = checksum_add(ip + 12, 8, 0) + 6 + 20;
  } else {
    ip_len = 40;
    std::memset(ip, 0, 40);
    ip[0] = 0x60;
    put16(ip + 4, 20);
    ip[6] = 6;
    ip[7] = 64;
    std::memcpy(ip + 8, src.bytes.data(), 16);
    std::memcpy(ip + 24, dst.bytes.data(), 16);
    pseudo = checksum_add(ip + 8, 32, 0) + 6 + 20;
  }
  uint8_t* tcp = ip + ip_len;
  std::memset(tcp, 0, 20);
  put16(tcp, sport);
  put16(tcp + 2, dport);
  put32(tcp + 4, seq);
  put32(tcp + 8, ack);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  put16(tcp + 16, checksum_finish(checksum_add(tcp, 20, pseudo)));
  out.len = l2 + ip_len + 20;
  out.to_packet_source = reverse;
  return out.len;
}

}  // namespace

uint32_t build_resets(const uint8_t* frame, uint32_t caplen, const ParsedPacket& p,
                      ResetFrame (&out)[2]) noexcept {
  if (p.l4_proto != 6 || !p.l4_valid || (p.ip_version != 4 && p.ip_version != 6)) return 0;
  // Only Ethernet framing (l3 offset 14, 18 or 22) can be reused as is; raw
  // IP (l3 offset 0, a TUN or AF_XDP-less path) needs none.
  const bool ethernet = p.l3_offset == 14 + 4u * p.vlan_count && p.l3_offset > 0;
  if ((!ethernet && p.l3_offset != 0) || caplen < p.l3_offset) return 0;
  build_one(frame, p, false, out[0]);
  build_one(frame, p, true, out[1]);
  return 2;
}

}  // namespace ftz::engine
