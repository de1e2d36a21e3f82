#pragma once
// Internal to ftzgate-xdp: one AF_XDP socket (libxdp's xsk) on one receive
// queue of one interface, with a UMEM of its own. The XDP program redirects
// the packets it leaves to user space into it (ftz_xsks); the engine's
// verdicts come back out as frames copied into the TX ring of the paired
// port's socket. Copy mode: veth and most drivers here have no zero-copy
// (../shared/PLATFORM.md §3).
//
// Frames: the UMEM is cut into kFrames frames of kFrameSize bytes. A frame is
// in the fill ring, the RX ring, held by the caller (received, not yet
// recycled: the engine may hold a segment for a while), in the TX ring or
// completion ring, or free. Received frames go back to the fill ring when
// recycled; transmit() takes a free frame, and completions return it.

#include <xdp/xsk.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::xdp {

class XskSocket {
 public:
  // A page a frame (the largest aligned AF_XDP chunk): frames up to 3,840
  // bytes after the kernel's headroom, so VLAN-tagged and jumbo-ish frames
  // reach the engine whole. 32 MiB a socket.
  static constexpr uint32_t kFrames = 8192;
  static constexpr uint32_t kFrameSize = 4096;

  struct Frame {
    uint64_t addr = 0;  // where its data starts in the UMEM (within its frame)
    const uint8_t* data = nullptr;
    uint32_t len = 0;
  };
  struct Counters {
    uint64_t rx = 0;
    uint64_t tx = 0;
    uint64_t tx_no_frame = 0;  // transmit() found no free frame or no TX ring slot: dropped
    uint64_t tx_too_long = 0;  // a frame longer than kFrameSize: dropped
  };

  // `xdp_flags`: the attach mode's (XDP_FLAGS_SKB_MODE or XDP_FLAGS_DRV_MODE).
  static tl::expected<std::unique_ptr<XskSocket>, std::string> open(const std::string& ifname, uint32_t queue,
                                                                    uint32_t xdp_flags);
  ~XskSocket();
  XskSocket(const XskSocket&) = delete;
  XskSocket& operator=(const XskSocket&) = delete;

  [[nodiscard]] int fd() const noexcept;
  // Up to out.size() received frames; each stays the caller's until recycle().
  uint32_t receive(std::span<Frame> out) noexcept;
  // A received frame, by its address, as long as the caller has it (the
  // bytes may be changed in place: trims). An address further into the
  // frame is the frame from there (a tag taken off its front).
  [[nodiscard]] std::span<uint8_t> frame(uint64_t addr) noexcept;
  void recycle(uint64_t addr) noexcept;
  // Copies `bytes` into a free frame on the TX ring; false (counted) when
  // there is no room.
  bool transmit(std::span<const uint8_t> bytes) noexcept { return transmit({}, bytes); }
  // The same with `head` in front of `bytes` (a rewritten header).
  bool transmit(std::span<const uint8_t> head, std::span<const uint8_t> bytes) noexcept;
  // Sends what transmit() queued, takes back completed frames and refills
  // the fill ring. Once per loop.
  void flush() noexcept;
  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }
  // Frames the kernel could not hand to this socket (XDP_STATISTICS: RX ring
  // full, no fill frame, invalid): lost to user space.
  [[nodiscard]] uint64_t kernel_drops() const noexcept;

 private:
  XskSocket() = default;
  void refill() noexcept;

  void* area_ = nullptr;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  xsk_ring_prod fill_{};
  xsk_ring_cons comp_{};
  xsk_ring_cons rx_{};
  xsk_ring_prod tx_{};
  std::vector<uint64_t> free_;
  std::vector<uint32_t> end_;  // [frame]: where a received frame's data ends in it
  uint32_t tx_pending_ = 0;
  Counters counters_;
};

}  // namespace ftz::xdp
