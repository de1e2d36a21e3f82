#include "yaml_reader.hpp"

#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "enum_names.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"

namespace ftz::config {

namespace {

namespace v1 = ftzgate::v1;

// Individuals in a cap or threshold: beyond any population, yet far from
// overflow in counters.
constexpr uint64_t kMaxIndividuals = 1'000'000'000'000;

class Reader {
 public:
  Reader(SourceMap& map, DiagnosticSink& sink) : map_(map), sink_(sink) {}

  void read_root(const YAML::Node& root, v1::Config& out);
  void read_pack(const YAML::Node& root, const std::string& path, v1::SignaturePack& out);
  [[nodiscard]] bool complete() const noexcept { return !budget_reported_; }

 private:
  using Field = MapField;
  using ItemFn = std::function<void(const YAML::Node&, const std::string&)>;

  void error(const std::string& path, std::string message) {
    sink_.error(map_.at(path), path, std::move(message));
  }

  Loc loc_of(const YAML::Node& n, const Loc& fallback) const { return node_loc(map_, n, fallback); }

  void record(const std::string& path, const Loc& loc) { map_.set(path, loc.line, loc.column); }

  // False once the walk has visited kMaxWalkNodes nodes (reported once).
  bool budget(const std::string& path) {
    if (++visited_ <= kMaxWalkNodes) return true;
    if (!budget_reported_) {
      budget_reported_ = true;
      error(path, "document expands to more than " + std::to_string(kMaxWalkNodes) +
                      " nodes (through aliases?); refusing to read further");
    }
    return false;
  }

  void read_map(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields);
  void read_seq(const YAML::Node& node, const std::string& path, const ItemFn& fn);
  void read_one_or_many(const YAML::Node& node, const std::string& path, const ItemFn& fn);

  std::optional<std::string> read_string(const YAML::Node& n, const std::string& path);
  std::optional<uint64_t> read_uint(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi);
  std::optional<bool> read_bool(const YAML::Node& n, const std::string& path);
  template <typename E>
  std::optional<E> read_enum(const YAML::Node& n, const std::string& path, const EnumTable<E>& table);
  std::optional<v1::PortRange> read_port_range(const YAML::Node& n, const std::string& path);

  // Field builders.
  Field string_field(std::string_view key, bool required, std::string* out) {
    return Field{key, required, [this, out](const YAML::Node& n, const std::string& p) {
                   if (auto v = read_string(n, p)) *out = std::move(*v);
                 }};
  }
  Field strings_field(std::string_view key, bool required,
                      google::protobuf::RepeatedPtrField<std::string>* out) {
    return Field{key, required, [this, out](const YAML::Node& n, const std::string& p) {
                   read_one_or_many(n, p, [this, out](const YAML::Node& item, const std::string& ip) {
                     if (auto v = read_string(item, ip)) *out->Add() = std::move(*v);
                   });
                 }};
  }
  Field bool_field(std::string_view key, bool required, const std::function<void(bool)>& set) {
    return Field{key, required, [this, set](const YAML::Node& n, const std::string& p) {
                   if (auto v = read_bool(n, p)) set(*v);
                 }};
  }
  Field uint_field(std::string_view key, bool required, uint64_t lo, uint64_t hi,
                   const std::function<void(uint64_t)>& set) {
    return Field{key, required, [this, lo, hi, set](const YAML::Node& n, const std::string& p) {
                   if (auto v = read_uint(n, p, lo, hi)) set(*v);
                 }};
  }
  template <typename E>
  Field enum_field(std::string_view key, bool required, const EnumTable<E>& table,
                   std::function<void(E)> set) {
    return Field{key, required, [this, &table, set](const YAML::Node& n, const std::string& p) {
                   if (auto v = read_enum(n, p, table)) set(*v);
                 }};
  }
  template <typename E>
  Field enums_field(std::string_view key, bool required, const EnumTable<E>& table,
                    google::protobuf::RepeatedField<int>* out) {
    return Field{key, required, [this, &table, out](const YAML::Node& n, const std::string& p) {
                   read_one_or_many(n, p, [this, &table, out](const YAML::Node& item, const std::string& ip) {
                     if (auto v = read_enum(item, ip, table)) out->Add(static_cast<int>(*v));
                   });
                 }};
  }
  // action / channel / alert / mirror, flattened into the enclosing mapping.
  void add_verdict_fields(std::vector<Field>& fields, v1::Verdict* verdict);

  void read_zone(const YAML::Node& n, const std::string& path, v1::Zone* z);
  void read_tenant(const YAML::Node& n, const std::string& path, v1::Tenant* t);
  void read_approval(const YAML::Node& n, const std::string& path, v1::Approval* a);
  void read_channel(const YAML::Node& n, const std::string& path, v1::Channel* c);
  void read_signature(const YAML::Node& n, const std::string& path, v1::Signature* s);
  void read_pattern(const YAML::Node& n, const std::string& path, v1::SignaturePattern* p);
  void read_threshold(const YAML::Node& n, const std::string& path, v1::Threshold* t);
  void read_compliance(const YAML::Node& n, const std::string& path, v1::Compliance* c);
  void read_rule(const YAML::Node& n, const std::string& path, v1::Rule* r);
  void read_match(const YAML::Node& n, const std::string& path, v1::RuleMatch* m);
  void read_default(const YAML::Node& n, const std::string& path, v1::ZonePairDefault* d);
  void read_limits(const YAML::Node& n, const std::string& path, v1::Limits* l);

  SourceMap& map_;
  DiagnosticSink& sink_;
  std::size_t visited_ = 0;
  bool budget_reported_ = false;
};

void Reader::read_map(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields) {
  read_mapping(node, path, fields, map_, sink_, [&] { return budget(path); });
}

void Reader::read_seq(const YAML::Node& node, const std::string& path, const ItemFn& fn) {
  if (node.IsNull()) return;  // "tenants:" with nothing after it: an empty list
  if (!node.IsSequence()) {
    error(path, "expected a sequence, got " + describe(node));
    sink_.mark_broken(path);
    return;
  }
  const Loc parent = map_.at(path);
  std::size_t i = 0;
  for (const auto& item : node) {
    if (!budget(path)) return;
    const std::string ip = index_path(path, i++);
    record(ip, loc_of(item, parent));
    fn(item, ip);
  }
}

void Reader::read_one_or_many(const YAML::Node& node, const std::string& path, const ItemFn& fn) {
  if (node.IsScalar()) {
    fn(node, path);
    return;
  }
  if (!node.IsSequence()) {
    error(path, "expected a value or a list of values, got " + describe(node));
    sink_.mark_broken(path);
    return;
  }
  read_seq(node, path, fn);
}

std::optional<std::string> Reader::read_string(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    error(path, "expected a string, got " + describe(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<uint64_t> Reader::read_uint(const YAML::Node& n, const std::string& path, uint64_t lo,
                                          uint64_t hi) {
  // Quoted numbers are rejected: a quoted value is a string in YAML, and
  // accepting it would make "1e6" or "0x10" look meaningful.
  if (!n.IsScalar() || !is_plain(n)) {
    error(path, "expected an integer, got " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  uint64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || s[0] == '+' || res.ptr != s.data() + s.size()) {
    error(path, "expected an integer, got " + describe(n));
    return std::nullopt;
  }
  if (res.ec == std::errc::result_out_of_range || v < lo || v > hi) {
    error(path, s + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> Reader::read_bool(const YAML::Node& n, const std::string& path) {
  // YAML 1.2 core schema only: "yes", "on" and friends are rejected rather
  // than guessed (YAML 1.1 reads the country code "no" as false).
  if (n.IsScalar() && is_plain(n)) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  error(path, "expected true or false, got " + describe(n));
  return std::nullopt;
}

template <typename E>
std::optional<E> Reader::read_enum(const YAML::Node& n, const std::string& path, const EnumTable<E>& table) {
  if (!n.IsScalar()) {
    error(path, "expected " + std::string(table.what) + ", got " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  for (const auto& [name, value] : table.entries) {
    if (name == s) return value;
  }
  std::vector<std::string_view> names;
  for (const auto& e : table.entries) names.push_back(e.name);
  error(path,
        "invalid " + std::string(table.what) + " " + quote(s) + " (expected " + quoted_list(names) + ")");
  return std::nullopt;
}

std::optional<v1::PortRange> Reader::read_port_range(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    error(path, "expected a port or a range \"lo-hi\", got " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  auto parse_port = [](std::string_view t) -> std::optional<uint32_t> {
    uint32_t v = 0;
    const auto res = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || res.ec != std::errc{} || res.ptr != t.data() + t.size() || v > 65535) {
      return std::nullopt;
    }
    return v;
  };
  const auto dash = s.find('-');
  const auto lo = parse_port(std::string_view(s).substr(0, dash));
  const auto hi = dash == std::string::npos ? lo : parse_port(std::string_view(s).substr(dash + 1));
  if (!lo || !hi) {
    error(path, "invalid port " + quote(s) + " (expected 0..65535 or a range \"lo-hi\")");
    return std::nullopt;
  }
  if (*lo > *hi) {
    error(path, "invalid port range " + quote(s) + " (low end above high end)");
    return std::nullopt;
  }
  v1::PortRange r;
  r.set_lo(*lo);
  r.set_hi(*hi);
  return r;
}

void Reader::add_verdict_fields(std::vector<Field>& fields, v1::Verdict* verdict) {
  fields.push_back(enum_field<v1::Action>("action", true, kActionNames,
                                          [verdict](v1::Action a) { verdict->set_action(a); }));
  fields.push_back(string_field("channel", false, verdict->mutable_channel()));
  fields.push_back(bool_field("alert", false, [verdict](bool b) { verdict->set_alert(b); }));
  fields.push_back(bool_field("mirror", false, [verdict](bool b) { verdict->set_mirror(b); }));
}

void Reader::read_zone(const YAML::Node& n, const std::string& path, v1::Zone* z) {
  read_map(
      n, path,
      {
          string_field("name", true, z->mutable_name()),
          enum_field<v1::ZoneKind>("kind", true, kZoneKindNames, [z](v1::ZoneKind k) { z->set_kind(k); }),
          strings_field("prefixes", false, z->mutable_prefixes()),
          strings_field("prefix_list_files", false, z->mutable_prefix_list_files()),
          string_field("default_tenant", false, z->mutable_default_tenant()),
          bool_field("default", false, [z](bool b) { z->set_is_default(b); }),
      });
}

void Reader::read_approval(const YAML::Node& n, const std::string& path, v1::Approval* a) {
  std::vector<Field> caps;
  for (const auto& [name, cls] : kDataClassNames.entries) {
    const v1::DataClass c = cls;
    caps.push_back(uint_field(name, false, 1, kMaxIndividuals, [a, c](uint64_t v) {
      auto* cap = a->add_max_individuals();
      cap->set_data_class(c);
      cap->set_max(v);
    }));
  }
  read_map(n, path,
           {
               string_field("id", true, a->mutable_id()),
               enum_field<v1::Mechanism>("mechanism", true, kMechanismNames,
                                         [a](v1::Mechanism m) { a->set_mechanism(m); }),
               enums_field("data_classes", false, kDataClassNames, a->mutable_data_classes()),
               strings_field("dest_zones", true, a->mutable_dest_zones()),
               string_field("valid_from", true, a->mutable_valid_from()),
               string_field("valid_until", true, a->mutable_valid_until()),
               Field{"max_individuals", false,
                     [this, caps](const YAML::Node& cn, const std::string& cp) { read_map(cn, cp, caps); }},
           });
}

void Reader::read_tenant(const YAML::Node& n, const std::string& path, v1::Tenant* t) {
  read_map(n, path,
           {
               string_field("name", true, t->mutable_name()),
               string_field("description", false, t->mutable_description()),
               string_field("uscc", false, t->mutable_uscc()),
               string_field("ftz_registration", false, t->mutable_ftz_registration()),
               bool_field("is_ciio", false, [t](bool b) { t->set_is_ciio(b); }),
               string_field("sector", false, t->mutable_sector()),
               string_field("zone", true, t->mutable_zone()),
               strings_field("prefixes", false, t->mutable_prefixes()),
               Field{"approvals", false,
                     [this, t](const YAML::Node& an, const std::string& ap) {
                       read_seq(an, ap, [this, t](const YAML::Node& item, const std::string& ip) {
                         read_approval(item, ip, t->add_approvals());
                       });
                     }},
           });
}

void Reader::read_channel(const YAML::Node& n, const std::string& path, v1::Channel* c) {
  read_map(n, path,
           {
               string_field("name", true, c->mutable_name()),
               enum_field<v1::PortRole>("egress_role", false, kPortRoleNames,
                                        [c](v1::PortRole r) { c->set_egress_role(r); }),
               // 802.1Q: 4095 is reserved, 0 means untagged.
               uint_field("vlan", false, 0, 4094, [c](uint64_t v) { c->set_vlan(static_cast<uint32_t>(v)); }),
               string_field("next_hop_mac", true, c->mutable_next_hop_mac()),
           });
}

void Reader::read_pattern(const YAML::Node& n, const std::string& path, v1::SignaturePattern* p) {
  read_map(n, path,
           {
               string_field("regex", true, p->mutable_regex()),
               bool_field("utf8", false, [p](bool b) { p->set_utf8(b); }),
               bool_field("som", false, [p](bool b) { p->set_som(b); }),
               bool_field("caseless", false, [p](bool b) { p->set_caseless(b); }),
               bool_field("extend_left", false, [p](bool b) { p->set_extend_left(b); }),
           });
}

void Reader::read_signature(const YAML::Node& n, const std::string& path, v1::Signature* s) {
  auto set_class = [s](v1::DataClass c) { s->set_data_class(c); };
  read_map(n, path,
           {
               string_field("name", true, s->mutable_name()),
               uint_field("sid", true, 1, std::numeric_limits<uint32_t>::max(),
                          [s](uint64_t v) { s->set_sid(static_cast<uint32_t>(v)); }),
               // "class" as in the signature catalog (examples/signatures/).
               enum_field<v1::DataClass>("class", true, kDataClassNames, set_class),
               // The placeholder schema said "data_class": point at the new key
               // instead of a bare "unknown key" (too far for "did you mean").
               Field{"data_class", false,
                     [this](const YAML::Node&, const std::string& p) {
                       error(p, "signatures give their data class as \"class\" (as in signature packs)");
                     }},
               strings_field("tags", false, s->mutable_tags()),
               string_field("validator", true, s->mutable_validator()),
               Field{"patterns", true,
                     [this, s](const YAML::Node& pn, const std::string& pp) {
                       read_seq(pn, pp, [this, s](const YAML::Node& item, const std::string& ip) {
                         read_pattern(item, ip, s->add_patterns());
                       });
                     }},
               strings_field("context", false, s->mutable_context()),
               bool_field("context_required", false, [s](bool b) { s->set_context_required(b); }),
               string_field("rationale", false, s->mutable_rationale()),
               enum_field<v1::Boundary>("boundary", false, kBoundaryNames,
                                        [s](v1::Boundary b) { s->set_boundary(b); }),
               enum_field<v1::InputForm>("input", false, kInputFormNames,
                                         [s](v1::InputForm f) { s->set_input(f); }),
           });
}

void Reader::read_threshold(const YAML::Node& n, const std::string& path, v1::Threshold* t) {
  read_map(
      n, path,
      {
          string_field("name", true, t->mutable_name()),
          enum_field<v1::DataClass>("data_class", true, kDataClassNames,
                                    [t](v1::DataClass c) { t->set_data_class(c); }),
          // Positive, and within the approval caps' range.
          uint_field("individuals", true, 1, kMaxIndividuals, [t](uint64_t v) { t->set_individuals(v); }),
          string_field("mechanism", true, t->mutable_mechanism()),
          enums_field("satisfied_by", false, kMechanismNames, t->mutable_satisfied_by()),
      });
}

void Reader::read_compliance(const YAML::Node& n, const std::string& path, v1::Compliance* c) {
  read_map(n, path,
           {
               string_field("key_file", true, c->mutable_key_file()),
               string_field("state_file", true, c->mutable_state_file()),
               enum_field<v1::TokenAlgorithm>("token_algorithm", false, kTokenAlgorithmNames,
                                              [c](v1::TokenAlgorithm a) { c->set_token_algorithm(a); }),
               Field{"thresholds", false,
                     [this, c](const YAML::Node& tn, const std::string& tp) {
                       read_seq(tn, tp, [this, c](const YAML::Node& item, const std::string& ip) {
                         read_threshold(item, ip, c->add_thresholds());
                       });
                     }},
               Field{"warn_percents", false,
                     [this, c](const YAML::Node& wn, const std::string& wp) {
                       read_one_or_many(wn, wp, [this, c](const YAML::Node& item, const std::string& ip) {
                         if (auto v = read_uint(item, ip, 1, 100))
                           c->add_warn_percents(static_cast<uint32_t>(*v));
                       });
                     }},
               enum_field<v1::CountMode>("count_mode", false, kCountModeNames,
                                         [c](v1::CountMode m) { c->set_count_mode(m); }),
               // 8 bytes per token: 100 million is 800 MB for one set.
               uint_field("max_tokens_per_set", false, 1, 100'000'000,
                          [c](uint64_t v) { c->set_max_tokens_per_set(v); }),
               uint_field("bulk_min_count", false, 1, 1'000'000,
                          [c](uint64_t v) { c->set_bulk_min_count(static_cast<uint32_t>(v)); }),
           });
}

void Reader::read_match(const YAML::Node& n, const std::string& path, v1::RuleMatch* m) {
  read_map(n, path,
           {
               strings_field("src_zone", false, m->mutable_src_zones()),
               strings_field("dst_zone", false, m->mutable_dst_zones()),
               strings_field("tenant", false, m->mutable_tenants()),
               enums_field("protocol", false, kProtocolNames, m->mutable_protocols()),
               Field{"dst_port", false,
                     [this, m](const YAML::Node& pn, const std::string& pp) {
                       read_one_or_many(pn, pp, [this, m](const YAML::Node& item, const std::string& ip) {
                         if (auto r = read_port_range(item, ip)) *m->add_dst_ports() = *r;
                       });
                     }},
               enums_field("app", false, kAppNames, m->mutable_apps()),
               strings_field("server_name", false, m->mutable_server_name_suffixes()),
               enums_field("data_class", false, kDataClassNames, m->mutable_data_classes()),
               uint_field("min_count", false, 1, 100'000'000,
                          [m](uint64_t v) { m->set_min_count(static_cast<uint32_t>(v)); }),
               enum_field<v1::ApprovalState>("approval", false, kApprovalNames,
                                             [m](v1::ApprovalState s) { m->set_approval(s); }),
               enum_field<v1::ThresholdState>("threshold", false, kThresholdNames,
                                              [m](v1::ThresholdState s) { m->set_threshold(s); }),
               Field{"uninspectable", false,
                     [this, m](const YAML::Node& un, const std::string& up) {
                       // true / false, or the reasons named one by one.
                       if (un.IsScalar()) {
                         if (auto b = read_bool(un, up)) m->mutable_uninspectable()->set_any(*b);
                         return;
                       }
                       auto* reasons = m->mutable_uninspectable()->mutable_reasons();
                       read_one_or_many(un, up,
                                        [this, reasons](const YAML::Node& item, const std::string& ip) {
                                          if (auto r = read_enum(item, ip, kUninspectableReasonNames))
                                            reasons->add_reasons(*r);
                                        });
                     }},
           });
}

void Reader::read_rule(const YAML::Node& n, const std::string& path, v1::Rule* r) {
  std::vector<Field> fields{
      string_field("name", true, r->mutable_name()),
      string_field("description", false, r->mutable_description()),
      Field{
          "match", false,
          [this, r](const YAML::Node& mn, const std::string& mp) { read_match(mn, mp, r->mutable_match()); }},
  };
  add_verdict_fields(fields, r->mutable_verdict());
  read_map(n, path, fields);
}

void Reader::read_default(const YAML::Node& n, const std::string& path, v1::ZonePairDefault* d) {
  std::vector<Field> fields{
      string_field("src_zone", true, d->mutable_src_zone()),
      string_field("dst_zone", true, d->mutable_dst_zone()),
      enum_field<v1::FailMode>("fail_mode", false, kFailModeNames,
                               [d](v1::FailMode f) { d->set_fail_mode(f); }),
  };
  add_verdict_fields(fields, d->mutable_verdict());
  read_map(n, path, fields);
}

void Reader::read_limits(const YAML::Node& n, const std::string& path, v1::Limits* l) {
  // Ranges: the low ends keep the engine functional (a 0-entry flow table
  // passes nothing); the high ends catch unit mistakes (bytes vs KiB) long
  // before they exhaust the appliance's memory.
  constexpr uint64_t kKiB = 1024;
  constexpr uint64_t kMiB = 1024 * kKiB;
  constexpr uint64_t kGiB = 1024 * kMiB;
  auto u32 = [](auto setter) { return [setter](uint64_t v) { setter(static_cast<uint32_t>(v)); }; };
  read_map(
      n, path,
      {
          uint_field("flow_table_size", false, 1024, 1u << 26,
                     u32([l](uint32_t v) { l->set_flow_table_size(v); })),
          uint_field("flow_evict_min_idle_ms", false, 0, 3'600'000,
                     u32([l](uint32_t v) { l->set_flow_evict_min_idle_ms(v); })),
          uint_field("tcp_syn_timeout_s", false, 1, 3600,
                     u32([l](uint32_t v) { l->set_tcp_syn_timeout_s(v); })),
          uint_field("tcp_established_timeout_s", false, 1, uint64_t{7} * 86400,
                     u32([l](uint32_t v) { l->set_tcp_established_timeout_s(v); })),
          uint_field("tcp_closed_timeout_s", false, 1, 3600,
                     u32([l](uint32_t v) { l->set_tcp_closed_timeout_s(v); })),
          uint_field("udp_timeout_s", false, 1, 86400, u32([l](uint32_t v) { l->set_udp_timeout_s(v); })),
          uint_field("other_timeout_s", false, 1, 86400, u32([l](uint32_t v) { l->set_other_timeout_s(v); })),
          uint_field("defrag_memcap_bytes", false, 64 * kKiB, 4 * kGiB,
                     [l](uint64_t v) { l->set_defrag_memcap_bytes(v); }),
          uint_field("defrag_max_datagrams", false, 1, 1u << 20,
                     u32([l](uint32_t v) { l->set_defrag_max_datagrams(v); })),
          uint_field("defrag_timeout_ms", false, 100, 120'000,
                     u32([l](uint32_t v) { l->set_defrag_timeout_ms(v); })),
          uint_field("reassembly_memcap_bytes", false, kMiB, 64 * kGiB,
                     [l](uint64_t v) { l->set_reassembly_memcap_bytes(v); }),
          uint_field("reassembly_per_flow_bytes", false, 4 * kKiB, 256 * kMiB,
                     u32([l](uint32_t v) { l->set_reassembly_per_flow_bytes(v); })),
          uint_field("hold_max_packets", false, 1, 1u << 20,
                     u32([l](uint32_t v) { l->set_hold_max_packets(v); })),
          uint_field("events_per_second", false, 1, 10'000'000,
                     u32([l](uint32_t v) { l->set_events_per_second(v); })),
          uint_field("alerts_per_flow", false, 1, 10'000,
                     u32([l](uint32_t v) { l->set_alerts_per_flow(v); })),
          enum_field<v1::FailMode>("default_fail_mode", false, kFailModeNames,
                                   [l](v1::FailMode f) { l->set_default_fail_mode(f); }),
          uint_field("inspect_max_flows", false, 16, 1u << 22,
                     u32([l](uint32_t v) { l->set_inspect_max_flows(v); })),
          uint_field("stream_max_flows", false, 16, 1u << 24,
                     u32([l](uint32_t v) { l->set_stream_max_flows(v); })),
          bool_field("header_decided_metadata", false, [l](bool b) { l->set_header_decided_metadata(b); }),
          uint_field("event_queue_size", false, 64, 1u << 22,
                     u32([l](uint32_t v) { l->set_event_queue_size(v); })),
          enum_field<v1::ChecksumValidation>(
              "checksum_validation", false, kChecksumValidationNames,
              [l](v1::ChecksumValidation c) { l->set_checksum_validation(c); }),
          enum_field<v1::TcpMidstream>("tcp_midstream", false, kTcpMidstreamNames,
                                       [l](v1::TcpMidstream t) { l->set_tcp_midstream(t); }),
          uint_field("reassembly_kept_per_flow_bytes", false, 4 * kKiB, 256 * kMiB,
                     u32([l](uint32_t v) { l->set_reassembly_kept_per_flow_bytes(v); })),
      });
}

void Reader::read_root(const YAML::Node& root, v1::Config& out) {
  record("", loc_of(root, Loc{map_.file(), 1, 1}));
  if (root.IsNull()) {
    error("", "the configuration is empty");
    return;
  }
  auto seq_of = [this](auto add) {
    return [this, add](const YAML::Node& n, const std::string& p) {
      read_seq(n, p, [add](const YAML::Node& item, const std::string& ip) { add(item, ip); });
    };
  };
  read_map(root, "",
           {
               uint_field("version", false, 1, 1,
                          [&out](uint64_t v) { out.set_version(static_cast<uint32_t>(v)); }),
               string_field("name", false, out.mutable_name()),
               Field{"zones", true, seq_of([this, &out](const YAML::Node& n, const std::string& p) {
                       read_zone(n, p, out.add_zones());
                     })},
               Field{"tenants", false, seq_of([this, &out](const YAML::Node& n, const std::string& p) {
                       read_tenant(n, p, out.add_tenants());
                     })},
               Field{"channels", false, seq_of([this, &out](const YAML::Node& n, const std::string& p) {
                       read_channel(n, p, out.add_channels());
                     })},
               Field{"signatures", false, seq_of([this, &out](const YAML::Node& n, const std::string& p) {
                       read_signature(n, p, out.add_signatures());
                     })},
               Field{"rules", false, seq_of([this, &out](const YAML::Node& n, const std::string& p) {
                       read_rule(n, p, out.add_rules());
                     })},
               Field{"defaults", false, seq_of([this, &out](const YAML::Node& n, const std::string& p) {
                       read_default(n, p, out.add_defaults());
                     })},
               Field{"export_default", false,
                     [this, &out](const YAML::Node& n, const std::string& p) {
                       std::vector<Field> fields;
                       add_verdict_fields(fields, out.mutable_export_default());
                       read_map(n, p, fields);
                     }},
               Field{"limits", false,
                     [this, &out](const YAML::Node& n, const std::string& p) {
                       read_limits(n, p, out.mutable_limits());
                     }},
               Field{"signature_packs", false,
                     [this, &out](const YAML::Node& n, const std::string& p) {
                       read_seq(n, p, [this, &out](const YAML::Node& item, const std::string& ip) {
                         if (auto v = read_string(item, ip)) *out.add_signature_packs() = std::move(*v);
                       });
                     }},
               Field{"compliance", false,
                     [this, &out](const YAML::Node& n, const std::string& p) {
                       read_compliance(n, p, out.mutable_compliance());
                     }},
           });
}

void Reader::read_pack(const YAML::Node& root, const std::string& path, v1::SignaturePack& out) {
  record(path, loc_of(root, Loc{map_.file(), 1, 1}));
  if (root.IsNull()) {
    error(path, "the signature pack is empty");
    return;
  }
  read_map(root, path,
           {
               string_field("version", true, out.mutable_version()),
               Field{"signatures", true,
                     [this, &out](const YAML::Node& n, const std::string& p) {
                       read_seq(n, p, [this, &out](const YAML::Node& item, const std::string& ip) {
                         read_signature(item, ip, out.add_signatures());
                       });
                     }},
           });
}

}  // namespace

bool read_config(const YAML::Node& root, ftzgate::v1::Config& out, SourceMap& map, DiagnosticSink& sink) {
  Reader reader(map, sink);
  reader.read_root(root, out);
  // A root that is no mapping left nothing to validate.
  return reader.complete() && root.IsMap();
}

bool read_signature_pack(const YAML::Node& root, const std::string& path, ftzgate::v1::SignaturePack& out,
                         SourceMap& map, DiagnosticSink& sink) {
  Reader reader(map, sink);
  reader.read_pack(root, path, out);
  return reader.complete() && root.IsMap();
}

}  // namespace ftz::config
