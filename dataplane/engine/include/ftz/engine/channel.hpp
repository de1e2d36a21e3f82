#pragma once
// The layer-2 rewrites of the route action, on plain bytes, so that every
// packet path (ftzgate-dp's mbufs, ftzgate-xdp's AF_XDP frames) routes and
// un-routes a frame alike.

#include <array>
#include <cstdint>
#include <span>

namespace ftz::engine {

// The Ethernet header a frame routed to a channel leaves with: the
// destination MAC is the channel's next hop, and the outer 802.1Q tag's VLAN
// id is the channel's (a tag is pushed on an untagged frame; `vlan` 0 leaves
// tags alone; a tag keeps its priority). It takes the place of the frame's
// first `replaces` bytes; `len - replaces` bytes are new (0 or 4).
struct ChannelHeader {
  std::array<uint8_t, 16> bytes{};
  uint8_t len = 0;
  uint8_t replaces = 0;
};

// False when the frame is too short to carry an Ethernet header (and a tag,
// when it has one).
bool channel_header(std::span<const uint8_t> frame, uint16_t vlan, const std::array<uint8_t, 6>& next_hop,
                    ChannelHeader& out) noexcept;

// Return traffic from a channel: when the outer tag's VLAN id is `vlan`
// (not 0), the MACs move over it, so the frame looks as it did before it was
// routed and both directions stay one flow. Returns how many bytes the frame
// now starts later (0 or 4).
uint32_t strip_channel_vlan(std::span<uint8_t> frame, uint16_t vlan) noexcept;

}  // namespace ftz::engine
