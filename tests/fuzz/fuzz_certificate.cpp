// libFuzzer target: what ftzgated reads of certificates from the wire.
//
// Input: [mode] [bytes...].
//   mode even: bytes are the CSR of an IssueCertificate call
//              (pki::request_public_key). Invariants: an accepted request
//              yields a public key PEM that reads back as one, and the
//              same answer a second time; the fuzzer cannot forge a
//              request's signature, so a mutated seed that is accepted
//              carries the seed's key.
//   mode odd:  bytes are a peer's certificate PEM (pki::describe_certificate,
//              read on every TLS call). Invariant: a certificate that is
//              read has an uppercase hex serial and a SHA-256 of 64 hex
//              digits; a kind is only one of ours.
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/pki/authority.hpp"
#include "fuzz_common.hpp"

namespace {

bool reads_as_public_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio != nullptr ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  const bool ok = key != nullptr;
  EVP_PKEY_free(key);
  BIO_free(bio);
  return ok;
}

bool hex(std::string_view s, bool upper) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [upper](char c) {
    return (c >= '0' && c <= '9') || (upper ? (c >= 'A' && c <= 'F') : (c >= 'a' && c <= 'f'));
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 16384) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto key = ftz::pki::request_public_key(bytes);
    if (!key) {
      if (key.error().empty()) ftz::fuzz::fail("a refused request without a reason");
      return 0;
    }
    if (!reads_as_public_key(*key)) ftz::fuzz::fail("an accepted request's key does not read back", *key);
    auto again = ftz::pki::request_public_key(bytes);
    if (!again || *again != *key) ftz::fuzz::fail("the same request read twice gave another answer");
    return 0;
  }
  auto info = ftz::pki::describe_certificate(bytes);
  if (!info) return 0;
  if (!hex(info->serial, true)) ftz::fuzz::fail("a serial that is not uppercase hex", info->serial);
  if (info->sha256.size() != 64 || !hex(info->sha256, false))
    ftz::fuzz::fail("a bad fingerprint", info->sha256);
  return 0;
}
