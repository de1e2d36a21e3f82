#include "attacker.hpp"

#include "ftz/test/packet_builder.hpp"

namespace ftz::evasion {

namespace {

constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kRst = 0x04;
constexpr uint8_t kAck = 0x10;

}  // namespace

Bytes TcpAttacker::build(const Seg& s) {
  test::PacketBuilder b;
  b.eth(c_.client_mac, c_.server_mac)
      .ipv4(test::Ipv4Addr::from_u32(c_.client), test::Ipv4Addr::from_u32(c_.server))
      .ttl(s.ttl)
      .ip_id(ip_id_++);
  if (!s.ip_options.empty()) b.ipv4_options(s.ip_options);
  const uint32_t seq = s.raw_seq.value_or(seq_of(s.offset));
  const uint32_t ack = (s.flags & kAck) ? s.ack.value_or(irs_ + 1) : 0;
  b.tcp(c_.sport, c_.dport, s.flags, seq, ack);
  if (s.flags & kSyn) {
    b.window(64240).mss(1460).sack_permitted();
    if (c_.timestamps) b.timestamps(s.tsval.value_or(ts_ += 10), (s.flags & kAck) ? server_ts_ : 0);
    b.window_scale(7);
  } else {
    b.window(502);
    if (s.urgent != 0) b.urgent_pointer(s.urgent);
    if (c_.timestamps) b.timestamps(s.tsval.value_or(ts_ += 10), server_ts_);
    if (!s.tcp_option.empty())
      b.tcp_option(s.tcp_option[0], test::Bytes(s.tcp_option.begin() + 1, s.tcp_option.end()));
  }
  if (!s.data.empty()) b.payload(s.data);
  Bytes f = b.build();
  const uint32_t ip_header = (f[kEthHeader] & 0x0f) * 4u;
  if (s.bad_checksum) f[kEthHeader + ip_header + 16] ^= 0x5a;
  if (s.bad_ip_checksum) f[kEthHeader + 10] ^= 0x5a;
  return f;
}

bool TcpAttacker::await_syn_ack() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    for (const Bytes& frame : wire_.inbox()) {
      const auto f = parse_frame(frame);
      if (!f || !f->l4 || f->proto != 6 || f->dport != c_.sport || f->sport != c_.dport) continue;
      if ((f->flags & (kSyn | kAck)) == (kSyn | kAck)) {
        irs_ = f->seq;
        server_ts_ = f->tsval.value_or(0);
        syn_acked_ = f->ack;
        return true;
      }
    }
    wire_.pump(std::chrono::milliseconds(50));
  }
  return false;
}

bool TcpAttacker::connect(std::string_view syn_data) {
  Seg syn;
  syn.flags = kSyn;
  syn.raw_seq = c_.isn;
  syn.data = std::string(syn_data);
  wire_.from_inside(build(syn));
  if (!await_syn_ack()) return false;
  // Data in the SYN counts only when the server acknowledged it (TCP Fast
  // Open); the ACK carries the next sequence number either way.
  Seg ack;
  ack.flags = kAck;
  ack.raw_seq = syn_acked_;
  send(ack);
  return true;
}

bool TcpAttacker::connect_around() {
  Seg syn;
  syn.flags = kSyn;
  syn.raw_seq = c_.isn;
  wire_.bypass(build(syn));
  for (const Bytes& frame : wire_.inbox()) {
    const auto f = parse_frame(frame);
    if (f && f->l4 && f->dport == c_.sport && (f->flags & (kSyn | kAck)) == (kSyn | kAck)) {
      irs_ = f->seq;
      server_ts_ = f->tsval.value_or(0);
      Seg ack;
      ack.flags = kAck;
      wire_.bypass(build(ack));
      return true;
    }
  }
  return false;
}

Outcome TcpAttacker::answer(const FrameInfo& syn) {
  irs_ = syn.seq;
  server_ts_ = syn.tsval.value_or(0);
  Seg synack;
  synack.flags = kSyn | kAck;
  synack.raw_seq = c_.isn;
  return send(synack);
}

Outcome TcpAttacker::fin(uint32_t offset) {
  Seg s;
  s.offset = offset;
  s.flags = 0x11;  // FIN|ACK
  return send(s);
}

Bytes TcpAttacker::forge_from_server(uint8_t flags, uint32_t seq, uint32_t ack, std::string_view data,
                                     uint16_t window) {
  test::PacketBuilder b;
  b.eth(c_.server_mac, c_.client_mac)
      .ipv4(test::Ipv4Addr::from_u32(c_.server), test::Ipv4Addr::from_u32(c_.client))
      .tcp(c_.dport, c_.sport, flags, seq, ack)
      .window(window);
  if (c_.timestamps) b.timestamps(server_ts_ + 1, ts_);
  if (!data.empty()) b.payload(data);
  return b.build();
}

int TcpAttacker::resets_received() const {
  int n = 0;
  for (const Bytes& frame : wire_.inbox()) {
    const auto f = parse_frame(frame);
    if (f && f->l4 && f->proto == 6 && f->dport == c_.sport && (f->flags & kRst)) ++n;
  }
  return n;
}

}  // namespace ftz::evasion
