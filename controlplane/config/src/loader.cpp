// Orchestration: caps -> yaml-cpp -> reader -> validator -> compiler.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "compile.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/diagnostic_sink.hpp"
#include "ftz/config/yaml_util.hpp"
#include "ftz/config/config.hpp"
#include "validate.hpp"
#include "yaml_reader.hpp"

namespace ftz::config {

namespace {

struct DepthExcess {
  uint32_t line = 0;
  uint32_t column = 0;
};

bool opens_scalar_after(char prev) {
  return prev == '\0' || prev == ':' || prev == '-' || prev == '[' || prev == '{' || prev == ',' ||
         prev == '?';
}

// A conservative estimate of the nesting depth of YAML text, computed before
// yaml-cpp (which recurses once per level) sees it: block levels are distinct
// indentation levels plus compact "- - x" indicators, flow levels are open
// brackets outside quotes and comments. It may over-count odd but valid
// documents (a plain scalar "a[b" opens a bracket here); a real config sits
// far below the cap.
std::optional<DepthExcess> find_excess_depth(std::string_view text, std::size_t max_depth) {
  std::vector<std::size_t> indents;
  std::size_t flow = 0;
  char quote = 0;  // open quote character carried across lines
  uint32_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    std::size_t i = 0;
    std::size_t block = indents.size();
    if (flow == 0 && quote == 0) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] != '#' && line[i] != '\r') {
        while (!indents.empty() && indents.back() > i) indents.pop_back();
        if (indents.empty() || indents.back() < i) indents.push_back(i);
        block = indents.size();
        // "- - - x" nests a sequence per dash on one line.
        while (i + 1 < line.size() && line[i] == '-' && (line[i + 1] == ' ' || line[i + 1] == '\t')) {
          if (++block > max_depth) return DepthExcess{line_no, static_cast<uint32_t>(i + 1)};
          i += 2;
          while (i < line.size() && line[i] == ' ') ++i;
        }
      }
      if (block > max_depth) return DepthExcess{line_no, static_cast<uint32_t>(i + 1)};
    }
    char prev = '\0';
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') {
          ++i;
        } else if (c == quote) {
          quote = 0;
          prev = 'x';
        }
        continue;
      }
      if (c == ' ' || c == '\t') continue;
      if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) break;
      if ((c == '"' || c == '\'') && opens_scalar_after(prev)) {
        quote = c;
        continue;
      }
      if (c == '[' || c == '{') {
        ++flow;
        if (block + flow > max_depth) return DepthExcess{line_no, static_cast<uint32_t>(i + 1)};
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      }
      prev = c;
    }
    if (end == text.size()) break;
  }
  return std::nullopt;
}


// Counts documents (at most two) from parser events without building nodes.
// yaml-cpp 0.7's LoadAll() loops forever, allocating a null document per
// turn, when a document starts with a token no node can begin with (",",
// jbeder/yaml-cpp#1319); a bounded loop over HandleNextDocument() sees the
// same thing as two documents starting at the same position.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start_ = mark;
    events_ = 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    note(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    note(mark);
  }
  void OnMapEnd() override {}

  [[nodiscard]] const YAML::Mark& start() const noexcept { return start_; }
  [[nodiscard]] const YAML::Mark& first_node() const noexcept { return first_; }

 private:
  void note(const YAML::Mark& mark) {
    if (events_++ == 0) first_ = mark;
  }
  YAML::Mark start_;
  YAML::Mark first_;
  std::size_t events_ = 0;
};

struct DocumentCount {
  int documents = 0;
  YAML::Mark first_start;
  YAML::Mark first_node;
  YAML::Mark second_start;
};

DocumentCount count_documents(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentCounter counter;
  DocumentCount count;
  while (count.documents < 2 && parser.HandleNextDocument(counter)) {
    if (count.documents == 0) {
      count.first_start = counter.start();
      count.first_node = counter.first_node();
    } else {
      count.second_start = counter.start();
    }
    ++count.documents;
  }
  return count;
}

std::string size_message(std::size_t size) {
  return "input is " + std::to_string(size) + " bytes, above the " + std::to_string(kMaxInputBytes >> 20) +
         " MiB limit";
}

Diagnostics size_error(const std::string& filename, std::size_t size) {
  return {Diagnostic{filename, 1, 1, "", size_message(size)}};
}

// Caps, then yaml-cpp: the one document of `text`, or nullopt after an error
// was reported under `path` ("" for the configuration, the reference for a
// signature pack). An empty text is a null node.
std::optional<YAML::Node> parse_document(std::string_view text, const std::string& filename,
                                         const std::string& path, std::string_view what,
                                         DiagnosticSink& sink) {
  if (text.size() > kMaxInputBytes) {
    sink.error(Loc{filename, 1, 1}, path, size_message(text.size()));
    return std::nullopt;
  }
  // Old Mac line ends: yaml-cpp would read the whole file as one line.
  const std::string normalized = normalize_line_breaks(text);
  text = normalized;
  if (auto deep = find_excess_depth(text, kMaxNestingDepth)) {
    sink.error(Loc{filename, deep->line, deep->column}, path,
               "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels");
    return std::nullopt;
  }
  try {
    const auto count = count_documents(text);
    if (count.documents > 1) {
      if (count.second_start.pos == count.first_start.pos) {
        // No progress between "documents": yaml-cpp met a token no node can
        // start with (LoadAll would loop here forever).
        sink.error(loc_of(filename, count.first_node), path, "YAML syntax error: unexpected token");
      } else {
        sink.error(loc_of(filename, count.second_start), path, "only one YAML document per " + std::string(what));
      }
      return std::nullopt;
    }
    if (count.documents == 1) return YAML::Load(std::string(text));
    return YAML::Node();
  } catch (const YAML::Exception& e) {
    sink.error(loc_of(filename, e.mark), path, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

// Reads a whole regular file of at most `max_bytes` into `out`; the reason
// when it cannot. Regular files only: a FIFO or /dev/stdin would block the
// loader, and /dev/zero would never end.
std::optional<std::string> read_regular_file(const std::string& file, std::size_t max_bytes, std::string& out) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status)) return "no such file";
  if (!std::filesystem::is_regular_file(status)) return "not a regular file";
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return ec.message();
  if (size > max_bytes) {
    return std::to_string(size) + " bytes, above the " + std::to_string(max_bytes >> 20) + " MiB limit";
  }
  std::ifstream in(file, std::ios::binary);
  out.assign(static_cast<std::size_t>(size), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  if (!in) return "read error";
  return std::nullopt;
}

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
    std::string text;
    if (auto why = read_regular_file(file, kMaxInputBytes, text)) {
      sink.error(map.at(path), path, "cannot read signature pack " + quote(file) + ": " + *why);
      continue;
    }
    const auto root = parse_document(text, file, path, "signature pack", sink);
    if (!root) continue;
    LoadedPack pack{file, path, {}, SourceMap(file)};
    read_signature_pack(*root, path, pack.model, pack.map, sink);
    packs.push_back(std::move(pack));
  }
  return packs;
}

tl::expected<LoadedConfig, Diagnostics> load_impl(std::string_view text, const std::string& filename,
                                                  const LoadOptions& options) {
  DiagnosticSink sink;
  const auto root = parse_document(text, filename, "", "configuration file", sink);
  if (!root) return tl::unexpected(sink.take(filename));

  LoadedConfig loaded;
  loaded.files.push_back(filename);
  SourceMap map(filename);
  if (!read_config(*root, loaded.model, map, sink)) {
    return tl::unexpected(sink.take(filename));
  }
  const std::filesystem::path base_dir = std::filesystem::path(filename).parent_path();
  const std::vector<LoadedPack> packs = read_packs(loaded.model, map, base_dir, options, sink);
  // Validate even after reader errors: an operator gets the reference and
  // prefix errors of the same run too.
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

tl::expected<LoadedConfig, Diagnostics> load_config(const std::string& path, const LoadOptions& options) {
  try {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::is_regular_file(status)) {
      return tl::unexpected(Diagnostics{Diagnostic{path, 0, 0, "",
                                                   ec || !std::filesystem::exists(status)
                                                       ? "cannot read configuration: no such file"
                                                       : "cannot read configuration: not a regular file"}});
    }
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
      return tl::unexpected(
          Diagnostics{Diagnostic{path, 0, 0, "", "cannot read configuration: " + ec.message()}});
    }
    if (size > kMaxInputBytes) {
      return tl::unexpected(size_error(path, static_cast<std::size_t>(size)));
    }
    std::ifstream in(path, std::ios::binary);
    std::string text(static_cast<std::size_t>(size), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (!in) {
      return tl::unexpected(Diagnostics{Diagnostic{path, 0, 0, "", "cannot read configuration: read error"}});
    }
    return load_config_from_string(text, path, options);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(internal_error(path, "out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(internal_error(path, e.what()));
  }
}

}  // namespace ftz::config
