// HMAC-SHA-256 / HMAC-SM3 with precomputed pads (see hmac.hpp for why).
// SHA256_* are deprecated in OpenSSL 3 but remain the only allocation-free
// SHA-256 entry point with OpenSSL's assembly; suppress the attribute here only.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "ftz/engine/compliance/hmac.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <type_traits>

namespace ftz::engine::compliance {

static_assert(sizeof(SHA256_CTX) <= 128, "SHA256_CTX must fit the opaque state");
static_assert(sizeof(Sm3State) <= 128, "Sm3State must fit the opaque state");

const char* mac_algo_name(MacAlgo a) noexcept {
  switch (a) {
    case MacAlgo::kHmacSha256:
      return "hmac-sha256";
    case MacAlgo::kHmacSm3:
      return "hmac-sm3";
  }
  return "?";
}

// ---- SM3 (GB/T 32905-2016) ----
namespace {

constexpr uint32_t rotl(uint32_t x, int n) noexcept {
  return std::rotl(x, n);
}
constexpr uint32_t p0(uint32_t x) noexcept {
  return x ^ rotl(x, 9) ^ rotl(x, 17);
}
constexpr uint32_t p1(uint32_t x) noexcept {
  return x ^ rotl(x, 15) ^ rotl(x, 23);
}
inline uint32_t load_be32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void store_be32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// T_j <<< (j mod 32), precomputed.
constexpr std::array<uint32_t, 64> kTj = [] {
  std::array<uint32_t, 64> t{};
  for (int j = 0; j < 64; ++j)
    t[static_cast<size_t>(j)] = std::rotl(j < 16 ? 0x79cc4519u : 0x7a879d8au, j % 32);
  return t;
}();

template <bool kLow>  // rounds 0-15 use XOR for FF/GG, 16-63 majority/choice
inline void sm3_round(uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d, uint32_t& e, uint32_t& f,
                      uint32_t& g, uint32_t& h, uint32_t tj, uint32_t wj, uint32_t w1j) noexcept {
  const uint32_t a12 = rotl(a, 12);
  const uint32_t ss1 = rotl(a12 + e + tj, 7);
  const uint32_t ss2 = ss1 ^ a12;
  const uint32_t ff = kLow ? (a ^ b ^ c) : ((a & b) | (a & c) | (b & c));
  const uint32_t gg = kLow ? (e ^ f ^ g) : ((e & f) | (~e & g));
  const uint32_t tt1 = ff + d + ss2 + w1j;
  const uint32_t tt2 = gg + h + ss1 + wj;
  d = c;
  c = rotl(b, 9);
  b = a;
  a = tt1;
  h = g;
  g = rotl(f, 19);
  f = e;
  e = p0(tt2);
}

void sm3_compress(uint32_t v[8], const uint8_t block[64]) noexcept {
  uint32_t w[68];
  for (int j = 0; j < 16; ++j) w[j] = load_be32(block + 4 * j);
  for (int j = 16; j < 68; ++j)
    w[j] = p1(w[j - 16] ^ w[j - 9] ^ rotl(w[j - 3], 15)) ^ rotl(w[j - 13], 7) ^ w[j - 6];
  uint32_t a = v[0], b = v[1], c = v[2], d = v[3], e = v[4], f = v[5], g = v[6], h = v[7];
  for (int j = 0; j < 16; ++j)
    sm3_round<true>(a, b, c, d, e, f, g, h, kTj[static_cast<size_t>(j)], w[j], w[j] ^ w[j + 4]);
  for (int j = 16; j < 64; ++j)
    sm3_round<false>(a, b, c, d, e, f, g, h, kTj[static_cast<size_t>(j)], w[j], w[j] ^ w[j + 4]);
  v[0] ^= a;
  v[1] ^= b;
  v[2] ^= c;
  v[3] ^= d;
  v[4] ^= e;
  v[5] ^= f;
  v[6] ^= g;
  v[7] ^= h;
}

}  // namespace

void Sm3State::init() noexcept {
  static constexpr uint32_t kIv[8] = {0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600,
                                      0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e};
  std::memcpy(h, kIv, sizeof(h));
  total = 0;
  buflen = 0;
}

void Sm3State::update(const uint8_t* p, size_t n) noexcept {
  total += n;
  if (buflen != 0) {
    const size_t take = std::min<size_t>(64 - buflen, n);
    std::memcpy(buf + buflen, p, take);
    buflen += static_cast<uint32_t>(take);
    p += take;
    n -= take;
    if (buflen < 64) return;
    sm3_compress(h, buf);
    buflen = 0;
  }
  while (n >= 64) {
    sm3_compress(h, p);
    p += 64;
    n -= 64;
  }
  if (n != 0) {
    std::memcpy(buf, p, n);
    buflen = static_cast<uint32_t>(n);
  }
}

void Sm3State::final(uint8_t out[32]) noexcept {
  const uint64_t bits = total * 8;
  buf[buflen++] = 0x80;
  if (buflen > 56) {
    std::memset(buf + buflen, 0, 64 - buflen);
    sm3_compress(h, buf);
    buflen = 0;
  }
  std::memset(buf + buflen, 0, 56 - buflen);
  for (int i = 0; i < 8; ++i) buf[56 + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
  sm3_compress(h, buf);
  for (int i = 0; i < 8; ++i) store_be32(out + 4 * i, h[i]);
}

// ---- HMAC ----
namespace {

constexpr size_t kBlock = 64;  // both SHA-256 and SM3

// The opaque storage holds the bytes of a State; copies in and out with
// memcpy (both State types are trivially copyable), no aliasing casts.
template <typename State>
State load_state(const std::array<uint8_t, 128>& s) noexcept {
  static_assert(std::is_trivially_copyable_v<State>);
  State st;
  std::memcpy(&st, s.data(), sizeof(State));
  return st;
}
template <typename State>
void store_state(std::array<uint8_t, 128>& s, const State& st) noexcept {
  std::memcpy(s.data(), &st, sizeof(State));
}

void digest(MacAlgo algo, std::span<const uint8_t> in, uint8_t out[32]) noexcept {
  if (algo == MacAlgo::kHmacSha256) {
    SHA256(in.data(), in.size(), out);
  } else {
    Sm3State s;
    s.init();
    s.update(in.data(), in.size());
    s.final(out);
  }
}

const uint8_t kSelfTestKey[] = "ftzgate hmac self-test key";
const uint8_t kSelfTestMsg[] =
    "ftzgate self-test message spanning more than one 64-byte block of the digest, twice over.";

}  // namespace

Hmac::~Hmac() {
  OPENSSL_cleanse(inner_.data(), inner_.size());
  OPENSSL_cleanse(outer_.data(), outer_.size());
}

Hmac Hmac::build(MacAlgo algo, std::span<const uint8_t> key) noexcept {
  uint8_t k[kBlock] = {};
  if (key.size() > kBlock) {
    digest(algo, key, k);
  } else if (!key.empty()) {
    std::memcpy(k, key.data(), key.size());
  }
  uint8_t ipad[kBlock];
  uint8_t opad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) {
    ipad[i] = static_cast<uint8_t>(k[i] ^ 0x36);
    opad[i] = static_cast<uint8_t>(k[i] ^ 0x5c);
  }
  Hmac h;
  h.algo_ = algo;
  if (algo == MacAlgo::kHmacSha256) {
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, ipad, kBlock);
    store_state(h.inner_, c);
    SHA256_Init(&c);
    SHA256_Update(&c, opad, kBlock);
    store_state(h.outer_, c);
    OPENSSL_cleanse(&c, sizeof(c));
  } else {
    Sm3State c;
    c.init();
    c.update(ipad, kBlock);
    store_state(h.inner_, c);
    c.init();
    c.update(opad, kBlock);
    store_state(h.outer_, c);
    OPENSSL_cleanse(&c, sizeof(c));
  }
  OPENSSL_cleanse(k, sizeof(k));
  OPENSSL_cleanse(ipad, sizeof(ipad));
  OPENSSL_cleanse(opad, sizeof(opad));
  return h;
}

tl::expected<Hmac, std::string> Hmac::create(MacAlgo algo, std::span<const uint8_t> key) {
  if (algo != MacAlgo::kHmacSha256 && algo != MacAlgo::kHmacSm3)
    return tl::unexpected(std::string("unknown MAC algorithm"));
  Hmac h = build(algo, key);
  // Known-answer self-test: the fast path must agree with OpenSSL's EVP_MAC,
  // for a fixed key and for this key (so SM3 here is checked against OpenSSL's).
  const std::span<const uint8_t> msg(kSelfTestMsg, sizeof(kSelfTestMsg) - 1);
  const std::span<const uint8_t> fixed(kSelfTestKey, sizeof(kSelfTestKey) - 1);
  for (const auto& test_key : {fixed, key}) {
    auto ref = reference(algo, test_key, msg);
    if (!ref) return tl::unexpected(ref.error());
    MacBytes got{};
    (test_key.data() == key.data() ? h : build(algo, test_key)).mac({}, msg, got);
    if (got != *ref)
      return tl::unexpected(std::string("HMAC self-test failed for ") + mac_algo_name(algo) +
                            ": the fast path disagrees with OpenSSL EVP_MAC");
  }
  return h;
}

void Hmac::mac(std::span<const uint8_t> prefix, std::span<const uint8_t> msg, MacBytes& out) const noexcept {
  uint8_t ih[32];
  if (algo_ == MacAlgo::kHmacSha256) {
    SHA256_CTX c = load_state<SHA256_CTX>(inner_);
    if (!prefix.empty()) SHA256_Update(&c, prefix.data(), prefix.size());
    if (!msg.empty()) SHA256_Update(&c, msg.data(), msg.size());
    SHA256_Final(ih, &c);
    c = load_state<SHA256_CTX>(outer_);
    SHA256_Update(&c, ih, sizeof(ih));
    SHA256_Final(out.data(), &c);
    OPENSSL_cleanse(&c, sizeof(c));
  } else {
    Sm3State c = load_state<Sm3State>(inner_);
    if (!prefix.empty()) c.update(prefix.data(), prefix.size());
    if (!msg.empty()) c.update(msg.data(), msg.size());
    c.final(ih);
    c = load_state<Sm3State>(outer_);
    c.update(ih, sizeof(ih));
    c.final(out.data());
    OPENSSL_cleanse(&c, sizeof(c));
  }
}

MacBytes Hmac::mac(std::string_view msg) const noexcept {
  MacBytes out{};
  mac({}, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()), out);
  return out;
}

tl::expected<MacBytes, std::string> Hmac::reference(MacAlgo algo, std::span<const uint8_t> key,
                                                    std::span<const uint8_t> msg) {
  struct MacFree {
    void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
    void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
  };
  std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return tl::unexpected(std::string("OpenSSL: HMAC not available"));
  std::unique_ptr<EVP_MAC_CTX, MacFree> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return tl::unexpected(std::string("OpenSSL: EVP_MAC_CTX_new failed"));
  char name[8];
  std::strcpy(name, algo == MacAlgo::kHmacSha256 ? "SHA256" : "SM3");
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0),
                         OSSL_PARAM_construct_end()};
  static const uint8_t kEmpty[1] = {0};
  if (EVP_MAC_init(ctx.get(), key.empty() ? kEmpty : key.data(), key.size(), params) != 1)
    return tl::unexpected(std::string("OpenSSL: EVP_MAC_init failed for ") + name);
  if (!msg.empty() && EVP_MAC_update(ctx.get(), msg.data(), msg.size()) != 1)
    return tl::unexpected(std::string("OpenSSL: EVP_MAC_update failed"));
  MacBytes out{};
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size())
    return tl::unexpected(std::string("OpenSSL: EVP_MAC_final failed"));
  return out;
}

}  // namespace ftz::engine::compliance
