// libFuzzer target: the compliance state file (ComplianceLedger::load, the
// versioned binary format of docs/compliance.md "Persistence").
//
// Input: [mode] [bytes...]
//   mode bit 0 set:   the bytes are the whole file (magic, version and the
//                     SHA-256 trailer as given: the refusals of a foreign or
//                     damaged file);
//   mode bit 0 clear: the bytes are the body after magic and version; the
//                     harness adds both (version 2 with mode bit 2, else 1)
//                     and a correct trailer, and unless
//                     bit 1 is set it also writes the configured algorithm,
//                     HLL precision and key fingerprint into the header, so
//                     the fuzzer reaches the sets, summaries and fired events.
// Invariants:
//   - a refused file leaves the ledger exactly as it was (never a silent
//     reset of the year's counts) and says why;
//   - a loaded ledger saves a file that loads again to the same counts
//     (exact and estimated, per tenant, class and destination), year and
//     previous year;
//   - evaluate() and the approval check then run on whatever was loaded.
#include <openssl/evp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ftz/engine/compliance/hll.hpp"
#include "ftz/engine/compliance/ledger.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace ftz::engine;
using namespace ftz::engine::compliance;

constexpr char kMagic[8] = {'F', 'T', 'Z', 'C', 'M', 'P', 'L', '\0'};
constexpr uint64_t kFingerprint = 0x0123456789abcdefULL;
constexpr int64_t kNow = 1'780'272'000'000'000'000;  // 2026-06-01 (Asia/Shanghai)

LedgerConfig config() {
  LedgerConfig c;
  c.tenant_names = {"pacific-re", "biogen"};
  c.zone_names = {"inside", "offshore", "hk"};
  ThresholdSpec pi;
  pi.name = "pi-scc";
  pi.data_class = DataClass::kPi;
  pi.individuals = 3;
  pi.mechanism = "standard contract";
  pi.satisfied_by = {Mechanism::kStandardContract};
  ThresholdSpec spi;
  spi.name = "sensitive-pi-scc";
  spi.data_class = DataClass::kSensitivePi;
  spi.individuals = 1;
  c.thresholds = {pi, spi};
  c.max_tokens_per_set = 64;  // small: loaded sets saturate
  c.approvals.push_back({0, "SCC-1", kNow / 1'000'000'000 + 86400, 0, Mechanism::kStandardContract, 0x3});
  c.algo = MacAlgo::kHmacSha256;
  c.key_fingerprint = kFingerprint;
  return c;
}

void put_le(std::vector<uint8_t>& v, size_t at, uint64_t x, size_t n) {
  for (size_t i = 0; i < n; ++i) v[at + i] = static_cast<uint8_t>(x >> (8 * i));
}

// What a caller can observe of a ledger; equal snapshots = same ledger.
struct Snapshot {
  int32_t year = 0;
  int32_t previous_year = 0;
  std::vector<std::string> tenants;
  std::vector<uint64_t> counts;
  std::vector<double> estimates;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const ComplianceLedger& l, size_t zones) {
  Snapshot s;
  s.year = l.year();
  s.previous_year = l.previous_year();
  s.tenants = l.tenant_names();
  for (uint32_t t = 0; t < s.tenants.size(); ++t) {
    for (int c = 0; c < static_cast<int>(DataClass::kCount); ++c) {
      const auto cls = static_cast<DataClass>(c);
      for (uint32_t z = 0; z <= zones; ++z) {
        const uint32_t dest = z == zones ? kAllDestZones : z;
        const IndividualCount n = l.individuals(t, cls, dest);
        s.counts.push_back(n.at_least);
        s.counts.push_back(n.saturated);
        s.counts.push_back(n.overflow);
        s.counts.push_back(n.lost);
        const double e = l.estimate(t, cls, dest);
        s.estimates.push_back(std::isnan(e) ? -1 : e);
        const IndividualCount p = l.previous_year_individuals(t, cls, dest);
        s.counts.push_back(p.at_least);
        s.counts.push_back(p.overflow);
      }
    }
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  const uint8_t mode = data[0];
  ++data;
  --size;

  std::vector<uint8_t> file;
  if ((mode & 1) != 0) {
    file.assign(data, data + size);
  } else {
    file.assign(kMagic, kMagic + sizeof kMagic);
    file.insert(file.end(), {static_cast<uint8_t>((mode & 4) != 0 ? 2 : 1), 0, 0, 0});
    const size_t body = file.size();
    file.insert(file.end(), data, data + size);
    if ((mode & 2) == 0 && size >= 12) {
      file[body] = static_cast<uint8_t>(MacAlgo::kHmacSha256);
      file[body + 2] = static_cast<uint8_t>(Hll::kPrecision);
      put_le(file, body + 4, kFingerprint, 8);
    }
    uint8_t sum[32];
    unsigned int len = 0;
    if (EVP_Digest(file.data(), file.size(), sum, &len, EVP_sha256(), nullptr) != 1)
      ftz::fuzz::fail("SHA-256");
    file.insert(file.end(), sum, sum + 32);
  }
  const std::string& dir = ftz::fuzz::ScratchDir::path();
  const std::string in_path = dir + "/in.state";
  ftz::fuzz::write_file(in_path, file.data(), file.size());

  const LedgerConfig cfg = config();
  const size_t zones = cfg.zone_names.size();
  ComplianceLedger a(cfg, kNow);
  const Snapshot before = snapshot(a, zones);
  auto loaded = a.load(in_path);
  if (!loaded) {
    if (loaded.error().empty()) ftz::fuzz::fail("a refused state file without a reason");
    if (!(snapshot(a, zones) == before))
      ftz::fuzz::fail("a refused state file changed the ledger", loaded.error());
    return 0;
  }
  if (!*loaded) ftz::fuzz::fail("an existing state file reported as missing");

  // Round trip: what we save, we load again to the same counts.
  const std::string out_path = dir + "/out.state";
  if (auto saved = a.save(out_path, kNow); !saved) ftz::fuzz::fail("save failed", saved.error());
  ComplianceLedger b(cfg, kNow);
  auto again = b.load(out_path);
  if (!again || !*again) ftz::fuzz::fail("a saved state file does not load", again ? "" : again.error());
  const Snapshot sa = snapshot(a, zones);
  if (!(sa == snapshot(b, zones))) ftz::fuzz::fail("counts differ after save and load");

  // Whatever was loaded, the control thread's next steps must hold up.
  (void)a.evaluate(kNow);
  (void)a.check_approval_expiry(kNow + int64_t{2} * 86400 * 1'000'000'000);
  (void)a.memory_bytes();
  return 0;
}
