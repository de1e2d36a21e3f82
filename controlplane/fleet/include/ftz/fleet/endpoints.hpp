#pragma once
// etcd endpoints as --etcd-endpoints names them. Apart from the client
// (etcd.hpp), so that the fuzz build takes the parser without gRPC.

#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::fleet {

template <typename T>
using Result = tl::expected<T, std::string>;

struct EndpointUrl {
  bool tls = false;    // https://
  std::string target;  // HOST:PORT, as gRPC takes it
};

// "http://HOST:PORT" or "https://HOST:PORT" (a trailing '/' allowed); plain
// http only to a loopback address written as one (127.0.0.0/8, [::1]) or
// "localhost". The error names the URL and what is wrong.
Result<EndpointUrl> parse_endpoint(const std::string& url);
// "URL[,URL...]": each as parse_endpoint() takes it; at least one.
Result<std::vector<std::string>> parse_endpoints(const std::string& list);

}  // namespace ftz::fleet
