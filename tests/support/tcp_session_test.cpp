#include "ftz/test/tcp_session.hpp"

#include <gtest/gtest.h>

#include "ftz/test/checksum.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::test {
namespace {

struct Tcp {
  std::uint32_t seq, ack;
  std::uint8_t flags;
  std::size_t payload;
};

Tcp tcp_of(const Bytes& frame) {
  const std::size_t ip = 14;
  const std::size_t hl = (frame[ip] & 0x0f) * 4u;
  const std::size_t tcp = ip + hl;
  const std::size_t thl = (frame[tcp + 12] >> 4) * 4u;
  return {get_u32(frame, tcp + 4), get_u32(frame, tcp + 8), frame[tcp + 13], frame.size() - tcp - thl};
}

TEST(TcpSession, FullConversationSeqAck) {
  TcpSessionConfig cfg;
  cfg.client_isn = 1000;
  cfg.server_isn = 5000;
  cfg.start_ns = 1'000'000'000;
  TcpSession s(cfg);
  s.handshake().client_send(std::string(3000, 'a')).server_send(std::string(100, 'b')).close();
  const auto& p = s.packets();
  // 3 handshake + 3 data + 2 ACKs + 1 data + 1 ACK + 3 teardown.
  ASSERT_EQ(p.size(), 13u);
  const Tcp expected[] = {
      {1000, 0, kTcpSyn, 0},
      {5000, 1001, kTcpSyn | kTcpAck, 0},
      {1001, 5001, kTcpAck, 0},
      {1001, 5001, kTcpAck, 1460},
      {2461, 5001, kTcpAck, 1460},
      {5001, 3921, kTcpAck, 0},
      {3921, 5001, kTcpAck | kTcpPsh, 80},
      {5001, 4001, kTcpAck, 0},
      {5001, 4001, kTcpAck | kTcpPsh, 100},
      {4001, 5101, kTcpAck, 0},
      {4001, 5101, kTcpFin | kTcpAck, 0},
      {5101, 4002, kTcpFin | kTcpAck, 0},
      {4002, 5102, kTcpAck, 0},
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    SCOPED_TRACE(i);
    const Tcp t = tcp_of(p[i].frame);
    EXPECT_EQ(t.seq, expected[i].seq);
    EXPECT_EQ(t.ack, expected[i].ack);
    EXPECT_EQ(t.flags, expected[i].flags);
    EXPECT_EQ(t.payload, expected[i].payload);
    EXPECT_EQ(internet_checksum(std::span(p[i].frame).subspan(14, 20)), 0);
    if (i > 0) {
      EXPECT_GT(p[i].ts_ns, p[i - 1].ts_ns);
    }
  }
  EXPECT_EQ(p[0].ts_ns, 1'000'000'000u);
  ASSERT_EQ(s.segments().size(), 4u);
  EXPECT_EQ(s.segments()[2].packet_index, 6u);
  EXPECT_EQ(s.segments()[2].stream_begin, 2920u);
  EXPECT_EQ(s.segments()[3].direction, Direction::kServerToClient);
  EXPECT_EQ(s.stream_bytes(Direction::kClientToServer), 3000u);
}

TEST(TcpSession, SinkReceivesFramesInsteadOfMemory) {
  std::size_t count = 0;
  std::uint64_t last_ts = 0;
  TcpSessionConfig cfg;
  cfg.client_ip = Ipv6Addr::parse("2001:db8::1");
  cfg.server_ip = Ipv6Addr::parse("2001:db8::2");
  cfg.vlans = {3001};
  TcpSession s(cfg, [&](std::uint64_t ts, const Bytes& frame) {
    ++count;
    last_ts = ts;
    EXPECT_EQ(get_u16(frame, 12), kTpid8021Q);
    EXPECT_EQ(get_u16(frame, 16), kEtherTypeIpv6);
  });
  s.handshake().client_send("hello").close();
  EXPECT_EQ(count, 8u);
  EXPECT_EQ(s.packet_count(), 8u);
  EXPECT_TRUE(s.packets().empty());
  EXPECT_EQ(last_ts, s.now_ns());
}

TEST(TcpSession, SynCarriesMssSackAndWindowScale) {
  TcpSession s(TcpSessionConfig{});
  s.handshake();
  const Bytes& syn = s.packets()[0].frame;
  const std::size_t tcp = 34;
  EXPECT_EQ(syn[tcp + 12] >> 4, 8);  // 20 + 12 option bytes
  EXPECT_EQ(get_u16(syn, tcp + 20 + 2), 1460);
}

}  // namespace
}  // namespace ftz::test
