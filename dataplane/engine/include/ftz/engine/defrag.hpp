#pragma once
// IPv4 and IPv6 fragment reassembly for one worker.
//
// Bounded: at most `max_datagrams` datagrams in progress and `memcap` bytes of
// fragment data (512-byte blocks from one preallocated pool). A datagram not
// complete `timeout` after its first fragment is discarded (frag_timeout).
// Overlaps: the bytes received first win, for IPv4 and IPv6 alike (the same
// policy as TCP reassembly). A fragment whose overlap carries different data
// is dropped whole (frag_overlap_conflict) and none of its bytes are taken:
// the receiver never sees it, so whatever its own overlap policy it
// reassembles the bytes that were inspected. Identical overlaps and exact
// duplicates are merged. Inline, fragments are held until the datagram is
// complete, then forwarded or dropped together with the datagram's verdict.

#include <cstdint>
#include <span>
#include <vector>

#include "ftz/engine/packet.hpp"
#include "ftz/engine/reasons.hpp"

namespace ftz::engine {

struct DefragCounters {
  uint64_t fragments = 0;
  uint64_t datagrams_completed = 0;
  uint64_t datagrams_discarded = 0;
};

class Defragmenter {
 public:
  static constexpr uint32_t kBlockSize = 512;
  static constexpr uint32_t kMaxDatagram = 65535;
  static constexpr uint32_t kMaxRanges = 64;  // distinct received ranges
  static constexpr uint32_t kMaxHeld = 64;    // fragments held per datagram

  enum class Status : uint8_t { kHeld, kComplete, kDropped };
  struct Result {
    Status status = Status::kHeld;
    Reason reason = Reason::kNone;          // for kDropped
    std::span<const uint8_t> datagram;      // kComplete: the reassembled L4 bytes
    std::span<const uint64_t> held_tokens;  // kComplete: earlier fragments to release
  };
  // A discarded datagram's held fragments, reported by expire().
  struct Discard {
    std::span<const uint64_t> tokens;
    Reason reason;
  };

  Defragmenter(uint32_t max_datagrams, uint64_t memcap, uint32_t timeout_ms);

  // Adds one fragment (p.is_fragment). The datagram view stays valid until the
  // next call.
  Result add(const ParsedPacket& p, int64_t now_ns, uint64_t token) noexcept;

  // Discards datagrams older than the timeout; calls `on_discard(tokens)` for
  // each so the packet path can drop the held fragments.
  template <typename F>
  void expire(int64_t now_ns, F&& on_discard) noexcept {
    while (fifo_head_ != kNil && now_ns - ctx_[fifo_head_].first_ns > timeout_ns_) {
      const uint32_t c = fifo_head_;
      on_discard(std::span<const uint64_t>(ctx_[c].tokens, ctx_[c].token_count));
      ++counters_.datagrams_discarded;
      ++timeouts_;
      release(c);
    }
  }

  // Discards every datagram in progress (shutdown).
  template <typename F>
  void discard_all(F&& on_discard) noexcept {
    while (fifo_head_ != kNil) {
      const uint32_t c = fifo_head_;
      on_discard(std::span<const uint64_t>(ctx_[c].tokens, ctx_[c].token_count));
      ++counters_.datagrams_discarded;
      release(c);
    }
  }

  [[nodiscard]] const DefragCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] uint64_t timeouts() const noexcept { return timeouts_; }
  [[nodiscard]] uint32_t in_progress() const noexcept { return in_use_; }
  [[nodiscard]] uint32_t blocks_free() const noexcept { return static_cast<uint32_t>(free_blocks_.size()); }
  // Memory the constructor allocates, for the memory budget: per datagram of
  // max_datagrams (context, free-list entry, up to four hash buckets: 2n rounded up to a power of two), per
  // memcap byte (blocks and their free list), and once (the output buffers).
  [[nodiscard]] static size_t bytes_per_datagram() noexcept { return sizeof(Context) + 5 * sizeof(uint32_t); }
  [[nodiscard]] static double bytes_per_memcap_byte() noexcept {
    return 1.0 + static_cast<double>(sizeof(uint32_t)) / kBlockSize;
  }
  [[nodiscard]] static size_t fixed_bytes() noexcept { return kMaxDatagram + kMaxHeld * sizeof(uint64_t); }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint32_t kBlocksPerDatagram = (kMaxDatagram + kBlockSize - 1) / kBlockSize;

  struct Range {
    uint32_t start;
    uint32_t end;  // exclusive
  };
  struct Context {
    IpAddr src;
    IpAddr dst;
    uint32_t id = 0;
    uint16_t vlan[2] = {0, 0};
    uint8_t proto = 0;
    uint8_t version = 0;
    bool have_last = false;
    uint32_t total = 0;
    int64_t first_ns = 0;
    uint32_t hash_next = kNil;
    uint32_t fifo_prev = kNil;
    uint32_t fifo_next = kNil;
    uint32_t range_count = 0;
    Range ranges[kMaxRanges];
    uint32_t token_count = 0;
    uint64_t tokens[kMaxHeld];
    uint32_t blocks[kBlocksPerDatagram];
  };

  uint32_t find_or_create(const ParsedPacket& p, int64_t now_ns, uint32_t bucket, Reason& why) noexcept;
  static uint32_t bucket_of(const ParsedPacket& p, uint32_t mask) noexcept;
  bool matches(const Context& c, const ParsedPacket& p) const noexcept;
  void release(uint32_t c) noexcept;
  static bool covered(const Context& c, uint32_t pos) noexcept;
  // True when a received byte of [start, start + len) differs from `data`.
  bool conflicts(const Context& c, uint32_t start, const uint8_t* data, uint32_t len) const noexcept;
  // Takes the bytes of [start, start + len) not received yet.
  void store(Context& c, uint32_t start, const uint8_t* data, uint32_t len) noexcept;
  uint32_t blocks_needed(const Context& c, uint32_t start, uint32_t len) const noexcept;
  void add_range(Context& c, uint32_t start, uint32_t end) noexcept;

  std::vector<Context> ctx_;
  std::vector<uint32_t> free_ctx_;
  std::vector<uint32_t> buckets_;
  uint32_t bucket_mask_ = 0;
  std::vector<uint8_t> pool_;
  std::vector<uint32_t> free_blocks_;
  uint32_t fifo_head_ = kNil;
  uint32_t fifo_tail_ = kNil;
  uint32_t in_use_ = 0;
  int64_t timeout_ns_;
  std::vector<uint8_t> out_;
  std::vector<uint64_t> out_tokens_;
  DefragCounters counters_;
  uint64_t timeouts_ = 0;
};

}  // namespace ftz::engine
