// libFuzzer target: `set` / `delete` (controlplane/edit) on any candidate
// text with any path, as ftzgated runs them for an administrator. The input
// is "OP WORD... \n" then the YAML: OP is "set" (the last word is the
// value), "delete", or "merge" (the YAML, a line "%%", the file to merge).
// Invariants:
//   - an edit that succeeds gives one YAML document the configuration's
//     front end reads again, and a mapping;
//   - the same `set`, or the same `load merge`, again changes nothing further;
//   - nothing throws (yaml-cpp's exceptions are answers, not crashes).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/config/diagnostic_sink.hpp"
#include "ftz/config/edit.hpp"
#include "ftz/config/yaml_util.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos || nl > 512) return 0;
  std::istringstream head{std::string(in.substr(0, nl))};
  std::string op;
  head >> op;
  std::vector<std::string> words;
  for (std::string w; head >> w;) words.push_back(w);
  const std::string_view yaml = in.substr(nl + 1);
  tl::expected<std::string, std::string> out;
  if (op == "set" && !words.empty()) {
    const std::string value = words.back();
    words.pop_back();
    out = ftz::config::edit_set(yaml, words, value);
    if (out) {
      const auto again = ftz::config::edit_set(*out, words, value);
      if (!again) ftz::fuzz::fail("a set that succeeded fails when repeated", again.error());
      if (*again != *out) ftz::fuzz::fail("a repeated set changed the text again", *again);
    }
  } else if (op == "delete") {
    out = ftz::config::edit_delete(yaml, words);
  } else if (op == "merge") {
    // The candidate, a line "%%", the file merged into it.
    const size_t cut = yaml.find("\n%%\n");
    if (cut == std::string_view::npos) return 0;
    const std::string_view patch = yaml.substr(cut + 4);
    out = ftz::config::edit_merge(yaml.substr(0, cut + 1), patch);
    if (out) {
      const auto again = ftz::config::edit_merge(*out, patch);
      if (!again) ftz::fuzz::fail("a merge that succeeded fails when repeated", again.error());
      if (*again != *out) ftz::fuzz::fail("merging twice differs from merging once", *again);
    }
  } else {
    return 0;
  }
  if (!out) {
    if (out.error().empty()) ftz::fuzz::fail("a refusal without a reason");
    return 0;
  }
  ftz::config::DiagnosticSink sink;
  const ftz::config::DocumentLimits limits{"configuration", "the edited candidate",
                                           ftz::config::kMaxInputBytes * 2,
                                           ftz::config::kMaxNestingDepth * 2};
  const auto doc = ftz::config::parse_document(*out, "edited", "", limits, sink);
  if (!doc) ftz::fuzz::fail("an edit emitted text its reader refuses", *out);
  if (!doc->IsMap()) ftz::fuzz::fail("an edit emitted something else than a mapping", *out);
  return 0;
}
