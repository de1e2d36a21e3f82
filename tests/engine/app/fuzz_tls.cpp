// libFuzzer target: TLS parsing of an arbitrary client byte stream split at
// fuzzer-chosen positions (see fuzz_support.hpp for the input layout).
#include "fuzz_support.hpp"

using namespace ftz::engine::app;
using namespace ftz::engine::app::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in;
  if (!split_input(data, size, in)) return 0;
  const bool gaps = (in.mode & 1) != 0;
  constexpr uint16_t kPort = 443;

  constexpr uint32_t kBufferSize = 700;
  Run split(kBufferSize);
  feed_chunks(
      in, gaps, [&](std::span<const uint8_t> c) { feed_tcp(split.flow, Dir::kToServer, kPort, c, split.ctx); }, split,
      Dir::kToServer);
  if (in.mode & 2) {
    // The server's bytes must not disturb anything.
    feed_tcp(split.flow, Dir::kToClient, kPort, in.stream, split.ctx);
  }
  close(split.flow, split.ctx);
  check_released(split);

  if (!gaps) {
    Run whole(kBufferSize);
    feed_tcp(whole.flow, Dir::kToServer, kPort, in.stream, whole.ctx);
    close(whole.flow, whole.ctx);
    check_released(whole);
    if (whole.sink.hash != split.sink.hash) std::abort();  // segmentation changed the result
  }
  return 0;
}
