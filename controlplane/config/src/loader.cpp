// Orchestration: caps -> yaml-cpp -> reader -> validator -> compiler.

#include <yaml-cpp/yaml.h>

#include <exception>
#include <filesystem>
#include <new>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "compile.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/diagnostic_sink.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"
#include "validate.hpp"
#include "yaml_reader.hpp"

namespace ftz::config {

tl::expected<std::string, std::string> read_included(const LoadOptions& options, const std::string& path,
                                                     std::size_t max_bytes) {
  if (options.read_included) return options.read_included(path, max_bytes);
  auto text = read_regular_file(path, max_bytes);
  if (!text) return tl::unexpected(text.error().reason);
  return std::move(*text);
}

namespace {

// Signature pack files are YAML like the configuration and take the same caps.
constexpr DocumentLimits kConfigLimits{"configuration file", "input", kMaxInputBytes, kMaxNestingDepth};
constexpr DocumentLimits kPackLimits{"signature pack", "input", kMaxInputBytes, kMaxNestingDepth};

// Reads the signature packs named by the configuration, in order. Errors
// about a reference (missing file, disabled, listed twice) point at the
// configuration's line; errors inside a pack name the pack file.
std::vector<LoadedPack> read_packs(const ftzgate::v1::Config& config, const SourceMap& map,
                                   const std::filesystem::path& base_dir, const LoadOptions& options,
                                   DiagnosticSink& sink) {
  std::vector<LoadedPack> packs;
  std::unordered_map<std::string, std::string> seen;  // resolved file -> reference path
  for (int i = 0; i < config.signature_packs_size(); ++i) {
    const std::string path = "signature_packs[" + std::to_string(i) + "]";
    if (!options.allow_included_files) {
      sink.error(map.at(path), path, "signature packs are disabled in this context");
      continue;
    }
    const std::string file = (base_dir / config.signature_packs(i)).lexically_normal().string();
    if (auto [it, inserted] = seen.emplace(file, path); !inserted) {
      sink.error(map.at(path), path,
                 "signature pack " + quote(file) + " is listed twice (first at " +
                     format_loc(map.at(it->second)) + ")");
      continue;
    }
    const auto text = read_included(options, file, kMaxInputBytes);
    if (!text) {
      sink.error(map.at(path), path, "cannot read signature pack " + quote(file) + ": " + text.error());
      continue;
    }
    const auto root = parse_document(*text, file, path, kPackLimits, sink);
    if (!root) continue;
    LoadedPack pack{file, path, {}, SourceMap(file)};
    read_signature_pack(*root, path, pack.model, pack.map, sink);
    packs.push_back(std::move(pack));
  }
  return packs;
}

// The common tail of both loaders: validation (even after reader errors: an
// operator gets the reference and prefix errors of the same run too), then
// the engine's policy and where each pattern was written.
tl::expected<LoadedConfig, Diagnostics> validate_and_compile(
    LoadedConfig loaded, const std::vector<LoadedPack>& packs, const SourceMap& map,
    const std::filesystem::path& base_dir, const LoadOptions& options, DiagnosticSink& sink) {
  const std::string& filename = map.file();
  Resolved resolved;
  validate_config(loaded.model, map, packs, base_dir, options, sink, resolved);
  if (sink.has_errors()) return tl::unexpected(sink.take(filename));

  loaded.spec = compile_config(loaded.model, packs, resolved);
  if (loaded.spec.name.empty()) loaded.spec.name = std::filesystem::path(filename).stem().string();
  for (auto& f : resolved.files) loaded.files.push_back(std::move(f));
  for (const auto& p : packs) {
    loaded.files.push_back(p.file);
    loaded.packs.push_back(p.model);
  }
  // Pattern positions in compile order: the packs' signatures, then the operator's.
  const auto add_sources = [&loaded](const auto& signatures, const std::string& base, const SourceMap& m) {
    for (int i = 0; i < signatures.size(); ++i) {
      auto& out = loaded.pattern_sources.emplace_back();
      for (int k = 0; k < signatures.Get(i).patterns_size(); ++k) {
        const std::string path =
            index_path(index_path(join(base, "signatures"), static_cast<std::size_t>(i)) + ".patterns",
                       static_cast<std::size_t>(k)) +
            ".regex";
        const Loc loc = m.at(path);
        out.push_back(Diagnostic{loc.file, loc.line, loc.column, path, ""});
      }
    }
  };
  for (const auto& p : packs) add_sources(p.model.signatures(), p.path, p.map);
  add_sources(loaded.model.signatures(), "", map);
  return loaded;
}

tl::expected<LoadedConfig, Diagnostics> load_impl(std::string_view text, const std::string& filename,
                                                  const LoadOptions& options) {
  DiagnosticSink sink;
  const auto root = parse_document(text, filename, "", kConfigLimits, sink);
  if (!root) return tl::unexpected(sink.take(filename));

  LoadedConfig loaded;
  loaded.files.push_back(filename);
  SourceMap map(filename);
  if (!read_config(*root, loaded.model, map, sink)) {
    return tl::unexpected(sink.take(filename));
  }
  const std::filesystem::path base_dir = std::filesystem::path(filename).parent_path();
  const std::vector<LoadedPack> packs = read_packs(loaded.model, map, base_dir, options, sink);
  return validate_and_compile(std::move(loaded), packs, map, base_dir, options, sink);
}

Diagnostics internal_error(const std::string& filename, const char* what) {
  return {Diagnostic{filename, 1, 1, "", std::string("internal error: ") + what}};
}

}  // namespace

tl::expected<LoadedConfig, Diagnostics> load_config_from_string(std::string_view text,
                                                                const std::string& filename,
                                                                const LoadOptions& options) {
  // Nothing escapes: yaml-cpp throws, std::filesystem and allocation can.
  try {
    return load_impl(text, filename, options);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(internal_error(filename, "out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(internal_error(filename, e.what()));
  }
}

tl::expected<ImportedConfig, Diagnostics> import_config(const std::string& path) {
  try {
    const auto text = read_regular_file(path, kMaxInputBytes);
    if (!text) {
      return tl::unexpected(
          Diagnostics{Diagnostic{path, 0, 0, "", "cannot read configuration: " + text.error().reason}});
    }
    ImportedConfig out{*text, {}, {}};
    // Only the references are wanted here: the reader's model, even of a
    // document with errors (validation is the loader's, wherever it runs).
    DiagnosticSink ignored;
    const auto root = parse_document(*text, path, "", kConfigLimits, ignored);
    if (!root) return out;
    ftzgate::v1::Config model;
    SourceMap map(path);
    (void)read_config(*root, model, map, ignored);
    const std::filesystem::path base_dir = std::filesystem::path(path).parent_path();
    const auto take = [&](const std::string& written, std::size_t max_bytes) {
      const std::string ref = std::filesystem::path(written).lexically_normal().string();
      if (out.files.count(ref) != 0) return;
      auto content = read_regular_file((base_dir / written).lexically_normal().string(), max_bytes);
      if (content) {
        out.files.emplace(ref, std::move(*content));
      } else {
        out.unread.emplace_back(ref, content.error().reason);
      }
    };
    for (const auto& z : model.zones()) {
      for (const auto& f : z.prefix_list_files()) take(f, kMaxPrefixListBytes);
    }
    for (const auto& p : model.signature_packs()) {
      take(p, kMaxInputBytes);
      // A vendor's detached signature beside its pack (ftzgate-sign), when
      // there is one: ftzgated checks it against its trusted keys.
      const std::string sig = (base_dir / p).lexically_normal().string() + ".sig";
      if (std::filesystem::exists(sig)) take(p + ".sig", kMaxSignatureBytes);
    }
    return out;
  } catch (const std::bad_alloc&) {
    return tl::unexpected(internal_error(path, "out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(internal_error(path, e.what()));
  }
}

IncludedFileReader read_from(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::string& path,
                                    std::size_t max_bytes) -> tl::expected<std::string, std::string> {
    const auto it = files.find(path);
    if (it == files.end()) return tl::unexpected(std::string("not imported with the configuration"));
    if (it->second.size() > max_bytes) {
      return tl::unexpected(std::to_string(it->second.size()) + " bytes, above the " +
                            std::to_string(max_bytes >> 20) + " MiB limit");
    }
    return it->second;
  };
}

tl::expected<LoadedConfig, Diagnostics> load_config_from_model(
    const ftzgate::v1::Config& model, const std::vector<ftzgate::v1::SignaturePack>& packs,
    const std::string& name, std::map<std::string, std::string> prefix_lists) {
  try {
    DiagnosticSink sink;
    const SourceMap map(name);
    if (model.signature_packs_size() != static_cast<int>(packs.size())) {
      sink.error(map.at("signature_packs"), "signature_packs",
                 "the configuration names " + std::to_string(model.signature_packs_size()) +
                     " signature packs, " + std::to_string(packs.size()) + " came with it");
      return tl::unexpected(sink.take(name));
    }
    std::vector<LoadedPack> loaded_packs;
    for (size_t i = 0; i < packs.size(); ++i) {
      const std::string path = "signature_packs[" + std::to_string(i) + "]";
      loaded_packs.push_back(LoadedPack{name, path, packs[i], SourceMap(name)});
    }
    LoadedConfig loaded;
    loaded.files.push_back(name);
    loaded.model = model;
    // Packs arrived as models; prefix lists only from what came with it.
    LoadOptions options;
    options.read_included = read_from(std::move(prefix_lists));
    return validate_and_compile(std::move(loaded), loaded_packs, map, {}, options, sink);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(internal_error(name, "out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(internal_error(name, e.what()));
  }
}

tl::expected<LoadedConfig, Diagnostics> load_config(const std::string& path, const LoadOptions& options) {
  try {
    const auto text = read_regular_file(path, kMaxInputBytes);
    if (!text && text.error().size != 0) {
      return tl::unexpected(
          Diagnostics{Diagnostic{path, 1, 1, "", size_message("input", text.error().size, kMaxInputBytes)}});
    }
    if (!text) {
      return tl::unexpected(
          Diagnostics{Diagnostic{path, 0, 0, "", "cannot read configuration: " + text.error().reason}});
    }
    return load_config_from_string(*text, path, options);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(internal_error(path, "out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(internal_error(path, e.what()));
  }
}

}  // namespace ftz::config
