#pragma once
// A capture file (pcap or pcapng) read record by record, for ftzgate-inspect
// and ftzgate-dp's replays. What it adds to libpcap:
//
//  - Records longer than the file's snap length. libpcap 1.10.3 reads a
//    classic pcap record whose captured length exceeds the snap length in
//    the file header by keeping the first snaplen bytes, discarding the rest
//    and reporting caplen = snaplen, len unchanged - with no error or
//    warning (sf-pcap.c, pcap_next_packet(): "read up to the snapshot
//    length, discard the rest of the packet"). A capture crafted that way
//    hides everything past the first bytes from inspection while Wireshark
//    and tshark show it. (Records above the link type's maximum, 262144
//    bytes for Ethernet, and pcapng records above their interface's snap
//    length are errors in libpcap: "invalid packet capture length N, bigger
//    than snaplen of S".) The reader measures each record in the file
//    (record header + stored bytes, from the file position) and reads a cut
//    record again in full, so it is inspected whole; such records are
//    counted and reported.
//  - Link types mapped to the engine's, with one error message.
//  - A classic pcap it cannot measure (a pipe) is refused: a record cut
//    there could not be detected.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/packet.hpp"

namespace ftz::capture {

struct CaptureRecordView {
  int64_t ts_ns = 0;
  uint32_t caplen = 0;   // bytes at `data` (the whole stored record)
  uint32_t wirelen = 0;  // the record's length on the wire
  const uint8_t* data = nullptr;
};

class CaptureReader {
 public:
  // Opens `path` with nanosecond timestamps. Errors name the file: cannot
  // read, unsupported link type (with its number and name), a classic pcap
  // that is not a seekable file.
  static tl::expected<std::unique_ptr<CaptureReader>, std::string> open(const std::string& path);
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  enum class Next { kRecord, kEnd, kError };
  // The next record; its data stays valid until the next call. kError: the
  // file is damaged or cut mid-record (error() says how).
  Next next(CaptureRecordView& out);

  [[nodiscard]] engine::LinkType link() const noexcept { return link_; }
  [[nodiscard]] const char* link_name() const noexcept { return link_name_; }
  [[nodiscard]] int dlt() const noexcept { return dlt_; }
  [[nodiscard]] uint32_t snaplen() const noexcept { return snaplen_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  // "FILE: what went wrong", after kError.
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  [[nodiscard]] uint64_t records() const noexcept { return records_; }

  // Records stored longer than the snap length (read in full here).
  [[nodiscard]] uint64_t over_snaplen() const noexcept { return over_snaplen_; }
  // "FILE: 3 records are longer than the file's snap length 64 (the first,
  // record 4, has 200 bytes): libpcap cuts such records to 64 bytes without
  // a word; they were read and inspected in full", or "" when none.
  [[nodiscard]] std::string over_snaplen_warning() const;

 private:
  CaptureReader() = default;

  struct Pcap;
  std::unique_ptr<Pcap> pcap_;
  std::string path_;
  std::string error_;
  engine::LinkType link_ = engine::LinkType::kEthernet;
  const char* link_name_ = "";
  int dlt_ = 0;
  uint32_t snaplen_ = 0;
  bool classic_ = false;     // classic pcap: records measured in the file
  long record_header_ = 16;  // 24 for the "patched" (Kuznetzov) format
  // Classic pcap: where the next record starts. Kept by arithmetic, not
  // ftello (an lseek system call per record): only a record that may have
  // been cut asks the file where libpcap stopped.
  off_t next_record_at_ = -1;
  std::vector<uint8_t> full_;  // a cut record read again
  uint64_t records_ = 0;
  uint64_t over_snaplen_ = 0;
  uint64_t first_over_record_ = 0;  // 1-based
  uint32_t first_over_caplen_ = 0;
};

}  // namespace ftz::capture
