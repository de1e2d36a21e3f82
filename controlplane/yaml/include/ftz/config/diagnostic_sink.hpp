#pragma once
// Where a value came from, and the collector of diagnostics (every YAML reader).

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ftz/config/diagnostics.hpp"

namespace ftz::config {

struct Loc {
  std::string file;
  uint32_t line = 0;    // 1-based
  uint32_t column = 0;  // 1-based
};

// "file:line:col", for messages that cite a second location.
std::string format_loc(const Loc& loc);

// Collects errors up to a cap; past it one "too many errors" line is added
// and later errors are dropped, so a garbage file cannot produce megabytes of
// output.
class DiagnosticSink {
 public:
  explicit DiagnosticSink(std::size_t cap = kMaxDiagnostics) : cap_(cap) {}

  void error(const Loc& loc, std::string path, std::string message);
  [[nodiscard]] bool has_errors() const noexcept { return !diags_.empty(); }
  [[nodiscard]] std::size_t count() const noexcept { return diags_.size(); }
  [[nodiscard]] bool full() const noexcept { return diags_.size() > cap_; }
  [[nodiscard]] bool has_error_at(const std::string& path) const noexcept {
    for (const auto& d : diags_) {
      if (d.path == path) return true;
    }
    return false;
  }
  // An error at `path` or anywhere under it.
  [[nodiscard]] bool has_error_under(const std::string& path) const noexcept {
    for (const auto& d : diags_) {
      if (d.path.compare(0, path.size(), path) == 0 &&
          (d.path.size() == path.size() || d.path[path.size()] == '.' || d.path[path.size()] == '[')) {
        return true;
      }
    }
    return false;
  }
  // A node of the wrong type ("expected a mapping") leaves an empty object
  // in the model; errors under it would only echo the first one.
  void mark_broken(const std::string& path) { broken_.push_back(path); }
  [[nodiscard]] bool is_broken(const std::string& path) const;
  // True when an error at `path` would repeat one already reported: the
  // same path has an error, or the path lies under a broken node.
  [[nodiscard]] bool is_redundant(const std::string& path) const {
    return has_error_at(path) || is_broken(path);
  }
  // The diagnostics in reading order: the configuration file first, by line
  // and column, then other files (prefix lists) by name and line; the "too
  // many errors" line stays last.
  Diagnostics take(const std::string& main_file);

 private:
  std::size_t cap_;
  Diagnostics diags_;
  std::vector<std::string> broken_;
};

// Field path -> location of its value in the YAML, filled by the reader and
// consulted by the validator for errors found after parsing.
class SourceMap {
 public:
  explicit SourceMap(std::string file) : file_(std::move(file)) {}

  void set(const std::string& path, uint32_t line, uint32_t column) { locs_[path] = Position{line, column}; }
  [[nodiscard]] bool has(const std::string& path) const { return locs_.count(path) != 0; }
  // The location of `path`, else of its nearest recorded ancestor, else 1:1.
  [[nodiscard]] Loc at(const std::string& path) const;
  [[nodiscard]] const std::string& file() const noexcept { return file_; }

 private:
  // Only line and column per path: every value of a document is recorded
  // and they all share the one file name.
  struct Position {
    uint32_t line = 0;
    uint32_t column = 0;
  };
  std::string file_;
  std::unordered_map<std::string, Position> locs_;
};

}  // namespace ftz::config
