// Writes the seed corpus of fuzz_packet (format in fuzz_input.hpp): a few
// conversations and adversarial frames built with the packet builder.
//   fuzz_packet_seeds DIR
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ftz/test/app_payloads.hpp"
#include "ftz/test/fragment.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/tcp_session.hpp"
#include "fuzz_input.hpp"

namespace {

using ftz::test::Bytes;
using ftz::test::PacketBuilder;
using ftz::test::TcpSession;
using ftz::test::TcpSessionConfig;

struct Seed {
  std::string name;
  uint8_t link = 0;
  std::vector<Bytes> frames;
};

std::vector<Bytes> frames_of(const TcpSession& s) {
  std::vector<Bytes> out;
  for (const auto& p : s.packets()) out.push_back(p.frame);
  return out;
}

std::vector<Seed> seeds() {
  std::vector<Seed> out;
  {
    TcpSessionConfig c;
    c.mss = 200;
    TcpSession s(c);
    s.handshake()
        .client_send(
            "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        .server_send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .close();
    out.push_back({"http_session", 0, frames_of(s)});
  }
  {
    TcpSessionConfig c;
    c.server_port = 443;
    c.mss = 120;
    c.vlans = {100, 200};
    TcpSession s(c);
    ftz::test::TlsClientHelloSpec h;
    h.sni = "www.block.example";
    s.handshake()
        .send(ftz::test::Direction::kClientToServer, ftz::test::tls_client_hello(h))
        .reset(ftz::test::Direction::kServerToClient);
    out.push_back({"tls_qinq_session", 0, frames_of(s)});
  }
  {
    // Out-of-order and overlapping segments: 2, 3, rewritten 2, 1.
    TcpSessionConfig c;
    c.mss = 64;
    TcpSession s(c);
    s.handshake().client_send(std::string(256, 'x'));
    auto f = frames_of(s);
    std::vector<Bytes> seq = {f[0], f[1], f[2]};
    const auto& segs = s.segments();
    seq.push_back(f[segs[1].packet_index]);
    seq.push_back(f[segs[2].packet_index]);
    Bytes evil = f[segs[1].packet_index];
    evil.back() ^= 0x55;
    seq.push_back(evil);
    seq.push_back(f[segs[0].packet_index]);
    seq.push_back(f[segs[3].packet_index]);
    out.push_back({"tcp_out_of_order", 0, seq});
  }
  {
    const Bytes dns = ftz::test::dns_query(0x4242, "www.example.cn", 28);
    Bytes q = PacketBuilder().eth().ipv4("10.1.2.3", "8.8.8.8").udp(5353, 53).payload(dns).build();
    const uint32_t cuts[] = {16};
    auto frags = ftz::test::fragment_ipv4(q, cuts);
    out.push_back({"dns_fragments_reversed", 0, {frags[1], frags[0], q}});
  }
  {
    const auto seg = ftz::test::Ipv6Addr::parse("2001:db8::2");
    Bytes v6 = PacketBuilder()
                   .eth()
                   .vlan(7)
                   .ipv6("2001:db8::1", "2001:db8::2")
                   .hop_by_hop()
                   .routing(4, {seg}, 0)
                   .destination_options()
                   .tcp(40000, 80, ftz::test::kTcpSyn, 1, 0)
                   .mss(1440)
                   .build();
    Bytes big = PacketBuilder()
                    .eth()
                    .ipv6("2001:db8::1", "2400:cb00::1")
                    .udp(1000, 2000)
                    .payload(std::string(600, 'q'))
                    .build();
    const uint32_t cuts[] = {256};
    auto frags = ftz::test::fragment_ipv6(big, cuts, 77);
    out.push_back({"ipv6_ext_and_fragments", 0, {v6, frags[0], frags[1]}});
  }
  {
    Bytes f = PacketBuilder()
                  .eth()
                  .ipv4("10.1.2.3", "1.1.1.1")
                  .ipv4_options({7, 7, 4, 0, 0, 0, 0, 1})
                  .tcp(1234, 443, ftz::test::kTcpSyn)
                  .build();
    Bytes raw(f.begin() + 14, f.end());
    Bytes icmp = PacketBuilder().eth().ipv4("10.1.2.3", "1.1.1.1").icmp_echo(1, 1).payload("ping").build();
    out.push_back({"raw_ip_options", 1, {raw, Bytes(icmp.begin() + 14, icmp.end())}});
  }
  {
    Bytes f = PacketBuilder()
                  .eth()
                  .ipv4("10.1.2.3", "1.1.1.1")
                  .udp(1000, 53)
                  .payload(ftz::test::dns_query(1, "a.cn"))
                  .build();
    Bytes sll = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
    sll.insert(sll.end(), f.begin() + 14, f.end());
    out.push_back({"linux_sll", 2, {sll}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  for (const Seed& s : seeds()) {
    std::vector<uint8_t> bytes = {s.link};
    for (const Bytes& f : s.frames) ftz::engine::fuzz::append_record(bytes, 1, f);
    const std::string path = std::string(argv[1]) + "/" + s.name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("%s: %zu frames, %zu bytes\n", path.c_str(), s.frames.size(), bytes.size());
  }
  return 0;
}
