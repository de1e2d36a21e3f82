#pragma once
// TCP resets for a `reset` verdict. The engine says what to send, the packet
// path sends it: two frames built from the packet that made the verdict
// decidable (that packet itself is dropped).
//  - towards its destination: same L2 header, addresses and ports, RST with
//    the packet's own sequence number (the next byte the receiver expects);
//  - towards its source: MACs, addresses and ports swapped, RST+ACK with the
//    packet's acknowledgment number as sequence number.
// VLAN tags are kept, so both directions stay in their broadcast domains.

#include <array>
#include <cstdint>

#include "ftz/engine/packet.hpp"

namespace ftz::engine {

struct ResetFrame {
  static constexpr uint32_t kMaxLen = 14 + 8 + 40 + 20;
  std::array<uint8_t, kMaxLen> bytes{};
  uint32_t len = 0;
  bool to_packet_source = false;  // true: towards the sender of the trigger
};

struct ResetPair {
  ResetFrame frame[2];
  uint32_t count = 0;
};

// Builds the two resets for an Ethernet-framed or raw-IP TCP packet `frame`
// parsed as `p`. Returns the number of frames written to out (0 for other
// link types or non-TCP packets).
uint32_t build_resets(const uint8_t* frame, uint32_t caplen, const ParsedPacket& p,
                      ResetFrame (&out)[2]) noexcept;

}  // namespace ftz::engine
