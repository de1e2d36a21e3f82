// ftzgate-dp: the DPDK fast path. Same engine, verdicts and events as
// ftzgate-inspect, on NIC ports (a hardware profile) or on a capture
// (--pcap-in, the embedded default).
#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include "ftz/config/config.hpp"
#include "ftz/dpdk/appliance.hpp"
#include "ftz/dpdk/options.hpp"
#include "ftz/drivers/profile.hpp"

namespace {

using ftz::dpdk::DpOptions;

// net_pcap replays the file; the data plane needs its link type and, to know
// when the capture is done (and to size an infinite_rx pool), its length.
// The record times are kept for a single pass (see CaptureClock).
// max_caplen: the longest record, so that every frame fits one mbuf (see main).
tl::expected<ftz::dpdk::CaptureInfo, std::string> survey_capture(const std::string& path, bool keep_times,
                                                                 uint32_t& max_caplen) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) return tl::unexpected(path + ": cannot read capture: " + err);
  ftz::dpdk::CaptureInfo c;
  switch (pcap_datalink(p)) {
    case DLT_EN10MB: c.link = ftz::engine::LinkType::kEthernet; break;
    case DLT_RAW: c.link = ftz::engine::LinkType::kRawIp; break;
    case DLT_LINUX_SLL: c.link = ftz::engine::LinkType::kLinuxSll; break;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2: c.link = ftz::engine::LinkType::kLinuxSll2; break;
#endif
    default:
      pcap_close(p);
      return tl::unexpected(path + ": unsupported link type (supported: EN10MB, RAW, LINUX_SLL, LINUX_SLL2)");
  }
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
    ++c.packets;
    max_caplen = std::max(max_caplen, h->caplen);
    if (keep_times) {
      c.records.push_back({int64_t{h->ts.tv_sec} * 1'000'000'000 + h->ts.tv_usec, h->len});  // nano precision
    }
  }
  std::string error = rc == PCAP_ERROR ? std::string(pcap_geterr(p)) : std::string();
  pcap_close(p);
  if (!error.empty()) return tl::unexpected(path + ": " + error);
  return c;
}

void on_signal(int sig) {
  if (sig == SIGHUP) ftz::dpdk::signals().reload.store(true);
  else ftz::dpdk::signals().stop.store(true);
}

std::string file_prefix(const std::vector<std::string>& eal) {
  for (size_t i = 0; i < eal.size(); ++i) {
    if (eal[i].rfind("--file-prefix=", 0) == 0) return eal[i].substr(14);
    if (eal[i] == "--file-prefix" && i + 1 < eal.size()) return eal[i + 1];
  }
  return "rte";
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "ftzgate-dp: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // First: a SIGHUP during start-up (EAL, pool, capture load) must not kill
  // the process; it is served once the appliance runs.
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_signal);
  auto options = ftz::dpdk::parse_dp_args(argc, argv);
  if (!options) {
    std::fprintf(stderr, "ftzgate-dp: %s\n%s", options.error().c_str(), ftz::dpdk::kDpUsage);
    return 2;
  }
  auto config = ftz::config::load_config(options->config);
  if (!config) {
    std::fputs(ftz::config::format_diagnostics(config.error()).c_str(), stderr);
    return fail(2, options->config + ": configuration rejected");
  }
  std::optional<ftz::drivers::HardwareProfile> loaded_profile;
  if (!options->profile.empty()) {
    auto p = ftz::drivers::load_profile(options->profile);
    if (!p) {
      std::fputs(ftz::config::format_diagnostics(p.error()).c_str(), stderr);
      return fail(2, options->profile + ": hardware profile rejected");
    }
    loaded_profile = std::move(*p);
  }
  ftz::dpdk::CaptureInfo capture;
  ftz::drivers::HardwareProfile profile;
  if (!options->pcap_in.empty()) {
    uint32_t max_caplen = 0;
    auto c = survey_capture(options->pcap_in, !options->loop, max_caplen);
    if (!c) return fail(1, c.error());
    capture = std::move(*c);
    if (!options->pcap_out.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options->pcap_out, ec);
      if (ec) return fail(2, options->pcap_out + ": cannot create: " + ec.message());
    }
    profile = ftz::dpdk::pcap_appliance(*options, loaded_profile ? &*loaded_profile : nullptr, capture.packets);
    // net_pcap chains a record longer than an mbuf's room into several
    // segments, and the packet path hands the engine one contiguous segment:
    // it would judge the head of the frame as a truncated capture. Size the
    // mbufs for the longest record instead (the mempool size field is 16 bits).
    const uint32_t room = max_caplen + RTE_PKTMBUF_HEADROOM;
    if (room > profile.mbuf_data_room) profile.mbuf_data_room = std::min<uint32_t>(room, UINT16_MAX);
  } else {
    profile = *loaded_profile;
    if (options->workers != 0) profile.workers = options->workers;
  }

  const std::vector<std::string> eal = ftz::dpdk::eal_arguments(*options, profile, argv[0]);
  std::vector<char*> eal_argv;
  for (const std::string& a : eal) eal_argv.push_back(const_cast<char*>(a.c_str()));
  const bool own_prefix = file_prefix(options->eal) == "rte" && file_prefix(eal) != "rte";
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    return fail(1, std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  }
  int rc = 0;
  {
    auto appliance = ftz::dpdk::start_appliance(*options, profile, std::move(*config), std::move(capture));
    if (!appliance) {
      rc = fail(appliance.error().exit_code, appliance.error().message);
    } else {
      rc = ftz::dpdk::run_appliance(**appliance);
    }
  }
  rte_eal_cleanup();
  if (own_prefix) {
    // A prefix this run made up is nobody else's: leave no runtime files.
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + file_prefix(eal), ec);
  }
  return rc;
}
