#include "ftz/engine/worker.hpp"
#include "worker_impl.hpp"

namespace ftz::engine {

namespace {

bool is_well_known(uint16_t port) noexcept {
  return port != 0 && port < 1024;
}

}  // namespace

uint32_t Worker::lookup_or_create(const PacketView& pv, const ParsedPacket& p, const FlowKey& key,
                                  uint64_t hash, bool from_lo, PacketResult& res) noexcept {
  const int64_t now = pv.ts_ns;
  uint32_t idx = table_.find(key, hash);
  bool reuse = false;
  bool expired = false;
  if (idx != kNil) {
    const Flow& f = flows_[idx];
    expired = now - table_.last_seen(idx) > int64_t{timeout_s(f)} * 1'000'000'000;
    const bool new_syn = p.l4_proto == 6 &&
                         (p.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == tcp_flag::kSyn &&
                         f.tcp_state == TcpState::kClosed;
    reuse = !expired && !new_syn;
  }
  // Transport checksums before the packet may create, end or change an
  // inspected flow (other flows' packets are forwarded by their verdict
  // whatever they carry, so their sums are not worth the cycles).
  if (!reuse || (flows_[idx].inspect && !flows_[idx].blocked_at_header)) {
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
    if (victim != kNil &&
        now - table_.last_seen(victim) >= int64_t{limits_.flow_evict_min_idle_ms} * 1'000'000) {
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
    ++counters_.reasons[static_cast<uint32_t>(Reason::kFlowTableFull)];
    if (gen_->fail_mode(zs, zd) == FailMode::kClosed) {
      res.disposition = Disposition::kDrop;
      res.reason = Reason::kFailClosed;
    }
    return kNil;
  }
  init_flow(idx, p, from_lo, now);
  return idx;
}

uint32_t Worker::refuse_untracked(const ParsedPacket& p, PacketResult& res) noexcept {
  ++counters_.records_refused;
  ++counters_.flows_untracked;
  ++counters_.reasons[static_cast<uint32_t>(Reason::kRecordBacklogFull)];
  if (gen_->fail_mode(gen_->zone_of(p.src), gen_->zone_of(p.dst)) == FailMode::kClosed) {
    res.disposition = Disposition::kDrop;
    res.reason = Reason::kFailClosed;
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
  if (p.l4_proto == 6 &&
      (p.tcp_flags & (tcp_flag::kSyn | tcp_flag::kAck)) == (tcp_flag::kSyn | tcp_flag::kAck)) {
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
  // Under the public hash key: flow ids are in every EVE record, and the
  // table's own hashes must stay unknown.
  f.flow_id = (hash_flow_key(k, FlowHashKey{}) ^ static_cast<uint64_t>(now) * 0x9e3779b97f4a7c15ull) &
              ((uint64_t{1} << 51) - 1);
  f.inspect = gen_->is_export(f.client_zone, f.server_zone);
  if (f.inspect) ++counters_.flows_inspected;
  if (f.proto == 6) {
    f.midstream = !(p.tcp_flags & tcp_flag::kSyn);
    if (f.midstream && f.inspect) ++counters_.midstream_flows;
  }
  // Exports are normalized inline (docs/decisions/0003): their Stream slot
  // says so when it is taken (stream_of), unless this blocks them for good.
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
  if (client_ftz)
    f.tenant = gen_->tenant_of(client, f.client_zone);
  else if (server_ftz)
    f.tenant = gen_->tenant_of(server, f.server_zone);
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
  if (f.stream != kNil) {
    for (TcpDirState& d : streams_[f.stream].tcp) {
      // A flow that became an export compares from here on: nothing before
      // the current position is kept, so older bytes are never forwarded again.
      if (inspect && !d.normalize) d.kept_seq = d.next_seq;
      d.normalize = inspect && f.proto == 6;
    }
  }
  f.verdict = Verdict{};
  f.rule = kNoIndex;
  f.fail_closed = false;
  f.blocked_at_header = false;
  // Recomputed when it is judged at the header stage still; past it, the
  // new generation's rules may need what a Stream slot gathers.
  f.header_final = false;
  judge(f, f.stage, now);
}

void Worker::end_flow(uint32_t idx, FlowEndReason why, int64_t now) noexcept {
  Flow& f = flows_[idx];
  // Idle since a reload: it ends under the current generation, whose indices
  // (zones, rule, signatures) its events carry.
  catch_up(f);
  if (f.generation != gen_->number()) rejudge(idx, now);
  // Held segments whose bytes came through in order go under the verdict;
  // the rest sat behind a hole (flush() skips it below to scan what
  // followed, but the receiver never got the missing bytes): dropped, never
  // released uninspected.
  for (int d = 0; d < 2; ++d) {
    release_held(f, d, false);
    release_held(f, d, true);
  }
  if (!f.recorded) {
    if (f.stream != kNil) {
      FlowCall call(*this, f, now);
      for (int d = 0; d < 2; ++d) {
        StreamFeed feed{call, d};
        reasm_.flush(streams_[f.stream].tcp[d], feed);
      }
      app::close(streams_[f.stream].app_state, call.app);
    }
    if (f.stage == Stage::kHeader) judge(f, Stage::kApp, now);
    finish_content(f, now);
  }
  if (!f.recorded) write_flow_record(f, why, now);
  release_stream(f);
  release_content(f);
  ++counters_.flows_ended;
  if (why == FlowEndReason::kTimeout) ++counters_.flows_timed_out;
  unlink_age(idx);
  table_.erase(idx);
}

void Worker::close_flow(uint32_t idx, int64_t now) noexcept {
  Flow& f = flows_[idx];
  if (f.stream != kNil) {
    FlowCall call(*this, f, now);
    app::close(streams_[f.stream].app_state, call.app);
  }
  if (f.stage == Stage::kHeader) judge(f, Stage::kApp, now);
  finish_content(f, now);
  write_flow_record(f, FlowEndReason::kClosed, now);
  if (f.content != kNil) ++counters_.scan_states_released_at_close;
  release_content(f);
  // The record is written; the flow stays (closed) to absorb the last ACKs
  // and retransmitted FINs until tcp_closed_timeout_s.
  f.recorded = true;
}

void Worker::expire(int64_t now_ns, uint32_t budget) noexcept {
  if (now_ns > now_ns_) now_ns_ = now_ns;
  defrag_.expire(now_ns_, [this](std::span<const uint64_t> tokens) {
    for (const uint64_t t : tokens) push_release(t, Verdict{}, Disposition::kDrop, Reason::kFragTimeout);
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
      if (budget == 0) {
        // The rest at the next call; they were due at this one, whose time
        // their records keep (as when the queue has no room).
        if (expiry_due_ns_ == 0) expiry_due_ns_ = now_ns_;
        return;
      }
      --budget;
      const bool due = expiry_due_ns_ != 0 && expiry_due_ns_ - flows_[age_head_[c]].last_ns > timeout;
      end_flow(age_head_[c], FlowEndReason::kTimeout, due ? expiry_due_ns_ : now_ns_);
    }
  }
  expiry_due_ns_ = 0;
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
    const bool due = timed_out && expiry_due_ns_ != 0 &&
                     expiry_due_ns_ - f.last_ns > int64_t{timeout_s(f)} * 1'000'000'000;
    end_flow(idx, timed_out ? FlowEndReason::kTimeout : FlowEndReason::kShutdown,
             due ? expiry_due_ns_ : now_ns_);
  }
  // Records still in the backlog wait for the queue, like the flows above.
  if (backlog_count_ > 0) {
    if (!finish_waiting_) ++counters_.record_waits;
    finish_waiting_ = true;
    return false;
  }
  // Incomplete datagrams will never complete: their fragments are dropped.
  defrag_.discard_all([this](std::span<const uint64_t> tokens) {
    for (const uint64_t t : tokens) push_release(t, Verdict{}, Disposition::kDrop, Reason::kFragTimeout);
  });
  finish_cursor_ = 0;
  finish_waiting_ = false;
  expiry_due_ns_ = 0;
  return true;
}

bool Worker::needs_stream(const Flow& f) const noexcept {
  // Recorded (closed, lingering): nothing more is parsed or scanned.
  if (f.recorded) return false;
  // Inspected or normalized: every byte is reassembled. Otherwise only a
  // verdict the header stage left open needs the app facts (SNI, Host) that
  // reassembly and the app parsers gather.
  return wants_content(f) || (f.inspect && !f.blocked_at_header) || !f.header_final;
}

Worker::Stream* Worker::stream_of(Flow& f) noexcept {
  if (f.stream != kNil) return &streams_[f.stream];
  if (f.stream_refused || !needs_stream(f)) return nullptr;
  if (stream_free_.empty()) {
    // Fail closed: what a slot would have gathered (in-order bytes for the
    // scanner and the app parsers, the kept copy) is missing, so the flow is
    // uninspectable and its pair's fail mode decides (judge()).
    ++counters_.stream_pool_exhausted;
    f.stream_refused = true;
    mark_uninspectable(f, UninspectableReason::kResource);
    return nullptr;
  }
  return &acquire_stream(f);
}

void Worker::take_spare_stream(Flow& f) noexcept {
  if (f.stream != kNil || f.stream_skipped || f.recorded) return;
  if (!limits_.header_decided_metadata || stream_free_.size() <= streams_.size() / 2) {
    // Its verdict is final: nothing is lost for policy, only its app events.
    f.stream_skipped = true;
    ++counters_.stream_metadata_skipped;
    return;
  }
  acquire_stream(f);
}

Worker::Stream& Worker::acquire_stream(Flow& f) noexcept {
  f.stream = stream_free_.back();
  stream_free_.pop_back();
  Stream& st = streams_[f.stream];
  st = Stream{};
  st.flow = static_cast<uint32_t>(&f - flows_.data());
  // The directions go on from what the hot record tracked so far (the
  // handshake, or nothing).
  for (int d = 0; d < 2; ++d) {
    static_cast<TcpTrack&>(st.tcp[d]) = f.track[d];
    st.tcp[d].kept_seq = st.tcp[d].next_seq;
    // Exports are normalized inline (docs/decisions/0003).
    st.tcp[d].normalize = f.proto == 6 && f.inspect && !f.blocked_at_header;
  }
  ++counters_.stream_flows;
  return st;
}

void Worker::release_stream(Flow& f) noexcept {
  if (f.stream == kNil) return;
  Stream& st = streams_[f.stream];
  for (TcpDirState& d : st.tcp) reasm_.release(d);
  st.flow = kNil;
  stream_free_.push_back(f.stream);
  f.stream = kNil;
}

TcpTrack& Worker::track(Flow& f, int dir) noexcept {
  return f.stream != kNil ? static_cast<TcpTrack&>(streams_[f.stream].tcp[dir]) : f.track[dir];
}

std::string_view Worker::server_name(const Flow& f) const noexcept {
  if (f.stream == kNil) return {};
  const Stream& st = streams_[f.stream];
  return {st.server_name, st.server_name_len};
}

bool Worker::holds_segments(const Flow& f) const noexcept {
  return f.stream != kNil &&
         (streams_[f.stream].held_head[0] != kNil || streams_[f.stream].held_head[1] != kNil);
}

}  // namespace ftz::engine
