#pragma once
// IPv4/IPv6 addresses and prefixes as plain values, shared by the zone table,
// the flow key and the policy spec. IPv4 is stored as an IPv4-mapped IPv6
// address (::ffff:a.b.c.d) so one 16-byte representation serves both families.

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace ftz::engine {

struct IpAddr {
  std::array<uint8_t, 16> bytes{};

  static IpAddr v4(uint32_t host_order) noexcept {
    IpAddr a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    a.bytes[12] = static_cast<uint8_t>(host_order >> 24);
    a.bytes[13] = static_cast<uint8_t>(host_order >> 16);
    a.bytes[14] = static_cast<uint8_t>(host_order >> 8);
    a.bytes[15] = static_cast<uint8_t>(host_order);
    return a;
  }
  static IpAddr v4_bytes(const uint8_t* p) noexcept {
    IpAddr a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(&a.bytes[12], p, 4);
    return a;
  }
  static IpAddr v6_bytes(const uint8_t* p) noexcept {
    IpAddr a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }

  [[nodiscard]] bool is_v4() const noexcept {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kMapped, 12) == 0;
  }
  [[nodiscard]] uint32_t v4_host_order() const noexcept {
    return (uint32_t{bytes[12]} << 24) | (uint32_t{bytes[13]} << 16) | (uint32_t{bytes[14]} << 8) |
           uint32_t{bytes[15]};
  }

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the 0 a defaulted <=> compares with
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

// A prefix; for IPv4 `length` counts IPv4 bits (0..32), not mapped bits.
struct Prefix {
  IpAddr addr;
  uint8_t length = 0;
  bool v4 = true;

  [[nodiscard]] bool contains(const IpAddr& a) const noexcept;
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// Parses "a.b.c.d", "a.b.c.d/n", IPv6 and IPv6/n. Host bits beyond the length
// must be zero (a prefix list with 10.1.2.3/16 is almost always a typo).
std::optional<Prefix> parse_prefix(std::string_view text);
std::optional<IpAddr> parse_ip(std::string_view text);
std::string format_ip(const IpAddr& a);
std::string format_prefix(const Prefix& p);
// True when the two prefixes share at least one address.
bool prefixes_overlap(const Prefix& a, const Prefix& b) noexcept;

}  // namespace ftz::engine
