// The shipped examples load, validate and compile to the expected PolicySpec.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/engine/ip_addr.hpp"
#include "test_util.hpp"

namespace ftz::config {
namespace {

using engine::Action;
using engine::DataClass;
using engine::FailMode;
using engine::kNoIndex;
using engine::ZoneKind;

constexpr engine::DataClassMask bit(DataClass c) {
  return static_cast<engine::DataClassMask>(1u << static_cast<unsigned>(c));
}

// Signatures in examples/signatures/builtin.yaml.
constexpr int kBuiltinSignatures = 20;

uint32_t index_of(const auto& items, const std::string& name) {
  for (uint32_t i = 0; i < items.size(); ++i) {
    if (items[i].name == name) return i;
  }
  ADD_FAILURE() << "no item named " << name;
  return kNoIndex;
}

class LingangExample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = load_config(test::source_dir() + "/examples/lingang.yaml");
    ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
    loaded_ = new LoadedConfig(std::move(*r));
  }
  static void TearDownTestSuite() {
    delete loaded_;
    loaded_ = nullptr;
  }
  static const engine::PolicySpec& spec() { return loaded_->spec; }
  static LoadedConfig* loaded_;
};
LoadedConfig* LingangExample::loaded_ = nullptr;

TEST_F(LingangExample, Zones) {
  ASSERT_EQ(spec().zones.size(), 4u);
  EXPECT_EQ(spec().name, "lingang-dc1");
  const auto& z = spec().zones;
  EXPECT_EQ(z[0].name, "lingang-ftz");
  EXPECT_EQ(z[0].kind, ZoneKind::kFtz);
  ASSERT_EQ(z[0].prefixes.size(), 1u);
  EXPECT_EQ(engine::format_prefix(z[0].prefixes[0]), "10.60.0.0/16");
  EXPECT_EQ(z[0].default_tenant, index_of(spec().tenants, "unregistered@lingang-ftz"));
  EXPECT_EQ(z[1].name, "domestic");
  EXPECT_EQ(z[1].kind, ZoneKind::kDomestic);
  EXPECT_EQ(z[2].name, "hk");
  EXPECT_EQ(z[2].kind, ZoneKind::kHkMacaoTaiwan);
  EXPECT_EQ(z[3].name, "offshore");
  EXPECT_EQ(z[3].kind, ZoneKind::kOffshore);
  EXPECT_TRUE(z[3].prefixes.empty());
  EXPECT_EQ(spec().default_zone, 3u);
}

TEST_F(LingangExample, DomesticZoneHoldsBothPrefixListFiles) {
  const auto& prefixes = spec().zones[1].prefixes;
  const auto v4 = std::count_if(prefixes.begin(), prefixes.end(), [](const auto& p) { return p.v4; });
  EXPECT_EQ(v4, 4604);
  EXPECT_EQ(static_cast<long>(prefixes.size()) - v4, 1641);
  // First lines of each file, in file order.
  EXPECT_EQ(engine::format_prefix(prefixes.front()), "1.1.8.0/24");
  EXPECT_EQ(engine::format_prefix(prefixes[4604]), "2001:250::/30");
  // The domestic resolver of the scenario is domestic.
  const auto resolver = engine::parse_ip("114.114.114.114");
  ASSERT_TRUE(resolver);
  EXPECT_TRUE(
      std::any_of(prefixes.begin(), prefixes.end(), [&](const auto& p) { return p.contains(*resolver); }));
  ASSERT_EQ(loaded_->files.size(), 4u);
  EXPECT_NE(loaded_->files[1].find("data/cn-ipv4.txt"), std::string::npos);
  EXPECT_NE(loaded_->files[2].find("data/cn-ipv6.txt"), std::string::npos);
  EXPECT_EQ(loaded_->files[3], test::source_dir() + "/examples/signatures/builtin.yaml");
}

// The built-in catalog (examples/signatures/builtin.yaml) comes first, then
// the operator's own signature.
TEST_F(LingangExample, SignaturesFromTheBuiltinPackThenTheOperator) {
  const auto& sigs = spec().signatures;
  ASSERT_EQ(loaded_->packs.size(), 1u);
  ASSERT_EQ(loaded_->packs[0].signatures_size(), kBuiltinSignatures);
  ASSERT_EQ(sigs.size(), static_cast<std::size_t>(kBuiltinSignatures) + 1);
  EXPECT_EQ(spec().signature_pack_version, "builtin@2026.11.1");

  const auto& id = sigs[0];
  EXPECT_EQ(id.name, "cn_resident_id");
  EXPECT_EQ(id.sid, 9100001u);
  EXPECT_EQ(id.data_class, DataClass::kSensitivePi);
  EXPECT_EQ(id.validator, "resident_id");
  EXPECT_EQ(id.tags, (std::vector<std::string>{"identity_document", "minor"}));
  // The contiguous form (fixed width), the 6-8-4 grouped form (SOM), and the
  // 3-3-4-4-4 and 4-4-4-4-2 groupings (fixed width).
  ASSERT_EQ(id.patterns.size(), 4u);
  EXPECT_FALSE(id.patterns[0].som);
  EXPECT_TRUE(id.patterns[1].som);
  EXPECT_FALSE(id.patterns[2].som);
  EXPECT_FALSE(id.patterns[3].som);
  EXPECT_FALSE(id.context_required);
  EXPECT_EQ(id.context.front(), "身份证");
  EXPECT_EQ(id.rationale.rfind("PIPL art 28", 0), 0u);

  const auto& mobile = sigs[index_of(sigs, "cn_mobile")];
  EXPECT_EQ(mobile.sid, 9100003u);
  EXPECT_EQ(mobile.data_class, DataClass::kPi);
  // Contiguous, "+86 "-prefixed, and the two 3-4-4 grouped forms.
  ASSERT_EQ(mobile.patterns.size(), 4u);
  EXPECT_FALSE(mobile.patterns[0].som);
  EXPECT_TRUE(mobile.patterns[1].som);  // "+86 " makes it variable width

  const auto& uscc = sigs[index_of(sigs, "cn_uscc")];
  EXPECT_EQ(uscc.sid, 9100005u);
  EXPECT_EQ(uscc.data_class, DataClass::kOrgId);

  const auto& plate = sigs[index_of(sigs, "vehicle_plate")];
  EXPECT_EQ(plate.sid, 9100014u);
  ASSERT_FALSE(plate.patterns.empty());
  EXPECT_TRUE(plate.patterns[0].utf8);

  const auto& vcf = sigs[index_of(sigs, "genomic_data")];
  EXPECT_EQ(vcf.validator, "vcf");
  EXPECT_EQ(vcf.tags.front(), "hgr");

  const auto& own = sigs.back();
  EXPECT_EQ(own.name, "pacre_policy_number");
  EXPECT_EQ(own.sid, 9200001u);
  EXPECT_EQ(own.validator, "none");
  EXPECT_TRUE(own.context_required);
  ASSERT_EQ(own.patterns.size(), 1u);
  EXPECT_EQ(own.patterns[0].regex, "PRE-\\d{4}-\\d{8}");
}

// DOMAIN.md §1.1 and §1.4.
TEST_F(LingangExample, ComplianceThresholds) {
  const auto& c = spec().compliance;
  EXPECT_EQ(c.key_file, test::source_dir() + "/examples/keys/token.key");
  EXPECT_EQ(c.state_file, test::source_dir() + "/examples/state/compliance.state");
  EXPECT_FALSE(c.use_sm3);
  ASSERT_EQ(c.thresholds.size(), 4u);
  const auto expect_line = [&](std::size_t i, const std::string& name, DataClass cls, uint64_t n) {
    EXPECT_EQ(c.thresholds[i].name, name);
    EXPECT_EQ(c.thresholds[i].data_class, cls) << name;
    EXPECT_EQ(c.thresholds[i].individuals, n) << name;
    EXPECT_FALSE(c.thresholds[i].mechanism.empty()) << name;
  };
  expect_line(0, "pi-scc", DataClass::kPi, 100'000);
  expect_line(1, "pi-sa", DataClass::kPi, 1'000'000);
  expect_line(2, "sensitive-pi-scc", DataClass::kSensitivePi, 1);  // no de minimis
  expect_line(3, "sensitive-pi-sa", DataClass::kSensitivePi, 10'000);
  EXPECT_EQ(c.thresholds[1].mechanism, "CAC security assessment (Decree 16 art 7)");
  // Which approvals already satisfy each line: a filing covers the SCC lines,
  // only a security assessment covers the SA lines.
  using engine::Mechanism;
  const std::vector<Mechanism> scc = {Mechanism::kStandardContract, Mechanism::kCertification,
                                      Mechanism::kSecurityAssessment};
  const std::vector<Mechanism> sa = {Mechanism::kSecurityAssessment};
  EXPECT_EQ(c.thresholds[0].satisfied_by, scc);
  EXPECT_EQ(c.thresholds[1].satisfied_by, sa);
  EXPECT_EQ(c.thresholds[2].satisfied_by, scc);
  EXPECT_EQ(c.thresholds[3].satisfied_by, sa);
  EXPECT_EQ(c.warn_percents, (std::vector<uint32_t>{80, 95, 100}));
  EXPECT_EQ(c.count_mode, engine::CountMode::kMaxOverIdentifierTypes);
  EXPECT_EQ(c.max_tokens_per_set, 2'000'000u);
  EXPECT_EQ(c.bulk_min_count, 50u);
}

TEST_F(LingangExample, Tenants) {
  const auto& t = spec().tenants;
  ASSERT_EQ(t.size(), 5u);
  const auto expect_tenant = [&](const std::string& name, const std::string& prefix) {
    const auto& tenant = t[index_of(t, name)];
    EXPECT_EQ(tenant.zone, 0u) << name;
    ASSERT_EQ(tenant.prefixes.size(), 1u) << name;
    EXPECT_EQ(engine::format_prefix(tenant.prefixes[0]), prefix) << name;
    EXPECT_EQ(tenant.uscc.size(), 18u) << name;
    EXPECT_EQ(tenant.ftz_registration, "LG") << name;
    EXPECT_FALSE(tenant.is_ciio) << name;
  };
  expect_tenant("pacific-re", "10.60.2.0/24");
  expect_tenant("lingang-auto", "10.60.1.0/24");
  expect_tenant("biogen-lingang", "10.60.3.0/24");
  expect_tenant("harbor-logistics", "10.60.4.0/24");
  const auto& unregistered = t[index_of(t, "unregistered@lingang-ftz")];
  EXPECT_TRUE(unregistered.prefixes.empty());
  EXPECT_EQ(unregistered.zone, 0u);
  EXPECT_TRUE(t[index_of(t, "biogen-lingang")].approvals.empty());
}

TEST_F(LingangExample, PacificReStandardContract) {
  const auto& tenant = spec().tenants[index_of(spec().tenants, "pacific-re")];
  ASSERT_EQ(tenant.approvals.size(), 1u);
  const auto& a = tenant.approvals[0];
  EXPECT_EQ(a.id, "SCC-SH-2026-0142");
  EXPECT_EQ(a.mechanism, engine::Mechanism::kStandardContract);
  EXPECT_EQ(a.classes, bit(DataClass::kPi) | bit(DataClass::kSensitivePi));
  ASSERT_EQ(a.dest_zones.size(), 1u);
  EXPECT_EQ(a.dest_zones[0], 3u);
  // 2026-01-15 00:00 +08:00 = 2026-01-14 16:00 UTC; until is exclusive: the
  // day after 2029-01-14, 2029-01-15 00:00 +08:00 = 2029-01-14 16:00 UTC.
  EXPECT_EQ(a.valid_from, 1768406400);
  EXPECT_EQ(a.valid_until, 1863100800);
  EXPECT_EQ(a.max_individuals[static_cast<int>(DataClass::kPi)], 999999u);
  EXPECT_EQ(a.max_individuals[static_cast<int>(DataClass::kSensitivePi)], 9999u);
  EXPECT_EQ(a.max_individuals[static_cast<int>(DataClass::kImportant)], 0u);
}

TEST_F(LingangExample, ExemptionsCoverNoPi) {
  const auto& t = spec().tenants;
  const auto& auto_tech = t[index_of(t, "lingang-auto")].approvals;
  ASSERT_EQ(auto_tech.size(), 1u);
  EXPECT_EQ(auto_tech[0].mechanism, engine::Mechanism::kFtzListExempt);
  EXPECT_EQ(auto_tech[0].classes, 0);
  const auto& harbor = t[index_of(t, "harbor-logistics")].approvals;
  ASSERT_EQ(harbor.size(), 1u);
  EXPECT_EQ(harbor[0].mechanism, engine::Mechanism::kScenarioExempt);
  EXPECT_EQ(harbor[0].classes, 0);
  EXPECT_EQ(harbor[0].dest_zones, (std::vector<uint32_t>{2u, 3u}));
}

TEST_F(LingangExample, Channel) {
  ASSERT_EQ(spec().channels.size(), 1u);
  const auto& ch = spec().channels[0];
  EXPECT_EQ(ch.name, "intl-channel");
  EXPECT_EQ(ch.egress_role, engine::PortRole::kChannel);
  EXPECT_EQ(ch.vlan, 3001);
  EXPECT_EQ(ch.next_hop_mac, (std::array<uint8_t, 6>{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01}));
}

TEST_F(LingangExample, Rules) {
  const auto& rules = spec().rules;
  ASSERT_EQ(rules.size(), 11u);
  // Domestic first: the fast path is decided before any content rule.
  EXPECT_EQ(rules[0].name, "domestic-fast-path");
  EXPECT_EQ(rules[0].match.dst_zones, std::vector<uint32_t>{1u});
  EXPECT_EQ(rules[0].verdict.action, Action::kAllow);

  const auto& route = rules[index_of(rules, "pacre-hq-via-channel")];
  EXPECT_EQ(route.match.tenants, std::vector<uint32_t>{index_of(spec().tenants, "pacific-re")});
  EXPECT_EQ(route.match.server_name_suffixes, std::vector<std::string>{"upload.pacre-sg.example"});
  EXPECT_EQ(route.verdict.action, Action::kRoute);
  EXPECT_EQ(route.verdict.channel, 0u);
  EXPECT_FALSE(route.verdict.alert);

  const auto& bulk = rules[index_of(rules, "bulk-identifiers-unapproved")];
  EXPECT_EQ(bulk.match.data_classes, bit(DataClass::kSensitivePi));
  EXPECT_EQ(bulk.match.min_count, 50u);
  EXPECT_EQ(bulk.match.approval, engine::ApprovalMatch::kUnapproved);
  EXPECT_EQ(bulk.match.dst_zones, (std::vector<uint32_t>{3u, 2u}));
  EXPECT_EQ(bulk.verdict.action, Action::kReset);
  EXPECT_TRUE(bulk.verdict.alert);
  EXPECT_EQ(bulk.verdict.channel, kNoIndex);

  const auto& genomic = rules[index_of(rules, "biogen-genomic-export")];
  EXPECT_EQ(genomic.verdict.action, Action::kReset);
  EXPECT_TRUE(genomic.verdict.alert);

  const auto& trajectory = rules[index_of(rules, "vehicle-trajectory-export")];
  EXPECT_EQ(trajectory.verdict.action, Action::kBlock);
  EXPECT_TRUE(trajectory.verdict.alert);

  const auto& threshold = rules[index_of(rules, "pi-over-threshold-unapproved")];
  EXPECT_EQ(threshold.match.threshold, engine::ThresholdState::kExceeded);

  const auto& encrypted = rules[index_of(rules, "unregistered-encrypted-export")];
  // Named reasons: only `encrypted`, so resource failures keep the fail mode.
  ASSERT_TRUE(encrypted.match.uninspectable.has_value());
  EXPECT_TRUE(encrypted.match.uninspectable->named);
  EXPECT_EQ(encrypted.match.uninspectable->reasons,
            engine::uninspectable_bit(engine::UninspectableReason::kEncrypted));
  EXPECT_EQ(rules[index_of(rules, "harbor-to-hk")].match.uninspectable, std::nullopt);
}

TEST_F(LingangExample, DefaultsAndLimits) {
  const auto& d = spec().defaults;
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].src_zone, 0u);
  EXPECT_EQ(d[0].dst_zone, 1u);
  EXPECT_EQ(d[0].verdict.action, Action::kAllow);
  EXPECT_EQ(d[0].fail_mode, FailMode::kOpen);
  EXPECT_EQ(d[1].dst_zone, 3u);
  EXPECT_EQ(d[1].fail_mode, FailMode::kClosed);
  EXPECT_EQ(d[2].dst_zone, 2u);
  EXPECT_EQ(spec().export_default.action, Action::kBlock);
  EXPECT_TRUE(spec().export_default.alert);
  EXPECT_EQ(spec().limits.flow_table_size, 262144u);
  EXPECT_EQ(spec().limits.reassembly_memcap_bytes, 256u << 20);
  EXPECT_EQ(spec().limits.default_fail_mode, FailMode::kOpen);
}

TEST(MinimalExample, LoadsWithEngineDefaults) {
  auto r = load_config(test::source_dir() + "/examples/minimal.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const auto& spec = r->spec;
  EXPECT_EQ(spec.name, "minimal");  // no name: the file's stem
  ASSERT_EQ(spec.zones.size(), 2u);
  EXPECT_EQ(spec.default_zone, 1u);
  EXPECT_TRUE(spec.tenants.empty());
  EXPECT_TRUE(spec.rules.empty());
  ASSERT_EQ(spec.defaults.size(), 1u);
  EXPECT_EQ(spec.defaults[0].verdict.action, Action::kAllow);
  EXPECT_TRUE(spec.defaults[0].verdict.alert);
  // Without export_default an unruled export is blocked and reported.
  EXPECT_EQ(spec.export_default.action, Action::kBlock);
  EXPECT_TRUE(spec.export_default.alert);
  EXPECT_EQ(spec.limits.flow_table_size, engine::Limits{}.flow_table_size);
  // The built-in pack only; no compliance section: the spec's defaults.
  EXPECT_EQ(spec.signatures.size(), static_cast<std::size_t>(kBuiltinSignatures));
  EXPECT_EQ(spec.signatures.front().name, "cn_resident_id");
  EXPECT_EQ(spec.signature_pack_version, "builtin@2026.11.1");
  EXPECT_TRUE(spec.compliance.key_file.empty());
  EXPECT_TRUE(spec.compliance.thresholds.empty());
  EXPECT_EQ(spec.compliance.warn_percents, (std::vector<uint32_t>{80, 95, 100}));
  EXPECT_EQ(spec.compliance.bulk_min_count, 50u);
}

TEST(ShanghaiTime, MidnightIsSixteenHundredUtcOfTheDayBefore) {
  EXPECT_EQ(shanghai_midnight(1970, 1, 1), -8 * 3600);
  EXPECT_EQ(shanghai_midnight(2026, 3, 2), 1772380800);  // 2026-03-01T16:00:00Z
  EXPECT_EQ(shanghai_midnight(2024, 3, 1) - shanghai_midnight(2024, 2, 28), 2 * 86400);  // leap
  EXPECT_EQ(shanghai_midnight(2100, 3, 1) - shanghai_midnight(2100, 2, 28), 86400);      // not leap
}

TEST(LoadedModel, KeepsTheTextAsWritten) {
  auto r = load_config_from_string(std::string(test::kZones) +
                                       "tenants:\n"
                                       "  - name: t\n"
                                       "    zone: ftz\n"
                                       "    prefixes: 10.60.1.0/24\n",
                                   "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  ASSERT_EQ(r->model.tenants_size(), 1);
  EXPECT_EQ(r->model.tenants(0).prefixes(0), "10.60.1.0/24");
  EXPECT_EQ(r->model.zones(1).is_default(), true);
  ASSERT_EQ(r->spec.tenants.size(), 1u);
  EXPECT_EQ(engine::format_prefix(r->spec.tenants[0].prefixes[0]), "10.60.1.0/24");
}

}  // namespace
}  // namespace ftz::config
