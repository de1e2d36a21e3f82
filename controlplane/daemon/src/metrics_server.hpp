#pragma once
// `ftzgated --metrics-listen HOST:PORT`: GET /metrics, served by
// libmicrohttpd on a thread of its own: over HTTPS with --metrics-tls-cert
// and --metrics-tls-key (GnuTLS, as Debian builds libmicrohttpd), and with
// HTTP basic authentication against --metrics-users (NAME:HASH lines, the
// hashes crypt(3) makes: `openssl passwd -6`, `mkpasswd -m yescrypt`).
// Read-only. Every other path is 404, every other method 405, a scrape
// without valid credentials 401.

#include <microhttpd.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tl/expected.hpp>

namespace ftz::daemon {

class MetricsServer {
 public:
  // Called on the server's thread for each scrape.
  using Render = std::function<std::string()>;

  struct Access {
    std::string cert_pem;  // both or neither: HTTPS
    std::string key_pem;
    std::map<std::string, std::string> users;  // name -> crypt(3) hash; empty: no authentication
  };
  // What --metrics-tls-cert, --metrics-tls-key and --metrics-users name,
  // read and checked: the users file must be readable by its owner only
  // (it holds password hashes), and passwords never cross the network in
  // clear (users without TLS only on a loopback `listen`). An error names
  // the file, line and what is wrong.
  static tl::expected<Access, std::string> load_access(const std::string& listen,
                                                       const std::string& cert_file,
                                                       const std::string& key_file,
                                                       const std::string& users_file);

  // `listen`: IPV4:PORT or [IPV6]:PORT, numeric (port 0: any free one).
  static tl::expected<std::unique_ptr<MetricsServer>, std::string> start(const std::string& listen,
                                                                         Render render, Access access = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  [[nodiscard]] uint16_t port() const noexcept { return port_; }
  [[nodiscard]] bool tls() const noexcept { return !access_.cert_pem.empty(); }

 private:
  MetricsServer(Render render, Access access) : render_(std::move(render)), access_(std::move(access)) {}
  // The request's basic credentials name a user and match its hash.
  bool authorized(MHD_Connection* c) const;
  static MHD_Result answer(void* self, MHD_Connection* c, const char* url, const char* method,
                           const char* version, const char* upload, size_t* upload_size,
                           void** state) noexcept;

  Render render_;
  Access access_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace ftz::daemon
