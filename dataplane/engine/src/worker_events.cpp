#include <algorithm>
#include <cstring>
#include <string_view>

#include "ftz/engine/worker.hpp"
#include "worker_impl.hpp"

namespace ftz::engine {

namespace {

std::span<const uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

void Worker::write_flow_record(Flow& f, FlowEndReason why, int64_t now) noexcept {
  // Callers made sure of a place for the record (record_room / wait_room).
  if (Event* e = new_event(EventType::kFlow, f, now, false)) {
    e->flow = FlowEventData{};
    e->flow.pkts_toserver = f.pkts[kToServer];
    e->flow.pkts_toclient = f.pkts[kToClient];
    e->flow.bytes_toserver = f.bytes[kToServer];
    e->flow.bytes_toclient = f.bytes[kToClient];
    e->flow.start_ns = f.start_ns;
    e->flow.end_ns = f.last_ns;
    e->flow.reason = why;
    e->flow.tcp_state = static_cast<uint8_t>(f.tcp_state);
    e->flow.app = static_cast<uint8_t>(f.app);
    if (f.stream != kNil) {
      const Stream& st = streams_[f.stream];
      e->flow.gaps = st.tcp[0].gaps + st.tcp[1].gaps;
      e->flow.conflicts = st.conflicts;
    }
    e->flow.detections = f.content != kNil ? content_[f.content].det : FlowDetections{};
    e->flow.detections.uninspectable = f.uninspectable;
    e->flow.fail_closed = f.fail_closed;
    e->flow.midstream = f.midstream;
    commit_record(e);
  } else {
    ++counters_.records_lost;
  }
  ++flows_per_rule_[f.rule < gen_->spec().rules.size() ? f.rule : flows_per_rule_.size() - 1];
  ++counters_.flows_by_action[static_cast<uint32_t>(f.verdict.action)];
}

bool Worker::take_event_token(int64_t now) noexcept {
  if (limits_.events_per_second == 0) return true;
  if (now > event_refill_ns_) {
    event_tokens_ += static_cast<double>(now - event_refill_ns_) * 1e-9 * limits_.events_per_second;
    if (event_tokens_ > limits_.events_per_second) event_tokens_ = limits_.events_per_second;
    event_refill_ns_ = now;
  }
  if (event_tokens_ < 1.0) return false;
  event_tokens_ -= 1.0;
  return true;
}

bool Worker::record_room() const noexcept {
  return backlog_count_ < backlog_.size();
}

bool Worker::wait_room() const noexcept {
  // A burst's worth of slots stays for app events and alerts (half of a
  // queue smaller than two bursts, so that a flow can always end).
  const uint32_t keep = std::min(kBurstSize, events_.capacity() / 2);
  return backlog_count_ == 0 && events_.free_slots() > keep;
}

void Worker::commit_record(Event* e) noexcept {
  if (e >= backlog_.data() && e < backlog_.data() + backlog_.size()) {
    ++backlog_count_;
    ++counters_.records_backlogged;
  } else {
    events_.commit();
  }
}

void Worker::drain_backlog() noexcept {
  while (backlog_count_ > 0) {
    Event* slot = events_.try_reserve();
    if (slot == nullptr) return;
    *slot = backlog_[backlog_head_];
    events_.commit();
    backlog_head_ = (backlog_head_ + 1) % static_cast<uint32_t>(backlog_.size());
    --backlog_count_;
  }
}

Event* Worker::new_event(EventType type, const Flow& f, int64_t now, bool rate_limited) noexcept {
  if (rate_limited && !take_event_token(now)) {
    ++counters_.events_rate_limited;
    return nullptr;
  }
  Event* e = nullptr;
  if (type == EventType::kFlow) {
    // Flow records keep their order: the queue only while nothing waits in
    // the backlog, then the backlog's tail.
    if (backlog_count_ == 0) e = events_.try_reserve();
    if (e == nullptr && backlog_count_ < backlog_.size()) {
      e = &backlog_[(backlog_head_ + backlog_count_) % backlog_.size()];
    }
  } else {
    e = events_.reserve();
  }
  if (e == nullptr) return nullptr;
  e->type = type;
  e->ts_ns = now;
  e->flow_id = f.flow_id;
  e->generation = f.generation;
  const uint32_t idx = static_cast<uint32_t>(&f - flows_.data());
  const FlowKey& k = table_.key(idx);
  e->src = f.client_is_lo ? k.lo_addr : k.hi_addr;
  e->dst = f.client_is_lo ? k.hi_addr : k.lo_addr;
  e->src_port = f.client_is_lo ? k.lo_port : k.hi_port;
  e->dst_port = f.client_is_lo ? k.hi_port : k.lo_port;
  e->proto = k.proto;
  e->vlan[0] = k.vlan_outer;
  e->vlan[1] = k.vlan_inner;
  e->vlan_count = k.vlan_inner ? 2 : (k.vlan_outer ? 1 : 0);
  e->src_zone = f.client_zone;
  e->dst_zone = f.server_zone;
  e->tenant = f.tenant;
  e->verdict = f.verdict;
  e->rule = f.rule;
  e->is_export = f.inspect;
  e->inspected = wants_content(f) && f.uninspectable == 0;
  return e;
}

void Worker::set_server_name(Flow& f, std::string_view name) noexcept {
  // Kept in the flow's Stream slot (a datagram flow takes one here). A flow
  // decided for good at the header stage takes none: no rule can use it.
  Stream* st = stream_of(f);
  if (st == nullptr) return;
  if (name.size() > kServerNameTail) name = name.substr(name.size() - kServerNameTail);
  std::copy(name.begin(), name.end(), st->server_name);
  st->server_name_len = static_cast<uint8_t>(name.size());
}

void Worker::on_tls_client_hello(const FlowCall& c, const app::TlsClientHello& h) noexcept {
  Flow& f = c.f;
  f.app = AppProto::kTls;
  // Encrypted: the flow is uninspectable (`encrypted`), judged on zones,
  // tenant and SNI. Its record payloads are still scanned (the parsers hand
  // them over de-framed): plaintext wrapped into records for a colluding
  // server, the SNI and ALPN in the ClientHello, and whatever follows bytes
  // that are not TLS records.
  if (wants_content(f)) mark_uninspectable(f, UninspectableReason::kEncrypted);
  set_server_name(f, h.sni);
  judge(f, Stage::kApp, c.ts);
  if (Event* e = new_event(EventType::kTls, f, c.ts, true)) {
    e->tls = TlsEventData{};
    e->tls.sni.assign(h.sni);
    e->tls.alpn_count = h.alpn_count > 4 ? 4 : h.alpn_count;
    for (uint8_t i = 0; i < e->tls.alpn_count; ++i) e->tls.alpn[i].assign(h.alpn[i]);
    e->tls.version = h.max_supported_version ? h.max_supported_version : h.legacy_version;
    events_.commit();
  }
}

void Worker::on_http_request(const FlowCall& c, const app::HttpRequest& r) noexcept {
  Flow& f = c.f;
  f.app = AppProto::kHttp;
  if (f.stage == Stage::kHeader) {
    std::string_view host = r.host;
    // Host may carry a port ("example.com:8080"); IPv6 literals are bracketed.
    const size_t colon = host.rfind(':');
    if (colon != std::string_view::npos && host.find(']') == std::string_view::npos &&
        host.find(':') == colon) {
      host = host.substr(0, colon);
    }
    set_server_name(f, host);
    judge(f, Stage::kApp, c.ts);
  }
  if (wants_content(f)) {
    if (ContentState* cs = content_of(f)) {
      const std::string_view ct = r.content_type;
      auto has = [](std::string_view hay, std::string_view needle) {
        return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
                 return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b;
               }) != hay.end();
      };
      cs->body_kind = has(ct, "x-www-form-urlencoded") ? sig::ContentKind::kForm
                      : has(ct, "json")                ? sig::ContentKind::kJson
                      : has(ct, "csv")                 ? sig::ContentKind::kCsv
                                                       : sig::ContentKind::kRaw;
      set_body_codings(f, *cs, r.content_encoding);
      cs->body_start = true;
      if (f.proto != 17) {  // HTTP over UDP: the datagram is scanned whole (handle_udp)
        // The request line (query strings) and every header line (Cookie,
        // Referer, Host, custom headers) are content. The request line is
        // form-decoded ('+' is a space in a query), header lines are not.
        sig::ScanContext ctx = scan_context(c.ts);
        ctx.kind = sig::ContentKind::kForm;
        ctx.body_start = true;
        scan(c, kToServer, as_bytes(r.request_line), ctx);
        ctx.kind = sig::ContentKind::kRaw;
        ctx.body_start = false;
        scan(c, kToServer, as_bytes(r.header_lines), ctx);
      }
    }
  }
  if (Event* e = new_event(EventType::kHttp, f, c.ts, true)) {
    e->http = HttpEventData{};
    e->http.method.assign(r.method);
    e->http.hostname.assign(r.host);
    e->http.url.assign(r.uri);
    e->http.url.truncated = e->http.url.truncated || r.uri_truncated;
    e->http.protocol.assign(r.version);
    e->http.content_type.assign(r.content_type);
    e->http.length = r.content_length;
    e->http.has_length = r.has_content_length;
    e->http.chunked = r.chunked;
    events_.commit();
  }
}

void Worker::on_dns(const FlowCall& c, const app::DnsQuery& q) noexcept {
  Flow& f = c.f;
  f.app = AppProto::kDns;
  if (wants_content(f) && !q.qname.empty()) {
    // The message itself is scanned as sent (each label whole). An
    // identifier cut into two or three labels ("110105194912.31002x.example")
    // is whole again in the joined neighbours: "L1L2\nL1L2L3\nL2L3\n…".
    std::string_view labels[128];
    size_t count = 0;
    for (std::string_view rest = q.qname; !rest.empty() && count < std::size(labels);) {
      const size_t dot = rest.find('.');
      labels[count++] = rest.substr(0, dot);
      rest.remove_prefix(dot == std::string_view::npos ? rest.size() : dot + 1);
    }
    uint8_t joined[1024];
    size_t n = 0;
    for (size_t i = 0; i + 1 < count; ++i) {
      for (size_t k = 2; k <= 3 && i + k <= count; ++k) {
        size_t len = 1;
        for (size_t j = i; j < i + k; ++j) len += labels[j].size();
        if (n + len > sizeof joined) break;
        for (size_t j = i; j < i + k; ++j) {
          std::memcpy(joined + n, labels[j].data(), labels[j].size());
          n += labels[j].size();
        }
        joined[n++] = '\n';
      }
    }
    scan_aside(c, c.dir, std::span<const uint8_t>(joined, n));
  }
  if (Event* e = new_event(EventType::kDns, f, c.ts, true)) {
    e->dns = DnsEventData{};
    e->dns.rrname.assign(q.qname);
    e->dns.rrtype = q.qtype;
    e->dns.id = q.id;
    e->dns.is_response = q.is_response;
    events_.commit();
  }
}

}  // namespace ftz::engine
