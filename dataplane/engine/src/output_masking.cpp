#include "ftz/engine/output_masking.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "ftz/engine/classify/redact.hpp"

namespace ftz::engine {

void mask_in_place(std::string& s) noexcept {
  classify::mask_identifiers(std::span<char>(s.data(), s.size()));
}

std::string masked_text(std::string_view s) {
  std::string out(s);
  mask_in_place(out);
  return out;
}

namespace {

// Text written to the masked stderr that has no newline yet.
std::string& pending() {
  static std::string p;
  return p;
}

void write_fd2(std::string_view s) noexcept {
  while (!s.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere left to report it
    s.remove_prefix(static_cast<size_t>(n));
  }
}

// Whole lines go out masked; a line longer than this goes out anyway.
constexpr size_t kMaxPending = 1 << 20;

ssize_t masked_write(void*, const char* buf, size_t size) {
  std::string& p = pending();
  p.append(buf, size);
  size_t upto = p.rfind('\n');
  upto = upto == std::string::npos ? (p.size() > kMaxPending ? p.size() : 0) : upto + 1;
  if (upto > 0) {
    std::string line = p.substr(0, upto);
    mask_in_place(line);
    write_fd2(line);
    p.erase(0, upto);
  }
  return static_cast<ssize_t>(size);
}

void flush_pending() {
  std::fflush(stderr);
  std::string& p = pending();
  if (p.empty()) return;
  mask_in_place(p);
  write_fd2(p);
  p.clear();
}

}  // namespace

bool mask_standard_error() noexcept {
  static bool installed = false;
  if (installed) return true;
  cookie_io_functions_t io{};
  io.write = masked_write;
  FILE* f = fopencookie(nullptr, "w", io);
  if (f == nullptr) return false;
  std::setvbuf(f, nullptr, _IONBF, 0);
  stderr = f;
  std::atexit(flush_pending);
  installed = true;
  return true;
}

}  // namespace ftz::engine
