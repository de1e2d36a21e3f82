#include "peer.hpp"

namespace ftz::daemon {

using grpc::Status;
using grpc::StatusCode;

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
  p.tls = !type.empty() && type.front() == GRPC_SSL_TRANSPORT_SECURITY_TYPE;
  if (!p.tls) return p;
  const auto pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return tl::unexpected(Status(StatusCode::UNAUTHENTICATED, "no client certificate"));
  auto info = pki::describe_certificate(std::string_view(pem.front().data(), pem.front().size()));
  if (!info || !info->kind || info->name.empty())
    return tl::unexpected(
        Status(StatusCode::UNAUTHENTICATED, "the client certificate names no kind and holder of ours"));
  if (authority.revoked(info->serial))
    return tl::unexpected(Status(StatusCode::UNAUTHENTICATED, "certificate " + info->serial + " is revoked"));
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

}  // namespace ftz::daemon
