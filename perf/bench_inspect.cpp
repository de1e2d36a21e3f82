// End-to-end throughput of ftzgate-inspect's engine path on a generated
// capture, next to a bare libpcap read of the same file in the same run.
//
//   bench_inspect CAPTURE CONFIG [google-benchmark flags]
//
// Measured region: BM_PcapRead opens the file and reads every record with
// pcap_next_ex, touching each byte (the floor any offline path pays);
// BM_Inspect runs inspect_capture(): the same read, a copy per packet into the
// burst, and the full engine (parse, flows, reassembly, app metadata, policy,
// EVE event formatting into a string that is discarded). Both report bytes/s
// of frame data; scripts/run-benchmarks prints their ratio.
#include <benchmark/benchmark.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"

namespace {

std::string g_capture;
std::string g_config;

void BM_PcapRead(benchmark::State& state) {
  uint64_t bytes = 0;
  uint64_t packets = 0;
  for (auto _ : state) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(g_capture.c_str(), err);
    if (p == nullptr) {
      state.SkipWithError(err);
      return;
    }
    pcap_pkthdr* h;
    const u_char* d;
    uint64_t sum = 0;
    while (pcap_next_ex(p, &h, &d) == 1) {
      for (uint32_t i = 0; i < h->caplen; i += 64) sum += d[i];
      bytes += h->len;
      ++packets;
    }
    benchmark::DoNotOptimize(sum);
    pcap_close(p);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["Gbit/s"] =
      benchmark::Counter(static_cast<double>(bytes) * 8 / 1e9, benchmark::Counter::kIsRate);
}

void BM_Inspect(benchmark::State& state) {
  auto loaded = ftz::config::load_config(g_config);
  if (!loaded) {
    state.SkipWithError("config rejected");
    return;
  }
  auto built = ftz::engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
  if (!built) {
    state.SkipWithError(built.error().c_str());
    return;
  }
  auto gen = std::move(*built);
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint64_t events = 0;
  std::string line;
  const ftz::offline::EventCallback on_event = [&](const ftz::engine::Event& e,
                                                   const ftz::engine::PolicyGeneration& g) {
    line.clear();
    ftz::engine::format_eve(e, g, line);
    ++events;
  };
  for (auto _ : state) {
    ftz::offline::InspectOptions opts;
    opts.pcap_path = g_capture;
    opts.demo_token_key = true;  // a configuration naming the examples' key may be benchmarked
    auto s = ftz::offline::inspect_capture(opts, gen, on_event);
    if (!s) {
      state.SkipWithError(s.error().c_str());
      return;
    }
    bytes += s->bytes;
    packets += s->packets;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["Gbit/s"] =
      benchmark::Counter(static_cast<double>(bytes) * 8 / 1e9, benchmark::Counter::kIsRate);
  state.counters["events"] = static_cast<double>(events);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_inspect CAPTURE CONFIG [benchmark flags]\n");
    return 2;
  }
  g_capture = argv[1];
  g_config = argv[2];
  argv[2] = argv[0];
  argc -= 2;
  argv += 2;
  benchmark::Initialize(&argc, argv);
  benchmark::RegisterBenchmark("BM_PcapRead", BM_PcapRead)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("BM_Inspect", BM_Inspect)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
