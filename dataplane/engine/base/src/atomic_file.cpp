#include "ftz/base/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace ftz::base {

namespace {

std::atomic<FaultHook> g_fault_hook{nullptr};

std::string errno_text(std::string_view what, const std::string& path, int err) {
  return std::string(what) + " " + path + ": " + std::strerror(err);
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Fails with the error of the step; closes and removes the temporary file.
tl::unexpected<std::string> abandon(int fd, const std::string& tmp, std::string_view what) {
  const int err = errno;
  if (fd >= 0) ::close(fd);
  ::unlink(tmp.c_str());
  return tl::unexpected(errno_text(what, tmp, err));
}

}  // namespace

void set_fault_hook(FaultHook hook) noexcept {
  g_fault_hook.store(hook, std::memory_order_relaxed);
}

void fault_point(std::string_view step) noexcept {
  if (const FaultHook hook = g_fault_hook.load(std::memory_order_relaxed)) hook(step);
}

tl::expected<void, std::string> sync_directory(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return tl::unexpected(errno_text("cannot open directory", dir, errno));
  if (::fsync(dfd) != 0) {
    const int err = errno;
    ::close(dfd);
    return tl::unexpected(errno_text("fsync failed on directory", dir, err));
  }
  ::close(dfd);
  return {};
}

tl::expected<bool, std::string> write_file_atomically(const std::string& path, std::string_view bytes,
                                                      mode_t mode, IfExists if_exists) {
  // A unique name in the same directory (rename and link do not cross file
  // systems); mkstemp creates it 0600, fchmod sets the final mode.
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return tl::unexpected(errno_text("cannot create", tmp, errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return abandon(fd, tmp, "cannot write");
    if (n == 0) {
      errno = EIO;
      return abandon(fd, tmp, "cannot write");
    }
    done += static_cast<size_t>(n);
  }
  fault_point("temp-written");
  if (::fchmod(fd, mode) != 0) return abandon(fd, tmp, "cannot set the mode of");
  if (::fsync(fd) != 0) return abandon(fd, tmp, "fsync failed on");
  if (::close(fd) != 0) return abandon(-1, tmp, "cannot close");
  fault_point("temp-synced");
  if (if_exists == IfExists::kReplace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return tl::unexpected(errno_text("cannot rename " + tmp + " to", path, err));
    }
  } else {
    const int linked = ::link(tmp.c_str(), path.c_str());
    const int err = errno;
    ::unlink(tmp.c_str());
    if (linked != 0) {
      if (err == EEXIST) return false;  // someone else's file is there: it wins
      return tl::unexpected(errno_text("cannot create", path, err));
    }
  }
  fault_point("renamed");
  if (auto synced = sync_directory(directory_of(path)); !synced) return tl::unexpected(synced.error());
  fault_point("directory-synced");
  return true;
}

}  // namespace ftz::base
