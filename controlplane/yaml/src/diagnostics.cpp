#include "ftz/config/diagnostics.hpp"

#include <algorithm>
#include <functional>
#include <tuple>

#include "ftz/config/diagnostic_sink.hpp"

namespace ftz::config {

std::string format_diagnostic(const Diagnostic& d) {
  std::string out = d.file;
  out += ':';
  out += std::to_string(d.line);
  out += ':';
  out += std::to_string(d.column);
  out += ": ";
  if (!d.path.empty()) {
    out += d.path;
    out += ": ";
  }
  out += d.message;
  return out;
}

std::string format_diagnostics(const Diagnostics& ds) {
  std::string out;
  for (const auto& d : ds) {
    out += format_diagnostic(d);
    out += '\n';
  }
  return out;
}

std::string format_loc(const Loc& loc) {
  return loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

void DiagnosticSink::error(const Loc& loc, std::string path, std::string message) {
  if (diags_.size() > cap_) return;
  if (diags_.size() == cap_) {
    diags_.push_back(Diagnostic{loc.file, loc.line, loc.column, "",
                                "too many errors; stopping after " + std::to_string(cap_)});
    return;
  }
  diags_.push_back(Diagnostic{loc.file, loc.line, loc.column, std::move(path), std::move(message)});
}

Diagnostics DiagnosticSink::take(const std::string& main_file) {
  const bool truncated = diags_.size() > cap_;
  auto end = truncated ? diags_.end() - 1 : diags_.end();
  std::stable_sort(diags_.begin(), end, [&](const Diagnostic& a, const Diagnostic& b) {
    return std::make_tuple(a.file != main_file, std::cref(a.file), a.line, a.column) <
           std::make_tuple(b.file != main_file, std::cref(b.file), b.line, b.column);
  });
  return std::move(diags_);
}

bool DiagnosticSink::is_broken(const std::string& path) const {
  for (const auto& b : broken_) {
    // b itself, or b followed by "." or "[": a descendant.
    if (path.compare(0, b.size(), b) == 0 &&
        (path.size() == b.size() || path[b.size()] == '.' || path[b.size()] == '[')) {
      return true;
    }
  }
  return false;
}

Loc SourceMap::at(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    if (auto it = locs_.find(p); it != locs_.end()) return Loc{file_, it->second.line, it->second.column};
    // Strip the last component: ".field" or "[n]".
    const auto cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p.resize(cut);
  }
  if (auto it = locs_.find(""); it != locs_.end()) {
    return Loc{file_, it->second.line, it->second.column};
  }
  return Loc{file_, 1, 1};
}

}  // namespace ftz::config
