// Detection precision and recall, end to end through the engine: generated
// HTTP/1.1 POSTs from a FTZ tenant to an offshore server (exports, so the
// Worker inspects them) whose bodies carry valid resident IDs (GB 11643-1999)
// and mainland mobiles (MIIT allocation) mixed with look-alikes that must not
// count: the same IDs with a wrong check character, random 18-digit runs,
// 13-digit millisecond timestamps, 16-20-digit order numbers, and IDs and
// mobiles embedded in longer digit runs. Bodies are JSON, form-urlencoded
// (values percent-encoded), CSV, plain text and gzip, a quarter of them with
// Transfer-Encoding: chunked; the streams are cut at a small MSS so
// identifiers straddle segments, and delivered in order, with two
// segments swapped, or with a retransmission (an exact duplicate or an
// overlapping resegmented copy).
//
// Ground truth is what the generator inserted, never what the engine says.
// Per flow, the alert events (keyed tokens, computed here with the same key)
// give identifier-level true positives; the flow event's detections give the
// confirmed counts per signature. Negatives are drawn so that none of them is
// a valid identifier of any catalog format that counts without context (a
// random 18-digit run that passes MOD 11-2 or the USCC check, or a 15-19-digit
// run that passes Luhn, is redrawn), and the bodies carry no context keyword
// that would promote a format-only match.
//
// Not in the positive corpus (known limitation): separators inside digit runs
// ("138 1234 5678", "110105 19491231 002X") are not normalised in the stream
// (dataplane/engine/signatures/README.md, "Limits worth knowing").
//
// Output: one summary line per corpus, counts only. Identifiers never appear
// in test output: failures name the corpus and counts, not the values.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "corpus_policy.hpp"
#include "ftz/config/config.hpp"
#include "ftz/engine/classify/validators.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/test/gen/http.hpp"
#include "ftz/test/gen/identifiers.hpp"
#include "ftz/test/gen/rng.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/tcp_session.hpp"

namespace {

using namespace ftz;
namespace gen = ftz::test::gen;
namespace corpus = ftz::test::corpus;

constexpr uint64_t kSeed = 0x5eed'2026'0302ull;
constexpr int kFlowsPerCorpus = 20;

enum class BodyKind : uint8_t { kJson, kForm, kCsv, kText, kGzip };
enum class Delivery : uint8_t { kInOrder, kOutOfOrder, kRetransmit };
constexpr std::array kBodyKinds = {BodyKind::kJson, BodyKind::kForm, BodyKind::kCsv, BodyKind::kText,
                                   BodyKind::kGzip};
constexpr std::array kDeliveries = {Delivery::kInOrder, Delivery::kOutOfOrder, Delivery::kRetransmit};

const char* body_kind_name(BodyKind k) {
  switch (k) {
    case BodyKind::kJson:
      return "json";
    case BodyKind::kForm:
      return "form";
    case BodyKind::kCsv:
      return "csv";
    case BodyKind::kText:
      return "text";
    case BodyKind::kGzip:
      return "gzip";
  }
  return "?";
}
const char* delivery_name(Delivery d) {
  switch (d) {
    case Delivery::kInOrder:
      return "in_order";
    case Delivery::kOutOfOrder:
      return "out_of_order";
    case Delivery::kRetransmit:
      return "retransmit";
  }
  return "?";
}

using corpus::source_dir;

// --- Negatives that are not identifiers -------------------------------------

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// True when `s` (a whole digit run, boundaries on both sides) is a valid
// identifier of a catalog format that counts without context: a mobile, an
// 18-character string passing MOD 11-2 (whatever its date and region) or the
// GB 32100 check, or a 15-19-digit run passing Luhn (cards, IMEI). Negatives
// for which this holds are redrawn: they would be true detections.
bool is_catalog_identifier(std::string_view s) {
  if (s.size() == 11 && gen::is_valid_mobile(s)) return true;
  if (s.size() == 18) {
    const char last = s[17] == 'x' ? 'X' : s[17];
    if (all_digits(s.substr(0, 17)) && gen::resident_id_check_char(s.substr(0, 17)) == last) return true;
    const char uscc = gen::uscc_check_char(s.substr(0, 17));
    if (uscc != '\0' && uscc == last) return true;
  }
  return all_digits(s) && s.size() >= 15 && s.size() <= 19 && gen::luhn_valid(s);
}

std::string random_digits(gen::Rng& rng, size_t n, bool nonzero_first = true) {
  std::string s(n, '0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('0' + rng.below(10));
  if (nonzero_first) s[0] = static_cast<char>('1' + rng.below(9));
  return s;
}

template <typename Make>
std::string draw_negative(gen::Rng& rng, Make make) {
  for (;;) {
    std::string s = make(rng);
    if (!is_catalog_identifier(s)) return s;
  }
}

// --- Items of one flow ----------------------------------------------------------

enum class ItemKind : uint8_t {
  kValidId,
  kValidMobile,
  kWrongCheckId,
  kRandom18,
  kTimestampMs,
  kOrderNumber,
  kEmbeddedId,
  kEmbeddedMobile,
};

struct Item {
  ItemKind kind;
  std::string text;       // as written into the body (before percent-encoding)
  std::string canonical;  // valid identifiers: the form the engine tokens
};

bool is_positive(ItemKind k) {
  return k == ItemKind::kValidId || k == ItemKind::kValidMobile;
}

// One HTTP POST body's worth of identifiers and look-alikes.
struct FlowItems {
  std::vector<Item> ids;      // valid, wrong check, embedded: the "ID" field
  std::vector<Item> mobiles;  // valid, embedded: the "mobile" field
  std::vector<Item> orders;
  std::vector<Item> stamps;
  std::vector<Item> refs;  // random 18-digit runs
};

template <typename T>
void shuffle(gen::Rng& rng, std::vector<T>& v) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

FlowItems make_items(gen::Rng& rng, gen::IdentityFactory& people, BodyKind kind) {
  FlowItems f;
  const int valid_ids = rng.between(3, 8);
  const int valid_mobiles = rng.between(3, 8);
  for (int i = 0; i < valid_ids; ++i) {
    std::string id = people.resident_id();
    std::string text = id;
    // A lower-case check character is valid (DOMAIN.md §3.1); JSON and form
    // senders usually keep the upper case.
    if (text.back() == 'X' && (kind == BodyKind::kCsv || kind == BodyKind::kText) && rng.chance(50)) {
      text.back() = 'x';
    }
    f.ids.push_back({ItemKind::kValidId, text, id});
  }
  for (int i = 0; i < valid_mobiles; ++i) {
    std::string m = people.mobile();
    std::string text = m;
    // International form: "+86" directly before the number (the span rule
    // keeps one identifier for "+8613…" and "13…").
    if ((kind == BodyKind::kJson || kind == BodyKind::kText) && rng.chance(25)) text = "+86" + m;
    f.mobiles.push_back({ItemKind::kValidMobile, text, m});
  }
  for (int i = rng.between(2, 4); i > 0; --i) {
    const std::string id = people.resident_id();
    std::string wrong;
    for (;;) {
      static constexpr std::string_view kChecks = "0123456789X";
      wrong = id;
      wrong.back() = kChecks[rng.below(kChecks.size())];
      if (wrong.back() != id.back() && !is_catalog_identifier(wrong)) break;
    }
    f.ids.push_back({ItemKind::kWrongCheckId, wrong, {}});
  }
  for (int i = rng.between(1, 2); i > 0; --i) {
    // 2-4 digits either side: 22-26 digits, longer than any catalog pattern.
    const std::string id = people.resident_id();
    f.ids.push_back({ItemKind::kEmbeddedId,
                     random_digits(rng, static_cast<size_t>(rng.between(2, 4))) + id +
                         random_digits(rng, static_cast<size_t>(rng.between(2, 4)), false),
                     {}});
  }
  for (int i = rng.between(1, 2); i > 0; --i) {
    // 14, 16 or 17 digits (never 15: the IMEI length).
    const std::string m = people.mobile();
    static constexpr std::array<std::pair<int, int>, 3> kPads = {{{1, 2}, {2, 3}, {3, 3}}};
    const auto pad = kPads[rng.below(kPads.size())];
    f.mobiles.push_back({ItemKind::kEmbeddedMobile,
                         draw_negative(rng,
                                       [&](gen::Rng& r) {
                                         return random_digits(r, static_cast<size_t>(pad.first)) + m +
                                                random_digits(r, static_cast<size_t>(pad.second), false);
                                       }),
                         {}});
  }
  for (int i = rng.between(2, 4); i > 0; --i) {
    f.refs.push_back(
        {ItemKind::kRandom18, draw_negative(rng, [](gen::Rng& r) { return random_digits(r, 18); }), {}});
  }
  for (int i = rng.between(2, 4); i > 0; --i) {
    // Milliseconds since the epoch in 2023-2027: 13 digits starting 17.
    f.stamps.push_back({ItemKind::kTimestampMs, "17" + random_digits(rng, 11, false), {}});
  }
  for (int i = rng.between(2, 4); i > 0; --i) {
    const size_t len = static_cast<size_t>(rng.between(16, 20));
    f.orders.push_back({ItemKind::kOrderNumber,
                        draw_negative(rng,
                                      [len](gen::Rng& r) {
                                        // Half look like "2026MMDD…", half are arbitrary digits.
                                        if (r.chance(50)) {
                                          char date[16];
                                          std::snprintf(date, sizeof date, "2026%02d%02d", r.between(1, 12),
                                                        r.between(1, 28));
                                          return std::string(date) + random_digits(r, len - 8, false);
                                        }
                                        return random_digits(r, len);
                                      }),
                        {}});
  }
  shuffle(rng, f.ids);
  shuffle(rng, f.mobiles);
  return f;
}

// --- Bodies ---------------------------------------------------------------------

// Appends body text and remembers where each valid identifier landed, so a
// test can tell which of them straddle a segment boundary.
struct BodyWriter {
  std::string body;
  std::vector<std::pair<size_t, size_t>> positive_spans;
  void text(std::string_view s) { body.append(s); }
  void item(const Item& it, std::string_view encoded) {
    if (is_positive(it.kind)) positive_spans.emplace_back(body.size(), body.size() + encoded.size());
    body.append(encoded);
  }
  void item(const Item& it) { item(it, it.text); }
};

// application/x-www-form-urlencoded: every byte outside the unreserved set is
// percent-encoded, and digits are sometimes too (valid, and a decoder must
// see through it).
std::string form_encode(gen::Rng& rng, std::string_view s, unsigned digit_percent) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved && !(c >= '0' && c <= '9' && rng.chance(digit_percent))) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

const Item* take(std::vector<Item>& v, size_t row) {
  return row < v.size() ? &v[row] : nullptr;
}

size_t rows_of(const FlowItems& f) {
  return std::max({f.ids.size(), f.mobiles.size(), f.orders.size(), f.stamps.size(), f.refs.size()});
}

void write_json(gen::Rng& rng, gen::IdentityFactory& people, FlowItems& f, BodyWriter& w) {
  w.text("{\"batch\":\"B");
  w.text(std::to_string(rng.below(100000)));
  w.text("\",\"records\":[");
  for (size_t r = 0; r < rows_of(f); ++r) {
    w.text(r == 0 ? "{" : ",{");
    w.text("\"name\":\"" + people.chinese_name() + "\"");
    if (const Item* it = take(f.ids, r)) {
      w.text(",\"idCard\":\"");
      w.item(*it);
      w.text("\"");
    }
    if (const Item* it = take(f.mobiles, r)) {
      w.text(",\"mobile\":\"");
      w.item(*it);
      w.text("\"");
    }
    if (const Item* it = take(f.orders, r)) {
      w.text(",\"orderNo\":\"");
      w.item(*it);
      w.text("\"");
    }
    if (const Item* it = take(f.stamps, r)) {
      w.text(",\"ts\":");  // a JSON number, unquoted
      w.item(*it);
    }
    if (const Item* it = take(f.refs, r)) {
      w.text(",\"traceId\":\"");
      w.item(*it);
      w.text("\"");
    }
    w.text(",\"amount\":" + std::to_string(rng.between(1, 99999)) + "." +
           std::to_string(rng.between(10, 99)));
    w.text("}");
  }
  w.text("]}");
}

void write_form(gen::Rng& rng, gen::IdentityFactory& people, FlowItems& f, BodyWriter& w) {
  auto field = [&](std::string_view key, const Item* it) {
    if (it == nullptr) return;
    w.text("&");
    w.text(key);
    w.text("=");
    w.item(*it, form_encode(rng, it->text, 15));
  };
  w.text("batch=B" + std::to_string(rng.below(100000)));
  for (size_t r = 0; r < rows_of(f); ++r) {
    w.text("&name=" + form_encode(rng, people.chinese_name(), 0));
    field("id_no", take(f.ids, r));
    field("mobile", take(f.mobiles, r));
    field("order_no", take(f.orders, r));
    field("ts", take(f.stamps, r));
    field("trace", take(f.refs, r));
    w.text("&note=" + form_encode(rng, "ok, 已核对 #" + std::to_string(r), 0));
  }
}

void write_csv(gen::Rng& rng, gen::IdentityFactory& people, FlowItems& f, BodyWriter& w) {
  w.text("name,id_number,mobile,order_no,ts,ref\r\n");
  auto cell = [&](const Item* it, bool last) {
    if (it != nullptr) {
      const bool quoted = rng.chance(30);
      if (quoted) w.text("\"");
      w.item(*it);
      if (quoted) w.text("\"");
    }
    w.text(last ? "\r\n" : ",");
  };
  for (size_t r = 0; r < rows_of(f); ++r) {
    w.text(people.chinese_name() + ",");
    cell(take(f.ids, r), false);
    cell(take(f.mobiles, r), false);
    cell(take(f.orders, r), false);
    cell(take(f.stamps, r), false);
    cell(take(f.refs, r), true);
  }
}

void write_text(gen::Rng& rng, gen::IdentityFactory& people, FlowItems& f, BodyWriter& w) {
  w.text("客户资料导出 批次 B" + std::to_string(rng.below(100000)) + "\n");
  auto part = [&](std::string_view label, const Item* it) {
    if (it == nullptr) return;
    w.text(label);
    w.item(*it);
  };
  for (size_t r = 0; r < rows_of(f); ++r) {
    w.text("第" + std::to_string(r + 1) + "条 客户" + people.chinese_name());
    part(" 身份证号:", take(f.ids, r));
    part(" 手机 ", take(f.mobiles, r));
    part(" 订单号 ", take(f.orders, r));
    part(" 时间戳 ", take(f.stamps, r));
    part(" 流水 ", take(f.refs, r));
    w.text("。\n");
  }
}

std::string gzip_compress(std::string_view in) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END ? out : std::string{};
}

// --- Flows -------------------------------------------------------------------------

struct Frame {
  int64_t ts_ns;
  test::Bytes bytes;
};

struct FlowPlan {
  size_t corpus = 0;
  uint16_t client_port = 0;
  std::vector<Item> inserted;     // every item written into the body
  uint32_t straddling = 0;        // valid identifiers cut by a segment boundary (plain bodies)
  uint32_t chunk_straddling = 0;  // valid identifiers cut by a chunk of Transfer-Encoding: chunked
  bool chunked = false;
  uint32_t swaps = 0;         // neighbouring data segments delivered in reverse order
  uint32_t retransmits = 0;   // data segments delivered twice (exact or resegmented)
  std::vector<Frame> frames;  // in delivery order
};

struct CorpusResult {
  BodyKind kind{};
  Delivery delivery{};
  uint32_t flows = 0;
  uint64_t inserted_ids = 0, inserted_mobiles = 0, negatives = 0, straddling = 0, chunked = 0;
  uint64_t detected_ids = 0, detected_mobiles = 0;  // true positives
  uint64_t false_positives = 0;                     // confirmed detections beyond the true ones
  uint64_t false_negatives = 0;
  uint64_t flow_events = 0, uninspectable = 0, alert_mismatch = 0;
  [[nodiscard]] double precision() const {
    const uint64_t tp = detected_ids + detected_mobiles;
    return tp + false_positives == 0 ? 1.0
                                     : static_cast<double>(tp) / static_cast<double>(tp + false_positives);
  }
  [[nodiscard]] double recall() const {
    const uint64_t tp = detected_ids + detected_mobiles;
    return tp + false_negatives == 0 ? 1.0
                                     : static_cast<double>(tp) / static_cast<double>(tp + false_negatives);
  }
  [[nodiscard]] std::string name() const {
    return std::string(body_kind_name(kind)) + "/" + delivery_name(delivery);
  }
};

// The frame of a TCP segment carrying client stream bytes [begin, end) of
// `session` again (a retransmission that the sender resegmented).
test::Bytes resegmented_copy(const test::TcpSessionConfig& c, std::string_view stream, size_t begin,
                             size_t end) {
  return test::PacketBuilder()
      .eth(c.client_mac, c.server_mac)
      .ipv4(std::get<test::Ipv4Addr>(c.client_ip), std::get<test::Ipv4Addr>(c.server_ip))
      .ip_id(0x7000)
      .dont_fragment()
      .tcp(c.client_port, c.server_port, test::kTcpPsh | test::kTcpAck,
           c.client_isn + 1 + static_cast<uint32_t>(begin), c.server_isn + 1)
      .window(c.window)
      .payload(stream.substr(begin, end - begin))
      .build();
}

FlowPlan make_flow(size_t index, size_t corpus, BodyKind kind, Delivery delivery,
                   gen::IdentityFactory& people, int64_t start_ns) {
  gen::Rng rng = gen::Rng(kSeed).fork(index + 1);
  FlowPlan plan;
  plan.corpus = corpus;
  plan.client_port = static_cast<uint16_t>(20000 + index);

  FlowItems items = make_items(rng, people, kind);
  BodyWriter w;
  std::string content_type;
  BodyKind inner = kind;
  if (kind == BodyKind::kGzip) {
    static constexpr std::array kInner = {BodyKind::kJson, BodyKind::kForm, BodyKind::kCsv};
    inner = kInner[index % kInner.size()];
  }
  switch (inner) {
    case BodyKind::kJson:
      write_json(rng, people, items, w);
      content_type = "application/json; charset=utf-8";
      break;
    case BodyKind::kForm:
      write_form(rng, people, items, w);
      content_type = "application/x-www-form-urlencoded";
      break;
    case BodyKind::kCsv:
      write_csv(rng, people, items, w);
      content_type = "text/csv; charset=utf-8";
      break;
    case BodyKind::kText:
    case BodyKind::kGzip:
      write_text(rng, people, items, w);
      content_type = "text/plain; charset=utf-8";
      break;
  }
  for (auto* v : {&items.ids, &items.mobiles, &items.orders, &items.stamps, &items.refs}) {
    plan.inserted.insert(plan.inserted.end(), v->begin(), v->end());
  }

  gen::HeaderList headers = {{"Content-Type", content_type}, {"User-Agent", "ftz-export/1.4"}};
  std::string body = w.body;
  if (kind == BodyKind::kGzip) {
    body = gzip_compress(w.body);
    headers.emplace_back("Content-Encoding", "gzip");
  }
  // A quarter of the requests are chunked (chunk framing inside identifiers).
  std::vector<size_t> chunks;
  if (rng.chance(25)) {
    chunks = gen::random_chunk_sizes(rng, body.size(), 40, 300);
    plan.chunked = true;
  }
  const std::string request =
      gen::http_request("POST", "/api/v2/upload", "sync.example.net", headers, body, chunks);
  const size_t head = gen::http_head_length(request);
  auto wire = [&](size_t body_offset) {
    return head + (chunks.empty() ? body_offset : gen::chunked_wire_offset(body_offset, chunks, body.size()));
  };

  test::TcpSessionConfig cfg;
  cfg.client_ip = test::Ipv4Addr{{10, 60, 1, static_cast<uint8_t>(10 + index % 200)}};
  cfg.server_ip = test::Ipv4Addr{{203, 0, 113, static_cast<uint8_t>(1 + index % 250)}};
  cfg.client_port = plan.client_port;
  cfg.server_port = 80;
  cfg.client_isn = static_cast<uint32_t>(rng.next());
  cfg.server_isn = static_cast<uint32_t>(rng.next());
  // Small segments so identifiers straddle them; at least three data segments.
  cfg.mss =
      static_cast<uint16_t>(std::min<size_t>(static_cast<size_t>(rng.between(96, 600)), request.size() / 3));
  cfg.start_ns = static_cast<uint64_t>(start_ns);
  test::TcpSession s(cfg);
  s.handshake().client_send(request).close();

  std::vector<test::CapturedPacket> pkts = s.take_packets();
  std::vector<size_t> data;  // packet indices of client data segments
  std::vector<size_t> cuts;  // stream offsets where a client segment ends
  for (const auto& seg : s.segments()) {
    if (seg.direction != test::Direction::kClientToServer) continue;
    data.push_back(seg.packet_index);
    cuts.push_back(seg.stream_end);
  }
  if (kind != BodyKind::kGzip) {
    for (const auto& [b, e] : w.positive_spans) {
      const size_t lo = wire(b);
      const size_t hi = wire(e - 1) + 1;
      if (std::any_of(cuts.begin(), cuts.end(), [&](size_t c) { return c > lo && c < hi; }))
        ++plan.straddling;
      if (hi - lo != e - b) ++plan.chunk_straddling;
    }
  }

  std::vector<Frame> order;
  for (auto& p : pkts) order.push_back({static_cast<int64_t>(p.ts_ns), std::move(p.frame)});
  if (data.size() >= 2 && delivery == Delivery::kOutOfOrder) {
    // Swap two neighbouring data segments (one or two places in the stream).
    std::set<size_t> swapped;
    for (int n = rng.between(1, 2); n > 0; --n) {
      const size_t i = rng.below(data.size() - 1);
      if (swapped.count(i) || swapped.count(i + 1)) continue;
      swapped.insert(i);
      swapped.insert(i + 1);
      std::swap(order[data[i]].bytes, order[data[i + 1]].bytes);
      ++plan.swaps;
    }
  } else if (data.size() >= 2 && delivery == Delivery::kRetransmit) {
    const size_t i = rng.below(data.size() - 1);
    const auto& segs = s.segments();
    auto seg_of = [&](size_t k) {
      return *std::find_if(segs.begin(), segs.end(),
                           [&](const test::SegmentRecord& r) { return r.packet_index == data[k]; });
    };
    test::Bytes copy;
    if (rng.chance(50)) {
      copy = order[data[i]].bytes;  // exact duplicate, after the next segment
    } else {
      const auto a = seg_of(i);
      const auto b = seg_of(i + 1);
      copy = resegmented_copy(cfg, request, (a.stream_begin + a.stream_end) / 2,
                              (b.stream_begin + b.stream_end) / 2);
    }
    order.insert(order.begin() + static_cast<std::ptrdiff_t>(data[i + 1]) + 1,
                 Frame{order[data[i + 1]].ts_ns, std::move(copy)});
    ++plan.retransmits;
  }
  // The engine's clock is packet time: keep it monotonic in delivery order.
  int64_t last = 0;
  for (auto& f : order) {
    f.ts_ns = std::max(f.ts_ns, last);
    last = f.ts_ns;
  }
  plan.frames = std::move(order);
  return plan;
}

// --- The run -----------------------------------------------------------------------

class DetectionCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(corpus::build_generation("detection-corpus", gen_));
    const auto& sigs = gen_->spec().signatures;
    for (uint32_t i = 0; i < sigs.size(); ++i) {
      if (sigs[i].name == "cn_resident_id") sig_id_ = i;
      if (sigs[i].name == "cn_mobile") sig_mobile_ = i;
    }
    ASSERT_NE(sig_id_, engine::kNoIndex);
    ASSERT_NE(sig_mobile_, engine::kNoIndex);

    ASSERT_NO_FATAL_FAILURE(corpus::fixed_token_key(0xA5, 7, key_));

    // 2026-03-02 10:00 Asia/Shanghai: birth dates of the generated adults are
    // in the past, as the validator requires.
    const int64_t t0 = gen::unix_seconds(2026, 3, 2, 10, 0, 0, 480) * 1'000'000'000;
    gen::IdentityFactory people(kSeed);
    size_t index = 0;
    for (const BodyKind kind : kBodyKinds) {
      for (const Delivery d : kDeliveries) {
        CorpusResult c;
        c.kind = kind;
        c.delivery = d;
        const size_t corpus = results_.size();
        results_.push_back(c);
        for (int n = 0; n < kFlowsPerCorpus; ++n, ++index) {
          plans_.push_back(
              make_flow(index, corpus, kind, d, people, t0 + static_cast<int64_t>(index) * 50'000'000));
        }
      }
    }
    run();
  }
  static void TearDownTestSuite() {
    plans_.clear();
    results_.clear();
    gen_.reset();
    key_.reset();
  }

  struct Seen {
    std::vector<std::pair<uint32_t, uint64_t>> alerts;  // (signature, token)
    bool flow_event = false;
    engine::FlowDetections det{};
  };

  static void drain(engine::Worker& w, std::unordered_map<uint16_t, Seen>& seen) {
    while (const engine::Event* e = w.events().front()) {
      if (e->type == engine::EventType::kAlert) {
        seen[e->src_port].alerts.emplace_back(e->alert.signature, e->alert.token);
      } else if (e->type == engine::EventType::kFlow) {
        Seen& s = seen[e->src_port];
        s.flow_event = true;
        s.det = e->flow.detections;
      }
      w.events().pop();
    }
  }

  static void run() {
    engine::WorkerOptions opts;
    opts.classify_all = false;  // exports are inspected by policy
    opts.token_key = key_.get();
    opts.event_queue_capacity = 1u << 15;
    engine::Worker worker(gen_, engine::LinkType::kEthernet, opts);
    std::unordered_map<uint16_t, Seen> seen;
    std::vector<engine::PacketView> views;
    std::array<engine::PacketResult, engine::kBurstSize> res{};
    int64_t last = 0;
    auto flush = [&] {
      if (views.empty()) return;
      ASSERT_EQ(worker.process_burst(views, std::span(res.data(), views.size())), views.size());
      for (size_t i = 0; i < views.size(); ++i) {
        if (res[i].disposition == engine::Disposition::kDrop) ++dropped_;
      }
      for (const auto& r : worker.released()) {
        if (r.disposition == engine::Disposition::kDrop) ++dropped_;
      }
      views.clear();
      drain(worker, seen);
    };
    uint64_t token = 0;
    for (const auto& plan : plans_) {
      for (const auto& f : plan.frames) {
        engine::PacketView v;
        v.data = f.bytes.data();
        v.caplen = static_cast<uint32_t>(f.bytes.size());
        v.wirelen = v.caplen;
        v.ts_ns = f.ts_ns;
        v.token = ++token;
        last = std::max(last, f.ts_ns);
        views.push_back(v);
        if (views.size() == engine::kBurstSize) flush();
      }
    }
    flush();
    worker.finish(last + 1'000'000'000);
    for (const auto& r : worker.released()) {
      if (r.disposition == engine::Disposition::kDrop) ++dropped_;
    }
    drain(worker, seen);
    counters_ = worker.counters();
    reassembly_ = worker.reassembly_counters();
    if (worker.scanner() != nullptr) scanner_ = worker.scanner()->counters();
    events_dropped_ = worker.events().dropped();

    for (const auto& plan : plans_) score(plan, seen[plan.client_port]);
  }

  static void score(const FlowPlan& plan, const Seen& s) {
    CorpusResult& c = results_[plan.corpus];
    ++c.flows;
    std::unordered_map<uint64_t, uint32_t> expected;  // token -> signature
    for (const Item& it : plan.inserted) {
      if (it.kind == ItemKind::kValidId) {
        ++c.inserted_ids;
        expected[key_->token(it.canonical,
                             static_cast<uint8_t>(engine::classify::ValidatorId::kResidentId))] = sig_id_;
      } else if (it.kind == ItemKind::kValidMobile) {
        ++c.inserted_mobiles;
        expected[key_->token(it.canonical, static_cast<uint8_t>(engine::classify::ValidatorId::kMobile))] =
            sig_mobile_;
      } else {
        ++c.negatives;
      }
    }
    c.straddling += plan.straddling + plan.chunk_straddling;
    c.chunked += plan.chunked ? 1 : 0;
    if (!s.flow_event) return;  // counted as a missing flow event by the tests
    ++c.flow_events;
    if (s.det.uninspectable) ++c.uninspectable;

    // Identifier level: each expected token alerted once under its signature.
    std::set<uint64_t> found;
    for (const auto& [sig, tok] : s.alerts) {
      const auto it = expected.find(tok);
      if (it != expected.end() && it->second == sig) found.insert(tok);
    }
    for (const uint64_t t : found) (expected[t] == sig_id_ ? c.detected_ids : c.detected_mobiles) += 1;
    c.false_negatives += expected.size() - found.size();
    // Confirmed detections (the flow event, not rate-limited) beyond the true
    // ones are false positives: other signatures, unexpected identifiers, or
    // one identifier counted twice (a retransmission scanned again).
    uint64_t confirmed = 0;
    for (uint32_t k = 0; k < s.det.kinds; ++k) confirmed += s.det.count[k];
    c.false_positives += confirmed - std::min<uint64_t>(confirmed, found.size());
    if (confirmed != s.alerts.size()) ++c.alert_mismatch;
  }

  // Confirmed detections per signature name of one POST sent alone through a
  // fresh Worker (for minimal reproductions).
  static std::map<std::string, uint32_t> single_post(std::string_view body, std::string_view content_type) {
    test::TcpSessionConfig cfg;
    cfg.client_ip = test::Ipv4Addr{{10, 60, 1, 250}};
    cfg.client_port = 45000;
    cfg.start_ns = static_cast<uint64_t>(gen::unix_seconds(2026, 3, 2, 12, 0, 0, 480)) * 1'000'000'000;
    test::TcpSession s(cfg);
    s.handshake()
        .client_send(gen::http_request("POST", "/upload", "sync.example.net",
                                       {{"Content-Type", std::string(content_type)}}, body))
        .close();
    engine::WorkerOptions opts;
    opts.token_key = key_.get();
    engine::Worker worker(gen_, engine::LinkType::kEthernet, opts);
    std::vector<engine::PacketView> views;
    for (const auto& p : s.packets()) {
      engine::PacketView v;
      v.data = p.frame.data();
      v.caplen = v.wirelen = static_cast<uint32_t>(p.frame.size());
      v.ts_ns = static_cast<int64_t>(p.ts_ns);
      views.push_back(v);
    }
    std::array<engine::PacketResult, engine::kBurstSize> res{};
    for (size_t i = 0; i < views.size(); i += engine::kBurstSize) {
      const size_t n = std::min<size_t>(engine::kBurstSize, views.size() - i);
      worker.process_burst(std::span(views).subspan(i, n), std::span(res.data(), n));
    }
    worker.finish(static_cast<int64_t>(s.now_ns()) + 1'000'000'000);
    std::map<std::string, uint32_t> out;
    while (const engine::Event* e = worker.events().front()) {
      if (e->type == engine::EventType::kFlow) {
        const auto& d = e->flow.detections;
        for (uint32_t k = 0; k < d.kinds; ++k)
          out[gen_->spec().signatures[d.signature[k]].name] += d.count[k];
      }
      worker.events().pop();
    }
    return out;
  }

  static const CorpusResult* corpus(BodyKind k, Delivery d) {
    for (const auto& c : results_) {
      if (c.kind == k && c.delivery == d) return &c;
    }
    return nullptr;
  }

  // Exact counts of one body kind under every delivery, with a summary line each.
  static void expect_exact(BodyKind kind) {
    for (const Delivery d : kDeliveries) {
      const CorpusResult* c = corpus(kind, d);
      ASSERT_NE(c, nullptr);
      std::printf(
          "corpus %-17s flows=%u chunked=%llu ids=%llu mobiles=%llu negatives=%llu straddling=%llu "
          "tp_ids=%llu tp_mobiles=%llu "
          "fp=%llu fn=%llu precision=%.4f recall=%.4f\n",
          c->name().c_str(), c->flows, static_cast<unsigned long long>(c->chunked),
          static_cast<unsigned long long>(c->inserted_ids),
          static_cast<unsigned long long>(c->inserted_mobiles), static_cast<unsigned long long>(c->negatives),
          static_cast<unsigned long long>(c->straddling), static_cast<unsigned long long>(c->detected_ids),
          static_cast<unsigned long long>(c->detected_mobiles),
          static_cast<unsigned long long>(c->false_positives),
          static_cast<unsigned long long>(c->false_negatives), c->precision(), c->recall());
      SCOPED_TRACE(c->name());
      EXPECT_EQ(c->flow_events, c->flows);
      EXPECT_EQ(c->uninspectable, 0u);
      EXPECT_EQ(c->alert_mismatch, 0u) << "flows whose alerts differ from their confirmed detections";
      EXPECT_EQ(c->detected_ids, c->inserted_ids);
      EXPECT_EQ(c->detected_mobiles, c->inserted_mobiles);
      EXPECT_EQ(c->false_positives, 0u);
      EXPECT_EQ(c->false_negatives, 0u);
      if (kind != BodyKind::kGzip) {
        EXPECT_GT(c->straddling, 0u) << "no identifier crosses a segment boundary";
      }
    }
  }

  static inline std::shared_ptr<const engine::PolicyGeneration> gen_;
  static inline std::unique_ptr<engine::compliance::TokenKey> key_;
  static inline uint32_t sig_id_ = engine::kNoIndex;
  static inline uint32_t sig_mobile_ = engine::kNoIndex;
  static inline std::vector<FlowPlan> plans_;
  static inline std::vector<CorpusResult> results_;
  static inline engine::WorkerCounters counters_{};
  static inline engine::ReassemblyCounters reassembly_{};
  static inline engine::sig::ScannerCounters scanner_{};
  static inline uint64_t dropped_ = 0;
  static inline uint64_t events_dropped_ = 0;
};

TEST_F(DetectionCorpus, EveryFlowIsForwardedAndInspected) {
  EXPECT_EQ(dropped_, 0u);
  EXPECT_EQ(events_dropped_, 0u);
  EXPECT_EQ(counters_.flows_created, plans_.size());
  EXPECT_EQ(counters_.flows_inspected, plans_.size());
  EXPECT_EQ(counters_.uninspectable_flows, 0u);
  EXPECT_EQ(counters_.alerts_suppressed, 0u);
}

// The delivery variants really reached the reassembler, and the negatives
// really reached the validators (raw matches rejected, not silently absent).
TEST_F(DetectionCorpus, VariantsAndNegativesAreExercised) {
  uint64_t swaps = 0;
  uint64_t retransmits = 0;
  for (const auto& p : plans_) {
    swaps += p.swaps;
    retransmits += p.retransmits;
  }
  std::printf(
      "delivery swaps=%llu retransmits=%llu reasm_out_of_order=%llu reasm_duplicate=%llu held=%llu; scanner "
      "boundary_rejected=%llu invalid=%llu no_context=%llu truncated=%llu\n",
      static_cast<unsigned long long>(swaps), static_cast<unsigned long long>(retransmits),
      static_cast<unsigned long long>(reassembly_.segments_out_of_order),
      static_cast<unsigned long long>(reassembly_.segments_duplicate),
      static_cast<unsigned long long>(counters_.held),
      static_cast<unsigned long long>(scanner_.boundary_rejected),
      static_cast<unsigned long long>(scanner_.invalid), static_cast<unsigned long long>(scanner_.no_context),
      static_cast<unsigned long long>(scanner_.truncated));
  EXPECT_GE(swaps, static_cast<uint64_t>(kFlowsPerCorpus * kBodyKinds.size()));
  EXPECT_EQ(retransmits, static_cast<uint64_t>(kFlowsPerCorpus * kBodyKinds.size()));
  EXPECT_GE(reassembly_.segments_out_of_order, swaps);
  EXPECT_GE(counters_.held, swaps);
  EXPECT_GE(reassembly_.segments_duplicate, retransmits);
  EXPECT_EQ(reassembly_.overlap_conflicts, 0u);
  EXPECT_EQ(reassembly_.gaps, 0u);
  EXPECT_GT(scanner_.boundary_rejected, 0u);  // identifiers inside longer digit runs
  EXPECT_GT(scanner_.invalid, 0u);            // wrong check characters, random runs
  EXPECT_EQ(scanner_.truncated, 0u);
  EXPECT_EQ(scanner_.pending_overflow, 0u);
}

TEST_F(DetectionCorpus, JsonExactCounts) {
  expect_exact(BodyKind::kJson);
}
TEST_F(DetectionCorpus, FormExactCounts) {
  expect_exact(BodyKind::kForm);
}
TEST_F(DetectionCorpus, CsvExactCounts) {
  expect_exact(BodyKind::kCsv);
}
TEST_F(DetectionCorpus, TextExactCounts) {
  expect_exact(BodyKind::kText);
}
TEST_F(DetectionCorpus, GzipExactCounts) {
  expect_exact(BodyKind::kGzip);
}

TEST_F(DetectionCorpus, PrecisionAndRecallOverall) {
  CorpusResult all;
  for (const auto& c : results_) {
    all.flows += c.flows;
    all.inserted_ids += c.inserted_ids;
    all.inserted_mobiles += c.inserted_mobiles;
    all.negatives += c.negatives;
    all.detected_ids += c.detected_ids;
    all.detected_mobiles += c.detected_mobiles;
    all.false_positives += c.false_positives;
    all.false_negatives += c.false_negatives;
  }
  std::printf(
      "corpus %-17s flows=%u positives=%llu negatives=%llu fp=%llu fn=%llu precision=%.4f recall=%.4f\n",
      "all", all.flows, static_cast<unsigned long long>(all.inserted_ids + all.inserted_mobiles),
      static_cast<unsigned long long>(all.negatives), static_cast<unsigned long long>(all.false_positives),
      static_cast<unsigned long long>(all.false_negatives), all.precision(), all.recall());
  EXPECT_GE(all.precision(), 0.999);
  EXPECT_GE(all.recall(), 0.999);
  EXPECT_EQ(all.inserted_ids + all.inserted_mobiles,
            all.detected_ids + all.detected_mobiles + all.false_negatives);
}

// Identifiers written in groups with one separator (space, '-', U+00B7) at
// each group boundary: resident ID 6-8-4, mobile 3-4-4 (optionally after
// +86/0086), cards 4-4-4-4[-3] (docs/signatures.md). Boundaries are judged
// on the exact bytes, and a grouped match must not be one part of a longer run
// grouped with the same separator.
std::string group(std::string_view digits, std::initializer_list<size_t> sizes, std::string_view sep) {
  std::string out;
  size_t at = 0;
  for (const size_t n : sizes) {
    if (at != 0) out += sep;
    out += digits.substr(at, n);
    at += n;
  }
  out += digits.substr(at);
  return out;
}

std::string with_luhn(std::string payload) {
  int sum = 0;
  bool dbl = true;  // rightmost payload digit is doubled
  for (size_t i = payload.size(); i-- > 0;) {
    int d = payload[i] - '0';
    if (dbl) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    dbl = !dbl;
  }
  payload += static_cast<char>('0' + (10 - sum % 10) % 10);
  return payload;
}

TEST_F(DetectionCorpus, SeparatorsInsideDigitRuns) {
  gen::IdentityFactory people(kSeed ^ 0x5e9);
  const std::string id = people.resident_id();
  const std::string m = people.mobile();
  const std::string body = "客户 身份证号 " + id.substr(0, 6) + " " + id.substr(6, 8) + " " + id.substr(14) +
                           " 手机 " + m.substr(0, 3) + " " + m.substr(3, 4) + " " + m.substr(7) + " 备用 " +
                           m.substr(0, 3) + "-" + m.substr(3, 4) + "-" + m.substr(7) + "\n";
  auto got = single_post(body, "text/plain; charset=utf-8");
  EXPECT_EQ(got["cn_resident_id"], 1u);
  EXPECT_EQ(got["cn_mobile"], 2u);  // one number written twice: two confirmed detections (one token)
}

TEST_F(DetectionCorpus, SeparatorsInsideDigitRunsEveryForm) {
  gen::IdentityFactory people(kSeed ^ 0x5ea);
  const std::string id1 = people.resident_id();
  const std::string id2 = people.resident_id();
  const std::string id3 = people.resident_id();
  const std::string m1 = people.mobile();
  const std::string m2 = people.mobile();
  const std::string m3 = people.mobile();
  const std::string card16 = people.unionpay_card();
  const std::string card19 = with_luhn("622202" + people.unionpay_card().substr(4, 12));
  ASSERT_EQ(card19.size(), 19u);
  const std::string body = "身份证号 " + group(id1, {6, 8}, "·") + "\n" +       // middle dot
                           "身份证号 " + group(id2, {6, 8}, "-") + "\n" +       // dashes
                           "身份证号 " + group(id3, {6}, " ") + "\n" +          // one separator only
                           "手机 +86 " + group(m1, {3, 4}, " ") + "\n" +        // country code
                           "mobile 0086-" + group(m2, {3, 4}, "-") + "\n" +     // 0086
                           "tel " + group(m3, {3}, " ") + "\n" +                // 3-8
                           "卡号 " + group(card16, {4, 4, 4}, " ") + "\n" +     // 4-4-4-4
                           "卡号 " + group(card19, {4, 4, 4, 4}, " ") + "\n" +  // 4-4-4-4-3
                           "contiguous " + id1 + " " + m1 + "\n";
  auto got = single_post(body, "text/plain; charset=utf-8");
  EXPECT_EQ(got["cn_resident_id"], 4u) << body;
  EXPECT_EQ(got["cn_mobile"], 4u) << body;
  // The 16-digit window at the front of the grouped 19-digit card is part of
  // the longer run, not a second card.
  EXPECT_EQ(got["bank_card"], 2u) << body;
}

TEST_F(DetectionCorpus, SeparatorsInsideDigitRunsNoFalsePositives) {
  gen::IdentityFactory people(kSeed ^ 0x5eb);
  const std::string id = people.resident_id();
  const std::string m = people.mobile();
  const std::string card = people.unionpay_card();
  const std::string body =
      "身份证号 " + id.substr(0, 6) + " " + id.substr(6, 4) + "\n" +                  // "110105 1949" alone
      "手机 " + m.substr(0, 3) + " " + m.substr(3, 4) + "\n" + m.substr(7) + "\n" +   // split across lines
      "手机 " + m.substr(0, 4) + " " + m.substr(4, 4) + " " + m.substr(8) + "\n" +    // 4-4-3
      "手机 " + m.substr(0, 3) + "  " + m.substr(3, 4) + "  " + m.substr(7) + "\n" +  // two separators
      "手机 " + m.substr(0, 3) + " " + m.substr(3, 4) + " " + m.substr(7) + " 9\n" +  // longer grouped run
      "身份证号 " + id.substr(0, 8) + " " + id.substr(8, 6) + " " + id.substr(14) + "\n" +   // 8-6-4
      "卡号 " + card.substr(0, 6) + " " + card.substr(6, 5) + " " + card.substr(11) + "\n";  // 6-5-5
  auto got = single_post(body, "text/plain; charset=utf-8");
  EXPECT_EQ(got["cn_resident_id"], 0u) << body;
  EXPECT_EQ(got["cn_mobile"], 0u) << body;
  EXPECT_EQ(got["bank_card"], 0u) << body;
}

}  // namespace
