// Decodes the demo capture independently of the generator (own TCP stream
// reassembly, own HTTP body extraction with de-chunking, own MOD 11-2 check)
// and compares the counts with the summary JSON.
#include "ftz/test/gen/scenario.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "ftz/test/checksum.hpp"
#include "ftz/test/pcap_writer.hpp"

namespace ftz::test::gen {
namespace {

bool id_check_ok(std::string_view id) {
  int sum = 0;
  for (int i = 0; i < 18; ++i) {
    const char c = id[static_cast<std::size_t>(i)];
    const int a = (c == 'X' || c == 'x') ? 10 : c - '0';
    int w = 1;
    for (int k = 0; k < 17 - i; ++k) w = w * 2 % 11;
    sum += a * w;
  }
  return sum % 11 == 1;
}

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Valid resident IDs in text, with their end offsets, in order of appearance.
std::vector<std::pair<std::string, std::size_t>> find_ids(std::string_view text) {
  std::vector<std::pair<std::string, std::size_t>> out;
  for (std::size_t i = 0; i + 18 <= text.size(); ++i) {
    if (i > 0 && is_alnum(text[i - 1])) continue;
    if (i + 18 < text.size() && is_alnum(text[i + 18])) continue;
    bool digits = text[i] >= '1' && text[i] <= '9';
    for (std::size_t k = 1; k < 17 && digits; ++k) digits = text[i + k] >= '0' && text[i + k] <= '9';
    const char last = text[i + 17];
    if (!digits || !((last >= '0' && last <= '9') || last == 'X' || last == 'x')) continue;
    const std::string_view id = text.substr(i, 18);
    const int month = std::stoi(std::string(id.substr(10, 2)));
    const int day = std::stoi(std::string(id.substr(12, 2)));
    if (month < 1 || month > 12 || day < 1 || day > 31) continue;
    if (id_check_ok(id)) out.emplace_back(std::string(id), i + 18);
  }
  return out;
}

struct Stream {
  std::string bytes;
  std::uint32_t next_seq = 0;
  bool started = false;
  std::vector<std::pair<std::size_t, std::size_t>> frame_ends;  // (stream end offset, frame)
  std::string dst;
};

struct Decoded {
  std::map<std::string, Stream> client_streams;  // "src:sport>dst:dport"
  std::size_t bad_checksums = 0;
  std::size_t seq_gaps = 0;
};

std::string ip4(std::span<const std::uint8_t> b) {
  return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
         std::to_string(b[3]);
}

Decoded decode(const std::vector<CapturedPacket>& packets) {
  Decoded d;
  for (std::size_t n = 0; n < packets.size(); ++n) {
    const auto f = std::span(packets[n].frame);
    if (get_u16(f, 12) != 0x0800) continue;
    const auto ip = f.subspan(14);
    const std::size_t hl = (ip[0] & 0x0f) * 4u;
    if (internet_checksum(ip.first(hl)) != 0) ++d.bad_checksums;
    const auto l4 = ip.subspan(hl, get_u16(ip, 2) - hl);
    const Ipv4Addr src{{ip[12], ip[13], ip[14], ip[15]}}, dst{{ip[16], ip[17], ip[18], ip[19]}};
    if (l4_checksum(src, dst, ip[9], l4) != 0) ++d.bad_checksums;
    if (ip[9] != 6 || ip[12] != 10 || ip[13] != 60) continue;  // client-to-server TCP only
    const std::string key = ip4(ip.subspan(12)) + ":" + std::to_string(get_u16(l4, 0)) + ">" +
                            ip4(ip.subspan(16)) + ":" + std::to_string(get_u16(l4, 2));
    Stream& s = d.client_streams[key];
    s.dst = ip4(ip.subspan(16));
    const std::uint32_t seq = get_u32(l4, 4);
    const std::uint8_t flags = l4[13];
    const std::size_t thl = (l4[12] >> 4) * 4u;
    const auto payload = l4.subspan(thl);
    if (flags & 0x02) {
      s.next_seq = seq + 1;
      s.started = true;
      continue;
    }
    if (!payload.empty()) {
      if (!s.started || seq != s.next_seq) ++d.seq_gaps;
      s.bytes.append(payload.begin(), payload.end());
      s.next_seq = seq + static_cast<std::uint32_t>(payload.size());
      s.frame_ends.emplace_back(s.bytes.size(), n + 1);
    }
  }
  return d;
}

// HTTP/1.1 request bodies of a client stream (Content-Length or chunked),
// with the stream offset where each body's bytes start (chunked: -1).
std::vector<std::pair<std::string, long>> request_bodies(const std::string& s) {
  std::vector<std::pair<std::string, long>> out;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t head_end = s.find("\r\n\r\n", at);
    if (head_end == std::string::npos) break;
    const std::string head = s.substr(at, head_end - at);
    std::size_t pos = head_end + 4;
    std::string body;
    long start = -1;
    if (head.find("Transfer-Encoding: chunked") != std::string::npos) {
      for (;;) {
        const std::size_t line_end = s.find("\r\n", pos);
        const std::size_t n = std::stoul(s.substr(pos, line_end - pos), nullptr, 16);
        pos = line_end + 2;
        if (n == 0) {
          pos += 2;
          break;
        }
        body += s.substr(pos, n);
        pos += n + 2;
      }
    } else if (const auto cl = head.find("Content-Length: "); cl != std::string::npos) {
      const std::size_t n = std::stoul(head.substr(cl + 16));
      start = static_cast<long>(pos);
      body = s.substr(pos, n);
      pos += n;
    }
    out.emplace_back(std::move(body), start);
    at = pos;
  }
  return out;
}

class ScenarioTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scenario_ = new Scenario(build_scenario(1));
    summary_ = new nlohmann::json(nlohmann::json::parse(scenario_->summary_json));
    decoded_ = new Decoded(decode(scenario_->packets));
  }
  static void TearDownTestSuite() {
    delete scenario_;
    delete summary_;
    delete decoded_;
  }
  static const nlohmann::json& item(const std::string& id) {
    for (const auto& i : (*summary_)["items"]) {
      if (i["id"] == id) return i;
    }
    throw std::runtime_error("no item " + id);
  }
  // Distinct valid IDs over all client streams matching pred.
  template <typename Pred>
  static std::set<std::string> ids_where(Pred pred) {
    std::set<std::string> ids;
    for (const auto& [key, s] : decoded_->client_streams) {
      if (!pred(key, s)) continue;
      for (const auto& [body, start] : request_bodies(s.bytes)) {
        for (auto& [id, end] : find_ids(body)) ids.insert(id);
      }
    }
    return ids;
  }
  static Scenario* scenario_;
  static nlohmann::json* summary_;
  static Decoded* decoded_;
};

Scenario* ScenarioTest::scenario_ = nullptr;
nlohmann::json* ScenarioTest::summary_ = nullptr;
Decoded* ScenarioTest::decoded_ = nullptr;

TEST_F(ScenarioTest, ChecksumsAndSequenceNumbersAreClean) {
  EXPECT_EQ(decoded_->bad_checksums, 0u);
  EXPECT_EQ(decoded_->seq_gaps, 0u);
  EXPECT_EQ((*summary_)["packets"].get<std::size_t>(), scenario_->packets.size());
}

TEST_F(ScenarioTest, TimestampsOnTheMorningOfMarch2Shanghai) {
  const std::uint64_t start = static_cast<std::uint64_t>(kScenarioStartUnix) * 1'000'000'000ull;
  for (std::size_t i = 0; i < scenario_->packets.size(); ++i) {
    ASSERT_GE(scenario_->packets[i].ts_ns, start);
    ASSERT_LT(scenario_->packets[i].ts_ns, start + 3600ull * 1'000'000'000ull);
    if (i > 0) {
      ASSERT_GE(scenario_->packets[i].ts_ns, scenario_->packets[i - 1].ts_ns);
    }
  }
}

TEST_F(ScenarioTest, PacificReCarriesAtLeast8000DistinctIds) {
  const auto ids = ids_where([](const std::string&, const Stream& s) { return s.dst == "203.0.113.10"; });
  EXPECT_GE(ids.size(), 8000u);
  EXPECT_EQ(item("pacific_re_policyholders")["distinct_valid_ids"].get<std::size_t>(), ids.size());
  std::size_t chunked = 0;
  for (const auto& f : item("pacific_re_policyholders")["flows"]) {
    chunked += f["requests"][0]["transfer"] == "chunked";
  }
  EXPECT_GE(chunked, 1u);
  EXPECT_LT(chunked, item("pacific_re_policyholders")["flows"].size());
}

TEST_F(ScenarioTest, UnregisteredHostCarriesExactly2000) {
  const auto ids =
      ids_where([](const std::string& key, const Stream&) { return key.rfind("10.60.9.", 0) == 0; });
  EXPECT_EQ(ids.size(), 2000u);
  const auto& it = item("unregistered_bulk_ids");
  EXPECT_EQ(it["distinct_valid_ids"].get<std::size_t>(), 2000u);

  // The frame holding the end of the 50th distinct ID, found independently.
  for (const auto& [key, s] : decoded_->client_streams) {
    if (key.rfind("10.60.9.", 0) != 0) continue;
    const auto bodies = request_bodies(s.bytes);
    ASSERT_EQ(bodies.size(), 1u);
    const auto found = find_ids(bodies[0].first);
    std::set<std::string> seen;
    std::size_t end50 = 0;
    for (const auto& [id, end] : found) {
      if (seen.insert(id).second && seen.size() == 50)
        end50 = static_cast<std::size_t>(bodies[0].second) + end;
    }
    std::size_t frame = 0;
    for (const auto& [stream_end, n] : s.frame_ends) {
      if (end50 - 1 < stream_end) {
        frame = n;
        break;
      }
    }
    EXPECT_EQ(it["id_last_byte_frames"]["50"].get<std::size_t>(), frame);
  }
}

TEST_F(ScenarioTest, FlowsWithoutPiCarryNoIds) {
  for (const char* id : {"lingang_auto_telemetry", "lingang_auto_trajectory", "biogen_vcf_upload",
                         "harbor_edi_hk", "harbor_tls_partner", "domestic_web"}) {
    std::set<std::string> tuples;
    for (const auto& f : item(id)["flows"]) {
      tuples.insert(f["src"].get<std::string>() + ":" + std::to_string(f["sport"].get<int>()) + ">" +
                    f["dst"].get<std::string>() + ":" + std::to_string(f["dport"].get<int>()));
    }
    for (const auto& t : tuples) ASSERT_TRUE(decoded_->client_streams.count(t)) << id << " " << t;
    const auto ids = ids_where([&](const std::string& key, const Stream&) { return tuples.count(key) > 0; });
    EXPECT_EQ(ids.size(), 0u) << id;
  }
}

TEST_F(ScenarioTest, TrajectoryVcfAndTlsContent) {
  const auto& traj = item("lingang_auto_trajectory");
  EXPECT_GE(traj["trajectory_points"].get<int>(), 20);
  const auto& vcf = item("biogen_vcf_upload");
  EXPECT_EQ(vcf["vcf_variant_lines"].get<int>(), 200);
  for (const auto& [key, s] : decoded_->client_streams) {
    if (s.dst == "203.0.113.20" && s.bytes.find("/v1/trips/upload") != std::string::npos) {
      EXPECT_NE(s.bytes.find("\"plate\":\"沪"), std::string::npos);
    }
    if (key.rfind("10.60.3.", 0) == 0) {
      EXPECT_NE(s.bytes.find("##fileformat=VCFv4.2\n"), std::string::npos);
      EXPECT_NE(s.bytes.find("multipart/form-data; boundary="), std::string::npos);
    }
    if (s.dst == "203.0.113.40") {
      EXPECT_EQ(static_cast<unsigned char>(s.bytes[0]), 0x16);  // TLS handshake record
      EXPECT_NE(s.bytes.find("partner.harbor-offshore.example"), std::string::npos);
    }
  }
  EXPECT_GE(item("dns_domestic_resolver")["queries"].size(), 5u);
}

TEST_F(ScenarioTest, DeterministicAndWritesFiles) {
  const Scenario again = build_scenario(1);
  EXPECT_EQ(again.summary_json, scenario_->summary_json);
  ASSERT_EQ(again.packets.size(), scenario_->packets.size());
  EXPECT_EQ(again.packets.back().frame, scenario_->packets.back().frame);
  EXPECT_NE(build_scenario(2).summary_json, scenario_->summary_json);

  const auto dir = std::filesystem::temp_directory_path() / ("ftzgen." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "demo.pcap").string();
  const auto written = write_scenario(path, 1);
  ASSERT_TRUE(written) << written.error();
  const auto read = read_pcap(path);
  ASSERT_TRUE(read) << read.error();
  EXPECT_EQ(read->records.size(), *written);
  EXPECT_EQ(read->precision, TimestampPrecision::kNano);
  std::ifstream summary(path + ".summary.json");
  EXPECT_EQ(nlohmann::json::parse(summary)["packets"].get<std::size_t>(), *written);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ftz::test::gen
