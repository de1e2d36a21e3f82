// Application payloads that tests and generators need byte-exact: a TLS 1.3
// ClientHello/ServerHello (RFC 8446) with SNI and ALPN, TLS records, and DNS
// A queries/responses (RFC 1035).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

inline constexpr std::uint8_t kTlsChangeCipherSpec = 20;
inline constexpr std::uint8_t kTlsAlert = 21;
inline constexpr std::uint8_t kTlsHandshake = 22;
inline constexpr std::uint8_t kTlsApplicationData = 23;

struct TlsClientHelloSpec {
  std::string sni;  // empty: no server_name extension
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  std::array<std::uint8_t, 32> random{};
  std::array<std::uint8_t, 32> session_id{};
  std::array<std::uint8_t, 32> x25519_key{};
  // Record-layer version: 0x0301 as browsers send in the first flight.
  std::uint16_t record_version = 0x0301;
};

// One TLS record: type, version 0x0303 (or `version`), 16-bit length, body.
Bytes tls_record(std::uint8_t content_type, std::span<const std::uint8_t> body,
                 std::uint16_t version = 0x0303);

// A complete ClientHello record offering TLS 1.3 and 1.2, with server_name,
// supported_groups, ec_point_formats, signature_algorithms, ALPN,
// supported_versions, psk_key_exchange_modes and key_share (x25519).
Bytes tls_client_hello(const TlsClientHelloSpec& spec);

// A TLS 1.3 ServerHello record (TLS_AES_128_GCM_SHA256, x25519) echoing the
// client's session id, as a middlebox sees it before encryption starts.
Bytes tls13_server_hello(const std::array<std::uint8_t, 32>& random,
                         const std::array<std::uint8_t, 32>& session_id,
                         const std::array<std::uint8_t, 32>& x25519_key);

// DNS message for one question of type `qtype` (1 = A), RD set.
Bytes dns_query(std::uint16_t id, std::string_view name, std::uint16_t qtype = 1);
// Response with RD/RA set and one A record per address (name compressed).
Bytes dns_response(std::uint16_t id, std::string_view name, std::span<const Ipv4Addr> answers,
                   std::uint32_t ttl = 300);

}  // namespace ftz::test
