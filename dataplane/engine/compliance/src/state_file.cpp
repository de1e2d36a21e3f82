// ComplianceLedger::save / load: the versioned binary state file
// (docs/compliance.md "Persistence"). Little-endian, SHA-256 trailer.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "ftz/base/atomic_file.hpp"
#include "ftz/engine/compliance/ledger.hpp"

namespace ftz::engine::compliance {
namespace {

constexpr char kMagic[8] = {'F', 'T', 'Z', 'C', 'M', 'P', 'L', '\0'};
// 2: adds the records lost to full worker rings (fail closed after a restart
// too). Version 1 files (no such section) still load.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kOldestVersion = 1;
constexpr size_t kTrailer = 32;
constexpr int32_t kMinYear = 1970;  // unix time starts there
constexpr int32_t kMaxYear = 9999;

class Writer {
 public:
  void bytes(const void* p, size_t n) { buf_.append(static_cast<const char*>(p), n); }
  template <typename T>
  void le(T v) {
    using U = std::make_unsigned_t<T>;
    U u = static_cast<U>(v);
    for (size_t i = 0; i < sizeof(T); ++i) buf_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  void str(const std::string& s) {
    le<uint16_t>(static_cast<uint16_t>(std::min<size_t>(s.size(), 0xffff)));
    bytes(s.data(), std::min<size_t>(s.size(), 0xffff));
  }
  std::string& buf() { return buf_; }

 private:
  std::string buf_;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <typename T>
  bool le(T& v, const char* what) {
    if (!need(sizeof(T), what)) return false;
    std::make_unsigned_t<T> u = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      u |= static_cast<std::make_unsigned_t<T>>(uint64_t{p_[off_ + i]} << (8 * i));
    v = static_cast<T>(u);
    off_ += sizeof(T);
    return true;
  }
  bool bytes(void* out, size_t n, const char* what) {
    if (!need(n, what)) return false;
    std::memcpy(out, p_ + off_, n);
    off_ += n;
    return true;
  }
  bool str(std::string& s, const char* what) {
    uint16_t len = 0;
    if (!le(len, what) || !need(len, what)) return false;
    s.assign(reinterpret_cast<const char*>(p_ + off_), len);
    off_ += len;
    return true;
  }
  bool need(size_t n, const char* what) {
    if (n <= n_ - off_) return true;
    if (error_.empty()) error_ = "truncated at byte " + std::to_string(off_) + " reading " + what;
    return false;
  }
  bool fail(std::string e) {
    if (error_.empty()) error_ = std::move(e) + " at byte " + std::to_string(off_);
    return false;
  }
  size_t remaining() const { return n_ - off_; }
  const std::string& error() const { return error_; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t off_ = 0;
  std::string error_;
};

bool sha256(const void* p, size_t n, uint8_t out[32]) {
  unsigned int len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), nullptr) == 1 && len == 32;
}

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

void write_key(Writer& w, const SetKey& k) {
  w.le<uint32_t>(k.tenant);
  w.le<uint32_t>(k.dest_zone);
  w.le<uint8_t>(static_cast<uint8_t>(k.data_class));
  w.le<uint8_t>(k.id_type);
  w.le<uint16_t>(0);
}

}  // namespace

tl::expected<void, std::string> ComplianceLedger::save(const std::string& path, int64_t now_ns) const {
  Writer w;
  w.bytes(kMagic, sizeof(kMagic));
  w.le<uint32_t>(kVersion);
  w.le<uint8_t>(static_cast<uint8_t>(config_.algo));
  w.le<uint8_t>(static_cast<uint8_t>(config_.count_mode));
  w.le<uint8_t>(Hll::kPrecision);
  w.le<uint8_t>(0);
  w.le<uint64_t>(config_.key_fingerprint);
  w.le<int32_t>(year_);
  w.le<int64_t>(now_ns);
  w.le<uint32_t>(static_cast<uint32_t>(config_.tenant_names.size()));
  for (const auto& n : config_.tenant_names) w.str(n);
  w.le<uint32_t>(static_cast<uint32_t>(config_.zone_names.size()));
  for (const auto& n : config_.zone_names) w.str(n);

  w.le<uint64_t>(sets_.size());
  for (const auto& [k, s] : sets_) {
    write_key(w, k);
    w.le<uint64_t>(s.exact.overflow());
    w.le<uint64_t>(s.exact.size());
    s.exact.for_each([&](uint64_t t) { w.le<uint64_t>(t); });
    w.bytes(s.hll.registers(), Hll::kRegisters);
  }
  w.le<int32_t>(previous_year_);
  w.le<uint64_t>(previous_.size());
  for (const auto& [k, s] : previous_) {
    write_key(w, k);
    w.le<uint64_t>(s.individuals);
    w.le<uint64_t>(s.overflow);
    w.le<uint64_t>(s.late_tokens);
    w.bytes(s.hll.registers(), Hll::kRegisters);
  }
  w.le<uint32_t>(static_cast<uint32_t>(fired_.size()));
  for (const auto& [t, name, p] : fired_) {
    w.le<uint32_t>(t);
    w.str(name);
    w.le<uint32_t>(p);
  }
  w.le<uint32_t>(static_cast<uint32_t>(approvals_fired_.size()));
  for (const auto& [t, id] : approvals_fired_) {
    w.le<uint32_t>(t);
    w.str(id);
  }
  w.le<uint32_t>(static_cast<uint32_t>(lost_.size()));
  for (const auto& [tc, n] : lost_) {
    w.le<uint32_t>(tc.first);  // kAnyTenant stays kAnyTenant
    w.le<uint8_t>(static_cast<uint8_t>(tc.second));
    w.le<uint64_t>(n);
  }
  uint8_t sum[32];
  if (!sha256(w.buf().data(), w.buf().size(), sum))
    return tl::unexpected("state file " + path + ": SHA-256 failed");
  w.bytes(sum, sizeof(sum));

  // Atomic replace: a crash leaves either the old file or the new one.
  const std::string& b = w.buf();
  auto written = base::write_file_atomically(path, b, 0600);
  if (!written) return tl::unexpected("state file: " + written.error());
  return {};
}

tl::expected<bool, std::string> ComplianceLedger::load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    return tl::unexpected(errno_text("cannot open state file", path));
  }
  std::string data;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto e = errno_text("cannot read state file", path);
      ::close(fd);
      return tl::unexpected(e);
    }
    if (n == 0) break;
    data.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);

  const std::string where = "state file " + path + ": ";
  const std::string keep =
      " (nothing was loaded and nothing was reset: restore the file from a backup; deleting it would restart "
      "the year's counts from zero)";
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  if (data.size() < sizeof(kMagic) + 4 + kTrailer || std::memcmp(p, kMagic, sizeof(kMagic)) != 0)
    return tl::unexpected(where + "not an ftzgate compliance state file or truncated" + keep);
  uint32_t version = 0;
  {
    Reader r(p + sizeof(kMagic), 4);
    r.le(version, "version");
  }
  if (version < kOldestVersion || version > kVersion)
    return tl::unexpected(where + "unsupported version " + std::to_string(version) + " (this build reads " +
                          std::to_string(kOldestVersion) + " to " + std::to_string(kVersion) + ")" + keep);
  uint8_t sum[32];
  if (!sha256(p, data.size() - kTrailer, sum) || std::memcmp(sum, p + data.size() - kTrailer, kTrailer) != 0)
    return tl::unexpected(where + "checksum mismatch: corrupt or truncated" + keep);

  // Parse into a copy; swap in only when everything was read.
  ComplianceLedger next(config_, 0);
  next.approvals_fired_.clear();
  Reader r(p + sizeof(kMagic) + 4, data.size() - sizeof(kMagic) - 4 - kTrailer);
  uint8_t algo = 0, mode = 0, precision = 0, reserved = 0;
  uint64_t fingerprint = 0;
  int64_t saved_at = 0;
  int32_t year = 0;
  bool ok = r.le(algo, "algorithm") && r.le(mode, "count mode") && r.le(precision, "HLL precision") &&
            r.le(reserved, "header") && r.le(fingerprint, "key fingerprint") && r.le(year, "year") &&
            r.le(saved_at, "save time");
  if (!ok) return tl::unexpected(where + r.error() + keep);
  if (algo != static_cast<uint8_t>(config_.algo))
    return tl::unexpected(where + "written with " + mac_algo_name(static_cast<MacAlgo>(algo)) +
                          " tokens, configured " + mac_algo_name(config_.algo) + keep);
  if (fingerprint != config_.key_fingerprint)
    return tl::unexpected(where +
                          "written with another token key (fingerprint differs): its tokens cannot be "
                          "compared with this key's" +
                          keep);
  if (precision != Hll::kPrecision)
    return tl::unexpected(where + "HLL precision " + std::to_string(precision) + " unsupported" + keep);
  (void)mode;  // sets are kept per identifier type: the count mode can change between runs
  // A counting year outside these is damage, not a date (and year - 1 below
  // must not overflow: found by fuzz_state_file with year = INT32_MIN).
  if (year < kMinYear || year > kMaxYear)
    return tl::unexpected(where + "implausible counting year " + std::to_string(year) + keep);
  next.year_ = year;
  next.previous_year_ = year - 1;

  auto names = [&](std::vector<uint32_t>& map, bool tenants, const char* what) {
    uint32_t n = 0;
    if (!r.le(n, what)) return false;
    if (n > r.remaining() / 2) return r.fail(std::string("implausible ") + what);
    for (uint32_t i = 0; i < n; ++i) {
      std::string s;
      if (!r.str(s, what)) return false;
      map.push_back(tenants ? next.tenant_index(s) : next.zone_index(s));
    }
    return true;
  };
  std::vector<uint32_t> tenant_map, zone_map;
  ok = names(tenant_map, true, "tenant names") && names(zone_map, false, "zone names");

  auto key = [&](SetKey& k) {
    uint8_t cls = 0;
    uint16_t pad = 0;
    if (!(r.le(k.tenant, "set key") && r.le(k.dest_zone, "set key") && r.le(cls, "set key") &&
          r.le(k.id_type, "set key") && r.le(pad, "set key")))
      return false;
    if (cls >= static_cast<uint8_t>(DataClass::kCount)) return r.fail("bad data class");
    if (k.tenant >= tenant_map.size()) return r.fail("tenant index out of range");
    if (k.dest_zone != kAllDestZones && k.dest_zone >= zone_map.size())
      return r.fail("zone index out of range");
    k.data_class = static_cast<DataClass>(cls);
    k.tenant = tenant_map[k.tenant];
    if (k.dest_zone != kAllDestZones) k.dest_zone = zone_map[k.dest_zone];
    k.year = 0;
    return true;
  };

  uint64_t nsets = 0;
  ok = ok && r.le(nsets, "set count");
  for (uint64_t i = 0; ok && i < nsets; ++i) {
    SetKey k;
    uint64_t overflow = 0, ntok = 0;
    ok = key(k) && r.le(overflow, "set overflow") && r.le(ntok, "token count");
    if (ok && ntok > r.remaining() / 8) ok = r.fail("token count larger than the file");
    if (!ok) break;
    SetState& s = next.set_for(k);
    s.exact.reserve(ntok);
    for (uint64_t j = 0; j < ntok; ++j) {
      uint64_t t = 0;
      r.le(t, "token");
      s.exact.insert(t);
    }
    s.exact.add_overflow(overflow);
    ok = r.bytes(s.hll.registers(), Hll::kRegisters, "HLL registers");
  }
  ok = ok && r.le(next.previous_year_, "previous year");
  if (ok && (next.previous_year_ < kMinYear - 1 || next.previous_year_ >= year))
    ok = r.fail("implausible previous year " + std::to_string(next.previous_year_));
  uint64_t nprev = 0;
  ok = ok && r.le(nprev, "summary count");
  for (uint64_t i = 0; ok && i < nprev; ++i) {
    SetKey k;
    Summary s;
    ok = key(k) && r.le(s.individuals, "summary") && r.le(s.overflow, "summary") &&
         r.le(s.late_tokens, "summary") && r.bytes(s.hll.registers(), Hll::kRegisters, "summary HLL");
    if (ok) next.previous_[k] = std::move(s);
  }
  uint32_t nfired = 0;
  ok = ok && r.le(nfired, "fired events");
  for (uint32_t i = 0; ok && i < nfired; ++i) {
    uint32_t t = 0, pct = 0;
    std::string name;
    ok = r.le(t, "fired event") && r.str(name, "fired event") && r.le(pct, "fired event");
    if (ok && t >= tenant_map.size()) ok = r.fail("tenant index out of range");
    if (ok) next.fired_.emplace(tenant_map[t], name, pct);
  }
  uint32_t napp = 0;
  ok = ok && r.le(napp, "expired approvals");
  for (uint32_t i = 0; ok && i < napp; ++i) {
    uint32_t t = 0;
    std::string id;
    ok = r.le(t, "expired approval") && r.str(id, "expired approval");
    if (ok && t >= tenant_map.size()) ok = r.fail("tenant index out of range");
    if (ok) next.approvals_fired_.emplace(tenant_map[t], id);
  }
  uint32_t nlost = 0;
  if (version >= 2) ok = ok && r.le(nlost, "lost records");
  for (uint32_t i = 0; ok && i < nlost; ++i) {
    uint32_t t = 0;
    uint8_t cls = 0;
    uint64_t n = 0;
    ok = r.le(t, "lost records") && r.le(cls, "lost records") && r.le(n, "lost records");
    if (ok && t != kAnyTenant && t >= tenant_map.size()) ok = r.fail("tenant index out of range");
    if (ok && cls >= static_cast<uint8_t>(DataClass::kCount)) ok = r.fail("bad data class");
    if (ok) next.lost_[{t == kAnyTenant ? kAnyTenant : tenant_map[t], static_cast<DataClass>(cls)}] += n;
  }
  if (ok && r.remaining() != 0) ok = r.fail("trailing bytes");
  if (!ok) return tl::unexpected(where + r.error() + keep);

  next.counters_ = counters_;
  *this = std::move(next);
  return true;
}

}  // namespace ftz::engine::compliance
