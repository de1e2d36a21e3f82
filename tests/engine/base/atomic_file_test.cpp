#include "ftz/base/atomic_file.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ftz/test/files.hpp"

namespace ftz::base {
namespace {

namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    path_ = dir_ + "/state";
  }
  static std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    return out;
  }
  test::TempDir tmp_{"atomic"};
  std::string dir_;
  std::string path_;
};

TEST_F(AtomicFile, WritesTheBytesWithTheModeAndLeavesNoTemporaryFile) {
  auto r = write_file_atomically(path_, "first\n", 0640);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(*r);
  EXPECT_EQ(read(path_), "first\n");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(names(), std::vector<std::string>{"state"});
}

TEST_F(AtomicFile, ReplaceSwapsTheWholeFileKeepKeepsTheFirst) {
  ASSERT_TRUE(write_file_atomically(path_, std::string(100'000, 'a'), 0600));
  ASSERT_TRUE(write_file_atomically(path_, "short", 0600));
  EXPECT_EQ(read(path_), "short");
  auto kept = write_file_atomically(path_, "other", 0600, IfExists::kKeep);
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_FALSE(*kept);
  EXPECT_EQ(read(path_), "short");
  EXPECT_EQ(names(), std::vector<std::string>{"state"});
}

TEST_F(AtomicFile, AFailedWriteNamesTheFileAndChangesNothing) {
  ASSERT_TRUE(write_file_atomically(path_, "old", 0600));
  // A directory where the file should be: rename(2) refuses to replace it.
  const std::string blocked = dir_ + "/sub";
  fs::create_directory(blocked);
  auto r = write_file_atomically(blocked, "new", 0600);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(blocked), std::string::npos) << r.error();
  auto missing = write_file_atomically(dir_ + "/no/such/dir/file", "x", 0600);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("cannot create"), std::string::npos) << missing.error();
  EXPECT_EQ(read(path_), "old");
  auto n = names();
  std::sort(n.begin(), n.end());
  EXPECT_EQ(n, (std::vector<std::string>{"state", "sub"}));
}

TEST_F(AtomicFile, AWriteErrorIsAnErrorAndTheOldFileStays) {
  ASSERT_TRUE(write_file_atomically(path_, "old", 0600));
  // A child whose files may not grow past 1 KiB: write(2) fails with EFBIG.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit small{1024, 1024};
    ::setrlimit(RLIMIT_FSIZE, &small);
    auto r = write_file_atomically(path_, std::string(10'000, 'n'), 0600);
    ::_exit(!r && r.error().find("cannot write") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the write error was not reported";
  EXPECT_EQ(read(path_), "old");
  EXPECT_EQ(names(), std::vector<std::string>{"state"}) << "the temporary file was not removed";
}

// kill -9 at every step: whoever looks afterwards finds the old contents or
// the new ones, whole; a temporary file may remain (callers sweep them).
std::string g_kill_at;
void kill_at(std::string_view step) {
  if (step == g_kill_at) ::raise(SIGKILL);
}

TEST_F(AtomicFile, AKillAtAnyStepLeavesTheOldFileOrTheNewOne) {
  const std::string old_bytes(5000, 'o');
  const std::string new_bytes(7000, 'n');
  for (const char* step : {"temp-written", "temp-synced", "renamed", "directory-synced"}) {
    ASSERT_TRUE(write_file_atomically(path_, old_bytes, 0600));
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      g_kill_at = step;
      set_fault_hook(kill_at);
      (void)write_file_atomically(path_, new_bytes, 0600);
      ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << step << ": the hook did not run";
    const std::string now = read(path_);
    const bool before_rename = std::string_view(step).starts_with("temp");
    EXPECT_EQ(now, before_rename ? old_bytes : new_bytes) << step;
    for (const auto& n : names()) {
      if (n != "state") fs::remove(dir_ + "/" + n);
    }
  }
}

}  // namespace
}  // namespace ftz::base
