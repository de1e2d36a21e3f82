#pragma once
// The administrators' audit log (issue 10 §4, DOMAIN.md §4-5, MLPS Level 3):
// JSON lines, each chained to the one before by SHA-256, with a checkpoint
// signed by the device key every `checkpoint_every` records or
// `checkpoint_interval_ms`, whichever comes first (docs/decisions/0010).
//
//   DIR/audit-<first seq:020>.jsonl   the records; a new file past rotate_bytes,
//                                     the chain continuing across files
//   DIR/head                          {"seq", "hash"} of the last record: a log
//                                     that ends before it was truncated
//   DIR/anchor                        {"seq", "hash", "key_id", "signature"}:
//                                     records 1..seq were removed by retention;
//                                     the chain goes on from `hash`, signed by
//                                     the device key (absent until retention
//                                     first removes a file)
//
// A line is   {"seq":N,"time":"...+08:00","user":...,"role":...,"source":...,
//              "event_type":...,"success":...,"details":{...},"prev_hash":"<hex>"
//             followed by  ,"hash":"<hex>"}  where hash = SHA-256 of every byte
// before ",\"hash\"" (so prev_hash, and through it every earlier record, is
// covered). Checkpoints are records of event_type "checkpoint" whose details
// carry the signer's key id and an Ed25519 signature of
// "ftzgate-audit-checkpoint\n<seq>\n<prev_hash>".
//
// Retention (DOMAIN.md §4.1: network logs at least six months) removes whole
// files, oldest first, once their newest record is older than
// `retention_days` by the log's own time (the newest record at open plus
// monotonic time since: a wall clock set ahead removes nothing early). It
// verifies their chain first, and the files after them up to a signed
// checkpoint (a tampered file is kept and the failure recorded), appends an
// "audit_retention" record naming them, writes the signed anchor, then
// unlinks them. A crash after the anchor leaves files it covers, which
// open() removes.
//
// Records name users, roles and actions, never personal information of the
// traffic (the caller's details must not carry any).

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "ftz/keys/signing_key.hpp"

namespace ftz::audit {

struct Event {
  std::string user;
  std::string role;
  std::string source;      // where the request came from ("unix", "tcp:198.18.0.2:40112")
  std::string event_type;  // "login", "commit", "rollback", ...
  bool success = true;
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
};

// Six calendar months are at most 184 days (July to December).
inline constexpr int64_t kMinRetentionDays = 184;
// Files one retention pass removes at most (each 64 MiB by default).
inline constexpr size_t kMaxFilesPerPass = 8;
// How far the wall clock may run ahead of the log's own time before
// retention records that it goes by the log's.
inline constexpr int64_t kClockSlackMs = int64_t{3600} * 1000;

struct Options {
  uint64_t rotate_bytes = uint64_t{64} << 20;
  uint64_t checkpoint_every = 1000;
  int64_t checkpoint_interval_ms = int64_t{5} * 60 * 1000;
  int64_t retention_days = kMinRetentionDays;  // open() refuses fewer
  int64_t retention_check_interval_ms = int64_t{3600} * 1000;
  // Monotonic milliseconds (tests inject their own): with the newest record
  // at open, the log's own time, which retention goes by instead of the
  // wall clock alone.
  std::function<int64_t()> steady_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  // Each record once it is durable, as the file holds it (no newline):
  // ftzgated's syslog export. Called with the log's lock held: it must not
  // block (SyslogExporter::post queues).
  std::function<void(const Event&, std::string_view line)> on_record;
};

// What one pass of retention removed.
struct Retention {
  std::vector<std::string> files;
  uint64_t through_seq = 0;  // the last record removed; 0: nothing removed
};

class AuditLog {
 public:
  // Opens (or starts) the log in `dir`. A record cut short by a crash is
  // removed (its append never returned success, so its action was refused);
  // a log that ends before `head` says is refused as truncated.
  static tl::expected<AuditLog, std::string> open(const std::string& dir, const keys::SigningKey& key,
                                                  int64_t now_ms, Options options = {});
  AuditLog(AuditLog&& other) noexcept = default;
  AuditLog& operator=(AuditLog&& other) noexcept = default;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;
  ~AuditLog() = default;

  // Appends and syncs one record (then a checkpoint when one is due);
  // returns its sequence number. An error means the record is not in the
  // log: the caller refuses the action it describes.
  tl::expected<uint64_t, std::string> append(const Event& e, int64_t now_ms);
  // A checkpoint when the interval has passed with records after the last
  // one (the daemon calls this on a timer).
  tl::expected<void, std::string> checkpoint_if_due(int64_t now_ms);
  // A checkpoint when records follow the last one (the daemon's clean stop:
  // the whole log is signed, and a copy verifies to its end).
  tl::expected<void, std::string> checkpoint_now(int64_t now_ms);
  // Removes the files retention allows, at most once a
  // retention_check_interval_ms (the daemon calls this on its timer). An
  // error leaves every file in place.
  tl::expected<Retention, std::string> apply_retention(int64_t now_ms);

  [[nodiscard]] uint64_t last_seq() const noexcept { return seq_; }

 private:
  AuditLog(std::string dir, const keys::SigningKey& key, Options options)
      : dir_(std::move(dir)), key_(&key), options_(std::move(options)) {}
  // The open file, closed with the log.
  struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
  };
  tl::expected<void, std::string> recover(int64_t now_ms);
  tl::expected<void, std::string> open_file(uint64_t first_seq);
  tl::expected<uint64_t, std::string> write_record(const Event& e, int64_t now_ms);
  tl::expected<void, std::string> checkpoint(int64_t now_ms);
  tl::expected<void, std::string> remove_anchored_files();

  std::string dir_;
  const keys::SigningKey* key_;
  Options options_;
  Fd fd_;
  std::string file_;
  uint64_t file_bytes_ = 0;
  uint64_t seq_ = 0;
  std::string hash_;  // of the last record
  uint64_t since_checkpoint_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  int64_t next_retention_ms_ = 0;
  int64_t newest_at_open_ms_ = 0;  // the newest record's time when opened
  int64_t opened_steady_ms_ = 0;
  bool clock_ahead_recorded_ = false;
};

// What `ftzctl audit verify` prints.
struct VerifyReport {
  bool ok = false;
  std::string problem;  // empty when ok: what was found, at `where`
  std::string where;    // "audit-00000000000000000001.jsonl:17 (seq 17)"
  uint64_t records = 0;
  uint64_t checkpoints = 0;
  uint64_t last_seq = 0;
  uint64_t unsigned_tail = 0;    // records after the last checkpoint
  uint64_t removed_through = 0;  // records 1..removed_through went by retention (signed anchor)
};

// Verifies every file of the log in `dir` against the chain, the head and
// the checkpoints' and the anchor's signatures by `public_pem`; the report names the first
// record that was modified, inserted, deleted or reordered, or where the
// log was truncated.
VerifyReport verify(const std::string& dir, std::string_view public_pem);

// A checkpoint as a fleet member anchored it in etcd (docs/fleet.md, "Audit
// across the fleet"): the record's seq and hash.
struct FleetAnchor {
  uint64_t seq = 0;
  std::string hash;
};
// verify(), and then every anchor above what retention removed must be a
// record of the log with that hash: a log deleted, cut short or rewritten
// (even one whose chain and signatures were made again with the device
// key) fails at the first anchor it no longer holds.
VerifyReport verify(const std::string& dir, std::string_view public_pem,
                    const std::vector<FleetAnchor>& anchors);

// What `ftzctl audit show` prints: the newest records (lines as stored) whose
// time is at or after `since_ms`, oldest first, at most `last` of them and
// `max_bytes` in all. A line whose time cannot be read is kept (damage is
// shown, not hidden); verify() says what is wrong with it.
struct Records {
  std::vector<std::string> lines;
  uint64_t matched = 0;  // every line at or after since_ms, before the cut
};
Records read_records(const std::string& dir, int64_t since_ms, size_t last, size_t max_bytes);

// RFC 3339 time at UTC+08:00 with milliseconds: "2026-01-01T00:00:00.000+08:00".
std::string format_time(int64_t unix_ms);

}  // namespace ftz::audit
