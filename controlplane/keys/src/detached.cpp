#include "ftz/keys/detached.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "ftz/keys/encoding.hpp"

namespace ftz::keys {

namespace {

constexpr std::string_view kMagic = "ftzgate-signature v1";
constexpr size_t kMaxText = 4096;

std::string signed_message(std::string_view content) {
  std::string m = "ftzgate-detached-v1";
  m.push_back('\0');
  m.append(content);
  return m;
}

bool lower_hex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string make_detached(const SigningKey& key, std::string_view content) {
  const std::string signature = key.sign(signed_message(content));
  const std::string digest = sha256_hex(content);
  if (signature.empty() || digest.empty()) return {};
  std::string out(kMagic);
  out += "\nalgorithm " + std::string(algorithm_name(key.algorithm()));
  out += "\nkey-id " + key.key_id();
  out += "\nsha256 " + digest;
  out += "\nsignature " + base64_encode(signature) + "\n";
  return out;
}

tl::expected<Detached, std::string> parse_detached(std::string_view text) {
  if (text.size() > kMaxText) return tl::unexpected(std::string("a signature file is at most 4 KiB"));
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  static constexpr const char* kFields[] = {"algorithm ", "key-id ", "sha256 ", "signature "};
  if (lines.size() != 5 || lines[0] != kMagic)
    return tl::unexpected("line 1: expected \"" + std::string(kMagic) + "\" and four lines after it");
  std::string_view values[4];
  for (size_t i = 0; i < 4; ++i) {
    const std::string_view line = lines[i + 1];
    const std::string_view field = kFields[i];
    if (!line.starts_with(field))
      return tl::unexpected("line " + std::to_string(i + 2) + ": expected " +
                            std::string(field.substr(0, field.size() - 1)));
    values[i] = line.substr(field.size());
  }
  Detached d;
  const auto algorithm = algorithm_from_name(values[0]);
  if (!algorithm || values[0] == "sm2")
    return tl::unexpected(std::string("line 2: algorithm is ed25519 or sm2-sm3"));
  d.algorithm = *algorithm;
  if (!lower_hex(values[1], 16))
    return tl::unexpected(std::string("line 3: key-id is 16 lowercase hex digits"));
  if (!lower_hex(values[2], 64))
    return tl::unexpected(std::string("line 4: sha256 is 64 lowercase hex digits"));
  auto signature = base64_decode(values[3]);
  if (!signature || signature->empty() || signature->size() > 256)
    return tl::unexpected(std::string("line 5: signature is base64 of at most 256 bytes"));
  d.key_id = std::string(values[1]);
  d.sha256 = std::string(values[2]);
  d.signature = std::move(*signature);
  return d;
}

tl::expected<std::string, std::string> verify_detached(std::string_view sig_text, std::string_view content,
                                                       const KeyLookup& trusted) {
  auto d = parse_detached(sig_text);
  if (!d) return tl::unexpected(d.error());
  if (sha256_hex(content) != d->sha256)
    return tl::unexpected(std::string("the file is not the one that was signed (its SHA-256 differs)"));
  const std::string* pem = trusted(d->key_id);
  if (pem == nullptr)
    return tl::unexpected("signed by key " + d->key_id + ", which is not among the trusted keys");
  // The algorithm named must be the trusted key's own.
  const auto algorithm = public_key_algorithm(*pem);
  if (!algorithm || *algorithm != d->algorithm)
    return tl::unexpected("the signature names " + std::string(algorithm_name(d->algorithm)) +
                          ", which is not the algorithm of key " + d->key_id);
  auto valid = verify_signature(*pem, signed_message(content), d->signature);
  if (!valid) return tl::unexpected(valid.error());
  if (!*valid) return tl::unexpected("the signature does not verify against trusted key " + d->key_id);
  return d->key_id;
}

}  // namespace ftz::keys
