#include "ftz/engine/compliance/token_set.hpp"

#include <algorithm>
#include <new>

namespace ftz::engine::compliance {

namespace {
constexpr uint64_t kMinSlots = 64;
// Smallest power of two holding `tokens` at a load of at most 3/4.
uint64_t slots_for(uint64_t tokens) noexcept {
  uint64_t n = kMinSlots;
  while (n * 3 / 4 < tokens) n *= 2;
  return n;
}
}  // namespace

void TokenSet::place(uint64_t token) noexcept {
  const uint64_t mask = slots_.size() - 1;
  uint64_t i = mix(token) & mask;
  while (slots_[i] != 0) i = (i + 1) & mask;
  slots_[i] = token;
}

bool TokenSet::grow() noexcept {
  const uint64_t want = slots_for(std::min(max_tokens_, std::max<uint64_t>(size_ + 1, slots_.size())));
  if (want <= slots_.size()) return true;
  try {
    std::vector<uint64_t> old(want, 0);
    old.swap(slots_);
    for (uint64_t t : old)
      if (t != 0) place(t);
    return true;
  } catch (const std::bad_alloc&) {
    ++alloc_failures_;
    return false;
  }
}

void TokenSet::reserve(uint64_t tokens) {
  const uint64_t want = slots_for(std::min(tokens, max_tokens_));
  if (want <= slots_.size()) return;
  std::vector<uint64_t> old(want, 0);
  old.swap(slots_);
  for (uint64_t t : old)
    if (t != 0) place(t);
}

bool TokenSet::contains(uint64_t token) const noexcept {
  if (token == 0) return has_zero_;
  if (slots_.empty()) return false;
  const uint64_t mask = slots_.size() - 1;
  for (uint64_t i = mix(token) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == token) return true;
    if (slots_[i] == 0) return false;
  }
}

TokenSet::Insert TokenSet::insert(uint64_t token) noexcept {
  if (token == 0) {
    if (has_zero_) return Insert::kPresent;
    if (size() >= max_tokens_) {
      ++overflow_;
      return Insert::kFull;
    }
    has_zero_ = true;
    return Insert::kAdded;
  }
  if (!slots_.empty()) {
    const uint64_t mask = slots_.size() - 1;
    uint64_t i = mix(token) & mask;
    for (; slots_[i] != 0; i = (i + 1) & mask)
      if (slots_[i] == token) return Insert::kPresent;
    if (size() < max_tokens_ && (size_ + 1) <= slots_.size() * 3 / 4) {
      slots_[i] = token;
      ++size_;
      return Insert::kAdded;
    }
  }
  if (size() >= max_tokens_ || !grow()) {
    ++overflow_;
    return Insert::kFull;
  }
  place(token);
  ++size_;
  return Insert::kAdded;
}

void TokenSet::clear() noexcept {
  std::fill(slots_.begin(), slots_.end(), 0);
  size_ = 0;
  has_zero_ = false;
  overflow_ = 0;
}

}  // namespace ftz::engine::compliance
