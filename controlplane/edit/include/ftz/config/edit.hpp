#pragma once
// Junos-style edits of a configuration's YAML text (`ftzctl set` / `delete`
// / `load merge`):
// the words of a path mirror the YAML keys, and an item of a list of named
// things (zones, tenants, rules, channels, signatures, thresholds; approvals
// by their id) is addressed by its name:
//
//   set rules harbor-to-hk action block      rules[name=harbor-to-hk].action = block
//   set zones inside prefixes 10.9.0.0/16    appends to a list of values
//   delete rules harbor-to-hk                removes the item
//   delete zones inside prefixes 10.9.0.0/16 removes the value from the list
//
// `set` creates what the path names and does not exist yet (an item gets
// its name). The result is the document emitted again by yaml-cpp: key order
// and flow style are kept, comments are not. It is not validated here: the
// candidate may be incomplete between edits, and `commit check` says what is
// missing. Errors name the path as typed; nothing here throws.

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::config {

// `path` has at least one word; `value` is a scalar, as typed.
tl::expected<std::string, std::string> edit_set(std::string_view yaml, const std::vector<std::string>& path,
                                                const std::string& value);
// Removes the key, the named item, or (last word) a value of a list.
tl::expected<std::string, std::string> edit_delete(std::string_view yaml,
                                                   const std::vector<std::string>& path);

// `load merge`: `patch` (a configuration or a part of one) merged into
// `yaml`. Sections merge key by key; an item of a named list merges into the
// item of that name (or is appended); a list of values gains the values it
// lacks; an item of any other list (defaults) is appended unless an equal
// one is there; a value replaces the value.
tl::expected<std::string, std::string> edit_merge(std::string_view yaml, std::string_view patch);

}  // namespace ftz::config
