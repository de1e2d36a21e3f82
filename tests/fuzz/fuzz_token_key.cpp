// libFuzzer target: the token key file (TokenKey::load). The input is the
// file; its size selects the algorithm (even: HMAC-SHA-256, odd: HMAC-SM3),
// and it is written with mode 0600.
// Invariants:
//   - a refused key says why, and the message carries no key material: no
//     byte >= 0x80 of the file and no run of 12 of its hex digits;
//   - a loaded key keeps the algorithm and gives stable tokens; a hex file
//     and its decoded bytes written raw are the same key;
//   - a 0600 file loads without a warning, a 0644 one with one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/engine/compliance/token_key.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace ftz::engine::compliance;

bool leaks(std::string_view message, std::string_view file) {
  for (unsigned char c : file) {
    if (c >= 0x80 && message.find(static_cast<char>(c)) != std::string_view::npos) return true;
  }
  // A run of 12 hex digits of the file (half a 16-byte key's worth is
  // already too much): error texts have no such run of their own.
  size_t run = 0;
  for (size_t i = 0; i < file.size(); ++i) {
    const char c = file[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    run = hex ? run + 1 : 0;
    if (run >= 12 && message.find(file.substr(i + 1 - run, run)) != std::string_view::npos) return true;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The documented reading (token_key.hpp): hex when everything before
// trailing whitespace is an even number of hex digits, raw bytes otherwise.
bool is_hex_form(std::string_view file) {
  const size_t end = file.find_last_not_of(" \t\r\n");
  if (end == std::string_view::npos) return false;
  const std::string_view digits = file.substr(0, end + 1);
  if (digits.size() % 2 != 0) return false;
  for (char c : digits) {
    if (hex_value(c) < 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  const std::string path = ftz::fuzz::ScratchDir::path() + "/token.key";
  ftz::fuzz::write_file(path, data, size, 0600);
  const MacAlgo algo = size % 2 == 0 ? MacAlgo::kHmacSha256 : MacAlgo::kHmacSm3;
  const std::string_view file(reinterpret_cast<const char*>(data), size);

  auto key = TokenKey::load(path, algo);
  if (!key) {
    if (key.error().empty()) ftz::fuzz::fail("a refused key file without a reason");
    if (leaks(key.error(), file)) ftz::fuzz::fail("key material in an error message", key.error());
    return 0;
  }
  if (key->algo() != algo) ftz::fuzz::fail("the key changed its algorithm");
  if (!key->warnings().empty()) ftz::fuzz::fail("a 0600 key file gave a warning", key->warnings().front());
  for (const auto& w : key->warnings()) {
    if (leaks(w, file)) ftz::fuzz::fail("key material in a warning", w);
  }
  const uint64_t t1 = key->token("110105194912310021", 1);
  if (key->token("110105194912310021", 1) != t1) ftz::fuzz::fail("tokens are not stable");
  (void)key->token("", 0);

  // A hex file and its decoded bytes written raw are the same key.
  if (is_hex_form(file)) {
    std::string raw;
    for (size_t i = 0; i + 1 < file.size() && hex_value(file[i]) >= 0 && hex_value(file[i + 1]) >= 0; i += 2)
      raw.push_back(static_cast<char>(hex_value(file[i]) * 16 + hex_value(file[i + 1])));
    if (!is_hex_form(raw)) {
      ftz::fuzz::write_file(path, raw.data(), raw.size(), 0600);
      auto decoded = TokenKey::load(path, algo);
      if (!decoded) ftz::fuzz::fail("the decoded form of a hex key is refused", decoded.error());
      if (decoded->fingerprint() != key->fingerprint())
        ftz::fuzz::fail("hex and raw forms give different keys");
    }
  }

  // The same file readable by others: loads, with a warning.
  ftz::fuzz::write_file(path, data, size, 0644);
  auto shared = TokenKey::load(path, algo);
  if (!shared) ftz::fuzz::fail("a key that loaded at 0600 is refused at 0644", shared.error());
  if (shared->warnings().empty()) ftz::fuzz::fail("no warning for a key file readable by others");
  if (shared->fingerprint() != key->fingerprint() || shared->token("110105194912310021", 1) != t1)
    ftz::fuzz::fail("the same file gave another key");
  return 0;
}
