#pragma once
// The files a run writes (events, forwarded packets, statistics) and the
// check that none of them destroys an input. Shared by ftzgate-inspect and
// ftzgate-dp. A write error is an error (docs/eve.md "Write errors"): the
// first one is kept with the file name and the system's reason, and every
// line that could not be written is counted.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::report {

class OutputFile {
 public:
  // Opens (creates or truncates; with `append`, creates or appends to)
  // `path`; "-" is standard output. Writes always go to the file's end, also
  // after a log rotation truncated it. `text`: lines of text (a line cut by a
  // write error is ended before the next).
  static tl::expected<std::unique_ptr<OutputFile>, std::string> open(const std::string& path,
                                                                     bool text = true, bool append = false);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Buffers `s` (written when the buffer fills, at flush() and close()).
  // `lines`: how many records `s` holds, for the count of lost lines.
  void write(std::string_view s, uint64_t lines = 1) noexcept;
  // Writes the buffer out. On an error the buffered lines are counted lost
  // and dropped; later writes try again (a disk that was full may have room
  // again), and a line cut by the error is ended by a newline first. False
  // when this flush failed.
  bool flush() noexcept;
  // A stdio stream whose writes go through this object (libpcap's dumper
  // writes here, so its errors are caught like any other). Null if stdio
  // cannot make one. Whoever holds it may fclose it (pcap_dump_close does);
  // close() closes it otherwise.
  FILE* stream() noexcept;
  // Flushes, syncs a regular file to disk (fsync) and closes. The error, if
  // this or any earlier write failed: "<path>: write failed: <reason>".
  tl::expected<void, std::string> close() noexcept;

  // After request_reopen(): writes the buffer out, then goes on in the file
  // at path() opened anew (created when a log rotation moved the old one
  // away), closing the old one. If the path cannot be opened, the error is
  // kept like a write error and the lines go on into the old file. Standard
  // output and binary files (a pcap has one header) stay as they are. Call
  // it from the thread that writes.
  void reopen_if_requested() noexcept;

  [[nodiscard]] bool failed() const noexcept { return !first_error_.empty(); }
  [[nodiscard]] const std::string& error() const noexcept { return first_error_; }
  [[nodiscard]] uint64_t write_errors() const noexcept { return write_errors_; }
  [[nodiscard]] uint64_t lines_lost() const noexcept { return lines_lost_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  OutputFile(std::string path, int fd, bool owned, bool text);
  void note_error(const char* what, int err);
  static int on_stream_close(void* cookie) noexcept;

  std::string path_;
  uint32_t reopens_seen_;
  int fd_ = -1;
  bool owned_ = true;  // false for standard output
  bool text_ = true;
  bool closed_ = false;
  bool cut_line_ = false;  // a flush stopped inside a line
  std::string buffer_;
  uint64_t buffered_lines_ = 0;
  FILE* stream_ = nullptr;
  std::string first_error_;
  uint64_t write_errors_ = 0;
  uint64_t lines_lost_ = 0;
};

// Asks every OutputFile to reopen its file at its next
// reopen_if_requested(): what the data planes' SIGUSR1 handlers call after
// logrotate moved their event files away. Async-signal-safe (one lock-free
// atomic add).
void request_reopen() noexcept;

// A path named on the command line.
struct NamedPath {
  std::string option;  // "--eve", ...
  std::string path;    // "-" (standard streams) is never checked
  // The writer replaces the file by rename (atomic save): an existing
  // target must be a regular file (never /dev/full and the like).
  bool replaced_by_rename = false;
};

// Refuses a set of outputs that would destroy an input or one another: an
// output naming the same file as an input or another output (the same
// device and inode, so hard links and symlinks count; by path for files not
// created yet), or a replaced-by-rename output that exists and is not a
// regular file. The message names both options and is an exit-code-2 error.
tl::expected<void, std::string> check_outputs(const std::vector<NamedPath>& inputs,
                                              const std::vector<NamedPath>& outputs);

// The token key files a configuration uses (compliance.key_file and the
// appliance's own key beside compliance.state_file): inputs no output may
// overwrite.
std::vector<NamedPath> key_files(const std::string& key_file, const std::string& state_file);

}  // namespace ftz::report
