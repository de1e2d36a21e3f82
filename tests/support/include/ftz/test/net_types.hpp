// Plain address types for building test packets. Deliberately independent of
// ftz::engine so that a bug in the engine's parsers cannot hide in the fixtures
// that test them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ftz::test {

using Bytes = std::vector<std::uint8_t>;

struct MacAddr {
  std::array<std::uint8_t, 6> octets{};

  // "02:00:5e:00:30:01"; throws std::invalid_argument on bad text (test code:
  // a typo in a fixture should fail loudly).
  static MacAddr parse(std::string_view text);
  std::string to_string() const;
  friend bool operator==(const MacAddr&, const MacAddr&) = default;
};

struct Ipv4Addr {
  std::array<std::uint8_t, 4> octets{};

  static Ipv4Addr parse(std::string_view text);  // throws std::invalid_argument
  static Ipv4Addr from_u32(std::uint32_t host_order);
  std::uint32_t to_u32() const;  // host order
  std::string to_string() const;
  friend bool operator==(const Ipv4Addr&, const Ipv4Addr&) = default;
};

struct Ipv6Addr {
  std::array<std::uint8_t, 16> octets{};

  static Ipv6Addr parse(std::string_view text);  // throws std::invalid_argument
  std::string to_string() const;
  friend bool operator==(const Ipv6Addr&, const Ipv6Addr&) = default;
};

using IpAddr = std::variant<Ipv4Addr, Ipv6Addr>;

// "10.60.2.11" or "2001:db8::1".
IpAddr parse_ip(std::string_view text);
std::string to_string(const IpAddr& addr);

// Byte helpers shared by the builders (network byte order).
inline void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put_u32(Bytes& out, std::uint32_t v) {
  put_u16(out, static_cast<std::uint16_t>(v >> 16));
  put_u16(out, static_cast<std::uint16_t>(v));
}
inline void put_bytes(Bytes& out, std::span<const std::uint8_t> data) {
  out.insert(out.end(), data.begin(), data.end());
}
inline void put_string(Bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}
inline std::uint16_t get_u16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
inline std::uint32_t get_u32(std::span<const std::uint8_t> b, std::size_t at) {
  return (static_cast<std::uint32_t>(get_u16(b, at)) << 16) | get_u16(b, at + 2);
}
inline void set_u16(std::span<std::uint8_t> b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

inline Bytes to_bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

}  // namespace ftz::test
