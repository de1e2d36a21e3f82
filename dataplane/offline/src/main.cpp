// ftzgate-inspect: run a capture through the inspection engine offline.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <new>
#include <optional>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/config/memory_budget.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/engine/output_masking.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/offline/inspector.hpp"
#include "ftz/report/output_file.hpp"

namespace {

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

// The flags as README.md documents them (CLI11). A repeated option keeps its
// last value, as before.
void define_options(CLI::App& app, Args& a) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--config", a.config, "operator configuration (YAML)")->type_name("FILE")->required();
  app.add_option("--pcap", a.pcap, "capture to inspect (pcap or pcapng; Ethernet, raw IP, Linux cooked)")
      ->type_name("FILE")
      ->required();
  app.add_option("--eve", a.eve, "write events as EVE JSON lines ('-' for standard output)")
      ->type_name("FILE");
  app.add_option("--pcap-out", a.pcap_out, "write the packets the appliance would forward (classic pcap)")
      ->type_name("FILE");
  app.add_flag("--json", a.json, "print the report as JSON instead of text");
  app.add_flag("--classify-all", a.classify_all,
               "audit mode: classify every flow's content, whatever the policy");
  app.add_option("--state-out", a.state_out, "save the compliance ledger (year's counts) to FILE")
      ->type_name("FILE");
  app.add_flag(
      "--demo-token-key", a.demo_token_key,
      "use the published demo token key of the examples (demos and tests only: its tokens can be "
      "reversed); without it a demo key is refused and the appliance's own key is used or generated");
}

// 0 after --help, 2 after a bad argument (with the message and a pointer to
// --help on standard error), nullopt to go on.
std::optional<int> parse_args(int argc, char** argv, Args& a) {
  CLI::App app{"Run a capture through the inspection engine offline and print a report.", "ftzgate-inspect"};
  define_options(app, a);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ExtrasError&) {
    const auto extras = app.remaining();
    std::fprintf(stderr, "ftzgate-inspect: unknown argument %s\nRun with --help for more information.\n",
                 extras.empty() ? "" : extras.front().c_str());
    return 2;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ftzgate-inspect: %s\nRun with --help for more information.\n", e.what());
    return 2;
  }
  return std::nullopt;
}

int run(int argc, char** argv) {
  // Every log line is masked (no identifier in clear, docs/eve.md).
  if (!ftz::engine::mask_standard_error()) return 1;
  Args args;
  if (const auto status = parse_args(argc, argv, args)) return *status;
  if (auto cpu = ftz::engine::sig::host_cpu_supported(); !cpu) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", cpu.error().c_str());
    return 2;
  }
  // No output may overwrite the capture, the configuration, a token key or
  // another output.
  const std::vector<ftz::report::NamedPath> outputs = {
      {"--eve", args.eve}, {"--pcap-out", args.pcap_out}, {"--state-out", args.state_out, true}};
  if (auto ok = ftz::report::check_outputs({{"--pcap", args.pcap}, {"--config", args.config}}, outputs);
      !ok) {
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
  if (auto ok = ftz::report::check_outputs(ftz::report::key_files(compliance.key_file, compliance.state_file),
                                           outputs);
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
  auto built =
      ftz::engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1, std::move(*db));
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
  opts.on_warning = [](const std::string& w) {
    std::fprintf(stderr, "ftzgate-inspect: warning: %s\n", w.c_str());
  };
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
  if (!summary->capture_warning.empty())
    std::fprintf(stderr, "ftzgate-inspect: warning: %s\n", summary->capture_warning.c_str());
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

}  // namespace

int main(int argc, char** argv) {
  // A last barrier: what escapes (allocation, I/O) ends the run with a
  // message and the error exit status, not std::terminate.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftzgate-inspect: %s\n", e.what());
    return 1;
  }
}
