#include "ftz/engine/prefix_table.hpp"

#include <algorithm>

namespace ftz::engine {

namespace {

// Flattens nested intervals [start, end] (inclusive) into (start, value) runs.
// Parents sort before their children (start ascending, end descending), so a
// stack of open intervals gives the most specific value at every point.
template <typename T>
void flatten(std::vector<std::pair<std::pair<T, T>, uint32_t>> items, uint32_t default_value, T max_value,
             std::vector<T>& starts, std::vector<uint32_t>& values) {
  std::sort(items.begin(), items.end(), [](const auto& x, const auto& y) {
    if (x.first.first != y.first.first) return x.first.first < y.first.first;
    return y.first.second < x.first.second;
  });
  starts.clear();
  values.clear();
  auto emit = [&](T pos, uint32_t value) {
    if (!starts.empty() && starts.back() == pos) {
      values.back() = value;
    } else if (!values.empty() && values.back() == value) {
      return;
    } else {
      starts.push_back(pos);
      values.push_back(value);
    }
    // Merge with the previous run when an overwrite made them equal.
    if (values.size() >= 2 && values[values.size() - 2] == values.back()) {
      starts.pop_back();
      values.pop_back();
    }
  };
  emit(T{}, default_value);
  std::vector<std::pair<T, uint32_t>> open;  // (end, value)
  auto close_until = [&](const T* next_start) {
    while (!open.empty() && (next_start == nullptr || open.back().first < *next_start)) {
      const T end = open.back().first;
      open.pop_back();
      if (end == max_value) continue;
      T after = end;
      ++after;
      // An interval still open that also ends here is closed by a later pop.
      emit(after, open.empty() ? default_value : open.back().second);
    }
  };
  for (const auto& [range, value] : items) {
    close_until(&range.first);
    emit(range.first, value);
    open.emplace_back(range.second, value);
  }
  close_until(nullptr);
}

}  // namespace

PrefixTable::U128 PrefixTable::to_u128(const IpAddr& a) noexcept {
  U128 v;
  for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | a.bytes[i];
  for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | a.bytes[i];
  return v;
}

void PrefixTable::add(const Prefix& p, uint32_t value) {
  pending_.emplace_back(p, value);
}

void PrefixTable::build() {
  std::vector<std::pair<std::pair<uint32_t, uint32_t>, uint32_t>> v4;
  std::vector<std::pair<std::pair<U128, U128>, uint32_t>> v6;
  for (const auto& [p, value] : pending_) {
    if (p.v4) {
      const uint32_t start = p.addr.v4_host_order();
      const uint32_t host = p.length == 0 ? UINT32_MAX : (p.length == 32 ? 0 : (UINT32_MAX >> p.length));
      v4.push_back({{start, start | host}, value});
    } else {
      const U128 start = to_u128(p.addr);
      U128 end = start;
      if (p.length < 64) {
        end.hi |= p.length == 0 ? UINT64_MAX : (UINT64_MAX >> p.length);
        end.lo = UINT64_MAX;
      } else if (p.length < 128) {
        end.lo |= p.length == 64 ? UINT64_MAX : (UINT64_MAX >> (p.length - 64));
      }
      v6.push_back({{start, end}, value});
    }
  }
  flatten(std::move(v4), default_, UINT32_MAX, v4_starts_, v4_values_);
  flatten(std::move(v6), default_, U128{UINT64_MAX, UINT64_MAX}, v6_starts_, v6_values_);
  pending_.clear();
  pending_.shrink_to_fit();
}

uint32_t PrefixTable::lookup_v4(uint32_t addr) const noexcept {
  if (v4_starts_.empty()) return default_;
  const auto it = std::upper_bound(v4_starts_.begin(), v4_starts_.end(), addr);
  return v4_values_[static_cast<size_t>(it - v4_starts_.begin()) - 1];
}

uint32_t PrefixTable::lookup_v6(const IpAddr& a) const noexcept {
  if (v6_starts_.empty()) return default_;
  const U128 key = to_u128(a);
  const auto it = std::upper_bound(v6_starts_.begin(), v6_starts_.end(), key);
  return v6_values_[static_cast<size_t>(it - v6_starts_.begin()) - 1];
}

size_t PrefixTable::memory_bytes() const noexcept {
  return v4_starts_.size() * 8 + v6_starts_.size() * (sizeof(U128) + 4);
}

}  // namespace ftz::engine
