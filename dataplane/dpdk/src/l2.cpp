#include "ftz/dpdk/l2.hpp"

#include <rte_mbuf.h>

#include <cstring>

#include "ftz/engine/channel.hpp"

namespace ftz::dpdk {

bool rewrite_for_channel(rte_mbuf* m, uint16_t vlan, const std::array<uint8_t, 6>& next_hop) noexcept {
  if (m->nb_segs != 1) return false;
  engine::ChannelHeader h;
  if (!engine::channel_header({rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)}, vlan, next_hop,
                              h))
    return false;
  char* start = rte_pktmbuf_mtod(m, char*);
  if (h.len > h.replaces) {
    start = rte_pktmbuf_prepend(m, static_cast<uint16_t>(h.len - h.replaces));
    if (start == nullptr) return false;
  }
  std::memcpy(start, h.bytes.data(), h.len);
  return true;
}

bool strip_channel_vlan(rte_mbuf* m, uint16_t vlan) noexcept {
  if (m->nb_segs != 1) return false;
  const uint32_t removed =
      engine::strip_channel_vlan({rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m)}, vlan);
  if (removed == 0) return false;
  rte_pktmbuf_adj(m, static_cast<uint16_t>(removed));
  return true;
}

}  // namespace ftz::dpdk
