// Protocol detection and dispatch. Per-packet code: no allocation, no throw.
#include "ftz/engine/app/app_parser.hpp"

#include "ftz/base/ascii.hpp"
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

using ascii::is_upper;

void give_up(AppFlowState& st, AppContext& ctx) noexcept {
  detail::aside_end(st.dir[0], Dir::kToServer, ctx);
  detail::aside_end(st.dir[1], Dir::kToClient, ctx);
  detail::release_buffer(st.dir[0], ctx);
  detail::release_buffer(st.dir[1], ctx);
  st.proto = AppProtocol::kUnknown;
  st.detect = kNone;
}

AppDirState& side(AppFlowState& st, Dir dir) noexcept {
  return st.dir[static_cast<uint8_t>(dir) & 1];
}

void raw(AppContext& ctx, Dir dir, std::span<const uint8_t> b) noexcept {
  detail::deliver(ctx, dir, Content::kRaw, b);
}

// A flow that turned out not to be what its first bytes suggested: what the
// tentative parser held back and this chunk are inspected raw.
void give_up_tentative(AppFlowState& st, Dir dir, std::span<const uint8_t> bytes, AppContext& ctx) noexcept {
  // Only the client's parser is ever tentative.
  AppDirState& d = st.dir[0];
  if (st.proto == AppProtocol::kTls) {
    raw(ctx, Dir::kToServer, detail::tls_records_held(d));
  } else if (d.buf_slot != 0) {
    raw(ctx, Dir::kToServer, {ctx.pool->get(d.buf_slot - 1).data(), d.buf_len});
  }
  give_up(st, ctx);
  raw(ctx, dir, bytes);
}

// HTTP/1 to the server, handing over to a tunnel parser where a request
// switched protocols, and back where a refused switch left HTTP/1 going.
bool http_to_server(AppFlowState& st, std::span<const uint8_t> bytes, AppContext& ctx,
                    bool& tentative) noexcept {
  AppDirState& d = st.dir[0];
  while (!bytes.empty()) {
    if (d.tunnel != Tunnel::kNone) {
      detail::Replay replay;
      const size_t resume = detail::tunnel_feed(d, Dir::kToServer, bytes, ctx, replay);
      if (resume >= bytes.size()) return true;
      // Back to HTTP/1 with the next request index.
      const uint32_t index = d.tunnel == Tunnel::kWebSocket ? d.ws.http_index : d.h2.http_index;
      detail::aside_end(d, Dir::kToServer, ctx);
      d.tunnel = Tunnel::kNone;
      d.http = HttpDirState{};
      d.http.index = index;
      if (replay.len > 0) {
        size_t rest = 0;
        bool no = false;
        detail::http_feed(d, {replay.bytes, replay.len}, ctx, no, rest);
      }
      bytes = bytes.subspan(resume);
      continue;
    }
    size_t rest = bytes.size();
    if (!detail::http_feed(d, bytes, ctx, tentative, rest)) return false;
    if (rest >= bytes.size()) return true;
    const auto kind = static_cast<Tunnel>(d.http.tunnel_kind & 0x7f);
    const bool after_pri = (d.http.tunnel_kind & 0x80) != 0;
    detail::release_buffer(d, ctx);
    detail::tunnel_begin(d, kind, d.http.index, !after_pri);
    bytes = bytes.subspan(rest);
  }
  return true;
}

}  // namespace

AppProtocol feed_tcp(AppFlowState& st, Dir dir, uint16_t server_port, std::span<const uint8_t> bytes,
                     AppContext& ctx) noexcept {
  if (st.detect == kNone) {
    // Not a protocol we parse: everything is inspected as sent.
    raw(ctx, dir, bytes);
    return AppProtocol::kUnknown;
  }
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
      raw(ctx, dir, bytes);
      return AppProtocol::kUnknown;
    } else if (bytes[0] == 0x16) {
      st.proto = AppProtocol::kTls;
      st.detect = kTentative;
      st.dir[0].tls = TlsDirState{};
      st.dir[1].tls = TlsDirState{};
    } else if (is_upper(bytes[0])) {
      st.proto = AppProtocol::kHttp;
      st.detect = kTentative;
      st.dir[0].http = HttpDirState{};
    } else {
      give_up(st, ctx);
      raw(ctx, dir, bytes);
      return AppProtocol::kUnknown;
    }
  }

  switch (st.proto) {
    case AppProtocol::kDns:
      // The names are metadata; the messages are content as sent.
      detail::dns_tcp_feed(side(st, dir), bytes, ctx);
      raw(ctx, dir, bytes);
      break;
    case AppProtocol::kTls: {
      // Both directions are de-framed (record payloads inspected); the
      // ClientHello is parsed from the client's bytes.
      if (dir == Dir::kToServer) {
        bool tentative = st.detect == kTentative;
        if (!detail::tls_feed(st.dir[0], bytes, ctx, tentative)) {
          give_up_tentative(st, dir, bytes, ctx);
          return AppProtocol::kUnknown;
        }
        if (!tentative) st.detect = kDecided;
      }
      detail::tls_records_feed(side(st, dir), dir, bytes, ctx);
      break;
    }
    case AppProtocol::kHttp: {
      // Requests are parsed; responses are inspected as sent, unless the
      // server's direction switched protocols too.
      if (dir != Dir::kToServer) {
        raw(ctx, dir, bytes);
        break;
      }
      bool tentative = st.detect == kTentative;
      if (!http_to_server(st, bytes, ctx, tentative)) {
        give_up_tentative(st, dir, bytes, ctx);
        return AppProtocol::kUnknown;
      }
      if (!tentative) st.detect = kDecided;
      break;
    }
    case AppProtocol::kUnknown:
      raw(ctx, dir, bytes);
      break;
  }
  return st.detect == kDecided ? st.proto : AppProtocol::kUnknown;
}

void on_gap(AppFlowState& st, Dir dir, AppContext& ctx) noexcept {
  switch (st.detect) {
    case kFresh:
    case kTentative:
      // A stream that starts or continues after missing bytes cannot be
      // identified reliably: stop rather than guess (what a tentative parser
      // held back is still content).
      if (st.detect == kTentative)
        give_up_tentative(st, dir, {}, ctx);
      else
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
      // Record boundaries are lost with the bytes: the rest is raw.
      side(st, dir).tls.records.raw = 1;
      break;
    case AppProtocol::kHttp:
      if (dir != Dir::kToServer) break;
      if (st.dir[0].tunnel != Tunnel::kNone)
        detail::tunnel_gap(st.dir[0], dir, ctx);
      else
        detail::http_gap(st.dir[0], ctx);
      break;
    case AppProtocol::kUnknown:
      break;
  }
}

void close(AppFlowState& st, AppContext& ctx) noexcept {
  if (st.detect == kDecided && st.proto == AppProtocol::kHttp && st.dir[0].tunnel == Tunnel::kNone) {
    detail::http_close(st.dir[0], ctx);
  }
  // Whatever is still held back is content too.
  if (st.detect != kNone) {
    for (uint8_t k = 0; k < 2; ++k) {
      const Dir dir = k == 0 ? Dir::kToServer : Dir::kToClient;
      if (st.proto == AppProtocol::kTls) raw(ctx, dir, detail::tls_records_held(st.dir[k]));
      detail::aside_end(st.dir[k], dir, ctx);
    }
    if (st.detect == kTentative && st.proto == AppProtocol::kHttp && st.dir[0].buf_slot != 0) {
      raw(ctx, Dir::kToServer, {ctx.pool->get(st.dir[0].buf_slot - 1).data(), st.dir[0].buf_len});
    }
  }
  reset(st, ctx);
}

void reset(AppFlowState& st, AppContext& ctx) noexcept {
  detail::release_buffer(st.dir[0], ctx);
  detail::release_buffer(st.dir[1], ctx);
  st = AppFlowState{};
}

AppProtocol feed_udp(Dir /*dir*/, uint16_t src_port, uint16_t dst_port, std::span<const uint8_t> payload,
                     AppContext& ctx) noexcept {
  if (is_dns_port(src_port) || is_dns_port(dst_port)) {
    detail::dns_parse_message(payload, ctx);
    return AppProtocol::kDns;
  }
  // HTTP over UDP (SSDP M-SEARCH / NOTIFY, UPnP 1.1): one request per
  // datagram, parsed like the first request of a TCP stream.
  if (!udp_may_carry_app(src_port, dst_port, payload)) return AppProtocol::kUnknown;
  AppDirState d{};
  d.http = HttpDirState{};
  bool tentative = true;
  size_t rest = 0;
  const bool ok = detail::http_feed(d, payload, ctx, tentative, rest);
  if (ok && !tentative) detail::http_close(d, ctx);
  detail::release_buffer(d, ctx);
  return ok && !tentative ? AppProtocol::kHttp : AppProtocol::kUnknown;
}

}  // namespace ftz::engine::app
