#pragma once
// Shared by the fuzz targets of tests/fuzz/: a scratch directory for targets
// whose code under test reads files (the loaders take paths, not buffers),
// the source tree's location, and a strict check that a line is one JSON
// object (RFC 8259, valid UTF-8, no duplicate keys, no raw line break).
// Failures print what failed and abort, so libFuzzer keeps the input.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ftz::fuzz {

[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  if (!detail.empty()) std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// The source tree (examples/, the built-in catalog): FTZ_SOURCE_DIR when set,
// else the tree the binary was configured from.
inline std::string source_dir() {
  const char* env = std::getenv("FTZ_SOURCE_DIR");
  if (env != nullptr && *env != '\0') return env;
#ifdef FTZ_DEFAULT_SOURCE_DIR
  return FTZ_DEFAULT_SOURCE_DIR;
#else
  return ".";
#endif
}

// One directory per process, on tmpfs when there is one (a file write per
// input should not touch a disk), removed at exit. A crash skips the exit
// handlers, so scripts/run-fuzzers names a parent it removes itself
// (FTZ_FUZZ_SCRATCH).
class ScratchDir {
 public:
  static const std::string& path() {
    static ScratchDir dir;
    return dir.path_;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

 private:
  ScratchDir() {
    const char* given = std::getenv("FTZ_FUZZ_SCRATCH");
    std::string base = given != nullptr && *given != '\0' ? given : "/dev/shm";
    if (::access(base.c_str(), W_OK) != 0) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string tmpl = base + "/ftz-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) fail("cannot create a scratch directory", tmpl);
    path_ = tmpl;
  }
  std::string path_;
};

// Replaces `path` with exactly these bytes, created with `mode`.
inline void write_file(const std::string& path, const void* data, size_t size, mode_t mode = 0600) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot create a scratch file", path);
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n <= 0) fail("cannot write a scratch file", path);
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) fail("cannot chmod a scratch file", path);  // umask-independent
  ::close(fd);
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open a scratch file", path);
  uint8_t buf[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) fail("cannot read a scratch file", path);
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

// SAX handler that refuses duplicate keys in an object (nlohmann keeps the
// last one silently; a SIEM may keep the first).
class StrictJson final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      error = "duplicate key \"" + k + "\"";
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    error = ex.what();
    return false;
  }
  std::string error;

 private:
  std::vector<std::set<std::string>> keys_;
};

// Parses one JSON line strictly and returns it; aborts with the line otherwise.
inline nlohmann::json parse_json_line(std::string_view line) {
  if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos)
    fail("raw line break inside a JSON line", line);
  StrictJson sax;
  if (!nlohmann::json::sax_parse(line, &sax, nlohmann::json::input_format_t::json, true)) {
    const std::string what = "not valid JSON: " + sax.error;
    fail(what.c_str(), line);
  }
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("a JSON line is not an object", line);
  return j;
}

}  // namespace ftz::fuzz
