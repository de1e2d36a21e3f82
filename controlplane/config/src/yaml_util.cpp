#include "ftz/config/yaml_util.hpp"

#include "ftz/config/text.hpp"

namespace ftz::config {

std::string join(const std::string& path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out = path;
  out += '.';
  out += key;
  return out;
}

std::string index_path(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

bool is_plain(const YAML::Node& n) { return n.Tag() != "!"; }

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

}  // namespace ftz::config
