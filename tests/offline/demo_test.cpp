// The embedded default end to end: the generated Lin-gang capture through
// examples/lingang.yaml, checking the header- and app-stage outcomes of
// SCENARIO.md (content outcomes come with classification).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"
#include "ftz/test/gen/scenario.hpp"
#include "ftz/test/pcap_writer.hpp"

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
  uint32_t distinct = 0;
  bool uninspectable = false;
  uint64_t packets_to_server = 0;
};

class Demo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/ftz-demo-XXXXXX";
    dir_ = mkdtemp(tmpl);
    pcap_ = dir_ + "/lingang-demo.pcap";
    ASSERT_TRUE(test::gen::write_scenario(pcap_, 1).has_value());
    const char* src = std::getenv("FTZ_SOURCE_DIR");
    auto loaded =
        config::load_config(std::string(src ? src : FTZ_DEFAULT_SOURCE_DIR) + "/examples/lingang.yaml");
    ASSERT_TRUE(loaded.has_value()) << config::format_diagnostics(loaded.error());
    auto gen = engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
    ASSERT_TRUE(gen.has_value()) << gen.error();
    offline::InspectOptions o;
    o.pcap_path = pcap_;
    o.pcap_out_path = dir_ + "/forwarded.pcap";
    o.demo_token_key = true;  // lingang.yaml names the published demo key
    auto on_notice = [](const report::ComplianceNotice& n) { notices_.push_back(n); };
    auto s = offline::inspect_capture(
        o, *gen,
        [](const engine::Event& e, const engine::PolicyGeneration& g) {
          if (e.type == engine::EventType::kAlert) {
            alerts_.push_back(std::string(g.spec().signatures[e.alert.signature].name) + " " +
                              std::string(e.alert.masked.view()));
          }
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
          if (e.verdict.channel < g.spec().channels.size())
            f.channel = g.spec().channels[e.verdict.channel].name;
          f.inspected = e.inspected;
          f.distinct = e.flow.detections.distinct;
          f.uninspectable = e.flow.detections.uninspectable;
          f.packets_to_server = e.flow.pkts_toserver;
          flows_.push_back(f);
        },
        on_notice);
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
  static inline report::InspectSummary summary_;
  static inline std::vector<FlowSeen> flows_;
  static inline std::set<std::string> sni_;
  static inline std::set<std::string> hosts_;
  static inline std::vector<std::string> alerts_;
  static inline std::vector<report::ComplianceNotice> notices_;
};

TEST_F(Demo, EveryPacketIsAccountedFor) {
  EXPECT_EQ(summary_.packets, 736u);
  EXPECT_EQ(summary_.counters.forwarded + summary_.counters.dropped, summary_.packets);
  EXPECT_EQ(summary_.counters.flows_created, flows_.size());
  EXPECT_EQ(summary_.counters.non_ip, 0u);
  // Every drop is a policy decision: nothing in the capture is malformed.
  uint64_t policy = 0;
  uint64_t other = 0;
  for (uint32_t r = 0; r < engine::kReasonCount; ++r) {
    const auto reason = static_cast<engine::Reason>(r);
    (reason == engine::Reason::kPolicyBlock || reason == engine::Reason::kPolicyReset ? policy : other) +=
        summary_.counters.reasons[r];
  }
  EXPECT_EQ(other, 0u);
  EXPECT_EQ(policy, summary_.counters.dropped);
}

TEST_F(Demo, UnapprovedBulkExportOfIdNumbersIsReset) {
  const auto flows = flows_to("203.0.113.30");
  const FlowSeen* bulk = nullptr;
  for (const auto& f : flows) {
    if (f.client.rfind("10.60.9.", 0) == 0) bulk = &f;
  }
  ASSERT_NE(bulk, nullptr);
  EXPECT_EQ(bulk->tenant, "unregistered@lingang-ftz");
  EXPECT_EQ(bulk->verdict, "reset");
  EXPECT_EQ(bulk->rule, "bulk-identifiers-unapproved");
  EXPECT_EQ(bulk->distinct, 2000u);        // inspection goes on after the verdict
  EXPECT_GE(summary_.resets_written, 4u);  // two RSTs for each reset flow

  // Inline semantics: the packet that completes the 50th distinct ID (frame
  // 622 holds its last digit, its closing quote follows in 622 or 623) is not
  // forwarded, nor is anything the client sends after it; frame 621 is.
  const auto original = test::read_pcap(pcap_);
  const auto forwarded = test::read_pcap(dir_ + "/forwarded.pcap");
  ASSERT_TRUE(original.has_value() && forwarded.has_value());
  std::multiset<std::vector<uint8_t>> out;
  for (const auto& r : forwarded->records) out.insert(r.data);
  auto is_bulk_upload = [](const std::vector<uint8_t>& f) {
    return f.size() > 34 && f[26] == 10 && f[27] == 60 && f[28] == 9 && f[30] == 203 && f[31] == 0 &&
           f[32] == 113 && f[33] == 30;
  };
  const auto& recs = original->records;
  ASSERT_GT(recs.size(), 623u);
  ASSERT_TRUE(is_bulk_upload(recs[620].data));
  EXPECT_EQ(out.count(recs[620].data), 1u) << "frame 621 (before the 50th ID) is forwarded";
  size_t first_dropped = 0;
  for (size_t i = 0; i < recs.size(); ++i) {
    if (!is_bulk_upload(recs[i].data) || out.count(recs[i].data) > 0) continue;
    if (first_dropped == 0) first_dropped = i + 1;
  }
  EXPECT_TRUE(first_dropped == 622 || first_dropped == 623) << "first dropped frame " << first_dropped;
  for (size_t i = first_dropped; i < recs.size(); ++i) {
    if (is_bulk_upload(recs[i].data)) {
      EXPECT_EQ(out.count(recs[i].data), 0u) << "frame " << i + 1;
    }
  }
}

TEST_F(Demo, GenomicUploadIsResetAndTrajectoryBlockedWhileTelemetryPasses) {
  bool genomic = false;
  bool trajectory = false;
  int telemetry_allowed = 0;
  for (const auto& f : flows_) {
    if (f.tenant == "biogen-lingang" && f.server == "203.0.113.30") {
      genomic = true;
      EXPECT_EQ(f.verdict, "reset");
      EXPECT_EQ(f.rule, "biogen-genomic-export");
    }
    if (f.tenant == "lingang-auto" && f.server == "203.0.113.20") {
      if (f.rule == "vehicle-trajectory-export") {
        trajectory = true;
        EXPECT_EQ(f.verdict, "block");
      } else {
        ++telemetry_allowed;
        EXPECT_EQ(f.verdict, "allow");
      }
    }
  }
  EXPECT_TRUE(genomic);
  EXPECT_TRUE(trajectory);
  EXPECT_GE(telemetry_allowed, 1);
}

TEST_F(Demo, PacificReCrossesEightyPercentOfTheSensitivePiLine) {
  // 8,500 distinct valid ID numbers in the capture against the real 10,000 line.
  bool crossed = false;
  for (const auto& n : notices_) {
    if (n.tenant == "pacific-re" && n.line == 10000 && n.percent == 80) {
      crossed = true;
      EXPECT_EQ(n.data_class, engine::DataClass::kSensitivePi);
      EXPECT_GE(n.individuals, 8000u);
    }
    EXPECT_FALSE(n.line == 10000 && n.percent >= 95) << "only 8,500 individuals: no 95 % notice";
  }
  EXPECT_TRUE(crossed);
  bool counted = false;
  for (const auto& r : summary_.compliance) {
    if (r.tenant == "pacific-re" && r.data_class == engine::DataClass::kSensitivePi) {
      counted = true;
      EXPECT_EQ(r.individuals, 8500u);
    }
  }
  EXPECT_TRUE(counted);
}

TEST_F(Demo, NoIdentifierLeavesInClearInAnyRecord) {
  // Alerts carry masked identifiers only: 6 leading and 4 trailing characters
  // of an 18-character ID, never the 8 in between.
  ASSERT_FALSE(alerts_.empty());
  for (const auto& a : alerts_) {
    if (a.rfind("cn_resident_id ", 0) == 0) {
      const std::string masked = a.substr(std::string("cn_resident_id ").size());
      ASSERT_EQ(masked.size(), 18u) << masked;
      EXPECT_EQ(masked.substr(6, 8), "********");
    }
  }
  std::ifstream summary(pcap_ + ".summary.json");
  ASSERT_TRUE(summary);
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
