// The embedded default end to end: the generated Lin-gang capture through
// examples/lingang.yaml, checking the header- and app-stage outcomes of
// SCENARIO.md (content outcomes come with classification).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"
#include "ftz/test/gen/scenario.hpp"

namespace fs = std::filesystem;
using namespace ftz;

namespace {

struct FlowSeen {
  std::string client;
  std::string server;
  uint16_t dport = 0;
  std::string tenant;
  std::string verdict;
  std::string rule;
  std::string channel;
  bool inspected = false;
};

class Demo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/ftz-demo-XXXXXX";
    dir_ = mkdtemp(tmpl);
    pcap_ = dir_ + "/lingang-demo.pcap";
    ASSERT_TRUE(test::gen::write_scenario(pcap_, 1).has_value());
    const char* src = std::getenv("FTZ_SOURCE_DIR");
    auto loaded = config::load_config(std::string(src ? src : FTZ_DEFAULT_SOURCE_DIR) + "/examples/lingang.yaml");
    ASSERT_TRUE(loaded.has_value()) << config::format_diagnostics(loaded.error());
    auto gen = engine::PolicyGeneration::build(std::move(loaded->spec), 1);
    offline::InspectOptions o;
    o.pcap_path = pcap_;
    auto s = offline::inspect_capture(o, gen, [](const engine::Event& e, const engine::PolicyGeneration& g) {
      if (e.type == engine::EventType::kTls) sni_.insert(std::string(e.tls.sni.view()));
      if (e.type == engine::EventType::kHttp) hosts_.insert(std::string(e.http.hostname.view()));
      if (e.type != engine::EventType::kFlow) return;
      FlowSeen f;
      f.client = engine::format_ip(e.src);
      f.server = engine::format_ip(e.dst);
      f.dport = e.dst_port;
      f.tenant = g.tenant_name(e.tenant);
      f.verdict = engine::action_name(e.verdict.action);
      f.rule = e.rule == engine::kNoIndex ? "default" : g.rule_name(e.rule);
      if (e.verdict.channel < g.spec().channels.size()) f.channel = g.spec().channels[e.verdict.channel].name;
      f.inspected = e.inspected;
      flows_.push_back(f);
    });
    ASSERT_TRUE(s.has_value()) << s.error();
    summary_ = *s;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::vector<FlowSeen> flows_to(const std::string& server) {
    std::vector<FlowSeen> out;
    for (const auto& f : flows_) {
      if (f.server == server) out.push_back(f);
    }
    return out;
  }

  static inline std::string dir_;
  static inline std::string pcap_;
  static inline offline::InspectSummary summary_;
  static inline std::vector<FlowSeen> flows_;
  static inline std::set<std::string> sni_;
  static inline std::set<std::string> hosts_;
};

TEST_F(Demo, EveryPacketIsAccountedFor) {
  EXPECT_EQ(summary_.packets, 736u);
  EXPECT_EQ(summary_.counters.forwarded + summary_.counters.dropped, summary_.packets);
  EXPECT_EQ(summary_.counters.flows_created, flows_.size());
  EXPECT_EQ(summary_.counters.non_ip, 0u);
  uint64_t malformed = 0;
  for (uint64_t n : summary_.counters.reasons) malformed += n;
  EXPECT_EQ(malformed, 0u);
}

TEST_F(Demo, PacificReUploadsAreRoutedToTheApprovedChannel) {
  const auto flows = flows_to("203.0.113.10");
  ASSERT_EQ(flows.size(), 5u);
  for (const auto& f : flows) {
    EXPECT_EQ(f.tenant, "pacific-re");
    EXPECT_EQ(f.verdict, "route");
    EXPECT_EQ(f.channel, "intl-channel");
    EXPECT_EQ(f.rule, "pacre-hq-via-channel");
    EXPECT_TRUE(f.inspected);
  }
}

TEST_F(Demo, DomesticTrafficTakesTheFastPath) {
  const auto dns = flows_to("114.114.114.114");
  ASSERT_FALSE(dns.empty());
  for (const auto& f : dns) {
    EXPECT_EQ(f.verdict, "allow");
    EXPECT_EQ(f.rule, "domestic-fast-path");
    EXPECT_FALSE(f.inspected);
  }
}

TEST_F(Demo, HarborToHongKongIsAllowedAndTlsIsJudgedBySni) {
  const auto hk = flows_to("198.51.100.10");
  ASSERT_FALSE(hk.empty());
  for (const auto& f : hk) {
    EXPECT_EQ(f.tenant, "harbor-logistics");
    EXPECT_EQ(f.rule, "harbor-to-hk");
    EXPECT_EQ(f.verdict, "allow");
  }
  EXPECT_EQ(sni_, std::set<std::string>{"partner.harbor-offshore.example"});
  EXPECT_TRUE(hosts_.count("edi.harbor-hk.example"));
}

TEST_F(Demo, UnregisteredHostsAreChargedToTheZoneDefaultTenant) {
  bool seen = false;
  for (const auto& f : flows_) {
    if (f.client.rfind("10.60.9.", 0) == 0) {
      seen = true;
      EXPECT_EQ(f.tenant, "unregistered@lingang-ftz");
      // Exports are inspected; its DNS queries to the domestic resolver are not.
      EXPECT_EQ(f.inspected, f.server == "203.0.113.30") << f.server;
    }
  }
  EXPECT_TRUE(seen);
}

}  // namespace
