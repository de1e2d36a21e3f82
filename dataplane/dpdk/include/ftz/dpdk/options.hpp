#pragma once
// ftzgate-dp's command line and the EAL arguments derived from it. DPDK-free,
// so it is unit-tested without an EAL.
//
//   ftzgate-dp (--config FILE | --controller unix:PATH|HOST:PORT [--ca F --cert F --key F]
//              [--dataplane-id NAME] [--state-dir DIR] [--trusted-keys DIR] [--headless-after S])
//              [--profile FILE] [--eve FILE] [--stats FILE]
//              [--duration SECONDS] [--workers N]
//              [--pcap-in FILE [--loop] [--pcap-out DIR]] [--demo-token-key] [-- EAL options]
//
// --pcap-in is the standalone embedded default: the capture enters on the
// inside port of a virtual appliance (no hugepages, no PCI) and every port
// role transmits into DIR/<role>.pcap (or into net_null sinks without
// --pcap-out). A single pass streams the capture: the main lcore reads it
// record by record into mbufs (ftz::capture::CaptureReader); --loop replays
// it from memory with net_pcap's infinite_rx.

#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/controller/link_args.hpp"
#include "ftz/drivers/profile.hpp"

namespace ftz::dpdk {

struct DpOptions {
  std::string config;
  // --controller: policy from ftzgated's signed bundles instead of --config.
  controller::LinkArgs link{"/var/lib/ftzgate/dataplane"};
  std::string profile;
  std::string eve;
  std::string stats;
  double duration_s = 0;  // 0: until SIGINT/SIGTERM (or the end of a --pcap-in capture)
  uint32_t workers = 0;   // 0: the profile's
  std::string pcap_in;
  bool loop = false;
  std::string pcap_out;
  bool demo_token_key = false;   // the published demo token key may be used (docs/compliance.md)
  std::vector<std::string> eal;  // after "--", unchanged
  bool help = false;             // -h/--help: print the usage, exit 0
  // --host-needs: print what the host must provide for --profile (hugepage
  // memory, PCI devices for vfio-pci), exit 0; ftzgate-hostprep reads it.
  bool host_needs = false;
};

// What a host must provide for `profile`, one fact a line:
//   hugepage_mb N      (0: virtual devices only, EAL runs without hugepages)
//   pci ADDRESS        (a port's device, for vfio-pci or a bifurcated driver)
std::string host_needs(const drivers::HardwareProfile& profile);

// Exit code 2 material: the message names the argument.
tl::expected<DpOptions, std::string> parse_dp_args(int argc, const char* const* argv);

extern const std::string kDpUsage;

// The appliance a --pcap-in run drives: inside, outside, channel and mirror
// ports on net_pcap (or net_null sinks), with the profile's sizing when one
// is given. With --loop the inside port replays the capture itself
// (infinite_rx: every packet stays in an mbuf, so the pool holds
// `capture_packets` more); a single pass feeds the inside port from the
// main lcore, and the pool needs room for what the workers may hold
// (`held_per_worker`, limits.hold_max_packets) besides the packets in flight.
drivers::HardwareProfile pcap_appliance(const DpOptions& o, const drivers::HardwareProfile* sizing,
                                        uint64_t capture_packets, uint32_t held_per_worker = 4096);

// argv for rte_eal_init: program name, the user's EAL options, then what the
// profile needs and the user did not give: --vdev for each vdev port, -a for
// each PCI port (unless the user allow-listed or --no-pci), --file-prefix,
// and for --pcap-in runs --no-huge --no-pci and -m sized for the mempool.
std::vector<std::string> eal_arguments(const DpOptions& o, const drivers::HardwareProfile& profile,
                                       const std::string& program);

// Bytes of DPDK heap the profile's mempool and rings need (for -m).
uint64_t heap_bytes_needed(const drivers::HardwareProfile& profile);

}  // namespace ftz::dpdk
