// libFuzzer target: HTTP parsing of an arbitrary client byte stream split at
// fuzzer-chosen positions (see fuzz_support.hpp for the input layout).
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ftz::engine::app::fuzz::fuzz_client_stream(data, size, 80, 400);
}
