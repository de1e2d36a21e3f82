#pragma once
// TcpAttacker: the exporter's side of a TCP connection, crafted packet by
// packet. It keeps what a sender must know (its ISN, the server's ISN and
// timestamps, the next IP ID) and builds segments with correct checksums
// unless a case asks otherwise; every segment goes onto the Wire.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ftz/test/net_types.hpp"
#include "wire.hpp"

namespace ftz::evasion {

struct Seg {
  uint32_t offset = 0;  // stream offset of the first payload byte (0 = first data byte)
  std::string data;
  uint8_t flags = 0x18;  // PSH|ACK
  uint8_t ttl = 64;
  bool bad_checksum = false;        // TCP checksum
  bool bad_ip_checksum = false;     // IPv4 header checksum
  test::Bytes ip_options;           // raw IPv4 options
  uint16_t urgent = 0;              // urgent pointer (with the URG flag in `flags`)
  test::Bytes tcp_option;           // one more TCP option: its kind, then its data
  std::optional<uint32_t> tsval;    // default: the attacker's clock
  std::optional<uint32_t> raw_seq;  // instead of offset
  std::optional<uint32_t> ack;      // default: the server's next byte

  static Seg at(uint32_t offset, std::string_view data) {
    Seg s;
    s.offset = offset;
    s.data = std::string(data);
    return s;
  }
};

struct AttackerConfig {
  uint32_t client = 0;
  uint32_t server = 0;
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint32_t isn = 0x1000;
  bool timestamps = true;
  test::MacAddr client_mac;
  test::MacAddr server_mac;
};

class TcpAttacker {
 public:
  TcpAttacker(Wire& wire, AttackerConfig config) : wire_(wire), c_(config) {}

  // SYN, SYN-ACK, ACK through the appliance; false when no SYN-ACK came.
  bool connect(std::string_view syn_data = {});
  // The same handshake on a path that avoids the appliance (it picks the
  // flow up mid-stream later).
  bool connect_around();
  // The other role: this side is the server (config().sport its port) and
  // answers the peer's SYN with a SYN-ACK; offsets then count this side's
  // bytes, acknowledgments the peer's.
  Outcome answer(const FrameInfo& syn);

  Bytes build(const Seg& s);
  Outcome send(const Seg& s) { return wire_.from_inside(build(s)); }
  // Data at `offset`, in order or not.
  Outcome send(uint32_t offset, std::string_view data) { return send(Seg::at(offset, data)); }
  // FIN after `offset` bytes of data.
  Outcome fin(uint32_t offset);
  // A packet from the server's address, as a colluding offshore peer forges it.
  Bytes forge_from_server(uint8_t flags, uint32_t seq, uint32_t ack, std::string_view data = {},
                          uint16_t window = 502);

  [[nodiscard]] uint32_t seq_of(uint32_t offset) const { return c_.isn + 1 + offset; }
  [[nodiscard]] uint32_t server_isn() const { return irs_; }
  [[nodiscard]] uint32_t tsval_now() const { return ts_; }
  // Timestamp the server last sent (what a forged server segment echoes).
  [[nodiscard]] uint32_t server_tsval() const { return server_ts_; }
  // RSTs the appliance or the server sent towards this client.
  [[nodiscard]] int resets_received() const;
  [[nodiscard]] const AttackerConfig& config() const { return c_; }

 private:
  bool await_syn_ack();
  Wire& wire_;
  AttackerConfig c_;
  uint32_t irs_ = 0;
  uint32_t server_ts_ = 0;
  uint32_t syn_acked_ = 0;
  uint32_t ts_ = 100'000;
  uint16_t ip_id_ = 1;
};

}  // namespace ftz::evasion
