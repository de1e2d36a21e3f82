#pragma once
// A Prometheus text exposition checked by the Prometheus project's parser
// and the format's rules it lets pass (tests/controlplane/check_metrics.py).

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "ftz/test/files.hpp"

namespace ftz::test {

struct CheckedExposition {
  int status = -1;     // the checker's: 0 when the text is valid
  std::string output;  // its complaints when not
  // "name{label=value,...}" (labels sorted) -> value.
  std::map<std::string, double> samples;
};

// The exposition in `file` (a shell command may write it first: `produce`,
// e.g. a curl; the check runs only when it succeeds).
inline CheckedExposition check_exposition(const std::string& file, const std::string& produce = "") {
  const std::string check =
      "/usr/bin/python3 " + source_dir() + "/tests/controlplane/check_metrics.py < '" + file + "'";
  const RunResult r = run_command("(" + (produce.empty() ? check : produce + " && " + check) + ")");
  CheckedExposition c{r.status, r.output, {}};
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_array()) continue;
    std::string key = j[0].get<std::string>() + "{";
    for (const auto& [name, value] : j[1].items()) key += name + "=" + value.get<std::string>() + ",";
    c.samples[key + "}"] = j[2].get<double>();
  }
  return c;
}

}  // namespace ftz::test
