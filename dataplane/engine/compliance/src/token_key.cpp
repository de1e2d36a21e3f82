#include "ftz/engine/compliance/token_key.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "ftz/base/ascii.hpp"
#include "ftz/base/atomic_file.hpp"

namespace ftz::engine::compliance {
namespace {

using ascii::hex_value;

uint64_t first8(const MacBytes& m) noexcept {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | m[static_cast<size_t>(i)];
  return v;
}

// Wipes a byte vector before it is freed.
struct Wiped {
  std::vector<uint8_t> bytes;
  ~Wiped() {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  }
};

// SHA-256 of the key bytes of every key this project has published: the
// demo key of examples/keys/token.key. A key equal to one of them is a demo
// key even when its file lost the marker line.
constexpr std::array<std::string_view, 1> kPublishedKeyDigests = {
    "c009fc934cb3a3dcd986474be2c1376e45987f01e89e3345cec039f706a73627",
};

bool is_published(std::span<const uint8_t> key) noexcept {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr) != 1) return false;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < len; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  const std::string_view digest(hex, 2 * len);
  for (std::string_view d : kPublishedKeyDigests) {
    if (d == digest) return true;
  }
  return false;
}

// Writes a fresh random key to `path` without ever replacing a file there
// (IfExists::kKeep: when another process won the race, its key is used).
tl::expected<bool, std::string> generate_key_file(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty()) {
    fs::create_directories(dir, ec);
    if (ec)
      return tl::unexpected("cannot create directory " + dir.string() +
                            " for the token key: " + ec.message());
  }
  Wiped key;
  key.bytes.resize(32);
  if (RAND_bytes(key.bytes.data(), static_cast<int>(key.bytes.size())) != 1) {
    return tl::unexpected("token key " + path + ": no random bytes from OpenSSL");
  }
  Wiped text;
  static const char* const kHex = "0123456789abcdef";
  for (uint8_t b : key.bytes) {
    text.bytes.push_back(static_cast<uint8_t>(kHex[b >> 4]));
    text.bytes.push_back(static_cast<uint8_t>(kHex[b & 15]));
  }
  text.bytes.push_back('\n');
  auto written = base::write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(text.bytes.data()), text.bytes.size()), 0600,
      base::IfExists::kKeep);
  if (!written) return tl::unexpected("token key file: " + written.error());
  return *written;  // false: someone else's key is there now
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

tl::expected<TokenKey, std::string> TokenKey::from_bytes(std::span<const uint8_t> key, MacAlgo algo) {
  if (key.size() < kMinKeyBytes)
    return tl::unexpected("token key too short: " + std::to_string(key.size()) + " bytes, need at least " +
                          std::to_string(kMinKeyBytes));
  auto h = Hmac::create(algo, key);
  if (!h) return tl::unexpected(h.error());
  TokenKey k(*h);
  k.fingerprint_ = k.derive(kFingerprintLabel);
  k.demo_ = is_published(key);
  return k;
}

tl::expected<TokenKey, std::string> TokenKey::load(const std::string& path, MacAlgo algo) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected("token key file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return tl::unexpected("token key file " + path + ": not a regular file");
  }
  if (st.st_size > 4096) {
    ::close(fd);
    return tl::unexpected("token key file " + path + ": larger than 4096 bytes, not a key");
  }
  Wiped raw;
  raw.bytes.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < raw.bytes.size()) {
    const ssize_t n = ::read(fd, raw.bytes.data() + got, raw.bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  raw.bytes.resize(got);

  // The demo marker line: skipped, and the key is a demo key.
  bool marked = false;
  if (raw.bytes.size() > kDemoKeyMarker.size() &&
      std::memcmp(raw.bytes.data(), kDemoKeyMarker.data(), kDemoKeyMarker.size()) == 0) {
    size_t nl = kDemoKeyMarker.size();
    while (nl < raw.bytes.size() && raw.bytes[nl] != '\n') ++nl;
    raw.bytes.erase(raw.bytes.begin(),
                    raw.bytes.begin() + static_cast<std::ptrdiff_t>(std::min(nl + 1, raw.bytes.size())));
    marked = true;
  }

  // Hex if every byte up to trailing whitespace is a hex digit.
  size_t end = raw.bytes.size();
  while (end > 0 && (raw.bytes[end - 1] == '\n' || raw.bytes[end - 1] == '\r' || raw.bytes[end - 1] == ' ' ||
                     raw.bytes[end - 1] == '\t'))
    --end;
  bool hex = end > 0 && end % 2 == 0;
  for (size_t i = 0; hex && i < end; ++i) hex = hex_value(raw.bytes[i]) >= 0;
  Wiped key;
  if (hex) {
    key.bytes.resize(end / 2);
    for (size_t i = 0; i < end / 2; ++i)
      key.bytes[i] = static_cast<uint8_t>(hex_value(raw.bytes[2 * i]) * 16 + hex_value(raw.bytes[2 * i + 1]));
  } else {
    key.bytes = raw.bytes;
  }
  auto k = from_bytes(key.bytes, algo);
  if (!k) return tl::unexpected("token key file " + path + ": " + k.error());
  k->demo_ = k->demo_ || marked;
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0)
    k->warnings_.push_back("token key file " + path + " is accessible by other users (mode " + [&] {
      char b[8];
      std::snprintf(b, sizeof(b), "%03o", static_cast<unsigned>(st.st_mode & 0777));
      return std::string(b);
    }() + "): restrict it to the service user (chmod 600)");
  return k;
}

uint64_t TokenKey::derive(std::string_view label) const noexcept {
  return first8(hmac_.mac(label));
}

uint64_t TokenKey::token(std::string_view normalized, uint8_t identifier_type) const noexcept {
  MacBytes m;
  const uint8_t prefix[1] = {identifier_type};
  hmac_.mac(prefix,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(normalized.data()), normalized.size()),
            m);
  return first8(m);
}

tl::expected<ResolvedKey, std::string> resolve_token_key(const KeyRequest& request) {
  std::vector<std::string> notes;
  if (request.key_file.empty()) return tl::unexpected(std::string("no token key file configured"));
  std::string own = request.key_file;  // where the per-appliance key lives
  if (exists(request.key_file)) {
    auto k = TokenKey::load(request.key_file, request.algo);
    if (!k) return tl::unexpected(k.error());
    if (!k->is_demo()) {
      notes = k->warnings();
      return ResolvedKey{std::move(*k), request.key_file, std::move(notes)};
    }
    if (request.allow_demo) {
      // Who may read a published key does not matter: no mode warning.
      notes.push_back("token key " + request.key_file +
                      " is the published demo key, used because --demo-token-key was given: anyone can "
                      "recompute its tokens and, with a masked value, the identifier (never use it on an "
                      "appliance)");
      return ResolvedKey{std::move(*k), request.key_file, std::move(notes)};
    }
    if (request.state_file.empty()) {
      return tl::unexpected(
          "token key " + request.key_file +
          " is the published demo key: refused (pass --demo-token-key for demos and tests; on "
          "an appliance point compliance.key_file at a key of your own, or set "
          "compliance.state_file so that one is generated beside it)");
    }
    own = (std::filesystem::path(request.state_file).parent_path() / "token.key").string();
    notes.push_back("token key " + request.key_file +
                    " is the published demo key: not used (--demo-token-key "
                    "not given); the appliance's own key " +
                    own + " is used instead");
  }
  if (!exists(own)) {
    auto made = generate_key_file(own);
    if (!made) return tl::unexpected(made.error());
    if (*made) {
      notes.push_back(
          "generated a new token key " + own +
          " (32 random bytes, mode 0600) for this appliance: back it up with the compliance state "
          "file; tokens and counts made under it cannot be matched without it");
    }
  }
  auto k = TokenKey::load(own, request.algo);
  if (!k) return tl::unexpected(k.error());
  if (k->is_demo()) {
    return tl::unexpected(
        "token key " + own +
        " is a published demo key: refused as the appliance's own key (replace it with a key "
        "of your own, or remove it to have one generated)");
  }
  for (const std::string& w : k->warnings()) notes.push_back(w);
  return ResolvedKey{std::move(*k), own, std::move(notes)};
}

}  // namespace ftz::engine::compliance
