#include "config_diff.hpp"

#include <dtl/dtl.hpp>
#include <sstream>
#include <vector>

namespace ftz::ctl {

namespace {

// Lines without their newline; a last line without one is a line too.
std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

// GNU diff's range: "start" for one line, "start,count" otherwise, and an
// empty range names the line before it (dtl's own printer does neither).
std::string range(long long start, long long count) {
  if (count == 1) return std::to_string(start);
  return std::to_string(count == 0 ? start - 1 : start) + "," + std::to_string(count);
}

}  // namespace

std::string unified_diff(std::string_view from, std::string_view to, const std::string& from_label,
                         const std::string& to_label) {
  if (from == to) return {};
  dtl::Diff<std::string> diff(lines_of(from), lines_of(to));
  diff.compose();
  diff.composeUnifiedHunks();
  std::ostringstream out;
  out << "--- " << from_label << "\n+++ " << to_label << "\n";
  for (const auto& h : diff.getUniHunks()) {
    out << "@@ -" << range(h.a, h.b) << " +" << range(h.c, h.d) << " @@\n";
    for (const auto& e : h.common[0]) out << ' ' << e.first << '\n';
    for (const auto& e : h.change) {
      const char mark = e.second.type == dtl::SES_ADD ? '+' : e.second.type == dtl::SES_DELETE ? '-' : ' ';
      out << mark << e.first << '\n';
    }
    for (const auto& e : h.common[1]) out << ' ' << e.first << '\n';
  }
  return std::move(out).str();
}

}  // namespace ftz::ctl
