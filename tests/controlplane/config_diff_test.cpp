// `show configuration | compare`: the hunks ftzctl prints are the hunks GNU
// diff -U3 prints for the same two texts (the oracle), on edits an operator
// makes to examples/lingang.yaml: a changed action, a tenant added, lines
// removed at the start and the end, a last line without a newline.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ftz/config/diff.hpp"
#include "ftz/test/files.hpp"

namespace ftz::config {
namespace {

std::string read(const std::string& path) {
  std::ostringstream s;
  s << std::ifstream(path).rdbuf();
  return s.str();
}

// The hunks, without the two file headers (their labels differ) and
// without GNU's "\ No newline at end of file" (a configuration's last line
// is a line either way).
std::vector<std::string> hunks(const std::string& diff) {
  std::vector<std::string> out;
  std::istringstream in(diff);
  std::string line;
  for (int i = 0; i < 2 && std::getline(in, line);) ++i;
  while (std::getline(in, line)) {
    if (!line.starts_with("\\")) out.push_back(line);
  }
  return out;
}

class ConfigDiff : public ::testing::Test {
 protected:
  void expect_as_gnu_diff(const std::string& from, const std::string& to) {
    std::ofstream(dir_.file("a")) << from;
    std::ofstream(dir_.file("b")) << to;
    const test::RunResult gnu = test::run_command("diff -U3 " + dir_.file("a") + " " + dir_.file("b"));
    ASSERT_EQ(gnu.status, 1) << "the texts differ";
    const std::string ours = unified_diff(from, to, "running", "candidate");
    ASSERT_TRUE(ours.starts_with("--- running\n+++ candidate\n")) << ours;
    EXPECT_EQ(hunks(ours), hunks(gnu.output)) << ours << "\n---- GNU diff:\n" << gnu.output;
  }
  static std::string replace(std::string s, const std::string& what, const std::string& with) {
    const size_t at = s.find(what);
    EXPECT_NE(at, std::string::npos) << what;
    return at == std::string::npos ? s : s.replace(at, what.size(), with);
  }

  test::TempDir dir_{"diff"};
  const std::string lingang_ = read(test::source_dir() + "/examples/lingang.yaml");
};

TEST_F(ConfigDiff, EqualTextsHaveNoDiff) {
  EXPECT_EQ(unified_diff(lingang_, lingang_, "a", "b"), "");
}

TEST_F(ConfigDiff, AChangedActionIsOneHunk) {
  const std::string to = replace(lingang_, "    action: allow\n", "    action: block\n");
  expect_as_gnu_diff(lingang_, to);
  EXPECT_NE(unified_diff(lingang_, to, "r", "c").find("\n-    action: allow\n+    action: block\n"),
            std::string::npos);
}

TEST_F(ConfigDiff, ATenantAddedAndLinesRemovedAtBothEnds) {
  std::string to =
      replace(lingang_, "tenants:\n",
              "tenants:\n  - name: new-co\n    zone: lingang-ftz\n    prefixes: [10.60.9.0/24]\n");
  to = to.substr(to.find('\n') + 1);                     // the first line
  to = to.substr(0, to.rfind('\n', to.size() - 2) + 1);  // the last line
  expect_as_gnu_diff(lingang_, to);
}

TEST_F(ConfigDiff, ALastLineWithoutANewline) {
  expect_as_gnu_diff("zones:\n  - a\n", "zones:\n  - a\n  - b");
  expect_as_gnu_diff("", "zones: []\n");
}

// The commit record's summary: how many lines, which top-level sections.
TEST_F(ConfigDiff, TheSummaryCountsLinesAndNamesTheSections) {
  EXPECT_EQ(summarize_diff(lingang_, lingang_).lines_added, 0u);
  std::string to = replace(lingang_, "    action: allow\n", "    action: block\n");
  to = replace(to, "tenants:\n",
               "tenants:\n  - name: new-co\n    zone: lingang-ftz\n    prefixes: [10.60.9.0/24]\n");
  const DiffSummary d = summarize_diff(lingang_, to);
  EXPECT_EQ(d.lines_added, 4u);
  EXPECT_EQ(d.lines_removed, 1u);
  EXPECT_EQ(d.sections, (std::vector<std::string>{"rules", "tenants"}));
  // Lines before the first key belong to no section.
  const DiffSummary top = summarize_diff("# a\nzones: []\n", "# b\nzones: []\n");
  EXPECT_EQ(top.lines_added, 1u);
  EXPECT_TRUE(top.sections.empty());
}

}  // namespace
}  // namespace ftz::config
