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
#include "ftz/engine/output_masking.hpp"
#include "ftz/offline/inspector.hpp"
#include "ftz/report/output_file.hpp"

namespace {

constexpr const char* kUsage =
    "usage: ftzgate-inspect --config FILE --pcap FILE [--eve FILE] [--pcap-out FILE] [--json]\n"
    "                       [--classify-all] [--state-out FILE] [--demo-token-key]\n"
    "  --config FILE    operator configuration (YAML)\n"
    "  --pcap FILE      capture to inspect (pcap or pcapng; Ethernet, raw IP, Linux cooked)\n"
    "  --eve FILE       write events as EVE JSON lines ('-' for standard output)\n"
    "  --pcap-out FILE  write the packets the appliance would forward (classic pcap)\n"
    "  --json           print the report as JSON instead of text\n"
    "  --classify-all   audit mode: classify every flow's content, whatever the policy\n"
    "  --state-out FILE save the compliance ledger (year's counts) to FILE\n"
    "  --demo-token-key use the published demo token key of the examples (demos and\n"
    "                   tests only: its tokens can be reversed); without it a demo key\n"
    "                   is refused and the appliance's own key is used or generated\n"
    "  -h, --help       print this help and exit\n";

struct Args {
  std::string config;
  std::string pcap;
  std::string eve;
  std::string pcap_out;
  std::string state_out;
  bool json = false;
  bool classify_all = false;
  bool demo_token_key = false;
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
    } else if (arg == "--demo-token-key") {
      a.demo_token_key = true;
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
  // Every log line is masked (no identifier in clear, docs/eve.md).
  if (!ftz::engine::mask_standard_error()) return 1;
  Args args;
  std::string error;
  if (!parse_args(argc, argv, args, error)) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n%s", error.c_str(), kUsage);
    return 2;
  }
  // No output may overwrite the capture, the configuration, a token key or
  // another output.
  const std::vector<ftz::report::NamedPath> outputs = {
      {"--eve", args.eve}, {"--pcap-out", args.pcap_out}, {"--state-out", args.state_out, true}};
  if (auto ok = ftz::report::check_outputs({{"--pcap", args.pcap}, {"--config", args.config}}, outputs); !ok) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", ok.error().c_str());
    return 2;
  }
  auto loaded = ftz::config::load_config(args.config);
  if (!loaded) {
    std::fputs(ftz::config::format_diagnostics(loaded.error()).c_str(), stderr);
    std::fprintf(stderr, "ftzgate-inspect: %s: configuration rejected\n", args.config.c_str());
    return 2;
  }
  const auto& compliance = loaded->spec.compliance;
  if (auto ok = ftz::report::check_outputs(ftz::report::key_files(compliance.key_file, compliance.state_file), outputs);
      !ok) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", ok.error().c_str());
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

  // Every write is checked: a full disk, /dev/full or a read-only file
  // ends the run with exit code 1 and the reason.
  std::unique_ptr<ftz::report::OutputFile> eve;
  if (!args.eve.empty()) {
    auto opened = ftz::report::OutputFile::open(args.eve);
    if (!opened) {
      std::fprintf(stderr, "ftzgate-inspect: %s\n", opened.error().c_str());
      return 2;
    }
    eve = std::move(*opened);
  }
  std::string line;
  const ftz::offline::EventCallback on_event = [&](const ftz::engine::Event& e,
                                                   const ftz::engine::PolicyGeneration& gen) {
    if (!eve) return;
    line.clear();
    ftz::engine::format_eve(e, gen, line);
    line += '\n';
    eve->write(line);
  };

  const ftz::offline::NoticeCallback on_notice = [&](const ftz::report::ComplianceNotice& n) {
    if (!eve) return;
    line = ftz::report::format_notice_eve(n);
    line += '\n';
    eve->write(line);
  };

  ftz::offline::InspectOptions opts;
  opts.pcap_path = args.pcap;
  opts.pcap_out_path = args.pcap_out;
  opts.classify_all = args.classify_all;
  opts.state_out_path = args.state_out;
  opts.demo_token_key = args.demo_token_key;
  opts.on_warning = [](const std::string& w) { std::fprintf(stderr, "ftzgate-inspect: warning: %s\n", w.c_str()); };
  tl::expected<ftz::report::InspectSummary, std::string> summary;
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
  std::string eve_error;
  if (eve) {
    if (auto closed = eve->close(); !closed) {
      eve_error = closed.error() + " (" + std::to_string(eve->lines_lost()) + " of " +
                  std::to_string(summary->events + summary->notices.size()) + " event lines not written)";
    }
  }
  const std::string report =
      args.json ? ftz::report::format_report_json(*summary) : ftz::report::format_report_text(*summary);
  FILE* report_out = args.eve == "-" ? stderr : stdout;
  std::fputs(report.c_str(), report_out);
  if (std::fflush(report_out) != 0 || std::ferror(report_out)) {
    std::fprintf(stderr, "ftzgate-inspect: cannot write the report: %s\n", std::strerror(errno));
    return 1;
  }
  if (!summary->capture_warning.empty()) std::fprintf(stderr, "ftzgate-inspect: warning: %s\n", summary->capture_warning.c_str());
  if (!eve_error.empty()) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", eve_error.c_str());
    return 1;
  }
  if (summary->truncated_file) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", summary->read_error.c_str());
    return 1;
  }
  return 0;
}
