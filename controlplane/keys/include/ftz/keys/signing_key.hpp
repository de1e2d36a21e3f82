#pragma once
// The device's signing key (issue 10 "Signing"): Ed25519 through OpenSSL 3
// EVP, kept as a PEM file readable by its owner only. It signs the audit
// log's checkpoints now and the policy bundles later; SM2 with SM3 is the
// selectable alternative the issue names (not yet here).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ftz::keys {

class SigningKey {
 public:
  // Loads the PKCS#8 PEM private key at `path`, generating it first (0600,
  // never replacing a file there) when it does not exist.
  static tl::expected<SigningKey, std::string> load_or_generate(const std::string& path);
  static tl::expected<SigningKey, std::string> load(const std::string& path);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  // The 64-byte Ed25519 signature of `message` (empty if OpenSSL failed).
  [[nodiscard]] std::string sign(std::string_view message) const;
  // SubjectPublicKeyInfo PEM: what verifiers are given.
  [[nodiscard]] std::string public_pem() const;
  // The first 16 hex digits of SHA-256 over the raw public key: names the
  // key in signed records.
  [[nodiscard]] std::string key_id() const;

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether `signature` is `public_pem`'s Ed25519 signature of `message`; an
// error when the PEM is not an Ed25519 public key.
tl::expected<bool, std::string> verify_signature(std::string_view public_pem, std::string_view message,
                                                 std::string_view signature);
// key_id() of a public key PEM.
tl::expected<std::string, std::string> public_key_id(std::string_view public_pem);

}  // namespace ftz::keys
