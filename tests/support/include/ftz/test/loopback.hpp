#pragma once
// A port on 127.0.0.1 that nothing uses now, for a server a test starts
// (snmpd, etcd): the kernel picks it for a socket bound to port 0, which is
// then closed. `type`: SOCK_STREAM or SOCK_DGRAM.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ftz::test {

inline int free_loopback_port(int type) {
  const int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace ftz::test
