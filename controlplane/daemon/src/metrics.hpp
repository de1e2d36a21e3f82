#pragma once
// ftzgated's Prometheus metrics (docs/noc.md, "Metrics"): rendered from the
// same replies `ftzctl show system status | dataplanes | compliance |
// alerts` prints, so that every interface shows the same numbers. Counters
// come from the data planes' totals, which never go backwards across their
// restarts (DataplaneInfo.totals).
//
// The text exposition format 0.0.4: each family once, with `# HELP` and
// `# TYPE` before its samples; label values escaped.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "ftzgate/v1/management.pb.h"

namespace ftz::daemon {

// What a scrape shows, as the Management service's replies hold it.
struct MetricsInput {
  ftzgate::v1::ShowSystemStatusReply system;
  ftzgate::v1::ShowDataplanesReply dataplanes;
  ftzgate::v1::ShowComplianceReply compliance;
  ftzgate::v1::ShowAlertsReply alerts;  // its counters only
};

std::string render_metrics(const MetricsInput& in);

// The syslog export's counters (ftzgated --syslog), appended to the above.
struct SyslogCounters {
  uint64_t sent = 0;
  uint64_t dropped = 0;
  uint64_t reconnects = 0;
  bool connected = false;
};
std::string render_syslog_metrics(const SyslogCounters& c);

// One exposition: families in the order written, samples under the family
// last started.
class Exposition {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  enum class Type : uint8_t { kCounter, kGauge };

  void family(std::string_view name, Type type, std::string_view help);
  void sample(Labels labels, uint64_t value);
  void sample(Labels labels, int64_t value);
  void sample(Labels labels, double value);
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  void start_sample(Labels labels);
  std::string text_;
  std::string name_;
};

}  // namespace ftz::daemon
