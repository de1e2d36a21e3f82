// The signature catalog compiled with Hyperscan, with errors placed where the
// offending pattern was written (file:line:column of its regex).

#include <exception>
#include <new>
#include <span>

#include "ftz/config/config.hpp"
#include "ftz/engine/signatures/database.hpp"

namespace ftz::config {

namespace {

using engine::SignatureSpec;
using engine::sig::SignatureDatabase;

bool compiles(std::span<const SignatureSpec> specs) {
  return SignatureDatabase::compile(specs).has_value();
}

// The first pattern, in compile order, that fails on its own: Hyperscan
// reports only an index into the flattened list and the database its own
// words, so the culprit is found again one signature, then one pattern, at a
// time (only on the error path). A catalog that fails only as a whole (its
// size) is reported at the first signature.
Diagnostic culprit(const LoadedConfig& loaded) {
  const auto& specs = loaded.spec.signatures;
  for (std::size_t si = 0; si < specs.size() && si < loaded.pattern_sources.size(); ++si) {
    const auto& sources = loaded.pattern_sources[si];
    if (sources.empty() || compiles(std::span<const SignatureSpec>(&specs[si], 1))) continue;
    for (std::size_t pi = 0; pi < specs[si].patterns.size() && pi < sources.size(); ++pi) {
      SignatureSpec one = specs[si];
      one.patterns = {specs[si].patterns[pi]};
      if (!compiles(std::span<const SignatureSpec>(&one, 1))) return sources[pi];
    }
    return sources.front();
  }
  if (!loaded.pattern_sources.empty() && !loaded.pattern_sources.front().empty()) {
    return loaded.pattern_sources.front().front();
  }
  return Diagnostic{loaded.files.empty() ? std::string() : loaded.files.front(), 1, 1, "", ""};
}

}  // namespace

tl::expected<std::shared_ptr<const SignatureDatabase>, Diagnostics> compile_signatures(
    const LoadedConfig& loaded, const hs_platform_info* platform) {
  const std::string file = loaded.files.empty() ? std::string() : loaded.files.front();
  try {
    if (loaded.spec.signatures.empty()) return std::shared_ptr<const SignatureDatabase>{};
    auto db = SignatureDatabase::compile(loaded.spec.signatures, platform);
    if (db) return std::move(*db);
    Diagnostic d = culprit(loaded);
    d.message = "cannot compile: " + db.error();
    return tl::unexpected(Diagnostics{std::move(d)});
  } catch (const std::bad_alloc&) {
    return tl::unexpected(
        Diagnostics{Diagnostic{file, 1, 1, "", "signatures: out of memory compiling the catalog"}});
  } catch (const std::exception& e) {
    return tl::unexpected(Diagnostics{Diagnostic{file, 1, 1, "", std::string("signatures: ") + e.what()}});
  }
}

}  // namespace ftz::config
