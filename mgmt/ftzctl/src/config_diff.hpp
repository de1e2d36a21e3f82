#pragma once
// `show configuration | compare`: a unified diff between two configuration
// texts (Debian's dtl computes the shortest edit script and its hunks),
// shared by the one-shot ftzctl and, later, the NOC shell.

#include <string>
#include <string_view>

namespace ftz::ctl {

// The unified diff (3 lines of context) that turns `from` into `to`, headed
// "--- from_label" / "+++ to_label"; empty when the texts are equal.
std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label);

}  // namespace ftz::ctl
