// The engine's per-packet cost for flows decided at the header stage:
// Worker::process_burst on 60-byte UDP frames (64 on the wire) under
// examples/lingang.yaml with its full prefix lists and the built-in catalog,
// half the flows from the FTZ to `domestic` (rule domestic-fast-path: allow)
// and half from domestic to offshore (export_default: block, decided at the
// header stage: nothing of them leaves, so nothing of them is scanned). One
// frame per flow per round, every flow before the next round: the widest
// working set, as `ftzgate-gen bench --small-packets` writes it.
//
//   bench_worker [google-benchmark flags]
//
// BM_WorkerHeaderOnly/FLOWS/BURST: FLOWS concurrent flows (4,096 and
// 1,048,576), BURST packets per process_burst() call (1..kBurstSize): the
// burst-size sweep behind kBurstSize and the prefetch distance (worker.cpp).
// No DPDK: bench-dp part 1 measures the whole appliance against testpmd.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/packet_builder.hpp"

namespace {

using namespace ftz::engine;
using ftz::test::Bytes;
using ftz::test::Ipv4Addr;
using ftz::test::PacketBuilder;

std::string source_dir() {
  const char* env = std::getenv("FTZ_SOURCE_DIR");
  return env != nullptr ? env : FTZ_DEFAULT_SOURCE_DIR;
}

// Addresses inside the mainland list: the first host of each IPv4 prefix.
std::vector<uint32_t> domestic_hosts() {
  std::vector<uint32_t> out;
  std::ifstream in(source_dir() + "/examples/data/cn-ipv4.txt");
  std::string line;
  while (std::getline(in, line)) {
    unsigned a, b, c, d, len;
    if (std::sscanf(line.c_str(), "%u.%u.%u.%u/%u", &a, &b, &c, &d, &len) != 5) continue;
    out.push_back(((a << 24) | (b << 16) | (c << 8) | d) + (len < 31 ? 1 : 0));  // a host inside the prefix
  }
  return out;
}

Ipv4Addr v4(uint32_t h) {
  return Ipv4Addr{{static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16), static_cast<uint8_t>(h >> 8),
                   static_cast<uint8_t>(h)}};
}

struct Traffic {
  std::shared_ptr<const PolicyGeneration> gen;
  std::vector<Bytes> frames;  // one per flow
  std::string error;
};

// One generation and one frame set per flow count (built once: the
// Hyperscan compile and a million frames take seconds).
Traffic& traffic(uint32_t flows) {
  static std::map<uint32_t, Traffic> cache;
  auto [it, fresh] = cache.try_emplace(flows);
  Traffic& t = it->second;
  if (!fresh) return t;
  auto loaded = ftz::config::load_config(source_dir() + "/examples/lingang.yaml");
  if (!loaded) {
    t.error = "examples/lingang.yaml rejected";
    return t;
  }
  loaded->spec.limits.flow_table_size = flows + flows / 4;  // headroom, as a deployment sizes it
  auto built = PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
  if (!built) {
    t.error = built.error();
    return t;
  }
  t.gen = std::move(*built);
  const std::vector<uint32_t> domestic = domestic_hosts();
  if (domestic.empty()) {
    t.error = "examples/data/cn-ipv4.txt not found (FTZ_SOURCE_DIR)";
    return t;
  }
  const std::string payload(18, 'p');  // 14 + 20 + 8 + 18 = 60 bytes
  t.frames.reserve(flows);
  for (uint32_t i = 0; i < flows; ++i) {
    const uint32_t host = i / 2;
    const uint32_t ftz = 0x0a3c0000u | ((host / 254) % 256) << 8 | (1 + host % 254);  // 10.60.x.y
    const uint32_t dom = domestic[(host * 2654435761u) % domestic.size()];
    const uint16_t sport = static_cast<uint16_t>(1024 + (host / (256 * 254)) * 7 + host % 50000);
    PacketBuilder b;
    if (i % 2 == 0)
      b.eth().ipv4(v4(ftz), v4(dom));  // FTZ -> domestic: allowed
    else
      b.eth().ipv4(v4(dom), v4(0xcb007100u | (1 + host % 254)));  // domestic -> offshore: blocked
    t.frames.push_back(b.udp(sport, 40001).payload(payload).build());
  }
  return t;
}

void BM_WorkerHeaderOnly(benchmark::State& state) {
  const auto flows = static_cast<uint32_t>(state.range(0));
  const auto burst = static_cast<uint32_t>(state.range(1));
  Traffic& t = traffic(flows);
  if (!t.error.empty()) {
    state.SkipWithError(t.error.c_str());
    return;
  }
  Worker w(t.gen, LinkType::kEthernet);
  std::vector<PacketView> views(t.frames.size());
  for (size_t i = 0; i < views.size(); ++i) {
    views[i].data = t.frames[i].data();
    views[i].caplen = views[i].wirelen = static_cast<uint32_t>(t.frames[i].size());
  }
  int64_t now = 1'700'000'000'000'000'000;
  PacketResult results[kBurstSize];
  auto run = [&](size_t from) {
    const size_t n = std::min<size_t>(burst, views.size() - from);
    for (size_t i = 0; i < n; ++i) views[from + i].ts_ns = ++now;
    w.process_burst(std::span<const PacketView>(&views[from], n), std::span<PacketResult>(results, n));
    while (w.events().front() != nullptr) w.events().pop();  // no flow ends: app events only
    return n;
  };
  for (size_t i = 0; i < views.size();) i += run(i);  // every flow created: the steady state
  size_t next = 0;
  uint64_t packets = 0;
  for (auto _ : state) {
    const size_t n = run(next);
    packets += n;
    next += n;
    if (next == views.size()) next = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  const WorkerCounters& c = w.counters();
  state.counters["flows"] = static_cast<double>(w.active_flows());
  state.counters["dropped%"] = 100.0 * static_cast<double>(c.dropped) / static_cast<double>(c.packets);
  state.counters["scanned_flows"] = static_cast<double>(c.content_flows);
  state.counters["bytes_per_flow"] = static_cast<double>(Worker::bytes_per_flow());
}
BENCHMARK(BM_WorkerHeaderOnly)
    ->ArgNames({"flows", "burst"})
    ->Args({4096, 32})
    ->Args({1 << 20, 32})
    ->Args({4096, 1})
    ->Args({4096, 8})
    ->Args({4096, 16})
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 8})
    ->Args({1 << 20, 16});

}  // namespace

BENCHMARK_MAIN();
