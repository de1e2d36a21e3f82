#include "metrics_server.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cstring>

namespace ftz::daemon {

namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

MHD_Result reply(MHD_Connection* c, unsigned int status, const std::string& body, const char* type,
                 const char* allow = nullptr) {
  MHD_Response* r =
      MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (allow != nullptr) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  const MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

}  // namespace

tl::expected<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(const std::string& listen,
                                                                               Render render) {
  // HOST:PORT, the host numeric ([...] around an IPv6 address).
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return tl::unexpected("--metrics-listen " + listen + ": not HOST:PORT");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int err = getaddrinfo(host.c_str(), listen.c_str() + colon + 1, &hints, &found); err != 0)
    return tl::unexpected("--metrics-listen " + listen + ": " + gai_strerror(err) +
                          " (a numeric address:port)");
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addr(found, &freeaddrinfo);

  std::unique_ptr<MetricsServer> s(new MetricsServer(std::move(render)));
  // epoll on Linux: gRPC holds many descriptors, which select() could not take.
  unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (addr->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  // A scrape is small and quick: a few connections at a time, none kept
  // long (a stuck client does not hold a slot).
  s->daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &MetricsServer::answer, s.get(),
                                MHD_OPTION_SOCK_ADDR, addr->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 16U,
                                MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
  if (s->daemon_ == nullptr)
    return tl::unexpected("--metrics-listen " + listen + ": cannot listen: " + std::strerror(errno));
  const MHD_DaemonInfo* info = MHD_get_daemon_info(s->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  s->port_ = info != nullptr ? info->port : 0;
  return s;
}

MetricsServer::~MetricsServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

MHD_Result MetricsServer::answer(void* self, MHD_Connection* c, const char* url, const char* method,
                                 const char* /*version*/, const char* /*upload*/, size_t* upload_size,
                                 void** /*state*/) noexcept {
  try {
    if (*upload_size != 0) {
      *upload_size = 0;  // a body is not read: the method is refused below
      return MHD_YES;
    }
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
      return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics only\n", "text/plain", "GET, HEAD");
    if (std::strcmp(url, "/metrics") != 0)
      return reply(c, MHD_HTTP_NOT_FOUND, "GET /metrics only\n", "text/plain");
    return reply(c, MHD_HTTP_OK, static_cast<MetricsServer*>(self)->render_(), kContentType);
  } catch (const std::exception&) {
    // Out of memory: the scrape fails, the daemon goes on.
    return MHD_NO;
  }
}

}  // namespace ftz::daemon
