#pragma once
// The key of one counting set: (tenant, data class, destination zone,
// identifier type), plus the Asia/Shanghai year on the worker side.

#include <cstddef>
#include <cstdint>
#include <functional>

#include "ftz/engine/compliance/hll.hpp"
#include "ftz/engine/compliance/token_set.hpp"
#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine::compliance {

// dest_zone value of the per-tenant union over all destination zones: one
// person sent to two offshore zones is one individual (DOMAIN.md §1.4).
inline constexpr uint32_t kAllDestZones = UINT32_MAX;

struct SetKey {
  uint32_t tenant = 0;
  uint32_t dest_zone = 0;
  int32_t year = 0;  // 0 in the ledger (its sets are all of the current year)
  DataClass data_class = DataClass::kPi;
  uint8_t id_type = 0;
  bool operator==(const SetKey&) const noexcept = default;
};

struct SetKeyHash {
  size_t operator()(const SetKey& k) const noexcept {
    uint64_t h = (uint64_t{k.tenant} << 32) ^ k.dest_zone;
    h ^= (static_cast<uint64_t>(static_cast<uint32_t>(k.year)) << 16) ^
         (static_cast<uint64_t>(k.data_class) << 8) ^ k.id_type;
    h *= 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// Exact set (decides thresholds) and sketch (reports, fleet aggregation).
struct SetState {
  explicit SetState(uint64_t max_tokens) : exact(max_tokens) {}
  TokenSet exact;
  Hll hll;
};

}  // namespace ftz::engine::compliance
