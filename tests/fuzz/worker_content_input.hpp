#pragma once
// The input format of fuzz_worker_content, shared by the target and the seed
// writer (fuzz_seeds). The fuzzer writes a conversation, not frames: the
// harness builds well-formed frames (checksums, sequence numbers, ACKs) so
// that inputs reach reassembly, the app parsers, the scanner and the
// verdicts instead of dying in the parser.
//
//   [setup: 1 byte] then operations [op: 1 byte] (+ [len: 2 bytes BE][bytes]
//   for the operations that carry data; a short last one takes what is left)
//
// setup bits 0-1: service: 0 HTTP (TCP 80), 1 TLS (TCP 443), 2 TCP 8080
//                 (no parser: scanned raw), 3 DNS (UDP 53)
//       bit 2:    IPv6
//       bit 3:    the client is offshore and the server inside (an import)
//       bit 4:    no handshake: the flow is picked up mid-stream
//       bits 5-7: segment size 8 << n bytes (8 .. 1024)
// op low nibble (the high nibble is an argument):
#include <cstdint>
#include <string_view>
#include <vector>

namespace ftz::fuzz::content {

enum Op : uint8_t {
  kClientData = 0,  // data, in order, cut at the segment size
  kServerData = 1,
  kClientReversed = 2,  // data, segments sent last first (held until in order)
  kClientHole = 3,      // data whose first segment is kept back (a hole)
  kFillHoles = 4,       // sends the segments kept back
  kClientConflict = 5,  // data resent over the last client segment, other bytes
  kFin = 6,             // FIN; high nibble bit 0: from the server
  kRst = 7,             // RST; high nibble bit 0: from the server
  kIdle = 8,            // time passes: high nibble * 250 ms
  kNewConnection = 9,   // another client port, handshake unless mid-stream
  kUdp = 10,            // a datagram to UDP port 53 (high nibble bit 0: from port 53)
  kOpCount = 11,
};

inline bool carries_data(uint8_t op) {
  switch (op & 0x0f) {
    case kClientData:
    case kServerData:
    case kClientReversed:
    case kClientHole:
    case kClientConflict:
    case kUdp:
      return true;
    default:
      return false;
  }
}

inline void append_op(std::vector<uint8_t>& out, uint8_t op, std::string_view bytes = {}) {
  out.push_back(op);
  if (!carries_data(op)) return;
  out.push_back(static_cast<uint8_t>(bytes.size() >> 8));
  out.push_back(static_cast<uint8_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

}  // namespace ftz::fuzz::content
