// The certificate authority behind ftzgated's mutual TLS. The oracle for
// what it writes is OpenSSL's command line (`openssl verify` with and
// without -crl_check, `openssl x509`), not this code.
#include "ftz/pki/authority.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ftz/test/files.hpp"

namespace ftz::pki {
namespace {

using test::read_text;
using test::run_command;

constexpr int64_t kNow = 1'796'000'000;  // 2026-11-30

class AuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(tmp_.path().empty()); }
  [[nodiscard]] std::string dir() const { return tmp_.file("pki"); }
  std::unique_ptr<Authority> open() {
    // The real clock for what `openssl verify` checks against today.
    auto a = Authority::open(dir(), {"localhost", "127.0.0.1", "::1"}, std::time(nullptr));
    EXPECT_TRUE(a) << (a ? "" : a.error());
    return a ? std::move(*a) : nullptr;
  }
  // A certificate for a fresh key, written as NAME.crt beside ca.crt.
  CertInfo issue(Authority& ca, CertKind kind, const std::string& name) {
    auto req = make_key_and_request(name);
    EXPECT_TRUE(req) << (req ? "" : req.error());
    std::string pem;
    auto info = ca.issue(req->csr_pem, kind, name, 30, std::time(nullptr), &pem);
    EXPECT_TRUE(info) << (info ? "" : info.error());
    std::ofstream(tmp_.file(name + ".crt")) << pem;
    std::ofstream(tmp_.file(name + ".key")) << req->key_pem;
    return info ? *info : CertInfo{};
  }
  test::RunResult verify(const std::string& name, bool crl) {
    const std::string crl_args = crl ? " -crl_check -CRLfile " + dir() + "/crl.pem" : "";
    return run_command("openssl verify -x509_strict -purpose sslclient -CAfile " + dir() + "/ca.crt" +
                       crl_args + " " + tmp_.file(name + ".crt"));
  }
  test::TempDir tmp_{"pki"};
};

TEST_F(AuthorityTest, CreatedOnceWithOwnerOnlyKeysAndAServerCertificateOpenSslAccepts) {
  auto a = open();
  ASSERT_NE(a, nullptr);
  for (const char* key : {"ca.key", "server.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat((dir() + "/" + key).c_str(), &st), 0) << key;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
  auto b = open();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->ca_pem(), b->ca_pem()) << "a second start made a new CA";
  EXPECT_EQ(a->server_cert_pem(), b->server_cert_pem());

  const auto server = run_command("openssl verify -x509_strict -purpose sslserver -CAfile " + dir() +
                                  "/ca.crt " + dir() + "/server.crt");
  EXPECT_EQ(server.status, 0) << server.output;
  const auto names =
      run_command("openssl x509 -noout -ext subjectAltName -subject -in " + dir() + "/server.crt");
  EXPECT_NE(names.output.find("DNS:localhost"), std::string::npos) << names.output;
  EXPECT_NE(names.output.find("IP Address:127.0.0.1"), std::string::npos) << names.output;
  EXPECT_NE(names.output.find("IP Address:0:0:0:0:0:0:0:1"), std::string::npos) << names.output;
  EXPECT_NE(names.output.find("OU = server, CN = ftzgated"), std::string::npos) << names.output;
  // Not a client certificate: a stolen server key does not log anyone in.
  EXPECT_NE(
      run_command("openssl verify -purpose sslclient -CAfile " + dir() + "/ca.crt " + dir() + "/server.crt")
          .status,
      0);
}

TEST_F(AuthorityTest, IssuedCertificatesNameTheirHolderAndKindAndVerify) {
  auto a = open();
  ASSERT_NE(a, nullptr);
  const CertInfo dp = issue(*a, CertKind::kDataplane, "dp-a");
  const CertInfo admin = issue(*a, CertKind::kAdmin, "secadmin");
  EXPECT_EQ(dp.name, "dp-a");
  EXPECT_EQ(dp.kind, CertKind::kDataplane);
  EXPECT_EQ(admin.kind, CertKind::kAdmin);
  EXPECT_NE(dp.serial, admin.serial);
  EXPECT_EQ(verify("dp-a", false).status, 0) << verify("dp-a", false).output;
  EXPECT_EQ(verify("secadmin", false).status, 0);
  // The serial, as OpenSSL prints it, is the one we report.
  const auto serial = run_command("openssl x509 -noout -serial -in " + tmp_.file("dp-a.crt"));
  EXPECT_EQ(serial.output, "serial=" + (dp.serial.size() % 2 ? "0" + dp.serial : dp.serial) + "\n");
  const auto subject = run_command("openssl x509 -noout -subject -in " + tmp_.file("secadmin.crt"));
  EXPECT_EQ(subject.output, "subject=O = ftzgate, OU = admin, CN = secadmin\n");
  // The key in the certificate is the requester's.
  const auto mod_cert = run_command("openssl x509 -noout -pubkey -in " + tmp_.file("dp-a.crt"));
  const auto mod_key = run_command("openssl pkey -pubout -in " + tmp_.file("dp-a.key"));
  EXPECT_EQ(mod_cert.output, mod_key.output);

  auto listed = a->issued();
  ASSERT_TRUE(listed) << listed.error();
  ASSERT_EQ(listed->size(), 2u);
  // describe_certificate agrees with what issue() returned.
  auto described = describe_certificate(read_text(tmp_.file("dp-a.crt")));
  ASSERT_TRUE(described);
  EXPECT_EQ(described->serial, dp.serial);
  EXPECT_EQ(described->sha256, dp.sha256);
  EXPECT_EQ(described->not_after_s - described->not_before_s, 30 * 86400 + 300);
}

TEST_F(AuthorityTest, RevocationIsASignedListOpenSslEnforcesAndItSurvivesARestart) {
  auto a = open();
  ASSERT_NE(a, nullptr);
  const CertInfo keep = issue(*a, CertKind::kDataplane, "dp-a");
  const CertInfo gone = issue(*a, CertKind::kDataplane, "dp-b");
  auto r = a->revoke(gone.serial, std::time(nullptr));
  ASSERT_TRUE(r) << r.error();
  EXPECT_GT(r->revoked_s, 0);
  EXPECT_TRUE(a->revoked(gone.serial));
  EXPECT_FALSE(a->revoked(keep.serial));
  const auto refused = verify("dp-b", true);
  EXPECT_NE(refused.status, 0) << refused.output;
  EXPECT_NE(refused.output.find("certificate revoked"), std::string::npos) << refused.output;
  EXPECT_EQ(verify("dp-a", true).status, 0) << verify("dp-a", true).output;
  // Twice, or a serial never issued: refused, the list unchanged.
  EXPECT_FALSE(a->revoke(gone.serial, kNow));
  auto unknown = a->revoke("ABCDEF", kNow);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("no certificate with serial ABCDEF"), std::string::npos) << unknown.error();
  EXPECT_FALSE(a->revoke("../ca", kNow));
  // Lowercase serials are the same serial.
  std::string lower = keep.serial;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ASSERT_TRUE(a->revoke(lower, kNow));
  a.reset();

  auto again = open();
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->revoked(gone.serial));
  EXPECT_TRUE(again->revoked(keep.serial));
  auto listed = again->issued();
  ASSERT_TRUE(listed);
  for (const CertInfo& c : *listed) EXPECT_GT(c.revoked_s, 0) << c.name;
  const auto crl = run_command("openssl crl -noout -text -in " + dir() + "/crl.pem");
  EXPECT_NE(crl.output.find("X509v3 CRL Number: \n                2"), std::string::npos) << crl.output;
}

TEST_F(AuthorityTest, ADamagedRevocationListIsAnErrorNotAnEmptyList) {
  auto a = open();
  ASSERT_NE(a, nullptr);
  const CertInfo gone = issue(*a, CertKind::kDataplane, "dp-b");
  ASSERT_TRUE(a->revoke(gone.serial, kNow));
  a.reset();
  // Signed by another CA: the same shape, a list that could have lost entries.
  test::TempDir other{"pki-other"};
  auto b = Authority::open(other.file("pki"), {"localhost"}, kNow);
  ASSERT_TRUE(b);
  const CertInfo x = issue(**b, CertKind::kDataplane, "x");
  ASSERT_TRUE((*b)->revoke(x.serial, kNow));
  std::filesystem::copy_file(other.file("pki/crl.pem"), dir() + "/crl.pem",
                             std::filesystem::copy_options::overwrite_existing);
  auto refused = Authority::open(dir(), {"localhost"}, kNow);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("crl.pem: not signed by ca.crt"), std::string::npos) << refused.error();
  std::ofstream(dir() + "/crl.pem") << "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
  refused = Authority::open(dir(), {"localhost"}, kNow);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("not a PEM revocation list"), std::string::npos) << refused.error();
}

TEST_F(AuthorityTest, RequestsThatDoNotProveTheKeyOrAreOutOfBoundsAreRefused) {
  auto a = open();
  ASSERT_NE(a, nullptr);
  auto req = make_key_and_request("dp-a");
  ASSERT_TRUE(req);
  std::string pem;
  // Garbage, and a request whose signature no longer matches its key (a
  // byte of the signature flipped).
  EXPECT_FALSE(a->issue("not a request", CertKind::kDataplane, "dp-a", 30, kNow, &pem));
  std::string tampered = req->csr_pem;
  const size_t sig = tampered.rfind("\n-----END") - 6;
  tampered[sig] = tampered[sig] == 'A' ? 'B' : 'A';
  auto bad = a->issue(tampered, CertKind::kDataplane, "dp-a", 30, kNow, &pem);
  EXPECT_FALSE(bad);
  EXPECT_FALSE(a->issue(req->csr_pem, CertKind::kDataplane, "dp a", 30, kNow, &pem));
  EXPECT_FALSE(a->issue(req->csr_pem, CertKind::kDataplane, "dp-a", 0, kNow, &pem));
  EXPECT_FALSE(a->issue(req->csr_pem, CertKind::kDataplane, "dp-a", Authority::kMaxDays + 1, kNow, &pem));
  EXPECT_FALSE(a->issue(req->csr_pem, CertKind::kServer, "dp-a", 30, kNow, &pem));
  // A weak key from OpenSSL's command line: RSA 1024.
  const std::string weak = tmp_.file("weak.csr");
  ASSERT_EQ(run_command("openssl req -new -newkey rsa:1024 -nodes -keyout " + tmp_.file("weak.key") +
                        " -subj /CN=x -out " + weak)
                .status,
            0);
  auto refused = a->issue(read_text(weak), CertKind::kDataplane, "dp-a", 30, kNow, &pem);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("under 2048 bits"), std::string::npos) << refused.error();
  // A request from the command line with a good key is accepted.
  ASSERT_EQ(run_command("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout " +
                        tmp_.file("ok.key") + " -subj /CN=anything -out " + tmp_.file("ok.csr"))
                .status,
            0);
  auto ok = a->issue(read_text(tmp_.file("ok.csr")), CertKind::kAdmin, "sysadmin", 30, kNow, &pem);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->name, "sysadmin") << "the authority names the holder, not the request";
}

TEST_F(AuthorityTest, AClientsFilesAreCheckedBeforeAnyHandshake) {
  auto a = open();
  ASSERT_NE(a, nullptr);
  issue(*a, CertKind::kDataplane, "dp-a");
  issue(*a, CertKind::kAdmin, "alice");
  const std::string ca = dir() + "/ca.crt";
  auto ok = load_client_identity(ca, tmp_.file("dp-a.crt"), tmp_.file("dp-a.key"), CertKind::kDataplane);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->cert.name, "dp-a");
  auto wrong_key =
      load_client_identity(ca, tmp_.file("dp-a.crt"), tmp_.file("alice.key"), CertKind::kDataplane);
  ASSERT_FALSE(wrong_key);
  EXPECT_NE(wrong_key.error().find("alice.key: not the key of"), std::string::npos) << wrong_key.error();
  auto wrong_kind =
      load_client_identity(ca, tmp_.file("alice.crt"), tmp_.file("alice.key"), CertKind::kDataplane);
  ASSERT_FALSE(wrong_kind);
  EXPECT_NE(wrong_kind.error().find("not a data plane's certificate"), std::string::npos)
      << wrong_kind.error();
  test::TempDir other{"pki-other"};
  auto b = Authority::open(other.file("pki"), {"localhost"}, kNow);
  ASSERT_TRUE(b);
  auto wrong_ca = load_client_identity(other.file("pki/ca.crt"), tmp_.file("dp-a.crt"), tmp_.file("dp-a.key"),
                                       CertKind::kDataplane);
  ASSERT_FALSE(wrong_ca);
  EXPECT_NE(wrong_ca.error().find("not issued by"), std::string::npos) << wrong_ca.error();
  EXPECT_FALSE(load_client_identity(ca, tmp_.file("none.crt"), tmp_.file("dp-a.key"), CertKind::kDataplane));
}

// A serial `certificate revoke` could not name is not a certificate we read
// (fuzz_certificate found it; RFC 5280 4.1.2.2 wants a positive number).
TEST_F(AuthorityTest, ACertificateWithANegativeSerialIsNotRead) {
  for (const char* serial : {"-5", "0"}) {
    const std::string crt = tmp_.file("neg.crt");
    ASSERT_EQ(run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
                          tmp_.file("neg.key") + " -out " + crt +
                          " -subj /OU=admin/CN=alice -days 2 -set_serial " + serial)
                  .status,
              0);
    auto read = describe_certificate(read_text(crt));
    ASSERT_FALSE(read) << serial << ": " << read->serial;
    EXPECT_NE(read.error().find("not a positive number"), std::string::npos) << read.error();
  }
}

TEST_F(AuthorityTest, ServerNamesAreAddressesOrDnsNames) {
  EXPECT_TRUE(valid_server_name("127.0.0.1"));
  EXPECT_TRUE(valid_server_name("fe80::1"));
  EXPECT_TRUE(valid_server_name("ftzgate-01.lingang.example"));
  EXPECT_FALSE(valid_server_name(""));
  EXPECT_FALSE(valid_server_name("a,DNS:evil"));
  EXPECT_FALSE(valid_server_name("a..b"));
  auto refused = Authority::open(tmp_.file("bad"), {"x,IP:1.2.3.4"}, kNow);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("not an address or a DNS name"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(tmp_.file("bad/ca.crt")));
}

}  // namespace
}  // namespace ftz::pki
