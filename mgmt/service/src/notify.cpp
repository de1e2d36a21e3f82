#include "ftz/service/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <string>

namespace ftz::service {

namespace {

void notify(const std::string& state) {
  // An error (no manager listening any more) changes nothing for the
  // daemon: systemd is its only reader.
  (void)sd_notify(0, state.c_str());
}

}  // namespace

Notifier::Notifier() {
  uint64_t usec = 0;
  // 0 keeps WATCHDOG_USEC in the environment: a daemon that restarts in place
  // (execv, the same pid) is watched again.
  if (sd_watchdog_enabled(0, &usec) > 0) interval_ = std::chrono::microseconds(usec);
}

void Notifier::ready(std::string_view status) const {
  std::string s("READY=1\nSTATUS=");
  s.append(status);
  notify(s);
}

void Notifier::stopping() const {
  notify("STOPPING=1");
}

void Notifier::alive(std::chrono::steady_clock::time_point now) {
  if (!watchdog() || now < next_) return;
  notify("WATCHDOG=1");
  next_ = now + interval_ / 2;
}

}  // namespace ftz::service
