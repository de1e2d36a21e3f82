#include "metrics_server.hpp"

#include <arpa/inet.h>
#include <crypt.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ftz/base/secret_file.hpp"

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

constexpr const char* kRealm = "ftzgate metrics";

tl::expected<std::string, std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(path + ": cannot read: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  if (s.str().size() > (1U << 20)) return tl::unexpected(path + ": larger than 1 MiB");
  return s.str();
}

// crypt(3) of `password` with `hash`'s method and salt; empty when the
// method is unknown (crypt_r's "*0" / "*1").
std::string crypt_of(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (out == nullptr || out[0] == '*') return {};
  return out;
}

bool loopback(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace

tl::expected<MetricsServer::Access, std::string> MetricsServer::load_access(const std::string& listen,
                                                                            const std::string& cert_file,
                                                                            const std::string& key_file,
                                                                            const std::string& users_file) {
  Access a;
  if (cert_file.empty() != key_file.empty())
    return tl::unexpected(std::string("--metrics-tls-cert and --metrics-tls-key go together"));
  if (!cert_file.empty()) {
    auto cert = read_small_file(cert_file);
    if (!cert) return tl::unexpected(cert.error());
    auto key = base::read_secret_file(key_file, 1U << 20);
    if (!key) return tl::unexpected(key.error());
    if (cert->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      return tl::unexpected(cert_file + ": not a PEM certificate");
    if (key->find("PRIVATE KEY-----") == std::string::npos)
      return tl::unexpected(key_file + ": not a PEM private key");
    a.cert_pem = std::move(*cert);
    a.key_pem = std::move(*key);
  }
  if (users_file.empty()) return a;
  auto text = base::read_secret_file(users_file, 1U << 20);
  if (!text) return tl::unexpected(text.error());
  std::istringstream lines(*text);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    const std::string where = users_file + ":" + std::to_string(n) + ": ";
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0 || colon > 64)
      return tl::unexpected(where + "not NAME:HASH (a name of 1 to 64 bytes)");
    const std::string name = line.substr(0, colon);
    const std::string hash = line.substr(colon + 1);
    if (hash.empty() || hash[0] != '$' || crypt_of("", hash).empty()) {
      std::string why = where;
      why += "the hash of ";
      why += name;
      why += " is not one crypt(3) knows (make it with openssl passwd -6 or mkpasswd)";
      return tl::unexpected(why);
    }
    if (!a.users.emplace(name, hash).second) return tl::unexpected(where + name + " twice");
  }
  if (a.users.empty()) return tl::unexpected(users_file + ": no NAME:HASH line");
  const std::string host = listen.substr(0, listen.rfind(':'));
  const std::string bare = host.size() >= 2 && host.front() == '[' ? host.substr(1, host.size() - 2) : host;
  if (a.cert_pem.empty() && !loopback(bare))
    return tl::unexpected("--metrics-users on " + listen +
                          " without --metrics-tls-cert: basic authentication would send the passwords in "
                          "clear (only on loopback)");
  return a;
}

bool MetricsServer::authorized(MHD_Connection* c) const {
  if (access_.users.empty()) return true;
  char* password = nullptr;
  char* user = MHD_basic_auth_get_username_password(c, &password);
  const std::string name = user != nullptr ? user : "";
  const std::string given = password != nullptr ? password : "";
  if (user != nullptr) MHD_free(user);
  if (password != nullptr) MHD_free(password);
  const auto u = access_.users.find(name);
  // An unknown name costs a hash too: the time says nothing about names.
  const std::string& hash = u != access_.users.end() ? u->second : access_.users.begin()->second;
  const std::string made = crypt_of(given, hash);
  return u != access_.users.end() && made.size() == hash.size() &&
         CRYPTO_memcmp(made.data(), hash.data(), hash.size()) == 0;
}

tl::expected<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(const std::string& listen,
                                                                               Render render, Access access) {
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

  std::unique_ptr<MetricsServer> s(new MetricsServer(std::move(render), std::move(access)));
  // epoll on Linux: gRPC holds many descriptors, which select() could not take.
  unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (addr->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
  // A scrape is small and quick: a few connections at a time, none kept
  // long (a stuck client does not hold a slot). The PEM strings live in
  // s->access_ as long as the daemon.
  if (s->tls()) {
    s->daemon_ = MHD_start_daemon(flags | MHD_USE_TLS, 0, nullptr, nullptr, &MetricsServer::answer, s.get(),
                                  MHD_OPTION_SOCK_ADDR, addr->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 16U,
                                  MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_HTTPS_MEM_KEY,
                                  s->access_.key_pem.c_str(), MHD_OPTION_HTTPS_MEM_CERT,
                                  s->access_.cert_pem.c_str(), MHD_OPTION_END);
  } else {
    s->daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &MetricsServer::answer, s.get(),
                                  MHD_OPTION_SOCK_ADDR, addr->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 16U,
                                  MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
  }
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
    const auto* server = static_cast<MetricsServer*>(self);
    if (!server->authorized(c)) {
      const std::string body = "credentials required\n";
      MHD_Response* r =
          MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
      if (r == nullptr) return MHD_NO;
      const MHD_Result ok = MHD_queue_basic_auth_fail_response(c, kRealm, r);
      MHD_destroy_response(r);
      return ok;
    }
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
      return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics only\n", "text/plain", "GET, HEAD");
    if (std::strcmp(url, "/metrics") != 0)
      return reply(c, MHD_HTTP_NOT_FOUND, "GET /metrics only\n", "text/plain");
    return reply(c, MHD_HTTP_OK, server->render_(), kContentType);
  } catch (const std::exception&) {
    // Out of memory: the scrape fails, the daemon goes on.
    return MHD_NO;
  }
}

}  // namespace ftz::daemon
