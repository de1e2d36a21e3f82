#include "ftz/test/net_types.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <stdexcept>

namespace ftz::test {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

MacAddr MacAddr::parse(std::string_view text) {
  MacAddr mac;
  // Exactly "xx:xx:xx:xx:xx:xx" (or '-' separators).
  if (text.size() != 17) throw std::invalid_argument("bad MAC address: " + std::string(text));
  for (std::size_t i = 0; i < 6; ++i) {
    const int hi = hex_value(text[i * 3]);
    const int lo = hex_value(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-')) {
      throw std::invalid_argument("bad MAC address: " + std::string(text));
    }
    mac.octets[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return mac;
}

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", octets[0], octets[1], octets[2], octets[3],
                octets[4], octets[5]);
  return buf;
}

Ipv4Addr Ipv4Addr::parse(std::string_view text) {
  Ipv4Addr addr;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), addr.octets.data()) != 1) {
    throw std::invalid_argument("bad IPv4 address: " + s);
  }
  return addr;
}

Ipv4Addr Ipv4Addr::from_u32(std::uint32_t v) {
  return Ipv4Addr{{static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                   static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)}};
}

std::uint32_t Ipv4Addr::to_u32() const {
  return (std::uint32_t{octets[0]} << 24) | (std::uint32_t{octets[1]} << 16) |
         (std::uint32_t{octets[2]} << 8) | octets[3];
}

std::string Ipv4Addr::to_string() const {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, octets.data(), buf, sizeof buf);
  return buf;
}

Ipv6Addr Ipv6Addr::parse(std::string_view text) {
  Ipv6Addr addr;
  const std::string s(text);
  if (inet_pton(AF_INET6, s.c_str(), addr.octets.data()) != 1) {
    throw std::invalid_argument("bad IPv6 address: " + s);
  }
  return addr;
}

std::string Ipv6Addr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, octets.data(), buf, sizeof buf);
  return buf;
}

IpAddr parse_ip(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return Ipv6Addr::parse(text);
  return Ipv4Addr::parse(text);
}

std::string to_string(const IpAddr& addr) {
  return std::visit([](const auto& a) { return a.to_string(); }, addr);
}

}  // namespace ftz::test
