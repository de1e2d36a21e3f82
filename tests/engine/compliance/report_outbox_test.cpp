// ReportOutbox and the ledger's forwarding side: what a data plane's ledger
// takes from its workers reaches another ledger (ftzgated's) by name, batch
// by batch, each batch sent again until acknowledged; a full outbox keeps
// counts of what it could not keep, so the far ledger still counts them.
// Tokens are synthetic numbers: no identifier is involved.
#include "ftz/engine/compliance/report_outbox.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ftz/engine/compliance/calendar.hpp"
#include "ftz/engine/compliance/ledger.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"

namespace ftz::engine::compliance {
namespace {

const int64_t kNow = (shanghai_year_start_s(2027) + 40 * 86400) * kNsPerSecond;

TokenKey make_key() {
  std::vector<uint8_t> k(32, 0x5a);
  auto key = TokenKey::from_bytes(k, MacAlgo::kHmacSha256);
  EXPECT_TRUE(key) << key.error();
  return std::move(*key);
}

// The data plane's configuration names tenants in one order, ftzgated's in
// another: the counts meet by name.
LedgerConfig config(const TokenKey& key, std::vector<std::string> tenants) {
  LedgerConfig c;
  c.tenant_names = std::move(tenants);
  c.zone_names = {"inside", "offshore"};
  c.thresholds = {{"pi-line", DataClass::kPi, 5, "a line of five"}};
  c.algo = key.algo();
  c.key_fingerprint = key.fingerprint();
  return c;
}

// What ftzgated does with a batch (controlplane/daemon/src/compliance_center.cpp).
void apply(ComplianceLedger& far, const OutboxBatch& b) {
  std::vector<uint32_t> tenants;
  std::vector<uint32_t> zones;
  for (const auto& n : b.tenants) tenants.push_back(*far.tenant_id(n));
  for (const auto& n : b.zones) zones.push_back(*far.zone_id(n));
  for (TokenRecord r : b.records) {
    r.tenant = tenants.at(r.tenant);
    r.dest_zone = zones.at(r.dest_zone);
    far.add(r);
  }
  for (const LostRecords& l : b.lost) {
    far.add_lost(l.tenant == ComplianceLedger::kAnyTenant ? l.tenant : tenants.at(l.tenant), l.data_class,
                 l.records);
  }
}

TEST(ReportOutbox, WhatADataPlaneTookIsCountedByNameElsewhere) {
  const TokenKey key = make_key();
  ComplianceLedger near(config(key, {"harbor", "retail"}), kNow);
  ComplianceLedger far(config(key, {"retail", "harbor"}), kNow);
  WorkerAccounting worker(64, 2);
  for (uint64_t t = 1; t <= 4; ++t) worker.record(0, DataClass::kPi, 1, 1, t, kNow);  // harbor
  worker.record(1, DataClass::kPi, 1, 1, 99, kNow);                                   // retail
  worker.quiescent();
  Taken taken;
  EXPECT_EQ(near.merge(worker, &taken), 5u);
  ASSERT_EQ(taken.records.size(), 5u);
  ReportOutbox box;
  box.push(taken, near.tenant_names(), near.zone_names());
  auto b = box.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->seq, 1u);
  EXPECT_EQ(b->records.size(), 5u);
  apply(far, *b);
  box.acked(b->seq);
  EXPECT_FALSE(box.next()) << "nothing waits";
  EXPECT_EQ(far.individuals(*far.tenant_id("harbor"), DataClass::kPi, kAllDestZones).at_least, 4u);
  EXPECT_EQ(far.individuals(*far.tenant_id("retail"), DataClass::kPi, kAllDestZones).at_least, 1u);
  EXPECT_EQ(box.counters().acked, 5u);
}

// A person exported again and again is one record for ftzgated: only what
// is new to the data plane's ledger is forwarded (a looped capture or a
// customer list sent every hour does not fill the outbox).
TEST(ReportOutbox, APersonSeenAgainIsForwardedOnce) {
  const TokenKey key = make_key();
  ComplianceLedger near(config(key, {"harbor"}), kNow);
  WorkerAccounting worker(64, 1);
  Taken taken;
  for (int round = 0; round < 3; ++round) {
    for (uint64_t t = 1; t <= 4; ++t) worker.record(0, DataClass::kPi, 1, 1, t, kNow);
    worker.quiescent();
    EXPECT_EQ(near.merge(worker, &taken), 4u) << "every record is merged";
  }
  EXPECT_EQ(taken.records.size(), 4u) << "each person is forwarded once";
  worker.record(0, DataClass::kPi, 1, 2, 1, kNow);  // the same value as another identifier type
  worker.quiescent();
  near.merge(worker, &taken);
  EXPECT_EQ(taken.records.size(), 5u);
}

TEST(ReportOutbox, AnUnacknowledgedBatchIsSentAgainUnchanged) {
  const TokenKey key = make_key();
  ComplianceLedger near(config(key, {"harbor"}), kNow);
  Taken taken;
  for (uint64_t t = 1; t <= ReportOutbox::kBatchRecords + 10; ++t)
    taken.records.push_back({t, kNow, 0, 1, DataClass::kPi, 1});
  ReportOutbox box;
  box.push(taken, near.tenant_names(), near.zone_names());
  const auto first = box.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->records.size(), ReportOutbox::kBatchRecords);
  const auto again = box.next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->seq, first->seq);
  EXPECT_EQ(again->records.size(), first->records.size());
  box.acked(first->seq + 1);  // not the batch in flight: ignored
  EXPECT_EQ(box.next()->seq, first->seq);
  box.acked(first->seq);
  const auto second = box.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->seq, first->seq + 1);
  EXPECT_EQ(second->records.size(), 10u);
  EXPECT_EQ(second->records.front().token, ReportOutbox::kBatchRecords + 1);
}

// Fail closed: a record the outbox cannot keep is a possible person the far
// ledger counts against the line, and so is a record a worker's ring lost.
TEST(ReportOutbox, WhatAFullOutboxCannotKeepIsCountedAsLost) {
  const TokenKey key = make_key();
  ComplianceLedger near(config(key, {"harbor"}), kNow);
  ComplianceLedger far(config(key, {"harbor"}), kNow);
  Taken taken;
  for (uint64_t t = 1; t <= 8; ++t) taken.records.push_back({t, kNow, 0, 1, DataClass::kPi, 1});
  taken.lost.push_back({0, DataClass::kPi, 2});
  ReportOutbox box(3);
  box.push(taken, near.tenant_names(), near.zone_names());
  EXPECT_EQ(box.counters().overflow, 5u);
  EXPECT_EQ(box.counters().lost_pending, 7u) << "what waits includes lost counts";
  const auto b = box.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->records.size(), 3u);
  ASSERT_EQ(b->lost.size(), 1u);
  EXPECT_EQ(b->lost[0].records, 7u);
  apply(far, *b);
  const auto n = far.individuals(*far.tenant_id("harbor"), DataClass::kPi, kAllDestZones);
  EXPECT_EQ(n.at_least, 3u);
  EXPECT_EQ(n.lost, 7u);
  const auto events = far.evaluate(kNow);
  ASSERT_FALSE(events.empty()) << "3 people and 7 lost records are past a line of five";
  EXPECT_EQ(events.back().kind, ComplianceEventKind::kThresholdExceeded);
  // Until acknowledged the lost counts wait; a zero count is nothing.
  EXPECT_FALSE(box.empty());
  box.acked(b->seq);
  EXPECT_TRUE(box.empty());
  Taken zero;
  zero.lost.push_back({0, DataClass::kPi, 0});
  box.push(zero, near.tenant_names(), near.zone_names());
  EXPECT_TRUE(box.empty());
  EXPECT_FALSE(box.next());
}

// What a data plane could not hand over at exit (take_all, the batch in
// flight included) is what its next run sends first (restore), under that
// run's own name order, before what it pushes itself.
TEST(ReportOutbox, WhatOneRunKeepsTheNextRunSendsFirst) {
  const TokenKey key = make_key();
  ComplianceLedger near(config(key, {"harbor", "retail"}), kNow);
  Taken taken;
  for (uint64_t t = 1; t <= 5; ++t)
    taken.records.push_back({t, kNow, static_cast<uint32_t>(t % 2), 1, DataClass::kPi, 1});
  taken.lost.push_back({1, DataClass::kPi, 2});
  ReportOutbox first;
  first.push(taken, near.tenant_names(), near.zone_names());
  ASSERT_TRUE(first.next());  // in flight, never acknowledged
  const OutboxBatch kept = first.take_all();
  EXPECT_EQ(kept.seq, 0u);
  EXPECT_EQ(kept.records.size(), 5u);
  EXPECT_FALSE(first.next()) << "take_all empties the outbox";

  ComplianceLedger later(config(key, {"retail", "harbor"}), kNow);
  ReportOutbox second;
  second.restore(kept);
  Taken fresh;
  fresh.records.push_back({77, kNow, 0, 1, DataClass::kPi, 1});  // "retail" in this run's order
  second.push(fresh, later.tenant_names(), later.zone_names());
  EXPECT_EQ(second.counters().restored, 5u);
  const auto b = second.next();
  ASSERT_TRUE(b);
  ASSERT_EQ(b->records.size(), 6u);
  EXPECT_EQ(b->records.front().token, 1u) << "the kept records first";
  EXPECT_EQ(b->records.back().token, 77u);
  ComplianceLedger far(config(key, {"harbor", "retail"}), kNow);
  apply(far, *b);
  EXPECT_EQ(far.individuals(*far.tenant_id("harbor"), DataClass::kPi, kAllDestZones).at_least, 2u);
  const auto retail = far.individuals(*far.tenant_id("retail"), DataClass::kPi, kAllDestZones);
  EXPECT_EQ(retail.at_least, 4u) << "tokens 1, 3, 5 and 77";
  EXPECT_EQ(retail.lost, 2u);

  // A kept file naming tenants it does not have, or more than fits: lost
  // counts, never dropped.
  OutboxBatch broken = kept;
  broken.records[0].tenant = 9;
  ReportOutbox small(2);
  small.restore(broken);
  EXPECT_EQ(small.counters().restored, 2u);
  EXPECT_EQ(small.counters().overflow, 3u);
  const auto c = small.next();
  ASSERT_TRUE(c);
  uint64_t lost = 0;
  for (const LostRecords& l : c->lost) lost += l.records;
  EXPECT_EQ(lost, 3u + 2u);
}

// What a running data plane mirrors to disk: everything not acknowledged,
// the outbox left as it was; the version says when the mirror is stale.
TEST(ReportOutbox, ASnapshotIsWhatTakeAllWouldTakeAndLeavesTheOutbox) {
  const TokenKey key = make_key();
  ComplianceLedger near(config(key, {"harbor", "retail"}), kNow);
  ReportOutbox box;
  const uint64_t v0 = box.version();
  Taken none;
  box.push(none, near.tenant_names(), near.zone_names());
  EXPECT_EQ(box.version(), v0) << "nothing pushed";
  Taken taken;
  for (uint64_t t = 1; t <= 3; ++t) taken.records.push_back({t, kNow, 0, 1, DataClass::kPi, 1});
  taken.lost.push_back({1, DataClass::kPi, 4});
  box.push(taken, near.tenant_names(), near.zone_names());
  const uint64_t v1 = box.version();
  EXPECT_NE(v1, v0);
  const auto in_flight = box.next();
  ASSERT_TRUE(in_flight);
  EXPECT_EQ(box.version(), v1) << "sending changes nothing that waits";
  const OutboxBatch snap = box.snapshot();
  EXPECT_EQ(snap.records.size(), 3u);
  ASSERT_EQ(snap.lost.size(), 1u);
  EXPECT_EQ(snap.lost[0].records, 4u);
  EXPECT_FALSE(box.empty()) << "a snapshot takes nothing";
  const OutboxBatch taken_all = box.take_all();
  EXPECT_EQ(taken_all.records.size(), snap.records.size());
  EXPECT_EQ(taken_all.tenants, snap.tenants);
  EXPECT_NE(box.version(), v1);
  EXPECT_TRUE(box.empty());

  ReportOutbox again;
  again.restore(snap);
  const uint64_t v2 = again.version();
  const auto b = again.next();
  ASSERT_TRUE(b);
  again.acked(b->seq);
  EXPECT_NE(again.version(), v2) << "acknowledged: the mirror is stale";
  EXPECT_TRUE(again.empty());
}

TEST(ReportOutbox, APeerCannotGrowTheLedgersNamesWithoutBound) {
  const TokenKey key = make_key();
  ComplianceLedger far(config(key, {"harbor"}), kNow);
  for (size_t i = 1; i < ComplianceLedger::kMaxNames; ++i)
    ASSERT_TRUE(far.tenant_id("t" + std::to_string(i)));
  EXPECT_FALSE(far.tenant_id("one-too-many"));
  EXPECT_TRUE(far.tenant_id("harbor")) << "known names keep their id";
}

}  // namespace
}  // namespace ftz::engine::compliance
