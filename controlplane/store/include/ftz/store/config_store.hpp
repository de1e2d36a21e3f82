#pragma once
// The control plane's configuration store (issue 10, docs/decisions/0009):
// the running configuration, the committed history and every user's
// candidate, under one state directory that one daemon holds at a time.
//
// Layout (DIR = the state directory):
//   DIR/lock                         flock(2)ed by the process that opened the store
//   DIR/config/commits/<gen>.json    one per committed generation: who, when,
//                                    comment, content hash, the YAML text and
//                                    the files it includes (base64); never
//                                    rewritten, pruned past kHistory
//   DIR/config/running               {"generation", "sha256", "confirm"?}: the
//                                    commit point (replacing it is the commit)
//   DIR/config/candidates/<user>.json  a user's candidate and the generation
//                                    it was edited from
// Every file is written with ftz::base::write_file_atomically(), so a kill
// at any instant of a commit leaves either the old running configuration or
// the new one (ConfigStoreTest.AKillAtAnyStepOfACommit...).
//
// The store keeps text: validating and compiling a configuration is the
// caller's job (ftz::config), before commit(). Times are Unix seconds from
// the caller, so tests inject the clock.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

namespace ftz::store {

enum class StoreErrc {
  kNotInitialised,      // no running configuration: run `ftzgated --init`
  kAlreadyInitialised,  // --init on a store that has one
  kLocked,              // another process holds the state directory
  kCorrupt,             // a file fails its checks (named in the message)
  kIo,                  // the system refused a read or write (named)
  kStale,               // the candidate's base is no longer running
  kInvalid,             // a bad argument (user name, unknown generation)
  kNoPendingConfirm,    // confirm() without a `commit confirmed` pending
};

struct StoreError {
  StoreErrc code;
  std::string message;  // names the file, generation or user concerned
};

template <typename T>
using Result = tl::expected<T, StoreError>;

struct CommitInfo {
  uint64_t generation = 0;
  std::string user;
  int64_t time_s = 0;
  std::string comment;
  std::string sha256;     // lowercase hex of the YAML text
  uint64_t based_on = 0;  // the running generation the candidate was edited from (0: --init)
};

// A `commit confirmed`: unless confirm() comes by the deadline, the
// previous generation's configuration is committed again (expire_confirm).
struct PendingConfirm {
  uint64_t generation = 0;
  uint64_t previous = 0;
  int64_t deadline_s = 0;
};

// The files a configuration includes (prefix lists, signature packs), by
// path as the configuration names them (lexically normal), with their
// contents: imported with the YAML, kept with every generation, so a
// generation is whole without the files it was loaded from.
using Files = std::map<std::string, std::string>;

// A configuration as the store keeps it.
struct Configuration {
  Configuration() = default;
  // Implicit: a text alone is a configuration that includes nothing.
  Configuration(std::string yaml, Files included = {})  // NOLINT(google-explicit-constructor)
      : text(std::move(yaml)), files(std::move(included)) {}
  std::string text;
  Files files;
};

// The content hash of a configuration (CommitInfo::sha256): SHA-256 of the
// text alone when it includes nothing; else of the text, a NUL, and one line
// "path NUL sha256(content)" per file in path order.
std::string content_hash(const Configuration& c);

struct Candidate {
  uint64_t based_on = 0;
  std::string text;
  Files files;
};

class ConfigStore {
 public:
  static constexpr size_t kHistory = 50;  // committed configurations kept

  // Creates the store in `dir` (made if absent, 0750) with `config` as
  // generation 1, committed by `user`. kAlreadyInitialised if `dir` holds a
  // running configuration.
  static Result<void> init(const std::string& dir, const Configuration& config, const std::string& user,
                           int64_t now_s);
  // Takes the state directory's lock (kLocked while another process has it),
  // checks the running configuration against its commit and sweeps what a
  // crash left: temporary files and commits newer than the running one
  // (written, never made running, never published).
  static Result<ConfigStore> open(const std::string& dir);

  ConfigStore(ConfigStore&& other) noexcept;
  ConfigStore& operator=(ConfigStore&& other) noexcept;
  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;
  ~ConfigStore();

  [[nodiscard]] uint64_t running_generation() const noexcept { return running_; }
  [[nodiscard]] Result<std::string> running_text() const { return config_text(running_); }
  // The committed text of `generation` (kInvalid once pruned or never made).
  [[nodiscard]] Result<std::string> config_text(uint64_t generation) const;
  // Its text and included files.
  [[nodiscard]] Result<Configuration> configuration(uint64_t generation) const;
  // The kept commits, newest first (the running one is always among them).
  [[nodiscard]] Result<std::vector<CommitInfo>> history() const;
  [[nodiscard]] const std::optional<PendingConfirm>& pending_confirm() const noexcept { return confirm_; }

  // A user's candidate (none until saved; a commit consumes it).
  [[nodiscard]] Result<std::optional<Candidate>> candidate(const std::string& user) const;
  Result<void> save_candidate(const std::string& user, const Candidate& candidate);
  Result<void> discard_candidate(const std::string& user);

  // Makes `text`, edited from generation `based_on`, the running
  // configuration as a new generation (numbers only grow: a rollback is a
  // new generation too). kStale when `based_on` is no longer running. With
  // `confirm_by_s`, a `commit confirmed`: see expire_confirm(). A commit
  // while a confirmation is pending confirms it (Junos: a plain commit
  // confirms). The committing user's candidate is consumed.
  // With `as_generation`, the new generation has that number (a fleet's,
  // docs/fleet.md), which must be above every generation here (kInvalid).
  Result<CommitInfo> commit(const std::string& user, const Configuration& config, uint64_t based_on,
                            const std::string& comment, int64_t now_s,
                            std::optional<int64_t> confirm_by_s = std::nullopt,
                            std::optional<uint64_t> as_generation = std::nullopt);
  // The content hash of the running configuration.
  [[nodiscard]] const std::string& running_sha256() const noexcept { return running_sha256_; }
  // Confirms a pending `commit confirmed` (kNoPendingConfirm without one).
  Result<void> confirm();
  // At or past the deadline of a pending confirmation, commits the previous
  // generation's text again as a new generation by `user` and returns it;
  // nothing before the deadline (or without one).
  Result<std::optional<CommitInfo>> expire_confirm(const std::string& user, int64_t now_s);

  // A user name as a file name: 1-32 of [a-z0-9_-], starting with a letter
  // or '_' (the accounts' rule; anything else could name a path).
  static bool valid_user(std::string_view user) noexcept;

 private:
  ConfigStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  Result<void> load_running();
  Result<void> write_running(uint64_t generation, const std::string& sha256,
                             const std::optional<PendingConfirm>& confirm);
  Result<CommitInfo> read_commit(uint64_t generation, Configuration* config) const;
  Result<std::vector<uint64_t>> commit_generations() const;
  Result<void> prune();
  Result<void> sweep_after_crash();

  std::string dir_;
  int lock_fd_ = -1;
  uint64_t running_ = 0;
  std::string running_sha256_;
  std::optional<PendingConfirm> confirm_;
};

}  // namespace ftz::store
