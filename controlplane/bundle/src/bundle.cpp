#include "ftz/bundle/bundle.hpp"

#include <hs/hs.h>

#include <exception>
#include <filesystem>
#include <new>
#include <span>

#include "ftz/engine/signatures/database.hpp"
#include "ftz/keys/encoding.hpp"
#include "ftz/keys/signing_key.hpp"

namespace ftz::bundle {

namespace {

namespace v1 = ftzgate::v1;

// What is signed: a bundle's signature can never be replayed as another kind
// of signed record (an audit checkpoint signs different bytes).
std::string signed_message(std::string_view body) {
  std::string m = "ftzgate-bundle-v1";
  m.push_back('\0');
  m.append(body);
  return m;
}

hs_platform_info_t to_hs(const v1::HyperscanPlatform& p) {
  hs_platform_info_t out{};
  out.tune = p.tune();
  out.cpu_features = p.cpu_features();
  return out;
}

v1::SignatureAlgorithm algorithm_of(keys::Algorithm a) {
  return a == keys::Algorithm::kSm2Sm3 ? v1::SIGNATURE_ALGORITHM_SM2_SM3 : v1::SIGNATURE_ALGORITHM_ED25519;
}

bool same(const v1::HyperscanPlatform& a, const v1::HyperscanPlatform& b) {
  return a.tune() == b.tune() && a.cpu_features() == b.cpu_features();
}

std::string gen_name(uint64_t generation) {
  return "bundle generation " + std::to_string(generation);
}

tl::expected<OpenedBundle, std::string> open_impl(const v1::SignedBundle& s, const TrustedKeys& trusted,
                                                  const v1::HyperscanPlatform& platform) {
  if (s.algorithm() != v1::SIGNATURE_ALGORITHM_ED25519 && s.algorithm() != v1::SIGNATURE_ALGORITHM_SM2_SM3) {
    return tl::unexpected("unsupported signature algorithm " + std::to_string(s.algorithm()));
  }
  const std::string& body = s.body();
  if (keys::sha256_hex(body) != s.body_sha256()) {
    return tl::unexpected(std::string("content hash mismatch: the body is not the one that was hashed"));
  }
  const std::string* pem = trusted.find(s.key_id());
  if (pem == nullptr) {
    return tl::unexpected("signed by key " + s.key_id() + ", which is not among the trusted keys");
  }
  // The algorithm named is the trusted key's own: a signature is never read
  // under another algorithm than the one its key is for.
  const auto key_algorithm = keys::public_key_algorithm(*pem);
  if (!key_algorithm || algorithm_of(*key_algorithm) != s.algorithm()) {
    return tl::unexpected("the bundle names signature algorithm " + std::to_string(s.algorithm()) +
                          ", which is not that of trusted key " + s.key_id());
  }
  auto valid = keys::verify_signature(*pem, signed_message(body), s.signature());
  if (!valid) return tl::unexpected("cannot verify the signature: " + valid.error());
  if (!*valid) return tl::unexpected("the signature does not verify against trusted key " + s.key_id());

  v1::PolicyBundle b;
  if (!b.ParseFromString(body)) return tl::unexpected(std::string("the signed body is not a policy bundle"));
  if (b.generation() == 0) return tl::unexpected(std::string("the bundle has no generation number"));
  const std::string name = gen_name(b.generation());
  if (b.has_signatures() && !same(b.signatures().platform(), platform)) {
    return tl::unexpected(name + ": its signature database was compiled for another CPU (" +
                          describe(b.signatures().platform()) + "; this data plane is " + describe(platform) +
                          ")");
  }
  const std::vector<v1::SignaturePack> packs(b.packs().begin(), b.packs().end());
  auto loaded = config::load_config_from_model(
      b.config(), packs, name,
      std::map<std::string, std::string>(b.prefix_lists().begin(), b.prefix_lists().end()));
  if (!loaded)
    return tl::unexpected(name + " does not validate:\n" + config::format_diagnostics(loaded.error()));

  OpenedBundle out;
  out.generation = b.generation();
  out.body_sha256 = s.body_sha256();
  out.key_id = s.key_id();
  if (loaded->spec.signatures.empty() != !b.has_signatures()) {
    return tl::unexpected(name + ": the signature database does not match the catalog");
  }
  if (b.has_signatures()) {
    const std::string& db = b.signatures().database();
    auto opened = engine::sig::SignatureDatabase::deserialize(
        std::span(reinterpret_cast<const uint8_t*>(db.data()), db.size()), loaded->spec.signatures);
    if (!opened) return tl::unexpected(name + ": " + opened.error());
    out.signatures = std::move(*opened);
  }
  out.config = std::move(*loaded);
  return out;
}

}  // namespace

v1::HyperscanPlatform host_platform() {
  hs_platform_info_t p{};
  v1::HyperscanPlatform out;
  if (hs_populate_platform(&p) == HS_SUCCESS) {
    out.set_tune(p.tune);
    out.set_cpu_features(p.cpu_features);
  }
  return out;
}

std::string describe(const v1::HyperscanPlatform& p) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "tune %u, CPU features 0x%llx", p.tune(),
                static_cast<unsigned long long>(p.cpu_features()));
  return buf;
}

tl::expected<v1::SignedBundle, std::string> build_bundle(const Commit& commit,
                                                         const v1::HyperscanPlatform& platform,
                                                         const keys::SigningKey& key) {
  try {
    const std::string name = gen_name(commit.generation);
    // Named without a directory, the configuration finds its files by
    // reference in commit.files (config::import_config).
    config::LoadOptions options;
    options.read_included = config::read_from(commit.files);
    auto loaded = config::load_config_from_string(commit.yaml, name, options);
    if (!loaded) {
      return tl::unexpected(name + " does not validate:\n" + config::format_diagnostics(loaded.error()));
    }
    v1::PolicyBundle b;
    b.set_generation(commit.generation);
    *b.mutable_config() = loaded->model;
    for (const auto& p : loaded->packs) *b.add_packs() = p;
    for (int i = 0; i < loaded->model.signature_packs_size(); ++i) {
      const std::string ref =
          std::filesystem::path(loaded->model.signature_packs(i)).lexically_normal().string();
      v1::PackOrigin* o = b.add_pack_origins();
      o->set_file(ref);
      if (static_cast<size_t>(i) < loaded->packs.size())
        o->set_version(loaded->packs[static_cast<size_t>(i)].version());
      if (const auto pack = commit.files.find(ref); pack != commit.files.end())
        o->set_sha256(keys::sha256_hex(pack->second));
      if (const auto sig = commit.files.find(ref + ".sig"); sig != commit.files.end())
        o->set_vendor_signature(sig->second);
    }
    for (const auto& z : loaded->model.zones()) {
      for (const auto& f : z.prefix_list_files()) {
        const std::string ref = std::filesystem::path(f).lexically_normal().string();
        const auto it = commit.files.find(ref);  // the load above read it from there
        if (it == commit.files.end())
          return tl::unexpected(name + ": " + std::string(ref) + " was not imported");
        (*b.mutable_prefix_lists())[ref] = it->second;
      }
    }
    if (!loaded->spec.signatures.empty()) {
      const hs_platform_info_t hs = to_hs(platform);
      auto db = config::compile_signatures(*loaded, &hs);
      if (!db) return tl::unexpected(name + ":\n" + config::format_diagnostics(db.error()));
      const std::vector<uint8_t> bytes = (*db)->serialize();
      if (bytes.empty()) return tl::unexpected(name + ": cannot serialize the signature database");
      *b.mutable_signatures()->mutable_platform() = platform;
      b.mutable_signatures()->set_database(bytes.data(), bytes.size());
    }
    b.set_config_sha256(commit.config_sha256);
    b.set_committed_by(commit.committed_by);
    b.set_committed_unix_s(commit.committed_unix_s);

    v1::SignedBundle s;
    if (!b.SerializeToString(s.mutable_body())) return tl::unexpected(name + ": cannot serialize");
    s.set_body_sha256(keys::sha256_hex(s.body()));
    s.set_algorithm(algorithm_of(key.algorithm()));
    s.set_key_id(key.key_id());
    const std::string signature = key.sign(signed_message(s.body()));
    if (signature.empty()) return tl::unexpected(name + ": cannot sign (OpenSSL)");
    s.set_signature(signature);
    if (s.ByteSizeLong() > kMaxBundleBytes) {
      return tl::unexpected(name + ": the bundle takes " + std::to_string(s.ByteSizeLong()) +
                            " bytes, more than the " + std::to_string(kMaxBundleBytes) +
                            " a data plane accepts");
    }
    return s;
  } catch (const std::bad_alloc&) {
    return tl::unexpected(std::string("out of memory building a bundle"));
  }
}

tl::expected<OpenedBundle, std::string> open_bundle(const v1::SignedBundle& signed_bundle,
                                                    const TrustedKeys& trusted,
                                                    const v1::HyperscanPlatform& platform) {
  try {
    return open_impl(signed_bundle, trusted, platform);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(std::string("out of memory opening a bundle"));
  } catch (const std::exception& e) {
    return tl::unexpected(std::string("cannot open the bundle: ") + e.what());
  }
}

tl::expected<OpenedBundle, std::string> open_bundle(std::string_view serialized, const TrustedKeys& trusted,
                                                    const v1::HyperscanPlatform& platform) {
  if (serialized.size() > kMaxBundleBytes) {
    return tl::unexpected("the bundle takes " + std::to_string(serialized.size()) + " bytes, more than " +
                          std::to_string(kMaxBundleBytes));
  }
  v1::SignedBundle s;
  if (!s.ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    return tl::unexpected(std::string("not a signed bundle"));
  }
  return open_bundle(s, trusted, platform);
}

}  // namespace ftz::bundle
