#pragma once
// Layer-2 rewrites the actions need, on single-segment Ethernet mbufs (the
// bytes are ftz/engine/channel.hpp's, shared with every packet path).

#include <array>
#include <cstdint>

struct rte_mbuf;

namespace ftz::dpdk {

// Route to a channel: the outer 802.1Q tag's VLAN id becomes `vlan` (pushed
// when the frame is untagged; `vlan` 0 leaves tags alone) and the destination
// MAC becomes the channel's next hop. False when the frame is too short or
// there is no headroom for the tag (the caller counts it).
bool rewrite_for_channel(rte_mbuf* m, uint16_t vlan, const std::array<uint8_t, 6>& next_hop) noexcept;

// Return traffic from a channel: removes the outer tag when its VLAN id is
// `vlan`, so the packet looks as it did before it was routed and both
// directions stay one flow. Returns whether a tag was removed.
bool strip_channel_vlan(rte_mbuf* m, uint16_t vlan) noexcept;

}  // namespace ftz::dpdk
