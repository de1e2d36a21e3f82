#include "ftz/test/pcap_writer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "ftz/test/hex.hpp"

namespace ftz::test {
namespace {

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string(name) + "." + std::to_string(::getpid()) + ".pcap"))
      .string();
}

Bytes slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  Bytes out;
  int c;
  while ((c = std::fgetc(f)) != EOF) out.push_back(static_cast<std::uint8_t>(c));
  std::fclose(f);
  return out;
}

TEST(PcapWriter, NanosecondLayoutAndRoundTrip) {
  const std::string path = temp_path("pcap_ns");
  {
    auto w = PcapWriter::open(path, TimestampPrecision::kNano);
    ASSERT_TRUE(w) << w.error();
    ASSERT_TRUE(w->write(1772413200'123456789ull, from_hex("aabbcc")));
    ASSERT_TRUE(w->close());
  }
  const Bytes raw = slurp(path);
  ASSERT_EQ(raw.size(), 24u + 16u + 3u);
  // Little-endian host: magic 4d 3c b2 a1, version 2.4, snaplen 262144, EN10MB.
  EXPECT_EQ(to_hex(std::span(raw).first(8)), "4d3cb2a102000400");
  EXPECT_EQ(to_hex(std::span(raw).subspan(16, 8)), "0000040001000000");
  // 1772413200 = 0x69a4e110; 123456789 = 0x075bcd15.
  EXPECT_EQ(to_hex(std::span(raw).subspan(24, 16)), "10e1a46915cd5b070300000003000000");
  auto r = read_pcap(path);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->linktype, kLinktypeEthernet);
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0].ts_ns, 1772413200'123456789ull);
  EXPECT_EQ(to_hex(r->records[0].data), "aabbcc");
  std::filesystem::remove(path);
}

TEST(PcapWriter, MicrosecondTruncatesToMicros) {
  const std::string path = temp_path("pcap_us");
  auto w = PcapWriter::open(path, TimestampPrecision::kMicro, kLinktypeEthernet, 2);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write(5'000'001'999ull, from_hex("010203")));
  EXPECT_EQ(w->packets_written(), 1u);
  ASSERT_TRUE(w->close());
  auto r = read_pcap(path);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->precision, TimestampPrecision::kMicro);
  EXPECT_EQ(r->records[0].ts_ns, 5'000'001'000ull);
  EXPECT_EQ(r->records[0].orig_len, 3u);  // snaplen 2 keeps orig_len
  EXPECT_EQ(r->records[0].data.size(), 2u);
  std::filesystem::remove(path);
}

TEST(PcapWriter, OpenFailsWithContext) {
  auto w = PcapWriter::open("/nonexistent-dir/x.pcap");
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("/nonexistent-dir/x.pcap"), std::string::npos);
}

}  // namespace
}  // namespace ftz::test
