// The input format of fuzz_packet, shared by the target and the seed writer:
//
//   [link: 1 byte]  then records  [dt: 1 byte][length: 2 bytes BE][frame]
//
// `link` selects the LinkType (mod 4); `dt` advances the packet clock by
// dt * 4 ms (so timeouts of the fuzz policy fire); the last record may be cut.
#pragma once

#include <cstdint>
#include <vector>

namespace ftz::engine::fuzz {

inline constexpr int64_t kTickNs = 4'000'000;

inline void append_record(std::vector<uint8_t>& out, uint8_t dt, const std::vector<uint8_t>& frame) {
  out.push_back(dt);
  out.push_back(static_cast<uint8_t>(frame.size() >> 8));
  out.push_back(static_cast<uint8_t>(frame.size()));
  out.insert(out.end(), frame.begin(), frame.end());
}

}  // namespace ftz::engine::fuzz
