#pragma once
// The XDP program in the kernel (bpf/ftz_xdp.bpf.c through its libbpf
// skeleton): load it, install a generation's tables, pair the ports, attach
// it, read its counters and the flows it decided, run it on a frame
// (BPF_PROG_TEST_RUN).
//
// A restart without loss: the maps that outlive a generation (the flows the
// kernel decided, the counters) are pinned under a directory, so that the
// next process takes them over; attach() replaces a running ftz_xdp program
// in one step (XDP_FLAGS_REPLACE), so the interface is never without one.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/reasons.hpp"
#include "ftz/xdp/tables.hpp"

struct ftz_xdp;  // the skeleton (generated ftz_xdp.skel.h)

namespace ftz::xdp {

// One BPF_PROG_TEST_RUN of the XDP program `prog_fd` on `frame`, as if it
// arrived on `ingress_ifindex` (an existing interface), `repeat` times:
// the action of the last run and the mean time of one.
struct TestRun {
  uint32_t action = 0;
  uint32_t mean_ns = 0;
};
tl::expected<TestRun, std::string> test_run(int prog_fd, std::span<const uint8_t> frame,
                                            uint32_t ingress_ifindex, uint32_t repeat = 1);

class Program {
 public:
  using Counters = std::array<uint64_t, engine::kXdpPathCount>;

  // Opens and loads the program and its maps (the verifier runs here); no
  // tables yet, so every IP packet goes to user space. With `pin_dir`, the
  // flow map and the counters are pinned there, or taken over from the
  // process that pinned them.
  static tl::expected<std::unique_ptr<Program>, std::string> load(const std::string& pin_dir = "");
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Writes `t` into the slot not in use, then makes it the one in use: a
  // packet sees the old generation's tables or the new one's, never a mix.
  // On an error the running tables are untouched.
  tl::expected<void, std::string> install(const Tables& t);
  // Frames decided "forward" that arrive on `in_ifindex` leave through
  // `out_ifindex`.
  tl::expected<void, std::string> pair_ports(uint32_t in_ifindex, uint32_t out_ifindex);
  // Frames for user space that arrive on `ifindex`, receive queue q, go to
  // the AF_XDP socket bound as (slot, q) (slot < FTZ_XDP_MAX_PORTS).
  tl::expected<void, std::string> set_port_slot(uint32_t ifindex, uint32_t slot);
  tl::expected<void, std::string> bind_socket(uint32_t slot, uint32_t queue, int xsk_fd);

  // The program's verdict on `frame` as if it arrived on `ingress_ifindex`
  // (an existing interface): XDP_DROP, XDP_PASS (user space), XDP_REDIRECT.
  tl::expected<uint32_t, std::string> run(std::span<const uint8_t> frame, uint32_t ingress_ifindex);
  // Flows the kernel decided (ftz_flows): up to `max` entries, going on
  // from where the last call stopped and starting over at the end.
  struct KernelFlow {
    ftz_xdp_flow_key key{};
    ftz_xdp_flow value{};
  };
  std::vector<KernelFlow> flows(size_t max);
  // Removes a flow whose record is written (a packet after this starts a new one).
  void forget_flow(const ftz_xdp_flow_key& key) noexcept;
  // Up to `max` flows a TCP reset or a new connection ended (ftz_ended),
  // taken out of the map: their records are due at once.
  std::vector<KernelFlow> take_ended(size_t max);

  // Summed over CPUs, indexed by engine::XdpPath.
  [[nodiscard]] tl::expected<Counters, std::string> counters() const;

  // Which of the object's programs a port runs: the verdict path (inside,
  // outside), or the channel port's (everything to user space, which strips
  // the channel's tag).
  enum class Entry : uint8_t { kVerdict, kChannel };
  // Attaches the program to `ifindex` in `mode` (XDP_FLAGS_DRV_MODE or
  // XDP_FLAGS_SKB_MODE), replacing one of ours attached there in one step;
  // refuses to replace any other program.
  tl::expected<void, std::string> attach(uint32_t ifindex, uint32_t mode, Entry entry = Entry::kVerdict);
  static void detach(uint32_t ifindex, uint32_t mode) noexcept;
  // Removes the pins (a clean stop that leaves nothing attached).
  void unpin() noexcept;

  [[nodiscard]] int prog_fd() const noexcept;
  // Instructions the kernel's verifier walked to accept the verdict program
  // (its limit is 1,000,000): how much room is left for the program to grow.
  [[nodiscard]] uint64_t verifier_instructions() const noexcept { return verifier_instructions_; }
  [[nodiscard]] uint64_t generation() const noexcept { return generation_; }

 private:
  explicit Program(ftz_xdp* skel) noexcept : skel_(skel) {}
  ftz_xdp* skel_;
  uint32_t active_ = 0;
  bool installed_ = false;
  uint64_t generation_ = 0;
  uint64_t epoch_ = 0;
  uint64_t verifier_instructions_ = 0;
  std::chrono::steady_clock::time_point last_flip_{};
  std::optional<ftz_xdp_flow_key> flow_cursor_;
  std::string pin_dir_;
};

}  // namespace ftz::xdp
