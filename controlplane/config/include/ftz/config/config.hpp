#pragma once
// Loading an operator configuration: YAML -> ftzgate.v1.Config (protobuf
// model) -> validation -> ftz::engine::PolicySpec.
//
// Nothing here throws: every failure, including yaml-cpp's exceptions and
// unreadable prefix-list files or signature packs, comes back as Diagnostics. All errors of one
// run are collected (up to kMaxDiagnostics), so an operator fixes a file in
// one pass.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/config/diagnostics.hpp"
#include "ftz/engine/policy_spec.hpp"
#include "ftzgate/v1/config.pb.h"

struct hs_platform_info;

namespace ftz::engine::sig {
class SignatureDatabase;
}

namespace ftz::config {

// Input caps, enforced before yaml-cpp sees the text (see README.md).
// 16 MiB holds a configuration with tens of thousands of inline prefixes;
// anything larger is not a hand-written config.
inline constexpr std::size_t kMaxInputBytes = 16u << 20;
// Nesting depth estimated on the raw text (block indentation levels, "- "
// indicators and flow brackets). A valid config nests about 6 deep; yaml-cpp
// recurses per level and deeply nested input would exhaust the stack.
inline constexpr std::size_t kMaxNestingDepth = 64;
// Nodes the schema walk may visit: aliases let a small document expand to an
// exponential tree ("billion laughs"), so the walk itself is bounded.
inline constexpr std::size_t kMaxWalkNodes = 1'000'000;
// Each prefix-list file is read up to this size.
inline constexpr std::size_t kMaxPrefixListBytes = 32u << 20;
// Signature pack files are YAML like the configuration and take the same
// caps: kMaxInputBytes, kMaxNestingDepth and kMaxWalkNodes (per file).
// A pack's detached signature (PACK.sig, ftz/keys/detached.hpp).
inline constexpr std::size_t kMaxSignatureBytes = 4096;

// Reads a file the configuration includes: `path` is the reference resolved
// against the YAML file's directory; returns the text, or why there is none.
using IncludedFileReader =
    std::function<tl::expected<std::string, std::string>(const std::string& path, std::size_t max_bytes)>;

struct LoadOptions {
  // Files the configuration includes (prefix_list_files, signature_packs)
  // are resolved relative to the directory of the YAML file. The fuzzer and
  // other untrusted callers turn this off: a reference is then an error, and
  // the loader opens no file besides the one given to load_config().
  bool allow_included_files = true;
  // Where included files come from; null: the file system (regular files
  // only). ftzgated serves the copies imported with the configuration.
  IncludedFileReader read_included;
};

// Included files by path (as resolved: a configuration named without a
// directory resolves "data/cn.txt" to "data/cn.txt"), for LoadOptions: a
// path not in `files` "was not imported with the configuration".
IncludedFileReader read_from(std::map<std::string, std::string> files);

struct LoadedConfig {
  ftzgate::v1::Config model;                      // the YAML as written (names, text prefixes)
  std::vector<ftzgate::v1::SignaturePack> packs;  // as written, in signature_packs order
  ftz::engine::PolicySpec spec;                   // compiled: indices, parsed prefixes, times
  // The YAML file, then the prefix-list files, then the signature packs read.
  std::vector<std::string> files;
  // Where each pattern of spec.signatures was written, [signature][pattern]:
  // the regex's file, line, column and field path (message empty). Hyperscan
  // errors found later are reported there (compile_signatures).
  std::vector<std::vector<Diagnostic>> pattern_sources;
};

// A configuration with the files it includes, as ftzgated imports it: the
// YAML text, and each prefix-list file and signature pack by its reference
// as written (lexically normal: "signatures/builtin.yaml").
struct ImportedConfig {
  std::string text;
  // By reference, as written; a signature pack's detached signature, when
  // it has one, as "PACK.sig".
  std::map<std::string, std::string> files;
  // References that could not be read (reference, why): loading the text
  // reports them at the line that names them.
  std::vector<std::pair<std::string, std::string>> unread;
};

// Reads the configuration at `path` and every file it names, without
// validating it (whoever loads it does: ftzgated, and records the attempt).
// ftzctl load sends the result, ftzgated --init stores it; loading its text
// named without a directory with LoadOptions::read_included =
// read_from(files) sees the configuration as load_config(path) would. An
// error only when `path` itself cannot be read.
tl::expected<ImportedConfig, Diagnostics> import_config(const std::string& path);

// Reads and loads the YAML file at `path`.
tl::expected<LoadedConfig, Diagnostics> load_config(const std::string& path, const LoadOptions& options = {});

// Loads YAML text; `filename` names it in diagnostics and its directory is the
// base for included files (prefix lists, signature packs, key and state files).
tl::expected<LoadedConfig, Diagnostics> load_config_from_string(std::string_view text,
                                                                const std::string& filename,
                                                                const LoadOptions& options = {});

// Loads a model that arrived in a policy bundle with the signature packs it
// uses (one per signature_packs entry, in order). The control plane that
// signed it validated it; it is validated again here, as any input is.
// `name` stands for the file in diagnostics ("bundle generation 7:1:1: ...")
// and names the policy when the model does not. Files it includes come from
// `prefix_lists` only.
// `prefix_lists` are the prefix-list files it names, by reference as written.
tl::expected<LoadedConfig, Diagnostics> load_config_from_model(
    const ftzgate::v1::Config& model, const std::vector<ftzgate::v1::SignaturePack>& packs,
    const std::string& name, std::map<std::string, std::string> prefix_lists = {});

// Compiles the signature catalog of `loaded` (spec.signatures) into the
// Hyperscan database the data planes scan with, for this host, as
// engine::PolicyGeneration::build_with_signatures would. A pattern Hyperscan
// (or the database's own rules: bounded width, no empty match, SOM for
// variable width) refuses is reported at its regex, in the pack or the
// configuration:
//   signatures/extra.yaml:9:16: signature_packs[1].signatures[0].patterns[0].regex: cannot compile: ...
// Null without signatures. Slow path (seconds for a large catalog).
// `platform` (an hs_platform_info_t) compiles for another CPU: the control
// plane's, for a data plane's; nullptr is this host.
tl::expected<std::shared_ptr<const engine::sig::SignatureDatabase>, Diagnostics> compile_signatures(
    const LoadedConfig& loaded, const hs_platform_info* platform = nullptr);

// Calendar date in Asia/Shanghai (fixed UTC+08:00: China has no DST since
// 1991) to unix seconds at 00:00 local time of that day. Valid inputs only
// (the validator checks them); exposed for tests and the audit tooling.
int64_t shanghai_midnight(int year, unsigned month, unsigned day) noexcept;

}  // namespace ftz::config
