#include "ftz/dpdk/l2.hpp"

#include <rte_mbuf.h>

#include <cstring>

namespace ftz::dpdk {

namespace {

constexpr uint32_t kMacs = 12;  // destination + source
constexpr uint32_t kTagLen = 4;

uint16_t be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
void put_be16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
bool is_tag(uint16_t ethertype) noexcept {
  return ethertype == 0x8100 || ethertype == 0x88a8;
}

}  // namespace

bool rewrite_for_channel(rte_mbuf* m, uint16_t vlan, const std::array<uint8_t, 6>& next_hop) noexcept {
  if (m->nb_segs != 1 || rte_pktmbuf_data_len(m) < kMacs + 2) return false;
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  if (vlan != 0) {
    if (is_tag(be16(f + kMacs))) {
      if (rte_pktmbuf_data_len(m) < kMacs + kTagLen + 2) return false;
      const uint16_t tci = be16(f + kMacs + 2);
      put_be16(f + kMacs + 2, static_cast<uint16_t>((tci & 0xf000) | (vlan & 0x0fff)));
    } else {
      uint8_t* nf = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kTagLen));
      if (nf == nullptr) return false;
      std::memmove(nf, f, kMacs);
      put_be16(nf + kMacs, 0x8100);
      put_be16(nf + kMacs + 2, static_cast<uint16_t>(vlan & 0x0fff));
      f = nf;
    }
  }
  std::memcpy(f, next_hop.data(), next_hop.size());
  return true;
}

bool strip_channel_vlan(rte_mbuf* m, uint16_t vlan) noexcept {
  if (vlan == 0 || m->nb_segs != 1 || rte_pktmbuf_data_len(m) < kMacs + kTagLen + 2) return false;
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  if (be16(f + kMacs) != 0x8100 || (be16(f + kMacs + 2) & 0x0fff) != vlan) return false;
  std::memmove(f + kTagLen, f, kMacs);
  rte_pktmbuf_adj(m, kTagLen);
  return true;
}

}  // namespace ftz::dpdk
