// EVE formatting: Asia/Shanghai timestamps, JSON string escaping, and whole
// event lines compared byte for byte.
#include "ftz/engine/eve.hpp"

#include <gtest/gtest.h>

#include "engine_fixtures.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::engine {
namespace {

using namespace testing;

constexpr int64_t kSec = 1'000'000'000;
// 2026-03-02 01:00:00 UTC.
constexpr int64_t kT0 = 1772413200LL * kSec;

// The flow's end time: the event time, or FlowEventData::end_ns where the
// event carries one (the same value here, so both forms print alike).
template <typename T>
void set_flow_end(T& flow, int64_t ts) {
  if constexpr (requires { flow.end_ns; }) flow.end_ns = ts;
}

std::string json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(EveTest, TimestampIsShanghaiLocalTime) {
  EXPECT_EQ(format_eve_timestamp(kT0), "2026-03-02T09:00:00.000000+0800");
  EXPECT_EQ(format_eve_timestamp(kT0 + 123'456'789), "2026-03-02T09:00:00.123456+0800");
  // 16:00 UTC is already the next day in Shanghai.
  EXPECT_EQ(format_eve_timestamp(kT0 + 15 * 3600 * kSec), "2026-03-03T00:00:00.000000+0800");
  EXPECT_EQ(format_eve_timestamp(kT0 + 15 * 3600 * kSec - 1), "2026-03-02T23:59:59.999999+0800");
  EXPECT_EQ(format_eve_timestamp(0), "1970-01-01T08:00:00.000000+0800");
  EXPECT_EQ(format_eve_timestamp(-1), "1970-01-01T07:59:59.999999+0800");
  // Leap day: 2028-02-29 12:00 Shanghai.
  EXPECT_EQ(format_eve_timestamp(1835409600LL * kSec), "2028-02-29T12:00:00.000000+0800");
  // New year in Shanghai while still the old year in UTC.
  EXPECT_EQ(format_eve_timestamp(1798732800LL * kSec), "2027-01-01T00:00:00.000000+0800");
}

TEST(EveTest, JsonEscapesControlCharacters) {
  EXPECT_EQ(json("plain"), "\"plain\"");
  EXPECT_EQ(json("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(json(std::string_view("\x00\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
  EXPECT_EQ(json("\x7f"), "\"\\u007f\"");
  EXPECT_EQ(json("\b\f"), "\"\\u0008\\u000c\"");
  EXPECT_EQ(json(""), "\"\"");
}

TEST(EveTest, JsonKeepsValidUtf8AndEscapesStrayBytes) {
  EXPECT_EQ(json("\xe4\xb8\xad\xe5\x9b\xbd"), "\"\xe4\xb8\xad\xe5\x9b\xbd\"");  // 中国
  EXPECT_EQ(json("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");                  // U+1F600
  EXPECT_EQ(json("\xff"), "\"\\u00ff\"");
  EXPECT_EQ(json("a\xe4\xb8"), "\"a\\u00e4\\u00b8\"");           // cut sequence
  EXPECT_EQ(json("\xc0\xaf"), "\"\\u00c0\\u00af\"");             // overlong '/'
  EXPECT_EQ(json("\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\"");  // a surrogate
}

TEST(EveTest, NamesOfActionsAndApps) {
  EXPECT_EQ(action_name(Action::kAllow), "allow");
  EXPECT_EQ(action_name(Action::kRoute), "route");
  EXPECT_EQ(action_name(Action::kBlock), "block");
  EXPECT_EQ(action_name(Action::kReset), "reset");
  EXPECT_EQ(app_proto_name(AppProto::kTls), "tls");
  EXPECT_EQ(app_proto_name(AppProto::kUnknown), "failed");
}

class EveFormatTest : public ::testing::Test {
 protected:
  EveFormatTest() {
    PolicySpec s = zone_policy();
    ChannelSpec ch;
    ch.name = "intl-channel";
    s.channels = {ch};
    RuleSpec r;
    r.name = "route-acme";
    s.rules = {r};
    gen_ = PolicyGeneration::build(std::move(s), 3);
  }
  Event base(EventType t) const {
    Event e;
    e.type = t;
    e.ts_ns = kT0 + 500'000;
    e.flow_id = 123456789;
    e.generation = 3;
    e.src = ip("10.60.0.1");
    e.dst = ip("203.0.113.10");
    e.src_port = 40000;
    e.dst_port = 443;
    e.proto = 6;
    e.src_zone = kZoneFtz;
    e.dst_zone = kZoneOffshore;
    e.tenant = kTenantAcme;
    e.verdict.action = Action::kRoute;
    e.verdict.channel = 0;
    e.rule = 0;
    e.is_export = true;
    e.inspected = true;
    return e;
  }
  std::shared_ptr<const PolicyGeneration> gen_;
};

TEST_F(EveFormatTest, FlowEvent) {
  Event e = base(EventType::kFlow);
  e.vlan[0] = 10;
  e.vlan[1] = 20;
  e.vlan_count = 2;
  e.flow = FlowEventData{};
  e.flow.pkts_toserver = 6;
  e.flow.pkts_toclient = 4;
  e.flow.bytes_toserver = 700;
  e.flow.bytes_toclient = 3000;
  e.flow.start_ns = kT0;
  e.flow.reason = FlowEndReason::kClosed;
  e.flow.tcp_state = static_cast<uint8_t>(TcpState::kClosed);
  e.flow.app = static_cast<uint8_t>(AppProto::kTls);
  e.flow.gaps = 1;
  e.flow.conflicts = 2;
  set_flow_end(e.flow, e.ts_ns);
  e.verdict.alert = true;
  std::string out;
  format_eve(e, *gen_, out);
  EXPECT_EQ(
      out,
      "{\"timestamp\":\"2026-03-02T09:00:00.000500+0800\",\"flow_id\":123456789,\"event_type\":\"flow\","
      "\"vlan\":[10,20],\"src_ip\":\"10.60.0.1\",\"src_port\":40000,\"dest_ip\":\"203.0.113.10\","
      "\"dest_port\":443,\"proto\":\"TCP\",\"app_proto\":\"tls\",\"flow\":{\"pkts_toserver\":6,"
      "\"pkts_toclient\":4,\"bytes_toserver\":700,\"bytes_toclient\":3000,"
      "\"start\":\"2026-03-02T09:00:00.000000+0800\",\"end\":\"2026-03-02T09:00:00.000500+0800\","
      "\"age\":0,\"state\":\"closed\",\"reason\":\"timeout\"},\"ftz\":{\"src_zone\":\"ftz\","
      "\"dest_zone\":\"offshore\",\"tenant\":\"acme\",\"verdict\":\"route\",\"channel\":\"intl-channel\","
      "\"rule\":\"route-acme\",\"alert\":true,\"export\":true,\"inspected\":true,"
      "\"flow\":{\"reason\":\"closed\",\"tcp_gaps\":1,\"tcp_overlap_conflicts\":2},\"detections\":{},"
      "\"classes\":{},"
      "\"distinct_identifiers\":0,\"generation\":3}}");
}

TEST_F(EveFormatTest, HttpEventEscapesWireStrings) {
  Event e = base(EventType::kHttp);
  e.dst_port = 80;
  e.verdict.action = Action::kAllow;
  e.rule = kNoIndex;
  e.http = HttpEventData{};
  e.http.method.assign("GET");
  e.http.hostname.assign("www.example.com");
  e.http.url.assign("/a\"b\\c\x01");
  e.http.protocol.assign("HTTP/1.1");
  e.http.has_length = true;
  e.http.length = 12;
  std::string out;
  format_eve(e, *gen_, out);
  EXPECT_EQ(
      out,
      "{\"timestamp\":\"2026-03-02T09:00:00.000500+0800\",\"flow_id\":123456789,\"event_type\":\"http\","
      "\"src_ip\":\"10.60.0.1\",\"src_port\":40000,\"dest_ip\":\"203.0.113.10\",\"dest_port\":80,"
      "\"proto\":\"TCP\",\"http\":{\"hostname\":\"www.example.com\",\"url\":\"/a\\\"b\\\\c\\u0001\","
      "\"http_method\":\"GET\",\"protocol\":\"HTTP/1.1\"},\"ftz\":{\"src_zone\":\"ftz\","
      "\"dest_zone\":\"offshore\",\"tenant\":\"acme\",\"verdict\":\"allow\",\"rule\":\"default\","
      "\"export\":true,\"inspected\":true,\"http\":{\"request_length\":12},\"generation\":3}}");
}

TEST_F(EveFormatTest, DnsEventOverIpv6) {
  Event e = base(EventType::kDns);
  e.src = ip("2001:db8:60::1");
  e.dst = ip("2001:4860:4860::8888");
  e.src_port = 53000;
  e.dst_port = 53;
  e.proto = 17;
  e.verdict.action = Action::kBlock;
  e.is_export = false;
  e.inspected = false;
  e.dns = DnsEventData{};
  e.dns.rrname.assign("www.example.cn");
  e.dns.rrtype = 28;
  e.dns.id = 4660;
  std::string out;
  format_eve(e, *gen_, out);
  EXPECT_EQ(
      out,
      "{\"timestamp\":\"2026-03-02T09:00:00.000500+0800\",\"flow_id\":123456789,\"event_type\":\"dns\","
      "\"src_ip\":\"2001:db8:60::1\",\"src_port\":53000,\"dest_ip\":\"2001:4860:4860::8888\",\"dest_port\":"
      "53,"
      "\"proto\":\"UDP\",\"dns\":{\"type\":\"query\",\"id\":4660,\"rrname\":\"www.example.cn\",\"rrtype\":"
      "\"AAAA\","
      "\"version\":2}"
      ","
      "\"ftz\":{\"src_zone\":\"ftz\",\"dest_zone\":\"offshore\",\"tenant\":\"acme\",\"verdict\":\"block\","
      "\"rule\":\"route-acme\",\"export\":false,\"inspected\":false,\"generation\":3}}");
}

TEST_F(EveFormatTest, TlsEventAndIcmpWithoutPorts) {
  Event e = base(EventType::kTls);
  e.tls = TlsEventData{};
  e.tls.sni.assign("api.example.org");
  e.tls.alpn[0].assign("h2");
  e.tls.alpn_count = 1;
  e.tls.version = 0x0304;
  std::string out;
  format_eve(e, *gen_, out);
  EXPECT_NE(out.find(",\"tls\":{\"sni\":\"api.example.org\",\"client_alpns\":[\"h2\"]},"), std::string::npos)
      << out;
  EXPECT_NE(out.find(",\"tls\":{\"client_version\":\"TLS 1.3\"},"), std::string::npos) << out;
  // Suricata's names: TLS 1.0 is "TLSv1"; an unknown version its number.
  e.tls.version = 0x0301;
  out.clear();
  format_eve(e, *gen_, out);
  EXPECT_NE(out.find("\"client_version\":\"TLSv1\""), std::string::npos) << out;
  e.tls.version = 0x7f1c;
  out.clear();
  format_eve(e, *gen_, out);
  EXPECT_NE(out.find("\"client_version\":\"0x7f1c\""), std::string::npos) << out;
  Event f = base(EventType::kFlow);
  f.proto = 1;
  f.flow = FlowEventData{};
  std::string icmp;
  format_eve(f, *gen_, icmp);
  EXPECT_NE(icmp.find("\"src_ip\":\"10.60.0.1\",\"dest_ip\":\"203.0.113.10\",\"proto\":\"ICMP\""),
            std::string::npos)
      << icmp;
  EXPECT_EQ(icmp.find("tcp_gaps"), std::string::npos);
}

TEST(EveFixedStringTest, TruncationIsFlagged) {
  FixedString<4> s;
  s.assign("abc");
  EXPECT_EQ(s.view(), "abc");
  EXPECT_FALSE(s.truncated);
  s.assign("abcdef");
  EXPECT_EQ(s.view(), "abcd");
  EXPECT_TRUE(s.truncated);
}

TEST(EveFixedStringTest, AssignEmptyViewWithNullData) {
  // A default string_view (data() == nullptr) is what an absent HTTP header
  // yields. memcpy(dst, nullptr, 0) is undefined behaviour: the sanitizer
  // build (UBSan, no recover) fails here until FixedString::assign skips the
  // copy for an empty view.
  FixedString<8> s;
  s.assign("abc");
  s.assign(std::string_view{});
  EXPECT_EQ(s.view(), "");
  EXPECT_FALSE(s.truncated);
}

// Identifiers planted in every string field of every event type come out
// masked (docs/eve.md "Masking at output"); numbers, addresses, times and
// the alert token are the formatter's own and stay exact. The planted
// values are synthetic; failure messages print the masked line only.
class EveMaskingTest : public EveFormatTest {
 protected:
  static constexpr std::string_view kId = "11010519491231002X";  // GB 11643 test vector
  static constexpr std::string_view kMobile = "13812345678";
  static constexpr std::string_view kMobileMasked = "138****5678";
  static std::string line(const Event& e, const PolicyGeneration& g) {
    std::string out;
    format_eve(e, g, out);
    return out;
  }
  static void expect_clean(const std::string& out) {
    EXPECT_EQ(out.find(kId), std::string::npos) << "resident ID in clear";
    EXPECT_EQ(out.find(kMobile), std::string::npos) << "mobile number in clear";
    // Still one valid JSON object: masking never touches the structure.
    EXPECT_EQ(out.front(), '{');
    EXPECT_EQ(out.back(), '}');
  }
};

TEST_F(EveMaskingTest, HttpFields) {
  Event e = base(EventType::kHttp);
  e.http = HttpEventData{};
  e.http.method.assign(kMobile);
  e.http.hostname.assign(std::string(kMobile) + ".example.com");
  e.http.url.assign("/u?sfz=" + std::string(kId) + "&n=2");
  e.http.protocol.assign("HTTP/" + std::string(kMobile));
  e.http.content_type.assign("text/plain; id=" + std::string(kId));
  const std::string out = line(e, *gen_);
  expect_clean(out);
  EXPECT_NE(out.find("\"hostname\":\"138****5678.example.com\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"url\":\"/u?sfz=110105********002X&n=2\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"http_method\":\"138****5678\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"http_content_type\":\"text/plain; id=110105********002X\""), std::string::npos)
      << out;
  EXPECT_NE(out.find("\"src_ip\":\"10.60.0.1\""), std::string::npos) << out;
}

TEST_F(EveMaskingTest, TlsAndDnsFields) {
  Event t = base(EventType::kTls);
  t.tls = TlsEventData{};
  t.tls.sni.assign("110105.19491231.002x.exfil.example");
  t.tls.alpn[0].assign(kMobile);
  t.tls.alpn[1].assign("h2");
  t.tls.alpn_count = 2;
  t.tls.version = 0x0303;
  const std::string tls = line(t, *gen_);
  expect_clean(tls);
  EXPECT_NE(
      tls.find("\"sni\":\"110105.********.002x.exfil.example\",\"client_alpns\":[\"138****5678\",\"h2\"]"),
      std::string::npos)
      << tls;
  Event d = base(EventType::kDns);
  d.proto = 17;
  d.dns = DnsEventData{};
  d.dns.rrname.assign(std::string(kId) + ".t.example");
  const std::string dns = line(d, *gen_);
  expect_clean(dns);
  EXPECT_NE(dns.find("\"rrname\":\"110105********002X.t.example\""), std::string::npos) << dns;
}

TEST_F(EveMaskingTest, ConfigurationNamesAndAlertFields) {
  // Operators name zones, tenants, rules, channels and signatures; a name is
  // written through the same masking as a wire string.
  PolicySpec s = zone_policy();
  s.zones[kZoneFtz].name = "zone-" + std::string(kMobile);
  s.tenants[kTenantAcme].name = "tenant " + std::string(kId);
  ChannelSpec ch;
  ch.name = "ch-" + std::string(kMobile);
  s.channels = {ch};
  RuleSpec r;
  r.name = "rule-" + std::string(kMobile);
  s.rules = {r};
  SignatureSpec sig;
  sig.name = "sig-" + std::string(kMobile);
  sig.sid = 9200001;
  s.signatures = {sig};
  const auto g = PolicyGeneration::build(std::move(s), 3);
  Event a = base(EventType::kAlert);
  a.alert = AlertEventData{};
  a.alert.signature = 0;
  a.alert.masked.assign(kMobileMasked);
  // A token whose hex digits happen to form a Luhn-valid UnionPay number is
  // the formatter's own value: it stays exact.
  a.alert.token = 0x6222021234567894ULL;
  const std::string alert = line(a, *g);
  expect_clean(alert);
  EXPECT_NE(alert.find("\"signature\":\"sig-138****5678\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"token\":\"6222021234567894\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"src_zone\":\"zone-138****5678\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"tenant\":\"tenant 110105********002X\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"channel\":\"ch-138****5678\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"rule\":\"rule-138****5678\""), std::string::npos) << alert;
  Event f = base(EventType::kFlow);
  f.flow = FlowEventData{};
  f.flow.detections.kinds = 1;
  f.flow.detections.signature[0] = 0;
  f.flow.detections.count[0] = 13812345678u % 1000;
  const std::string flow = line(f, *g);
  expect_clean(flow);
  EXPECT_NE(flow.find("\"detections\":{\"sig-138****5678\":678}"), std::string::npos) << flow;
}

TEST_F(EveMaskingTest, RealisticValuesStayAsTheyAre) {
  Event e = base(EventType::kHttp);
  e.http = HttpEventData{};
  e.http.method.assign("POST");
  e.http.hostname.assign("139.210.201.12");
  e.http.url.assign("/api/v2/policyholders/batch?filing=SCC-SH-2026-0142&seq=1&ts=1767225600000");
  e.http.protocol.assign("HTTP/1.1");
  e.http.content_type.assign("text/csv; charset=utf-8");
  const std::string out = line(e, *gen_);
  EXPECT_EQ(out.find('*'), std::string::npos) << out;
}

}  // namespace
}  // namespace ftz::engine
