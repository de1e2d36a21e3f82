// Compliance accounting: distinct counting, count modes, thresholds and their
// events, tenant states, approval expiry, 1 January rollover, persistence and
// corruption, two workers vs one, overflow, HLL accuracy. Identifiers are
// synthetic and never printed (only counts are).
#include "ftz/engine/compliance/ledger.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ftz/engine/compliance/calendar.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"

// Counts every operator new of this test binary (RecordNeverAllocates).
namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace
void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
// gcc 12 sees free() beside the replaced new (-Wmismatched-new-delete): they match here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace ftz::engine::compliance {
namespace {

constexpr uint8_t kIdNumber = 1;
constexpr uint8_t kMobile = 2;
constexpr uint32_t kTenantA = 0;
constexpr uint32_t kTenantB = 1;
constexpr uint32_t kZoneUs = 1;
constexpr uint32_t kZoneHk = 2;

int64_t at(int64_t unix_s) {
  return unix_s * kNsPerSecond;
}
// 2026-06-01T12:00:00+08:00
const int64_t kMid2026 = at(shanghai_year_start_s(2026) + 151 * 86400 + 12 * 3600);
const int64_t kLast2026 = at(shanghai_year_start_s(2027) - 1);  // 2026-12-31 23:59:59 +08:00
const int64_t kFirst2027 = at(shanghai_year_start_s(2027));     // 2027-01-01 00:00:00 +08:00

TokenKey make_key() {
  std::vector<uint8_t> k(32);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 7 + 1);
  auto key = TokenKey::from_bytes(k, MacAlgo::kHmacSha256);
  EXPECT_TRUE(key) << key.error();
  return std::move(*key);
}

// A synthetic identifier: person n's ID number or mobile (18 or 11 digits).
std::string id_number(uint32_t n) {
  char b[24];
  std::snprintf(b, sizeof(b), "110105%012u", n);
  return b;
}
std::string mobile(uint32_t n) {
  char b[24];
  std::snprintf(b, sizeof(b), "138%08u", n);
  return b;
}

LedgerConfig config(const TokenKey& key) {
  LedgerConfig c;
  c.tenant_names = {"lingang-logistics", "pudong-retail"};
  c.zone_names = {"lingang", "us", "hk"};
  c.thresholds = {{"pi-scc", DataClass::kPi, 100'000, "standard contract"},
                  {"pi-sa", DataClass::kPi, 1'000'000, "security assessment"},
                  {"sensitive-filing", DataClass::kSensitivePi, 1, "standard contract filing"},
                  {"sensitive-sa", DataClass::kSensitivePi, 10'000, "security assessment"}};
  c.algo = key.algo();
  c.key_fingerprint = key.fingerprint();
  return c;
}

class Ledger : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ftz_ledger_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    state_ = dir_ + "/compliance.state";
  }
  void TearDown() override {
    std::error_code ec;  // not system("rm -rf"): its result may not be ignored (_FORTIFY_SOURCE)
    std::filesystem::remove_all(dir_, ec);
  }

  void record(WorkerAccounting& w, uint32_t tenant, DataClass c, uint32_t dest, uint8_t type,
              const std::string& id, int64_t ts) {
    w.record(tenant, c, dest, type, key_.token(id, type), ts);
  }
  static std::vector<ComplianceEvent> of_kind(const std::vector<ComplianceEvent>& ev, ComplianceEventKind k) {
    std::vector<ComplianceEvent> r;
    for (const auto& e : ev)
      if (e.kind == k) r.push_back(e);
    return r;
  }

  TokenKey key_ = make_key();
  std::string dir_, state_;
};

TEST_F(Ledger, CountsDistinctIndividualsNotRecords) {
  WorkerAccounting w;
  ComplianceLedger l(config(key_), kMid2026);
  for (int rep = 0; rep < 3; ++rep)
    for (uint32_t n = 0; n < 500; ++n)
      record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  for (uint32_t n = 250; n < 750; ++n)
    record(w, kTenantA, DataClass::kPi, kZoneHk, kIdNumber, id_number(n), kMid2026);
  l.merge_stopped(w);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kZoneUs).at_least, 500u);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kZoneHk).at_least, 500u);
  // One person sent to two destinations is one individual for the tenant.
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 750u);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, kAllDestZones).at_least, 0u);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 0u);
  EXPECT_FALSE(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).saturated);
}

TEST_F(Ledger, MaxOverIdentifierTypesVersusSum) {
  // 300 people with ID number and mobile in the same rows, 100 more with a mobile only.
  auto run = [&](CountMode mode) {
    auto c = config(key_);
    c.count_mode = mode;
    WorkerAccounting w;
    ComplianceLedger l(std::move(c), kMid2026);
    for (uint32_t n = 0; n < 300; ++n) {
      record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
      record(w, kTenantA, DataClass::kPi, kZoneUs, kMobile, mobile(n), kMid2026);
    }
    for (uint32_t n = 300; n < 400; ++n)
      record(w, kTenantA, DataClass::kPi, kZoneUs, kMobile, mobile(n), kMid2026);
    l.merge_stopped(w);
    EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kZoneUs, kIdNumber).at_least, 300u);
    EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kZoneUs, kMobile).at_least, 400u);
    return l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least;
  };
  EXPECT_EQ(run(CountMode::kMaxOverIdentifierTypes), 400u);
  EXPECT_EQ(run(CountMode::kSumOverIdentifierTypes), 700u);
}

TEST_F(Ledger, SensitiveCountsAsPiWhenConfigured) {
  for (bool on : {false, true}) {
    auto c = config(key_);
    c.options.sensitive_counts_as_pi = on;
    WorkerAccounting w;
    ComplianceLedger l(std::move(c), kMid2026);
    for (uint32_t n = 0; n < 10; ++n)
      record(w, kTenantA, DataClass::kSensitivePi, kZoneUs, kIdNumber, id_number(n), kMid2026);
    l.merge_stopped(w);
    EXPECT_EQ(l.individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 10u);
    EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, on ? 10u : 0u);
  }
}

TEST_F(Ledger, WarnEventsAt80And95And100PercentExactlyOnce) {
  WorkerAccounting w;
  ComplianceLedger l(config(key_), kMid2026);
  std::vector<ComplianceEvent> all;
  auto step = [&](uint32_t upto, uint32_t from) {
    for (uint32_t n = from; n < upto; ++n)
      record(w, kTenantA, DataClass::kSensitivePi, kZoneUs, kIdNumber, id_number(n), kMid2026);
    l.merge_stopped(w);
    auto ev = l.evaluate(kMid2026);
    all.insert(all.end(), ev.begin(), ev.end());
    return ev;
  };
  auto sa = [](const std::vector<ComplianceEvent>& ev) {
    std::vector<uint32_t> p;
    for (const auto& e : ev)
      if (e.threshold == "sensitive-sa") p.push_back(e.percent);
    return p;
  };
  // The first sensitive person crosses the filing line (threshold 1) at 80, 95 and 100 %.
  auto ev = step(1, 0);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].kind, ComplianceEventKind::kThresholdExceeded);
  EXPECT_EQ(ev[2].threshold, "sensitive-filing");
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kExceeded);
  EXPECT_EQ(l.tenant_state(kTenantB), ThresholdState::kNormal);

  EXPECT_TRUE(sa(step(7999, 1)).empty());
  EXPECT_EQ(sa(step(8000, 7999)), std::vector<uint32_t>{80}) << "the 8,000th distinct individual is 80 %";
  EXPECT_TRUE(sa(step(8000, 0)).empty()) << "the same people again: no new event";
  EXPECT_TRUE(sa(step(9499, 8000)).empty());
  EXPECT_EQ(sa(step(9500, 9499)), std::vector<uint32_t>{95});
  EXPECT_TRUE(sa(step(9999, 9500)).empty());
  ev = step(10000, 9999);
  ASSERT_EQ(sa(ev), std::vector<uint32_t>{100});
  EXPECT_EQ(ev[0].kind, ComplianceEventKind::kThresholdExceeded);
  EXPECT_EQ(ev[0].individuals, 10000u);
  EXPECT_EQ(ev[0].line, 10000u);
  EXPECT_EQ(ev[0].mechanism, "security assessment");
  EXPECT_EQ(ev[0].tenant_name, "lingang-logistics");
  EXPECT_EQ(ev[0].year, 2026);
  EXPECT_TRUE(step(12000, 10000).empty());
  EXPECT_TRUE(l.evaluate(kMid2026 + at(60)).empty());
  EXPECT_EQ(all.size(), 6u);

  // A restart does not fire them again.
  ASSERT_TRUE(l.save(state_, kMid2026));
  ComplianceLedger l2(config(key_), kMid2026);
  auto loaded = l2.load(state_);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_TRUE(l2.evaluate(kMid2026).empty());
  EXPECT_EQ(l2.tenant_state(kTenantA), ThresholdState::kExceeded);
}

TEST_F(Ledger, TenantStateNormalWarnExceededAndBoard) {
  auto c = config(key_);
  c.thresholds = {{"pi-scc", DataClass::kPi, 1000, "standard contract"}};
  WorkerAccounting w;
  ComplianceLedger l(std::move(c), kMid2026);
  ThresholdBoard board;
  constexpr uint64_t kGen = 1;
  auto to = [&](uint32_t upto) {
    for (uint32_t n = 0; n < upto; ++n)
      record(w, kTenantB, DataClass::kPi, kZoneHk, kMobile, mobile(n), kMid2026);
    l.merge_stopped(w);
    l.evaluate(kMid2026);
    board.publish(kGen, l.states_for(kGen));
    return board.state(kGen, kTenantB);
  };
  EXPECT_EQ(to(799), ThresholdState::kNormal);
  EXPECT_EQ(to(800), ThresholdState::kWarn);
  EXPECT_EQ(to(999), ThresholdState::kWarn);
  EXPECT_EQ(to(1000), ThresholdState::kExceeded);
  EXPECT_EQ(board.state(kGen, kTenantA), ThresholdState::kNormal);
  EXPECT_EQ(board.state(kGen, 99), ThresholdState::kNormal);
  // Fail closed: a generation whose row was never published, or whose row
  // went to a newer generation, reads as past every line.
  EXPECT_EQ(board.state(kGen + 1, kTenantA), ThresholdState::kExceeded);
  board.publish(kGen + ThresholdBoard::kSlots, l.states_for(kGen));
  EXPECT_EQ(board.state(kGen, kTenantA), ThresholdState::kExceeded);
  EXPECT_EQ(board.state(kGen + ThresholdBoard::kSlots, ThresholdBoard::kMaxTenants),
            ThresholdState::kExceeded);
}

// A commit reorders the tenants (generation 2 puts a new tenant first):
// records of both generations, in the ring together, count for the tenant
// they name, and each generation's board row is in its own order.
TEST_F(Ledger, CountsAndStatesFollowTenantsByNameAcrossGenerations) {
  auto c = config(key_);
  c.thresholds = {{"pi-few", DataClass::kPi, 3, "a line of three"}};
  WorkerAccounting w(1024, 3);
  ComplianceLedger l(std::move(c), kMid2026);
  const std::vector<std::string> zones = {"lingang", "us", "hk"};
  l.map_generation(1, {"lingang-logistics", "pudong-retail"}, zones);
  l.map_generation(2, {"new-tenant", "pudong-retail", "lingang-logistics"}, zones);
  // Generation 1: index 0 is lingang-logistics; generation 2: index 2.
  for (uint32_t n = 0; n < 2; ++n)
    w.record(0, DataClass::kPi, kZoneUs, kMobile, key_.token(mobile(n), kMobile), kMid2026, 1);
  w.record(2, DataClass::kPi, kZoneUs, kMobile, key_.token(mobile(2), kMobile), kMid2026, 2);
  w.record(2, DataClass::kPi, kZoneUs, kMobile, key_.token(mobile(0), kMobile), kMid2026, 2);  // seen
  w.record(0, DataClass::kPi, kZoneUs, kMobile, key_.token(mobile(9), kMobile), kMid2026, 7);  // unknown gen
  l.merge_stopped(w);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 3u);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, kAllDestZones).at_least, 0u);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, kAllDestZones).lost, 1u) << "fail closed: every tenant";
  l.evaluate(kMid2026);
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kExceeded);
  const auto g1 = l.states_for(1);
  const auto g2 = l.states_for(2);
  ASSERT_EQ(g1.size(), 2u);
  ASSERT_EQ(g2.size(), 3u);
  EXPECT_EQ(g1[0], ThresholdState::kExceeded);
  EXPECT_EQ(g2[2], ThresholdState::kExceeded);
  EXPECT_EQ(g2[1], ThresholdState::kNormal);
}

TEST_F(Ledger, AValidApprovalOfASatisfyingMechanismCoversTheLine) {
  auto c = config(key_);
  ThresholdSpec filing{"sensitive-filing", DataClass::kSensitivePi, 1, "standard contract filing"};
  filing.satisfied_by = {Mechanism::kStandardContract, Mechanism::kSecurityAssessment};
  ThresholdSpec sa{"sensitive-sa", DataClass::kSensitivePi, 10, "security assessment"};
  sa.satisfied_by = {Mechanism::kSecurityAssessment};
  c.thresholds = {filing, sa};
  const int64_t from = shanghai_year_start_s(2026);
  const auto sensitive = static_cast<DataClassMask>(1u << static_cast<unsigned>(DataClass::kSensitivePi));
  // Tenant A holds a standard contract covering sensitive PI; B holds one
  // that expired before mid-2026; neither holds a security assessment.
  c.approvals = {{kTenantA, "SCC-A", from + 365 * 86400, from, Mechanism::kStandardContract, sensitive},
                 {kTenantB, "SCC-B", from + 10 * 86400, from, Mechanism::kStandardContract, sensitive}};
  WorkerAccounting w;
  ComplianceLedger l(std::move(c), kMid2026);
  for (uint32_t n = 0; n < 9; ++n) {
    record(w, kTenantA, DataClass::kSensitivePi, kZoneHk, kIdNumber, id_number(n), kMid2026);
    record(w, kTenantB, DataClass::kSensitivePi, kZoneHk, kIdNumber, id_number(n), kMid2026);
  }
  l.merge_stopped(w);
  const auto ev = l.evaluate(kMid2026);
  std::set<std::pair<uint32_t, std::string>> fired;
  for (const auto& e : ev) fired.emplace(e.tenant, e.threshold);
  EXPECT_EQ(fired.count({kTenantA, "sensitive-filing"}), 0u) << "covered by its valid contract";
  EXPECT_EQ(fired.count({kTenantB, "sensitive-filing"}), 1u) << "its contract expired";
  EXPECT_EQ(fired.count({kTenantA, "sensitive-sa"}), 1u) << "9 of 10: 80 % of the SA line still warns";
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kWarn);
  EXPECT_EQ(l.tenant_state(kTenantB), ThresholdState::kExceeded);
}

TEST_F(Ledger, ApprovalExpiryOncePerApproval) {
  auto c = config(key_);
  const int64_t until = shanghai_year_start_s(2026) + 200 * 86400;
  c.approvals = {
      {kTenantA, "SCC-2023-0042", until}, {kTenantB, "SA-2024-0007", until + 86400}, {kTenantB, "NO-END", 0}};
  ComplianceLedger l(std::move(c), kMid2026);
  EXPECT_TRUE(l.check_approval_expiry(at(until - 1)).empty());
  auto ev = l.check_approval_expiry(at(until));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, ComplianceEventKind::kApprovalExpired);
  EXPECT_EQ(ev[0].approval_id, "SCC-2023-0042");
  EXPECT_EQ(ev[0].tenant, kTenantA);
  EXPECT_TRUE(l.check_approval_expiry(at(until + 10)).empty());
  ev = l.check_approval_expiry(at(until + 86400));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].approval_id, "SA-2024-0007");
  // Persisted: a restart does not repeat it.
  ASSERT_TRUE(l.save(state_, at(until + 86400)));
  auto c2 = config(key_);
  c2.approvals = {{kTenantA, "SCC-2023-0042", until}};
  ComplianceLedger l2(std::move(c2), kMid2026);
  ASSERT_TRUE(l2.load(state_));
  EXPECT_TRUE(l2.check_approval_expiry(at(until + 2 * 86400)).empty());
}

TEST_F(Ledger, FirstJanuaryRollover) {
  EXPECT_EQ(shanghai_year(kLast2026), 2026);
  EXPECT_EQ(shanghai_year(kFirst2027), 2027);
  EXPECT_EQ(kFirst2027, at(1798732800));  // 2026-12-31T16:00:00Z
  EXPECT_EQ(shanghai_year(kFirst2027 - 1), 2026);

  WorkerAccounting w;
  ComplianceLedger l(config(key_), kMid2026);
  for (uint32_t n = 0; n < 10; ++n)
    record(w, kTenantA, DataClass::kSensitivePi, kZoneUs, kIdNumber, id_number(n), kLast2026);
  l.merge_stopped(w);
  auto ev = l.evaluate(kLast2026);
  EXPECT_EQ(of_kind(ev, ComplianceEventKind::kThresholdExceeded).size(), 1u);
  EXPECT_EQ(l.year(), 2026);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 10u);

  // Midnight: new sets; the same people count again in 2027, events fire again.
  ev = l.evaluate(kFirst2027);
  ASSERT_EQ(of_kind(ev, ComplianceEventKind::kYearRollover).size(), 1u);
  EXPECT_EQ(l.year(), 2027);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 0u);
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kNormal);
  EXPECT_EQ(l.previous_year(), 2026);
  EXPECT_EQ(l.previous_year_individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 10u);
  for (uint32_t n = 0; n < 3; ++n)
    record(w, kTenantA, DataClass::kSensitivePi, kZoneUs, kIdNumber, id_number(n), kFirst2027);
  // A record from 23:59:59 harvested after midnight belongs to 2026 (sketch only).
  record(w, kTenantA, DataClass::kSensitivePi, kZoneUs, kIdNumber, id_number(50), kLast2026);
  l.merge_stopped(w);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 3u);
  EXPECT_EQ(l.counters().late_tokens, 1u);
  ev = l.evaluate(kFirst2027 + at(1));
  EXPECT_EQ(of_kind(ev, ComplianceEventKind::kThresholdExceeded).size(), 1u);
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kExceeded);

  // Last year's summary survives a restart.
  ASSERT_TRUE(l.save(state_, kFirst2027));
  ComplianceLedger l2(config(key_), kFirst2027);
  ASSERT_TRUE(l2.load(state_));
  EXPECT_EQ(l2.previous_year_individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 10u);
  EXPECT_EQ(l2.individuals(kTenantA, DataClass::kSensitivePi, kAllDestZones).at_least, 3u);
}

TEST_F(Ledger, RolloverDrivenByRecordTimestamps) {
  WorkerAccounting w;
  ComplianceLedger l(config(key_), kLast2026);
  record(w, kTenantA, DataClass::kPi, kZoneUs, kMobile, mobile(1), kLast2026);
  record(w, kTenantA, DataClass::kPi, kZoneUs, kMobile, mobile(2), kFirst2027);
  l.merge_stopped(w);
  EXPECT_EQ(l.year(), 2027);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 1u);
  EXPECT_EQ(of_kind(l.evaluate(kFirst2027), ComplianceEventKind::kYearRollover).size(), 1u);
}

TEST_F(Ledger, RestartKeepsTheYearsCounts) {
  WorkerAccounting w;
  {
    ComplianceLedger l(config(key_), kMid2026);
    for (uint32_t n = 0; n < 1000; ++n)
      record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
    l.merge_stopped(w);
    ASSERT_TRUE(l.save(state_, kMid2026));
  }
  struct stat st {};
  ASSERT_EQ(::stat(state_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(state_).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "temp file left: " << e.path();

  // Config order changed after the restart: tenants and zones are matched by name.
  auto c = config(key_);
  std::swap(c.tenant_names[0], c.tenant_names[1]);
  c.zone_names = {"hk", "us", "lingang"};
  ComplianceLedger l(std::move(c), kMid2026 + at(3600));
  auto loaded = l.load(state_);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, 1 /* us */).at_least, 1000u);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 0u);
  for (uint32_t n = 500; n < 1500; ++n)
    record(w, kTenantB, DataClass::kPi, 1, kIdNumber, id_number(n), kMid2026 + at(3600));
  l.merge_stopped(w);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, kAllDestZones).at_least, 1500u);
}

TEST_F(Ledger, NoStateFileIsAFreshStart) {
  ComplianceLedger l(config(key_), kMid2026);
  auto r = l.load(dir_ + "/absent.state");
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST_F(Ledger, CorruptOrTruncatedStateIsAnErrorAndResetsNothing) {
  WorkerAccounting w;
  ComplianceLedger l(config(key_), kMid2026);
  for (uint32_t n = 0; n < 100; ++n)
    record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  l.merge_stopped(w);
  ASSERT_TRUE(l.save(state_, kMid2026));
  std::string good;
  {
    FILE* f = std::fopen(state_.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;) good.append(buf, n);
    std::fclose(f);
  }
  ASSERT_GT(good.size(), 1000u);

  // The running ledger has other counts; a failed load must leave them.
  for (uint32_t n = 100; n < 150; ++n)
    record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  l.merge_stopped(w);
  auto bad = [&](const std::string& content, const char* expect) {
    std::ofstream(state_, std::ios::binary | std::ios::trunc) << content;
    auto r = l.load(state_);
    ASSERT_FALSE(r) << expect;
    EXPECT_NE(r.error().find(expect), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("nothing was reset"), std::string::npos) << r.error();
    EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 150u);
    EXPECT_EQ(l.year(), 2026);
  };
  bad(good.substr(0, good.size() / 2), "checksum");
  bad(good.substr(0, 20), "truncated");
  bad("", "truncated");
  std::string flipped = good;
  flipped[good.size() / 3] = static_cast<char>(flipped[good.size() / 3] ^ 0x01);
  bad(flipped, "checksum");
  std::string other_version = good;
  other_version[8] = 9;
  bad(other_version, "unsupported version 9");
  bad("garbage, not a state file at all, long enough to pass the size check", "not an ftzgate");
  // A valid checksum over a damaged year (fuzz_state_file: INT32_MIN made
  // "year - 1" overflow): refused, not loaded.
  for (const int32_t year : {INT32_MIN, 1969, 10000}) {
    std::string odd = good;
    for (int i = 0; i < 4; ++i) odd[24 + i] = static_cast<char>(static_cast<uint32_t>(year) >> (8 * i));
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(odd.data(), odd.size() - 32,
                         reinterpret_cast<unsigned char*>(odd.data() + odd.size() - 32), &len, EVP_sha256(),
                         nullptr),
              1);
    bad(odd, "implausible counting year");
  }

  // Another key: refused (its tokens are not comparable).
  std::ofstream(state_, std::ios::binary | std::ios::trunc) << good;
  auto c = config(key_);
  c.key_fingerprint ^= 1;
  ComplianceLedger other(std::move(c), kMid2026);
  auto r = other.load(state_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("another token key"), std::string::npos) << r.error();
  // And the good file still loads.
  ComplianceLedger again(config(key_), kMid2026);
  ASSERT_TRUE(again.load(state_));
  EXPECT_EQ(again.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 100u);
}

// Same records split over two workers == one worker, sets and sketches.
TEST_F(Ledger, TwoWorkersMergedEqualOneWorker) {
  WorkerAccounting one, w1, w2;
  ComplianceLedger single(config(key_), kMid2026), merged(config(key_), kMid2026);
  for (uint32_t n = 0; n < 20000; ++n) {
    const uint32_t tenant = n % 3 == 0 ? kTenantB : kTenantA;
    const uint32_t dest = n % 2 == 0 ? kZoneUs : kZoneHk;
    const DataClass c = n % 5 == 0 ? DataClass::kSensitivePi : DataClass::kPi;
    const uint32_t person = n % 7000;  // repeats across workers
    const std::string id = id_number(person), mob = mobile(person);
    record(one, tenant, c, dest, kIdNumber, id, kMid2026);
    record(one, tenant, c, dest, kMobile, mob, kMid2026);
    WorkerAccounting& w = (n * 2654435761u) % 2 == 0 ? w1 : w2;  // flows hash to workers
    record(w, tenant, c, dest, kIdNumber, id, kMid2026);
    record(n % 2 == 0 ? w2 : w1, tenant, c, dest, kMobile, mob, kMid2026);
  }
  single.merge_stopped(one);
  merged.merge_stopped(w1);
  merged.merge_stopped(w2);
  for (uint32_t t : {kTenantA, kTenantB})
    for (DataClass c : {DataClass::kPi, DataClass::kSensitivePi})
      for (uint32_t d : {kZoneUs, kZoneHk, kAllDestZones}) {
        for (uint8_t type : {kIdNumber, kMobile}) {
          EXPECT_EQ(single.individuals(t, c, d, type).at_least, merged.individuals(t, c, d, type).at_least);
          EXPECT_EQ(single.estimate(t, c, d, type), merged.estimate(t, c, d, type)) << "HLL merge is exact";
        }
        EXPECT_GT(single.individuals(t, c, d).at_least, 0u);
      }
  EXPECT_EQ(single.evaluate(kMid2026).size(), merged.evaluate(kMid2026).size());
  EXPECT_EQ(single.tenant_states(), merged.tenant_states());
}

// The ring protocol with real threads: a worker records while the control
// side merges; nothing is lost or counted twice (run under ASan/TSan builds).
TEST_F(Ledger, ConcurrentWorkerAndMerge) {
  WorkerAccounting w;
  ComplianceLedger l(config(key_), kMid2026);
  std::vector<uint64_t> tokens;
  for (uint32_t n = 0; n < 50000; ++n) tokens.push_back(key_.token(id_number(n), kIdNumber));
  std::atomic<bool> done{false};
  std::atomic<int> harvests{0};
  std::thread worker([&] {
    for (size_t i = 0; i < tokens.size(); ++i) {
      w.record(kTenantA, DataClass::kPi, kZoneUs, kIdNumber, tokens[i], kMid2026);
      if (i % 64 == 0) w.quiescent();  // once per "burst"
      // Halfway, wait (still reporting quiescence) until the merger got a
      // harvest in, so the test needs no lucky scheduling on a loaded host.
      while (i == tokens.size() / 2 && harvests.load(std::memory_order_acquire) == 0) {
        w.quiescent();
        std::this_thread::yield();
      }
    }
    done.store(true, std::memory_order_release);
    for (int i = 0; i < 1000; ++i) {  // idle loop keeps reporting quiescence
      w.quiescent();
      std::this_thread::yield();
    }
  });
  while (!done.load(std::memory_order_acquire)) {
    if (l.merge(w)) harvests.fetch_add(1, std::memory_order_release);
  }
  worker.join();
  l.merge_stopped(w);
  EXPECT_GT(harvests, 0);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kZoneUs).at_least, 50000u);
}

TEST_F(Ledger, FullSetIsConservativeAndCounted) {
  auto c = config(key_);
  c.max_tokens_per_set = 1000;
  c.thresholds = {{"pi-small", DataClass::kPi, 1500, "standard contract"}};
  WorkerAccounting w;
  ComplianceLedger l(std::move(c), kMid2026);
  for (uint32_t n = 0; n < 3000; ++n)
    record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  EXPECT_EQ(w.counters().ring_full, 0u) << "the worker keeps no set: the ledger's sets are bounded";
  l.merge_stopped(w);
  const IndividualCount ic = l.individuals(kTenantA, DataClass::kPi, kAllDestZones);
  EXPECT_EQ(ic.at_least, 1000u) << "never more than it holds";
  EXPECT_TRUE(ic.saturated);
  EXPECT_GE(ic.overflow, 2000u);
  // The threshold sees the sketch beyond the cap: 3000 > 1500 is exceeded.
  auto ev = l.evaluate(kMid2026);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_TRUE(ev.back().lower_bound);
  EXPECT_GE(ev.back().individuals, 2900u);
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kExceeded);
  // Saturation survives persistence.
  ASSERT_TRUE(l.save(state_, kMid2026));
  ComplianceLedger l2(config(key_), kMid2026);
  ASSERT_TRUE(l2.load(state_));
  EXPECT_TRUE(l2.individuals(kTenantA, DataClass::kPi, kAllDestZones).saturated);
}

TEST_F(Ledger, HllWithinTwoPercentAt10kAnd100k) {
  for (uint32_t n_people : {10'000u, 100'000u}) {
    WorkerAccounting w(1u << 17);  // all records in one harvest
    ComplianceLedger l(config(key_), kMid2026);
    for (uint32_t n = 0; n < n_people; ++n)
      record(w, kTenantA, DataClass::kPi, kZoneUs, kMobile, mobile(n), kMid2026);
    l.merge_stopped(w);
    EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kZoneUs).at_least, n_people);
    const double e = l.estimate(kTenantA, DataClass::kPi, kZoneUs);
    const double rel = std::abs(e - n_people) / n_people;
    std::printf("[ hll      ] %u distinct: estimate %.0f (%.2f %%)\n", n_people, e, 100 * rel);
    EXPECT_LT(rel, 0.02);
  }
}

// The worker's side (record, quiescent) allocates nothing, also with a full
// ring: everything was allocated by the constructor.
TEST_F(Ledger, RecordNeverAllocates) {
  std::vector<uint64_t> tokens;
  for (uint32_t n = 0; n < 1000; ++n) tokens.push_back(key_.token(id_number(n), kIdNumber));
  WorkerAccounting w(256, 2);
  const uint64_t before = g_news.load();
  for (size_t i = 0; i < tokens.size(); ++i) {
    w.record(static_cast<uint32_t>(i % 3), i % 2 == 0 ? DataClass::kPi : DataClass::kSensitivePi,
             static_cast<uint32_t>(i % 5), kIdNumber, tokens[i], kMid2026 + static_cast<int64_t>(i));
    if (i % 32 == 0) w.quiescent();
  }
  EXPECT_EQ(g_news.load(), before);
  EXPECT_EQ(w.counters().ring_full, 1000u - 256u);
}

// A small ring wraps many times while the control side drains it: every
// record is either counted exactly once or dropped and counted as lost.
TEST_F(Ledger, ConcurrentWorkerAndMergeThroughASmallRing) {
  WorkerAccounting w(256, 2);
  ComplianceLedger l(config(key_), kMid2026);
  std::vector<uint64_t> tokens;
  for (uint32_t n = 0; n < 20000; ++n) tokens.push_back(key_.token(id_number(n), kIdNumber));
  std::atomic<bool> done{false};
  std::atomic<size_t> merged{0};
  std::thread worker([&] {
    for (size_t i = 0; i < tokens.size(); ++i) {
      w.record(kTenantA, DataClass::kPi, kZoneUs, kIdNumber, tokens[i], kMid2026);
      if (i % 64 == 0) {
        w.quiescent();
        // On a loaded host (ctest -j2 on 2 cores) the merger may not run for
        // a whole time slice: wait, bounded, until it is within half a ring,
        // so that the test exercises concurrent merging, not only drops.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
        const size_t kept = i - w.counters().ring_full;  // in the ring or merged
        while (kept > merged.load(std::memory_order_relaxed) + 128 &&
               std::chrono::steady_clock::now() < deadline)
          std::this_thread::yield();
      }
    }
    w.quiescent();
    done.store(true, std::memory_order_release);
  });
  size_t taken = 0;
  while (!done.load(std::memory_order_acquire)) {
    taken += l.merge(w);
    merged.store(taken, std::memory_order_relaxed);
  }
  worker.join();
  taken += l.merge_stopped(w);
  const IndividualCount ic = l.individuals(kTenantA, DataClass::kPi, kAllDestZones);
  EXPECT_EQ(ic.at_least, taken);
  EXPECT_EQ(ic.lost, w.counters().ring_full);
  EXPECT_EQ(ic.at_least + ic.lost, tokens.size());
  EXPECT_GT(taken, 256u) << "the ring wrapped";
}

// Fail closed (docs/decisions/0004-token-ring.md): a record dropped by a full
// ring is a possible new individual; the threshold counts it, the event says
// how many such records it includes, the state file keeps them.
TEST_F(Ledger, FullRingIsCountedAsIndividualsForThresholds) {
  auto c = config(key_);
  c.thresholds = {{"pi-small", DataClass::kPi, 100, "standard contract"}};
  WorkerAccounting w(64, 2);
  ASSERT_EQ(w.capacity(), 64u);
  ComplianceLedger l(std::move(c), kMid2026);
  for (uint32_t n = 0; n < 90; ++n)  // no harvest in between: 26 do not fit
    record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  EXPECT_EQ(w.counters().records, 90u);
  EXPECT_EQ(w.counters().ring_full, 26u);
  EXPECT_EQ(l.merge_stopped(w), 64u);
  IndividualCount ic = l.individuals(kTenantA, DataClass::kPi, kAllDestZones);
  EXPECT_EQ(ic.at_least, 64u) << "the exact set holds only what arrived";
  EXPECT_EQ(ic.lost, 26u);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, kAllDestZones).lost, 0u) << "attributed to its tenant";
  EXPECT_EQ(l.counters().lost_records, 26u);
  // 64 + 26 = 90 reaches 80 % of 100 (the exact 64 alone would not).
  auto ev = l.evaluate(kMid2026);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].percent, 80u);
  EXPECT_EQ(ev[0].individuals, 90u);
  EXPECT_EQ(ev[0].lost, 26u);
  EXPECT_EQ(l.tenant_state(kTenantA), ThresholdState::kWarn);
  EXPECT_EQ(l.tenant_state(kTenantB), ThresholdState::kNormal);

  // The ring is free again after the harvest: nothing more is lost.
  for (uint32_t n = 90; n < 100; ++n)
    record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  l.merge_stopped(w);
  EXPECT_EQ(w.counters().ring_full, 26u);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 74u);

  // A full ring drops a record of a tenant the worker was not sized for:
  // lost for every tenant.
  for (uint32_t n = 100; n < 164; ++n)
    record(w, kTenantA, DataClass::kPi, kZoneUs, kIdNumber, id_number(n), kMid2026);
  for (uint32_t n = 0; n < 6; ++n)
    w.record(7, DataClass::kPi, kZoneUs, kMobile, key_.token(mobile(n), kMobile), kMid2026);
  l.merge_stopped(w);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).at_least, 138u);
  EXPECT_EQ(l.individuals(kTenantB, DataClass::kPi, kAllDestZones).lost, 6u);
  EXPECT_EQ(l.individuals(kTenantA, DataClass::kPi, kAllDestZones).lost, 32u);

  // Persisted: a restart keeps failing closed.
  ASSERT_TRUE(l.save(state_, kMid2026));
  auto c2 = config(key_);
  c2.thresholds = {{"pi-small", DataClass::kPi, 100, "standard contract"}};
  ComplianceLedger l2(std::move(c2), kMid2026);
  auto loaded = l2.load(state_);
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(l2.individuals(kTenantA, DataClass::kPi, kAllDestZones).lost, 32u);
  EXPECT_EQ(l2.individuals(kTenantB, DataClass::kPi, kAllDestZones).lost, 6u);
  (void)l2.evaluate(kMid2026);
  EXPECT_EQ(l2.tenant_state(kTenantA), ThresholdState::kExceeded);
  EXPECT_EQ(l2.tenant_state(kTenantB), ThresholdState::kNormal);  // 6 lost of 100

  // A new year starts without them.
  (void)l2.evaluate(kFirst2027);
  EXPECT_EQ(l2.individuals(kTenantA, DataClass::kPi, kAllDestZones).lost, 0u);
}

TEST(TokenSet, ExactAndBounded) {
  TokenSet s(5000);
  for (uint64_t t = 0; t < 5000; ++t) EXPECT_EQ(s.insert(t), TokenSet::Insert::kAdded);  // 0 included
  for (uint64_t t = 0; t < 5000; ++t) EXPECT_EQ(s.insert(t), TokenSet::Insert::kPresent);
  EXPECT_EQ(s.size(), 5000u);
  EXPECT_EQ(s.insert(99999), TokenSet::Insert::kFull);
  EXPECT_EQ(s.overflow(), 1u);
  EXPECT_TRUE(s.contains(0));
  EXPECT_FALSE(s.contains(99999));
  // 8 bytes per slot at a load between 3/8 and 3/4.
  EXPECT_LE(s.memory_bytes(), 5000u * 8 * 8 / 3 + 64);
  s.clear();
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.saturated());
}

}  // namespace
}  // namespace ftz::engine::compliance
