// The fleet's count in process against a real etcd, with the members'
// clock injected (issue 14 §2):
// - across a new year (Asia/Shanghai, "year rollover is fleet-wide"): the
//   owner's count rolls over at midnight as one appliance's does, and an
//   owner that takes over in the new year and counts every batch in etcd
//   again counts last year's people and lost records in last year;
// - a member in a local-only override does not keep the fleet's count.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fleet_ledger.hpp"
#include "ftz/bundle/trusted_keys.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/diagnostics.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/fleet/etcd.hpp"
#include "ftz/fleet/records.hpp"
#include "ftz/keys/detached.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/test/etcd.hpp"
#include "ftz/test/files.hpp"
#include "ftz/test/harbor.hpp"

namespace {

namespace pb = ftzgate::v1;
using ftz::daemon::FleetLedger;
using ftz::test::EtcdCluster;
using ftz::test::TempDir;

// 2027-01-01T00:00:00+08:00, and a year later.
constexpr int64_t kNewYear2027Ms = int64_t{1'798'732'800} * 1000;
constexpr int64_t kNewYear2028Ms = kNewYear2027Ms + int64_t{365} * 86'400'000;

class FleetLedgerOwner : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.start()) << ftz::test::read_text(etcd_.log(0));
    auto key =
        ftz::engine::compliance::resolve_token_key({dir_.file("token.key"), dir_.file("none.state"),
                                                    ftz::engine::compliance::MacAlgo::kHmacSha256, false});
    ASSERT_TRUE(key) << key.error();
    fingerprint_ = key->key.fingerprint();
    auto loaded = ftz::config::load_config_from_string(ftz::test::harbor::kConfig, "counted.yaml", {});
    ASSERT_TRUE(loaded) << ftz::config::format_diagnostics(loaded.error());
    spec_ = loaded->spec;
    // The members' keys, which the fleet trusts (before any ledger reads
    // the list).
    for (const char* member : {"m1", "m2"}) {
      auto k = ftz::keys::SigningKey::load_or_generate(dir_.file(std::string(member) + ".key"));
      ASSERT_TRUE(k) << k.error();
      ASSERT_TRUE(trusted_->add(k->public_pem()));
    }
  }
  // Member `member`, its clock `skew_ms` off the test's.
  std::unique_ptr<FleetLedger> open(const std::string& member, int64_t skew_ms = 0) {
    FleetLedger::Options o;
    o.etcd.endpoints = {etcd_.endpoint(0)};
    o.fleet = "lab";
    o.member = member;
    o.key_path = dir_.file("token.key");
    o.clock_ms = [this, skew_ms] { return now_ms_.load() + skew_ms; };
    o.audit = [this](const std::string& type, bool, const nlohmann::ordered_json& details) {
      const std::lock_guard lock(audit_mu_);
      audited_.emplace_back(type, details);
      return true;
    };
    o.states = [this](const pb::ThresholdStates& states) {
      const std::lock_guard lock(audit_mu_);
      states_.push_back(states);
    };
    auto key = ftz::keys::SigningKey::load_or_generate(dir_.file(member + ".key"));
    EXPECT_TRUE(key) << key.error();
    if (!key) return nullptr;
    o.sign = [k = std::make_shared<ftz::keys::SigningKey>(std::move(*key))](const std::string& content) {
      return ftz::keys::make_detached(*k, content);
    };
    o.verify = [trusted = trusted_](const std::string& signature,
                                    const std::string& content) -> ftz::fleet::Result<std::string> {
      return ftz::keys::verify_detached(signature, content,
                                        [&trusted](const std::string& id) { return trusted->find(id); });
    };
    auto l = FleetLedger::open(std::move(o));
    EXPECT_TRUE(l) << l.error();
    if (!l) return nullptr;
    (*l)->configure(spec_, true);
    (*l)->start();
    return std::move(*l);
  }
  // A data plane's batch of harbor's PI tokens at the clock's time.
  pb::ReportBatch batch(uint64_t seq, const std::vector<uint64_t>& tokens, uint64_t lost) const {
    return ftz::test::harbor::pi_batch("dp-a", seq, fingerprint_, tokens, now_ms_.load() * 1'000'000, lost);
  }
  // The fleet's count (of `year`; 0: this year's) once `pred` holds for
  // it (up to ~15 s), else the last.
  static pb::ShowComplianceReply count_when(FleetLedger& l,
                                            const std::function<bool(const pb::ShowComplianceReply&)>& pred,
                                            int32_t year = 0) {
    pb::ShowComplianceReply r;
    for (int n = 0; n < 75; ++n) {
      r.Clear();
      if (l.show(year, &r).ok() && pred(r)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return r;
  }

  std::vector<nlohmann::ordered_json> audited(const std::string& type) {
    const std::lock_guard lock(audit_mu_);
    std::vector<nlohmann::ordered_json> out;
    for (const auto& [t, d] : audited_)
      if (t == type) out.push_back(d);
    return out;
  }
  // A client of the test's own.
  std::unique_ptr<ftz::fleet::Etcd> client() {
    ftz::fleet::EtcdOptions o;
    o.endpoints = {etcd_.endpoint(0)};
    auto etcd = ftz::fleet::Etcd::connect(o);
    EXPECT_TRUE(etcd) << etcd.error();
    return etcd ? std::move(*etcd) : nullptr;
  }
  // The years of the batches in etcd.
  std::set<int32_t> batch_years() {
    auto etcd = client();
    if (!etcd) return {};
    const ftz::fleet::FleetKeys keys("lab");
    auto listed = etcd->list(keys.tokens());
    EXPECT_TRUE(listed) << listed.error();
    std::set<int32_t> years;
    if (listed)
      for (const auto& kv : listed->kvs) years.insert(keys.batch_year(kv.key));
    return years;
  }

  TempDir dir_{"fleet-owner"};
  EtcdCluster etcd_{dir_, 1};
  std::atomic<int64_t> now_ms_{kNewYear2027Ms - 60'000};  // a minute to midnight
  uint64_t fingerprint_ = 0;
  ftz::engine::PolicySpec spec_;
  std::mutex audit_mu_;
  std::vector<std::pair<std::string, nlohmann::ordered_json>> audited_;
  std::vector<pb::ThresholdStates> states_;  // what the members were given
  // Read by the ledgers' threads: filled in SetUp only.
  std::shared_ptr<ftz::bundle::TrustedKeys> trusted_ = std::make_shared<ftz::bundle::TrustedKeys>();
};

TEST_F(FleetLedgerOwner, TheOwnerRollsOverAndANewOwnerCountsLastYearInLastYear) {
  auto first = open("m1");
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->store(batch(1, {11, 12}, 2)).ok());
  auto r =
      count_when(*first, [](const auto& c) { return c.rows_size() == 1 && c.rows(0).individuals() == 2; });
  EXPECT_EQ(r.year(), 2026);
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  EXPECT_EQ(r.rows(0).individuals(), 2U);
  EXPECT_EQ(r.rows(0).lost(), 2U);
  EXPECT_EQ(r.ledger_owner(), "m1");
  r = count_when(
      *first, [](const auto& c) { return c.year() == 2026; }, 2026);
  EXPECT_FALSE(r.final()) << "2026 is not over";

  // Midnight in Shanghai: the fleet's count is the new year's, empty.
  now_ms_ = kNewYear2027Ms + 60'000;
  r = count_when(*first, [](const auto& c) { return c.year() == 2027; });
  EXPECT_EQ(r.year(), 2027);
  EXPECT_EQ(r.rows_size(), 0) << r.DebugString();
  // Last year's count stays, as it was at midnight.
  const auto counted_2026 = [](const pb::ShowComplianceReply& c) {
    return c.year() == 2026 && c.rows_size() == 1 && c.rows(0).individuals() == 2 && c.rows(0).lost() == 2;
  };
  r = count_when(*first, counted_2026, 2026);
  EXPECT_TRUE(counted_2026(r)) << r.DebugString();
  EXPECT_TRUE(r.final()) << "written at rollover, after 2026 ended";

  // Another owner in the new year counts every batch in etcd again: last
  // year's tokens and lost records stay last year's.
  first.reset();
  auto second = open("m2");
  ASSERT_TRUE(second);
  r = count_when(*second, [](const auto& c) { return c.ledger_owner() == "m2" && c.year() == 2027; });
  EXPECT_EQ(r.ledger_owner(), "m2");
  EXPECT_EQ(r.year(), 2027);
  EXPECT_EQ(r.rows_size(), 0) << "last year's counted in this one: " << r.DebugString();

  // This year's batch counts this year, its lost records too.
  ASSERT_TRUE(second->store(batch(2, {13}, 1)).ok());
  r = count_when(*second, [](const auto& c) { return c.rows_size() == 1; });
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  EXPECT_EQ(r.rows(0).individuals(), 1U);
  EXPECT_EQ(r.rows(0).lost(), 1U);
  r.Clear();
  ASSERT_TRUE(second->show(2026, &r).ok());
  EXPECT_TRUE(counted_2026(r)) << "an owner that did not count 2026 rewrote its count: " << r.DebugString();
  EXPECT_EQ(batch_years(), (std::set<int32_t>{2026, 2027}));
  EXPECT_TRUE(audited("fleet_ledger_pruned").empty()) << "last year's batches stay";

  // A year on: 2026's batches go, its count and 2027's stay.
  now_ms_ = kNewYear2028Ms + 60'000;
  r = count_when(*second, [](const auto& c) { return c.year() == 2028; });
  EXPECT_EQ(r.year(), 2028);
  for (int n = 0; n < 50 && batch_years().contains(2026); ++n)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(batch_years(), (std::set<int32_t>{2027}));
  const auto pruned = audited("fleet_ledger_pruned");
  ASSERT_EQ(pruned.size(), 1U);
  EXPECT_EQ(pruned[0]["before_year"], 2027);
  EXPECT_EQ(pruned[0]["batches"], 1);
  r.Clear();
  ASSERT_TRUE(second->show(2026, &r).ok());
  EXPECT_TRUE(counted_2026(r)) << r.DebugString();
  r = count_when(
      *second, [](const auto& c) { return c.year() == 2027 && c.rows_size() == 1; }, 2027);
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  EXPECT_EQ(r.rows(0).individuals(), 1U);
  EXPECT_EQ(r.rows(0).lost(), 1U);
  EXPECT_EQ(second->show(2025, &r).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A member in a local-only override does not keep the fleet's count (its
// thresholds are not the fleet's): the owner steps down for a member on the
// fleet's configuration, whose count includes the batches the overriding
// member still stores, and takes the count back once its override ends.
TEST_F(FleetLedgerOwner, AMemberInALocalOnlyOverrideLeavesTheCountToAMemberOnTheFleetsConfiguration) {
  auto m1 = open("m1");
  ASSERT_TRUE(m1);
  ASSERT_TRUE(m1->store(batch(1, {11, 12}, 0)).ok());
  auto r = count_when(*m1, [](const auto& c) {
    return c.ledger_owner() == "m1" && c.rows_size() == 1 && c.rows(0).individuals() == 2;
  });
  ASSERT_EQ(r.ledger_owner(), "m1") << r.DebugString();
  auto m2 = open("m2");
  ASSERT_TRUE(m2);

  m1->configure(spec_, false);
  r = count_when(*m2, [](const auto& c) { return c.ledger_owner() == "m2"; });
  EXPECT_EQ(r.ledger_owner(), "m2") << "the member in the override kept the fleet's count";
  ASSERT_TRUE(m1->store(batch(2, {12, 13}, 0)).ok())
      << "the overriding member's batches still go to the fleet";
  r = count_when(*m2, [](const auto& c) { return c.rows_size() == 1 && c.rows(0).individuals() == 3; });
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  EXPECT_EQ(r.rows(0).individuals(), 3U);

  m2->configure(spec_, false);
  m1->configure(spec_, true);
  r = count_when(*m1, [](const auto& c) { return c.ledger_owner() == "m1"; });
  EXPECT_EQ(r.ledger_owner(), "m1");
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  EXPECT_EQ(r.rows(0).individuals(), 3U);
}

// What the owner writes is signed: a value written by whoever can write
// to etcd without a member key (unsigned, or signed by another key, or a
// signed value moved to another key) is neither shown nor acted on, and is
// audited once; the owner's next write puts the fleet's count back.
TEST_F(FleetLedgerOwner, AValueNoMemberKeySignedIsNeitherShownNorActedOn) {
  auto m1 = open("m1");
  ASSERT_TRUE(m1);
  ASSERT_TRUE(m1->store(batch(1, {11, 12}, 0)).ok());
  auto r = count_when(*m1, [](const auto& c) { return c.rows_size() == 1 && c.rows(0).individuals() == 2; });
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  auto m1_key = ftz::keys::SigningKey::load_or_generate(dir_.file("m1.key"));
  ASSERT_TRUE(m1_key);
  EXPECT_EQ(r.signed_by(), m1_key->key_id());

  const ftz::fleet::FleetKeys keys("lab");
  auto etcd = client();
  ASSERT_TRUE(etcd);
  auto outsider = ftz::keys::SigningKey::load_or_generate(dir_.file("outsider.key"));
  ASSERT_TRUE(outsider);
  pb::ThresholdStates exceeded;
  auto* t = exceeded.add_tenants();
  t->set_name("harbor");
  t->set_state(pb::THRESHOLD_STATE_EXCEEDED);
  const std::string payload = exceeded.SerializeAsString();
  const auto given = [&] {
    const std::lock_guard lock(audit_mu_);
    return states_.size();
  };
  const auto refused = [&] { return audited("fleet_ledger_refused").size(); };
  for (int n = 0; n < 30 && given() == 0; ++n) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GT(given(), 0U) << "the owner's own states never reached its data planes";
  // Raw states, then states signed by a key the fleet does not trust, then
  // the owner's own signed summary moved to ledger/states.
  auto summary = etcd->get(keys.ledger_summary());
  ASSERT_TRUE(summary && summary->has_value());
  const std::vector<std::string> forged{
      payload,
      ftz::fleet::format_ledger_value(
          {payload, ftz::keys::make_detached(
                        *outsider, ftz::fleet::ledger_signed_content(keys.ledger_states(), payload))}),
      (*summary)->value};
  for (size_t i = 0; i < forged.size(); ++i) {
    const size_t before = given();
    ASSERT_TRUE(etcd->put(keys.ledger_states(), forged[i]));
    for (int n = 0; n < 30 && refused() < i + 1; ++n)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(refused(), i + 1) << "forgery " << i << " was not refused";
    EXPECT_EQ(given(), before) << "forgery " << i << " reached the data planes";
    // A good value in between, so that the next forgery is said again.
    const std::string normal = pb::ThresholdStates().SerializeAsString();
    ASSERT_TRUE(etcd->put(
        keys.ledger_states(),
        ftz::fleet::format_ledger_value(
            {normal, ftz::keys::make_detached(
                         *m1_key, ftz::fleet::ledger_signed_content(keys.ledger_states(), normal))})));
    for (int n = 0; n < 30 && given() == before; ++n)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_GT(given(), before) << "a signed value was not taken";
  }

  // A forged count is not shown.
  ASSERT_TRUE(etcd->put(keys.ledger_summary(), r.SerializeAsString()));
  pb::ShowComplianceReply shown;
  const grpc::Status st = m1->show(0, &shown);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_NE(st.error_message().find("not a JSON object"), std::string::npos) << st.error_message();
  // The owner's next write (a new batch) puts the fleet's count back.
  ASSERT_TRUE(m1->store(batch(2, {13}, 0)).ok());
  r = count_when(*m1, [](const auto& c) { return c.rows_size() == 1 && c.rows(0).individuals() == 3; });
  ASSERT_EQ(r.rows_size(), 1) << r.DebugString();
  EXPECT_EQ(r.rows(0).individuals(), 3U);
}

// A notice is audited by the owner that raised it, once. An owner that
// raised one and stopped before auditing it (the key says "raised", not
// "audited") leaves it to the next owner, which audits it; an "audited"
// that no member key signed silences nothing.
TEST_F(FleetLedgerOwner, ANoticeItsOwnerRaisedButNeverAuditedIsAuditedByTheNextOwner) {
  auto m1 = open("m1");
  ASSERT_TRUE(m1);
  ASSERT_TRUE(m1->store(batch(1, {11, 12, 13}, 0)).ok());
  const auto notices = [&] { return audited("compliance_notice").size(); };
  auto etcd = client();
  ASSERT_TRUE(etcd);
  const ftz::fleet::FleetKeys keys("lab");
  // The notice keys' states ("MEMBER MS N raised|audited", signed).
  const auto notice_states = [&] {
    std::vector<std::pair<std::string, std::string>> out;
    auto listed = etcd->list(keys.notices());
    EXPECT_TRUE(listed) << listed.error();
    if (!listed) return out;
    for (const auto& kv : listed->kvs) {
      auto v = ftz::fleet::parse_ledger_value(kv.value, kv.key);
      out.emplace_back(kv.key, v ? v->payload : "(unsigned) " + kv.value);
    }
    return out;
  };
  const auto all_audited = [&] {
    const auto states = notice_states();
    return !states.empty() && std::all_of(states.begin(), states.end(),
                                          [](const auto& kv) { return kv.second.ends_with(" audited"); });
  };
  for (int n = 0; n < 50 && !(notices() > 0 && all_audited()); ++n)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const size_t raised = notices();
  ASSERT_GT(raised, 0U);
  auto states = notice_states();
  ASSERT_EQ(states.size(), raised);
  ASSERT_TRUE(all_audited());

  // Counts everything again (a new configuration): once its count is
  // rebuilt, and a tick has evaluated it, the notices in `want` are audited.
  const auto recount = [&](size_t want) {
    const size_t rebuilt = audited("fleet_ledger_owner").size();
    m1->configure(spec_, true);
    for (int n = 0; n < 50 && audited("fleet_ledger_owner").size() == rebuilt; ++n)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int n = 0; n < 50 && !(notices() >= want && all_audited()); ++n)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // nothing more comes
    return notices();
  };
  EXPECT_EQ(recount(raised), raised) << "an audited notice was audited again";

  // m0 raised it and was killed before it audited it.
  auto m2_key = ftz::keys::SigningKey::load_or_generate(dir_.file("m2.key"));
  ASSERT_TRUE(m2_key);
  const std::string key = states[0].first;
  const auto signed_value = [&](const std::string& payload) {
    return ftz::fleet::format_ledger_value(
        {payload, ftz::keys::make_detached(*m2_key, ftz::fleet::ledger_signed_content(key, payload))});
  };
  ASSERT_TRUE(etcd->put(key, signed_value("m0 1 1 raised")));
  ASSERT_EQ(recount(raised + 1), raised + 1) << "the notice m0 raised was not audited by the next owner";
  EXPECT_EQ(audited("compliance_notice").back().value("fleet_raised_by", ""), "m0");
  // Marked audited without a member key: it is audited all the same.
  ASSERT_TRUE(etcd->put(key, "x 1 1 audited"));
  ASSERT_EQ(recount(raised + 2), raised + 2) << "an unsigned value silenced a notice";
  EXPECT_EQ(audited("compliance_notice").back().value("fleet_raised_by", ""), "(no member key signed it)");
  EXPECT_TRUE(all_audited());
}

// A member whose clock is in a year the fleet has left neither keeps the
// fleet's count (it would count, and write, a year gone) nor stores its
// batches under that year (the owner deletes old years' batches).
TEST_F(FleetLedgerOwner, AMemberWhoseClockIsBehindTheFleetsYearStoresUnderItAndDoesNotCount) {
  now_ms_ = kNewYear2027Ms + 60'000;
  auto m1 = open("m1");
  ASSERT_TRUE(m1);
  ASSERT_TRUE(m1->store(batch(1, {11}, 0)).ok());
  auto r = count_when(*m1, [](const auto& c) { return c.year() == 2027 && c.rows_size() == 1; });
  ASSERT_EQ(r.year(), 2027) << r.DebugString();
  m1.reset();                                        // nobody keeps the count: m2 would take it over
  auto m2 = open("m2", -int64_t{365} * 86'400'000);  // still in 2026
  for (int n = 0; n < 50 && audited("fleet_clock_behind").empty(); ++n)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto behind = audited("fleet_clock_behind");
  ASSERT_EQ(behind.size(), 1U);
  EXPECT_EQ(behind[0]["fleet_year"], 2027);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // a campaign a second
  EXPECT_EQ(audited("fleet_ledger_owner").size(), 1U) << "the member behind took the count over";
  ASSERT_TRUE(m2->store(batch(2, {12}, 0)).ok());
  EXPECT_EQ(batch_years(), (std::set<int32_t>{2027}));
}

}  // namespace
