#pragma once
// L2-L4 parsing. Every read is bounds-checked against caplen; a malformed
// packet returns the Reason it is counted under and is never read past its end.

#include <cstdint>

#include "ftz/engine/packet.hpp"
#include "ftz/engine/reasons.hpp"

namespace ftz::engine {

enum class ParseStatus : uint8_t {
  kOk,         // IP packet parsed (L4 too unless a non-first fragment)
  kNotIp,      // valid frame that carries no IP (ARP, LLDP, ...)
  kMalformed,  // see the reason
};

struct ParseResult {
  ParseStatus status = ParseStatus::kOk;
  Reason reason = Reason::kNone;
};

// Parses a frame of the given link type into `out` (reset first).
ParseResult parse_packet(LinkType link, const uint8_t* data, uint32_t caplen, ParsedPacket& out) noexcept;

// Parses the transport header of a reassembled datagram (defrag output).
// `wire_len` equals len for reassembled data.
ParseResult parse_l4(uint8_t proto, const uint8_t* data, uint32_t len, uint32_t wire_len,
                     ParsedPacket& out) noexcept;

}  // namespace ftz::engine
