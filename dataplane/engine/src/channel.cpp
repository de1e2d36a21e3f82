#include "ftz/engine/channel.hpp"

#include <cstring>

namespace ftz::engine {

namespace {

constexpr uint32_t kMacs = 12;  // destination + source
constexpr uint32_t kTagLen = 4;

uint16_t be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
void put_be16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
bool is_tag(uint16_t ethertype) noexcept {
  return ethertype == 0x8100 || ethertype == 0x88a8;
}

}  // namespace

bool channel_header(std::span<const uint8_t> frame, uint16_t vlan, const std::array<uint8_t, 6>& next_hop,
                    ChannelHeader& out) noexcept {
  if (frame.size() < kMacs + 2) return false;
  uint8_t* h = out.bytes.data();
  std::memcpy(h, next_hop.data(), next_hop.size());
  std::memcpy(h + 6, frame.data() + 6, 6);
  out.len = kMacs;
  out.replaces = kMacs;
  if (vlan == 0) return true;
  if (is_tag(be16(frame.data() + kMacs))) {
    if (frame.size() < kMacs + kTagLen + 2) return false;
    std::memcpy(h + kMacs, frame.data() + kMacs, 2);
    const uint16_t tci = be16(frame.data() + kMacs + 2);
    put_be16(h + kMacs + 2, static_cast<uint16_t>((tci & 0xf000) | (vlan & 0x0fff)));
    out.replaces = kMacs + kTagLen;
  } else {
    put_be16(h + kMacs, 0x8100);
    put_be16(h + kMacs + 2, static_cast<uint16_t>(vlan & 0x0fff));
  }
  out.len = kMacs + kTagLen;
  return true;
}

uint32_t strip_channel_vlan(std::span<uint8_t> frame, uint16_t vlan) noexcept {
  if (vlan == 0 || frame.size() < kMacs + kTagLen + 2) return 0;
  uint8_t* f = frame.data();
  if (be16(f + kMacs) != 0x8100 || (be16(f + kMacs + 2) & 0x0fff) != vlan) return 0;
  std::memmove(f + kTagLen, f, kMacs);
  return kTagLen;
}

}  // namespace ftz::engine
