#include "ftz/store/config_store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ftz/base/atomic_file.hpp"
#include "ftz/keys/encoding.hpp"
#include "ftz/test/files.hpp"

namespace ftz::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1'780'000'000;  // 2026-05-28, Unix seconds

std::string config_of(int n) {
  return "# generation text " + std::to_string(n) + "\nzones:\n  - name: z" + std::to_string(n) + "\n";
}

class ConfigStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.file("state");
  }
  // gtest reports the exception as the test's failure.
  ConfigStore open_ok() {
    auto s = ConfigStore::open(dir_);
    if (!s) throw std::runtime_error("open: " + s.error().message);
    return std::move(*s);
  }
  // What a daemon restart does: the lock is released, then taken again.
  void reopen(ConfigStore& s) {
    { ConfigStore gone = std::move(s); }
    s = open_ok();
  }
  void init_ok() {
    auto r = ConfigStore::init(dir_, {config_of(1)}, "secadmin", kT0);
    ASSERT_TRUE(r) << r.error().message;
  }
  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  test::TempDir tmp_{"store"};
  std::string dir_;
};

TEST_F(ConfigStoreTest, InitMakesGenerationOneWithItsHash) {
  init_ok();
  ConfigStore s = open_ok();
  EXPECT_EQ(s.running_generation(), 1u);
  ASSERT_EQ(*s.running_text(), config_of(1));
  auto h = s.history();
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), 1u);
  EXPECT_EQ((*h)[0].user, "secadmin");
  EXPECT_EQ((*h)[0].time_s, kT0);
  EXPECT_EQ((*h)[0].based_on, 0u);
  // `printf '# generation text 1\nzones:\n  - name: z1\n' | sha256sum`
  EXPECT_EQ((*h)[0].sha256, "12305305edccbc0672abe6c0e1ff6f8a64d4abea177f7391d422e0e2f9696060");
}

TEST_F(ConfigStoreTest, InitTwiceAndOpenUninitialisedAreRefused) {
  auto none = ConfigStore::open(dir_);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, StoreErrc::kNotInitialised);
  EXPECT_NE(none.error().message.find("--init"), std::string::npos) << none.error().message;
  init_ok();
  auto again = ConfigStore::init(dir_, {config_of(9)}, "secadmin", kT0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, StoreErrc::kAlreadyInitialised);
  EXPECT_EQ(*open_ok().running_text(), config_of(1));
}

TEST_F(ConfigStoreTest, OneProcessHoldsTheStateDirectory) {
  init_ok();
  ConfigStore s = open_ok();
  // Another process (flock is per open file, so a second open here would
  // conflict as well; a child is what a second daemon is).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto other = ConfigStore::open(dir_);
    const bool locked =
        !other && other.error().code == StoreErrc::kLocked &&
        other.error().message.find("(pid " + std::to_string(::getppid()) + ")") != std::string::npos;
    ::_exit(locked ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a second process opened the store";
  // Released with the store: the next owner gets it.
  { ConfigStore gone = std::move(s); }
  EXPECT_TRUE(ConfigStore::open(dir_));
}

TEST_F(ConfigStoreTest, CommitsGrowTheGenerationAndAStaleCandidateIsRefused) {
  init_ok();
  ConfigStore s = open_ok();
  ASSERT_TRUE(s.save_candidate("alice", Candidate{1, config_of(2), {}}));
  ASSERT_TRUE(s.save_candidate("bob", Candidate{1, config_of(3), {}}));
  auto a = s.commit("alice", {s.candidate("alice")->value().text}, 1, "harbor rule", kT0 + 10);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->generation, 2u);
  EXPECT_FALSE(s.candidate("alice")->has_value()) << "the commit consumes the candidate";
  // Bob edited generation 1, which is no longer running.
  auto b = s.commit("bob", {s.candidate("bob")->value().text}, 1, "", kT0 + 20);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, StoreErrc::kStale);
  EXPECT_NE(b.error().message.find("generation 2"), std::string::npos) << b.error().message;
  EXPECT_TRUE(s.candidate("bob")->has_value()) << "a refused commit keeps the candidate";
  EXPECT_EQ(*s.running_text(), config_of(2));
  // A rollback is a new generation with an old text.
  auto r = s.commit("bob", {*s.config_text(1)}, 2, "rollback 1", kT0 + 30);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->generation, 3u);
  EXPECT_EQ(r->sha256, s.history()->back().sha256);
  reopen(s);
  EXPECT_EQ(s.running_generation(), 3u);
}

// A fleet's generation (docs/fleet.md): the commit takes the fleet's number
// when it is above every generation here, and is refused otherwise.
TEST_F(ConfigStoreTest, ACommitTakesAFleetsGenerationOnlyAboveItsOwn) {
  init_ok();
  ConfigStore s = open_ok();
  auto jump = s.commit("ftzgated", {config_of(2)}, 1, "fleet generation 7", kT0 + 10, std::nullopt, 7);
  ASSERT_TRUE(jump) << jump.error().message;
  EXPECT_EQ(jump->generation, 7U);
  EXPECT_EQ(s.running_generation(), 7U);
  EXPECT_EQ(s.running_sha256(), jump->sha256);
  auto same = s.commit("ftzgated", {config_of(3)}, 7, "", kT0 + 20, std::nullopt, 7);
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, StoreErrc::kInvalid);
  EXPECT_NE(same.error().message.find("the next is 8"), std::string::npos) << same.error().message;
  EXPECT_EQ(s.running_generation(), 7U) << "a refused number changes nothing";
  auto next = s.commit("ftzgated", {config_of(3)}, 7, "", kT0 + 30);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->generation, 8U);
  reopen(s);
  EXPECT_EQ(s.running_generation(), 8U);
}

TEST_F(ConfigStoreTest, HistoryKeepsTheLastFiftyNewestFirst) {
  init_ok();
  ConfigStore s = open_ok();
  for (int g = 2; g <= 60; ++g)
    ASSERT_TRUE(s.commit("secadmin", {config_of(g)}, s.running_generation(), "", kT0 + g));
  auto h = s.history();
  ASSERT_TRUE(h);
  ASSERT_EQ(h->size(), ConfigStore::kHistory);
  EXPECT_EQ(h->front().generation, 60u);
  EXPECT_EQ(h->back().generation, 11u);
  auto gone = s.config_text(10);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, StoreErrc::kInvalid);
  EXPECT_EQ(*s.config_text(11), config_of(11));
}

TEST_F(ConfigStoreTest, UserNamesCannotNamePaths) {
  init_ok();
  ConfigStore s = open_ok();
  for (const char* bad : {"../running", "a/b", "", ".hidden", "Alice", "x y", "a\n"}) {
    auto r = s.save_candidate(bad, Candidate{1, "x", {}});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StoreErrc::kInvalid);
    EXPECT_FALSE(s.commit(bad, {"x"}, 1, "", kT0));
  }
  EXPECT_TRUE(ConfigStore::valid_user("_svc-1"));
  EXPECT_FALSE(ConfigStore::valid_user(std::string(33, 'a')));
}

TEST_F(ConfigStoreTest, TextThatIsNotUtf8IsRefusedAndNothingChanges) {
  init_ok();
  ConfigStore s = open_ok();
  auto r = s.commit("secadmin", {"zones: \xff\xfe\n"}, 1, "", kT0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StoreErrc::kInvalid);
  EXPECT_EQ(s.running_generation(), 1u);
  reopen(s);
  EXPECT_EQ(s.history()->size(), 1u);
}

// A configuration's included files are kept with each generation, covered by
// its content hash, and come back with a rollback or a confirm timeout.
TEST_F(ConfigStoreTest, IncludedFilesAreKeptAndHashedWithTheirGeneration) {
  init_ok();
  const Files files{{"data/cn.txt", "1.0.1.0/24\n"}, {"signatures/builtin.yaml", "version: 1\n"}};
  {
    ConfigStore s = open_ok();
    auto c = s.commit("secadmin", {config_of(2), files}, 1, "", kT0);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->sha256, content_hash({config_of(2), files}));
    EXPECT_NE(c->sha256, content_hash({config_of(2), {}})) << "the files are part of the hash";
    Files other = files;
    other["data/cn.txt"] = "1.0.2.0/24\n";
    EXPECT_NE(c->sha256, content_hash({config_of(2), other}));
    // Committed confirmed over it, then not confirmed: generation 2's files
    // are back in generation 4.
    ASSERT_TRUE(s.commit("secadmin", {config_of(3)}, 2, "", kT0 + 1, kT0 + 60));
    auto back = s.expire_confirm("ftzgated", kT0 + 60);
    ASSERT_TRUE(back && *back);
    auto restored = s.configuration((*back)->generation);
    ASSERT_TRUE(restored);
    EXPECT_EQ(restored->text, config_of(2));
    EXPECT_EQ(restored->files, files);
  }
  ConfigStore s = open_ok();
  EXPECT_EQ(s.configuration(2)->files, files);
  EXPECT_TRUE(s.configuration(1)->files.empty());
  // A changed byte in a kept file breaks its generation's hash.
  const std::string commit2 = dir_ + "/config/commits/00000000000000000002.json";
  std::string damaged = read(commit2);
  const size_t at = damaged.find(keys::base64_encode("1.0.1.0/24\n"));
  ASSERT_NE(at, std::string::npos);
  damaged.replace(at, 4, keys::base64_encode("2.0."));
  ASSERT_TRUE(base::write_file_atomically(commit2, damaged, 0640));
  auto r = s.configuration(2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StoreErrc::kCorrupt);
  EXPECT_NE(r.error().message.find("SHA-256"), std::string::npos) << r.error().message;
}

TEST_F(ConfigStoreTest, ADamagedFileIsNamedAndNothingIsLost) {
  init_ok();
  {
    ConfigStore s = open_ok();
    ASSERT_TRUE(s.commit("secadmin", {config_of(2)}, 1, "", kT0));
  }
  const std::string commit2 = dir_ + "/config/commits/00000000000000000002.json";
  const std::string running = dir_ + "/config/running";
  const std::string before = read(commit2);
  // One byte of the configuration changed: its hash no longer matches.
  std::string damaged = before;
  damaged[damaged.find("z2")] = 'y';
  ASSERT_TRUE(base::write_file_atomically(commit2, damaged, 0640));
  auto r = ConfigStore::open(dir_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StoreErrc::kCorrupt);
  EXPECT_NE(r.error().message.find(commit2), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("SHA-256"), std::string::npos) << r.error().message;
  EXPECT_EQ(read(commit2), damaged) << "open() must not repair or remove what it cannot trust";
  // A running file that is not JSON.
  ASSERT_TRUE(base::write_file_atomically(commit2, before, 0640));
  const std::string running_before = read(running);
  ASSERT_TRUE(base::write_file_atomically(running, "{\"generation\": 2, \"sha", 0640));
  auto j = ConfigStore::open(dir_);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().code, StoreErrc::kCorrupt);
  EXPECT_NE(j.error().message.find(running), std::string::npos) << j.error().message;
  EXPECT_EQ(read(commit2), before);
  ASSERT_TRUE(base::write_file_atomically(running, running_before, 0640));
  EXPECT_EQ(*open_ok().running_text(), config_of(2));
}

TEST_F(ConfigStoreTest, CommitConfirmedRollsBackUnlessConfirmedAndSurvivesARestart) {
  init_ok();
  {
    ConfigStore s = open_ok();
    auto c = s.commit("secadmin", {config_of(2)}, 1, "try it", kT0, kT0 + 60);
    ASSERT_TRUE(c);
    ASSERT_TRUE(s.pending_confirm());
    EXPECT_EQ(s.pending_confirm()->previous, 1u);
  }
  // The daemon restarted: the deadline is still there.
  ConfigStore s = open_ok();
  ASSERT_TRUE(s.pending_confirm());
  EXPECT_EQ(s.pending_confirm()->generation, 2u);
  EXPECT_EQ(s.pending_confirm()->deadline_s, kT0 + 60);
  auto early = s.expire_confirm("ftzgated", kT0 + 59);
  ASSERT_TRUE(early);
  EXPECT_FALSE(early->has_value());
  EXPECT_EQ(s.running_generation(), 2u);
  auto rolled = s.expire_confirm("ftzgated", kT0 + 60);
  ASSERT_TRUE(rolled) << rolled.error().message;
  ASSERT_TRUE(rolled->has_value());
  EXPECT_EQ((*rolled)->generation, 3u) << "a rollback is a new generation";
  EXPECT_EQ(*s.running_text(), config_of(1));
  EXPECT_FALSE(s.pending_confirm());
  EXPECT_NE((*rolled)->comment.find("generation 2"), std::string::npos);

  // Confirmed in time: stays.
  ASSERT_TRUE(s.commit("secadmin", {config_of(4)}, 3, "", kT0 + 100, kT0 + 160));
  ASSERT_TRUE(s.confirm());
  EXPECT_FALSE(s.expire_confirm("ftzgated", kT0 + 1000)->has_value());
  EXPECT_EQ(*s.running_text(), config_of(4));
  auto none = s.confirm();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, StoreErrc::kNoPendingConfirm);
  // A plain commit confirms a pending one (Junos).
  ASSERT_TRUE(s.commit("secadmin", {config_of(5)}, 4, "", kT0 + 200, kT0 + 260));
  ASSERT_TRUE(s.commit("secadmin", {config_of(6)}, 5, "", kT0 + 210));
  EXPECT_FALSE(s.pending_confirm());
  reopen(s);
  EXPECT_FALSE(s.pending_confirm());
}

// kill -9 at every fault point of a commit (each step of the two durable
// writes and the commit's own): afterwards the store opens, runs either the
// old configuration or the new one, whole, and the next commit works with a
// generation above both.
int g_kill_at = 0;
int g_seen = 0;
void kill_at_nth(std::string_view) {
  if (++g_seen == g_kill_at) ::raise(SIGKILL);
}

TEST_F(ConfigStoreTest, AKillAtAnyStepOfACommitLeavesTheOldOrTheNewRunningConfig) {
  init_ok();
  int outcomes[2] = {0, 0};  // old, new
  for (int n = 1;; ++n) {
    uint64_t before = 0;
    {
      ConfigStore s = open_ok();
      before = s.running_generation();
    }
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = ConfigStore::open(dir_);
      if (!s) ::_exit(3);
      g_kill_at = n;
      base::set_fault_hook(kill_at_nth);
      auto c = s->commit("secadmin", {config_of(100 + n)}, before, "", kT0 + n);
      ::_exit(c ? 0 : 4);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status)) {
      // Past the last fault point: the commit completed.
      ASSERT_EQ(WEXITSTATUS(status), 0);
      ASSERT_GT(n, 6) << "fewer fault points than the two writes and the commit have";
      break;
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ConfigStore s = open_ok();
    const std::string text = *s.running_text();
    if (s.running_generation() == before) {
      EXPECT_NE(text, config_of(100 + n)) << "kill at fault point " << n;
      ++outcomes[0];
    } else {
      EXPECT_EQ(text, config_of(100 + n)) << "kill at fault point " << n;
      ++outcomes[1];
    }
    // Nothing of the interrupted commit is left beside the running state.
    for (const auto& e : fs::recursive_directory_iterator(dir_ + "/config"))
      EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path() << " at fault point " << n;
    auto next = s.commit("secadmin", {config_of(200 + n)}, s.running_generation(), "", kT0 + n);
    ASSERT_TRUE(next) << next.error().message;
    EXPECT_GT(next->generation, before);
  }
  EXPECT_GT(outcomes[0], 0) << "no kill left the old configuration running";
  EXPECT_GT(outcomes[1], 0) << "no kill left the new configuration running";
}

}  // namespace
}  // namespace ftz::store
