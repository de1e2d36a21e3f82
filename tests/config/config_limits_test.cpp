// Input caps: size, nesting depth and alias expansion are refused with a
// located error instead of exhausting memory or the stack.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ftz/config/config.hpp"
#include "test_util.hpp"

namespace ftz::config {
namespace {

using test::errors_of;
using ::testing::ElementsAre;

TEST(ConfigCaps, InputLargerThanTheCapIsRefusedBeforeParsing) {
  std::string yaml(kMaxInputBytes + 1, '#');
  EXPECT_THAT(errors_of(yaml),
              ElementsAre("policy.yaml:1:1: input is 16777217 bytes, above the 16 MiB limit"));
}

// Every string of the model is a protobuf `string` (UTF-8): a raw byte would
// make a policy bundle that no data plane can parse (fuzz_bundle's finding).
TEST(ConfigCaps, TextThatIsNotUtf8IsRefusedWhereTheByteIs) {
  EXPECT_THAT(
      errors_of("zones:\n  - name: in\xEEside\n"),
      ElementsAre("policy.yaml:2:13: not UTF-8: byte 0xEE (a configuration file is UTF-8 text; write a "
                  "byte in a regex as \\xHH)"));
  // Overlong, surrogate, above U+10FFFF, truncated at the end.
  for (const char* bad : {"# \xC0\xAF\n", "# \xED\xA0\x80\n", "# \xF4\x90\x80\x80\n", "# \xE4\xB8"}) {
    EXPECT_THAT(errors_of(bad), ElementsAre(::testing::HasSubstr("policy.yaml:1:3: not UTF-8"))) << bad;
  }
  // Chinese, full-width and astral-plane text is UTF-8 (the other errors are
  // about the missing zones).
  for (const std::string& e : errors_of("# 临港新片区 ＡＢＣ 𠀀\n"))
    EXPECT_EQ(e.find("UTF-8"), std::string::npos) << e;
}

TEST(ConfigCaps, DeepFlowNestingIsRefused) {
  // 100000 levels would overflow yaml-cpp's recursive parser.
  const std::string yaml = "zones: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
  EXPECT_THAT(errors_of(yaml), ElementsAre("policy.yaml:1:71: nesting deeper than 64 levels"));
}

TEST(ConfigCaps, DeepBlockNestingIsRefused) {
  std::string yaml;
  for (int i = 0; i < 100; ++i) yaml += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
  EXPECT_THAT(errors_of(yaml), ElementsAre("policy.yaml:65:65: nesting deeper than 64 levels"));
  std::string dashes = "zones:\n";
  for (int i = 0; i < 80; ++i) dashes += "- ";
  dashes += "x\n";
  EXPECT_THAT(errors_of(dashes), ElementsAre("policy.yaml:2:127: nesting deeper than 64 levels"));
}

TEST(ConfigCaps, BracketsInQuotesAndCommentsDoNotCount) {
  std::string yaml = std::string(test::kZones) + "name: \"" + std::string(200, '[') + "\"  # " +
                     std::string(200, '{') + "\n";
  auto r = load_config_from_string(yaml, "policy.yaml");
  ASSERT_TRUE(r.has_value()) << format_diagnostics(r.error());
  EXPECT_EQ(r->spec.name, std::string(200, '['));
}

TEST(ConfigCaps, AliasExpansionIsBounded) {
  // 1000 aliases of a zone with 2000 prefixes: 2 million nodes to walk from
  // about 30 KB of text.
  std::string yaml = "zones:\n  - &z {name: z, kind: ftz, prefixes: [";
  for (int i = 0; i < 2000; ++i) yaml += (i ? ", " : "") + std::string("10.0.0.0/8");
  yaml += "]}\n";
  for (int i = 0; i < 1000; ++i) yaml += "  - *z\n";
  const auto errs = errors_of(yaml);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_NE(errs[0].find("document expands to more than 1000000 nodes"), std::string::npos) << errs[0];
}

TEST(ConfigCaps, AliasCycleDoesNotRecurse) {
  EXPECT_THAT(errors_of("zones: &a [*a]\n"),
              ElementsAre("policy.yaml:1:8: zones[0]: expected a mapping, got a sequence"));
}

TEST(ConfigCaps, StrayTokenDoesNotHangTheParser) {
  // yaml-cpp 0.7's LoadAll() loops forever on this (jbeder/yaml-cpp#1319).
  EXPECT_THAT(errors_of(",\n"), ElementsAre("policy.yaml:1:1: YAML syntax error: unexpected token"));
  EXPECT_THAT(errors_of(",zrt: [4ones:\n  - {name: ftz}\n"),
              ElementsAre("policy.yaml:1:1: YAML syntax error: unexpected token"));
}

TEST(ConfigCaps, OnlyOneDocument) {
  EXPECT_THAT(errors_of(std::string(test::kZones) + "---\nzones: []\n"),
              ElementsAre("policy.yaml:8:1: only one YAML document per configuration file"));
}

// The fuzzer's seeds replayed as the fuzzer runs them (no included files):
// each loads or says why, in a normal build too.
TEST(ConfigFuzzCorpus, SeedsLoadOrExplain) {
  LoadOptions options;
  options.allow_included_files = false;
  std::size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() + "/tests/config/corpus")) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    auto r = load_config_from_string(text.str(), "fuzz.yaml", options);
    if (!r) {
      EXPECT_FALSE(r.error().empty()) << entry.path();
    }
    ++seeds;
  }
  EXPECT_GE(seeds, 8u);
}

TEST(ConfigFuzzCorpus, IncludedFilesAreOffForTheFuzzer) {
  LoadOptions options;
  options.allow_included_files = false;
  EXPECT_THAT(
      errors_of("zones:\n"
                "  - {name: ftz, kind: ftz, prefix_list_files: [/etc/passwd]}\n"
                "  - {name: offshore, kind: offshore, default: true}\n"
                "signature_packs: [/etc/passwd]\n",
                "fuzz.yaml", options),
      ElementsAre("fuzz.yaml:2:48: zones[0].prefix_list_files[0]: prefix-list files are disabled in "
                  "this context",
                  "fuzz.yaml:4:19: signature_packs[0]: signature packs are disabled in this context"));
}

}  // namespace
}  // namespace ftz::config
