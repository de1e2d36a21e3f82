#include "ftz/base/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ftz::base {

tl::expected<std::string, std::string> read_secret_file(const std::string& path, size_t max_bytes) {
  // Non-blocking: a FIFO at the path is refused, not waited on.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return tl::unexpected(path + ": " + std::strerror(errno));
  // Checked on what was opened, not on the name: no swap in between.
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0) {
    why = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
  } else if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    why = std::string("group or others may read it (mode ") + mode + "): it holds a secret; chmod 600";
  } else if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    why = "belongs to uid " + std::to_string(st.st_uid) + ", neither this user nor root";
  } else if (static_cast<size_t>(st.st_size) > max_bytes) {
    why = "larger than " + std::to_string(max_bytes) + " bytes";
  }
  std::string content;
  if (why.empty()) {
    content.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < content.size()) {
      const ssize_t n = ::read(fd, content.data() + got, content.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) why = std::strerror(errno);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    content.resize(got);
  }
  ::close(fd);
  if (!why.empty()) return tl::unexpected(path + ": " + why);
  return content;
}

}  // namespace ftz::base
