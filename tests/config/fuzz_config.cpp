// libFuzzer target: any byte string given to the loader yields a config or
// diagnostics, never a crash, hang, leak or escaping exception. Included
// files (prefix lists, signature packs) are off so the fuzzer cannot make the
// loader read the file system.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ftz/config/config.hpp"
#include "ftz/engine/classify/validators.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ftz::config::LoadOptions options;
  options.allow_included_files = false;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = ftz::config::load_config_from_string(text, "fuzz.yaml", options);
  if (result) {
    // A config that loads has compiled references in range.
    const auto& spec = result->spec;
    if (spec.default_zone >= spec.zones.size()) __builtin_trap();
    for (const auto& t : spec.tenants) {
      if (t.zone >= spec.zones.size()) __builtin_trap();
    }
    // Signatures the scanner compiler can take: patterns, a known validator.
    for (const auto& s : spec.signatures) {
      if (s.patterns.empty() || !ftz::engine::classify::validator_from_name(s.validator)) __builtin_trap();
    }
    const auto& warn = spec.compliance.warn_percents;
    for (std::size_t i = 0; i < warn.size(); ++i) {
      if (warn[i] < 1 || warn[i] > 100 || (i > 0 && warn[i] <= warn[i - 1])) __builtin_trap();
    }
  } else {
    if (result.error().empty()) __builtin_trap();  // a failure always says why
    (void)ftz::config::format_diagnostics(result.error());
  }
  return 0;
}
