#pragma once
// TokenKey: the keyed 64-bit token of a normalised identifier (DOMAIN.md §1.4,
// §4.3). Counting works on tokens only; the identifier is never stored.
//
//   token = first 8 bytes (big-endian) of HMAC(key, id_type || normalized)
//
// The identifier type is part of the MAC input so that equal digit strings of
// two identifier types (a mobile number and a card fragment) never share a token.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/compliance/hmac.hpp"

namespace ftz::engine::compliance {

inline constexpr size_t kMinKeyBytes = 16;

class TokenKey {
 public:
  // Reads the key file: if its content (a trailing newline/whitespace ignored)
  // is only hex digits and of even length it is hex, otherwise the raw bytes
  // are the key. Refuses a missing/unreadable file and a key shorter than
  // kMinKeyBytes. A file readable by others is accepted with a warning in
  // warnings(). Error texts never contain key material.
  static tl::expected<TokenKey, std::string> load(const std::string& path, MacAlgo algo);
  static tl::expected<TokenKey, std::string> from_bytes(std::span<const uint8_t> key, MacAlgo algo);

  // Worker path: no allocation, no lock; const, so one TokenKey may be shared
  // by all workers (each call works on stack copies of the HMAC states).
  uint64_t token(std::string_view normalized, uint8_t identifier_type) const noexcept;

  MacAlgo algo() const noexcept { return hmac_.algo(); }
  // A stable, non-secret key identifier (first 8 bytes of HMAC(key, fixed
  // label)), written into the state file: counts made under another key are
  // not comparable and are refused at load.
  uint64_t fingerprint() const noexcept { return fingerprint_; }
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  const Hmac& hmac() const noexcept { return hmac_; }

 private:
  explicit TokenKey(Hmac h) : hmac_(std::move(h)) {}
  Hmac hmac_;
  uint64_t fingerprint_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace ftz::engine::compliance
