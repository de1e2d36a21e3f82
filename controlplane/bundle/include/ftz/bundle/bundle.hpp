#pragma once
// Policy bundles: the compiled, signed form of a committed configuration
// (proto/ftzgate/v1/bundle.proto, docs/decisions/0011).
//
// ftzgated builds one per generation and Hyperscan platform (build_bundle);
// a data plane opens it (open_bundle): size, content hash, signer among its
// trusted keys, signature, platform, then the model validated again and the
// Hyperscan database deserialized against the catalog it names. Every
// refusal is one line naming what failed; nothing here throws.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "ftz/bundle/trusted_keys.hpp"
#include "ftz/config/config.hpp"
#include "ftzgate/v1/bundle.pb.h"

namespace ftz::keys {
class SigningKey;
}

namespace ftz::bundle {

// A serialized SignedBundle larger than this is refused before parsing. The
// configuration is capped at 16 MiB of YAML; a Hyperscan database of
// thousands of signatures is a few MiB.
inline constexpr std::size_t kMaxBundleBytes = 64u << 20;

// The CPU this process runs on, as Hyperscan describes it.
ftzgate::v1::HyperscanPlatform host_platform();
// "tune 7, features 0x5" for messages.
std::string describe(const ftzgate::v1::HyperscanPlatform& p);

struct Commit {
  uint64_t generation = 0;
  std::string yaml;                          // the committed text
  std::map<std::string, std::string> files;  // what it includes, by reference (the store's)
  std::string config_sha256;                 // the store's hash of it
  std::string committed_by;
  int64_t committed_unix_s = 0;
};

// Validates the committed text (as the commit did), compiles its signatures
// for `platform`, and signs the result with `key`. Slow when the catalog is
// large (the Hyperscan compile): callers cache by (generation, platform).
tl::expected<ftzgate::v1::SignedBundle, std::string> build_bundle(
    const Commit& commit, const ftzgate::v1::HyperscanPlatform& platform, const keys::SigningKey& key);

struct OpenedBundle {
  uint64_t generation = 0;
  std::string body_sha256;
  std::string key_id;
  config::LoadedConfig config;
  // Null when the configuration has no signatures.
  std::shared_ptr<const engine::sig::SignatureDatabase> signatures;
};

// Everything a data plane checks before it applies a bundle, in that order.
// `platform` is the data plane's own (host_platform(); tests pass another).
tl::expected<OpenedBundle, std::string> open_bundle(const ftzgate::v1::SignedBundle& signed_bundle,
                                                    const TrustedKeys& trusted,
                                                    const ftzgate::v1::HyperscanPlatform& platform);
// The same from a serialized SignedBundle (a stored bundle, the fuzzer).
tl::expected<OpenedBundle, std::string> open_bundle(std::string_view serialized, const TrustedKeys& trusted,
                                                    const ftzgate::v1::HyperscanPlatform& platform);

}  // namespace ftz::bundle
