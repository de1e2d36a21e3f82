// ftzgated's Prometheus exposition (controlplane/daemon/src/metrics.cpp)
// read back by the Prometheus project's parser (check_metrics.py, with the
// format's rules the parser lets pass), names and label values that need
// escaping included; and every metric the shipped alert rules and
// dashboard (examples/prometheus) use is one ftzgated exposes.
#include "metrics.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "ftz/test/exposition.hpp"
#include "ftz/test/files.hpp"

namespace ftz::daemon {
namespace {

namespace pb = ftzgate::v1;

MetricsInput example() {
  MetricsInput in;
  in.system.set_version("1.2.3");
  in.system.set_host("gw-1");
  in.system.set_started_unix_s(1'780'000'000);
  in.system.set_running_generation(7);
  in.system.set_audit_last_seq(42);
  in.dataplanes.set_running_generation(7);
  for (const char* id : {"dp-a", "dp \"b\"\\2"}) {
    pb::DataplaneInfo* d = in.dataplanes.add_dataplanes();
    d->set_id(id);
    d->set_state(std::string(id) == "dp-a" ? "running" : "disconnected");
    d->set_running_generation(7);
    d->set_stats_unix_s(1'780'000'100);
    pb::DataplaneStats* t = d->mutable_totals();
    t->set_packets(1'000'000'000'123);
    t->set_bytes(9'007'199'254'740'993);  // above 2^53: exact in the text
    t->set_dropped(5);
    (*t->mutable_reasons())["policy_block"] = 4;
    (*t->mutable_reasons())["tcp_bad_checksum"] = 1;
    pb::PortStats* p = t->add_ports();
    p->set_name("uplink");
    p->set_role("outside");
    p->set_link_up(true);
    p->set_rx_bytes(123'456);
  }
  in.compliance.set_year(2026);
  pb::ComplianceRow* r = in.compliance.add_rows();
  r->set_tenant("pacific-re");
  r->set_data_class(pb::DATA_CLASS_SENSITIVE_PI);
  r->set_individuals(9'000);
  r->set_estimate(9'012.5);
  r->set_state(pb::THRESHOLD_STATE_WARN);
  in.alerts.set_received(17);
  return in;
}

// The checker's verdict on `text`.
test::CheckedExposition check(const std::string& text) {
  test::TempDir dir("metrics");
  std::ofstream(dir.file("m.txt")) << text;
  return test::check_exposition(dir.file("m.txt"));
}

TEST(Metrics, TheExpositionIsWhatPrometheusParsesAndSaysWhatTheRepliesSay) {
  const std::string text = render_metrics(example());
  const test::CheckedExposition c = check(text);
  ASSERT_EQ(c.status, 0) << c.output << "\n" << text;
  EXPECT_EQ(c.samples.at("ftzgate_running_generation{}"), 7);
  EXPECT_EQ(c.samples.at("ftzgate_build_info{host=gw-1,version=1.2.3,}"), 1);
  EXPECT_EQ(c.samples.at("ftzgate_dataplane_state{dataplane=dp-a,state=running,}"), 1);
  EXPECT_EQ(c.samples.at("ftzgate_dataplane_state{dataplane=dp-a,state=behind,}"), 0);
  // A label value with a quote and a backslash comes back as it was.
  EXPECT_EQ(c.samples.at("ftzgate_dataplane_state{dataplane=dp \"b\"\\2,state=disconnected,}"), 1);
  EXPECT_EQ(c.samples.at("ftzgate_dataplane_reason_packets_total{dataplane=dp-a,reason=policy_block,}"), 4);
  EXPECT_EQ(c.samples.at("ftzgate_tenant_individuals{class=sensitive_pi,tenant=pacific-re,}"), 9'000);
  EXPECT_EQ(c.samples.at("ftzgate_tenant_threshold_state{class=sensitive_pi,state=warn,tenant=pacific-re,}"),
            1);
  EXPECT_EQ(c.samples.at("ftzgate_alerts_received_total{}"), 17);
  EXPECT_EQ(c.samples.at("ftzgate_port_up{dataplane=dp-a,port=uplink,role=outside,}"), 1);
  EXPECT_EQ(c.samples.at("ftzgate_port_receive_bytes_total{dataplane=dp-a,port=uplink,role=outside,}"),
            123'456);
  // Counters as exact integers, even past a double's 53 bits.
  EXPECT_NE(text.find("ftzgate_dataplane_bytes_total{dataplane=\"dp-a\"} 9007199254740993\n"),
            std::string::npos);
}

TEST(Metrics, TheCheckerRefusesWhatTheFormatForbids) {
  // The oracle itself: a sample without HELP/TYPE, a counter not named
  // _total, a series twice.
  EXPECT_NE(check("x 1\n").status, 0);
  EXPECT_NE(check("# HELP c a\n# TYPE c counter\nc 1\n").status, 0);
  EXPECT_NE(check("# HELP g a\n# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"1\"} 2\n").status, 0);
  EXPECT_EQ(check("# HELP g a\n# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"2\"} 2\n").status, 0);
}

TEST(Metrics, TheShippedAlertRulesAndDashboardUseOnlyExposedMetrics) {
  std::set<std::string> families;
  const std::string text = render_metrics(example());
  const std::regex type_line("# TYPE (\\S+) ");
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it)
    families.insert((*it)[1]);
  const std::regex used("ftzgate_[a-z0-9_]+");
  int names = 0;
  for (const char* f : {"ftzgate-alerts.yml", "ftzgate-dashboard.json"}) {
    const std::string body = test::read_text(test::source_dir() + "/examples/prometheus/" + f);
    ASSERT_FALSE(body.empty()) << f;
    for (std::sregex_iterator it(body.begin(), body.end(), used), end; it != end; ++it) {
      ++names;
      EXPECT_TRUE(families.count(it->str()) != 0) << f << ": " << it->str() << " is not exposed";
    }
  }
  EXPECT_GT(names, 20);
  EXPECT_TRUE(
      nlohmann::json::parse(
          test::read_text(test::source_dir() + "/examples/prometheus/ftzgate-dashboard.json"), nullptr, false)
          .is_object());
}

}  // namespace
}  // namespace ftz::daemon
