// The files a run writes, as log rotation treats them.
#include "ftz/report/output_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

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

}  // namespace
