#include "packet_path.hpp"

#include <rte_cycles.h>

namespace ftz::dpdk {

PacketPath::PacketPath(const DpOptions& o, drivers::HardwareProfile p) : options(o), profile(std::move(p)) {
  port_index.fill(kNoPort);
}

int64_t PacketPath::clock_ns() const noexcept {
  const uint64_t cycles = rte_rdtsc() - tsc0;
  // Whole seconds and the remainder separately: cycles * 1e9 overflows 64 bits after a few seconds.
  const uint64_t secs = cycles / tsc_hz;
  const uint64_t rest = cycles % tsc_hz;
  return unix0_ns + static_cast<int64_t>(secs * 1'000'000'000 + rest * 1'000'000'000 / tsc_hz);
}

}  // namespace ftz::dpdk
