#include "ftz/engine/compliance/token_key.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ftz::engine::compliance {
namespace {

int hex_value(uint8_t c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

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

}  // namespace

tl::expected<TokenKey, std::string> TokenKey::from_bytes(std::span<const uint8_t> key, MacAlgo algo) {
  if (key.size() < kMinKeyBytes)
    return tl::unexpected("token key too short: " + std::to_string(key.size()) + " bytes, need at least " +
                          std::to_string(kMinKeyBytes));
  auto h = Hmac::create(algo, key);
  if (!h) return tl::unexpected(h.error());
  TokenKey k(std::move(*h));
  k.fingerprint_ = first8(k.hmac_.mac("ftzgate token key fingerprint v1"));
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
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0)
    k->warnings_.push_back("token key file " + path + " is accessible by other users (mode " + [&] {
      char b[8];
      std::snprintf(b, sizeof(b), "%03o", static_cast<unsigned>(st.st_mode & 0777));
      return std::string(b);
    }() + "): restrict it to the service user (chmod 600)");
  return k;
}

uint64_t TokenKey::token(std::string_view normalized, uint8_t identifier_type) const noexcept {
  MacBytes m;
  const uint8_t prefix[1] = {identifier_type};
  hmac_.mac(prefix,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(normalized.data()), normalized.size()),
            m);
  return first8(m);
}

}  // namespace ftz::engine::compliance
