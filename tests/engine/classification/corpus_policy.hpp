#pragma once
// The policy and token key both precision/recall corpora run under
// (detection_corpus_test.cpp, faker_corpus_test.cpp): one copy, so the two
// measurements cannot drift apart in what they measure.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "ftz/config/config.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/test/files.hpp"

namespace ftz::test::corpus {

using test::source_dir;

// The built-in catalog; zone ftz 10.60.0.0/16 with the tenant on 10.60.1.0/24;
// exports to the default offshore zone allowed with alerts; limits no corpus
// flow reaches. `name` names the configuration in diagnostics. Fatal gtest
// failure when it does not build (callers use ASSERT_NO_FATAL_FAILURE).
inline void build_generation(std::string_view name, std::shared_ptr<const engine::PolicyGeneration>& out) {
  // Absolute pack paths work: the loader resolves base_dir / path, and an
  // absolute right-hand side replaces the base.
  const std::string pack = source_dir() + "/examples/signatures/builtin.yaml";
  const std::string yaml = "version: 1\nname: " + std::string(name) +
                           "\n"
                           "zones:\n"
                           "  - name: ftz\n"
                           "    kind: ftz\n"
                           "    prefixes: [10.60.0.0/16]\n"
                           "  - name: offshore\n"
                           "    kind: offshore\n"
                           "    default: true\n"
                           "tenants:\n"
                           "  - name: corpus-tenant\n"
                           "    zone: ftz\n"
                           "    prefixes: [10.60.1.0/24]\n"
                           "signature_packs: [\"" +
                           pack +
                           "\"]\n"
                           "rules:\n"
                           "  - name: allow-exports\n"
                           "    match: {src_zone: ftz, dst_zone: offshore}\n"
                           "    action: allow\n"
                           "    alert: true\n"
                           "limits:\n"
                           "  flow_table_size: 4096\n"
                           "  alerts_per_flow: 10000\n"
                           "  hold_max_packets: 4096\n";
  auto loaded = config::load_config_from_string(yaml, "/tmp/" + std::string(name) + ".yaml");
  ASSERT_TRUE(loaded.has_value()) << config::format_diagnostics(loaded.error());
  ASSERT_FALSE(loaded->spec.signatures.empty());
  auto g = engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
  ASSERT_TRUE(g.has_value()) << g.error();
  out = *g;
}

// A fixed HMAC-SHA256 token key, byte i = base ^ (i * step): tokens are
// reproducible across runs, and each corpus has its own.
inline void fixed_token_key(uint8_t base, size_t step, std::unique_ptr<engine::compliance::TokenKey>& out) {
  std::array<uint8_t, 32> key_bytes{};
  for (size_t i = 0; i < key_bytes.size(); ++i) key_bytes[i] = static_cast<uint8_t>(base ^ (i * step));
  auto key = engine::compliance::TokenKey::from_bytes(key_bytes, engine::compliance::MacAlgo::kHmacSha256);
  ASSERT_TRUE(key.has_value()) << key.error();
  out = std::make_unique<engine::compliance::TokenKey>(std::move(*key));
}

}  // namespace ftz::test::corpus
