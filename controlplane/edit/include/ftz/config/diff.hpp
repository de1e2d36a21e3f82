#pragma once
// Comparing two configuration texts (Debian's dtl computes the shortest
// edit script and its hunks): the unified diff of `show configuration |
// compare` (ftzctl, later the NOC shell) and the summary a commit's audit
// record carries (ftzgated).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ftz::config {

// The unified diff (3 lines of context) that turns `from` into `to`, headed
// "--- from_label" / "+++ to_label"; empty when the texts are equal.
std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label);

// What a change does to a configuration, in a few numbers and names.
struct DiffSummary {
  size_t lines_added = 0;
  size_t lines_removed = 0;
  // The top-level keys (zones, rules, ...) whose lines changed, sorted.
  std::vector<std::string> sections;
};
DiffSummary summarize_diff(std::string_view from, std::string_view to);

}  // namespace ftz::config
