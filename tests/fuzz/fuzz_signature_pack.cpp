// libFuzzer target: a signature pack file (signature_packs[]) read by the
// configuration loader, then compiled the way ftzgate-inspect and ftzgate-dp
// compile it. The input is the pack; the configuration around it is fixed.
// Invariants:
//   - a refused pack says why;
//   - a loaded pack gives signatures with patterns and a known validator,
//     unique names and sids, and a version in signature_pack_version;
//   - a small catalog (a few short patterns: Hyperscan's compile time grows
//     with them) compiles or is refused with a reason naming a signature, and
//     a compiled database survives serialize/deserialize, while a copy with
//     one flipped bit is refused.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/engine/classify/validators.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "fuzz_common.hpp"

namespace {

constexpr const char* kConfig = R"(zones:
  - name: inside
    kind: ftz
    prefixes: [10.60.0.0/16]
  - name: offshore
    kind: offshore
    default: true
signature_packs: [pack.yaml]
)";

constexpr size_t kMaxCompiledPatterns = 8;
constexpr size_t kMaxCompiledRegexBytes = 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  const std::string& dir = ftz::fuzz::ScratchDir::path();
  ftz::fuzz::write_file(dir + "/pack.yaml", data, size);
  auto loaded = ftz::config::load_config_from_string(kConfig, dir + "/fuzz.yaml");
  if (!loaded) {
    if (loaded.error().empty()) ftz::fuzz::fail("a refused pack without a reason");
    (void)ftz::config::format_diagnostics(loaded.error());
    return 0;
  }
  const auto& spec = loaded->spec;
  std::set<std::string> names;
  std::set<uint32_t> sids;
  size_t patterns = 0;
  size_t regex_bytes = 0;
  for (const auto& s : spec.signatures) {
    if (s.patterns.empty() || !ftz::engine::classify::validator_from_name(s.validator))
      ftz::fuzz::fail("a loaded signature without patterns or with an unknown validator", s.name);
    if (!names.insert(s.name).second || !sids.insert(s.sid).second)
      ftz::fuzz::fail("duplicate signature name or sid", s.name);
    patterns += s.patterns.size();
    for (const auto& p : s.patterns) regex_bytes += p.regex.size();
  }
  if (loaded->packs.size() != 1 || spec.signature_pack_version.find('@') == std::string::npos)
    ftz::fuzz::fail("a loaded pack is not named in signature_pack_version", spec.signature_pack_version);

  if (spec.signatures.empty() || patterns > kMaxCompiledPatterns || regex_bytes > kMaxCompiledRegexBytes)
    return 0;
  auto db = ftz::engine::sig::SignatureDatabase::compile(spec.signatures);
  if (!db) {
    if (db.error().find("signature") == std::string::npos)
      ftz::fuzz::fail("a refused catalog without the signature's name", db.error());
    return 0;
  }
  std::vector<uint8_t> bytes = (*db)->serialize();
  if (bytes.empty()) ftz::fuzz::fail("serialize() failed");
  auto back = ftz::engine::sig::SignatureDatabase::deserialize(bytes, spec.signatures);
  if (!back) ftz::fuzz::fail("a serialized database does not deserialize", back.error());
  // One flipped bit, chosen by the input: the CRC-32 detects every one.
  bytes[size % bytes.size()] ^= static_cast<uint8_t>(1u << (size % 8));
  if (ftz::engine::sig::SignatureDatabase::deserialize(bytes, spec.signatures))
    ftz::fuzz::fail("a database with a flipped bit deserializes");
  return 0;
}
