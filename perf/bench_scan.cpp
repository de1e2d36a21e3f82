// Signature scanning throughput (dataplane/engine/signatures): the full
// built-in catalog over realistic HTTP bodies, next to a bare Hyperscan
// BLOCK-mode scan of the same bytes with the same patterns and flags, in the
// same run. Prints Gbit/s per core for each and the ratio.
//
//   bench_scan [google-benchmark flags]
//
// Measured region of BM_ScanJson / BM_ScanCsv, per iteration: one body
// (~1 MiB) fed to Scanner::scan() in 1460-byte chunks (TCP-segment sized),
// then Scanner::finish(): stream slot taken and returned, decoding (JSON
// \uXXXX unescape / none for CSV, full-width fold), hs_scan_stream, every raw
// match judged (boundaries on exact bytes, validators, context keywords and
// field names, one-identifier-per-span), detections masked and delivered to a
// counting sink. NOT in it: TCP reassembly, HTTP parsing, database compile,
// body generation. BM_HsBlock*: one hs_scan() call over the same body on the
// block-mode database with a callback that only counts. BM_HsStream*: the bare
// streaming scan of the same chunks, callback only counting (Hyperscan's own
// streaming cost, without decoding or validation).
//
// Bodies: JSON records / CSV rows of orders with timestamps, amounts,
// addresses and free text; about 1% of the bytes are identifiers (resident
// IDs, mobiles, UnionPay cards, e-mails), all synthetic (check digits made
// here).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../tests/engine/signatures/catalog_reader.hpp"
#include "ftz/engine/signatures/scanner.hpp"

namespace {

using namespace ftz::engine::sig;

constexpr size_t kBodyBytes = 1u << 20;
constexpr size_t kChunk = 1460;

char id_check(const std::string& first17) {
  static constexpr int kW[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int s = 0;
  for (size_t i = 0; i < 17; ++i) s += (first17[i] - '0') * kW[i];
  return "10X98765432"[s % 11];
}

std::string luhn(std::string p) {
  for (char c = '0'; c <= '9'; ++c) {
    std::string t = p + c;
    int sum = 0;
    bool dbl = false;
    for (size_t i = t.size(); i-- > 0;) {
      int v = t[i] - '0';
      if (dbl) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
      dbl = !dbl;
    }
    if (sum % 10 == 0) return t;
  }
  return p;
}

struct Gen {
  std::mt19937_64 rng{20261115};
  std::string digits(size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + rng() % 10));
    return s;
  }
  std::string identifier() {
    switch (rng() % 4) {
      case 0: {
        std::string s = "110105" + std::to_string(1950 + rng() % 60) + "0" + std::to_string(1 + rng() % 9) +
                        "1" + std::to_string(rng() % 10) + digits(3);
        s.push_back(id_check(s));
        return s;
      }
      case 1:
        return "139" + digits(8);
      case 2:
        return luhn("6217" + digits(14));
      default:
        return "user" + digits(5) + "@example.com";
    }
  }
  std::string text() {
    static const char* kWords[] = {"order",    "shipped", "warehouse", "Lin-gang", "pending",
                                   "invoice",  "客户",    "上海市",    "浦东新区", "备注",
                                   "delivery", "express", "payment",   "confirmed"};
    std::string s;
    for (int i = 0; i < 6; ++i) {
      s += kWords[rng() % std::size(kWords)];
      s += ' ';
    }
    return s;
  }
};

// ~1% of bytes are identifiers: one identifier per ~1.6 KB of records.
std::string json_body() {
  Gen g;
  std::string b = "[";
  size_t id_bytes = 0;
  while (b.size() < kBodyBytes) {
    b += "{\"order\":\"SO" + g.digits(12) + "\",\"ts\":17" + g.digits(11) + ",\"amount\":" + g.digits(4) +
         "." + g.digits(2) + ",\"sku\":" + g.digits(8) + ",\"memo\":\"" + g.text() + "\"";
    if (id_bytes * 100 < b.size()) {
      const std::string id = g.identifier();
      id_bytes += id.size();
      b += ",\"contact\":\"" + id + "\"";
    }
    b += "},";
  }
  b.back() = ']';
  return b;
}

// ~1 MiB of pseudo-random bytes: what TLS record payloads (ciphertext) look
// like to the scanner, which scans them raw (docs/signatures.md, "TLS").
std::string random_body() {
  std::string b(1u << 20, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (char& c : b) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 56);
  }
  return b;
}

std::string csv_body() {
  Gen g;
  std::string b = "order,ts,amount,sku,memo,contact\n";
  size_t id_bytes = 0;
  while (b.size() < kBodyBytes) {
    b += "SO" + g.digits(12) + ",17" + g.digits(11) + "," + g.digits(4) + "." + g.digits(2) + "," +
         g.digits(8) + "," + g.text() + ",";
    if (id_bytes * 100 < b.size()) {
      const std::string id = g.identifier();
      id_bytes += id.size();
      b += id;
    }
    b += "\n";
  }
  return b;
}

struct World {
  std::vector<ftz::engine::SignatureSpec> specs;
  std::shared_ptr<const SignatureDatabase> db;
  HsDatabasePtr block;
  HsScratchPtr block_scratch;
  std::unique_ptr<Scanner> scanner;
  std::string json = json_body();
  std::string csv = csv_body();
  std::string random = random_body();

  World() {
    specs = test::read_catalog(test::builtin_catalog_path());
    auto d = SignatureDatabase::compile(specs);
    if (!d) {
      std::fprintf(stderr, "compile: %s\n", d.error().c_str());
      std::exit(1);
    }
    db = *d;
    auto b = compile_block_database(specs);
    if (!b) {
      std::fprintf(stderr, "block compile: %s\n", b.error().c_str());
      std::exit(1);
    }
    block = std::move(*b);
    hs_scratch_t* s = nullptr;
    hs_alloc_scratch(block.get(), &s);
    block_scratch.reset(s);
    ScannerConfig cfg;
    cfg.max_streams = 16;
    auto sc = Scanner::create(db, cfg);
    if (!sc) std::exit(1);
    scanner = std::move(*sc);
    std::printf("catalog: %zu signatures, %zu patterns; streaming db %zu B (%s)\n", specs.size(),
                db->patterns().size(), db->database_size(), db->info().c_str());
    std::printf(
        "state per inspected flow direction: Hyperscan stream %zu B (hs_stream_size) + ScanState %zu B\n",
        db->stream_size(), sizeof(ScanState));
  }
};

World& world() {
  static World w;
  return w;
}

struct CountingSink final : DetectionSink {
  uint64_t n = 0;
  void on_detection(const Detection&) noexcept override { ++n; }
};

int count_match(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<uint64_t*>(ctx);
  return 0;
}

void set_rate(benchmark::State& state, size_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["Gbit/s"] = benchmark::Counter(static_cast<double>(state.iterations() * bytes) * 8 / 1e9,
                                                benchmark::Counter::kIsRate);
}

void scan_body(benchmark::State& state, const std::string& body, ContentKind kind) {
  World& w = world();
  CountingSink sink;
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  for (auto _ : state) {
    ScanState st{};
    ScanContext ctx{1794715200, kind, Encoding::kIdentity, true};
    for (size_t at = 0; at < body.size(); at += kChunk) {
      w.scanner->scan(st, {p + at, std::min(kChunk, body.size() - at)}, ctx, sink);
      ctx.body_start = false;
    }
    w.scanner->finish(st, ctx, sink);
  }
  set_rate(state, body.size());
  state.counters["detections/body"] = static_cast<double>(sink.n) / static_cast<double>(state.iterations());
}

void block_body(benchmark::State& state, const std::string& body) {
  World& w = world();
  uint64_t matches = 0;
  for (auto _ : state) {
    hs_scan(w.block.get(), body.data(), static_cast<unsigned>(body.size()), 0, w.block_scratch.get(),
            &count_match, &matches);
  }
  set_rate(state, body.size());
  state.counters["matches/body"] = static_cast<double>(matches) / static_cast<double>(state.iterations());
}

void stream_body(benchmark::State& state, const std::string& body) {
  World& w = world();
  uint64_t matches = 0;
  auto scratch = w.db->clone_scratch();
  hs_stream_t* s = nullptr;
  hs_open_stream(w.db->hs(), 0, &s);
  for (auto _ : state) {
    for (size_t at = 0; at < body.size(); at += kChunk) {
      hs_scan_stream(s, body.data() + at, static_cast<unsigned>(std::min(kChunk, body.size() - at)), 0,
                     scratch->get(), &count_match, &matches);
    }
    hs_reset_stream(s, 0, scratch->get(), &count_match, &matches);
  }
  hs_close_stream(s, nullptr, nullptr, nullptr);
  set_rate(state, body.size());
  state.counters["matches/body"] = static_cast<double>(matches) / static_cast<double>(state.iterations());
}

void BM_ScanJson(benchmark::State& s) {
  scan_body(s, world().json, ContentKind::kJson);
}
void BM_HsBlockJson(benchmark::State& s) {
  block_body(s, world().json);
}
void BM_HsStreamJson(benchmark::State& s) {
  stream_body(s, world().json);
}
void BM_ScanCsv(benchmark::State& s) {
  scan_body(s, world().csv, ContentKind::kCsv);
}
void BM_HsBlockCsv(benchmark::State& s) {
  block_body(s, world().csv);
}
void BM_HsStreamCsv(benchmark::State& s) {
  stream_body(s, world().csv);
}
BENCHMARK(BM_ScanJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HsBlockJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HsStreamJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanCsv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HsBlockCsv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HsStreamCsv)->Unit(benchmark::kMillisecond);
// TLS record payloads scanned raw: the scanner on ciphertext-like bytes next
// to the bare stream scan of the same bytes.
void BM_ScanRandom(benchmark::State& s) {
  scan_body(s, world().random, ContentKind::kRaw);
}
void BM_HsStreamRandom(benchmark::State& s) {
  stream_body(s, world().random);
}
BENCHMARK(BM_ScanRandom)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HsStreamRandom)->Unit(benchmark::kMillisecond);

// Keeps each run's Gbit/s to print the ratios after the table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      auto it = r.counters.find("Gbit/s");
      if (it != r.counters.end()) gbps_[r.benchmark_name()] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    for (const char* kind : {"Json", "Csv"}) {
      const auto scan = gbps_.find(std::string("BM_Scan") + kind);
      const auto block = gbps_.find(std::string("BM_HsBlock") + kind);
      const auto stream = gbps_.find(std::string("BM_HsStream") + kind);
      if (scan == gbps_.end() || block == gbps_.end()) continue;
      std::printf("%s: scanner %.2f Gbit/s per core, bare hs_scan block mode %.2f Gbit/s: ratio %.2f", kind,
                  scan->second, block->second, scan->second / block->second);
      if (stream != gbps_.end()) {
        std::printf("; bare hs_scan_stream %.2f Gbit/s (scanner/stream %.2f)", stream->second,
                    scan->second / stream->second);
      }
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, double> gbps_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  world();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
