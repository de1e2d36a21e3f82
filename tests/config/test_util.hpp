#pragma once
// Shared helpers of the config tests.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"

namespace ftz::config::test {

// The repository root: FTZ_SOURCE_DIR from ctest, else the compiled-in path.
inline std::string source_dir() {
  if (const char* env = std::getenv("FTZ_SOURCE_DIR")) return env;
  return FTZ_TEST_SOURCE_DIR;
}

// The formatted diagnostics of a configuration that must fail to load.
inline std::vector<std::string> errors_of(const std::string& yaml, const std::string& file = "policy.yaml",
                                          const LoadOptions& options = {}) {
  auto r = load_config_from_string(yaml, file, options);
  EXPECT_FALSE(r.has_value()) << "configuration unexpectedly loaded";
  std::vector<std::string> out;
  if (r) return out;
  for (const auto& d : r.error()) out.push_back(format_diagnostic(d));
  return out;
}

// Two zones every error test builds on (lines 1-7).
inline constexpr const char* kZones = R"(zones:
  - name: ftz
    kind: ftz
    prefixes: [10.60.0.0/16]
  - name: offshore
    kind: offshore
    default: true
)";

}  // namespace ftz::config::test
