#include "ftz/engine/worker.hpp"

#include <algorithm>
#include <cstddef>
#include <random>

#include "ftz/engine/parser.hpp"
#include "worker_impl.hpp"

namespace ftz::engine {

size_t Worker::bytes_per_flow() noexcept {
  // Issue 9 goal 3: a tracked flow costs at most 256 bytes outside the pools
  // that only reassembled and inspected flows use (docs/decisions/0006); the
  // flow table takes 84 of them (WorkerTest.BytesPerFlowIsAtMost256).
  static_assert(sizeof(Flow) <= 168, "the hot flow record grew past its 256-byte budget");
  return sizeof(Flow) + FlowTable::bytes_per_flow();
}
size_t Worker::bytes_per_stream() noexcept {
  return sizeof(Stream) + sizeof(uint32_t);
}
uint32_t Worker::stream_capacity() const noexcept {
  return static_cast<uint32_t>(streams_.size());
}
uint32_t Worker::streams_in_use() const noexcept {
  return static_cast<uint32_t>(streams_.size() - stream_free_.size());
}
uint32_t Worker::scan_state_capacity() const noexcept {
  return static_cast<uint32_t>(content_.size());
}
uint32_t Worker::scan_states_in_use() const noexcept {
  return static_cast<uint32_t>(content_.size() - content_free_.size());
}

Worker::Footprint Worker::footprint() noexcept {
  // Mirrors the constructor and allocate_content_pool().
  return Footprint{bytes_per_flow(), sizeof(ContentState) + sizeof(uint32_t), bytes_per_stream(),
                   sizeof(Held) + sizeof(uint32_t) + sizeof(Release),
                   size_t{kAppBuffers} * kAppBufferSize +
                       kBurstSize * Defragmenter::kMaxHeld * sizeof(Release) +
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
  if (options_.stream_max_flows == 0) options_.stream_max_flows = limits_.stream_max_flows;
  // More slots than flows could never be used.
  streams_.resize(std::min(options_.stream_max_flows, limits_.flow_table_size));
  stream_free_.reserve(streams_.size());
  for (size_t i = streams_.size(); i > 0; --i) stream_free_.push_back(static_cast<uint32_t>(i - 1));
  adopt_checksum_mode();
  flows_per_rule_.assign(gen_->spec().rules.size() + 1, 0);
  resets_.resize(kBurstSize);
  burst_.resize(kBurstSize);
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
  // Without any token key (the random one failed its self-test), the table
  // still gets a secret of its own.
  hash_key_ = FlowHashKey::from_secret(key_ != nullptr ? key_->derive(compliance::kFlowHashLabel)
                                                       : (uint64_t{std::random_device{}()} << 32) ^
                                                             std::random_device{}());
  if (gen_->signatures()) {
    auto scanner = make_scanner(*gen_, options_);
    if (scanner)
      scanner_ = std::move(*scanner);
    else
      ++counters_.scanner_build_failed;
  }
  if (scanner_) allocate_content_pool();
}

Worker::~Worker() = default;

void Worker::allocate_content_pool() {
  content_.resize(options_.inspect_max_flows);
  content_free_.reserve(content_.size());
  for (size_t i = content_.size(); i > 0; --i) content_free_.push_back(static_cast<uint32_t>(i - 1));
}

uint32_t Worker::process_burst(std::span<const PacketView> pkts, std::span<PacketResult> results) noexcept {
  released_.clear();
  reset_count_ = 0;
  drain_backlog();
  const uint32_t n = static_cast<uint32_t>(std::min({pkts.size(), results.size(), size_t{kBurstSize}}));
  prepare_burst(pkts.first(n));
  // Judged one by one in order: a packet may create the flow the next one
  // finds, so only the loads are batched, never the lookups.
  BurstCounters bc;
  for (uint32_t i = 0; i < std::min(n, kRecordLookahead); ++i) prefetch_flow(burst_[i]);
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kRecordLookahead < n) prefetch_flow(burst_[i + kRecordLookahead]);
    results[i] = PacketResult{};
    burst_index_ = i;
    ++bc.packets;
    bc.bytes += pkts[i].wirelen;
    if (!settle(pkts[i], burst_[i], results[i])) process_one(pkts[i], burst_[i], results[i]);
    count(results[i], bc);
  }
  burst_index_ = kNoBurstIndex;
  counters_.packets += bc.packets;
  counters_.bytes += bc.bytes;
  counters_.forwarded += bc.forwarded;
  counters_.dropped += bc.dropped;
  counters_.held += bc.held;
  // A burst's share of aging is bounded, so a wave of timeouts never stalls
  // the packets behind it; the rest waits for the next burst (or
  // advance_time(), which has no bound).
  if (n > 0) expire(now_ns_, kExpirePerBurst);
  // A reload's share of the worker, bounded per burst (decision 0005).
  if (retiring_left_ != 0) [[unlikely]]
    sweep_hand_overs(kHandOversPerBurst);
  return n;
}

void Worker::prepare_burst(std::span<const PacketView> pkts) noexcept {
  // Parse every packet, hash its key, prefetch its primary bucket; the
  // judging loop prefetches the flows kRecordLookahead packets ahead.
  for (size_t i = 0; i < pkts.size(); ++i) {
    BurstPacket& b = burst_[i];
    b.parsed = parse_packet(link_, pkts[i].data, pkts[i].caplen, b.p);
    b.keyed = b.parsed.status == ParseStatus::kOk && !b.p.is_fragment;
    if (!b.keyed) continue;
    if (b.p.ip_version == 4) {
      b.hash = make_flow_key_v4(pkts[i].data + b.p.l3_offset, b.p, hash_key_, b.key, b.from_lo);
    } else {
      b.key = make_flow_key(b.p, b.from_lo);
      b.hash = hash_flow_key(b.key, hash_key_);
    }
    table_.prefetch(b.hash);
  }
}

void Worker::prefetch_flow(BurstPacket& b) const noexcept {
  // The likely record and the head of its flow state (every line of the
  // fields the short path touches: records are not line-aligned, so a third
  // line may hold the last of them).
  b.guess = FlowTable::kNone;
  if (!b.keyed) return;
  const uint32_t idx = table_.prefetch_record(b.hash);
  if (idx == FlowTable::kNone) return;
  b.guess = idx;
  constexpr size_t kHotBytes = offsetof(Flow, flow_id);
  static_assert(kHotBytes <= 128, "the short path's fields span at most three cache lines");
  const char* head = reinterpret_cast<const char*>(&flows_[idx]);
  __builtin_prefetch(head);
  __builtin_prefetch(head + 64);
  __builtin_prefetch(head + kHotBytes - 1);
}

void Worker::count(const PacketResult& res, BurstCounters& bc) noexcept {
  switch (res.disposition) {
    case Disposition::kForward:
      ++bc.forwarded;
      break;
    case Disposition::kHold:
      ++bc.held;
      break;
    case Disposition::kDrop:
      ++bc.dropped;
      break;
  }
  if (res.reason != Reason::kNone && res.reason < Reason::kCount) {
    ++counters_.reasons[static_cast<uint32_t>(res.reason)];
  }
}

void Worker::process_one(const PacketView& pv, BurstPacket& bp, PacketResult& res) noexcept {
  if (pv.ts_ns > now_ns_) now_ns_ = pv.ts_ns;
  ParsedPacket& p = bp.p;
  const ParseResult pr = bp.parsed;
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
    const ParseResult l4 = parse_l4(p.l4_proto, dr.datagram.data(), static_cast<uint32_t>(dr.datagram.size()),
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
      bool from_lo = true;
      const FlowKey key = make_flow_key(p, from_lo);
      process_ip(pv, p, key, hash_flow_key(key, hash_key_), from_lo, res);
      from_fragments_ = false;
      extra_hold_tokens_ = {};
    }
    // Otherwise the earlier fragments share the datagram's fate (and its
    // route) now.
    if (res.disposition != Disposition::kHold) {
      for (const uint64_t t : dr.held_tokens) {
        push_release(t, res.verdict,
                     res.disposition == Disposition::kDrop ? Disposition::kDrop : Disposition::kForward,
                     res.reason);
      }
    }
    return;
  }
  if (p.payload_len < p.payload_wire_len && p.l4_proto != 6) {
    // Snap-length cut outside TCP: count it, judge what is there.
    ++counters_.reasons[static_cast<uint32_t>(Reason::kCaptureTruncated)];
  }
  process_ip(pv, p, bp.key, bp.hash, bp.from_lo, res);
}

void Worker::process_ip(const PacketView& pv, ParsedPacket& p, const FlowKey& key, uint64_t hash,
                        bool from_lo, PacketResult& res) noexcept {
  const uint32_t idx = lookup_or_create(pv, p, key, hash, from_lo, res);
  if (idx == kNil) return;
  Flow& f = flows_[idx];
  const int dir = (from_lo == f.client_is_lo) ? kToServer : kToClient;
  ++f.pkts[dir];
  f.bytes[dir] += pv.wirelen;
  if (pv.ts_ns > f.last_ns) f.last_ns = pv.ts_ns;
  table_.touch(idx, pv.ts_ns);
  // A new generation judges the flow afresh (it may relax the verdict),
  // after its scan streams left the old scanner (decision 0005).
  catch_up(f);
  if (f.generation != gen_->number()) rejudge(idx, pv.ts_ns);
  count_zone_pair(f, dir, pv.wirelen);
  FlowCall call(*this, f, pv.ts_ns);
  if (p.l4_proto == 6 && p.l4_valid) {
    handle_tcp(call, p, dir, pv, res);
  } else if (p.l4_proto == 17 && p.l4_valid) {
    handle_udp(call, p, dir);
  }
  if (content_changed_) {
    // New detections (or the flow turned uninspectable): the content stage
    // judges this very packet, so a blocking match never lets it through.
    content_changed_ = false;
    judge(f, Stage::kContent, pv.ts_ns);
  }
  age(idx);
  // Held segments whose bytes this packet made deliverable go now, under the
  // verdict that judged those bytes (never the one from before the check).
  if (holds_segments(f)) {
    const SelfHold self{pv.token, res.disposition == Disposition::kHold ? &res : nullptr};
    release_held(f, dir, false, self);
    release_held(f, 1 - dir, false, self);
  }
  if (res.disposition != Disposition::kHold && res.disposition != Disposition::kDrop)
    apply_verdict(f, res);
  else
    res.verdict = f.verdict;
  if (res.disposition == Disposition::kForward && res.trim.any()) {
    if (from_fragments_) {
      // Its bytes travel in the fragments: they cannot be cut, so it stays.
      res.disposition = Disposition::kDrop;
      res.reason = Reason::kTcpReassembledTrim;
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
  settle_detections(f, res.disposition == Disposition::kDrop, pv.ts_ns);
  // (Only an accepted RST or both accepted FINs make a flow kClosed: a
  // segment the checks rejected changed no state.)
  if (f.tcp_state == TcpState::kClosed && p.l4_proto == 6) {
    // An accepted RST that reaches its receiver ends the flow at once:
    // nothing after it belongs to this connection (segments still held
    // behind a hole are dropped). A RST the verdict dropped ended nothing for
    // the endpoints: the flow and its verdict stay, closed, until their
    // timeout, as after FINs. Otherwise a client could end a blocked flow
    // with a RST we drop and carry on the same connection as a fresh,
    // unjudged flow (found by fuzz_worker_content).
    if ((p.tcp_flags & tcp_flag::kRst) && res.disposition != Disposition::kDrop) {
      // Without a place for its record it stays, closed, until its timeout.
      if (f.recorded || record_room()) {
        end_flow(idx, FlowEndReason::kClosed, pv.ts_ns);
      } else {
        ++counters_.record_waits;
      }
    } else if (!f.recorded && !holds_segments(f) && record_room()) {
      // (Without a place for the record the flow is recorded when it ends.)
      close_flow(idx, pv.ts_ns);
    }
  }
}

bool Worker::settle(const PacketView& pv, const BurstPacket& bp, PacketResult& res) noexcept {
  const ParsedPacket& p = bp.p;
  // What process_one() hands straight to process_ip() (an IP packet, not a
  // fragment, not cut short by the snap length), to an existing flow that
  // stays (not expired, and not an export whose transport checksum
  // lookup_or_create() verifies), where process_ip() would only count.
  // Nothing is changed before the packet is known to qualify: any other
  // goes the whole way from the start.
  if (!bp.keyed || p.payload_len < p.payload_wire_len) return false;
  const uint32_t idx = table_.find(bp.key, bp.hash, bp.guess);
  if (idx == FlowTable::kNone) return false;
  Flow& f = flows_[idx];
  if (!settled(f, p) || (f.inspect && !f.blocked_at_header) ||
      pv.ts_ns - table_.last_seen(idx) > int64_t{timeout_s(f)} * 1'000'000'000) {
    return false;
  }
  if (Reason why = Reason::kNone; !ip_checksum_ok(pv, p, why)) return false;
  // Exactly the steps of process_one() and process_ip() that change state
  // for such a packet, in their order.
  if (pv.ts_ns > now_ns_) now_ns_ = pv.ts_ns;
  const int dir = (bp.from_lo == f.client_is_lo) ? kToServer : kToClient;
  ++f.pkts[dir];
  f.bytes[dir] += pv.wirelen;
  if (pv.ts_ns > f.last_ns) f.last_ns = pv.ts_ns;
  table_.touch(idx, pv.ts_ns);
  count_zone_pair(f, dir, pv.wirelen);
  age(idx);
  apply_verdict(f, res);
  return true;
}

bool Worker::settled(const Flow& f, const ParsedPacket& p) const noexcept {
  if (f.generation != gen_->number() || f.content != kNil || f.stream != kNil) return false;
  if (!p.l4_valid) return true;
  if (p.l4_proto == 6) return false;
  if (p.l4_proto == 17) {
    return f.stage != Stage::kHeader && !wants_content(f) &&
           !app::udp_may_carry_app(p.src_port, p.dst_port,
                                   std::span<const uint8_t>(p.payload, p.payload_len));
  }
  return true;
}

bool Worker::checksums_ok(const PacketView& pv, const ParsedPacket& p, bool l4, Reason& why) const noexcept {
  if (!l4) return ip_checksum_ok(pv, p, why);
  if (checksum_mode_ == ChecksumMode::kOff) return true;
  if ((p.l4_proto != 6 && p.l4_proto != 17) || (pv.csum & csum_hint::kL4Good)) return true;
  // A datagram rebuilt from fragments is checked over its reassembled bytes.
  bool bad = (pv.csum & csum_hint::kL4Bad) && !from_fragments_;
  if (!bad) {
    const ChecksumStatus st = l4_checksum(p);
    bad = st == ChecksumStatus::kBad ||
          (st == ChecksumStatus::kOffloaded && checksum_mode_ != ChecksumMode::kAuto);
  }
  if (bad) why = p.l4_proto == 6 ? Reason::kTcpBadChecksum : Reason::kUdpBadChecksum;
  return !bad;
}

void Worker::judge(Flow& f, Stage stage, int64_t now) noexcept {
  FlowFacts facts = FlowFacts::at_header(f.client_zone, f.server_zone, f.tenant, f.proto, f.server_port, now);
  facts.app = f.app;
  facts.server_name = server_name(f);
  if (stage < f.stage) stage = f.stage;
  facts.stage = stage;
  facts.uninspectable = f.uninspectable;
  if (options_.thresholds != nullptr && f.tenant != kNoIndex)
    facts.threshold = options_.thresholds->state(gen_->number(), f.tenant);
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
  if (stage == Stage::kHeader) {
    f.header_final = d.final;
    f.blocked_at_header = d.final && d.verdict.action >= Action::kBlock;
  }
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
  // names every one of those reasons explicitly; so does any flow refused
  // a Stream slot (its app-stage rules cannot be evaluated).
  const UninspectableMask failures = f.uninspectable & kUninspectableFailures;
  if ((f.inspect || f.stream_refused) && failures != 0 && f.verdict.action < Action::kBlock &&
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

void Worker::push_release(uint64_t token, const Verdict& v, Disposition d, Reason r,
                          PayloadTrim trim) noexcept {
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

void Worker::advance_time(int64_t now_ns) noexcept {
  released_.clear();
  reset_count_ = 0;
  drain_backlog();
  expire(now_ns);
}

}  // namespace ftz::engine
