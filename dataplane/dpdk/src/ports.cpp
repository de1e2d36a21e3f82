#include "ftz/dpdk/ports.hpp"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cstring>

#include "ftz/dpdk/symmetric_hash.hpp"

namespace ftz::dpdk {

namespace {

std::string where(const drivers::PortProfile& p) {
  return "port " + p.name + " (" + p.device + ")";
}

std::string dpdk_error(int rc) {
  return std::string(rte_strerror(rc < 0 ? -rc : rc));
}

}  // namespace

tl::expected<Port, std::string> start_port(const drivers::PortProfile& profile, uint32_t workers,
                                           rte_mempool* pool) {
  Port port;
  port.profile = profile;
  if (rte_eth_dev_get_port_by_name(profile.device.c_str(), &port.id) != 0) {
    return tl::unexpected(where(profile) +
                          ": no such DPDK device (not probed: check the PCI address or binding, "
                          "or the --vdev arguments)");
  }
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port.id, &info); rc != 0) {
    return tl::unexpected(where(profile) + ": device info: " + dpdk_error(rc));
  }
  port.driver = info.driver_name != nullptr ? info.driver_name : "";

  rte_eth_conf conf{};
  const uint64_t rss_ip = info.flow_type_rss_offloads & RTE_ETH_RSS_IP;
  const bool can_rss =
      workers > 1 && rss_ip != 0 && info.max_rx_queues >= workers && info.hash_key_size >= 40;
  const uint16_t want_rx = profile.rx_queues != 0 ? profile.rx_queues : static_cast<uint16_t>(workers);
  port.hw_rss = can_rss && want_rx == workers;
  port.rx_queues = port.hw_rss ? static_cast<uint16_t>(workers) : 1;
  const uint16_t want_tx = profile.tx_queues != 0 ? profile.tx_queues : static_cast<uint16_t>(workers);
  port.tx_queues = (info.max_tx_queues >= workers && want_tx >= workers) ? static_cast<uint16_t>(workers) : 1;
  // The NIC's checksum verdicts spare the engine the software sums of
  // inspected flows (it verifies what a PMD leaves unknown).
  conf.rxmode.offloads |= info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_CHECKSUM;
  if (port.hw_rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(kSymmetricRssKey);
    conf.rx_adv_conf.rss_conf.rss_key_len = kSymmetricRssKeyLen;
    conf.rx_adv_conf.rss_conf.rss_hf = rss_ip;
  }
  if (int rc = rte_eth_dev_configure(port.id, port.rx_queues, port.tx_queues, &conf); rc != 0) {
    return tl::unexpected(where(profile) + ": configure " + std::to_string(port.rx_queues) + " RX / " +
                          std::to_string(port.tx_queues) + " TX queues: " + dpdk_error(rc));
  }
  uint16_t rx_desc = profile.rx_descriptors;
  uint16_t tx_desc = profile.tx_descriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port.id, &rx_desc, &tx_desc); rc != 0) {
    return tl::unexpected(where(profile) + ": descriptors: " + dpdk_error(rc));
  }
  const int socket = rte_eth_dev_socket_id(port.id);
  for (uint16_t q = 0; q < port.rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(port.id, q, rx_desc, socket, nullptr, pool); rc != 0) {
      return tl::unexpected(
          where(profile) + ": RX queue " + std::to_string(q) + ": " + dpdk_error(rc) +
          " (mempool too small for the descriptors, or for the whole capture with --loop?)");
    }
  }
  for (uint16_t q = 0; q < port.tx_queues; ++q) {
    if (int rc = rte_eth_tx_queue_setup(port.id, q, tx_desc, socket, nullptr); rc != 0) {
      return tl::unexpected(where(profile) + ": TX queue " + std::to_string(q) + ": " + dpdk_error(rc));
    }
  }
  if (int rc = rte_eth_dev_start(port.id); rc != 0) {
    return tl::unexpected(where(profile) + ": start: " + dpdk_error(rc));
  }
  rte_eth_promiscuous_enable(port.id);  // a bump in the wire sees every frame
  rte_ether_addr mac{};
  if (rte_eth_macaddr_get(port.id, &mac) == 0) std::memcpy(port.mac.data(), mac.addr_bytes, 6);
  return port;
}

void stop_port(const Port& port) noexcept {
  if (port.id == kNoPort) return;
  rte_eth_dev_stop(port.id);
  rte_eth_dev_close(port.id);  // net_pcap closes (flushes) its output files here
}

PortStats read_port_stats(const Port& port) {
  PortStats s;
  rte_eth_stats st{};
  if (rte_eth_stats_get(port.id, &st) == 0) {
    s.rx_packets = st.ipackets;
    s.rx_bytes = st.ibytes;
    s.tx_packets = st.opackets;
    s.tx_bytes = st.obytes;
    s.imissed = st.imissed;
    s.ierrors = st.ierrors;
    s.oerrors = st.oerrors;
    s.rx_nombuf = st.rx_nombuf;
    for (uint16_t q = 0; q < port.rx_queues && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; ++q) {
      s.queue_rx.emplace_back(st.q_ipackets[q], st.q_ibytes[q]);
    }
    for (uint16_t q = 0; q < port.tx_queues && q < RTE_ETHDEV_QUEUE_STAT_CNTRS; ++q) {
      s.queue_tx.emplace_back(st.q_opackets[q], st.q_obytes[q]);
    }
  }
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port.id, &link) == 0) {
    s.link_up = link.link_status == RTE_ETH_LINK_UP;
    s.link_speed_mbps = link.link_speed;
  }
  const int n = rte_eth_xstats_get_names(port.id, nullptr, 0);
  if (n > 0) {
    std::vector<rte_eth_xstat_name> names(static_cast<size_t>(n));
    std::vector<rte_eth_xstat> values(static_cast<size_t>(n));
    if (rte_eth_xstats_get_names(port.id, names.data(), static_cast<unsigned>(n)) == n &&
        rte_eth_xstats_get(port.id, values.data(), static_cast<unsigned>(n)) == n) {
      for (int i = 0; i < n; ++i)
        s.xstats.emplace_back(names[static_cast<size_t>(values[i].id)].name, values[i].value);
    }
  }
  return s;
}

}  // namespace ftz::dpdk
