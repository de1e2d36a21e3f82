#pragma once
// `ftzgated --metrics-listen HOST:PORT`: GET /metrics over plain HTTP,
// served by libmicrohttpd on a thread of its own. Read-only and without
// accounts: bind it to loopback, or to a management network a scraper
// reaches (docs/noc.md). Every other path is 404, every other method 405.

#include <microhttpd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tl/expected.hpp>

namespace ftz::daemon {

class MetricsServer {
 public:
  // Called on the server's thread for each scrape.
  using Render = std::function<std::string()>;

  // `listen`: IPV4:PORT or [IPV6]:PORT, numeric (port 0: any free one).
  static tl::expected<std::unique_ptr<MetricsServer>, std::string> start(const std::string& listen,
                                                                         Render render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  [[nodiscard]] uint16_t port() const noexcept { return port_; }

 private:
  explicit MetricsServer(Render render) : render_(std::move(render)) {}
  static MHD_Result answer(void* self, MHD_Connection* c, const char* url, const char* method,
                           const char* version, const char* upload, size_t* upload_size,
                           void** state) noexcept;

  Render render_;
  MHD_Daemon* daemon_ = nullptr;
  uint16_t port_ = 0;
};

}  // namespace ftz::daemon
