#include "ftz/test/fragment.hpp"

#include <stdexcept>

#include "ftz/test/checksum.hpp"
#include "ftz/test/packet_builder.hpp"

namespace ftz::test {

namespace {

std::vector<FragmentSpec> specs_from_cuts(std::span<const std::uint32_t> cuts, std::size_t size) {
  std::vector<FragmentSpec> specs;
  std::uint32_t begin = 0;
  for (std::uint32_t cut : cuts) {
    if (cut <= begin || cut >= size || cut % 8 != 0) {
      throw std::invalid_argument("fragment cuts must ascend, be inside the payload and % 8 == 0");
    }
    specs.push_back({begin, cut - begin, std::nullopt, std::nullopt});
    begin = cut;
  }
  specs.push_back({begin, static_cast<std::uint32_t>(size - begin), std::nullopt, std::nullopt});
  return specs;
}

// The bytes a piece carries and its MF bit.
std::pair<Bytes, bool> piece_bytes(const FragmentSpec& spec, std::span<const std::uint8_t> payload) {
  if (spec.offset % 8 != 0) throw std::invalid_argument("fragment offset must be a multiple of 8");
  Bytes data;
  if (spec.data) {
    data = *spec.data;
  } else {
    if (spec.offset + spec.length > payload.size()) {
      throw std::invalid_argument("fragment piece beyond the payload");
    }
    data.assign(payload.begin() + spec.offset, payload.begin() + spec.offset + spec.length);
  }
  const bool more = spec.more_fragments.value_or(spec.offset + data.size() < payload.size());
  return {std::move(data), more};
}

}  // namespace

L2Info parse_l2(std::span<const std::uint8_t> frame) {
  if (frame.size() < 14) throw std::invalid_argument("frame shorter than an Ethernet header");
  L2Info info{14, get_u16(frame, 12)};
  while (info.ethertype == kTpid8021Q || info.ethertype == kTpid8021AD || info.ethertype == 0x9100) {
    if (frame.size() < info.length + 4) throw std::invalid_argument("truncated VLAN tag");
    info.ethertype = get_u16(frame, info.length + 2);
    info.length += 4;
  }
  return info;
}

std::vector<std::uint32_t> even_cuts(std::size_t payload_size, std::size_t count) {
  std::vector<std::uint32_t> cuts;
  if (count < 2) return cuts;
  std::size_t step = (payload_size / count + 7) / 8 * 8;
  if (step == 0) step = 8;
  for (std::size_t c = step; c < payload_size && cuts.size() + 1 < count; c += step) {
    cuts.push_back(static_cast<std::uint32_t>(c));
  }
  return cuts;
}

std::vector<Bytes> fragment_ipv4(std::span<const std::uint8_t> frame, std::span<const std::uint32_t> cuts) {
  const L2Info l2 = parse_l2(frame);
  if (l2.ethertype != kEtherTypeIpv4) throw std::invalid_argument("not an IPv4 frame");
  const std::size_t hl = (frame[l2.length] & 0x0f) * 4u;
  const std::size_t total = get_u16(frame, l2.length + 2);
  const auto specs = specs_from_cuts(cuts, total - hl);
  return fragment_ipv4(frame, specs);
}

std::vector<Bytes> fragment_ipv4(std::span<const std::uint8_t> frame, std::span<const FragmentSpec> pieces) {
  const L2Info l2 = parse_l2(frame);
  if (l2.ethertype != kEtherTypeIpv4) throw std::invalid_argument("not an IPv4 frame");
  const auto ip = frame.subspan(l2.length);
  const std::size_t hl = (ip[0] & 0x0f) * 4u;
  const std::size_t total = get_u16(ip, 2);
  if (hl < 20 || total < hl || total > ip.size()) throw std::invalid_argument("bad IPv4 header");
  const auto payload = ip.subspan(hl, total - hl);

  // RFC 791: options whose "copied" flag (bit 7 of the type) is set appear in
  // every fragment; the rest only in the first.
  const auto options = ip.subspan(20, hl - 20);
  Bytes copied;
  for (std::size_t i = 0; i < options.size();) {
    const std::uint8_t type = options[i];
    if (type == 0) break;
    if (type == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size() || options[i + 1] < 2) break;
    const std::size_t len = options[i + 1];
    if ((type & 0x80) != 0) copied.insert(copied.end(), options.begin() + i, options.begin() + i + len);
    i += len;
  }
  while (copied.size() % 4 != 0) copied.push_back(0);

  const std::uint16_t df = get_u16(ip, 6) & 0x4000;
  std::vector<Bytes> out;
  for (const auto& spec : pieces) {
    auto [data, more] = piece_bytes(spec, payload);
    const bool first = spec.offset == 0;
    const auto opts = first ? std::span<const std::uint8_t>(options) : std::span<const std::uint8_t>(copied);
    const std::size_t fhl = 20 + opts.size();
    Bytes f(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(l2.length));
    const std::size_t ip_at = f.size();
    f.insert(f.end(), ip.begin(), ip.begin() + 20);
    put_bytes(f, opts);
    f[ip_at] = static_cast<std::uint8_t>(0x40 | (fhl / 4));
    set_u16(f, ip_at + 2, static_cast<std::uint16_t>(fhl + data.size()));
    set_u16(f, ip_at + 6, static_cast<std::uint16_t>(df | (more ? 0x2000 : 0) | (spec.offset / 8)));
    set_u16(f, ip_at + 10, 0);
    set_u16(f, ip_at + 10, internet_checksum(std::span(f).subspan(ip_at, fhl)));
    put_bytes(f, data);
    out.push_back(std::move(f));
  }
  return out;
}

namespace {

struct Ipv6Split {
  std::size_t unfrag_len = 40;   // from the start of the IPv6 header
  std::size_t next_byte_at = 6;  // where the last unfragmentable next-header byte sits
  std::uint8_t fragmentable_type = 0;
};

Ipv6Split split_ipv6(std::span<const std::uint8_t> ip, std::size_t total) {
  Ipv6Split s;
  s.fragmentable_type = ip[6];
  std::uint8_t type = ip[6];
  std::size_t pos = 40;
  // RFC 8200 §4.5: hop-by-hop and routing (and destination options that come
  // before a routing header) stay in every fragment.
  while (type == kIpProtoHopByHop || type == kIpProtoRouting || type == kIpProtoDestOpts) {
    if (pos + 2 > total) throw std::invalid_argument("truncated IPv6 extension header");
    const std::size_t len = (ip[pos + 1] + 1u) * 8u;
    if (type != kIpProtoDestOpts) {
      s.unfrag_len = pos + len;
      s.next_byte_at = pos;
      s.fragmentable_type = ip[pos];
    }
    type = ip[pos];
    pos += len;
  }
  return s;
}

}  // namespace

std::vector<Bytes> fragment_ipv6(std::span<const std::uint8_t> frame, std::span<const std::uint32_t> cuts,
                                 std::uint32_t id) {
  const L2Info l2 = parse_l2(frame);
  if (l2.ethertype != kEtherTypeIpv6) throw std::invalid_argument("not an IPv6 frame");
  const auto ip = frame.subspan(l2.length);
  const std::size_t total = 40u + get_u16(ip, 4);
  const auto s = split_ipv6(ip, total);
  const auto specs = specs_from_cuts(cuts, total - s.unfrag_len);
  return fragment_ipv6(frame, specs, id);
}

std::vector<Bytes> fragment_ipv6(std::span<const std::uint8_t> frame, std::span<const FragmentSpec> pieces,
                                 std::uint32_t id) {
  const L2Info l2 = parse_l2(frame);
  if (l2.ethertype != kEtherTypeIpv6) throw std::invalid_argument("not an IPv6 frame");
  const auto ip = frame.subspan(l2.length);
  const std::size_t total = 40u + get_u16(ip, 4);
  if (total > ip.size()) throw std::invalid_argument("bad IPv6 payload length");
  const auto s = split_ipv6(ip, total);
  const auto payload = ip.subspan(s.unfrag_len, total - s.unfrag_len);

  std::vector<Bytes> out;
  for (const auto& spec : pieces) {
    auto [data, more] = piece_bytes(spec, payload);
    Bytes f(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(l2.length));
    const std::size_t ip_at = f.size();
    f.insert(f.end(), ip.begin(), ip.begin() + static_cast<std::ptrdiff_t>(s.unfrag_len));
    f[ip_at + s.next_byte_at] = kIpProtoFragment;
    f.push_back(s.fragmentable_type);
    f.push_back(0);
    put_u16(f, static_cast<std::uint16_t>(spec.offset | (more ? 1 : 0)));
    put_u32(f, id);
    put_bytes(f, data);
    set_u16(f, ip_at + 4, static_cast<std::uint16_t>(f.size() - ip_at - 40));
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace ftz::test
