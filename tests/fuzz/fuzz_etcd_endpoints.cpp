// libFuzzer target: --etcd-endpoints as ftzgated will take it
// (ftz::fleet::parse_endpoints).
//
// Input: the option's text. Invariants:
//   - a refusal says why;
//   - every accepted URL is http:// or https:// with a port of 1-65535, and
//     plain http only to a loopback address written as one, or localhost:
//     nothing the fuzzer writes sends the fleet's traffic in clear to
//     another host.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ftz/fleet/endpoints.hpp"
#include "fuzz_common.hpp"

namespace {

// The oracle's own reading: 127.0.0.0/8 by its first byte, ::1 as sixteen
// bytes, or the name localhost.
bool loopback_literal(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return reinterpret_cast<const uint8_t*>(&v4)[0] == 127;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    uint8_t v6[16] = {};
    static const uint8_t kOne[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), v6) == 1 &&
           std::memcmp(v6, kOne, sizeof v6) == 0;
  }
  return host == "localhost";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto urls = ftz::fleet::parse_endpoints(text);
  if (!urls) {
    if (urls.error().empty()) ftz::fuzz::fail("a refused list without a reason");
    return 0;
  }
  if (urls->empty()) ftz::fuzz::fail("accepted with no endpoint");
  for (const std::string& url : *urls) {
    auto e = ftz::fleet::parse_endpoint(url);
    if (!e) ftz::fuzz::fail("an accepted URL does not parse alone", url);
    const size_t colon = e->target.rfind(':');
    if (colon == std::string::npos) ftz::fuzz::fail("a target without a port", e->target);
    const std::string port = e->target.substr(colon + 1);
    if (port.empty() || port.size() > 5 || std::stoi(port) < 1 || std::stoi(port) > 65535)
      ftz::fuzz::fail("a port out of range", url);
    if (!e->tls && !loopback_literal(e->target.substr(0, colon)))
      ftz::fuzz::fail("plain http to a host that is not loopback", url);
  }
  return 0;
}
