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

// A key file whose first line is exactly this is a demonstration key,
// published with the examples (examples/keys/token.key): anyone can
// recompute its tokens, and a token plus the masked identifier gives the
// identifier back by enumeration (docs/compliance.md "What a masked value
// and a token reveal"). The line is a comment; the key follows it.
inline constexpr std::string_view kDemoKeyMarker = "# ftzgate DEMO token key";

// The labels of TokenKey::derive(): the published key identifier, and the
// secret of the workers' flow-table hash (FlowHashKey).
inline constexpr std::string_view kFingerprintLabel = "ftzgate token key fingerprint v1";
inline constexpr std::string_view kFlowHashLabel = "ftzgate flow table hash v1";

class TokenKey {
 public:
  // Reads the key file: if its content (a trailing newline/whitespace ignored)
  // is only hex digits and of even length it is hex, otherwise the raw bytes
  // are the key. A first line equal to kDemoKeyMarker is skipped and marks
  // the key as a demo key. Refuses a missing/unreadable file and a key
  // shorter than kMinKeyBytes. A file readable by others is accepted with a
  // warning in warnings(). Error texts never contain key material.
  static tl::expected<TokenKey, std::string> load(const std::string& path, MacAlgo algo);
  static tl::expected<TokenKey, std::string> from_bytes(std::span<const uint8_t> key, MacAlgo algo);

  // A published demo key: its file carries kDemoKeyMarker, or its bytes are
  // those of a key this project has published (recognised by their SHA-256,
  // so a copy without the marker line is still recognised).
  bool is_demo() const noexcept { return demo_; }

  // Worker path: no allocation, no lock; const, so one TokenKey may be shared
  // by all workers (each call works on stack copies of the HMAC states).
  uint64_t token(std::string_view normalized, uint8_t identifier_type) const noexcept;

  MacAlgo algo() const noexcept { return hmac_.algo(); }
  // A stable, non-secret key identifier (derive() of a fixed label), written
  // into the state file: counts made under another key are not comparable
  // and are refused at load.
  uint64_t fingerprint() const noexcept { return fingerprint_; }
  // First 8 bytes (big-endian) of HMAC(key, label): a value of its own for
  // each label. Secret for every label but kFingerprintLabel, whose value is
  // published; kFlowHashLabel gives the flow table's hash key.
  uint64_t derive(std::string_view label) const noexcept;
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  const Hmac& hmac() const noexcept { return hmac_; }

 private:
  explicit TokenKey(const Hmac& h) : hmac_(h) {}
  Hmac hmac_;
  uint64_t fingerprint_ = 0;
  bool demo_ = false;
  std::vector<std::string> warnings_;
};

// Which key an appliance counts with (docs/compliance.md "The token key").
struct KeyRequest {
  std::string key_file;    // compliance.key_file
  std::string state_file;  // compliance.state_file: a per-appliance key is kept beside it
  MacAlgo algo = MacAlgo::kHmacSha256;
  bool allow_demo = false;  // the operator said so (--demo-token-key): demos and tests
};

struct ResolvedKey {
  TokenKey key;
  std::string path;                // the file the key came from
  std::vector<std::string> notes;  // warnings for the operator's log
};

// - key_file holds a key that is not a demo key: that key.
// - key_file holds a demo key: used only with allow_demo (with a note);
//   otherwise refused, and the per-appliance key is used.
// - The per-appliance key: key_file itself when that file does not exist
//   yet, else "token.key" beside state_file. A key found there is used;
//   none is generated on first use (32 bytes from the OpenSSL DRBG, hex,
//   mode 0600, never over an existing file) with a note saying so.
// Errors: an unreadable or short key, a demo key refused with no
// state_file to keep a per-appliance key beside, a demo key found where the
// per-appliance key belongs, a directory or file that cannot be written.
tl::expected<ResolvedKey, std::string> resolve_token_key(const KeyRequest& request);

}  // namespace ftz::engine::compliance
