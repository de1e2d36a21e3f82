#pragma once
// Starting a helper process of a test (ftzgated, etcd, a data plane)
// without a shell: no quoting, and its pid is the program's own.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace ftz::test {

// argv[0] is the binary. Standard output and error go to `log` (emptied
// first; empty: inherited), at niceness `nice` (0: the test's own). The
// pid, or -1 when fork failed; a child that cannot exec exits 127.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log = "", int nice = 0) {
  // Made before the fork: the child of a threaded test only execs.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!log.empty()) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(126);
    }
    if (nice != 0 && ::setpriority(PRIO_PROCESS, 0, nice) != 0) ::_exit(126);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace ftz::test
