// Vendor signatures on signature packs (ftzgate-sign, checked by ftzgated at
// load against its trusted keys) and the SM2 device key. The independent
// verifier of ftzgate-sign's signatures is OpenSSL's command line.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "ftz/test/files.hpp"
#include "ftz/test/ftzgated.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"

namespace {

namespace pb = ftzgate::v1;
using ftz::test::binary;
using ftz::test::read_text;
using ftz::test::run_command;
using ftz::test::RunResult;

RunResult sign_tool(const std::string& args) {
  return run_command(binary("ftzgate-sign") + " " + args);
}

class Signing : public ftz::test::Ftzgated {
 protected:
  void SetUp() override {
    Ftzgated::SetUp();
    // minimal.yaml and the built-in pack, as a vendor ships them.
    const std::string src = ftz::test::source_dir() + "/examples/";
    std::filesystem::create_directories(dir_.file("cfg/signatures"));
    std::filesystem::copy_file(src + "minimal.yaml", dir_.file("cfg/minimal.yaml"));
    std::filesystem::copy_file(src + "signatures/builtin.yaml", dir_.file("cfg/signatures/builtin.yaml"));
    std::filesystem::create_directories(dir_.file("trusted"));
    std::filesystem::create_directories(dir_.file("vendor"));
  }
  [[nodiscard]] std::string pack() const { return dir_.file("cfg/signatures/builtin.yaml"); }
  // The last `load` record's details.
  nlohmann::json last_load() {
    nlohmann::json out;
    for (const auto& r : audit_records()) {
      if (r["event_type"] == "load") out = r;
    }
    return out;
  }
};

TEST_F(Signing, FtzgateSignSignaturesVerifyWithOpenSslTooForBothAlgorithms) {
  for (const std::string alg : {"ed25519", "sm2"}) {
    const std::string key = dir_.file("vendor/" + alg + ".key");
    ASSERT_EQ(sign_tool("keygen --algorithm " + alg + " " + key).status, 0);
    EXPECT_EQ(sign_tool("keygen " + key).status, 1) << "a key was replaced";
    const RunResult signed_ =
        sign_tool("sign --key " + key + " " + pack() + " --out " + dir_.file(alg + ".sig"));
    ASSERT_EQ(signed_.status, 0) << signed_.output;
    const RunResult ok =
        sign_tool("verify --key " + key + ".pub " + pack() + " --sig " + dir_.file(alg + ".sig"));
    EXPECT_EQ(ok.status, 0) << ok.output;
    // OpenSSL checks the signature over "ftzgate-detached-v1" NUL and the file.
    const std::string sig = read_text(dir_.file(alg + ".sig"));
    const size_t at = sig.find("\nsignature ") + 11;
    std::ofstream(dir_.file("sig.b64")) << sig.substr(at);
    {
      std::ofstream msg(dir_.file("msg"), std::ios::binary);
      msg << "ftzgate-detached-v1" << '\0' << read_text(pack());
    }
    const std::string sm2 = alg == "sm2" ? " -digest sm3 -pkeyopt distid:1234567812345678" : "";
    const RunResult oracle =
        run_command("base64 -d " + dir_.file("sig.b64") + " > " + dir_.file("sig.bin") +
                    " && openssl pkeyutl -verify -pubin -inkey " + key + ".pub -rawin" + sm2 + " -in " +
                    dir_.file("msg") + " -sigfile " + dir_.file("sig.bin"));
    EXPECT_EQ(oracle.status, 0) << alg << ": " << oracle.output;
  }
  // Another key, or a changed file: refused, and why.
  const RunResult other = sign_tool("verify --key " + dir_.file("vendor/sm2.key.pub") + " " + pack() +
                                    " --sig " + dir_.file("ed25519.sig"));
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("not among the trusted keys"), std::string::npos) << other.output;
  std::ofstream(pack(), std::ios::app) << "# one more line\n";
  const RunResult changed = sign_tool("verify --key " + dir_.file("vendor/ed25519.key.pub") + " " + pack() +
                                      " --sig " + dir_.file("ed25519.sig"));
  EXPECT_EQ(changed.status, 1);
  EXPECT_NE(changed.output.find("not the one that was signed"), std::string::npos) << changed.output;
}

TEST_F(Signing, APackLoadsSignedByATrustedVendorOrUnsignedButNeverWithABadSignature) {
  ASSERT_EQ(sign_tool("keygen --algorithm sm2 " + dir_.file("vendor/v.key")).status, 0);
  ASSERT_EQ(sign_tool("keygen " + dir_.file("vendor/stranger.key")).status, 0);
  std::filesystem::copy_file(dir_.file("vendor/v.key.pub"), dir_.file("trusted/v.pub"));
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  serve_args_ = {"--vendor-keys", dir_.file("trusted")};
  start();
  const std::string load = "load " + dir_.file("cfg/minimal.yaml");

  // Unsigned: loaded on the security administrator's word, and recorded so.
  ASSERT_EQ(ctl("alice", load).status, 0);
  nlohmann::json r = last_load();
  EXPECT_TRUE(r["details"]["packs"]["signatures/builtin.yaml"]["signed_by"].is_null()) << r;
  // Signed by the trusted vendor.
  ASSERT_EQ(sign_tool("sign --key " + dir_.file("vendor/v.key") + " " + pack()).status, 0);
  ASSERT_EQ(ctl("alice", load).status, 0);
  r = last_load();
  const std::string key_id =
      read_text(pack() + ".sig").substr(read_text(pack() + ".sig").find("key-id ") + 7, 16);
  EXPECT_EQ(r["details"]["packs"]["signatures/builtin.yaml"]["signed_by"], key_id) << r;
  EXPECT_TRUE(r["details"]["files"].contains("signatures/builtin.yaml.sig")) << r;
  // Changed after signing: refused whole, the candidate as it was.
  std::ofstream(pack(), std::ios::app) << "# edited after signing\n";
  RunResult refused = ctl("alice", load);
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.output.find("signatures/builtin.yaml: the vendor's signature does not hold"),
            std::string::npos)
      << refused.output;
  r = last_load();
  EXPECT_EQ(r["success"], false) << r;
  // Signed by a key ftzgated does not trust.
  ASSERT_EQ(sign_tool("sign --key " + dir_.file("vendor/stranger.key") + " " + pack()).status, 0);
  refused = ctl("alice", load);
  EXPECT_NE(refused.output.find("not among the trusted keys"), std::string::npos) << refused.output;
  // What was loaded last (the signed pack) commits.
  EXPECT_EQ(ctl("alice", "commit check").status, 0);
}

// A vendor key withdrawn from the trusted keys does not come back with a
// rollback to a generation whose pack it signed.
TEST_F(Signing, ARollbackChecksItsPacksAgainstTheVendorKeysTrustedToday) {
  ASSERT_EQ(sign_tool("keygen " + dir_.file("vendor/v.key")).status, 0);
  std::filesystem::copy_file(dir_.file("vendor/v.key.pub"), dir_.file("trusted/v.pub"));
  ASSERT_EQ(sign_tool("sign --key " + dir_.file("vendor/v.key") + " " + pack()).status, 0);
  ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
  serve_args_ = {"--vendor-keys", dir_.file("trusted")};
  start();
  ASSERT_EQ(ctl("alice", "load " + dir_.file("cfg/minimal.yaml")).status, 0);
  ASSERT_EQ(ctl("alice", "commit comment 'signed pack'").status, 0);
  const auto last_rollback = [this] {
    nlohmann::json out;
    for (const auto& r : audit_records()) {
      if (r["event_type"] == "rollback") out = r;
    }
    return out;
  };

  ASSERT_EQ(stop(), 0);
  std::filesystem::remove(dir_.file("trusted/v.pub"));
  start();
  const RunResult refused = ctl("alice", "rollback 2");
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.output.find("FAILED_PRECONDITION"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("signatures/builtin.yaml: the vendor's signature does not hold"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(last_rollback()["success"], false);

  ASSERT_EQ(stop(), 0);
  std::filesystem::copy_file(dir_.file("vendor/v.key.pub"), dir_.file("trusted/v.pub"));
  start();
  ASSERT_EQ(ctl("alice", "rollback 2").status, 0);
  const nlohmann::json r = last_rollback();
  EXPECT_EQ(r["success"], true);
  EXPECT_TRUE(r["details"]["packs"]["signatures/builtin.yaml"]["signed_by"].is_string()) << r;
}

TEST_F(Signing, AnSm2DeviceKeySignsBundlesAndTheAuditLogVerifies) {
  const RunResult r = init("--accounts " + dir_.file("accounts") + " --key-algorithm sm2");
  ASSERT_EQ(r.status, 0) << r.output;
  const RunResult pub = run_command("openssl pkey -pubin -in " + state() + "/keys/device.pub -noout -text");
  EXPECT_NE(pub.output.find("SM2"), std::string::npos) << pub.output;
  start();
  ASSERT_EQ(ctl("alice", "load " + dir_.file("block-hk.yaml")).status, 0);
  ASSERT_EQ(ctl("alice", "commit").status, 0);
  const RunResult verified = ctl("bob", "--json audit verify");
  ASSERT_EQ(verified.status, 0) << verified.output;
  EXPECT_TRUE(nlohmann::json::parse(verified.output)["ok"].get<bool>()) << verified.output;
  EXPECT_EQ(audit_records().front()["details"]["key_algorithm"], "sm2-sm3");
  // The bundle a data plane receives is SM2-signed: OpenSSL verifies it
  // with the device's public key (GM/T 0009 identifier).
  auto stub =
      pb::Dataplane::NewStub(grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  pb::SubscribeRequest req;
  req.set_dataplane_id("probe");
  auto reader = stub->Subscribe(&ctx, req);
  pb::Update u;
  while (reader->Read(&u) && !u.has_bundle()) {
  }
  ctx.TryCancel();
  (void)reader->Finish();
  ASSERT_TRUE(u.has_bundle());
  EXPECT_EQ(u.bundle().algorithm(), pb::SIGNATURE_ALGORITHM_SM2_SM3);
  {
    std::ofstream msg(dir_.file("bundle.msg"), std::ios::binary);
    msg << "ftzgate-bundle-v1" << '\0' << u.bundle().body();
    std::ofstream(dir_.file("bundle.sig"), std::ios::binary) << u.bundle().signature();
  }
  const RunResult oracle =
      run_command("openssl pkeyutl -verify -pubin -inkey " + state() +
                  "/keys/device.pub -rawin -digest sm3 -pkeyopt distid:1234567812345678 -in " +
                  dir_.file("bundle.msg") + " -sigfile " + dir_.file("bundle.sig"));
  EXPECT_EQ(oracle.status, 0) << oracle.output;
}

}  // namespace
