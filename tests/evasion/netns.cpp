#include "netns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

namespace ftz::evasion {

namespace {

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// A socket for interface ioctls; closed on scope exit.
class IoctlSocket {
 public:
  IoctlSocket() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~IoctlSocket() {
    if (fd_ >= 0) close(fd_);
  }
  IoctlSocket(const IoctlSocket&) = delete;
  IoctlSocket& operator=(const IoctlSocket&) = delete;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

ifreq ifreq_for(const std::string& ifname) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  return ifr;
}

sockaddr_in inet(uint32_t host_order) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(host_order);
  return sa;
}

uint32_t mask_of(uint8_t prefix) {
  return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
}

}  // namespace

uint32_t ipv4(const char* dotted) {
  in_addr a{};
  inet_pton(AF_INET, dotted, &a);
  return ntohl(a.s_addr);
}

std::string missing_privileges() {
  static const std::string reason = [] {
    if (geteuid() != 0) return std::string("needs root (network namespaces, TUN devices)");
    const int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (tun < 0) return errno_text("cannot open /dev/net/tun");
    close(tun);
    auto ns = NetNamespace::create();
    if (!ns) return "cannot create a network namespace: " + ns.error();
    return std::string();
  }();
  return reason;
}

tl::expected<NetNamespace, std::string> NetNamespace::create() {
  int fd = -1;
  std::string error;
  std::thread t([&] {
    // Only this thread moves: unshare(CLONE_NEWNET) affects the caller's
    // thread, and the thread ends right after taking a descriptor.
    if (unshare(CLONE_NEWNET) != 0) {
      error = errno_text("unshare(CLONE_NEWNET)");
      return;
    }
    fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error = errno_text("open /proc/thread-self/ns/net");
      return;
    }
    // Router solicitations and DAD would only add noise on the TUN.
    (void)write_sysctl("net/ipv6/conf/all/disable_ipv6", "1");
    (void)write_sysctl("net/ipv6/conf/default/disable_ipv6", "1");
  });
  t.join();
  if (fd < 0) return tl::unexpected(error);
  return NetNamespace(fd);
}

NetNamespace& NetNamespace::operator=(NetNamespace&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

NetNamespace::~NetNamespace() {
  if (fd_ >= 0) close(fd_);
}

std::string NetNamespace::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_);
}

tl::expected<void, std::string> NetNamespace::run(
    const std::function<tl::expected<void, std::string>()>& fn) const {
  tl::expected<void, std::string> result;
  std::thread t([&] {
    if (setns(fd_, CLONE_NEWNET) != 0) {
      result = tl::unexpected(errno_text("setns"));
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

namespace {

// fork + setns + exec; the child only makes async-signal-safe calls.
tl::expected<pid_t, std::string> fork_in(int ns_fd, const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return tl::unexpected(errno_text("fork"));
  if (pid == 0) {
    // A command outliving a killed test (ctest timeout) stops with it.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    if (out_fd >= 0) {
      dup2(out_fd, STDOUT_FILENO);
      dup2(out_fd, STDERR_FILENO);
    }
    // Own process group: a test can stop the command and its children.
    setpgid(0, 0);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

tl::expected<void, std::string> NetNamespace::exec(const std::vector<std::string>& argv,
                                                   std::string* output) const {
  int pipe_fd[2];
  if (pipe2(pipe_fd, O_CLOEXEC) != 0) return tl::unexpected(errno_text("pipe"));
  auto pid = fork_in(fd_, argv, pipe_fd[1]);
  close(pipe_fd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(pipe_fd[0]);
  if (!pid) return tl::unexpected(pid.error());
  int status = 0;
  waitpid(*pid, &status, 0);
  if (output != nullptr) *output = out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return tl::unexpected(cmd + " failed (status " + std::to_string(status) + "): " + out);
  }
  return {};
}

tl::expected<pid_t, std::string> NetNamespace::spawn(const std::vector<std::string>& argv,
                                                     const std::string& log_path) const {
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log < 0) return tl::unexpected(errno_text("open " + log_path));
  auto pid = fork_in(fd_, argv, log);
  close(log);
  return pid;
}

tl::expected<void, std::string> write_sysctl(const std::string& name, const std::string& value) {
  const std::string path = "/proc/sys/" + name;
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(errno_text("open " + path));
  const bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  close(fd);
  if (!ok) return tl::unexpected(errno_text("write " + path));
  return {};
}

tl::expected<void, std::string> set_address(const std::string& ifname, Ipv4Net address) {
  IoctlSocket s;
  ifreq ifr = ifreq_for(ifname);
  sockaddr_in a = inet(address.addr);
  std::memcpy(&ifr.ifr_addr, &a, sizeof a);
  if (ioctl(s.fd(), SIOCSIFADDR, &ifr) != 0) return tl::unexpected(errno_text("SIOCSIFADDR " + ifname));
  a = inet(mask_of(address.prefix));
  std::memcpy(&ifr.ifr_netmask, &a, sizeof a);
  if (ioctl(s.fd(), SIOCSIFNETMASK, &ifr) != 0) return tl::unexpected(errno_text("SIOCSIFNETMASK " + ifname));
  return {};
}

tl::expected<void, std::string> set_mac(const std::string& ifname, const uint8_t (&mac)[6]) {
  IoctlSocket s;
  ifreq ifr = ifreq_for(ifname);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  std::memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
  if (ioctl(s.fd(), SIOCSIFHWADDR, &ifr) != 0) return tl::unexpected(errno_text("SIOCSIFHWADDR " + ifname));
  return {};
}

tl::expected<void, std::string> set_up(const std::string& ifname) {
  IoctlSocket s;
  ifreq ifr = ifreq_for(ifname);
  if (ioctl(s.fd(), SIOCGIFFLAGS, &ifr) != 0) return tl::unexpected(errno_text("SIOCGIFFLAGS " + ifname));
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (ioctl(s.fd(), SIOCSIFFLAGS, &ifr) != 0) return tl::unexpected(errno_text("SIOCSIFFLAGS " + ifname));
  return {};
}

tl::expected<void, std::string> add_neighbour(const std::string& ifname, uint32_t ip,
                                              const uint8_t (&mac)[6]) {
  IoctlSocket s;
  arpreq req{};
  const sockaddr_in pa = inet(ip);
  std::memcpy(&req.arp_pa, &pa, sizeof pa);
  req.arp_ha.sa_family = ARPHRD_ETHER;
  std::memcpy(req.arp_ha.sa_data, mac, 6);
  req.arp_flags = ATF_PERM | ATF_COM;
  std::strncpy(req.arp_dev, ifname.c_str(), sizeof req.arp_dev - 1);
  if (ioctl(s.fd(), SIOCSARP, &req) != 0) return tl::unexpected(errno_text("SIOCSARP " + ifname));
  return {};
}

tl::expected<void, std::string> add_route(const std::string& ifname, Ipv4Net dst) {
  IoctlSocket s;
  rtentry rt{};
  const sockaddr_in d = inet(dst.addr & mask_of(dst.prefix));
  const sockaddr_in m = inet(mask_of(dst.prefix));
  std::memcpy(&rt.rt_dst, &d, sizeof d);
  std::memcpy(&rt.rt_genmask, &m, sizeof m);
  rt.rt_flags = RTF_UP;
  std::string dev = ifname;
  rt.rt_dev = dev.data();
  if (ioctl(s.fd(), SIOCADDRT, &rt) != 0) return tl::unexpected(errno_text("SIOCADDRT via " + ifname));
  return {};
}

tl::expected<void, std::string> disable_tx_offloads(const std::string& ifname) {
  IoctlSocket s;
  ifreq ifr = ifreq_for(ifname);
  ethtool_value v{};
  v.cmd = ETHTOOL_STXCSUM;
  v.data = 0;
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  if (ioctl(s.fd(), SIOCETHTOOL, &ifr) != 0) return tl::unexpected(errno_text("ETHTOOL_STXCSUM " + ifname));
  return {};
}

tl::expected<int, std::string> open_packet_socket(const NetNamespace& ns, const std::string& ifname) {
  int fd = -1;
  auto opened = ns.run([&]() -> tl::expected<void, std::string> {
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) return tl::unexpected(errno_text("socket(AF_PACKET)"));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (sll.sll_ifindex == 0) return tl::unexpected(errno_text("if_nametoindex " + ifname));
    if (bind(fd, reinterpret_cast<const sockaddr*>(&sll), sizeof sll) != 0) {
      return tl::unexpected(errno_text("bind AF_PACKET " + ifname));
    }
    return {};
  });
  if (!opened) {
    if (fd >= 0) close(fd);
    return tl::unexpected(opened.error());
  }
  return fd;
}

tl::expected<int, std::string> create_tun(const NetNamespace& ns, const std::string& name, Ipv4Net address,
                                          Ipv4Net route) {
  int fd = -1;
  auto made = ns.run([&]() -> tl::expected<void, std::string> {
    // Opened inside the namespace: the device is created in the opener's one.
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return tl::unexpected(errno_text("open /dev/net/tun"));
    ifreq ifr = ifreq_for(name);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) return tl::unexpected(errno_text("TUNSETIFF " + name));
    if (auto r = set_address(name, address); !r) return r;
    if (auto r = set_up(name); !r) return r;
    if (auto r = set_up("lo"); !r) return r;
    return add_route(name, route);
  });
  if (!made) {
    if (fd >= 0) close(fd);
    return tl::unexpected(made.error());
  }
  return fd;
}

}  // namespace ftz::evasion
