// ftzgated over TCP with mutual TLS, as an administrator and a data plane
// reach it: certificates issued with ftzctl, real TLS handshakes (the
// independent client is `openssl s_client`), real gRPC channels with the
// wrong certificate for the call, and revocation.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ftz/test/files.hpp"
#include "ftz/test/ftzgated.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"
#include "ftzgate/v1/management.grpc.pb.h"

namespace {

namespace pb = ftzgate::v1;
using ftz::test::read_text;
using ftz::test::run_command;
using ftz::test::RunResult;

class Tls : public ftz::test::Ftzgated {
 protected:
  void SetUp() override {
    Ftzgated::SetUp();
    ASSERT_EQ(init("--accounts " + dir_.file("accounts")).status, 0);
    start("900", true);
    ASSERT_FALSE(tcp_target().empty()) << read_text(dir_.file("ftzgated.log"));
    std::filesystem::create_directories(certs());
  }
  [[nodiscard]] std::string certs() const { return dir_.file("certs"); }
  // Issued by alice (secadmin) over the unix socket.
  RunResult issue(const std::string& kind, const std::string& name) {
    return ctl("alice", "certificate issue " + kind + " " + name + " to " + certs());
  }
  // The serial `show certificates` lists for `name`.
  std::string serial_of(const std::string& name) {
    const RunResult r = ctl("carol", "--json show certificates");
    const auto j = nlohmann::json::parse(r.output, nullptr, false);
    if (!j.is_object()) return {};
    for (const auto& c : j["certificates"]) {
      if (c["name"] == name) return c["serial"];
    }
    return {};
  }
  // A gRPC channel presenting certs/NAME.crt.
  std::shared_ptr<grpc::Channel> channel_as(const std::string& name) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = read_text(certs() + "/ca.crt");
    tls.pem_cert_chain = read_text(certs() + "/" + name + ".crt");
    tls.pem_private_key = read_text(certs() + "/" + name + ".key");
    return grpc::CreateChannel(tcp_target(), grpc::SslCredentials(tls));
  }
  // An independent TLS client: openssl s_client's exit status (0: the
  // server kept the connection after the handshake).
  RunResult s_client(const std::string& extra) {
    return run_command("(sleep 1) | timeout 10 openssl s_client -connect " + tcp_target() + " -CAfile " +
                       certs() + "/ca.crt -verify_return_error -verify_hostname localhost -alpn h2 " + extra);
  }
};

TEST_F(Tls, AnAdministratorOverTcpNeedsACertificateNamingTheAccountAndThePassword) {
  ASSERT_EQ(issue("admin", "alice").status, 0);
  ASSERT_EQ(issue("admin", "carol").status, 0);
  // The key was made by ftzctl and stays with it.
  struct stat st {};
  ASSERT_EQ(::stat((certs() + "/alice.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(issue("admin", "alice").status, 1) << "an existing key was overwritten";
  EXPECT_NE(issue("admin", "mallory").output.find("NOT_FOUND: no account mallory"), std::string::npos);

  const RunResult ok = ctl_tcp("alice", "alice", "show system commit");
  EXPECT_EQ(ok.status, 0) << ok.output;
  EXPECT_NE(ok.output.find("* 1"), std::string::npos) << ok.output;
  EXPECT_EQ(ctl_tcp("carol", "carol", "show dataplanes").status, 0);
  // Another account's certificate, or the right one with a wrong password.
  const RunResult other = ctl_tcp("carol", "alice", "show dataplanes");
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.output.find("PERMISSION_DENIED: the certificate is alice's, not carol's"),
            std::string::npos)
      << other.output;
  const RunResult wrong = ctl_tcp("alice", "alice", "show dataplanes", "Not-Her-Password-1");
  EXPECT_NE(wrong.output.find("UNAUTHENTICATED: wrong user or password"), std::string::npos) << wrong.output;
  // Roles hold over TCP as on the socket.
  EXPECT_NE(
      ctl_tcp("carol", "carol", "certificate revoke " + serial_of("alice")).output.find("PERMISSION_DENIED"),
      std::string::npos);

  // The audit source names the certificate a login came with.
  bool seen = false;
  for (const auto& r : audit_records()) {
    if (r["event_type"] == "login" && r["success"] == true && r["user"] == "alice" &&
        r["source"].get<std::string>().find("cert admin/alice " + serial_of("alice")) != std::string::npos)
      seen = true;
  }
  EXPECT_TRUE(seen);
}

TEST_F(Tls, TheHandshakeNeedsACertificateOfThisCaAndTheServerProvesItsName) {
  ASSERT_EQ(issue("admin", "alice").status, 0);
  const RunResult good = s_client("-cert " + certs() + "/alice.crt -key " + certs() + "/alice.key");
  EXPECT_EQ(good.status, 0) << good.output;
  EXPECT_NE(good.output.find("Verify return code: 0 (ok)"), std::string::npos) << good.output;
  EXPECT_NE(good.output.find("subject=O = ftzgate, OU = server, CN = ftzgated"), std::string::npos);
  const RunResult none = s_client("");
  EXPECT_NE(none.status, 0) << "a client without a certificate kept its connection\n" << none.output;
  // Same names, another CA (made by the openssl command line).
  ASSERT_EQ(run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                        dir_.file("forged.key") + " -out " + dir_.file("forged.crt") +
                        " -subj /O=ftzgate/OU=admin/CN=alice -days 2")
                .status,
            0);
  const RunResult forged = s_client("-cert " + dir_.file("forged.crt") + " -key " + dir_.file("forged.key"));
  EXPECT_NE(forged.status, 0) << "a certificate of another CA kept its connection\n" << forged.output;
  // The server's certificate is for the names it was made with.
  const RunResult wrong_name =
      run_command("(sleep 1) | timeout 10 openssl s_client -connect " + tcp_target() + " -CAfile " + certs() +
                  "/ca.crt -verify_return_error -verify_hostname ftzgate.example -cert " + certs() +
                  "/alice.crt -key " + certs() + "/alice.key");
  EXPECT_NE(wrong_name.status, 0) << wrong_name.output;
}

TEST_F(Tls, ACertificateServesOnlyItsKindAndHolder) {
  ASSERT_EQ(issue("admin", "alice").status, 0);
  ASSERT_EQ(issue("dataplane", "dp-a").status, 0);
  // A data plane's certificate does not log in.
  auto dp_mgmt = pb::Management::NewStub(channel_as("dp-a"));
  pb::LoginRequest login;
  login.set_user("alice");
  login.set_password(ftz::test::password_of("alice"));
  pb::LoginReply reply;
  {
    grpc::ClientContext ctx;
    const grpc::Status s = dp_mgmt->Login(&ctx, login, &reply);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  // It subscribes only as itself; an administrator's does not subscribe.
  const auto subscribe = [](const std::shared_ptr<grpc::Channel>& ch, const std::string& id) {
    auto stub = pb::Dataplane::NewStub(ch);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    pb::SubscribeRequest req;
    req.set_dataplane_id(id);
    auto reader = stub->Subscribe(&ctx, req);
    pb::Update first;
    if (reader->Read(&first)) {
      ctx.TryCancel();
      (void)reader->Finish();
      return first.has_token_key() ? grpc::StatusCode::OK : grpc::StatusCode::UNKNOWN;
    }
    return reader->Finish().error_code();
  };
  EXPECT_EQ(subscribe(channel_as("dp-a"), "dp-a"), grpc::StatusCode::OK);
  EXPECT_EQ(subscribe(channel_as("dp-a"), "dp-b"), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(subscribe(channel_as("alice"), "alice"), grpc::StatusCode::PERMISSION_DENIED);
  // A session is bound to the certificate it logged in with: one made on
  // the socket is no use over TCP.
  auto local =
      pb::Management::NewStub(grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(local->Login(&ctx, login, &reply).ok());
  }
  auto remote = pb::Management::NewStub(channel_as("alice"));
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-ftzgate-session", reply.session());
  pb::ShowCommitsReply commits;
  EXPECT_EQ(remote->ShowCommits(&ctx, pb::ShowCommitsRequest{}, &commits).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  int refused = 0;
  for (const auto& r : audit_records()) refused += r["event_type"] == "dataplane_refused" ? 1 : 0;
  EXPECT_EQ(refused, 2) << "every refused subscription is audited";
}

// Revocation: an open connection is refused on its next call (the per-call
// check), a new one in the handshake.
TEST_F(Tls, ARevokedCertificateIsRefusedOnTheNextCallAndInEveryNewHandshake) {
  ASSERT_EQ(issue("admin", "alice").status, 0);
  ASSERT_EQ(issue("admin", "carol").status, 0);
  const std::string serial = serial_of("alice");
  ASSERT_FALSE(serial.empty());
  // A session over TCP, open before the revocation.
  auto remote = pb::Management::NewStub(channel_as("alice"));
  pb::LoginRequest login;
  login.set_user("alice");
  login.set_password(ftz::test::password_of("alice"));
  pb::LoginReply session;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(remote->Login(&ctx, login, &session).ok());
  }
  const auto show = [&] {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-ftzgate-session", session.session());
    pb::ShowCommitsReply reply;
    return remote->ShowCommits(&ctx, pb::ShowCommitsRequest{}, &reply);
  };
  ASSERT_TRUE(show().ok());
  const RunResult revoked = ctl("alice", "certificate revoke " + serial);
  ASSERT_EQ(revoked.status, 0) << revoked.output;
  const grpc::Status after = show();
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(after.error_message().find("revoked"), std::string::npos) << after.error_message();
  // A new connection does not get past the handshake, and the refusal is
  // audited once however often it is tried.
  for (int i = 0; i < 3; ++i) {
    const RunResult again = ctl_tcp("alice", "alice", "show dataplanes");
    EXPECT_NE(again.status, 0);
    EXPECT_NE(again.output.find("UNAVAILABLE"), std::string::npos) << again.output;
  }
  size_t refused = 0;
  for (const auto& r : audit_records()) {
    if (r["event_type"] == "tls_refused") {
      ++refused;
      EXPECT_EQ(r["details"]["serial"], serial) << r;
      EXPECT_EQ(r["details"]["name"], "alice") << r;
      EXPECT_EQ(r["success"], false) << r;
    }
  }
  EXPECT_EQ(refused, 1u);
  EXPECT_EQ(ctl_tcp("carol", "carol", "show dataplanes").status, 0) << "another certificate suffered";
  EXPECT_NE(ctl("alice", "certificate revoke " + serial).output.find("revoked already"), std::string::npos);
  // The list ftzgated keeps is a CRL OpenSSL enforces.
  const RunResult oracle = run_command("openssl verify -crl_check -CAfile " + certs() + "/ca.crt -CRLfile " +
                                       state() + "/pki/crl.pem " + certs() + "/alice.crt");
  EXPECT_NE(oracle.status, 0);
  EXPECT_NE(oracle.output.find("certificate revoked"), std::string::npos) << oracle.output;
  // Kept across a restart.
  ASSERT_EQ(stop(), 0);
  start("900", true);
  EXPECT_NE(ctl_tcp("alice", "alice", "show dataplanes").output.find("UNAVAILABLE"), std::string::npos);
  EXPECT_EQ(ctl_tcp("carol", "carol", "show dataplanes").status, 0);
  const auto listed = nlohmann::json::parse(ctl("carol", "--json show certificates").output, nullptr, false);
  ASSERT_TRUE(listed.is_object());
  ASSERT_EQ(listed["certificates"].size(), 2u);
  for (const auto& c : listed["certificates"])
    EXPECT_EQ(c["revoked_unix_s"].get<int64_t>() > 0, c["name"] == "alice") << c;
}

}  // namespace
