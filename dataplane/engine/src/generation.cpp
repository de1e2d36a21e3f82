#include "ftz/engine/generation.hpp"

#include <algorithm>

#include "ftz/base/ascii.hpp"
namespace ftz::engine {

namespace {

using ascii::iequals;

template <typename T>
bool contains(const std::vector<T>& v, T x) noexcept {
  return v.empty() || std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

std::string_view uninspectable_reason_name(UninspectableReason r) noexcept {
  switch (r) {
    case UninspectableReason::kEncrypted:
      return "encrypted";
    case UninspectableReason::kGap:
      return "gap";
    case UninspectableReason::kDecode:
      return "decode";
    case UninspectableReason::kResource:
      return "resource";
    case UninspectableReason::kCount:
      break;
  }
  return "unknown";
}

bool server_name_matches(std::string_view name, std::string_view suffix) noexcept {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (suffix.empty()) return false;
  if (suffix.front() == '.') {
    return name.size() > suffix.size() && iequals(name.substr(name.size() - suffix.size()), suffix);
  }
  if (name.size() == suffix.size()) return iequals(name, suffix);
  if (name.size() < suffix.size() + 1) return false;
  return name[name.size() - suffix.size() - 1] == '.' &&
         iequals(name.substr(name.size() - suffix.size()), suffix);
}

std::shared_ptr<const PolicyGeneration> PolicyGeneration::build(PolicySpec spec, uint64_t number) {
  return std::shared_ptr<const PolicyGeneration>(new PolicyGeneration(std::move(spec), number));
}

tl::expected<std::shared_ptr<const PolicyGeneration>, std::string> PolicyGeneration::build_with_signatures(
    PolicySpec spec, uint64_t number, std::shared_ptr<const sig::SignatureDatabase> db) {
  if (!db && !spec.signatures.empty()) {
    auto compiled = sig::SignatureDatabase::compile(spec.signatures);
    if (!compiled) return tl::unexpected("signatures: " + compiled.error());
    db = std::move(*compiled);
  }
  auto gen = std::shared_ptr<PolicyGeneration>(new PolicyGeneration(std::move(spec), number));
  gen->db_ = std::move(db);
  return std::shared_ptr<const PolicyGeneration>(std::move(gen));
}

PolicyGeneration::PolicyGeneration(PolicySpec spec, uint64_t number)
    : spec_(std::move(spec)), number_(number), zones_(spec_.default_zone), tenants_(kNoIndex) {
  for (uint32_t z = 0; z < spec_.zones.size(); ++z) {
    for (const Prefix& p : spec_.zones[z].prefixes) zones_.add(p, z);
  }
  zones_.build();
  for (uint32_t t = 0; t < spec_.tenants.size(); ++t) {
    for (const Prefix& p : spec_.tenants[t].prefixes) tenants_.add(p, t);
  }
  tenants_.build();
  const size_t n = spec_.zones.size();
  pair_default_.assign(n * n, kNoIndex);
  for (uint32_t i = 0; i < spec_.defaults.size(); ++i) {
    const ZonePairDefault& d = spec_.defaults[i];
    if (d.src_zone < n && d.dst_zone < n) pair_default_[d.src_zone * n + d.dst_zone] = i;
  }
}

uint32_t PolicyGeneration::tenant_of(const IpAddr& a, uint32_t zone) const noexcept {
  const uint32_t t = tenants_.lookup(a);
  if (t != kNoIndex) return t;
  return zone < spec_.zones.size() ? spec_.zones[zone].default_tenant : kNoIndex;
}

bool PolicyGeneration::is_export(uint32_t zone_a, uint32_t zone_b) const noexcept {
  if (zone_a >= spec_.zones.size() || zone_b >= spec_.zones.size()) return false;
  const bool a_in = zone_kind_is_inside(spec_.zones[zone_a].kind);
  const bool b_in = zone_kind_is_inside(spec_.zones[zone_b].kind);
  return a_in != b_in;
}

bool PolicyGeneration::approved(uint32_t tenant, uint32_t dest_zone, DataClassMask classes,
                                int64_t ts_ns) const noexcept {
  if (tenant >= spec_.tenants.size()) return false;
  const int64_t ts = ts_ns / 1'000'000'000;
  for (const ApprovalSpec& a : spec_.tenants[tenant].approvals) {
    if (ts < a.valid_from || ts >= a.valid_until) continue;
    if (!a.dest_zones.empty() &&
        std::find(a.dest_zones.begin(), a.dest_zones.end(), dest_zone) == a.dest_zones.end()) {
      continue;
    }
    if ((classes & a.classes) != classes) continue;
    return true;
  }
  return false;
}

PolicyGeneration::Match PolicyGeneration::match_rule(const RuleSpec& r, const FlowFacts& f) const noexcept {
  const RuleMatch& m = r.match;
  if (!contains(m.src_zones, f.src_zone) || !contains(m.dst_zones, f.dst_zone) ||
      !contains(m.tenants, f.tenant)) {
    return Match::kNo;
  }
  if (!m.protocols.empty() && std::find(m.protocols.begin(), m.protocols.end(),
                                        static_cast<L4Proto>(f.l4_proto)) == m.protocols.end()) {
    return Match::kNo;
  }
  if (!m.dst_ports.empty()) {
    bool hit = false;
    for (const PortRange& pr : m.dst_ports) hit = hit || (f.dst_port >= pr.lo && f.dst_port <= pr.hi);
    if (!hit) return Match::kNo;
  }
  const bool needs_app = m.apps != 0 || !m.server_name_suffixes.empty();
  if (needs_app) {
    if (f.stage < Stage::kApp) return Match::kUnknown;
    if (m.apps != 0 && (m.apps & (1u << static_cast<unsigned>(f.app))) == 0) return Match::kNo;
    if (!m.server_name_suffixes.empty()) {
      bool hit = false;
      for (const std::string& s : m.server_name_suffixes) hit = hit || server_name_matches(f.server_name, s);
      if (!hit) return Match::kNo;
    }
  }
  const bool needs_content =
      m.data_classes != 0 || m.min_count != 0 || m.threshold.has_value() || m.uninspectable.has_value();
  if (needs_content) {
    if (f.stage < Stage::kContent) return Match::kUnknown;
    if (m.data_classes != 0 && (f.classes & m.data_classes) == 0) return Match::kNo;
    // min_count counts distinct identifiers of the rule's classes (all
    // classes when it names none).
    uint32_t confirmed = f.confirmed;
    if (m.data_classes != 0) {
      confirmed = 0;
      for (int c = 0; c < static_cast<int>(DataClass::kCount); ++c) {
        if (m.data_classes & (1u << c)) confirmed += f.confirmed_per_class[c];
      }
    }
    if (confirmed < m.min_count) return Match::kNo;
    if (m.threshold && *m.threshold != f.threshold) return Match::kNo;
    if (m.uninspectable) {
      const UninspectableMask want = m.uninspectable->reasons;
      if (want == 0 ? f.uninspectable != 0 : (f.uninspectable & want) == 0) return Match::kNo;
    }
  }
  // Approval last: whether an approval covers the transfer depends on the
  // data classes, known only at the content stage when the rule names any.
  if (m.approval != ApprovalMatch::kAny) {
    // The cross-border side of the flow is the destination of the export.
    const uint32_t dest =
        (f.dst_zone < spec_.zones.size() && !zone_kind_is_inside(spec_.zones[f.dst_zone].kind)) ? f.dst_zone
                                                                                                : f.src_zone;
    const bool ok = approved(f.tenant, dest, f.classes, f.ts_ns);
    if (ok != (m.approval == ApprovalMatch::kApproved)) return Match::kNo;
  }
  return Match::kYes;
}

Decision PolicyGeneration::evaluate(const FlowFacts& f) const noexcept {
  Decision d;
  for (uint32_t i = 0; i < spec_.rules.size(); ++i) {
    const Match m = match_rule(spec_.rules[i], f);
    if (m == Match::kUnknown) {
      d.final = false;
      continue;
    }
    if (m == Match::kYes) {
      d.verdict = spec_.rules[i].verdict;
      d.rule = i;
      return d;
    }
  }
  const size_t n = spec_.zones.size();
  if (f.src_zone < n && f.dst_zone < n) {
    const uint32_t pd = pair_default_[f.src_zone * n + f.dst_zone];
    if (pd != kNoIndex) {
      d.verdict = spec_.defaults[pd].verdict;
      d.pair_default = pd;
      return d;
    }
    if (is_export(f.src_zone, f.dst_zone)) d.verdict = spec_.export_default;
  }
  return d;
}

FailMode PolicyGeneration::fail_mode(uint32_t src_zone, uint32_t dst_zone) const noexcept {
  const size_t n = spec_.zones.size();
  if (src_zone < n && dst_zone < n) {
    const uint32_t pd = pair_default_[src_zone * n + dst_zone];
    if (pd != kNoIndex) return spec_.defaults[pd].fail_mode;
  }
  return spec_.limits.default_fail_mode;
}

std::string_view PolicyGeneration::zone_name(uint32_t z) const noexcept {
  return z < spec_.zones.size() ? std::string_view(spec_.zones[z].name) : std::string_view{};
}
std::string_view PolicyGeneration::tenant_name(uint32_t t) const noexcept {
  return t < spec_.tenants.size() ? std::string_view(spec_.tenants[t].name) : std::string_view{};
}
std::string_view PolicyGeneration::rule_name(uint32_t r) const noexcept {
  return r < spec_.rules.size() ? std::string_view(spec_.rules[r].name) : std::string_view{};
}

}  // namespace ftz::engine
