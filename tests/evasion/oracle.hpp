#pragma once
// The two oracles of the evasion suite.
//
// ServerHost — the receiver: a real Linux TCP/IP stack in a network
// namespace of its own, reached through a TUN device, with TCP listeners and
// a UDP socket. What its sockets return to the application is what the
// offshore server really received; the engine's reassembler has no say.
// Linux processes a packet written to a TUN inside the write() call
// (tun_get_user -> netif_receive_skb with bottom halves disabled), so the
// harness drains the sockets after every write and nothing that reached the
// application is lost to a later RST.
//
// WireTap — the colluding receiver: every frame the appliance let out towards
// the outside zone, reassembled both ways an offshore host could choose (first
// copy wins, last copy wins) for TCP streams and IPv4 fragments. A byte that
// left the zone uninspected is exported even when Linux, as the receiver
// here, would have thrown it away (a retransmission of acknowledged data,
// data after a FIN, segments past a hole that is never filled); an offshore
// peer that wants it reads it from the wire.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "frame.hpp"
#include "netns.hpp"

namespace ftz::evasion {

struct ReceivedStream {
  uint32_t peer = 0;
  uint16_t peer_port = 0;
  uint16_t local_port = 0;
  std::string bytes;  // what recv() returned, in order
  bool eof = false;
  bool reset = false;  // recv() failed with ECONNRESET
};

struct ReceivedDatagram {
  uint16_t peer_port = 0;
  uint16_t local_port = 0;
  std::string bytes;
};

struct ServerConfig {
  uint32_t address = 0;  // the server, host order
  uint8_t prefix = 24;
  uint32_t clients = 0;  // route to the client network through the TUN
  uint8_t clients_prefix = 24;
  std::vector<uint16_t> tcp_ports;
  std::vector<uint16_t> tfo_ports;  // TCP listeners that take data in a SYN (TCP Fast Open, no cookie)
  std::vector<uint16_t> udp_ports;
};

class ServerHost {
 public:
  static constexpr const char* kTun = "ftzev0";
  // Gives the new namespace its interface (it must hold config.address by
  // the time this returns: the sockets bind to it).
  using Plumbing = std::function<tl::expected<void, std::string>(const NetNamespace&)>;
  // Reached through a TUN device the host owns (inject, take_output).
  static tl::expected<std::unique_ptr<ServerHost>, std::string> create(const ServerConfig& config);
  // Reached through whatever `plumb` wires into its namespace (a veth).
  static tl::expected<std::unique_ptr<ServerHost>, std::string> create(const ServerConfig& config,
                                                                       const Plumbing& plumb);
  ~ServerHost();
  ServerHost(const ServerHost&) = delete;
  ServerHost& operator=(const ServerHost&) = delete;

  // TUN only. One IPv4 packet into the server's stack; the sockets are
  // drained after.
  void inject(std::span<const uint8_t> ip_packet);
  // Packets the server's stack sent since the last call (never blocks).
  std::vector<Bytes> take_output();
  // Waits up to `timeout` until the server's stack has something to send.
  bool wait_output(std::chrono::milliseconds timeout);
  // Accepts pending connections and reads every socket dry.
  void drain();
  // The offshore host as a client: connects to `addr`:`port` (non-blocking;
  // the SYN leaves through the TUN) and returns the index of the stream its
  // application reads into streams().
  tl::expected<size_t, std::string> connect(uint32_t addr, uint16_t port);
  // Sends on a stream connect() opened (false when it cannot).
  bool send(size_t stream, std::string_view data);

  [[nodiscard]] const std::vector<ReceivedStream>& streams() const { return streams_; }
  [[nodiscard]] const std::vector<ReceivedDatagram>& datagrams() const { return datagrams_; }
  [[nodiscard]] const NetNamespace& ns() const { return ns_; }

 private:
  ServerHost(NetNamespace ns, int tun) : ns_(std::move(ns)), tun_(tun) {}
  struct Socket {
    int fd;
    size_t stream;  // index into streams_
  };
  NetNamespace ns_;
  int tun_ = -1;
  std::vector<int> listeners_;
  std::vector<int> udp_;
  std::vector<Socket> open_;
  std::vector<ReceivedStream> streams_;
  std::vector<ReceivedDatagram> datagrams_;
};

class WireTap {
 public:
  // A frame the appliance sent towards the outside zone.
  void record(std::span<const uint8_t> frame) { frames_.emplace_back(frame.begin(), frame.end()); }
  [[nodiscard]] const std::vector<Bytes>& frames() const { return frames_; }
  // Where `needle` can be read from what left: "frame 7 (198.18.0.1:40001 >
  // ...)", "tcp 40001>80 last-wins", "fragments id 9 first-wins" ...; empty
  // when nowhere.
  [[nodiscard]] std::vector<std::string> find(std::string_view needle) const;

 private:
  std::vector<Bytes> frames_;
};

}  // namespace ftz::evasion
