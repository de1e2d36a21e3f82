#include "ftz/engine/ip_addr.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace ftz::engine {

namespace {

// Bit `i` (0 = most significant) of a 16-byte address.
bool bit_at(const IpAddr& a, unsigned i) noexcept {
  return (a.bytes[i / 8] >> (7 - i % 8)) & 1u;
}

unsigned mapped_length(const Prefix& p) noexcept {
  return p.v4 ? 96u + p.length : p.length;
}

}  // namespace

bool Prefix::contains(const IpAddr& a) const noexcept {
  if (v4 != a.is_v4()) return false;
  const unsigned bits = mapped_length(*this);
  const unsigned full = bits / 8;
  if (std::memcmp(addr.bytes.data(), a.bytes.data(), full) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
  return (addr.bytes[full] & mask) == (a.bytes[full] & mask);
}

bool prefixes_overlap(const Prefix& a, const Prefix& b) noexcept {
  if (a.v4 != b.v4) return false;
  return a.length <= b.length ? a.contains(b.addr) : b.contains(a.addr);
}

std::optional<IpAddr> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  text.copy(buf, text.size());
  uint8_t raw[16];
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, raw) != 1) return std::nullopt;
    return IpAddr::v4_bytes(raw);
  }
  if (inet_pton(AF_INET6, buf, raw) != 1) return std::nullopt;
  return IpAddr::v6_bytes(raw);
}

std::optional<Prefix> parse_prefix(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = parse_ip(text.substr(0, slash));
  if (!addr) return std::nullopt;
  Prefix p;
  p.addr = *addr;
  p.v4 = addr->is_v4();
  const unsigned max_len = p.v4 ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (res.ec != std::errc{} || res.ptr != digits.data() + digits.size() || len > max_len) {
      return std::nullopt;
    }
  }
  p.length = static_cast<uint8_t>(len);
  // Host bits must be zero.
  for (unsigned i = mapped_length(p); i < 128; ++i) {
    if (bit_at(p.addr, i)) return std::nullopt;
  }
  return p;
}

std::string format_ip(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.is_v4()) {
    inet_ntop(AF_INET, &a.bytes[12], buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
  }
  return buf;
}

std::string format_prefix(const Prefix& p) {
  return format_ip(p.addr) + "/" + std::to_string(p.length);
}

}  // namespace ftz::engine
