// ftzgate-dp: the DPDK fast path. Same engine, verdicts and events as
// ftzgate-inspect, on NIC ports (a hardware profile) or on a capture
// (--pcap-in, the embedded default).
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ftz/capture/capture_reader.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/memory_budget.hpp"
#include "ftz/controller/restart.hpp"
#include "ftz/dpdk/appliance.hpp"
#include "ftz/dpdk/options.hpp"
#include "ftz/drivers/profile.hpp"
#include "ftz/engine/output_masking.hpp"
#include "ftz/report/output_file.hpp"

namespace {

using ftz::dpdk::DpOptions;

void on_signal(int sig) {
  if (sig == SIGHUP) {
    ftz::dpdk::signals().reload.store(true);
  } else if (sig == SIGUSR1) {
    ftz::report::request_reopen();  // logrotate moved the event file away
  } else {
    ftz::dpdk::signals().stop_signal.store(sig);
    ftz::dpdk::signals().stop.store(true);
  }
}

// First thing in main: a SIGHUP during start-up must not kill the process
// (it is served once the appliance runs), and SIGINT/SIGTERM are honoured
// even when the parent started us with them blocked (the mask is inherited
// across exec).
void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigset_t ours;
  sigemptyset(&ours);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) {
    sigaction(sig, &sa, nullptr);
    sigaddset(&ours, sig);
  }
  sigprocmask(SIG_UNBLOCK, &ours, nullptr);
}

bool stop_requested() {
  return ftz::dpdk::signals().stop.load();
}

// A stop signal during start-up ends the process the way the signal's
// default action would have (after our clean-up), so a supervisor sees
// "terminated by SIGTERM" rather than an error or a success.
[[noreturn]] void die_by_signal() {
  const int sig =
      ftz::dpdk::signals().stop_signal.load() != 0 ? ftz::dpdk::signals().stop_signal.load() : SIGTERM;
  std::fprintf(stderr, "ftzgate-dp: %s during start-up: stopped\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stderr);
  std::signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_UNBLOCK, &one, nullptr);
  raise(sig);
  std::_Exit(128 + sig);
}

// The capture before EAL start, in one streaming pass (memory does not grow
// with the file): link type, packets (an infinite_rx pool holds them all),
// the longest record (every frame fits one mbuf), and records longer than
// the snap length. A long survey still answers SIGINT/SIGTERM.
struct Survey {
  uint64_t packets = 0;
  uint32_t max_caplen = 0;
  uint64_t over_snaplen = 0;
  std::string over_snaplen_warning;
  ftz::engine::LinkType link = ftz::engine::LinkType::kEthernet;
};

tl::expected<Survey, std::string> survey_capture(const std::string& path) {
  auto reader = ftz::capture::CaptureReader::open(path);
  if (!reader) return tl::unexpected(reader.error());
  Survey s;
  s.link = (*reader)->link();
  ftz::capture::CaptureRecordView r;
  for (;;) {
    const auto next = (*reader)->next(r);
    if (next == ftz::capture::CaptureReader::Next::kEnd) break;
    if (next == ftz::capture::CaptureReader::Next::kError) return tl::unexpected((*reader)->error());
    ++s.packets;
    s.max_caplen = std::max(s.max_caplen, r.caplen);
    if ((s.packets & 0xffff) == 0 && stop_requested()) return s;
  }
  s.over_snaplen = (*reader)->over_snaplen();
  s.over_snaplen_warning = (*reader)->over_snaplen_warning();
  return s;
}

std::string file_prefix(const std::vector<std::string>& eal) {
  for (size_t i = 0; i < eal.size(); ++i) {
    if (eal[i].rfind("--file-prefix=", 0) == 0) return eal[i].substr(14);
    if (eal[i] == "--file-prefix" && i + 1 < eal.size()) return eal[i + 1];
  }
  return "rte";
}

// Where EAL keeps the runtime files of `prefix` (eal_create_runtime_dir):
// /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk.
std::string runtime_dir(const std::string& prefix) {
  if (getuid() == 0) return "/var/run/dpdk/" + prefix;
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  return std::string(xdg != nullptr ? xdg : "/tmp") + "/dpdk/" + prefix;
}

// The value of an EAL option ("-m 512", "-m512"), or "".
std::string eal_value(const std::vector<std::string>& eal, const std::string& name) {
  for (size_t i = 0; i < eal.size(); ++i) {
    if (eal[i] == name && i + 1 < eal.size()) return eal[i + 1];
    if (eal[i].rfind(name, 0) == 0 && eal[i].size() > name.size() && name.size() == 2)
      return eal[i].substr(2);
  }
  return "";
}

// The DPDK heap of a run without hugepages is ordinary anonymous memory
// (-m MB, 64 MB without -m), fully touched when the pool is populated: it
// belongs in the budget. With hugepages the pool lives in the hugepage pool,
// which EAL checks itself.
std::vector<ftz::config::MemoryItem> dpdk_memory(const std::vector<std::string>& eal,
                                                 const ftz::drivers::HardwareProfile& profile) {
  if (std::find(eal.begin(), eal.end(), "--no-huge") == eal.end()) return {};
  const std::string m = eal_value(eal, "-m");
  const uint64_t mb = m.empty() ? 64 : std::strtoull(m.c_str(), nullptr, 10);
  return {{"DPDK heap without hugepages",
           "EAL -m " + std::to_string(mb) + " for mempool.mbufs = " + std::to_string(profile.mbufs), mb << 20,
           false}};
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "ftzgate-dp: %s\n", message.c_str());
  return code;
}

// The hardware profile at `path`; rejected: its diagnostics are printed.
std::optional<ftz::drivers::HardwareProfile> load_profile_or_report(const std::string& path) {
  auto p = ftz::drivers::load_profile(path);
  if (!p) {
    std::fputs(ftz::config::format_diagnostics(p.error()).c_str(), stderr);
    return std::nullopt;
  }
  return std::move(*p);
}

}  // namespace

int main(int argc, char** argv) {
  install_signal_handlers();
  const std::vector<std::string> command = ftz::controller::command_line(argc, argv);
  (void)ftz::controller::restarted();  // taken out of the environment first
  // Every log line is masked (no identifier in clear, docs/eve.md); DPDK's
  // own log joins it once EAL is up (rte_openlog_stream below).
  if (!ftz::engine::mask_standard_error()) return 1;
  auto options = ftz::dpdk::parse_dp_args(argc, argv);
  if (!options) {
    std::fprintf(stderr, "ftzgate-dp: %s\n%s", options.error().c_str(), ftz::dpdk::kDpUsage.c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(ftz::dpdk::kDpUsage.c_str(), stdout);
    return 0;
  }
  if (options->host_needs) {
    const auto p = load_profile_or_report(options->profile);
    if (!p) return fail(2, options->profile + ": hardware profile rejected");
    std::fputs(ftz::dpdk::host_needs(*p).c_str(), stdout);
    return 0;
  }
  // No output may overwrite the capture, the configuration, the profile, a
  // token key or another output.
  std::vector<ftz::report::NamedPath> outputs = {{"--eve", options->eve}, {"--stats", options->stats}};
  if (!options->pcap_out.empty()) {
    for (const char* role : {"inside", "outside", "channel", "mirror"}) {
      outputs.push_back({"--pcap-out", options->pcap_out + "/" + role + ".pcap"});
    }
  }
  if (auto ok = ftz::report::check_outputs(
          {{"--pcap-in", options->pcap_in}, {"--config", options->config}, {"--profile", options->profile}},
          outputs);
      !ok) {
    return fail(2, ok.error());
  }
  // The policy: a signed bundle from the controller (--controller), else
  // the configuration file, its catalog compiled here before EAL start
  // (Hyperscan's refusals name the pattern's file:line:col, and the stream
  // and scratch sizes go into the budget).
  ftz::config::LoadedConfig config;
  std::shared_ptr<const ftz::engine::sig::SignatureDatabase> signatures;
  std::string policy = options->config;  // names the policy in messages
  std::unique_ptr<ftz::controller::ControllerLink> link;
  std::optional<ftz::controller::Incoming> first_bundle;
  if (!options->link.link.target.empty()) {
    auto created = ftz::controller::ControllerLink::create(options->link.link);
    if (!created) return fail(2, created.error());
    link = std::move(*created);
    // Ports stay down (EAL is not even started) until a bundle opens.
    first_bundle = link->first_bundle(
        ftz::dpdk::signals().stop,
        std::chrono::milliseconds(static_cast<int64_t>(options->link.headless_after_s * 1000)));
    if (!first_bundle) die_by_signal();
    policy = "bundle generation " + std::to_string(first_bundle->opened.generation);
    config = std::move(first_bundle->opened.config);
    signatures = first_bundle->opened.signatures;
  } else {
    auto loaded = ftz::config::load_config(options->config);
    if (!loaded) {
      std::fputs(ftz::config::format_diagnostics(loaded.error()).c_str(), stderr);
      return fail(2, options->config + ": configuration rejected");
    }
    config = std::move(*loaded);
  }
  if (auto ok = ftz::report::check_outputs(
          ftz::report::key_files(config.spec.compliance.key_file, config.spec.compliance.state_file),
          outputs);
      !ok) {
    return fail(2, ok.error());
  }
  if (stop_requested()) die_by_signal();
  if (!link) {
    auto compiled = ftz::config::compile_signatures(config);
    if (!compiled) {
      std::fputs(ftz::config::format_diagnostics(compiled.error()).c_str(), stderr);
      return fail(2, options->config + ": configuration rejected");
    }
    signatures = std::move(*compiled);
  }
  if (stop_requested()) die_by_signal();
  std::optional<ftz::drivers::HardwareProfile> loaded_profile;
  if (!options->profile.empty()) {
    loaded_profile = load_profile_or_report(options->profile);
    if (!loaded_profile) return fail(2, options->profile + ": hardware profile rejected");
  }
  ftz::dpdk::CaptureInfo capture;
  ftz::drivers::HardwareProfile profile;
  if (!options->pcap_in.empty()) {
    auto survey = survey_capture(options->pcap_in);
    if (!survey) return fail(1, survey.error());
    if (stop_requested()) die_by_signal();
    if (options->loop && survey->over_snaplen > 0) {
      // net_pcap reads through libpcap, which would cut these records.
      return fail(1, survey->over_snaplen_warning.substr(0, survey->over_snaplen_warning.find(": libpcap")) +
                         ": --loop replays through net_pcap, which cuts them to the snap length; replay the "
                         "capture without --loop");
    }
    capture.packets = survey->packets;
    capture.link = survey->link;
    if (!options->loop) {
      // A single pass streams the capture through the main lcore.
      auto reader = ftz::capture::CaptureReader::open(options->pcap_in);
      if (!reader) return fail(1, reader.error());
      capture.reader = std::move(*reader);
    }
    if (!options->pcap_out.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(options->pcap_out, ec);
      if (ec) return fail(2, options->pcap_out + ": cannot create: " + ec.message());
    }
    profile = ftz::dpdk::pcap_appliance(*options, loaded_profile ? &*loaded_profile : nullptr,
                                        capture.packets, config.spec.limits.hold_max_packets);
    // The packet path hands the engine one contiguous segment: size the
    // mbufs for the longest record (a chained one is judged on its first
    // segment, as a capture cut short). The mempool size field is 16 bits.
    const uint32_t room = survey->max_caplen + RTE_PKTMBUF_HEADROOM;
    if (room > profile.mbuf_data_room) profile.mbuf_data_room = std::min<uint32_t>(room, UINT16_MAX);
  } else {
    profile = *loaded_profile;
    if (options->workers != 0) profile.workers = options->workers;
  }

  const std::vector<std::string> eal = ftz::dpdk::eal_arguments(*options, profile, argv[0]);
  // Everything the workers and the pool take, against what the machine (or
  // its cgroup) has, before EAL or any worker allocates it.
  {
    ftz::config::RunShape shape;
    shape.workers = profile.workers;
    shape.worker.event_queue_capacity = profile.event_ring_size;
    shape.event_queue_from = "rings.events of the hardware profile";
    shape.signatures = signatures.get();
    shape.extra = dpdk_memory(eal, profile);
    auto fits = ftz::config::check_memory(ftz::config::memory_budget(config.spec.limits, shape),
                                          ftz::config::available_memory());
    if (!fits) return fail(1, policy + ": " + fits.error());
  }
  if (stop_requested()) die_by_signal();

  std::vector<char*> eal_argv;
  eal_argv.reserve(eal.size() + 1);
  for (const std::string& a : eal) eal_argv.push_back(const_cast<char*>(a.c_str()));
  // A prefix this run made up is nobody else's; a prefix the operator gave
  // is ours once EAL initialised with it (it took the primary's lock), never
  // before (another primary may own it).
  const std::string prefix = file_prefix(eal);
  const bool own_prefix = file_prefix(options->eal) == "rte" && prefix != "rte";
  bool eal_ready = false;
  const auto cleanup = [&]() {
    if (eal_ready) rte_eal_cleanup();
    if (own_prefix || eal_ready) {
      // EAL leaves its config and fbarray files behind; no run leaves its runtime directory.
      std::error_code ec;
      std::filesystem::remove_all(runtime_dir(prefix), ec);
    }
  };
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    const std::string why = rte_strerror(rte_errno);
    cleanup();
    return fail(1, "EAL initialisation failed: " + why);
  }
  eal_ready = true;
  if (stop_requested()) {
    cleanup();
    die_by_signal();
  }
  rte_openlog_stream(stderr);  // DPDK's log through the masked stream only (not also to syslog)
  int rc = 0;
  bool interrupted = false;
  {
    auto appliance = ftz::dpdk::start_appliance(*options, profile, std::move(config), std::move(capture),
                                                std::move(signatures));
    if (!appliance) {
      interrupted = appliance.error().interrupted;
      if (!interrupted) rc = fail(appliance.error().exit_code, appliance.error().message);
      if (link && !interrupted) link->refused(*first_bundle, appliance.error().message);
    } else {
      if (link) ftz::dpdk::attach_controller(**appliance, std::move(link), *first_bundle);
      rc = ftz::dpdk::run_appliance(**appliance);
    }
  }
  cleanup();
  if (interrupted) die_by_signal();
  if (ftz::dpdk::signals().restart.load() && !stop_requested()) {
    if (rc != 0) return fail(rc, "not restarting: the run ended with an error (above)");
    return fail(1, "restart failed: " + ftz::controller::reexecute(command));
  }
  return rc;
}
