#pragma once
// Bring-up and statistics of the appliance's ports (one per profile entry).

#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/drivers/profile.hpp"

struct rte_mempool;

namespace ftz::dpdk {

inline constexpr uint16_t kNoPort = 0xffff;

struct Port {
  drivers::PortProfile profile;
  uint16_t id = kNoPort;    // DPDK port id
  uint16_t pair = kNoPort;  // index into the port list (not a DPDK id)
  std::string driver;
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 1;
  bool hw_rss = false;  // RX spread over the workers' queues by the NIC
  std::array<uint8_t, 6> mac{};
};

// Finds the device, picks queue counts for `workers` (one RX queue per worker
// with the symmetric RSS key where the NIC offers RSS on IP; otherwise one
// queue and software distribution), configures and starts it. Errors name
// the port and device.
tl::expected<Port, std::string> start_port(const drivers::PortProfile& profile, uint32_t workers,
                                           rte_mempool* pool);
void stop_port(const Port& port) noexcept;

struct PortStats {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
  bool link_up = false;
  uint32_t link_speed_mbps = 0;
  std::vector<std::pair<uint64_t, uint64_t>> queue_rx;  // per RX queue: packets, bytes
  std::vector<std::pair<uint64_t, uint64_t>> queue_tx;
  std::vector<std::pair<std::string, uint64_t>> xstats;
};
PortStats read_port_stats(const Port& port);

}  // namespace ftz::dpdk
