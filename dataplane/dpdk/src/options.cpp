#include "ftz/dpdk/options.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace ftz::dpdk {

const std::string kDpUsage =
    "usage: ftzgate-dp (--config FILE | --controller unix:PATH|HOST:PORT [controller options])\n"
    "                  [--profile FILE] [--eve FILE] [--stats FILE]\n"
    "                  [--duration SECONDS] [--workers N]\n"
    "                  [--pcap-in FILE [--loop] [--pcap-out DIR]] [--demo-token-key] [-- EAL options]\n"
    "  --config FILE     operator configuration (YAML); SIGHUP re-reads it\n" +
    controller::link_usage(DpOptions{}.link.link.state_dir) +
    "  --profile FILE    hardware profile (drivers/profiles/*.yaml): ports, roles, queues, sizing\n"
    "  --eve FILE        write events as EVE JSON lines; SIGUSR1 reopens it (log rotation)\n"
    "  --stats FILE      write port, worker and report statistics as JSON on exit\n"
    "  --duration S      stop after S seconds (SIGINT/SIGTERM also stop cleanly)\n"
    "  --workers N       worker lcores (default: the profile's, else 1)\n"
    "  --pcap-in FILE    embedded default: run the real fast path on a capture (net_pcap, no\n"
    "                    hugepages, no PCI); stops at the end of the capture\n"
    "  --loop            replay the capture from memory until --duration or a signal\n"
    "  --pcap-out DIR    write what each port role transmits to DIR/{inside,outside,channel,mirror}.pcap\n"
    "  --demo-token-key  use the published demo token key of the examples (demos and tests only);\n"
    "                    without it a demo key is refused and the appliance's own key is used\n"
    "  --host-needs      with --profile: print the hugepage memory (MB) and the PCI devices the\n"
    "                    profile needs from the host, and exit (ftzgate-hostprep reads it)\n"
    "  -h, --help        print this help and exit\n"
    "  -- ...            EAL options, passed through unchanged (-l, -m, --no-huge, --vdev, -a, ...)\n"
    "exit status: 0 clean stop, 1 devices, memory, capture or an output not written, 2 arguments,\n"
    "configuration, profile or an output naming an input;\n"
    "SIGINT/SIGTERM during start-up end the process by that signal\n";

namespace {

bool has_option(const std::vector<std::string>& eal, std::initializer_list<const char*> names) {
  for (const std::string& a : eal) {
    for (const char* n : names) {
      const std::string name(n);
      if (a == name || a.rfind(name + "=", 0) == 0 || (name.size() == 2 && a.rfind(name, 0) == 0))
        return true;
    }
  }
  return false;
}

bool vdev_given(const std::vector<std::string>& eal, const std::string& device) {
  for (size_t i = 0; i < eal.size(); ++i) {
    std::string v;
    if (eal[i] == "--vdev" && i + 1 < eal.size())
      v = eal[i + 1];
    else if (eal[i].rfind("--vdev=", 0) == 0)
      v = eal[i].substr(7);
    else
      continue;
    if (v == device || v.rfind(device + ",", 0) == 0) return true;
  }
  return false;
}

drivers::PortProfile sink_port(const std::string& name, const std::string& index, engine::PortRole role,
                               const std::string& pair, const DpOptions& o, const char* role_name) {
  drivers::PortProfile p;
  p.name = name;
  p.role = role;
  p.pair = pair;
  p.rx_queues = 1;
  p.tx_queues = 1;
  if (o.pcap_out.empty()) {
    p.device = "net_null" + index;
    p.devargs = "no-rx=1";
  } else {
    p.device = "net_pcap" + index;
    p.devargs = "tx_pcap=" + o.pcap_out + "/" + role_name + ".pcap";
  }
  return p;
}

}  // namespace

tl::expected<DpOptions, std::string> parse_dp_args(int argc, const char* const* argv) {
  DpOptions o;
  // Everything after the first "--" belongs to EAL, unchanged; CLI11 sees
  // only what comes before.
  int ours = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      ours = i;
      o.eal.assign(argv + i + 1, argv + argc);
      break;
    }
  }
  CLI::App app{"ftzgate-dp"};
  app.set_help_flag("-h,--help");
  app.add_option("--config", o.config);
  controller::add_link_options(app, o.link);
  app.add_option("--profile", o.profile);
  app.add_option("--eve", o.eve);
  app.add_option("--stats", o.stats);
  app.add_option("--duration", o.duration_s)->check(controller::non_negative_seconds());
  app.add_option("--workers", o.workers)->check(CLI::Range(1u, 64u));
  app.add_option("--pcap-in", o.pcap_in);
  app.add_option("--pcap-out", o.pcap_out);
  app.add_flag("--loop", o.loop);
  app.add_flag("--demo-token-key", o.demo_token_key);
  app.add_flag("--host-needs", o.host_needs);
  std::vector<std::string> args;  // CLI11 takes them last to first
  for (int i = ours - 1; i >= 1; --i) args.emplace_back(argv[i]);
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    // The operator asked for the usage, whatever else was given, unless an
    // argument is unknown (a typo is still reported).
    if (!app.remaining().empty()) {
      return tl::unexpected("The following argument was not expected: " + app.remaining().front());
    }
    o.help = true;
    return o;
  } catch (const CLI::ParseError& e) {
    return tl::unexpected(std::string(e.what()));
  }
  if (o.host_needs) {
    if (o.profile.empty()) return tl::unexpected(std::string("--host-needs needs --profile FILE"));
    return o;
  }
  if (std::string why = controller::check_policy_source(o.config, o.link); !why.empty())
    return tl::unexpected(why);
  if (o.loop && o.pcap_in.empty()) return tl::unexpected(std::string("--loop needs --pcap-in"));
  if (!o.pcap_out.empty() && o.pcap_in.empty())
    return tl::unexpected(std::string("--pcap-out needs --pcap-in"));
  if (o.profile.empty() && o.pcap_in.empty()) {
    return tl::unexpected(std::string("give --profile FILE (ports of the appliance) or --pcap-in FILE"));
  }
  return o;
}

drivers::HardwareProfile pcap_appliance(const DpOptions& o, const drivers::HardwareProfile* sizing,
                                        uint64_t capture_packets, uint32_t held_per_worker) {
  drivers::HardwareProfile p;
  if (sizing != nullptr) p = *sizing;
  p.name = "pcap";
  p.description = "embedded default: " + o.pcap_in;
  p.ports.clear();
  if (o.workers != 0) p.workers = o.workers;
  drivers::PortProfile inside;
  inside.name = "ge-0/0/0";
  inside.role = engine::PortRole::kInside;
  inside.pair = "ge-0/0/1";
  inside.rx_queues = 1;
  inside.tx_queues = 1;
  if (o.loop) {
    inside.device = "net_pcap0";
    inside.devargs = "rx_pcap=" + o.pcap_in + ",infinite_rx=1";
    // Without tx_pcap net_pcap drops what the inside port transmits (RSTs).
    if (!o.pcap_out.empty()) inside.devargs += ",tx_pcap=" + o.pcap_out + "/inside.pcap";
  } else if (!o.pcap_out.empty()) {
    // The main lcore feeds the capture in; the port only transmits.
    inside.device = "net_pcap0";
    inside.devargs = "tx_pcap=" + o.pcap_out + "/inside.pcap";
  } else {
    inside.device = "net_null0";
    inside.devargs = "no-rx=1";
  }
  p.ports.push_back(inside);
  p.ports.push_back(sink_port("ge-0/0/1", "1", engine::PortRole::kOutside, "ge-0/0/0", o, "outside"));
  p.ports.push_back(sink_port("ge-0/0/2", "2", engine::PortRole::kChannel, "ge-0/0/0", o, "channel"));
  p.ports.push_back(sink_port("ge-0/0/3", "3", engine::PortRole::kMirror, "", o, "mirror"));
  // infinite_rx keeps every packet of the capture in an mbuf for good; the
  // pool needs room for them plus the queues and bursts in flight. A single
  // pass needs room for what every worker may hold (held segments, and
  // bursts and TX buffers on top) plus the lcore caches and 8192 in flight,
  // whatever the capture's size.
  const uint64_t in_flight =
      uint64_t{p.workers} * (held_per_worker + 4 * 32) + uint64_t{p.workers + 1} * p.mbuf_cache + 8192;
  const uint64_t needed = o.loop ? capture_packets + 8192 : in_flight;
  uint64_t mbufs = p.mbufs;
  while (mbufs < needed) mbufs = mbufs * 2 + 1;
  p.mbufs = static_cast<uint32_t>(mbufs);
  return p;
}

uint64_t heap_bytes_needed(const drivers::HardwareProfile& profile) {
  // PLATFORM.md gives about 2.4 KB per default mbuf plus about 10 MB; the
  // static no-huge heap also loses room to alignment and fragmentation
  // (32,767 mbufs failed at -m 128 and fit at -m 160; 131,071 needed about
  // 527 MB), hence the margin: 1.5 x the mbuf, then 1/16 more plus 64 MB.
  const uint64_t per_mbuf = (profile.mbuf_data_room + 256) * 3 / 2;
  const uint64_t rings =
      uint64_t{profile.workers} * (profile.event_ring_size + profile.worker_ring_size) * 8 * 4;
  const uint64_t pool = uint64_t{profile.mbufs} * per_mbuf;
  return pool + pool / 16 + rings + (64ull << 20);
}

std::string host_needs(const drivers::HardwareProfile& profile) {
  const bool virtual_only = std::all_of(profile.ports.begin(), profile.ports.end(),
                                        [](const drivers::PortProfile& p) { return p.is_vdev(); });
  // The heap EAL takes from the hugepage pool: the same budget a run
  // without hugepages gives -m.
  std::string out =
      "hugepage_mb " + std::to_string(virtual_only ? 0 : (heap_bytes_needed(profile) >> 20) + 1) + "\n";
  for (const drivers::PortProfile& port : profile.ports) {
    if (port.is_vdev()) continue;
    out.append("pci ").append(port.device).append("\n");
  }
  return out;
}

std::vector<std::string> eal_arguments(const DpOptions& o, const drivers::HardwareProfile& profile,
                                       const std::string& program) {
  std::vector<std::string> a{program};
  a.insert(a.end(), o.eal.begin(), o.eal.end());
  const bool pcap_mode = !o.pcap_in.empty();
  if (!has_option(o.eal, {"-l", "-c", "--lcores"})) {
    const uint32_t cpus = std::max(1u, std::thread::hardware_concurrency());
    const uint32_t lcores = profile.workers + 1;  // main + workers
    if (lcores <= cpus) {
      a.push_back("-l");
      a.push_back("0-" + std::to_string(lcores - 1));
    } else {
      // More lcores than CPUs (a small lab VM): let them float over all CPUs.
      a.push_back("--lcores=(0-" + std::to_string(lcores - 1) + ")@(0-" + std::to_string(cpus - 1) + ")");
    }
  }
  // A capture replay, or an appliance of virtual devices only (the lab
  // profile), runs without hugepages and without PCI unless told otherwise.
  const bool virtual_only = std::all_of(profile.ports.begin(), profile.ports.end(),
                                        [](const drivers::PortProfile& p) { return p.is_vdev(); });
  if (pcap_mode || virtual_only) {
    if (!has_option(o.eal, {"--no-huge", "--huge-dir", "--socket-mem"})) a.push_back("--no-huge");
    if (!has_option(o.eal, {"--no-pci", "-a", "--allow", "-b", "--block"})) a.push_back("--no-pci");
    if (!has_option(o.eal, {"-m", "--socket-mem"})) {
      a.push_back("-m");
      a.push_back(std::to_string((heap_bytes_needed(profile) >> 20) + 1));
    }
  }
  const bool user_allow_list = has_option(o.eal, {"-a", "--allow", "--no-pci"});
  for (const drivers::PortProfile& port : profile.ports) {
    if (port.is_vdev()) {
      if (vdev_given(o.eal, port.device)) continue;
      a.push_back("--vdev");
      a.push_back(port.devargs.empty() ? port.device : port.device + "," + port.devargs);
    } else if (!user_allow_list) {
      a.push_back("-a");
      a.push_back(port.device);
    }
  }
  if (!has_option(o.eal, {"--file-prefix"}))
    a.push_back("--file-prefix=ftzgate-dp-" + std::to_string(getpid()));
  return a;
}

}  // namespace ftz::dpdk
