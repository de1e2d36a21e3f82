#pragma once
// The public keys a data plane accepts bundles from: PEM files (*.pub) in
// one directory (/etc/ftzgate/trusted-keys by default; `ftzgated --init`
// writes its own as keys/device.pub). A bundle names its signer by key id and
// is verified against the key of that id here, never against a key it
// carries.

#include <map>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ftz::bundle {

class TrustedKeys {
 public:
  // Every *.pub file of `dir`. A file that is not an Ed25519 public key is
  // an error naming it (an operator put it there to be trusted), as is a
  // directory without keys.
  static tl::expected<TrustedKeys, std::string> load(const std::string& dir);

  // Adds one PEM public key; its key id, or an error.
  tl::expected<std::string, std::string> add(std::string_view public_pem);

  // The PEM of `key_id`, or nullptr.
  [[nodiscard]] const std::string* find(const std::string& key_id) const;
  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }

 private:
  std::map<std::string, std::string> keys_;  // key id -> PEM
};

}  // namespace ftz::bundle
