#pragma once
// Internal: semantic validation of the model, and resolution of what the
// compiler needs beyond the proto (parsed prefixes including prefix-list
// files, approval times).
//
// Checks: names (syntax, duplicates), references (zones, tenants, channels),
// prefixes (syntax, host bits, overlaps between zones and between tenants, a
// tenant's prefixes inside its zone), the default zone, dates, approval
// coverage, route/channel consistency, cross-field limits, signatures (of the
// packs and the operator's: unique names and sids across all of them,
// validators, tags, patterns without lookaround) and compliance settings. Every check
// runs even after an earlier one failed, so one run reports all it can.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/config/diagnostic_sink.hpp"
#include "ftz/engine/ip_addr.hpp"
#include "ftzgate/v1/config.pb.h"

namespace ftz::config {

struct ApprovalTimes {
  int64_t valid_from = 0;   // unix seconds, 00:00 +08:00 of the first day
  int64_t valid_until = 0;  // unix seconds, 00:00 +08:00 of the day after the last
};

// A signature pack file the loader read: errors inside it name `file` and
// field paths under `path` ("signature_packs[0].signatures[3].sid").
struct LoadedPack {
  std::string file;  // resolved against the configuration's directory
  std::string path;  // the reference: "signature_packs[0]"
  ftzgate::v1::SignaturePack model;
  SourceMap map;  // locations inside `file`
};

struct Resolved {
  std::vector<std::vector<engine::Prefix>> zone_prefixes;  // inline, then files
  std::vector<std::vector<engine::Prefix>> tenant_prefixes;
  std::vector<std::vector<ApprovalTimes>> approval_times;  // [tenant][approval]
  std::vector<std::string> files;                          // prefix-list files read
  std::string key_file;                                    // compliance.key_file against the YAML directory
  std::string state_file;                                  // compliance.state_file, likewise
};

// Returns true when the model is valid (no error was added to `sink`);
// `out` is complete only then. `base_dir` resolves prefix-list files and the
// compliance key and state files.
// An included file through options.read_included, else from the file
// system (regular files of at most `max_bytes`): the text or why not.
tl::expected<std::string, std::string> read_included(const LoadOptions& options, const std::string& path,
                                                     std::size_t max_bytes);

bool validate_config(const ftzgate::v1::Config& config, const SourceMap& map,
                     const std::vector<LoadedPack>& packs, const std::filesystem::path& base_dir,
                     const LoadOptions& options, DiagnosticSink& sink, Resolved& out);

}  // namespace ftz::config
