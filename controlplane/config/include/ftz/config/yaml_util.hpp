#pragma once
// Small helpers every YAML reader of the project shares (the operator
// configuration, hardware profiles): field paths, positions, and how to name
// what the operator wrote. Users link yaml-cpp themselves.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
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

}  // namespace ftz::config
