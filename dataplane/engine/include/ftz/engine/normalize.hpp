#pragma once
// Inline normalization: Internet checksums and the payload trimming the
// engine asks packet paths to apply to TCP segments of inspected flows.
//
// Why trimming: being inline, the appliance makes the receiver see exactly
// the bytes it inspected. A segment that carries bytes the receiver already
// acknowledged, bytes the appliance never saw (a gap) or bytes before the
// point where a flow was picked up mid-stream is forwarded without them
// (PacketResult::trim), instead of being forwarded whole (those bytes would
// leave uninspected) or dropped (a sender whose ACK was lost would
// retransmit forever): the receiver gets the rest, or an empty segment it
// answers with an ACK. See docs/decisions/0003-inline-stream-normalization.md.

#include <cstdint>

#include "ftz/engine/packet.hpp"

namespace ftz::engine {

// RFC 1071 one's-complement sum of `len` bytes added to `acc` (not folded).
uint64_t checksum_add(const uint8_t* p, uint32_t len, uint64_t acc) noexcept;
// Folds a sum to 16 bits and complements it: the value a checksum field holds.
uint16_t checksum_finish(uint64_t acc) noexcept;
// Sum of the TCP/UDP pseudo header (RFC 793 / RFC 8200 §8.1) for `l4_len`.
uint64_t pseudo_header_sum(const ParsedPacket& p, uint32_t l4_len) noexcept;

enum class ChecksumStatus : uint8_t {
  kGood,
  kBad,
  // The field holds the pseudo-header sum a sending host leaves for its NIC
  // to complete (checksum offload, CHECKSUM_PARTIAL): what captures taken on
  // that host (or after GRO) show. Accepted only in ChecksumMode::kAuto.
  kOffloaded,
  // The segment is cut (snap length): nothing to verify against.
  kUnverifiable,
};

// Verifies the IPv4 header checksum of a parsed IPv4 packet in `frame` (IPv6
// has none: kGood). A zero field is what hosts offloading the header
// checksum leave in their own captures (kOffloaded).
ChecksumStatus ipv4_header_checksum(const uint8_t* frame, const ParsedPacket& p) noexcept;
// Verifies the TCP or UDP checksum of a parsed packet (p.l4 / p.l4_len);
// ICMP and other protocols report kGood.
ChecksumStatus l4_checksum(const ParsedPacket& p) noexcept;

// TCP payload bytes a packet path removes before forwarding (front: from the
// start, advancing the sequence number; back: from the end), and whether the
// urgent flag and pointer are cleared (receivers take the urgent byte out of
// the stream the appliance inspected, RFC 6093).
struct PayloadTrim {
  uint32_t front = 0;
  uint32_t back = 0;
  bool clear_urgent = false;
  [[nodiscard]] bool any() const noexcept { return front != 0 || back != 0 || clear_urgent; }
};

struct FrameSpan {
  uint32_t offset = 0;  // where the rewritten frame starts in the buffer
  uint32_t len = 0;
};

// Applies `trim` to the TCP segment in `frame` (len bytes, link framing as
// given) in place: the headers move forward by trim.front bytes, the IP
// length, the TCP sequence number, the urgent flag and every checksum are
// fixed. Returns the rewritten frame's position in the buffer; {0, len}
// unchanged when trim is empty. A frame that is not a complete, unfragmented
// TCP segment is returned unchanged with len 0 (the caller drops it: the
// engine never asks to trim such a frame).
FrameSpan apply_trim(LinkType link, uint8_t* frame, uint32_t len, const PayloadTrim& trim) noexcept;

}  // namespace ftz::engine
