// Fluent builder for test frames: Ethernet, 802.1Q/QinQ, IPv4/IPv6 (with
// options and extension headers), TCP/UDP/ICMP, payload. Lengths, next-header
// values and checksums are computed in build(), so a fixture names only what it
// tests:
//
//   Bytes f = PacketBuilder().eth(kClientMac, kGatewayMac).vlan(42)
//                 .ipv4("10.60.2.11", "203.0.113.10").ttl(63)
//                 .tcp(40001, 80, kTcpPsh | kTcpAck, 1001, 5001).window(502)
//                 .payload("GET / HTTP/1.1\r\n\r\n").build();
//
// Modifiers (ttl, mss, window, ...) apply to the most recent layer of their
// kind; calling one before that layer exists throws std::logic_error. Layers
// may be stacked freely (IPv6 in IPv4 gives protocol 41). Every "force" setter
// exists to build deliberately broken packets for negative tests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;
inline constexpr std::uint8_t kTcpUrg = 0x20;
inline constexpr std::uint8_t kTcpEce = 0x40;
inline constexpr std::uint8_t kTcpCwr = 0x80;

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::uint16_t kTpid8021Q = 0x8100;
inline constexpr std::uint16_t kTpid8021AD = 0x88a8;

inline constexpr std::uint8_t kIpProtoHopByHop = 0;
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoIpv4 = 4;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoIpv6 = 41;
inline constexpr std::uint8_t kIpProtoRouting = 43;
inline constexpr std::uint8_t kIpProtoFragment = 44;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;
inline constexpr std::uint8_t kIpProtoNoNext = 59;
inline constexpr std::uint8_t kIpProtoDestOpts = 60;

// Defaults used when a fixture does not care about addresses.
inline const MacAddr kDefaultSrcMac{{0x02, 0x60, 0x00, 0x00, 0x00, 0x01}};
inline const MacAddr kDefaultDstMac{{0x02, 0x00, 0x5e, 0x00, 0x10, 0x01}};

class PacketBuilder {
 public:
  // --- Layer 2 -------------------------------------------------------------
  // Note the argument order (src, dst), like ipv4(); the frame carries dst first.
  PacketBuilder& eth(MacAddr src = kDefaultSrcMac, MacAddr dst = kDefaultDstMac);
  // One 802.1Q tag. The TPID is written by the preceding layer, so
  // vlan(10, 0, kTpid8021AD).vlan(20) is QinQ with an 802.1ad outer tag.
  PacketBuilder& vlan(std::uint16_t vid, std::uint8_t pcp = 0, std::uint16_t tpid = kTpid8021Q);
  // Outer + inner tag; many switches still use 0x8100 for the outer tag.
  PacketBuilder& qinq(std::uint16_t outer_vid, std::uint16_t inner_vid,
                      std::uint16_t outer_tpid = kTpid8021AD);
  // Forces the EtherType of the last L2 layer (otherwise derived from the next layer).
  PacketBuilder& ethertype(std::uint16_t type);

  // --- IPv4 ------------------------------------------------------------------
  PacketBuilder& ipv4(Ipv4Addr src, Ipv4Addr dst);
  PacketBuilder& ipv4(std::string_view src, std::string_view dst);
  PacketBuilder& ip_id(std::uint16_t id);
  PacketBuilder& dont_fragment(bool on = true);
  PacketBuilder& more_fragments(bool on = true);
  // Offset in bytes of the IP payload; must be a multiple of 8 (RFC 791).
  PacketBuilder& fragment_offset(std::uint16_t offset_bytes);
  // Raw option bytes; padded with EOL to a multiple of 4, at most 40 bytes.
  PacketBuilder& ipv4_options(Bytes options);
  PacketBuilder& ipv4_checksum(std::uint16_t forced);

  // --- IPv6 ------------------------------------------------------------------
  PacketBuilder& ipv6(Ipv6Addr src, Ipv6Addr dst);
  PacketBuilder& ipv6(std::string_view src, std::string_view dst);
  PacketBuilder& flow_label(std::uint32_t label);
  // Extension headers are appended to the last IPv6 layer's chain in call
  // order. Options are raw TLVs, padded with Pad1/PadN to a multiple of 8.
  PacketBuilder& hop_by_hop(Bytes options = {});
  PacketBuilder& destination_options(Bytes options = {});
  // Type 4 is a Segment Routing Header (RFC 8754): segments[0] is the final
  // destination, used in the L4 pseudo-header. Other types: segments.back().
  PacketBuilder& routing(std::uint8_t type, std::vector<Ipv6Addr> segments, std::uint8_t segments_left);
  PacketBuilder& fragment_header(std::uint16_t offset_bytes, bool more, std::uint32_t id);

  // --- Either IP version (apply to the last IP layer) ------------------------
  PacketBuilder& ttl(std::uint8_t ttl);      // IPv6: hop limit
  PacketBuilder& tos(std::uint8_t tos);      // IPv6: traffic class
  PacketBuilder& ip_protocol(std::uint8_t);  // forces protocol / final next header

  // --- Layer 4 ---------------------------------------------------------------
  PacketBuilder& tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags = kTcpAck,
                     std::uint32_t seq = 0, std::uint32_t ack = 0);
  PacketBuilder& window(std::uint16_t window);
  PacketBuilder& urgent_pointer(std::uint16_t pointer);
  PacketBuilder& mss(std::uint16_t mss);
  PacketBuilder& sack_permitted();
  PacketBuilder& window_scale(std::uint8_t shift);
  PacketBuilder& timestamps(std::uint32_t tsval, std::uint32_t tsecr);
  PacketBuilder& sack(std::vector<std::pair<std::uint32_t, std::uint32_t>> blocks);
  PacketBuilder& tcp_option(std::uint8_t kind, Bytes data);  // any TLV option
  PacketBuilder& udp(std::uint16_t sport, std::uint16_t dport);
  // ICMP echo for IPv4, ICMPv6 echo for IPv6 (chosen from the enclosing IP layer).
  PacketBuilder& icmp_echo(std::uint16_t id, std::uint16_t seq, bool reply = false);
  PacketBuilder& l4_checksum(std::uint16_t forced);

  // --- Payload -----------------------------------------------------------------
  // Appends to the innermost payload; may be called several times.
  PacketBuilder& payload(std::string_view text);
  PacketBuilder& payload(std::span<const std::uint8_t> data);

  // Serialises the layers. Throws std::logic_error on an impossible stack
  // (TCP without IP, options over 40 bytes, ...).
  Bytes build() const;

  struct EthLayer {
    MacAddr src, dst;
    std::optional<std::uint16_t> type;
  };
  struct VlanLayer {
    std::uint16_t vid = 0;
    std::uint8_t pcp = 0;
    std::uint16_t tpid = kTpid8021Q;
    std::optional<std::uint16_t> type;
  };
  struct Ipv4Layer {
    Ipv4Addr src, dst;
    std::uint8_t tos = 0;
    std::uint8_t ttl = 64;
    std::uint16_t id = 0;
    bool df = false;
    bool mf = false;
    std::uint16_t frag_offset = 0;
    Bytes options;
    std::optional<std::uint8_t> protocol;
    std::optional<std::uint16_t> checksum;
  };
  struct ExtHeader {
    std::uint8_t type = 0;
    Bytes body;  // everything after the next-header byte, fully formatted
  };
  struct Ipv6Layer {
    Ipv6Addr src, dst;
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0;
    std::uint8_t hop_limit = 64;
    std::vector<ExtHeader> ext;
    std::optional<Ipv6Addr> final_dst;  // from a routing header
    std::optional<std::uint8_t> protocol;
  };
  struct TcpLayer {
    std::uint16_t sport = 0, dport = 0;
    std::uint32_t seq = 0, ack = 0;
    std::uint8_t flags = kTcpAck;
    std::uint16_t window = 65535;
    std::uint16_t urgent = 0;
    Bytes options;
    std::optional<std::uint16_t> checksum;
  };
  struct UdpLayer {
    std::uint16_t sport = 0, dport = 0;
    std::optional<std::uint16_t> checksum;
  };
  struct IcmpEchoLayer {
    std::uint16_t id = 0, seq = 0;
    bool reply = false;
    std::optional<std::uint16_t> checksum;
  };
  using Layer = std::variant<EthLayer, VlanLayer, Ipv4Layer, Ipv6Layer, TcpLayer, UdpLayer, IcmpEchoLayer>;

 private:
  template <typename T>
  T& last(const char* what);
  Ipv6Layer& last_ipv6_for_ext(const char* what);

  std::vector<Layer> layers_;
  Bytes payload_;
};

}  // namespace ftz::test
