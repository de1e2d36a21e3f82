#include "oracle.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <tuple>

namespace ftz::evasion {

namespace {

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

tl::expected<int, std::string> bound_socket(int type, uint32_t addr, uint16_t port) {
  const int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return tl::unexpected(errno_text("socket"));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(addr);
  sa.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return tl::unexpected(errno_text("bind port " + std::to_string(port)));
  }
  return fd;
}

}  // namespace

tl::expected<std::unique_ptr<ServerHost>, std::string> ServerHost::create(const ServerConfig& config) {
  int tun = -1;
  auto host = create(config, [&](const NetNamespace& ns) -> tl::expected<void, std::string> {
    auto fd = create_tun(ns, kTun, Ipv4Net{config.address, config.prefix},
                         Ipv4Net{config.clients, config.clients_prefix});
    if (!fd) return tl::unexpected(fd.error());
    tun = *fd;
    return {};
  });
  if (!host) {
    if (tun >= 0) close(tun);
    return host;
  }
  (*host)->tun_ = tun;
  return host;
}

tl::expected<std::unique_ptr<ServerHost>, std::string> ServerHost::create(const ServerConfig& config,
                                                                          const Plumbing& plumb) {
  auto ns = NetNamespace::create();
  if (!ns) return tl::unexpected(ns.error());
  if (!config.tfo_ports.empty()) {
    // Server TFO without cookies (0x200 | 0x2): a SYN's data reaches the
    // application at once, as with a client holding a valid cookie.
    auto tfo = ns->run([] { return write_sysctl("net/ipv4/tcp_fastopen", "515"); });
    if (!tfo) return tl::unexpected(tfo.error());
  }
  if (auto wired = plumb(*ns); !wired) return tl::unexpected(wired.error());
  std::unique_ptr<ServerHost> host(new ServerHost(std::move(*ns), -1));
  auto sockets = host->ns_.run([&]() -> tl::expected<void, std::string> {
    auto listen_on = [&](uint16_t port, bool tfo) -> tl::expected<void, std::string> {
      auto fd = bound_socket(SOCK_STREAM, config.address, port);
      if (!fd) return tl::unexpected(fd.error());
      host->listeners_.push_back(*fd);
      if (tfo) {
        const int qlen = 16;
        if (setsockopt(*fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof qlen) != 0) {
          return tl::unexpected(errno_text("TCP_FASTOPEN"));
        }
      }
      if (listen(*fd, 64) != 0) return tl::unexpected(errno_text("listen"));
      return {};
    };
    for (const uint16_t p : config.tcp_ports) {
      if (auto r = listen_on(p, false); !r) return r;
    }
    for (const uint16_t p : config.tfo_ports) {
      if (auto r = listen_on(p, true); !r) return r;
    }
    for (const uint16_t p : config.udp_ports) {
      auto fd = bound_socket(SOCK_DGRAM, config.address, p);
      if (!fd) return tl::unexpected(fd.error());
      host->udp_.push_back(*fd);
    }
    return {};
  });
  if (!sockets) return tl::unexpected(sockets.error());
  return host;
}

ServerHost::~ServerHost() {
  for (const Socket& s : open_) close(s.fd);
  for (const int fd : listeners_) close(fd);
  for (const int fd : udp_) close(fd);
  if (tun_ >= 0) close(tun_);
}

void ServerHost::inject(std::span<const uint8_t> ip_packet) {
  if (tun_ < 0) return;
  // A TUN write is one packet; it never blocks for lack of room.
  (void)!write(tun_, ip_packet.data(), ip_packet.size());
  drain();
}

std::vector<Bytes> ServerHost::take_output() {
  std::vector<Bytes> out;
  if (tun_ < 0) return out;
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = read(tun_, buf, sizeof buf);
    if (n <= 0) break;
    if ((buf[0] >> 4) == 4) out.emplace_back(buf, buf + n);
  }
  return out;
}

bool ServerHost::wait_output(std::chrono::milliseconds timeout) {
  if (tun_ < 0) return false;
  pollfd p{tun_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

void ServerHost::drain() {
  for (const int l : listeners_) {
    for (;;) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      const int fd = accept4(l, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      sockaddr_in local{};
      socklen_t llen = sizeof local;
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
      ReceivedStream s;
      s.peer = ntohl(peer.sin_addr.s_addr);
      s.peer_port = ntohs(peer.sin_port);
      s.local_port = ntohs(local.sin_port);
      streams_.push_back(std::move(s));
      open_.push_back(Socket{fd, streams_.size() - 1});
    }
  }
  char buf[65536];
  for (size_t i = 0; i < open_.size();) {
    ReceivedStream& s = streams_[open_[i].stream];
    bool done = false;
    for (;;) {
      const ssize_t n = recv(open_[i].fd, buf, sizeof buf, 0);
      if (n > 0) {
        s.bytes.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        s.eof = true;
        done = true;
      } else if (errno == ECONNRESET || errno == EPIPE || errno == ETIMEDOUT || errno == ECONNREFUSED) {
        s.reset = true;
        done = true;
      }
      break;
    }
    if (done) {
      close(open_[i].fd);
      open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  for (const int fd : udp_) {
    sockaddr_in local{};
    socklen_t llen = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
    for (;;) {
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
      if (n < 0) break;
      datagrams_.push_back(ReceivedDatagram{ntohs(peer.sin_port), ntohs(local.sin_port),
                                            std::string(buf, static_cast<size_t>(n))});
    }
  }
}

tl::expected<size_t, std::string> ServerHost::connect(uint32_t addr, uint16_t port) {
  int fd = -1;
  auto made = ns_.run([&]() -> tl::expected<void, std::string> {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return tl::unexpected(errno_text("socket"));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(addr);
    sa.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
      return tl::unexpected(errno_text("connect"));
    }
    return {};
  });
  if (!made) {
    if (fd >= 0) close(fd);
    return tl::unexpected(made.error());
  }
  sockaddr_in local{};
  socklen_t llen = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
  ReceivedStream s;
  s.peer = addr;
  s.peer_port = port;
  s.local_port = ntohs(local.sin_port);
  streams_.push_back(std::move(s));
  open_.push_back(Socket{fd, streams_.size() - 1});
  return streams_.size() - 1;
}

bool ServerHost::send(size_t stream, std::string_view data) {
  for (const Socket& s : open_) {
    if (s.stream == stream) {
      const bool ok =
          ::send(s.fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
      drain();
      return ok;
    }
  }
  return false;
}

namespace {

// Bytes of one stream or datagram by position, as a receiver keeping the
// first or the last copy of each byte would hold them.
struct ByteMap {
  std::map<int64_t, uint8_t> first;
  std::map<int64_t, uint8_t> last;
  void add(int64_t pos, std::span<const uint8_t> data) {
    for (size_t i = 0; i < data.size(); ++i) {
      first.emplace(pos + static_cast<int64_t>(i), data[i]);
      last[pos + static_cast<int64_t>(i)] = data[i];
    }
  }
  // Contiguous runs of a map.
  static std::vector<std::string> runs(const std::map<int64_t, uint8_t>& m) {
    std::vector<std::string> out;
    int64_t next = 0;
    for (const auto& [pos, b] : m) {
      if (out.empty() || pos != next) out.emplace_back();
      out.back().push_back(static_cast<char>(b));
      next = pos + 1;
    }
    return out;
  }
};

struct Segment {
  uint32_t src, dst;
  uint16_t sport, dport;
  uint32_t seq;
  Bytes data;
};

}  // namespace

std::vector<std::string> WireTap::find(std::string_view needle) const {
  std::vector<std::string> where;
  auto search = [&](const std::string& hay, const std::string& what) {
    if (hay.find(needle) != std::string::npos) where.push_back(what);
  };
  std::vector<Segment> segments;
  auto add_l4 = [&](uint8_t proto, uint32_t src, uint32_t dst, std::span<const uint8_t> l4) {
    if (proto != 6 || l4.size() < 20) return;
    const uint32_t off = (l4[12] >> 4) * 4u;
    if (off < 20 || off > l4.size()) return;
    Segment s{src,
              dst,
              static_cast<uint16_t>((l4[0] << 8) | l4[1]),
              static_cast<uint16_t>((l4[2] << 8) | l4[3]),
              test::get_u32(l4, 4),
              Bytes(l4.begin() + off, l4.end())};
    if (l4[13] & 0x02) ++s.seq;  // data in a SYN follows the SYN's own number
    segments.push_back(std::move(s));
  };
  using FragKey = std::tuple<uint32_t, uint32_t, uint16_t, uint8_t>;
  std::map<FragKey, ByteMap> fragments;
  std::map<FragKey, int64_t> fragment_end;
  for (size_t i = 0; i < frames_.size(); ++i) {
    const auto f = parse_frame(frames_[i]);
    if (!f) continue;
    search(std::string(f->ip_payload.begin(), f->ip_payload.end()),
           "frame " + std::to_string(i) + " (" + describe(frames_[i]) + ")");
    if (f->fragment) {
      const FragKey k{f->src, f->dst, f->ip_id, f->proto};
      fragments[k].add(f->frag_offset, f->ip_payload);
      if (!f->more_fragments) fragment_end[k] = f->frag_offset + f->ip_payload.size();
    } else {
      add_l4(f->proto, f->src, f->dst, f->ip_payload);
    }
  }
  for (const auto& [k, m] : fragments) {
    const std::string id = "fragments id " + std::to_string(std::get<2>(k));
    for (const auto* variant : {&m.first, &m.last}) {
      const bool is_first = variant == &m.first;
      const std::vector<std::string> runs = ByteMap::runs(*variant);
      for (const std::string& r : runs) search(r, id + (is_first ? " first-wins" : " last-wins"));
      // A complete datagram is a segment of its stream, too.
      const auto end = fragment_end.find(k);
      if (end != fragment_end.end() && runs.size() == 1 && !variant->empty() &&
          variant->begin()->first == 0 && static_cast<int64_t>(runs[0].size()) == end->second) {
        add_l4(std::get<3>(k), std::get<0>(k), std::get<1>(k),
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(runs[0].data()), runs[0].size()));
      }
    }
  }
  using StreamKey = std::tuple<uint32_t, uint16_t, uint32_t, uint16_t>;
  std::map<StreamKey, ByteMap> streams;
  std::map<StreamKey, uint32_t> base;
  for (const Segment& s : segments) {
    if (s.data.empty()) continue;
    const StreamKey k{s.src, s.sport, s.dst, s.dport};
    const uint32_t b = base.emplace(k, s.seq).first->second;
    // Positions relative to the first segment seen, across wrap-around.
    streams[k].add(static_cast<int32_t>(s.seq - b), s.data);
  }
  for (const auto& [k, m] : streams) {
    const std::string id = "tcp " + std::to_string(std::get<1>(k)) + ">" + std::to_string(std::get<3>(k));
    for (const std::string& r : ByteMap::runs(m.first)) search(r, id + " first-wins");
    for (const std::string& r : ByteMap::runs(m.last)) search(r, id + " last-wins");
  }
  return where;
}

}  // namespace ftz::evasion
