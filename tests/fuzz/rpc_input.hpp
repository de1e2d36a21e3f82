#pragma once
// The input of fuzz_rpc, shared with its seed writer (fuzz_seeds rpc):
//
//   [caller] [method] [request...]
//
//   caller   % kCallers: an account of each role (kAccounts), or no session
//   method   % methods().size(): the services' methods in declaration order,
//            Management's, then Dataplane's
//   request  the method's request message as serialized; for Report, a
//            stream of batches, each as [u16 big-endian length][ReportBatch]
//
// The daemon the target starts counts with kTokenKeyHex, so that seeds can
// carry its fingerprint.

#include <google/protobuf/descriptor.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ftzgate/v1/dataplane.grpc.pb.h"
#include "ftzgate/v1/management.grpc.pb.h"

namespace ftz::fuzz::rpc {

enum Caller : uint8_t { kSysadmin, kSecadmin, kAudadmin, kOperator, kNoSession, kCallers };

struct Account {
  const char* name;
  const char* role;  // as the accounts file spells it
  const char* password;
};
// Indexed by Caller.
inline constexpr std::array<Account, 4> kAccounts{{
    {"sysa", "sysadmin", "Fuzz-Sys-2026-x"},
    {"seca", "secadmin", "Fuzz-Sec-2026-x"},
    {"auda", "audadmin", "Fuzz-Aud-2026-x"},
    {"oper", "operator", "Fuzz-Ops-2026-x"},
}};

inline constexpr std::string_view kTokenKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// Every method of both services.
inline const std::vector<const google::protobuf::MethodDescriptor*>& methods() {
  static const auto all = [] {
    std::vector<const google::protobuf::MethodDescriptor*> out;
    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const char* service :
         {ftzgate::v1::Management::service_full_name(), ftzgate::v1::Dataplane::service_full_name()}) {
      const google::protobuf::ServiceDescriptor* s = pool->FindServiceByName(service);
      for (int i = 0; s != nullptr && i < s->method_count(); ++i) out.push_back(s->method(i));
    }
    return out;
  }();
  return all;
}

// An input calling `method` (its name, e.g. "Commit") as `caller` with
// `messages` (one request, or Report's batches).
inline std::vector<uint8_t> encode(Caller caller, std::string_view method,
                                   const std::vector<std::string>& messages) {
  std::vector<uint8_t> out{caller, 0};
  for (size_t i = 0; i < methods().size(); ++i) {
    if (methods()[i]->name() == method) out[1] = static_cast<uint8_t>(i);
  }
  const bool stream = methods()[out[1]]->client_streaming();
  for (const std::string& m : messages) {
    if (stream) {
      out.push_back(static_cast<uint8_t>(m.size() >> 8));
      out.push_back(static_cast<uint8_t>(m.size()));
    }
    out.insert(out.end(), m.begin(), m.end());
  }
  return out;
}

}  // namespace ftz::fuzz::rpc
