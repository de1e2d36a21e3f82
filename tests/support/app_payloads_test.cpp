#include "ftz/test/app_payloads.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "ftz/test/hex.hpp"

namespace ftz::test {
namespace {

TEST(Tls, ClientHelloLengthsAndSni) {
  TlsClientHelloSpec spec;
  spec.sni = "partner.harbor-offshore.example";
  const Bytes rec = tls_client_hello(spec);
  ASSERT_GT(rec.size(), 9u);
  EXPECT_EQ(rec[0], kTlsHandshake);
  EXPECT_EQ(get_u16(rec, 1), 0x0301);
  EXPECT_EQ(get_u16(rec, 3), rec.size() - 5);  // record length
  EXPECT_EQ(rec[5], 1);                        // client_hello
  const std::size_t hs_len = (std::size_t{rec[6]} << 16) | get_u16(rec, 7);
  EXPECT_EQ(hs_len, rec.size() - 9);
  // Extensions block length: after version(2) random(32) sid(1+32) suites(2+18) comp(2).
  const std::size_t ext_at = 9 + 2 + 32 + 33 + 20 + 2;
  EXPECT_EQ(get_u16(rec, ext_at), rec.size() - ext_at - 2);
  // First extension: server_name with the exact name.
  EXPECT_EQ(get_u16(rec, ext_at + 2), 0);
  const std::string sni(rec.begin() + ext_at + 2 + 9, rec.begin() + ext_at + 2 + 9 + spec.sni.size());
  EXPECT_EQ(sni, spec.sni);
  const std::string wire(rec.begin(), rec.end());
  EXPECT_NE(wire.find("\x02h2\x08http/1.1"), std::string::npos);
}

TEST(Tls, ServerHelloAndRecord) {
  const Bytes sh = tls13_server_hello({}, {}, {});
  EXPECT_EQ(get_u16(sh, 3), sh.size() - 5);
  EXPECT_EQ(sh[5], 2);
  const Bytes app = tls_record(kTlsApplicationData, Bytes(10, 0x5a));
  EXPECT_EQ(to_hex(std::span(app).first(5)), "170303000a");
}

TEST(Dns, QueryMatchesScapy) {
  EXPECT_EQ(to_hex(dns_query(0x1234, "example.com")),
            "123401000001000000000000076578616d706c6503636f6d0000010001");
}

TEST(Dns, ResponseUsesCompressionPointer) {
  const Ipv4Addr a = Ipv4Addr::parse("203.0.113.10");
  const Bytes r = dns_response(7, "a.example", std::span(&a, 1), 60);
  EXPECT_EQ(get_u16(r, 2), 0x8180);
  EXPECT_EQ(get_u16(r, 6), 1);
  EXPECT_EQ(to_hex(std::span(r).last(16)), "c00c000100010000003c0004cb00710a");
}

}  // namespace
}  // namespace ftz::test
