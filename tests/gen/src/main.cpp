// ftzgate-gen: writes the demo and benchmark captures (no network needed).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ftz/test/gen/bench.hpp"
#include "ftz/test/gen/scenario.hpp"

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  ftzgate-gen scenario --out FILE [--seed N]\n"
    "      the Lin-gang demo capture (SCENARIO.md) and FILE.summary.json\n"
    "  ftzgate-gen bench --out FILE --flows N [--pi-percent P] [--seed N]\n"
    "                    [--small-packets [--packets-per-flow K]]\n"
    "      N interleaved HTTP flows (1-32 KiB bodies), P% carrying resident IDs;\n"
    "      --small-packets: N UDP flows of K 60-byte frames each (default K=8)\n"
    "  ftzgate-gen -h | --help\n";

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const std::string s(text);
  out = std::strtoull(s.c_str(), &end, 10);
  return end != nullptr && *end == '\0' && s[0] != '-';
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "ftzgate-gen: %s\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // -h/--help anywhere ("ftzgate-gen bench --help") asks for the usage: no error.
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  if (argc < 2) return usage_error("missing command");
  const std::string_view command = argv[1];
  ftz::test::gen::BenchOptions bench;
  bool have_flows = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](std::uint64_t& out) {
      if (i + 1 >= argc || !parse_u64(argv[i + 1], out)) return false;
      ++i;
      return true;
    };
    std::uint64_t v = 0;
    if (arg == "--out" && i + 1 < argc) {
      bench.out_path = argv[++i];
    } else if (arg == "--seed") {
      if (!value(bench.seed)) return usage_error("--seed needs a number");
    } else if (arg == "--flows") {
      if (!value(bench.flows)) return usage_error("--flows needs a number");
      have_flows = true;
    } else if (arg == "--pi-percent") {
      if (!value(v) || v > 100) return usage_error("--pi-percent needs 0..100");
      bench.pi_percent = static_cast<unsigned>(v);
    } else if (arg == "--small-packets") {
      bench.small_packets = true;
    } else if (arg == "--packets-per-flow") {
      if (!value(v) || v == 0 || v > 1'000'000) return usage_error("--packets-per-flow needs 1..1000000");
      bench.packets_per_flow = static_cast<unsigned>(v);
    } else {
      return usage_error("unknown argument: " + std::string(arg));
    }
  }
  if (bench.out_path.empty()) return usage_error("--out FILE is required");

  if (command == "scenario") {
    const auto written = ftz::test::gen::write_scenario(bench.out_path, bench.seed);
    if (!written) {
      std::fprintf(stderr, "ftzgate-gen: %s\n", written.error().c_str());
      return 1;
    }
    std::printf("%s: %zu packets; summary in %s.summary.json\n", bench.out_path.c_str(), *written,
                bench.out_path.c_str());
    return 0;
  }
  if (command == "bench") {
    if (!have_flows) return usage_error("bench needs --flows N");
    const auto stats = ftz::test::gen::write_bench(bench);
    if (!stats) {
      std::fprintf(stderr, "ftzgate-gen: %s\n", stats.error().c_str());
      return 1;
    }
    std::printf("%s: %llu flows (%llu with IDs), %llu packets, %llu bytes\n", bench.out_path.c_str(),
                static_cast<unsigned long long>(stats->flows),
                static_cast<unsigned long long>(stats->pi_flows),
                static_cast<unsigned long long>(stats->packets),
                static_cast<unsigned long long>(stats->file_bytes));
    return 0;
  }
  return usage_error("unknown command: " + std::string(command));
}
