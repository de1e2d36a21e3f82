// libFuzzer target: policy bundles, as a data plane receives them and as
// ftzgated builds them.
//
// Input: [mode] [bytes...].
//   mode % 3 == 0: bytes are a serialized SignedBundle from the wire, opened
//                  against the fuzzer's trusted key. Invariant: never opens
//                  unless its signature verifies (a forged bundle never
//                  passes; the fuzzer cannot forge Ed25519).
//   mode % 3 == 1: bytes are a PolicyBundle body, hashed and signed with the
//                  trusted key: the decoder behind the signature (a signer's
//                  bug must still not reach the engine). Invariant: a body
//                  that opens has its generation and, with signatures, a
//                  database for exactly its catalog.
//   mode % 3 == 2: bytes are configuration YAML, built into a bundle for
//                  this host. Invariant: whatever build_bundle builds,
//                  open_bundle opens, with the same generation and catalog.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ftz/bundle/bundle.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/keys/encoding.hpp"
#include "ftz/keys/signing_key.hpp"
#include "fuzz_common.hpp"

namespace {

namespace v1 = ftzgate::v1;

struct Fixture {
  std::unique_ptr<ftz::keys::SigningKey> key;
  ftz::bundle::TrustedKeys trusted;
  v1::HyperscanPlatform platform = ftz::bundle::host_platform();
};

const Fixture& fixture() {
  static const auto f = [] {
    auto r = ftz::keys::SigningKey::load_or_generate(ftz::fuzz::ScratchDir::path() + "/device.key");
    if (!r) ftz::fuzz::fail("cannot make the signing key", r.error());
    auto out = std::make_unique<Fixture>();
    out->key = std::make_unique<ftz::keys::SigningKey>(std::move(*r));
    if (!out->trusted.add(out->key->public_pem())) ftz::fuzz::fail("cannot trust the signing key");
    return out;
  }();
  return *f;
}

void check_opened(const ftz::bundle::OpenedBundle& b) {
  if (b.generation == 0) ftz::fuzz::fail("a bundle without a generation opened");
  if (b.config.spec.signatures.empty() != (b.signatures == nullptr)) {
    ftz::fuzz::fail("the database and the catalog disagree");
  }
  if (b.signatures != nullptr && b.signatures->specs().size() != b.config.spec.signatures.size()) {
    ftz::fuzz::fail("the database holds another catalog");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Fixture& f = fixture();
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto opened = ftz::bundle::open_bundle(bytes, f.trusted, f.platform);
      if (opened) ftz::fuzz::fail("a bundle the fuzzer made up opened: it forged a signature?");
      break;
    }
    case 1: {
      v1::SignedBundle s;
      s.set_body(bytes);
      s.set_body_sha256(ftz::keys::sha256_hex(bytes));
      s.set_algorithm(v1::SIGNATURE_ALGORITHM_ED25519);
      s.set_key_id(f.key->key_id());
      s.set_signature(f.key->sign(std::string("ftzgate-bundle-v1", 17) + '\0' + bytes));
      if (auto opened = ftz::bundle::open_bundle(s, f.trusted, f.platform)) check_opened(*opened);
      break;
    }
    default: {
      ftz::bundle::Commit c;
      c.generation = 1 + (data[0] >> 2);
      c.yaml = bytes;
      auto built = ftz::bundle::build_bundle(c, f.platform, *f.key);
      if (!built) break;
      auto opened = ftz::bundle::open_bundle(built->SerializeAsString(), f.trusted, f.platform);
      if (!opened) ftz::fuzz::fail("a bundle build_bundle made does not open", opened.error());
      check_opened(*opened);
      if (opened->generation != c.generation) ftz::fuzz::fail("the generation changed on the way");
      break;
    }
  }
  return 0;
}
