#pragma once
// Shared by the app-parser fuzz targets. The input is
//   [mode] [n] [len_1 .. len_n] [stream ...]
// The stream is fed in chunks whose lengths cycle through len_1..len_n (0 is
// read as 1), so the fuzzer controls where segments split. Without gaps
// (mode bit 0 clear) the result must equal feeding the stream whole: the
// parsers may not depend on segmentation. Afterwards every buffer must be
// back in the pool.

#include <cstdint>
#include <cstdlib>
#include <span>

#include "ftz/engine/app/app_parser.hpp"

namespace ftz::engine::app::fuzz {

// Hashes every reported field, touching every byte a view points at (so
// ASan sees any view that escaped its buffer). Body bytes are hashed as a
// stream so that how they were split does not matter.
class HashingSink final : public AppSink {
 public:
  uint64_t hash = 1469598103934665603ull;

  void on_tls_client_hello(const TlsClientHello& h) noexcept override {
    mix(1);
    mix(h.sni);
    for (uint8_t i = 0; i < h.alpn_count; ++i) mix(h.alpn[i]);
    mix(h.legacy_version);
    mix(h.record_version);
    mix(h.max_supported_version);
    mix(h.ech);
    mix(h.malformed);
    if (h.alpn_count > 4) std::abort();
  }
  void on_http_request(const HttpRequest& r) noexcept override {
    mix(2);
    for (auto s : {r.method, r.uri, r.version, r.host, r.content_type}) mix(s);
    mix(r.content_length);
    mix(r.chunked);
    mix(r.uri_truncated);
    mix(r.headers_truncated);
    mix(r.index);
    if (r.uri.size() > kHttpUriCap) std::abort();
  }
  void on_http_body(uint32_t index, std::span<const uint8_t> b) noexcept override {
    if (b.empty()) std::abort();
    if (index != last_body_index_) {
      mix(3);
      mix(index);
      last_body_index_ = index;
    }
    for (uint8_t c : b) mix(c);
  }
  void on_http_request_end(uint32_t index) noexcept override {
    mix(4);
    mix(index);
    last_body_index_ = UINT32_MAX;
  }
  void on_dns(const DnsQuery& q) noexcept override {
    mix(5);
    mix(q.qname);
    mix(q.qtype);
    mix(q.qclass);
    mix(q.id);
    mix(q.is_response);
  }

 private:
  void mix(uint64_t v) noexcept {
    hash ^= v;
    hash *= 1099511628211ull;
  }
  void mix(std::string_view s) noexcept {
    mix(s.size());
    for (char c : s) mix(static_cast<uint8_t>(c));
  }
  uint32_t last_body_index_ = UINT32_MAX;
};

struct Run {
  // Small buffers, so the caps (HTTP header block, ClientHello, DNS message
  // prefix) are reached by inputs of a fuzzer's usual length.
  explicit Run(uint32_t buffer_size) : pool(4, buffer_size) {}
  BufferPool pool;
  AppCounters counters{};
  HashingSink sink;
  AppContext ctx{&pool, &counters, &sink};
  AppFlowState flow{};
};

struct Input {
  uint8_t mode = 0;
  std::span<const uint8_t> lens;
  std::span<const uint8_t> stream;
};

inline bool split_input(const uint8_t* data, size_t size, Input& in) {
  if (size < 2) return false;
  in.mode = data[0];
  const size_t n = (data[1] % 8) + 1;
  if (size < 2 + n) return false;
  in.lens = {data + 2, n};
  in.stream = {data + 2 + n, size - 2 - n};
  return true;
}

// Feeds `in.stream` to `dir` in chunks; with gaps enabled, a chunk whose
// length byte has the top bit set is followed by a gap.
template <typename Feed>
void feed_chunks(const Input& in, bool gaps, Feed&& feed, Run& r, Dir dir) {
  size_t off = 0;
  size_t k = 0;
  while (off < in.stream.size()) {
    const uint8_t l = in.lens[k++ % in.lens.size()];
    const size_t len = std::min<size_t>(std::max<size_t>(l & 0x7f, 1), in.stream.size() - off);
    feed(in.stream.subspan(off, len));
    off += len;
    if (gaps && (l & 0x80)) on_gap(r.flow, dir, r.ctx);
  }
}

inline void check_released(Run& r) {
  if (r.pool.in_use() != 0 || r.pool.bad_releases() != 0) std::abort();
}

// One client byte stream to `port`, fed split at the fuzzer's positions and,
// without gaps, whole: both must give the same result, and every pool buffer
// must come back. The server's bytes (mode bit 1) must not disturb anything.
inline int fuzz_client_stream(const uint8_t* data, size_t size, uint16_t port, uint32_t buffer_size) {
  Input in;
  if (!split_input(data, size, in)) return 0;
  const bool gaps = (in.mode & 1) != 0;
  Run split(buffer_size);
  feed_chunks(
      in, gaps, [&](std::span<const uint8_t> c) { feed_tcp(split.flow, Dir::kToServer, port, c, split.ctx); },
      split, Dir::kToServer);
  if (in.mode & 2) feed_tcp(split.flow, Dir::kToClient, port, in.stream, split.ctx);
  close(split.flow, split.ctx);
  check_released(split);
  if (!gaps) {
    Run whole(buffer_size);
    feed_tcp(whole.flow, Dir::kToServer, port, in.stream, whole.ctx);
    close(whole.flow, whole.ctx);
    check_released(whole);
    if (whole.sink.hash != split.sink.hash) std::abort();  // segmentation changed the result
  }
  return 0;
}

}  // namespace ftz::engine::app::fuzz
