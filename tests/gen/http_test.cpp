#include "ftz/test/gen/http.hpp"

#include <gtest/gtest.h>

namespace ftz::test::gen {
namespace {

TEST(Http, ContentLengthRequest) {
  const std::string r = http_request("POST", "/x", "h.example", {{"Content-Type", "text/csv"}}, "a,b\n");
  EXPECT_EQ(
      r, "POST /x HTTP/1.1\r\nHost: h.example\r\nContent-Type: text/csv\r\nContent-Length: 4\r\n\r\na,b\n");
  EXPECT_EQ(http_head_length(r), r.size() - 4);
  EXPECT_EQ(http_request("GET", "/", "h", {}, ""), "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(Http, ChunkedRequestAndWireOffsets) {
  const std::string body = "0123456789abcdefghij";  // 20 bytes
  const std::vector<std::size_t> sizes = {16, 3};
  const std::string r = http_request("POST", "/u", "h", {}, body, sizes);
  const std::size_t head = http_head_length(r);
  EXPECT_EQ(r.substr(head), "10\r\n0123456789abcdef\r\n3\r\nghi\r\n1\r\nj\r\n0\r\n\r\n");
  EXPECT_NE(r.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(r.find("Content-Length"), std::string::npos);
  for (std::size_t i = 0; i < body.size(); ++i) {
    EXPECT_EQ(r[head + chunked_wire_offset(i, sizes, body.size())], body[i]) << i;
  }
}

TEST(Http, DateIsImfFixdate) {
  EXPECT_EQ(http_date(1772413200ull * 1'000'000'000ull), "Mon, 02 Mar 2026 01:00:00 GMT");
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(Http, ChunkSizesCoverTotal) {
  Rng rng(1);
  const auto sizes = random_chunk_sizes(rng, 10000, 100, 900);
  std::size_t sum = 0;
  for (auto s : sizes) {
    EXPECT_GE(s, 100u);
    EXPECT_LE(s, 900u);
    sum += s;
  }
  EXPECT_GE(sum, 10000u);
}

}  // namespace
}  // namespace ftz::test::gen
