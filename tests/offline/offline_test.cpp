// ftzgate-inspect's capture handling: link types, broken files, the packets
// it writes, and the binary's exit codes and messages.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"
#include "ftz/test/files.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "ftz/test/tcp_session.hpp"

namespace fs = std::filesystem;
using namespace ftz;

namespace {

constexpr uint32_t kLinktypeRaw = 101;
constexpr uint32_t kLinktypeSll = 113;
constexpr uint32_t kLinktype80211 = 105;

struct TempDir : test::TempDir {
  TempDir() : test::TempDir("offline") {}
};

// Inside 10.60.0.0/16 to offshore 203.0.113.10, blocked when `block` is set.
std::shared_ptr<const engine::PolicyGeneration> lab_generation(bool block = false) {
  engine::PolicySpec spec;
  engine::ZoneSpec inside;
  inside.name = "inside";
  inside.kind = engine::ZoneKind::kFtz;
  inside.prefixes.push_back(*engine::parse_prefix("10.60.0.0/16"));
  engine::ZoneSpec offshore;
  offshore.name = "offshore";
  offshore.kind = engine::ZoneKind::kOffshore;
  spec.zones = {inside, offshore};
  spec.default_zone = 1;
  spec.limits.flow_table_size = 1024;
  if (block) {
    engine::RuleSpec r;
    r.name = "block-all-exports";
    r.match.dst_zones = {1};
    r.verdict.action = engine::Action::kBlock;
    spec.rules.push_back(r);
  }
  return engine::PolicyGeneration::build(std::move(spec), 1);
}

std::vector<test::CapturedPacket> http_session() {
  test::TcpSessionConfig cfg;
  cfg.client_ip = test::Ipv4Addr{{10, 60, 2, 11}};
  cfg.server_ip = test::Ipv4Addr{{203, 0, 113, 10}};
  test::TcpSession s(cfg);
  s.handshake();
  s.client_send("GET /report HTTP/1.1\r\nHost: upload.pacre-sg.example\r\n\r\n");
  s.server_send("HTTP/1.1 204 No Content\r\n\r\n");
  s.close();
  return s.take_packets();
}

// Rewrites Ethernet frames for another link type.
std::vector<uint8_t> relink(const std::vector<uint8_t>& eth, uint32_t linktype) {
  std::vector<uint8_t> ip(eth.begin() + 14, eth.end());
  if (linktype == kLinktypeRaw) return ip;
  // Linux cooked v1: packet type, ARPHRD_ETHER, address length 6, address, protocol.
  std::vector<uint8_t> sll = {0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
  sll.insert(sll.end(), ip.begin(), ip.end());
  return sll;
}

void write_capture(const std::string& path, const std::vector<test::CapturedPacket>& pkts,
                   uint32_t linktype) {
  auto w = test::PcapWriter::open(path, test::TimestampPrecision::kMicro, linktype);
  ASSERT_TRUE(w.has_value()) << w.error();
  for (const auto& p : pkts) {
    const auto frame = linktype == test::kLinktypeEthernet ? p.frame : relink(p.frame, linktype);
    ASSERT_TRUE(w->write(p.ts_ns, frame));
  }
  ASSERT_TRUE(w->close().has_value());
}

struct Collected {
  std::vector<std::string> hosts;
  uint64_t flows = 0;
  std::string verdict;
};

tl::expected<report::InspectSummary, std::string> inspect(const std::string& pcap, Collected& c,
                                                          const std::string& out = "", bool block = false) {
  offline::InspectOptions o;
  o.pcap_path = pcap;
  o.pcap_out_path = out;
  return offline::inspect_capture(o, lab_generation(block), [&](const engine::Event& e, const auto& gen) {
    if (e.type == engine::EventType::kHttp) c.hosts.emplace_back(e.http.hostname.view());
    if (e.type == engine::EventType::kFlow) {
      ++c.flows;
      c.verdict = engine::action_name(e.verdict.action);
      EXPECT_EQ(gen.zone_name(e.src_zone), "inside");
    }
  });
}

class LinkTypes : public ::testing::TestWithParam<uint32_t> {};

TEST_P(LinkTypes, SameMetadataOnEveryLinkType) {
  TempDir dir;
  const auto pkts = http_session();
  const std::string path = dir.file("capture.pcap");
  write_capture(path, pkts, GetParam());
  Collected c;
  auto s = inspect(path, c);
  ASSERT_TRUE(s.has_value()) << s.error();
  EXPECT_EQ(s->packets, pkts.size());
  EXPECT_EQ(s->counters.forwarded, pkts.size());
  EXPECT_EQ(c.flows, 1u);
  ASSERT_EQ(c.hosts.size(), 1u);
  EXPECT_EQ(c.hosts[0], "upload.pacre-sg.example");
  EXPECT_EQ(s->counters.flows_inspected, 1u);
}

INSTANTIATE_TEST_SUITE_P(Offline, LinkTypes,
                         ::testing::Values(test::kLinktypeEthernet, kLinktypeRaw, kLinktypeSll));

TEST(Offline, TruncatedFileReportsWhatWasReadAndFlagsIt) {
  TempDir dir;
  const auto pkts = http_session();
  const std::string path = dir.file("cut.pcap");
  write_capture(path, pkts, test::kLinktypeEthernet);
  fs::resize_file(path, fs::file_size(path) - 10);  // cut inside the last record
  Collected c;
  auto s = inspect(path, c);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->truncated_file);
  EXPECT_EQ(s->packets, pkts.size() - 1);
  EXPECT_NE(s->read_error.find(path), std::string::npos);
}

TEST(Offline, UnreadableAndUnsupportedFilesAreClearErrors) {
  TempDir dir;
  Collected c;
  auto missing = inspect(dir.file("nope.pcap"), c);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().find("nope.pcap: cannot read capture"), std::string::npos) << missing.error();

  const std::string junk = dir.file("junk.pcap");
  std::ofstream(junk) << "this is not a capture file at all";
  auto bad = inspect(junk, c);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().find("junk.pcap"), std::string::npos);

  const std::string wifi = dir.file("wifi.pcap");
  write_capture(wifi, {}, kLinktype80211);
  auto unsupported = inspect(wifi, c);
  ASSERT_FALSE(unsupported.has_value());
  EXPECT_NE(unsupported.error().find("unsupported link type 105"), std::string::npos) << unsupported.error();
}

TEST(Offline, PcapOutHoldsExactlyTheForwardedPackets) {
  TempDir dir;
  const auto pkts = http_session();
  const std::string in = dir.file("in.pcap");
  write_capture(in, pkts, test::kLinktypeEthernet);

  Collected allowed;
  auto s = inspect(in, allowed, dir.file("allowed.pcap"));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->packets_written, pkts.size());
  EXPECT_EQ(test::read_pcap(dir.file("allowed.pcap"))->records.size(), pkts.size());

  Collected blocked;
  auto b = inspect(in, blocked, dir.file("blocked.pcap"), /*block=*/true);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(blocked.verdict, "block");
  EXPECT_EQ(b->packets_written, 0u);
  EXPECT_EQ(b->counters.dropped, pkts.size());
  EXPECT_EQ(b->counters.reasons[static_cast<uint32_t>(engine::Reason::kPolicyBlock)], pkts.size());
}

// A pcapng timestamp past 2^63 ns does not fit the engine's clock: the
// capture stops there with an error naming the record (fuzz_pcap found the
// overflow; the input is its regression seed).
TEST(Offline, TimestampOutOfRangeIsAReadErrorNamingTheRecord) {
  const std::string path =
      test::source_dir() + "/tests/fuzz/corpus/fuzz_pcap/regress-pcapng-ts-overflow.pcapng";
  Collected c;
  auto s = inspect(path, c);
  ASSERT_TRUE(s.has_value()) << s.error();
  EXPECT_TRUE(s->truncated_file);
  EXPECT_EQ(s->packets, 0u);
  EXPECT_NE(s->read_error.find(path + ": record 1: timestamp out of range"), std::string::npos)
      << s->read_error;
}

// A retransmission that straddles acknowledged bytes leaves without them (a
// front trim). When its record is cut by the snap length the trim cannot be
// applied: the packet is not written, and counted, never silently lost.
TEST(Offline, ForwardedPacketsTheCutRecordCannotTrimAreCounted) {
  TempDir dir;
  auto pkt = [](bool from_client, uint8_t flags, uint32_t seq, uint32_t ack, std::string_view payload = {}) {
    test::PacketBuilder b;
    b.eth();
    if (from_client) {
      b.ipv4("10.60.2.11", "203.0.113.10").tcp(40000, 9000, flags, seq, ack);
    } else {
      b.ipv4("203.0.113.10", "10.60.2.11").tcp(9000, 40000, flags, seq, ack);
    }
    b.window(4096);
    if (!payload.empty()) b.payload(payload);
    return b.build();
  };
  const std::vector<test::Bytes> frames = {
      pkt(true, test::kTcpSyn, 1000, 0),
      pkt(false, test::kTcpSyn | test::kTcpAck, 5000, 1001),
      pkt(true, test::kTcpAck, 1001, 5001),
      pkt(true, test::kTcpAck | test::kTcpPsh, 1001, 5001, "upload v1\n"),  // 10 bytes: whole in the record
      pkt(false, test::kTcpAck, 5001, 1011),
      pkt(true, test::kTcpAck | test::kTcpPsh, 1006, 5001,
          std::string(40, 'x')),  // 5 acknowledged bytes again
  };
  const std::string in = dir.file("cut.pcap");
  auto w = test::PcapWriter::open(in, test::TimestampPrecision::kMicro, test::kLinktypeEthernet,
                                  14 + 20 + 20 + 20);
  ASSERT_TRUE(w.has_value()) << w.error();
  uint64_t ts = 1'700'000'000'000'000'000;
  for (const auto& f : frames) ASSERT_TRUE(w->write(ts += 1'000'000, f));
  ASSERT_TRUE(w->close().has_value());

  Collected c;
  auto s = inspect(in, c, dir.file("out.pcap"));
  ASSERT_TRUE(s.has_value()) << s.error();
  EXPECT_EQ(s->packets_untrimmable, 1u);
  EXPECT_EQ(s->packets_written + s->packets_untrimmable, s->counters.forwarded);
  EXPECT_EQ(test::read_pcap(dir.file("out.pcap"))->records.size(), s->packets_written);
  EXPECT_NE(report::format_report_json(*s).find("\"packets_untrimmable\":1"), std::string::npos);
}

// The JSON report is one valid JSON document in its documented key order,
// strings masked and stray bytes carried as characters (the same text
// append_json_string writes), notices as EVE objects.
TEST(ReportJson, ParsesKeepsKeyOrderAndMasks) {
  report::InspectSummary s;
  s.pcap_path = "/captures/13812345678-\xff.pcap";  // a mobile number and a stray byte
  s.link_type = "EN10MB";
  s.packets = 3;
  s.zone_pair_bytes[{"inside", "offshore"}] = 77;
  s.flows_per_rule.emplace_back("block-13812345678", 2);
  report::ComplianceNotice n;
  n.kind = "threshold";
  n.tenant = "acme";
  n.threshold = "sensitive";
  n.mechanism = "security_assessment";
  n.percent = 80;
  n.individuals = 8;
  n.line = 10;
  s.notices.push_back(n);
  const std::string text = report::format_report_json(s);
  ASSERT_EQ(text.back(), '\n');
  const auto j = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  const std::vector<std::string> expected = {"capture",
                                             "link_type",
                                             "packets",
                                             "records_over_snaplen",
                                             "bytes",
                                             "forwarded",
                                             "held",
                                             "dropped",
                                             "non_ip",
                                             "packets_written",
                                             "packets_untrimmable",
                                             "flows",
                                             "verdicts",
                                             "zone_pair_bytes",
                                             "app",
                                             "tcp",
                                             "fragments",
                                             "reasons",
                                             "events",
                                             "events_rate_limited",
                                             "events_dropped",
                                             "records",
                                             "content",
                                             "signatures",
                                             "rules",
                                             "compliance",
                                             "notices",
                                             "truncated_file"};
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(j["packets"], 3);
  EXPECT_EQ(j["zone_pair_bytes"][0]["dest_zone"], "offshore");
  EXPECT_EQ(j["zone_pair_bytes"][0]["bytes"], 77);
  EXPECT_EQ(j["notices"][0]["event_type"], "ftz_compliance");
  EXPECT_EQ(j["notices"][0]["ftz"]["percent"], 80);
  EXPECT_EQ(j["truncated_file"], false);
  EXPECT_EQ(text.find("13812345678"), std::string::npos) << "identifier in clear in the report";
  EXPECT_NE(j["capture"].get<std::string>().find("\u00ff"), std::string::npos) << j["capture"];
  // The notice line is the object the report embeds.
  EXPECT_EQ(nlohmann::ordered_json::parse(report::format_notice_eve(n)), j["notices"][0]);
}

// The binary: exit codes and messages an operator sees.
test::RunResult run(const std::string& args, const std::string& env = "") {
  return test::run_command(env + (env.empty() ? "" : " ") + test::binary("ftzgate-inspect") + " " + args);
}

// A classic pcap whose header declares a short snap length while its records
// hold whole frames: libpcap 1.10.3 hands out the first `snaplen` bytes of
// each longer record, silently, so the identifier in the body was never
// seen and the export went out as "truncated capture, uninspectable". The
// reader measures each record in the file and inspects it whole.
void write_lying_snaplen(const std::string& path, const std::vector<test::CapturedPacket>& pkts,
                         uint32_t snaplen) {
  std::vector<test::PcapRecord> records;
  for (const auto& p : pkts) records.push_back({p.ts_ns, 0, p.frame});
  ASSERT_TRUE(test::write_pcap_over_snaplen(path, records, snaplen));
}

// Inside 10.60.0.0/16, offshore by default, the built-in catalog, exports
// allowed unless one of `rule` (a YAML flow mapping) decides otherwise.
std::string catalog_policy(const TempDir& dir, const std::string& rule) {
  const std::string source = test::source_dir();
  const std::string cfg = dir.file("policy.yaml");
  std::ofstream(cfg) << "zones:\n"
                        "  - {name: inside, kind: ftz, prefixes: [10.60.0.0/16]}\n"
                        "  - {name: offshore, kind: offshore, default: true}\n"
                        "signature_packs: ['"
                     << source
                     << "/examples/signatures/builtin.yaml']\n"
                        "rules:\n"
                        "  - "
                     << rule
                     << "\n"
                        "defaults:\n"
                        "  - {src_zone: inside, dst_zone: offshore, action: allow}\n";
  return cfg;
}

test::TcpSessionConfig inside_client() {
  test::TcpSessionConfig c;
  c.client_ip = test::Ipv4Addr{{10, 60, 2, 11}};
  c.server_ip = test::Ipv4Addr{{203, 0, 113, 10}};
  return c;
}

// A JSON upload from the inside client, answered and closed.
std::vector<test::CapturedPacket> json_post(const test::TcpSessionConfig& c, const std::string& body) {
  test::TcpSession session(c);
  session.handshake()
      .client_send(
          "POST /upload HTTP/1.1\r\nHost: x.example\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body)
      .server_send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
      .close();
  return session.take_packets();
}

TEST(InspectBinary, RecordsLongerThanTheSnapLengthAreInspectedWholeAndReported) {
  TempDir dir;
  const std::string cfg = catalog_policy(
      dir, "{name: no-pi-out, match: {dst_zone: offshore, data_class: [pi, sensitive_pi]}, action: block}");
  const auto pkts = json_post(inside_client(), "{\"name\":\"Wang Fang\",\"id_card\":\"11010519491231002X\"}");
  uint64_t longer = 0;
  for (const auto& p : pkts) longer += p.frame.size() > 96;
  ASSERT_GT(longer, 0u);
  const std::string pcap = dir.file("lying.pcap");
  write_lying_snaplen(pcap, pkts, 96);

  auto r = run("--config " + cfg + " --pcap " + pcap + " --json --eve " + dir.file("eve.json"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"records_over_snaplen\":" + std::to_string(longer)), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("warning: " + pcap + ": " + std::to_string(longer) +
                          (longer == 1 ? " record is" : " records are") +
                          " longer than the file's snap length 96 (the first, record 4, has "),
            std::string::npos)
      << r.output;
  // The identifier past byte 96 was seen: the export is blocked, not let
  // through as an uninspectable truncated capture.
  std::ifstream eve(dir.file("eve.json"));
  std::string line;
  bool blocked = false;
  while (std::getline(eve, line)) {
    if (line.find("\"event_type\":\"flow\"") != std::string::npos) {
      blocked = line.find("\"verdict\":\"block\"") != std::string::npos;
      EXPECT_NE(line.find("no-pi-out"), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(blocked);
}

// The app parsers' anomalies come out of the registry (reasons/app.def):
// every key in the JSON report, zero or not, and the ones that happened in
// the text report with their description.
TEST(InspectBinary, AppAnomaliesAreReportedByRegistryKey) {
  TempDir dir;
  test::TcpSession session(inside_client());
  session.handshake()
      .client_send("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")
      .server_send("HTTP/1.1 204 No Content\r\n\r\n")
      .close();
  const std::string pcap = dir.file("two-hosts.pcap");
  write_capture(pcap, session.take_packets(), test::kLinktypeEthernet);
  const std::string cfg = test::source_dir() + "/examples/minimal.yaml";

  const auto json_run = run("--config " + cfg + " --pcap " + pcap + " --json");
  ASSERT_EQ(json_run.status, 0) << json_run.output;
  const auto j = nlohmann::json::parse(json_run.output.substr(json_run.output.find('{')));
  const nlohmann::json& app = j["app"];
  EXPECT_EQ(app["http"], 1);
  EXPECT_EQ(app["anomalies"].size(), engine::app::kAppAnomalyCount);
  EXPECT_EQ(app["anomalies"]["http_duplicate_host"], 1) << app.dump();
  EXPECT_EQ(app["anomalies"]["tls_bad_sni"], 0);

  const auto text_run = run("--config " + cfg + " --pcap " + pcap);
  ASSERT_EQ(text_run.status, 0) << text_run.output;
  EXPECT_NE(text_run.output.find("anomaly http_duplicate_host: 1  (more than one Host header)"),
            std::string::npos)
      << text_run.output;
  EXPECT_EQ(text_run.output.find("anomaly tls_"), std::string::npos) << "only the ones that happened";
}

// Why the scanner could not inspect a direction, by the registry's key
// (reasons/scan.def): a gzip body that is not gzip is a decode error.
TEST(InspectBinary, ScannerReasonsAreReportedByRegistryKey) {
  TempDir dir;
  const std::string body = "this is not gzip at all, only text that claims to be";
  test::TcpSession session(inside_client());
  session.handshake()
      .client_send("POST /upload HTTP/1.1\r\nHost: x.example\r\nContent-Encoding: gzip\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body)
      .server_send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
      .close();
  const std::string pcap = dir.file("bad-gzip.pcap");
  write_capture(pcap, session.take_packets(), test::kLinktypeEthernet);
  const std::string cfg = catalog_policy(
      dir, "{name: no-pi-out, match: {dst_zone: offshore, data_class: [pi, sensitive_pi]}, action: block}");

  const auto json_run = run("--config " + cfg + " --pcap " + pcap + " --json");
  ASSERT_EQ(json_run.status, 0) << json_run.output;
  const auto j = nlohmann::json::parse(json_run.output.substr(json_run.output.find('{')));
  const nlohmann::json& content = j["content"];
  EXPECT_EQ(content["uninspectable_decode"], 1) << content.dump();
  const nlohmann::json& by_scanner = content["uninspectable_directions"];
  EXPECT_EQ(by_scanner.size(), engine::sig::kUninspectableCount - 1) << "every key but none";
  EXPECT_EQ(by_scanner["decode_error"], 1) << by_scanner.dump();
  EXPECT_EQ(by_scanner["inflate_memcap"], 0);

  const auto text_run = run("--config " + cfg + " --pcap " + pcap);
  EXPECT_NE(text_run.output.find("scanner: decode_error: 1 directions  (corrupt gzip/deflate (decode))"),
            std::string::npos)
      << text_run.output;
}

// A content rule with the same action as the zone pair's default: at the
// header stage the default decided (the rule needed the content), at the
// content stage the rule matched. The records named "default".
TEST(InspectBinary, TheDecidingRuleIsNamedWhenItKeepsTheAction) {
  TempDir dir;
  const std::string cfg = catalog_policy(dir,
                                         "{name: pi-out-logged, match: {dst_zone: offshore, data_class: "
                                         "sensitive_pi}, action: allow, alert: true}");
  test::TcpSessionConfig c = inside_client();
  auto pkts = json_post(c, "{\"id_card\":\"11010519491231002X\"}");
  c.client_port = 40002;
  test::TcpSession without(c);  // no identifier: the default decides
  without.handshake().client_send("GET / HTTP/1.1\r\nHost: x.example\r\n\r\n").close();
  for (auto& p : without.take_packets()) pkts.push_back(std::move(p));
  const std::string pcap = dir.file("in.pcap");
  write_capture(pcap, pkts, test::kLinktypeEthernet);

  auto r = run("--config " + cfg + " --pcap " + pcap + " --json --eve " + dir.file("eve.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"rules\":{\"pi-out-logged\":1,\"default\":1}"), std::string::npos) << r.output;
  std::ifstream eve(dir.file("eve.json"));
  std::string line;
  std::vector<std::string> rules;
  while (std::getline(eve, line)) {
    if (line.find("\"event_type\":\"flow\"") == std::string::npos) continue;
    const auto at = line.find("\"rule\":\"");
    ASSERT_NE(at, std::string::npos) << line;
    rules.push_back(line.substr(at + 8, line.find('"', at + 8) - at - 8));
  }
  std::sort(rules.begin(), rules.end());
  EXPECT_EQ(rules, (std::vector<std::string>{"default", "pi-out-logged"}));
}

// Limits inside their accepted range that the machine cannot hold: a clear
// error before anything is allocated (it was std::bad_alloc, or the OOM
// killer once the pages were touched). FTZGATE_MEMORY_LIMIT makes the box
// small on any machine.
TEST(InspectBinary, LimitsThatDoNotFitInMemoryAreRefusedUpFront) {
  TempDir dir;
  const auto pkts = http_session();
  const std::string pcap = dir.file("ok.pcap");
  write_capture(pcap, pkts, test::kLinktypeEthernet);
  const std::string zones =
      "zones:\n"
      "  - {name: inside, kind: ftz, prefixes: [10.60.0.0/16]}\n"
      "  - {name: offshore, kind: offshore, default: true}\n";
  const std::string flows = dir.file("flows.yaml");
  std::ofstream(flows) << zones << "limits:\n  flow_table_size: 67108864\n";
  auto r = run("--config " + flows + " --pcap " + pcap, "FTZGATE_MEMORY_LIMIT=8G");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("ftzgate-inspect: " + flows +
                          ": not enough memory: the configuration and command line "
                          "need "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("of the 8.0 GiB available (FTZGATE_MEMORY_LIMIT). Largest items:\n  flow table: "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(limits.flow_table_size = 67108864)"), std::string::npos) << r.output;

  const std::string memcap = dir.file("memcap.yaml");
  std::ofstream(memcap) << zones << "limits:\n  reassembly_memcap_bytes: 68719476736\n";
  r = run("--config " + memcap + " --pcap " + pcap, "FTZGATE_MEMORY_LIMIT=8G");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(
      r.output.find("TCP reassembly segment pool: 64.1 GiB per worker (limits.reassembly_memcap_bytes = "
                    "68719476736)"),
      std::string::npos)
      << r.output;

  // The same configuration with its defaults runs in that memory.
  const std::string fine = dir.file("fine.yaml");
  std::ofstream(fine) << zones;
  r = run("--config " + fine + " --pcap " + pcap, "FTZGATE_MEMORY_LIMIT=8G");
  EXPECT_EQ(r.status, 0) << r.output;
}

// A pattern Hyperscan refuses is found when the catalog is compiled, after
// the configuration was read: the error still points at the pattern.
TEST(InspectBinary, HyperscanRefusalsNameThePatternsPosition) {
  TempDir dir;
  const std::string cfg = dir.file("policy.yaml");
  std::ofstream(cfg) << "zones:\n"                                                   // 1
                        "  - {name: inside, kind: ftz, prefixes: [10.60.0.0/16]}\n"  // 2
                        "  - {name: offshore, kind: offshore, default: true}\n"      // 3
                        "signatures:\n"                                              // 4
                        "  - name: order_no\n"                                       // 5
                        "    sid: 9300001\n"                                         // 6
                        "    class: pi\n"                                            // 7
                        "    validator: none\n"                                      // 8
                        "    patterns:\n"                                            // 9
                        "      - regex: 'ORD\\d{8}'\n"                               // 10
                        "      - regex: 'ORD[9-0]\\d{8}'\n";                         // 11
  auto r = run("--config " + cfg + " --pcap " + dir.file("unused.pcap"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(cfg + ":11:16: signatures[0].patterns[1].regex: cannot compile: "),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("configuration rejected"), std::string::npos) << r.output;
}

TEST(InspectBinary, ExitCodesAndMessages) {
  TempDir dir;
  const std::string minimal = test::source_dir() + "/examples/minimal.yaml";

  auto no_args = run("");
  EXPECT_EQ(no_args.status, 2);
  EXPECT_NE(no_args.output.find("--config is required"), std::string::npos) << no_args.output;

  auto unknown = run("--config " + minimal + " --pcap x --frobnicate");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("unknown argument --frobnicate"), std::string::npos);

  // --help: every documented flag, on standard output, exit 0.
  auto help = run("--help");
  EXPECT_EQ(help.status, 0) << help.output;
  for (const char* flag : {"--config", "--pcap", "--eve", "--pcap-out", "--json", "--classify-all",
                           "--state-out", "--demo-token-key"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag << "\n" << help.output;
  }
  auto no_value = run("--pcap x --config");
  EXPECT_EQ(no_value.status, 2);
  EXPECT_NE(no_value.output.find("--config"), std::string::npos) << no_value.output;
  EXPECT_NE(no_value.output.find("--help"), std::string::npos) << no_value.output;

  const std::string bad_cfg = dir.file("bad.yaml");
  std::ofstream(bad_cfg) << "zones:\n  - name: inside\n    kind: ftzz\n";
  auto rejected = run("--config " + bad_cfg + " --pcap x");
  EXPECT_EQ(rejected.status, 2);
  EXPECT_NE(rejected.output.find(bad_cfg + ":3:"), std::string::npos) << rejected.output;
  EXPECT_NE(rejected.output.find("configuration rejected"), std::string::npos);

  auto missing = run("--config " + minimal + " --pcap " + dir.file("missing.pcap"));
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("cannot read capture"), std::string::npos);

  const auto pkts = http_session();
  const std::string cut = dir.file("cut.pcap");
  write_capture(cut, pkts, test::kLinktypeEthernet);
  fs::resize_file(cut, fs::file_size(cut) - 10);
  auto truncated = run("--config " + minimal + " --pcap " + cut + " --json");
  EXPECT_EQ(truncated.status, 1);
  EXPECT_NE(truncated.output.find("\"truncated_file\":true"), std::string::npos) << truncated.output;

  const std::string ok = dir.file("ok.pcap");
  write_capture(ok, pkts, test::kLinktypeEthernet);
  auto good = run("--config " + minimal + " --pcap " + ok + " --eve " + dir.file("eve.json"));
  EXPECT_EQ(good.status, 0) << good.output;
  EXPECT_NE(good.output.find("packets            " + std::to_string(pkts.size())), std::string::npos)
      << good.output;
  std::ifstream eve(dir.file("eve.json"));
  std::string line;
  int http = 0;
  while (std::getline(eve, line)) http += line.find("\"event_type\":\"http\"") != std::string::npos;
  EXPECT_EQ(http, 1);
}

// ---------------------------------------------------------------- records --

// A synthetic resident ID (GB 11643 test vector) in an export's body.
constexpr const char* kExfilId = "11010519491231002X";

// 12,000 one-packet UDP flows and one HTTP upload carrying a resident ID,
// all inside one second: every flow ends together at the end of the capture.
void write_burst_capture(const std::string& path) {
  auto w = test::PcapWriter::open(path, test::TimestampPrecision::kMicro, test::kLinktypeEthernet);
  ASSERT_TRUE(w.has_value()) << w.error();
  const uint64_t t0 = 1772413200ULL * 1'000'000'000;
  for (uint32_t i = 0; i < 12'000; ++i) {
    // Inside to inside (10/8 is one zone in minimal.yaml): not exports, so
    // they take no scan state from the upload.
    const std::string src = "10.60.1." + std::to_string(1 + i % 200);
    const auto frame = test::PacketBuilder()
                           .eth()
                           .ipv4(src, "10.99.0.20")
                           .udp(static_cast<uint16_t>(1024 + i / 200 * 7 + i % 7), 5000)
                           .payload("x")
                           .build();
    ASSERT_TRUE(w->write(t0 + i * 50'000, frame));
  }
  test::TcpSessionConfig cfg;
  cfg.client_ip = test::Ipv4Addr{{10, 60, 2, 11}};
  cfg.server_ip = test::Ipv4Addr{{203, 0, 113, 10}};
  cfg.start_ns = t0 + 700'000'000;
  test::TcpSession s(cfg);
  const std::string body = std::string("name,idcard\nzhang san,") + kExfilId + "\n";
  s.handshake().client_send(
      "POST /upload HTTP/1.1\r\nHost: upload.example\r\nContent-Type: text/csv\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  for (const auto& p : s.packets()) ASSERT_TRUE(w->write(p.ts_ns, p.frame));
  ASSERT_TRUE(w->close().has_value());
}

TEST(InspectBinary, EveryFlowRecordWhenTwelveThousandFlowsEndTogether) {
  TempDir dir;
  const std::string pcap = dir.file("burst.pcap");
  write_burst_capture(pcap);
  const std::string eve = dir.file("eve.json");
  const auto r = run("--config " + test::source_dir() + "/examples/minimal.yaml --pcap " + pcap + " --eve " +
                     eve + " --json > " + dir.file("report.json"));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(eve);
  std::string line;
  size_t flows = 0;
  bool exfil_record = false;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["event_type"] != "flow") continue;
    ++flows;
    if (j["src_ip"] == "10.60.2.11" && j["dest_port"] == 80) {
      exfil_record = true;
      EXPECT_EQ(j["ftz"]["detections"]["cn_resident_id"], 1) << line;
    }
  }
  EXPECT_EQ(flows, 12'001u);
  EXPECT_TRUE(exfil_record) << "the exfiltration flow's record is missing";
  EXPECT_EQ(test::read_text(eve).find(kExfilId), std::string::npos) << "identifier in clear in the EVE file";
  const auto report = nlohmann::json::parse(test::read_text(dir.file("report.json")));
  EXPECT_EQ(report["events_dropped"], 0);
  EXPECT_EQ(report["records"]["written"], 12'001);
  EXPECT_EQ(report["records"]["lost"], 0);
  EXPECT_GE(report["records"]["waits"], 1) << "12,001 records through a queue of 4,096 must have waited";
}

TEST(InspectBinary, WriteErrorsAreErrors) {
  TempDir dir;
  const std::string pcap = dir.file("in.pcap");
  write_capture(pcap, http_session(), test::kLinktypeEthernet);
  const std::string base = "--config " + test::write_plain_config(dir) + " --demo-token-key --pcap " + pcap;
  auto eve = run(base + " --eve /dev/full");
  EXPECT_EQ(eve.status, 1) << eve.output;
  EXPECT_NE(eve.output.find("/dev/full: write failed: No space left on device"), std::string::npos)
      << eve.output;
  EXPECT_NE(eve.output.find("event lines not written"), std::string::npos) << eve.output;
  auto out = run(base + " --pcap-out /dev/full");
  EXPECT_EQ(out.status, 1) << out.output;
  EXPECT_NE(out.output.find("/dev/full: write failed: No space left on device"), std::string::npos)
      << out.output;
  {
    // The report on standard output, which is /dev/full (stderr to a file).
    const std::string err = dir.file("report.err");
    const int st =
        std::system((test::binary("ftzgate-inspect") + " " + base + " >/dev/full 2>" + err).c_str());
    EXPECT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 1);
    EXPECT_NE(test::read_text(err).find("cannot write the report: No space left on device"),
              std::string::npos)
        << test::read_text(err);
  }
  // The state file is replaced by rename: a device is refused up front.
  auto state = run(base + " --state-out /dev/full");
  EXPECT_EQ(state.status, 2) << state.output;
  EXPECT_NE(state.output.find("not a regular file"), std::string::npos) << state.output;
  // A directory that cannot be created for the events.
  auto missing = run(base + " --eve " + dir.file("no/such/dir/eve.json"));
  EXPECT_EQ(missing.status, 2) << missing.output;
  EXPECT_NE(missing.output.find("cannot write"), std::string::npos) << missing.output;
  // A well-behaved run still exits 0.
  EXPECT_EQ(run(base + " --eve " + dir.file("eve.json") + " --pcap-out " + dir.file("out.pcap")).status, 0);
}

TEST(InspectBinary, OutputsNeverOverwriteTheInput) {
  TempDir dir;
  const std::string minimal = test::source_dir() + "/examples/minimal.yaml";
  const std::string pcap = dir.file("in.pcap");
  write_capture(pcap, http_session(), test::kLinktypeEthernet);
  const std::string before = test::read_text(pcap);
  ASSERT_EQ(::symlink(pcap.c_str(), dir.file("sym.pcap").c_str()), 0);
  ASSERT_EQ(::link(pcap.c_str(), dir.file("hard.pcap").c_str()), 0);
  const std::string base = "--config " + minimal + " --pcap " + pcap;
  for (const std::string& args :
       {base + " --eve " + pcap, base + " --pcap-out " + pcap, base + " --state-out " + pcap,
        base + " --eve " + dir.file("sym.pcap"), base + " --pcap-out " + dir.file("hard.pcap"),
        "--config " + minimal + " --pcap " + dir.file("sym.pcap") + " --eve " + pcap,
        base + " --eve " + minimal}) {
    const auto r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("would destroy the input"), std::string::npos) << r.output;
    EXPECT_TRUE(test::read_text(pcap) == before) << "the capture changed: " << args;
  }
  // The token key named by the configuration is an input too.
  const std::string keyed = test::write_plain_config(dir);
  const auto key = run("--config " + keyed + " --pcap " + pcap + " --eve " + dir.file("cfg/keys/token.key"));
  EXPECT_EQ(key.status, 2) << key.output;
  EXPECT_NE(key.output.find("compliance.key_file"), std::string::npos) << key.output;
  const auto twice = run(base + " --eve " + dir.file("out") + " --pcap-out " + dir.file("./out"));
  EXPECT_EQ(twice.status, 2) << twice.output;
  EXPECT_NE(twice.output.find("name a file of its own"), std::string::npos) << twice.output;
}

TEST(InspectBinary, LogLinesAndReportAreMasked) {
  TempDir dir;
  const std::string minimal = test::write_plain_config(dir) + " --demo-token-key";
  // A file name is a string like any other: an identifier in it is masked
  // in the error message and in the report.
  const auto missing = run("--config " + minimal + " --pcap " + dir.file("13812345678.pcap"));
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("138****5678.pcap: cannot read capture"), std::string::npos)
      << missing.output;
  EXPECT_EQ(missing.output.find("13812345678"), std::string::npos) << missing.output;
  const std::string named = dir.file(std::string(kExfilId) + ".pcap");
  write_capture(named, http_session(), test::kLinktypeEthernet);
  for (const char* format : {"", " --json"}) {
    const auto ok = run("--config " + minimal + " --pcap " + named + format);
    EXPECT_EQ(ok.status, 0) << ok.output;
    EXPECT_EQ(ok.output.find(kExfilId), std::string::npos) << "identifier in clear in the report";
    EXPECT_NE(ok.output.find("110105********002X.pcap"), std::string::npos) << ok.output;
  }
}

// The published demo key is used only with --demo-token-key; otherwise the
// appliance's own key is generated beside the state file (0600) and used.
TEST(InspectBinary, DemoTokenKeyOnlyWhenAskedFor) {
  TempDir dir;
  const std::string pcap = dir.file("in.pcap");
  write_capture(pcap, http_session(), test::kLinktypeEthernet);
  const std::string base = "--config " + test::write_plain_config(dir) + " --pcap " + pcap;
  const std::string own = dir.file("cfg/state/token.key");

  const auto demo = run(base + " --demo-token-key");
  EXPECT_EQ(demo.status, 0) << demo.output;
  EXPECT_NE(demo.output.find("is the published demo key, used because --demo-token-key was given"),
            std::string::npos)
      << demo.output;
  EXPECT_FALSE(fs::exists(own));

  const auto refused = run(base);
  EXPECT_EQ(refused.status, 0) << refused.output;
  EXPECT_NE(refused.output.find("is the published demo key: not used"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("generated a new token key " + own), std::string::npos) << refused.output;
  ASSERT_TRUE(fs::exists(own));
  struct stat st {};
  ASSERT_EQ(::stat(own.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string key = test::read_text(own);
  EXPECT_EQ(key.find("DEMO"), std::string::npos);

  // The next run uses that key and generates nothing.
  const auto again = run(base);
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(again.output.find("generated"), std::string::npos) << again.output;
  EXPECT_EQ(test::read_text(own), key);
}

}  // namespace

namespace {

// Every event ftzgate-inspect writes (the data planes write through the same
// formatter) follows the EVE format: no key outside `ftz` that EVE does not
// define, each with EVE's type, the fields each event type needs. The demo
// capture gives every event type (flows, HTTP, DNS, TLS, alerts, compliance
// notices), the public captures what real traffic gives; python3-jsonschema
// checks them against tests/offline/eve-format.schema.json (from Suricata's
// documentation of the format, not from this code).
TEST(OfflineEve, EveryEventFollowsTheEveFormat) {
  test::TempDir dir("eve-format");
  const std::string check = "/usr/bin/python3 " + test::source_dir() + "/tests/offline/check_eve.py " +
                            test::source_dir() + "/tests/offline/eve-format.schema.json";
  ASSERT_EQ(
      test::run_command(test::binary("ftzgate-gen") + " scenario --out " + dir.file("demo.pcap")).status, 0);
  std::string files;
  test::RunResult r =
      run("--config " + test::source_dir() + "/examples/lingang.yaml --demo-token-key --pcap " +
          dir.file("demo.pcap") + " --eve " + dir.file("demo.eve"));
  ASSERT_EQ(r.status, 0) << r.output;
  files += " " + dir.file("demo.eve");
  // (None when the corpus beside the project is absent.)
  for (const std::string& name : test::public_captures()) {
    const std::string pcap = test::public_captures_dir() + "/" + name;
    const std::string eve = dir.file(name + ".eve");
    r = run("--config " + test::source_dir() + "/examples/minimal.yaml --classify-all --pcap " + pcap +
            " --eve " + eve);
    EXPECT_EQ(r.status, 0) << pcap << ": " << r.output;
    files += " " + eve;
  }
  const test::RunResult checked =
      test::run_command(check + " --require flow,http,dns,tls,alert,ftz_compliance" + files + " 2>&1");
  EXPECT_EQ(checked.status, 0) << checked.output;
  // The checker is not silent: an event with a key EVE does not define (the
  // old tls.alpn) or a type EVE does not give (a numeric rrtype) fails.
  std::ofstream(dir.file("bad.eve"))
      << R"({"timestamp":"2026-03-02T09:00:00.000500+0800","flow_id":1,"event_type":"tls","src_ip":"10.0.0.1",)"
      << R"("dest_ip":"10.0.0.2","proto":"TCP","tls":{"sni":"a.example","alpn":["h2"]},"ftz":{}})"
      << "\n"
      << R"({"timestamp":"2026-03-02T09:00:00.000500+0800","flow_id":1,"event_type":"dns","src_ip":"10.0.0.1",)"
      << R"("dest_ip":"10.0.0.2","proto":"UDP","dns":{"type":"query","id":1,"rrname":"a","rrtype":1},"ftz":{}})"
      << "\n";
  const test::RunResult bad = test::run_command(check + " " + dir.file("bad.eve") + " 2>&1");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_NE(bad.output.find("bad.eve:1: tls: Additional properties are not allowed ('alpn'"),
            std::string::npos)
      << bad.output;
  EXPECT_NE(bad.output.find("bad.eve:2: dns/rrtype: 1 is not of type 'string'"), std::string::npos)
      << bad.output;
}

}  // namespace
