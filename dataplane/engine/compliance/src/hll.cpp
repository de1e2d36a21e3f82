#include "ftz/engine/compliance/hll.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ftz::engine::compliance {

namespace {
// A fixed mix (splitmix64 finaliser) so that register choice is independent of
// the exact set's slot choice and of how a test chose its tokens. Fixed
// forever: sketches written by another appliance must merge.
uint64_t mix(uint64_t z) noexcept {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

void Hll::add(uint64_t token) noexcept {
  const uint64_t h = mix(token);
  const size_t idx = static_cast<size_t>(h >> (64 - kPrecision));
  const uint64_t rest = h << kPrecision;  // the remaining 50 bits, left aligned
  const uint8_t rank = static_cast<uint8_t>(rest == 0 ? 64 - kPrecision + 1 : std::countl_zero(rest) + 1);
  uint8_t& r = (*regs_)[idx];
  if (rank > r) r = rank;
}

void Hll::merge(const Hll& o) noexcept {
  for (size_t i = 0; i < kRegisters; ++i) (*regs_)[i] = std::max((*regs_)[i], (*o.regs_)[i]);
}

bool Hll::empty() const noexcept {
  return std::all_of(regs_->begin(), regs_->end(), [](uint8_t r) { return r == 0; });
}

double Hll::estimate() const noexcept {
  const double m = static_cast<double>(kRegisters);
  const double alpha = 0.7213 / (1.0 + 1.079 / m);
  double sum = 0.0;
  size_t zeros = 0;
  for (uint8_t r : *regs_) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    zeros += r == 0;
  }
  const double raw = alpha * m * m / sum;
  if (raw <= 2.5 * m && zeros != 0) return m * std::log(m / static_cast<double>(zeros));
  return raw;  // 64-bit hashes: no large-range correction needed
}

}  // namespace ftz::engine::compliance
