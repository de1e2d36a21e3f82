#include "ftz/test/tcp_session.hpp"

#include <algorithm>

#include "ftz/test/packet_builder.hpp"

namespace ftz::test {

TcpSession::TcpSession(TcpSessionConfig config, PacketSink sink)
    : config_(std::move(config)),
      sink_(std::move(sink)),
      next_seq_{config_.client_isn, config_.server_isn},
      now_ns_(config_.start_ns) {
  // Distinct IP ID streams per direction, derived from the ports so that two
  // sessions in one capture do not share them.
  ip_id_[0] = static_cast<std::uint16_t>(config_.client_port * 7u);
  ip_id_[1] = static_cast<std::uint16_t>(config_.server_port * 13u + config_.client_port);
}

void TcpSession::turn(Direction dir) {
  // Half an RTT passes whenever the other side starts talking; the first
  // packet of the session goes out at start_ns.
  if (have_last_dir_) now_ns_ += last_dir_ == dir ? config_.packet_gap_ns : config_.rtt_ns / 2;
  have_last_dir_ = true;
  last_dir_ = dir;
}

void TcpSession::emit(Direction dir, std::uint8_t flags, std::span<const std::uint8_t> payload,
                      bool syn_options) {
  turn(dir);
  const bool c2s = dir == Direction::kClientToServer;
  const std::size_t me = index(dir);
  const std::size_t peer = 1 - me;

  PacketBuilder b;
  if (c2s) {
    b.eth(config_.client_mac, config_.server_mac);
  } else {
    b.eth(config_.server_mac, config_.client_mac);
  }
  for (std::uint16_t vid : config_.vlans) b.vlan(vid);
  const IpAddr& src = c2s ? config_.client_ip : config_.server_ip;
  const IpAddr& dst = c2s ? config_.server_ip : config_.client_ip;
  if (std::holds_alternative<Ipv4Addr>(src)) {
    b.ipv4(std::get<Ipv4Addr>(src), std::get<Ipv4Addr>(dst)).ip_id(ip_id_[me]++).dont_fragment();
  } else {
    b.ipv6(std::get<Ipv6Addr>(src), std::get<Ipv6Addr>(dst));
  }
  b.ttl(config_.ttl);
  const bool syn = (flags & kTcpSyn) != 0;
  const std::uint32_t ack = (flags & kTcpAck) != 0 ? next_seq_[peer] : 0;
  b.tcp(c2s ? config_.client_port : config_.server_port, c2s ? config_.server_port : config_.client_port,
        flags, next_seq_[me], ack);
  if (syn_options) {
    b.window(config_.syn_window).mss(config_.mss).sack_permitted().window_scale(config_.window_scale);
  } else {
    b.window(config_.window);
  }
  b.payload(payload);

  if (!payload.empty()) {
    segments_.push_back({emitted_, dir, sent_[me], sent_[me] + payload.size()});
    sent_[me] += payload.size();
  }
  next_seq_[me] +=
      static_cast<std::uint32_t>(payload.size()) + (syn ? 1 : 0) + ((flags & kTcpFin) != 0 ? 1 : 0);

  Bytes frame = b.build();
  ++emitted_;
  if (sink_) {
    sink_(now_ns_, frame);
  } else {
    packets_.push_back({now_ns_, std::move(frame)});
  }
}

TcpSession& TcpSession::handshake() {
  emit(Direction::kClientToServer, kTcpSyn, {}, true);
  emit(Direction::kServerToClient, kTcpSyn | kTcpAck, {}, true);
  emit(Direction::kClientToServer, kTcpAck, {});
  return *this;
}

TcpSession& TcpSession::send(Direction dir, std::span<const std::uint8_t> data) {
  const Direction peer =
      dir == Direction::kClientToServer ? Direction::kServerToClient : Direction::kClientToServer;
  std::uint32_t unacked = 0;
  for (std::size_t off = 0; off < data.size(); off += config_.mss) {
    const std::size_t n = std::min<std::size_t>(config_.mss, data.size() - off);
    const bool last = off + n >= data.size();
    emit(dir, static_cast<std::uint8_t>(kTcpAck | (last ? kTcpPsh : 0)), data.subspan(off, n));
    if (++unacked >= config_.ack_every || last) {
      emit(peer, kTcpAck, {});
      unacked = 0;
    }
  }
  return *this;
}

TcpSession& TcpSession::client_send(std::string_view data) {
  return send(Direction::kClientToServer,
              std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

TcpSession& TcpSession::server_send(std::string_view data) {
  return send(Direction::kServerToClient,
              std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

TcpSession& TcpSession::idle(std::uint64_t ns) {
  now_ns_ += ns;
  return *this;
}

TcpSession& TcpSession::close(Direction initiator) {
  const Direction peer =
      initiator == Direction::kClientToServer ? Direction::kServerToClient : Direction::kClientToServer;
  emit(initiator, kTcpFin | kTcpAck, {});
  emit(peer, kTcpFin | kTcpAck, {});
  emit(initiator, kTcpAck, {});
  return *this;
}

TcpSession& TcpSession::reset(Direction from) {
  emit(from, kTcpRst | kTcpAck, {});
  return *this;
}

}  // namespace ftz::test
