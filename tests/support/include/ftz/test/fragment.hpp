// Fragmenting built frames: IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5), in order,
// at chosen cut points, or as arbitrary (overlapping, rewritten) pieces for
// reassembly tests. Input is a whole Ethernet frame (VLAN tags allowed); each
// output fragment keeps the frame's L2 header.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

struct FragmentSpec {
  // Byte offset into the fragmentable payload (IPv4: everything after the IP
  // header; IPv6: everything after the unfragmentable part). Multiple of 8,
  // since the wire field counts 8-octet units.
  std::uint32_t offset = 0;
  // Bytes of the original payload to carry; ignored when `data` is set.
  std::uint32_t length = 0;
  // Replacement bytes: lets a test build overlaps that disagree with the
  // original (the classic Teardrop / "first vs last wins" cases).
  std::optional<Bytes> data;
  // Default: set unless this piece reaches the end of the original payload.
  std::optional<bool> more_fragments;
};

// Cut points that split `payload_size` bytes into `count` pieces of nearly
// equal size, each but the last a multiple of 8. Returns count-1 offsets.
std::vector<std::uint32_t> even_cuts(std::size_t payload_size, std::size_t count);

// Splits the IPv4 packet in `frame` at the given payload offsets (ascending,
// multiples of 8): cuts {8, 24} give [0,8), [8,24), [24,end). Options with the
// copied flag go to every fragment, the others only to the first. Header
// checksums are recomputed. Throws std::invalid_argument on a non-IPv4 frame.
std::vector<Bytes> fragment_ipv4(std::span<const std::uint8_t> frame, std::span<const std::uint32_t> cuts);
std::vector<Bytes> fragment_ipv4(std::span<const std::uint8_t> frame, std::span<const FragmentSpec> pieces);

// Same for IPv6: inserts a Fragment header after the unfragmentable part
// (hop-by-hop, routing, and destination options before a routing header).
std::vector<Bytes> fragment_ipv6(std::span<const std::uint8_t> frame, std::span<const std::uint32_t> cuts,
                                 std::uint32_t id);
std::vector<Bytes> fragment_ipv6(std::span<const std::uint8_t> frame, std::span<const FragmentSpec> pieces,
                                 std::uint32_t id);

// Length of the L2 header (Ethernet plus any 802.1Q/802.1ad tags) and the
// EtherType found after it.
struct L2Info {
  std::size_t length = 0;
  std::uint16_t ethertype = 0;
};
L2Info parse_l2(std::span<const std::uint8_t> frame);

}  // namespace ftz::test
