#pragma once
// A syslog collector on 127.0.0.1 for the tests
// (tests/controlplane/syslog_collector.py) run in the background: UDP, TCP
// or TLS; what it received, one message a line.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ftz/test/files.hpp"

namespace ftz::test {

class SyslogCollector {
 public:
  // Files go to `dir`; TLS needs `dir`/collector.crt and .key.
  explicit SyslogCollector(const TempDir& dir) : dir_(dir) {}
  ~SyslogCollector() { kill(); }
  SyslogCollector(const SyslogCollector&) = delete;
  SyslogCollector& operator=(const SyslogCollector&) = delete;

  // Starts it on `port` (0: any free one); false with the reason in error().
  // `client_ca` (TLS): clients must present a certificate it signed.
  bool start(const std::string& proto, int port, const std::string& client_ca = "") {
    const std::string ready = dir_.file("collector.ready");
    std::filesystem::remove(ready);
    std::string cmd = "/usr/bin/python3 " + source_dir() + "/tests/controlplane/syslog_collector.py " +
                      proto + " " + std::to_string(port) + " " + ready + " " + dir_.file("received.jsonl");
    if (proto == "tls") cmd += " " + dir_.file("collector.crt") + " " + dir_.file("collector.key");
    if (!client_ca.empty()) cmd += " " + client_ca;
    if (std::system((cmd + " > " + dir_.file("collector.log") + " 2>&1 &").c_str()) != 0) return false;
    for (int i = 0; i < 100 && !std::filesystem::exists(ready); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(ready);
    return static_cast<bool>(in >> port_ >> pid_);
  }
  [[nodiscard]] std::string error() const { return read_text(dir_.file("collector.log")); }
  [[nodiscard]] int port() const { return port_; }
  void kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    pid_ = -1;
  }
  // Every message so far ("BAD ..." for a frame it could not read).
  [[nodiscard]] std::vector<std::string> received() const {
    std::vector<std::string> out;
    std::ifstream in(dir_.file("received.jsonl"));
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      out.push_back(j.is_string() ? j.get<std::string>() : "BAD " + line);
    }
    return out;
  }
  // Waits (up to 20 s) until it holds at least `n` messages.
  [[nodiscard]] std::vector<std::string> wait_received(size_t n) const {
    std::vector<std::string> got;
    for (int i = 0; i < 200 && (got = received()).size() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return got;
  }

 private:
  const TempDir& dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ftz::test
