#include "ftz/engine/worker.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <string_view>

#include "ftz/engine/parser.hpp"

namespace ftz::engine {

namespace {

constexpr uint32_t kNil = UINT32_MAX;

constexpr uint32_t kServerNameTail = 95;
constexpr uint64_t kAppGiveUpBytes = 16 * 1024;
constexpr int kToServer = 0;
constexpr int kToClient = 1;
constexpr uint32_t kAppBuffers = 1024;
constexpr uint32_t kAppBufferSize = 16 * 1024;
// Detections of one packet waiting for its fate (more are settled at once).
constexpr size_t kMaxPendingDetections = 1024;

AppProto to_app_proto(app::AppProtocol p) noexcept {
  switch (p) {
    case app::AppProtocol::kHttp: return AppProto::kHttp;
    case app::AppProtocol::kTls: return AppProto::kTls;
    case app::AppProtocol::kDns: return AppProto::kDns;
    default: return AppProto::kUnknown;
  }
}

bool is_well_known(uint16_t port) noexcept { return port != 0 && port < 1024; }

// The scanner's reasons, folded into what policy and fail modes act on:
// corrupt encodings and what the app layer could not decode are `decode`,
// every cap and pool is `resource`.
UninspectableReason uninspectable_reason_of(sig::Uninspectable r) noexcept {
  return r == sig::Uninspectable::kDecodeError || r == sig::Uninspectable::kProtocolDecode
             ? UninspectableReason::kDecode
             : UninspectableReason::kResource;
}

std::span<const uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

struct Worker::Flow {
  uint64_t flow_id = 0;
  int64_t start_ns = 0;
  int64_t last_ns = 0;
  uint64_t pkts[2] = {0, 0};  // [kToServer], [kToClient]
  uint64_t bytes[2] = {0, 0};
  bool client_is_lo = true;
  TcpState tcp_state = TcpState::kNone;
  bool inspect = false;
  Stage stage = Stage::kHeader;
  AppProto app = AppProto::kUnknown;
  uint8_t proto = 0;
  uint16_t server_port = 0;
  uint32_t client_zone = kNoIndex;
  uint32_t server_zone = kNoIndex;
  uint32_t tenant = kNoIndex;
  Verdict verdict;
  uint32_t rule = kNoIndex;
  uint64_t generation = 0;
  uint32_t conflicts = 0;
  uint32_t content = kNil;  // ContentState slot while its content is scanned
  UninspectableMask uninspectable = 0;  // why its content was not (fully) inspected
  bool fail_closed = false;  // blocked because it was uninspectable (fail mode)
  bool midstream = false;    // TCP picked up without a handshake
  bool recorded = false;     // its flow record is written (closed, lingering)
  bool resets_sent = false;
  uint32_t held_head[2] = {kNil, kNil};
  // Aging: one list per timeout class, least recently active first.
  uint32_t age_prev = kNil;
  uint32_t age_next = kNil;
  uint8_t age_class = 0;
  // The last bytes of the SNI / Host: suffix rules need only the end.
  uint8_t server_name_len = 0;
  char server_name[kServerNameTail];
  TcpDirState tcp[2];
  app::AppFlowState app_state{};
};

// Scan state of a flow under content inspection, from a pool sized by
// WorkerOptions::inspect_max_flows (most flows never need one).
struct Worker::ContentState {
  static constexpr uint32_t kTokenSlots = 256;  // distinct identifiers deduplicated per flow
  uint32_t flow = kNil;  // the flow record holding this slot; kNil while free
  sig::ScanState scan[2];
  uint64_t tokens[kTokenSlots];
  uint32_t token_count = 0;
  uint32_t distinct_per_class[static_cast<int>(DataClass::kCount)] = {};
  FlowDetections det{};
  uint32_t alerts = 0;
  sig::ContentKind body_kind = sig::ContentKind::kRaw;
  sig::Encoding body_encoding = sig::Encoding::kIdentity;
  sig::Encoding body_inner = sig::Encoding::kIdentity;  // a second coding ("deflate, gzip")
  bool body_start = false;
};

size_t Worker::bytes_per_flow() noexcept { return sizeof(Flow) + FlowTable::bytes_per_flow(); }

Worker::Footprint Worker::footprint() noexcept {
  // Mirrors the constructor and allocate_content_pool().
  return Footprint{bytes_per_flow(), sizeof(ContentState) + sizeof(uint32_t),
                   sizeof(Held) + sizeof(uint32_t) + sizeof(Release),
                   size_t{kAppBuffers} * kAppBufferSize + kBurstSize * Defragmenter::kMaxHeld * sizeof(Release) +
                       kBurstSize * sizeof(ResetPair) + kMaxPendingDetections * sizeof(PendingDetection)};
}

Worker::Worker(std::shared_ptr<const PolicyGeneration> generation, LinkType link, WorkerOptions options)
    : gen_owner_(std::move(generation)),
      gen_(gen_owner_.get()),
      link_(link),
      limits_(gen_->spec().limits),
      table_(limits_.flow_table_size),
      flows_(limits_.flow_table_size),
      defrag_(limits_.defrag_max_datagrams, limits_.defrag_memcap_bytes, limits_.defrag_timeout_ms),
      segments_(limits_.reassembly_memcap_bytes),
      reasm_(segments_, limits_.reassembly_per_flow_bytes, limits_.reassembly_kept_per_flow_bytes),
      app_pool_(kAppBuffers, kAppBufferSize),
      app_ctx_{&app_pool_, &app_counters_, this},
      held_(limits_.hold_max_packets),
      events_(options.event_queue_capacity != 0 ? options.event_queue_capacity : limits_.event_queue_size),
      backlog_(std::max<uint32_t>(options.record_backlog, 1)),
      zone_pair_bytes_(gen_->zone_count() * gen_->zone_count(), 0) {
  held_free_.reserve(held_.size());
  for (size_t i = held_.size(); i > 0; --i) held_free_.push_back(static_cast<uint32_t>(i - 1));
  // Released packets per burst: every held packet at most once, plus the
  // fragments of completed datagrams.
  released_.reserve(held_.size() + kBurstSize * Defragmenter::kMaxHeld);
  event_tokens_ = limits_.events_per_second;
  age_timeout_s_[kAgeTcpSyn] = limits_.tcp_syn_timeout_s;
  age_timeout_s_[kAgeTcpEstablished] = limits_.tcp_established_timeout_s;
  age_timeout_s_[kAgeTcpClosed] = limits_.tcp_closed_timeout_s;
  age_timeout_s_[kAgeUdp] = limits_.udp_timeout_s;
  age_timeout_s_[kAgeOther] = limits_.other_timeout_s;
  std::fill(std::begin(age_head_), std::end(age_head_), kNil);
  std::fill(std::begin(age_tail_), std::end(age_tail_), kNil);
  options_ = options;
  if (options_.inspect_max_flows == 0) options_.inspect_max_flows = limits_.inspect_max_flows;
  checksum_mode_ =
      limits_.checksum_validation != ChecksumMode::kDefault ? limits_.checksum_validation : options_.checksum_default;
  if (checksum_mode_ == ChecksumMode::kDefault) checksum_mode_ = ChecksumMode::kOn;
  flows_per_rule_.assign(gen_->spec().rules.size() + 1, 0);
  resets_.resize(kBurstSize);
  pending_.reserve(kMaxPendingDetections);
  key_ = options_.token_key;
  if (key_ == nullptr) {
    // No configured key: a random one keeps tokens meaningful within the run.
    std::random_device rd;
    uint8_t bytes[32];
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rd());
    auto k = compliance::TokenKey::from_bytes(bytes, compliance::MacAlgo::kHmacSha256);
    if (k) {
      own_key_ = std::make_unique<compliance::TokenKey>(std::move(*k));
      key_ = own_key_.get();
    }
  }
  if (gen_->signatures()) {
    auto scanner = make_scanner(*gen_, options_);
    if (scanner) scanner_ = std::move(*scanner);
    else ++counters_.scanner_build_failed;
  }
  if (scanner_) allocate_content_pool();
}

Worker::~Worker() = default;

void Worker::allocate_content_pool() {
  content_.resize(options_.inspect_max_flows);
  content_free_.reserve(content_.size());
  for (size_t i = content_.size(); i > 0; --i) content_free_.push_back(static_cast<uint32_t>(i - 1));
}

tl::expected<std::unique_ptr<sig::Scanner>, std::string> Worker::make_scanner(const PolicyGeneration& generation,
                                                                              const WorkerOptions& options) {
  const auto& db = generation.signatures();
  if (!db) return std::unique_ptr<sig::Scanner>{};
  sig::ScannerConfig sc;
  const uint32_t flows =
      options.inspect_max_flows != 0 ? options.inspect_max_flows : generation.spec().limits.inspect_max_flows;
  sc.max_streams = 2 * flows;  // two directions per content flow
  return sig::Scanner::create(db, sc);
}

void Worker::set_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept {
  (void)set_generation(std::move(generation), nullptr);
}

std::unique_ptr<sig::Scanner> Worker::set_generation(std::shared_ptr<const PolicyGeneration> generation,
                                                     std::unique_ptr<sig::Scanner> scanner) noexcept {
  ++counters_.generation_switches;
  const sig::SignatureDatabase* const current_db = scanner_ ? &scanner_->database() : nullptr;
  const sig::SignatureDatabase* const next_db = generation->signatures().get();
  if (next_db == current_db) {
    // Same database (or none on both sides): streams continue untouched.
    install_generation(std::move(generation));
    return scanner;
  }
  // A scanner for another database than the generation's cannot be used.
  if (scanner && (next_db == nullptr || &scanner->database() != next_db)) scanner.reset();
  if (next_db != nullptr && !scanner) {
    auto built = make_scanner(*generation, options_);
    if (built) scanner = std::move(*built);
    else ++counters_.scanner_build_failed;
  }
  ++counters_.scanner_switches;
  // Signature indices of open detections are indices into the catalog that
  // produced them; the new generation's catalog may order them differently.
  sig_map_ = sig::map_signatures(scanner_ ? scanner_->database().specs() : gen_->spec().signatures,
                                 scanner ? scanner->database().specs() : generation->spec().signatures);
  // Under the OLD scanner and generation: whatever the old streams still
  // report is alerted and recorded with the old indices and generation.
  hand_over_content(scanner.get());
  if (scanner && content_.empty()) allocate_content_pool();  // first database of this worker
  std::unique_ptr<sig::Scanner> old = std::move(scanner_);
  scanner_ = std::move(scanner);
  install_generation(std::move(generation));
  return old;
}

void Worker::install_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept {
  gen_owner_ = std::move(generation);
  gen_ = gen_owner_.get();
  if (zone_pair_bytes_.size() != gen_->zone_count() * gen_->zone_count()) {
    // Zones changed shape: the per-pair report starts over with this generation.
    zone_pair_bytes_.assign(gen_->zone_count() * gen_->zone_count(), 0);
  }
  if (flows_per_rule_.size() != gen_->spec().rules.size() + 1) {
    // Rules changed shape: the per-rule report starts over likewise.
    flows_per_rule_.assign(gen_->spec().rules.size() + 1, 0);
  }
}

void Worker::hand_over_content(sig::Scanner* next) noexcept {
  // Between bursts every packet's detections are settled: pending_ is empty.
  pending_.clear();
  const int64_t now = now_ns_;
  current_ts_ = now;
  sig::ScanContext ctx;
  ctx.now_unix_s = now / 1'000'000'000;
  for (ContentState& cs : content_) {
    if (cs.flow == kNil) continue;
    Flow& f = flows_[cs.flow];
    if (scanner_) {
      current_ = &f;
      for (int d = 0; d < 2; ++d) {
        current_dir_ = d;
        if (cs.scan[d].stream != sig::kNoSlot) ++counters_.scan_handovers;
        scanner_->hand_over(cs.scan[d], ctx, *this, next, sig_map_);
        if (cs.scan[d].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs.scan[d].reason));
      }
      current_ = nullptr;
      if (content_changed_) {
        content_changed_ = false;
        // Idle since an earlier policy-only reload: judged under the
        // generation its alerts will name.
        if (f.generation != gen_->number()) rejudge(cs.flow, now);
        judge(f, Stage::kContent, now);
      }
      settle_detections(f, false);
    }
    // Per-signature counts follow their signature into the new catalog.
    FlowDetections& det = cs.det;
    uint8_t kept = 0;
    for (uint8_t k = 0; k < det.kinds; ++k) {
      const uint32_t to = det.signature[k] < sig_map_.size() ? sig_map_[det.signature[k]] : sig::kNoSignature;
      if (to > UINT16_MAX) continue;
      det.signature[kept] = static_cast<uint16_t>(to);
      det.count[kept] = det.count[k];
      ++kept;
    }
    det.kinds = kept;
  }
  current_dir_ = 0;
}

uint32_t Worker::process_burst(std::span<const PacketView> pkts, std::span<PacketResult> results) noexcept {
  released_.clear();
  reset_count_ = 0;
  drain_backlog();
  const uint32_t n = static_cast<uint32_t>(std::min(pkts.size(), results.size()));
  for (uint32_t i = 0; i < n; ++i) {
    results[i] = PacketResult{};
    burst_index_ = i;
    process_one(pkts[i], results[i]);
    count(results[i]);
  }
  burst_index_ = kNoBurstIndex;
  if (n > 0) expire(now_ns_);
  return n;
}

void Worker::count(PacketResult& res) noexcept {
  switch (res.disposition) {
    case Disposition::kForward: ++counters_.forwarded; break;
    case Disposition::kHold: ++counters_.held; break;
    case Disposition::kDrop: ++counters_.dropped; break;
  }
  if (res.reason != Reason::kNone && res.reason < Reason::kCount) {
    ++counters_.reasons[static_cast<uint32_t>(res.reason)];
  }
}

void Worker::process_one(const PacketView& pv, PacketResult& res) noexcept {
  ++counters_.packets;
  counters_.bytes += pv.wirelen;
  if (pv.ts_ns > now_ns_) now_ns_ = pv.ts_ns;
  ParsedPacket p;
  const ParseResult pr = parse_packet(link_, pv.data, pv.caplen, p);
  if (pr.status == ParseStatus::kNotIp) {
    ++counters_.non_ip;
    return;  // forwarded: L2 control traffic must pass a bump in the wire
  }
  if (pr.status == ParseStatus::kMalformed) {
    res.disposition = Disposition::kDrop;
    res.reason = pr.reason;
    return;
  }
  if (Reason why = Reason::kNone; !checksums_ok(pv, p, false, why)) {
    // Before anything keeps it: the receiver discards it too.
    res.disposition = Disposition::kDrop;
    res.reason = why;
    return;
  }
  if (p.is_fragment) {
    const Defragmenter::Result dr = defrag_.add(p, pv.ts_ns, pv.token);
    if (dr.status == Defragmenter::Status::kDropped) {
      res.disposition = Disposition::kDrop;
      res.reason = dr.reason;
      return;
    }
    if (dr.reason != Reason::kNone) ++counters_.reasons[static_cast<uint32_t>(dr.reason)];
    if (dr.status == Defragmenter::Status::kHeld) {
      res.disposition = Disposition::kHold;
      return;
    }
    const ParseResult l4 =
        parse_l4(p.l4_proto, dr.datagram.data(), static_cast<uint32_t>(dr.datagram.size()),
                 static_cast<uint32_t>(dr.datagram.size()), p);
    p.is_fragment = false;
    if (l4.status == ParseStatus::kMalformed) {
      res.disposition = Disposition::kDrop;
      res.reason = l4.reason;
    } else {
      // A datagram that is itself held (an out-of-order segment) keeps all
      // its fragments held with it.
      extra_hold_tokens_ = dr.held_tokens;
      from_fragments_ = true;
      process_ip(pv, p, res);
      from_fragments_ = false;
      extra_hold_tokens_ = {};
    }
    // Otherwise the earlier fragments share the datagram's fate (and its
    // route) now.
    if (res.disposition != Disposition::kHold) {
      for (const uint64_t t : dr.held_tokens) {
        push_release(t, res.verdict, res.disposition == Disposition::kDrop ? Disposition::kDrop : Disposition::kForward,
                     res.reason);
      }
    }
    return;
  }
  if (p.payload_len < p.payload_wire_len && p.l4_proto != 6) {
    // Snap-length cut outside TCP: count it, judge what is there.
    ++counters_.reasons[static_cast<uint32_t>(Reason::capture_truncated)];
  }
  process_ip(pv, p, res);
}

void Worker::process_ip(const PacketView& pv, ParsedPacket& p, PacketResult& res) noexcept {
  bool from_lo = true;
  const uint32_t idx = lookup_or_create(pv, p, from_lo, res);
  if (idx == kNil) return;
  Flow& f = flows_[idx];
  const int dir = (from_lo == f.client_is_lo) ? kToServer : kToClient;
  ++f.pkts[dir];
  f.bytes[dir] += pv.wirelen;
  if (pv.ts_ns > f.last_ns) f.last_ns = pv.ts_ns;
  table_.touch(idx, pv.ts_ns);
  // A new generation judges the flow afresh (it may relax the verdict).
  if (f.generation != gen_->number()) rejudge(idx, pv.ts_ns);
  const size_t nz = gen_->zone_count();
  const uint32_t zsrc = dir == kToServer ? f.client_zone : f.server_zone;
  const uint32_t zdst = dir == kToServer ? f.server_zone : f.client_zone;
  if (zsrc < nz && zdst < nz) zone_pair_bytes_[zsrc * nz + zdst] += pv.wirelen;
  current_ = &f;
  current_ts_ = pv.ts_ns;
  if (p.l4_proto == 6 && p.l4_valid) {
    handle_tcp(f, p, dir, pv, res);
  } else if (p.l4_proto == 17 && p.l4_valid) {
    handle_udp(f, p, dir);
  }
  if (content_changed_) {
    // New detections (or the flow turned uninspectable): the content stage
    // judges this very packet, so a blocking match never lets it through.
    content_changed_ = false;
    judge(f, Stage::kContent, pv.ts_ns);
  }
  current_ = nullptr;
  age(idx);
  // Held segments whose bytes this packet made deliverable go now, under the
  // verdict that judged those bytes (never the one from before the check).
  if (f.held_head[0] != kNil || f.held_head[1] != kNil) {
    release_held(f, dir, false);
    release_held(f, 1 - dir, false);
  }
  if (res.disposition != Disposition::kHold && res.disposition != Disposition::kDrop) apply_verdict(f, res);
  else res.verdict = f.verdict;
  if (res.disposition == Disposition::kForward && res.trim.any()) {
    if (from_fragments_) {
      // Its bytes travel in the fragments: they cannot be cut, so it stays.
      res.disposition = Disposition::kDrop;
      res.reason = Reason::tcp_reassembled_trim;
    } else {
      ++counters_.segments_trimmed;
    }
  }
  if (f.verdict.action == Action::kReset && res.disposition == Disposition::kDrop && !f.resets_sent &&
      p.l4_proto == 6 && reset_count_ < resets_.size()) {
    ResetPair& pair = resets_[reset_count_];
    pair.count = build_resets(pv.data, pv.caplen, p, pair.frame);
    if (pair.count > 0) {
      res.send_resets = true;
      res.reset_index = static_cast<uint8_t>(reset_count_++);
      f.resets_sent = true;
      ++counters_.resets;
    }
  }
  settle_detections(f, res.disposition == Disposition::kDrop);
  // (Only an accepted RST or both accepted FINs make a flow kClosed: a
  // segment the checks rejected changed no state.)
  if (f.tcp_state == TcpState::kClosed && p.l4_proto == 6) {
    if (p.tcp_flags & tcp_flag::kRst) {
      // An accepted RST ends the flow at once: nothing after it belongs to
      // this connection (segments still held behind a hole are dropped).
      // Without a place for its record it stays, closed, until its timeout.
      if (f.recorded || record_room()) {
        end_flow(idx, FlowEndReason::kClosed, pv.ts_ns);
      } else {
        ++counters_.record_waits;
      }
    } else if (!f.recorded && f.held_head[0] == kNil && f.held_head[1] == kNil && record_room()) {
      // (Without a place for the record the flow is recorded when it ends.)
      close_flow(idx, pv.ts_ns);
    }
  }
}

void Worker::apply_verdict(const Flow& f, PacketResult& res) const noexcept {
  res.verdict = f.verdict;
  switch (f.verdict.action) {
    case Action::kAllow:
    case Action::kRoute:
      res.disposition = Disposition::kForward;
      break;
    case Action::kBlock:
      res.disposition = Disposition::kDrop;
      res.reason = f.fail_closed ? Reason::uninspectable_fail_closed : Reason::policy_block;
      break;
    case Action::kReset:
      res.disposition = Disposition::kDrop;
      res.reason = Reason::policy_reset;
      break;
  }
}

bool Worker::checksums_ok(const PacketView& pv, const ParsedPacket& p, bool l4, Reason& why) const noexcept {
  if (checksum_mode_ == ChecksumMode::kOff) return true;
  if (!l4) {
    if (p.ip_version != 4 || (pv.csum & csum_hint::kL3Good)) return true;
    const ChecksumStatus st =
        (pv.csum & csum_hint::kL3Bad) ? ChecksumStatus::kBad : ipv4_header_checksum(pv.data, p);
    if (st == ChecksumStatus::kBad || (st == ChecksumStatus::kOffloaded && checksum_mode_ != ChecksumMode::kAuto)) {
      why = Reason::ipv4_bad_checksum;
      return false;
    }
    return true;
  }
  if ((p.l4_proto != 6 && p.l4_proto != 17) || (pv.csum & csum_hint::kL4Good)) return true;
  // A datagram rebuilt from fragments is checked over its reassembled bytes.
  bool bad = (pv.csum & csum_hint::kL4Bad) && !from_fragments_;
  if (!bad) {
    const ChecksumStatus st = l4_checksum(p);
    bad = st == ChecksumStatus::kBad || (st == ChecksumStatus::kOffloaded && checksum_mode_ != ChecksumMode::kAuto);
  }
  if (bad) why = p.l4_proto == 6 ? Reason::tcp_bad_checksum : Reason::udp_bad_checksum;
  return !bad;
}

uint32_t Worker::lookup_or_create(const PacketView& pv, const ParsedPacket& p, bool& from_lo,
                                  PacketResult& res) noexcept {
  const int64_t now = pv.ts_ns;
  const FlowKey key = make_flow_key(p, from_lo);
  const uint64_t hash = hash_flow_key(key);
  uint32_t idx = table_.find(key, hash);
  bool reuse = false;
  bool expired = false;
  if (idx != kNil) {
    const Flow& f = flows_[idx];
    expired = now - table_.last_seen(idx) > int64_t{timeout_s(f)} * 1'000'000'000;
    const bool new_syn = p.l4_proto == 6 && (p.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == tcp_flag::kSyn &&
                         f.tcp_state == TcpState::kClosed;
    reuse = !expired && !new_syn;
  }
  // Transport checksums before the packet may create, end or change an
  // inspected flow (other flows' packets are forwarded by their verdict
  // whatever they carry, so their sums are not worth the cycles).
  if (!reuse || flows_[idx].inspect) {
    if (Reason why = Reason::kNone; !checksums_ok(pv, p, true, why)) {
      res.disposition = Disposition::kDrop;
      res.reason = why;
      return kNil;
    }
  }
  if (reuse) return idx;
  if (idx != kNil) {
    // The old flow's record needs a place before a new flow takes its key;
    // without one the packet is untracked (fail mode) and the flow stays.
    if (!flows_[idx].recorded && !record_room()) return refuse_untracked(p, res);
    end_flow(idx, expired ? FlowEndReason::kTimeout : FlowEndReason::kReplaced, now);
  }
  idx = table_.insert(key, hash);
  if (idx == kNil) {
    const uint32_t victim = table_.eviction_candidate(hash);
    if (victim != kNil && now - table_.last_seen(victim) >= int64_t{limits_.flow_evict_min_idle_ms} * 1'000'000) {
      // Eviction writes the victim's record: without a place for it the
      // victim stays and the new flow is untracked (fail mode).
      if (!flows_[victim].recorded && !record_room()) return refuse_untracked(p, res);
      ++counters_.flows_evicted;
      end_flow(victim, FlowEndReason::kEvicted, now);
      idx = table_.insert(key, hash);
    }
  }
  if (idx == kNil) {
    ++counters_.flows_untracked;
    const uint32_t zs = gen_->zone_of(p.src);
    const uint32_t zd = gen_->zone_of(p.dst);
    ++counters_.reasons[static_cast<uint32_t>(Reason::flow_table_full)];
    if (gen_->fail_mode(zs, zd) == FailMode::kClosed) {
      res.disposition = Disposition::kDrop;
      res.reason = Reason::fail_closed;
    }
    return kNil;
  }
  init_flow(idx, p, from_lo, now);
  return idx;
}

uint32_t Worker::refuse_untracked(const ParsedPacket& p, PacketResult& res) noexcept {
  ++counters_.records_refused;
  ++counters_.flows_untracked;
  ++counters_.reasons[static_cast<uint32_t>(Reason::record_backlog_full)];
  if (gen_->fail_mode(gen_->zone_of(p.src), gen_->zone_of(p.dst)) == FailMode::kClosed) {
    res.disposition = Disposition::kDrop;
    res.reason = Reason::fail_closed;
  }
  return kNil;
}

void Worker::init_flow(uint32_t idx, const ParsedPacket& p, bool from_lo, int64_t now) noexcept {
  Flow& f = flows_[idx];
  f = Flow{};
  ++counters_.flows_created;
  f.age_class = kAgeNone;
  f.start_ns = now;
  f.last_ns = now;
  f.proto = p.l4_proto;
  // The client is the sender of the first packet, unless that packet is a
  // SYN-ACK or comes from a well-known port to an ephemeral one (mid-stream
  // pick-up of a server's reply).
  // For an export seen without a handshake (UDP, TCP picked up mid-stream)
  // the direction comes from zones, never from port numbers: the endpoint
  // inside is the client, so a datagram sent from port 53 to an offshore
  // port is still inside -> offshore to the policy.
  bool sender_is_client = true;
  if (p.l4_proto == 6 && (p.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == (tcp_flag::kSyn | tcp_flag::kAck)) {
    sender_is_client = false;
  } else if (!(p.l4_proto == 6 && (p.tcp_flags & tcp_flag::kSyn))) {
    const auto& zones = gen_->spec().zones;
    const uint32_t zs = gen_->zone_of(p.src);
    const uint32_t zd = gen_->zone_of(p.dst);
    const bool src_inside = zs < zones.size() && zone_kind_is_inside(zones[zs].kind);
    const bool dst_inside = zd < zones.size() && zone_kind_is_inside(zones[zd].kind);
    if (src_inside != dst_inside && gen_->is_export(zs, zd)) {
      sender_is_client = src_inside;
    } else if (is_well_known(p.src_port) && !is_well_known(p.dst_port)) {
      sender_is_client = false;
    }
  }
  f.client_is_lo = sender_is_client ? from_lo : !from_lo;
  f.server_port = sender_is_client ? p.dst_port : p.src_port;
  resolve_endpoints(idx);
  const FlowKey& k = table_.key(idx);
  f.flow_id = (hash_flow_key(k) ^ static_cast<uint64_t>(now) * 0x9e3779b97f4a7c15ull) & ((uint64_t{1} << 51) - 1);
  f.inspect = gen_->is_export(f.client_zone, f.server_zone);
  if (f.inspect) ++counters_.flows_inspected;
  if (f.proto == 6) {
    f.midstream = !(p.tcp_flags & tcp_flag::kSyn);
    // Exports are normalized inline (docs/decisions/0003).
    f.tcp[0].normalize = f.tcp[1].normalize = f.inspect;
    if (f.midstream && f.inspect) ++counters_.midstream_flows;
  }
  judge(f, Stage::kHeader, now);
}

// Zones and tenant of the flow's endpoints under the current generation.
void Worker::resolve_endpoints(uint32_t idx) noexcept {
  Flow& f = flows_[idx];
  const FlowKey& k = table_.key(idx);
  const IpAddr& client = f.client_is_lo ? k.lo_addr : k.hi_addr;
  const IpAddr& server = f.client_is_lo ? k.hi_addr : k.lo_addr;
  f.client_zone = gen_->zone_of(client);
  f.server_zone = gen_->zone_of(server);
  const auto& zones = gen_->spec().zones;
  // The tenant is the exporter: the endpoint inside an FTZ zone.
  const bool client_ftz = f.client_zone < zones.size() && zones[f.client_zone].kind == ZoneKind::kFtz;
  const bool server_ftz = f.server_zone < zones.size() && zones[f.server_zone].kind == ZoneKind::kFtz;
  f.tenant = kNoIndex;
  if (client_ftz) f.tenant = gen_->tenant_of(client, f.client_zone);
  else if (server_ftz) f.tenant = gen_->tenant_of(server, f.server_zone);
}

void Worker::rejudge(uint32_t idx, int64_t now) noexcept {
  Flow& f = flows_[idx];
  ++counters_.rejudged;
  // Zone and tenant indices belong to a generation (zones may have been
  // added, removed or re-addressed); so does being an export.
  resolve_endpoints(idx);
  const bool inspect = gen_->is_export(f.client_zone, f.server_zone);
  if (inspect && !f.inspect) ++counters_.flows_inspected;
  f.inspect = inspect;
  for (TcpDirState& d : f.tcp) {
    // A flow that became an export compares from here on: nothing before
    // the current position is kept, so older bytes are never forwarded again.
    if (inspect && !d.normalize) d.kept_seq = d.next_seq;
    d.normalize = inspect && f.proto == 6;
  }
  f.verdict = Verdict{};
  f.rule = kNoIndex;
  f.fail_closed = false;
  judge(f, f.stage, now);
}

void Worker::judge(Flow& f, Stage stage, int64_t now) noexcept {
  FlowFacts facts;
  facts.stage = stage;
  facts.src_zone = f.client_zone;
  facts.dst_zone = f.server_zone;
  facts.tenant = f.tenant;
  facts.l4_proto = f.proto;
  facts.dst_port = f.server_port;
  facts.ts_ns = now;
  facts.app = f.app;
  facts.server_name = std::string_view(f.server_name, f.server_name_len);
  if (stage < f.stage) stage = f.stage;
  facts.stage = stage;
  facts.uninspectable = f.uninspectable;
  if (options_.thresholds != nullptr && f.tenant != kNoIndex) facts.threshold = options_.thresholds->state(f.tenant);
  if (f.content != kNil) {
    const ContentState& cs = content_[f.content];
    facts.confirmed = cs.det.distinct;
    for (int c = 0; c < static_cast<int>(DataClass::kCount); ++c) {
      facts.confirmed_per_class[c] = cs.distinct_per_class[c];
      if (cs.det.per_class[c] > 0) facts.classes |= static_cast<DataClassMask>(1u << c);
    }
  }
  const Decision d = gen_->evaluate(facts);
  const bool first = f.generation != gen_->number();
  f.generation = gen_->number();
  f.stage = stage;
  Verdict v = d.verdict;
  if (!first && v.action == Action::kRoute && f.verdict.action == Action::kAllow && stage > Stage::kApp) {
    // A TCP connection does not change uplinks mid-stream.
    ++counters_.route_too_late;
    v.action = Action::kAllow;
  }
  if (first || v.action > f.verdict.action) {
    f.verdict.action = v.action;
    f.verdict.channel = v.channel;
    f.rule = d.rule;
  } else if (d.verdict.action == f.verdict.action &&
             (d.verdict.action != Action::kRoute || d.verdict.channel == f.verdict.channel)) {
    // The same forwarding decision, now reached by this evaluation (a rule
    // that needed the app or content stage, where the header stage fell to
    // the default): it is the deciding rule the records name.
    f.rule = d.rule;
  }
  f.verdict.alert = f.verdict.alert || v.alert;
  f.verdict.mirror = f.verdict.mirror || v.mirror;
  // An export that could not be inspected for a failure (gap, decode,
  // resource) follows its zone pair's fail mode, unless the deciding rule
  // names every one of those reasons explicitly.
  const UninspectableMask failures = f.uninspectable & kUninspectableFailures;
  if (f.inspect && failures != 0 && f.verdict.action < Action::kBlock &&
      gen_->fail_mode(f.client_zone, f.server_zone) == FailMode::kClosed) {
    const auto& rules = gen_->spec().rules;
    const bool named = d.rule < rules.size() && rules[d.rule].match.uninspectable &&
                       rules[d.rule].match.uninspectable->named &&
                       (failures & ~rules[d.rule].match.uninspectable->reasons) == 0;
    if (!named) {
      f.verdict.action = Action::kBlock;
      f.fail_closed = true;
      ++counters_.fail_closed_flows;
    }
  }
}

uint32_t Worker::timeout_s(const Flow& f) const noexcept {
  if (f.proto == 6) {
    switch (f.tcp_state) {
      case TcpState::kNone:
      case TcpState::kSynSent:
      case TcpState::kSynReceived:
        return limits_.tcp_syn_timeout_s;
      case TcpState::kEstablished:
      case TcpState::kClosing:
        return limits_.tcp_established_timeout_s;
      case TcpState::kClosed:
        return limits_.tcp_closed_timeout_s;
    }
  }
  return f.proto == 17 ? limits_.udp_timeout_s : limits_.other_timeout_s;
}

// Feeds reassembled bytes to the app parsers, then to content scanning; a gap
// tells the parsers bytes are lost.
struct Worker::StreamFeed {
  Worker& w;
  Flow& f;
  int dir;
  app::AppProtocol detected = app::AppProtocol::kUnknown;
  void deliver(const uint8_t* data, uint32_t len) noexcept {
    const app::Dir d = dir == kToServer ? app::Dir::kToServer : app::Dir::kToClient;
    w.feed_dir_ = dir;
    // The parsers hand every byte to inspect back through on_content and the
    // HTTP callbacks.
    detected = app::feed_tcp(f.app_state, d, f.server_port, std::span<const uint8_t>(data, len), w.app_ctx_);
  }
  void gap(uint32_t) noexcept {
    w.feed_dir_ = dir;
    app::on_gap(f.app_state, dir == kToServer ? app::Dir::kToServer : app::Dir::kToClient, w.app_ctx_);
    // Bytes the scanner never saw: what follows is scanned and judged, but
    // not all of the stream was (the fail mode decides). A separator keeps
    // the bytes on both sides of the gap from joining into one identifier.
    if (w.wants_content(f)) {
      w.mark_uninspectable(f, UninspectableReason::kGap);
      static constexpr uint8_t kSeparator = '\n';
      w.scan(f, dir, std::span<const uint8_t>(&kSeparator, 1), w.scan_context(f, dir));
    }
  }
};

bool Worker::rst_acceptable(const Flow& f, int dir, const ParsedPacket& p) noexcept {
  const TcpDirState& mine = f.tcp[dir];
  const TcpDirState& peer = f.tcp[1 - dir];
  if (mine.seq_known) {
    // RFC 5961 §3.2: a receiver resets only at the exact next byte it
    // expects; anywhere else in the window it answers with a challenge ACK
    // and keeps the connection. Accepting more would make this appliance
    // forget a flow its receiver keeps (the rest would be picked up
    // mid-stream and an identifier split around the RST would pass).
    return p.seq == mine.next_seq;
  }
  // This side never sent anything seen here: a refusal answers the SYN.
  if (peer.syn_seen && (p.tcp_flags & tcp_flag::kAck)) return p.ack == peer.isn + 1;
  return true;  // nothing of the connection is known to protect
}

bool Worker::syn_acceptable(const Flow& f, int dir, const ParsedPacket& p) noexcept {
  const TcpDirState& mine = f.tcp[dir];
  const TcpDirState& peer = f.tcp[1 - dir];
  if (mine.syn_seen) return p.seq == mine.isn;  // a retransmission
  if (mine.seq_known) return false;             // data came first: a SYN cannot restart the direction
  // A SYN-ACK must acknowledge the SYN this appliance saw.
  if ((p.tcp_flags & tcp_flag::kAck) && peer.syn_seen) return p.ack == peer.isn + 1;
  return true;
}

void Worker::handle_tcp(Flow& f, const ParsedPacket& p, int dir, const PacketView& pv, PacketResult& res) noexcept {
  const uint8_t flags = p.tcp_flags;
  TcpDirState& mine = f.tcp[dir];
  TcpDirState& peer = f.tcp[1 - dir];
  StreamFeed feed{*this, f, dir};
  StreamFeed peer_feed{*this, f, 1 - dir};
  // Exports are normalized inline (docs/decisions/0003): a segment failing a
  // check changes no state and never reaches the receiver. Other flows only
  // count it and forward it by their verdict.
  const bool enforce = f.inspect;
  auto reject = [&](Reason r) {
    if (enforce) {
      res.disposition = Disposition::kDrop;
      res.reason = r;
    } else {
      ++counters_.reasons[static_cast<uint32_t>(r)];
    }
  };
  if (enforce && f.midstream && limits_.tcp_midstream == TcpMidstream::kDrop) {
    reject(Reason::tcp_midstream);
    return;
  }
  // PAWS (RFC 7323 §5.3): a timestamp older than the newest one accepted in
  // order is a duplicate the receiver discards (a decoy), RSTs included.
  if (p.tcp_has_ts && mine.ts_known && !(flags & tcp_flag::kSyn) &&
      static_cast<int32_t>(mine.ts_recent - p.tsval) > 1) {
    reject((flags & tcp_flag::kRst) ? Reason::tcp_rst_invalid : Reason::tcp_paws);
    return;
  }
  if (flags & tcp_flag::kRst) {
    if (!rst_acceptable(f, dir, p)) {
      reject(Reason::tcp_rst_invalid);
      return;
    }
    // Data in a RST (RFC 1122 4.2.2.12 allows a diagnostic) is never part of
    // the stream: receivers discard it, and it does not leave uninspected.
    if (enforce && p.payload_len > 0) {
      res.trim.back = p.payload_len;
      ++counters_.reasons[static_cast<uint32_t>(Reason::tcp_stale_bytes)];
    }
    f.tcp_state = TcpState::kClosed;
    return;
  }
  uint32_t data_seq = p.seq;
  if (flags & tcp_flag::kSyn) {
    if (!syn_acceptable(f, dir, p)) {
      reject(Reason::tcp_syn_invalid);
      return;
    }
    data_seq = p.seq + 1;  // the SYN takes one sequence number; data (TFO) follows it
    if (!mine.syn_seen) {
      mine.syn_seen = true;
      mine.isn = p.seq;
      mine.midstream = false;
      mine.wscale_offered = p.tcp_wscale != 0xff;
      mine.wscale = mine.wscale_offered ? p.tcp_wscale : 0;
      TcpReassembler::start(mine, p.seq + 1);
      if (f.tcp_state == TcpState::kNone) {
        f.tcp_state = (flags & tcp_flag::kAck) ? TcpState::kSynReceived : TcpState::kSynSent;
      } else if (flags & tcp_flag::kAck) {
        f.tcp_state = TcpState::kSynReceived;
      }
    }
  } else if (!mine.seq_known) {
    TcpReassembler::start(mine, p.seq);  // picked up mid-stream: from this byte on
    mine.midstream = true;
  }
  if (mine.midstream && enforce && p.payload_len > 0 && wants_content(f)) {
    // The bytes before the pick-up point were never seen here, yet the
    // receiver may hold them (a flow this appliance forgot — timeout,
    // eviction, restart — while the receiver kept it): an identifier split
    // around that point would pass. A gap at the start, so the pair's fail
    // mode decides (decision 0003).
    mark_uninspectable(f, UninspectableReason::kGap);
  }
  // Data and FIN must start inside the window the receiver advertised: what
  // lies beyond it the receiver discards.
  const bool fin = (flags & tcp_flag::kFin) != 0;
  if ((p.payload_wire_len > 0 || fin) && !(flags & tcp_flag::kSyn) && !TcpReassembler::in_window(mine, data_seq)) {
    reject(Reason::tcp_out_of_window);
    return;
  }
  const uint32_t fin_seq = data_seq + p.payload_wire_len;
  if (fin) {
    // One FIN per direction, never inside bytes already delivered.
    const bool ok = mine.fin_seen ? fin_seq == mine.fin_seq
                                  : seq_diff(fin_seq, mine.next_seq) >= 0 && TcpReassembler::in_window(mine, fin_seq);
    if (!ok) {
      reject(Reason::tcp_fin_invalid);
      return;
    }
  }

  const uint32_t before = mine.next_seq;
  SegmentOutcome outcome = SegmentOutcome::kDuplicate;
  SegmentTrim cut;
  if (p.payload_len > 0) {
    outcome = reasm_.on_segment(mine, data_seq, p.payload, p.payload_len, feed, &cut);
  } else if (p.payload_wire_len > 0) {
    ++counters_.reasons[static_cast<uint32_t>(Reason::capture_truncated)];
  }

  switch (outcome) {
    case SegmentOutcome::kConflict:
      ++f.conflicts;
      reject(Reason::tcp_overlap_conflict);
      break;
    case SegmentOutcome::kOverLimit:
      reject(segments_.available() == 0 ? Reason::tcp_reassembly_memcap : Reason::tcp_ooo_limit);
      break;
    case SegmentOutcome::kAfterFin:
      reject(Reason::tcp_data_after_fin);
      break;
    case SegmentOutcome::kBuffered:
      if (enforce) {
        if (held_free_.size() < 1 + extra_hold_tokens_.size()) {
          res.disposition = Disposition::kDrop;
          res.reason = Reason::hold_overflow;
        } else {
          auto hold = [&](uint64_t token, PayloadTrim trim) {
            const uint32_t h = held_free_.back();
            held_free_.pop_back();
            held_[h] = Held{token, data_seq + p.payload_len - cut.back, f.held_head[dir], trim};
            f.held_head[dir] = h;
          };
          for (const uint64_t t : extra_hold_tokens_) hold(t, {});
          hold(pv.token, PayloadTrim{0, cut.back, false});
          res.disposition = Disposition::kHold;
        }
      }
      break;
    case SegmentOutcome::kStale:
      // Every byte is below what can be compared with the inspected copy: the
      // segment goes on empty. Without a FIN the sequence number stays (the
      // receiver answers an old empty segment with an ACK: a sender whose
      // ACK was lost learns it); a FIN keeps its place at the end.
      if (enforce) {
        ++counters_.reasons[static_cast<uint32_t>(Reason::tcp_stale_bytes)];
        if (fin && !(flags & tcp_flag::kSyn)) res.trim.front = p.payload_len;
        else res.trim.back = p.payload_len;
      }
      break;
    default:
      if (enforce && (cut.front != 0 || cut.back != 0)) {
        if (cut.front != 0) ++counters_.reasons[static_cast<uint32_t>(Reason::tcp_stale_bytes)];
        if (cut.front != 0 && (flags & tcp_flag::kSyn)) {
          reject(Reason::tcp_syn_invalid);  // a SYN's sequence number cannot move
        } else {
          res.trim.front = cut.front;
          res.trim.back = cut.back;
        }
      }
      break;
  }
  if (res.disposition == Disposition::kDrop) return;
  if (enforce && (flags & tcp_flag::kUrg) && p.payload_len > 0) {
    // Receivers take the urgent byte out of the stream (RFC 6093): the byte
    // stays in the stream that was inspected.
    res.trim.clear_urgent = true;
    ++counters_.urgent_cleared;
  }

  // The segment goes on: its timestamp, FIN, acknowledgment and window count.
  if (p.tcp_has_ts && outcome != SegmentOutcome::kBuffered && seq_diff(data_seq, before) <= 0 &&
      (!mine.ts_known || static_cast<int32_t>(p.tsval - mine.ts_recent) > 0)) {
    mine.ts_recent = p.tsval;
    mine.ts_known = true;
  }
  if (p.payload_len > 0 && p.payload_wire_len > p.payload_len) {
    // Snap-length cut: the rest of the segment is a gap in our view.
    ++counters_.reasons[static_cast<uint32_t>(Reason::capture_truncated)];
    reasm_.on_peer_ack(mine, data_seq + p.payload_wire_len, feed);
  }
  if (fin && !mine.fin_seen) {
    mine.fin_seen = true;
    mine.fin_seq = fin_seq;
    if (seq_diff(mine.next_seq, mine.fin_seq) >= 0) mine.closed = true;
    if (f.tcp_state != TcpState::kClosed) f.tcp_state = TcpState::kClosing;
  }
  if ((flags & tcp_flag::kAck) && peer.seq_known) {
    reasm_.on_peer_ack(peer, p.ack, peer_feed);
    // The window this side advertises bounds what the peer may send (scaled
    // only when both SYNs offered scaling; never in a SYN, RFC 7323 §2.2).
    if (mine.syn_seen && peer.syn_seen) {
      const uint32_t shift =
          mine.wscale_offered && peer.wscale_offered && !(flags & tcp_flag::kSyn) ? mine.wscale : 0;
      const uint32_t end = p.ack + (uint32_t{p.window} << shift);
      if (!peer.win_known || seq_diff(end, peer.win_end) > 0) peer.win_end = end;
      peer.win_known = true;
    }
  }
  if (!(flags & tcp_flag::kSyn) && (f.tcp_state == TcpState::kSynReceived || f.tcp_state == TcpState::kNone)) {
    f.tcp_state = TcpState::kEstablished;
  }
  if (mine.closed && peer.closed) f.tcp_state = TcpState::kClosed;

  // App stage: metadata callbacks move the flow there; a stream that shows no
  // recognisable protocol after kAppGiveUpBytes is judged without it.
  if (f.stage == Stage::kHeader && f.tcp[kToServer].delivered + f.tcp[kToClient].delivered > kAppGiveUpBytes) {
    judge(f, Stage::kApp, p.payload_len ? current_ts_ : now_ns_);
  }
}

void Worker::handle_udp(Flow& f, const ParsedPacket& p, int dir) noexcept {
  feed_dir_ = dir;
  const app::AppProtocol ap = app::feed_udp(dir == kToServer ? app::Dir::kToServer : app::Dir::kToClient,
                                            p.src_port, p.dst_port,
                                            std::span<const uint8_t>(p.payload, p.payload_len), app_ctx_);
  if (f.app == AppProto::kUnknown) f.app = to_app_proto(ap);
  if (f.stage == Stage::kHeader) judge(f, Stage::kApp, current_ts_);
  // Every datagram is content as sent, whatever its port or protocol (a DNS
  // message's names too: they are also scanned joined, see on_dns). A
  // newline between datagrams keeps identifiers from joining across them.
  if (wants_content(f) && p.payload_len > 0) {
    scan(f, dir, std::span<const uint8_t>(p.payload, p.payload_len), scan_context(f, dir));
    Flow* saved = current_;
    current_ = &f;
    end_unit(dir);
    current_ = saved;
  }
}

void Worker::release_held(Flow& f, int dir, bool all) noexcept {
  uint32_t* link = &f.held_head[dir];
  while (*link != kNil) {
    Held& h = held_[*link];
    const bool delivered = !all && seq_diff(f.tcp[dir].next_seq, h.seq_end) >= 0;
    if (all || delivered) {
      const uint32_t freed = *link;
      *link = h.next;
      PacketResult r;
      if (delivered) {
        apply_verdict(f, r);
      } else {
        // Behind a hole that was never filled: its bytes were not inspected
        // in order, and the receiver could not use them either.
        r.disposition = Disposition::kDrop;
        r.reason = Reason::tcp_hole_at_end;
      }
      if (r.disposition == Disposition::kForward && h.trim.any()) ++counters_.segments_trimmed;
      push_release(h.token, f.verdict, r.disposition, r.reason, h.trim);
      held_free_.push_back(freed);
    } else {
      link = &h.next;
    }
  }
}

void Worker::push_release(uint64_t token, const Verdict& v, Disposition d, Reason r, PayloadTrim trim) noexcept {
  if (released_.size() == released_.capacity()) return;  // sized so this cannot happen
  Release rel;
  rel.token = token;
  rel.disposition = d;
  rel.reason = r;
  rel.verdict = v;
  rel.trim = trim;
  rel.before = burst_index_;
  released_.push_back(rel);
  if (d == Disposition::kDrop) {
    ++counters_.dropped;
    if (r != Reason::kNone) ++counters_.reasons[static_cast<uint32_t>(r)];
  } else {
    ++counters_.forwarded;
  }
}

void Worker::end_flow(uint32_t idx, FlowEndReason why, int64_t now) noexcept {
  Flow& f = flows_[idx];
  // Idle since a reload: it ends under the current generation, whose indices
  // (zones, rule, signatures) its events carry.
  if (f.generation != gen_->number()) rejudge(idx, now);
  current_ = &f;
  current_ts_ = now;
  // Held segments whose bytes came through in order go under the verdict;
  // the rest sat behind a hole (flush() skips it below to scan what
  // followed, but the receiver never got the missing bytes): dropped, never
  // released uninspected.
  for (int d = 0; d < 2; ++d) {
    release_held(f, d, false);
    release_held(f, d, true);
  }
  if (!f.recorded) {
    for (int d = 0; d < 2; ++d) {
      StreamFeed feed{*this, f, d};
      reasm_.flush(f.tcp[d], feed);
    }
    app::close(f.app_state, app_ctx_);
    if (f.stage == Stage::kHeader) judge(f, Stage::kApp, now);
    finish_content(f);
  }
  for (TcpDirState& d : f.tcp) reasm_.release(d);
  current_ = nullptr;
  if (!f.recorded) write_flow_record(f, why, now);
  release_content(f);
  ++counters_.flows_ended;
  if (why == FlowEndReason::kTimeout) ++counters_.flows_timed_out;
  unlink_age(idx);
  table_.erase(idx);
}

void Worker::close_flow(uint32_t idx, int64_t now) noexcept {
  Flow& f = flows_[idx];
  current_ = &f;
  current_ts_ = now;
  app::close(f.app_state, app_ctx_);
  if (f.stage == Stage::kHeader) judge(f, Stage::kApp, now);
  finish_content(f);
  current_ = nullptr;
  write_flow_record(f, FlowEndReason::kClosed, now);
  if (f.content != kNil) ++counters_.scan_states_released_at_close;
  release_content(f);
  // The record is written; the flow stays (closed) to absorb the last ACKs
  // and retransmitted FINs until tcp_closed_timeout_s.
  f.recorded = true;
}

void Worker::release_content(Flow& f) noexcept {
  if (f.content == kNil) return;
  if (scanner_) {
    for (auto& st : content_[f.content].scan) scanner_->release(st);
  }
  content_[f.content].flow = kNil;
  content_free_.push_back(f.content);
  f.content = kNil;
}

void Worker::write_flow_record(Flow& f, FlowEndReason why, int64_t now) noexcept {
  // Callers made sure of a place for the record (record_room / wait_room).
  if (Event* e = new_event(EventType::kFlow, f, now, false)) {
    e->flow = FlowEventData{};
    e->flow.pkts_toserver = f.pkts[kToServer];
    e->flow.pkts_toclient = f.pkts[kToClient];
    e->flow.bytes_toserver = f.bytes[kToServer];
    e->flow.bytes_toclient = f.bytes[kToClient];
    e->flow.start_ns = f.start_ns;
    e->flow.end_ns = f.last_ns;
    e->flow.reason = why;
    e->flow.tcp_state = static_cast<uint8_t>(f.tcp_state);
    e->flow.app = static_cast<uint8_t>(f.app);
    e->flow.gaps = f.tcp[0].gaps + f.tcp[1].gaps;
    e->flow.conflicts = f.conflicts;
    e->flow.detections = f.content != kNil ? content_[f.content].det : FlowDetections{};
    e->flow.detections.uninspectable = f.uninspectable;
    e->flow.fail_closed = f.fail_closed;
    e->flow.midstream = f.midstream;
    commit_record(e);
  } else {
    ++counters_.records_lost;
  }
  ++flows_per_rule_[f.rule < gen_->spec().rules.size() ? f.rule : flows_per_rule_.size() - 1];
  ++counters_.flows_by_action[static_cast<uint32_t>(f.verdict.action)];
}

bool Worker::take_event_token(int64_t now) noexcept {
  if (limits_.events_per_second == 0) return true;
  if (now > event_refill_ns_) {
    event_tokens_ += static_cast<double>(now - event_refill_ns_) * 1e-9 * limits_.events_per_second;
    if (event_tokens_ > limits_.events_per_second) event_tokens_ = limits_.events_per_second;
    event_refill_ns_ = now;
  }
  if (event_tokens_ < 1.0) return false;
  event_tokens_ -= 1.0;
  return true;
}

bool Worker::record_room() const noexcept {
  return backlog_count_ < backlog_.size();
}

bool Worker::wait_room() const noexcept {
  // A burst's worth of slots stays for app events and alerts (half of a
  // queue smaller than two bursts, so that a flow can always end).
  const uint32_t keep = std::min(kBurstSize, events_.capacity() / 2);
  return backlog_count_ == 0 && events_.free_slots() > keep;
}

void Worker::commit_record(Event* e) noexcept {
  if (e >= backlog_.data() && e < backlog_.data() + backlog_.size()) {
    ++backlog_count_;
    ++counters_.records_backlogged;
  } else {
    events_.commit();
  }
}

void Worker::drain_backlog() noexcept {
  while (backlog_count_ > 0) {
    Event* slot = events_.try_reserve();
    if (slot == nullptr) return;
    *slot = backlog_[backlog_head_];
    events_.commit();
    backlog_head_ = (backlog_head_ + 1) % static_cast<uint32_t>(backlog_.size());
    --backlog_count_;
  }
}

Event* Worker::new_event(EventType type, const Flow& f, int64_t now, bool rate_limited) noexcept {
  if (rate_limited && !take_event_token(now)) {
    ++counters_.events_rate_limited;
    return nullptr;
  }
  Event* e = nullptr;
  if (type == EventType::kFlow) {
    // Flow records keep their order: the queue only while nothing waits in
    // the backlog, then the backlog's tail.
    if (backlog_count_ == 0) e = events_.try_reserve();
    if (e == nullptr && backlog_count_ < backlog_.size()) {
      e = &backlog_[(backlog_head_ + backlog_count_) % backlog_.size()];
    }
  } else {
    e = events_.reserve();
  }
  if (e == nullptr) return nullptr;
  e->type = type;
  e->ts_ns = now;
  e->flow_id = f.flow_id;
  e->generation = f.generation;
  const uint32_t idx = static_cast<uint32_t>(&f - flows_.data());
  const FlowKey& k = table_.key(idx);
  e->src = f.client_is_lo ? k.lo_addr : k.hi_addr;
  e->dst = f.client_is_lo ? k.hi_addr : k.lo_addr;
  e->src_port = f.client_is_lo ? k.lo_port : k.hi_port;
  e->dst_port = f.client_is_lo ? k.hi_port : k.lo_port;
  e->proto = k.proto;
  e->vlan[0] = k.vlan_outer;
  e->vlan[1] = k.vlan_inner;
  e->vlan_count = k.vlan_inner ? 2 : (k.vlan_outer ? 1 : 0);
  e->src_zone = f.client_zone;
  e->dst_zone = f.server_zone;
  e->tenant = f.tenant;
  e->verdict = f.verdict;
  e->rule = f.rule;
  e->is_export = f.inspect;
  e->inspected = wants_content(f) && f.uninspectable == 0;
  return e;
}

void Worker::on_tls_client_hello(const app::TlsClientHello& h) noexcept {
  if (current_ == nullptr) return;
  Flow& f = *current_;
  f.app = AppProto::kTls;
  // Encrypted: the flow is uninspectable (`encrypted`), judged on zones,
  // tenant and SNI. Its record payloads are still scanned (the parsers hand
  // them over de-framed): plaintext wrapped into records for a colluding
  // server, the SNI and ALPN in the ClientHello, and whatever follows bytes
  // that are not TLS records.
  if (wants_content(f)) mark_uninspectable(f, UninspectableReason::kEncrypted);
  const std::string_view name = h.sni.size() > kServerNameTail ? h.sni.substr(h.sni.size() - kServerNameTail) : h.sni;
  std::copy(name.begin(), name.end(), f.server_name);
  f.server_name_len = static_cast<uint8_t>(name.size());
  judge(f, Stage::kApp, current_ts_);
  if (Event* e = new_event(EventType::kTls, f, current_ts_, true)) {
    e->tls = TlsEventData{};
    e->tls.sni.assign(h.sni);
    e->tls.alpn_count = h.alpn_count > 4 ? 4 : h.alpn_count;
    for (uint8_t i = 0; i < e->tls.alpn_count; ++i) e->tls.alpn[i].assign(h.alpn[i]);
    e->tls.version = h.max_supported_version ? h.max_supported_version : h.legacy_version;
    events_.commit();
  }
}

void Worker::on_http_request(const app::HttpRequest& r) noexcept {
  if (current_ == nullptr) return;
  Flow& f = *current_;
  f.app = AppProto::kHttp;
  if (f.stage == Stage::kHeader) {
    std::string_view host = r.host;
    // Host may carry a port ("example.com:8080"); IPv6 literals are bracketed.
    const size_t colon = host.rfind(':');
    if (colon != std::string_view::npos && host.find(']') == std::string_view::npos &&
        host.find(':') == colon) {
      host = host.substr(0, colon);
    }
    const std::string_view name = host.size() > kServerNameTail ? host.substr(host.size() - kServerNameTail) : host;
    std::copy(name.begin(), name.end(), f.server_name);
    f.server_name_len = static_cast<uint8_t>(name.size());
    judge(f, Stage::kApp, current_ts_);
  }
  if (wants_content(f)) {
    if (ContentState* cs = content_of(f)) {
      const std::string_view ct = r.content_type;
      auto has = [](std::string_view hay, std::string_view needle) {
        return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
                 return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b;
               }) != hay.end();
      };
      cs->body_kind = has(ct, "x-www-form-urlencoded") ? sig::ContentKind::kForm
                      : has(ct, "json")                 ? sig::ContentKind::kJson
                      : has(ct, "csv")                  ? sig::ContentKind::kCsv
                                                        : sig::ContentKind::kRaw;
      set_body_codings(f, *cs, r.content_encoding);
      cs->body_start = true;
      if (f.proto != 17) {  // HTTP over UDP: the datagram is scanned whole (handle_udp)
        // The request line (query strings) and every header line (Cookie,
        // Referer, Host, custom headers) are content. The request line is
        // form-decoded ('+' is a space in a query), header lines are not.
        sig::ScanContext ctx = scan_context(f, kToServer);
        ctx.kind = sig::ContentKind::kForm;
        ctx.body_start = true;
        scan(f, kToServer, as_bytes(r.request_line), ctx);
        ctx.kind = sig::ContentKind::kRaw;
        ctx.body_start = false;
        scan(f, kToServer, as_bytes(r.header_lines), ctx);
      }
    }
  }
  if (Event* e = new_event(EventType::kHttp, f, current_ts_, true)) {
    e->http = HttpEventData{};
    e->http.method.assign(r.method);
    e->http.hostname.assign(r.host);
    e->http.url.assign(r.uri);
    e->http.url.truncated = e->http.url.truncated || r.uri_truncated;
    e->http.protocol.assign(r.version);
    e->http.content_type.assign(r.content_type);
    e->http.length = r.content_length;
    e->http.has_length = r.has_content_length;
    e->http.chunked = r.chunked;
    events_.commit();
  }
}

void Worker::on_dns(const app::DnsQuery& q) noexcept {
  if (current_ == nullptr) return;
  Flow& f = *current_;
  f.app = AppProto::kDns;
  if (wants_content(f) && !q.qname.empty()) {
    // The message itself is scanned as sent (each label whole). An
    // identifier cut into two or three labels ("110105194912.31002x.example")
    // is whole again in the joined neighbours: "L1L2\nL1L2L3\nL2L3\n…".
    std::string_view labels[128];
    size_t count = 0;
    for (std::string_view rest = q.qname; !rest.empty() && count < std::size(labels);) {
      const size_t dot = rest.find('.');
      labels[count++] = rest.substr(0, dot);
      rest.remove_prefix(dot == std::string_view::npos ? rest.size() : dot + 1);
    }
    uint8_t joined[1024];
    size_t n = 0;
    for (size_t i = 0; i + 1 < count; ++i) {
      for (size_t k = 2; k <= 3 && i + k <= count; ++k) {
        size_t len = 1;
        for (size_t j = i; j < i + k; ++j) len += labels[j].size();
        if (n + len > sizeof joined) break;
        for (size_t j = i; j < i + k; ++j) {
          std::memcpy(joined + n, labels[j].data(), labels[j].size());
          n += labels[j].size();
        }
        joined[n++] = '\n';
      }
    }
    scan_aside(f, feed_dir_, std::span<const uint8_t>(joined, n));
  }
  if (Event* e = new_event(EventType::kDns, f, current_ts_, true)) {
    e->dns = DnsEventData{};
    e->dns.rrname.assign(q.qname);
    e->dns.rrtype = q.qtype;
    e->dns.id = q.id;
    e->dns.is_response = q.is_response;
    events_.commit();
  }
}

void Worker::on_http_body(uint32_t, std::span<const uint8_t> body) noexcept {
  if (current_ == nullptr || !wants_content(*current_)) return;
  Flow& f = *current_;
  ContentState* cs = content_of(f);
  if (cs == nullptr) return;
  sig::ScanContext ctx = scan_context(f, kToServer);
  ctx.kind = cs->body_kind;
  ctx.encoding = cs->body_encoding;
  ctx.inner = cs->body_inner;
  ctx.body_start = cs->body_start;
  cs->body_start = false;
  scan(f, kToServer, body, ctx);
}

void Worker::on_http_request_end(uint32_t) noexcept {
  // The body's last bytes are decided with the packet that ends it.
  end_unit(kToServer);
}

void Worker::end_unit(int dir) noexcept {
  if (current_ == nullptr || !wants_content(*current_) || current_->content == kNil || scanner_ == nullptr) return;
  Flow& f = *current_;
  ContentState& cs = content_[f.content];
  const int saved_dir = current_dir_;
  current_dir_ = dir;
  scanner_->end_unit(cs.scan[dir], scan_context(f, dir), *this);
  current_dir_ = saved_dir;
  if (cs.scan[dir].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs.scan[dir].reason));
}

bool Worker::wants_content(const Flow& f) const noexcept {
  return gen_->signatures() != nullptr && (f.inspect || options_.classify_all);
}

Worker::ContentState* Worker::content_of(Flow& f) noexcept {
  if (scanner_ == nullptr) {
    // Signatures but no scanner (make_scanner failed, counted as
    // scanner_build_failed): the content cannot be inspected.
    mark_uninspectable(f, UninspectableReason::kResource);
    return nullptr;
  }
  if (f.content != kNil) return &content_[f.content];
  // Recorded (closed): its scan state is gone and nothing more is scanned.
  if (f.recorded || (f.uninspectable & uninspectable_bit(UninspectableReason::kResource))) return nullptr;
  if (content_free_.empty()) {
    ++counters_.inspect_pool_exhausted;
    mark_uninspectable(f, UninspectableReason::kResource);
    return nullptr;
  }
  f.content = content_free_.back();
  content_free_.pop_back();
  ContentState& cs = content_[f.content];
  cs.flow = static_cast<uint32_t>(&f - flows_.data());
  cs.scan[0] = sig::ScanState{};
  cs.scan[1] = sig::ScanState{};
  std::fill(std::begin(cs.tokens), std::end(cs.tokens), 0);
  cs.token_count = 0;
  std::fill(std::begin(cs.distinct_per_class), std::end(cs.distinct_per_class), 0);
  cs.det = FlowDetections{};
  cs.alerts = 0;
  cs.body_kind = sig::ContentKind::kRaw;
  cs.body_encoding = sig::Encoding::kIdentity;
  cs.body_inner = sig::Encoding::kIdentity;
  cs.body_start = false;
  ++counters_.content_flows;
  return &cs;
}

sig::ScanContext Worker::scan_context(const Flow&, int) const noexcept {
  sig::ScanContext ctx;
  ctx.now_unix_s = current_ts_ / 1'000'000'000;
  return ctx;
}

void Worker::scan(Flow& f, int dir, std::span<const uint8_t> bytes, const sig::ScanContext& ctx) noexcept {
  ContentState* cs = content_of(f);
  if (cs == nullptr || bytes.empty()) return;
  Flow* saved = current_;
  const int saved_dir = current_dir_;
  current_ = &f;
  current_dir_ = dir;
  scanner_->scan(cs->scan[dir], bytes, ctx, *this);
  current_ = saved;
  current_dir_ = saved_dir;
  if (cs->scan[dir].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs->scan[dir].reason));
  if (cs->scan[dir].degraded != sig::Uninspectable::kNone) {
    mark_uninspectable(f, uninspectable_reason_of(cs->scan[dir].degraded));
  }
}

void Worker::scan_aside(Flow& f, int dir, std::span<const uint8_t> bytes) noexcept {
  if (bytes.empty() || !wants_content(f)) return;
  ContentState* cs = content_of(f);
  if (cs == nullptr) return;
  // A state of its own, finished at once: the unit sits between bytes of
  // the direction's stream (a chunk extension inside a body) and must not
  // cut them, nor be cut by them. Offsets count from the unit's start (a
  // state at offset 0 is a stream start: a clear left boundary).
  sig::ScanState unit{};
  Flow* saved = current_;
  const int saved_dir = current_dir_;
  current_ = &f;
  current_dir_ = dir;
  const sig::ScanContext ctx = scan_context(f, dir);
  scanner_->scan(unit, bytes, ctx, *this);
  scanner_->finish(unit, ctx, *this);
  current_ = saved;
  current_dir_ = saved_dir;
  if (unit.uninspectable) degrade(f, dir, unit.reason);
}

void Worker::degrade(Flow& f, int dir, sig::Uninspectable why) noexcept {
  if (ContentState* cs = content_of(f); cs != nullptr && scanner_ != nullptr) scanner_->degrade(cs->scan[dir], why);
  mark_uninspectable(f, uninspectable_reason_of(why));
}

void Worker::set_body_codings(Flow& f, ContentState& cs, std::string_view list) noexcept {
  // Content-Encoding lists codings in the order they were applied (RFC 9110
  // 8.4): the last is decoded first. Two are decoded; a third, or a coding
  // this engine has no decoder for (br, zstd, compress), leaves the body
  // scanned as it is and the direction uninspectable.
  sig::Encoding codings[3] = {};
  size_t count = 0;
  bool unknown = false;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view t = list.substr(0, comma);
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    auto is = [&](std::string_view name) {
      return t.size() == name.size() && std::equal(t.begin(), t.end(), name.begin(), [](char a, char b) {
               return (a >= 'A' && a <= 'Z' ? a + 32 : a) == b;
             });
    };
    sig::Encoding e = sig::Encoding::kIdentity;
    if (is("gzip") || is("x-gzip")) e = sig::Encoding::kGzip;
    else if (is("deflate")) e = sig::Encoding::kDeflate;
    else if (t.empty() || is("identity")) continue;
    else unknown = true;
    if (e == sig::Encoding::kIdentity) continue;
    if (count < std::size(codings)) codings[count] = e;
    ++count;
  }
  cs.body_encoding = count >= 1 ? codings[std::min<size_t>(count, 3) - 1] : sig::Encoding::kIdentity;
  cs.body_inner = count >= 2 ? codings[std::min<size_t>(count, 3) - 2] : sig::Encoding::kIdentity;
  if (count > 2) degrade(f, kToServer, sig::Uninspectable::kDecodeDepth);
  if (unknown) degrade(f, kToServer, sig::Uninspectable::kProtocolDecode);
}

void Worker::on_content(app::Dir d, app::Content what, std::span<const uint8_t> bytes) noexcept {
  if (current_ == nullptr) return;
  stream_content(*current_, d == app::Dir::kToServer ? kToServer : kToClient, what, bytes);
}

void Worker::on_undecodable(app::Dir d, app::Undecodable why) noexcept {
  if (current_ == nullptr || !wants_content(*current_)) return;
  degrade(*current_, d == app::Dir::kToServer ? kToServer : kToClient,
          why == app::Undecodable::kHpack ? sig::Uninspectable::kProtocolDecode : sig::Uninspectable::kAsideTooLong);
}

void Worker::stream_content(Flow& f, int dir, app::Content what, std::span<const uint8_t> bytes) noexcept {
  // UDP payloads are scanned whole by handle_udp; what an HTTP-over-UDP
  // parse hands back is already in them.
  if (f.proto == 17 || !wants_content(f)) return;
  sig::ScanContext ctx = scan_context(f, dir);
  switch (what) {
    case app::Content::kAside:
      scan_aside(f, dir, bytes);
      return;
    case app::Content::kWsPayloadDeflate:
      ctx.encoding = sig::Encoding::kDeflateRaw;
      break;
    case app::Content::kWsDeflateEnd: {
      // RFC 7692 7.2.2: the sender removed the 00 00 ff ff of the flush that
      // ends a compressed message; the inflater needs it back (context
      // takeover keeps one inflater across messages).
      static constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};
      ctx.encoding = sig::Encoding::kDeflateRaw;
      scan(f, dir, kTail, ctx);
      end_unit(dir);
      return;
    }
    case app::Content::kWsMessageEnd:
      end_unit(dir);
      return;
    default:  // raw stream bytes, header block rest, WebSocket payloads, HTTP/2 DATA
      break;
  }
  scan(f, dir, bytes, ctx);
}

void Worker::mark_uninspectable(Flow& f, UninspectableReason why) noexcept {
  const UninspectableMask bit = uninspectable_bit(why);
  if (f.uninspectable & bit) return;
  if (f.uninspectable == 0) ++counters_.uninspectable_flows;
  f.uninspectable |= bit;
  ++counters_.uninspectable_by_reason[static_cast<int>(why)];
  content_changed_ = true;
}

void Worker::finish_content(Flow& f) noexcept {
  if (f.content != kNil && scanner_ != nullptr) {
    ContentState& cs = content_[f.content];
    Flow* saved = current_;
    current_ = &f;
    const sig::ScanContext ctx = scan_context(f, 0);
    for (int d = 0; d < 2; ++d) {
      current_dir_ = d;
      scanner_->finish(cs.scan[d], ctx, *this);
    }
    current_ = saved;
  }
  // Also when the flush at the end only made the flow uninspectable: the
  // flag must not carry over to the next packet's flow.
  if (content_changed_) {
    content_changed_ = false;
    judge(f, Stage::kContent, current_ts_);
  }
  settle_detections(f, false);
}

void Worker::on_detection(const sig::Detection& d) noexcept {
  if (current_ == nullptr || current_->content == kNil) return;
  Flow& f = *current_;
  ContentState& cs = content_[f.content];
  const std::string_view id = d.normalized_len > 0 ? d.normalized_view() : d.candidate;
  const uint8_t id_type = static_cast<uint8_t>(d.validator);
  const uint64_t token = key_ != nullptr ? key_->token(id, id_type) : 0;
  ++counters_.detections;
  ++counters_.detections_per_class[static_cast<int>(d.data_class)];
  // Distinct identifiers in this flow, by token (open addressing; a full
  // table counts every further identifier as new, which errs towards more).
  bool fresh = true;
  if (cs.token_count < ContentState::kTokenSlots * 3 / 4) {
    const uint64_t t = token == 0 ? 1 : token;
    for (uint32_t i = 0, slot = static_cast<uint32_t>(t) % ContentState::kTokenSlots; i < ContentState::kTokenSlots;
         ++i, slot = (slot + 1) % ContentState::kTokenSlots) {
      if (cs.tokens[slot] == t) {
        fresh = false;
        break;
      }
      if (cs.tokens[slot] == 0) {
        cs.tokens[slot] = t;
        ++cs.token_count;
        break;
      }
    }
  }
  FlowDetections& det = cs.det;
  if (fresh) {
    ++det.distinct;
    ++cs.distinct_per_class[static_cast<int>(d.data_class)];
  }
  ++det.per_class[static_cast<int>(d.data_class)];
  uint8_t k = 0;
  while (k < det.kinds && det.signature[k] != d.signature) ++k;
  if (k == det.kinds && k < kMaxFlowDetectionKinds) {
    det.signature[k] = static_cast<uint16_t>(d.signature);
    det.count[k] = 0;
    ++det.kinds;
  }
  if (k < det.kinds) ++det.count[k];
  content_changed_ = true;
  PendingDetection pd{};
  pd.signature = static_cast<uint16_t>(d.signature);
  pd.data_class = d.data_class;
  pd.minor = d.minor;
  pd.to_server = current_dir_ == kToServer;
  pd.id_type = id_type;
  pd.masked_len = static_cast<uint8_t>(std::min<size_t>(d.masked_len, sizeof pd.masked));
  std::copy_n(d.masked, pd.masked_len, pd.masked);
  pd.token = token;
  pd.offset = d.stream_offset;
  if (pending_.size() == kMaxPendingDetections) settle_detections(f, false);
  pending_.push_back(pd);
}

void Worker::settle_detections(Flow& f, bool dropped) noexcept {
  if (pending_.empty()) return;
  if (dropped) {
    // The packet carrying them never left: nothing was exported.
    counters_.identifiers_not_exported += pending_.size();
  } else if (options_.accounting != nullptr && f.inspect && f.tenant != kNoIndex) {
    const auto& zones = gen_->spec().zones;
    const uint32_t dest = f.server_zone < zones.size() && !zone_kind_is_inside(zones[f.server_zone].kind)
                              ? f.server_zone
                              : f.client_zone;
    for (const PendingDetection& pd : pending_) {
      options_.accounting->record(f.tenant, pd.data_class, dest, pd.id_type, pd.token, current_ts_);
    }
  }
  if (f.verdict.alert || options_.classify_all) {
    ContentState* cs = f.content != kNil ? &content_[f.content] : nullptr;
    for (const PendingDetection& pd : pending_) {
      if (cs == nullptr || cs->alerts >= limits_.alerts_per_flow) {
        ++counters_.alerts_suppressed;
        continue;
      }
      if (Event* e = new_event(EventType::kAlert, f, current_ts_, false)) {
        e->alert = AlertEventData{};
        e->alert.signature = pd.signature;
        e->alert.category = pd.data_class;
        e->alert.minor = pd.minor;
        e->alert.masked.assign(std::string_view(pd.masked, pd.masked_len));
        e->alert.token = pd.token;
        e->alert.stream_offset = pd.offset;
        e->alert.to_server = pd.to_server;
        events_.commit();
        ++cs->alerts;
        ++counters_.alerts;
      }
    }
  }
  pending_.clear();
}

void Worker::advance_time(int64_t now_ns) noexcept {
  released_.clear();
  reset_count_ = 0;
  drain_backlog();
  expire(now_ns);
}

void Worker::expire(int64_t now_ns) noexcept {
  if (now_ns > now_ns_) now_ns_ = now_ns;
  defrag_.expire(now_ns_, [this](std::span<const uint64_t> tokens) {
    for (const uint64_t t : tokens) push_release(t, Verdict{}, Disposition::kDrop, Reason::frag_timeout);
  });
  // Each list is ordered by last activity, so only heads can have expired.
  // A flow ends only while its record has room; the rest wait for the next
  // pass (still in the table, still judged), and those already expired at
  // the pass that stopped keep that pass's time as their end time, so a
  // record says the same whenever the logger made room.
  for (uint8_t c = 0; c < kAgeClasses; ++c) {
    const int64_t timeout = int64_t{age_timeout_s_[c]} * 1'000'000'000;
    while (age_head_[c] != kNil && now_ns_ - flows_[age_head_[c]].last_ns > timeout) {
      if (!flows_[age_head_[c]].recorded && !wait_room()) {
        if (expiry_due_ns_ == 0) {
          expiry_due_ns_ = now_ns_;
          ++counters_.record_waits;
        }
        return;
      }
      const bool due = expiry_due_ns_ != 0 && expiry_due_ns_ - flows_[age_head_[c]].last_ns > timeout;
      end_flow(age_head_[c], FlowEndReason::kTimeout, due ? expiry_due_ns_ : now_ns_);
    }
  }
  expiry_due_ns_ = 0;
}

uint8_t Worker::age_class_of(const Flow& f) const noexcept {
  if (f.proto == 6) {
    switch (f.tcp_state) {
      case TcpState::kEstablished:
      case TcpState::kClosing:
        return kAgeTcpEstablished;
      case TcpState::kClosed:
        return kAgeTcpClosed;
      default:
        return kAgeTcpSyn;
    }
  }
  return f.proto == 17 ? kAgeUdp : kAgeOther;
}

void Worker::unlink_age(uint32_t idx) noexcept {
  Flow& f = flows_[idx];
  if (f.age_class == kAgeNone) return;
  if (f.age_prev != kNil) flows_[f.age_prev].age_next = f.age_next;
  else age_head_[f.age_class] = f.age_next;
  if (f.age_next != kNil) flows_[f.age_next].age_prev = f.age_prev;
  else age_tail_[f.age_class] = f.age_prev;
  f.age_prev = f.age_next = kNil;
  f.age_class = kAgeNone;
}

void Worker::age(uint32_t idx) noexcept {
  // Move to the tail of its (maybe new) class: the most recently active.
  unlink_age(idx);
  Flow& f = flows_[idx];
  const uint8_t c = age_class_of(f);
  f.age_class = c;
  f.age_prev = age_tail_[c];
  f.age_next = kNil;
  if (age_tail_[c] != kNil) flows_[age_tail_[c]].age_next = idx;
  else age_head_[c] = idx;
  age_tail_[c] = idx;
}

bool Worker::finish(int64_t now_ns) noexcept {
  if (now_ns > now_ns_) now_ns_ = now_ns;
  released_.clear();
  drain_backlog();
  for (; finish_cursor_ < table_.capacity(); ++finish_cursor_) {
    const uint32_t idx = finish_cursor_;
    if (!table_.used(idx)) continue;
    if (!flows_[idx].recorded && !wait_room()) {
      if (!finish_waiting_) ++counters_.record_waits;
      finish_waiting_ = true;
      return false;
    }
    // A flow idle past its timeout ends as a timeout, as expire() would
    // have ended it had its record found room sooner.
    const Flow& f = flows_[idx];
    const bool timed_out = now_ns_ - f.last_ns > int64_t{timeout_s(f)} * 1'000'000'000;
    const bool due = timed_out && expiry_due_ns_ != 0 && expiry_due_ns_ - f.last_ns > int64_t{timeout_s(f)} * 1'000'000'000;
    end_flow(idx, timed_out ? FlowEndReason::kTimeout : FlowEndReason::kShutdown, due ? expiry_due_ns_ : now_ns_);
  }
  // Records still in the backlog wait for the queue, like the flows above.
  if (backlog_count_ > 0) {
    if (!finish_waiting_) ++counters_.record_waits;
    finish_waiting_ = true;
    return false;
  }
  // Incomplete datagrams will never complete: their fragments are dropped.
  defrag_.discard_all([this](std::span<const uint64_t> tokens) {
    for (const uint64_t t : tokens) push_release(t, Verdict{}, Disposition::kDrop, Reason::frag_timeout);
  });
  finish_cursor_ = 0;
  finish_waiting_ = false;
  expiry_due_ns_ = 0;
  return true;
}

}  // namespace ftz::engine
