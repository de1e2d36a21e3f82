// libFuzzer target: the built-in catalog compiled once; each input is split
// into chunks and scanned as one flow direction. The first byte picks the
// content kind and encoding, the next ones the chunk sizes. Detections are
// checked for consistency (offsets inside the stream, masked length).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "catalog_reader.hpp"
#include "ftz/engine/signatures/scanner.hpp"

namespace {

using namespace ftz::engine::sig;

struct Checker final : DetectionSink {
  uint64_t stream_bytes = 0;
  void on_detection(const Detection& d) noexcept override {
    if (d.length == 0 || d.candidate.size() != d.length || d.masked_len > sizeof d.masked ||
        d.normalized_len > sizeof d.normalized) {
      std::abort();
    }
  }
};

Scanner& scanner() {
  static std::unique_ptr<Scanner> s = [] {
    const auto specs = ftz::engine::sig::test::read_catalog(ftz::engine::sig::test::builtin_catalog_path());
    auto db = SignatureDatabase::compile(specs);
    if (!db) {
      std::fprintf(stderr, "fuzz_scanner: %s\n", db.error().c_str());
      std::abort();
    }
    ScannerConfig cfg;
    cfg.max_streams = 4;
    cfg.inflate_memcap_bytes = 2 * kInflateArenaBytes;
    cfg.max_inflated_per_body = 1u << 20;
    cfg.block_bytes = 1024;  // small blocks: more block and slice edges
    auto s = Scanner::create(*db, cfg);
    if (!s) std::abort();
    return std::move(*s);
  }();
  return *s;
}

}  // namespace

// The catalog's Hyperscan compile before the first input: -timeout counts
// per input, and the compile takes seconds on a loaded machine.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)scanner();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  Scanner& sc = scanner();
  const uint8_t mode = data[0];
  const uint8_t split = data[1];
  data += 2;
  size -= 2;
  ScanContext ctx;
  ctx.now_unix_s = 1794715200;
  ctx.kind = static_cast<ContentKind>(mode & 3);
  ctx.encoding = static_cast<Encoding>((mode >> 2) % 3);
  ctx.body_start = true;
  Checker sink;
  ScanState st{};
  size_t at = 0;
  size_t step = 1 + split % 97;
  while (at < size) {
    const size_t n = std::min(step, size - at);
    sc.scan(st, {data + at, n}, ctx, sink);
    ctx.body_start = (mode & 0x80) != 0 && (at / step) % 7 == 6;  // keep-alive bodies now and then
    at += n;
    step = 1 + (step * 31 + split) % 211;
  }
  if ((mode & 0x40) != 0) {
    sc.release(st);
  } else {
    sc.finish(st, ctx, sink);
  }
  if (sc.counters().streams_in_use != 0 || sc.counters().inflaters_in_use != 0) std::abort();
  return 0;
}
