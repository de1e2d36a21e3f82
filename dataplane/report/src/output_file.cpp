#include "ftz/report/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ftz::report {

namespace {

constexpr size_t kBufferBytes = 1 << 16;

// How many reopens were requested (request_reopen); each file compares it
// with the count it saw last.
std::atomic<uint32_t> g_reopens{0};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "request_reopen runs in signal handlers");

int open_fd(const std::string& path, bool append) noexcept {
  // Always O_APPEND: a log rotation that empties the file under us
  // (logrotate's copytruncate) gets the next lines at its start, not after a
  // hole as long as what it copied away.
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | (append ? 0 : O_TRUNC) | O_CLOEXEC, 0644);
}

// Writes all of s, or returns the errno of the failure (and how much went).
int write_all(int fd, std::string_view s, size_t& written) noexcept {
  written = 0;
  while (written < s.size()) {
    const ssize_t n = ::write(fd, s.data() + written, s.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    written += static_cast<size_t>(n);
  }
  return 0;
}

ssize_t stream_write(void* cookie, const char* buf, size_t size) {
  static_cast<OutputFile*>(cookie)->write(std::string_view(buf, size), 0);
  return static_cast<ssize_t>(size);
}

}  // namespace

tl::expected<std::unique_ptr<OutputFile>, std::string> OutputFile::open(const std::string& path, bool text,
                                                                        bool append) {
  if (path == "-") return std::unique_ptr<OutputFile>(new OutputFile(path, STDOUT_FILENO, false, text));
  const int fd = open_fd(path, append);
  if (fd < 0) return tl::unexpected(path + ": cannot write: " + std::strerror(errno));
  return std::unique_ptr<OutputFile>(new OutputFile(path, fd, true, text));
}

OutputFile::OutputFile(std::string path, int fd, bool owned, bool text)
    : path_(std::move(path)),
      reopens_seen_(g_reopens.load(std::memory_order_acquire)),
      fd_(fd),
      owned_(owned),
      text_(text) {}

void request_reopen() noexcept {
  g_reopens.fetch_add(1, std::memory_order_release);
}

void OutputFile::reopen_if_requested() noexcept {
  const uint32_t requested = g_reopens.load(std::memory_order_acquire);
  if (requested == reopens_seen_) return;
  reopens_seen_ = requested;
  if (closed_ || !owned_ || !text_) return;
  flush();
  const int fd = open_fd(path_, /*append=*/true);
  if (fd < 0) {
    note_error("reopen failed (writing on into the old file)", errno);
    return;
  }
  if (::close(fd_) != 0) note_error("close failed", errno);
  fd_ = fd;
}

int OutputFile::on_stream_close(void* cookie) noexcept {
  static_cast<OutputFile*>(cookie)->stream_ = nullptr;
  return 0;
}

OutputFile::~OutputFile() {
  (void)close();
}

void OutputFile::note_error(const char* what, int err) {
  ++write_errors_;
  if (first_error_.empty()) first_error_ = path_ + ": " + what + ": " + std::strerror(err);
}

void OutputFile::write(std::string_view s, uint64_t lines) noexcept {
  if (closed_) {
    lines_lost_ += lines;
    return;
  }
  buffer_.append(s);
  buffered_lines_ += lines;
  if (buffer_.size() >= kBufferBytes) flush();
}

bool OutputFile::flush() noexcept {
  if (stream_ != nullptr) std::fflush(stream_);
  if (buffer_.empty() || fd_ < 0) return true;
  if (cut_line_) {
    // The last error stopped inside a line: end it, so that the next record
    // starts on a line of its own (the cut line is counted lost already).
    size_t w = 0;
    if (const int err = write_all(fd_, "\n", w); err != 0) {
      note_error("write failed", err);
      lines_lost_ += buffered_lines_;
      buffered_lines_ = 0;
      buffer_.clear();
      return false;
    }
    cut_line_ = false;
  }
  size_t written = 0;
  const int err = write_all(fd_, buffer_, written);
  if (err != 0) {
    note_error("write failed", err);
    lines_lost_ += buffered_lines_;
    cut_line_ = text_ && written > 0 && buffer_[written - 1] != '\n';
  }
  buffered_lines_ = 0;
  buffer_.clear();
  return err == 0;
}

FILE* OutputFile::stream() noexcept {
  if (stream_ == nullptr && !closed_) {
    cookie_io_functions_t io{};
    io.write = stream_write;
    io.close = on_stream_close;
    stream_ = fopencookie(this, "w", io);
    if (stream_ != nullptr) std::setvbuf(stream_, nullptr, _IONBF, 0);  // this object buffers
  }
  return stream_;
}

tl::expected<void, std::string> OutputFile::close() noexcept {
  if (!closed_) {
    if (stream_ != nullptr) std::fclose(stream_);  // on_stream_close clears stream_
    flush();
    if (owned_ && fd_ >= 0) {
      struct stat st {};
      // A regular file's data is on disk before the run says it succeeded
      // (some file systems report a full disk or an I/O error only here).
      if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd_) != 0)
        note_error("fsync failed", errno);
      if (::close(fd_) != 0) note_error("close failed", errno);
    }
    fd_ = -1;
    closed_ = true;
  }
  if (failed()) return tl::unexpected(first_error_);
  return {};
}

namespace {

namespace fs = std::filesystem;

struct Identity {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  bool regular = false;
  std::string normal;  // absolute, lexically normal (for files not created yet)
};

Identity identify(const std::string& path) {
  Identity id;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {  // follows symlinks
    id.exists = true;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.regular = S_ISREG(st.st_mode);
  }
  std::error_code ec;
  const fs::path canon = fs::weakly_canonical(fs::absolute(path, ec), ec);
  id.normal = ec ? path : canon.lexically_normal().string();
  return id;
}

bool same(const Identity& a, const Identity& b) {
  if (a.exists && b.exists) return a.dev == b.dev && a.ino == b.ino;
  return a.normal == b.normal;
}

}  // namespace

tl::expected<void, std::string> check_outputs(const std::vector<NamedPath>& inputs,
                                              const std::vector<NamedPath>& outputs) {
  std::vector<std::pair<const NamedPath*, Identity>> seen_in;
  for (const NamedPath& in : inputs) {
    if (in.path.empty() || in.path == "-") continue;
    seen_in.emplace_back(&in, identify(in.path));
  }
  std::vector<std::pair<const NamedPath*, Identity>> seen_out;
  for (const NamedPath& out : outputs) {
    if (out.path.empty() || out.path == "-") continue;
    const Identity id = identify(out.path);
    for (const auto& [in, in_id] : seen_in) {
      if (same(id, in_id)) {
        return tl::unexpected(out.option + " " + out.path + " is the same file as " + in->option + " " +
                              in->path + ": writing it would destroy the input; name another file");
      }
    }
    for (const auto& [other, other_id] : seen_out) {
      if (same(id, other_id)) {
        return tl::unexpected(out.option + " " + out.path + " is the same file as " + other->option + " " +
                              other->path + ": name a file of its own for each output");
      }
    }
    if (out.replaced_by_rename && id.exists && !id.regular) {
      return tl::unexpected(out.option + " " + out.path +
                            " exists and is not a regular file: it would be replaced by a rename");
    }
    seen_out.emplace_back(&out, id);
  }
  return {};
}

std::vector<NamedPath> key_files(const std::string& key_file, const std::string& state_file) {
  std::vector<NamedPath> keys;
  if (!key_file.empty()) keys.push_back({"compliance.key_file", key_file});
  if (!state_file.empty()) {
    keys.push_back(
        {"the appliance's token key", (fs::path(state_file).parent_path() / "token.key").string()});
  }
  return keys;
}

}  // namespace ftz::report
