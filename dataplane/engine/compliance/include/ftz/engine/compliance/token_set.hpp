#pragma once
// TokenSet: an exact set of 64-bit tokens (open addressing, linear probing,
// power-of-two table, maximum load 3/4), bounded by a maximum number of
// tokens. Memory: 8 bytes per slot, i.e. 10.7 to 21.3 bytes per token between
// two growths (docs/compliance.md). Token value 0 is kept in a flag, not a slot.
//
// Bounded: once size() == max_tokens() a token not yet present is refused
// (kFull) and counted in overflow(); the set keeps what it has, so its size is
// a lower bound ("at least N") and never an overcount.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftz::engine::compliance {

class TokenSet {
 public:
  enum class Insert : uint8_t { kAdded, kPresent, kFull };

  explicit TokenSet(uint64_t max_tokens = 2'000'000) noexcept : max_tokens_(max_tokens) {}

  // noexcept: a failed growth (std::bad_alloc) is treated as full and counted
  // in alloc_failures() (degraded mode: the token goes to overflow()).
  Insert insert(uint64_t token) noexcept;
  bool contains(uint64_t token) const noexcept;

  uint64_t size() const noexcept { return size_ + (has_zero_ ? 1 : 0); }
  uint64_t overflow() const noexcept { return overflow_; }
  uint64_t alloc_failures() const noexcept { return alloc_failures_; }
  uint64_t max_tokens() const noexcept { return max_tokens_; }
  bool saturated() const noexcept { return overflow_ != 0; }
  size_t memory_bytes() const noexcept { return slots_.capacity() * sizeof(uint64_t); }

  // Adds overflow seen elsewhere (a worker's bank) so saturation propagates.
  void add_overflow(uint64_t n) noexcept { overflow_ += n; }
  // Forgets the tokens and the overflow but keeps the table (no reallocation).
  void clear() noexcept;
  void reserve(uint64_t tokens);  // may throw std::bad_alloc (slow path)

  template <typename F>
  void for_each(F&& f) const {
    if (has_zero_) f(uint64_t{0});
    for (uint64_t t : slots_)
      if (t != 0) f(t);
  }

 private:
  static uint64_t mix(uint64_t x) noexcept {  // murmur3 fmix64: tokens from tests may be sequential
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
  }
  bool grow() noexcept;
  void place(uint64_t token) noexcept;

  std::vector<uint64_t> slots_;
  uint64_t size_ = 0;  // non-zero tokens
  bool has_zero_ = false;
  uint64_t max_tokens_;
  uint64_t overflow_ = 0;
  uint64_t alloc_failures_ = 0;
};

}  // namespace ftz::engine::compliance
