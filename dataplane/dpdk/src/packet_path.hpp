#pragma once
// Internal to ftzgate-dp: what the workers share with the main lcore. Set up
// once at start-up and read-only while the workers run, except for the
// published generation and the stop flag (atomics the main lcore writes).

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "ftz/dpdk/appliance.hpp"
#include "ftz/dpdk/ports.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::dpdk {

// Where a generation's channels leave the appliance.
struct ChannelAction {
  uint16_t port = kNoPort;  // index into the port list
  uint16_t vlan = 0;
  std::array<uint8_t, 6> next_hop{};
};

// One published generation: what workers adopt at a burst boundary.
struct Published {
  uint64_t number = 0;
  std::shared_ptr<const engine::PolicyGeneration> gen;
  std::vector<ChannelAction> channels;
  // One scanner per worker, built off the workers; each worker takes its own
  // and leaves the one it used before in `retired` (freed after the grace period).
  std::vector<std::unique_ptr<engine::sig::Scanner>> scanners;
  std::vector<std::unique_ptr<engine::sig::Scanner>> retired;
  std::chrono::steady_clock::time_point requested;  // SIGHUP (or start)
};

// Verdicts depend on packet time (approval validity, timeouts, the counting
// year) and byte counts on wire lengths, which an mbuf does not carry. A
// single-pass replay therefore puts each record's time and wire length into
// a dynamic mbuf field as the main lcore reads it, so the engine sees what
// ftzgate-inspect sees.
struct CaptureClock {
  int offset = -1;  // dynamic field; -1: packets take the appliance's clock
  uint16_t port_id = 0xffff;
};

// The part of the appliance the workers see (as const): ports, pool, clocks,
// RCU, the published generation. The main lcore's own state is in Appliance.
struct PacketPath {
  PacketPath(const DpOptions& o, drivers::HardwareProfile p);

  DpOptions options;
  drivers::HardwareProfile profile;
  std::vector<Port> ports;
  std::array<uint16_t, RTE_MAX_ETHPORTS> port_index{};  // DPDK port id -> index
  uint16_t mirror_port = kNoPort;
  engine::LinkType link = engine::LinkType::kEthernet;
  rte_mempool* pool = nullptr;
  rte_rcu_qsbr* qsbr = nullptr;
  std::vector<rte_ring*> shared_tx;  // per port index (null: per-worker queues)
  uint32_t nworkers = 1;
  // Packets take the appliance's clock (live ports, --loop); else a
  // single-pass replay, whose packets carry their record's time.
  bool live_clock = true;
  CaptureClock capture_clock;
  uint64_t tsc_hz = 0;
  uint64_t tsc0 = 0;
  int64_t unix0_ns = 0;
  uint64_t drain_cycles = 0;
  uint32_t idle_sleep_us = 0;  // adaptive polling (the profile's idle_sleep_us); 0: busy polling
  // Unix time now, from the TSC (no system call).
  [[nodiscard]] int64_t clock_ns() const noexcept;

  // Written by the main lcore while the workers run.
  std::atomic<Published*> published{nullptr};
  std::atomic<bool> stopping{false};
  // Ports (by index) whose drop rules workers offer to rte_flow: set at
  // start-up where offload is configured, cleared by the main lcore when the
  // PMD refuses rte_flow for good (ENOSYS). Asking such a port again costs a
  // tuple parse, a cache probe and a ring slot per blocked packet for nothing.
  std::array<std::atomic<bool>, RTE_MAX_ETHPORTS> offload_open{};
  // A replay's last packet time, stored before `stopping`: every worker ends
  // its flows at it, as ftzgate-inspect ends them at the capture's end.
  std::atomic<int64_t> replay_end_ns{0};
};

}  // namespace ftz::dpdk
