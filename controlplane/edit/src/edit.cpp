#include "ftz/config/edit.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "ftz/config/config.hpp"
#include "ftz/config/diagnostic_sink.hpp"
#include "ftz/config/diagnostics.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"

namespace ftz::config {

namespace {

constexpr DocumentLimits kLimits{"configuration", "the candidate", kMaxInputBytes, kMaxNestingDepth};
// A path deeper than any the configuration has is a typing error.
constexpr size_t kMaxWords = 16;
constexpr size_t kMaxKeyBytes = 128;

// Lists whose items are addressed by a key of theirs, and which `set`
// creates as lists when they do not exist yet.
constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kNamedLists{{
    {"zones", "name"},
    {"tenants", "name"},
    {"rules", "name"},
    {"channels", "name"},
    {"signatures", "name"},
    {"thresholds", "name"},
    {"approvals", "id"},
}};
// Lists of values, created as lists by `set ... KEY VALUE` (which adds VALUE
// to an existing list of values whatever its key).
constexpr std::array<std::string_view, 9> kValueLists{
    "prefixes", "prefix_list_files", "data_classes",  "dest_zones",     "tags",
    "context",  "satisfied_by",      "warn_percents", "signature_packs"};

std::string_view item_key(std::string_view list) {
  for (const auto& [name, key] : kNamedLists) {
    if (name == list) return key;
  }
  return "name";
}
bool named_list(std::string_view key) {
  return std::any_of(kNamedLists.begin(), kNamedLists.end(), [&](const auto& e) { return e.first == key; });
}
bool value_list(std::string_view key) {
  return std::find(kValueLists.begin(), kValueLists.end(), key) != kValueLists.end();
}

std::string words(const std::vector<std::string>& path, size_t upto) {
  std::string out;
  for (size_t i = 0; i < upto && i < path.size(); ++i) out += (i == 0 ? "" : " ") + path[i];
  return out;
}

// Nodes a walk may visit: aliases let a small file stand for an exponential
// tree ("billion laughs"), so walks are bounded, as the loader's is.
struct Budget {
  size_t left = kMaxWalkNodes;
  bool spend() { return left > 0 && --left > 0; }
};

// A word or value as the configuration may hold it: UTF-8 (the YAML front
// end refuses anything else, found by fuzz_config_edit) without control
// characters (a newline in a word is a typing or pasting error).
tl::expected<std::string, std::string> plain_text(const std::string& w) {
  if (first_invalid_utf8(w)) return tl::unexpected(quote(w) + " is not UTF-8 text");
  if (std::any_of(w.begin(), w.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return tl::unexpected(quote(w.substr(0, 64)) + ", with a control character");
  return std::string();
}

// Keys are words and each appears once per mapping: with a key twice, which
// one an edit means is a guess (the loader refuses such a file too). No key
// or value holds a control character or bytes that are not UTF-8: yaml-cpp
// does not write those back as it read them (found by fuzz_config_edit), and
// a configuration has no use for them.
tl::expected<void, std::string> plain_document(const YAML::Node& node, Budget& budget) {
  if (!budget.spend()) return tl::unexpected(std::string("more nodes than any configuration"));
  if (node.IsScalar()) {
    if (auto ok = plain_text(node.Scalar()); !ok) return tl::unexpected(ok.error());
  } else if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      if (auto ok = plain_document(item, budget); !ok) return ok;
    }
  } else if (node.IsMap()) {
    std::vector<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) return tl::unexpected(std::string("a key that is not a word"));
      if (auto ok = plain_text(kv.first.Scalar()); !ok) return tl::unexpected("a key: " + ok.error());
      // YAML's implicit keys end at 1,024 characters; the configuration's
      // are words (a longer one is written back as an explicit key).
      if (kv.first.Scalar().size() > kMaxKeyBytes)
        return tl::unexpected("a key longer than " + std::to_string(kMaxKeyBytes) + " bytes");
      if (std::find(seen.begin(), seen.end(), kv.first.Scalar()) != seen.end())
        return tl::unexpected("the key " + quote(kv.first.Scalar()) + " twice in one mapping");
      seen.push_back(kv.first.Scalar());
      if (auto ok = plain_document(kv.second, budget); !ok) return ok;
    }
  }
  return {};
}

// `what` names the text in errors ("the candidate").
tl::expected<YAML::Node, std::string> parse(std::string_view yaml,
                                            const std::string& what = "the candidate") {
  DiagnosticSink sink;
  auto root = parse_document(yaml, "candidate", "", kLimits, sink);
  if (!root) return tl::unexpected(what + " does not parse: " + format_diagnostics(sink.take("candidate")));
  if (root->IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!root->IsMap()) return tl::unexpected(what + " is not a mapping of sections");
  Budget budget;
  if (auto ok = plain_document(*root, budget); !ok) return tl::unexpected(what + " holds " + ok.error());
  return *root;
}

// The document as text, which must read back: yaml-cpp's emitter writes
// some scalars (a lone CR inside one, found by fuzz_config_edit) that its
// own and our reader do not take back. Such an edit is refused.
tl::expected<std::string, std::string> emit(const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  if (!out.good())
    return tl::unexpected("the candidate cannot be written back as YAML: " + out.GetLastError());
  std::string text = std::string(out.c_str()) + "\n";
  DiagnosticSink sink;
  if (!parse_document(text, "candidate", "", kLimits, sink)) {
    std::string why = format_diagnostics(sink.take("candidate"));
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return tl::unexpected("the edited candidate would not read back (" + why +
                          "): edit the file and load it instead");
  }
  return text;
}

// The value of `key` in `map` when it is a word. By iteration: yaml-cpp's
// const operator[] gives a node that throws when the key is missing (found
// by fuzz_config_edit).
std::optional<std::string> word_at(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return std::nullopt;
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key && kv.second.IsScalar()) return kv.second.Scalar();
  }
  return std::nullopt;
}

// The item of `list` whose `key` is `name`.
std::optional<size_t> find_item(const YAML::Node& list, std::string_view key, const std::string& name) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (word_at(list[i], key) == name) return i;
  }
  return std::nullopt;
}
std::optional<size_t> find_value(const YAML::Node& list, const std::string& value) {
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].IsScalar() && list[i].Scalar() == value) return i;
  }
  return std::nullopt;
}
bool holds_values(const YAML::Node& list) {
  for (const auto& item : list) {
    if (!item.IsScalar()) return false;
  }
  return true;
}

// `list` without item i, in the same style.
YAML::Node without(const YAML::Node& list, size_t i) {
  YAML::Node out(YAML::NodeType::Sequence);
  out.SetStyle(list.Style());
  for (size_t k = 0; k < list.size(); ++k) {
    if (k != i) out.push_back(list[k]);
  }
  return out;
}

tl::expected<std::string, std::string> checked(const std::vector<std::string>& path) {
  if (path.empty()) return tl::unexpected(std::string("a path is required"));
  if (path.size() > kMaxWords)
    return tl::unexpected("a path of at most " + std::to_string(kMaxWords) + " words");
  for (const std::string& w : path) {
    if (w.empty()) return tl::unexpected(std::string("an empty word in the path"));
    if (w.size() > kMaxKeyBytes)
      return tl::unexpected("a word of the path longer than " + std::to_string(kMaxKeyBytes) + " bytes");
    if (auto bad = plain_text(w); !bad) return bad;
  }
  return std::string();
}

tl::expected<std::string, std::string> do_set(std::string_view yaml, const std::vector<std::string>& path,
                                              const std::string& value) {
  auto root = parse(yaml);
  if (!root) return tl::unexpected(root.error());
  YAML::Node cur;
  cur.reset(*root);
  std::string list_name;  // the key of `cur` when it is a list
  // When `cur` is an item of a named list: its key field and the name the
  // path addressed it by.
  std::string item_key_field;
  std::string item_name;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& w = path[i];
    const bool last = i + 1 == path.size();
    if (cur.IsMap()) {
      // An item's name is how the path finds it: a set that changed it would
      // make a new item the next time (and two of one name).
      if (last && !item_key_field.empty() && w == item_key_field && value != item_name)
        return tl::unexpected(words(path, i + 1) + ": " + w + " is the key " + words(path, i) +
                              " is found by; set it under its new name (and delete the old one)");
      item_key_field.clear();
      YAML::Node child = cur[w];
      if (!child.IsDefined() || child.IsNull()) {
        if (last) {
          if (value_list(w) && !named_list(w)) {
            YAML::Node list(YAML::NodeType::Sequence);
            list.SetStyle(YAML::EmitterStyle::Flow);
            list.push_back(value);
            cur[w] = list;
          } else {
            cur[w] = value;
          }
          return emit(*root);
        }
        cur[w] = YAML::Node(named_list(w) ? YAML::NodeType::Sequence : YAML::NodeType::Map);
        child.reset(cur[w]);
      }
      if (last) {
        if (child.IsSequence() && (holds_values(child) && (child.size() > 0 || !named_list(w)))) {
          if (!find_value(child, value)) child.push_back(value);
          return emit(*root);
        }
        if (child.IsSequence())
          return tl::unexpected(words(path, i + 1) + " is a list of named items: set " + words(path, i + 1) +
                                " NAME FIELD VALUE");
        if (child.IsMap()) return tl::unexpected(words(path, i + 1) + " is a section: name a field under it");
        cur[w] = value;
        return emit(*root);
      }
      list_name = w;
      cur.reset(child);
    } else if (cur.IsSequence()) {
      if (!holds_values(cur) || cur.size() == 0) {
        const std::string key(item_key(list_name));
        std::optional<size_t> at = find_item(cur, key, w);
        if (!at) {
          YAML::Node item(YAML::NodeType::Map);
          item[key] = w;
          cur.push_back(item);
          at = cur.size() - 1;
        }
        if (last) return tl::unexpected(words(path, i + 1) + " is an item: name a field of it and a value");
        YAML::Node item = cur[*at];
        cur.reset(item);
        list_name.clear();
        item_key_field = key;
        item_name = w;
        continue;
      }
      return tl::unexpected(words(path, i) + " is a list of values: nothing under " + w);
    } else {
      return tl::unexpected(words(path, i) + " is a value: nothing under it");
    }
  }
  return tl::unexpected(std::string("unreachable"));
}

tl::expected<std::string, std::string> do_delete(std::string_view yaml,
                                                 const std::vector<std::string>& path) {
  auto root = parse(yaml);
  if (!root) return tl::unexpected(root.error());
  YAML::Node parent;
  YAML::Node cur;
  cur.reset(*root);
  std::string key_in_parent;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& w = path[i];
    const bool last = i + 1 == path.size();
    if (cur.IsMap()) {
      const YAML::Node child = cur[w];
      if (!child.IsDefined()) return tl::unexpected("no " + words(path, i + 1) + " in the candidate");
      if (last) {
        cur.remove(w);
        return emit(*root);
      }
      parent.reset(cur);
      key_in_parent = w;
      cur.reset(child);
    } else if (cur.IsSequence()) {
      const bool values = holds_values(cur);
      const std::optional<size_t> at =
          values ? find_value(cur, w) : find_item(cur, item_key(key_in_parent), w);
      if (!at) return tl::unexpected("no " + words(path, i + 1) + " in the candidate");
      if (last) {
        parent[key_in_parent] = without(cur, *at);
        return emit(*root);
      }
      if (values) return tl::unexpected(words(path, i + 1) + " is a value: nothing under it");
      const YAML::Node item = cur[*at];
      parent.reset(cur);
      key_in_parent.clear();
      cur.reset(item);
    } else {
      return tl::unexpected(words(path, i) + " is a value: nothing under it");
    }
  }
  return tl::unexpected(std::string("unreachable"));
}

// `patch` merged into `into` (both maps); false when the budget ran out.
bool merge_map(YAML::Node into, const YAML::Node& patch, Budget& budget);
bool merge_list(YAML::Node into, const YAML::Node& patch, std::string_view list, Budget& budget);

// A copy of `v` made by merging it into nothing: an item named twice in it
// (at any depth) is one item, as merging `v` into a copy of itself would
// leave it. nullopt when the budget ran out.
std::optional<YAML::Node> normalized(const YAML::Node& v, std::string_view list, Budget& budget) {
  if (v.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    out.SetStyle(v.Style());
    if (!merge_map(out, v, budget)) return std::nullopt;
    return out;
  }
  if (v.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    out.SetStyle(v.Style());
    if (!merge_list(out, v, list, budget)) return std::nullopt;
    return out;
  }
  return YAML::Clone(v);
}

// `patch`'s items merged into the list `into`, whose key is `list`.
bool merge_list(YAML::Node into, const YAML::Node& patch, std::string_view list, Budget& budget) {
  const std::string key(item_key(list));
  for (const YAML::Node& item : patch) {
    if (!budget.spend()) return false;
    if (item.IsScalar()) {
      if (!find_value(into, item.Scalar())) into.push_back(YAML::Clone(item));
      continue;
    }
    const std::optional<std::string> name = word_at(item, key);
    if (name) {
      if (const auto at = find_item(into, key, *name)) {
        if (!merge_map(into[*at], item, budget)) return false;
        continue;
      }
    }
    const std::optional<YAML::Node> copy = normalized(item, list, budget);
    if (!copy) return false;
    if (!name) {
      // An item without a name (defaults): appended unless an equal one is there.
      const std::string same = YAML::Dump(*copy);
      bool present = false;
      for (const YAML::Node& have : into) {
        if (!budget.spend()) return false;
        present = present || YAML::Dump(have) == same;
      }
      if (present) continue;
    }
    into.push_back(*copy);
  }
  return true;
}

bool merge_map(YAML::Node into, const YAML::Node& patch, Budget& budget) {
  for (const auto& kv : patch) {
    if (!budget.spend()) return false;
    const std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    YAML::Node have = into[k];
    if (v.IsMap() && have.IsDefined() && have.IsMap()) {
      if (!merge_map(have, v, budget)) return false;
    } else if (v.IsSequence() && have.IsDefined() && have.IsSequence()) {
      if (!merge_list(have, v, k, budget)) return false;
    } else {
      // What the candidate lacks, or holds as something else.
      const std::optional<YAML::Node> copy = normalized(v, k, budget);
      if (!copy) return false;
      into[k] = *copy;
    }
  }
  return true;
}

}  // namespace

tl::expected<std::string, std::string> edit_merge(std::string_view yaml, std::string_view patch) {
  try {
    auto root = parse(yaml);
    if (!root) return tl::unexpected(root.error());
    auto add = parse(patch, "the file to merge");
    if (!add) return tl::unexpected(add.error());
    Budget budget;
    if (!merge_map(*root, *add, budget))
      return tl::unexpected("the file to merge is too large to merge (" + std::to_string(kMaxWalkNodes) +
                            " nodes)");
    return emit(*root);
  } catch (const YAML::Exception& e) {
    return tl::unexpected(std::string("load merge: ") + e.what());
  }
}

tl::expected<std::string, std::string> edit_set(std::string_view yaml, const std::vector<std::string>& path,
                                                const std::string& value) {
  if (auto ok = checked(path); !ok) return ok;
  if (auto ok = plain_text(value); !ok) return ok;
  try {
    return do_set(yaml, path, value);
  } catch (const YAML::Exception& e) {
    return tl::unexpected("set " + words(path, path.size()) + ": " + e.what());
  }
}

tl::expected<std::string, std::string> edit_delete(std::string_view yaml,
                                                   const std::vector<std::string>& path) {
  if (auto ok = checked(path); !ok) return ok;
  try {
    return do_delete(yaml, path);
  } catch (const YAML::Exception& e) {
    return tl::unexpected("delete " + words(path, path.size()) + ": " + e.what());
  }
}

}  // namespace ftz::config
