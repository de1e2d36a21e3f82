#pragma once
// The control plane's certificate authority (issue 10 "Transport security"):
// TCP connections to ftzgated use mutual TLS with certificates this CA
// issued. It lives in STATE/pki:
//
//   ca.key, ca.crt          the CA (EC P-256; the key 0600)
//   server.key, server.crt  ftzgated's TLS identity (names given at creation)
//   issued/SERIAL.pem       every certificate issued, for `show certificates`
//   crl.pem                 the revocation list, signed by the CA
//
// A certificate's kind is its organisational unit: a data-plane certificate
// (CN = the dataplane_id) subscribes and reports, an administrator's (CN =
// the account) logs in with a password as the second factor. Requests carry
// a CSR: private keys are made where they are used and never travel.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::pki {

enum class CertKind : uint8_t { kServer, kDataplane, kAdmin };
std::string_view kind_name(CertKind kind);
std::optional<CertKind> kind_from_name(std::string_view name);

// What a certificate says about its holder.
struct CertInfo {
  std::string serial;  // uppercase hex, as `openssl x509 -serial` prints it
  std::optional<CertKind> kind;
  std::string name;  // the common name
  int64_t not_before_s = 0;
  int64_t not_after_s = 0;
  std::string sha256;     // of the DER encoding, lowercase hex
  int64_t revoked_s = 0;  // 0: not revoked
};

// Reads a PEM certificate (the first in `pem`).
tl::expected<CertInfo, std::string> describe_certificate(std::string_view pem);

// A fresh EC P-256 key (PKCS#8 PEM) and a CSR for it signed by it (`name`
// as its common name): what `ftzctl cert issue` sends.
struct KeyAndRequest {
  std::string key_pem;
  std::string csr_pem;
};
tl::expected<KeyAndRequest, std::string> make_key_and_request(const std::string& name);

// What a TLS client of ftzgated presents (ftzctl --controller, ftzgate-dp
// --controller HOST:PORT), read from its files and checked before any
// handshake: the key is the certificate's, the certificate is the CA's and
// of `kind`. An error names the file.
struct ClientIdentity {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  CertInfo cert;
};
tl::expected<ClientIdentity, std::string> load_client_identity(const std::string& ca_file,
                                                               const std::string& cert_file,
                                                               const std::string& key_file, CertKind kind);

// The public key (SubjectPublicKeyInfo PEM) of a certificate request whose
// signature verifies with that key and whose key TLS here accepts (EC
// P-256/P-384, RSA >= 2048); else why not. What issue() takes from the wire.
tl::expected<std::string, std::string> request_public_key(std::string_view csr_pem);

// Whether `name` may be a certificate's common name: 1-64 of [A-Za-z0-9_.-]
// (data-plane ids and account names are).
bool valid_name(std::string_view name);

// Whether `name` may be one of ftzgated's TLS names: an IPv4 or IPv6 address,
// or a DNS name of [A-Za-z0-9.-] labels.
bool valid_server_name(std::string_view name);

class Authority {
 public:
  // Opens DIR, creating the CA and the server certificate (for
  // `server_names`, which must not be empty) when DIR has no CA yet. The
  // revocation list must verify against the CA: a damaged one is an error,
  // never an empty list.
  static tl::expected<std::unique_ptr<Authority>, std::string> open(
      const std::string& dir, const std::vector<std::string>& server_names, int64_t now_s);
  ~Authority();
  Authority(const Authority&) = delete;
  Authority& operator=(const Authority&) = delete;

  [[nodiscard]] const std::string& ca_pem() const;
  [[nodiscard]] const std::string& server_cert_pem() const;
  [[nodiscard]] const std::string& server_key_pem() const;

  // Issues a certificate of `kind` (data plane or admin) for `name` to the
  // key in `csr_pem` (whose signature must verify: proof that the requester
  // holds the key), valid `days` days from now. The CSR's subject is
  // ignored: the authority names the holder.
  tl::expected<CertInfo, std::string> issue(std::string_view csr_pem, CertKind kind, const std::string& name,
                                            int days, int64_t now_s, std::string* cert_pem);
  // Adds the certificate with `serial` to the revocation list (written and
  // signed before this returns). An error when no such certificate was
  // issued or it is revoked already.
  tl::expected<CertInfo, std::string> revoke(const std::string& serial, int64_t now_s);
  // Whether `serial` is on the revocation list (any thread).
  [[nodiscard]] bool revoked(const std::string& serial) const;
  // Every certificate issued, oldest first, with its revocation time.
  [[nodiscard]] tl::expected<std::vector<CertInfo>, std::string> issued() const;

  // Limits on issue(): how long a certificate may be valid.
  static constexpr int kMaxDays = 3650;

 private:
  struct Impl;
  explicit Authority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftz::pki
