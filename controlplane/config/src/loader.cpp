// Orchestration: caps -> yaml-cpp -> reader -> validator -> compiler.

#include <yaml-cpp/yaml.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>
#include <vector>

#include "compile.hpp"
#include "diagnostic_sink.hpp"
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
  return prev == '\0' || prev == ':' || prev == '-' || prev == '[' || prev == '{' ||
         prev == ',' || prev == '?';
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

Diagnostics size_error(const std::string& filename, std::size_t size) {
  return {Diagnostic{filename, 1, 1, "",
                     "input is " + std::to_string(size) + " bytes, above the " +
                         std::to_string(kMaxInputBytes >> 20) + " MiB limit"}};
}

tl::expected<LoadedConfig, Diagnostics> load_impl(std::string_view text,
                                                  const std::string& filename,
                                                  const LoadOptions& options) {
  DiagnosticSink sink;
  const Loc start{filename, 1, 1};
  if (text.size() > kMaxInputBytes) return tl::unexpected(size_error(filename, text.size()));
  if (auto deep = find_excess_depth(text, kMaxNestingDepth)) {
    sink.error(Loc{filename, deep->line, deep->column}, "",
               "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels");
    return tl::unexpected(sink.take(filename));
  }

  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based; an unknown mark is -1.
    const uint32_t line = e.mark.line >= 0 ? static_cast<uint32_t>(e.mark.line) + 1 : 1;
    const uint32_t col = e.mark.column >= 0 ? static_cast<uint32_t>(e.mark.column) + 1 : 1;
    sink.error(Loc{filename, line, col}, "", "YAML syntax error: " + e.msg);
    return tl::unexpected(sink.take(filename));
  }
  if (docs.size() > 1) {
    const YAML::Mark m = docs[1].Mark();
    sink.error(m.line >= 0 ? Loc{filename, static_cast<uint32_t>(m.line) + 1,
                                 static_cast<uint32_t>(m.column) + 1}
                           : start,
               "", "only one YAML document per configuration file");
    return tl::unexpected(sink.take(filename));
  }

  LoadedConfig loaded;
  loaded.files.push_back(filename);
  SourceMap map(filename);
  if (!read_config(docs.empty() ? YAML::Node() : docs[0], loaded.model, map, sink)) {
    return tl::unexpected(sink.take(filename));
  }
  // Validate even after reader errors: an operator gets the reference and
  // prefix errors of the same run too.
  Resolved resolved;
  const std::filesystem::path base_dir = std::filesystem::path(filename).parent_path();
  validate_config(loaded.model, map, base_dir, options, sink, resolved);
  if (sink.has_errors()) return tl::unexpected(sink.take(filename));

  loaded.spec = compile_config(loaded.model, resolved);
  if (loaded.spec.name.empty()) loaded.spec.name = std::filesystem::path(filename).stem().string();
  for (auto& f : resolved.files) loaded.files.push_back(std::move(f));
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

tl::expected<LoadedConfig, Diagnostics> load_config(const std::string& path,
                                                    const LoadOptions& options) {
  try {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::is_regular_file(status)) {
      return tl::unexpected(Diagnostics{
          Diagnostic{path, 0, 0, "", ec || !std::filesystem::exists(status)
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
      return tl::unexpected(
          Diagnostics{Diagnostic{path, 0, 0, "", "cannot read configuration: read error"}});
    }
    return load_config_from_string(text, path, options);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(internal_error(path, "out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(internal_error(path, e.what()));
  }
}

}  // namespace ftz::config
