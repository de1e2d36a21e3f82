#pragma once
// ThresholdBoard: the per-tenant threshold state the policy reads on the
// worker's path (RuleMatch::threshold). One atomic byte per tenant, written by
// the control side after ComplianceLedger::evaluate, read by workers with a
// relaxed load: each tenant's state is independent, so no cross-tenant
// snapshot consistency is needed, and a reader never waits or frees memory.
// A new policy generation with another tenant count gets a new board.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine::compliance {

class ThresholdBoard {
 public:
  explicit ThresholdBoard(size_t tenants)
      : n_(tenants), states_(std::make_unique<std::atomic<uint8_t>[]>(tenants)) {
    for (size_t i = 0; i < n_; ++i) states_[i].store(0, std::memory_order_relaxed);
  }
  // Worker path. An unknown tenant has no counts: kNormal.
  ThresholdState state(uint32_t tenant) const noexcept {
    if (tenant >= n_) return ThresholdState::kNormal;
    return static_cast<ThresholdState>(states_[tenant].load(std::memory_order_relaxed));
  }
  // Control side.
  void publish(std::span<const ThresholdState> states) noexcept {
    for (size_t i = 0; i < n_; ++i)
      states_[i].store(static_cast<uint8_t>(i < states.size() ? states[i] : ThresholdState::kNormal),
                       std::memory_order_relaxed);
  }
  size_t size() const noexcept { return n_; }

 private:
  size_t n_;
  std::unique_ptr<std::atomic<uint8_t>[]> states_;
};

}  // namespace ftz::engine::compliance
