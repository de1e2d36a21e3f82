// The interactive ftzctl shell driven through a pseudo-terminal as a person
// types (tests/controlplane/shell_session.py, pexpect), against a real
// ftzgated with the Lin-gang configuration.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "ftz/test/ftzgated.hpp"

namespace ftz::test {
namespace {

using Shell = Ftzgated;

TEST_F(Shell, APersonCompletesAsksAbbreviatesPagesAndIsRefusedWhatTheRoleMayNotDo) {
  ASSERT_EQ(
      init("--accounts " + dir_.file("accounts") + " --config " + source_dir() + "/examples/lingang.yaml")
          .status,
      0);
  start();
  const std::string home = dir_.file("home");
  std::filesystem::create_directories(home);
  const RunResult r = run_command(
      "/usr/bin/python3 " + source_dir() + "/tests/controlplane/shell_session.py " + binary("ftzctl") + " " +
      socket() + " " + home + " carol:" + password_of("carol") + " alice:" + password_of("alice") + " 2>&1");
  EXPECT_EQ(r.status, 0) << r.output << "\n--- carol's screen ---\n"
                         << read_text(home + "/carol.screen") << "\n--- alice's screen ---\n"
                         << read_text(home + "/alice.screen");
  // The history is the user's own.
  struct stat st {};
  ASSERT_EQ(::stat((home + "/.ftzctl_history").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace ftz::test
