#include "ftz/test/pcap_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ftz::test {

namespace {

constexpr std::size_t kWriteBuffer = 1 << 20;  // large buffer: generators write 100s of MB

template <typename T>
void append_raw(unsigned char* out, std::size_t& at, T v) {
  std::memcpy(out + at, &v, sizeof v);
  at += sizeof v;
}

}  // namespace

PcapWriter::PcapWriter(std::unique_ptr<std::FILE, FileCloser> file, std::string path,
                       TimestampPrecision precision, std::uint32_t snaplen)
    : buffer_(std::make_unique<char[]>(kWriteBuffer)),
      file_(std::move(file)),
      path_(std::move(path)),
      precision_(precision),
      snaplen_(snaplen) {
  std::setvbuf(file_.get(), buffer_.get(), _IOFBF, kWriteBuffer);
}

tl::expected<PcapWriter, std::string> PcapWriter::open(const std::string& path, TimestampPrecision precision,
                                                       std::uint32_t linktype, std::uint32_t snaplen) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) return tl::unexpected(path + ": " + std::strerror(errno));
  PcapWriter writer(std::move(file), path, precision, snaplen);
  unsigned char header[24];
  std::size_t at = 0;
  append_raw<std::uint32_t>(header, at,
                            precision == TimestampPrecision::kNano ? kPcapMagicNano : kPcapMagicMicro);
  append_raw<std::uint16_t>(header, at, 2);  // version 2.4
  append_raw<std::uint16_t>(header, at, 4);
  append_raw<std::int32_t>(header, at, 0);   // thiszone: timestamps are UTC
  append_raw<std::uint32_t>(header, at, 0);  // sigfigs
  append_raw<std::uint32_t>(header, at, snaplen);
  append_raw<std::uint32_t>(header, at, linktype);
  if (std::fwrite(header, 1, sizeof header, writer.file_.get()) != sizeof header) {
    return tl::unexpected(path + ": write failed: " + std::strerror(errno));
  }
  writer.bytes_ = sizeof header;
  return writer;
}

bool PcapWriter::write(std::uint64_t ts_ns, std::span<const std::uint8_t> frame) {
  if (!file_ || failed_) return false;
  const auto caplen = static_cast<std::uint32_t>(std::min<std::size_t>(frame.size(), snaplen_));
  const std::uint64_t frac =
      precision_ == TimestampPrecision::kNano ? ts_ns % 1'000'000'000u : (ts_ns % 1'000'000'000u) / 1000u;
  unsigned char header[16];
  std::size_t at = 0;
  append_raw<std::uint32_t>(header, at, static_cast<std::uint32_t>(ts_ns / 1'000'000'000u));
  append_raw<std::uint32_t>(header, at, static_cast<std::uint32_t>(frac));
  append_raw<std::uint32_t>(header, at, caplen);
  append_raw<std::uint32_t>(header, at, static_cast<std::uint32_t>(frame.size()));
  if (std::fwrite(header, 1, sizeof header, file_.get()) != sizeof header ||
      std::fwrite(frame.data(), 1, caplen, file_.get()) != caplen) {
    failed_ = true;
    return false;
  }
  ++packets_;
  bytes_ += sizeof header + caplen;
  return true;
}

tl::expected<void, std::string> PcapWriter::close() {
  if (!file_) return {};
  const bool flush_failed = std::fflush(file_.get()) != 0;
  const bool close_failed = std::fclose(file_.release()) != 0;
  if (failed_ || flush_failed || close_failed) {
    return tl::unexpected(path_ + ": write failed");
  }
  return {};
}

tl::expected<PcapFile, std::string> read_pcap(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return tl::unexpected(path + ": " + std::strerror(errno));
  unsigned char header[24];
  if (std::fread(header, 1, sizeof header, file.get()) != sizeof header) {
    return tl::unexpected(path + ": short global header");
  }
  std::uint32_t magic;
  std::memcpy(&magic, header, 4);
  const auto swap32 = [](std::uint32_t v) { return __builtin_bswap32(v); };
  bool swapped = false;
  PcapFile out;
  if (magic == kPcapMagicMicro || magic == kPcapMagicNano) {
    out.precision = magic == kPcapMagicNano ? TimestampPrecision::kNano : TimestampPrecision::kMicro;
  } else if (swap32(magic) == kPcapMagicMicro || swap32(magic) == kPcapMagicNano) {
    swapped = true;
    out.precision = swap32(magic) == kPcapMagicNano ? TimestampPrecision::kNano : TimestampPrecision::kMicro;
  } else {
    return tl::unexpected(path + ": not a classic pcap file");
  }
  const auto field = [&](const unsigned char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return swapped ? swap32(v) : v;
  };
  out.linktype = field(header + 20);
  unsigned char rec[16];
  while (std::fread(rec, 1, sizeof rec, file.get()) == sizeof rec) {
    PcapRecord r;
    const std::uint64_t sec = field(rec);
    const std::uint64_t frac = field(rec + 4);
    const std::uint32_t caplen = field(rec + 8);
    r.orig_len = field(rec + 12);
    r.ts_ns = sec * 1'000'000'000u + (out.precision == TimestampPrecision::kNano ? frac : frac * 1000u);
    r.data.resize(caplen);
    if (caplen > 0 && std::fread(r.data.data(), 1, caplen, file.get()) != caplen) {
      return tl::unexpected(path + ": truncated record " + std::to_string(out.records.size()));
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

tl::expected<void, std::string> write_pcap_over_snaplen(const std::string& path,
                                                        const std::vector<PcapRecord>& records,
                                                        std::uint32_t snaplen) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return tl::unexpected(path + ": " + std::strerror(errno));
  bool ok = true;
  const auto put = [&](const void* p, size_t n) { ok = ok && std::fwrite(p, 1, n, f) == n; };
  const auto put32 = [&](std::uint32_t v) { put(&v, 4); };
  const auto put16 = [&](std::uint16_t v) { put(&v, 2); };
  put32(kPcapMagicNano);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(snaplen);
  put32(kLinktypeEthernet);
  for (const PcapRecord& r : records) {
    put32(static_cast<std::uint32_t>(r.ts_ns / 1'000'000'000));
    put32(static_cast<std::uint32_t>(r.ts_ns % 1'000'000'000));
    put32(static_cast<std::uint32_t>(r.data.size()));
    put32(static_cast<std::uint32_t>(r.data.size()));
    put(r.data.data(), r.data.size());
  }
  if (std::fclose(f) != 0) ok = false;
  if (!ok) return tl::unexpected(path + ": write error");
  return {};
}

}  // namespace ftz::test
