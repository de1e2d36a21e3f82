#pragma once
// Longest-prefix match for IPv4 and IPv6, built once per policy generation and
// read-only afterwards (safe to share between workers).
//
// Design: the prefixes are flattened into disjoint address intervals, each
// carrying the value of its most specific covering prefix; a lookup is one
// binary search over the sorted interval starts (about 13 probes for the 4,604
// prefixes of the mainland list, ~2x that many intervals). This is simpler than
// a multibit trie, has no update path to get wrong (generations are immutable)
// and is measured in perf/bench_engine.cpp.

#include <cstdint>
#include <utility>
#include <vector>

#include "ftz/engine/ip_addr.hpp"

namespace ftz::engine {

class PrefixTable {
 public:
  explicit PrefixTable(uint32_t default_value = UINT32_MAX) : default_(default_value) {}

  // Adds a prefix; call build() once after the last add.
  void add(const Prefix& p, uint32_t value);
  void build();

  [[nodiscard]] uint32_t lookup(const IpAddr& a) const noexcept {
    return a.is_v4() ? lookup_v4(a.v4_host_order()) : lookup_v6(a);
  }
  [[nodiscard]] uint32_t lookup_v4(uint32_t addr) const noexcept;
  [[nodiscard]] uint32_t lookup_v6(const IpAddr& a) const noexcept;

  [[nodiscard]] size_t interval_count() const noexcept { return v4_starts_.size() + v6_starts_.size(); }
  [[nodiscard]] size_t memory_bytes() const noexcept;

 private:
  struct U128 {
    uint64_t hi = 0;
    uint64_t lo = 0;
    U128& operator++() noexcept {
      if (++lo == 0) ++hi;
      return *this;
    }
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 sees the 0 a defaulted <=> compares with
    friend auto operator<=>(const U128&, const U128&) = default;
    friend bool operator==(const U128&, const U128&) = default;
  };
  static U128 to_u128(const IpAddr& a) noexcept;

  uint32_t default_;
  std::vector<std::pair<Prefix, uint32_t>> pending_;
  std::vector<uint32_t> v4_starts_;
  std::vector<uint32_t> v4_values_;
  std::vector<U128> v6_starts_;
  std::vector<uint32_t> v6_values_;
};

}  // namespace ftz::engine
