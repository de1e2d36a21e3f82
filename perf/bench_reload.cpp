// Reload under traffic with many open inspected streams (issue 9, goal 4):
// the largest gap between the starts of two consecutive process_burst calls
// of one Worker when a generation with another signature catalog is installed
// between two bursts, as ftzgate-dp's worker loop does (adopt_generation()).
//
//   bench_reload [--flows N] [--passes P]
//
// 1. Opens N UDP content flows (default 100,000), each holding one open
//    Hyperscan stream of the built-in catalog (examples/signatures/builtin.yaml).
// 2. Runs bursts of 32 datagrams over those flows, round robin, P passes
//    (default 3); before burst B (a third into the first pass) the worker
//    gets generation 2: the catalog without its last signature (another
//    database), with a scanner built beforehand (off the worker, as
//    ftzgate-dp builds it on the main lcore).
// 3. Prints the largest inter-burst gap before the reload (the steady-state
//    figure), the gap across the reload, the set_generation() call, the
//    slowest burst after it, and the counters that show every flow stayed
//    inspected. Goal: the largest gap with the reload < 1 ms. On a shared
//    host, wall-clock gaps include preemptions (compare the gaps before the
//    reload); the cpu_* lines count this thread's CPU time only.
//
// The scanner handed back by the worker (the old one) is freed outside the
// timed loop, as the control side frees it after the grace period.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../tests/engine/engine_fixtures.hpp"
#include "../tests/engine/signatures/catalog_reader.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/engine/signatures/scanner.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/packet_builder.hpp"

namespace {

using namespace ftz::engine;
using Clock = std::chrono::steady_clock;

constexpr int64_t kT0 = 1772413200LL * 1'000'000'000;  // 2026-03-02 01:00:00 UTC

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// This thread's CPU time: what a burst costs without the preemptions of a
// shared host (wall-clock gaps include them; an isolated lcore does not).
double thread_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

PolicySpec content_policy(uint32_t flows, std::vector<SignatureSpec> sigs) {
  PolicySpec s = testing::zone_policy();
  s.limits.flow_table_size = flows + flows / 2;
  s.limits.alerts_per_flow = 1000;
  RuleSpec sensitive;
  sensitive.name = "sensitive";
  sensitive.match.data_classes = 1u << static_cast<int>(DataClass::kSensitivePi);
  sensitive.verdict.alert = true;
  s.rules = {sensitive};
  s.signatures = std::move(sigs);
  return s;
}

std::shared_ptr<const PolicyGeneration> build(const PolicySpec& spec, uint64_t number) {
  auto db = sig::SignatureDatabase::compile(spec.signatures);
  if (!db) {
    std::fprintf(stderr, "bench_reload: %s\n", db.error().c_str());
    std::exit(1);
  }
  auto g = PolicyGeneration::build_with_signatures(spec, number, *db);
  if (!g) {
    std::fprintf(stderr, "bench_reload: %s\n", g.error().c_str());
    std::exit(1);
  }
  return *g;
}

ftz::test::Bytes datagram(uint32_t i) {
  // 10.60.0.0/16 (the FTZ) to an offshore address: an export, inspected.
  const std::string src = "10.60." + std::to_string((i / 250) % 256) + "." + std::to_string(1 + i % 250);
  const auto sport = static_cast<uint16_t>(20000 + i / 64000);
  return ftz::test::PacketBuilder()
      .eth()
      .ipv4(src, "203.0.113.10")
      .udp(sport, 9999)
      .payload("{\"order\":" + std::to_string(1000000000000ULL + i) + ",\"note\":\"tel 1391234")
      .build();
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t flows = 100'000;
  uint32_t passes = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--flows") == 0)
      flows = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (std::strcmp(argv[i], "--passes") == 0)
      passes = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
  }
  auto catalog = sig::test::read_catalog(sig::test::builtin_catalog_path());
  auto changed = catalog;
  changed.pop_back();  // a signature change: another database
  auto g1 = build(content_policy(flows, catalog), 1);
  auto g2 = build(content_policy(flows, changed), 2);

  WorkerOptions o;
  o.inspect_max_flows = flows;
  Worker w(g1, LinkType::kEthernet, o);
  auto next = Worker::make_scanner(*g2, o, g1.get());  // off the worker, with the switch's signature map
  if (!next || !*next) {
    std::fprintf(stderr, "bench_reload: no scanner for generation 2\n");
    return 1;
  }

  std::vector<ftz::test::Bytes> frames;
  frames.reserve(flows);
  for (uint32_t i = 0; i < flows; ++i) frames.push_back(datagram(i));

  int64_t ts = kT0;
  uint64_t token = 0;
  std::vector<PacketView> views(kBurstSize);
  std::vector<PacketResult> results(kBurstSize);
  auto burst_at = [&](uint64_t first) {
    for (uint32_t j = 0; j < kBurstSize; ++j) {
      views[j] = testing::view_of(frames[(first + j) % flows], ts, token++);
      ts += 1000;
    }
    w.process_burst(views, results);
  };
  // Open every flow's stream.
  for (uint64_t b = 0; b < (flows + kBurstSize - 1) / kBurstSize; ++b) burst_at(b * kBurstSize);
  const uint64_t open_streams = w.scanner()->counters().streams_in_use;

  const uint64_t bursts_per_pass = (flows + kBurstSize - 1) / kBurstSize;
  const uint64_t reload_before = bursts_per_pass / 3;
  const uint64_t total = bursts_per_pass * passes;
  double max_gap_before = 0, gap_reload = 0, max_gap_after = 0, set_generation_us = 0,
         slowest_burst_after = 0;
  std::vector<double> gaps_before, gaps_after;  // percentiles: a loaded host preempts now and then
  double cpu_max_before = 0, cpu_max_after = 0, set_generation_cpu_us = 0;
  gaps_before.reserve(total);
  gaps_after.reserve(total);
  std::unique_ptr<sig::Scanner> old;
  Clock::time_point prev = Clock::now();
  for (uint64_t b = 0; b < total; ++b) {
    if (b == reload_before) {
      const auto t0 = Clock::now();
      const double c0 = thread_cpu_us();
      old = w.set_generation(g2, std::move(*next));
      set_generation_cpu_us = thread_cpu_us() - c0;
      set_generation_us = us_between(t0, Clock::now());
    }
    const auto start = Clock::now();
    const double gap = us_between(prev, start);
    prev = start;
    if (b < reload_before) {
      max_gap_before = std::max(max_gap_before, gap);
      if (b > 0) gaps_before.push_back(gap);
    } else if (b == reload_before) {
      gap_reload = gap;
    } else {
      max_gap_after = std::max(max_gap_after, gap);
      gaps_after.push_back(gap);
    }
    const double c0 = thread_cpu_us();
    burst_at(b * kBurstSize);
    const double cpu = thread_cpu_us() - c0;
    if (b >= reload_before) {
      slowest_burst_after = std::max(slowest_burst_after, us_between(start, Clock::now()));
      cpu_max_after = std::max(cpu_max_after, cpu);
    } else {
      cpu_max_before = std::max(cpu_max_before, cpu);
    }
  }
  auto pct = [](std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
  };
  const WorkerCounters& c = w.counters();
  std::printf("bench_reload: %u flows, %llu open streams before the reload, %llu bursts of %u\n", flows,
              static_cast<unsigned long long>(open_streams), static_cast<unsigned long long>(total),
              kBurstSize);
  std::printf("max_gap_before_us=%.1f\n", max_gap_before);
  std::printf("gap_across_reload_us=%.1f\n", gap_reload);
  std::printf("set_generation_us=%.1f\n", set_generation_us);
  std::printf("max_gap_after_us=%.1f\n", max_gap_after);
  std::printf("gap_p50/p99/p99.9_before_us=%.1f/%.1f/%.1f\n", pct(gaps_before, 0.5), pct(gaps_before, 0.99),
              pct(gaps_before, 0.999));
  std::printf("gap_p50/p99/p99.9_after_us=%.1f/%.1f/%.1f\n", pct(gaps_after, 0.5), pct(gaps_after, 0.99),
              pct(gaps_after, 0.999));
  std::printf("max_gap_with_reload_us=%.1f (goal < 1000)\n", std::max(gap_reload, max_gap_after));
  std::printf("slowest_burst_after_us=%.1f\n", slowest_burst_after);
  // CPU time of this thread only: the figure an isolated lcore would see.
  std::printf("cpu_set_generation_us=%.1f cpu_max_burst_before_us=%.1f cpu_max_burst_after_us=%.1f\n",
              set_generation_cpu_us, cpu_max_before, cpu_max_after);
  std::printf("cpu_max_gap_with_reload_us=%.1f (goal < 1000)\n",
              std::max(set_generation_cpu_us + cpu_max_after, cpu_max_before));
  std::printf("scan_handovers=%llu scanner_switches=%llu uninspectable_flows=%llu content_flows=%llu\n",
              static_cast<unsigned long long>(c.scan_handovers),
              static_cast<unsigned long long>(c.scanner_switches),
              static_cast<unsigned long long>(c.uninspectable_flows),
              static_cast<unsigned long long>(c.content_flows));
  std::printf("streams_in_use_new=%llu\n",
              static_cast<unsigned long long>(w.scanner()->counters().streams_in_use));
  return 0;
}
