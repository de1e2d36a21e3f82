// RFC 1071 Internet checksum, used for IPv4 headers and TCP/UDP/ICMP.
#pragma once

#include <cstdint>
#include <span>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

// Adds the 16-bit big-endian words of data to sum (unfolded). Only the last
// span of a concatenation may have odd length: an odd span is padded with a
// zero byte, as RFC 1071 pads the end of the message.
std::uint32_t checksum_add(std::span<const std::uint8_t> data, std::uint32_t sum = 0);

// Folds the carries and returns the one's complement, ready to store.
std::uint16_t checksum_finish(std::uint32_t sum);

// checksum_finish(checksum_add(data)). Over a message that already contains
// its correct checksum this returns 0.
std::uint16_t internet_checksum(std::span<const std::uint8_t> data);

// TCP/UDP/ICMPv6 checksum: pseudo-header (RFC 793 / RFC 8200 §8.1) + segment.
// `segment` is the whole L4 header and payload with the checksum field zeroed.
std::uint16_t l4_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t protocol,
                          std::span<const std::uint8_t> segment);

}  // namespace ftz::test
