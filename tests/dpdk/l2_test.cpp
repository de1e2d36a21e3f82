// Layer-2 actions on real mbufs, and the symmetric hash that spreads flows
// over workers (EAL in-process: --no-huge --no-pci, own file prefix).
#include "ftz/dpdk/l2.hpp"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_thash.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "ftz/dpdk/symmetric_hash.hpp"
#include "ftz/engine/ip_addr.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::dpdk {
namespace {

using test::Bytes;
using test::PacketBuilder;

class Eal : public ::testing::Environment {
 public:
  void SetUp() override {
    prefix_ = "ftz-l2-test-" + std::to_string(getpid());
    std::vector<std::string> args{"l2_test",
                                  "--no-huge",
                                  "--no-pci",
                                  "-m",
                                  "64",
                                  "-l",
                                  "0",
                                  "--file-prefix=" + prefix_,
                                  "--log-level=*:error"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    ok_ = rte_eal_init(static_cast<int>(argv.size()), argv.data()) >= 0;
    if (ok_) pool = rte_pktmbuf_pool_create("l2_test", 255, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  }
  void TearDown() override {
    if (ok_) rte_eal_cleanup();
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + prefix_, ec);
  }
  static inline rte_mempool* pool = nullptr;

 private:
  std::string prefix_;
  bool ok_ = false;
};

const auto* const kEal = ::testing::AddGlobalTestEnvironment(new Eal);

struct Mbuf {
  explicit Mbuf(const Bytes& frame) : m(rte_pktmbuf_alloc(Eal::pool)) {
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
  }
  ~Mbuf() { rte_pktmbuf_free(m); }
  Bytes bytes() const {
    const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return Bytes(p, p + rte_pktmbuf_data_len(m));
  }
  rte_mbuf* m;
};

const std::array<uint8_t, 6> kNextHop{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01};
const test::MacAddr kNextHopMac{{0x02, 0x00, 0x5e, 0x00, 0x30, 0x01}};
const test::MacAddr kClient{{0x02, 0x60, 0x00, 0x00, 0x00, 0x01}};
const test::MacAddr kGateway{{0x02, 0x00, 0x5e, 0x00, 0x10, 0x01}};

Bytes tcp_frame(std::optional<uint16_t> vlan, test::MacAddr dst = kGateway, uint8_t pcp = 0) {
  PacketBuilder b;
  b.eth(kClient, dst);
  if (vlan) b.vlan(*vlan, pcp);
  return b.ipv4("10.60.2.11", "203.0.113.10").tcp(40001, 80, test::kTcpAck, 1, 1).payload("hello").build();
}

TEST(ChannelRewrite, PushesTheChannelVlanAndSetsTheNextHop) {
  ASSERT_NE(Eal::pool, nullptr);
  Mbuf m(tcp_frame(std::nullopt));
  ASSERT_TRUE(rewrite_for_channel(m.m, 3001, kNextHop));
  EXPECT_EQ(m.bytes(), tcp_frame(3001, kNextHopMac));
}

TEST(ChannelRewrite, RewritesAnExistingTagKeepingItsPriority) {
  ASSERT_NE(Eal::pool, nullptr);
  Mbuf m(tcp_frame(42, kGateway, 5));
  ASSERT_TRUE(rewrite_for_channel(m.m, 3001, kNextHop));
  EXPECT_EQ(m.bytes(), tcp_frame(3001, kNextHopMac, 5));
}

TEST(ChannelRewrite, UntaggedChannelOnlyChangesTheMac) {
  ASSERT_NE(Eal::pool, nullptr);
  Mbuf m(tcp_frame(42));
  ASSERT_TRUE(rewrite_for_channel(m.m, 0, kNextHop));
  EXPECT_EQ(m.bytes(), tcp_frame(42, kNextHopMac));
}

TEST(ChannelRewrite, RefusesRuntFrames) {
  ASSERT_NE(Eal::pool, nullptr);
  Mbuf m(Bytes(10, 0xab));
  EXPECT_FALSE(rewrite_for_channel(m.m, 3001, kNextHop));
  EXPECT_EQ(m.bytes(), Bytes(10, 0xab));
}

TEST(ChannelStrip, RemovesOnlyTheChannelsTag) {
  ASSERT_NE(Eal::pool, nullptr);
  Mbuf tagged(tcp_frame(3001));
  EXPECT_TRUE(strip_channel_vlan(tagged.m, 3001));
  EXPECT_EQ(tagged.bytes(), tcp_frame(std::nullopt));

  Mbuf other(tcp_frame(42));
  EXPECT_FALSE(strip_channel_vlan(other.m, 3001));
  EXPECT_EQ(other.bytes(), tcp_frame(42));

  Mbuf untagged(tcp_frame(std::nullopt));
  EXPECT_FALSE(strip_channel_vlan(untagged.m, 3001));
  EXPECT_EQ(untagged.bytes(), tcp_frame(std::nullopt));
}

TEST(ChannelStrip, UndoesTheRouteRewriteOfTheVlan) {
  ASSERT_NE(Eal::pool, nullptr);
  Mbuf m(tcp_frame(std::nullopt));
  ASSERT_TRUE(rewrite_for_channel(m.m, 3001, kNextHop));
  ASSERT_TRUE(strip_channel_vlan(m.m, 3001));
  EXPECT_EQ(m.bytes(), tcp_frame(std::nullopt, kNextHopMac));
}

TEST(SymmetricHash, SameBothWaysForIpv4AndIpv6) {
  for (uint32_t i = 0; i < 1000; ++i) {
    const auto a = engine::IpAddr::v4(0x0a000000u + i * 7919u);
    const auto b = engine::IpAddr::v4(0xcb007100u + i * 104729u);
    EXPECT_EQ(symmetric_hash(a, b), symmetric_hash(b, a));
    auto c = engine::IpAddr{};
    auto d = engine::IpAddr{};
    for (int k = 0; k < 16; ++k) {
      c.bytes[k] = static_cast<uint8_t>(i * 31 + k);
      d.bytes[k] = static_cast<uint8_t>(i * 17 + 3 * k);
    }
    EXPECT_EQ(symmetric_hash(c, d), symmetric_hash(d, c));
  }
}

TEST(SymmetricHash, IsTheToeplitzHashANicComputesWithTheSameKey) {
  // The NIC hashes the IPv4 addresses as they appear on the wire; rte_softrss
  // over host-order words is DPDK's reference for that computation.
  const auto a = engine::IpAddr::v4(0x0a3c020b);  // 10.60.2.11
  const auto b = engine::IpAddr::v4(0xcb00710a);  // 203.0.113.10
  uint32_t tuple[2] = {0x0a3c020b, 0xcb00710a};
  EXPECT_EQ(symmetric_hash(a, b), rte_softrss(tuple, 2, kSymmetricRssKey));
}

TEST(SymmetricHash, SpreadsFlowsOverTwoWorkers) {
  uint32_t per_worker[2] = {};
  for (uint32_t i = 0; i < 1000; ++i) {
    ++per_worker[symmetric_hash(engine::IpAddr::v4(0x0a000001u + i), engine::IpAddr::v4(0xcb007101u)) % 2];
  }
  EXPECT_GT(per_worker[0], 350u);
  EXPECT_GT(per_worker[1], 350u);
}

TEST(FrameHash, BothDirectionsTagsAndFragmentsAgree) {
  const Bytes out =
      PacketBuilder().eth().ipv4("10.60.2.11", "203.0.113.10").tcp(40001, 80, test::kTcpSyn, 1, 0).build();
  const Bytes back = PacketBuilder()
                         .eth()
                         .vlan(3001)
                         .ipv4("203.0.113.10", "10.60.2.11")
                         .tcp(80, 40001, test::kTcpSyn | test::kTcpAck, 9, 2)
                         .build();
  const Bytes frag = PacketBuilder()
                         .eth()
                         .ipv4("10.60.2.11", "203.0.113.10")
                         .more_fragments()
                         .fragment_offset(8)
                         .payload("0123456789abcdef")
                         .build();
  const uint32_t h = frame_hash(engine::LinkType::kEthernet, out.data(), static_cast<uint32_t>(out.size()));
  EXPECT_NE(h, 0u);
  EXPECT_EQ(h, frame_hash(engine::LinkType::kEthernet, back.data(), static_cast<uint32_t>(back.size())));
  EXPECT_EQ(h, frame_hash(engine::LinkType::kEthernet, frag.data(), static_cast<uint32_t>(frag.size())));
  const Bytes arp = PacketBuilder().eth().ethertype(0x0806).payload("arp").build();
  EXPECT_EQ(frame_hash(engine::LinkType::kEthernet, arp.data(), static_cast<uint32_t>(arp.size())), 0u);
}

}  // namespace
}  // namespace ftz::dpdk
