// Policy bundles: what ftzgated signs, a data plane opens, and nothing else:
// a flipped byte anywhere, another signer, another CPU, a body that does
// not validate are all refused with a reason.
#include "ftz/bundle/bundle.hpp"

#include <gtest/gtest.h>
#include <hs/hs.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "ftz/engine/signatures/database.hpp"
#include "ftz/keys/encoding.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/test/files.hpp"

namespace ftz::bundle {
namespace {

namespace v1 = ftzgate::v1;

void write_file(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

// A whole configuration (no included files) with one operator signature, so
// the bundle carries a Hyperscan database.
constexpr const char* kYaml = R"(zones:
  - name: inside
    kind: ftz
    prefixes: [198.18.0.0/16]
  - name: offshore
    kind: offshore
    default: true
signatures:
  - name: policy_number
    sid: 9200001
    class: pi
    validator: none
    patterns:
      - regex: 'PRE-\d{4}-\d{8}'
defaults:
  - src_zone: inside
    dst_zone: offshore
    action: block
)";

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = keys::SigningKey::load_or_generate(tmp_.file("device.key"));
    ASSERT_TRUE(k) << k.error();
    key_.emplace(std::move(*k));
    ASSERT_TRUE(trusted_.add(key_->public_pem()));
    commit_.generation = 7;
    commit_.yaml = kYaml;
    commit_.config_sha256 = keys::sha256_hex(kYaml);
    commit_.committed_by = "secadmin";
    commit_.committed_unix_s = 1'790'000'000;
  }

  v1::SignedBundle build() {
    auto b = build_bundle(commit_, host_platform(), *key_);
    EXPECT_TRUE(b) << (b ? "" : b.error());
    return b ? *b : v1::SignedBundle{};
  }

  test::TempDir tmp_{"bundle"};
  std::optional<keys::SigningKey> key_;
  TrustedKeys trusted_;
  Commit commit_;
};

TEST_F(BundleTest, OpensWhatWasSigned) {
  const v1::SignedBundle s = build();
  auto opened = open_bundle(s.SerializeAsString(), trusted_, host_platform());
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ(opened->generation, 7u);
  EXPECT_EQ(opened->key_id, key_->key_id());
  EXPECT_EQ(opened->body_sha256, keys::sha256_hex(s.body()));
  ASSERT_EQ(opened->config.spec.signatures.size(), 1u);
  EXPECT_EQ(opened->config.spec.signatures[0].name, "policy_number");
  ASSERT_NE(opened->signatures, nullptr);
  EXPECT_EQ(opened->signatures->specs().size(), 1u);
  ASSERT_EQ(opened->config.spec.zones.size(), 2u);
  EXPECT_EQ(opened->config.spec.zones[0].name, "inside");
}

// Prefix lists travel in the bundle, by reference; the data plane reads
// them from there and from nowhere else.
TEST_F(BundleTest, PrefixListFilesTravelInTheBundle) {
  commit_.yaml =
      "zones:\n  - {name: inside, kind: ftz, prefixes: [198.18.0.0/16]}\n"
      "  - {name: cn, kind: domestic, prefix_list_files: [./data/../data/cn.txt]}\n"
      "  - {name: offshore, kind: offshore, default: true}\n";
  commit_.files = {{"data/cn.txt", "# mainland\n1.0.1.0/24\n1.0.2.0/23\n"}};
  const v1::SignedBundle s = build();
  v1::PolicyBundle body;
  ASSERT_TRUE(body.ParseFromString(s.body()));
  ASSERT_EQ(body.prefix_lists().count("data/cn.txt"), 1u);
  auto opened = open_bundle(s, trusted_, host_platform());
  ASSERT_TRUE(opened) << opened.error();
  ASSERT_EQ(opened->config.spec.zones.size(), 3u);
  EXPECT_EQ(opened->config.spec.zones[1].prefixes.size(), 2u);
  // Without the file the commit does not build.
  commit_.files.clear();
  auto missing = build_bundle(commit_, host_platform(), *key_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("not imported with the configuration"), std::string::npos)
      << missing.error();
}

// Each pack travels with where it came from: the file, its version and
// SHA-256, and the vendor's detached signature as loaded (none: unsigned).
TEST_F(BundleTest, EachPackCarriesItsFileHashVersionAndVendorSignature) {
  const std::string pack =
      "version: 2026.12.1\n"
      "signatures:\n"
      "  - {name: policy_number, sid: 9200001, class: pi, validator: none,\n"
      "     patterns: [{regex: 'PRE-\\d{4}-\\d{8}'}]}\n";
  commit_.yaml =
      "zones:\n  - {name: inside, kind: ftz, prefixes: [198.18.0.0/16]}\n"
      "  - {name: offshore, kind: offshore, default: true}\n"
      "signature_packs: [packs/vendor.yaml, packs/local.yaml]\n";
  const std::string sig = "ftzgate-detached-v1\nalgorithm ed25519\n(as the vendor wrote it)\n";
  commit_.files = {{"packs/vendor.yaml", pack},
                   {"packs/vendor.yaml.sig", sig},
                   {"packs/local.yaml", "version: local-1\nsignatures: []\n"}};
  const v1::SignedBundle s = build();
  v1::PolicyBundle body;
  ASSERT_TRUE(body.ParseFromString(s.body()));
  ASSERT_EQ(body.pack_origins_size(), 2);
  EXPECT_EQ(body.pack_origins(0).file(), "packs/vendor.yaml");
  EXPECT_EQ(body.pack_origins(0).version(), "2026.12.1");
  EXPECT_EQ(body.pack_origins(0).sha256(), keys::sha256_hex(pack));
  EXPECT_EQ(body.pack_origins(0).vendor_signature(), sig);
  EXPECT_EQ(body.pack_origins(1).file(), "packs/local.yaml");
  EXPECT_EQ(body.pack_origins(1).version(), "local-1");
  EXPECT_TRUE(body.pack_origins(1).vendor_signature().empty()) << "loaded unsigned";
  EXPECT_TRUE(open_bundle(s, trusted_, host_platform()));
}

TEST_F(BundleTest, WithoutSignaturesCarriesNoDatabase) {
  commit_.yaml =
      "zones:\n  - {name: inside, kind: ftz, prefixes: [198.18.0.0/16]}\n"
      "  - {name: offshore, kind: offshore, default: true}\n";
  const v1::SignedBundle s = build();
  v1::PolicyBundle body;
  ASSERT_TRUE(body.ParseFromString(s.body()));
  EXPECT_FALSE(body.has_signatures());
  auto opened = open_bundle(s, trusted_, host_platform());
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ(opened->signatures, nullptr);
}

// Every byte of the serialized bundle, flipped in turn at a stride: none
// yields a bundle that opens (the hash, the signature or the parse refuses).
TEST_F(BundleTest, AFlippedByteAnywhereIsRefused) {
  const std::string bytes = build().SerializeAsString();
  ASSERT_GT(bytes.size(), 1000u);
  int refused = 0;
  for (size_t i = 0; i < bytes.size(); i += 97) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    auto opened = open_bundle(bad, trusted_, host_platform());
    EXPECT_FALSE(opened) << "byte " << i << " flipped still opens";
    refused += opened ? 0 : 1;
  }
  EXPECT_GT(refused, 10);
}

TEST_F(BundleTest, ABodyChangedAndRehashedFailsTheSignature) {
  v1::SignedBundle s = build();
  v1::PolicyBundle body;
  ASSERT_TRUE(body.ParseFromString(s.body()));
  body.mutable_config()->mutable_defaults(0)->mutable_verdict()->set_action(
      v1::ACTION_ALLOW);  // the exporter's wish
  s.set_body(body.SerializeAsString());
  s.set_body_sha256(keys::sha256_hex(s.body()));
  auto opened = open_bundle(s, trusted_, host_platform());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("does not verify"), std::string::npos) << opened.error();
}

TEST_F(BundleTest, AnotherKeyIsNotTrusted) {
  auto other = keys::SigningKey::load_or_generate(tmp_.file("other.key"));
  ASSERT_TRUE(other);
  auto s = build_bundle(commit_, host_platform(), *other);
  ASSERT_TRUE(s) << s.error();
  auto opened = open_bundle(*s, trusted_, host_platform());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("not among the trusted keys"), std::string::npos) << opened.error();
  // Claiming the trusted key's id does not help: the signature is checked
  // against the trusted key.
  s->set_key_id(key_->key_id());
  opened = open_bundle(*s, trusted_, host_platform());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("does not verify"), std::string::npos) << opened.error();
}

// SM2 with SM3, selectable at ftzgated --init: the data plane verifies with
// the trusted SM2 key, and the algorithm a bundle names must be its key's.
TEST_F(BundleTest, AnSm2SignedBundleOpensAgainstItsTrustedKeyOnly) {
  auto sm2 = keys::SigningKey::load_or_generate(tmp_.file("sm2.key"), keys::Algorithm::kSm2Sm3);
  ASSERT_TRUE(sm2) << sm2.error();
  TrustedKeys trusted;
  ASSERT_TRUE(trusted.add(sm2->public_pem()));
  auto s = build_bundle(commit_, host_platform(), *sm2);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->algorithm(), v1::SIGNATURE_ALGORITHM_SM2_SM3);
  auto opened = open_bundle(*s, trusted, host_platform());
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ(opened->key_id, sm2->key_id());
  // The Ed25519 data plane does not know the key.
  EXPECT_FALSE(open_bundle(*s, trusted_, host_platform()));
  // Named as Ed25519: refused before any signature is read.
  v1::SignedBundle renamed = *s;
  renamed.set_algorithm(v1::SIGNATURE_ALGORITHM_ED25519);
  auto refused = open_bundle(renamed, trusted, host_platform());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("not that of trusted key"), std::string::npos) << refused.error();
  // An Ed25519 bundle relabelled SM2 fails the same way.
  v1::SignedBundle ed = build();
  ed.set_algorithm(v1::SIGNATURE_ALGORITHM_SM2_SM3);
  EXPECT_FALSE(open_bundle(ed, trusted_, host_platform()));
}

TEST_F(BundleTest, ADatabaseForAnotherCpuIsRefused) {
  // Another CPU this host can still compile for (the engine's compile
  // allocates a scratch, which needs features this host has): baseline
  // features, another tuning.
  v1::HyperscanPlatform other = host_platform();
  other.set_tune(other.tune() == HS_TUNE_FAMILY_GENERIC ? HS_TUNE_FAMILY_SNB : HS_TUNE_FAMILY_GENERIC);
  other.set_cpu_features(0);
  auto s = build_bundle(commit_, other, *key_);
  ASSERT_TRUE(s) << s.error();
  auto opened = open_bundle(*s, trusted_, host_platform());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("compiled for another CPU"), std::string::npos) << opened.error();
}

TEST_F(BundleTest, ASignedBodyThatDoesNotValidateIsRefused) {
  // A signer's bug (or a stolen key) must still not reach the engine with a
  // model the validator refuses.
  v1::PolicyBundle body;
  body.set_generation(9);
  body.mutable_config()->add_zones()->set_name("no kind, no prefixes");
  v1::SignedBundle s;
  s.set_body(body.SerializeAsString());
  s.set_body_sha256(keys::sha256_hex(s.body()));
  s.set_algorithm(v1::SIGNATURE_ALGORITHM_ED25519);
  s.set_key_id(key_->key_id());
  s.set_signature(key_->sign(std::string("ftzgate-bundle-v1", 17) + '\0' + s.body()));
  auto opened = open_bundle(s, trusted_, host_platform());
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().find("bundle generation 9 does not validate"), std::string::npos)
      << opened.error();
}

TEST_F(BundleTest, ACommitThatDoesNotValidateBuildsNothing) {
  commit_.yaml = "zones: [";
  auto s = build_bundle(commit_, host_platform(), *key_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().find("bundle generation 7 does not validate"), std::string::npos) << s.error();
}

TEST_F(BundleTest, TrustedKeysComeFromPubFiles) {
  write_file(tmp_.file("keys/device.pub"), key_->public_pem());
  write_file(tmp_.file("keys/README"), "not a key, not a .pub");
  auto loaded = TrustedKeys::load(tmp_.file("keys"));
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->size(), 1u);
  EXPECT_NE(loaded->find(key_->key_id()), nullptr);
  write_file(tmp_.file("keys/bad.pub"), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  loaded = TrustedKeys::load(tmp_.file("keys"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().find("bad.pub"), std::string::npos) << loaded.error();
  EXPECT_FALSE(TrustedKeys::load(tmp_.file("nowhere")));
}

}  // namespace
}  // namespace ftz::bundle
