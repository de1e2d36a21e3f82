#include "ftz/test/gen/bench.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <memory>

#include "ftz/test/gen/http.hpp"
#include "ftz/test/gen/identifiers.hpp"
#include "ftz/test/gen/json_writer.hpp"
#include "ftz/test/gen/scenario.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "ftz/test/tcp_session.hpp"

namespace ftz::test::gen {

namespace {

// Flows in progress at once: enough to interleave like a busy link, small
// enough that memory stays in the low megabytes.
constexpr std::size_t kConcurrentFlows = 64;
constexpr std::uint64_t kHostsPerSource = 256 * 254;  // 10.60.x.1-254
const MacAddr kGatewayMac = MacAddr::parse("02:00:5e:00:10:01");
// Destination ports for small-packet mode. Ports without a payload dissector
// in tshark (VXLAN 4789, for one, would report every frame as malformed).
constexpr std::uint16_t kSmallPacketPorts[] = {9, 40001, 40002, 40003};

struct FlowAddrs {
  Ipv4Addr src, dst;
  std::uint16_t sport;
};

// Distinct 5-tuples: the source address cycles through 10.60.0.0/16 and the
// source port moves on each time the addresses wrap, offset by a per-address
// value so that ports are spread for RSS.
FlowAddrs flow_addrs(std::uint64_t i, Rng& rng) {
  const std::uint64_t idx = i % kHostsPerSource;
  const std::uint64_t wrap = i / kHostsPerSource;
  FlowAddrs a;
  a.src = Ipv4Addr{{10, 60, static_cast<std::uint8_t>(idx / 254), static_cast<std::uint8_t>(1 + idx % 254)}};
  a.sport = static_cast<std::uint16_t>(1024 + (wrap + idx * 2654435761u) % 64512);
  // Offshore destinations: TEST-NET-3 and TEST-NET-1 (neither domestic nor HK).
  const std::uint8_t host = static_cast<std::uint8_t>(1 + rng.below(254));
  a.dst = rng.chance(50) ? Ipv4Addr{{203, 0, 113, host}} : Ipv4Addr{{192, 0, 2, host}};
  return a;
}

MacAddr host_mac(const Ipv4Addr& ip) {
  return MacAddr{{0x02, 0x60, ip.octets[0], ip.octets[1], ip.octets[2], ip.octets[3]}};
}

// Letters and spaces only: filler that can never look like an identifier.
std::string make_filler(Rng& rng) {
  static constexpr const char* kWords[] = {
      "lorem",  "ipsum", "dolor",   "sit",      "amet",       "consectetur", "adipiscing", "elit",
      "sed",    "do",    "eiusmod", "tempor",   "incididunt", "ut",          "labore",     "et",
      "dolore", "magna", "aliqua",  "shipping", "invoice",    "container",   "port"};
  std::string s;
  s.reserve(70 * 1024);
  while (s.size() < 66 * 1024) {
    s += kWords[rng.below(std::size(kWords))];
    s += rng.chance(8) ? "\n" : " ";
  }
  return s;
}

// --json bodies ---------------------------------------------------------

// First two digits of order ids: no resident-ID region code (DOMAIN.md §3.1),
// no card network prefix (62, 9, 4, 5[1-5], 2[2-7], 3[4-7]) and no mobile
// (1x), so that a PI-free body holds no identifier however its digits fall.
constexpr const char* kOrderPrefixes[] = {"28", "29", "38", "39", "58", "59", "66", "67",
                                          "68", "69", "72", "73", "74", "75", "76", "77",
                                          "78", "79", "84", "85", "86", "87", "88", "89"};
constexpr const char* kEmailDomains[] = {"example.com", "mail.example.cn", "corp.example.org", "example.net"};
// Largest order record append_order_record writes, with its separator.
constexpr std::size_t kMaxOrderRecord = 240;

void append_digits(std::string& out, Rng& rng, unsigned n) {
  for (unsigned k = 0; k < n; ++k) out += static_cast<char>('0' + rng.below(10));
}

void append_letters(std::string& out, Rng& rng, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k) out += static_cast<char>('a' + rng.below(26));
}

// One order record, as an e-commerce export sends them: a 11-19-digit order
// id, a 13-digit millisecond timestamp, prices, counts, a tracking number.
void append_order_record(std::string& out, Rng& rng) {
  out += "{\"order_id\":\"";
  out += kOrderPrefixes[rng.below(std::size(kOrderPrefixes))];
  append_digits(out, rng, 9 + static_cast<unsigned>(rng.below(9)));
  out += "\",\"created_ms\":17";
  append_digits(out, rng, 11);
  out += ",\"paid_ms\":17";
  append_digits(out, rng, 11);
  out += ",\"sku\":\"sku-";
  append_letters(out, rng, 4);
  out += "\",\"price\":\"";
  append_digits(out, rng, 1 + static_cast<unsigned>(rng.below(4)));
  out += '.';
  append_digits(out, rng, 2);
  out += "\",\"qty\":";
  out += static_cast<char>('1' + rng.below(9));
  out += ",\"items\":[";
  const unsigned items = 1 + static_cast<unsigned>(rng.below(4));
  for (unsigned k = 0; k < items; ++k) {
    if (k != 0) out += ',';
    out += static_cast<char>('1' + rng.below(9));  // a JSON number has no leading zero
    append_digits(out, rng, 4 + static_cast<unsigned>(rng.below(3)));
  }
  out += "],\"tracking\":\"sf";
  append_digits(out, rng, 12);
  out += "\"},";
}

enum class IdKind { kResidentId, kMobile, kCard, kEmail };

// Field name and value of one identifier; the field names are the ones the
// catalog's context lists name, as a real export would label them.
std::pair<const char*, std::string> make_identifier(IdKind kind, Rng& rng, IdentityFactory& f,
                                                    BenchStats& st) {
  switch (kind) {
    case IdKind::kResidentId:
      ++st.resident_ids;
      return {"id_card", f.resident_id(1950, 2005)};
    case IdKind::kMobile:
      ++st.mobiles;
      return {"mobile", f.mobile()};
    case IdKind::kCard:
      ++st.cards;
      return {"card_no", f.unionpay_card()};
    case IdKind::kEmail:
      break;
  }
  ++st.emails;
  std::string e;
  append_letters(e, rng, 3 + rng.below(8));
  e += '.';
  append_letters(e, rng, 2 + rng.below(6));
  append_digits(e, rng, static_cast<unsigned>(rng.below(4)));
  e += '@';
  e += kEmailDomains[rng.below(std::size(kEmailDomains))];
  return {"email", e};
}

struct ActiveFlow {
  std::vector<CapturedPacket> packets;
  std::size_t next = 0;
};

tl::expected<void, std::string> write_summary(const BenchOptions& o, const BenchStats& st) {
  JsonWriter j;
  j.begin_object();
  j.field("generator", "ftzgate-gen bench").field("seed", o.seed);
  j.field("mode", o.small_packets ? "udp-small-packets" : (o.json ? "tcp-http-json" : "tcp-http"));
  j.field("format", "classic pcap, nanosecond timestamps, linktype EN10MB");
  j.field("flows", st.flows).field("pi_percent", o.pi_percent).field("pi_flows", st.pi_flows);
  j.field("ids_in_bodies", st.ids).field("packets", st.packets).field("file_bytes", st.file_bytes);
  if (o.small_packets) j.field("packets_per_flow", o.packets_per_flow).field("frame_bytes", 60u);
  if (o.json) {
    j.field("bodies", "json").field("resident_ids", st.resident_ids).field("mobiles", st.mobiles);
    j.field("unionpay_cards", st.cards).field("emails", st.emails).field("ids_across_segments", st.split_ids);
    j.field("body_bytes", st.body_bytes).field("body_digits", st.body_digits);
  }
  j.end_object();
  const std::string path = o.out_path + ".summary.json";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!f || std::fwrite(j.str().data(), 1, j.str().size(), f.get()) != j.str().size()) {
    return tl::unexpected(path + ": write failed");
  }
  return {};
}

}  // namespace

bool bench_flow_has_pi(std::uint64_t i, unsigned percent) {
  return (i + 1) * percent / 100 > i * percent / 100;
}

std::string bench_json_body(Rng& rng, IdentityFactory& ids_factory, std::size_t size, unsigned ids,
                            std::size_t split_at, BenchStats& st, std::vector<std::size_t>* id_spans) {
  std::string body;
  body.reserve(size + kMaxOrderRecord);
  body += "{\"shipment\":\"";
  append_digits(body, rng, 12);
  body += "\",\"orders\":[";
  // Where each identifier record goes (body offsets; reached in order).
  std::vector<std::size_t> at;
  for (unsigned k = 0; k < ids; ++k) {
    at.push_back(k == 0 && split_at != 0 ? split_at : 64 + rng.below(size - 512));
  }
  std::sort(at.begin() + (split_at != 0 ? 1 : 0), at.end());
  std::size_t next = 0;
  const auto kind_of = [&] { return static_cast<IdKind>(rng.below(4)); };
  constexpr std::size_t kTail = 16;  // room for ],"pad":""}
  while (body.size() + kMaxOrderRecord * 2 + kTail < size) {
    const bool split = next == 0 && split_at != 0;
    if (next < at.size() && body.size() + kMaxOrderRecord * 2 > at[next]) {
      auto [key, value] = make_identifier(kind_of(), rng, ids_factory, st);
      ++st.ids;
      const std::string open = std::string("{\"") + key + "\":\"";
      if (split) {
        // Pad with a note record so the value starts 1..len-1 bytes before
        // split_at: the identifier crosses the segment boundary.
        const std::size_t before = 1 + rng.below(value.size() - 1);
        const std::string note_open = "{\"note\":\"";
        const std::string note_close = "\"},";
        const std::size_t fixed = body.size() + note_open.size() + note_close.size() + open.size();
        if (split_at >= before + fixed) {
          body += note_open;
          append_letters(body, rng, split_at - before - fixed);
          body += note_close;
        }
      }
      body += open;
      if (id_spans != nullptr) id_spans->insert(id_spans->end(), {body.size(), body.size() + value.size()});
      body += value;
      body += "\",\"created_ms\":17";
      append_digits(body, rng, 11);
      body += "},";
      ++next;
      continue;
    }
    append_order_record(body, rng);
  }
  body.pop_back();  // the last record's ','
  body += "],\"pad\":\"";
  if (body.size() + 2 < size) append_letters(body, rng, size - body.size() - 2);
  body += "\"}";
  for (const char c : body) st.body_digits += (c >= '0' && c <= '9') ? 1 : 0;
  st.body_bytes += body.size();
  return body;
}

tl::expected<BenchStats, std::string> write_bench(const BenchOptions& o) {
  if (o.pi_percent > 100) return tl::unexpected(std::string("--pi-percent must be 0..100"));
  if (o.flows == 0) return tl::unexpected(std::string("--flows must be positive"));
  if (o.flows > kHostsPerSource * 64512) return tl::unexpected(std::string("--flows too large"));
  auto writer = PcapWriter::open(o.out_path, TimestampPrecision::kNano);
  if (!writer) return tl::unexpected(writer.error());

  Rng rng(o.seed);
  BenchStats st;
  st.flows = o.flows;
  std::uint64_t clock = static_cast<std::uint64_t>(kScenarioStartUnix) * 1'000'000'000ull;
  auto emit = [&](const Bytes& frame) {
    // Timestamps as on a saturated 10 Gbit/s link (frame + 20 bytes of
    // preamble, FCS and gap): 0.8 ns per byte.
    clock += (frame.size() + 24) * 8 / 10;
    return writer->write(clock, frame);
  };

  if (o.small_packets) {
    // Round r of every flow before round r+1: the widest flow-table working set.
    std::vector<FlowAddrs> addrs;
    addrs.reserve(o.flows);
    for (std::uint64_t i = 0; i < o.flows; ++i) addrs.push_back(flow_addrs(i, rng));
    const std::string payload(18, 'p');  // 14 + 20 + 8 + 18 = 60 bytes
    for (unsigned r = 0; r < o.packets_per_flow; ++r) {
      for (std::uint64_t i = 0; i < o.flows; ++i) {
        const auto& a = addrs[i];
        const Bytes frame = PacketBuilder()
                                .eth(host_mac(a.src), kGatewayMac)
                                .ipv4(a.src, a.dst)
                                .ip_id(static_cast<std::uint16_t>(r))
                                .udp(a.sport, static_cast<std::uint16_t>(kSmallPacketPorts[i % 4]))
                                .payload(payload)
                                .build();
        if (!emit(frame)) return tl::unexpected(o.out_path + ": write failed");
      }
    }
  } else {
    const std::string filler = make_filler(rng);
    IdentityFactory identities(rng.next());
    const HeaderList json_headers = {{"Content-Type", "application/json"}};
    std::deque<ActiveFlow> active;
    std::uint64_t started = 0;
    while (started < o.flows || !active.empty()) {
      while (active.size() < kConcurrentFlows && started < o.flows) {
        const std::uint64_t i = started++;
        Rng frng = rng.fork(i);
        const FlowAddrs a = flow_addrs(i, frng);
        const bool pi = bench_flow_has_pi(i, o.pi_percent);
        const std::size_t body_size = 1024 + frng.below(31 * 1024 + 1);
        const bool post = o.json || pi || frng.chance(50);
        const std::string host = a.dst.to_string();
        const std::string uri = "/bench/" + std::to_string(i);
        std::string body;
        if (o.json) {
          // Every other PI flow has its first identifier across the first
          // segment boundary that leaves room on both sides (MSS 1460 bytes
          // of request stream, the head included).
          std::size_t split_at = 0;
          if (pi && st.pi_flows % 2 == 0) {
            const std::size_t head =
                http_head_length(http_request("POST", uri, host, json_headers, std::string(body_size, ' ')));
            for (std::size_t b = TcpSessionConfig{}.mss; b < head + body_size; b += TcpSessionConfig{}.mss) {
              if (b >= head + 600 && b + 400 <= head + body_size) {
                split_at = b - head;
                break;
              }
            }
          }
          const unsigned ids = pi ? 1 + static_cast<unsigned>(frng.below(2)) : 0;
          std::vector<std::size_t> spans;
          body = bench_json_body(frng, identities, body_size, ids, split_at, st, &spans);
          // Count every identifier across a boundary, planned or not.
          const std::size_t head =
              http_head_length(http_request("POST", uri, host, json_headers, std::string(body_size, ' ')));
          const std::size_t mss = TcpSessionConfig{}.mss;
          for (std::size_t k = 0; k + 1 < spans.size(); k += 2) {
            st.split_ids += (head + spans[k]) / mss != (head + spans[k + 1] - 1) / mss;
          }
          st.pi_flows += pi ? 1 : 0;
        } else if (pi) {
          body = "name,id_number\n";
          while (body.size() + 40 < body_size) {
            body += random_chinese_name(frng);  // separate statements: operand order of '+' is unspecified
            body += ',';
            body += random_resident_id(frng, 1950, 2005);
            body += '\n';
            ++st.ids;
          }
          ++st.pi_flows;
        } else {
          const std::size_t at = frng.below(filler.size() - body_size);
          body = filler.substr(at, body_size);
        }
        TcpSessionConfig cfg;
        cfg.client_mac = host_mac(a.src);
        cfg.server_mac = kGatewayMac;
        cfg.client_ip = a.src;
        cfg.server_ip = a.dst;
        cfg.client_port = a.sport;
        cfg.client_isn = static_cast<std::uint32_t>(frng.next());
        cfg.server_isn = static_cast<std::uint32_t>(frng.next());
        TcpSession s(cfg);
        s.handshake();
        if (o.json) {
          s.client_send(http_request("POST", uri, host, json_headers, body));
          s.server_send(http_response(201, "Created", "application/json", "{\"ok\":true}", clock));
        } else if (post) {
          s.client_send(
              http_request("POST", uri, host, {{"Content-Type", pi ? "text/csv" : "text/plain"}}, body));
          s.server_send(http_response(201, "Created", "text/plain", "ok", clock));
        } else {
          s.client_send(http_request("GET", uri, host, {{"Accept", "*/*"}}, ""));
          s.server_send(http_response(200, "OK", "text/plain", body, clock));
        }
        s.close();
        active.push_back({s.take_packets(), 0});
      }
      // One packet from each active flow in turn.
      for (auto it = active.begin(); it != active.end();) {
        if (!emit(it->packets[it->next].frame)) return tl::unexpected(o.out_path + ": write failed");
        if (++it->next == it->packets.size()) {
          it = active.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  st.packets = writer->packets_written();
  st.file_bytes = writer->bytes_written();
  if (auto closed = writer->close(); !closed) return tl::unexpected(closed.error());
  if (auto s = write_summary(o, st); !s) return tl::unexpected(s.error());
  return st;
}

}  // namespace ftz::test::gen
