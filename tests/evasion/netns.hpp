#pragma once
// Network namespaces for the evasion suite, made without `ip netns`: a
// helper thread unshare()s a new network namespace and keeps only a file
// descriptor to it. The namespace has no name in /run/netns, so nothing can
// be left behind: the kernel removes it (with its TUN, veth and sockets) when
// the last descriptor and the last process in it are gone, also when the test
// binary is killed by a signal or a ctest timeout.
//
// Work inside the namespace runs on a short-lived thread that setns()es into
// it (a thread's network namespace is its own; the caller's stays as it was),
// and child processes setns() between fork and exec. Sockets and TUN
// descriptors keep the namespace they were opened in, so they are used from
// any thread afterwards.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::evasion {

// Why the privileged tests cannot run here, or empty when they can
// (root with CAP_SYS_ADMIN/CAP_NET_ADMIN, /dev/net/tun usable).
std::string missing_privileges();

class NetNamespace {
 public:
  static tl::expected<NetNamespace, std::string> create();
  NetNamespace(NetNamespace&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  NetNamespace& operator=(NetNamespace&& o) noexcept;
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;
  ~NetNamespace();

  // Runs `fn` on a thread inside the namespace and waits for it. Returns the
  // error of setns() or the one `fn` returns.
  tl::expected<void, std::string> run(const std::function<tl::expected<void, std::string>()>& fn) const;
  // Runs a command inside the namespace (fork, setns, execvp) and waits;
  // stdout and stderr go to `output` when given.
  tl::expected<void, std::string> exec(const std::vector<std::string>& argv,
                                       std::string* output = nullptr) const;
  // Starts a command inside the namespace without waiting; stdout and stderr
  // go to `log_path`. Returns its pid.
  tl::expected<pid_t, std::string> spawn(const std::vector<std::string>& argv,
                                         const std::string& log_path) const;
  // /proc/PID/fd/N naming this namespace (iproute2 accepts a path for
  // `ip link set DEV netns PATH`); valid while this object lives.
  [[nodiscard]] std::string path() const;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  explicit NetNamespace(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Writes a sysctl of the calling thread's network namespace
// ("net/ipv4/tcp_fastopen"); call it from NetNamespace::run.
tl::expected<void, std::string> write_sysctl(const std::string& name, const std::string& value);

struct Ipv4Net {
  uint32_t addr = 0;  // host order
  uint8_t prefix = 32;
};

// A layer-3 TUN device (IFF_TUN | IFF_NO_PI: one IPv4 packet per read or
// write) created inside `ns`, up, with `address`, and a route to `route`
// through it. The descriptor is non-blocking.
tl::expected<int, std::string> create_tun(const NetNamespace& ns, const std::string& name, Ipv4Net address,
                                          Ipv4Net route);

// Interface helpers for veth set-ups, run inside the calling thread's
// namespace (use NetNamespace::run).
tl::expected<void, std::string> set_address(const std::string& ifname, Ipv4Net address);
tl::expected<void, std::string> set_mac(const std::string& ifname, const uint8_t (&mac)[6]);
tl::expected<void, std::string> set_up(const std::string& ifname);
// A permanent neighbour (ARP) entry: `ip` is reached at `mac` on `ifname`.
tl::expected<void, std::string> add_neighbour(const std::string& ifname, uint32_t ip,
                                              const uint8_t (&mac)[6]);
tl::expected<void, std::string> add_route(const std::string& ifname, Ipv4Net dst);
// Turns off TX checksum offload (and with it TSO): a veth otherwise hands
// packet sockets frames whose TCP checksum is only the pseudo-header part.
tl::expected<void, std::string> disable_tx_offloads(const std::string& ifname);
// A raw packet socket (ETH_P_ALL, non-blocking) bound to `ifname` in `ns`.
tl::expected<int, std::string> open_packet_socket(const NetNamespace& ns, const std::string& ifname);

uint32_t ipv4(const char* dotted);  // host order; test constants only

}  // namespace ftz::evasion
