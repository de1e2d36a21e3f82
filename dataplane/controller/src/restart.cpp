#include "ftz/controller/restart.hpp"

#include <linux/close_range.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace ftz::controller {
namespace {
constexpr const char* kRestartedVariable = "FTZGATE_RESTARTED";
}  // namespace

std::vector<std::string> command_line(int argc, char** argv) {
  return {argv, argv + argc};
}

std::string reexecute(const std::vector<std::string>& argv) {
  if (argv.empty()) return "no command line to execute";
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  if (::setenv(kRestartedVariable, "1", 1) != 0) return std::string("setenv: ") + std::strerror(errno);
  // CLOEXEC rather than closed: should exec fail, this process still has
  // what it had.
  if (::close_range(3, UINT_MAX, CLOSE_RANGE_CLOEXEC) != 0)
    return std::string("close_range: ") + std::strerror(errno);
  ::execv("/proc/self/exe", args.data());
  const int err = errno;
  ::unsetenv(kRestartedVariable);
  return std::string("execv /proc/self/exe: ") + std::strerror(err);
}

bool restarted() {
  static const bool kWas = [] {
    const char* v = std::getenv(kRestartedVariable);
    const bool set = v != nullptr && std::string_view(v) == "1";
    ::unsetenv(kRestartedVariable);
    return set;
  }();
  return kWas;
}

}  // namespace ftz::controller
