// ftzgate-gen: writes the demo and benchmark captures (no network needed).
// Arguments parsed with CLI11 (the one argument parser of the tools): --help
// exits 0, a bad argument exits 2 with the message and the usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "ftz/test/gen/bench.hpp"
#include "ftz/test/gen/scenario.hpp"

namespace {

constexpr std::uint64_t kJsonDefaultFlows = 10'000;
constexpr unsigned kJsonDefaultPiPercent = 5;

int run_scenario(const ftz::test::gen::BenchOptions& o) {
  const auto written = ftz::test::gen::write_scenario(o.out_path, o.seed);
  if (!written) {
    std::fprintf(stderr, "ftzgate-gen: %s\n", written.error().c_str());
    return 1;
  }
  std::printf("%s: %zu packets; summary in %s.summary.json\n", o.out_path.c_str(), *written,
              o.out_path.c_str());
  return 0;
}

int run_bench(const ftz::test::gen::BenchOptions& o) {
  const auto stats = ftz::test::gen::write_bench(o);
  if (!stats) {
    std::fprintf(stderr, "ftzgate-gen: %s\n", stats.error().c_str());
    return 1;
  }
  std::printf("%s: %llu flows (%llu with IDs), %llu packets, %llu bytes\n", o.out_path.c_str(),
              static_cast<unsigned long long>(stats->flows), static_cast<unsigned long long>(stats->pi_flows),
              static_cast<unsigned long long>(stats->packets),
              static_cast<unsigned long long>(stats->file_bytes));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ftz::test::gen::BenchOptions o;
  CLI::App app{"ftzgate-gen: the demo capture and benchmark captures (deterministic per seed)"};
  app.require_subcommand(1);
  // "usage:" as every tool prints it (tests/dpdk/binary_test.cpp looks for it).
  app.get_formatter()->label("Usage", "usage");

  auto* scenario =
      app.add_subcommand("scenario", "the Lin-gang demo capture (SCENARIO.md) and FILE.summary.json");
  scenario->add_option("--out", o.out_path, "capture to write (classic pcap, ns)")->required();
  scenario->add_option("--seed", o.seed, "random seed");

  auto* bench = app.add_subcommand(
      "bench",
      "N interleaved HTTP flows (1-32 KiB bodies), P% carrying identifiers; --json: every flow a POST of a "
      "number-heavy JSON body (issue 9's capture, 10,000 flows and 5% by default); --small-packets: N UDP "
      "flows of K 60-byte frames each");
  bench->add_option("--out", o.out_path, "capture to write (classic pcap, ns); FILE.summary.json next to it")
      ->required();
  auto* flows = bench->add_option("--flows", o.flows, "flows (required unless --json: 10000)")
                    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40));
  auto* pi = bench
                 ->add_option("--pi-percent", o.pi_percent,
                              "share of flows carrying identifiers (default 0; --json: 5)")
                 ->check(CLI::Range(0u, 100u));
  bench->add_option("--seed", o.seed, "random seed");
  auto* json =
      bench->add_flag("--json", o.json, "JSON order bodies with >= 30% digits, identifiers of four kinds");
  auto* small = bench->add_flag("--small-packets", o.small_packets, "UDP flows of 60-byte frames");
  bench
      ->add_option("--packets-per-flow", o.packets_per_flow,
                   "frames per flow with --small-packets (default 8)")
      ->check(CLI::Range(1u, 1'000'000u))
      ->needs(small);
  json->excludes(small);

  try {
    app.parse(argc, argv);
    if (*bench && !*json && flows->count() == 0) throw CLI::RequiredError("--flows (bench without --json)");
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    std::fprintf(stderr, "ftzgate-gen: %s\n%s", e.what(), app.help().c_str());
    return 2;
  }
  if (*scenario) return run_scenario(o);
  if (o.json) {
    if (flows->count() == 0) o.flows = kJsonDefaultFlows;
    if (pi->count() == 0) o.pi_percent = kJsonDefaultPiPercent;
  }
  return run_bench(o);
}
