#pragma once
// Internal to ftzgate-xdp: its engine workers (--workers N) and how frames
// reach them (docs/decisions/0015).
//
// The main thread reads every AF_XDP socket and hands each frame to the
// worker of its flow: a hash of the two IP addresses that is the same both
// ways, so both directions of a flow, and every fragment of a datagram, meet
// one engine (a flow split over two would be judged twice, half each time).
// Frames stay where the kernel put them (the UMEM); a worker reads them in
// place.
//
// Workers run in rounds: the main thread starts one (each worker judges up
// to a burst of its waiting frames), runs worker 0 itself, waits for the
// others, then sends, drops and recycles what they decided and drains their
// events, while they wait for the next round. Between rounds every worker
// is parked, so the main thread may call any of them (time, reloads,
// statistics, compliance) without a lock: the round's start and end
// (release/acquire) order those calls with the workers' own.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "ftz/engine/packet.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::xdp {

// Which of `n` workers judges an Ethernet frame; frames that are not IP go
// to worker 0.
uint32_t worker_of(std::span<const uint8_t> frame, uint32_t n) noexcept;

class Lanes {
 public:
  static constexpr uint32_t kMaxWorkers = 64;
  // Frames waiting per worker, at most: reading stops while any worker has
  // this many (backpressure into the sockets' RX rings, nothing dropped).
  static constexpr uint32_t kWaiting = 4 * engine::kBurstSize;

  // `make(w)`: worker w's engine. Threads start for workers 1..n-1.
  Lanes(uint32_t n, const std::function<std::unique_ptr<engine::Worker>(uint32_t)>& make);
  ~Lanes();
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  [[nodiscard]] uint32_t size() const noexcept { return static_cast<uint32_t>(lanes_.size()); }
  // Between rounds only.
  [[nodiscard]] engine::Worker& worker(uint32_t w) noexcept { return *lanes_[w]->worker; }

  // Frames that may be added before the next round, whatever worker each
  // hashes to.
  [[nodiscard]] uint32_t room() const noexcept;
  void add(const engine::PacketView& v) noexcept;
  [[nodiscard]] bool waiting() const noexcept;

  // One round at packet time `now_ns`: every worker judges up to a burst of
  // its waiting frames, in parallel. Until the next round, batch(w) and
  // results(w) are worker w's frames of this round and what the engine
  // said of each (with worker(w).released() and .resets()).
  void judge(int64_t now_ns) noexcept;
  [[nodiscard]] std::span<const engine::PacketView> batch(uint32_t w) const noexcept;
  [[nodiscard]] std::span<const engine::PacketResult> results(uint32_t w) const noexcept;

 private:
  struct Lane {
    std::unique_ptr<engine::Worker> worker;
    // Waiting frames: [first, first + count) of a ring.
    std::array<engine::PacketView, kWaiting> waiting{};
    uint32_t first = 0;
    uint32_t count = 0;
    // This round's.
    std::array<engine::PacketView, engine::kBurstSize> views{};
    std::array<engine::PacketResult, engine::kBurstSize> results{};
    uint32_t judged = 0;
    int64_t now_ns = 0;
    std::atomic<uint32_t> round{0};  // main -> lane: the round to run (kStop: end)
    std::atomic<uint32_t> done{0};   // lane -> main: the last round run
    std::thread thread;
  };
  static constexpr uint32_t kStop = UINT32_MAX;

  static void take_batch(Lane& l) noexcept;
  static void run(Lane& l) noexcept;  // a worker's thread

  std::vector<std::unique_ptr<Lane>> lanes_;
  uint32_t round_ = 0;
};

}  // namespace ftz::xdp
