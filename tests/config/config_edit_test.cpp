// `set` / `delete` on the reference deployment's YAML (examples/lingang.yaml):
// each edit's result is read back by the configuration loader (the same one
// a commit runs), which is the judge of what the edit did.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ftz/config/edit.hpp"
#include "test_util.hpp"

namespace ftz::config {
namespace {

namespace pb = ftzgate::v1;

class ConfigEdit : public ::testing::Test {
 protected:
  ConfigEdit() {
    std::ostringstream s;
    s << std::ifstream(path_).rdbuf();
    yaml_ = s.str();
  }
  // The loader's model of `text`, its files found beside lingang.yaml.
  pb::Config load(const std::string& text) {
    auto loaded = load_config_from_string(text, path_);
    EXPECT_TRUE(loaded) << (loaded ? "" : format_diagnostics(loaded.error())) << text;
    return loaded ? loaded->model : pb::Config{};
  }
  static const pb::Rule* rule(const pb::Config& c, const std::string& name) {
    for (const auto& r : c.rules()) {
      if (r.name() == name) return &r;
    }
    return nullptr;
  }
  std::string set(const std::string& text, const std::vector<std::string>& path, const std::string& value) {
    auto out = edit_set(text, path, value);
    EXPECT_TRUE(out) << (out ? "" : out.error());
    return out ? *out : text;
  }
  std::string del(const std::string& text, const std::vector<std::string>& path) {
    auto out = edit_delete(text, path);
    EXPECT_TRUE(out) << (out ? "" : out.error());
    return out ? *out : text;
  }

  const std::string path_ = test::source_dir() + "/examples/lingang.yaml";
  std::string yaml_;
};

TEST_F(ConfigEdit, SetChangesOneFieldOfANamedItemAndNothingElse) {
  const pb::Config before = load(yaml_);
  const pb::Config after = load(set(yaml_, {"rules", "domestic-fast-path", "action"}, "block"));
  const pb::Rule* changed = rule(after, "domestic-fast-path");
  ASSERT_NE(changed, nullptr);
  EXPECT_EQ(changed->verdict().action(), pb::ACTION_BLOCK);
  pb::Config expect = before;
  for (auto& r : *expect.mutable_rules()) {
    if (r.name() == "domestic-fast-path") r.mutable_verdict()->set_action(pb::ACTION_BLOCK);
  }
  EXPECT_EQ(after.SerializeAsString(), expect.SerializeAsString()) << "everything else is as it was";
}

TEST_F(ConfigEdit, SetCreatesANamedItemAndAppendsToAListOfValues) {
  std::string text = set(yaml_, {"rules", "no-ftp-out", "match", "dst_port"}, "21");
  text = set(text, {"rules", "no-ftp-out", "action"}, "block");
  text = set(text, {"tenants", "pacific-re", "prefixes"}, "10.60.9.0/24");
  text = set(text, {"tenants", "pacific-re", "prefixes"}, "10.60.9.0/24");  // present: once
  const pb::Config c = load(text);
  const pb::Rule* r = rule(c, "no-ftp-out");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->verdict().action(), pb::ACTION_BLOCK);
  EXPECT_EQ(c.rules(c.rules_size() - 1).name(), "no-ftp-out") << "appended";
  for (const auto& t : c.tenants()) {
    if (t.name() != "pacific-re") continue;
    EXPECT_EQ(std::count(t.prefixes().begin(), t.prefixes().end(), "10.60.9.0/24"), 1);
  }
}

TEST_F(ConfigEdit, DeleteRemovesAnItemAKeyAValueAndAnApprovalById) {
  std::string text = del(yaml_, {"rules", "domestic-fast-path"});
  text = del(text, {"tenants", "pacific-re", "approvals", "SCC-SH-2026-0142"});
  text = set(text, {"tenants", "pacific-re", "prefixes"}, "10.60.9.0/24");  // its last prefix may not go
  text = del(text, {"tenants", "pacific-re", "prefixes", "10.60.2.0/24"});
  text = del(text, {"tenants", "pacific-re", "description"});
  const pb::Config c = load(text + "");
  EXPECT_EQ(rule(c, "domestic-fast-path"), nullptr);
  for (const auto& t : c.tenants()) {
    if (t.name() != "pacific-re") continue;
    for (const auto& a : t.approvals()) EXPECT_NE(a.id(), "SCC-SH-2026-0142");
    EXPECT_EQ(std::count(t.prefixes().begin(), t.prefixes().end(), "10.60.2.0/24"), 0);
    EXPECT_EQ(t.description(), "");
  }
  EXPECT_EQ(load(yaml_).rules_size(), c.rules_size() + 1);
}

TEST_F(ConfigEdit, WhatCannotBeDoneIsSaidAndChangesNothing) {
  const auto says = [](const tl::expected<std::string, std::string>& r, const std::string& what) {
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(what), std::string::npos) << r.error();
  };
  says(edit_set(yaml_, {"rules"}, "x"), "list of named items");
  says(edit_set(yaml_, {"compliance"}, "x"), "is a section");
  says(edit_set(yaml_, {"rules", "domestic-fast-path", "action", "deeper"}, "x"), "is a value");
  says(edit_set(yaml_, {"rules", "new-rule"}, "x"), "is an item");
  // A rule's name is its key: renaming it by `set` would make the same set
  // add a second item the next time (the fuzzer found `set zones a name ftz`).
  says(edit_set(yaml_, {"rules", "domestic-fast-path", "name"}, "other"), "is the key");
  says(edit_set(yaml_, {"zones", "new-zone", "name"}, "other"), "is the key");
  EXPECT_TRUE(edit_set(yaml_, {"rules", "domestic-fast-path", "name"}, "domestic-fast-path"));
  says(edit_delete(yaml_, {"rules", "no-such-rule"}), "no rules no-such-rule");
  says(edit_delete(yaml_, {"nothing"}), "no nothing");
  says(edit_set(yaml_, {}, "x"), "a path is required");
  says(edit_set("zones: [\n", {"zones"}, "x"), "does not parse");
  says(edit_set("- a\n- b\n", {"zones"}, "x"), "not a mapping");
}

// load merge: a file with part of a configuration merges by name.
TEST_F(ConfigEdit, MergeJoinsNamedItemsAddsValuesAndAppendsWhatIsNew) {
  const std::string patch =
      "rules:\n"
      "  - name: domestic-fast-path\n"
      "    action: block\n"
      "  - name: no-smtp-out\n"
      "    match: {dst_port: 25}\n"
      "    action: block\n"
      "tenants:\n"
      "  - name: pacific-re\n"
      "    prefixes: [10.60.9.0/24, 10.60.2.0/24]\n";
  auto merged = edit_merge(yaml_, patch);
  ASSERT_TRUE(merged) << merged.error();
  const pb::Config before = load(yaml_);
  const pb::Config c = load(*merged);
  const pb::Rule* fast = rule(c, "domestic-fast-path");
  ASSERT_NE(fast, nullptr);
  EXPECT_EQ(fast->verdict().action(), pb::ACTION_BLOCK);
  EXPECT_TRUE(fast->has_match()) << "the rest of the item stays";
  ASSERT_NE(rule(c, "no-smtp-out"), nullptr);
  EXPECT_EQ(c.rules_size(), before.rules_size() + 1);
  for (const auto& t : c.tenants()) {
    if (t.name() != "pacific-re") continue;
    EXPECT_EQ(std::count(t.prefixes().begin(), t.prefixes().end(), "10.60.2.0/24"), 1);
    EXPECT_EQ(std::count(t.prefixes().begin(), t.prefixes().end(), "10.60.9.0/24"), 1);
  }
  auto again = edit_merge(*merged, patch);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *merged) << "merging twice is merging once";
  auto bad = edit_merge(yaml_, "rules: [\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("the file to merge"), std::string::npos) << bad.error();
}

TEST_F(ConfigEdit, AnEmptyCandidateGrowsIntoAConfiguration) {
  std::string text = set("", {"zones", "inside", "kind"}, "ftz");
  text = set(text, {"zones", "inside", "prefixes"}, "10.0.0.0/8");
  text = set(text, {"zones", "offshore", "kind"}, "offshore");
  text = set(text, {"zones", "offshore", "default"}, "true");
  auto loaded = load_config_from_string(text, "built.yaml");
  ASSERT_TRUE(loaded) << format_diagnostics(loaded.error()) << text;
  ASSERT_EQ(loaded->model.zones_size(), 2);
  EXPECT_EQ(loaded->model.zones(0).prefixes(0), "10.0.0.0/8");
  EXPECT_TRUE(loaded->model.zones(1).is_default());
}

}  // namespace
}  // namespace ftz::config
