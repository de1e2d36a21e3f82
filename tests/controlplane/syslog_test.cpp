// ftzgated --syslog as a SOC's collector sees it: a collector on loopback
// (tests/controlplane/syslog_collector.py) over UDP, TCP and TLS receives
// each audit record as an RFC 5424 message whose text is the record exactly
// as the audit log holds it; with the collector killed, ftzgated goes on
// answering at once and counts what it drops; over TCP it connects again
// when the collector returns. TLS refuses a collector its CA did not sign.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "ftz/test/files.hpp"
#include "ftz/test/ftzgated.hpp"
#include "ftz/test/syslog_collector.hpp"

namespace {

using ftz::test::read_text;
using ftz::test::run_command;
using ftz::test::source_dir;

class SyslogExport : public ftz::test::Ftzgated, public ::testing::WithParamInterface<const char*> {
 protected:
  void TearDown() override {
    collector_.kill();
    Ftzgated::TearDown();
  }
  void start_collector(const std::string& proto, int port, const std::string& client_ca = "") {
    ASSERT_TRUE(collector_.start(proto, port, client_ca)) << collector_.error();
    port_ = collector_.port();
  }

  // A CA, and a collector certificate for 127.0.0.1 it signed (`prefix`ca.crt,
  // `prefix`collector.crt/.key).
  void make_certs(const std::string& prefix) {
    const std::string d = dir_.file(prefix);
    std::ofstream(d + "san.ext") << "subjectAltName=IP:127.0.0.1\n";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    for (const std::string& cmd : {
             "openssl req -x509" + ec + "-keyout " + d + "ca.key -out " + d +
                 "ca.crt -days 2 -subj /CN=test-ca",
             "openssl req" + ec + "-keyout " + d + "collector.key -out " + d +
                 "collector.csr -subj /CN=collector",
             "openssl x509 -req -in " + d + "collector.csr -CA " + d + "ca.crt -CAkey " + d +
                 "ca.key -CAcreateserial -out " + d + "collector.crt -days 2 -extfile " + d + "san.ext",
         }) {
      const auto r = run_command(cmd);
      ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
    }
  }

  // A series of ftzgated's metrics.
  double metric(const std::string& name) {
    const std::string log = read_text(dir_.file("ftzgated.log"));
    const size_t at = log.find("metrics on ");
    const std::string url = log.substr(at + 11, log.find('\n', at) - at - 11);
    const auto r = run_command("curl -s --max-time 5 " + url + " | grep '^" + name + " '");
    return r.status == 0 ? std::stod(r.output.substr(name.size() + 1)) : -1;
  }

  ftz::test::SyslogCollector collector_{dir_};
  int port_ = 0;
};

TEST_P(SyslogExport, AuditRecordsArriveAsRfc5424AndALostCollectorBlocksNothing) {
  const std::string proto = GetParam();
  if (proto == "tls") {
    ASSERT_NO_FATAL_FAILURE(make_certs(""));
  }
  ASSERT_NO_FATAL_FAILURE(start_collector(proto, 0));
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  serve_args_ = {"--syslog",         proto + "://127.0.0.1:" + std::to_string(port_),
                 "--syslog-queue",   "8",
                 "--metrics-listen", "127.0.0.1:0"};
  if (proto == "tls") serve_args_.insert(serve_args_.end(), {"--syslog-ca", dir_.file("ca.crt")});
  ASSERT_NO_FATAL_FAILURE(start());
  for (int i = 0; i < 2; ++i) ASSERT_EQ(ctl("carol", "show system status").status, 0);

  // Every record the serving daemon wrote (`--init` wrote the first, with
  // no export), each exactly as the log holds it.
  std::vector<nlohmann::json> records = audit_records();
  while (!records.empty() && records.front()["event_type"] != "ftzgated_start")
    records.erase(records.begin());
  ASSERT_GE(records.size(), 3u);
  const std::vector<std::string> got = collector_.wait_received(records.size());
  ASSERT_GE(got.size(), records.size()) << read_text(dir_.file("ftzgated.log"));
  // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG
  const std::regex rfc5424(
      R"(^<(\d{1,3})>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [!-~]{1,255} ftzgated \d+ (audit|compliance|alert) - (\{.*\})$)");
  std::map<uint64_t, nlohmann::json> by_seq;
  for (const std::string& m : got) {
    std::smatch f;
    ASSERT_TRUE(std::regex_match(m, f, rfc5424)) << m;
    const auto j = nlohmann::json::parse(f[3].str(), nullptr, false);
    ASSERT_TRUE(j.is_object()) << m;
    // local0 (16): info for what succeeded, warning for what did not.
    EXPECT_EQ(std::stoi(f[1]), 16 * 8 + (j.value("success", true) ? 6 : 4)) << m;
    by_seq[j.value("seq", uint64_t{0})] = j;
  }
  for (const auto& r : records) {
    const uint64_t seq = r["seq"].get<uint64_t>();
    ASSERT_TRUE(by_seq.count(seq) != 0) << "record " << seq << " not received";
    EXPECT_EQ(by_seq[seq], r) << "record " << seq << " changed on the way";
  }

  // The collector dies: every command still answers at once, and what the
  // queue (8) cannot hold is counted.
  collector_.kill();
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(ctl("carol", "show system status").status, 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3)) << "a command waited on syslog";
  }
  EXPECT_GT(metric("ftzgate_syslog_messages_dropped_total"), 0);
  EXPECT_GE(metric("ftzgate_syslog_messages_sent_total"), static_cast<double>(records.size()));
  if (proto != "tcp") return;
  // The collector returns on its port: ftzgated connects again (backoff)
  // and what waited in the queue arrives.
  const size_t before = collector_.received().size();
  const int port = port_;
  ASSERT_NO_FATAL_FAILURE(start_collector(proto, port));
  ASSERT_EQ(ctl("carol", "show system status").status, 0);
  EXPECT_GT(collector_.wait_received(before + 1).size(), before) << "nothing after the collector returned";
  EXPECT_GE(metric("ftzgate_syslog_reconnects_total"), 1);
  EXPECT_EQ(metric("ftzgate_syslog_connected"), 1);
}

INSTANTIATE_TEST_SUITE_P(Transports, SyslogExport, ::testing::Values("udp", "tcp", "tls"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

// A collector whose certificate another CA signed gets nothing.
TEST_F(SyslogExport, TlsRefusesACollectorItsCaDidNotSign) {
  ASSERT_NO_FATAL_FAILURE(make_certs(""));
  std::filesystem::create_directories(dir_.file("other"));
  ASSERT_NO_FATAL_FAILURE(make_certs("other/"));
  ASSERT_NO_FATAL_FAILURE(start_collector("tls", 0));
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  serve_args_ = {"--syslog",         "tls://127.0.0.1:" + std::to_string(port_),
                 "--syslog-ca",      dir_.file("other/ca.crt"),
                 "--metrics-listen", "127.0.0.1:0"};
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_EQ(ctl("carol", "show system status").status, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(collector_.received().empty());
  EXPECT_EQ(metric("ftzgate_syslog_connected"), 0);
  EXPECT_EQ(metric("ftzgate_syslog_messages_sent_total"), 0);
}

// A collector that requires client certificates gets the records from an
// ftzgated that presents one its CA signed (--syslog-cert/--syslog-key),
// and nothing from one that presents none.
TEST_F(SyslogExport, TlsPresentsAClientCertificateWhenTheCollectorRequiresOne) {
  ASSERT_NO_FATAL_FAILURE(make_certs(""));
  const std::string d = dir_.file("");
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  for (const std::string& cmd :
       {"openssl req" + ec + "-keyout " + d + "client.key -out " + d + "client.csr -subj /CN=ftzgated",
        "openssl x509 -req -in " + d + "client.csr -CA " + d + "ca.crt -CAkey " + d +
            "ca.key -CAcreateserial -out " + d + "client.crt -days 2"}) {
    const auto r = run_command(cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
  }
  ASSERT_NO_FATAL_FAILURE(start_collector("tls", 0, dir_.file("ca.crt")));
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  const std::vector<std::string> common = {"--syslog",         "tls://127.0.0.1:" + std::to_string(port_),
                                           "--syslog-ca",      dir_.file("ca.crt"),
                                           "--metrics-listen", "127.0.0.1:0"};
  // Without a certificate: refused by the collector, nothing arrives.
  serve_args_ = common;
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_EQ(ctl("carol", "show system status").status, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_TRUE(collector_.received().empty());
  EXPECT_EQ(metric("ftzgate_syslog_connected"), 0);
  ASSERT_EQ(stop(), 0);
  // With one: the records arrive.
  serve_args_ = common;
  serve_args_.insert(serve_args_.end(),
                     {"--syslog-cert", dir_.file("client.crt"), "--syslog-key", dir_.file("client.key")});
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_EQ(ctl("carol", "show system status").status, 0);
  const std::vector<std::string> got = collector_.wait_received(1);
  ASSERT_FALSE(got.empty()) << read_text(dir_.file("ftzgated.log"));
  EXPECT_NE(got[0].find(" ftzgated "), std::string::npos) << got[0];
  EXPECT_EQ(metric("ftzgate_syslog_connected"), 1);
  ASSERT_EQ(stop(), 0);
  // A key that is not the certificate's: ftzgated does not start.
  const auto r =
      run_command("timeout 20 " + ftz::test::binary("ftzgated") + " --state-dir " + state() +
                  " --listen unix:" + socket() + " --syslog tls://127.0.0.1:" + std::to_string(port_) +
                  " --syslog-ca " + dir_.file("ca.crt") + " --syslog-cert " + dir_.file("client.crt") +
                  " --syslog-key " + dir_.file("collector.key") + " 2>&1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not the key of"), std::string::npos) << r.output;
}

}  // namespace
