#include "ftz/audit/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "ftz/base/atomic_file.hpp"
#include "ftz/base/civil_date.hpp"
#include "ftz/keys/encoding.hpp"

namespace ftz::audit {

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

const std::string kGenesis(64, '0');
// ,"hash":"<64 hex>"}  ends every line.
constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr size_t kHashSuffix = kHashKey.size() + 64 + 2;
constexpr std::string_view kCheckpoint = "checkpoint";

std::string checkpoint_message(uint64_t seq, std::string_view prev_hash) {
  return "ftzgate-audit-checkpoint\n" + std::to_string(seq) + "\n" + std::string(prev_hash);
}

std::string file_name(uint64_t first_seq) {
  char name[48];
  std::snprintf(name, sizeof name, "audit-%020llu.jsonl", static_cast<unsigned long long>(first_seq));
  return name;
}

std::optional<uint64_t> first_seq_of(const std::string& name) {
  if (name.size() != 32 || !name.starts_with("audit-") || !name.ends_with(".jsonl")) return std::nullopt;
  uint64_t seq = 0;
  const char* begin = name.data() + 6;
  const auto [end, ec] = std::from_chars(begin, begin + 20, seq);
  if (ec != std::errc{} || end != begin + 20) return std::nullopt;
  return seq;
}

// The log's files in chain order (by their first sequence number).
std::vector<std::pair<uint64_t, std::string>> log_files(const std::string& dir) {
  std::vector<std::pair<uint64_t, std::string>> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (auto s = first_seq_of(name)) out.emplace_back(*s, name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The inverse of format_time(), for its exact layout only
// ("2026-01-01T00:00:00.000+08:00").
std::optional<int64_t> parse_time(std::string_view t) {
  if (t.size() != 29 || t.substr(23) != "+08:00") return std::nullopt;
  constexpr std::string_view kLayout = "dddd-dd-ddTdd:dd:dd.ddd";
  for (size_t i = 0; i < kLayout.size(); ++i) {
    const bool digit = t[i] >= '0' && t[i] <= '9';
    if (kLayout[i] == 'd' ? !digit : t[i] != kLayout[i]) return std::nullopt;
  }
  const auto field = [t](size_t at, size_t len) {
    int v = 0;
    std::from_chars(t.data() + at, t.data() + at + len, v);
    return v;
  };
  const civil::Date date{field(0, 4), static_cast<unsigned>(field(5, 2)), static_cast<unsigned>(field(8, 2))};
  const int h = field(11, 2), m = field(14, 2), sec = field(17, 2);
  if (!civil::is_real_date(date) || h > 23 || m > 59 || sec > 59) return std::nullopt;
  const int64_t unix_s = civil::days_from_civil(date) * civil::kSecondsPerDay + int64_t{h} * 3600 +
                         int64_t{m} * 60 + sec - civil::kShanghaiOffsetSeconds;
  return unix_s * 1000 + field(20, 3);
}

// One line checked on its own: its hash covers its bytes.
struct Line {
  uint64_t seq = 0;
  std::optional<int64_t> time_ms;
  std::string prev_hash;
  std::string hash;
  bool checkpoint = false;
  std::string signature;  // a checkpoint's, base64
};
std::optional<Line> read_line(std::string_view line) {
  if (line.size() < kHashSuffix || !line.ends_with("\"}")) return std::nullopt;
  const size_t cut = line.size() - kHashSuffix;
  if (line.substr(cut, kHashKey.size()) != kHashKey) return std::nullopt;
  Line l;
  l.hash = std::string(line.substr(cut + kHashKey.size(), 64));
  if (keys::sha256_hex(line.substr(0, cut)) != l.hash) return std::nullopt;
  const ojson record = ojson::parse(line, nullptr, false);
  if (record.is_discarded() || !record.is_object()) return std::nullopt;
  const auto seq = record.find("seq");
  const auto prev = record.find("prev_hash");
  if (seq == record.end() || !seq->is_number_unsigned() || prev == record.end() || !prev->is_string())
    return std::nullopt;
  l.seq = seq->get<uint64_t>();
  l.prev_hash = prev->get<std::string>();
  if (const auto time = record.find("time"); time != record.end() && time->is_string())
    l.time_ms = parse_time(time->get<std::string>());
  const auto type = record.find("event_type");
  l.checkpoint = type != record.end() && type->is_string() && *type == kCheckpoint;
  if (l.checkpoint) {
    const auto d = record.find("details");
    if (d != record.end() && d->is_object() && d->contains("signature") && (*d)["signature"].is_string())
      l.signature = (*d)["signature"].get<std::string>();
  }
  return l;
}

// The whole file, or nothing when it cannot be opened or read.
std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

struct Head {
  uint64_t seq = 0;
  std::string hash = kGenesis;
};
tl::expected<std::optional<Head>, std::string> read_head(const std::string& dir) {
  const std::string path = dir + "/head";
  if (!fs::exists(path)) return std::optional<Head>{};
  const auto text = slurp(path);
  if (!text) return tl::unexpected("cannot read " + path);
  const ojson j = ojson::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("hash") || !j["hash"].is_string())
    return tl::unexpected(path + ": damaged");
  return std::optional<Head>{Head{j["seq"].get<uint64_t>(), j["hash"].get<std::string>()}};
}

std::string errno_text(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

// A record of the log itself (checkpoints, retention).
Event system_event(const char* type) {
  Event e;
  e.user = "ftzgated";
  e.role = "system";
  e.source = "ftzgated";
  e.event_type = type;
  return e;
}

// The retention anchor: records 1..seq are gone, the chain continues from
// `hash`.
struct Anchor {
  uint64_t seq = 0;
  std::string hash;
};
std::string anchor_message(uint64_t seq, std::string_view hash) {
  return "ftzgate-audit-anchor\n" + std::to_string(seq) + "\n" + std::string(hash);
}
// DIR/anchor, its signature checked with `public_pem`; none before
// retention first removed a file.
tl::expected<std::optional<Anchor>, std::string> read_anchor(const std::string& dir,
                                                             std::string_view public_pem) {
  const std::string path = dir + "/anchor";
  if (!fs::exists(path)) return std::optional<Anchor>{};
  const auto text = slurp(path);
  if (!text) return tl::unexpected("cannot read " + path);
  const ojson j = ojson::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
      !j.contains("hash") || !j["hash"].is_string() || !j.contains("signature") ||
      !j["signature"].is_string())
    return tl::unexpected(path + ": damaged");
  Anchor a{j["seq"].get<uint64_t>(), j["hash"].get<std::string>()};
  const auto sig = keys::base64_decode(j["signature"].get<std::string>());
  const auto ok = sig ? keys::verify_signature(public_pem, anchor_message(a.seq, a.hash), *sig)
                      : tl::expected<bool, std::string>(false);
  if (!ok || !*ok)
    return tl::unexpected(path + ": its signature does not verify (forged, or another device's key)");
  return std::optional<Anchor>{std::move(a)};
}

using LogFiles = std::vector<std::pair<uint64_t, std::string>>;

// How many of the oldest files hold only records the anchor covers (left
// by a crash between writing the anchor and unlinking them).
size_t anchored_files(const LogFiles& files, const std::optional<Anchor>& anchor) {
  size_t n = 0;
  while (anchor && n + 1 < files.size() && files[n + 1].first <= anchor->seq + 1) ++n;
  return n;
}

// Walking the chain: the seq and prev_hash the next record must carry.
struct Chain {
  uint64_t expected = 1;
  std::string prev = kGenesis;
  std::optional<int64_t> last_time_ms;  // of the last record walked
};

// Checks one file's records against the chain and moves the chain past
// them; false, with r.problem and r.where set, at the first bad record.
bool walk_file(const std::string& dir, uint64_t first, const std::string& name, std::string_view public_pem,
               const std::string& key_id, Chain& chain, VerifyReport& r) {
  const auto read = slurp((fs::path(dir) / name).string());
  if (!read) {
    r.problem = "cannot read the file";
    r.where = name;
    return false;
  }
  const std::string& text = *read;
  if (first != chain.expected) {
    r.problem = first > chain.expected
                    ? "records " + std::to_string(chain.expected) + ".." + std::to_string(first - 1) +
                          " are missing (a file was deleted)"
                    : "the file starts at seq " + std::to_string(first) + ", the chain is at " +
                          std::to_string(chain.expected) + " (a file was inserted or renamed)";
    r.where = name;
    return false;
  }
  size_t pos = 0;
  uint64_t lineno = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    ++lineno;
    const std::string where = name + ":" + std::to_string(lineno);
    if (nl == std::string::npos) {
      r.problem = "the log ends in the middle of a record (truncated)";
      r.where = where;
      return false;
    }
    const auto l = read_line(std::string_view(text.data() + pos, nl - pos));
    pos = nl + 1;
    if (!l) {
      r.problem = "the record was modified (its hash does not match its bytes)";
      r.where = where;
      return false;
    }
    r.where = where + " (seq " + std::to_string(l->seq) + ")";
    if (l->seq != chain.expected) {
      const std::string at =
          "seq " + std::to_string(l->seq) + " where " + std::to_string(chain.expected) + " belongs: ";
      r.problem = at + (l->seq > chain.expected ? "the records before it were deleted, or it was moved"
                                                : "it was inserted, or moved");
      return false;
    }
    if (l->prev_hash != chain.prev) {
      r.problem = "it does not follow the record before it (inserted, deleted or reordered)";
      return false;
    }
    if (l->checkpoint) {
      const auto sig = keys::base64_decode(l->signature);
      const auto ok = sig ? keys::verify_signature(public_pem, checkpoint_message(l->seq, l->prev_hash), *sig)
                          : tl::expected<bool, std::string>(false);
      if (!ok || !*ok) {
        r.problem = "the checkpoint's signature does not verify with key " + key_id +
                    " (the chain before it was rewritten, or another key signed it)";
        return false;
      }
      ++r.checkpoints;
      r.unsigned_tail = 0;
    } else {
      ++r.unsigned_tail;
    }
    chain.prev = l->hash;
    chain.last_time_ms = l->time_ms;
    ++chain.expected;
    ++r.records;
    r.last_seq = l->seq;
  }
  return true;
}
}  // namespace

std::string format_time(int64_t unix_ms) {
  const int64_t unix_s = civil::floor_div(unix_ms, 1000);
  const int64_t ms = unix_ms - unix_s * 1000;
  const int64_t day = civil::shanghai_day(unix_s);
  const int64_t secs = unix_s + civil::kShanghaiOffsetSeconds - day * civil::kSecondsPerDay;
  const civil::Date date = civil::civil_from_days(day);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03d+08:00",
                static_cast<long long>(date.year), date.month, date.day, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60), static_cast<int>(ms));
  return buf;
}

tl::expected<AuditLog, std::string> AuditLog::open(const std::string& dir, const keys::SigningKey& key,
                                                   int64_t now_ms, Options options) {
  if (options.retention_days < kMinRetentionDays)
    return tl::unexpected("audit retention of " + std::to_string(options.retention_days) +
                          " days: the law asks for at least six months (" +
                          std::to_string(kMinRetentionDays) + " days)");
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return tl::unexpected(errno_text("cannot create", dir));
  AuditLog log(dir, key, std::move(options));
  if (auto r = log.recover(now_ms); !r) return tl::unexpected(r.error());
  return log;
}

AuditLog::Fd& AuditLog::Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd >= 0) ::close(fd);
    fd = std::exchange(o.fd, -1);
  }
  return *this;
}

AuditLog::Fd::~Fd() {
  if (fd >= 0) ::close(fd);
}

tl::expected<void, std::string> AuditLog::recover(int64_t now_ms) {
  auto head = read_head(dir_);
  if (!head) return tl::unexpected(head.error());
  if (auto removed = remove_anchored_files(); !removed) return removed;
  const auto files = log_files(dir_);
  seq_ = 0;
  hash_ = kGenesis;
  last_checkpoint_ms_ = now_ms;
  newest_at_open_ms_ = now_ms;
  opened_steady_ms_ = options_.steady_ms();
  if (files.empty()) {
    if (*head && (*head)->seq != 0)
      return tl::unexpected("audit log " + dir_ + ": every file is gone, head records seq " +
                            std::to_string((*head)->seq));
    return open_file(1);
  }
  // The last file: its records after the last checkpoint count toward the
  // next one; a record without its newline was being written by a crash.
  const std::string path = dir_ + "/" + files.back().second;
  auto read = slurp(path);
  if (!read) return tl::unexpected("cannot read " + path);
  std::string text = std::move(*read);
  const size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  if (complete < text.size()) {
    if (::truncate(path.c_str(), static_cast<off_t>(complete)) != 0)
      return tl::unexpected(errno_text("cannot remove a partial record from", path));
    text.resize(complete);
  }
  // Only the last record must be whole: the chain continues from it. Damage
  // before it is verify()'s to find and name (the daemon must start so that
  // the audit administrator can run it).
  size_t pos = 0;
  uint64_t lineno = 0;
  std::optional<Line> last;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string_view line(text.data() + pos, nl - pos);
    ++lineno;
    last = read_line(line);
    if (last && last->checkpoint)
      since_checkpoint_ = 0;
    else
      ++since_checkpoint_;
    pos = nl + 1;
  }
  if (lineno > 0) {
    if (!last)
      return tl::unexpected("audit log " + path + ":" + std::to_string(lineno) +
                            ": the last record is damaged, the chain cannot continue from it");
    seq_ = last->seq;
    hash_ = last->hash;
    if (last->time_ms) newest_at_open_ms_ = std::min(now_ms, *last->time_ms);
  }
  if (lineno == 0) {
    // An empty newest file: the chain ends in the file before it.
    seq_ = files.back().first - 1;
    hash_ = *head && (*head)->seq == seq_ ? (*head)->hash : kGenesis;
    if (seq_ != 0 && !(*head && (*head)->seq == seq_))
      return tl::unexpected("audit log " + path + ": empty, and head does not name the record before it");
  }
  if (*head) {
    if (seq_ < (*head)->seq)
      return tl::unexpected("audit log " + dir_ + " is truncated: it ends at seq " + std::to_string(seq_) +
                            ", head records seq " + std::to_string((*head)->seq) +
                            " (run ftzctl audit verify)");
  }
  file_ = path;
  fd_ = Fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (fd_.fd < 0) return tl::unexpected(errno_text("cannot open", path));
  file_bytes_ = text.size();
  return {};
}

tl::expected<void, std::string> AuditLog::open_file(uint64_t first_seq) {
  const std::string path = dir_ + "/" + file_name(first_seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return tl::unexpected(errno_text("cannot create", path));
  if (auto synced = base::sync_directory(dir_); !synced) {
    ::close(fd);
    return tl::unexpected(synced.error());
  }
  fd_ = Fd(fd);
  file_ = path;
  file_bytes_ = 0;
  return {};
}

tl::expected<uint64_t, std::string> AuditLog::write_record(const Event& e, int64_t now_ms) {
  if (file_bytes_ >= options_.rotate_bytes) {
    if (auto r = open_file(seq_ + 1); !r) return tl::unexpected(r.error());
  }
  const uint64_t seq = seq_ + 1;
  ojson rec;
  rec["seq"] = seq;
  rec["time"] = format_time(now_ms);
  rec["user"] = e.user;
  rec["role"] = e.role;
  rec["source"] = e.source;
  rec["event_type"] = e.event_type;
  rec["success"] = e.success;
  rec["details"] = e.details;
  rec["prev_hash"] = hash_;
  std::string body;
  try {
    body = rec.dump();
  } catch (const ojson::exception&) {
    return tl::unexpected(std::string("audit record refused: a field is not UTF-8 text"));
  }
  body.pop_back();  // the closing brace: the hash goes inside the object
  const std::string hash = keys::sha256_hex(body);
  if (hash.empty()) return tl::unexpected(std::string("audit record refused: SHA-256 failed (OpenSSL)"));
  const std::string line = body + std::string(kHashKey) + hash + "\"}\n";
  // One write(2) of the whole line with O_APPEND; anything short of it is
  // cut off again, so the file never keeps half a record.
  const ssize_t n = ::write(fd_.fd, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size()) || ::fsync(fd_.fd) != 0) {
    const std::string err = errno_text("cannot write the audit record to", file_);
    if (::ftruncate(fd_.fd, static_cast<off_t>(file_bytes_)) != 0) {
      // The partial line stays until open() removes it.
    }
    return tl::unexpected(err);
  }
  file_bytes_ += line.size();
  base::fault_point("audit-record-written");
  // The head moves after the record is durable: a log ahead of it by one
  // record is a crash in between, one behind it was truncated.
  const std::string head = ojson{{"seq", seq}, {"hash", hash}}.dump() + "\n";
  if (auto w = base::write_file_atomically(dir_ + "/head", head, 0640); !w) {
    // The record is in the log and chained; the next write moves the head.
    seq_ = seq;
    hash_ = hash;
    return tl::unexpected("audit head: " + w.error());
  }
  seq_ = seq;
  hash_ = hash;
  if (options_.on_record) options_.on_record(e, std::string_view(line).substr(0, line.size() - 1));
  return seq;
}

tl::expected<void, std::string> AuditLog::checkpoint(int64_t now_ms) {
  Event e = system_event("checkpoint");
  const std::string sig = key_->sign(checkpoint_message(seq_ + 1, hash_));
  if (sig.empty()) return tl::unexpected(std::string("audit checkpoint: signing failed (OpenSSL)"));
  e.details = ojson{
      {"key_id", key_->key_id()}, {"records", since_checkpoint_}, {"signature", keys::base64_encode(sig)}};
  auto w = write_record(e, now_ms);
  if (!w) return tl::unexpected(w.error());
  since_checkpoint_ = 0;
  last_checkpoint_ms_ = now_ms;
  return {};
}

tl::expected<uint64_t, std::string> AuditLog::append(const Event& e, int64_t now_ms) {
  if (e.event_type == kCheckpoint)
    return tl::unexpected(std::string("audit: \"checkpoint\" records are the log's own"));
  auto seq = write_record(e, now_ms);
  if (!seq) return seq;
  ++since_checkpoint_;
  if (since_checkpoint_ >= options_.checkpoint_every ||
      now_ms - last_checkpoint_ms_ >= options_.checkpoint_interval_ms) {
    if (auto c = checkpoint(now_ms); !c) return tl::unexpected(c.error());
  }
  return seq;
}

tl::expected<void, std::string> AuditLog::checkpoint_if_due(int64_t now_ms) {
  if (since_checkpoint_ == 0 || now_ms - last_checkpoint_ms_ < options_.checkpoint_interval_ms) return {};
  return checkpoint(now_ms);
}

tl::expected<void, std::string> AuditLog::checkpoint_now(int64_t now_ms) {
  if (since_checkpoint_ == 0) return {};
  return checkpoint(now_ms);
}

tl::expected<void, std::string> AuditLog::remove_anchored_files() {
  // A damaged or forged anchor removes nothing: verify() reports it.
  const auto anchor = read_anchor(dir_, key_->public_pem());
  if (!anchor || !*anchor) return {};
  const LogFiles files = log_files(dir_);
  const size_t n = anchored_files(files, *anchor);
  for (size_t i = 0; i < n; ++i) {
    const std::string path = dir_ + "/" + files[i].second;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return tl::unexpected(errno_text("cannot remove", path));
  }
  if (n == 0) return {};
  return base::sync_directory(dir_);
}

tl::expected<Retention, std::string> AuditLog::apply_retention(int64_t now_ms) {
  if (now_ms < next_retention_ms_) return Retention{};
  next_retention_ms_ = now_ms + options_.retention_check_interval_ms;
  // The log's own time: its newest record when it was opened, plus the
  // monotonic time since. A wall clock set ahead (by mistake, or by someone
  // who wants old records gone) removes nothing early; a clock behind keeps
  // more.
  const int64_t log_now = std::min(now_ms, newest_at_open_ms_ + (options_.steady_ms() - opened_steady_ms_));
  if (now_ms - log_now > kClockSlackMs && !clock_ahead_recorded_) {
    clock_ahead_recorded_ = true;
    Event e = system_event("audit_retention");
    e.success = false;
    e.details =
        ojson{{"problem", "the wall clock is ahead of the log's own time"}, {"ahead_ms", now_ms - log_now}};
    if (write_record(e, now_ms)) ++since_checkpoint_;
  }
  const std::string pem = key_->public_pem();
  const auto anchor = read_anchor(dir_, pem);
  if (!anchor) return tl::unexpected("audit retention refused: " + anchor.error());
  Chain chain;
  if (*anchor) {
    chain.expected = (*anchor)->seq + 1;
    chain.prev = (*anchor)->hash;
  }
  // Whole files, oldest first, never the one being written, at most
  // kMaxFilesPerPass a pass (the walk holds up the log's writers). Every
  // file is verified before any may go, and so are the files after them up
  // to a signed checkpoint: that signature covers the link from what stays
  // to what goes. Retention never erases tampering.
  const int64_t cutoff = log_now - options_.retention_days * civil::kSecondsPerDay * 1000;
  const LogFiles files = log_files(dir_);
  Retention out;
  std::string through_hash;
  bool keeping = false;  // past the files that go
  bool signed_after = false;
  for (size_t i = anchored_files(files, *anchor); i < files.size() && !signed_after; ++i) {
    VerifyReport r;
    if (!walk_file(dir_, files[i].first, files[i].second, pem, key_->key_id(), chain, r)) {
      Event e = system_event("audit_retention");
      e.success = false;
      e.details = ojson{{"problem", r.problem}, {"where", r.where}};
      if (write_record(e, now_ms)) ++since_checkpoint_;
      return tl::unexpected("audit retention refused at " + r.where + ": " + r.problem +
                            " (every file is kept)");
    }
    const bool expired = chain.last_time_ms && *chain.last_time_ms < cutoff;
    if (!keeping && expired && i + 1 < files.size() && out.files.size() < kMaxFilesPerPass) {
      out.files.push_back(files[i].second);
      out.through_seq = chain.expected - 1;
      through_hash = chain.prev;
      continue;
    }
    if (out.files.empty()) break;  // the oldest file stays: nothing goes
    keeping = true;
    signed_after = r.checkpoints > 0;
  }
  // No signed checkpoint after them yet (one comes within minutes): later.
  if (!signed_after) return Retention{};

  // The record first (an action that is not recorded does not happen), then
  // the anchor verify() will start from, then the files.
  Event e = system_event("audit_retention");
  e.details = ojson{{"retention_days", options_.retention_days},
                    {"through_seq", out.through_seq},
                    {"through_hash", through_hash},
                    {"files", out.files}};
  if (auto w = write_record(e, now_ms); !w) return tl::unexpected(w.error());
  ++since_checkpoint_;
  const std::string sig = key_->sign(anchor_message(out.through_seq, through_hash));
  if (sig.empty()) return tl::unexpected(std::string("audit anchor: signing failed (OpenSSL)"));
  const std::string text = ojson{{"seq", out.through_seq},
                                 {"hash", through_hash},
                                 {"key_id", key_->key_id()},
                                 {"signature", keys::base64_encode(sig)}}
                               .dump() +
                           "\n";
  if (auto w = base::write_file_atomically(dir_ + "/anchor", text, 0640); !w)
    return tl::unexpected("audit anchor: " + w.error());
  base::fault_point("audit-anchor-written");
  if (auto removed = remove_anchored_files(); !removed) return tl::unexpected(removed.error());
  return out;
}

VerifyReport verify(const std::string& dir, std::string_view public_pem) {
  VerifyReport r;
  auto key_id = keys::public_key_id(public_pem);
  if (!key_id) {
    r.problem = "the verification key: " + key_id.error();
    return r;
  }
  auto head = read_head(dir);
  if (!head) {
    r.problem = head.error();
    return r;
  }
  const auto anchor = read_anchor(dir, public_pem);
  if (!anchor) {
    r.problem = anchor.error();
    r.where = "anchor";
    return r;
  }
  Chain chain;
  if (*anchor) {
    chain.expected = (*anchor)->seq + 1;
    chain.prev = (*anchor)->hash;
    r.removed_through = (*anchor)->seq;
  }
  const LogFiles files = log_files(dir);
  // ftzgated removes the files the anchor covers when it opens the log: one
  // here now was put back, or made up.
  if (const size_t below = anchored_files(files, *anchor); below > 0) {
    r.problem = std::to_string(below) +
                " file(s) hold only records the anchor says retention removed (put back or made up)";
    r.where = files.front().second;
    return r;
  }
  for (const auto& [first, name] : files) {
    if (!walk_file(dir, first, name, public_pem, *key_id, chain, r)) return r;
  }
  if (*head && ((*head)->seq > chain.expected - 1 ||
                ((*head)->seq == chain.expected - 1 && (*head)->hash != chain.prev))) {
    r.problem = "the log ends at seq " + std::to_string(chain.expected - 1) + ", head records seq " +
                std::to_string((*head)->seq) + " (truncated or its last records replaced)";
    return r;
  }
  r.where.clear();
  r.ok = true;
  return r;
}

VerifyReport verify(const std::string& dir, std::string_view public_pem,
                    const std::vector<FleetAnchor>& anchors) {
  VerifyReport r = verify(dir, public_pem);
  if (!r.ok) return r;
  std::map<uint64_t, const FleetAnchor*> want;
  for (const FleetAnchor& a : anchors)
    if (a.seq > r.removed_through) want.emplace(a.seq, &a);
  if (want.empty()) return r;
  // The chain verified: each line's seq and hash are the record's.
  const LogFiles files = log_files(dir);
  for (const auto& [first, name] : files) {
    std::ifstream in((fs::path(dir) / name).string(), std::ios::binary);
    uint64_t line_no = 0;
    for (std::string line; std::getline(in, line) && !want.empty();) {
      ++line_no;
      const ojson record = ojson::parse(line, nullptr, false);
      if (!record.is_object() || !record.contains("seq") || !record["seq"].is_number_unsigned()) continue;
      const auto it = want.find(record["seq"].get<uint64_t>());
      if (it == want.end()) continue;
      if (record.value("hash", "") != it->second->hash) {
        r.ok = false;
        r.problem = "record " + std::to_string(it->first) +
                    " is not the one this member anchored in its fleet (the log was rewritten)";
        r.where = name + ":" + std::to_string(line_no) + " (seq " + std::to_string(it->first) + ")";
        return r;
      }
      want.erase(it);
    }
  }
  if (!want.empty()) {
    r.ok = false;
    r.problem = "the log ends at seq " + std::to_string(r.last_seq) + ", but this member anchored seq " +
                std::to_string(want.rbegin()->first) + " in its fleet (records deleted or the log replaced)";
    r.where.clear();
  }
  return r;
}

Records read_records(const std::string& dir, int64_t since_ms, size_t last, size_t max_bytes) {
  Records out;
  std::deque<std::string> kept;
  size_t bytes = 0;
  // Files below the anchor are not the log's (verify() says so); the anchor
  // is read for its seq only, as this shows and does not judge.
  std::optional<Anchor> anchor;
  if (const auto text = slurp(dir + "/anchor")) {
    const ojson j = ojson::parse(*text, nullptr, false);
    if (j.is_object() && j.contains("seq") && j["seq"].is_number_unsigned())
      anchor = Anchor{j["seq"].get<uint64_t>(), ""};
  }
  const LogFiles files = log_files(dir);
  for (size_t i = anchored_files(files, anchor); i < files.size(); ++i) {
    std::ifstream in((fs::path(dir) / files[i].second).string(), std::ios::binary);
    // Read while records are appended: a last line without its newline is
    // one being written, not one to show.
    for (std::string line; std::getline(in, line) && !in.eof();) {
      const ojson record = ojson::parse(line, nullptr, false);
      const auto time = record.is_object() && record.contains("time") && record["time"].is_string()
                            ? parse_time(record["time"].get<std::string>())
                            : std::nullopt;
      if (time && *time < since_ms) continue;
      ++out.matched;
      bytes += line.size();
      kept.push_back(std::move(line));
      while (!kept.empty() && (kept.size() > last || bytes > max_bytes)) {
        bytes -= kept.front().size();
        kept.pop_front();
      }
    }
  }
  out.lines.assign(std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  return out;
}

}  // namespace ftz::audit
