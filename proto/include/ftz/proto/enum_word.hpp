#pragma once
// A wire enum's value name as the configuration and the operator's tools
// write it: enum_word(pb::DataClass_Name(c), "DATA_CLASS_") is
// "sensitive_pi" for DATA_CLASS_SENSITIVE_PI.

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace ftz::proto {

inline std::string enum_word(std::string_view name, std::string_view prefix) {
  std::string w(name.substr(std::min(name.size(), prefix.size())));
  for (char& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return w;
}

}  // namespace ftz::proto
