// No lost flow records (docs/eve.md "No lost records"): thousands of flows
// ending in one burst, at shutdown and by timeout, produce one record each
// however small the event queue; a packet that forces an ending while the
// logger is behind parks the record in the backlog, and past the backlog
// the packet follows the fail mode, counted, with no record lost.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

#include "engine_fixtures.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::engine {
namespace {

using namespace testing;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1772413200LL * kSec;  // 2026-03-02 01:00:00 UTC
constexpr uint32_t kFlows = 12'000;           // > 2 x the default queue of 4,096

// One UDP packet from a distinct client port (and address) per flow: a
// flow of its own, inside (10.60/16) to offshore.
test::Bytes udp_frame(uint32_t i) {
  const std::string src =
      "10.60." + std::to_string(1 + i / 60000) + "." + std::to_string(1 + (i / 250) % 250);
  return test::PacketBuilder()
      .eth()
      .ipv4(src, "203.0.113.10")
      .udp(static_cast<uint16_t>(1024 + i % 60000), 5000)
      .payload("x")
      .build();
}

struct RecordRun {
  explicit RecordRun(PolicySpec spec, uint32_t queue = 4096, uint32_t backlog = 256)
      : worker(PolicyGeneration::build(std::move(spec), 1), LinkType::kEthernet,
               WorkerOptions{.event_queue_capacity = queue, .record_backlog = backlog}) {}

  // Sends packets [first, first + n) of udp_frame at time ts, in bursts.
  std::vector<PacketResult> send(uint32_t first, uint32_t n, int64_t ts, bool drain = true) {
    std::vector<PacketResult> all;
    for (uint32_t i = first; i < first + n; i += kBurstSize) {
      std::vector<test::Bytes> frames;
      std::vector<PacketView> views;
      for (uint32_t j = i; j < first + n && j < i + kBurstSize; ++j) frames.push_back(udp_frame(j));
      for (size_t k = 0; k < frames.size(); ++k) views.push_back(view_of(frames[k], ts, i + k));
      std::vector<PacketResult> res(views.size());
      worker.process_burst(views, res);
      all.insert(all.end(), res.begin(), res.end());
      if (drain) this->drain();
    }
    return all;
  }
  void drain() {
    while (const Event* e = worker.events().front()) {
      if (e->type == EventType::kFlow) {
        ++records[e->flow_id];
        flow_events.push_back(*e);
      }
      worker.events().pop();
    }
  }
  // finish() until done, draining between; returns the number of calls.
  int finish(int64_t ts) {
    int calls = 1;
    while (!worker.finish(ts)) {
      drain();
      ++calls;
      EXPECT_LT(calls, 100000) << "finish() never completes";
      if (calls >= 100000) break;
    }
    drain();
    return calls;
  }
  Worker worker;
  std::map<uint64_t, int> records;  // flow_id -> records seen
  std::vector<Event> flow_events;
};

PolicySpec big_table() {
  PolicySpec s = zone_policy();
  s.limits.flow_table_size = 16384;
  s.limits.events_per_second = 0;
  return s;
}

void expect_one_record_each(RecordRun& r, uint32_t flows) {
  EXPECT_EQ(r.records.size(), flows);
  for (const auto& [id, n] : r.records) ASSERT_EQ(n, 1) << "flow " << id;
  const WorkerCounters& c = r.worker.counters();
  EXPECT_EQ(c.flows_ended, flows);
  EXPECT_EQ(c.records_lost, 0u);
  EXPECT_EQ(r.worker.events().dropped(), 0u);
  EXPECT_EQ(r.worker.record_backlog(), 0u);
}

TEST(Records, ShutdownOfTwelveThousandFlowsWritesEveryRecord) {
  RecordRun r(big_table());
  r.send(0, kFlows, kT0);
  EXPECT_EQ(r.worker.active_flows(), kFlows);
  const int calls = r.finish(kT0 + kSec);
  EXPECT_GT(calls, 2) << "the queue (4,096) cannot hold 12,000 records: finish() must have waited";
  EXPECT_GE(r.worker.counters().record_waits, 1u);
  expect_one_record_each(r, kFlows);
  for (const Event& e : r.flow_events) ASSERT_EQ(e.flow.reason, FlowEndReason::kShutdown);
  EXPECT_EQ(r.worker.active_flows(), 0u);
}

TEST(Records, TimeoutsTogetherEndInTurnWithTheirTimeoutTime) {
  RecordRun r(big_table());
  r.send(0, kFlows, kT0);
  // Every flow times out at once (udp_timeout_s = 60); one packet of a new
  // flow per step moves the clock and lets the worker end its share: a
  // burst ends at most kExpirePerBurst (64) flows, the rest wait.
  const int64_t late = kT0 + 61 * kSec;
  uint32_t next = kFlows;
  const int steps = kFlows / (2 * kBurstSize) + 10;
  for (int step = 0; step < steps && r.records.size() < kFlows; ++step) {
    const size_t before = r.records.size();
    r.send(next++, 1, late + step * 1'000'000);  // 1 ms a step: the new flows stay
    ASSERT_LE(r.records.size() - before, 2 * kBurstSize) << "a burst ended more than its share";
  }
  EXPECT_EQ(r.records.size(), kFlows) << "still waiting after " << steps << " bursts";
  std::set<int64_t> times;
  for (const Event& e : r.flow_events) {
    ASSERT_EQ(e.flow.reason, FlowEndReason::kTimeout);
    times.insert(e.ts_ns);
  }
  // All were due at the first pass: its time, whichever pass wrote them.
  EXPECT_EQ(times, std::set<int64_t>{late});
  EXPECT_EQ(r.worker.counters().records_lost, 0u);
}

TEST(Records, AdvanceTimeAloneDrainsTimeoutsOverSeveralCalls) {
  RecordRun r(big_table(), 1024);
  r.send(0, 5000, kT0);
  int calls = 0;
  while (r.records.size() < 5000 && calls < 100) {
    r.worker.advance_time(kT0 + 61 * kSec + calls);
    r.drain();
    ++calls;
  }
  EXPECT_GT(calls, 4);  // a queue of 1,024 minus a burst's reserve per call
  expect_one_record_each(r, 5000);
}

TEST(Records, ATinyQueueStillEndsEveryFlow) {
  RecordRun r(big_table(), /*queue=*/2, /*backlog=*/1);
  r.send(0, 100, kT0);
  EXPECT_GT(r.finish(kT0 + kSec), 50);
  expect_one_record_each(r, 100);
}

// Eviction and lookups need the old flow's record written at once; with
// the logger stalled the record waits in the backlog, and when that is full
// too the new flow is refused under the zone pair's fail mode.
TEST(Records, ForcedEndingsUseTheBacklogThenFailClosed) {
  PolicySpec s = zone_policy();
  s.limits.flow_table_size = 64;
  s.limits.flow_evict_min_idle_ms = 0;
  s.limits.events_per_second = 0;
  ZonePairDefault d;
  d.src_zone = kZoneFtz;
  d.dst_zone = kZoneOffshore;
  d.fail_mode = FailMode::kClosed;
  s.defaults = {d};
  RecordRun r(std::move(s), /*queue=*/64, /*backlog=*/16);
  // 64 flows fill the table; no draining from here on (a stalled logger).
  r.send(0, 64, kT0, false);
  // Each new flow evicts one: its record takes a queue slot, then a backlog
  // slot, then there is no place and the packet is refused.
  const auto res = r.send(64, 200, kT0 + kSec, false);
  const WorkerCounters& c = r.worker.counters();
  EXPECT_EQ(c.records_backlogged, 16u);
  EXPECT_GT(c.records_refused, 0u);
  EXPECT_EQ(c.reasons[static_cast<uint32_t>(Reason::kRecordBacklogFull)], c.records_refused);
  EXPECT_EQ(c.records_lost, 0u);
  size_t refused_dropped = 0;
  for (const PacketResult& p : res) {
    if (p.disposition == Disposition::kDrop && p.reason == Reason::kFailClosed) ++refused_dropped;
  }
  // Every refused flow's packet followed fail-closed (as did any the table
  // had no eviction candidate for).
  EXPECT_EQ(refused_dropped, c.records_refused + c.reasons[static_cast<uint32_t>(Reason::kFlowTableFull)]);
  EXPECT_EQ(r.worker.record_backlog(), 16u);
  // The logger catches up: the backlog moves into the queue in order, and
  // every flow that was ever tracked has exactly one record in the end.
  r.drain();
  r.send(1000, 1, kT0 + 2 * kSec);
  EXPECT_EQ(r.worker.record_backlog(), 0u);
  r.finish(kT0 + 3 * kSec);
  EXPECT_EQ(r.records.size(), c.flows_created);
  for (const auto& [id, n] : r.records) ASSERT_EQ(n, 1) << "flow " << id;
  EXPECT_EQ(c.flows_ended, c.flows_created);
  EXPECT_EQ(c.records_lost, 0u);
}

// App events never crowd out records: a full queue drops them (counted),
// while flow records still find a place.
TEST(Records, FlowRecordsAreNeverRateLimited) {
  PolicySpec s = big_table();
  s.limits.events_per_second = 1;  // app events: one per second
  RecordRun r(std::move(s));
  r.send(0, 5000, kT0);
  r.finish(kT0 + kSec);
  expect_one_record_each(r, 5000);
  EXPECT_EQ(r.worker.counters().events_rate_limited, 0u) << "UDP flows have no app events here";
}

}  // namespace
}  // namespace ftz::engine
