#include "ftz/test/gen/bench.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "ftz/test/gen/identifiers.hpp"
#include "ftz/test/pcap_writer.hpp"

namespace ftz::test::gen {
namespace {

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string(name) + "." + std::to_string(::getpid()) + ".pcap"))
      .string();
}

TEST(Bench, PiFlowSelectionIsExact) {
  std::uint64_t n = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) n += bench_flow_has_pi(i, 7);
  EXPECT_EQ(n, 70u);
  for (std::uint64_t i = 0; i < 100; ++i) EXPECT_FALSE(bench_flow_has_pi(i, 0));
}

TEST(Bench, TcpFlowsHaveDistinctTuples) {
  BenchOptions o;
  o.out_path = temp_path("bench_tcp");
  o.flows = 300;
  o.pi_percent = 20;
  const auto st = write_bench(o);
  ASSERT_TRUE(st) << st.error();
  EXPECT_EQ(st->pi_flows, 60u);
  EXPECT_GT(st->ids, 60u);
  const auto pcap = read_pcap(o.out_path);
  ASSERT_TRUE(pcap);
  EXPECT_EQ(pcap->records.size(), st->packets);
  std::set<std::tuple<std::uint32_t, std::uint16_t, std::uint32_t>> syns;
  std::uint64_t last_ts = 0;
  for (const auto& r : pcap->records) {
    EXPECT_GE(r.ts_ns, last_ts);
    last_ts = r.ts_ns;
    const auto& f = r.data;
    ASSERT_LE(f.size(), 1514u);    // MSS 1460 + headers
    if ((f[47] & 0x12) == 0x02) {  // SYN without ACK
      syns.emplace(get_u32(f, 26), get_u16(f, 34), get_u32(f, 30));
      EXPECT_EQ(f[26], 10);
      EXPECT_EQ(f[27], 60);
    }
  }
  EXPECT_EQ(syns.size(), 300u);
  std::filesystem::remove(o.out_path);
  std::filesystem::remove(o.out_path + ".summary.json");
}

TEST(Bench, SmallPacketsAre60ByteFrames) {
  BenchOptions o;
  o.out_path = temp_path("bench_small");
  o.flows = 1000;
  o.small_packets = true;
  o.packets_per_flow = 3;
  const auto st = write_bench(o);
  ASSERT_TRUE(st) << st.error();
  const auto pcap = read_pcap(o.out_path);
  ASSERT_TRUE(pcap);
  ASSERT_EQ(pcap->records.size(), 3000u);
  std::set<std::pair<std::uint32_t, std::uint16_t>> flows;
  for (const auto& r : pcap->records) {
    EXPECT_EQ(r.data.size(), 60u);
    flows.emplace(get_u32(r.data, 26), get_u16(r.data, 34));
  }
  EXPECT_EQ(flows.size(), 1000u);
  std::filesystem::remove(o.out_path);
  std::filesystem::remove(o.out_path + ".summary.json");
}

// --json: re-derives from the capture what the generator claims: every flow a
// POST of a JSON body with >= 30 % digits, the identifiers (valid by this
// test's own reading of the JSON) in the PI flows only, some across a
// segment boundary.
TEST(Bench, JsonBodiesAreNumberHeavyAndCarryValidIdentifiers) {
  BenchOptions o;
  o.out_path = temp_path("bench_json");
  o.flows = 200;
  o.pi_percent = 10;
  o.json = true;
  const auto st = write_bench(o);
  ASSERT_TRUE(st) << st.error();
  const auto pcap = read_pcap(o.out_path);
  ASSERT_TRUE(pcap);
  struct Stream {
    std::string bytes;
    std::vector<std::size_t> ends;  // segment ends in bytes
  };
  std::map<std::pair<std::uint32_t, std::uint16_t>, Stream> clients;
  for (const auto& r : pcap->records) {
    const auto& f = r.data;
    if (f[26] != 10) continue;  // server -> client
    const std::size_t ip_total = get_u16(f, 16);
    const std::size_t data = 34 + (f[46] >> 4) * 4u;
    if (14 + ip_total <= data) continue;
    auto& s = clients[{get_u32(f, 26), get_u16(f, 34)}];
    s.bytes.append(reinterpret_cast<const char*>(f.data()) + data, 14 + ip_total - data);
    s.ends.push_back(s.bytes.size());
  }
  ASSERT_EQ(clients.size(), 200u);
  std::uint64_t digits = 0, body_bytes = 0, ids = 0, split = 0, pi_flows = 0;
  for (const auto& [key, s] : clients) {
    ASSERT_EQ(s.bytes.rfind("POST ", 0), 0u);
    const std::size_t head = s.bytes.find("\r\n\r\n") + 4;
    const std::string body = s.bytes.substr(head);
    body_bytes += body.size();
    for (char c : body) digits += (c >= '0' && c <= '9');
    const auto doc = nlohmann::json::parse(body);
    std::uint64_t here = 0;
    for (const auto& rec : doc.at("orders")) {
      for (const auto& [name, value] : rec.items()) {
        if (name != "id_card" && name != "mobile" && name != "card_no" && name != "email") continue;
        const std::string v = value.get<std::string>();
        if (name == "id_card") {
          EXPECT_TRUE(is_valid_resident_id(v)) << v;
        }
        if (name == "mobile") {
          EXPECT_TRUE(is_valid_mobile(v)) << v;
        }
        if (name == "card_no") {
          EXPECT_TRUE(luhn_valid(v) && v.rfind("62", 0) == 0) << v;
        }
        if (name == "email") {
          EXPECT_NE(v.find('@'), std::string::npos) << v;
        }
        ++here;
        const std::size_t at = s.bytes.find("\"" + v + "\"") + 1;
        for (const std::size_t end : s.ends) split += (at < end && end < at + v.size());
      }
    }
    EXPECT_LE(here, 2u);
    ids += here;
    pi_flows += here != 0;
  }
  EXPECT_EQ(pi_flows, 20u);
  EXPECT_EQ(ids, st->ids);
  EXPECT_EQ(st->resident_ids + st->mobiles + st->cards + st->emails, st->ids);
  EXPECT_EQ(split, st->split_ids);
  EXPECT_GE(split, 5u);
  EXPECT_EQ(body_bytes, st->body_bytes);
  EXPECT_GE(digits * 100, body_bytes * 30);
  std::filesystem::remove(o.out_path);
  std::filesystem::remove(o.out_path + ".summary.json");
}

}  // namespace
}  // namespace ftz::test::gen
