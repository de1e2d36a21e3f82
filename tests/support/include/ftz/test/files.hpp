#pragma once
// Where the tests find the tree and the built binaries, scratch directories
// removed whatever the outcome, whole files, and commands run as an operator
// runs them. Header-only: FTZ_DEFAULT_SOURCE_DIR / FTZ_DEFAULT_BINARY_DIR
// come from the including target (ftz_unit_test and the fuzz targets set
// them); FTZ_SOURCE_DIR / FTZ_BINARY_DIR in the environment win.

#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace ftz::test {

#ifdef FTZ_DEFAULT_SOURCE_DIR
inline std::string source_dir() {
  const char* s = std::getenv("FTZ_SOURCE_DIR");
  return s != nullptr && *s != '\0' ? s : FTZ_DEFAULT_SOURCE_DIR;
}
// ../shared beside the project's root: captures, reference data, findings.
inline std::string shared_dir() {
  return source_dir() + "/../shared";
}

// The public captures in ../shared/pcaps/public (file names, sorted): the
// reference facts beside them come from tshark, not from this code.
inline std::string public_captures_dir() {
  return shared_dir() + "/pcaps/public";
}
inline std::vector<std::string> public_captures() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(public_captures_dir(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".pcap") || name.ends_with(".pcapng")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}
#endif

#ifdef FTZ_DEFAULT_BINARY_DIR
// build/bin/NAME.
inline std::string binary(const std::string& name) {
  const char* b = std::getenv("FTZ_BINARY_DIR");
  return std::string(b != nullptr && *b != '\0' ? b : FTZ_DEFAULT_BINARY_DIR) + "/bin/" + name;
}
#endif

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    std::string tmpl = "/tmp/ftz-" + tag + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The whole file ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::string out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

struct RunResult {
  int status = -1;     // exit status; -1 when it did not exit normally
  std::string output;  // stdout and stderr
};

// Runs `cmd` through the shell with stderr joined to stdout.
inline RunResult run_command(const std::string& cmd) {
  RunResult r;
  std::FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

#ifdef FTZ_DEFAULT_SOURCE_DIR
// cfg/plain.yaml in `dir`: inside 10/8, everything else offshore and
// allowed, no signatures (no Hyperscan compile: each run is quick), and a
// compliance section naming a copy of the published demo key. Its path.
inline std::string write_plain_config(const TempDir& dir) {
  std::filesystem::create_directories(dir.file("cfg/keys"));
  std::filesystem::copy_file(source_dir() + "/examples/keys/token.key", dir.file("cfg/keys/token.key"),
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir.file("cfg/plain.yaml")) << "zones:\n"
                                               "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
                                               "  - {name: offshore, kind: offshore, default: true}\n"
                                               "defaults:\n"
                                               "  - {src_zone: inside, dst_zone: offshore, action: allow}\n"
                                               "compliance:\n"
                                               "  key_file: keys/token.key\n"
                                               "  state_file: state/compliance.state\n";
  return dir.file("cfg/plain.yaml");
}
#endif

}  // namespace ftz::test
