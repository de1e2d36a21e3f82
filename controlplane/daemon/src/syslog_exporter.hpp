#pragma once
// `ftzgated --syslog udp|tcp|tls://HOST:PORT`: the audit log's records (the
// compliance notices among them) and the data planes' alerts as RFC 5424
// messages to a collector: UDP one datagram each (RFC 5426), TCP and TLS
// with octet-counting framing (RFC 6587 3.4.1, RFC 5425). The message is
// the record's JSON line: an audit record exactly as the log holds it, its
// chain hash included.
//
// post() never blocks: a bounded queue between the callers and a sender
// thread. A full queue drops the message and counts it; a collector that is
// gone is reconnected with backoff (1 s doubling to 60 s), the queue
// waiting meanwhile.

#include <openssl/ssl.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tl/expected.hpp>

#include "ftzgate/v1/management.pb.h"
#include "metrics.hpp"

namespace ftz::daemon {

struct SyslogOptions {
  std::string url;      // udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT
  std::string ca_file;  // tls: the collector's CA (required)
  // tls: our certificate (chain) and key, for a collector that requires
  // clients to present one (both or neither).
  std::string cert_file;
  std::string key_file;
  std::string facility = "local0";
  size_t queue = 10'000;  // messages waiting, at most
};

class SyslogExporter {
 public:
  // RFC 5424 severities used here.
  enum class Severity : uint8_t { kWarning = 4, kNotice = 5, kInfo = 6 };

  // Checks the options; the thread starts at once and connects on its own.
  static tl::expected<std::unique_ptr<SyslogExporter>, std::string> start(SyslogOptions options);
  ~SyslogExporter();  // sends what the queue holds for up to 2 s, then stops
  SyslogExporter(const SyslogExporter&) = delete;
  SyslogExporter& operator=(const SyslogExporter&) = delete;

  // `msgid`: "audit", "alert", "compliance"; `msg`: one line of JSON.
  void post(Severity severity, const char* msgid, const std::string& msg);
  // sent; dropped (the queue was full); reconnects (after the first).
  [[nodiscard]] SyslogCounters counters() const;
  [[nodiscard]] const std::string& url() const noexcept { return options_.url; }

 private:
  enum class Transport : uint8_t { kUdp, kTcp, kTls };
  explicit SyslogExporter(SyslogOptions o) : options_(std::move(o)) {}
  void run();
  bool connect_once();
  bool accepted_by_peer();  // TLS 1.3: no refusal of our certificate right after
  void disconnect();
  bool send_frame(const std::string& message);

  SyslogOptions options_;
  Transport transport_ = Transport::kUdp;
  std::string host_;
  std::string port_;
  int facility_ = 16;
  std::string hostname_;
  std::string procid_;
  SSL_CTX* ctx_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // framed-to-be messages (RFC 5424 text)
  bool stopping_ = false;
  SyslogCounters counters_;
  std::thread thread_;

  // The sender thread's own.
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool ever_connected_ = false;
};

// The MSG of an alert a data plane sent: the EVE alert event (docs/eve.md),
// as the data plane's EVE file has it, without the keyed token and with the
// data plane's id under ftz.
std::string alert_syslog_message(const ftzgate::v1::AlertRecord& r);

}  // namespace ftz::daemon
