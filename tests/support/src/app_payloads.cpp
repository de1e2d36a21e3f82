#include "ftz/test/app_payloads.hpp"

#include <stdexcept>

namespace ftz::test {

namespace {

void put_u24(Bytes& out, std::size_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  put_u16(out, static_cast<std::uint16_t>(v));
}

// type(2) + len(2) + data
void put_extension(Bytes& out, std::uint16_t type, const Bytes& data) {
  put_u16(out, type);
  put_u16(out, static_cast<std::uint16_t>(data.size()));
  put_bytes(out, data);
}

Bytes handshake_message(std::uint8_t type, const Bytes& body) {
  Bytes out{type};
  put_u24(out, body.size());
  put_bytes(out, body);
  return out;
}

void put_dns_name(Bytes& out, std::string_view name) {
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    const std::size_t len = dot - start;
    if (len == 0 || len > 63) throw std::invalid_argument("bad DNS label in " + std::string(name));
    out.push_back(static_cast<std::uint8_t>(len));
    put_string(out, name.substr(start, len));
    start = dot + 1;
  }
  out.push_back(0);
}

}  // namespace

Bytes tls_record(std::uint8_t content_type, std::span<const std::uint8_t> body, std::uint16_t version) {
  if (body.size() > 16384 + 256) throw std::invalid_argument("TLS record body too long");
  Bytes out{content_type};
  put_u16(out, version);
  put_u16(out, static_cast<std::uint16_t>(body.size()));
  put_bytes(out, body);
  return out;
}

Bytes tls_client_hello(const TlsClientHelloSpec& spec) {
  Bytes body;
  put_u16(body, 0x0303);  // legacy_version: TLS 1.2; 1.3 is in supported_versions
  put_bytes(body, spec.random);
  body.push_back(32);
  put_bytes(body, spec.session_id);
  const std::uint16_t suites[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8};
  put_u16(body, static_cast<std::uint16_t>(sizeof suites));
  for (std::uint16_t s : suites) put_u16(body, s);
  body.push_back(1);  // compression methods: null only
  body.push_back(0);

  Bytes ext;
  if (!spec.sni.empty()) {
    Bytes d;
    put_u16(d, static_cast<std::uint16_t>(3 + spec.sni.size()));  // server_name_list
    d.push_back(0);                                               // host_name
    put_u16(d, static_cast<std::uint16_t>(spec.sni.size()));
    put_string(d, spec.sni);
    put_extension(ext, 0, d);
  }
  put_extension(ext, 23, {});                                                // extended_master_secret
  put_extension(ext, 0xff01, {0x00});                                        // renegotiation_info
  put_extension(ext, 10, {0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18});  // groups
  put_extension(ext, 11, {0x01, 0x00});                                      // ec_point_formats: uncompressed
  put_extension(ext, 35, {});                                                // session_ticket
  if (!spec.alpn.empty()) {
    Bytes list;
    for (const auto& p : spec.alpn) {
      list.push_back(static_cast<std::uint8_t>(p.size()));
      put_string(list, p);
    }
    Bytes d;
    put_u16(d, static_cast<std::uint16_t>(list.size()));
    put_bytes(d, list);
    put_extension(ext, 16, d);
  }
  {
    const std::uint16_t algs[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
    Bytes d;
    put_u16(d, static_cast<std::uint16_t>(sizeof algs));
    for (std::uint16_t a : algs) put_u16(d, a);
    put_extension(ext, 13, d);
  }
  {
    Bytes d;  // key_share: one x25519 share
    put_u16(d, 36);
    put_u16(d, 0x001d);
    put_u16(d, 32);
    put_bytes(d, spec.x25519_key);
    put_extension(ext, 51, d);
  }
  put_extension(ext, 45, {0x01, 0x01});                    // psk_key_exchange_modes: psk_dhe_ke
  put_extension(ext, 43, {0x04, 0x03, 0x04, 0x03, 0x03});  // supported_versions: 1.3, 1.2
  put_u16(body, static_cast<std::uint16_t>(ext.size()));
  put_bytes(body, ext);
  return tls_record(kTlsHandshake, handshake_message(1, body), spec.record_version);
}

Bytes tls13_server_hello(const std::array<std::uint8_t, 32>& random,
                         const std::array<std::uint8_t, 32>& session_id,
                         const std::array<std::uint8_t, 32>& x25519_key) {
  Bytes body;
  put_u16(body, 0x0303);
  put_bytes(body, random);
  body.push_back(32);
  put_bytes(body, session_id);
  put_u16(body, 0x1301);
  body.push_back(0);
  Bytes ext;
  put_extension(ext, 43, {0x03, 0x04});
  Bytes ks;
  put_u16(ks, 0x001d);
  put_u16(ks, 32);
  put_bytes(ks, x25519_key);
  put_extension(ext, 51, ks);
  put_u16(body, static_cast<std::uint16_t>(ext.size()));
  put_bytes(body, ext);
  return tls_record(kTlsHandshake, handshake_message(2, body));
}

Bytes dns_query(std::uint16_t id, std::string_view name, std::uint16_t qtype) {
  Bytes out;
  put_u16(out, id);
  put_u16(out, 0x0100);  // standard query, recursion desired
  put_u16(out, 1);
  put_u16(out, 0);
  put_u16(out, 0);
  put_u16(out, 0);
  put_dns_name(out, name);
  put_u16(out, qtype);
  put_u16(out, 1);  // IN
  return out;
}

Bytes dns_response(std::uint16_t id, std::string_view name, std::span<const Ipv4Addr> answers,
                   std::uint32_t ttl) {
  Bytes out;
  put_u16(out, id);
  put_u16(out, 0x8180);  // response, RD, RA, NOERROR
  put_u16(out, 1);
  put_u16(out, static_cast<std::uint16_t>(answers.size()));
  put_u16(out, 0);
  put_u16(out, 0);
  put_dns_name(out, name);
  put_u16(out, 1);
  put_u16(out, 1);
  for (const auto& a : answers) {
    put_u16(out, 0xc00c);  // pointer to the question name at offset 12
    put_u16(out, 1);
    put_u16(out, 1);
    put_u32(out, ttl);
    put_u16(out, 4);
    put_bytes(out, a.octets);
  }
  return out;
}

}  // namespace ftz::test
