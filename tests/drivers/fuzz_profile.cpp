// libFuzzer target: any byte string given to the profile loader yields a
// profile or diagnostics, never a crash, hang, leak or escaping exception.
// A profile that loads keeps the invariants the data plane relies on.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ftz/drivers/profile.hpp"

namespace {

using ftz::drivers::HardwareProfile;
using ftz::engine::PortRole;

bool is_power_of_two(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// What a loaded profile promises (docs/profiles.md).
bool invariants_hold(const HardwareProfile& p) {
  if (p.name.empty() || p.workers < 1 || p.workers > ftz::drivers::kMaxWorkers) return false;
  if (p.mbuf_cache * 3 / 2 > p.mbufs) return false;  // rte_mempool_create_empty() would refuse it
  if (!is_power_of_two(p.event_ring_size) || !is_power_of_two(p.worker_ring_size)) return false;
  if (p.ports.size() < 2 || p.ports.size() > ftz::drivers::kMaxPorts) return false;
  const auto* inside = p.first_with_role(PortRole::kInside);
  const auto* outside = p.first_with_role(PortRole::kOutside);
  if (inside == nullptr || outside == nullptr || inside->pair != outside->name ||
      outside->pair != inside->name) {
    return false;
  }
  for (const auto& port : p.ports) {
    if (p.find(port.name) != &port) return false;  // names are unique
    if (!is_power_of_two(port.rx_descriptors) || !is_power_of_two(port.tx_descriptors)) return false;
    if (!port.devargs.empty() && !port.is_vdev()) return false;
    if (port.role == PortRole::kMirror ? !port.pair.empty() : p.find(port.pair) == nullptr) return false;
    if (port.role == PortRole::kChannel && port.pair != inside->name) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto result = ftz::drivers::load_profile_from_string(text, "fuzz.yaml");
  if (result) {
    if (!invariants_hold(*result)) __builtin_trap();
  } else {
    if (result.error().empty()) __builtin_trap();  // a failure always says why
    (void)ftz::config::format_diagnostics(result.error());
  }
  return 0;
}
