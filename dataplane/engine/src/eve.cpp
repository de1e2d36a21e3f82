#include "ftz/engine/eve.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <utility>

#include "ftz/base/civil_date.hpp"
#include "ftz/engine/output_masking.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::engine {

namespace {

void append_json_escaped(std::string& out, std::string_view s);

std::string_view proto_name(uint8_t p) noexcept {
  switch (p) {
    case 6:
      return "TCP";
    case 17:
      return "UDP";
    case 1:
      return "ICMP";
    case 58:
      return "IPv6-ICMP";
    default:
      return "";
  }
}

// EVE's flow.reason: Suricata ends a flow by its timeouts (a closed TCP
// flow too, at its closed timeout), by force (eviction, a new connection on
// the tuple) or at shutdown. ftz.flow.reason keeps ours.
std::string_view eve_end_reason(FlowEndReason r) noexcept {
  switch (r) {
    case FlowEndReason::kTimeout:
    case FlowEndReason::kClosed:
      return "timeout";
    case FlowEndReason::kEvicted:
    case FlowEndReason::kReplaced:
      return "forced";
    case FlowEndReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

// EVE's flow.state: TCP by its handshake and close; other protocols
// established once the server answered.
std::string_view eve_flow_state(const FlowEventData& f, uint8_t proto) noexcept {
  if (proto != 6) return f.pkts_toclient > 0 ? "established" : "new";
  switch (static_cast<TcpState>(f.tcp_state)) {
    case TcpState::kEstablished:
    case TcpState::kClosing:
      return "established";
    case TcpState::kClosed:
      return "closed";
    default:
      return "new";
  }
}

// EVE's dns.rrtype: the type's mnemonic, or its number as a string.
std::string eve_rrtype(uint16_t t) {
  static constexpr std::array<std::pair<uint16_t, std::string_view>, 34> kNames = {{
      {1, "A"},     {2, "NS"},     {5, "CNAME"},  {6, "SOA"},    {10, "NULL"},   {12, "PTR"},   {13, "HINFO"},
      {15, "MX"},   {16, "TXT"},   {17, "RP"},    {18, "AFSDB"}, {24, "SIG"},    {25, "KEY"},   {28, "AAAA"},
      {29, "LOC"},  {33, "SRV"},   {35, "NAPTR"}, {36, "KX"},    {37, "CERT"},   {39, "DNAME"}, {41, "OPT"},
      {43, "DS"},   {44, "SSHFP"}, {46, "RRSIG"}, {47, "NSEC"},  {48, "DNSKEY"}, {50, "NSEC3"}, {52, "TLSA"},
      {64, "SVCB"}, {65, "HTTPS"}, {99, "SPF"},   {255, "ANY"},  {256, "URI"},   {257, "CAA"},
  }};
  for (const auto& [n, name] : kNames)
    if (n == t) return std::string(name);
  return std::to_string(t);
}

std::string_view end_reason_name(FlowEndReason r) noexcept {
  switch (r) {
    case FlowEndReason::kTimeout:
      return "timeout";
    case FlowEndReason::kClosed:
      return "closed";
    case FlowEndReason::kEvicted:
      return "evicted";
    case FlowEndReason::kShutdown:
      return "shutdown";
    case FlowEndReason::kReplaced:
      return "replaced";
  }
  return "";
}

// A string from the wire, the configuration or a file: masked (every such
// value goes through append_json_string).
void kv(std::string& out, std::string_view key, std::string_view value) {
  append_json_escaped(out, key);
  out += ':';
  append_json_string(out, value);
}

// A value this file formats itself from numbers or fixed names (addresses,
// times, the alert token, enum names): nothing to mask, and masking could
// only damage it (a hex token made of digits may look like a card number).
void kv_plain(std::string& out, std::string_view key, std::string_view value) {
  append_json_escaped(out, key);
  out += ':';
  append_json_escaped(out, value);
}

void kv_num(std::string& out, std::string_view key, uint64_t value) {
  append_json_escaped(out, key);
  out += ':';
  out += std::to_string(value);
}

template <size_t N>
void kv_fixed(std::string& out, std::string_view key, const FixedString<N>& s) {
  kv(out, key, s.view());
}

}  // namespace

std::string_view action_name(Action a) noexcept {
  switch (a) {
    case Action::kAllow:
      return "allow";
    case Action::kRoute:
      return "route";
    case Action::kBlock:
      return "block";
    case Action::kReset:
      return "reset";
  }
  return "";
}

std::string_view data_class_name(DataClass c) noexcept {
  switch (c) {
    case DataClass::kPi:
      return "pi";
    case DataClass::kSensitivePi:
      return "sensitive_pi";
    case DataClass::kImportant:
      return "important";
    case DataClass::kCore:
      return "core";
    case DataClass::kOrgId:
      return "org_id";
    default:
      return "";
  }
}

std::string_view app_proto_name(AppProto a) noexcept {
  switch (a) {
    case AppProto::kHttp:
      return "http";
    case AppProto::kTls:
      return "tls";
    case AppProto::kDns:
      return "dns";
    default:
      return "failed";
  }
}

// Length of the valid UTF-8 sequence starting at s[i], 0 if invalid.
static size_t utf8_sequence(std::string_view s, size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t min = 0;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    min = 0x80;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    min = 0x800;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = b0 & (0x7fu >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

void append_json_string(std::string& out, std::string_view s) {
  // Masked before escaping: an escape ("\n" before digits) would otherwise
  // put a letter where the boundary rule expects none. The scratch string
  // keeps its capacity: no allocation per string once warm.
  thread_local std::string scratch;
  scratch.assign(s);
  mask_in_place(scratch);
  append_json_escaped(out, scratch);
}

std::string json_text(std::string_view s) {
  std::string masked = masked_text(s);
  std::string out;
  out.reserve(masked.size());
  for (size_t i = 0; i < masked.size(); ++i) {
    const auto c = static_cast<unsigned char>(masked[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const size_t n = utf8_sequence(masked, i); n > 0) {
      out.append(masked, i, n);
      i += n - 1;
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

namespace {

void append_json_escaped(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x80) {
          // Valid UTF-8 passes through; a stray byte from the wire becomes
          // \u00XX so the line stays valid JSON.
          if (const size_t n = utf8_sequence(s, i); n > 0) {
            out.append(s.substr(i, n));
            i += n - 1;
            break;
          }
        }
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace

std::string format_eve_timestamp(int64_t ts_ns) {
  constexpr int64_t kNsPerSecond = 1'000'000'000;
  const int64_t unix_s = civil::floor_div(ts_ns, kNsPerSecond);
  const int64_t us = ((ts_ns % kNsPerSecond) + kNsPerSecond) % kNsPerSecond / 1000;
  const int64_t day = civil::shanghai_day(unix_s);
  const int64_t secs = unix_s + civil::kShanghaiOffsetSeconds - day * civil::kSecondsPerDay;
  const civil::Date date = civil::civil_from_days(day);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06d+0800", static_cast<int>(date.year),
                date.month, date.day, static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                static_cast<int>(secs % 60), static_cast<int>(us));
  return buf;
}

namespace {

// EVE's alert object: what was decided and which signature.
void append_alert_object(std::string& out, Action verdict, uint64_t sid, std::string_view signature,
                         DataClass category) {
  out += ",\"alert\":{";
  kv_plain(out, "action", verdict >= Action::kBlock ? "blocked" : "allowed");
  out += ",\"gid\":1,";
  kv_num(out, "signature_id", sid);
  out += ",\"rev\":1,";
  kv(out, "signature", signature);
  out += ',';
  kv_plain(out, "category", data_class_name(category));
  out += ',';
  kv_num(out, "severity", category == DataClass::kPi || category == DataClass::kOrgId ? 2 : 1);
  out += '}';
}

void append_addresses(std::string& out, std::string_view src_ip, uint16_t src_port, std::string_view dest_ip,
                      uint16_t dest_port, uint8_t proto) {
  out += ',';
  kv_plain(out, "src_ip", src_ip);
  if (proto == 6 || proto == 17) {
    out += ',';
    kv_num(out, "src_port", src_port);
  }
  out += ',';
  kv_plain(out, "dest_ip", dest_ip);
  if (proto == 6 || proto == 17) {
    out += ',';
    kv_num(out, "dest_port", dest_port);
  }
  out += ',';
  if (const std::string_view pn = proto_name(proto); !pn.empty()) {
    kv_plain(out, "proto", pn);
  } else {
    kv_plain(out, "proto", std::to_string(proto));
  }
}

// What ftzgate adds to an event type's EVE object, under ftz (docs/eve.md):
// ftz.flow, ftz.tls, ftz.http, ftz.match.
void append_ftz_details(const Event& e, std::string& out) {
  switch (e.type) {
    case EventType::kFlow: {
      const FlowEventData& f = e.flow;
      out += ",\"flow\":{";
      kv_plain(out, "reason", end_reason_name(f.reason));
      if (e.proto == 6) {
        out += ",\"tcp_gaps\":" + std::to_string(f.gaps);
        out += ",\"tcp_overlap_conflicts\":" + std::to_string(f.conflicts);
      }
      out += '}';
      break;
    }
    case EventType::kTls: {
      // The ClientHello's highest version (EVE's tls.version is the
      // server's), in Suricata's names.
      std::string_view name;
      switch (e.tls.version) {
        case 0:
          name = "UNDETERMINED";
          break;
        case 0x0300:
          name = "SSLv3";
          break;
        case 0x0301:
          name = "TLSv1";
          break;
        case 0x0302:
          name = "TLS 1.1";
          break;
        case 0x0303:
          name = "TLS 1.2";
          break;
        case 0x0304:
          name = "TLS 1.3";
          break;
        default:
          break;
      }
      out += ",\"tls\":{";
      if (name.empty()) {
        char v[16];
        std::snprintf(v, sizeof v, "0x%04x", e.tls.version);
        kv_plain(out, "client_version", v);
      } else {
        kv_plain(out, "client_version", name);
      }
      out += '}';
      break;
    }
    case EventType::kHttp: {
      const HttpEventData& h = e.http;
      // EVE's http.length is the response's; this is the request's.
      if (!h.has_length && !h.chunked && !h.url.truncated) break;
      out += ",\"http\":{";
      bool first = true;
      const auto sep = [&] {
        if (!first) out += ',';
        first = false;
      };
      if (h.has_length) {
        sep();
        kv_num(out, "request_length", h.length);
      }
      if (h.chunked) {
        sep();
        out += "\"chunked\":true";
      }
      if (h.url.truncated) {
        sep();
        out += "\"url_truncated\":true";
      }
      out += '}';
      break;
    }
    case EventType::kAlert: {
      const AlertEventData& a = e.alert;
      out += ",\"match\":{";
      kv_fixed(out, "masked", a.masked);
      char tok[24];
      std::snprintf(tok, sizeof tok, "%016llx", static_cast<unsigned long long>(a.token));
      out += ',';
      kv_plain(out, "token", tok);
      if (a.minor) out += ",\"minor\":true";
      out += ',';
      kv_num(out, "stream_offset", a.stream_offset);
      out += '}';
      break;
    }
    case EventType::kDns:
      break;
  }
}

}  // namespace

void format_eve(const Event& e, const PolicyGeneration& gen, std::string& out) {
  out += '{';
  kv_plain(out, "timestamp", format_eve_timestamp(e.ts_ns));
  out += ',';
  kv_num(out, "flow_id", e.flow_id);
  out += ',';
  std::string_view type;
  switch (e.type) {
    case EventType::kFlow:
      type = "flow";
      break;
    case EventType::kTls:
      type = "tls";
      break;
    case EventType::kHttp:
      type = "http";
      break;
    case EventType::kDns:
      type = "dns";
      break;
    case EventType::kAlert:
      type = "alert";
      break;
  }
  kv_plain(out, "event_type", type);
  if (e.vlan_count > 0) {
    out += ",\"vlan\":[";
    for (uint8_t i = 0; i < e.vlan_count; ++i) {
      if (i) out += ',';
      out += std::to_string(e.vlan[i]);
    }
    out += ']';
  }
  append_addresses(out, format_ip(e.src), e.src_port, format_ip(e.dst), e.dst_port, e.proto);
  // EVE puts an alert's direction at the top level.
  if (e.type == EventType::kAlert) {
    out += ',';
    kv_plain(out, "direction", e.alert.to_server ? "to_server" : "to_client");
  }
  switch (e.type) {
    case EventType::kFlow: {
      const FlowEventData& f = e.flow;
      out += ",\"app_proto\":";
      append_json_escaped(out, app_proto_name(static_cast<AppProto>(f.app)));
      out += ",\"flow\":{";
      kv_num(out, "pkts_toserver", f.pkts_toserver);
      out += ',';
      kv_num(out, "pkts_toclient", f.pkts_toclient);
      out += ',';
      kv_num(out, "bytes_toserver", f.bytes_toserver);
      out += ',';
      kv_num(out, "bytes_toclient", f.bytes_toclient);
      out += ',';
      kv_plain(out, "start", format_eve_timestamp(f.start_ns));
      out += ',';
      kv_plain(out, "end", format_eve_timestamp(f.end_ns));
      out += ',';
      kv_num(out, "age", static_cast<uint64_t>(std::max<int64_t>(f.end_ns - f.start_ns, 0) / 1'000'000'000));
      out += ',';
      kv_plain(out, "state", eve_flow_state(f, e.proto));
      out += ',';
      kv_plain(out, "reason", eve_end_reason(f.reason));
      out += '}';
      break;
    }
    case EventType::kTls: {
      out += ",\"tls\":{";
      kv_fixed(out, "sni", e.tls.sni);
      if (e.tls.alpn_count > 0) {
        out += ",\"client_alpns\":[";
        for (uint8_t i = 0; i < e.tls.alpn_count; ++i) {
          if (i) out += ',';
          append_json_string(out, e.tls.alpn[i].view());
        }
        out += ']';
      }
      out += '}';
      break;
    }
    case EventType::kHttp: {
      const HttpEventData& h = e.http;
      out += ",\"http\":{";
      kv_fixed(out, "hostname", h.hostname);
      out += ',';
      kv_fixed(out, "url", h.url);
      out += ',';
      kv_fixed(out, "http_method", h.method);
      if (h.protocol.len > 0) {
        out += ',';
        kv_fixed(out, "protocol", h.protocol);
      }
      if (h.content_type.len > 0) {
        out += ',';
        kv_fixed(out, "http_content_type", h.content_type);
      }
      out += '}';
      break;
    }
    case EventType::kAlert: {
      const AlertEventData& a = e.alert;
      const auto& sigs = gen.spec().signatures;
      const SignatureSpec* sig = a.signature < sigs.size() ? &sigs[a.signature] : nullptr;
      append_alert_object(out, e.verdict.action, sig ? sig->sid : 0,
                          sig ? std::string_view(sig->name) : std::string_view{}, a.category);
      break;
    }
    case EventType::kDns: {
      out += ",\"dns\":{";
      kv_plain(out, "type", e.dns.is_response ? "answer" : "query");
      out += ',';
      kv_num(out, "id", e.dns.id);
      out += ',';
      kv_fixed(out, "rrname", e.dns.rrname);
      out += ',';
      kv_plain(out, "rrtype", eve_rrtype(e.dns.rrtype));
      // The EVE DNS format these events follow (Suricata's version 2).
      out += ",\"version\":2}";
      break;
    }
  }
  out += ",\"ftz\":{";
  kv(out, "src_zone", gen.zone_name(e.src_zone));
  out += ',';
  kv(out, "dest_zone", gen.zone_name(e.dst_zone));
  out += ',';
  if (e.tenant != kNoIndex) {
    kv(out, "tenant", gen.tenant_name(e.tenant));
    out += ',';
  }
  kv_plain(out, "verdict", action_name(e.verdict.action));
  if (e.verdict.action == Action::kRoute && e.verdict.channel < gen.spec().channels.size()) {
    out += ',';
    kv(out, "channel", gen.spec().channels[e.verdict.channel].name);
  }
  out += ',';
  kv(out, "rule", e.rule == kNoIndex ? std::string_view("default") : gen.rule_name(e.rule));
  if (e.verdict.alert) out += ",\"alert\":true";
  if (e.verdict.mirror) out += ",\"mirror\":true";
  out += e.is_export ? ",\"export\":true" : ",\"export\":false";
  out += e.inspected ? ",\"inspected\":true" : ",\"inspected\":false";
  if (e.kernel) out += ",\"decided_in\":\"kernel\"";
  append_ftz_details(e, out);
  if (e.type == EventType::kFlow) {
    const FlowDetections& d = e.flow.detections;
    const auto& sigs = gen.spec().signatures;
    out += ",\"detections\":{";
    for (uint8_t i = 0; i < d.kinds; ++i) {
      if (i) out += ',';
      // Signature names come from the configuration: masked like any string.
      append_json_string(
          out, d.signature[i] < sigs.size() ? std::string_view(sigs[d.signature[i]].name) : "unknown");
      out += ':' + std::to_string(d.count[i]);
    }
    out += "},\"classes\":{";
    bool first = true;
    for (int c = 0; c < static_cast<int>(DataClass::kCount); ++c) {
      if (d.per_class[c] == 0) continue;
      if (!first) out += ',';
      first = false;
      kv_num(out, data_class_name(static_cast<DataClass>(c)), d.per_class[c]);
    }
    out += '}';
    out += ",\"distinct_identifiers\":" + std::to_string(d.distinct);
    if (d.uninspectable != 0) {
      // Why the record says "inspected": false (docs/eve.md).
      out += ",\"uninspectable\":[";
      bool first_reason = true;
      for (int r = 0; r < static_cast<int>(UninspectableReason::kCount); ++r) {
        if (!(d.uninspectable & (1u << r))) continue;
        if (!first_reason) out += ',';
        first_reason = false;
        out += '"';
        out += uninspectable_reason_name(static_cast<UninspectableReason>(r));
        out += '"';
      }
      out += ']';
    }
    if (e.flow.fail_closed) out += ",\"fail_closed\":true";
    if (e.flow.midstream) out += ",\"midstream\":true";
  }
  out += ',';
  kv_num(out, "generation", e.generation);
  out += "}}";
}

void format_eve_alert_record(const AlertRecordFields& a, std::string& out) {
  out += '{';
  kv_plain(out, "timestamp", format_eve_timestamp(a.ts_ns));
  out += ',';
  kv_num(out, "flow_id", a.flow_id);
  out += ",\"event_type\":\"alert\"";
  append_addresses(out, a.src_ip, a.src_port, a.dest_ip, a.dest_port, a.proto);
  out += ',';
  kv_plain(out, "direction", a.to_server ? "to_server" : "to_client");
  append_alert_object(out, a.verdict, a.signature_id, a.signature, a.data_class);
  out += ",\"ftz\":{";
  kv(out, "src_zone", a.src_zone);
  out += ',';
  kv(out, "dest_zone", a.dest_zone);
  if (!a.tenant.empty()) {
    out += ',';
    kv(out, "tenant", a.tenant);
  }
  out += ',';
  kv_plain(out, "verdict", action_name(a.verdict));
  out += ',';
  kv(out, "rule", a.rule);
  out += ",\"alert\":true,\"match\":{";
  kv(out, "masked", a.masked);
  out += ',';
  kv_num(out, "stream_offset", a.stream_offset);
  out += "},";
  kv(out, "dataplane", a.dataplane);
  out += "}}";
}

}  // namespace ftz::engine
