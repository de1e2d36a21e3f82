// The front end every YAML reader shares: whole regular files under a size
// cap, then one document under a nesting cap, before yaml-cpp builds nodes.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"

namespace ftz::config {

namespace {

struct DepthExcess {
  uint32_t line = 0;
  uint32_t column = 0;
};

// 1-based line and column (in bytes) of `offset`.
Loc loc_at(const std::string& file, std::string_view text, std::size_t offset) {
  uint32_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return Loc{file, line, column};
}

bool opens_scalar_after(char prev) {
  return prev == '\0' || prev == ':' || prev == '-' || prev == '[' || prev == '{' || prev == ',' ||
         prev == '?';
}

// A conservative estimate of the nesting depth of YAML text, computed before
// yaml-cpp (which recurses once per level) sees it: block levels are distinct
// indentation levels plus compact "- - x" indicators, flow levels are open
// brackets outside quotes and comments. It may over-count odd but valid
// documents (a plain scalar "a[b" opens a bracket here); a real document sits
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
// YAML::Load() would quietly drop a second document, and yaml-cpp 0.7's
// LoadAll() loops forever, allocating a null document per turn, when a
// document starts with a token no node can begin with (",",
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

std::string over_limit(std::size_t size, std::size_t max_bytes) {
  return std::to_string(size) + " bytes, above the " + std::to_string(max_bytes >> 20) + " MiB limit";
}

}  // namespace

std::string size_message(std::string_view subject, std::size_t size, std::size_t max_bytes) {
  return std::string(subject) + " is " + over_limit(size, max_bytes);
}

std::optional<YAML::Node> parse_document(std::string_view text, const std::string& file,
                                         const std::string& path, const DocumentLimits& limits,
                                         DiagnosticSink& sink) {
  if (text.size() > limits.max_bytes) {
    sink.error(Loc{file, 1, 1}, path, size_message(limits.subject, text.size(), limits.max_bytes));
    return std::nullopt;
  }
  // Old Mac line ends: yaml-cpp would read the whole file as one line.
  const std::string normalized = normalize_line_breaks(text);
  text = normalized;
  if (const auto bad = first_invalid_utf8(text)) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[*bad]));
    sink.error(loc_at(file, text, *bad), path,
               "not UTF-8: byte " + std::string(byte) + " (a " + std::string(limits.what) +
                   " is UTF-8 text; write a byte in a regex as \\xHH)");
    return std::nullopt;
  }
  if (auto deep = find_excess_depth(text, limits.max_depth)) {
    sink.error(Loc{file, deep->line, deep->column}, path,
               "nesting deeper than " + std::to_string(limits.max_depth) + " levels");
    return std::nullopt;
  }
  try {
    const auto count = count_documents(text);
    if (count.documents > 1) {
      if (count.second_start.pos == count.first_start.pos) {
        // No progress between "documents": yaml-cpp met a token no node can
        // start with (LoadAll would loop here forever).
        sink.error(loc_of(file, count.first_node), path, "YAML syntax error: unexpected token");
      } else {
        sink.error(loc_of(file, count.second_start), path,
                   "only one YAML document per " + std::string(limits.what));
      }
      return std::nullopt;
    }
    if (count.documents == 1) return YAML::Load(std::string(text));
    return YAML::Node();
  } catch (const YAML::Exception& e) {
    sink.error(loc_of(file, e.mark), path, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

tl::expected<std::string, ReadProblem> read_regular_file(const std::string& file, std::size_t max_bytes) {
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (ec || !std::filesystem::exists(status)) return tl::unexpected(ReadProblem{"no such file"});
  if (!std::filesystem::is_regular_file(status)) return tl::unexpected(ReadProblem{"not a regular file"});
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return tl::unexpected(ReadProblem{ec.message()});
  if (size > max_bytes) {
    return tl::unexpected(
        ReadProblem{over_limit(static_cast<std::size_t>(size), max_bytes), static_cast<std::size_t>(size)});
  }
  std::ifstream in(file, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (!in) return tl::unexpected(ReadProblem{"read error"});
  return text;
}

}  // namespace ftz::config
