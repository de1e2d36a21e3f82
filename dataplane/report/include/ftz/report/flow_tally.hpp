#pragma once
// Ended flows counted by name: per zone pair (the flow record's src_zone,
// the client's, and dest_zone, the server's) and per deciding rule, from the flow records a data plane
// writes. The engine counts these by position and starts over when a reload changes the zones' or rules'
// shape; names outlive reloads, so these counts never go back and never
// change meaning (show flows summary, the metrics, SNMP).
//
// A flow counts when it ends, with its verdict, packets and bytes both ways;
// a record the data plane could not keep (the engine's records_lost) is not
// here. Bounded: at most kMaxPairs zone pairs and kMaxRules rules, further
// names counted in `overflow`. The logger thread counts; another thread
// reads a copy (a mutex, taken once per ended flow, never on a worker).

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"

namespace ftz::report {

class FlowTally {
 public:
  static constexpr size_t kMaxPairs = 4096;
  static constexpr size_t kMaxRules = 4096;
  // Top talkers kept per zone pair (Space-Saving, Metwally et al. 2005):
  // exact while a pair has at most this many clients; beyond, each kept
  // count is at most `error` too high, and a client with more than
  // bytes / kTopTalkers is never missed.
  static constexpr size_t kTopTalkers = 8;

  struct Talker {
    engine::IpAddr client;
    uint64_t flows = 0;
    uint64_t bytes = 0;  // both ways
    uint64_t error = 0;  // what `bytes` may hold of clients it replaced
  };
  struct Pair {
    uint64_t flows = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    std::array<uint64_t, 4> by_action{};  // engine::Action: allow, route, block, reset
    std::array<Talker, kTopTalkers> top{};
    size_t talkers = 0;  // of `top` in use
  };
  struct Counts {
    std::map<std::pair<std::string, std::string>, Pair> pairs;  // (src_zone, dest_zone)
    std::map<std::string, uint64_t> rules;                      // "default": a pair's default
    uint64_t overflow = 0;                                      // flows of names past the bounds
  };

  // A flow record (other events are ignored), named by `gen`.
  void count(const engine::Event& e, const engine::PolicyGeneration& gen);
  [[nodiscard]] Counts counts() const;

 private:
  static void count_talker(Pair& p, const engine::IpAddr& client, uint64_t bytes);

  mutable std::mutex mu_;
  Counts counts_;
};

}  // namespace ftz::report
