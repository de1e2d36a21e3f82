// libFuzzer target: a vendor's detached signature (PACK.sig) as ftzgated
// reads it at `load` (keys::verify_detached) and ftzgate-sign verifies it.
//
// Input: the .sig text. The signed file is fixed, and so is the one trusted
// key (a test key written here, Ed25519: deterministic signatures).
// Invariants:
//   - a refused signature says why;
//   - an accepted one names the trusted key, and its signature bytes are
//     exactly the genuine signature of the file (nothing else verifies:
//     OpenSSL's Ed25519 rejects malleated signatures), so the fuzzer can
//     reword the text but never make another signature pass.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/keys/detached.hpp"
#include "ftz/keys/signing_key.hpp"
#include "fuzz_common.hpp"

namespace {

// A test key, published here on purpose: it signs nothing but this fuzzer's
// file.
constexpr const char* kTestKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIACG672G8bfHOhVJWYrqdDU0LTuWTfs1ZbKbRfHzma16\n"
    "-----END PRIVATE KEY-----\n";
constexpr std::string_view kFile = "version: 2026.11.1\nsignatures: []\n";

struct Fixture {
  std::string pem;
  std::string key_id;
  std::string genuine;  // the signature bytes make_detached produces
};

const Fixture& fixture() {
  static const Fixture f = [] {
    const std::string path = ftz::fuzz::ScratchDir::path() + "/test.key";
    ftz::fuzz::write_file(path, kTestKey, std::string_view(kTestKey).size());
    auto key = ftz::keys::SigningKey::load(path);
    if (!key) ftz::fuzz::fail("the test key does not load", key.error());
    auto parsed = ftz::keys::parse_detached(ftz::keys::make_detached(*key, kFile));
    if (!parsed) ftz::fuzz::fail("make_detached's own text does not parse", parsed.error());
    return Fixture{key->public_pem(), key->key_id(), parsed->signature};
  }();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = fixture();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto signer = ftz::keys::verify_detached(text, kFile, [&](const std::string& id) -> const std::string* {
    return id == f.key_id ? &f.pem : nullptr;
  });
  if (!signer) {
    if (signer.error().empty()) ftz::fuzz::fail("a refused signature without a reason");
    return 0;
  }
  if (*signer != f.key_id) ftz::fuzz::fail("accepted under another key", *signer);
  auto parsed = ftz::keys::parse_detached(text);
  if (!parsed) ftz::fuzz::fail("accepted but does not parse");
  if (parsed->signature != f.genuine) ftz::fuzz::fail("a signature other than the genuine one verified");
  return 0;
}
