#pragma once
// The control plane's digests and text encodings, through OpenSSL (one
// place for what the store, the audit log and the accounts all write).

#include <optional>
#include <string>
#include <string_view>

namespace ftz::keys {

// Lowercase hex of SHA-256 over `data` ("" if OpenSSL failed).
std::string sha256_hex(std::string_view data);
// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view raw);
// nullopt unless `text` is padded base64 of a whole number of quads.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace ftz::keys
