#include "ftz/dpdk/symmetric_hash.hpp"

#include <rte_thash.h>

#include "ftz/engine/parser.hpp"

namespace ftz::dpdk {

const uint8_t kSymmetricRssKey[kSymmetricRssKeyLen] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

namespace {

uint32_t word(const engine::IpAddr& a, int i) noexcept {
  return (uint32_t{a.bytes[i * 4]} << 24) | (uint32_t{a.bytes[i * 4 + 1]} << 16) |
         (uint32_t{a.bytes[i * 4 + 2]} << 8) | uint32_t{a.bytes[i * 4 + 3]};
}

}  // namespace

uint32_t symmetric_hash(const engine::IpAddr& a, const engine::IpAddr& b) noexcept {
  // rte_softrss takes the tuple as host-order 32-bit words, as the NIC sees
  // the header fields: IPv4 (src, dst), IPv6 (src[4], dst[4]).
  uint32_t tuple[8];
  uint32_t len = 0;
  if (a.is_v4() && b.is_v4()) {
    tuple[0] = a.v4_host_order();
    tuple[1] = b.v4_host_order();
    len = 2;
  } else {
    for (int i = 0; i < 4; ++i) tuple[i] = word(a, i);
    for (int i = 0; i < 4; ++i) tuple[4 + i] = word(b, i);
    len = 8;
  }
  return rte_softrss(tuple, len, kSymmetricRssKey);
}

uint32_t frame_hash(engine::LinkType link, const uint8_t* data, uint32_t len) noexcept {
  engine::ParsedPacket p;
  engine::parse_packet(link, data, len, p);
  if (p.ip_version == 0) return 0;
  return symmetric_hash(p.src, p.dst);
}

}  // namespace ftz::dpdk
