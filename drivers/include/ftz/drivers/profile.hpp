#pragma once
// Hardware profiles: which ports ftzgate-dp drives, in which role, and how
// its DPDK resources (worker lcores, mempool, rings, queues, descriptors) are
// sized. Loaded and validated before EAL starts, without DPDK: tools, tests
// and the fuzzer use it on machines with no NIC and no hugepages.
// Schema and rules: docs/profiles.md; shipped profiles: drivers/profiles/.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/config/diagnostics.hpp"
#include "ftz/engine/policy_spec.hpp"

namespace ftz::drivers {

// Profiles are a few dozen hand-written lines; larger input is refused
// before yaml-cpp sees it.
inline constexpr std::size_t kMaxProfileBytes = std::size_t{1} << 20;
// Worker lcores and queues per port: bounds for per-worker arrays.
inline constexpr uint32_t kMaxWorkers = 64;
inline constexpr uint16_t kMaxQueues = 64;
// One port per role: inside, outside, and at most one channel and one mirror.
inline constexpr std::size_t kMaxPorts = 4;

struct PortProfile {
  std::string name;     // front-panel name, e.g. "ge-0/0/0" (unique)
  std::string device;   // PCI address "0000:03:00.0" (lower-case, as DPDK names it) or vdev "net_tap0"
  std::string devargs;  // vdev only: arguments after the name, e.g. "iface=ftz-in" (may be empty)
  engine::PortRole role = engine::PortRole::kInside;
  std::string pair;        // port that traffic received here is forwarded to; empty for mirror
  uint16_t rx_queues = 0;  // 0 = one per worker
  uint16_t tx_queues = 0;  // 0 = one per worker
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;

  // True for a virtual device ("net_..."), which EAL creates from
  // `--vdev device[,devargs]`; false for a PCI device (`-a device`).
  [[nodiscard]] bool is_vdev() const noexcept;
};

struct HardwareProfile {
  std::string name;
  std::string description;
  uint32_t workers = 1;              // worker lcores
  uint32_t mbufs = 16383;            // mempool size (n = 2^k - 1 recommended)
  uint32_t mbuf_cache = 256;         // per-lcore mempool cache
  uint32_t mbuf_data_room = 2176;    // RTE_MBUF_DEFAULT_BUF_SIZE (headroom included)
  uint32_t event_ring_size = 4096;   // per worker, power of two
  uint32_t worker_ring_size = 4096;  // software distribution ring per worker, power of two
  uint32_t tx_drain_us = 100;        // TX buffers flushed at least this often
  // Adaptive polling: 0 busy-polls (hardware profiles); N > 0 lets an idle
  // worker back off (rte_pause, then sleeps of up to N µs) to spare a VM's
  // CPU (lab profiles).
  uint32_t idle_sleep_us = 0;
  uint32_t offload_rules = 4096;   // rte_flow drop rules per port; 0 disables offload
  std::vector<PortProfile> ports;  // in file order; a loaded profile has one inside and one outside port

  // The port named `name`, or nullptr.
  [[nodiscard]] const PortProfile* find(std::string_view name) const noexcept;
  // The first port with role `r`, or nullptr (a loaded profile has at most
  // one port per role).
  [[nodiscard]] const PortProfile* first_with_role(engine::PortRole r) const noexcept;
};

// The kernel's network interface of a port, for ftzgate-xdp (which leaves
// the ports to the kernel): a vdev's `iface=` devarg (net_tap, net_af_packet,
// net_af_xdp), or the interface the kernel's driver made for a PCI device
// (`sysfs`/bus/pci/devices/ADDRESS/net/). An error names the port and why
// (a PCI device bound to vfio-pci has none).
[[nodiscard]] tl::expected<std::string, std::string> kernel_interface(const PortProfile& port,
                                                                      const std::string& sysfs = "/sys");

// "inside", "outside", "channel" or "mirror": the YAML spelling of a role.
[[nodiscard]] std::string_view port_role_name(engine::PortRole r) noexcept;

// Reads and validates the profile at `path` (a regular file of at most
// kMaxProfileBytes). Never throws: every failure, including unreadable files
// and yaml-cpp errors, is a Diagnostic naming file:line:column and the field
// path ("ports[1].pair"); all errors of one run are returned, in file order,
// capped at config::kMaxDiagnostics.
tl::expected<HardwareProfile, config::Diagnostics> load_profile(const std::string& path);

// As load_profile, on YAML text; `file_name` only names it in diagnostics.
// Opens no file: safe on untrusted input.
tl::expected<HardwareProfile, config::Diagnostics> load_profile_from_string(std::string_view text,
                                                                            std::string_view file_name);

}  // namespace ftz::drivers
