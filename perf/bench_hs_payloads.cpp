// Bare Hyperscan baseline for ftzgate-dp's full-inspection figure
// (perf/bench-dp): every TCP payload of a capture scanned in BLOCK mode with
// the signatures of a configuration, nothing else.
//
//   bench_hs_payloads CAPTURE CONFIG [--passes N]
//
// Not timed: reading the capture (libpcap), walking Ethernet / VLAN (802.1Q,
// 802.1ad, any depth) / IPv4 / IPv6 (extension headers) / TCP headers, and
// copying each payload into one contiguous buffer; loading CONFIG with the
// production loader (ftz::config::load_config, signature_packs resolved as
// ftzgate-dp resolves them) and compiling its signatures with
// compile_block_database() (dataplane/engine/signatures: the same patterns and
// flags as the streaming database the workers use, in HS_MODE_BLOCK; the same
// bare baseline bench_scan uses).
//
// Two databases, timed one after the other in the same run:
//  (a) "snort10": issue 9's 10 Snort-equivalent patterns (resident ID, mobile,
//      UnionPay and e-mail regexes as Snort 3 fast patterns; six keywords with
//      HS_FLAG_CASELESS on the keywords only), no start-of-match;
//  (b) "catalog": the configuration's signatures as written.
// Timed, per pass: one hs_scan() per TCP segment payload, in capture order,
// with a callback that only counts matches. That is the floor of any
// per-segment content scan: no reassembly, no stream state, no HTTP parsing,
// no decoding, no validation. Prints each pass, the best and the median, and a
// last line of key=value pairs for scripts.
//
// Skipped (counted): non-IP, non-TCP, IP fragments (a reassembled datagram is
// not a segment of the capture), TCP segments without payload, truncated or
// malformed headers.
#include <hs/hs.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/engine/signatures/database.hpp"

namespace {

struct Payloads {
  std::vector<uint8_t> bytes;    // every payload, back to back
  std::vector<uint64_t> starts;  // offsets into bytes; starts.back() == bytes.size()
  uint64_t packets = 0;
  uint64_t not_ip = 0;
  uint64_t not_tcp = 0;
  uint64_t fragments = 0;
  uint64_t malformed = 0;
  uint64_t empty = 0;
  uint64_t wire_bytes = 0;
};

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

bool skip(uint64_t& counter) {
  ++counter;
  return false;
}

// The TCP payload of one frame: {offset, length} into data, or length 0.
// Returns false when the frame is skipped (the reason is counted).
bool tcp_payload(int link, const uint8_t* d, uint32_t caplen, Payloads& out, uint32_t& off, uint32_t& len) {
  uint32_t at = 0;
  uint16_t type = 0;
  if (link == DLT_EN10MB) {
    if (caplen < 14) return skip(out.malformed);
    type = be16(d + 12);
    at = 14;
    while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
      if (caplen < at + 4) return skip(out.malformed);
      type = be16(d + at + 2);
      at += 4;
    }
  } else if (link == DLT_RAW) {
    if (caplen < 1) return skip(out.malformed);
    type = (d[0] >> 4) == 6 ? 0x86dd : 0x0800;
  } else {
    return skip(out.not_ip);
  }
  uint8_t proto = 0;
  uint32_t l4_end = 0;  // end of the IP payload (trailing Ethernet padding excluded)
  if (type == 0x0800) {
    if (caplen < at + 20 || (d[at] >> 4) != 4) return skip(out.malformed);
    const uint32_t ihl = (d[at] & 0x0f) * 4u;
    const uint32_t total = be16(d + at + 2);
    if (ihl < 20 || total < ihl || caplen < at + ihl) return skip(out.malformed);
    if ((be16(d + at + 6) & 0x3fff) != 0) return skip(out.fragments);  // MF or offset
    proto = d[at + 9];
    l4_end = std::min(caplen, at + total);
    at += ihl;
  } else if (type == 0x86dd) {
    if (caplen < at + 40 || (d[at] >> 4) != 6) return skip(out.malformed);
    l4_end = std::min(caplen, at + 40 + be16(d + at + 4));
    proto = d[at + 6];
    at += 40;
    for (int n = 0; n < 16; ++n) {
      if (proto == 0 || proto == 43 || proto == 60) {  // hop-by-hop, routing, destination options
        if (l4_end < at + 8) return skip(out.malformed);
        proto = d[at];
        at += (d[at + 1] + 1u) * 8;
      } else if (proto == 51) {  // AH: length in 4-byte units, minus 2
        if (l4_end < at + 8) return skip(out.malformed);
        proto = d[at];
        at += (d[at + 1] + 2u) * 4;
      } else if (proto == 44) {
        return skip(out.fragments);
      } else {
        break;
      }
    }
    if (at > l4_end) return skip(out.malformed);
  } else {
    return skip(out.not_ip);
  }
  if (proto != 6) return skip(out.not_tcp);
  if (l4_end < at + 20) return skip(out.malformed);
  const uint32_t data_offset = (d[at + 12] >> 4) * 4u;
  if (data_offset < 20 || l4_end < at + data_offset) return skip(out.malformed);
  off = at + data_offset;
  len = l4_end - off;
  if (len == 0) return skip(out.empty);
  return true;
}

bool read_payloads(const std::string& path, Payloads& out, std::string& error) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (p == nullptr) {
    error = err;
    return false;
  }
  const int link = pcap_datalink(p);
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  int rc = 0;
  out.starts.push_back(0);
  while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
    ++out.packets;
    out.wire_bytes += h->len;
    uint32_t off = 0, len = 0;
    if (!tcp_payload(link, d, h->caplen, out, off, len)) continue;
    out.bytes.insert(out.bytes.end(), d + off, d + off + len);
    out.starts.push_back(out.bytes.size());
  }
  if (rc == PCAP_ERROR) error = pcap_geterr(p);
  pcap_close(p);
  return rc != PCAP_ERROR;
}

int count_match(unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
  ++*static_cast<uint64_t*>(ctx);
  return 0;
}

// Issue 9's Snort 3 rule set: the four identifier regexes, then six words.
struct SnortPattern {
  const char* regex;
  unsigned flags;
};
constexpr SnortPattern kSnort10[] = {
    {"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]", 0},
    {"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])[0-9]{8}", 0},
    {"62[0-9]{14,17}", 0},
    {"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,4}\\.[A-Za-z]{2,24}", 0},
    {"passport", HS_FLAG_CASELESS},
    {"patient_id", HS_FLAG_CASELESS},
    {"genome", HS_FLAG_CASELESS},
    {"medical_record", HS_FLAG_CASELESS},
    {"bank_account", HS_FLAG_CASELESS},
    {"home_address", HS_FLAG_CASELESS},
};

ftz::engine::sig::HsDatabasePtr compile_snort10() {
  std::vector<const char*> exprs;
  std::vector<unsigned> flags, ids;
  for (const auto& p : kSnort10) {
    exprs.push_back(p.regex);
    flags.push_back(p.flags);
    ids.push_back(static_cast<unsigned>(ids.size()));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                       HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    std::fprintf(stderr, "snort10 compile: %s\n", err != nullptr ? err->message : "?");
    hs_free_compile_error(err);
    return nullptr;
  }
  return ftz::engine::sig::HsDatabasePtr(db);
}

struct Timing {
  double best = 0, median = 0;
  double best_cpu =
      0;  // this thread's CPU time of the best pass: on a busy machine, less noisy than wall time
  uint64_t matches = 0;
};

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Timing time_block_scan(const char* label, const hs_database_t* db, const Payloads& pl, int passes) {
  hs_scratch_t* raw_scratch = nullptr;
  if (hs_alloc_scratch(db, &raw_scratch) != HS_SUCCESS) {
    std::fprintf(stderr, "hs_alloc_scratch failed\n");
    std::exit(1);
  }
  const ftz::engine::sig::HsScratchPtr scratch(raw_scratch);
  const uint64_t segments = pl.starts.size() - 1;
  const double bits = static_cast<double>(pl.bytes.size()) * 8;
  std::vector<double> seconds;
  Timing t;
  t.best_cpu = 1e300;
  for (int pass = 0; pass < passes; ++pass) {
    uint64_t m = 0;
    const double c0 = thread_cpu_s();
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < segments; ++i) {
      const uint64_t a = pl.starts[i];
      const uint64_t b = pl.starts[i + 1];
      hs_scan(db, reinterpret_cast<const char*>(pl.bytes.data() + a), static_cast<unsigned>(b - a), 0,
              scratch.get(), &count_match, &m);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = thread_cpu_s() - c0;
    seconds.push_back(s);
    t.best_cpu = std::min(t.best_cpu, cpu);
    t.matches = m;
    std::printf("%s pass %d: %.3f s (CPU %.3f s), %.2f Gbit/s, %llu matches\n", label, pass + 1, s, cpu,
                bits / s / 1e9, static_cast<unsigned long long>(m));
  }
  std::sort(seconds.begin(), seconds.end());
  t.best = seconds.front();
  t.median = seconds[seconds.size() / 2];
  std::printf("%s: bare hs_scan block mode: best %.2f Gbit/s, median %.2f Gbit/s of payload, one core\n",
              label, bits / t.best / 1e9, bits / t.median / 1e9);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CAPTURE CONFIG [--passes N]\n", argv[0]);
    return 2;
  }
  const std::string capture = argv[1];
  const std::string config_path = argv[2];
  int passes = 3;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
      passes = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }

  auto config = ftz::config::load_config(config_path);
  if (!config) {
    std::fputs(ftz::config::format_diagnostics(config.error()).c_str(), stderr);
    return 2;
  }
  const auto& specs = config->spec.signatures;
  if (specs.empty()) {
    std::fprintf(stderr, "%s: no signatures (signature_packs)\n", config_path.c_str());
    return 2;
  }
  size_t patterns = 0;
  for (const auto& s : specs) patterns += s.patterns.size();
  auto db = ftz::engine::sig::compile_block_database(specs);
  if (!db) {
    std::fprintf(stderr, "block compile: %s\n", db.error().c_str());
    return 1;
  }
  const auto snort = compile_snort10();
  if (!snort) return 1;
  size_t db_size = 0;
  hs_database_size(db->get(), &db_size);

  Payloads pl;
  std::string error;
  if (!read_payloads(capture, pl, error)) {
    std::fprintf(stderr, "%s: %s\n", capture.c_str(), error.c_str());
    return 1;
  }
  const uint64_t segments = pl.starts.size() - 1;
  const uint64_t payload_bytes = pl.bytes.size();
  std::printf("capture: %s: %llu frames, %llu wire bytes; %llu TCP payloads, %llu payload bytes\n",
              capture.c_str(), static_cast<unsigned long long>(pl.packets),
              static_cast<unsigned long long>(pl.wire_bytes), static_cast<unsigned long long>(segments),
              static_cast<unsigned long long>(payload_bytes));
  std::printf("skipped: %llu without payload, %llu not TCP, %llu not IP, %llu fragments, %llu malformed\n",
              static_cast<unsigned long long>(pl.empty), static_cast<unsigned long long>(pl.not_tcp),
              static_cast<unsigned long long>(pl.not_ip), static_cast<unsigned long long>(pl.fragments),
              static_cast<unsigned long long>(pl.malformed));
  std::printf("database: %s: %zu signatures, %zu patterns, block mode, %zu bytes\n", config_path.c_str(),
              specs.size(), patterns, db_size);
  if (segments == 0) {
    std::fprintf(stderr, "no TCP payload in %s\n", capture.c_str());
    return 1;
  }

  const Timing a = time_block_scan("snort10", snort.get(), pl, passes);
  const Timing b = time_block_scan("catalog", db->get(), pl, passes);
  const double bits = static_cast<double>(payload_bytes) * 8;
  // The last line: key=value pairs for scripts (gbps / best_s: the catalog,
  // as before; snort10_*: baseline (a)).
  std::printf(
      "payload_bytes=%llu segments=%llu wire_bytes=%llu best_s=%.6f median_s=%.6f gbps=%.4f matches=%llu "
      "cpu_s=%.6f snort10_best_s=%.6f snort10_cpu_s=%.6f snort10_gbps=%.4f snort10_matches=%llu\n",
      static_cast<unsigned long long>(payload_bytes), static_cast<unsigned long long>(segments),
      static_cast<unsigned long long>(pl.wire_bytes), b.best, b.median, bits / b.best / 1e9,
      static_cast<unsigned long long>(b.matches), b.best_cpu, a.best, a.best_cpu, bits / a.best / 1e9,
      static_cast<unsigned long long>(a.matches));
  return 0;
}
