#include "ftz/keys/signing_key.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "ftz/base/atomic_file.hpp"
#include "ftz/keys/encoding.hpp"

namespace ftz::keys {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const noexcept { EVP_PKEY_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// GM/T 0009's default distinguishing identifier: what the Chinese
// standards' verifiers (and `openssl pkeyutl -pkeyopt
// distid:1234567812345678`) use when none is agreed.
constexpr std::string_view kSm2Id = "1234567812345678";

std::optional<Algorithm> algorithm_of(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) return Algorithm::kEd25519;
  if (EVP_PKEY_is_a(key, "SM2") == 1) return Algorithm::kSm2Sm3;
  return std::nullopt;
}

// A digest-sign or -verify context for `key`: SM2 hashes with SM3 over its
// identifier, Ed25519 signs the message itself. It owns the SM2 key context
// it uses: an EVP_MD_CTX never frees a key context set on it, so `md` (the
// later member) goes first.
struct DigestCtx {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> pkey;
  MdCtx md;
};

std::optional<DigestCtx> digest_context(EVP_PKEY* key, bool sign) {
  DigestCtx c;
  c.md.reset(EVP_MD_CTX_new());
  if (!c.md) return std::nullopt;
  const EVP_MD* md = nullptr;
  if (algorithm_of(key) == Algorithm::kSm2Sm3) {
    // The identifier goes on a key context made first (SM2(7)).
    c.pkey.reset(EVP_PKEY_CTX_new(key, nullptr));
    if (!c.pkey || EVP_PKEY_CTX_set1_id(c.pkey.get(), kSm2Id.data(), kSm2Id.size()) <= 0) return std::nullopt;
    EVP_MD_CTX_set_pkey_ctx(c.md.get(), c.pkey.get());
    md = EVP_sm3();
  }
  const int ok = sign ? EVP_DigestSignInit(c.md.get(), nullptr, md, nullptr, key)
                      : EVP_DigestVerifyInit(c.md.get(), nullptr, md, nullptr, key);
  if (ok != 1) return std::nullopt;
  return c;
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

tl::expected<std::string, std::string> id_of(EVP_PKEY* key) {
  std::string bytes;
  if (algorithm_of(key) == Algorithm::kEd25519) {
    unsigned char raw[64];
    size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return tl::unexpected(openssl_error());
    bytes.assign(reinterpret_cast<const char*>(raw), len);
  } else {
    // An EC key has no raw form: its DER SubjectPublicKeyInfo.
    unsigned char* der = nullptr;
    const int n = i2d_PUBKEY(key, &der);
    if (n <= 0) return tl::unexpected(openssl_error());
    bytes.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
  }
  const std::string digest = sha256_hex(bytes);
  if (digest.empty()) return tl::unexpected(openssl_error());
  return digest.substr(0, 16);
}

}  // namespace

std::string_view algorithm_name(Algorithm a) noexcept {
  return a == Algorithm::kSm2Sm3 ? "sm2-sm3" : "ed25519";
}

std::optional<Algorithm> algorithm_from_name(std::string_view name) noexcept {
  if (name == "ed25519") return Algorithm::kEd25519;
  if (name == "sm2-sm3" || name == "sm2") return Algorithm::kSm2Sm3;
  return std::nullopt;
}

struct SigningKey::Impl {
  Pkey key;
  Algorithm algorithm = Algorithm::kEd25519;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

tl::expected<SigningKey, std::string> SigningKey::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected("cannot read signing key " + path);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string pem = text.str();
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return tl::unexpected("signing key " + path + ": not a PEM private key: " + openssl_error());
  const auto algorithm = algorithm_of(key.get());
  if (!algorithm) return tl::unexpected("signing key " + path + ": not an Ed25519 or SM2 key");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  impl->algorithm = *algorithm;
  return SigningKey(std::move(impl));
}

tl::expected<SigningKey, std::string> SigningKey::load_or_generate(const std::string& path,
                                                                   Algorithm algorithm) {
  std::ifstream probe(path);
  if (!probe) {
    Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm == Algorithm::kSm2Sm3 ? "SM2" : "ED25519"));
    if (!key)
      return tl::unexpected("cannot generate an " + std::string(algorithm_name(algorithm)) +
                            " key: " + openssl_error());
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
      return tl::unexpected("cannot encode the signing key: " + openssl_error());
    // kKeep: a key another process wrote first is the one used.
    auto written = base::write_file_atomically(path, bio_text(bio.get()), 0600, base::IfExists::kKeep);
    if (!written) return tl::unexpected("signing key: " + written.error());
  }
  return load(path);
}

Algorithm SigningKey::algorithm() const noexcept {
  return impl_->algorithm;
}

std::string SigningKey::sign(std::string_view message) const {
  auto ctx = digest_context(impl_->key.get(), true);
  if (!ctx) return {};
  // The largest signature first (SM2's DER length varies), then this one.
  size_t len = 0;
  const auto* msg = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSign(ctx->md.get(), nullptr, &len, msg, message.size()) != 1) return {};
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx->md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, msg,
                     message.size()) != 1)
    return {};
  sig.resize(len);
  return sig;
}

std::string SigningKey::public_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), impl_->key.get()) != 1) return {};
  return bio_text(bio.get());
}

std::string SigningKey::key_id() const {
  auto id = id_of(impl_->key.get());
  return id ? *id : std::string();
}

namespace {
tl::expected<Pkey, std::string> read_public(std::string_view public_pem) {
  Bio bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())));
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return tl::unexpected("not a PEM public key: " + openssl_error());
  if (!algorithm_of(key.get())) return tl::unexpected(std::string("not an Ed25519 or SM2 public key"));
  return key;
}
}  // namespace

tl::expected<bool, std::string> verify_signature(std::string_view public_pem, std::string_view message,
                                                 std::string_view signature) {
  auto key = read_public(public_pem);
  if (!key) return tl::unexpected(key.error());
  auto ctx = digest_context(key->get(), false);
  if (!ctx) return tl::unexpected(openssl_error());
  const int ok = EVP_DigestVerify(ctx->md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                  signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size());
  ERR_clear_error();
  return ok == 1;
}

tl::expected<std::string, std::string> public_key_id(std::string_view public_pem) {
  auto key = read_public(public_pem);
  if (!key) return tl::unexpected(key.error());
  return id_of(key->get());
}

tl::expected<Algorithm, std::string> public_key_algorithm(std::string_view public_pem) {
  auto key = read_public(public_pem);
  if (!key) return tl::unexpected(key.error());
  return *algorithm_of(key->get());
}

}  // namespace ftz::keys
