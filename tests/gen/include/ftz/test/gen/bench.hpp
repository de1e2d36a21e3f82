// Benchmark captures: many distinct TCP/HTTP flows (or tiny UDP packets),
// interleaved the way a busy uplink would be, streamed to disk so that a
// 500 MB file needs no more memory than the active flows.
#pragma once

#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/test/gen/identifiers.hpp"
#include "ftz/test/gen/rng.hpp"

namespace ftz::test::gen {

struct BenchOptions {
  std::string out_path;
  std::uint64_t flows = 1000;
  unsigned pi_percent = 0;  // share of flows whose bodies carry valid resident IDs
  std::uint64_t seed = 1;
  bool small_packets = false;     // UDP, 60-byte frames (64 on the wire with FCS)
  unsigned packets_per_flow = 8;  // small-packet mode only
  // Issue 9's capture: every flow a POST of a number-heavy JSON body (order
  // records: 13-digit timestamps, 11-19-digit order ids, prices, counts;
  // >= 30 % digits); the PI flows carry 1-2 identifiers of four kinds
  // (resident ID, mobile, UnionPay card, e-mail), every other PI flow one
  // across a TCP segment boundary.
  bool json = false;
};

struct BenchStats {
  std::uint64_t flows = 0;
  std::uint64_t pi_flows = 0;
  std::uint64_t ids = 0;  // identifiers written into bodies (not deduplicated)
  // --json only: identifiers by kind, those across a segment boundary, and
  // the share of digits in the bodies.
  std::uint64_t resident_ids = 0, mobiles = 0, cards = 0, emails = 0;
  std::uint64_t split_ids = 0;
  std::uint64_t body_bytes = 0, body_digits = 0;
  std::uint64_t packets = 0;
  std::uint64_t file_bytes = 0;
};

// Writes out_path (classic pcap, ns) and out_path + ".summary.json".
// Deterministic per seed.
tl::expected<BenchStats, std::string> write_bench(const BenchOptions& options);

// Whether flow i (0-based) is one of the PI flows: spreads exactly
// floor(flows * percent / 100) of them evenly over the capture.
bool bench_flow_has_pi(std::uint64_t i, unsigned percent);

// One JSON body of exactly `size` bytes (>= 1024) for --json: order records,
// and with `ids` > 0 that many identifiers (kinds drawn from rng) in fields
// named for them. When `split_at` is non-zero the first identifier starts a
// few bytes before body offset `split_at` and ends after it. Counts go to st
// (not split_ids); each identifier's [begin, end) body offsets to id_spans.
std::string bench_json_body(Rng& rng, IdentityFactory& ids_factory, std::size_t size, unsigned ids,
                            std::size_t split_at, BenchStats& st, std::vector<std::size_t>* id_spans);

}  // namespace ftz::test::gen
