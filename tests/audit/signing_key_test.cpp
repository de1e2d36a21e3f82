#include "ftz/keys/signing_key.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ftz/test/files.hpp"

namespace ftz::keys {
namespace {

class SigningKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
  }
  test::TempDir tmp_{"key"};
  std::string dir_;
};

TEST_F(SigningKeyTest, GeneratedOnceOwnerOnlyAndKeptAcrossLoads) {
  const std::string path = dir_ + "/device.key";
  auto a = SigningKey::load_or_generate(path);
  ASSERT_TRUE(a) << a.error();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto b = SigningKey::load_or_generate(path);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->public_pem(), b->public_pem()) << "a second start generated a new key";
  EXPECT_EQ(a->key_id().size(), 16u);
}

TEST_F(SigningKeyTest, SignaturesVerifyWithOpenSslsCommandLineToo) {
  auto k = SigningKey::load_or_generate(dir_ + "/device.key");
  ASSERT_TRUE(k);
  const std::string msg = "ftzgate-audit-checkpoint\n11\n" + std::string(64, 'a');
  const std::string sig = k->sign(msg);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_EQ(verify_signature(k->public_pem(), msg, sig), true);
  EXPECT_EQ(verify_signature(k->public_pem(), msg + "x", sig), false);
  std::string bad = sig;
  bad[5] ^= 1;
  EXPECT_EQ(verify_signature(k->public_pem(), msg, bad), false);
  EXPECT_FALSE(verify_signature("not a key", msg, sig));
  // An independent verifier: openssl pkeyutl (the oracle is not our code).
  std::ofstream(dir_ + "/pub.pem") << k->public_pem();
  std::ofstream(dir_ + "/msg", std::ios::binary) << msg;
  std::ofstream(dir_ + "/sig", std::ios::binary) << sig;
  const std::string cmd = "openssl pkeyutl -verify -pubin -inkey " + dir_ + "/pub.pem -rawin -in " + dir_ +
                          "/msg -sigfile " + dir_ + "/sig >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// SM2 with SM3 (GM/T 0003/0004), the identifier of GM/T 0009: OpenSSL's
// command line with that identifier is the independent verifier, and a key
// it generated signs as ours do.
TEST_F(SigningKeyTest, Sm2SignaturesVerifyWithOpenSslsCommandLineAndBack) {
  const std::string path = dir_ + "/sm2.key";
  auto k = SigningKey::load_or_generate(path, Algorithm::kSm2Sm3);
  ASSERT_TRUE(k) << k.error();
  EXPECT_EQ(k->algorithm(), Algorithm::kSm2Sm3);
  EXPECT_EQ(k->key_id().size(), 16u);
  EXPECT_EQ(public_key_algorithm(k->public_pem()), Algorithm::kSm2Sm3);
  EXPECT_EQ(public_key_id(k->public_pem()), k->key_id());
  auto again = SigningKey::load_or_generate(path);  // the algorithm of the file there
  ASSERT_TRUE(again);
  EXPECT_EQ(again->algorithm(), Algorithm::kSm2Sm3);
  EXPECT_EQ(again->key_id(), k->key_id());
  const std::string msg = "ftzgate-bundle-v1" + std::string(1, '\0') + "body";
  const std::string sig = k->sign(msg);
  ASSERT_FALSE(sig.empty());
  EXPECT_EQ(verify_signature(k->public_pem(), msg, sig), true);
  EXPECT_EQ(verify_signature(k->public_pem(), msg + "x", sig), false);
  std::ofstream(dir_ + "/sm2.pub") << k->public_pem();
  std::ofstream(dir_ + "/msg", std::ios::binary) << msg;
  std::ofstream(dir_ + "/sig", std::ios::binary) << sig;
  const std::string opts = " -rawin -digest sm3 -pkeyopt distid:1234567812345678 -in " + dir_ + "/msg ";
  const std::string verify = "openssl pkeyutl -verify -pubin -inkey " + dir_ + "/sm2.pub" + opts +
                             "-sigfile " + dir_ + "/sig >/dev/null 2>&1";
  EXPECT_EQ(std::system(verify.c_str()), 0) << verify;
  // Signed by OpenSSL with its own key, verified by us.
  ASSERT_EQ(
      std::system(("openssl genpkey -algorithm SM2 -out " + dir_ + "/o.key 2>/dev/null && openssl pkey -in " +
                   dir_ + "/o.key -pubout -out " + dir_ + "/o.pub && openssl pkeyutl -sign -inkey " + dir_ +
                   "/o.key" + opts + "-out " + dir_ + "/o.sig")
                      .c_str()),
      0);
  std::ifstream pub(dir_ + "/o.pub");
  std::ifstream osig(dir_ + "/o.sig", std::ios::binary);
  std::ostringstream pub_text;
  std::ostringstream sig_text;
  pub_text << pub.rdbuf();
  sig_text << osig.rdbuf();
  EXPECT_EQ(verify_signature(pub_text.str(), msg, sig_text.str()), true);
  // An Ed25519 signature is not an SM2 one.
  auto ed = SigningKey::load_or_generate(dir_ + "/ed.key");
  ASSERT_TRUE(ed);
  EXPECT_EQ(verify_signature(k->public_pem(), msg, ed->sign(msg)), false);
}

TEST_F(SigningKeyTest, AKeyOfAnotherTypeIsRefused) {
  const std::string path = dir_ + "/ec.key";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + path +
                         " >/dev/null 2>&1")
                            .c_str()),
            0);
  auto k = SigningKey::load(path);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().find("not an Ed25519 or SM2 key"), std::string::npos) << k.error();
  auto missing = SigningKey::load(dir_ + "/none.key");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("none.key"), std::string::npos);
}

}  // namespace
}  // namespace ftz::keys
