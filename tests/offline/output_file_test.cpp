// The files a run writes, as log rotation treats them.
#include "ftz/report/output_file.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "ftz/test/files.hpp"

namespace {

using ftz::report::OutputFile;
using ftz::test::read_text;
using ftz::test::TempDir;

// logrotate's copytruncate empties the file under a writer that keeps it
// open: the next lines start the emptied file, with no hole of zeros where
// the old ones were (a writer at its own offset would leave one).
TEST(OutputFile, LinesAfterATruncationStartTheFile) {
  TempDir dir("output");
  const std::string path = dir.file("eve.json");
  auto f = OutputFile::open(path);
  ASSERT_TRUE(f) << f.error();
  (*f)->write("{\"before\":1}\n");
  ASSERT_TRUE((*f)->flush());
  ASSERT_EQ(read_text(path), "{\"before\":1}\n");
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  (*f)->write("{\"after\":2}\n");
  ASSERT_TRUE((*f)->close());
  EXPECT_EQ(read_text(path), "{\"after\":2}\n");
}

TEST(OutputFile, AFreshRunTruncatesAndARestartAppends) {
  TempDir dir("output");
  const std::string path = dir.file("eve.json");
  for (const char* line : {"old\n", "fresh\n"}) {
    auto f = OutputFile::open(path);
    ASSERT_TRUE(f) << f.error();
    (*f)->write(line);
    ASSERT_TRUE((*f)->close());
  }
  EXPECT_EQ(read_text(path), "fresh\n");
  auto again = OutputFile::open(path, true, true);
  ASSERT_TRUE(again) << again.error();
  (*again)->write("restarted\n");
  ASSERT_TRUE((*again)->close());
  EXPECT_EQ(read_text(path), "fresh\nrestarted\n");
}

// logrotate without copytruncate: it renames the file, then signals the
// writer (SIGUSR1 -> request_reopen). Every line lands in exactly one of the
// two files, in order: the ones written before the reopen in the renamed
// file, the later ones in a new file at the old path.
TEST(OutputFile, AReopenAfterARenameLosesNoLine) {
  TempDir dir("output");
  const std::string path = dir.file("eve.json");
  const std::string rotated = dir.file("eve.json.1");
  auto f = OutputFile::open(path);
  ASSERT_TRUE(f) << f.error();
  (*f)->write("1\n");
  ASSERT_TRUE((*f)->flush());
  ASSERT_EQ(std::rename(path.c_str(), rotated.c_str()), 0);
  (*f)->write("2\n");           // buffered: goes where the file is open now
  (*f)->reopen_if_requested();  // nothing requested: stays
  (*f)->write("3\n");
  ASSERT_TRUE((*f)->flush());
  ftz::report::request_reopen();
  (*f)->write("4\n");
  (*f)->reopen_if_requested();
  (*f)->write("5\n");
  (*f)->reopen_if_requested();  // the one request is served once
  (*f)->write("6\n");
  ASSERT_TRUE((*f)->close());
  EXPECT_EQ(read_text(rotated), "1\n2\n3\n4\n");
  EXPECT_EQ(read_text(path), "5\n6\n");
}

// A path that cannot be opened again (here a directory now stands there):
// the error is kept like a write error, and the lines go on into the old
// file rather than nowhere.
TEST(OutputFile, AReopenThatFailsKeepsWritingTheOldFile) {
  TempDir dir("output");
  const std::string path = dir.file("eve.json");
  const std::string rotated = dir.file("eve.json.1");
  auto f = OutputFile::open(path);
  ASSERT_TRUE(f) << f.error();
  (*f)->write("1\n");
  ASSERT_EQ(std::rename(path.c_str(), rotated.c_str()), 0);
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  ftz::report::request_reopen();
  (*f)->reopen_if_requested();
  (*f)->write("2\n");
  auto closed = (*f)->close();
  ASSERT_FALSE(closed);
  EXPECT_NE(closed.error().find("eve.json: reopen failed (writing on into the old file): Is a directory"),
            std::string::npos)
      << closed.error();
  EXPECT_EQ((*f)->lines_lost(), 0U);
  EXPECT_EQ(read_text(rotated), "1\n2\n");
}

// Standard output is never reopened (nor closed).
TEST(OutputFile, StandardOutputIsNotReopened) {
  auto f = OutputFile::open("-");
  ASSERT_TRUE(f) << f.error();
  ftz::report::request_reopen();
  (*f)->reopen_if_requested();
  EXPECT_TRUE((*f)->close());
  EXPECT_NE(::fcntl(STDOUT_FILENO, F_GETFD), -1);
}

}  // namespace
