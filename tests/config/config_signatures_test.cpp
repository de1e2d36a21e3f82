// Signatures (signature packs and the operator's own) and compliance
// settings: packs load and merge, each class of error is reported with its
// exact message, file:line:column and field path. Line numbers in comments
// count from the first line of the YAML text; test::kZones holds lines 1-7.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "test_util.hpp"

namespace ftz::config {
namespace {

using engine::DataClass;
using test::errors_of;
using test::kZones;
using ::testing::ElementsAre;

std::string with_zones(const std::string& rest) {
  return std::string(kZones) + rest;
}

// A signature with every required field, as the operator writes it.
std::string signature(const std::string& name, int sid, const std::string& extra = "") {
  return "  - name: " + name + "\n    sid: " + std::to_string(sid) +
         "\n    class: pi\n    validator: none\n    patterns:\n      - regex: 'X\\d{6}'\n" + extra;
}

// Pack files live next to the configuration, in a per-test directory.
class SignaturePacks : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("ftz-config-sig-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "signatures");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Loads policy.yaml from the directory; the formatted errors.
  std::vector<std::string> errors() {
    auto r = load_config(path("policy.yaml"));
    EXPECT_FALSE(r.has_value()) << "configuration unexpectedly loaded";
    std::vector<std::string> out;
    if (r) return out;
    for (const auto& d : r.error()) out.push_back(format_diagnostic(d));
    return out;
  }
  std::filesystem::path dir_;
};

constexpr const char* kPack =
    "version: 2026.1\n"                  // 1
    "signatures:\n"                      // 2
    "  - name: pack_id\n"                // 3
    "    sid: 9100001\n"                 // 4
    "    class: sensitive_pi\n"          // 5
    "    tags: [identity_document]\n"    // 6
    "    validator: resident_id\n"       // 7
    "    patterns:\n"                    // 8
    "      - regex: '\\d{17}[0-9Xx]'\n"  // 9
    "    context: [idno]\n"              // 10
    "    rationale: one line\n"          // 11
    "  - name: pack_mail\n"              // 12
    "    sid: 9100002\n"                 // 13
    "    class: pi\n"                    // 14
    "    validator: email\n"             // 15
    "    patterns:\n"                    // 16
    "      - regex: '@[a-z]{1,63}'\n"    // 17
    "        som: true\n"                // 18
    "        caseless: true\n";          // 19

TEST_F(SignaturePacks, PacksComeFirstThenTheOperatorsSignatures) {
  write("signatures/a.yaml", kPack);
  write("signatures/b.yaml", "version: \"7\"\nsignatures:\n" + signature("b_one", 9100100));
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml, signatures/b.yaml]\n"
                                  "signatures:\n" +
                                  signature("own", 9200000,
                                            "    context: [policy]\n"
                                            "    context_required: true\n")));
  auto r = load_config(path("policy.yaml"));
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const auto& sigs = r->spec.signatures;
  ASSERT_EQ(sigs.size(), 4u);
  EXPECT_EQ(sigs[0].name, "pack_id");
  EXPECT_EQ(sigs[0].sid, 9100001u);
  EXPECT_EQ(sigs[0].data_class, DataClass::kSensitivePi);
  EXPECT_EQ(sigs[0].tags, std::vector<std::string>{"identity_document"});
  EXPECT_EQ(sigs[0].validator, "resident_id");
  ASSERT_EQ(sigs[0].patterns.size(), 1u);
  EXPECT_EQ(sigs[0].patterns[0].regex, "\\d{17}[0-9Xx]");
  EXPECT_EQ(sigs[0].context, std::vector<std::string>{"idno"});
  EXPECT_EQ(sigs[0].rationale, "one line");
  EXPECT_EQ(sigs[1].name, "pack_mail");
  EXPECT_TRUE(sigs[1].patterns[0].som);
  EXPECT_TRUE(sigs[1].patterns[0].caseless);
  EXPECT_FALSE(sigs[1].patterns[0].utf8);
  EXPECT_EQ(sigs[2].name, "b_one");
  EXPECT_EQ(sigs[3].name, "own");
  EXPECT_TRUE(sigs[3].context_required);
  EXPECT_EQ(r->spec.signature_pack_version, "a@2026.1,b@7");
  ASSERT_EQ(r->packs.size(), 2u);
  EXPECT_EQ(r->packs[1].version(), "7");
  EXPECT_EQ(r->files, (std::vector<std::string>{path("policy.yaml"), path("signatures/a.yaml"),
                                                path("signatures/b.yaml")}));
}

TEST_F(SignaturePacks, DuplicateSidAndNameAcrossPackAndOperatorNameBothPlaces) {
  write("signatures/a.yaml", kPack);
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml]\n"  // 8
                                  "signatures:\n" +                         // 9
                                  signature("mine", 9100002) +              // 10-15
                                  signature("pack_id", 9200001)));          // 16-21
  const auto pack = path("signatures/a.yaml");
  EXPECT_THAT(
      errors(),
      ElementsAre(path("policy.yaml") + ":11:10: signatures[0].sid: duplicate sid 9100002 (first at " + pack +
                      ":13:10, signature_packs[0].signatures[1].sid, signature \"pack_mail\")",
                  path("policy.yaml") +
                      ":16:11: signatures[1].name: duplicate signature name \"pack_id\" (first at " + pack +
                      ":3:11, signature_packs[0].signatures[0].name)"));
}

TEST(Signatures, DuplicateWithinTheConfigurationCitesTheLineOnly) {
  EXPECT_THAT(errors_of(with_zones("signatures:\n" + signature("a", 9200001) + signature("b", 9200001))),
              ElementsAre("policy.yaml:16:10: signatures[1].sid: duplicate sid 9200001 (first at "
                          "policy.yaml:10:10, signature \"a\")"));
}

TEST_F(SignaturePacks, MissingPackNamesTheLineThatReferencesIt) {
  write("policy.yaml", with_zones("signature_packs:\n"             // 8
                                  "  - signatures/builtin.yaml\n"  // 9
                                  "  - signatures/builtin.yaml\n"  // 10
                                  "  - signatures\n"));            // 11
  const auto yaml = path("policy.yaml");
  EXPECT_THAT(errors(), ElementsAre(yaml + ":9:5: signature_packs[0]: cannot read signature pack \"" +
                                        path("signatures/builtin.yaml") + "\": no such file",
                                    yaml + ":10:5: signature_packs[1]: signature pack \"" +
                                        path("signatures/builtin.yaml") + "\" is listed twice (first at " +
                                        yaml + ":9:5)",
                                    yaml + ":11:5: signature_packs[2]: cannot read signature pack \"" +
                                        path("signatures") + "\": not a regular file"));
}

TEST_F(SignaturePacks, ErrorsInsideAPackNameThePackFile) {
  write("signatures/a.yaml",
        "version: 2026.1\n"            // 1
        "signatures:\n"                // 2
        "  - name: bad one\n"          // 3
        "    sid: 0\n"                 // 4
        "    class: personal\n"        // 5
        "    tags: [Identity]\n"       // 6
        "    validator: resdent_id\n"  // 7
        "    patterns: []\n"           // 8
        "    colour: red\n"            // 9
        "  - name: no_patterns\n"      // 10
        "    sid: 9\n"                 // 11
        "    class: pi\n"              // 12
        "    validator: none\n");      // 13
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml]\n"));
  const auto pack = path("signatures/a.yaml");
  EXPECT_THAT(
      errors(),
      ElementsAre(
          pack + ":3:11: signature_packs[0].signatures[0].name: invalid signature name \"bad one\" (1 "
                 "to 64 letters, digits and . _ @ : / -, starting with a letter or digit)",
          pack + ":4:10: signature_packs[0].signatures[0].sid: 0 is out of range [1, 4294967295]",
          pack + ":5:12: signature_packs[0].signatures[0].class: invalid data class \"personal\" "
                 "(expected \"pi\", \"sensitive_pi\", \"important\", \"core\" or \"org_id\")",
          pack + ":6:12: signature_packs[0].signatures[0].tags[0]: invalid tag \"Identity\" "
                 "(lower_snake: 1 to 32 of a-z, 0-9 and _, starting with a letter)",
          pack + ":7:16: signature_packs[0].signatures[0].validator: unknown validator \"resdent_id\" "
                 "(did you mean \"resident_id\"?)",
          pack + ":8:15: signature_packs[0].signatures[0].patterns: a signature needs at least one "
                 "pattern",
          pack + ":9:5: signature_packs[0].signatures[0]: unknown key \"colour\"",
          pack + ":10:5: signature_packs[0].signatures[1].patterns: missing required field"));
}

TEST_F(SignaturePacks, PackShapeAndSyntax) {
  write("signatures/a.yaml", "signatures: {}\n");
  write("signatures/b.yaml", "version: 1\nsignatures: [a, b\n");
  write("signatures/c.yaml", "");
  write("signatures/d.yaml", "version: \"1 0\"\nsignatures: []\n---\nversion: 2\n");
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml, signatures/b.yaml, signatures/c.yaml,"
                                  " signatures/d.yaml]\n"));
  EXPECT_THAT(
      errors(),
      ElementsAre(
          path("signatures/a.yaml") + ":1:1: signature_packs[0].version: missing required field",
          path("signatures/a.yaml") +
              ":1:13: signature_packs[0].signatures: expected a sequence, got a mapping",
          path("signatures/b.yaml") +
              ":3:1: signature_packs[1]: YAML syntax error: end of sequence flow not found",
          path("signatures/c.yaml") + ":1:1: signature_packs[2]: the signature pack is empty",
          path("signatures/d.yaml") + ":3:1: signature_packs[3]: only one YAML document per signature pack"));
}

TEST_F(SignaturePacks, DeepPackIsRefusedLikeTheConfiguration) {
  write("signatures/a.yaml",
        "version: 1\nsignatures: " + std::string(100, '[') + std::string(100, ']') + "\n");
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml]\n"));
  EXPECT_THAT(errors(), ElementsAre(path("signatures/a.yaml") +
                                    ":2:76: signature_packs[0]: nesting deeper than 64 levels"));
}

TEST_F(SignaturePacks, CanBeDisabled) {
  LoadOptions options;
  options.allow_included_files = false;
  EXPECT_THAT(
      errors_of(with_zones("signature_packs: [signatures/builtin.yaml]\n"), "policy.yaml", options),
      ElementsAre("policy.yaml:8:19: signature_packs[0]: signature packs are disabled in this context"));
}

TEST(Signatures, UnknownValidator) {
  EXPECT_THAT(
      errors_of(with_zones("signatures:\n"
                           "  - name: a\n"          // 9
                           "    sid: 9200001\n"     // 10
                           "    class: pi\n"        // 11
                           "    validator: luhn\n"  // 12
                           "    patterns: [{regex: 'a\\d{4}'}]\n")),
      ElementsAre("policy.yaml:12:16: signatures[0].validator: unknown validator \"luhn\" (expected "
                  "\"none\", \"resident_id\", \"resident_id_15\", \"bank_card\", \"uscc\", \"mobile\", "
                  "\"passport\", \"hk_macao_permit\", \"home_return_permit\", \"taiwan_permit\", "
                  "\"imei\", \"email\", \"coordinates\", \"trajectory\", \"vehicle_plate\", \"vcf\", "
                  "\"fasta\", \"fastq\", \"hl7\", \"dicom\" or \"fhir_patient\")"));
}

TEST(Signatures, LookaroundIsRejectedWithHyperscansReason) {
  const std::string yaml = with_zones(
      "signatures:\n"
      "  - name: a\n"                      // 9
      "    sid: 9200001\n"                 // 10
      "    class: pi\n"                    // 11
      "    validator: none\n"              // 12
      "    patterns:\n"                    // 13
      "      - regex: '(?<!\\d)\\d{6}'\n"  // 14
      "      - regex: '\\d{6}(?=\\D)'\n"   // 15
      "      - regex: 'a(?!b)'\n"          // 16
      "      - regex: '(?<=x)y'\n"         // 17
      // Not lookaround: an escaped paren, a class, a comment, \Q..\E.
      "      - regex: '\\(?=[(?=]\\Q(?=\\E(?#(?=)z'\n"  // 18
      "      - regex: '[[:digit:](?!]{3}'\n");          // 19
  EXPECT_THAT(
      errors_of(yaml),
      ElementsAre("policy.yaml:14:16: signatures[0].patterns[0].regex: negative lookbehind \"(?<!\" at "
                  "offset 0: Hyperscan does not support lookaround (\"Zero-width assertions are not "
                  "supported\"); boundaries are checked after the scan, use a validator or context "
                  "keywords instead",
                  "policy.yaml:15:16: signatures[0].patterns[1].regex: lookahead \"(?=\" at offset 5: "
                  "Hyperscan does not support lookaround (\"Zero-width assertions are not "
                  "supported\"); boundaries are checked after the scan, use a validator or context "
                  "keywords instead",
                  "policy.yaml:16:16: signatures[0].patterns[2].regex: negative lookahead \"(?!\" at "
                  "offset 1: Hyperscan does not support lookaround (\"Zero-width assertions are not "
                  "supported\"); boundaries are checked after the scan, use a validator or context "
                  "keywords instead",
                  "policy.yaml:17:16: signatures[0].patterns[3].regex: lookbehind \"(?<=\" at offset 0: "
                  "Hyperscan does not support lookaround (\"Zero-width assertions are not "
                  "supported\"); boundaries are checked after the scan, use a validator or context "
                  "keywords instead"));
}

// What Hyperscan refuses is found only when the catalog is compiled, after
// the configuration was accepted: the error still names the regex's place.
TEST_F(SignaturePacks, HyperscanRefusalsKeepTheirPosition) {
  write("signatures/a.yaml", kPack);
  write("signatures/b.yaml",
        "version: \"1\"\n"               // 1
        "signatures:\n"                  // 2
        "  - name: b_ok\n"               // 3
        "    sid: 9100101\n"             // 4
        "    class: pi\n"                // 5
        "    validator: none\n"          // 6
        "    patterns:\n"                // 7
        "      - regex: 'B\\d{6}'\n"     // 8
        "      - regex: 'C\\d{6,}'\n");  // 9: unbounded width
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml, signatures/b.yaml]\n"));
  auto loaded = load_config(path("policy.yaml"));
  ASSERT_TRUE(loaded.has_value()) << format_diagnostics(loaded.error());
  auto db = compile_signatures(*loaded);
  ASSERT_FALSE(db.has_value());
  ASSERT_EQ(db.error().size(), 1u);
  EXPECT_THAT(
      format_diagnostic(db.error()[0]),
      ::testing::StartsWith(path("signatures/b.yaml") +
                            ":9:16: signature_packs[1].signatures[0].patterns[1].regex: cannot compile: "
                            "signature \"b_ok\" pattern 1"));

  // In the operator's own signatures, after the packs: a class Hyperscan's
  // parser refuses.
  write("policy.yaml", with_zones("signature_packs: [signatures/a.yaml]\n"  // 8
                                  "signatures:\n"                           // 9
                                  "  - name: own\n"                         // 10
                                  "    sid: 9200001\n"                      // 11
                                  "    class: pi\n"                         // 12
                                  "    validator: none\n"                   // 13
                                  "    patterns:\n"                         // 14
                                  "      - regex: 'X[9-0]\\d{6}'\n"))       // 15
      ;
  loaded = load_config(path("policy.yaml"));
  ASSERT_TRUE(loaded.has_value()) << format_diagnostics(loaded.error());
  db = compile_signatures(*loaded);
  ASSERT_FALSE(db.has_value());
  EXPECT_THAT(
      format_diagnostic(db.error()[0]),
      ::testing::StartsWith(path("policy.yaml") +
                            ":15:16: signatures[0].patterns[0].regex: cannot compile: signature \"own\""));

  // A good catalog compiles, both packs' and the operator's signatures.
  write("policy.yaml",
        with_zones("signature_packs: [signatures/a.yaml]\nsignatures:\n" + signature("own", 9200001)));
  loaded = load_config(path("policy.yaml"));
  ASSERT_TRUE(loaded.has_value());
  db = compile_signatures(*loaded);
  ASSERT_TRUE(db.has_value()) << format_diagnostics(db.error());
  ASSERT_NE(*db, nullptr);
  EXPECT_EQ((*db)->specs().size(), 3u);
}

TEST(Signatures, NoCatalogCompilesToNothing) {
  auto loaded = load_config_from_string(kZones, "policy.yaml");
  ASSERT_TRUE(loaded.has_value());
  auto db = compile_signatures(*loaded);
  ASSERT_TRUE(db.has_value());
  EXPECT_EQ(*db, nullptr);
}

TEST(Signatures, FieldChecks) {
  EXPECT_THAT(
      errors_of(with_zones("signatures:\n"
                           "  - name: a\n"                           // 9
                           "    sid: 9200001\n"                      // 10
                           "    data_class: pi\n"                    // 11
                           "    validator: none\n"                   // 12
                           "    patterns: [{regex: '', utf8: 1}]\n"  // 13
                           "    context: ['', \"a\\tb\"]\n"          // 14
                           "    rationale: \"two\\nlines\"\n"        // 15
                           "  - name: b\n"                           // 16
                           "    sid: 9200002\n"                      // 17
                           "    class: pi\n"                         // 18
                           "    validator: none\n"                   // 19
                           "    patterns: [{regex: \"a\\0b\"}]\n"    // 20
                           "    context_required: true\n")),         // 21
      ElementsAre("policy.yaml:9:5: signatures[0].class: missing required field",
                  "policy.yaml:11:17: signatures[0].data_class: signatures give their data class as "
                  "\"class\" (as in signature packs)",
                  "policy.yaml:13:24: signatures[0].patterns[0].regex: empty regex",
                  "policy.yaml:13:34: signatures[0].patterns[0].utf8: expected true or false, got \"1\"",
                  "policy.yaml:14:15: signatures[0].context[0]: empty context keyword",
                  "policy.yaml:14:19: signatures[0].context[1]: invalid context keyword \"a\\x09b\" (1 to "
                  "64 bytes, no control characters)",
                  "policy.yaml:15:16: signatures[0].rationale: the rationale must be one line without "
                  "control characters",
                  "policy.yaml:20:24: signatures[1].patterns[0].regex: regex contains a NUL byte (write "
                  "\\x00)",
                  "policy.yaml:21:23: signatures[1].context_required: context_required without context "
                  "keywords: the signature could never count"));
}

constexpr const char* kCompliance =
    "compliance:\n"                           // 8
    "  key_file: keys/token.key\n"            // 9
    "  state_file: state/compliance.state\n"  // 10
    "  thresholds:\n"                         // 11
    "    - name: pi-scc\n"                    // 12
    "      data_class: pi\n"                  // 13
    "      individuals: 100000\n"             // 14
    "      mechanism: standard contract\n";   // 15

TEST(Compliance, CompilesWithDefaults) {
  auto r = load_config_from_string(with_zones(kCompliance), "/etc/ftzgate/policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const auto& c = r->spec.compliance;
  EXPECT_EQ(c.key_file, "/etc/ftzgate/keys/token.key");  // relative to the YAML file
  EXPECT_EQ(c.state_file, "/etc/ftzgate/state/compliance.state");
  EXPECT_FALSE(c.use_sm3);
  ASSERT_EQ(c.thresholds.size(), 1u);
  EXPECT_EQ(c.thresholds[0].name, "pi-scc");
  EXPECT_EQ(c.thresholds[0].data_class, DataClass::kPi);
  EXPECT_EQ(c.thresholds[0].individuals, 100000u);
  EXPECT_EQ(c.thresholds[0].mechanism, "standard contract");
  EXPECT_EQ(c.warn_percents, (std::vector<uint32_t>{80, 95, 100}));
  EXPECT_EQ(c.count_mode, engine::CountMode::kMaxOverIdentifierTypes);
  EXPECT_EQ(c.max_tokens_per_set, 2'000'000u);
  EXPECT_EQ(c.bulk_min_count, 50u);
}

TEST(Compliance, EveryFieldCompiles) {
  auto r = load_config_from_string(with_zones(std::string(kCompliance) + "  token_algorithm: hmac_sm3\n"
                                                                         "  warn_percents: [50, 90]\n"
                                                                         "  count_mode: sum\n"
                                                                         "  max_tokens_per_set: 500000\n"
                                                                         "  bulk_min_count: 20\n"),
                                   "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  const auto& c = r->spec.compliance;
  EXPECT_EQ(c.key_file, "keys/token.key");
  EXPECT_TRUE(c.use_sm3);
  EXPECT_EQ(c.warn_percents, (std::vector<uint32_t>{50, 90}));
  EXPECT_EQ(c.count_mode, engine::CountMode::kSumOverIdentifierTypes);
  EXPECT_EQ(c.max_tokens_per_set, 500000u);
  EXPECT_EQ(c.bulk_min_count, 20u);
}

TEST(Compliance, BadThresholds) {
  EXPECT_THAT(
      errors_of(with_zones("compliance:\n"                           // 8
                           "  key_file: k\n"                         // 9
                           "  state_file: k\n"                       // 10
                           "  thresholds:\n"                         // 11
                           "    - name: zero\n"                      // 12
                           "      data_class: pi\n"                  // 13
                           "      individuals: 0\n"                  // 14
                           "      mechanism: x\n"                    // 15
                           "    - name: important\n"                 // 16
                           "      data_class: important\n"           // 17
                           "      individuals: 10\n"                 // 18
                           "      mechanism: \"a\\nb\"\n"            // 19
                           "    - name: a\n"                         // 20
                           "      data_class: pi\n"                  // 21
                           "      individuals: 5000000\n"            // 22
                           "      mechanism: security assessment\n"  // 23
                           "    - name: a\n"                         // 24
                           "      data_class: pi\n"                  // 25
                           "      individuals: 5000000\n"            // 26
                           "  warn_percents: [80, 101, 0]\n")),      // 27
      ElementsAre("policy.yaml:10:15: compliance.state_file: the state file cannot be the key file \"k\"",
                  "policy.yaml:14:20: compliance.thresholds[0].individuals: 0 is out of range [1, "
                  "1000000000000]",
                  "policy.yaml:17:19: compliance.thresholds[1].data_class: thresholds count individuals "
                  "whose \"pi\" or \"sensitive_pi\" left, not \"important\"",
                  "policy.yaml:19:18: compliance.thresholds[1].mechanism: the mechanism is one line of 1 "
                  "to 200 bytes (it goes into events)",
                  "policy.yaml:22:20: compliance.thresholds[2].individuals: max_tokens_per_set (2000000) "
                  "is below threshold \"a\" (5000000 individuals): the exact count could never reach it",
                  "policy.yaml:24:7: compliance.thresholds[3].mechanism: missing required field",
                  "policy.yaml:24:13: compliance.thresholds[3].name: duplicate threshold name \"a\" "
                  "(first at policy.yaml:20:13)",
                  "policy.yaml:26:20: compliance.thresholds[3].individuals: threshold \"a\" already sets "
                  "5000000 individuals of \"pi\" (at policy.yaml:22:20)",
                  "policy.yaml:27:23: compliance.warn_percents[1]: 101 is out of range [1, 100]",
                  "policy.yaml:27:28: compliance.warn_percents[2]: 0 is out of range [1, 100]"));
}

TEST(Compliance, WarnPercentsAscendAndMaxTokensHoldTheLargestLine) {
  EXPECT_THAT(
      errors_of(with_zones(std::string(kCompliance) + "  warn_percents: [80, 95, 95]\n"  // 16
                                                      "  max_tokens_per_set: 1000\n")),  // 17
      ElementsAre("policy.yaml:16:27: compliance.warn_percents[2]: warn_percents must be strictly "
                  "ascending (95 after 95)",
                  "policy.yaml:17:23: compliance.max_tokens_per_set: max_tokens_per_set (1000) is below "
                  "threshold \"pi-scc\" (100000 individuals): the exact count could never reach it"));
  EXPECT_THAT(
      errors_of(with_zones(std::string(kCompliance) + "  warn_percents: []\n")),
      ElementsAre("policy.yaml:16:18: compliance.warn_percents: an empty list; leave warn_percents out "
                  "for the default 80, 95, 100"));
}

TEST(Compliance, RequiredFieldsAndEnums) {
  EXPECT_THAT(errors_of(with_zones("compliance:\n"
                                   "  token_algorithm: sha256\n"  // 9
                                   "  count_mode: max\n")),       // 10
              ElementsAre("policy.yaml:9:3: compliance.key_file: missing required field",
                          "policy.yaml:9:3: compliance.state_file: missing required field",
                          "policy.yaml:9:20: compliance.token_algorithm: invalid token algorithm \"sha256\" "
                          "(expected \"hmac_sha256\" or \"hmac_sm3\")",
                          "policy.yaml:10:15: compliance.count_mode: invalid count mode \"max\" (expected "
                          "\"max_over_identifier_types\" or \"sum\")"));
}

TEST(Compliance, ThresholdRulesNeedThresholds) {
  EXPECT_THAT(
      errors_of(with_zones("rules:\n"
                           "  - name: r\n"                       // 9
                           "    match: {threshold: exceeded}\n"  // 10
                           "    action: block\n")),
      ElementsAre("policy.yaml:10:24: rules[0].match.threshold: no compliance thresholds are "
                  "configured: the threshold state is always \"normal\" (add compliance.thresholds)"));
}

}  // namespace
}  // namespace ftz::config
