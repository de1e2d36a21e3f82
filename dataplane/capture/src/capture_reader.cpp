#include "ftz/capture/capture_reader.hpp"

#include <pcap/pcap.h>

#include <cstdio>
#include <cstring>

namespace ftz::capture {

struct CaptureReader::Pcap {
  pcap_t* p = nullptr;
  ~Pcap() {
    if (p != nullptr) pcap_close(p);
  }
};

namespace {

struct LinkInfo {
  engine::LinkType type;
  const char* name;
};

bool link_of(int dlt, LinkInfo& out) noexcept {
  switch (dlt) {
    case DLT_EN10MB:
      out = {engine::LinkType::kEthernet, "EN10MB"};
      return true;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
      out = {engine::LinkType::kRawIp, "RAW"};
      return true;
    case DLT_LINUX_SLL:
      out = {engine::LinkType::kLinuxSll, "LINUX_SLL"};
      return true;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
      out = {engine::LinkType::kLinuxSll2, "LINUX_SLL2"};
      return true;
#endif
    default:
      return false;
  }
}

// The "patched" libpcap format (magic 0xa1b2cd34) has 24-byte record headers.
constexpr uint32_t kKuznetzovMagic = 0xa1b2cd34;
constexpr uint32_t kKuznetzovMagicSwapped = 0x34cdb2a1;

uint32_t file_magic(const std::string& path) {
  uint32_t magic = 0;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    if (std::fread(&magic, sizeof magic, 1, f) != 1) magic = 0;
    std::fclose(f);
  }
  return magic;
}

}  // namespace

CaptureReader::~CaptureReader() = default;

tl::expected<std::unique_ptr<CaptureReader>, std::string> CaptureReader::open(const std::string& path) {
  std::unique_ptr<CaptureReader> r(new CaptureReader());
  r->path_ = path;
  r->pcap_ = std::make_unique<Pcap>();
  char err[PCAP_ERRBUF_SIZE] = {};
  r->pcap_->p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  pcap_t* p = r->pcap_->p;
  if (p == nullptr) return tl::unexpected(path + ": cannot read capture: " + err);
  r->dlt_ = pcap_datalink(p);
  LinkInfo link{};
  if (!link_of(r->dlt_, link)) {
    const char* name = pcap_datalink_val_to_name(r->dlt_);
    return tl::unexpected(path + ": unsupported link type " + std::to_string(r->dlt_) + " (" +
                          (name ? name : "unknown") + "); supported: EN10MB, RAW, LINUX_SLL, LINUX_SLL2");
  }
  r->link_ = link.type;
  r->link_name_ = link.name;
  r->snaplen_ = static_cast<uint32_t>(pcap_snapshot(p));
  // libpcap reports pcapng files as version 1.0 and classic pcap as 2.x.
  r->classic_ = pcap_major_version(p) == 2;
  if (r->classic_) {
    const uint32_t magic = file_magic(path);
    if (magic == kKuznetzovMagic || magic == kKuznetzovMagicSwapped) r->record_header_ = 24;
    std::FILE* f = pcap_file(p);
    r->next_record_at_ = f != nullptr ? ftello(f) : -1;  // just past the file header
    if (r->next_record_at_ < 0) {
      return tl::unexpected(path +
                            ": not a seekable file: records longer than the snap length could not be "
                            "detected (libpcap cuts them silently); give a file, not a pipe");
    }
  }
  return r;
}

CaptureReader::Next CaptureReader::next(CaptureRecordView& out) {
  pcap_t* p = pcap_->p;
  std::FILE* f = classic_ ? pcap_file(p) : nullptr;
  const off_t before = next_record_at_;
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int rc = pcap_next_ex(p, &hdr, &data);
  if (rc == PCAP_ERROR_BREAK) return Next::kEnd;
  if (rc != 1) {
    error_ = path_ + ": " + (rc == PCAP_ERROR ? pcap_geterr(p) : "unexpected read result");
    return Next::kError;
  }
  ++records_;
  // Nano precision. A pcapng timestamp past 2^63 ns (libpcap gives a huge
  // tv_sec) does not fit: an error naming the record, like a cut record.
  if (__builtin_mul_overflow(int64_t{hdr->ts.tv_sec}, int64_t{1'000'000'000}, &out.ts_ns) ||
      __builtin_add_overflow(out.ts_ns, int64_t{hdr->ts.tv_usec}, &out.ts_ns)) {
    error_ = path_ + ": record " + std::to_string(records_) + ": timestamp out of range";
    return Next::kError;
  }
  out.caplen = hdr->caplen;
  out.wirelen = hdr->len;
  out.data = data;
  if (f == nullptr || before < 0) return Next::kRecord;
  // libpcap cuts a record only to the snap length: a shorter one is whole,
  // and libpcap read exactly its header and its bytes.
  if (hdr->caplen < snaplen_) {
    next_record_at_ = before + record_header_ + hdr->caplen;
    return Next::kRecord;
  }
  // What the file holds for this record: libpcap read (and discarded) all of
  // it, so the position moved by the record header plus the stored bytes.
  const off_t after = ftello(f);
  if (after < 0) {
    error_ = path_ + ": record " + std::to_string(records_) +
             ": cannot tell the file position: " + std::strerror(errno);
    return Next::kError;
  }
  next_record_at_ = after;
  const off_t stored = after - before - record_header_;
  if (stored <= static_cast<off_t>(hdr->caplen)) return Next::kRecord;
  full_.resize(static_cast<size_t>(stored));
  if (fseeko(f, before + record_header_, SEEK_SET) != 0 ||
      std::fread(full_.data(), 1, full_.size(), f) != full_.size() || fseeko(f, after, SEEK_SET) != 0) {
    error_ = path_ + ": record " + std::to_string(records_) + ": cannot read its " + std::to_string(stored) +
             " stored bytes again: " + std::strerror(errno);
    return Next::kError;
  }
  if (over_snaplen_++ == 0) {
    first_over_record_ = records_;
    first_over_caplen_ = static_cast<uint32_t>(stored);
  }
  out.caplen = static_cast<uint32_t>(stored);
  out.data = full_.data();
  return Next::kRecord;
}

std::string CaptureReader::over_snaplen_warning() const {
  if (over_snaplen_ == 0) return {};
  const std::string snap = std::to_string(snaplen_);
  return path_ + ": " + std::to_string(over_snaplen_) + (over_snaplen_ == 1 ? " record is" : " records are") +
         " longer than the file's snap length " + snap + " (the first, record " +
         std::to_string(first_over_record_) + ", has " + std::to_string(first_over_caplen_) +
         " bytes): libpcap cuts such records to " + snap +
         " bytes without a word; they were read and inspected in full";
}

}  // namespace ftz::capture
