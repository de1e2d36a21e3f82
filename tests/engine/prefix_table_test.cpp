// PrefixTable: longest-prefix match for IPv4 and IPv6, edges (/0, /32, /128,
// the top of the address space), and a randomized comparison against a
// brute-force linear LPM over the mainland prefix lists.
#include "ftz/engine/prefix_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine_fixtures.hpp"

namespace ftz::engine {
namespace {

using testing::ip;
using testing::prefix;

constexpr uint32_t kDefault = 999;

PrefixTable table_of(const std::vector<std::pair<const char*, uint32_t>>& entries) {
  PrefixTable t(kDefault);
  for (const auto& [text, value] : entries) t.add(prefix(text), value);
  t.build();
  return t;
}

uint32_t look(const PrefixTable& t, const char* addr) {
  return t.lookup(ip(addr));
}

TEST(PrefixTableTest, EmptyTableGivesDefault) {
  PrefixTable t(kDefault);
  t.build();
  EXPECT_EQ(look(t, "1.2.3.4"), kDefault);
  EXPECT_EQ(look(t, "2001:db8::1"), kDefault);
}

TEST(PrefixTableTest, NestedPrefixesMostSpecificWins) {
  const PrefixTable t =
      table_of({{"10.0.0.0/8", 1}, {"10.60.0.0/16", 2}, {"10.60.2.0/24", 3}, {"10.60.2.128/25", 4}});
  EXPECT_EQ(look(t, "9.255.255.255"), kDefault);
  EXPECT_EQ(look(t, "10.0.0.0"), 1u);
  EXPECT_EQ(look(t, "10.59.255.255"), 1u);
  EXPECT_EQ(look(t, "10.60.0.0"), 2u);
  EXPECT_EQ(look(t, "10.60.1.255"), 2u);
  EXPECT_EQ(look(t, "10.60.2.0"), 3u);
  EXPECT_EQ(look(t, "10.60.2.127"), 3u);
  EXPECT_EQ(look(t, "10.60.2.128"), 4u);
  EXPECT_EQ(look(t, "10.60.2.255"), 4u);
  EXPECT_EQ(look(t, "10.60.3.0"), 2u);
  EXPECT_EQ(look(t, "10.61.0.0"), 1u);
  EXPECT_EQ(look(t, "10.255.255.255"), 1u);
  EXPECT_EQ(look(t, "11.0.0.0"), kDefault);
}

TEST(PrefixTableTest, ChildSharingParentStartOrEnd) {
  const PrefixTable t =
      table_of({{"10.0.0.0/8", 1}, {"10.0.0.0/16", 2}, {"10.255.0.0/16", 3}, {"10.255.255.255/32", 4}});
  EXPECT_EQ(look(t, "10.0.0.0"), 2u);
  EXPECT_EQ(look(t, "10.0.255.255"), 2u);
  EXPECT_EQ(look(t, "10.1.0.0"), 1u);
  EXPECT_EQ(look(t, "10.254.255.255"), 1u);
  EXPECT_EQ(look(t, "10.255.0.0"), 3u);
  EXPECT_EQ(look(t, "10.255.255.254"), 3u);
  EXPECT_EQ(look(t, "10.255.255.255"), 4u);
  EXPECT_EQ(look(t, "11.0.0.0"), kDefault);
}

TEST(PrefixTableTest, SlashZeroAndSlash32) {
  const PrefixTable t =
      table_of({{"0.0.0.0/0", 1}, {"255.255.255.255/32", 2}, {"0.0.0.0/32", 3}, {"192.0.2.1/32", 4}});
  EXPECT_EQ(look(t, "0.0.0.0"), 3u);
  EXPECT_EQ(look(t, "0.0.0.1"), 1u);
  EXPECT_EQ(look(t, "192.0.2.0"), 1u);
  EXPECT_EQ(look(t, "192.0.2.1"), 4u);
  EXPECT_EQ(look(t, "192.0.2.2"), 1u);
  EXPECT_EQ(look(t, "255.255.255.254"), 1u);
  EXPECT_EQ(look(t, "255.255.255.255"), 2u);
  // An IPv4 /0 does not cover IPv6.
  EXPECT_EQ(look(t, "::1"), kDefault);
}

TEST(PrefixTableTest, TopOfAddressSpace) {
  const PrefixTable t =
      table_of({{"255.0.0.0/8", 1}, {"ff00::/8", 2}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 3}});
  EXPECT_EQ(look(t, "254.255.255.255"), kDefault);
  EXPECT_EQ(look(t, "255.255.255.255"), 1u);
  EXPECT_EQ(look(t, "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), kDefault);
  EXPECT_EQ(look(t, "ff02::1"), 2u);
  EXPECT_EQ(look(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 2u);
  EXPECT_EQ(look(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 3u);
}

TEST(PrefixTableTest, Ipv6NestedAndAround64BitBoundary) {
  const PrefixTable t = table_of({{"::/0", 1},
                                  {"2001:db8::/32", 2},
                                  {"2001:db8:60::/48", 3},
                                  {"2001:db8:60:1::/64", 4},
                                  {"2001:db8:60:1:8000::/65", 5},
                                  {"2001:db8:60:1::1/128", 6}});
  EXPECT_EQ(look(t, "::"), 1u);
  EXPECT_EQ(look(t, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"), 1u);
  EXPECT_EQ(look(t, "2001:db8::"), 2u);
  EXPECT_EQ(look(t, "2001:db8:5f:ffff::1"), 2u);
  EXPECT_EQ(look(t, "2001:db8:60::"), 3u);
  EXPECT_EQ(look(t, "2001:db8:60:1::"), 4u);
  EXPECT_EQ(look(t, "2001:db8:60:1::1"), 6u);
  EXPECT_EQ(look(t, "2001:db8:60:1::2"), 4u);
  EXPECT_EQ(look(t, "2001:db8:60:1:7fff:ffff:ffff:ffff"), 4u);
  EXPECT_EQ(look(t, "2001:db8:60:1:8000::"), 5u);
  EXPECT_EQ(look(t, "2001:db8:60:1:ffff:ffff:ffff:ffff"), 5u);
  EXPECT_EQ(look(t, "2001:db8:60:2::"), 3u);
  EXPECT_EQ(look(t, "2001:db8:61::"), 2u);
  EXPECT_EQ(look(t, "2001:db9::"), 1u);
  // IPv4 addresses never hit IPv6 prefixes, even ::/0.
  EXPECT_EQ(look(t, "10.0.0.1"), kDefault);
}

TEST(PrefixTableTest, AdjacentPrefixesWithEqualValuesMerge) {
  const PrefixTable t = table_of({{"10.0.0.0/9", 1}, {"10.128.0.0/9", 1}, {"10.0.0.0/8", 1}});
  EXPECT_EQ(look(t, "10.0.0.0"), 1u);
  EXPECT_EQ(look(t, "10.200.0.0"), 1u);
  EXPECT_EQ(look(t, "11.0.0.0"), kDefault);
  // IPv4: default, 10/8, default; IPv6: the default run alone.
  EXPECT_EQ(t.interval_count(), 4u);
}

TEST(PrefixTableTest, ChildWithDefaultValueCarvesHole) {
  const PrefixTable t = table_of({{"10.0.0.0/8", 1}, {"10.1.0.0/16", kDefault}});
  EXPECT_EQ(look(t, "10.0.255.255"), 1u);
  EXPECT_EQ(look(t, "10.1.0.0"), kDefault);
  EXPECT_EQ(look(t, "10.2.0.0"), 1u);
}

// ---- randomized comparison against a linear LPM ----

std::vector<Prefix> load_list(const std::string& path) {
  std::vector<Prefix> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto p = parse_prefix(line);
    if (!p) {
      ADD_FAILURE() << path << ": bad prefix " << line;
      continue;
    }
    out.push_back(*p);
  }
  return out;
}

uint32_t linear_lpm(const std::vector<std::pair<Prefix, uint32_t>>& entries, const IpAddr& a) {
  int best_len = -1;
  uint32_t best = kDefault;
  for (const auto& [p, v] : entries) {
    if (p.contains(a) && static_cast<int>(p.length) > best_len) {
      best_len = p.length;
      best = v;
    }
  }
  return best;
}

class PrefixListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = std::getenv("FTZ_SOURCE_DIR");
    const char* src = env != nullptr ? env : FTZ_DEFAULT_SOURCE_DIR;
    const std::string v4 = std::string(src) + "/examples/data/cn-ipv4.txt";
    const std::string v6 = std::string(src) + "/examples/data/cn-ipv6.txt";
    if (!std::ifstream(v4) || !std::ifstream(v6)) {
      GTEST_SKIP() << "prefix lists absent: " << v4 << ", " << v6;
    }
    v4_ = load_list(v4);
    v6_ = load_list(v6);
  }
  std::vector<Prefix> v4_;
  std::vector<Prefix> v6_;
};

// A random address, half of the time inside (or at an edge of) a listed prefix.
IpAddr random_addr(std::mt19937_64& rng, const std::vector<Prefix>& list, bool v4) {
  IpAddr a;
  if (rng() % 2 == 0) {
    const Prefix& p = list[rng() % list.size()];
    a = p.addr;
    const unsigned bits = v4 ? 96u + p.length : p.length;
    const int edge = static_cast<int>(rng() % 4);  // 0: first, 1: last, else random host bits
    for (unsigned i = bits; i < 128; ++i) {
      const bool one = edge == 1 || (edge >= 2 && (rng() & 1));
      if (one) a.bytes[i / 8] |= static_cast<uint8_t>(0x80u >> (i % 8));
    }
    if (edge == 3) {
      // One past the end, or one before the start: just outside.
      const int step = (rng() & 1) ? 1 : -1;
      for (int i = 15; i >= (v4 ? 12 : 0); --i) {
        const int before = a.bytes[i];
        a.bytes[i] = static_cast<uint8_t>(before + step);
        if ((step > 0 && before != 0xff) || (step < 0 && before != 0)) break;
      }
    }
  } else if (v4) {
    a = IpAddr::v4(static_cast<uint32_t>(rng()));
  } else {
    const uint64_t hi = rng();
    const uint64_t lo = rng();
    for (int i = 0; i < 8; ++i) {
      a.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
      a.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
    }
    a.bytes[0] = static_cast<uint8_t>(0x20 | (a.bytes[0] & 0x0f));  // stay near 2000::/4
  }
  return a;
}

TEST_F(PrefixListTest, MatchesLinearLpmOnMainlandLists) {
  ASSERT_EQ(v4_.size(), 4604u);
  ASSERT_GT(v6_.size(), 1000u);
  // Values: the mainland lists, plus overlapping synthetic prefixes so nesting
  // is exercised (the lists themselves hardly nest).
  std::mt19937_64 rng(20260302);
  std::vector<std::pair<Prefix, uint32_t>> entries;
  for (size_t i = 0; i < v4_.size(); ++i) entries.emplace_back(v4_[i], static_cast<uint32_t>(i % 7));
  for (size_t i = 0; i < v6_.size(); ++i) entries.emplace_back(v6_[i], static_cast<uint32_t>(100 + i % 5));
  for (int i = 0; i < 300; ++i) {
    // A shorter or longer prefix around a listed one.
    const bool v4 = i % 2 == 0;
    const Prefix& base = v4 ? v4_[rng() % v4_.size()] : v6_[rng() % v6_.size()];
    Prefix p = base;
    const unsigned max = v4 ? 32 : 128;
    p.length = static_cast<uint8_t>(
        std::min<unsigned>(max, (rng() % 2) ? base.length + 1 + rng() % 8
                                            : (base.length > 4 ? base.length - 1 - rng() % 4 : base.length)));
    // Clear host bits for a shorter prefix; keep the base's bits for a longer one.
    const unsigned bits = v4 ? 96u + p.length : p.length;
    for (unsigned b = bits; b < 128; ++b) p.addr.bytes[b / 8] &= static_cast<uint8_t>(~(0x80u >> (b % 8)));
    // The same prefix twice with two values has no single right answer.
    if (std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.first == p; })) continue;
    entries.emplace_back(p, static_cast<uint32_t>(200 + i));
  }
  PrefixTable t(kDefault);
  for (const auto& [p, v] : entries) t.add(p, v);
  t.build();
  int inside = 0;
  // 5,000 addresses: the linear reference scans every entry for each, which
  // took 15 s for 20,000 under ASan in CI.
  for (int i = 0; i < 5000; ++i) {
    const bool v4 = i % 2 == 0;
    const IpAddr a = random_addr(rng, v4 ? v4_ : v6_, v4);
    const uint32_t want = linear_lpm(entries, a);
    if (want != kDefault) ++inside;
    ASSERT_EQ(t.lookup(a), want) << format_ip(a);
  }
  // The sample must exercise both hits and misses.
  EXPECT_GT(inside, 1250);
  EXPECT_LT(inside, 4750);
}

TEST_F(PrefixListTest, MainlandListsHaveNoDuplicates) {
  // Duplicates with different values would make the flattening order-dependent.
  std::vector<Prefix> all = v4_;
  all.insert(all.end(), v6_.begin(), v6_.end());
  std::sort(all.begin(), all.end(), [](const Prefix& a, const Prefix& b) {
    return a.addr != b.addr ? a.addr < b.addr : a.length < b.length;
  });
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

}  // namespace
}  // namespace ftz::engine
