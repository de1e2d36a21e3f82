#include "syslog_exporter.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "ftz/engine/eve.hpp"

namespace ftz::daemon {

namespace {

// How long a new TLS 1.3 connection waits for the collector to refuse our
// certificate (accepted_by_peer()).
constexpr auto kRefusalWait = std::chrono::milliseconds(300);

// RFC 5424 6.2.1: the facilities an appliance's records belong under.
constexpr std::array<std::pair<const char*, int>, 12> kFacilities = {{{"auth", 4},
                                                                      {"daemon", 3},
                                                                      {"authpriv", 10},
                                                                      {"audit", 13},
                                                                      {"local0", 16},
                                                                      {"local1", 17},
                                                                      {"local2", 18},
                                                                      {"local3", 19},
                                                                      {"local4", 20},
                                                                      {"local5", 21},
                                                                      {"local6", 22},
                                                                      {"local7", 23}}};

// RFC 5424 TIMESTAMP: UTC with milliseconds.
std::string timestamp_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms));
  return std::string(date) + frac;
}

// RFC 5424 HOSTNAME: printable US-ASCII without spaces, "-" when unknown.
std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "-";
  std::string h = buf;
  for (char& c : h) {
    if (c < 33 || c > 126) c = '-';
  }
  return h;
}

}  // namespace

tl::expected<std::unique_ptr<SyslogExporter>, std::string> SyslogExporter::start(SyslogOptions options) {
  std::unique_ptr<SyslogExporter> s(new SyslogExporter(std::move(options)));
  const std::string& url = s->options_.url;
  const size_t scheme = url.find("://");
  const std::string kind = scheme == std::string::npos ? "" : url.substr(0, scheme);
  if (kind == "udp") {
    s->transport_ = Transport::kUdp;
  } else if (kind == "tcp") {
    s->transport_ = Transport::kTcp;
  } else if (kind == "tls") {
    s->transport_ = Transport::kTls;
  } else {
    return tl::unexpected("--syslog " + url + ": not udp://, tcp:// or tls://HOST:PORT");
  }
  const std::string where = url.substr(scheme + 3);
  const size_t colon = where.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == where.size())
    return tl::unexpected("--syslog " + url + ": no HOST:PORT");
  s->host_ = where.substr(0, colon);
  if (s->host_.size() >= 2 && s->host_.front() == '[' && s->host_.back() == ']')
    s->host_ = s->host_.substr(1, s->host_.size() - 2);
  s->port_ = where.substr(colon + 1);
  const auto f = std::find_if(kFacilities.begin(), kFacilities.end(),
                              [&](const auto& e) { return s->options_.facility == e.first; });
  if (f == kFacilities.end())
    return tl::unexpected("--syslog-facility " + s->options_.facility +
                          ": one of auth, authpriv, daemon, audit, local0 to local7");
  s->facility_ = f->second;
  if (s->options_.queue == 0) return tl::unexpected(std::string("--syslog-queue: at least 1"));
  if (s->transport_ == Transport::kTls) {
    if (s->options_.ca_file.empty())
      return tl::unexpected("--syslog " + url + ": tls needs --syslog-ca, the collector's CA");
    s->ctx_ = SSL_CTX_new(TLS_client_method());
    if (s->ctx_ == nullptr) return tl::unexpected(std::string("--syslog: OpenSSL cannot make a TLS context"));
    SSL_CTX_set_min_proto_version(s->ctx_, TLS1_2_VERSION);
    SSL_CTX_set_verify(s->ctx_, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(s->ctx_, s->options_.ca_file.c_str(), nullptr) != 1)
      return tl::unexpected("--syslog-ca " + s->options_.ca_file + ": not a readable PEM certificate");
    if (s->options_.cert_file.empty() != s->options_.key_file.empty())
      return tl::unexpected(std::string("--syslog-cert and --syslog-key go together"));
    if (!s->options_.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(s->ctx_, s->options_.cert_file.c_str()) != 1)
        return tl::unexpected("--syslog-cert " + s->options_.cert_file + ": not a readable PEM certificate");
      if (SSL_CTX_use_PrivateKey_file(s->ctx_, s->options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(s->ctx_) != 1) {
        // OpenSSL compares the key with the certificate as it loads it.
        const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        ERR_clear_error();
        return tl::unexpected("--syslog-key " + s->options_.key_file + ": " +
                              (mismatch ? "not the key of " + s->options_.cert_file
                                        : std::string("not a readable PEM private key")));
      }
    }
  } else if (!s->options_.ca_file.empty() || !s->options_.cert_file.empty() ||
             !s->options_.key_file.empty()) {
    return tl::unexpected(std::string("--syslog-ca, --syslog-cert and --syslog-key go with tls://"));
  }
  s->hostname_ = host_name();
  s->procid_ = std::to_string(::getpid());
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

SyslogExporter::~SyslogExporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  disconnect();
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

void SyslogExporter::post(Severity severity, const char* msgid, const std::string& msg) {
  // PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
  std::string m = "<" + std::to_string(facility_ * 8 + static_cast<int>(severity)) + ">1 " + timestamp_now() +
                  " " + hostname_ + " ftzgated " + procid_ + " " + msgid + " - " + msg;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.queue) {
      ++counters_.dropped;
      return;
    }
    queue_.push_back(std::move(m));
  }
  wake_.notify_one();
}

SyslogCounters SyslogExporter::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

bool SyslogExporter::connect_once() {
  addrinfo hints{};
  hints.ai_socktype = transport_ == Transport::kUdp ? SOCK_DGRAM : SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found) != 0) return false;
  for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    // A collector that stops reading fails a send after 5 s (and a
    // connect that hangs likewise): the connection is made again.
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (fd_ < 0) return false;
  if (transport_ == Transport::kTls) {
    ssl_ = SSL_new(ctx_);
    // The certificate must name the collector: its address (an IP SAN) or
    // its DNS name (then also sent as SNI).
    in6_addr ip{};
    const bool literal =
        inet_pton(AF_INET, host_.c_str(), &ip) == 1 || inet_pton(AF_INET6, host_.c_str(), &ip) == 1;
    const bool named =
        ssl_ != nullptr && (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host_.c_str()) == 1
                                    : SSL_set_tlsext_host_name(ssl_, host_.c_str()) == 1 &&
                                          SSL_set1_host(ssl_, host_.c_str()) == 1);
    const bool ok = named && SSL_set_fd(ssl_, fd_) == 1 && SSL_connect(ssl_) == 1 && accepted_by_peer();
    if (!ok) {
      ERR_clear_error();
      disconnect();
      return false;
    }
  }
  std::lock_guard lock(mu_);
  if (ever_connected_) ++counters_.reconnects;
  ever_connected_ = true;
  counters_.connected = true;
  return true;
}

// In TLS 1.3 the client's handshake ends before the server has judged the
// client's certificate: a collector that refuses it says so in an alert
// right after. Waiting a moment for that alert keeps messages from going
// into a connection that is already refused (they would count as sent).
bool SyslogExporter::accepted_by_peer() {
  if (SSL_version(ssl_) < TLS1_3_VERSION) return true;
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0) return false;
  bool accepted = true;
  const auto deadline = std::chrono::steady_clock::now() + kRefusalWait;
  for (;;) {
    char byte = 0;
    if (SSL_peek(ssl_, &byte, 1) > 0) break;  // the collector talks: not a refusal
    const int err = SSL_get_error(ssl_, 0);
    if (err != SSL_ERROR_WANT_READ) {
      accepted = false;  // an alert or a close
      break;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    (void)::poll(&p, 1, static_cast<int>(left.count()));
  }
  ERR_clear_error();
  return ::fcntl(fd_, F_SETFL, flags) == 0 && accepted;
}

void SyslogExporter::disconnect() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  std::lock_guard lock(mu_);
  counters_.connected = false;
}

bool SyslogExporter::send_frame(const std::string& message) {
  if (transport_ == Transport::kUdp) return ::send(fd_, message.data(), message.size(), MSG_NOSIGNAL) >= 0;
  // Octet counting: "LENGTH SP MESSAGE".
  const std::string frame = std::to_string(message.size()) + " " + message;
  size_t done = 0;
  while (done < frame.size()) {
    const size_t left = frame.size() - done;
    if (transport_ == Transport::kTls) {
      const int n = SSL_write(ssl_, frame.data() + done, static_cast<int>(std::min<size_t>(left, 1 << 30)));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      done += static_cast<size_t>(n);
    } else {
      const ssize_t n = ::send(fd_, frame.data() + done, left, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
  }
  return true;
}

void SyslogExporter::run() {
  using std::chrono::seconds;
  using std::chrono::steady_clock;
  seconds backoff{1};
  steady_clock::time_point stop_by{};
  for (;;) {
    std::string next;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        // What is queued gets up to 2 s to leave, if a collector is there.
        if (stop_by == steady_clock::time_point{}) stop_by = steady_clock::now() + seconds(2);
        if (queue_.empty() || fd_ < 0 || steady_clock::now() > stop_by) return;
      }
      next = queue_.front();
    }
    // A collector that refuses the connection or the message: wait, longer
    // each time, then try again (the message stays first in the queue).
    if ((fd_ < 0 && !connect_once()) || !send_frame(next)) {
      disconnect();
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      backoff = std::min(backoff * 2, seconds(60));
      continue;
    }
    backoff = seconds(1);
    std::lock_guard lock(mu_);
    queue_.pop_front();
    ++counters_.sent;
  }
}

std::string alert_syslog_message(const ftzgate::v1::AlertRecord& r) {
  const ftzgate::v1::Alert& x = r.alert();
  // The wire enums are the engine's, one up (0 is unspecified).
  const auto action = static_cast<engine::Action>(std::clamp(static_cast<int>(x.verdict()) - 1, 0, 3));
  const auto data_class = static_cast<engine::DataClass>(
      std::clamp(static_cast<int>(x.data_class()) - 1, 0, static_cast<int>(engine::DataClass::kCount) - 1));
  engine::AlertRecordFields f;
  f.ts_ns = x.ts_unix_ns();
  f.flow_id = x.flow_id();
  f.src_ip = x.src_ip();
  f.dest_ip = x.dest_ip();
  f.src_port = static_cast<uint16_t>(x.src_port());
  f.dest_port = static_cast<uint16_t>(x.dest_port());
  f.proto = static_cast<uint8_t>(x.ip_proto());
  f.to_server = x.to_server();
  f.verdict = action;
  f.signature_id = x.signature_id();
  f.signature = x.signature();
  f.data_class = data_class;
  f.src_zone = x.src_zone();
  f.dest_zone = x.dest_zone();
  f.tenant = x.tenant();
  f.rule = x.rule();
  f.masked = x.masked();
  f.stream_offset = x.stream_offset();
  f.dataplane = r.dataplane();
  std::string out;
  engine::format_eve_alert_record(f, out);
  return out;
}

}  // namespace ftz::daemon
