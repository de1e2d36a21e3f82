#include "ftz/pki/authority.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "ftz/base/atomic_file.hpp"
#include "ftz/keys/encoding.hpp"

namespace ftz::pki {

namespace {

template <auto Fn>
struct Free {
  template <typename T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};
using Pkey = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using Bio = std::unique_ptr<BIO, Free<BIO_free>>;
using Cert = std::unique_ptr<X509, Free<X509_free>>;
using Req = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using Crl = std::unique_ptr<X509_CRL, Free<X509_CRL_free>>;
using Bn = std::unique_ptr<BIGNUM, Free<BN_free>>;
using Asn1Int = std::unique_ptr<ASN1_INTEGER, Free<ASN1_INTEGER_free>>;
using Asn1Time = std::unique_ptr<ASN1_TIME, Free<ASN1_TIME_free>>;
using Ext = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;

constexpr const char* kOrganisation = "ftzgate";
constexpr int64_t kDay = 86400;
constexpr int kCaDays = 20 * 365;      // outlives the appliance
constexpr int kServerDays = 10 * 365;  // renewed by re-creating STATE/pki
// Backdating absorbs clock differences between ftzgated and its peers.
constexpr int64_t kBackdate = 300;

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

Bio read_bio(std::string_view text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(std::min<size_t>(text.size(), INT32_MAX))));
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

template <typename T, typename Writer>
std::string pem_of(T* object, Writer write) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get(), object) != 1) return {};
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) return {};
  return bio_text(bio.get());
}

Pkey new_key() {
  return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  Bn bn(ASN1_INTEGER_to_BN(serial, nullptr));
  // RFC 5280 4.1.2.2: a positive integer. Another one could not be named
  // to `revoke` (fuzz_certificate found "-6063...").
  if (!bn || BN_is_negative(bn.get()) != 0 || BN_is_zero(bn.get()) != 0) return {};
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return {};
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

int64_t unix_time(const ASN1_TIME* t) {
  tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string subject_entry(X509_NAME* name, int nid) {
  const int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return {};
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

CertInfo info_of(X509* cert) {
  CertInfo info;
  info.serial = serial_hex(X509_get0_serialNumber(cert));
  X509_NAME* subject = X509_get_subject_name(cert);
  info.name = subject_entry(subject, NID_commonName);
  info.kind = kind_from_name(subject_entry(subject, NID_organizationalUnitName));
  info.not_before_s = unix_time(X509_get0_notBefore(cert));
  info.not_after_s = unix_time(X509_get0_notAfter(cert));
  unsigned char* der = nullptr;
  const int n = i2d_X509(cert, &der);
  if (n > 0) {
    info.sha256 =
        keys::sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(n)));
    OPENSSL_free(der);
  }
  return info;
}

tl::expected<Cert, std::string> parse_cert(std::string_view pem) {
  Bio bio = read_bio(pem);
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return tl::unexpected("not a PEM certificate: " + openssl_error());
  return cert;
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A certificate for `key` named `name` of `kind` (the CA itself when
// `issuer` is null), signed by `issuer_key`.
tl::expected<Cert, std::string> make_cert(EVP_PKEY* key, const std::string& name, std::string_view unit,
                                          X509* issuer, EVP_PKEY* issuer_key, int64_t now_s, int days,
                                          const std::vector<std::string>& extensions) {
  Cert cert(X509_new());
  Bn serial(BN_new());
  if (!cert || !serial || X509_set_version(cert.get(), 2) != 1 ||
      // 127 random bits: positive, unique without a counter to keep.
      BN_rand(serial.get(), 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(now_s - kBackdate)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(now_s + int64_t{days} * kDay)) ==
          nullptr ||
      X509_set_pubkey(cert.get(), key) != 1)
    return tl::unexpected("cannot make a certificate: " + openssl_error());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  auto add_entry = [subject](const char* field, std::string_view value) {
    return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add_entry("O", kOrganisation) || !add_entry("OU", unit) || !add_entry("CN", name))
    return tl::unexpected("cannot name a certificate: " + openssl_error());
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1)
    return tl::unexpected("cannot name a certificate's issuer: " + openssl_error());
  for (size_t i = 0; i + 1 < extensions.size(); i += 2) {
    const int nid = OBJ_txt2nid(extensions[i].c_str());
    if (!add_ext(cert.get(), signer, nid, extensions[i + 1].c_str()))
      return tl::unexpected("cannot add " + extensions[i] + " " + extensions[i + 1] + ": " + openssl_error());
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
    return tl::unexpected("cannot sign a certificate: " + openssl_error());
  return cert;
}

std::string san_of(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    unsigned char addr[16];
    const bool ip = inet_pton(AF_INET, n.c_str(), addr) == 1 || inet_pton(AF_INET6, n.c_str(), addr) == 1;
    out += (out.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
  }
  return out;
}

// Keys a peer may hold: what TLS 1.2 and 1.3 in OpenSSL 3 sign with.
std::string key_problem(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) != 1)
        return "an EC key without a named curve";
      const std::string g(group, len);
      if (g == "prime256v1" || g == "P-256" || g == "secp384r1" || g == "P-384") return {};
      return "an EC key on " + g + " (P-256 or P-384 only)";
    }
    case EVP_PKEY_RSA:
      return EVP_PKEY_get_bits(key) >= 2048 ? std::string() : "an RSA key under 2048 bits";
    default:
      return "a key type TLS does not use here (EC P-256/P-384 or RSA >= 2048 only)";
  }
}

}  // namespace

std::string_view kind_name(CertKind kind) {
  switch (kind) {
    case CertKind::kServer:
      return "server";
    case CertKind::kDataplane:
      return "dataplane";
    case CertKind::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<CertKind> kind_from_name(std::string_view name) {
  for (const CertKind k : {CertKind::kServer, CertKind::kDataplane, CertKind::kAdmin}) {
    if (kind_name(k) == name) return k;
  }
  return std::nullopt;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

bool valid_server_name(std::string_view name) {
  const std::string n(name);
  unsigned char addr[16];
  if (inet_pton(AF_INET, n.c_str(), addr) == 1 || inet_pton(AF_INET6, n.c_str(), addr) == 1) return true;
  if (n.empty() || n.size() > 253 || n.front() == '.' || n.back() == '.' || n.find("..") != std::string::npos)
    return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

tl::expected<CertInfo, std::string> describe_certificate(std::string_view pem) {
  auto cert = parse_cert(pem);
  if (!cert) return tl::unexpected(cert.error());
  CertInfo info = info_of(cert->get());
  if (info.serial.empty())
    return tl::unexpected(std::string("a certificate whose serial is not a positive number"));
  return info;
}

tl::expected<KeyAndRequest, std::string> make_key_and_request(const std::string& name) {
  if (!valid_name(name)) return tl::unexpected("a certificate's name is 1-64 of [A-Za-z0-9_.-]: " + name);
  Pkey key = new_key();
  Req req(X509_REQ_new());
  if (!key || !req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1)
    return tl::unexpected("cannot make a key and a request: " + openssl_error());
  X509_NAME* subject = X509_REQ_get_subject_name(req.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(name.data()),
                                 static_cast<int>(name.size()), -1, 0) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0)
    return tl::unexpected("cannot sign the request: " + openssl_error());
  KeyAndRequest out{key_pem(key.get()), pem_of(req.get(), PEM_write_bio_X509_REQ)};
  if (out.key_pem.empty() || out.csr_pem.empty())
    return tl::unexpected("cannot encode the key: " + openssl_error());
  return out;
}

tl::expected<ClientIdentity, std::string> load_client_identity(const std::string& ca_file,
                                                               const std::string& cert_file,
                                                               const std::string& key_file, CertKind kind) {
  ClientIdentity id;
  auto ca_pem = read_file(ca_file);
  auto cert_pem = read_file(cert_file);
  auto key_text = read_file(key_file);
  if (!ca_pem) return tl::unexpected("cannot read " + ca_file);
  if (!cert_pem) return tl::unexpected("cannot read " + cert_file);
  if (!key_text) return tl::unexpected("cannot read " + key_file);
  auto ca = parse_cert(*ca_pem);
  if (!ca) return tl::unexpected(ca_file + ": " + ca.error());
  auto cert = parse_cert(*cert_pem);
  if (!cert) return tl::unexpected(cert_file + ": " + cert.error());
  Bio bio = read_bio(*key_text);
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return tl::unexpected(key_file + ": not a PEM private key: " + openssl_error());
  if (X509_check_private_key(cert->get(), key.get()) != 1)
    return tl::unexpected(key_file + ": not the key of " + cert_file);
  if (X509_verify(cert->get(), X509_get0_pubkey(ca->get())) != 1)
    return tl::unexpected(cert_file + ": not issued by " + ca_file);
  id.cert = info_of(cert->get());
  if (id.cert.kind != kind)
    return tl::unexpected(cert_file + ": not " +
                          std::string(kind == CertKind::kAdmin       ? "an administrator's"
                                      : kind == CertKind::kDataplane ? "a data plane's"
                                                                     : "ftzgated's") +
                          " certificate");
  id.ca_pem = std::move(*ca_pem);
  id.cert_pem = std::move(*cert_pem);
  id.key_pem = std::move(*key_text);
  return id;
}

tl::expected<std::string, std::string> request_public_key(std::string_view csr_pem) {
  Bio bio = read_bio(csr_pem);
  Req req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) return tl::unexpected("not a PEM certificate request: " + openssl_error());
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) return tl::unexpected("the request carries no usable public key: " + openssl_error());
  if (const std::string why = key_problem(key); !why.empty()) return tl::unexpected("the request has " + why);
  if (X509_REQ_verify(req.get(), key) != 1)
    return tl::unexpected("the request's signature does not verify with its key: " + openssl_error());
  std::string pem = pem_of(key, PEM_write_bio_PUBKEY);
  if (pem.empty()) return tl::unexpected("cannot encode the request's key: " + openssl_error());
  return pem;
}

struct Authority::Impl {
  std::string dir;
  Pkey ca_key;
  Cert ca;
  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  mutable std::mutex mu;                   // revoked and the files below
  std::map<std::string, int64_t> revoked;  // serial -> revocation time
  uint64_t crl_number = 0;

  [[nodiscard]] std::string issued_dir() const { return dir + "/issued"; }
  [[nodiscard]] std::string crl_path() const { return dir + "/crl.pem"; }

  tl::expected<void, std::string> load_crl();
  tl::expected<void, std::string> write_crl(int64_t now_s);
};

Authority::Authority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authority::~Authority() = default;

const std::string& Authority::ca_pem() const {
  return impl_->ca_pem;
}
const std::string& Authority::server_cert_pem() const {
  return impl_->server_cert_pem;
}
const std::string& Authority::server_key_pem() const {
  return impl_->server_key_pem;
}

namespace {

// DIR's CA and server identity. ca.crt is written last: a directory without
// it (an interrupted first start) is made again from scratch.
tl::expected<void, std::string> create_authority(const std::string& dir,
                                                 const std::vector<std::string>& names, int64_t now_s) {
  if (names.empty()) return tl::unexpected(std::string("ftzgated's TLS certificate needs at least one name"));
  for (const std::string& n : names) {
    if (!valid_server_name(n)) return tl::unexpected("not an address or a DNS name: " + n);
  }
  auto write = [&](const std::string& file, const std::string& text, mode_t mode) {
    return base::write_file_atomically(dir + "/" + file, text, mode, base::IfExists::kReplace);
  };
  Pkey ca_key = new_key();
  Pkey server_key = new_key();
  if (!ca_key || !server_key) return tl::unexpected("cannot generate keys: " + openssl_error());
  // A name unique to this appliance: two appliances' CAs are told apart.
  const std::string ca_name = "ftzgated CA " + keys::sha256_hex(key_pem(ca_key.get())).substr(0, 12);
  auto ca = make_cert(ca_key.get(), ca_name, "ca", nullptr, ca_key.get(), now_s, kCaDays,
                      {"basicConstraints", "critical,CA:TRUE,pathlen:0", "keyUsage",
                       "critical,keyCertSign,cRLSign", "subjectKeyIdentifier", "hash"});
  if (!ca) return tl::unexpected(ca.error());
  auto server = make_cert(server_key.get(), "ftzgated", kind_name(CertKind::kServer), ca->get(), ca_key.get(),
                          now_s, kServerDays,
                          {"basicConstraints", "critical,CA:FALSE", "keyUsage", "critical,digitalSignature",
                           "extendedKeyUsage", "serverAuth", "subjectKeyIdentifier", "hash",
                           "authorityKeyIdentifier", "keyid:always", "subjectAltName", san_of(names)});
  if (!server) return tl::unexpected(server.error());
  if (auto w = write("ca.key", key_pem(ca_key.get()), 0600); !w) return tl::unexpected(w.error());
  if (auto w = write("server.key", key_pem(server_key.get()), 0600); !w) return tl::unexpected(w.error());
  if (auto w = write("server.crt", pem_of(server->get(), PEM_write_bio_X509), 0644); !w)
    return tl::unexpected(w.error());
  // Last: ca.crt is what makes DIR an authority.
  if (auto w = write("ca.crt", pem_of(ca->get(), PEM_write_bio_X509), 0644); !w)
    return tl::unexpected(w.error());
  return {};
}

}  // namespace

tl::expected<std::unique_ptr<Authority>, std::string> Authority::open(
    const std::string& dir, const std::vector<std::string>& server_names, int64_t now_s) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return tl::unexpected(dir + ": " + std::strerror(errno));
  if (::mkdir((dir + "/issued").c_str(), 0700) != 0 && errno != EEXIST)
    return tl::unexpected(dir + "/issued: " + std::strerror(errno));
  if (!std::filesystem::exists(dir + "/ca.crt")) {
    if (auto made = create_authority(dir, server_names, now_s); !made)
      return tl::unexpected(dir + ": " + made.error());
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  auto ca_pem = read_file(dir + "/ca.crt");
  auto ca_key_pem = read_file(dir + "/ca.key");
  auto server_cert = read_file(dir + "/server.crt");
  auto server_key = read_file(dir + "/server.key");
  if (!ca_pem || !ca_key_pem || !server_cert || !server_key)
    return tl::unexpected(dir + ": ca.crt, ca.key, server.crt and server.key must all be readable");
  auto ca = parse_cert(*ca_pem);
  if (!ca) return tl::unexpected(dir + "/ca.crt: " + ca.error());
  Bio bio = read_bio(*ca_key_pem);
  Pkey ca_key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!ca_key) return tl::unexpected(dir + "/ca.key: not a PEM private key: " + openssl_error());
  if (X509_check_private_key(ca->get(), ca_key.get()) != 1)
    return tl::unexpected(dir + "/ca.key: not the key of ca.crt");
  auto server = parse_cert(*server_cert);
  if (!server) return tl::unexpected(dir + "/server.crt: " + server.error());
  if (X509_verify(server->get(), X509_get0_pubkey(ca->get())) != 1)
    return tl::unexpected(dir + "/server.crt: not issued by ca.crt");
  impl->ca_key = std::move(ca_key);
  impl->ca = std::move(*ca);
  impl->ca_pem = std::move(*ca_pem);
  impl->server_cert_pem = std::move(*server_cert);
  impl->server_key_pem = std::move(*server_key);
  if (auto crl = impl->load_crl(); !crl) return tl::unexpected(crl.error());
  return std::unique_ptr<Authority>(new Authority(std::move(impl)));
}

tl::expected<void, std::string> Authority::Impl::load_crl() {
  auto text = read_file(crl_path());
  if (!text) return {};  // nothing revoked yet
  Bio bio = read_bio(*text);
  Crl crl(bio ? PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!crl) return tl::unexpected(crl_path() + ": not a PEM revocation list: " + openssl_error());
  // A list that does not verify could have lost entries: fail closed.
  if (X509_CRL_verify(crl.get(), X509_get0_pubkey(ca.get())) != 1)
    return tl::unexpected(crl_path() + ": not signed by ca.crt");
  const STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    const X509_REVOKED* r = sk_X509_REVOKED_value(entries, i);
    revoked[serial_hex(X509_REVOKED_get0_serialNumber(r))] = unix_time(X509_REVOKED_get0_revocationDate(r));
  }
  Asn1Int number(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  crl_number = number ? static_cast<uint64_t>(ASN1_INTEGER_get(number.get())) : revoked.size();
  return {};
}

tl::expected<void, std::string> Authority::Impl::write_crl(int64_t now_s) {
  Crl crl(X509_CRL_new());
  Asn1Time last(ASN1_TIME_set(nullptr, static_cast<time_t>(now_s)));
  // Our own list: the next one comes with the next revocation. A year keeps
  // an OpenSSL verifier (`openssl verify -crl_check`) content meanwhile.
  Asn1Time next(ASN1_TIME_set(nullptr, static_cast<time_t>(now_s + 365 * kDay)));
  Asn1Int number(ASN1_INTEGER_new());
  if (!crl || !last || !next || !number || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1 ||
      ASN1_INTEGER_set_uint64(number.get(), crl_number + 1) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1)
    return tl::unexpected("cannot make the revocation list: " + openssl_error());
  for (const auto& [serial, when] : revoked) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, serial.c_str()) == 0) return tl::unexpected("bad serial " + serial);
    Bn bn(raw);
    Asn1Int s(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    Asn1Time t(ASN1_TIME_set(nullptr, static_cast<time_t>(when)));
    X509_REVOKED* r = X509_REVOKED_new();
    if (r == nullptr || !s || !t || X509_REVOKED_set_serialNumber(r, s.get()) != 1 ||
        X509_REVOKED_set_revocationDate(r, t.get()) != 1 || X509_CRL_add0_revoked(crl.get(), r) != 1) {
      X509_REVOKED_free(r);
      return tl::unexpected("cannot list " + serial + ": " + openssl_error());
    }
  }
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) <= 0)
    return tl::unexpected("cannot sign the revocation list: " + openssl_error());
  const std::string pem = pem_of(crl.get(), PEM_write_bio_X509_CRL);
  if (pem.empty()) return tl::unexpected("cannot encode the revocation list: " + openssl_error());
  if (auto w = base::write_file_atomically(crl_path(), pem, 0644); !w) return tl::unexpected(w.error());
  ++crl_number;
  return {};
}

tl::expected<CertInfo, std::string> Authority::issue(std::string_view csr_pem, CertKind kind,
                                                     const std::string& name, int days, int64_t now_s,
                                                     std::string* cert_pem) {
  if (kind == CertKind::kServer)
    return tl::unexpected(std::string("server certificates are made with the CA"));
  if (!valid_name(name)) return tl::unexpected("a certificate's name is 1-64 of [A-Za-z0-9_.-]: " + name);
  if (days < 1 || days > kMaxDays)
    return tl::unexpected("a certificate is valid 1 to " + std::to_string(kMaxDays) + " days");
  auto public_pem = request_public_key(csr_pem);
  if (!public_pem) return tl::unexpected(public_pem.error());
  Bio bio = read_bio(*public_pem);
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return tl::unexpected("cannot read the request's key: " + openssl_error());
  auto cert = make_cert(
      key.get(), name, kind_name(kind), impl_->ca.get(), impl_->ca_key.get(), now_s, days,
      {"basicConstraints", "critical,CA:FALSE", "keyUsage", "critical,digitalSignature", "extendedKeyUsage",
       "clientAuth", "subjectKeyIdentifier", "hash", "authorityKeyIdentifier", "keyid:always"});
  if (!cert) return tl::unexpected(cert.error());
  std::string pem = pem_of(cert->get(), PEM_write_bio_X509);
  if (pem.empty()) return tl::unexpected("cannot encode the certificate: " + openssl_error());
  CertInfo info = info_of(cert->get());
  std::lock_guard lock(impl_->mu);
  auto w = base::write_file_atomically(impl_->issued_dir() + "/" + info.serial + ".pem", pem, 0644,
                                       base::IfExists::kKeep);
  if (!w) return tl::unexpected(w.error());
  if (!*w) return tl::unexpected("serial " + info.serial + " was issued before");
  if (cert_pem != nullptr) *cert_pem = std::move(pem);
  return info;
}

tl::expected<CertInfo, std::string> Authority::revoke(const std::string& serial, int64_t now_s) {
  std::string upper = serial;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  const bool hex = !upper.empty() && upper.size() <= 40 &&
                   std::all_of(upper.begin(), upper.end(), [](char c) { return std::isxdigit(c) != 0; });
  if (!hex) return tl::unexpected("a serial is up to 40 hex digits: " + serial);
  std::lock_guard lock(impl_->mu);
  auto pem = read_file(impl_->issued_dir() + "/" + upper + ".pem");
  if (!pem) return tl::unexpected("no certificate with serial " + upper + " was issued here");
  auto info = describe_certificate(*pem);
  if (!info) return tl::unexpected(upper + ": " + info.error());
  if (impl_->revoked.count(upper) != 0) return tl::unexpected("certificate " + upper + " is revoked already");
  impl_->revoked[upper] = now_s;
  if (auto w = impl_->write_crl(now_s); !w) {
    impl_->revoked.erase(upper);
    return tl::unexpected(w.error());
  }
  info->revoked_s = now_s;
  return *info;
}

bool Authority::revoked(const std::string& serial) const {
  std::lock_guard lock(impl_->mu);
  return impl_->revoked.count(serial) != 0;
}

tl::expected<std::vector<CertInfo>, std::string> Authority::issued() const {
  std::vector<CertInfo> out;
  std::lock_guard lock(impl_->mu);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(impl_->issued_dir(), ec)) {
    if (entry.path().extension() != ".pem") continue;
    auto pem = read_file(entry.path().string());
    auto info = pem ? describe_certificate(*pem) : tl::unexpected(std::string("unreadable"));
    if (!info) return tl::unexpected(entry.path().string() + ": " + info.error());
    if (auto r = impl_->revoked.find(info->serial); r != impl_->revoked.end()) info->revoked_s = r->second;
    out.push_back(std::move(*info));
  }
  if (ec) return tl::unexpected(impl_->issued_dir() + ": " + ec.message());
  std::sort(out.begin(), out.end(), [](const CertInfo& a, const CertInfo& b) {
    return std::tie(a.not_before_s, a.serial) < std::tie(b.not_before_s, b.serial);
  });
  return out;
}

}  // namespace ftz::pki
