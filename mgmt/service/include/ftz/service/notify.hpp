#pragma once
// systemd's side of a daemon (sd_notify(3)): Type=notify units wait for
// ready() (its status line shows in systemctl status), and with WatchdogSec=
// restart a daemon whose main loop stopped calling alive(). Outside systemd
// every call does nothing.
#include <chrono>
#include <string_view>

namespace ftz::service {

class Notifier {
 public:
  // Reads the watchdog interval systemd gave this process (none: no pings).
  Notifier();

  // READY=1 with a status line: the daemon serves.
  void ready(std::string_view status) const;
  // STOPPING=1: a stop that takes a while (flows drained, records written)
  // is not mistaken for a hang.
  void stopping() const;
  // From the main loop, as often as it turns: a keep-alive at most every
  // half interval (one datagram then, nothing in between).
  void alive(std::chrono::steady_clock::time_point now);

  bool watchdog() const noexcept { return interval_.count() > 0; }

 private:
  std::chrono::microseconds interval_{0};
  std::chrono::steady_clock::time_point next_{};
};

}  // namespace ftz::service
