#pragma once
// Configuration diagnostics: one error, located in a file (1-based line and
// column) and in the configuration tree (a field path such as
// "rules[3].match.dst_zone", list indices 0-based).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ftz::config {

struct Diagnostic {
  std::string file;     // as given to the loader (prefix-list files: resolved path)
  uint32_t line = 0;    // 1-based; 0 when unknown
  uint32_t column = 0;  // 1-based; 0 when unknown
  std::string path;     // field path; empty for document-level errors
  std::string message;

  friend bool operator==(const Diagnostic&, const Diagnostic&) = default;
};

using Diagnostics = std::vector<Diagnostic>;

// Diagnostics reported before a reader gives up ("too many errors").
inline constexpr std::size_t kMaxDiagnostics = 200;

// "policy.yaml:42:7: rules[3].match.dst_zone: unknown zone \"offshre\""
// (the path and its ": " are left out when the path is empty).
std::string format_diagnostic(const Diagnostic& d);

// One formatted diagnostic per line, each terminated by '\n'.
std::string format_diagnostics(const Diagnostics& ds);

}  // namespace ftz::config
