#pragma once
// Fixed-capacity flow index of one worker: no locks (one owner), no allocation
// after construction. Keys live in a record array; a bucketized hash of 8-slot
// buckets with two candidate buckets per key (16-bit signatures first, as
// DPDK's rte_hash does) maps keys to record indices. The caller keeps its flow
// state in a parallel array indexed by the same record index.
//
// Memory: capacity records of one cache line (64 bytes) plus capacity/4
// rounded up to a power of two buckets of 64 bytes (2 slots per record): see
// bytes_per_flow().
//
// A key goes to its primary bucket (bucket_a) while that one holds fewer
// than kPrimaryFill keys, else to the emptier of its two buckets. With
// 2 slots per record a bucket holds on average at most 4 of its 8 keys when
// every record is used, so nearly every lookup ends in the first bucket it
// reads and only that one is worth loading ahead: a simulation of random
// placement puts 4.6 % of keys in their second bucket at full capacity and
// 0.24 % at 1M flows in a table of 1.3M, where the emptier-first placement
// put 30 %. Filling the primary to the brim instead (no spare) made inserts
// fail at full capacity (both buckets full: ~4 keys of 16,384 a fill, where
// the two-choice fallback has none in 300 fills).
//
// Bursts (Worker::process_burst) look up as DPDK's rte_hash_lookup_bulk
// does: prefetch() every packet's primary bucket first, then, a few packets
// ahead of the one judged, prefetch_record(), and find() each in order, so
// the misses of a burst overlap instead of following one another. (Loading
// both buckets of all 32 packets filled the core's miss queue with lines
// that are almost never read.)

#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "ftz/engine/flow_key.hpp"
#include "ftz/engine/huge_array.hpp"

namespace ftz::engine {

class FlowTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr int kSlots = 8;
  static constexpr int kPrimaryFill = 6;  // keys a primary bucket takes before the two-choice rule

  explicit FlowTable(uint32_t capacity);

  // Inline: it runs once a packet (the short path's only call into the table).
  [[nodiscard]] uint32_t find(const FlowKey& key, uint64_t hash) const noexcept {
    const uint16_t sig = signature(hash);
    for (const uint32_t b : {bucket_a(hash), bucket_b(hash)}) {
      const Bucket& bucket = buckets_[b];
      for (uint32_t hits = signature_hits(bucket.sig, sig); hits != 0; hits &= hits - 1) {
        const uint32_t index = bucket.index[slot_of(hits)];
        if (records_[index].key == key) return index;
      }
    }
    return kNone;
  }
  // find() with a guess: what prefetch_record() returned for this hash
  // earlier in the burst. A used record holding the key is the key's (keys
  // are unique in the table), so the bucket is not scanned a second time;
  // without a guess, or when the table changed since, a full find().
  [[nodiscard]] uint32_t find(const FlowKey& key, uint64_t hash, uint32_t guess) const noexcept {
    if (guess != kNone && records_[guess].used && records_[guess].key == key) return guess;
    return find(key, hash);
  }
  // Starts loading the key's primary bucket into the cache (no effect on the
  // table's contents).
  void prefetch(uint64_t hash) const noexcept { __builtin_prefetch(&buckets_[bucket_a(hash)]); }
  // The record a later find() of `hash` most likely returns (first signature
  // match), prefetched; kNone without one. For the look-ahead of a burst.
  uint32_t prefetch_record(uint64_t hash) const noexcept;
  // Inserts a key known to be absent. Returns kNone when no record is free or
  // both candidate buckets are full; the caller may then evict() a victim.
  uint32_t insert(const FlowKey& key, uint64_t hash) noexcept;
  void erase(uint32_t index) noexcept;
  // The least recently touched flow in the key's two buckets (kNone if the
  // buckets are empty); when the table is out of records and the buckets hold
  // none of them, any used record found by the sweep cursor is returned.
  [[nodiscard]] uint32_t eviction_candidate(uint64_t hash) const noexcept;

  void touch(uint32_t index, int64_t now_ns) noexcept { records_[index].last_seen_ns = now_ns; }
  [[nodiscard]] int64_t last_seen(uint32_t index) const noexcept { return records_[index].last_seen_ns; }
  [[nodiscard]] const FlowKey& key(uint32_t index) const noexcept { return records_[index].key; }
  [[nodiscard]] bool used(uint32_t index) const noexcept { return records_[index].used; }

  [[nodiscard]] uint32_t size() const noexcept { return size_; }
  [[nodiscard]] uint32_t capacity() const noexcept { return static_cast<uint32_t>(records_.size()); }
  [[nodiscard]] static size_t bytes_per_flow() noexcept;

 private:
  // One cache line: the key compare, the idle check and the touch of a
  // packet read and write only this line.
  struct alignas(64) Record {
    FlowKey key;
    bool used = false;
    int64_t last_seen_ns = 0;
    uint64_t hash = 0;
  };
  static_assert(sizeof(Record) == 64);
  struct alignas(64) Bucket {
    uint16_t sig[kSlots] = {};
    uint32_t index[kSlots] = {kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone};
  };

  [[nodiscard]] uint32_t bucket_a(uint64_t hash) const noexcept {
    return static_cast<uint32_t>(hash) & mask_;
  }
  [[nodiscard]] uint32_t bucket_b(uint64_t hash) const noexcept {
    return static_cast<uint32_t>((hash >> 32) * 0x9e3779b1u) & mask_;
  }
  static uint16_t signature(uint64_t hash) noexcept { return static_cast<uint16_t>((hash >> 48) | 1u); }
  // The 16-bit signature matches of a bucket as a bit mask, bit 2s for slot
  // s (slot_of() turns the lowest set bit into its slot). With SSE2 (every
  // x86-64) one compare of the eight signatures at once: GCC left the
  // portable loop as eight compares and shifts, the largest part of find()
  // and prefetch_record() in a profile of the header-only worker.
  static uint32_t signature_hits(const uint16_t (&sigs)[kSlots], uint16_t sig) noexcept {
#ifdef __SSE2__
    static_assert(kSlots == 8, "one 128-bit compare covers the bucket");
    const __m128i eq = _mm_cmpeq_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sigs)),
                                       _mm_set1_epi16(static_cast<int16_t>(sig)));
    // Two equal mask bits per 16-bit slot: keep the even one.
    return static_cast<uint32_t>(_mm_movemask_epi8(eq)) & 0x5555u;
#else
    uint32_t hits = 0;
    for (int s = 0; s < kSlots; ++s) hits |= static_cast<uint32_t>(sigs[s] == sig) << (2 * s);
    return hits;
#endif
  }
  static int slot_of(uint32_t hits) noexcept {
    return std::countr_zero(hits) / 2;
  }

  HugeArray<Record> records_;
  HugeArray<Bucket> buckets_;
  std::vector<uint32_t> free_;
  uint32_t mask_ = 0;
  uint32_t size_ = 0;
};

}  // namespace ftz::engine
