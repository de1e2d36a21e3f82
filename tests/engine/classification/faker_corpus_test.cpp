// Precision and recall on an INDEPENDENT corpus (issue 8 §6): HTTP bodies
// written by faker_corpus.py (Debian's python3-fake-factory, Faker 0.9.3
// zh_CN, fixed seed; nothing from the engine's catalog or tests/gen), sent
// end to end through an engine::Worker as exports: JSON, form-urlencoded,
// key/value CSV and tabular CSV bodies, a quarter with Transfer-Encoding:
// chunked, cut at a small MSS so identifiers straddle segments, each body
// delivered three times (in order, two neighbouring segments swapped, one
// segment retransmitted resegmented or exactly).
//
// The corpus is generated at test time (0.2 s, deterministic: the script pins
// its seed, its date and Faker's version) rather than committed: it is 210 KB,
// three times the largest file of the tree. A missing Faker is a failure with
// the script's message (scripts/install-deps installs it), not a skip.
//
// Ground truth is the generator's: every positive's type and canonical form,
// every negative's kind. Scoring per flow, from the alert events (one per
// confirmed detection, keyed tokens computed here with the same key): an alert
// whose (signature, token) matches an expected positive not yet found is a
// true positive, any other alert a false positive of its signature's type
// (attributed, where its token matches, to the negative kind or the positive
// of another type it came from); positives left are false negatives.
//
//   build/bin/ftz_faker_corpus_test            prints the tables
//
// Output: counts and ratios only; identifiers never appear in test output.
#include <gtest/gtest.h>

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
using engine::classify::ValidatorId;

constexpr uint64_t kSeed = 0xfa6e'2026'0302ull;

// Floors. Precision: 0.999 overall and per type (issue 8 §6). Recall: every
// resident ID, mobile, card and e-mail the generator writes is meant to be
// found (>= 0.999). USCCs are not all: an all-digit code is indistinguishable
// from the one in 31 18-digit numbers that pass GB 32100, so it counts only
// under a USCC field name or label (docs/signatures.md), and the generator
// puts 12% of positives under names that say nothing ("value", "data") and
// about half its USCCs are all digits: ~6% of USCCs (~0.7% of all positives)
// are missed by design. USCC recall >= 0.90 and overall >= 0.99 leave room
// for that and little else.
constexpr double kPrecisionFloor = 0.999;
constexpr double kRecallFloor = 0.999;
constexpr double kUsccRecallFloor = 0.90;
constexpr double kOverallRecallFloor = 0.99;

// The generator's types, the catalog signature and validator of each.
struct TypeInfo {
  std::string_view type;
  std::string_view signature;
  ValidatorId validator;
};
constexpr std::array<TypeInfo, 5> kTypes = {{
    {"resident_id", "cn_resident_id", ValidatorId::kResidentId},
    {"mobile", "cn_mobile", ValidatorId::kMobile},
    {"bank_card", "bank_card", ValidatorId::kBankCard},
    {"email", "email", ValidatorId::kEmail},
    {"uscc", "cn_uscc", ValidatorId::kUscc},
}};
constexpr size_t kOtherType = kTypes.size();  // alerts of any other signature

using corpus::source_dir;

// --- The corpus --------------------------------------------------------------

struct CorpusItem {
  bool positive = false;
  std::string kind;  // positive: a kTypes type; negative: the generator's kind
  std::string text;  // positive: canonical form; negative: as written
};

struct CorpusBody {
  std::string layout;
  std::string content_type;
  std::string body;
  std::vector<CorpusItem> items;
};

struct GeneratedCorpus {
  std::vector<CorpusBody> bodies;
  std::string error;
};

GeneratedCorpus run_generator() {
  GeneratedCorpus out;
  const std::string cmd =
      "/usr/bin/python3 '" + source_dir() + "/tests/engine/classification/faker_corpus.py' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    out.error = "popen failed: " + cmd;
    return out;
  }
  std::string text;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) {
    out.error = cmd + " failed (" + std::to_string(rc) + "): " + text.substr(0, 400);
    return out;
  }
  // "body <n> <layout> <content-type> <length>\n<bytes>\n", then "+ <type>
  // <canonical>" / "- <kind> <text>" lines, then "end".
  size_t at = 0;
  auto line = [&]() {
    const size_t nl = text.find('\n', at);
    const std::string l = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    at = nl == std::string::npos ? text.size() : nl + 1;
    return l;
  };
  while (at < text.size()) {
    const std::string l = line();
    if (l.empty() || l[0] == '#') continue;
    char layout[32] = {};
    char ctype[128] = {};
    size_t index = 0;
    size_t length = 0;
    if (std::sscanf(l.c_str(), "body %zu %31s %127s %zu", &index, layout, ctype, &length) != 4 ||
        at + length + 1 > text.size()) {
      out.error = "corpus: bad line: " + l.substr(0, 80);
      return out;
    }
    CorpusBody b;
    b.layout = layout;
    b.content_type = ctype;
    b.body = text.substr(at, length);
    at += length + 1;
    for (std::string item = line(); item != "end"; item = line()) {
      if (item.size() < 4 || (item[0] != '+' && item[0] != '-') || at >= text.size()) {
        out.error = "corpus: bad item line in body " + std::to_string(index);
        return out;
      }
      const size_t sp = item.find(' ', 2);
      b.items.push_back({item[0] == '+', item.substr(2, sp - 2), item.substr(sp + 1)});
    }
    out.bodies.push_back(std::move(b));
  }
  if (out.bodies.empty()) out.error = "corpus: no bodies";
  return out;
}

// --- Flows ---------------------------------------------------------------------

enum class Delivery : uint8_t { kInOrder, kOutOfOrder, kRetransmit };
constexpr std::array kDeliveries = {Delivery::kInOrder, Delivery::kOutOfOrder, Delivery::kRetransmit};
const char* delivery_name(Delivery d) {
  return d == Delivery::kInOrder ? "in_order" : d == Delivery::kOutOfOrder ? "out_of_order" : "retransmit";
}

struct Frame {
  int64_t ts_ns;
  test::Bytes bytes;
};

struct FlowPlan {
  size_t body = 0;
  Delivery delivery = Delivery::kInOrder;
  uint16_t client_port = 0;
  bool chunked = false;
  uint32_t swaps = 0;
  uint32_t retransmits = 0;
  uint32_t straddling =
      0;  // positives cut by a segment boundary (approximate: canonical text located in the body)
  std::vector<Frame> frames;
};

test::Bytes resegmented_copy(const test::TcpSessionConfig& c, std::string_view stream, size_t begin,
                             size_t end) {
  return test::PacketBuilder()
      .eth(c.client_mac, c.server_mac)
      .ipv4(std::get<test::Ipv4Addr>(c.client_ip), std::get<test::Ipv4Addr>(c.server_ip))
      .ip_id(0x7100)
      .dont_fragment()
      .tcp(c.client_port, c.server_port, test::kTcpPsh | test::kTcpAck,
           c.client_isn + 1 + static_cast<uint32_t>(begin), c.server_isn + 1)
      .window(c.window)
      .payload(stream.substr(begin, end - begin))
      .build();
}

FlowPlan make_flow(size_t index, size_t body_index, const CorpusBody& body, Delivery delivery,
                   int64_t start_ns) {
  gen::Rng rng = gen::Rng(kSeed).fork(index + 1);
  FlowPlan plan;
  plan.body = body_index;
  plan.delivery = delivery;
  plan.client_port = static_cast<uint16_t>(30000 + index);
  gen::HeaderList headers = {{"Content-Type", body.content_type}, {"User-Agent", "crm-sync/2.3"}};
  std::vector<size_t> chunks;
  if (rng.chance(25)) {
    chunks = gen::random_chunk_sizes(rng, body.body.size(), 40, 300);
    plan.chunked = true;
  }
  const std::string request =
      gen::http_request("POST", "/api/v1/export", "crm.example.org", headers, body.body, chunks);
  test::TcpSessionConfig cfg;
  cfg.client_ip = test::Ipv4Addr{{10, 60, 1, static_cast<uint8_t>(10 + index % 200)}};
  cfg.server_ip = test::Ipv4Addr{{203, 0, 113, static_cast<uint8_t>(1 + index % 250)}};
  cfg.client_port = plan.client_port;
  cfg.server_port = 80;
  cfg.client_isn = static_cast<uint32_t>(rng.next());
  cfg.server_isn = static_cast<uint32_t>(rng.next());
  // Small segments: most identifiers of a body cross one.
  cfg.mss = static_cast<uint16_t>(rng.between(64, 200));
  cfg.start_ns = static_cast<uint64_t>(start_ns);
  test::TcpSession s(cfg);
  s.handshake().client_send(request).close();

  std::vector<test::CapturedPacket> pkts = s.take_packets();
  std::vector<size_t> data;
  std::vector<size_t> cuts;
  for (const auto& seg : s.segments()) {
    if (seg.direction != test::Direction::kClientToServer) continue;
    data.push_back(seg.packet_index);
    cuts.push_back(seg.stream_end);
  }
  if (chunks.empty()) {
    // Where the positives' digits sit in the request (first occurrence of the
    // canonical text; written forms with separators or +86 are not located).
    const size_t head = gen::http_head_length(request);
    for (const auto& it : body.items) {
      if (!it.positive) continue;
      const size_t pos = request.find(it.text, head);
      if (pos == std::string::npos) continue;
      if (std::any_of(cuts.begin(), cuts.end(),
                      [&](size_t c) { return c > pos && c < pos + it.text.size(); }))
        ++plan.straddling;
    }
  }

  std::vector<Frame> order;
  for (auto& p : pkts) order.push_back({static_cast<int64_t>(p.ts_ns), std::move(p.frame)});
  if (data.size() >= 2 && delivery == Delivery::kOutOfOrder) {
    std::set<size_t> swapped;
    for (int n = rng.between(1, 3); n > 0; --n) {
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
      copy = order[data[i]].bytes;
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
  int64_t last = 0;
  for (auto& f : order) {
    f.ts_ns = std::max(f.ts_ns, last);
    last = f.ts_ns;
  }
  plan.frames = std::move(order);
  return plan;
}

// --- Scores ----------------------------------------------------------------------

struct Score {
  uint64_t tp = 0, fp = 0, fn = 0;
  void add(const Score& o) {
    tp += o.tp;
    fp += o.fp;
    fn += o.fn;
  }
  [[nodiscard]] double precision() const {
    return tp + fp == 0 ? 1.0 : static_cast<double>(tp) / static_cast<double>(tp + fp);
  }
  [[nodiscard]] double recall() const {
    return tp + fn == 0 ? 1.0 : static_cast<double>(tp) / static_cast<double>(tp + fn);
  }
};

class FakerCorpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    GeneratedCorpus corpus = run_generator();
    ASSERT_TRUE(corpus.error.empty()) << corpus.error;
    bodies_ = std::move(corpus.bodies);

    ASSERT_NO_FATAL_FAILURE(corpus::build_generation("faker-corpus", gen_));
    const auto& sigs = gen_->spec().signatures;
    for (size_t t = 0; t < kTypes.size(); ++t) {
      type_sig_[t] = engine::kNoIndex;
      for (uint32_t i = 0; i < sigs.size(); ++i) {
        if (sigs[i].name == kTypes[t].signature) type_sig_[t] = i;
      }
      ASSERT_NE(type_sig_[t], engine::kNoIndex) << kTypes[t].signature;
    }
    ASSERT_NO_FATAL_FAILURE(corpus::fixed_token_key(0x3C, 11, key_));

    // 2026-03-02 10:00 Asia/Shanghai: after every generated birth date.
    const int64_t t0 = gen::unix_seconds(2026, 3, 2, 10, 0, 0, 480) * 1'000'000'000;
    size_t index = 0;
    for (size_t b = 0; b < bodies_.size(); ++b) {
      for (const Delivery d : kDeliveries) {
        plans_.push_back(make_flow(index, b, bodies_[b], d, t0 + static_cast<int64_t>(index) * 20'000'000));
        ++index;
      }
    }
    run();
  }
  static void TearDownTestSuite() {
    plans_.clear();
    bodies_.clear();
    gen_.reset();
    key_.reset();
  }

  static size_t type_of(std::string_view kind) {
    for (size_t t = 0; t < kTypes.size(); ++t) {
      if (kTypes[t].type == kind) return t;
    }
    return kOtherType;
  }
  static size_t type_of_signature(uint32_t sig) {
    for (size_t t = 0; t < kTypes.size(); ++t) {
      if (type_sig_[t] == sig) return t;
    }
    return kOtherType;
  }
  static uint64_t token(std::string_view canonical, ValidatorId v) {
    return key_->token(canonical, static_cast<uint8_t>(v));
  }

  struct Seen {
    std::vector<std::pair<uint32_t, uint64_t>> alerts;  // (signature, token)
    bool flow_event = false;
    bool uninspectable = false;
    uint64_t confirmed = 0;
  };

  static void drain(engine::Worker& w, std::unordered_map<uint16_t, Seen>& seen) {
    while (const engine::Event* e = w.events().front()) {
      if (e->type == engine::EventType::kAlert) {
        seen[e->src_port].alerts.emplace_back(e->alert.signature, e->alert.token);
      } else if (e->type == engine::EventType::kFlow) {
        Seen& s = seen[e->src_port];
        s.flow_event = true;
        s.uninspectable = e->flow.detections.uninspectable;
        for (uint32_t k = 0; k < e->flow.detections.kinds; ++k) s.confirmed += e->flow.detections.count[k];
      }
      w.events().pop();
    }
  }

  static void run() {
    engine::WorkerOptions opts;
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
      views.clear();
      drain(worker, seen);
    };
    uint64_t token_no = 0;
    for (const auto& plan : plans_) {
      for (const auto& f : plan.frames) {
        engine::PacketView v;
        v.data = f.bytes.data();
        v.caplen = static_cast<uint32_t>(f.bytes.size());
        v.wirelen = v.caplen;
        v.ts_ns = f.ts_ns;
        v.token = ++token_no;
        last = std::max(last, f.ts_ns);
        views.push_back(v);
        if (views.size() == engine::kBurstSize) flush();
      }
    }
    flush();
    worker.finish(last + 1'000'000'000);
    drain(worker, seen);
    counters_ = worker.counters();
    reassembly_ = worker.reassembly_counters();
    if (worker.scanner() != nullptr) scanner_ = worker.scanner()->counters();
    events_dropped_ = worker.events().dropped();
    for (const auto& plan : plans_) score(plan, seen[plan.client_port]);
  }

  static void score(const FlowPlan& plan, const Seen& s) {
    ++flows_;
    if (!s.flow_event) ++missing_flow_events_;
    if (s.uninspectable) ++uninspectable_;
    if (s.confirmed != s.alerts.size()) ++alert_mismatch_;
    straddling_ += plan.straddling;
    swaps_ += plan.swaps;
    retransmits_ += plan.retransmits;
    const CorpusBody& body = bodies_[plan.body];
    // Expected positives as a multiset of (signature, token); where a false
    // positive may come from: (signature, token) -> description.
    std::map<std::pair<uint32_t, uint64_t>, uint32_t> expected;
    std::map<std::pair<uint32_t, uint64_t>, std::string> origin;
    std::array<Score, kTypes.size() + 1> per_type{};
    for (const auto& it : body.items) {
      if (it.positive) {
        const size_t t = type_of(it.kind);
        ++expected[{type_sig_[t], token(it.text, kTypes[t].validator)}];
        ++per_type[t].fn;  // turned into a true positive when found
        ++positives_[t];
        for (size_t u = 0; u < kTypes.size(); ++u) {
          if (u != t) origin[{type_sig_[u], token(it.text, kTypes[u].validator)}] = "positive " + it.kind;
        }
      } else {
        ++negatives_[it.kind];
        std::string upper = it.text;
        for (char& ch : upper) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
        for (size_t u = 0; u < kTypes.size(); ++u)
          origin[{type_sig_[u], token(upper, kTypes[u].validator)}] = it.kind;
      }
    }
    for (const auto& [sig, tok] : s.alerts) {
      const size_t t = type_of_signature(sig);
      auto e = expected.find({sig, tok});
      if (e != expected.end() && e->second > 0) {
        --e->second;
        --per_type[t].fn;
        ++per_type[t].tp;
        continue;
      }
      ++per_type[t].fp;
      const auto o = origin.find({sig, tok});
      const std::string name =
          t == kOtherType ? std::string(gen_->spec().signatures[sig].name) : std::string(kTypes[t].type);
      ++fp_origin_[name + " <- " + (o != origin.end() ? o->second : std::string("?"))];
    }
    Score flow_total;
    for (size_t t = 0; t <= kTypes.size(); ++t) {
      types_[t].add(per_type[t]);
      flow_total.add(per_type[t]);
    }
    layouts_[body.layout + "/" + delivery_name(plan.delivery)].add(flow_total);
  }

  static Score overall() {
    Score all;
    for (const auto& s : types_) all.add(s);
    return all;
  }

  static inline std::vector<CorpusBody> bodies_;
  static inline std::vector<FlowPlan> plans_;
  static inline std::shared_ptr<const engine::PolicyGeneration> gen_;
  static inline std::unique_ptr<engine::compliance::TokenKey> key_;
  static inline std::array<uint32_t, kTypes.size()> type_sig_{};
  static inline std::array<Score, kTypes.size() + 1> types_{};
  static inline std::array<uint64_t, kTypes.size() + 1> positives_{};
  static inline std::map<std::string, uint64_t> negatives_;
  static inline std::map<std::string, uint64_t> fp_origin_;
  static inline std::map<std::string, Score> layouts_;
  static inline uint64_t flows_ = 0, missing_flow_events_ = 0, uninspectable_ = 0, alert_mismatch_ = 0;
  static inline uint64_t straddling_ = 0, swaps_ = 0, retransmits_ = 0, dropped_ = 0, events_dropped_ = 0;
  static inline engine::WorkerCounters counters_{};
  static inline engine::ReassemblyCounters reassembly_{};
  static inline engine::sig::ScannerCounters scanner_{};
};

TEST_F(FakerCorpus, EveryFlowIsInspectedAndDeliveriesAreExercised) {
  std::printf(
      "faker corpus: bodies=%zu flows=%llu straddling=%llu swaps=%llu retransmits=%llu "
      "reasm_out_of_order=%llu reasm_duplicate=%llu\n",
      bodies_.size(), static_cast<unsigned long long>(flows_), static_cast<unsigned long long>(straddling_),
      static_cast<unsigned long long>(swaps_), static_cast<unsigned long long>(retransmits_),
      static_cast<unsigned long long>(reassembly_.segments_out_of_order),
      static_cast<unsigned long long>(reassembly_.segments_duplicate));
  EXPECT_EQ(bodies_.size(), 96u);
  EXPECT_EQ(missing_flow_events_, 0u);
  EXPECT_EQ(uninspectable_, 0u);
  EXPECT_EQ(alert_mismatch_, 0u) << "flows whose alerts differ from their confirmed detections";
  EXPECT_EQ(dropped_, 0u);
  EXPECT_EQ(events_dropped_, 0u);
  EXPECT_EQ(counters_.flows_inspected, plans_.size());
  EXPECT_EQ(counters_.alerts_suppressed, 0u);
  EXPECT_GT(straddling_, flows_) << "identifiers must cross segment boundaries";
  EXPECT_GE(swaps_, bodies_.size());
  EXPECT_EQ(retransmits_, bodies_.size());
  EXPECT_GE(reassembly_.segments_out_of_order, swaps_);
  EXPECT_GE(reassembly_.segments_duplicate, retransmits_);
  EXPECT_EQ(scanner_.truncated, 0u);
  EXPECT_EQ(scanner_.pending_overflow, 0u);
}

TEST_F(FakerCorpus, PrecisionAndRecall) {
  std::printf("%-12s %9s %6s %6s %6s %10s %8s\n", "type", "positives", "tp", "fp", "fn", "precision",
              "recall");
  for (size_t t = 0; t <= kTypes.size(); ++t) {
    const Score& s = types_[t];
    std::printf("%-12s %9llu %6llu %6llu %6llu %10.4f %8.4f\n",
                t < kTypes.size() ? std::string(kTypes[t].type).c_str() : "other",
                static_cast<unsigned long long>(positives_[t]), static_cast<unsigned long long>(s.tp),
                static_cast<unsigned long long>(s.fp), static_cast<unsigned long long>(s.fn), s.precision(),
                s.recall());
  }
  const Score all = overall();
  uint64_t negatives = 0;
  for (const auto& [kind, n] : negatives_) negatives += n;
  std::printf("%-12s %9llu %6llu %6llu %6llu %10.4f %8.4f   negatives=%llu\n", "overall",
              static_cast<unsigned long long>(all.tp + all.fn), static_cast<unsigned long long>(all.tp),
              static_cast<unsigned long long>(all.fp), static_cast<unsigned long long>(all.fn),
              all.precision(), all.recall(), static_cast<unsigned long long>(negatives));
  for (const auto& [kind, n] : negatives_)
    std::printf("negatives %-14s %llu\n", kind.c_str(), static_cast<unsigned long long>(n));
  for (const auto& [what, n] : fp_origin_)
    std::printf("false positives %-36s %llu\n", what.c_str(), static_cast<unsigned long long>(n));
  for (const auto& [name, s] : layouts_) {
    std::printf("layout %-24s tp=%llu fp=%llu fn=%llu precision=%.4f recall=%.4f\n", name.c_str(),
                static_cast<unsigned long long>(s.tp), static_cast<unsigned long long>(s.fp),
                static_cast<unsigned long long>(s.fn), s.precision(), s.recall());
  }
  EXPECT_GE(all.precision(), kPrecisionFloor);
  EXPECT_GE(all.recall(), kOverallRecallFloor);
  for (size_t t = 0; t < kTypes.size(); ++t) {
    SCOPED_TRACE(std::string(kTypes[t].type));
    EXPECT_GT(positives_[t], 100u);
    EXPECT_GE(types_[t].precision(), kPrecisionFloor);
    EXPECT_GE(types_[t].recall(), kTypes[t].type == "uscc" ? kUsccRecallFloor : kRecallFloor);
  }
  // Every negative kind really reached the engine.
  for (const char* kind : {"trace_id18", "num11", "luhn_order", "unionpay_like", "timestamp"}) {
    EXPECT_GT(negatives_[kind], 500u) << kind;
  }
  EXPECT_EQ(types_[kOtherType].fp, 0u) << "detections of signatures the corpus does not contain";
}

}  // namespace
