#pragma once
// Who is calling ftzgated (issue 10 "Transport security"). A caller on the
// unix socket is local: the socket is 0660, group ftzgate. A caller over TCP
// presented a certificate that ftzgated's CA issued (gRPC verified the chain
// in the handshake); its kind and name are read from that certificate, and
// a revoked certificate is refused on every call, so a revocation also ends
// a connection that is already open.

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>
#include <tl/expected.hpp>

#include "ftz/pki/authority.hpp"

namespace ftz::daemon {

struct Peer {
  std::string address;  // grpc's peer string ("unix:...", "ipv4:198.18.0.1:40000")
  bool tls = false;
  // With tls: what the certificate says.
  std::optional<pki::CertKind> kind;
  std::string name;
  std::string serial;

  // The audit record's `source`: the address, and the certificate when
  // there is one ("ipv4:127.0.0.1:5800 cert admin/alice 3F...").
  [[nodiscard]] std::string source() const;
};

// The caller of `ctx`; UNAUTHENTICATED when it came over TLS with a
// certificate that is revoked or does not name a kind and a holder.
tl::expected<Peer, grpc::Status> identify(const grpc::ServerContext& ctx, const pki::Authority& authority);

// identify(), then: over TLS the certificate must be of `kind` and, unless
// `name` is empty, name `name`. PERMISSION_DENIED otherwise.
tl::expected<Peer, grpc::Status> require_certificate(const grpc::ServerContext& ctx,
                                                     const pki::Authority& authority, pki::CertKind kind,
                                                     const std::string& name);

}  // namespace ftz::daemon
