#include "frame.hpp"

#include <cstdio>

#include "ftz/test/checksum.hpp"

namespace ftz::evasion {

namespace {

uint16_t u16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}
uint32_t u32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{u16(b, at)} << 16) | u16(b, at + 2);
}

void parse_tcp_options(std::span<const uint8_t> opts, FrameInfo& out) {
  size_t i = 0;
  while (i < opts.size()) {
    const uint8_t kind = opts[i];
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= opts.size()) break;
    const uint8_t len = opts[i + 1];
    if (len < 2 || i + len > opts.size()) break;
    if (kind == 8 && len == 10) {
      out.tsval = u32(opts, i + 2);
      out.tsecr = u32(opts, i + 6);
    }
    i += len;
  }
}

}  // namespace

std::optional<FrameInfo> parse_frame(std::span<const uint8_t> frame) {
  if (frame.size() < kEthHeader + 20 || u16(frame, 12) != 0x0800) return std::nullopt;
  FrameInfo f;
  f.ip_offset = kEthHeader;
  std::span<const uint8_t> ip = frame.subspan(kEthHeader);
  if ((ip[0] >> 4) != 4) return std::nullopt;
  f.ip_header_len = (ip[0] & 0x0f) * 4u;
  f.ip_total_len = u16(ip, 2);
  if (f.ip_header_len < 20 || f.ip_total_len < f.ip_header_len || f.ip_total_len > ip.size())
    return std::nullopt;
  ip = ip.first(f.ip_total_len);
  f.ip_id = u16(ip, 4);
  const uint16_t frag = u16(ip, 6);
  f.more_fragments = (frag & 0x2000) != 0;
  f.frag_offset = (frag & 0x1fffu) * 8u;
  f.fragment = f.more_fragments || f.frag_offset > 0;
  f.ttl = ip[8];
  f.proto = ip[9];
  f.src = u32(ip, 12);
  f.dst = u32(ip, 16);
  f.ip_payload = ip.subspan(f.ip_header_len);
  f.payload = f.ip_payload;
  if (f.fragment && (f.frag_offset > 0 || f.more_fragments)) {
    // Only a whole datagram's L4 header is trusted here: fragments are
    // judged reassembled (oracle.cpp).
    return f;
  }
  const std::span<const uint8_t> l4 = f.ip_payload;
  if (f.proto == 6 && l4.size() >= 20) {
    const uint32_t off = (l4[12] >> 4) * 4u;
    if (off < 20 || off > l4.size()) return f;
    f.l4 = true;
    f.sport = u16(l4, 0);
    f.dport = u16(l4, 2);
    f.seq = u32(l4, 4);
    f.ack = u32(l4, 8);
    f.flags = l4[13];
    f.window = u16(l4, 14);
    parse_tcp_options(l4.subspan(20, off - 20), f);
    f.payload = l4.subspan(off);
  } else if (f.proto == 17 && l4.size() >= 8) {
    f.l4 = true;
    f.sport = u16(l4, 0);
    f.dport = u16(l4, 2);
    f.payload = l4.subspan(8);
  }
  return f;
}

Bytes with_ethernet(std::span<const uint8_t> ip_packet, const test::MacAddr& src, const test::MacAddr& dst) {
  Bytes out;
  out.reserve(kEthHeader + ip_packet.size());
  out.insert(out.end(), dst.octets.begin(), dst.octets.end());
  out.insert(out.end(), src.octets.begin(), src.octets.end());
  out.push_back(0x08);
  out.push_back(0x00);
  out.insert(out.end(), ip_packet.begin(), ip_packet.end());
  return out;
}

void fix_ipv4_checksum(Bytes& frame, uint32_t ip_offset) {
  const uint32_t ihl = (frame[ip_offset] & 0x0f) * 4u;
  frame[ip_offset + 10] = 0;
  frame[ip_offset + 11] = 0;
  const uint16_t c = test::internet_checksum(std::span<const uint8_t>(frame.data() + ip_offset, ihl));
  frame[ip_offset + 10] = static_cast<uint8_t>(c >> 8);
  frame[ip_offset + 11] = static_cast<uint8_t>(c);
}

std::string describe(std::span<const uint8_t> frame) {
  const auto f = parse_frame(frame);
  if (!f) return "(not IPv4, " + std::to_string(frame.size()) + " bytes)";
  auto ip = [](uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
           std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
  };
  std::string s = ip(f->src);
  if (f->l4) s += ":" + std::to_string(f->sport);
  s += " > " + ip(f->dst);
  if (f->l4) s += ":" + std::to_string(f->dport);
  if (f->fragment) {
    s += " frag id " + std::to_string(f->ip_id) + " off " + std::to_string(f->frag_offset) +
         (f->more_fragments ? " MF" : "") + " len " + std::to_string(f->payload.size());
  } else if (f->proto == 6 && f->l4) {
    std::string flags;
    if (f->flags & 0x02) flags += 'S';
    if (f->flags & 0x01) flags += 'F';
    if (f->flags & 0x04) flags += 'R';
    if (f->flags & 0x08) flags += 'P';
    if (f->flags & 0x10) flags += '.';
    s += " [" + flags + "] seq " + std::to_string(f->seq) + " ack " + std::to_string(f->ack) + " len " +
         std::to_string(f->payload.size());
    if (f->tsval) s += " ts " + std::to_string(*f->tsval);
  } else if (f->proto == 17) {
    s += " udp len " + std::to_string(f->payload.size());
  } else {
    s += " proto " + std::to_string(f->proto);
  }
  s += " ttl " + std::to_string(f->ttl);
  return s;
}

}  // namespace ftz::evasion
