// Benchmark captures: many distinct TCP/HTTP flows (or tiny UDP packets),
// interleaved the way a busy uplink would be, streamed to disk so that a
// 500 MB file needs no more memory than the active flows.
#pragma once

#include <cstdint>
#include <string>

#include <tl/expected.hpp>

namespace ftz::test::gen {

struct BenchOptions {
  std::string out_path;
  std::uint64_t flows = 1000;
  unsigned pi_percent = 0;       // share of flows whose bodies carry valid resident IDs
  std::uint64_t seed = 1;
  bool small_packets = false;    // UDP, 60-byte frames (64 on the wire with FCS)
  unsigned packets_per_flow = 8; // small-packet mode only
};

struct BenchStats {
  std::uint64_t flows = 0;
  std::uint64_t pi_flows = 0;
  std::uint64_t ids = 0;  // resident IDs written into bodies (not deduplicated)
  std::uint64_t packets = 0;
  std::uint64_t file_bytes = 0;
};

// Writes out_path (classic pcap, ns) and out_path + ".summary.json".
tl::expected<BenchStats, std::string> write_bench(const BenchOptions& options);

// Whether flow i (0-based) is one of the PI flows: spreads exactly
// floor(flows * percent / 100) of them evenly over the capture.
bool bench_flow_has_pi(std::uint64_t i, unsigned percent);

}  // namespace ftz::test::gen
