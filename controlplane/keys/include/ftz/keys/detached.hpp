#pragma once
// Detached signatures of files: what `ftzgate-sign` writes beside a vendor's
// signature pack (and later an image manifest), and what ftzgated checks when
// a pack is loaded. A small text file, FILE.sig:
//
//   ftzgate-signature v1
//   algorithm ed25519            (or sm2-sm3)
//   key-id 3f2a9c0d11b7e845
//   sha256 <64 hex digits of the file>
//   signature <base64>
//
// The signature is over "ftzgate-detached-v1" NUL and the file's bytes, so it
// never verifies as a policy bundle or an audit checkpoint, which the same
// key kinds sign with their own prefixes.

#include <functional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "ftz/keys/signing_key.hpp"

namespace ftz::keys {

struct Detached {
  Algorithm algorithm = Algorithm::kEd25519;
  std::string key_id;
  std::string sha256;
  std::string signature;  // raw bytes
};

// The .sig text for `content`, signed with `key` ("" if OpenSSL failed).
std::string make_detached(const SigningKey& key, std::string_view content);

// Reads a .sig text; an error names the line that is wrong. At most 4 KiB.
tl::expected<Detached, std::string> parse_detached(std::string_view text);

// The PEM of a trusted key by id, or null (bundle::TrustedKeys::find).
using KeyLookup = std::function<const std::string*(const std::string& key_id)>;

// Checks `sig_text` over `content`: the key it names must be trusted, its
// algorithm the one named, the file's hash the one signed, the signature
// valid. The signer's key id, or why not.
tl::expected<std::string, std::string> verify_detached(std::string_view sig_text, std::string_view content,
                                                       const KeyLookup& trusted);

}  // namespace ftz::keys
