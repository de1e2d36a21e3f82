#pragma once
// Who is calling ftzgated (issue 10 "Transport security"). A caller on the
// unix socket is local: the socket is 0660, group ftzgate. A caller over TCP
// presented a certificate that ftzgated's CA issued (gRPC verified the chain
// in the handshake); its kind and name are read from that certificate, and
// a revoked certificate is refused on every call, so a revocation also ends
// a connection that is already open; a new connection with a revoked
// certificate fails in the handshake (tls_server_credentials()).

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tl/expected.hpp>

#include "compliance_center.hpp"
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

// Whether `s` is identify()'s refusal of a revoked certificate.
bool is_revocation(const grpc::Status& s);

// A refusal that repeats (a revoked data plane retries every few seconds)
// is audited once every 10 minutes per key. Keys are revoked serials, so
// the map is bounded by the certificates issued.
class RefusalThrottle {
 public:
  bool due(const std::string& key, int64_t now_ms);

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> last_ms_;
};

// The TCP listener's credentials: mutual TLS with the CA's certificates, and
// a handshake that fails for a certificate on the revocation list. Each
// refusal is audited ("tls_refused"), at most once every 10 minutes per
// certificate: a revoked data plane retries every few seconds.
std::shared_ptr<grpc::ServerCredentials> tls_server_credentials(const pki::Authority& authority,
                                                                AuditHook audit,
                                                                std::function<int64_t()> clock_ms);

}  // namespace ftz::daemon
