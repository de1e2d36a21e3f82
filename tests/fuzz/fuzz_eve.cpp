// libFuzzer target: EVE output parsed back as JSON. The fuzzer fills every
// field of an engine Event the way a worker could (any bytes from the wire in
// the strings, any numbers, every event type, action, end reason and data
// class, indices into the generation or kNoIndex) and a compliance notice of
// ftzgate-inspect; each must format to one strict JSON object (valid UTF-8,
// no duplicate key, no raw line break) with the fields a SIEM keys on.
// fuzz_packet, fuzz_worker_content and fuzz_pcap check the events the engine
// really produced the same way.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace ftz::engine;

std::shared_ptr<const PolicyGeneration> generation() {
  static const auto gen = [] {
    PolicySpec s;
    s.name = "fuzz-eve";
    for (const char* z : {"lingang-ftz", "domestic", "hk", "offshore"}) {
      ZoneSpec zone;
      zone.name = z;
      s.zones.push_back(zone);
    }
    s.zones[0].kind = ZoneKind::kFtz;
    s.zones[0].prefixes = {*parse_prefix("10.60.0.0/16")};
    s.default_zone = 3;
    for (const char* t : {"pacific-re", "unregistered@lingang-ftz"}) {
      TenantSpec tenant;
      tenant.name = t;
      tenant.zone = 0;
      s.tenants.push_back(tenant);
    }
    ChannelSpec channel;
    channel.name = "intl-channel";
    s.channels = {channel};
    for (const char* r : {"domestic-fast-path", "core-data", "bulk-identifiers-unapproved"}) {
      RuleSpec rule;
      rule.name = r;
      s.rules.push_back(rule);
    }
    for (const char* n : {"cn_resident_id", "cn_mobile", "bank_card_unionpay"}) {
      SignatureSpec sig;
      sig.name = n;
      sig.sid = 9100001 + static_cast<uint32_t>(s.signatures.size());
      s.signatures.push_back(sig);
    }
    return PolicyGeneration::build(std::move(s), 7);
  }();
  return gen;
}

template <size_t N>
void fill(FuzzedDataProvider& in, FixedString<N>& s) {
  s.assign(in.ConsumeRandomLengthString(N + 8));
}

uint32_t index_or_none(FuzzedDataProvider& in, size_t count) {
  const uint32_t v = in.ConsumeIntegralInRange<uint32_t>(0, static_cast<uint32_t>(count));
  return v == count ? kNoIndex : v;
}

IpAddr address(FuzzedDataProvider& in) {
  IpAddr a;
  if (in.ConsumeBool()) return IpAddr::v4(in.ConsumeIntegral<uint32_t>());
  for (auto& b : a.bytes) b = in.ConsumeIntegral<uint8_t>();
  return a;
}

Event event(FuzzedDataProvider& in, const PolicyGeneration& gen) {
  Event e;
  e.type = static_cast<EventType>(in.ConsumeIntegralInRange<int>(0, 4));
  // Packet time: pcap, pcapng and the TSC clock give any non-negative value.
  e.ts_ns = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
  e.flow_id = in.ConsumeIntegral<uint64_t>();
  e.generation = in.ConsumeIntegral<uint64_t>();
  e.src = address(in);
  e.dst = address(in);
  e.src_port = in.ConsumeIntegral<uint16_t>();
  e.dst_port = in.ConsumeIntegral<uint16_t>();
  e.proto = in.ConsumeIntegral<uint8_t>();
  e.vlan_count = in.ConsumeIntegralInRange<uint8_t>(0, 2);
  e.vlan[0] = in.ConsumeIntegral<uint16_t>() & 0x0fff;
  e.vlan[1] = in.ConsumeIntegral<uint16_t>() & 0x0fff;
  e.src_zone = index_or_none(in, gen.zone_count());
  e.dst_zone = index_or_none(in, gen.zone_count());
  e.tenant = index_or_none(in, gen.spec().tenants.size());
  e.verdict.action = static_cast<Action>(in.ConsumeIntegralInRange<int>(0, 3));
  e.verdict.channel = index_or_none(in, gen.spec().channels.size());
  e.verdict.alert = in.ConsumeBool();
  e.verdict.mirror = in.ConsumeBool();
  e.rule = index_or_none(in, gen.spec().rules.size());
  e.inspected = in.ConsumeBool();
  e.kernel = in.ConsumeBool();
  const size_t sigs = gen.spec().signatures.size();
  switch (e.type) {
    case EventType::kFlow: {
      FlowEventData& f = e.flow;
      f.pkts_toserver = in.ConsumeIntegral<uint64_t>();
      f.pkts_toclient = in.ConsumeIntegral<uint64_t>();
      f.bytes_toserver = in.ConsumeIntegral<uint64_t>();
      f.bytes_toclient = in.ConsumeIntegral<uint64_t>();
      f.start_ns = in.ConsumeIntegralInRange<int64_t>(0, e.ts_ns);
      f.end_ns = in.ConsumeIntegralInRange<int64_t>(f.start_ns, e.ts_ns);
      f.reason = static_cast<FlowEndReason>(in.ConsumeIntegralInRange<int>(0, 4));
      f.tcp_state = in.ConsumeIntegral<uint8_t>();
      f.app = in.ConsumeIntegralInRange<uint8_t>(0, static_cast<uint8_t>(AppProto::kCount) - 1);
      f.gaps = in.ConsumeIntegral<uint32_t>();
      f.conflicts = in.ConsumeIntegral<uint32_t>();
      FlowDetections& d = f.detections;
      // One entry per signature of the generation (the worker keeps them
      // distinct), possibly fewer.
      d.kinds = in.ConsumeIntegralInRange<uint8_t>(0, static_cast<uint8_t>(sigs));
      for (uint8_t i = 0; i < d.kinds; ++i) {
        d.signature[i] = i;
        d.count[i] = in.ConsumeIntegral<uint32_t>();
      }
      for (auto& c : d.per_class) c = in.ConsumeIntegral<uint32_t>();
      d.distinct = in.ConsumeIntegral<uint32_t>();
      d.uninspectable = in.ConsumeBool();
      break;
    }
    case EventType::kTls: {
      fill(in, e.tls.sni);
      e.tls.alpn_count = in.ConsumeIntegralInRange<uint8_t>(0, 4);
      for (uint8_t i = 0; i < e.tls.alpn_count; ++i) fill(in, e.tls.alpn[i]);
      e.tls.version = in.ConsumeIntegral<uint16_t>();
      break;
    }
    case EventType::kHttp: {
      HttpEventData& h = e.http;
      fill(in, h.method);
      fill(in, h.hostname);
      fill(in, h.protocol);
      fill(in, h.content_type);
      h.length = in.ConsumeIntegral<uint64_t>();
      h.has_length = in.ConsumeBool();
      h.chunked = in.ConsumeBool();
      fill(in, h.url);
      break;
    }
    case EventType::kDns: {
      e.dns.rrtype = in.ConsumeIntegral<uint16_t>();
      e.dns.id = in.ConsumeIntegral<uint16_t>();
      e.dns.is_response = in.ConsumeBool();
      fill(in, e.dns.rrname);
      break;
    }
    case EventType::kAlert: {
      AlertEventData& a = e.alert;
      a.signature = static_cast<uint16_t>(in.ConsumeIntegralInRange<size_t>(0, sigs - 1));
      a.category =
          static_cast<DataClass>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(DataClass::kCount) - 1));
      a.minor = in.ConsumeBool();
      a.token = in.ConsumeIntegral<uint64_t>();
      a.stream_offset = in.ConsumeIntegral<uint64_t>();
      a.to_server = in.ConsumeBool();
      fill(in, a.masked);
      break;
    }
  }
  return e;
}

const char* type_name(EventType t) {
  switch (t) {
    case EventType::kFlow:
      return "flow";
    case EventType::kTls:
      return "tls";
    case EventType::kHttp:
      return "http";
    case EventType::kDns:
      return "dns";
    case EventType::kAlert:
      return "alert";
  }
  return "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const auto gen = generation();
  const int kind = in.ConsumeIntegralInRange<int>(0, 2);
  if (kind == 2) {
    // An alert record as a data plane sent it to ftzgated (untrusted
    // strings), as ftzgated's syslog export writes it.
    std::string strings[9];
    for (std::string& x : strings) x = in.ConsumeRandomLengthString(80);
    AlertRecordFields a;
    a.ts_ns = in.ConsumeIntegral<int64_t>();
    a.flow_id = in.ConsumeIntegral<uint64_t>();
    a.src_ip = strings[0];
    a.dest_ip = strings[1];
    a.src_port = in.ConsumeIntegral<uint16_t>();
    a.dest_port = in.ConsumeIntegral<uint16_t>();
    a.proto = in.ConsumeIntegral<uint8_t>();
    a.to_server = in.ConsumeBool();
    a.verdict = static_cast<Action>(in.ConsumeIntegralInRange<int>(0, 3));
    a.signature_id = in.ConsumeIntegral<uint32_t>();
    a.signature = strings[2];
    a.data_class =
        static_cast<DataClass>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(DataClass::kCount) - 1));
    a.src_zone = strings[3];
    a.dest_zone = strings[4];
    a.tenant = strings[5];
    a.rule = strings[6];
    a.masked = strings[7];
    a.dataplane = strings[8];
    a.stream_offset = in.ConsumeIntegral<uint64_t>();
    std::string line;
    format_eve_alert_record(a, line);
    const nlohmann::json j = ftz::fuzz::parse_json_line(line);
    if (j.value("event_type", "") != "alert" || !j.contains("alert") || !j["ftz"].is_object())
      ftz::fuzz::fail("an alert record is not an alert event", line);
    if (j["ftz"]["match"].contains("token")) ftz::fuzz::fail("an alert record with a token", line);
  } else if (kind == 1) {
    const Event e = event(in, *gen);
    std::string line;
    format_eve(e, *gen, line);
    const nlohmann::json j = ftz::fuzz::parse_json_line(line);
    const char* type = type_name(e.type);
    if (j.value("event_type", "") != type) ftz::fuzz::fail("event_type is not the event's type", line);
    if (!j.contains("timestamp") || !j["timestamp"].is_string() || !j.contains("ftz") ||
        !j["ftz"].is_object())
      ftz::fuzz::fail("an event without timestamp or ftz object", line);
    if (!j.contains(type)) ftz::fuzz::fail("an event without its type's object", line);
    if (j["ftz"].value("verdict", "") != action_name(e.verdict.action)) ftz::fuzz::fail("verdict lost", line);
  } else {
    ftz::report::ComplianceNotice n;
    n.kind = in.ConsumeRandomLengthString(32);
    n.ts_ns = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
    n.tenant = in.ConsumeRandomLengthString(80);
    n.threshold = in.ConsumeRandomLengthString(80);
    n.mechanism = in.ConsumeRandomLengthString(200);
    n.data_class =
        static_cast<DataClass>(in.ConsumeIntegralInRange<int>(0, static_cast<int>(DataClass::kCount) - 1));
    n.percent = in.ConsumeIntegral<uint32_t>();
    n.individuals = in.ConsumeIntegral<uint64_t>();
    n.line = in.ConsumeIntegral<uint64_t>();
    n.approval_id = in.ConsumeRandomLengthString(80);
    const std::string line = ftz::report::format_notice_eve(n);
    const nlohmann::json j = ftz::fuzz::parse_json_line(line);
    if (j.value("event_type", "") != "ftz_compliance")
      ftz::fuzz::fail("a notice is not ftz_compliance", line);
  }
  return 0;
}
