#pragma once
// Which worker judges a packet. Both directions of a flow (and every fragment
// of a datagram) must reach the same worker, so the hash covers only the two
// IP addresses, with a Toeplitz key whose 16-bit period makes it symmetric
// (swapping source and destination gives the same hash). NICs with RSS get
// the same key and RTE_ETH_RSS_IP; ports without RSS are spread in software
// with this function, so both paths agree.

#include <cstdint>

#include "ftz/engine/ip_addr.hpp"
#include "ftz/engine/packet.hpp"

namespace ftz::dpdk {

inline constexpr uint8_t kSymmetricRssKeyLen = 40;
extern const uint8_t kSymmetricRssKey[kSymmetricRssKeyLen];

// Toeplitz hash of the address pair (IPv4 or IPv6), symmetric in (a, b).
uint32_t symmetric_hash(const engine::IpAddr& a, const engine::IpAddr& b) noexcept;

// The hash of a frame as the engine parses it (VLANs, QinQ, cooked and raw
// links); 0 for frames that are not IP (they all go to one worker).
uint32_t frame_hash(engine::LinkType link, const uint8_t* data, uint32_t len) noexcept;

}  // namespace ftz::dpdk
