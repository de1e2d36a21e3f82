#pragma once
// Private to the Worker's source files (worker*.cpp): the flow record, the
// content slot and the constants they share. Not part of the engine's API.
//
// The Worker is split by what runs when (dataplane/engine/README.md):
//   worker.cpp            construction, the burst loop, verdicts, checksums
//   worker_flows.cpp      flow lookup and creation, endings, aging, finish()
//   worker_tcp.cpp        TCP state checks, reassembly feed, holding, UDP
//   worker_content.cpp    content inspection: scan states, detections
//   worker_events.cpp     EVE events and flow records, app metadata callbacks
//   worker_generation.cpp reloads: generation and scanner hand-over

#include <cstddef>
#include <cstdint>

#include "ftz/engine/worker.hpp"

namespace ftz::engine {

// Shared by the worker*.cpp files.
inline constexpr uint32_t kNil = UINT32_MAX;

inline constexpr uint32_t kServerNameTail = 95;
inline constexpr uint64_t kAppGiveUpBytes = 16 * 1024;
inline constexpr int kToServer = 0;
inline constexpr int kToClient = 1;
inline constexpr uint32_t kAppBuffers = 1024;
inline constexpr uint32_t kAppBufferSize = 16 * 1024;
// Flows a burst may end by timeout (Worker::expire): ~1 us each, so a wave
// of timeouts adds at most ~60 us to one burst; at 32 packets a burst and
// 1 Mpps that still ends 2M flows a second.
inline constexpr uint32_t kExpirePerBurst = 2 * kBurstSize;
// Detections of one packet waiting for its fate (more are settled at once).
inline constexpr size_t kMaxPendingDetections = 1024;

// The scanner's reasons, folded into what policy and fail modes act on:
// corrupt encodings and what the app layer could not decode are `decode`,
// every cap and pool is `resource`.
inline UninspectableReason uninspectable_reason_of(sig::Uninspectable r) noexcept {
  return r == sig::Uninspectable::kDecodeError || r == sig::Uninspectable::kProtocolDecode
             ? UninspectableReason::kDecode
             : UninspectableReason::kResource;
}

// The hot flow record: what every tracked flow needs (one per flow-table
// slot; 168 bytes, so with the table's share (84 bytes: its record, a
// quarter bucket, a free-list entry) a tracked flow costs 252 bytes, docs/decisions/0006). Reassembly, app
// parser state, the SNI/Host tail and held segments live in a Stream slot that only flows reassembled,
// app-parsed or inspected take.
struct Worker::Flow {
  // Fields a packet of the short path reads or writes (Worker::settle())
  // come first, up to flow_id: prefetch_flow() prefetches exactly the cache
  // lines they span (the bytes before flow_id).
  int64_t last_ns = 0;
  uint64_t generation = 0;
  uint64_t pkts[2] = {0, 0};  // [kToServer], [kToClient]
  uint64_t bytes[2] = {0, 0};
  uint32_t client_zone = kNoIndex;
  uint32_t server_zone = kNoIndex;
  uint32_t tenant = kNoIndex;
  uint32_t rule = kNoIndex;
  Verdict verdict;
  uint32_t content = kNil;  // ContentState slot while its content is scanned
  uint32_t stream = kNil;   // Stream slot while it is reassembled / app-parsed
  // Aging: one list per timeout class, least recently active first.
  uint32_t age_prev = kNil;
  uint32_t age_next = kNil;
  uint16_t server_port = 0;
  uint8_t proto = 0;
  uint8_t age_class = 0;
  TcpState tcp_state = TcpState::kNone;
  Stage stage = Stage::kHeader;
  AppProto app = AppProto::kUnknown;
  UninspectableMask uninspectable = 0;  // why its content was not (fully) inspected
  bool client_is_lo : 1 = true;
  bool inspect : 1 = false;
  bool fail_closed : 1 = false;  // blocked because it was uninspectable (fail mode)
  bool midstream : 1 = false;    // TCP picked up without a handshake
  bool recorded : 1 = false;     // its flow record is written (closed, lingering)
  bool resets_sent : 1 = false;
  // Blocked at the header stage and no rule skipped before the deciding one
  // (Decision::final): nothing of it leaves, whatever its bytes, so they are
  // neither scanned nor normalized, nor checksummed (docs/decisions/0003).
  bool blocked_at_header : 1 = false;
  // The header stage decided it for good (Decision::final): no app or
  // content fact can change its verdict.
  bool header_final : 1 = false;
  // It needed a Stream slot and the pool had none: uninspectable
  // (resource), its pair's fail mode decides; never asks again.
  bool stream_refused : 1 = false;
  // Decided at the header stage and no spare slot for its app metadata
  // when it first had bytes: tracked in the hot record for good.
  bool stream_skipped : 1 = false;
  uint64_t flow_id = 0;
  int64_t start_ns = 0;
  // TCP directions of a flow without a Stream slot (with one, the slot's
  // TcpDirState holds them: this copy is stale).
  TcpTrack track[2];
};

// A flow's reassembly and app-parsing state, from a pool sized by
// WorkerOptions::stream_max_flows (limits.stream_max_flows): taken at the
// first payload of a flow that is reassembled (every TCP flow not decided
// for good at the header stage, every inspected export), returned when it
// ends.
struct Worker::Stream {
  uint32_t flow = kNil;  // the flow record holding this slot; kNil while free
  uint32_t held_head[2] = {kNil, kNil};
  uint32_t conflicts = 0;
  TcpDirState tcp[2];
  app::AppFlowState app_state{};
  // The last bytes of the SNI / Host: suffix rules need only the end.
  uint8_t server_name_len = 0;
  char server_name[kServerNameTail];
};

// Scan state of a flow under content inspection, from a pool sized by
// WorkerOptions::inspect_max_flows (most flows never need one).
struct Worker::ContentState {
  static constexpr uint32_t kTokenSlots = 256;  // distinct identifiers deduplicated per flow
  uint32_t flow = kNil;                         // the flow record holding this slot; kNil while free
  uint32_t epoch = 0;                           // Worker::scanner_epoch_ of the scanner holding its streams
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

// One flow's turn at the app parsers: the flow, the time of the packet (or
// of the ending) that fed them, and the direction being fed. Passed down the
// calls instead of kept in the worker, so a nested turn (a flow ended while
// another is judged, a hand-over) needs nothing saved and restored. The
// parsers call back through it (its AppContext names it as the sink).
struct Worker::FlowCall final : app::AppSink {
  FlowCall(Worker& worker, Flow& flow, int64_t now) noexcept
      : w(worker), f(flow), ts(now), app{&worker.app_pool_, &worker.app_counters_, this} {}
  FlowCall(const FlowCall&) = delete;
  FlowCall& operator=(const FlowCall&) = delete;

  void on_tls_client_hello(const app::TlsClientHello& h) noexcept override {
    w.on_tls_client_hello(*this, h);
  }
  void on_http_request(const app::HttpRequest& r) noexcept override { w.on_http_request(*this, r); }
  void on_http_body(uint32_t, std::span<const uint8_t> body) noexcept override {
    w.on_http_body(*this, body);
  }
  // The body's last bytes are decided with the packet that ends it.
  void on_http_request_end(uint32_t) noexcept override { w.end_unit(*this, kToServer); }
  void on_dns(const app::DnsQuery& q) noexcept override { w.on_dns(*this, q); }
  void on_content(app::Dir d, app::Content what, std::span<const uint8_t> bytes) noexcept override {
    w.stream_content(*this, d == app::Dir::kToServer ? kToServer : kToClient, what, bytes);
  }
  void on_undecodable(app::Dir d, app::Undecodable why) noexcept override { w.on_undecodable(*this, d, why); }

  Worker& w;
  Flow& f;
  const int64_t ts;
  int dir = kToServer;  // the direction whose bytes the parsers are looking at
  app::AppContext app;
};

// One scan of one direction of a flow: its detections go to that flow and
// direction (a stack object per scan: nothing to restore afterwards).
struct Worker::ScanSink final : sig::DetectionSink {
  ScanSink(Worker& worker, Flow& flow, int direction, int64_t now) noexcept
      : w(worker), f(flow), dir(direction), ts(now) {}
  void on_detection(const sig::Detection& d) noexcept override { w.on_detection(*this, d); }
  Worker& w;
  Flow& f;
  const int dir;
  const int64_t ts;
};

// Feeds reassembled bytes to the app parsers, then to content scanning; a gap
// tells the parsers bytes are lost.
struct Worker::StreamFeed {
  FlowCall& c;
  int dir;
  app::AppProtocol detected = app::AppProtocol::kUnknown;
  void deliver(const uint8_t* data, uint32_t len) noexcept {
    const app::Dir d = dir == kToServer ? app::Dir::kToServer : app::Dir::kToClient;
    c.dir = dir;
    // The parsers hand every byte to inspect back through on_content and the
    // HTTP callbacks.
    detected = app::feed_tcp(c.w.streams_[c.f.stream].app_state, d, c.f.server_port,
                             std::span<const uint8_t>(data, len), c.app);
  }
  void gap(uint32_t) noexcept {
    c.dir = dir;
    app::on_gap(c.w.streams_[c.f.stream].app_state,
                dir == kToServer ? app::Dir::kToServer : app::Dir::kToClient, c.app);
    // Bytes the scanner never saw: what follows is scanned and judged, but
    // not all of the stream was (the fail mode decides). A separator keeps
    // the bytes on both sides of the gap from joining into one identifier.
    if (c.w.wants_content(c.f)) {
      c.w.mark_uninspectable(c.f, UninspectableReason::kGap);
      static constexpr uint8_t kSeparator = '\n';
      c.w.scan(c, dir, std::span<const uint8_t>(&kSeparator, 1), scan_context(c.ts));
    }
  }
};

// Per packet and small: inline for the burst loop's short path (worker.cpp).
inline uint32_t Worker::timeout_s(const Flow& f) const noexcept {
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

inline bool Worker::ip_checksum_ok(const PacketView& pv, const ParsedPacket& p, Reason& why) const noexcept {
  if (checksum_mode_ == ChecksumMode::kOff || p.ip_version != 4 || (pv.csum & csum_hint::kL3Good))
    return true;
  const ChecksumStatus st =
      (pv.csum & csum_hint::kL3Bad) ? ChecksumStatus::kBad : ipv4_header_checksum(pv.data, p);
  if (st == ChecksumStatus::kBad ||
      (st == ChecksumStatus::kOffloaded && checksum_mode_ != ChecksumMode::kAuto)) {
    why = Reason::kIpv4BadChecksum;
    return false;
  }
  return true;
}

inline void Worker::count_zone_pair(const Flow& f, int dir, uint32_t bytes) noexcept {
  const size_t nz = gen_->zone_count();
  const uint32_t zsrc = dir == kToServer ? f.client_zone : f.server_zone;
  const uint32_t zdst = dir == kToServer ? f.server_zone : f.client_zone;
  if (zsrc < nz && zdst < nz) zone_pair_bytes_[zsrc * nz + zdst] += bytes;
}

inline void Worker::apply_verdict(const Flow& f, PacketResult& res) const noexcept {
  res.verdict = f.verdict;
  switch (f.verdict.action) {
    case Action::kAllow:
    case Action::kRoute:
      res.disposition = Disposition::kForward;
      break;
    case Action::kBlock:
      res.disposition = Disposition::kDrop;
      res.reason = f.fail_closed ? Reason::kUninspectableFailClosed : Reason::kPolicyBlock;
      break;
    case Action::kReset:
      res.disposition = Disposition::kDrop;
      res.reason = Reason::kPolicyReset;
      break;
  }
}

inline uint8_t Worker::age_class_of(const Flow& f) const noexcept {
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

inline void Worker::unlink_age(uint32_t idx) noexcept {
  Flow& f = flows_[idx];
  if (f.age_class == kAgeNone) return;
  if (f.age_prev != kNil)
    flows_[f.age_prev].age_next = f.age_next;
  else
    age_head_[f.age_class] = f.age_next;
  if (f.age_next != kNil)
    flows_[f.age_next].age_prev = f.age_prev;
  else
    age_tail_[f.age_class] = f.age_prev;
  f.age_prev = f.age_next = kNil;
  f.age_class = kAgeNone;
}

inline void Worker::age(uint32_t idx) noexcept {
  // Move to the tail of its (maybe new) class: the most recently active.
  unlink_age(idx);
  Flow& f = flows_[idx];
  const uint8_t c = age_class_of(f);
  f.age_class = c;
  f.age_prev = age_tail_[c];
  f.age_next = kNil;
  if (age_tail_[c] != kNil)
    flows_[age_tail_[c]].age_next = idx;
  else
    age_head_[c] = idx;
  age_tail_[c] = idx;
}

inline bool Worker::wants_content(const Flow& f) const noexcept {
  return gen_->signatures() != nullptr && ((f.inspect && !f.blocked_at_header) || options_.classify_all);
}

}  // namespace ftz::engine
