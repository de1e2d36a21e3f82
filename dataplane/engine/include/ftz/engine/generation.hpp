#pragma once
// PolicyGeneration: one immutable, compiled policy (zones, tenants, rules,
// defaults). Workers read it without locks; a reload builds a new generation
// and swaps the pointer (RCU on the DPDK path). Rule evaluation lives here so
// every packet path judges flows the same way.

#include <cstdint>
#include <memory>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/policy_spec.hpp"
#include "ftz/engine/prefix_table.hpp"
#include "ftz/engine/signatures/database.hpp"

namespace ftz::engine {

enum class Stage : uint8_t { kHeader, kApp, kContent };

// What is known about a flow when it is judged. Fields beyond `stage` are
// unknown (and rules needing them do not match yet).
struct FlowFacts {
  Stage stage = Stage::kHeader;
  uint32_t src_zone = kNoIndex;  // client side
  uint32_t dst_zone = kNoIndex;  // server side
  uint32_t tenant = kNoIndex;
  uint8_t l4_proto = 0;
  uint16_t dst_port = 0;
  int64_t ts_ns = 0;
  AppProto app = AppProto::kUnknown;
  std::string_view server_name;  // SNI or HTTP Host
  DataClassMask classes = 0;
  uint32_t confirmed = 0;  // distinct confirmed identifiers in the flow
  uint32_t confirmed_per_class[static_cast<int>(DataClass::kCount)] = {};
  ThresholdState threshold = ThresholdState::kNormal;
  UninspectableMask uninspectable = 0;

  // What the headers tell: the stage every flow is judged at first (and the
  // XDP program's tables and records are judged at).
  static FlowFacts at_header(uint32_t src_zone, uint32_t dst_zone, uint32_t tenant, uint8_t l4_proto,
                             uint16_t dst_port, int64_t ts_ns = 0) noexcept {
    FlowFacts f;
    f.src_zone = src_zone;
    f.dst_zone = dst_zone;
    f.tenant = tenant;
    f.l4_proto = l4_proto;
    f.dst_port = dst_port;
    f.ts_ns = ts_ns;
    return f;
  }
};

struct Decision {
  Verdict verdict;
  uint32_t rule = kNoIndex;  // kNoIndex: a zone-pair or export default decided
  uint32_t pair_default = kNoIndex;
  // True when no later stage can change the outcome (no rule was skipped for
  // lack of information before the deciding one).
  bool final = true;
};

class PolicyGeneration {
 public:
  // A generation without a signature database (no content scanning).
  static std::shared_ptr<const PolicyGeneration> build(PolicySpec spec, uint64_t number);
  // A generation with its signatures: `db` when the control plane compiled
  // (and the data plane deserialized) it, else compiled here from the spec.
  static tl::expected<std::shared_ptr<const PolicyGeneration>, std::string> build_with_signatures(
      PolicySpec spec, uint64_t number, std::shared_ptr<const sig::SignatureDatabase> db = nullptr);
  [[nodiscard]] const std::shared_ptr<const sig::SignatureDatabase>& signatures() const noexcept {
    return db_;
  }

  [[nodiscard]] uint32_t zone_of(const IpAddr& a) const noexcept { return zones_.lookup(a); }
  // The tenant of an address: its tenant prefix, else its zone's default tenant.
  [[nodiscard]] uint32_t tenant_of(const IpAddr& a, uint32_t zone) const noexcept;
  // True when a flow between these zones carries data across the border
  // (one side domestic/FTZ, the other offshore or HK/Macao/Taiwan).
  [[nodiscard]] bool is_export(uint32_t zone_a, uint32_t zone_b) const noexcept;
  [[nodiscard]] Decision evaluate(const FlowFacts& f) const noexcept;
  [[nodiscard]] FailMode fail_mode(uint32_t src_zone, uint32_t dst_zone) const noexcept;
  // The tenant holds an approval for `classes` to `dest_zone` valid at `ts_ns`.
  [[nodiscard]] bool approved(uint32_t tenant, uint32_t dest_zone, DataClassMask classes,
                              int64_t ts_ns) const noexcept;

  [[nodiscard]] const PolicySpec& spec() const noexcept { return spec_; }
  [[nodiscard]] uint64_t number() const noexcept { return number_; }
  [[nodiscard]] std::string_view zone_name(uint32_t z) const noexcept;
  [[nodiscard]] std::string_view tenant_name(uint32_t t) const noexcept;
  [[nodiscard]] std::string_view rule_name(uint32_t r) const noexcept;
  [[nodiscard]] size_t zone_count() const noexcept { return spec_.zones.size(); }
  [[nodiscard]] const PrefixTable& zone_table() const noexcept { return zones_; }

 private:
  PolicyGeneration(PolicySpec spec, uint64_t number);
  enum class Match : uint8_t { kNo, kYes, kUnknown };
  [[nodiscard]] Match match_rule(const RuleSpec& r, const FlowFacts& f) const noexcept;

  PolicySpec spec_;
  uint64_t number_;
  std::shared_ptr<const sig::SignatureDatabase> db_;
  PrefixTable zones_;
  PrefixTable tenants_;
  std::vector<uint32_t> pair_default_;  // [src * zones + dst] -> index in spec_.defaults
};

// Case-insensitive domain suffix match on label boundaries: "example.com"
// matches "example.com" and "a.example.com", not "badexample.com"; a suffix
// with a leading dot matches subdomains only.
bool server_name_matches(std::string_view name, std::string_view suffix) noexcept;

}  // namespace ftz::engine
