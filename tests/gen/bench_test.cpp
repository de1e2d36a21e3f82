#include "ftz/test/gen/bench.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <tuple>

#include "ftz/test/pcap_writer.hpp"

namespace ftz::test::gen {
namespace {

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "." + std::to_string(::getpid()) + ".pcap"))
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
    ASSERT_LE(f.size(), 1514u);  // MSS 1460 + headers
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

}  // namespace
}  // namespace ftz::test::gen
