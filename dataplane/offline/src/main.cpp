// ftzgate-inspect: run a capture through the inspection engine offline.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <new>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/config/memory_budget.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"

namespace {

constexpr const char* kUsage =
    "usage: ftzgate-inspect --config FILE --pcap FILE [--eve FILE] [--pcap-out FILE] [--json]\n"
    "                       [--classify-all] [--state-out FILE]\n"
    "  --config FILE    operator configuration (YAML)\n"
    "  --pcap FILE      capture to inspect (pcap or pcapng; Ethernet, raw IP, Linux cooked)\n"
    "  --eve FILE       write events as EVE JSON lines ('-' for standard output)\n"
    "  --pcap-out FILE  write the packets the appliance would forward (classic pcap)\n"
    "  --json           print the report as JSON instead of text\n"
    "  --classify-all   audit mode: classify every flow's content, whatever the policy\n"
    "  --state-out FILE save the compliance ledger (year's counts) to FILE\n"
    "  -h, --help       print this help and exit\n";

struct Args {
  std::string config;
  std::string pcap;
  std::string eve;
  std::string pcap_out;
  std::string state_out;
  bool json = false;
  bool classify_all = false;
};

bool parse_args(int argc, char** argv, Args& a, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        error = arg + " needs a value";
        return false;
      }
      out = argv[++i];
      return true;
    };
    if (arg == "--config") {
      if (!value(a.config)) return false;
    } else if (arg == "--pcap") {
      if (!value(a.pcap)) return false;
    } else if (arg == "--eve") {
      if (!value(a.eve)) return false;
    } else if (arg == "--pcap-out") {
      if (!value(a.pcap_out)) return false;
    } else if (arg == "--state-out") {
      if (!value(a.state_out)) return false;
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "--classify-all") {
      a.classify_all = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      error = "unknown argument " + arg;
      return false;
    }
  }
  if (a.config.empty()) error = "--config is required";
  else if (a.pcap.empty()) error = "--pcap is required";
  return error.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  std::string error;
  if (!parse_args(argc, argv, args, error)) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  auto loaded = ftz::config::load_config(args.config);
  if (!loaded) {
    std::fputs(ftz::config::format_diagnostics(loaded.error()).c_str(), stderr);
    std::fprintf(stderr, "ftzgate-inspect: %s: configuration rejected\n", args.config.c_str());
    return 2;
  }
  // Hyperscan's refusals name the pattern's file:line:col, like every other
  // configuration error.
  auto db = ftz::config::compile_signatures(*loaded);
  if (!db) {
    std::fputs(ftz::config::format_diagnostics(db.error()).c_str(), stderr);
    std::fprintf(stderr, "ftzgate-inspect: %s: configuration rejected\n", args.config.c_str());
    return 2;
  }
  // Everything the worker allocates up front, against what the machine has,
  // before any of it is allocated (one worker; its options as inspect_capture
  // sets them).
  ftz::config::RunShape shape;
  shape.signatures = db->get();
  if (auto fits = ftz::config::check_memory(ftz::config::memory_budget(loaded->spec.limits, shape),
                                            ftz::config::available_memory());
      !fits) {
    std::fprintf(stderr, "ftzgate-inspect: %s: %s\n", args.config.c_str(), fits.error().c_str());
    return 1;
  }
  auto built = ftz::engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1, std::move(*db));
  if (!built) {
    std::fprintf(stderr, "ftzgate-inspect: %s: %s\n", args.config.c_str(), built.error().c_str());
    return 2;
  }
  auto generation = std::move(*built);

  std::ofstream eve_file;
  std::ostream* eve = nullptr;
  if (args.eve == "-") {
    eve = &std::cout;
  } else if (!args.eve.empty()) {
    eve_file.open(args.eve, std::ios::out | std::ios::trunc);
    if (!eve_file) {
      std::fprintf(stderr, "ftzgate-inspect: %s: cannot write: %s\n", args.eve.c_str(), std::strerror(errno));
      return 2;
    }
    eve = &eve_file;
  }
  std::string line;
  const ftz::offline::EventCallback on_event = [&](const ftz::engine::Event& e,
                                                   const ftz::engine::PolicyGeneration& gen) {
    if (eve == nullptr) return;
    line.clear();
    ftz::engine::format_eve(e, gen, line);
    line += '\n';
    eve->write(line.data(), static_cast<std::streamsize>(line.size()));
  };

  const ftz::offline::NoticeCallback on_notice = [&](const ftz::offline::ComplianceNotice& n) {
    if (eve == nullptr) return;
    line = ftz::offline::format_notice_eve(n);
    line += '\n';
    eve->write(line.data(), static_cast<std::streamsize>(line.size()));
  };

  ftz::offline::InspectOptions opts;
  opts.pcap_path = args.pcap;
  opts.pcap_out_path = args.pcap_out;
  opts.classify_all = args.classify_all;
  opts.state_out_path = args.state_out;
  tl::expected<ftz::offline::InspectSummary, std::string> summary;
  try {
    summary = ftz::offline::inspect_capture(opts, generation, on_event, on_notice);
  } catch (const std::bad_alloc&) {
    // The budget above leaves room; what it does not size (other processes
    // growing meanwhile) still ends here with a message, not an abort.
    std::fprintf(stderr, "ftzgate-inspect: out of memory (see the limits in %s)\n", args.config.c_str());
    return 1;
  }
  if (!summary) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", summary.error().c_str());
    return 1;
  }
  if (eve != nullptr) eve->flush();
  const std::string report =
      args.json ? ftz::offline::format_report_json(*summary) : ftz::offline::format_report_text(*summary);
  if (args.eve == "-") std::fputs(report.c_str(), stderr);
  else std::fputs(report.c_str(), stdout);
  if (!summary->capture_warning.empty()) std::fprintf(stderr, "ftzgate-inspect: warning: %s\n", summary->capture_warning.c_str());
  if (summary->truncated_file) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", summary->read_error.c_str());
    return 1;
  }
  return 0;
}
