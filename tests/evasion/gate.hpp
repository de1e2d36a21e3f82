#pragma once
// InlineGate: the appliance in the evasion suite, as ftzgate-inspect and
// ftzgate-dp drive the engine. Every frame of both directions goes through
// one engine::Worker; what the worker forwards (trimmed where it says so),
// the resets it builds and the held packets it releases later are delivered
// onwards, and nothing else:
//
//   attacker --from_inside()--> [Worker] --(outside: tap, router)--> ServerHost (Linux, TUN)
//   attacker <----inbox()------ [Worker] <---------------------------- ServerHost replies
//
// Between the appliance and the server sits a modelled router path
// (`router_hops`): a packet whose TTL would expire on the way is lost there,
// as it is in the field; the server's own stack is the last hop and accepts
// any TTL. Only the server's address is reachable beyond the appliance.
//
// Time is the packet clock of the engine: each frame is stamped `packet_gap_ns`
// after the previous one, and advance() jumps it (timeouts, eviction idle
// times) without waiting.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "frame.hpp"
#include "ftz/engine/worker.hpp"
#include "oracle.hpp"
#include "wire.hpp"

namespace ftz::evasion {

struct GateConfig {
  uint32_t outside_net = 0;  // destinations in outside_net/outside_prefix leave by the outside port
  uint8_t outside_prefix = 24;
  uint32_t server = 0;  // the one host reachable there
  uint8_t router_hops = 2;
  test::MacAddr client_mac;
  test::MacAddr server_mac;
  int64_t start_ns = 0;
  int64_t packet_gap_ns = 1'000'000;
};

class InlineGate final : public Wire {
 public:
  InlineGate(std::shared_ptr<const engine::PolicyGeneration> generation, ServerHost& server,
             GateConfig config, engine::WorkerOptions options);

  // Wire. from_inside/from_outside return the engine's decision (kHold:
  // the frame goes on later, when released, under the release's fate).
  Outcome from_inside(Bytes frame) override;
  Outcome from_outside(Bytes frame) override;
  // The appliance never sees a bypassed frame or its replies.
  void bypass(const Bytes& frame) override;
  // Carries what the server sent (waiting up to `wait` for the first packet)
  // through the appliance to the client.
  void pump(std::chrono::milliseconds wait) override;
  // Latency on the server side: while set, what the server sends waits
  // until pump() (a retransmission can then reach the appliance before the
  // acknowledgment of the first copy does).
  void set_server_latency(bool on) { server_latency_ = on; }
  // Off: frames are not listed in trace() (a flood of thousands), a note is.
  void set_tracing(bool on, const std::string& note = {}) {
    tracing_ = on;
    if (!note.empty()) trace_.push_back("... " + note);
  }
  // Moves the packet clock and ages flows and fragments (released packets
  // are delivered).
  void advance(int64_t ns);
  // Ends every flow as at shutdown; released packets are delivered.
  void finish();

  [[nodiscard]] std::vector<Bytes>& inbox() override { return inbox_; }
  [[nodiscard]] const WireTap& tap() const { return tap_; }
  [[nodiscard]] ServerHost& server() { return server_; }
  [[nodiscard]] engine::Worker& worker() { return worker_; }
  [[nodiscard]] const std::vector<engine::Event>& events() const { return events_; }
  [[nodiscard]] int64_t now() const { return now_; }
  [[nodiscard]] uint64_t reason_count(engine::Reason r) const {
    return worker_.counters().reasons[static_cast<uint32_t>(r)];
  }
  // One line per frame and decision, headers only: for failure messages.
  [[nodiscard]] std::string trace() const;
  [[nodiscard]] uint32_t router_losses() const { return router_losses_; }
  [[nodiscard]] uint32_t releases_forwarded() const { return releases_forwarded_; }
  [[nodiscard]] uint32_t releases_dropped() const { return releases_dropped_; }

 private:
  Outcome process(Bytes frame, const char* port);
  void deliver(Bytes frame, const char* why);
  void settle();
  void after_burst();

  ServerHost& server_;
  GateConfig config_;
  engine::Worker worker_;
  int64_t now_;
  uint64_t next_token_ = 1;
  std::map<uint64_t, Bytes> held_;
  std::vector<Bytes> inbox_;
  std::vector<Bytes> from_server_;
  WireTap tap_;
  std::vector<engine::Event> events_;
  std::vector<std::string> trace_;
  uint32_t router_losses_ = 0;
  uint32_t releases_forwarded_ = 0;
  uint32_t releases_dropped_ = 0;
  bool server_latency_ = false;
  bool tracing_ = true;
};

}  // namespace ftz::evasion
