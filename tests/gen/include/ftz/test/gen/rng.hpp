// Deterministic random numbers for the generators. std::uniform_*_distribution
// differ between standard libraries, so a capture for a given --seed would not
// be reproducible across toolchains; SplitMix64 with modulo reduction is
// (the bias over ranges this small is irrelevant for test data).
#pragma once

#include <cstdint>
#include <span>

namespace ftz::test::gen {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Uniform in [lo, hi], inclusive.
  int between(int lo, int hi) {
    return lo + static_cast<int>(below(static_cast<std::uint64_t>(hi - lo + 1)));
  }
  bool chance(unsigned percent) { return below(100) < percent; }
  void fill(std::span<std::uint8_t> out) {
    for (auto& b : out) b = static_cast<std::uint8_t>(next());
  }
  // An independent stream, e.g. one per flow, so that adding a flow does not
  // change the contents of the others.
  Rng fork(std::uint64_t stream) const { return Rng(state_ ^ (stream * 0xd1b54a32d192ed03ull)); }

 private:
  std::uint64_t state_;
};

}  // namespace ftz::test::gen
