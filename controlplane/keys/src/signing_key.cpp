#include "ftz/keys/signing_key.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
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
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

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
  unsigned char raw[64];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1) return tl::unexpected(openssl_error());
  const std::string digest = sha256_hex(std::string_view(reinterpret_cast<const char*>(raw), len));
  if (digest.empty()) return tl::unexpected(openssl_error());
  return digest.substr(0, 16);
}

}  // namespace

struct SigningKey::Impl {
  Pkey key;
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
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
    return tl::unexpected("signing key " + path + ": not an Ed25519 key");
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return SigningKey(std::move(impl));
}

tl::expected<SigningKey, std::string> SigningKey::load_or_generate(const std::string& path) {
  std::ifstream probe(path);
  if (!probe) {
    Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key) return tl::unexpected("cannot generate an Ed25519 key: " + openssl_error());
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
      return tl::unexpected("cannot encode the signing key: " + openssl_error());
    // kKeep: a key another process wrote first is the one used.
    auto written = base::write_file_atomically(path, bio_text(bio.get()), 0600, base::IfExists::kKeep);
    if (!written) return tl::unexpected("signing key: " + written.error());
  }
  return load(path);
}

std::string SigningKey::sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  // Ed25519 signs the message itself (no separate digest).
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) != 1) return {};
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
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
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
    return tl::unexpected(std::string("not an Ed25519 public key"));
  return key;
}
}  // namespace

tl::expected<bool, std::string> verify_signature(std::string_view public_pem, std::string_view message,
                                                 std::string_view signature) {
  auto key = read_public(public_pem);
  if (!key) return tl::unexpected(key.error());
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1)
    return tl::unexpected(openssl_error());
  const int ok =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  return ok == 1;
}

tl::expected<std::string, std::string> public_key_id(std::string_view public_pem) {
  auto key = read_public(public_pem);
  if (!key) return tl::unexpected(key.error());
  return id_of(key->get());
}

}  // namespace ftz::keys
