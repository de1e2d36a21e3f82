// Protocol detection and dispatch. Per-packet code: no allocation, no throw.
#include "ftz/engine/app/app_parser.hpp"

#include "internal.hpp"

namespace ftz::engine::app {
namespace {

// AppFlowState::detect values.
enum Detect : uint8_t {
  kFresh = 0,      // no byte seen yet
  kTentative = 1,  // proto holds a candidate the first bytes have not yet proven
  kDecided = 2,    // proto is final
  kNone = 3,       // not a protocol we parse; all further bytes ignored
};

constexpr bool is_upper(uint8_t c) noexcept { return c >= 'A' && c <= 'Z'; }

constexpr bool is_dns_port(uint16_t p) noexcept { return p == 53 || p == 5353 || p == 5355; }

void give_up(AppFlowState& st, AppContext& ctx) noexcept {
  detail::release_buffer(st.dir[0], ctx);
  detail::release_buffer(st.dir[1], ctx);
  st.proto = AppProtocol::kUnknown;
  st.detect = kNone;
}

AppDirState& side(AppFlowState& st, Dir dir) noexcept { return st.dir[static_cast<uint8_t>(dir) & 1]; }

}  // namespace

AppProtocol feed_tcp(AppFlowState& st, Dir dir, uint16_t server_port, std::span<const uint8_t> bytes,
                     AppContext& ctx) noexcept {
  if (st.detect == kNone) return AppProtocol::kUnknown;
  if (bytes.empty()) return st.detect == kDecided ? st.proto : AppProtocol::kUnknown;

  if (st.detect == kFresh) {
    // The server port decides DNS (either side may speak first, both carry
    // messages). Otherwise only a client's first bytes can open TLS or HTTP:
    // a server that speaks first (SMTP, FTP, SSH banners) is neither.
    if (server_port == 53) {
      st.proto = AppProtocol::kDns;
      st.detect = kDecided;
      st.dir[0].dns = DnsDirState{};
      st.dir[1].dns = DnsDirState{};
    } else if (dir != Dir::kToServer) {
      give_up(st, ctx);
      return AppProtocol::kUnknown;
    } else if (bytes[0] == 0x16) {
      st.proto = AppProtocol::kTls;
      st.detect = kTentative;
      st.dir[0].tls = TlsDirState{};
    } else if (is_upper(bytes[0])) {
      st.proto = AppProtocol::kHttp;
      st.detect = kTentative;
      st.dir[0].http = HttpDirState{};
    } else {
      give_up(st, ctx);
      return AppProtocol::kUnknown;
    }
  }

  switch (st.proto) {
    case AppProtocol::kDns:
      detail::dns_tcp_feed(side(st, dir), bytes, ctx);
      break;
    case AppProtocol::kTls:
    case AppProtocol::kHttp: {
      // Both parse only the client's bytes; the server's are ignored (their
      // content is scanned by the engine's streaming matcher, not here).
      if (dir != Dir::kToServer) break;
      bool tentative = st.detect == kTentative;
      const bool ok = st.proto == AppProtocol::kTls ? detail::tls_feed(st.dir[0], bytes, ctx, tentative)
                                                    : detail::http_feed(st.dir[0], bytes, ctx, tentative);
      if (!ok) {
        give_up(st, ctx);
        return AppProtocol::kUnknown;
      }
      if (!tentative) st.detect = kDecided;
      break;
    }
    case AppProtocol::kUnknown:
      break;
  }
  return st.detect == kDecided ? st.proto : AppProtocol::kUnknown;
}

void on_gap(AppFlowState& st, Dir dir, AppContext& ctx) noexcept {
  switch (st.detect) {
    case kFresh:
    case kTentative:
      // A stream that starts or continues after missing bytes cannot be
      // identified reliably: stop rather than guess.
      give_up(st, ctx);
      return;
    case kNone:
      return;
    default:
      break;
  }
  switch (st.proto) {
    case AppProtocol::kDns:
      detail::dns_tcp_gap(side(st, dir), ctx);
      break;
    case AppProtocol::kTls:
      if (dir == Dir::kToServer) detail::tls_gap(st.dir[0], ctx);
      break;
    case AppProtocol::kHttp:
      if (dir == Dir::kToServer) detail::http_gap(st.dir[0], ctx);
      break;
    case AppProtocol::kUnknown:
      break;
  }
}

void close(AppFlowState& st, AppContext& ctx) noexcept {
  if (st.detect == kDecided && st.proto == AppProtocol::kHttp) detail::http_close(st.dir[0], ctx);
  reset(st, ctx);
}

void reset(AppFlowState& st, AppContext& ctx) noexcept {
  detail::release_buffer(st.dir[0], ctx);
  detail::release_buffer(st.dir[1], ctx);
  st = AppFlowState{};
}

AppProtocol feed_udp(Dir /*dir*/, uint16_t src_port, uint16_t dst_port, std::span<const uint8_t> payload,
                     AppContext& ctx) noexcept {
  if (!is_dns_port(src_port) && !is_dns_port(dst_port)) return AppProtocol::kUnknown;
  detail::dns_parse_message(payload, ctx);
  return AppProtocol::kDns;
}

}  // namespace ftz::engine::app
