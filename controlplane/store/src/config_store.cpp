#include "ftz/store/config_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "ftz/base/atomic_file.hpp"
#include "ftz/keys/encoding.hpp"

namespace ftz::store {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A commit holds one configuration (at most 16 MiB of YAML, ftz::config's
// cap) escaped into JSON: room for the worst case, and a bound on what a
// damaged file can make us read.
constexpr size_t kMaxFileBytes = 128u << 20;
constexpr mode_t kFileMode = 0640;
constexpr mode_t kDirMode = 0750;

tl::unexpected<StoreError> fail(StoreErrc code, std::string message) {
  return tl::unexpected(StoreError{code, std::move(message)});
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// The whole file, or kIo naming it; kNotInitialised-style absence is
// reported as std::nullopt so callers decide what a missing file means.
Result<std::optional<std::string>> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return fail(StoreErrc::kIo, "cannot open " + path + ": " + errno_text(errno));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail(StoreErrc::kIo, "cannot read " + path + ": " + errno_text(err));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxFileBytes) {
      ::close(fd);
      return fail(StoreErrc::kCorrupt, path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>{std::move(out)};
}

Result<void> write_json(const std::string& path, const json& j) {
  std::string text;
  try {
    text = j.dump(1) + "\n";
  } catch (const json::exception&) {
    // Only a string that is not UTF-8 makes dump() throw.
    return fail(StoreErrc::kInvalid, path + ": the configuration or comment is not UTF-8 text");
  }
  auto written = base::write_file_atomically(path, text, kFileMode);
  if (!written) return fail(StoreErrc::kIo, written.error());
  return {};
}

Result<json> read_json(const std::string& path) {
  auto text = read_file(path);
  if (!text) return tl::unexpected(text.error());
  if (!*text) return fail(StoreErrc::kCorrupt, path + ": missing");
  json j = json::parse(**text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(StoreErrc::kCorrupt, path + ": not a JSON object");
  return j;
}

// Typed fields of a file we wrote; anything else is damage, named.
json files_json(const Files& files) {
  json out = json::object();
  for (const auto& [path, content] : files) out[path] = keys::base64_encode(content);
  return out;
}

// The "files" of a commit or candidate (absent: none).
Result<Files> get_files(const json& j, const std::string& path) {
  Files out;
  const auto it = j.find("files");
  if (it == j.end()) return out;
  if (!it->is_object()) return fail(StoreErrc::kCorrupt, path + ": field files is not an object");
  for (const auto& [name, value] : it->items()) {
    std::optional<std::string> content;
    if (value.is_string()) content = keys::base64_decode(value.get<std::string>());
    if (!content)
      return fail(StoreErrc::kCorrupt, path + ": included file " + std::string(name) + " is not base64");
    out.emplace(name, std::move(*content));
  }
  return out;
}

Result<uint64_t> get_u64(const json& j, const char* key, const std::string& path) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned())
    return fail(StoreErrc::kCorrupt, path + ": field " + key + " missing or not a count");
  return it->get<uint64_t>();
}
Result<int64_t> get_i64(const json& j, const char* key, const std::string& path) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    return fail(StoreErrc::kCorrupt, path + ": field " + key + " missing or not an integer");
  return it->get<int64_t>();
}
Result<std::string> get_string(const json& j, const char* key, const std::string& path) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return fail(StoreErrc::kCorrupt, path + ": field " + key + " missing or not a string");
  return it->get<std::string>();
}

std::string commit_name(uint64_t generation) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.json", static_cast<unsigned long long>(generation));
  return name;
}

// The generation a commit file's name holds, or nullopt for other names.
std::optional<uint64_t> generation_of(const std::string& name) {
  if (name.size() != 25 || !name.ends_with(".json")) return std::nullopt;
  uint64_t g = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + 20, g);
  if (ec != std::errc{} || end != name.data() + 20) return std::nullopt;
  return g;
}

Result<void> make_dir(const std::string& path) {
  if (::mkdir(path.c_str(), kDirMode) != 0 && errno != EEXIST)
    return fail(StoreErrc::kIo, "cannot create directory " + path + ": " + errno_text(errno));
  return {};
}

// Takes DIR/lock: one process per state directory. The lock goes with the
// process (flock), so a killed daemon never leaves a stale one.
Result<int> take_lock(const std::string& dir) {
  const std::string path = dir + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail(StoreErrc::kIo, "cannot open " + path + ": " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n')) pid.pop_back();
    const std::string holder = pid.empty() ? "" : " (pid " + pid + ")";
    if (err == EWOULDBLOCK)
      return fail(StoreErrc::kLocked, "another process holds the state directory " + dir + holder);
    return fail(StoreErrc::kIo, "cannot lock " + path + ": " + errno_text(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // Only informational: the flock is what excludes.
  }
  return fd;
}

}  // namespace

bool ConfigStore::valid_user(std::string_view user) noexcept {
  if (user.empty() || user.size() > 32) return false;
  if (!(user[0] == '_' || (user[0] >= 'a' && user[0] <= 'z'))) return false;
  return std::all_of(user.begin(), user.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string content_hash(const Configuration& c) {
  if (c.files.empty()) return keys::sha256_hex(c.text);
  std::string manifest = c.text;
  manifest.push_back('\0');
  for (const auto& [path, content] : c.files) {
    manifest += path;
    manifest.push_back('\0');
    manifest += keys::sha256_hex(content);
    manifest.push_back('\n');
  }
  return keys::sha256_hex(manifest);
}

Result<void> ConfigStore::init(const std::string& dir, const Configuration& first, const std::string& user,
                               int64_t now_s) {
  if (!valid_user(user)) return fail(StoreErrc::kInvalid, "not a user name: " + user);
  if (auto made = make_dir(dir); !made) return made;
  auto lock = take_lock(dir);
  if (!lock) return tl::unexpected(lock.error());
  ConfigStore store(dir, *lock);
  const std::string config = dir + "/config";
  auto running = read_file(config + "/running");
  if (!running) return tl::unexpected(running.error());
  if (*running) return fail(StoreErrc::kAlreadyInitialised, dir + " is initialised already");
  for (const std::string& d : {config, config + "/commits", config + "/candidates"}) {
    if (auto made = make_dir(d); !made) return made;
  }
  // What an interrupted --init left (no running file: nothing was ever
  // running).
  if (auto swept = store.sweep_after_crash(); !swept) return swept;
  auto c = store.commit(user, first, 0, "initial configuration", now_s);
  if (!c) return tl::unexpected(c.error());
  return {};
}

Result<ConfigStore> ConfigStore::open(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(StoreErrc::kNotInitialised, dir + " is not an initialised state directory (ftzgated --init)");
  auto lock = take_lock(dir);
  if (!lock) return tl::unexpected(lock.error());
  ConfigStore store(dir, *lock);
  if (auto loaded = store.load_running(); !loaded) return tl::unexpected(loaded.error());
  if (auto swept = store.sweep_after_crash(); !swept) return tl::unexpected(swept.error());
  return store;
}

ConfigStore::ConfigStore(ConfigStore&& other) noexcept
    : dir_(std::move(other.dir_)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      running_(other.running_),
      running_sha256_(std::move(other.running_sha256_)),
      confirm_(other.confirm_) {}

ConfigStore& ConfigStore::operator=(ConfigStore&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    dir_ = std::move(other.dir_);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    running_ = other.running_;
    running_sha256_ = std::move(other.running_sha256_);
    confirm_ = other.confirm_;
  }
  return *this;
}

ConfigStore::~ConfigStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<void> ConfigStore::load_running() {
  const std::string path = dir_ + "/config/running";
  auto text = read_file(path);
  if (!text) return tl::unexpected(text.error());
  if (!*text)
    return fail(StoreErrc::kNotInitialised, dir_ + " has no running configuration (ftzgated --init)");
  auto j = read_json(path);
  if (!j) return tl::unexpected(j.error());
  auto gen = get_u64(*j, "generation", path);
  if (!gen) return tl::unexpected(gen.error());
  auto sha = get_string(*j, "sha256", path);
  if (!sha) return tl::unexpected(sha.error());
  std::optional<PendingConfirm> confirm;
  if (const auto it = j->find("confirm"); it != j->end()) {
    PendingConfirm pc;
    auto g = get_u64(*it, "generation", path);
    auto p = get_u64(*it, "previous", path);
    auto d = get_i64(*it, "deadline_s", path);
    if (!g || !p || !d) return fail(StoreErrc::kCorrupt, path + ": field confirm is damaged");
    pc.generation = *g;
    pc.previous = *p;
    pc.deadline_s = *d;
    confirm = pc;
  }
  // The running commit must be there and hold what `running` says.
  auto info = read_commit(*gen, nullptr);
  if (!info) return tl::unexpected(info.error());
  if (info->sha256 != *sha)
    return fail(StoreErrc::kCorrupt, path + ": generation " + std::to_string(*gen) + " has SHA-256 " +
                                         info->sha256 + ", running says " + *sha);
  running_ = *gen;
  running_sha256_ = *sha;
  confirm_ = confirm;
  return {};
}

Result<CommitInfo> ConfigStore::read_commit(uint64_t generation, Configuration* config) const {
  const std::string path = dir_ + "/config/commits/" + commit_name(generation);
  auto j = read_json(path);
  if (!j) return tl::unexpected(j.error());
  CommitInfo c;
  auto g = get_u64(*j, "generation", path);
  auto user = get_string(*j, "user", path);
  auto time = get_i64(*j, "time_s", path);
  auto comment = get_string(*j, "comment", path);
  auto sha = get_string(*j, "sha256", path);
  auto based = get_u64(*j, "based_on", path);
  auto body = get_string(*j, "config", path);
  auto files = get_files(*j, path);
  for (const StoreError* e :
       {g ? nullptr : &g.error(), user ? nullptr : &user.error(), time ? nullptr : &time.error(),
        comment ? nullptr : &comment.error(), sha ? nullptr : &sha.error(), based ? nullptr : &based.error(),
        body ? nullptr : &body.error(), files ? nullptr : &files.error()}) {
    if (e != nullptr) return tl::unexpected(*e);
  }
  if (*g != generation) return fail(StoreErrc::kCorrupt, path + ": holds generation " + std::to_string(*g));
  Configuration whole{std::move(*body), std::move(*files)};
  if (content_hash(whole) != *sha)
    return fail(StoreErrc::kCorrupt, path + ": the configuration does not match its SHA-256");
  c.generation = *g;
  c.user = std::move(*user);
  c.time_s = *time;
  c.comment = std::move(*comment);
  c.sha256 = std::move(*sha);
  c.based_on = *based;
  if (config != nullptr) *config = std::move(whole);
  return c;
}

Result<std::vector<uint64_t>> ConfigStore::commit_generations() const {
  const std::string path = dir_ + "/config/commits";
  std::error_code ec;
  std::vector<uint64_t> out;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (auto g = generation_of(it->path().filename().string())) out.push_back(*g);
  }
  if (ec) return fail(StoreErrc::kIo, "cannot list " + path + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> ConfigStore::sweep_after_crash() {
  const std::string config = dir_ + "/config";
  std::error_code ec;
  bool removed = false;
  for (const std::string& d : {config, config + "/commits", config + "/candidates"}) {
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const auto g = generation_of(name);
      // Temporary files of interrupted writes, and commits a crash left
      // before they became running (never published to a data plane).
      const bool temp = name.find(".tmp.") != std::string::npos;
      const bool orphan = d == config + "/commits" && g && *g > running_;
      if (temp || orphan) {
        if (::unlink(it->path().c_str()) != 0)
          return fail(StoreErrc::kIo, "cannot remove " + it->path().string() + ": " + errno_text(errno));
        removed = true;
      }
    }
    if (ec) return fail(StoreErrc::kIo, "cannot list " + d + ": " + ec.message());
  }
  if (removed) {
    for (const std::string& d : {config, config + "/commits", config + "/candidates"}) {
      if (auto synced = base::sync_directory(d); !synced) return fail(StoreErrc::kIo, synced.error());
    }
  }
  return {};
}

Result<Configuration> ConfigStore::configuration(uint64_t generation) const {
  Configuration config;
  auto info = read_commit(generation, &config);
  if (!info) {
    if (info.error().message.ends_with(": missing"))
      return fail(StoreErrc::kInvalid, "no configuration of generation " + std::to_string(generation) +
                                           " is kept (the last " + std::to_string(kHistory) + " are)");
    return tl::unexpected(info.error());
  }
  return config;
}

Result<std::string> ConfigStore::config_text(uint64_t generation) const {
  auto config = configuration(generation);
  if (!config) return tl::unexpected(config.error());
  return std::move(config->text);
}

Result<std::vector<CommitInfo>> ConfigStore::history() const {
  auto gens = commit_generations();
  if (!gens) return tl::unexpected(gens.error());
  std::vector<CommitInfo> out;
  for (auto it = gens->rbegin(); it != gens->rend(); ++it) {
    auto c = read_commit(*it, nullptr);
    if (!c) return tl::unexpected(c.error());
    out.push_back(std::move(*c));
  }
  return out;
}

Result<std::optional<Candidate>> ConfigStore::candidate(const std::string& user) const {
  if (!valid_user(user)) return fail(StoreErrc::kInvalid, "not a user name: " + user);
  const std::string path = dir_ + "/config/candidates/" + user + ".json";
  auto text = read_file(path);
  if (!text) return tl::unexpected(text.error());
  if (!*text) return std::optional<Candidate>{};
  auto j = read_json(path);
  if (!j) return tl::unexpected(j.error());
  auto based = get_u64(*j, "based_on", path);
  if (!based) return tl::unexpected(based.error());
  auto body = get_string(*j, "config", path);
  if (!body) return tl::unexpected(body.error());
  auto files = get_files(*j, path);
  if (!files) return tl::unexpected(files.error());
  return std::optional<Candidate>{Candidate{*based, std::move(*body), std::move(*files)}};
}

Result<void> ConfigStore::save_candidate(const std::string& user, const Candidate& candidate) {
  if (!valid_user(user)) return fail(StoreErrc::kInvalid, "not a user name: " + user);
  return write_json(dir_ + "/config/candidates/" + user + ".json",
                    json{{"based_on", candidate.based_on},
                         {"config", candidate.text},
                         {"files", files_json(candidate.files)}});
}

Result<void> ConfigStore::discard_candidate(const std::string& user) {
  if (!valid_user(user)) return fail(StoreErrc::kInvalid, "not a user name: " + user);
  const std::string dir = dir_ + "/config/candidates";
  const std::string path = dir + "/" + user + ".json";
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return fail(StoreErrc::kIo, "cannot remove " + path + ": " + errno_text(errno));
  }
  if (auto synced = base::sync_directory(dir); !synced) return fail(StoreErrc::kIo, synced.error());
  return {};
}

Result<void> ConfigStore::write_running(uint64_t generation, const std::string& sha256,
                                        const std::optional<PendingConfirm>& confirm) {
  json j{{"generation", generation}, {"sha256", sha256}};
  if (confirm) {
    j["confirm"] = json{{"generation", confirm->generation},
                        {"previous", confirm->previous},
                        {"deadline_s", confirm->deadline_s}};
  }
  return write_json(dir_ + "/config/running", j);
}

Result<CommitInfo> ConfigStore::commit(const std::string& user, const Configuration& config,
                                       uint64_t based_on, const std::string& comment, int64_t now_s,
                                       std::optional<int64_t> confirm_by_s,
                                       std::optional<uint64_t> as_generation) {
  if (!valid_user(user)) return fail(StoreErrc::kInvalid, "not a user name: " + user);
  if (based_on != running_) {
    return fail(StoreErrc::kStale, "the candidate was edited from generation " + std::to_string(based_on) +
                                       ", the running configuration is generation " +
                                       std::to_string(running_) + " now: start again from it");
  }
  auto gens = commit_generations();
  if (!gens) return tl::unexpected(gens.error());
  // Numbers only grow, past every generation still on disk and the running one.
  uint64_t generation = std::max(running_, gens->empty() ? 0 : gens->back()) + 1;
  if (as_generation) {
    if (*as_generation < generation) {
      return fail(StoreErrc::kInvalid, "generation " + std::to_string(*as_generation) +
                                           " is not above every generation here (the next is " +
                                           std::to_string(generation) + ")");
    }
    generation = *as_generation;
  }
  CommitInfo c;
  c.generation = generation;
  c.user = user;
  c.time_s = now_s;
  c.comment = comment;
  c.sha256 = content_hash(config);
  c.based_on = based_on;
  if (c.sha256.empty()) return fail(StoreErrc::kIo, "SHA-256 failed (OpenSSL)");
  const std::string path = dir_ + "/config/commits/" + commit_name(generation);
  if (auto w = write_json(path, json{{"generation", c.generation},
                                     {"user", c.user},
                                     {"time_s", c.time_s},
                                     {"comment", c.comment},
                                     {"sha256", c.sha256},
                                     {"based_on", c.based_on},
                                     {"config", config.text},
                                     {"files", files_json(config.files)}});
      !w) {
    return tl::unexpected(w.error());
  }
  base::fault_point("commit-written");
  std::optional<PendingConfirm> confirm;
  if (confirm_by_s) confirm = PendingConfirm{generation, running_, *confirm_by_s};
  // The commit point: from here on generation `generation` is running.
  if (auto w = write_running(generation, c.sha256, confirm); !w) {
    ::unlink(path.c_str());  // never running: the sweep would remove it too
    return tl::unexpected(w.error());
  }
  running_ = generation;
  running_sha256_ = c.sha256;
  confirm_ = confirm;
  base::fault_point("running-replaced");
  // Housekeeping after the commit point: a failure here loses nothing (the
  // next commit or open() does it again), so the commit stands.
  (void)prune();
  (void)discard_candidate(user);
  return c;
}

Result<void> ConfigStore::prune() {
  auto gens = commit_generations();
  if (!gens) return tl::unexpected(gens.error());
  if (gens->size() <= kHistory) return {};
  const std::string dir = dir_ + "/config/commits";
  for (size_t i = 0; i + kHistory < gens->size(); ++i) {
    const uint64_t g = (*gens)[i];
    // What a pending confirmation rolls back to stays until it is decided.
    if (g == running_ || (confirm_ && g == confirm_->previous)) continue;
    const std::string path = dir + "/" + commit_name(g);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return fail(StoreErrc::kIo, "cannot remove " + path + ": " + errno_text(errno));
  }
  if (auto synced = base::sync_directory(dir); !synced) return fail(StoreErrc::kIo, synced.error());
  return {};
}

Result<void> ConfigStore::confirm() {
  if (!confirm_) return fail(StoreErrc::kNoPendingConfirm, "no commit confirmed is waiting for confirmation");
  if (auto w = write_running(running_, running_sha256_, std::nullopt); !w) return w;
  confirm_.reset();
  return {};
}

Result<std::optional<CommitInfo>> ConfigStore::expire_confirm(const std::string& user, int64_t now_s) {
  if (!confirm_ || now_s < confirm_->deadline_s) return std::optional<CommitInfo>{};
  auto previous = configuration(confirm_->previous);
  if (!previous) return tl::unexpected(previous.error());
  auto c = commit(user, *previous, running_,
                  "rollback: commit confirmed of generation " + std::to_string(confirm_->generation) +
                      " not confirmed by its deadline",
                  now_s);
  if (!c) return tl::unexpected(c.error());
  return std::optional<CommitInfo>{std::move(*c)};
}

}  // namespace ftz::store
