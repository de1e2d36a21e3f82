#pragma once
// The front end every YAML reader of the project shares (the operator
// configuration, signature packs, hardware profiles): reading files and
// documents under caps, field paths, positions, mappings, and how to name
// what the operator wrote. Target ftz_yaml: yaml-cpp, no protobuf.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/config/diagnostic_sink.hpp"

namespace ftz::config {

// "a.b", or "b" at the root.
std::string join(const std::string& path, std::string_view key);
// "a[3]".
std::string index_path(const std::string& path, std::size_t i);
// yaml-cpp gives quoted scalars the non-specific tag "!" and plain ones "?".
bool is_plain(const YAML::Node& n);
// What the operator wrote, for "expected X, got Y".
std::string describe(const YAML::Node& n);
// yaml-cpp marks are 0-based; an unknown mark is -1 (reported as 1:1).
Loc loc_of(const std::string& file, const YAML::Mark& m);
// Where `n` stands in map's file, or `fallback` when yaml-cpp has no mark.
Loc node_loc(const SourceMap& map, const YAML::Node& n, const Loc& fallback);

// One key a mapping may hold, and what reads its value (given the value and
// its field path).
struct MapField {
  std::string_view key;
  bool required = false;
  std::function<void(const YAML::Node&, const std::string&)> read;
};

// Reads a mapping the way every reader here does: not a mapping, non-string
// keys, duplicate keys (yaml-cpp would silently keep the first), unknown keys
// (with a did-you-mean) and missing required fields are reported at their
// positions; each value's position is recorded under its path before its
// field reads it. `keep_going` is asked before each key (error and work
// budgets of the caller).
void read_mapping(const YAML::Node& node, const std::string& path, const std::vector<MapField>& fields,
                  SourceMap& map, DiagnosticSink& sink, const std::function<bool()>& keep_going);

// ---- Documents -------------------------------------------------------------

// What one kind of document may be, checked before yaml-cpp builds nodes.
struct DocumentLimits {
  std::string_view what;     // "only one YAML document per <what>"
  std::string_view subject;  // "<subject> is N bytes, above the M MiB limit"
  std::size_t max_bytes = 0;
  // yaml-cpp recurses once per level: deeper text is refused at the position
  // where the estimate first exceeds this.
  std::size_t max_depth = 0;
};

// "<subject> is N bytes, above the M MiB limit".
std::string size_message(std::string_view subject, std::size_t size, std::size_t max_bytes);

// The one YAML document of `text` (a null node when it holds none), or
// nullopt after reporting why not under `path` ("" for document-level
// errors): too large, nested too deep, a second document, a syntax error.
// Lone CRs count as line breaks (normalize_line_breaks).
std::optional<YAML::Node> parse_document(std::string_view text, const std::string& file,
                                         const std::string& path, const DocumentLimits& limits,
                                         DiagnosticSink& sink);

// Why a file could not be read whole.
struct ReadProblem {
  std::string reason;    // "no such file", "not a regular file", "read error", the OS's words, or the size
  std::size_t size = 0;  // the file's size when it is over the limit, else 0
};

// A whole regular file of at most `max_bytes`. Regular files only: a FIFO or
// /dev/stdin would block the reader, and /dev/zero would never end.
tl::expected<std::string, ReadProblem> read_regular_file(const std::string& file, std::size_t max_bytes);

}  // namespace ftz::config
