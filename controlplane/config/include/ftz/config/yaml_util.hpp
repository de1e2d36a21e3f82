#pragma once
// Small helpers every YAML reader of the project shares (the operator
// configuration, hardware profiles): field paths, positions, and how to name
// what the operator wrote. Users link yaml-cpp themselves.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <string_view>

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

}  // namespace ftz::config
