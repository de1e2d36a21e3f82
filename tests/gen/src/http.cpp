#include "ftz/test/gen/http.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace ftz::test::gen {

namespace {

std::size_t chunk_size_at(const std::vector<std::size_t>& sizes, std::size_t i) {
  return i < sizes.size() ? sizes[i] : sizes.back();
}

std::string hex_size(std::size_t n) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

std::string http_request(std::string_view method, std::string_view uri, std::string_view host,
                         const HeaderList& headers, std::string_view body,
                         const std::vector<std::size_t>& chunk_sizes) {
  std::string out;
  out.reserve(body.size() + body.size() / 512 + 512);
  out.append(method).append(" ").append(uri).append(" HTTP/1.1\r\nHost: ").append(host).append("\r\n");
  for (const auto& [name, value] : headers) out.append(name).append(": ").append(value).append("\r\n");
  const bool has_body = !body.empty() || method == "POST" || method == "PUT";
  if (!chunk_sizes.empty()) {
    out += "Transfer-Encoding: chunked\r\n\r\n";
    std::size_t at = 0;
    for (std::size_t i = 0; at < body.size(); ++i) {
      const std::size_t n = std::min(chunk_size_at(chunk_sizes, i), body.size() - at);
      out.append(hex_size(n)).append("\r\n").append(body.substr(at, n)).append("\r\n");
      at += n;
    }
    out += "0\r\n\r\n";
  } else {
    if (has_body) out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out += "\r\n";
    out.append(body);
  }
  return out;
}

std::size_t http_head_length(std::string_view message) {
  const auto end = message.find("\r\n\r\n");
  return end == std::string_view::npos ? message.size() : end + 4;
}

std::string http_date(std::uint64_t ts_ns) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::int64_t secs = static_cast<std::int64_t>(ts_ns / 1'000'000'000u);
  const std::int64_t days = secs / 86400;
  const std::int64_t sod = secs % 86400;
  // <chrono>'s calendar (the generator stays independent of ftz::civil).
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  const auto y = static_cast<int>(ymd.year());
  const auto m = static_cast<unsigned>(ymd.month());
  const auto d = static_cast<unsigned>(ymd.day());
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[days % 7], static_cast<int>(d),
                kMonths[m - 1], y, static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                static_cast<int>(sod % 60));
  return buf;
}

std::string http_response(int status, std::string_view reason, std::string_view content_type,
                          std::string_view body, std::uint64_t ts_ns) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out.append(reason).append("\r\nDate: ").append(http_date(ts_ns)).append("\r\nServer: nginx\r\n");
  out.append("Content-Type: ").append(content_type).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

std::vector<std::size_t> random_chunk_sizes(Rng& rng, std::size_t total, std::size_t lo, std::size_t hi) {
  std::vector<std::size_t> sizes;
  std::size_t sum = 0;
  while (sum < total) {
    const std::size_t n = lo + rng.below(hi - lo + 1);
    sizes.push_back(n);
    sum += n;
  }
  return sizes;
}

std::size_t chunked_wire_offset(std::size_t body_offset, const std::vector<std::size_t>& sizes,
                                std::size_t body_size) {
  std::size_t wire = 0;
  std::size_t body = 0;
  for (std::size_t i = 0;; ++i) {
    const std::size_t n = std::min(chunk_size_at(sizes, i), body_size - body);
    const std::size_t line = hex_size(n).size() + 2;
    if (body_offset < body + n) return wire + line + (body_offset - body);
    wire += line + n + 2;
    body += n;
  }
}

}  // namespace ftz::test::gen
