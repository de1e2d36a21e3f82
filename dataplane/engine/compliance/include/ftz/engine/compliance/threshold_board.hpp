#pragma once
// ThresholdBoard: the per-tenant threshold state the policy reads on the
// worker's path (RuleMatch::threshold). Tenant indexes belong to a policy
// generation (a commit may add, remove or reorder tenants), so the board
// keeps one row per generation, for the last kSlots generations: the control
// side publishes a generation's row, by tenant name, before any worker runs
// it, and again after every evaluation.
//
// One atomic byte per tenant, read by workers with a relaxed load between
// two acquire loads of the row's generation (a row being given to another
// generation is seen as such): each tenant's state is independent, so no
// cross-tenant snapshot is needed, and a reader never waits or frees memory.
// A generation without a row (older than kSlots generations, or never
// published) and a tenant past kMaxTenants read as kExceeded: fail closed,
// the strictest rule of the policy applies.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine::compliance {

class ThresholdBoard {
 public:
  static constexpr size_t kSlots = 4;
  static constexpr size_t kMaxTenants = 16384;

  ThresholdBoard() {
    for (auto& row : rows_) {
      row.generation.store(kNone, std::memory_order_relaxed);
      row.states = std::make_unique<std::atomic<uint8_t>[]>(kMaxTenants);
      for (size_t i = 0; i < kMaxTenants; ++i) row.states[i].store(0, std::memory_order_relaxed);
    }
  }

  // Worker path.
  ThresholdState state(uint64_t generation, uint32_t tenant) const noexcept {
    const Row& row = rows_[generation % kSlots];
    if (tenant >= kMaxTenants || row.generation.load(std::memory_order_acquire) != generation)
      return ThresholdState::kExceeded;
    const auto s = static_cast<ThresholdState>(row.states[tenant].load(std::memory_order_relaxed));
    // Re-read: the row was not handed to a newer generation meanwhile.
    std::atomic_thread_fence(std::memory_order_acquire);
    return row.generation.load(std::memory_order_relaxed) == generation ? s : ThresholdState::kExceeded;
  }

  // Control side, one thread: `states` indexed by `generation`'s tenants.
  void publish(uint64_t generation, std::span<const ThresholdState> states) noexcept {
    Row& row = rows_[generation % kSlots];
    const bool same = row.generation.load(std::memory_order_relaxed) == generation;
    if (!same) row.generation.store(kNone, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_release);
    const size_t n = std::min(kMaxTenants, std::max(states.size(), row.used));
    for (size_t i = 0; i < n; ++i) {
      const auto s = i < states.size() ? states[i] : ThresholdState::kNormal;
      row.states[i].store(static_cast<uint8_t>(s), std::memory_order_relaxed);
    }
    row.used = std::min(kMaxTenants, states.size());
    if (!same) row.generation.store(generation, std::memory_order_release);
  }

 private:
  static constexpr uint64_t kNone = UINT64_MAX;
  struct Row {
    std::atomic<uint64_t> generation;
    std::unique_ptr<std::atomic<uint8_t>[]> states;
    size_t used = 0;  // states written by the last publish (control side)
  };
  std::array<Row, kSlots> rows_;
};

}  // namespace ftz::engine::compliance
