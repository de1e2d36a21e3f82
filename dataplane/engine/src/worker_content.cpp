#include <algorithm>
#include <string_view>

#include "ftz/engine/worker.hpp"
#include "worker_impl.hpp"

namespace ftz::engine {

void Worker::release_content(Flow& f) noexcept {
  if (f.content == kNil) return;
  ContentState& cs = content_[f.content];
  if (cs.epoch != scanner_epoch_) {
    // Still on the retiring scanner (a flow evicted before its hand-over):
    // its slots go back to that scanner's pool.
    if (retiring_) {
      for (auto& st : cs.scan) retiring_->release(st);
    }
    cs.epoch = scanner_epoch_;
    --retiring_left_;
    retire_if_done();
  } else if (scanner_) {
    for (auto& st : cs.scan) scanner_->release(st);
  }
  content_[f.content].flow = kNil;
  content_free_.push_back(f.content);
  f.content = kNil;
}

void Worker::on_http_body(const FlowCall& c, std::span<const uint8_t> body) noexcept {
  if (!wants_content(c.f)) return;
  ContentState* cs = content_of(c.f);
  if (cs == nullptr) return;
  sig::ScanContext ctx = scan_context(c.ts);
  ctx.kind = cs->body_kind;
  ctx.encoding = cs->body_encoding;
  ctx.inner = cs->body_inner;
  ctx.body_start = cs->body_start;
  cs->body_start = false;
  scan(c, kToServer, body, ctx);
}

void Worker::end_unit(const FlowCall& c, int dir) noexcept {
  Flow& f = c.f;
  if (!wants_content(f) || f.content == kNil || scanner_ == nullptr) return;
  ContentState& cs = content_[f.content];
  ScanSink sink(*this, f, dir, c.ts);
  scanner_->end_unit(cs.scan[dir], scan_context(c.ts), sink);
  if (cs.scan[dir].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs.scan[dir].reason));
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
  cs.epoch = scanner_epoch_;
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

sig::ScanContext Worker::scan_context(int64_t now) noexcept {
  sig::ScanContext ctx;
  ctx.now_unix_s = now / 1'000'000'000;
  return ctx;
}

void Worker::scan(const FlowCall& c, int dir, std::span<const uint8_t> bytes,
                  const sig::ScanContext& ctx) noexcept {
  Flow& f = c.f;
  ContentState* cs = content_of(f);
  if (cs == nullptr || bytes.empty()) return;
  ScanSink sink(*this, f, dir, c.ts);
  scanner_->scan(cs->scan[dir], bytes, ctx, sink);
  if (cs->scan[dir].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs->scan[dir].reason));
  if (cs->scan[dir].degraded != sig::Uninspectable::kNone) {
    mark_uninspectable(f, uninspectable_reason_of(cs->scan[dir].degraded));
  }
}

void Worker::scan_aside(const FlowCall& c, int dir, std::span<const uint8_t> bytes) noexcept {
  Flow& f = c.f;
  if (bytes.empty() || !wants_content(f)) return;
  ContentState* cs = content_of(f);
  if (cs == nullptr) return;
  // A state of its own, finished at once: the unit sits between bytes of
  // the direction's stream (a chunk extension inside a body) and must not
  // cut them, nor be cut by them. Offsets count from the unit's start (a
  // state at offset 0 is a stream start: a clear left boundary).
  sig::ScanState unit{};
  ScanSink sink(*this, f, dir, c.ts);
  const sig::ScanContext ctx = scan_context(c.ts);
  scanner_->scan(unit, bytes, ctx, sink);
  scanner_->finish(unit, ctx, sink);
  if (unit.uninspectable) degrade(f, dir, unit.reason);
}

void Worker::degrade(Flow& f, int dir, sig::Uninspectable why) noexcept {
  if (ContentState* cs = content_of(f); cs != nullptr && scanner_ != nullptr)
    scanner_->degrade(cs->scan[dir], why);
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
    if (is("gzip") || is("x-gzip"))
      e = sig::Encoding::kGzip;
    else if (is("deflate"))
      e = sig::Encoding::kDeflate;
    else if (t.empty() || is("identity"))
      continue;
    else
      unknown = true;
    if (e == sig::Encoding::kIdentity) continue;
    if (count < std::size(codings)) codings[count] = e;
    ++count;
  }
  cs.body_encoding = count >= 1 ? codings[std::min<size_t>(count, 3) - 1] : sig::Encoding::kIdentity;
  cs.body_inner = count >= 2 ? codings[std::min<size_t>(count, 3) - 2] : sig::Encoding::kIdentity;
  if (count > 2) degrade(f, kToServer, sig::Uninspectable::kDecodeDepth);
  if (unknown) degrade(f, kToServer, sig::Uninspectable::kProtocolDecode);
}

void Worker::on_undecodable(const FlowCall& c, app::Dir d, app::Undecodable why) noexcept {
  if (!wants_content(c.f)) return;
  degrade(c.f, d == app::Dir::kToServer ? kToServer : kToClient,
          why == app::Undecodable::kHpack ? sig::Uninspectable::kProtocolDecode
                                          : sig::Uninspectable::kAsideTooLong);
}

void Worker::stream_content(const FlowCall& c, int dir, app::Content what,
                            std::span<const uint8_t> bytes) noexcept {
  const Flow& f = c.f;
  // UDP payloads are scanned whole by handle_udp; what an HTTP-over-UDP
  // parse hands back is already in them.
  if (f.proto == 17 || !wants_content(f)) return;
  sig::ScanContext ctx = scan_context(c.ts);
  switch (what) {
    case app::Content::kAside:
      scan_aside(c, dir, bytes);
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
      scan(c, dir, kTail, ctx);
      end_unit(c, dir);
      return;
    }
    case app::Content::kWsMessageEnd:
      end_unit(c, dir);
      return;
    default:  // raw stream bytes, header block rest, WebSocket payloads, HTTP/2 DATA
      break;
  }
  scan(c, dir, bytes, ctx);
}

void Worker::mark_uninspectable(Flow& f, UninspectableReason why) noexcept {
  const UninspectableMask bit = uninspectable_bit(why);
  if (f.uninspectable & bit) return;
  if (f.uninspectable == 0) ++counters_.uninspectable_flows;
  f.uninspectable |= bit;
  ++counters_.uninspectable_by_reason[static_cast<int>(why)];
  content_changed_ = true;
}

void Worker::finish_content(Flow& f, int64_t now) noexcept {
  if (f.content != kNil && scanner_ != nullptr) {
    ContentState& cs = content_[f.content];
    const sig::ScanContext ctx = scan_context(now);
    for (int d = 0; d < 2; ++d) {
      ScanSink sink(*this, f, d, now);
      scanner_->finish(cs.scan[d], ctx, sink);
    }
  }
  // Also when the flush at the end only made the flow uninspectable: the
  // flag must not carry over to the next packet's flow.
  if (content_changed_) {
    content_changed_ = false;
    judge(f, Stage::kContent, now);
  }
  settle_detections(f, false, now);
}

void Worker::on_detection(const ScanSink& s, const sig::Detection& d) noexcept {
  Flow& f = s.f;
  if (f.content == kNil) return;
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
    for (uint32_t i = 0, slot = static_cast<uint32_t>(t) % ContentState::kTokenSlots;
         i < ContentState::kTokenSlots; ++i, slot = (slot + 1) % ContentState::kTokenSlots) {
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
  pd.to_server = s.dir == kToServer;
  pd.id_type = id_type;
  pd.masked_len = static_cast<uint8_t>(std::min<size_t>(d.masked_len, sizeof pd.masked));
  std::copy_n(d.masked, pd.masked_len, pd.masked);
  pd.token = token;
  pd.offset = d.stream_offset;
  if (pending_.size() == kMaxPendingDetections) settle_detections(f, false, s.ts);
  pending_.push_back(pd);
}

void Worker::settle_detections(Flow& f, bool dropped, int64_t now) noexcept {
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
      options_.accounting->record(f.tenant, pd.data_class, dest, pd.id_type, pd.token, now, gen_->number());
    }
  }
  if (f.verdict.alert || options_.classify_all) {
    ContentState* cs = f.content != kNil ? &content_[f.content] : nullptr;
    for (const PendingDetection& pd : pending_) {
      if (cs == nullptr || cs->alerts >= limits_.alerts_per_flow) {
        ++counters_.alerts_suppressed;
        continue;
      }
      if (Event* e = new_event(EventType::kAlert, f, now, false)) {
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

}  // namespace ftz::engine
