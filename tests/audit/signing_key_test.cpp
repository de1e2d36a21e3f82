#include "ftz/keys/signing_key.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

TEST_F(SigningKeyTest, AKeyOfAnotherTypeIsRefused) {
  const std::string path = dir_ + "/ec.key";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + path +
                         " >/dev/null 2>&1")
                            .c_str()),
            0);
  auto k = SigningKey::load(path);
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().find("not an Ed25519 key"), std::string::npos) << k.error();
  auto missing = SigningKey::load(dir_ + "/none.key");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("none.key"), std::string::npos);
}

}  // namespace
}  // namespace ftz::keys
