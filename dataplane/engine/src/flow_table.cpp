#include "ftz/engine/flow_table.hpp"

#include <bit>

namespace ftz::engine {

namespace {

uint32_t bucket_count(uint32_t capacity) noexcept {
  return std::bit_ceil(capacity / 4 < 1 ? 1 : capacity / 4);
}

}  // namespace

FlowTable::FlowTable(uint32_t capacity) : records_(capacity), buckets_(bucket_count(capacity)) {
  mask_ = bucket_count(capacity) - 1;
  free_.reserve(capacity);
  for (uint32_t i = capacity; i > 0; --i) free_.push_back(i - 1);
}

size_t FlowTable::bytes_per_flow() noexcept {
  // One record plus, on average, half a bucket's share (capacity/4 buckets).
  return sizeof(Record) + sizeof(Bucket) / 4 + sizeof(uint32_t);
}

uint32_t FlowTable::prefetch_record(uint64_t hash) const noexcept {
  const uint16_t sig = signature(hash);
  for (const uint32_t b : {bucket_a(hash), bucket_b(hash)}) {
    const Bucket& bucket = buckets_[b];
    if (const uint32_t hits = signature_hits(bucket.sig, sig); hits != 0) {
      const uint32_t index = bucket.index[slot_of(hits)];
      __builtin_prefetch(&records_[index]);
      return index;
    }
  }
  return kNone;
}

uint32_t FlowTable::insert(const FlowKey& key, uint64_t hash) noexcept {
  if (free_.empty()) return kNone;
  const uint16_t sig = signature(hash);
  // The primary bucket while it has room to spare, else the emptier of the
  // two (the file comment says why).
  Bucket* best = nullptr;
  int best_slot = -1;
  int best_free = -1;
  for (const uint32_t b : {bucket_a(hash), bucket_b(hash)}) {
    Bucket& bucket = buckets_[b];
    int n_free = 0;
    int first = -1;
    for (int s = 0; s < kSlots; ++s) {
      if (bucket.sig[s] == 0) {
        ++n_free;
        if (first < 0) first = s;
      }
    }
    if (n_free > best_free && first >= 0) {
      best = &bucket;
      best_slot = first;
      best_free = n_free;
    }
    if (best_free > kSlots - kPrimaryFill) break;  // the primary has room to spare
  }
  if (best == nullptr) return kNone;
  const uint32_t index = free_.back();
  free_.pop_back();
  best->sig[best_slot] = sig;
  best->index[best_slot] = index;
  Record& r = records_[index];
  r.key = key;
  r.hash = hash;
  r.used = true;
  ++size_;
  return index;
}

void FlowTable::erase(uint32_t index) noexcept {
  Record& r = records_[index];
  if (!r.used) return;
  for (const uint32_t b : {bucket_a(r.hash), bucket_b(r.hash)}) {
    Bucket& bucket = buckets_[b];
    for (int s = 0; s < kSlots; ++s) {
      if (bucket.sig[s] != 0 && bucket.index[s] == index) {
        bucket.sig[s] = 0;
        bucket.index[s] = kNone;
        r.used = false;
        --size_;
        free_.push_back(index);
        return;
      }
    }
  }
}

uint32_t FlowTable::eviction_candidate(uint64_t hash) const noexcept {
  uint32_t victim = kNone;
  int64_t oldest = INT64_MAX;
  for (const uint32_t b : {bucket_a(hash), bucket_b(hash)}) {
    const Bucket& bucket = buckets_[b];
    for (int s = 0; s < kSlots; ++s) {
      if (bucket.sig[s] == 0) continue;
      const uint32_t i = bucket.index[s];
      if (records_[i].last_seen_ns < oldest) {
        oldest = records_[i].last_seen_ns;
        victim = i;
      }
    }
  }
  return victim;
}

}  // namespace ftz::engine
