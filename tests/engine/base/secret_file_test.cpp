#include "ftz/base/secret_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "ftz/test/files.hpp"

namespace ftz::base {
namespace {

// A secret's file is read only when nobody but its user (or root) can.
TEST(SecretFile, IsReadOnlyWhenNobodyButItsUserMayReadIt) {
  const test::TempDir dir("secret");
  const std::string path = dir.file("password");
  std::ofstream(path) << "Harbor-Rule-2026\nsecond line\n";
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto read = read_secret_file(path, 4096);
  ASSERT_TRUE(read) << read.error();
  EXPECT_EQ(*read, "Harbor-Rule-2026\nsecond line\n");
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(read_secret_file(path, 4096));

  for (const mode_t mode : {0640, 0604, 0610, 0644}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    read = read_secret_file(path, 4096);
    ASSERT_FALSE(read) << std::oct << mode;
    char shown[8];
    std::snprintf(shown, sizeof shown, "%03o", static_cast<unsigned>(mode));
    EXPECT_EQ(read.error(),
              path + ": group or others may read it (mode " + shown + "): it holds a secret; chmod 600");
  }
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  read = read_secret_file(path, 8);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), path + ": larger than 8 bytes");
  read = read_secret_file(dir.path(), 4096);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().find("not a regular file"), std::string::npos) << read.error();
  read = read_secret_file(dir.file("none"), 4096);
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error(), dir.file("none") + ": No such file or directory");
  // Another user's file (only root can make one here).
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);
    read = read_secret_file(path, 4096);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error(), path + ": belongs to uid 12345, neither this user nor root");
  }
}

}  // namespace
}  // namespace ftz::base
