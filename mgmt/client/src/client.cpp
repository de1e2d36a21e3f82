#include "ftz/mgmt/client.hpp"

#include "ftz/pki/authority.hpp"

namespace ftz::mgmt {

namespace pb = ftzgate::v1;

tl::expected<std::shared_ptr<grpc::Channel>, std::string> open_channel(const Endpoint& e) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  if (e.controller.empty())
    return grpc::CreateCustomChannel("unix:" + e.socket, grpc::InsecureChannelCredentials(), args);
  auto id = pki::load_client_identity(e.ca, e.cert, e.key, pki::CertKind::kAdmin);
  if (!id) return tl::unexpected(id.error());
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = id->ca_pem;
  tls.pem_private_key = id->key_pem;
  tls.pem_cert_chain = id->cert_pem;
  return grpc::CreateCustomChannel(e.controller, grpc::SslCredentials(tls), args);
}

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    default:
      return "ERROR";
  }
}

grpc::Status Session::login(const std::string& user, const std::string& password) {
  pb::LoginRequest req;
  req.set_user(user);
  req.set_password(password);
  pb::LoginReply reply;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Status s = stub_->Login(&ctx, req, &reply);
  if (s.ok()) {
    token_ = reply.session();
    must_change_ = reply.must_change_password();
    role_ = reply.role();
  }
  return s;
}

}  // namespace ftz::mgmt
