#include "ftz/config/yaml_util.hpp"

#include <algorithm>
#include <unordered_map>

#include "ftz/config/text.hpp"

namespace ftz::config {

std::string join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

bool is_plain(const YAML::Node& n) {
  return n.Tag() != "!";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "null";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      break;
  }
  if (!is_plain(n)) return "the quoted string " + quote(n.Scalar().substr(0, 40));
  return quote(n.Scalar().substr(0, 40));
}

Loc loc_of(const std::string& file, const YAML::Mark& m) {
  if (m.line < 0 || m.column < 0) return Loc{file, 1, 1};
  return Loc{file, static_cast<uint32_t>(m.line) + 1, static_cast<uint32_t>(m.column) + 1};
}

Loc node_loc(const SourceMap& map, const YAML::Node& n, const Loc& fallback) {
  const YAML::Mark m = n.Mark();
  return (m.line < 0 || m.column < 0) ? fallback : loc_of(map.file(), m);
}

void read_mapping(const YAML::Node& node, const std::string& path, const std::vector<MapField>& fields,
                  SourceMap& map, DiagnosticSink& sink, const std::function<bool()>& keep_going) {
  if (!node.IsMap()) {
    sink.error(map.at(path), path, "expected a mapping, got " + describe(node));
    sink.mark_broken(path);
    return;
  }
  const Loc map_loc = map.at(path);
  std::unordered_map<std::string, Loc> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!keep_going()) return;
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const Loc key_loc = node_loc(map, key, map_loc);
    if (!key.IsScalar()) {
      sink.error(key_loc, path, "mapping keys must be plain strings, got " + describe(key));
      continue;
    }
    const std::string& k = key.Scalar();
    const std::string child = join(path, k);
    if (auto [first, inserted] = seen.emplace(k, key_loc); !inserted) {
      // yaml-cpp keeps both pairs and answers lookups with the first one:
      // the second value would be silently ignored.
      sink.error(key_loc, child,
                 "duplicate key " + quote(k) + " (first at " + format_loc(first->second) + ")");
      continue;
    }
    const auto field =
        std::find_if(fields.begin(), fields.end(), [&](const MapField& f) { return f.key == k; });
    if (field == fields.end()) {
      std::vector<std::string_view> keys;
      keys.reserve(fields.size());
      for (const auto& f : fields) keys.push_back(f.key);
      sink.error(key_loc, path, "unknown key " + quote(k) + did_you_mean(k, keys));
      continue;
    }
    // An empty value ("key:") has no mark of its own worth citing.
    const Loc value_loc = value.IsNull() ? key_loc : node_loc(map, value, key_loc);
    map.set(child, value_loc.line, value_loc.column);
    field->read(value, child);
  }
  for (const auto& f : fields) {
    if (f.required && seen.find(std::string(f.key)) == seen.end()) {
      sink.error(map_loc, join(path, f.key), "missing required field");
    }
  }
}

}  // namespace ftz::config
