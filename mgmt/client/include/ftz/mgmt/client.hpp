#pragma once
// A client of ftzgated's Management service: the channel (its unix socket,
// or TCP with mutual TLS and an admin certificate naming the account) and a
// logged-in session whose token goes with every call.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <tl/expected.hpp>

#include "ftzgate/v1/management.grpc.pb.h"

namespace ftz::mgmt {

struct Endpoint {
  std::string socket = "/run/ftzgate/ftzgated.sock";
  std::string controller;  // HOST:PORT: TCP with mutual TLS instead of the socket
  std::string ca;
  std::string cert;
  std::string key;
};

// The channel, or why not (a certificate or key that does not load).
tl::expected<std::shared_ptr<grpc::Channel>, std::string> open_channel(const Endpoint& e);

// "UNAUTHENTICATED", "PERMISSION_DENIED", ...: how the tools print a status.
const char* code_name(grpc::StatusCode c);

class Session {
 public:
  explicit Session(std::shared_ptr<grpc::Channel> channel)
      : stub_(ftzgate::v1::Management::NewStub(std::move(channel))) {}

  grpc::Status login(const std::string& user, const std::string& password);
  [[nodiscard]] bool must_change() const { return must_change_; }
  [[nodiscard]] ftzgate::v1::Role role() const { return role_; }

  // One call with the session and a deadline.
  template <typename Req, typename Reply, typename Fn>
  grpc::Status call(Fn fn, const Req& req, Reply* reply,
                    std::chrono::seconds deadline = std::chrono::seconds(120)) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-ftzgate-session", token_);
    ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    return (stub_.get()->*fn)(&ctx, req, reply);
  }

 private:
  std::unique_ptr<ftzgate::v1::Management::Stub> stub_;
  std::string token_;
  bool must_change_ = false;
  ftzgate::v1::Role role_ = ftzgate::v1::ROLE_UNSPECIFIED;
};

}  // namespace ftz::mgmt
