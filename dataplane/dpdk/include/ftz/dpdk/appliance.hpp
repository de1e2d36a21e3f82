#pragma once
// The DPDK appliance: ports, run-to-completion workers (one engine each),
// the main lcore's control loop (events, compliance, statistics, reloads,
// software distribution where a port has no RSS) and the actions that turn
// engine verdicts into frames on ports.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/capture/capture_reader.hpp"
#include "ftz/config/config.hpp"
#include "ftz/controller/controller_link.hpp"
#include "ftz/dpdk/options.hpp"
#include "ftz/drivers/profile.hpp"
#include "ftz/engine/packet.hpp"

namespace ftz::dpdk {

class Appliance;
void destroy_appliance(Appliance* a) noexcept;
struct ApplianceDeleter {
  void operator()(Appliance* a) const noexcept { destroy_appliance(a); }
};
using AppliancePtr = std::unique_ptr<Appliance, ApplianceDeleter>;

// Set from signal handlers; read by start-up and the main loop.
struct Signals {
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  std::atomic<int> stop_signal{0};  // SIGINT or SIGTERM, the one that set `stop`
  // The run ended because ftzgated asked for a restart: main executes the
  // same command line again (ftz/controller/restart.hpp).
  std::atomic<bool> restart{false};
};
Signals& signals() noexcept;

struct StartError {
  int exit_code = 2;  // 2: configuration/profile/arguments, 1: devices or memory
  std::string message;
  bool interrupted = false;  // SIGINT/SIGTERM arrived during start-up: nothing else went wrong
};

// What net_pcap does not carry from a capture record: its time and its
// length on the wire (a snap-length-cut record arrives as caplen bytes).
struct CaptureRecord {
  int64_t ts_ns = 0;
  uint32_t wirelen = 0;
};

// A --pcap-in capture as surveyed before EAL start.
struct CaptureInfo {
  uint64_t packets = 0;
  engine::LinkType link = engine::LinkType::kEthernet;
  // A single pass (no --loop): the capture opened again from its start; the
  // main lcore reads it record by record into mbufs of the inside port.
  std::unique_ptr<capture::CaptureReader> reader;
};

// Builds everything after rte_eal_init: generation (with `signatures`, the
// configuration's catalog compiled before EAL start), mempool, ports,
// workers. Checks signals().stop between its steps (StartError::interrupted).
tl::expected<AppliancePtr, StartError> start_appliance(
    const DpOptions& options, drivers::HardwareProfile profile, config::LoadedConfig config,
    CaptureInfo capture, std::shared_ptr<const engine::sig::SignatureDatabase> signatures);

// --controller: from now on new generations come from `link` (SIGHUP no
// longer reads a file). `first` is the bundle start_appliance was given: it
// is ACKed here.
void attach_controller(Appliance& a, std::unique_ptr<controller::ControllerLink> link,
                       const controller::Incoming& first);

// Runs until --duration, a signal, a restart ftzgated asks for
// (signals().restart), or the end of a --pcap-in capture; then
// stops the workers, writes the statistics and releases the ports. Returns
// the exit code.
int run_appliance(Appliance& a);

}  // namespace ftz::dpdk
