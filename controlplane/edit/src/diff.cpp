#include "ftz/config/diff.hpp"

#include <dtl/dtl.hpp>
#include <set>
#include <sstream>
#include <vector>

namespace ftz::config {

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

// For each line, the top-level key of the block it is in ("" before the
// first): the last line before it that starts in column 0 with a key.
std::vector<std::string> sections_of(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  out.reserve(lines.size());
  std::string current;
  for (const std::string& l : lines) {
    const size_t colon = l.find(':');
    if (!l.empty() && l[0] != ' ' && l[0] != '#' && l[0] != '-' && colon != std::string::npos)
      current = l.substr(0, colon);
    out.push_back(current);
  }
  return out;
}

}  // namespace

DiffSummary summarize_diff(std::string_view from, std::string_view to) {
  DiffSummary s;
  if (from == to) return s;
  const std::vector<std::string> a = lines_of(from);
  const std::vector<std::string> b = lines_of(to);
  const std::vector<std::string> in_a = sections_of(a);
  const std::vector<std::string> in_b = sections_of(b);
  dtl::Diff<std::string> diff(a, b);
  diff.compose();
  std::set<std::string> sections;
  for (const auto& [line, info] : diff.getSes().getSequence()) {
    // beforeIdx / afterIdx count from 1.
    if (info.type == dtl::SES_DELETE) {
      ++s.lines_removed;
      sections.insert(in_a.at(static_cast<size_t>(info.beforeIdx - 1)));
    } else if (info.type == dtl::SES_ADD) {
      ++s.lines_added;
      sections.insert(in_b.at(static_cast<size_t>(info.afterIdx - 1)));
    }
  }
  sections.erase("");
  s.sections.assign(sections.begin(), sections.end());
  return s;
}

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

}  // namespace ftz::config
