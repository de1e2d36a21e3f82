// A whole TCP conversation as frames: handshake (MSS, SACK-permitted, window
// scale), data in both directions cut at the MSS with consistent seq/ack, the
// receiver ACKing every second segment, and FIN/ACK teardown. Timestamps
// advance with a simple model (back-to-back segments `packet_gap_ns` apart,
// half an RTT whenever the direction turns), so captures look like a real
// client on the inside port of the appliance.
//
// Frames go to a PacketSink when one is given (streaming generators), or are
// kept in memory for packets()/take_packets() (unit tests).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

enum class Direction : std::uint8_t { kClientToServer, kServerToClient };

struct TcpSessionConfig {
  MacAddr client_mac{{0x02, 0x60, 0x00, 0x00, 0x00, 0x01}};
  MacAddr server_mac{{0x02, 0x00, 0x5e, 0x00, 0x10, 0x01}};  // next hop seen by the client
  IpAddr client_ip = Ipv4Addr{{10, 60, 0, 1}};
  IpAddr server_ip = Ipv4Addr{{203, 0, 113, 10}};  // same family as client_ip
  std::uint16_t client_port = 40000;
  std::uint16_t server_port = 80;
  std::uint32_t client_isn = 1000;
  std::uint32_t server_isn = 5000;
  std::uint16_t mss = 1460;          // payload bytes per data segment
  std::vector<std::uint16_t> vlans;  // 802.1Q tags on every frame, outermost first
  std::uint64_t start_ns = 0;        // timestamp of the SYN
  std::uint64_t rtt_ns = 2'000'000;
  std::uint64_t packet_gap_ns = 12'000;
  std::uint16_t syn_window = 64240;
  std::uint8_t window_scale = 7;
  std::uint16_t window = 502;   // scaled by window_scale after the handshake
  std::uint32_t ack_every = 2;  // delayed-ACK ratio of the receiver
  std::uint8_t ttl = 64;
};

struct CapturedPacket {
  std::uint64_t ts_ns = 0;
  Bytes frame;
};

// Where each data segment went: lets a test name the exact packet that
// carries (or completes) some byte of a stream.
struct SegmentRecord {
  std::size_t packet_index = 0;  // 0-based within this session
  Direction direction = Direction::kClientToServer;
  std::uint64_t stream_begin = 0;  // offset of the first payload byte in its direction
  std::uint64_t stream_end = 0;    // one past the last
};

using PacketSink = std::function<void(std::uint64_t ts_ns, const Bytes& frame)>;

class TcpSession {
 public:
  explicit TcpSession(TcpSessionConfig config, PacketSink sink = {});

  TcpSession& handshake();
  TcpSession& send(Direction dir, std::span<const std::uint8_t> data);
  TcpSession& client_send(std::string_view data);
  TcpSession& server_send(std::string_view data);
  // Queues no packet; only moves the clock (think time between requests).
  TcpSession& idle(std::uint64_t ns);
  // FIN/ACK from the initiator, FIN/ACK back, final ACK.
  TcpSession& close(Direction initiator = Direction::kClientToServer);
  // A RST|ACK from `from` (abortive close).
  TcpSession& reset(Direction from);

  const std::vector<CapturedPacket>& packets() const { return packets_; }
  std::vector<CapturedPacket> take_packets() { return std::move(packets_); }
  const std::vector<SegmentRecord>& segments() const { return segments_; }
  std::size_t packet_count() const { return emitted_; }
  std::uint64_t now_ns() const { return now_ns_; }
  std::uint64_t stream_bytes(Direction dir) const { return sent_[index(dir)]; }
  const TcpSessionConfig& config() const { return config_; }

 private:
  static std::size_t index(Direction d) { return d == Direction::kClientToServer ? 0 : 1; }
  void emit(Direction dir, std::uint8_t flags, std::span<const std::uint8_t> payload,
            bool syn_options = false);
  void turn(Direction dir);

  TcpSessionConfig config_;
  PacketSink sink_;
  std::vector<CapturedPacket> packets_;
  std::vector<SegmentRecord> segments_;
  std::uint32_t next_seq_[2];
  std::uint64_t sent_[2] = {0, 0};
  std::uint16_t ip_id_[2] = {0, 0};
  std::uint64_t now_ns_;
  std::size_t emitted_ = 0;
  bool have_last_dir_ = false;
  Direction last_dir_ = Direction::kClientToServer;
};

}  // namespace ftz::test
