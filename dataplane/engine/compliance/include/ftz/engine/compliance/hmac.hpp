#pragma once
// Keyed MAC over identifiers (DOMAIN.md §1.4, §4.3): HMAC-SHA-256 or HMAC-SM3
// with the inner and outer digest states precomputed once per key, so that one
// MAC on the worker's path is two copies of a plain struct plus the message
// blocks: no allocation, no lock, no syscall.
//
// Why not EVP: OpenSSL 3.0's EVP_MD_CTX_copy_ex, EVP_DigestInit_ex2 and
// EVP_MAC_CTX_dup all free and malloc the provider context on every call
// (measured: 2, 2 and 11 allocations per MAC; docs/compliance.md). SHA-256 uses
// OpenSSL's low-level SHA256_* (SHA-NI/AVX2 assembly, a plain SHA256_CTX);
// SM3 (GB/T 32905-2016) has no public low-level API in OpenSSL 3, so it is
// implemented here and checked bit for bit against OpenSSL's EVP "SM3" at
// create() (self-test) and in the unit tests.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ftz::engine::compliance {

enum class MacAlgo : uint8_t { kHmacSha256 = 1, kHmacSm3 = 2 };
const char* mac_algo_name(MacAlgo a) noexcept;  // "hmac-sha256", "hmac-sm3"

inline constexpr size_t kMacBytes = 32;  // both digests are 256 bits
using MacBytes = std::array<uint8_t, kMacBytes>;

// Plain-struct SM3 state (GB/T 32905-2016), copyable with memcpy.
struct Sm3State {
  uint32_t h[8];
  uint64_t total = 0;  // bytes absorbed
  uint8_t buf[64];
  uint32_t buflen = 0;
  void init() noexcept;
  void update(const uint8_t* p, size_t n) noexcept;
  void final(uint8_t out[32]) noexcept;
};

// HMAC (RFC 2104) with precomputed pads. Copyable; const methods are
// thread-safe (every call works on stack copies of the precomputed states).
class Hmac {
 public:
  // Any key length (RFC 2104: keys longer than the block are hashed first).
  // Runs a known-answer self-test against OpenSSL's EVP_MAC and refuses the
  // key if the fast path disagrees.
  static tl::expected<Hmac, std::string> create(MacAlgo algo, std::span<const uint8_t> key);

  // MAC over the concatenation of up to two parts (prefix, message).
  void mac(std::span<const uint8_t> prefix, std::span<const uint8_t> msg, MacBytes& out) const noexcept;
  MacBytes mac(std::string_view msg) const noexcept;

  MacAlgo algo() const noexcept { return algo_; }

  // Reference through EVP_MAC (allocates; slow path and tests only).
  static tl::expected<MacBytes, std::string> reference(MacAlgo algo, std::span<const uint8_t> key,
                                                       std::span<const uint8_t> msg);

  Hmac(const Hmac&) = default;
  Hmac& operator=(const Hmac&) = default;
  ~Hmac();  // wipes the precomputed states

 private:
  Hmac() = default;
  static Hmac build(MacAlgo algo, std::span<const uint8_t> key) noexcept;
  MacAlgo algo_ = MacAlgo::kHmacSha256;
  // Opaque storage for the two precomputed states: SHA256_CTX is 112 bytes,
  // Sm3State 112 bytes. Kept opaque so no OpenSSL header leaks out.
  alignas(8) std::array<uint8_t, 128> inner_{};
  alignas(8) std::array<uint8_t, 128> outer_{};
};

}  // namespace ftz::engine::compliance
