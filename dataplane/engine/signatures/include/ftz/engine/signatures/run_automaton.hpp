#pragma once
// RunAutomaton: the run rules (database.hpp, is_run_pattern) as one
// deterministic automaton over [0-9A-Za-z], anchored at a run's first byte.
// A whole run read through it ends in a state that lists the run rules
// matching the run whole: the same answer the runs BLOCK database
// ("^(?:regex)$", multi-line) gives for the run on its own line, without a
// copy of the run, a Hyperscan call or a callback (the run pass's largest
// cost on number-heavy bodies, perf/README.md).
//
// Built on the control plane (SignatureDatabase compile and load) from the
// patterns' text; read-only afterwards, shared by every worker's scanner.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace ftz::engine::sig {

namespace detail {
// RunAutomaton's symbols: 0-9, A-Z, a-z -> 0..61; any other byte -> 62.
constexpr std::array<uint8_t, 256> make_run_symbols() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 62;
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<uint8_t>(10 + i);
    t['a' + i] = static_cast<uint8_t>(36 + i);
  }
  return t;
}
inline constexpr std::array<uint8_t, 256> kRunSymbol = make_run_symbols();
}  // namespace detail

class RunAutomaton {
 public:
  // One run rule: its pattern index (the Hyperscan id), regex and caseless flag.
  struct Rule {
    uint32_t id = 0;
    std::string_view regex;
    bool caseless = false;
  };
  // States the subset construction may create; beyond it (a catalog of
  // run rules with many overlapping alternatives) build() gives up.
  static constexpr size_t kMaxStates = 8192;

  // nullopt when a regex is outside is_run_pattern's syntax (cannot happen for
  // a run rule) or the automaton would exceed kMaxStates: the scanner then
  // asks the runs database (SignatureDatabase::runs_hs()).
  static std::optional<RunAutomaton> build(std::span<const Rule> rules);

  // The ids of the rules that match all of p[0, n) (bytes of [0-9A-Za-z]),
  // ascending; empty when none does.
  [[nodiscard]] std::span<const uint32_t> match(const uint8_t* p, size_t n) const noexcept {
    uint32_t s = kStart;
    for (size_t i = 0; i < n; ++i) {
      s = next_[static_cast<size_t>(s) * kSymbols + kSymbol[p[i]]];
      if (s == kDead) return {};
    }
    return {accepts_.data() + accept_from_[s], accept_from_[s + 1] - accept_from_[s]};
  }
  [[nodiscard]] size_t states() const noexcept { return accept_from_.size() - 1; }

 private:
  static constexpr uint32_t kDead = 0;
  static constexpr uint32_t kStart = 1;
  // 0-9, A-Z, a-z; every other byte maps to kSymbols, whose column is dead.
  static constexpr size_t kSymbols = 63;
  static constexpr const std::array<uint8_t, 256>& kSymbol = detail::kRunSymbol;

  std::vector<uint32_t> next_;         // state * kSymbols + symbol -> state
  std::vector<uint32_t> accept_from_;  // state -> first index in accepts_ (one more entry at the end)
  std::vector<uint32_t> accepts_;
};

}  // namespace ftz::engine::sig
