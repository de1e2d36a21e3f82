#include "ftz/audit/audit_log.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ftz/base/atomic_file.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/test/files.hpp"

namespace ftz::audit {
namespace {

namespace fs = std::filesystem;

// 2026-01-01T00:00:00+08:00 = 2025-12-31T16:00:00Z.
constexpr int64_t kNewYear2026Ms = int64_t{1'767'196'800} * 1000;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    root_ = tmp_.path();
    dir_ = root_ + "/audit";
    auto k = keys::SigningKey::load_or_generate(root_ + "/device.key");
    ASSERT_TRUE(k) << k.error();
    key_ = std::make_unique<keys::SigningKey>(std::move(*k));
    pem_ = key_->public_pem();
  }
  AuditLog open_ok(Options o = {}) {
    auto l = AuditLog::open(dir_, *key_, kNewYear2026Ms, o);
    if (!l) throw std::runtime_error(l.error());
    return std::move(*l);
  }
  static Event event(int i) {
    Event e;
    e.user = i % 2 ? "secadmin" : "sysadmin";
    e.role = e.user;
    e.source = "unix";
    e.event_type = "commit";
    e.details = {{"generation", i}, {"comment", "change " + std::to_string(i)}};
    return e;
  }
  // Writes `n` records one second apart (checkpoints as the options say).
  void fill(int n, Options o = {}) {
    AuditLog log = open_ok(o);
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(log.append(event(i), kNewYear2026Ms + i * 1000));
  }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename().string().starts_with("audit-")) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  static void write_lines(const std::string& path, const std::vector<std::string>& ls) {
    std::ofstream out(path, std::ios::trunc);
    for (const auto& l : ls) out << l << '\n';
  }
  test::TempDir tmp_{"audit"};
  std::string root_, dir_, pem_;
  std::unique_ptr<keys::SigningKey> key_;
};

TEST(AuditTime, ShanghaiRfc3339WithMilliseconds) {
  EXPECT_EQ(format_time(kNewYear2026Ms), "2026-01-01T00:00:00.000+08:00");
  EXPECT_EQ(format_time(kNewYear2026Ms - 1), "2025-12-31T23:59:59.999+08:00");
  EXPECT_EQ(format_time(0), "1970-01-01T08:00:00.000+08:00");
}

// An SM2 device key (ftzgated --init --key-algorithm sm2) signs the
// checkpoints; a rewritten checkpoint signature is found.
TEST_F(AuditLogTest, Sm2SignedCheckpointsVerify) {
  auto k = keys::SigningKey::load_or_generate(root_ + "/sm2.key", keys::Algorithm::kSm2Sm3);
  ASSERT_TRUE(k) << k.error();
  key_ = std::make_unique<keys::SigningKey>(std::move(*k));
  pem_ = key_->public_pem();
  Options o;
  o.checkpoint_every = 100;
  fill(250, o);
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.checkpoints, 2u);
  auto ed = keys::SigningKey::load_or_generate(root_ + "/ed.key");
  ASSERT_TRUE(ed);
  EXPECT_FALSE(verify(dir_, ed->public_pem()).ok) << "an Ed25519 key verified SM2 checkpoints";
}

TEST_F(AuditLogTest, ACleanLogVerifiesWithItsCheckpoints) {
  Options o;
  o.checkpoint_every = 100;
  fill(250, o);
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.checkpoints, 2u);
  EXPECT_EQ(r.records, 252u);
  EXPECT_EQ(r.unsigned_tail, 50u);
  // Every field the issue names, in order, and the hash is SHA-256 of the
  // bytes before it (computed here with OpenSSL directly).
  const auto ls = lines(files().at(0));
  const std::string& first = ls.at(0);
  EXPECT_EQ(
      first.rfind("{\"seq\":1,\"time\":\"2026-01-01T00:00:01.000+08:00\",\"user\":\"secadmin\",\"role\":"
                  "\"secadmin\",\"source\":\"unix\",\"event_type\":\"commit\",\"success\":true,\"details\":",
                  0),
      0u)
      << first;
  const size_t cut = first.find(",\"hash\":\"");
  unsigned char md[32];
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(first.data(), cut, md, &len, EVP_sha256(), nullptr), 1);
  char hex[65];
  for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  EXPECT_EQ(first.substr(cut + 9, 64), std::string(hex));
  EXPECT_NE(first.find("\"prev_hash\":\"" + std::string(64, '0') + "\""), std::string::npos);
}

TEST_F(AuditLogTest, ACheckpointComesEveryFiveMinutesToo) {
  AuditLog log = open_ok();
  ASSERT_TRUE(log.append(event(1), kNewYear2026Ms + 1000));
  ASSERT_TRUE(log.checkpoint_if_due(kNewYear2026Ms + 299'000));
  EXPECT_EQ(log.last_seq(), 1u) << "not due yet";
  ASSERT_TRUE(log.checkpoint_if_due(kNewYear2026Ms + 300'000));
  EXPECT_EQ(log.last_seq(), 2u);
  ASSERT_TRUE(log.checkpoint_if_due(kNewYear2026Ms + 900'000));
  EXPECT_EQ(log.last_seq(), 2u) << "nothing to sign since the last checkpoint";
  EXPECT_EQ(verify(dir_, pem_).checkpoints, 1u);
}

// Each tampering the issue lists is found, and the report names the first
// record it affects.
struct Tamper {
  const char* name;
  void (*apply)(std::vector<std::string>&);
  const char* problem;  // a word of the report's problem
  const char* where;    // its location
};

TEST_F(AuditLogTest, TamperingIsFoundAndTheFirstAffectedRecordNamed) {
  const Tamper cases[] = {
      {"modified", [](auto& l) { l[9].replace(l[9].find("change 10"), 9, "change 99"); }, "modified", ":10"},
      {"deleted", [](auto& l) { l.erase(l.begin() + 4); }, "deleted", ":5 (seq 6)"},
      {"inserted", [](auto& l) { l.insert(l.begin() + 7, l[2]); }, "inserted", ":8 (seq 3)"},
      {"swapped", [](auto& l) { std::swap(l[11], l[12]); }, "moved", ":12 (seq 13)"},
      {"truncated", [](auto& l) { l.resize(l.size() - 3); }, "truncated", ""},
      {"cut mid-record", [](auto& l) { l.back().resize(l.back().size() / 2); }, "modified", ":20"},
  };
  for (const Tamper& t : cases) {
    fs::remove_all(dir_);
    fill(20);
    const std::string f = files().at(0);
    auto ls = lines(f);
    ASSERT_EQ(ls.size(), 20u) << "no checkpoint is due within 20 s";
    t.apply(ls);
    write_lines(f, ls);
    const VerifyReport r = verify(dir_, pem_);
    EXPECT_FALSE(r.ok) << t.name;
    EXPECT_NE(r.problem.find(t.problem), std::string::npos) << t.name << ": " << r.problem;
    EXPECT_NE(r.where.find(t.where), std::string::npos) << t.name << ": " << r.where;
  }
}

// A member's checkpoints anchored in its fleet's etcd catch what the device
// key alone cannot: a log made again from scratch (chain and signatures
// valid, by whoever holds the key), and a log deleted and started afresh.
TEST_F(AuditLogTest, FleetAnchorsCatchALogMadeAgainWithTheDeviceKeyOrStartedAfresh) {
  Options o;
  o.checkpoint_every = 10;
  fill(15, o);
  std::vector<FleetAnchor> anchors;
  for (const std::string& l : lines(files().at(0))) {
    const auto j = nlohmann::json::parse(l);
    if (j["event_type"] == "checkpoint")
      anchors.push_back({j["seq"].get<uint64_t>(), j["hash"].get<std::string>()});
  }
  ASSERT_EQ(anchors.size(), 1u);
  EXPECT_EQ(anchors[0].seq, 11u);
  VerifyReport r = verify(dir_, pem_, anchors);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;

  // Made again, as valid as the first to verify() alone.
  fs::remove_all(dir_);
  {
    AuditLog log = open_ok(o);
    for (int i = 1; i <= 15; ++i) ASSERT_TRUE(log.append(event(100 + i), kNewYear2026Ms + i * 1000));
  }
  EXPECT_TRUE(verify(dir_, pem_).ok);
  r = verify(dir_, pem_, anchors);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("rewritten"), std::string::npos) << r.problem;
  EXPECT_NE(r.where.find("(seq 11)"), std::string::npos) << r.where;

  // Deleted and started afresh: shorter than what was anchored.
  fs::remove_all(dir_);
  fill(5, o);
  EXPECT_TRUE(verify(dir_, pem_).ok);
  r = verify(dir_, pem_, anchors);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("anchored seq 11"), std::string::npos) << r.problem;
}

TEST_F(AuditLogTest, RewritingTheWholeChainIsCaughtByTheSignedCheckpoint) {
  Options o;
  o.checkpoint_every = 10;
  fill(15, o);
  const std::string f = files().at(0);
  auto ls = lines(f);
  // The forger changes record 3 and recomputes every hash after it (SHA-256
  // needs no key): only the checkpoint's signature can tell.
  ls[2].replace(ls[2].find("change 3"), 8, "change X");
  std::string prev(64, '0');
  for (auto& l : ls) {
    const size_t p = l.find("\"prev_hash\":\"") + 13;
    l.replace(p, 64, prev);
    const size_t cut = l.find(",\"hash\":\"");
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(l.data(), cut, md, &len, EVP_sha256(), nullptr);
    char hex[65];
    for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
    l.replace(cut + 9, 64, hex);
    prev = hex;
  }
  write_lines(f, ls);
  std::ofstream(dir_ + "/head") << "{\"seq\":16,\"hash\":\"" << prev << "\"}\n";
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("signature"), std::string::npos) << r.problem;
  EXPECT_NE(r.where.find("(seq 11)"), std::string::npos) << r.where;
  // Another device's key does not verify this device's log either.
  fs::remove_all(dir_);
  fill(15, o);
  auto other = keys::SigningKey::load_or_generate(root_ + "/other.key");
  ASSERT_TRUE(other);
  const VerifyReport wrong = verify(dir_, other->public_pem());
  EXPECT_FALSE(wrong.ok);
  EXPECT_NE(wrong.problem.find(other->key_id()), std::string::npos) << wrong.problem;
}

TEST_F(AuditLogTest, RotationContinuesTheChainAndADeletedFileIsFound) {
  Options o;
  o.rotate_bytes = 2000;
  fill(40, o);
  const auto fs_ = files();
  ASSERT_GE(fs_.size(), 4u);
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.last_seq, 40u);
  fs::remove(fs_[1]);
  const VerifyReport gone = verify(dir_, pem_);
  EXPECT_FALSE(gone.ok);
  EXPECT_NE(gone.problem.find("missing"), std::string::npos) << gone.problem;
  EXPECT_NE(gone.where, "") << gone.problem;
}

TEST_F(AuditLogTest, ReopeningContinuesTheChainAndRemovesAHalfWrittenRecord) {
  fill(5);
  // A crash in the middle of write(2): half a line, never acknowledged.
  {
    std::ofstream out(files().at(0), std::ios::app);
    out << "{\"seq\":6,\"time\":\"2026";
  }
  {
    AuditLog log = open_ok();
    EXPECT_EQ(log.last_seq(), 5u);
    ASSERT_TRUE(log.append(event(6), kNewYear2026Ms + 6000));
  }
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.last_seq, 6u);
}

TEST_F(AuditLogTest, ALogShorterThanItsHeadIsRefusedAtOpen) {
  fill(8);
  auto ls = lines(files().at(0));
  ls.pop_back();
  write_lines(files().at(0), ls);
  auto l = AuditLog::open(dir_, *key_, kNewYear2026Ms);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().find("truncated"), std::string::npos) << l.error();
}

TEST_F(AuditLogTest, ARecordThatCannotBeWrittenIsAnErrorAndLeavesNoTrace) {
  fill(3);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Files may not grow: write(2) fails with EFBIG.
    ::signal(SIGXFSZ, SIG_IGN);
    auto log = AuditLog::open(dir_, *key_, kNewYear2026Ms);
    if (!log) ::_exit(3);
    struct stat st {};
    ::stat(files().at(0).c_str(), &st);
    const rlimit none{static_cast<rlim_t>(st.st_size), static_cast<rlim_t>(st.st_size)};
    ::setrlimit(RLIMIT_FSIZE, &none);
    auto r = log->append(event(4), kNewYear2026Ms + 4000);
    ::_exit(!r && r.error().find("cannot write") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the failed write was not reported";
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.last_seq, 3u);
}

TEST_F(AuditLogTest, ReadRecordsKeepsTheNewestFromATime) {
  fill(20);
  Records r = read_records(dir_, kNewYear2026Ms + 10'000, 100, size_t{1} << 20);
  EXPECT_EQ(r.matched, 11u);
  ASSERT_EQ(r.lines.size(), 11u);
  EXPECT_NE(r.lines.front().find("\"seq\":10,"), std::string::npos) << r.lines.front();
  r = read_records(dir_, 0, 5, size_t{1} << 20);
  EXPECT_EQ(r.matched, 20u);
  ASSERT_EQ(r.lines.size(), 5u);
  EXPECT_NE(r.lines.front().find("\"seq\":16,"), std::string::npos) << r.lines.front();
  // A byte budget of about two records keeps the newest that fit.
  r = read_records(dir_, 0, 100, lines(files().at(0)).back().size() * 2 + 10);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_NE(r.lines.back().find("\"seq\":20,"), std::string::npos);
}

// Retention: one record a file (rotate_bytes 1), event i at New Year + i s,
// a signed checkpoint after every second event, so that file N holds seq N:
// 1, 2, checkpoint 3, 4, 5, checkpoint 6, ... The monotonic clock is the
// test's: retain() moves it with the wall clock.
class AuditRetentionTest : public AuditLogTest {
 protected:
  static constexpr int64_t kDayMs = int64_t{86400} * 1000;
  Options options(uint64_t checkpoint_every = 2) {
    Options o;
    o.rotate_bytes = 1;
    o.retention_check_interval_ms = 0;
    o.checkpoint_every = checkpoint_every;
    o.steady_ms = [this] { return steady_; };
    return o;
  }
  AuditLog open_log(uint64_t checkpoint_every = 2) {
    steady_ = kNewYear2026Ms;
    return open_ok(options(checkpoint_every));
  }
  tl::expected<Retention, std::string> retain(AuditLog& log, int64_t now_ms) {
    steady_ = now_ms;
    return log.apply_retention(now_ms);
  }
  // When a file whose newest record is at `ms` is exactly at the cut-off.
  static int64_t when_cutoff_is(int64_t ms) { return ms + kMinRetentionDays * kDayMs; }
  // The first seq of every file, in order.
  std::vector<uint64_t> first_seqs() const {
    std::vector<uint64_t> out;
    for (const std::string& f : files())
      out.push_back(std::stoull(fs::path(f).filename().string().substr(6, 20)));
    return out;
  }
  int64_t steady_ = kNewYear2026Ms;
};

TEST_F(AuditRetentionTest, FilesOlderThanRetentionGoBehindASignedAnchorAndTheChainStillVerifies) {
  fill(10, options());
  AuditLog log = open_log();
  // Event 5 (seq 7) is exactly at the cut-off: kept; seqs 1..6 go.
  auto first = retain(log, when_cutoff_is(kNewYear2026Ms + 5000));
  ASSERT_TRUE(first) << first.error();
  EXPECT_EQ(first->through_seq, 6u);
  EXPECT_EQ(first->files.size(), 6u);
  EXPECT_EQ(first_seqs().front(), 7u);
  // One millisecond later seq 7 goes too.
  auto second = retain(log, when_cutoff_is(kNewYear2026Ms + 5001));
  ASSERT_TRUE(second) << second.error();
  EXPECT_EQ(second->through_seq, 7u);
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.removed_through, 7u);
  EXPECT_EQ(r.last_seq, 17u) << "15 records and 2 audit_retention records";
  EXPECT_EQ(r.records, 10u);
  // The retention records name what they removed.
  const auto last = lines(files().back());
  ASSERT_EQ(last.size(), 1u);
  EXPECT_NE(last[0].find("\"event_type\":\"audit_retention\""), std::string::npos) << last[0];
  EXPECT_NE(last[0].find("\"through_seq\":7"), std::string::npos) << last[0];
  // And the log goes on after reopening.
  log = open_log();
  ASSERT_TRUE(log.append(event(11), kNewYear2026Ms + 500 * kDayMs));
  EXPECT_TRUE(verify(dir_, pem_).ok);
}

// What goes is covered by a signature after it: until a checkpoint follows
// the files that would go, nothing does.
TEST_F(AuditRetentionTest, NothingGoesUntilASignedCheckpointFollows) {
  fill(6, options(1000));
  AuditLog log = open_log(1000);
  const int64_t later = kNewYear2026Ms + 400 * kDayMs;
  auto none = retain(log, later);
  ASSERT_TRUE(none) << none.error();
  EXPECT_TRUE(none->files.empty());
  EXPECT_EQ(first_seqs().front(), 1u);
  ASSERT_TRUE(log.append(event(7), later));  // 5 minutes since the last: a checkpoint follows it
  auto some = retain(log, later);
  ASSERT_TRUE(some) << some.error();
  EXPECT_EQ(some->through_seq, 6u);
  EXPECT_TRUE(verify(dir_, pem_).ok);
}

TEST_F(AuditRetentionTest, APassRemovesAtMostEightFilesAndNeverTheNewest) {
  fill(20, options());
  AuditLog log = open_log();
  auto r = retain(log, kNewYear2026Ms + 400 * kDayMs);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->files.size(), kMaxFilesPerPass);
  for (int pass = 0; pass < 10; ++pass) ASSERT_TRUE(retain(log, kNewYear2026Ms + 400 * kDayMs));
  EXPECT_GE(files().size(), 1u);
  EXPECT_TRUE(verify(dir_, pem_).ok);
}

// A wall clock set ahead (by mistake, or by someone who wants old records
// gone) removes nothing: retention goes by the log's own time, and says so
// once.
TEST_F(AuditRetentionTest, AWallClockSetAheadRemovesNothing) {
  fill(6, options());
  AuditLog log = open_log();
  const size_t before = files().size();
  auto r = log.apply_retention(kNewYear2026Ms + 400 * kDayMs);  // the monotonic clock did not move
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->files.empty());
  ASSERT_EQ(files().size(), before + 1);
  const auto said = lines(files().back());
  EXPECT_NE(said[0].find("the wall clock is ahead"), std::string::npos) << said[0];
  EXPECT_NE(said[0].find("\"success\":false"), std::string::npos);
  ASSERT_TRUE(log.apply_retention(kNewYear2026Ms + 401 * kDayMs));
  EXPECT_EQ(files().size(), before + 1) << "said once";
}

TEST_F(AuditRetentionTest, ADeletedForgedOrBypassedAnchorIsFound) {
  fill(6, options());
  {
    AuditLog log = open_log();
    auto r = retain(log, when_cutoff_is(kNewYear2026Ms + 4000));
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->through_seq, 4u);
  }
  const std::string anchor = dir_ + "/anchor";
  const auto good = lines(anchor);
  ASSERT_EQ(good.size(), 1u);
  ASSERT_TRUE(verify(dir_, pem_).ok);

  fs::remove(anchor);
  VerifyReport r = verify(dir_, pem_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("records 1..4 are missing"), std::string::npos) << r.problem;

  // Claiming more records went by retention than did, to hide a deletion.
  auto forged = good;
  forged[0].replace(forged[0].find("\"seq\":4"), 7, "\"seq\":5");
  write_lines(anchor, forged);
  r = verify(dir_, pem_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.where, "anchor");
  EXPECT_NE(r.problem.find("signature does not verify"), std::string::npos) << r.problem;
  // Another device's anchor does not verify here either.
  auto other = keys::SigningKey::load_or_generate(root_ + "/other.key");
  ASSERT_TRUE(other);
  write_lines(anchor, good);
  EXPECT_FALSE(verify(dir_, other->public_pem()).ok);

  // A file made up (or put back) below the anchor: found, and not shown.
  write_lines(dir_ + "/audit-00000000000000000001.jsonl",
              {"{\"seq\":1,\"time\":\"2026-01-01T00:00:01.000+08:00\"}"});
  r = verify(dir_, pem_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("put back or made up"), std::string::npos) << r.problem;
  for (const std::string& line : read_records(dir_, 0, 100, size_t{1} << 20).lines)
    EXPECT_EQ(line.find("\"seq\":1,"), std::string::npos) << line;
}

TEST_F(AuditRetentionTest, ATamperedOldFileIsKeptAndTheRefusalRecorded) {
  fill(6, options());
  const std::string second = dir_ + "/audit-00000000000000000002.jsonl";
  auto ls = lines(second);
  ls[0].replace(ls[0].find("change 2"), 8, "change 9");
  write_lines(second, ls);
  AuditLog log = open_log();
  const size_t before = files().size();
  auto r = retain(log, kNewYear2026Ms + 400 * kDayMs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("audit-00000000000000000002.jsonl:1"), std::string::npos) << r.error();
  EXPECT_EQ(files().size(), before + 1) << "every file kept, the refusal recorded in a new one";
  EXPECT_FALSE(fs::exists(dir_ + "/anchor"));
  const auto refusal = lines(files().back());
  ASSERT_EQ(refusal.size(), 1u);
  EXPECT_NE(refusal[0].find("\"event_type\":\"audit_retention\""), std::string::npos);
  EXPECT_NE(refusal[0].find("\"success\":false"), std::string::npos);
  const VerifyReport v = verify(dir_, pem_);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.where.find("audit-00000000000000000002.jsonl:1"), std::string::npos) << v.where;
}

void exit_at_anchor(std::string_view step) {
  if (step == "audit-anchor-written") ::_exit(9);
}

TEST_F(AuditRetentionTest, ACrashAfterTheAnchorIsFinishedAtOpen) {
  fill(6, options());
  const size_t before = files().size();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    AuditLog log = open_log();
    base::set_fault_hook(exit_at_anchor);
    (void)retain(log, when_cutoff_is(kNewYear2026Ms + 4000));
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 9) << "the fault point was not reached";
  EXPECT_EQ(files().size(), before + 1) << "the record and the anchor are written, no file removed yet";
  EXPECT_FALSE(verify(dir_, pem_).ok) << "files the anchor covers are still there";
  AuditLog log = open_log();
  EXPECT_EQ(first_seqs().front(), 5u);
  const VerifyReport r = verify(dir_, pem_);
  EXPECT_TRUE(r.ok) << r.problem << " at " << r.where;
  EXPECT_EQ(r.removed_through, 4u);
}

TEST_F(AuditRetentionTest, LessThanSixMonthsIsRefused) {
  Options o;
  o.retention_days = kMinRetentionDays - 1;
  auto l = AuditLog::open(dir_, *key_, kNewYear2026Ms, o);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().find("at least six months"), std::string::npos) << l.error();
}

}  // namespace
}  // namespace ftz::audit
