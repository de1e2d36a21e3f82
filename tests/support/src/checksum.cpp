#include "ftz/test/checksum.hpp"

namespace ftz::test {

std::uint32_t checksum_add(std::span<const std::uint8_t> data, std::uint32_t sum) {
  // 64-bit accumulator: no fold needed inside the loop even for jumbo frames.
  std::uint64_t acc = sum;
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) acc += (std::uint32_t{data[i]} << 8) | data[i + 1];
  if (i < data.size()) acc += std::uint32_t{data[i]} << 8;
  while (acc >> 32) acc = (acc & 0xffffffffu) + (acc >> 32);
  return static_cast<std::uint32_t>(acc);
}

std::uint16_t checksum_finish(std::uint32_t sum) {
  std::uint64_t acc = sum;
  while (acc >> 16) acc = (acc & 0xffffu) + (acc >> 16);
  return static_cast<std::uint16_t>(~acc & 0xffffu);
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> data) {
  return checksum_finish(checksum_add(data));
}

std::uint16_t l4_checksum(const IpAddr& src, const IpAddr& dst, std::uint8_t protocol,
                          std::span<const std::uint8_t> segment) {
  Bytes pseudo;
  if (std::holds_alternative<Ipv4Addr>(src)) {
    put_bytes(pseudo, std::get<Ipv4Addr>(src).octets);
    put_bytes(pseudo, std::get<Ipv4Addr>(dst).octets);
    pseudo.push_back(0);
    pseudo.push_back(protocol);
    put_u16(pseudo, static_cast<std::uint16_t>(segment.size()));
  } else {
    put_bytes(pseudo, std::get<Ipv6Addr>(src).octets);
    put_bytes(pseudo, std::get<Ipv6Addr>(dst).octets);
    put_u32(pseudo, static_cast<std::uint32_t>(segment.size()));
    put_u32(pseudo, protocol);
  }
  return checksum_finish(checksum_add(segment, checksum_add(pseudo)));
}

}  // namespace ftz::test
