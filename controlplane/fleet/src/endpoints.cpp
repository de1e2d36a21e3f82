#include "ftz/fleet/endpoints.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <sstream>

namespace ftz::fleet {

namespace {

// A loopback address written as one (127.0.0.0/8, [::1]), or "localhost":
// never a name that only starts like one ("127.example").
bool loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24U) == 127;
  in6_addr v6{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
      inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) != 0;
  return false;
}

bool digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<EndpointUrl> parse_endpoint(const std::string& url) {
  EndpointUrl p;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    p.tls = true;
  } else {
    return tl::unexpected(url + ": not http://HOST:PORT or https://HOST:PORT");
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  const size_t bracket = rest.rfind(']');
  if (colon == std::string::npos || colon == 0 || (bracket != std::string::npos && colon < bracket))
    return tl::unexpected(url + ": no port");
  const std::string host = rest.substr(0, colon);
  const std::string port = rest.substr(colon + 1);
  if (!digits(port) || port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535)
    return tl::unexpected(url + ": bad port");
  if (host.find_first_of("/?#@ \t\r\n") != std::string::npos) return tl::unexpected(url + ": bad host");
  if (!p.tls && !loopback_host(host)) {
    return tl::unexpected(url +
                          ": plain http only to a loopback address (labs, tests); use https:// with "
                          "--etcd-ca, --etcd-cert and --etcd-key");
  }
  p.target = rest;
  return p;
}

Result<std::vector<std::string>> parse_endpoints(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string url; std::getline(in, url, ',');) {
    if (url.empty()) continue;
    if (auto p = parse_endpoint(url); !p) return tl::unexpected(p.error());
    out.push_back(url);
  }
  if (out.empty()) return tl::unexpected(std::string("no etcd endpoint"));
  return out;
}

}  // namespace ftz::fleet
