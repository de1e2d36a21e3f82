#include "peer.hpp"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <utility>
#include <vector>

namespace ftz::daemon {

using grpc::Status;
using grpc::StatusCode;
namespace ge = grpc::experimental;

namespace {

constexpr int64_t kAuditRefusalEveryMs = int64_t{10} * 60 * 1000;
constexpr std::string_view kRevoked = " is revoked";

// Runs in every handshake, after gRPC verified the chain to our CA. (gRPC's
// own CRL support reads a directory of hashed files that OpenSSL caches;
// the authority's list in memory is the one revoke() just changed.)
class RevocationCheck final : public ge::ExternalCertificateVerifier {
 public:
  RevocationCheck(const pki::Authority& authority, AuditHook audit, std::function<int64_t()> clock_ms)
      : authority_(authority), audit_(std::move(audit)), clock_ms_(std::move(clock_ms)) {}

  bool Verify(ge::TlsCustomVerificationCheckRequest* request, std::function<void(Status)> /*async: unused*/,
              Status* sync_status) override {
    const grpc::string_ref pem = request->peer_cert();
    auto info = pki::describe_certificate(std::string_view(pem.data(), pem.size()));
    if (!info) {
      *sync_status = Status(StatusCode::UNAUTHENTICATED, "unreadable client certificate: " + info.error());
    } else if (authority_.revoked(info->serial)) {
      *sync_status =
          Status(StatusCode::UNAUTHENTICATED, "certificate " + info->serial + std::string(kRevoked));
      if (throttle_.due(info->serial, clock_ms_())) {
        (void)audit_("tls_refused", false,
                     nlohmann::ordered_json{{"serial", info->serial},
                                            {"kind", info->kind ? pki::kind_name(*info->kind) : "?"},
                                            {"name", info->name},
                                            {"reason", "revoked"}});
      }
    } else {
      *sync_status = Status::OK;
    }
    return true;  // decided here, synchronously
  }
  void Cancel(ge::TlsCustomVerificationCheckRequest* /*request*/) override {}

 private:
  const pki::Authority& authority_;
  AuditHook audit_;
  std::function<int64_t()> clock_ms_;
  RefusalThrottle throttle_;
};

}  // namespace

bool is_revocation(const Status& s) {
  return s.error_code() == StatusCode::UNAUTHENTICATED && s.error_message().ends_with(kRevoked);
}

bool RefusalThrottle::due(const std::string& key, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto [it, first] = last_ms_.try_emplace(key, now_ms);
  if (first) return true;
  if (now_ms - it->second < kAuditRefusalEveryMs) return false;
  it->second = now_ms;
  return true;
}

std::string Peer::source() const {
  if (!tls) return address;
  return address + " cert " + std::string(kind ? pki::kind_name(*kind) : "?") + "/" + name + " " + serial;
}

tl::expected<Peer, Status> identify(const grpc::ServerContext& ctx, const pki::Authority& authority) {
  Peer p;
  p.address = ctx.peer();
  const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  const auto type = auth ? auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)
                         : std::vector<grpc::string_ref>{};
  // "tls" from TlsServerCredentials (the TCP listener), "ssl" from the
  // older SslServerCredentials.
  p.tls = !type.empty() && (type.front() == GRPC_TLS_TRANSPORT_SECURITY_TYPE ||
                            type.front() == GRPC_SSL_TRANSPORT_SECURITY_TYPE);
  // Only the unix socket is trusted without a certificate: a caller that is
  // neither (a listener added without TLS) is refused, not taken as local.
  if (!p.tls && !p.address.starts_with("unix:"))
    return tl::unexpected(Status(StatusCode::UNAUTHENTICATED, "only the unix socket serves without TLS"));
  if (!p.tls) return p;
  const auto pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return tl::unexpected(Status(StatusCode::UNAUTHENTICATED, "no client certificate"));
  auto info = pki::describe_certificate(std::string_view(pem.front().data(), pem.front().size()));
  if (!info || !info->kind || info->name.empty())
    return tl::unexpected(
        Status(StatusCode::UNAUTHENTICATED, "the client certificate names no kind and holder of ours"));
  if (authority.revoked(info->serial))
    return tl::unexpected(
        Status(StatusCode::UNAUTHENTICATED, "certificate " + info->serial + std::string(kRevoked)));
  p.kind = info->kind;
  p.name = std::move(info->name);
  p.serial = std::move(info->serial);
  return p;
}

tl::expected<Peer, Status> require_certificate(const grpc::ServerContext& ctx,
                                               const pki::Authority& authority, pki::CertKind kind,
                                               const std::string& name) {
  auto p = identify(ctx, authority);
  if (!p || !p->tls) return p;
  if (p->kind != kind)
    return tl::unexpected(Status(StatusCode::PERMISSION_DENIED, "a " + std::string(pki::kind_name(*p->kind)) +
                                                                    " certificate may not call this; a " +
                                                                    std::string(pki::kind_name(kind)) +
                                                                    " certificate may"));
  if (!name.empty() && p->name != name)
    return tl::unexpected(
        Status(StatusCode::PERMISSION_DENIED, "the certificate is " + p->name + "'s, not " + name + "'s"));
  return p;
}

std::shared_ptr<grpc::ServerCredentials> tls_server_credentials(const pki::Authority& authority,
                                                                AuditHook audit,
                                                                std::function<int64_t()> clock_ms) {
  auto certificates = std::make_shared<ge::StaticDataCertificateProvider>(
      authority.ca_pem(),
      std::vector<ge::IdentityKeyCertPair>{{authority.server_key_pem(), authority.server_cert_pem()}});
  ge::TlsServerCredentialsOptions options(certificates);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  // A client without a certificate from our CA does not complete the
  // handshake.
  options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.set_certificate_verifier(ge::ExternalCertificateVerifier::Create<RevocationCheck>(
      authority, std::move(audit), std::move(clock_ms)));
  return ge::TlsServerCredentials(options);
}

}  // namespace ftz::daemon
