// libFuzzer target: the audit log's readers (ftz::audit::verify, and
// AuditLog::open's recovery of the newest file) on a damaged or forged file.
//
// Input: [mode] [bytes...]. The bytes are the log's only file
// (audit-00000000000000000001.jsonl); with mode bit 0 a head file naming
// seq (mode >> 1) and an all-zero hash is written too.
// Invariants:
//   - verify() returns a report (ok, or a problem and where it is), never
//     crashes or hangs;
//   - a log verify() accepts opens, takes a record, and still verifies with
//     one record more: recovery and appends keep what verify accepts;
//   - a log open() accepts takes a record whose line verify() then reads
//     (open may cut a partial last line; it never appends after damage);
//   - retention on an accepted log (the fuzzed file is the old one, the
//     appended record starts the next) succeeds and leaves a log verify()
//     accepts, whatever the records' times say.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ftz/audit/audit_log.hpp"
#include "ftz/keys/signing_key.hpp"
#include "fuzz_common.hpp"

namespace {

constexpr int64_t kNowMs = int64_t{1'780'000'000} * 1000;

const ftz::keys::SigningKey& key() {
  static const auto k = [] {
    auto r = ftz::keys::SigningKey::load_or_generate(ftz::fuzz::ScratchDir::path() + "/device.key");
    if (!r) ftz::fuzz::fail("cannot make the signing key", r.error());
    return std::make_unique<ftz::keys::SigningKey>(std::move(*r));
  }();
  return *k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string dir = ftz::fuzz::ScratchDir::path() + "/audit";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directory(dir, ec);
  ftz::fuzz::write_file(dir + "/audit-00000000000000000001.jsonl", data + 1, size - 1, 0640);
  if (mode & 1) {
    const std::string head =
        "{\"seq\":" + std::to_string(mode >> 1) + ",\"hash\":\"" + std::string(64, '0') + "\"}\n";
    ftz::fuzz::write_file(dir + "/head", head.data(), head.size(), 0640);
  }
  const std::string pem = key().public_pem();
  const ftz::audit::VerifyReport before = ftz::audit::verify(dir, pem);
  if (!before.ok && before.problem.empty()) ftz::fuzz::fail("a refused log without a reason");
  ftz::audit::Options options;
  options.rotate_bytes = 1;  // the appended record starts a file of its own
  options.retention_check_interval_ms = 0;
  static int64_t steady_ms = 0;  // the monotonic clock moves with the wall clock here
  steady_ms = kNowMs;
  options.steady_ms = [] { return steady_ms; };
  auto log = ftz::audit::AuditLog::open(dir, key(), kNowMs, options);
  if (before.ok && !log) ftz::fuzz::fail("verify accepted a log open() refused", log.error());
  if (!log) return 0;
  ftz::audit::Event e;
  e.user = "secadmin";
  e.role = "secadmin";
  e.source = "fuzz";
  e.event_type = "commit";
  auto seq = log->append(e, kNowMs + 1000);
  if (!seq) ftz::fuzz::fail("append failed on an opened log", seq.error());
  if (before.ok) {
    const ftz::audit::VerifyReport after = ftz::audit::verify(dir, pem);
    if (!after.ok) ftz::fuzz::fail("an accepted log no longer verifies after an append", after.problem);
    if (after.last_seq != *seq) ftz::fuzz::fail("the appended record is not the log's last");
    constexpr int64_t kDayMs = int64_t{86400} * 1000;
    steady_ms = kNowMs + 1000 * kDayMs;
    auto kept = log->apply_retention(kNowMs + 1000 * kDayMs);
    if (!kept) ftz::fuzz::fail("retention refused a log verify() accepted", kept.error());
    const ftz::audit::VerifyReport retained = ftz::audit::verify(dir, pem);
    if (!retained.ok) ftz::fuzz::fail("the log no longer verifies after retention", retained.problem);
  }
  return 0;
}
