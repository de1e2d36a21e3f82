// Runs every public capture through ftzgate-inspect's engine path and compares
// SNIs, HTTP hosts and URIs, DNS query names and flow counts with the reference
// facts tshark produced. Where the engine and tshark disagree by design, the
// difference is listed in kKnownDifferences with the reason, case by case.
// Values are compared as the appliance writes them: through the output
// masking (engine::masked_text, what append_json_string applies to every EVE
// string), and tshark's values are masked the same way.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "ftz/engine/eve.hpp"
#include "ftz/engine/output_masking.hpp"
#include "ftz/offline/inspector.hpp"
#include "ftz/test/files.hpp"

namespace fs = std::filesystem;
using ftz::engine::Event;
using ftz::engine::EventType;

namespace {

fs::path public_dir() {
  return ftz::test::public_captures_dir();
}

// One zone for everything: conformance is about parsing, not policy.
std::shared_ptr<const ftz::engine::PolicyGeneration> plain_generation() {
  ftz::engine::PolicySpec spec;
  spec.name = "conformance";
  ftz::engine::ZoneSpec any;
  any.name = "any";
  any.kind = ftz::engine::ZoneKind::kOffshore;
  spec.zones.push_back(any);
  spec.default_zone = 0;
  spec.limits.flow_table_size = 4096;
  spec.limits.events_per_second = 0;  // no rate limit: every record counts here
  return ftz::engine::PolicyGeneration::build(std::move(spec), 1);
}

struct Observed {
  std::set<std::string> sni;
  std::set<std::string> http_hosts;
  std::set<std::string> http_uris;
  std::set<std::string> http_uri_prefixes;  // URIs cut at the engine's URI cap
  std::set<std::string> dns_queries;
  uint64_t tcp_flows = 0;
  uint64_t udp_flows = 0;
  uint64_t http_requests = 0;
};

// A string as the EVE output carries it.
std::string written(std::string_view s) {
  return ftz::engine::masked_text(s);
}

Observed run(const fs::path& pcap) {
  Observed o;
  ftz::offline::InspectOptions opts;
  opts.pcap_path = pcap.string();
  auto summary = ftz::offline::inspect_capture(opts, plain_generation(), [&](const Event& e, const auto&) {
    switch (e.type) {
      case EventType::kTls:
        o.sni.insert(written(e.tls.sni.view()));
        break;
      case EventType::kHttp:
        ++o.http_requests;
        if (e.http.hostname.len) o.http_hosts.insert(written(e.http.hostname.view()));
        if (e.http.url.truncated) {
          o.http_uri_prefixes.insert(written(e.http.url.view()));
        } else {
          o.http_uris.insert(written(e.http.url.view()));
        }
        break;
      case EventType::kDns:
        if (!e.dns.is_response) o.dns_queries.insert(written(e.dns.rrname.view()));
        break;
      case EventType::kFlow:
        if (e.proto == 6) ++o.tcp_flows;
        if (e.proto == 17) ++o.udp_flows;
        break;
      case EventType::kAlert:
        break;
    }
  });
  EXPECT_TRUE(summary.has_value()) << pcap << ": " << (summary ? "" : summary.error());
  if (summary) {
    EXPECT_FALSE(summary->truncated_file) << summary->read_error;
  }
  return o;
}

// tshark's values, masked as the appliance masks what it writes.
std::set<std::string> as_set(const nlohmann::json& j) {
  std::set<std::string> s;
  for (const auto& v : j) s.insert(written(v.get<std::string>()));
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Differences from tshark decided to be tshark's view (or a deliberate engine
// choice), not engine bugs. `missing`: values tshark reports that the engine
// does not; `extra`: values the engine reports that tshark does not; for
// counts, `extra` holds the engine's number.
struct Difference {
  std::string field;
  std::set<std::string> missing;
  std::set<std::string> extra;
  std::string why;
};
const std::map<std::string, std::vector<Difference>> kKnownDifferences = {
    {"zeek__vlan-collisions.pcap",
     {{"tcp_flows",
       {},
       {"3"},
       "the same conversation on three VLAN stacks is three flows; tshark's conversation table ignores "
       "VLANs"}}},
    {"suricata-verify__bug-3286-02-linux-evasion__with_evasion_linux.pcap",
     {{"tcp_flows",
       {},
       {"3"},
       "injected RSTs end the tracked connection and the later SYN on the same ports starts a new flow "
       "(the HTTP request is still seen once); tshark's conversation table keys on the 5-tuple only"}}},
    {"zeek__ipv6-http-atomic-frag.pcap",
     {{"http_request_uris",
       {},
       {"/bad.html"},
       "HTTP/0.9 'GET /bad.html' requests: tshark does not report them, the engine does (RFC 1945 4.1)"}}},
    {"zeek__methods.pcap",
     {{"http_request_uris",
       {"HTTP/1.1"},
       {},
       "'OPTIONS HTTP/1.1' has no request-target (the server answers 400); tshark's heuristic takes the "
       "version as the URI, the engine follows RFC 9112 and skips the line. Content inspection still sees "
       "every byte: only metadata differs"}}},
    {"ndpi__1kxun.pcap",
     {{"http_hosts",
       {},
       {"[FF02::C]:1900"},
       "SSDP (HTTP over UDP) requests are reported as http events; the IPv6 NOTIFYs to ff02::c are not in "
       "tshark's http.host set (its reference facts take the IPv4 M-SEARCHes only)"},
      {"dns_query_names",
       {},
       {"\\229\\176\\143\\228\\189\\155\\229\\176\\136\\230\\169\\159", "_googlecast._tcp.local",
        "caesar-thinkpad", "charming-pc", "isatap", "jason-pc", "joanna-pc", "kasper-mac", "kevin-pc",
        "notebook", "ro_x1c", "sonusav", "usher-pc", "wangs-ltw", "wpad"},
       "mDNS (5353) and LLMNR (5355) questions: the engine reports them as DNS because they leak host "
       "names; tshark's dns.qry.name set here holds unicast DNS only. Non-ASCII label octets are "
       "escaped as \\DDD"}}},
};

const Difference* known(const std::string& file, const std::string& field) {
  const auto it = kKnownDifferences.find(file);
  if (it == kKnownDifferences.end()) return nullptr;
  for (const auto& d : it->second) {
    if (d.field == field) return &d;
  }
  return nullptr;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, AgreesWithReferenceFacts) {
  const fs::path pcap = public_dir() / GetParam();
  std::ifstream in(pcap.string() + ".expect.json");
  ASSERT_TRUE(in) << "missing " << pcap << ".expect.json";
  const nlohmann::json expect = nlohmann::json::parse(in);
  const Observed o = run(pcap);
  const std::string file = GetParam();

  auto check_set = [&](const std::string& field, const std::set<std::string>& want,
                       const std::set<std::string>& got) {
    std::set<std::string> missing;
    std::set<std::string> extra;
    std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                        std::inserter(missing, missing.end()));
    std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::inserter(extra, extra.end()));
    const Difference* d = known(file, field);
    const std::set<std::string> allowed_missing = d ? d->missing : std::set<std::string>{};
    const std::set<std::string> allowed_extra = d ? d->extra : std::set<std::string>{};
    EXPECT_EQ(missing, allowed_missing)
        << file << ": " << field << " tshark reports values the engine does not";
    EXPECT_EQ(extra, allowed_extra) << file << ": " << field << " the engine reports values tshark does not";
  };
  check_set("tls_sni", as_set(expect["tls_sni"]), o.sni);
  check_set("http_hosts", as_set(expect["http_hosts"]), o.http_hosts);
  // A URI longer than the engine's cap is reported truncated (url_truncated):
  // it matches the tshark URI it is a prefix of.
  std::set<std::string> want_uris = as_set(expect["http_request_uris"]);
  for (const std::string& prefix : o.http_uri_prefixes) {
    const auto hit = std::find_if(want_uris.begin(), want_uris.end(), [&](const std::string& u) {
      return u.size() > prefix.size() && u.starts_with(prefix);
    });
    EXPECT_NE(hit, want_uris.end()) << file
                                    << ": truncated URI matches no tshark URI: " << prefix.substr(0, 80);
    if (hit != want_uris.end()) want_uris.erase(hit);
  }
  check_set("http_request_uris", want_uris, o.http_uris);
  std::set<std::string> want_dns;
  for (const auto& n : expect["dns_query_names"]) want_dns.insert(written(lower(n.get<std::string>())));
  check_set("dns_query_names", want_dns, o.dns_queries);

  auto check_count = [&](const std::string& field, uint64_t want, uint64_t got) {
    const Difference* d = known(file, field);
    const uint64_t expected = d && !d->extra.empty() ? std::stoull(*d->extra.begin()) : want;
    EXPECT_EQ(got, expected) << file << ": " << field << " (tshark: " << want << ")";
  };
  check_count("tcp_flows", expect["tcp_conversations"].get<uint64_t>(), o.tcp_flows);
  check_count("udp_flows", expect["udp_conversations"].get<uint64_t>(), o.udp_flows);
}

std::vector<std::string> captures() {
  return ftz::test::public_captures();
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(PublicCaptures, Conformance, ::testing::ValuesIn(captures()), test_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Conformance);

// Issue 8 §2: a plain DNS A query and its answer over UDP (the second UDP
// flow of ndpi__1kxun, 192.168.115.8:51024 <-> 8.8.8.8:53; frames 19-21 in
// tshark: two copies of the query, one answer) each give a dns event.
TEST(ConformanceDns, QueryAndAnswerOfAPlainUdpLookupAreReported) {
  const fs::path pcap = public_dir() / "ndpi__1kxun.pcap";
  if (!fs::exists(pcap)) GTEST_SKIP() << "no ../shared/pcaps/public beside the project: corpus absent";
  ftz::offline::InspectOptions opts;
  opts.pcap_path = pcap.string();
  int queries = 0;
  int answers = 0;
  auto summary = ftz::offline::inspect_capture(opts, plain_generation(), [&](const Event& e, const auto&) {
    if (e.type != EventType::kDns || e.dns.rrname.view() != "jp.kankan.1kxun.mobi") return;
    EXPECT_EQ(e.dns.rrtype, 1);
    (e.dns.is_response ? answers : queries) += 1;
  });
  ASSERT_TRUE(summary.has_value());
  EXPECT_EQ(queries, 2);
  EXPECT_EQ(answers, 1);
}

TEST(ConformanceCorpus, IsPresent) {
  if (!fs::exists(public_dir()))
    GTEST_SKIP() << "no ../shared/pcaps/public beside the project: corpus absent";
  EXPECT_EQ(captures().size(), 27u);
}

}  // namespace
