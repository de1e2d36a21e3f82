#pragma once
// HyperLogLog sketch, p = 14: 16384 one-byte registers (16 KiB), standard
// error 1.04/sqrt(16384) = 0.81 % (DOMAIN.md §1.4: a summary for reports and
// fleet aggregation, not for deciding a legal line). Mergeable by register max;
// two sketches merge correctly only when they came from the same token key.
// Estimator: raw HLL with linear counting below 2.5 m (Flajolet et al. 2007).

#include <array>
#include <cstdint>
#include <memory>

namespace ftz::engine::compliance {

class Hll {
 public:
  static constexpr unsigned kPrecision = 14;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;

  Hll() : regs_(std::make_unique<std::array<uint8_t, kRegisters>>()) { regs_->fill(0); }
  Hll(const Hll& o) : regs_(std::make_unique<std::array<uint8_t, kRegisters>>(*o.regs_)) {}
  Hll& operator=(const Hll& o) {
    *regs_ = *o.regs_;
    return *this;
  }
  Hll(Hll&&) noexcept = default;
  Hll& operator=(Hll&&) noexcept = default;

  void add(uint64_t token) noexcept;
  void merge(const Hll& o) noexcept;
  double estimate() const noexcept;
  void clear() noexcept { regs_->fill(0); }
  bool empty() const noexcept;

  const uint8_t* registers() const noexcept { return regs_->data(); }
  uint8_t* registers() noexcept { return regs_->data(); }

 private:
  std::unique_ptr<std::array<uint8_t, kRegisters>> regs_;
};

}  // namespace ftz::engine::compliance
