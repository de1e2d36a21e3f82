// Classic pcap (not pcapng) written and read without libpcap, so generators
// and tests have no dependency beyond the C library. Format: the 24-byte
// global header then 16-byte record headers, in host byte order (readers
// detect the order from the magic).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

enum class TimestampPrecision : std::uint8_t {
  kMicro,  // magic 0xa1b2c3d4
  kNano,   // magic 0xa1b23c4d
};

inline constexpr std::uint32_t kLinktypeEthernet = 1;  // DLT_EN10MB
inline constexpr std::uint32_t kPcapMagicMicro = 0xa1b2c3d4;
inline constexpr std::uint32_t kPcapMagicNano = 0xa1b23c4d;

class PcapWriter {
 public:
  // Creates or truncates `path` and writes the global header.
  static tl::expected<PcapWriter, std::string> open(const std::string& path,
                                                    TimestampPrecision precision = TimestampPrecision::kMicro,
                                                    std::uint32_t linktype = kLinktypeEthernet,
                                                    std::uint32_t snaplen = 262144);

  PcapWriter(PcapWriter&&) noexcept = default;
  PcapWriter& operator=(PcapWriter&&) noexcept = default;
  ~PcapWriter() = default;

  // Appends one record; frames longer than snaplen are truncated with the
  // original length kept in orig_len. Returns false on an I/O error.
  bool write(std::uint64_t ts_ns, std::span<const std::uint8_t> frame);

  // Flushes and closes; reports the first I/O error seen, if any.
  tl::expected<void, std::string> close();

  std::uint64_t packets_written() const { return packets_; }
  std::uint64_t bytes_written() const { return bytes_; }  // file size so far

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  PcapWriter(std::unique_ptr<std::FILE, FileCloser> file, std::string path, TimestampPrecision precision,
             std::uint32_t snaplen);

  // buffer_ is declared first so that it outlives file_: fclose flushes into it.
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string path_;
  TimestampPrecision precision_;
  std::uint32_t snaplen_;
  std::uint64_t packets_ = 0;
  std::uint64_t bytes_ = 0;
  bool failed_ = false;
};

struct PcapRecord {
  std::uint64_t ts_ns = 0;
  std::uint32_t orig_len = 0;
  Bytes data;
};

struct PcapFile {
  std::uint32_t linktype = 0;
  TimestampPrecision precision = TimestampPrecision::kMicro;
  std::vector<PcapRecord> records;
};

// Reads a whole classic pcap into memory (either byte order, either precision).
tl::expected<PcapFile, std::string> read_pcap(const std::string& path);

// An Ethernet pcap (nanosecond) whose header declares `snaplen` while every
// record holds its whole frame (caplen = orig_len = data.size()), longer
// ones too: what some writers produce, and what libpcap 1.10.3 silently
// cuts to the snap length.
tl::expected<void, std::string> write_pcap_over_snaplen(const std::string& path,
                                                        const std::vector<PcapRecord>& records,
                                                        std::uint32_t snaplen);

}  // namespace ftz::test
