#include "ftz/engine/app/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <set>

#include "ftz/engine/reasons.hpp"  // AppAnomaly

namespace ftz::engine::app {
namespace {

TEST(BufferPool, AcquireUntilExhaustedThenRelease) {
  BufferPool pool(3, 128);
  std::set<uint32_t> got;
  for (int i = 0; i < 3; ++i) {
    const uint32_t idx = pool.acquire();
    ASSERT_NE(idx, BufferPool::kNoBuffer);
    got.insert(idx);
    EXPECT_EQ(pool.get(idx).size(), 128u);
  }
  EXPECT_EQ(got, (std::set<uint32_t>{0, 1, 2}));
  EXPECT_EQ(pool.in_use(), 3u);
  EXPECT_EQ(pool.acquire(), BufferPool::kNoBuffer);
  EXPECT_EQ(pool.acquire(), BufferPool::kNoBuffer);
  EXPECT_EQ(pool.exhausted(), 2u);
  pool.release(1);
  EXPECT_EQ(pool.in_use(), 2u);
  EXPECT_EQ(pool.acquire(), 1u);
  EXPECT_EQ(pool.peak_in_use(), 3u);
}

TEST(BufferPool, BuffersDoNotOverlap) {
  BufferPool pool(2, 64);
  const uint32_t a = pool.acquire();
  const uint32_t b = pool.acquire();
  auto sa = pool.get(a);
  auto sb = pool.get(b);
  std::fill(sa.begin(), sa.end(), 0xaa);
  std::fill(sb.begin(), sb.end(), 0xbb);
  for (uint8_t c : sa) EXPECT_EQ(c, 0xaa);
}

TEST(BufferPool, BadReleasesAreIgnoredAndCounted) {
  BufferPool pool(2, 16);
  const uint32_t a = pool.acquire();
  pool.release(a);
  pool.release(a);  // double release
  pool.release(7);  // out of range
  pool.release(BufferPool::kNoBuffer);
  EXPECT_EQ(pool.bad_releases(), 3u);
  EXPECT_EQ(pool.in_use(), 0u);
  // The free list is intact: exactly two distinct buffers come back.
  const uint32_t x = pool.acquire();
  const uint32_t y = pool.acquire();
  EXPECT_NE(x, y);
  EXPECT_EQ(pool.acquire(), BufferPool::kNoBuffer);
  EXPECT_TRUE(pool.get(BufferPool::kNoBuffer).empty());
}

TEST(BufferPool, EmptyPool) {
  BufferPool pool(0, 0);
  EXPECT_EQ(pool.acquire(), BufferPool::kNoBuffer);
  EXPECT_EQ(pool.exhausted(), 1u);
}

TEST(AppAnomaly, NamesComeFromTheRegistry) {
  EXPECT_EQ(reason_key(AppAnomaly::kTlsBadSni), "tls_bad_sni");
  EXPECT_EQ(reason_key(AppAnomaly::kDnsGap), "dns_gap");
  EXPECT_EQ(reason_key(static_cast<AppAnomaly>(kAppAnomalyCount)), "none");
  std::set<std::string_view> names;
  for (size_t i = 0; i < kAppAnomalyCount; ++i) names.insert(reason_key(static_cast<AppAnomaly>(i)));
  EXPECT_EQ(names.size(), kAppAnomalyCount) << "names are unique";
}

}  // namespace
}  // namespace ftz::engine::app
