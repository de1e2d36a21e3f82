#pragma once
// The device's signing key (issue 10 "Signing"): Ed25519 by default, SM2
// with SM3 (GM/T 0003 / 0004, the distinguishing identifier of GM/T 0009)
// selectable, both through OpenSSL 3 EVP, kept as a PKCS#8 PEM file
// readable by its owner only. It signs audit checkpoints, policy bundles and
// (ftzgate-sign) detached signatures of signature packs.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ftz::keys {

enum class Algorithm : uint8_t { kEd25519, kSm2Sm3 };
// "ed25519", "sm2-sm3".
std::string_view algorithm_name(Algorithm a) noexcept;
std::optional<Algorithm> algorithm_from_name(std::string_view name) noexcept;

class SigningKey {
 public:
  // Loads the PKCS#8 PEM private key at `path`, generating one of
  // `algorithm` first (0600, never replacing a file there) when it does not
  // exist. A key that is there keeps its own algorithm.
  static tl::expected<SigningKey, std::string> load_or_generate(const std::string& path,
                                                                Algorithm algorithm = Algorithm::kEd25519);
  // An Ed25519 or SM2 key; another type is an error naming the file.
  static tl::expected<SigningKey, std::string> load(const std::string& path);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  [[nodiscard]] Algorithm algorithm() const noexcept;
  // The signature of `message`: 64 bytes for Ed25519, DER (about 72 bytes)
  // for SM2 over SM3. Empty if OpenSSL failed.
  [[nodiscard]] std::string sign(std::string_view message) const;
  // SubjectPublicKeyInfo PEM: what verifiers are given.
  [[nodiscard]] std::string public_pem() const;
  // The first 16 hex digits of SHA-256 over the raw public key (Ed25519) or
  // its DER SubjectPublicKeyInfo (SM2): names the key in signed records.
  [[nodiscard]] std::string key_id() const;

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `signature` is `public_pem`'s signature of `message`, by the
// key's own algorithm; an error when the PEM is not an Ed25519 or SM2
// public key.
tl::expected<bool, std::string> verify_signature(std::string_view public_pem, std::string_view message,
                                                 std::string_view signature);
// key_id() of a public key PEM.
tl::expected<std::string, std::string> public_key_id(std::string_view public_pem);
// The algorithm a public key PEM signs with.
tl::expected<Algorithm, std::string> public_key_algorithm(std::string_view public_pem);

}  // namespace ftz::keys
