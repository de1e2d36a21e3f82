// libFuzzer target: DNS as one UDP datagram, and as a DNS-over-TCP stream in
// both directions split at fuzzer-chosen positions (see fuzz_support.hpp).
#include "fuzz_support.hpp"

using namespace ftz::engine::app;
using namespace ftz::engine::app::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in;
  if (!split_input(data, size, in)) return 0;
  const bool gaps = (in.mode & 1) != 0;
  const Dir dir = (in.mode & 2) ? Dir::kToClient : Dir::kToServer;
  constexpr uint32_t kBufferSize = 80;

  {
    Run udp(kBufferSize);
    feed_udp(dir, 53, 40000, in.stream, udp.ctx);
    check_released(udp);
  }

  Run split(kBufferSize);
  feed_chunks(
      in, gaps, [&](std::span<const uint8_t> c) { feed_tcp(split.flow, dir, 53, c, split.ctx); }, split, dir);
  close(split.flow, split.ctx);
  check_released(split);

  if (!gaps) {
    Run whole(kBufferSize);
    feed_tcp(whole.flow, dir, 53, in.stream, whole.ctx);
    close(whole.flow, whole.ctx);
    check_released(whole);
    if (whole.sink.hash != split.sink.hash) std::abort();
  }
  return 0;
}
