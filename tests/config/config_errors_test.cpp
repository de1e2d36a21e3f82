// Each class of configuration error: exact message, file:line:column (1-based)
// and field path. Line numbers in comments count from the first line of the
// YAML text; test::kZones holds lines 1-7.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "test_util.hpp"

namespace ftz::config {
namespace {

using test::errors_of;
using test::kZones;
using ::testing::ElementsAre;

std::string with_zones(const std::string& rest) {
  return std::string(kZones) + rest;
}

TEST(ConfigErrors, UnknownKeyWithHint) {
  EXPECT_THAT(errors_of(with_zones("limits:\n"
                                   "  flow_tabel_size: 4096\n")),
              ElementsAre("policy.yaml:9:3: limits: unknown key \"flow_tabel_size\" "
                          "(did you mean \"flow_table_size\"?)"));
  EXPECT_THAT(errors_of(with_zones("tenants:\n"
                                   "  - nmae: t\n"
                                   "    zone: ftz\n"
                                   "    prefixes: [10.60.1.0/24]\n")),
              ElementsAre("policy.yaml:9:5: tenants[0]: unknown key \"nmae\" (did you mean \"name\"?)",
                          "policy.yaml:9:5: tenants[0].name: missing required field"));
}

TEST(ConfigErrors, UnknownKeyWithoutHint) {
  EXPECT_THAT(errors_of(with_zones("colour: blue\n")),
              ElementsAre("policy.yaml:8:1: unknown key \"colour\""));
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_THAT(errors_of(with_zones("channels:\n"
                                   "  - name: [a, b]\n"
                                   "    vlan: \"3001\"\n"
                                   "    next_hop_mac: 02:00:5e:00:30:01\n"
                                   "limits: 12\n")),
              ElementsAre("policy.yaml:9:11: channels[0].name: expected a string, got a sequence",
                          "policy.yaml:10:11: channels[0].vlan: expected an integer, got the quoted "
                          "string \"3001\"",
                          "policy.yaml:12:9: limits: expected a mapping, got \"12\""));
  EXPECT_THAT(errors_of(with_zones("rules:\n"
                                   "  - name: r\n"
                                   "    action: allow\n"
                                   "    alert: yes\n")),
              ElementsAre("policy.yaml:11:12: rules[0].alert: expected true or false, got \"yes\""));
  EXPECT_THAT(errors_of(with_zones("tenants: {name: t}\n")),
              ElementsAre("policy.yaml:8:10: tenants: expected a sequence, got a mapping"));
}

TEST(ConfigErrors, MissingRequiredFields) {
  EXPECT_THAT(errors_of(with_zones("rules:\n"
                                   "  - match: {dst_zone: offshore}\n")),
              ElementsAre("policy.yaml:9:5: rules[0].name: missing required field",
                          "policy.yaml:9:5: rules[0].action: missing required field"));
  EXPECT_THAT(errors_of("name: x\n"), ElementsAre("policy.yaml:1:1: zones: missing required field"));
  EXPECT_THAT(errors_of(""), ElementsAre("policy.yaml:1:1: the configuration is empty"));
}

TEST(ConfigErrors, DuplicateMappingKeys) {
  // yaml-cpp keeps both pairs and would silently use the first.
  EXPECT_THAT(errors_of(with_zones("limits:\n"
                                   "  flow_table_size: 4096\n"
                                   "  udp_timeout_s: 60\n"
                                   "  flow_table_size: 8192\n")),
              ElementsAre("policy.yaml:11:3: limits.flow_table_size: duplicate key "
                          "\"flow_table_size\" (first at policy.yaml:9:3)"));
  EXPECT_THAT(errors_of(with_zones("limits: {}\nlimits: {}\n")),
              ElementsAre("policy.yaml:9:1: limits: duplicate key \"limits\" (first at policy.yaml:8:1)"));
}

TEST(ConfigErrors, BadPrefixes) {
  EXPECT_THAT(errors_of("zones:\n"
                        "  - name: ftz\n"
                        "    kind: ftz\n"
                        "    prefixes: [10.60.0.1/16, 10.61.0.0/33, 10.62.0/24, \"2001:db8::1/32\"]\n"
                        "  - name: offshore\n"
                        "    kind: offshore\n"
                        "    default: true\n"),
              ElementsAre("policy.yaml:4:16: zones[0].prefixes[0]: invalid prefix \"10.60.0.1/16\": host "
                          "bits set (did you mean 10.60.0.0/16?)",
                          "policy.yaml:4:30: zones[0].prefixes[1]: invalid prefix \"10.61.0.0/33\": length "
                          "must be 0..32",
                          "policy.yaml:4:44: zones[0].prefixes[2]: invalid prefix \"10.62.0/24\": not an "
                          "IPv4 or IPv6 address",
                          "policy.yaml:4:56: zones[0].prefixes[3]: invalid prefix \"2001:db8::1/32\": host "
                          "bits set (did you mean 2001:db8::/32?)"));
}

TEST(ConfigErrors, UnknownZoneInRuleHasTheDocumentedFormat) {
  const std::string yaml = with_zones(
      "rules:\n"                         // 8
      "  - {name: a, action: allow}\n"   // 9
      "  - {name: b, action: allow}\n"   // 10
      "  - {name: c, action: allow}\n"   // 11
      "  - name: d\n"                    // 12
      "    match:\n"                     // 13
      "      dst_zone: offshre\n"        // 14
      "      src_zone: [ftz, inside]\n"  // 15
      "    action: block\n");
  EXPECT_THAT(errors_of(yaml),
              ElementsAre("policy.yaml:14:17: rules[3].match.dst_zone: unknown zone \"offshre\"",
                          "policy.yaml:15:23: rules[3].match.src_zone[1]: unknown zone \"inside\""));
}

TEST(ConfigErrors, ReferentialChecks) {
  EXPECT_THAT(errors_of(with_zones("channels:\n"                                              // 8
                                   "  - name: intl\n"                                         // 9
                                   "    next_hop_mac: \"02:00:5e:00:30:01\"\n"                // 10
                                   "rules:\n"                                                 // 11
                                   "  - name: r1\n"                                           // 12
                                   "    match: {tenant: nobody}\n"                            // 13
                                   "    action: route\n"                                      // 14
                                   "  - name: r2\n"                                           // 15
                                   "    action: route\n"                                      // 16
                                   "    channel: intl-chanel\n"                               // 17
                                   "  - name: r3\n"                                           // 18
                                   "    action: block\n"                                      // 19
                                   "    channel: intl\n"                                      // 20
                                   "defaults:\n"                                              // 21
                                   "  - {src_zone: ftz, dst_zone: mars, action: allow}\n")),  // 22
              ElementsAre("policy.yaml:13:21: rules[0].match.tenant: unknown tenant \"nobody\"",
                          "policy.yaml:14:13: rules[0].channel: action route requires a channel",
                          "policy.yaml:17:14: rules[1].channel: unknown channel \"intl-chanel\"",
                          "policy.yaml:20:14: rules[2].channel: a channel is only used with action route "
                          "(action is \"block\")",
                          "policy.yaml:22:31: defaults[0].dst_zone: unknown zone \"mars\""));
}

TEST(ConfigErrors, OverlappingZonesReportBothLocations) {
  EXPECT_THAT(errors_of("zones:\n"
                        "  - name: ftz\n"
                        "    kind: ftz\n"
                        "    prefixes: [10.60.0.0/16]\n"
                        "  - name: hk\n"
                        "    kind: hk_macao_taiwan\n"
                        "    prefixes: [10.0.0.0/8]\n"
                        "  - name: offshore\n"
                        "    kind: offshore\n"
                        "    default: true\n"),
              ElementsAre("policy.yaml:4:16: zones[0].prefixes[0]: prefix 10.60.0.0/16 of zone \"ftz\" "
                          "overlaps 10.0.0.0/8 of zone \"hk\" (at policy.yaml:7:16, "
                          "zones[1].prefixes[0])"));
}

TEST(ConfigErrors, TenantPrefixesOverlapAndStayInsideTheirZone) {
  EXPECT_THAT(errors_of(with_zones("tenants:\n"                                         // 8
                                   "  - name: a\n"                                      // 9
                                   "    zone: ftz\n"                                    // 10
                                   "    prefixes: [10.60.1.0/24]\n"                     // 11
                                   "  - name: b\n"                                      // 12
                                   "    zone: ftz\n"                                    // 13
                                   "    prefixes: [10.60.1.128/25, 10.70.0.0/24]\n")),  // 14
              ElementsAre("policy.yaml:14:16: tenants[1].prefixes[0]: prefix 10.60.1.128/25 of "
                          "tenant \"b\" overlaps 10.60.1.0/24 of tenant \"a\" (at policy.yaml:11:16, "
                          "tenants[0].prefixes[0])",
                          "policy.yaml:14:32: tenants[1].prefixes[1]: prefix 10.70.0.0/24 of tenant "
                          "\"b\" is not inside its zone \"ftz\""));
}

constexpr const char* kApprovalHead =
    "tenants:\n"                              // 8
    "  - name: t\n"                           // 9
    "    zone: ftz\n"                         // 10
    "    prefixes: [10.60.1.0/24]\n"          // 11
    "    approvals:\n"                        // 12
    "      - id: SCC-1\n"                     // 13
    "        mechanism: standard_contract\n"  // 14
    "        data_classes: [pi]\n"            // 15
    "        dest_zones: offshore\n";         // 16

TEST(ConfigErrors, ImpossibleAndReversedDates) {
  EXPECT_THAT(errors_of(with_zones(std::string(kApprovalHead) + "        valid_from: 2026-02-30\n"  // 17
                                                                "        valid_until: 2026-13-01\n")),
              ElementsAre("policy.yaml:17:21: tenants[0].approvals[0].valid_from: impossible date "
                          "\"2026-02-30\"",
                          "policy.yaml:18:22: tenants[0].approvals[0].valid_until: impossible date "
                          "\"2026-13-01\""));
  EXPECT_THAT(errors_of(with_zones(std::string(kApprovalHead) + "        valid_from: 2026-01-15\n"
                                                                "        valid_until: 2026-01-14\n")),
              ElementsAre("policy.yaml:18:22: tenants[0].approvals[0].valid_until: valid_until "
                          "2026-01-14 is before valid_from 2026-01-15"));
  EXPECT_THAT(errors_of(with_zones(std::string(kApprovalHead) + "        valid_from: 15.01.2026\n"
                                                                "        valid_until: 2024-02-29\n")),
              ElementsAre("policy.yaml:17:21: tenants[0].approvals[0].valid_from: invalid date "
                          "\"15.01.2026\" (expected YYYY-MM-DD)"));
}

TEST(ConfigErrors, OneDayApprovalIsValid) {
  auto r =
      load_config_from_string(with_zones(std::string(kApprovalHead) + "        valid_from: 2024-02-29\n"
                                                                      "        valid_until: 2024-02-29\n"),
                              "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const auto& a = r->spec.tenants[0].approvals[0];
  EXPECT_EQ(a.valid_until - a.valid_from, 86400);
  EXPECT_EQ(a.valid_from, shanghai_midnight(2024, 2, 29));
}

TEST(ConfigErrors, ApprovalCoverage) {
  EXPECT_THAT(
      errors_of(with_zones("tenants:\n"                                      // 8
                           "  - name: t\n"                                   // 9
                           "    zone: ftz\n"                                 // 10
                           "    prefixes: [10.60.1.0/24]\n"                  // 11
                           "    approvals:\n"                                // 12
                           "      - id: SA-1\n"                              // 13
                           "        mechanism: security_assessment\n"        // 14
                           "        dest_zones: [ftz]\n"                     // 15
                           "        valid_from: 2026-01-01\n"                // 16
                           "        valid_until: 2026-12-31\n"               // 17
                           "        max_individuals: {pi: 10, pii: 3}\n")),  // 18
      ElementsAre("policy.yaml:14:20: tenants[0].approvals[0].mechanism: a \"security_assessment\" "
                  "approval must cover at least one data class (data_classes)",
                  "policy.yaml:15:22: tenants[0].approvals[0].dest_zones[0]: zone \"ftz\" is \"ftz\": "
                  "approvals cover exports, to offshore or hk_macao_taiwan zones",
                  "policy.yaml:18:31: tenants[0].approvals[0].max_individuals.pi: a cap for data "
                  "class \"pi\", which this approval does not cover",
                  "policy.yaml:18:35: tenants[0].approvals[0].max_individuals: unknown key \"pii\" "
                  "(did you mean \"pi\"?)"));
}

TEST(ConfigErrors, DuplicateNames) {
  EXPECT_THAT(
      errors_of("zones:\n"                                                // 1
                "  - {name: ftz, kind: ftz, prefixes: [10.60.0.0/16]}\n"  // 2
                "  - {name: ftz, kind: ftz, prefixes: [10.61.0.0/16]}\n"  // 3
                "  - {name: offshore, kind: offshore, default: true}\n"   // 4
                "tenants:\n"                                              // 5
                "  - name: t\n"                                           // 6
                "    zone: ftz\n"                                         // 7
                "    prefixes: [10.60.1.0/24]\n"                          // 8
                "    approvals:\n"                                        // 9
                "      - {id: X-1, mechanism: scenario_exempt, dest_zones: offshore, "
                "valid_from: 2026-01-01, valid_until: 2026-12-31}\n"  // 10
                "  - name: t\n"                                       // 11
                "    zone: ftz\n"                                     // 12
                "    prefixes: [10.60.2.0/24]\n"                      // 13
                "    approvals:\n"                                    // 14
                "      - {id: X-1, mechanism: scenario_exempt, dest_zones: offshore, "
                "valid_from: 2026-01-01, valid_until: 2026-12-31}\n"    // 15
                "channels:\n"                                           // 16
                "  - {name: c, next_hop_mac: \"02:00:00:00:00:01\"}\n"  // 17
                "  - {name: c, next_hop_mac: \"02:00:00:00:00:02\"}\n"  // 18
                "rules:\n"                                              // 19
                "  - {name: r, action: allow}\n"                        // 20
                "  - {name: r, action: block}\n"),                      // 21
      ElementsAre(
          "policy.yaml:3:12: zones[1].name: duplicate zone name \"ftz\" (first at policy.yaml:2:12)",
          "policy.yaml:11:11: tenants[1].name: duplicate tenant name \"t\" (first at policy.yaml:6:11)",
          "policy.yaml:15:14: tenants[1].approvals[0].id: duplicate approval id \"X-1\" (first at "
          "policy.yaml:10:14)",
          "policy.yaml:18:12: channels[1].name: duplicate channel name \"c\" (first at "
          "policy.yaml:17:12)",
          "policy.yaml:21:12: rules[1].name: duplicate rule name \"r\" (first at policy.yaml:20:12)"));
}

TEST(ConfigErrors, EnumValuesNotAllowed) {
  EXPECT_THAT(errors_of(with_zones("rules:\n"
                                   "  - name: r\n"
                                   "    match: {protocol: [tcp, sctp], app: ftp}\n"
                                   "    action: drop\n")),
              ElementsAre("policy.yaml:10:29: rules[0].match.protocol[1]: invalid protocol \"sctp\" "
                          "(expected \"tcp\", \"udp\" or \"icmp\")",
                          "policy.yaml:10:41: rules[0].match.app: invalid app protocol \"ftp\" "
                          "(expected \"http\", \"tls\", \"dns\" or \"unknown\")",
                          "policy.yaml:11:13: rules[0].action: invalid action \"drop\" (expected "
                          "\"allow\", \"route\", \"block\" or \"reset\")"));
}

TEST(ConfigErrors, PortsAndRuleConsistency) {
  EXPECT_THAT(errors_of(with_zones("rules:\n"                                      // 8
                                   "  - name: r\n"                                 // 9
                                   "    match:\n"                                  // 10
                                   "      protocol: icmp\n"                        // 11
                                   "      dst_port: [443, 8080-8000, 70000, x]\n"  // 12
                                   "      min_count: 5\n"                          // 13
                                   "    action: block\n")),
              ElementsAre("policy.yaml:12:17: rules[0].match.dst_port: ports need protocol tcp or "
                          "udp (the rule matches only icmp)",
                          "policy.yaml:12:23: rules[0].match.dst_port[1]: invalid port range "
                          "\"8080-8000\" (low end above high end)",
                          "policy.yaml:12:34: rules[0].match.dst_port[2]: invalid port \"70000\" "
                          "(expected 0..65535 or a range \"lo-hi\")",
                          "policy.yaml:12:41: rules[0].match.dst_port[3]: invalid port \"x\" "
                          "(expected 0..65535 or a range \"lo-hi\")",
                          "policy.yaml:13:18: rules[0].match.min_count: min_count counts "
                          "identifiers of a data class: add data_class"));
}

TEST(ConfigErrors, PortRangesCompile) {
  auto r = load_config_from_string(with_zones("rules:\n"
                                              "  - name: r\n"
                                              "    match: {protocol: tcp, dst_port: [443, 8000-8080]}\n"
                                              "    action: allow\n"),
                                   "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const auto& ports = r->spec.rules[0].match.dst_ports;
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0].lo, 443);
  EXPECT_EQ(ports[0].hi, 443);
  EXPECT_EQ(ports[1].lo, 8000);
  EXPECT_EQ(ports[1].hi, 8080);
}

TEST(ConfigErrors, DefaultZone) {
  EXPECT_THAT(errors_of("zones:\n"
                        "  - {name: ftz, kind: ftz, prefixes: [10.60.0.0/16]}\n"
                        "  - {name: offshore, kind: offshore}\n"),
              ElementsAre("policy.yaml:2:3: zones: no zone has \"default: true\"; exactly one zone "
                          "must hold the addresses in no prefix",
                          "policy.yaml:3:5: zones[1]: zone \"offshore\" has no prefixes and no "
                          "prefix_list_files (only the default zone may have none)"));
  EXPECT_THAT(errors_of("zones:\n"
                        "  - {name: ftz, kind: ftz, prefixes: [10.60.0.0/16], default: true}\n"
                        "  - {name: offshore, kind: offshore, default: true}\n"),
              ElementsAre("policy.yaml:2:63: zones[0].default: the default zone must be of kind "
                          "offshore or hk_macao_taiwan (\"ftz\" is \"ftz\")",
                          "policy.yaml:3:47: zones[1].default: only one zone may be the default "
                          "zone (first at policy.yaml:2:63)"));
}

TEST(ConfigErrors, EmptyZoneList) {
  // Found by fuzz_config: an empty list compiled to a spec without zones.
  EXPECT_THAT(errors_of("zones:\n"),
              ElementsAre("policy.yaml:1:1: zones: no zones: a configuration needs an inside zone (ftz "
                          "or domestic) and a default zone"));
}

TEST(ConfigErrors, LimitsOutOfRange) {
  EXPECT_THAT(errors_of(with_zones("limits:\n"
                                   "  flow_table_size: 0\n"
                                   "  defrag_memcap_bytes: 99999999999999\n"
                                   "  alerts_per_flow: -1\n")),
              ElementsAre("policy.yaml:9:20: limits.flow_table_size: 0 is out of range [1024, 67108864]",
                          "policy.yaml:10:24: limits.defrag_memcap_bytes: 99999999999999 is out of "
                          "range [65536, 4294967296]",
                          "policy.yaml:11:20: limits.alerts_per_flow: expected an integer, got \"-1\""));
  EXPECT_THAT(errors_of(with_zones("limits:\n"
                                   "  reassembly_memcap_bytes: 1048576\n"
                                   "  reassembly_per_flow_bytes: 2097152\n")),
              ElementsAre("policy.yaml:10:30: limits.reassembly_per_flow_bytes: "
                          "reassembly_per_flow_bytes (2097152) exceeds reassembly_memcap_bytes "
                          "(1048576)"));
}

// The Stream pool (docs/decisions/0006): bounded both ways, compiled into
// the limits when valid.
TEST(ConfigErrors, StreamMaxFlows) {
  EXPECT_THAT(errors_of(with_zones("limits:\n"
                                   "  stream_max_flows: 8\n")),
              ElementsAre("policy.yaml:9:21: limits.stream_max_flows: 8 is out of range [16, 16777216]"));
  auto r = load_config_from_string(with_zones("limits:\n  stream_max_flows: 4096\n"), "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  EXPECT_EQ(r->spec.limits.stream_max_flows, 4096u);
  auto d = load_config_from_string(with_zones(""), "policy.yaml");
  ASSERT_TRUE(d.has_value()) << format_diagnostics(d.error());
  EXPECT_EQ(d->spec.limits.stream_max_flows, 65536u);
}

TEST(ConfigErrors, SyntaxErrorIsLocated) {
  // yaml-cpp notices the missing "]" at the end of the input.
  EXPECT_THAT(errors_of("zones: [a, b\n"),
              ElementsAre("policy.yaml:2:1: YAML syntax error: end of sequence flow not found"));
  const auto errs = errors_of("zones:\n  - name: x\n   kind: ftz\n");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].rfind("policy.yaml:3:", 0), 0u) << errs[0];
  EXPECT_NE(errs[0].find("YAML syntax error"), std::string::npos);
}

TEST(ConfigErrors, ManyErrorsInOneRun) {
  const auto errs = errors_of(
      "zones:\n"
      "  - {name: ftz, kind: ftz, prefixes: [10.60.0.1/16]}\n"  // host bits
      "  - {name: off, kind: offshor, default: true}\n"         // enum
      "rules:\n"
      "  - {name: r, action: allow, match: {dst_zone: nowhere}}\n"  // reference
      "limits: {flow_table_size: 0, hold_max_packets: many}\n");    // range, type
  EXPECT_THAT(errs, ElementsAre(::testing::HasSubstr("zones[0].prefixes[0]: invalid prefix"),
                                ::testing::HasSubstr("zones[1].kind: invalid zone kind \"offshor\""),
                                ::testing::HasSubstr("rules[0].match.dst_zone: unknown zone \"nowhere\""),
                                ::testing::HasSubstr("limits.flow_table_size: 0 is out of range"),
                                ::testing::HasSubstr("limits.hold_max_packets: expected an integer")));
}

TEST(ConfigErrors, TooManyErrorsIsCapped) {
  std::string yaml = with_zones("rules:\n");
  for (int i = 0; i < 500; ++i) yaml += "  - {name: r" + std::to_string(i) + ", action: nope}\n";
  const auto errs = errors_of(yaml);
  ASSERT_EQ(errs.size(), kMaxDiagnostics + 1);
  EXPECT_NE(errs.back().find("too many errors; stopping after 200"), std::string::npos);
}

TEST(ConfigErrors, UsccCheckCharacter) {
  EXPECT_THAT(errors_of(with_zones("tenants:\n"
                                   "  - name: t\n"
                                   "    zone: ftz\n"
                                   "    prefixes: [10.60.1.0/24]\n"
                                   "    uscc: 91310115MA1HL7K21D\n")),
              ElementsAre("policy.yaml:12:11: tenants[0].uscc: invalid unified social credit code "
                          "\"91310115MA1HL7K21D\": check character should be \"C\""));
}

TEST(ConfigErrors, FormatDiagnosticsOneLineEach) {
  Diagnostics ds{{"a.yaml", 1, 2, "zones", "first"}, {"a.yaml", 3, 4, "", "second"}};
  EXPECT_EQ(format_diagnostics(ds), "a.yaml:1:2: zones: first\na.yaml:3:4: second\n");
}

TEST(ConfigErrors, ControlBytesCannotBreakTheOneErrorPerLineFormat) {
  const auto errs = errors_of(with_zones("\"col\\nour\": 1\n"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0], "policy.yaml:8:1: unknown key \"col\\x0aour\"");
}

// Prefix-list files: errors name that file and its line.
class PrefixListFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ftz-config-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "data");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::filesystem::path dir_;
};

constexpr const char* kDomesticFromFile =
    "zones:\n"
    "  - {name: ftz, kind: ftz, prefixes: [10.60.0.0/16]}\n"
    "  - name: domestic\n"
    "    kind: domestic\n"
    "    prefix_list_files: [data/cn.txt]\n"
    "  - {name: offshore, kind: offshore, default: true}\n";

TEST_F(PrefixListFiles, CommentsAndBlankLinesAreSkipped) {
  write("data/cn.txt", "# China\n\n1.1.8.0/24   # a comment\n  2001:250::/30\r\n");
  write("policy.yaml", kDomesticFromFile);
  auto r = load_config((dir_ / "policy.yaml").string());
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  ASSERT_EQ(r->spec.zones[1].prefixes.size(), 2u);
  EXPECT_EQ(engine::format_prefix(r->spec.zones[1].prefixes[1]), "2001:250::/30");
}

TEST_F(PrefixListFiles, BadLineNamesTheFileAndLine) {
  write("data/cn.txt", "1.1.8.0/24\n# comment\n  1.2.4.1/24\n1.8.1.0/24\n");
  write("policy.yaml", kDomesticFromFile);
  const auto file = (dir_ / "data/cn.txt").string();
  auto r = load_config((dir_ / "policy.yaml").string());
  ASSERT_FALSE(r.has_value());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(format_diagnostic(r.error()[0]),
            file +
                ":3:3: zones[1].prefix_list_files[0]: invalid prefix \"1.2.4.1/24\": host bits "
                "set (did you mean 1.2.4.0/24?)");
}

TEST_F(PrefixListFiles, OverlapWithAFileNamesBothPlaces) {
  write("data/cn.txt", "10.0.0.0/8\n");
  write("policy.yaml", kDomesticFromFile);
  const auto file = (dir_ / "data/cn.txt").string();
  const auto yaml = (dir_ / "policy.yaml").string();
  auto r = load_config(yaml);
  ASSERT_FALSE(r.has_value());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(format_diagnostic(r.error()[0]),
            yaml +
                ":2:39: zones[0].prefixes[0]: prefix 10.60.0.0/16 of zone \"ftz\" overlaps "
                "10.0.0.0/8 of zone \"domestic\" (at " +
                file + ":1:1, zones[1].prefix_list_files[0])");
}

TEST_F(PrefixListFiles, MissingFileIsReportedAtTheReference) {
  write("policy.yaml", kDomesticFromFile);
  const auto yaml = (dir_ / "policy.yaml").string();
  auto r = load_config(yaml);
  ASSERT_FALSE(r.has_value());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(format_diagnostic(r.error()[0]),
            yaml + ":5:25: zones[1].prefix_list_files[0]: cannot read prefix-list file \"" +
                (dir_ / "data/cn.txt").string() + "\": no such file");
}

TEST_F(PrefixListFiles, CanBeDisabled) {
  LoadOptions options;
  options.allow_included_files = false;
  EXPECT_THAT(errors_of(kDomesticFromFile, "policy.yaml", options),
              ElementsAre("policy.yaml:5:25: zones[1].prefix_list_files[0]: prefix-list files are "
                          "disabled in this context"));
}

// Old Mac line ends (CR only) are line breaks (YAML 1.2 §5.4); yaml-cpp
// alone read such a file as one line and called it "empty".
TEST(ConfigFiles, CrOnlyLineEndsAreLineBreaks) {
  std::string text = "# policy with old Mac line ends\n" + with_zones("limits:\n  flow_table_size: 4096\n");
  std::replace(text.begin(), text.end(), '\n', '\r');
  auto r = load_config_from_string(text, "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  EXPECT_EQ(r->spec.zones.size(), 2u);
  EXPECT_EQ(r->spec.limits.flow_table_size, 4096u);
  // Positions count CR-only lines like any other.
  std::string bad = with_zones("limits:\n  flow_table_size: 12\n");
  std::replace(bad.begin(), bad.end(), '\n', '\r');
  EXPECT_THAT(errors_of(bad), ElementsAre("policy.yaml:9:20: limits.flow_table_size: 12 is out of range "
                                          "[1024, 67108864]"));
  // CRLF stays what it was.
  std::string crlf;
  for (char c : with_zones("")) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_TRUE(load_config_from_string(crlf, "policy.yaml").has_value());
}

TEST(ConfigFiles, MissingConfigurationFile) {
  auto r = load_config("/nonexistent/policy.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(format_diagnostics(r.error()),
            "/nonexistent/policy.yaml:0:0: cannot read configuration: no such file\n");
}

}  // namespace
}  // namespace ftz::config
