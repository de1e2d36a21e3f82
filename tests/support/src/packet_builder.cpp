#include "ftz/test/packet_builder.hpp"

#include <stdexcept>
#include <string>

#include "ftz/test/checksum.hpp"

namespace ftz::test {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Pads IPv6 option TLVs so that 2 + size is a multiple of 8 (RFC 8200 §4.2:
// Pad1 for one byte, PadN otherwise).
Bytes padded_ipv6_options(Bytes options) {
  std::size_t pad = (8 - (2 + options.size()) % 8) % 8;
  if (pad == 1) {
    options.push_back(0x00);
  } else if (pad > 1) {
    options.push_back(0x01);
    options.push_back(static_cast<std::uint8_t>(pad - 2));
    options.insert(options.end(), pad - 2, 0x00);
  }
  return options;
}

std::optional<std::uint16_t> ethertype_of(const PacketBuilder::Layer* next) {
  if (next == nullptr) return std::nullopt;
  if (const auto* v = std::get_if<PacketBuilder::VlanLayer>(next)) return v->tpid;
  if (std::holds_alternative<PacketBuilder::Ipv4Layer>(*next)) return kEtherTypeIpv4;
  if (std::holds_alternative<PacketBuilder::Ipv6Layer>(*next)) return kEtherTypeIpv6;
  return std::nullopt;
}

std::optional<std::uint8_t> protocol_of(const PacketBuilder::Layer* next, bool in_ipv6) {
  if (next == nullptr) return std::nullopt;
  if (std::holds_alternative<PacketBuilder::TcpLayer>(*next)) return kIpProtoTcp;
  if (std::holds_alternative<PacketBuilder::UdpLayer>(*next)) return kIpProtoUdp;
  if (std::holds_alternative<PacketBuilder::IcmpEchoLayer>(*next)) {
    return in_ipv6 ? kIpProtoIcmpv6 : kIpProtoIcmp;
  }
  if (std::holds_alternative<PacketBuilder::Ipv4Layer>(*next)) return kIpProtoIpv4;
  if (std::holds_alternative<PacketBuilder::Ipv6Layer>(*next)) return kIpProtoIpv6;
  return std::nullopt;
}

// Addresses of the IP layer that encloses an L4 layer, as the pseudo-header sees them.
struct PseudoAddrs {
  IpAddr src, dst;
};

}  // namespace

template <typename T>
T& PacketBuilder::last(const char* what) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* layer = std::get_if<T>(&*it)) return *layer;
  }
  throw std::logic_error(std::string("PacketBuilder: ") + what + " needs a preceding layer");
}

PacketBuilder::Ipv6Layer& PacketBuilder::last_ipv6_for_ext(const char* what) {
  return last<Ipv6Layer>(what);
}

PacketBuilder& PacketBuilder::eth(MacAddr src, MacAddr dst) {
  layers_.emplace_back(EthLayer{src, dst, std::nullopt});
  return *this;
}

PacketBuilder& PacketBuilder::vlan(std::uint16_t vid, std::uint8_t pcp, std::uint16_t tpid) {
  if (vid > 0xfff || pcp > 7) throw std::logic_error("PacketBuilder: VLAN id/pcp out of range");
  layers_.emplace_back(VlanLayer{vid, pcp, tpid, std::nullopt});
  return *this;
}

PacketBuilder& PacketBuilder::qinq(std::uint16_t outer_vid, std::uint16_t inner_vid,
                                   std::uint16_t outer_tpid) {
  return vlan(outer_vid, 0, outer_tpid).vlan(inner_vid);
}

PacketBuilder& PacketBuilder::ethertype(std::uint16_t type) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* e = std::get_if<EthLayer>(&*it)) {
      e->type = type;
      return *this;
    }
    if (auto* v = std::get_if<VlanLayer>(&*it)) {
      v->type = type;
      return *this;
    }
  }
  throw std::logic_error("PacketBuilder: ethertype needs an L2 layer");
}

PacketBuilder& PacketBuilder::ipv4(Ipv4Addr src, Ipv4Addr dst) {
  Ipv4Layer l;
  l.src = src;
  l.dst = dst;
  layers_.emplace_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::ipv4(std::string_view src, std::string_view dst) {
  return ipv4(Ipv4Addr::parse(src), Ipv4Addr::parse(dst));
}

PacketBuilder& PacketBuilder::ip_id(std::uint16_t id) {
  last<Ipv4Layer>("ip_id").id = id;
  return *this;
}

PacketBuilder& PacketBuilder::dont_fragment(bool on) {
  last<Ipv4Layer>("dont_fragment").df = on;
  return *this;
}

PacketBuilder& PacketBuilder::more_fragments(bool on) {
  last<Ipv4Layer>("more_fragments").mf = on;
  return *this;
}

PacketBuilder& PacketBuilder::fragment_offset(std::uint16_t offset_bytes) {
  if (offset_bytes % 8 != 0 || offset_bytes / 8 > 0x1fff) {
    throw std::logic_error("PacketBuilder: fragment offset must be a multiple of 8 below 65536");
  }
  last<Ipv4Layer>("fragment_offset").frag_offset = offset_bytes;
  return *this;
}

PacketBuilder& PacketBuilder::ipv4_options(Bytes options) {
  while (options.size() % 4 != 0) options.push_back(0x00);  // EOL padding
  if (options.size() > 40) throw std::logic_error("PacketBuilder: IPv4 options over 40 bytes");
  last<Ipv4Layer>("ipv4_options").options = std::move(options);
  return *this;
}

PacketBuilder& PacketBuilder::ipv4_checksum(std::uint16_t forced) {
  last<Ipv4Layer>("ipv4_checksum").checksum = forced;
  return *this;
}

PacketBuilder& PacketBuilder::ipv6(Ipv6Addr src, Ipv6Addr dst) {
  Ipv6Layer l;
  l.src = src;
  l.dst = dst;
  layers_.emplace_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::ipv6(std::string_view src, std::string_view dst) {
  return ipv6(Ipv6Addr::parse(src), Ipv6Addr::parse(dst));
}

PacketBuilder& PacketBuilder::flow_label(std::uint32_t label) {
  last<Ipv6Layer>("flow_label").flow_label = label & 0xfffff;
  return *this;
}

PacketBuilder& PacketBuilder::hop_by_hop(Bytes options) {
  Bytes opts = padded_ipv6_options(std::move(options));
  Bytes body{static_cast<std::uint8_t>((2 + opts.size()) / 8 - 1)};
  put_bytes(body, opts);
  last_ipv6_for_ext("hop_by_hop").ext.push_back({kIpProtoHopByHop, std::move(body)});
  return *this;
}

PacketBuilder& PacketBuilder::destination_options(Bytes options) {
  Bytes opts = padded_ipv6_options(std::move(options));
  Bytes body{static_cast<std::uint8_t>((2 + opts.size()) / 8 - 1)};
  put_bytes(body, opts);
  last_ipv6_for_ext("destination_options").ext.push_back({kIpProtoDestOpts, std::move(body)});
  return *this;
}

PacketBuilder& PacketBuilder::routing(std::uint8_t type, std::vector<Ipv6Addr> segments,
                                      std::uint8_t segments_left) {
  auto& ip = last_ipv6_for_ext("routing");
  Bytes body;
  body.push_back(static_cast<std::uint8_t>(segments.size() * 2));  // 8-octet units after the first 8
  body.push_back(type);
  body.push_back(segments_left);
  if (type == 4) {
    // SRH: last entry, flags, tag.
    body.push_back(static_cast<std::uint8_t>(segments.empty() ? 0 : segments.size() - 1));
    body.push_back(0);
    put_u16(body, 0);
  } else {
    put_u32(body, 0);  // reserved
  }
  for (const auto& s : segments) put_bytes(body, s.octets);
  if (!segments.empty() && segments_left > 0) {
    ip.final_dst = type == 4 ? segments.front() : segments.back();
  }
  ip.ext.push_back({kIpProtoRouting, std::move(body)});
  return *this;
}

PacketBuilder& PacketBuilder::fragment_header(std::uint16_t offset_bytes, bool more, std::uint32_t id) {
  if (offset_bytes % 8 != 0) throw std::logic_error("PacketBuilder: fragment offset % 8 != 0");
  Bytes body{0x00};
  put_u16(body, static_cast<std::uint16_t>(offset_bytes | (more ? 1 : 0)));
  put_u32(body, id);
  last_ipv6_for_ext("fragment_header").ext.push_back({kIpProtoFragment, std::move(body)});
  return *this;
}

PacketBuilder& PacketBuilder::ttl(std::uint8_t value) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* v4 = std::get_if<Ipv4Layer>(&*it)) {
      v4->ttl = value;
      return *this;
    }
    if (auto* v6 = std::get_if<Ipv6Layer>(&*it)) {
      v6->hop_limit = value;
      return *this;
    }
  }
  throw std::logic_error("PacketBuilder: ttl needs an IP layer");
}

PacketBuilder& PacketBuilder::tos(std::uint8_t value) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* v4 = std::get_if<Ipv4Layer>(&*it)) {
      v4->tos = value;
      return *this;
    }
    if (auto* v6 = std::get_if<Ipv6Layer>(&*it)) {
      v6->traffic_class = value;
      return *this;
    }
  }
  throw std::logic_error("PacketBuilder: tos needs an IP layer");
}

PacketBuilder& PacketBuilder::ip_protocol(std::uint8_t proto) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* v4 = std::get_if<Ipv4Layer>(&*it)) {
      v4->protocol = proto;
      return *this;
    }
    if (auto* v6 = std::get_if<Ipv6Layer>(&*it)) {
      v6->protocol = proto;
      return *this;
    }
  }
  throw std::logic_error("PacketBuilder: ip_protocol needs an IP layer");
}

PacketBuilder& PacketBuilder::tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags,
                                  std::uint32_t seq, std::uint32_t ack) {
  TcpLayer l;
  l.sport = sport;
  l.dport = dport;
  l.flags = flags;
  l.seq = seq;
  l.ack = ack;
  layers_.emplace_back(std::move(l));
  return *this;
}

PacketBuilder& PacketBuilder::window(std::uint16_t value) {
  last<TcpLayer>("window").window = value;
  return *this;
}

PacketBuilder& PacketBuilder::urgent_pointer(std::uint16_t pointer) {
  last<TcpLayer>("urgent_pointer").urgent = pointer;
  return *this;
}

PacketBuilder& PacketBuilder::tcp_option(std::uint8_t kind, Bytes data) {
  auto& t = last<TcpLayer>("tcp_option");
  t.options.push_back(kind);
  if (kind > 1) {  // EOL (0) and NOP (1) have no length byte (RFC 793)
    t.options.push_back(static_cast<std::uint8_t>(2 + data.size()));
    put_bytes(t.options, data);
  }
  return *this;
}

PacketBuilder& PacketBuilder::mss(std::uint16_t value) {
  Bytes d;
  put_u16(d, value);
  return tcp_option(2, std::move(d));
}

PacketBuilder& PacketBuilder::sack_permitted() {
  return tcp_option(4, {});
}

PacketBuilder& PacketBuilder::window_scale(std::uint8_t shift) {
  // A NOP first keeps the following options 4-byte aligned, as stacks do.
  tcp_option(1, {});
  return tcp_option(3, {shift});
}

PacketBuilder& PacketBuilder::timestamps(std::uint32_t tsval, std::uint32_t tsecr) {
  tcp_option(1, {});
  tcp_option(1, {});
  Bytes d;
  put_u32(d, tsval);
  put_u32(d, tsecr);
  return tcp_option(8, std::move(d));
}

PacketBuilder& PacketBuilder::sack(std::vector<std::pair<std::uint32_t, std::uint32_t>> blocks) {
  tcp_option(1, {});
  tcp_option(1, {});
  Bytes d;
  for (const auto& [left, right] : blocks) {
    put_u32(d, left);
    put_u32(d, right);
  }
  return tcp_option(5, std::move(d));
}

PacketBuilder& PacketBuilder::udp(std::uint16_t sport, std::uint16_t dport) {
  layers_.emplace_back(UdpLayer{sport, dport, std::nullopt});
  return *this;
}

PacketBuilder& PacketBuilder::icmp_echo(std::uint16_t id, std::uint16_t seq, bool reply) {
  layers_.emplace_back(IcmpEchoLayer{id, seq, reply, std::nullopt});
  return *this;
}

PacketBuilder& PacketBuilder::l4_checksum(std::uint16_t forced) {
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    if (auto* t = std::get_if<TcpLayer>(&*it)) {
      t->checksum = forced;
      return *this;
    }
    if (auto* u = std::get_if<UdpLayer>(&*it)) {
      u->checksum = forced;
      return *this;
    }
    if (auto* i = std::get_if<IcmpEchoLayer>(&*it)) {
      i->checksum = forced;
      return *this;
    }
  }
  throw std::logic_error("PacketBuilder: l4_checksum needs an L4 layer");
}

PacketBuilder& PacketBuilder::payload(std::string_view text) {
  payload_.insert(payload_.end(), text.begin(), text.end());
  return *this;
}

PacketBuilder& PacketBuilder::payload(std::span<const std::uint8_t> data) {
  payload_.insert(payload_.end(), data.begin(), data.end());
  return *this;
}

Bytes PacketBuilder::build() const {
  // Inside out: each layer knows the length of everything it carries.
  Bytes inner = payload_;
  for (std::size_t k = layers_.size(); k-- > 0;) {
    const Layer* next = k + 1 < layers_.size() ? &layers_[k + 1] : nullptr;

    // The IP layer enclosing layer k, for L4 pseudo-headers and ICMP flavour.
    auto enclosing_ip = [&]() -> std::optional<PseudoAddrs> {
      for (std::size_t j = k; j-- > 0;) {
        if (const auto* v4 = std::get_if<Ipv4Layer>(&layers_[j])) {
          return PseudoAddrs{v4->src, v4->dst};
        }
        if (const auto* v6 = std::get_if<Ipv6Layer>(&layers_[j])) {
          return PseudoAddrs{v6->src, v6->final_dst.value_or(v6->dst)};
        }
      }
      return std::nullopt;
    };

    Bytes out;
    std::visit(
        Overloaded{
            [&](const EthLayer& e) {
              put_bytes(out, e.dst.octets);
              put_bytes(out, e.src.octets);
              // 0x88b5 (IEEE local experimental) when nothing known follows.
              put_u16(out, e.type.value_or(ethertype_of(next).value_or(0x88b5)));
              put_bytes(out, inner);
            },
            [&](const VlanLayer& v) {
              put_u16(out, static_cast<std::uint16_t>((v.pcp << 13) | v.vid));
              put_u16(out, v.type.value_or(ethertype_of(next).value_or(0x88b5)));
              put_bytes(out, inner);
            },
            [&](const Ipv4Layer& ip) {
              const std::size_t hl = 20 + ip.options.size();
              const std::size_t total = hl + inner.size();
              if (total > 0xffff) throw std::logic_error("PacketBuilder: IPv4 packet over 64 KiB");
              out.push_back(static_cast<std::uint8_t>(0x40 | (hl / 4)));
              out.push_back(ip.tos);
              put_u16(out, static_cast<std::uint16_t>(total));
              put_u16(out, ip.id);
              put_u16(out, static_cast<std::uint16_t>((ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) |
                                                      (ip.frag_offset / 8)));
              out.push_back(ip.ttl);
              // 253: RFC 3692 experimentation value when nothing known follows.
              out.push_back(ip.protocol.value_or(protocol_of(next, false).value_or(253)));
              put_u16(out, 0);
              put_bytes(out, ip.src.octets);
              put_bytes(out, ip.dst.octets);
              put_bytes(out, ip.options);
              const std::uint16_t sum = ip.checksum.value_or(internet_checksum(std::span(out).first(hl)));
              set_u16(out, 10, sum);
              put_bytes(out, inner);
            },
            [&](const Ipv6Layer& ip) {
              const std::uint8_t final_proto =
                  ip.protocol.value_or(protocol_of(next, true).value_or(kIpProtoNoNext));
              Bytes ext;
              for (std::size_t i = 0; i < ip.ext.size(); ++i) {
                ext.push_back(i + 1 < ip.ext.size() ? ip.ext[i + 1].type : final_proto);
                put_bytes(ext, ip.ext[i].body);
              }
              const std::size_t plen = ext.size() + inner.size();
              if (plen > 0xffff) throw std::logic_error("PacketBuilder: IPv6 payload over 64 KiB");
              put_u32(out, (6u << 28) | (std::uint32_t{ip.traffic_class} << 20) | ip.flow_label);
              put_u16(out, static_cast<std::uint16_t>(plen));
              out.push_back(ip.ext.empty() ? final_proto : ip.ext.front().type);
              out.push_back(ip.hop_limit);
              put_bytes(out, ip.src.octets);
              put_bytes(out, ip.dst.octets);
              put_bytes(out, ext);
              put_bytes(out, inner);
            },
            [&](const TcpLayer& t) {
              Bytes opts = t.options;
              while (opts.size() % 4 != 0) opts.push_back(0x00);  // EOL padding
              if (opts.size() > 40) throw std::logic_error("PacketBuilder: TCP options over 40 bytes");
              put_u16(out, t.sport);
              put_u16(out, t.dport);
              put_u32(out, t.seq);
              put_u32(out, t.ack);
              out.push_back(static_cast<std::uint8_t>(((20 + opts.size()) / 4) << 4));
              out.push_back(t.flags);
              put_u16(out, t.window);
              put_u16(out, 0);
              put_u16(out, t.urgent);
              put_bytes(out, opts);
              put_bytes(out, inner);
              const auto ip = enclosing_ip();
              if (!ip) throw std::logic_error("PacketBuilder: TCP needs an IP layer");
              set_u16(out, 16,
                      t.checksum.value_or(ftz::test::l4_checksum(ip->src, ip->dst, kIpProtoTcp, out)));
            },
            [&](const UdpLayer& u) {
              put_u16(out, u.sport);
              put_u16(out, u.dport);
              put_u16(out, static_cast<std::uint16_t>(8 + inner.size()));
              put_u16(out, 0);
              put_bytes(out, inner);
              const auto ip = enclosing_ip();
              if (!ip) throw std::logic_error("PacketBuilder: UDP needs an IP layer");
              std::uint16_t sum = ftz::test::l4_checksum(ip->src, ip->dst, kIpProtoUdp, out);
              if (sum == 0) sum = 0xffff;  // RFC 768: 0 means "no checksum"
              set_u16(out, 6, u.checksum.value_or(sum));
            },
            [&](const IcmpEchoLayer& i) {
              const auto ip = enclosing_ip();
              if (!ip) throw std::logic_error("PacketBuilder: ICMP needs an IP layer");
              const bool v6 = std::holds_alternative<Ipv6Addr>(ip->src);
              out.push_back(v6 ? (i.reply ? 129 : 128) : (i.reply ? 0 : 8));
              out.push_back(0);
              put_u16(out, 0);
              put_u16(out, i.id);
              put_u16(out, i.seq);
              put_bytes(out, inner);
              // ICMPv6 covers a pseudo-header (RFC 4443 §2.3); ICMPv4 does not.
              const std::uint16_t sum =
                  v6 ? ftz::test::l4_checksum(ip->src, ip->dst, kIpProtoIcmpv6, out) : internet_checksum(out);
              set_u16(out, 2, i.checksum.value_or(sum));
            },
        },
        layers_[k]);
    inner = std::move(out);
  }
  return inner;
}

}  // namespace ftz::test
