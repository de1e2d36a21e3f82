#include "validate.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "civil_date.hpp"
#include "enum_names.hpp"
#include "ftz/config/text.hpp"
#include "ftz/engine/classify/validators.hpp"

namespace ftz::config {

namespace {

using engine::Prefix;

constexpr std::size_t kMaxNameLength = 64;

bool is_inside_kind(v1::ZoneKind k) {
  return k == v1::ZONE_KIND_DOMESTIC || k == v1::ZONE_KIND_FTZ;
}
bool is_outside_kind(v1::ZoneKind k) {
  return k == v1::ZONE_KIND_OFFSHORE || k == v1::ZONE_KIND_HK_MACAO_TAIWAN;
}

std::string idx(std::string_view base, int i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

// Names appear in events, CLI output and file names: keep them to a safe,
// greppable alphabet ("unregistered@lingang-ftz", "SCC-SH-2026-0142").
bool is_valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == '@' || c == ':' || c == '/' || c == '-';
  });
}

// GB 32100-2015 unified social credit code (the check is classify's, the
// one the kUscc validator applies): says what is wrong, for the operator.
std::optional<std::string> uscc_problem(std::string_view code) {
  if (code.size() != 18) return "must be 18 characters";
  for (std::size_t i = 0; i < 18; ++i) {
    if (engine::classify::uscc_char_value(code[i]) < 0) {
      return "character " + quote(code.substr(i, 1)) + " is not allowed (0-9 and A-Y without I, O, S, V, Z)";
    }
  }
  const char check = engine::classify::uscc_check_character(code.substr(0, 17));
  if (code[17] != check) return "check character should be " + quote(std::string_view(&check, 1));
  return std::nullopt;
}

std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view s) {
  std::array<uint8_t, 6> mac{};
  if (s.size() != 17) return std::nullopt;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && s[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    const char* b = s.data() + i * 3;
    const auto res = std::from_chars(b, b + 2, v, 16);
    if (res.ec != std::errc{} || res.ptr != b + 2) return std::nullopt;
    mac[i] = static_cast<uint8_t>(v);
  }
  return mac;
}

// Host-name suffix as matched against SNI and HTTP Host: DNS characters only.
bool is_valid_server_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

// parse_prefix() says only "no"; operators need to know why.
std::optional<Prefix> parse_prefix_explained(std::string_view text, std::string& why) {
  if (auto p = engine::parse_prefix(text)) return p;
  const auto slash = text.find('/');
  const auto addr = engine::parse_ip(text.substr(0, slash));
  if (!addr) {
    why = "invalid prefix " + quote(text) + ": not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  const unsigned max_len = addr->is_v4() ? 32 : 128;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || res.ec != std::errc{} || res.ptr != digits.data() + digits.size() ||
        len > max_len) {
      why = "invalid prefix " + quote(text) + ": length must be 0.." + std::to_string(max_len);
      return std::nullopt;
    }
  }
  // Only host bits can be left: show the network the operator probably meant.
  Prefix masked;
  masked.addr = *addr;
  masked.v4 = addr->is_v4();
  masked.length = static_cast<uint8_t>(len);
  const unsigned bits = masked.v4 ? 96 + len : len;
  for (unsigned i = bits; i < 128; ++i) {
    masked.addr.bytes[i / 8] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
  }
  why = "invalid prefix " + quote(text) + ": host bits set (did you mean " + engine::format_prefix(masked) +
        "?)";
  return std::nullopt;
}

struct OwnedPrefix {
  Prefix prefix;
  uint32_t owner = 0;
  Loc loc;
  std::string path;
};

bool prefix_less(const OwnedPrefix& a, const OwnedPrefix& b) {
  return std::tie(b.prefix.v4, a.prefix.addr, a.prefix.length) <
         std::tie(a.prefix.v4, b.prefix.addr, b.prefix.length);
}

// Reports every prefix that shares addresses with a prefix of a different
// owner. Sorted by address then length, a prefix overlaps exactly the
// prefixes on the stack of its enclosing prefixes, so this is
// O(n log n + n * 129) rather than pairwise (the domestic zone alone holds
// thousands of prefixes).
void report_overlaps(std::vector<OwnedPrefix> entries, std::string_view owner_kind,
                     const std::vector<std::string>& owner_names, DiagnosticSink& sink) {
  std::sort(entries.begin(), entries.end(), prefix_less);
  std::vector<const OwnedPrefix*> stack;
  for (const auto& e : entries) {
    while (!stack.empty() && !stack.back()->prefix.contains(e.prefix.addr)) stack.pop_back();
    for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
      const OwnedPrefix& s = **it;
      if (s.owner == e.owner) continue;
      sink.error(e.loc, e.path,
                 "prefix " + engine::format_prefix(e.prefix) + " of " + std::string(owner_kind) + " " +
                     quote(owner_names[e.owner]) + " overlaps " + engine::format_prefix(s.prefix) + " of " +
                     std::string(owner_kind) + " " + quote(owner_names[s.owner]) + " (at " +
                     format_loc(s.loc) + ", " + s.path + ")");
      break;  // one report per prefix is enough to find the conflict
    }
    stack.push_back(&e);
    if (sink.full()) return;
  }
}

// Signature tags: free-form lower_snake ("identity_document", "hgr").
bool is_lower_snake(std::string_view s) {
  constexpr std::size_t kMaxTagLength = 32;
  if (s.empty() || s.size() > kMaxTagLength || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// Text that ends up in one line of an event or a report.
bool has_control_byte(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

struct Lookaround {
  std::size_t offset = 0;
  std::string_view opener;  // "(?=", "(?!", "(?<=" or "(?<!"
  std::string_view what;
};

// The first lookaround group of a regex, outside escapes, \Q...\E quotes,
// character classes and (?#...) comments. Hyperscan refuses every one of
// them ("Zero-width assertions are not supported"), so the catalog would
// fail to compile long after the configuration was accepted.
std::optional<Lookaround> find_lookaround(std::string_view re) {
  static constexpr Lookaround kKinds[] = {{0, "(?=", "lookahead"},
                                          {0, "(?!", "negative lookahead"},
                                          {0, "(?<=", "lookbehind"},
                                          {0, "(?<!", "negative lookbehind"}};
  bool in_class = false;
  for (std::size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\') {
      if (i + 1 < re.size() && re[i + 1] == 'Q') {
        const auto end = re.find("\\E", i + 2);
        if (end == std::string_view::npos) return std::nullopt;
        i = end + 1;
      } else {
        ++i;  // the escaped character is literal
      }
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < re.size() && re[i + 1] == ':') {  // [:alpha:]
        const auto end = re.find(":]", i + 2);
        if (end != std::string_view::npos) i = end + 1;
      } else if (c == ']') {
        in_class = false;
      }
      continue;
    }
    if (c == '[') {
      in_class = true;
      if (i + 1 < re.size() && re[i + 1] == '^') ++i;
      if (i + 1 < re.size() && re[i + 1] == ']') ++i;  // "[]a]": the first ']' is literal
      continue;
    }
    if (c != '(') continue;
    const std::string_view rest = re.substr(i);
    for (const auto& k : kKinds) {
      if (rest.starts_with(k.opener)) return Lookaround{i, k.opener, k.what};
    }
    if (rest.starts_with("(?#")) {
      const auto end = re.find(')', i);
      if (end == std::string_view::npos) return std::nullopt;
      i = end;
    }
  }
  return std::nullopt;
}

// "file:line:col" of `path` in `map`, plus the path when it lies in another
// file than `here` (a signature pack): the reader needs to know which entry.
std::string where(const SourceMap& map, const std::string& path, const SourceMap& here) {
  std::string out = format_loc(map.at(path));
  if (map.file() != here.file()) out += ", " + path;
  return out;
}

class Validator {
 public:
  Validator(const v1::Config& c, const SourceMap& map, const std::vector<LoadedPack>& packs,
            const std::filesystem::path& base_dir, const LoadOptions& options, DiagnosticSink& sink,
            Resolved& out)
      : c_(c), map_(map), packs_(packs), base_dir_(base_dir), options_(options), sink_(sink), out_(out) {}

  void run();

 private:
  // Errors the reader already reported (same path, or under a node of the
  // wrong type) are not repeated.
  void error(const std::string& path, std::string message) {
    if (sink_.is_redundant(path)) return;
    sink_.error(map_.at(path), path, std::move(message));
  }
  void error_at(const std::string& loc_path, const std::string& path, std::string message) {
    if (sink_.is_redundant(path)) return;
    sink_.error(map_.at(loc_path), path, std::move(message));
  }

  // Records `name` under `what`, reporting bad syntax and duplicates.
  void check_name(std::unordered_map<std::string, std::string>& seen, const std::string& name,
                  const std::string& path, std::string_view what);
  std::optional<uint32_t> zone_ref(const std::string& name, const std::string& path);
  // "dst_zone: x" and "dst_zone: [x]" differ in path: the scalar form has no index.
  [[nodiscard]] std::string item_path(const std::string& field, int n, int k) const {
    if (n == 1 && !map_.has(field + "[0]")) return field;
    return idx(field, k);
  }
  void check_verdict(const v1::Verdict& v, const std::string& base);
  std::optional<Prefix> prefix_at(const std::string& text, const std::string& path);
  void read_prefix_file(const std::string& file, const std::string& path, std::vector<OwnedPrefix>& out,
                        uint32_t owner);
  std::optional<CivilDate> date_at(const std::string& text, const std::string& path);

  void check_zones();
  void check_channels();
  void check_tenants();
  // One signature of a pack or of the configuration, with where it was read.
  struct SignatureRef {
    const v1::Signature* sig = nullptr;
    std::string base;  // "signatures[2]", "signature_packs[0].signatures[2]"
    const SourceMap* map = nullptr;
  };
  void error_in(const SourceMap& map, const std::string& path, std::string message) {
    if (sink_.is_redundant(path)) return;
    sink_.error(map.at(path), path, std::move(message));
  }
  [[nodiscard]] static std::string item_path_in(const SourceMap& map, const std::string& field, int n,
                                                int k) {
    if (n == 1 && !map.has(field + "[0]")) return field;
    return idx(field, k);
  }
  void check_signature(const SignatureRef& ref);
  void check_packs();
  void check_signatures();
  void check_compliance();
  void check_rules();
  void check_defaults();
  void check_limits();

  const v1::Config& c_;
  const SourceMap& map_;
  const std::vector<LoadedPack>& packs_;
  const std::filesystem::path& base_dir_;
  const LoadOptions& options_;
  DiagnosticSink& sink_;
  Resolved& out_;

  std::unordered_map<std::string, uint32_t> zones_;
  std::unordered_map<std::string, uint32_t> tenants_;
  std::unordered_map<std::string, uint32_t> channels_;
  // Zones with a prefix that failed to parse: containment checks against
  // them would only repeat that error.
  std::vector<bool> zone_incomplete_;
};

void Validator::check_name(std::unordered_map<std::string, std::string>& seen, const std::string& name,
                           const std::string& path, std::string_view what) {
  if (!is_valid_name(name)) {
    error(path, "invalid " + std::string(what) + " " + quote(name) +
                    " (1 to 64 letters, digits and . _ @ : / -, starting with a letter or digit)");
    return;
  }
  auto [it, inserted] = seen.emplace(name, path);
  if (!inserted) {
    error(path, "duplicate " + std::string(what) + " " + quote(name) + " (first at " +
                    format_loc(map_.at(it->second)) + ")");
  }
}

std::optional<uint32_t> Validator::zone_ref(const std::string& name, const std::string& path) {
  const auto it = zones_.find(name);
  if (it == zones_.end()) {
    error(path, "unknown zone " + quote(name));
    return std::nullopt;
  }
  return it->second;
}

std::optional<Prefix> Validator::prefix_at(const std::string& text, const std::string& path) {
  std::string why;
  auto p = parse_prefix_explained(text, why);
  if (!p) error(path, why);
  return p;
}

void Validator::read_prefix_file(const std::string& file, const std::string& path,
                                 std::vector<OwnedPrefix>& out, uint32_t owner) {
  if (!options_.allow_included_files) {
    error(path, "prefix-list files are disabled in this context");
    return;
  }
  const std::filesystem::path full = (base_dir_ / file).lexically_normal();
  auto read = read_included(options_, full.string(), kMaxPrefixListBytes);
  if (!read) {
    error(path, "cannot read prefix-list file " + quote(full.string()) + ": " + read.error());
    return;
  }
  std::string text = std::move(*read);
  out_.files.push_back(full.string());
  text = normalize_line_breaks(text);  // CR-only line ends count as line breaks too
  const std::string file_name = full.string();
  std::size_t pos = 0;
  uint32_t line_no = 0;
  while (pos < text.size() && !sink_.full()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    const std::string_view cidr = line.substr(first, last - first + 1);
    const Loc loc{file_name, line_no, static_cast<uint32_t>(first + 1)};
    std::string why;
    if (auto p = parse_prefix_explained(cidr, why)) {
      out.push_back(OwnedPrefix{*p, owner, loc, path});
    } else {
      sink_.error(loc, path, why);
    }
  }
}

std::optional<CivilDate> Validator::date_at(const std::string& text, const std::string& path) {
  const DateParse r = parse_civil_date(text);
  if (r.date) return r.date;
  switch (r.error) {
    case DateError::kSyntax:
      error(path, "invalid date " + quote(text) + " (expected YYYY-MM-DD)");
      break;
    case DateError::kImpossible:
      error(path, "impossible date " + quote(text));
      break;
    case DateError::kOutOfRange:
      error(path, "date " + quote(text) + " is before 1970");
      break;
  }
  return std::nullopt;
}

void Validator::check_verdict(const v1::Verdict& v, const std::string& base) {
  const std::string action_path = base.empty() ? "action" : base + ".action";
  const std::string channel_path = base.empty() ? "channel" : base + ".channel";
  // UNSPECIFIED: the reader reported the missing or invalid action.
  if (v.action() == v1::ACTION_UNSPECIFIED) return;
  if (v.action() == v1::ACTION_ROUTE) {
    if (v.channel().empty()) {
      error_at(action_path, channel_path, "action route requires a channel");
    } else if (channels_.find(v.channel()) == channels_.end()) {
      error(channel_path, "unknown channel " + quote(v.channel()));
    }
  } else if (!v.channel().empty()) {
    error(channel_path, "a channel is only used with action route (action is " +
                            quote(kActionNames.name(v.action())) + ")");
  }
}

void Validator::check_zones() {
  std::unordered_map<std::string, std::string> names;
  std::vector<std::string> zone_names;
  std::vector<OwnedPrefix> all;
  int default_count = 0;
  std::string first_default;
  bool any_inside = false;
  bool any_broken = false;
  out_.zone_prefixes.resize(static_cast<std::size_t>(c_.zones_size()));
  zone_incomplete_.assign(static_cast<std::size_t>(c_.zones_size()), false);
  for (int i = 0; i < c_.zones_size(); ++i) {
    const auto& z = c_.zones(i);
    const std::string base = idx("zones", i);
    any_broken = any_broken || sink_.is_broken(base);
    check_name(names, z.name(), base + ".name", "zone name");
    zones_.emplace(z.name(), static_cast<uint32_t>(i));
    zone_names.push_back(z.name());
    if (is_inside_kind(z.kind())) any_inside = true;

    const auto owner = static_cast<uint32_t>(i);
    const std::size_t before = all.size();
    const std::size_t errors_before = sink_.count();
    for (int j = 0; j < z.prefixes_size(); ++j) {
      const std::string p = item_path(base + ".prefixes", z.prefixes_size(), j);
      if (auto pfx = prefix_at(z.prefixes(j), p)) all.push_back(OwnedPrefix{*pfx, owner, map_.at(p), p});
    }
    for (int j = 0; j < z.prefix_list_files_size(); ++j) {
      read_prefix_file(z.prefix_list_files(j),
                       item_path(base + ".prefix_list_files", z.prefix_list_files_size(), j), all, owner);
    }
    if (sink_.count() != errors_before) zone_incomplete_[static_cast<std::size_t>(i)] = true;
    for (std::size_t k = before; k < all.size(); ++k) {
      out_.zone_prefixes[static_cast<std::size_t>(i)].push_back(all[k].prefix);
    }

    if (z.is_default()) {
      if (++default_count == 1) {
        first_default = base + ".default";
        if (z.kind() != v1::ZONE_KIND_UNSPECIFIED && !is_outside_kind(z.kind())) {
          // An address in no prefix would count as inside China and leave
          // without ever being judged an export.
          error(base + ".default", "the default zone must be of kind offshore or hk_macao_taiwan (" +
                                       quote(z.name()) + " is " + quote(kZoneKindNames.name(z.kind())) + ")");
        }
      } else {
        error(base + ".default",
              "only one zone may be the default zone (first at " + format_loc(map_.at(first_default)) + ")");
      }
    } else if (z.prefixes_size() == 0 && z.prefix_list_files_size() == 0) {
      error(base, "zone " + quote(z.name()) +
                      " has no prefixes and no prefix_list_files (only the default zone may have none)");
    }
    if (!z.default_tenant().empty() && z.kind() != v1::ZONE_KIND_UNSPECIFIED && !is_inside_kind(z.kind())) {
      error(base + ".default_tenant", "default_tenant is only used in ftz and domestic zones (zone " +
                                          quote(z.name()) + " is " + quote(kZoneKindNames.name(z.kind())) +
                                          ")");
    }
  }
  // Whole-list checks would only guess about a zone that failed to read.
  if (c_.zones_size() == 0) {
    error("zones", "no zones: a configuration needs an inside zone (ftz or domestic) and a default zone");
  } else if (default_count == 0 && !any_broken) {
    error("zones", "no zone has \"default: true\"; exactly one zone must hold the addresses in no prefix");
  }
  if (!any_inside && !any_broken) {
    error("zones", "no zone of kind ftz or domestic: no traffic could ever be an export");
  }
  report_overlaps(std::move(all), "zone", zone_names, sink_);
}

void Validator::check_channels() {
  std::unordered_map<std::string, std::string> names;
  for (int i = 0; i < c_.channels_size(); ++i) {
    const auto& ch = c_.channels(i);
    const std::string base = idx("channels", i);
    check_name(names, ch.name(), base + ".name", "channel name");
    channels_.emplace(ch.name(), static_cast<uint32_t>(i));
    if (ch.egress_role() == v1::PORT_ROLE_INSIDE) {
      error(base + ".egress_role", "a channel cannot leave through the inside port");
    }
    if (!ch.next_hop_mac().empty()) {
      const auto mac = parse_mac(ch.next_hop_mac());
      if (!mac) {
        error(base + ".next_hop_mac",
              "invalid MAC address " + quote(ch.next_hop_mac()) + " (expected aa:bb:cc:dd:ee:ff)");
      } else if (((*mac)[0] & 1u) != 0) {
        error(base + ".next_hop_mac", "next hop MAC " + quote(ch.next_hop_mac()) + " is a multicast address");
      }
    }
  }
}

void Validator::check_tenants() {
  std::unordered_map<std::string, std::string> names;
  std::unordered_map<std::string, std::string> approval_ids;
  std::vector<std::string> tenant_names;
  std::vector<OwnedPrefix> all;
  const auto n_tenants = static_cast<std::size_t>(c_.tenants_size());
  out_.tenant_prefixes.resize(n_tenants);
  out_.approval_times.resize(n_tenants);

  for (int i = 0; i < c_.tenants_size(); ++i) {
    const auto& t = c_.tenants(i);
    const std::string base = idx("tenants", i);
    check_name(names, t.name(), base + ".name", "tenant name");
    tenants_.emplace(t.name(), static_cast<uint32_t>(i));
    tenant_names.push_back(t.name());
    if (!t.uscc().empty()) {
      if (auto why = uscc_problem(t.uscc())) {
        error(base + ".uscc", "invalid unified social credit code " + quote(t.uscc()) + ": " + *why);
      }
    }
  }
  // Default tenants, needed to accept tenants without prefixes.
  std::vector<bool> is_default_tenant(n_tenants, false);
  for (int i = 0; i < c_.zones_size(); ++i) {
    const auto& z = c_.zones(i);
    if (z.default_tenant().empty()) continue;
    const std::string path = idx("zones", i) + ".default_tenant";
    const auto it = tenants_.find(z.default_tenant());
    if (it == tenants_.end()) {
      error(path, "unknown tenant " + quote(z.default_tenant()));
      continue;
    }
    is_default_tenant[it->second] = true;
    const auto& t = c_.tenants(static_cast<int>(it->second));
    if (!t.zone().empty() && t.zone() != z.name()) {
      error(path, "default tenant " + quote(t.name()) + " belongs to zone " + quote(t.zone()) + ", not " +
                      quote(z.name()));
    }
  }

  for (int i = 0; i < c_.tenants_size(); ++i) {
    const auto& t = c_.tenants(i);
    const std::string base = idx("tenants", i);
    // kNoIndex when unknown or unusable, to skip the containment check.
    uint32_t zone = engine::kNoIndex;
    if (!t.zone().empty()) {
      if (auto ref = zone_ref(t.zone(), base + ".zone")) {
        const auto& z = c_.zones(static_cast<int>(*ref));
        if (z.kind() != v1::ZONE_KIND_UNSPECIFIED && !is_inside_kind(z.kind())) {
          error(base + ".zone", "tenant zone " + quote(z.name()) + " is " +
                                    quote(kZoneKindNames.name(z.kind())) +
                                    ": tenants are exporters and live in ftz or domestic zones");
        } else if (!zone_incomplete_[*ref]) {
          zone = *ref;
        }
      }
    }
    if (t.prefixes_size() == 0 && !is_default_tenant[static_cast<std::size_t>(i)]) {
      error(base, "tenant " + quote(t.name()) +
                      " has no prefixes and is no zone's default_tenant: it could never match");
    }
    for (int j = 0; j < t.prefixes_size(); ++j) {
      const std::string lp = item_path(base + ".prefixes", t.prefixes_size(), j);
      auto pfx = prefix_at(t.prefixes(j), lp);
      if (!pfx) continue;
      all.push_back(OwnedPrefix{*pfx, static_cast<uint32_t>(i), map_.at(lp), lp});
      out_.tenant_prefixes[static_cast<std::size_t>(i)].push_back(*pfx);
      if (zone != engine::kNoIndex) {
        const auto& zp = out_.zone_prefixes[zone];
        const bool inside = std::any_of(zp.begin(), zp.end(), [&](const Prefix& z) {
          return z.v4 == pfx->v4 && z.length <= pfx->length && z.contains(pfx->addr);
        });
        if (!inside) {
          error(lp, "prefix " + engine::format_prefix(*pfx) + " of tenant " + quote(t.name()) +
                        " is not inside its zone " + quote(t.zone()));
        }
      }
    }

    for (int j = 0; j < t.approvals_size(); ++j) {
      const auto& a = t.approvals(j);
      const std::string ab = idx(base + ".approvals", j);
      ApprovalTimes times;
      if (!a.id().empty()) check_name(approval_ids, a.id(), ab + ".id", "approval id");
      const bool needs_classes = a.mechanism() == v1::MECHANISM_SECURITY_ASSESSMENT ||
                                 a.mechanism() == v1::MECHANISM_STANDARD_CONTRACT ||
                                 a.mechanism() == v1::MECHANISM_CERTIFICATION;
      if (needs_classes && a.data_classes_size() == 0) {
        error(ab + ".mechanism", "a " + quote(kMechanismNames.name(a.mechanism())) +
                                     " approval must cover at least one data class (data_classes)");
      }
      for (int k = 0; k < a.dest_zones_size(); ++k) {
        const std::string dp = item_path(ab + ".dest_zones", a.dest_zones_size(), k);
        if (auto dz = zone_ref(a.dest_zones(k), dp)) {
          const auto& z = c_.zones(static_cast<int>(*dz));
          if (z.kind() != v1::ZONE_KIND_UNSPECIFIED && !is_outside_kind(z.kind())) {
            error(dp, "zone " + quote(z.name()) + " is " + quote(kZoneKindNames.name(z.kind())) +
                          ": approvals cover exports, to offshore or hk_macao_taiwan zones");
          }
        }
      }
      std::optional<CivilDate> from;
      std::optional<CivilDate> until;
      // An empty date the reader already reported (missing, null) is not
      // reported twice.
      if (!a.valid_from().empty() || !sink_.has_error_at(ab + ".valid_from")) {
        from = date_at(a.valid_from(), ab + ".valid_from");
      }
      if (!a.valid_until().empty() || !sink_.has_error_at(ab + ".valid_until")) {
        until = date_at(a.valid_until(), ab + ".valid_until");
      }
      if (from) times.valid_from = shanghai_midnight(from->year, from->month, from->day);
      if (until) {
        // Exclusive end: 00:00 +08:00 of the day after the last valid day.
        times.valid_until = shanghai_midnight(until->year, until->month, until->day) + 86400;
      }
      if (from && until && times.valid_until <= times.valid_from) {
        error(ab + ".valid_until",
              "valid_until " + a.valid_until() + " is before valid_from " + a.valid_from());
      }
      for (const auto& cap : a.max_individuals()) {
        const bool covered = std::any_of(a.data_classes().begin(), a.data_classes().end(),
                                         [&](int c) { return c == cap.data_class(); });
        if (!covered) {
          const std::string cls(kDataClassNames.name(cap.data_class()));
          std::string cap_path = ab + ".max_individuals.";
          cap_path += cls;
          error(cap_path, "a cap for data class " + quote(cls) + ", which this approval does not cover");
        }
      }
      out_.approval_times[static_cast<std::size_t>(i)].push_back(times);
    }
  }
  report_overlaps(std::move(all), "tenant", tenant_names, sink_);
}

void Validator::check_packs() {
  for (const auto& pack : packs_) {
    if (sink_.is_redundant(pack.path)) continue;  // empty, or not a mapping
    const std::string vp = pack.path + ".version";
    if (!pack.model.version().empty() || !sink_.has_error_at(vp)) {
      if (!is_valid_name(pack.model.version())) {
        error_in(pack.map, vp,
                 "invalid pack version " + quote(pack.model.version()) +
                     " (1 to 64 letters, digits and . _ @ : / -, starting with a letter or digit)");
      }
    }
  }
}

void Validator::check_signature(const SignatureRef& ref) {
  const v1::Signature& s = *ref.sig;
  const SourceMap& m = *ref.map;
  const std::string& base = ref.base;

  if (!s.validator().empty() || !sink_.has_error_at(base + ".validator")) {
    if (!engine::classify::validator_from_name(s.validator())) {
      std::vector<std::string_view> names;
      for (std::size_t i = 0; i < static_cast<std::size_t>(engine::classify::ValidatorId::kCount); ++i) {
        names.push_back(engine::classify::validator_name(static_cast<engine::classify::ValidatorId>(i)));
      }
      std::string hint = did_you_mean(s.validator(), names);
      if (hint.empty()) hint = " (expected " + quoted_list(names) + ")";
      error_in(m, base + ".validator", "unknown validator " + quote(s.validator()) + hint);
    }
  }
  for (int k = 0; k < s.tags_size(); ++k) {
    if (!is_lower_snake(s.tags(k))) {
      error_in(m, item_path_in(m, base + ".tags", s.tags_size(), k),
               "invalid tag " + quote(s.tags(k)) +
                   " (lower_snake: 1 to 32 of a-z, 0-9 and _, starting with a letter)");
    }
  }
  if (s.patterns_size() == 0 && !sink_.is_redundant(base + ".patterns")) {
    error_in(m, base + ".patterns", "a signature needs at least one pattern");
  }
  for (int k = 0; k < s.patterns_size(); ++k) {
    const std::string rp = idx(base + ".patterns", k) + ".regex";
    const std::string& re = s.patterns(k).regex();
    if (re.empty()) {
      if (!sink_.has_error_at(rp)) error_in(m, rp, "empty regex");
    } else if (re.find('\0') != std::string::npos) {
      // Hyperscan takes NUL-terminated expressions: the rest would vanish.
      error_in(m, rp, "regex contains a NUL byte (write \\x00)");
    } else if (const auto la = find_lookaround(re)) {
      error_in(m, rp,
               std::string(la->what) + " " + quote(la->opener) + " at offset " + std::to_string(la->offset) +
                   ": Hyperscan does not support lookaround (\"Zero-width assertions are not supported\"); "
                   "boundaries are checked after the scan, use a validator or context keywords instead");
    }
  }
  for (int k = 0; k < s.context_size(); ++k) {
    constexpr std::size_t kMaxKeywordBytes = 64;
    const std::string& kw = s.context(k);
    const std::string cp = item_path_in(m, base + ".context", s.context_size(), k);
    if (kw.empty()) {
      error_in(m, cp, "empty context keyword");
    } else if (kw.size() > kMaxKeywordBytes || has_control_byte(kw)) {
      error_in(m, cp, "invalid context keyword " + quote(kw) + " (1 to 64 bytes, no control characters)");
    }
  }
  if (s.context_required() && s.context_size() == 0 && !sink_.is_redundant(base + ".context")) {
    error_in(m, base + ".context_required",
             "context_required without context keywords: the signature could never count");
  }
  if (has_control_byte(s.rationale())) {
    error_in(m, base + ".rationale", "the rationale must be one line without control characters");
  }
}

void Validator::check_signatures() {
  std::vector<SignatureRef> all;
  for (const auto& pack : packs_) {
    for (int i = 0; i < pack.model.signatures_size(); ++i) {
      all.push_back(SignatureRef{&pack.model.signatures(i), idx(pack.path + ".signatures", i), &pack.map});
    }
  }
  for (int i = 0; i < c_.signatures_size(); ++i) {
    all.push_back(SignatureRef{&c_.signatures(i), idx("signatures", i), &map_});
  }
  // Names and sids are unique across the packs and the configuration: the
  // sid is the EVE signature_id and the name is what rules and reports cite.
  // The packs come first, so a clash is reported at the operator's entry.
  std::unordered_map<std::string, const SignatureRef*> names;
  std::unordered_map<uint32_t, const SignatureRef*> sids;
  for (const auto& ref : all) {
    const v1::Signature& s = *ref.sig;
    const SourceMap& m = *ref.map;
    const std::string np = ref.base + ".name";
    if (!is_valid_name(s.name())) {
      if (!s.name().empty() || !sink_.has_error_at(np)) {
        error_in(m, np,
                 "invalid signature name " + quote(s.name()) +
                     " (1 to 64 letters, digits and . _ @ : / -, starting with a letter or digit)");
      }
    } else if (auto [it, inserted] = names.emplace(s.name(), &ref); !inserted) {
      error_in(m, np,
               "duplicate signature name " + quote(s.name()) + " (first at " +
                   where(*it->second->map, it->second->base + ".name", m) + ")");
    }
    if (s.sid() != 0) {
      if (auto [it, inserted] = sids.emplace(s.sid(), &ref); !inserted) {
        error_in(m, ref.base + ".sid",
                 "duplicate sid " + std::to_string(s.sid()) + " (first at " +
                     where(*it->second->map, it->second->base + ".sid", m) + ", signature " +
                     quote(it->second->sig->name()) + ")");
      }
    }
    check_signature(ref);
    if (sink_.full()) return;
  }
}

void Validator::check_compliance() {
  if (!c_.has_compliance()) return;
  const auto& c = c_.compliance();
  const auto file_at = [&](const std::string& text, const std::string& path) -> std::string {
    if (text.empty()) return {};  // missing: the reader reported it
    if (has_control_byte(text)) {
      error(path, "invalid file name " + quote(text));
      return {};
    }
    return (base_dir_ / text).lexically_normal().string();
  };
  out_.key_file = file_at(c.key_file(), "compliance.key_file");
  out_.state_file = file_at(c.state_file(), "compliance.state_file");
  if (!out_.key_file.empty() && out_.key_file == out_.state_file) {
    error("compliance.state_file", "the state file cannot be the key file " + quote(out_.key_file));
  }

  std::unordered_map<std::string, std::string> names;
  std::map<std::pair<int, uint64_t>, int> lines;  // (class, individuals) -> threshold
  uint64_t largest = 0;
  int largest_at = -1;
  for (int i = 0; i < c.thresholds_size(); ++i) {
    const auto& t = c.thresholds(i);
    const std::string base = idx("compliance.thresholds", i);
    check_name(names, t.name(), base + ".name", "threshold name");
    if (t.data_class() != v1::DATA_CLASS_UNSPECIFIED && t.data_class() != v1::DATA_CLASS_PI &&
        t.data_class() != v1::DATA_CLASS_SENSITIVE_PI) {
      error(base + ".data_class", "thresholds count individuals whose \"pi\" or \"sensitive_pi\" left, not " +
                                      quote(kDataClassNames.name(t.data_class())));
    }
    if (!t.mechanism().empty() || !sink_.has_error_at(base + ".mechanism")) {
      constexpr std::size_t kMaxMechanismBytes = 200;
      if (t.mechanism().empty() || t.mechanism().size() > kMaxMechanismBytes ||
          has_control_byte(t.mechanism())) {
        error(base + ".mechanism", "the mechanism is one line of 1 to 200 bytes (it goes into events)");
      }
    }
    if (t.individuals() > 0 && t.data_class() != v1::DATA_CLASS_UNSPECIFIED) {
      auto [it, inserted] =
          lines.emplace(std::make_pair(static_cast<int>(t.data_class()), t.individuals()), i);
      if (!inserted) {
        const std::string first = idx("compliance.thresholds", it->second);
        error(base + ".individuals", "threshold " + quote(c.thresholds(it->second).name()) +
                                         " already sets " + std::to_string(t.individuals()) +
                                         " individuals of " + quote(kDataClassNames.name(t.data_class())) +
                                         " (at " + format_loc(map_.at(first + ".individuals")) + ")");
      }
    }
    if (t.individuals() > largest) {
      largest = t.individuals();
      largest_at = i;
    }
  }

  const std::string wp = "compliance.warn_percents";
  if (!sink_.has_error_under(wp)) {
    if (map_.has(wp) && c.warn_percents_size() == 0) {
      error(wp, "an empty list; leave warn_percents out for the default 80, 95, 100");
    }
    for (int k = 1; k < c.warn_percents_size(); ++k) {
      if (c.warn_percents(k) <= c.warn_percents(k - 1)) {
        error(item_path(wp, c.warn_percents_size(), k), "warn_percents must be strictly ascending (" +
                                                            std::to_string(c.warn_percents(k)) + " after " +
                                                            std::to_string(c.warn_percents(k - 1)) + ")");
        break;
      }
    }
  }

  // The token sets decide legal lines exactly (DOMAIN.md §1.4): a set that
  // stops growing below a line could never tell that it was crossed.
  const uint64_t max_tokens =
      c.has_max_tokens_per_set() ? c.max_tokens_per_set() : engine::ComplianceSpec{}.max_tokens_per_set;
  if (largest_at >= 0 && largest > max_tokens) {
    const std::string tp = idx("compliance.thresholds", largest_at) + ".individuals";
    error(c.has_max_tokens_per_set() ? "compliance.max_tokens_per_set" : tp,
          "max_tokens_per_set (" + std::to_string(max_tokens) + ") is below threshold " +
              quote(c.thresholds(largest_at).name()) + " (" + std::to_string(largest) +
              " individuals): the exact count could never reach it");
  }
}

void Validator::check_rules() {
  std::unordered_map<std::string, std::string> names;
  for (int i = 0; i < c_.rules_size(); ++i) {
    const auto& r = c_.rules(i);
    const std::string base = idx("rules", i);
    check_name(names, r.name(), base + ".name", "rule name");
    const auto& m = r.match();
    const std::string mb = base + ".match";
    for (int k = 0; k < m.src_zones_size(); ++k) {
      zone_ref(m.src_zones(k), item_path(mb + ".src_zone", m.src_zones_size(), k));
    }
    for (int k = 0; k < m.dst_zones_size(); ++k) {
      zone_ref(m.dst_zones(k), item_path(mb + ".dst_zone", m.dst_zones_size(), k));
    }
    for (int k = 0; k < m.tenants_size(); ++k) {
      if (tenants_.find(m.tenants(k)) == tenants_.end()) {
        error(item_path(mb + ".tenant", m.tenants_size(), k), "unknown tenant " + quote(m.tenants(k)));
      }
    }
    for (int k = 0; k < m.server_name_suffixes_size(); ++k) {
      if (!is_valid_server_name(m.server_name_suffixes(k))) {
        error(item_path(mb + ".server_name", m.server_name_suffixes_size(), k),
              "invalid server name suffix " + quote(m.server_name_suffixes(k)) +
                  " (letters, digits, '.', '-' and '_' only)");
      }
    }
    if ((m.threshold() == v1::THRESHOLD_STATE_WARN || m.threshold() == v1::THRESHOLD_STATE_EXCEEDED) &&
        c_.compliance().thresholds_size() == 0) {
      error(mb + ".threshold",
            "no compliance thresholds are configured: the threshold state is always "
            "\"normal\" (add compliance.thresholds)");
    }
    if (m.min_count() > 0 && m.data_classes_size() == 0) {
      error(mb + ".min_count", "min_count counts identifiers of a data class: add data_class");
    }
    if (m.uninspectable().has_reasons() && m.uninspectable().reasons().reasons_size() == 0) {
      error(mb + ".uninspectable",
            "name at least one reason (encrypted, gap, decode, resource), or use true / false");
    }
    if (m.dst_ports_size() > 0 && m.protocols_size() > 0 &&
        std::all_of(m.protocols().begin(), m.protocols().end(),
                    [](int p) { return p == v1::PROTOCOL_ICMP; })) {
      error(mb + ".dst_port", "ports need protocol tcp or udp (the rule matches only icmp)");
    }
    check_verdict(r.verdict(), base);
  }
}

void Validator::check_defaults() {
  std::map<std::pair<uint32_t, uint32_t>, std::string> pairs;
  for (int i = 0; i < c_.defaults_size(); ++i) {
    const auto& d = c_.defaults(i);
    const std::string base = idx("defaults", i);
    std::optional<uint32_t> src;
    std::optional<uint32_t> dst;
    if (!d.src_zone().empty()) src = zone_ref(d.src_zone(), base + ".src_zone");
    if (!d.dst_zone().empty()) dst = zone_ref(d.dst_zone(), base + ".dst_zone");
    if (src && dst) {
      auto [it, inserted] = pairs.emplace(std::make_pair(*src, *dst), base);
      if (!inserted) {
        error(base, "duplicate default for " + quote(d.src_zone()) + " -> " + quote(d.dst_zone()) +
                        " (first at " + format_loc(map_.at(it->second)) + ")");
      }
    }
    check_verdict(d.verdict(), base);
  }
  if (c_.has_export_default()) check_verdict(c_.export_default(), "export_default");
}

void Validator::check_limits() {
  const engine::Limits defaults;
  const auto& l = c_.limits();
  const uint64_t memcap =
      l.has_reassembly_memcap_bytes() ? l.reassembly_memcap_bytes() : defaults.reassembly_memcap_bytes;
  const uint64_t per_flow =
      l.has_reassembly_per_flow_bytes() ? l.reassembly_per_flow_bytes() : defaults.reassembly_per_flow_bytes;
  if (per_flow > memcap) {
    const std::string p = l.has_reassembly_per_flow_bytes() ? "limits.reassembly_per_flow_bytes"
                                                            : "limits.reassembly_memcap_bytes";
    error(p, "reassembly_per_flow_bytes (" + std::to_string(per_flow) +
                 ") exceeds reassembly_memcap_bytes (" + std::to_string(memcap) + ")");
  }
}

void Validator::run() {
  check_zones();
  check_channels();
  check_tenants();
  check_packs();
  check_signatures();
  check_compliance();
  check_rules();
  check_defaults();
  check_limits();
}

}  // namespace

bool validate_config(const v1::Config& config, const SourceMap& map, const std::vector<LoadedPack>& packs,
                     const std::filesystem::path& base_dir, const LoadOptions& options, DiagnosticSink& sink,
                     Resolved& out) {
  Validator v(config, map, packs, base_dir, options, sink, out);
  v.run();
  return !sink.has_errors();
}

}  // namespace ftz::config
