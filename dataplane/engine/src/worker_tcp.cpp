#include "ftz/engine/worker.hpp"
#include "worker_impl.hpp"

namespace ftz::engine {

namespace {

AppProto to_app_proto(app::AppProtocol p) noexcept {
  switch (p) {
    case app::AppProtocol::kHttp:
      return AppProto::kHttp;
    case app::AppProtocol::kTls:
      return AppProto::kTls;
    case app::AppProtocol::kDns:
      return AppProto::kDns;
    default:
      return AppProto::kUnknown;
  }
}

// A direction of a flow without a Stream slot (decided for good at the
// header stage): no bytes are kept, so the in-order point moves with
// segments that reach it and with the receiver's acknowledgments (which
// stand in for the reassembler's gap skips), never past the FIN.
void track_segment(TcpTrack& s, uint32_t seq, uint32_t len) noexcept {
  uint32_t end = seq + len;
  if (s.fin_seen && seq_diff(end, s.fin_seq) > 0) end = s.fin_seq;
  if (seq_diff(seq, s.next_seq) <= 0 && seq_diff(end, s.next_seq) > 0) s.next_seq = end;
  if (s.fin_seen && seq_diff(s.next_seq, s.fin_seq) >= 0) s.closed = true;
}

void track_ack(TcpTrack& s, uint32_t ack) noexcept {
  if (!s.seq_known || seq_diff(ack, s.next_seq) <= 0) return;
  s.next_seq = s.fin_seen && seq_diff(ack, s.fin_seq) > 0 ? s.fin_seq : ack;
  if (s.fin_seen && seq_diff(s.next_seq, s.fin_seq) >= 0) s.closed = true;
}

}  // namespace

bool Worker::rst_acceptable(const TcpTrack& mine, const TcpTrack& peer, const ParsedPacket& p) noexcept {
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

bool Worker::syn_acceptable(const TcpTrack& mine, const TcpTrack& peer, const ParsedPacket& p) noexcept {
  if (mine.syn_seen) return p.seq == mine.isn;  // a retransmission
  if (mine.seq_known) return false;             // data came first: a SYN cannot restart the direction
  // A SYN-ACK must acknowledge the SYN this appliance saw.
  if ((p.tcp_flags & tcp_flag::kAck) && peer.syn_seen) return p.ack == peer.isn + 1;
  return true;
}

void Worker::handle_tcp(FlowCall& c, const ParsedPacket& p, int dir, const PacketView& pv,
                        PacketResult& res) noexcept {
  Flow& f = c.f;
  const uint8_t flags = p.tcp_flags;
  // A flow that needs a Stream slot (docs/decisions/0006) takes it with its
  // first bytes, or with an acknowledgment of bytes not seen here (the
  // reassembler's gap hint); until then the hot record tracks the handshake.
  if (f.stream == kNil && !f.stream_refused && !f.stream_skipped) {
    const TcpTrack& acked = f.track[1 - dir];
    const bool ack_ahead = (flags & tcp_flag::kAck) && acked.seq_known && seq_diff(p.ack, acked.next_seq) > 0;
    if (p.payload_len > 0 || ack_ahead) {
      if (needs_stream(f))
        stream_of(f);
      else
        take_spare_stream(f);  // decided at the header stage: app metadata only
    }
  }
  Stream* st = f.stream != kNil ? &streams_[f.stream] : nullptr;
  TcpTrack& mine = track(f, dir);
  TcpTrack& peer = track(f, 1 - dir);
  auto start = [&](uint32_t seq) {
    if (st != nullptr)
      TcpReassembler::start(st->tcp[dir], seq);
    else
      TcpReassembler::start(mine, seq);
  };
  StreamFeed feed{c, dir};
  StreamFeed peer_feed{c, 1 - dir};
  // Exports are normalized inline (docs/decisions/0003): a segment failing a
  // check changes no state and never reaches the receiver. Other flows only
  // count it and forward it by their verdict.
  const bool enforce = f.inspect && !f.blocked_at_header;
  auto reject = [&](Reason r) {
    if (enforce) {
      res.disposition = Disposition::kDrop;
      res.reason = r;
    } else {
      ++counters_.reasons[static_cast<uint32_t>(r)];
    }
  };
  if (enforce && f.midstream && limits_.tcp_midstream == TcpMidstream::kDrop) {
    reject(Reason::kTcpMidstream);
    return;
  }
  // PAWS (RFC 7323 §5.3): a timestamp older than the newest one accepted in
  // order is a duplicate the receiver discards (a decoy), RSTs included.
  if (p.tcp_has_ts && mine.ts_known && !(flags & tcp_flag::kSyn) &&
      static_cast<int32_t>(mine.ts_recent - p.tsval) > 1) {
    reject((flags & tcp_flag::kRst) ? Reason::kTcpRstInvalid : Reason::kTcpPaws);
    return;
  }
  if (flags & tcp_flag::kRst) {
    if (!rst_acceptable(mine, peer, p)) {
      reject(Reason::kTcpRstInvalid);
      return;
    }
    // Data in a RST (RFC 1122 4.2.2.12 allows a diagnostic) is never part of
    // the stream: receivers discard it, and it does not leave uninspected.
    if (enforce && p.payload_len > 0) {
      res.trim.back = p.payload_len;
      ++counters_.reasons[static_cast<uint32_t>(Reason::kTcpStaleBytes)];
    }
    f.tcp_state = TcpState::kClosed;
    return;
  }
  uint32_t data_seq = p.seq;
  if (flags & tcp_flag::kSyn) {
    if (!syn_acceptable(mine, peer, p)) {
      reject(Reason::kTcpSynInvalid);
      return;
    }
    data_seq = p.seq + 1;  // the SYN takes one sequence number; data (TFO) follows it
    if (!mine.syn_seen) {
      mine.syn_seen = true;
      mine.isn = p.seq;
      mine.midstream = false;
      mine.wscale_offered = p.tcp_wscale != 0xff;
      mine.wscale = mine.wscale_offered ? p.tcp_wscale : 0;
      start(p.seq + 1);
      if (f.tcp_state == TcpState::kNone) {
        f.tcp_state = (flags & tcp_flag::kAck) ? TcpState::kSynReceived : TcpState::kSynSent;
      } else if (flags & tcp_flag::kAck) {
        f.tcp_state = TcpState::kSynReceived;
      }
    }
  } else if (!mine.seq_known) {
    start(p.seq);  // picked up mid-stream: from this byte on
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
  if ((p.payload_wire_len > 0 || fin) && !(flags & tcp_flag::kSyn) &&
      !TcpReassembler::in_window(mine, data_seq)) {
    reject(Reason::kTcpOutOfWindow);
    return;
  }
  const uint32_t fin_seq = data_seq + p.payload_wire_len;
  if (fin) {
    // One FIN per direction, never inside bytes already delivered.
    const bool ok = mine.fin_seen
                        ? fin_seq == mine.fin_seq
                        : seq_diff(fin_seq, mine.next_seq) >= 0 && TcpReassembler::in_window(mine, fin_seq);
    if (!ok) {
      reject(Reason::kTcpFinInvalid);
      return;
    }
  }

  const uint32_t before = mine.next_seq;
  SegmentOutcome outcome = SegmentOutcome::kDuplicate;
  SegmentTrim cut;
  if (p.payload_len > 0 && st != nullptr) {
    outcome = reasm_.on_segment(st->tcp[dir], data_seq, p.payload, p.payload_len, feed, &cut);
  } else if (p.payload_len > 0) {
    track_segment(mine, data_seq, p.payload_len);
    outcome = SegmentOutcome::kDelivered;
  } else if (p.payload_wire_len > 0) {
    ++counters_.reasons[static_cast<uint32_t>(Reason::kCaptureTruncated)];
  }

  switch (outcome) {
    case SegmentOutcome::kConflict:
      ++st->conflicts;
      reject(Reason::kTcpOverlapConflict);
      break;
    case SegmentOutcome::kOverLimit:
      reject(segments_.available() == 0 ? Reason::kTcpReassemblyMemcap : Reason::kTcpOooLimit);
      break;
    case SegmentOutcome::kAfterFin:
      reject(Reason::kTcpDataAfterFin);
      break;
    case SegmentOutcome::kBuffered:
      if (enforce) {
        if (held_free_.size() < 1 + extra_hold_tokens_.size()) {
          res.disposition = Disposition::kDrop;
          res.reason = Reason::kHoldOverflow;
        } else {
          auto hold = [&](uint64_t token, PayloadTrim trim) {
            const uint32_t h = held_free_.back();
            held_free_.pop_back();
            held_[h] = Held{token, data_seq + p.payload_len - cut.back, st->held_head[dir], trim};
            st->held_head[dir] = h;
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
        ++counters_.reasons[static_cast<uint32_t>(Reason::kTcpStaleBytes)];
        if (fin && !(flags & tcp_flag::kSyn))
          res.trim.front = p.payload_len;
        else
          res.trim.back = p.payload_len;
      }
      break;
    default:
      if (enforce && (cut.front != 0 || cut.back != 0)) {
        if (cut.front != 0) ++counters_.reasons[static_cast<uint32_t>(Reason::kTcpStaleBytes)];
        if (cut.front != 0 && (flags & tcp_flag::kSyn)) {
          reject(Reason::kTcpSynInvalid);  // a SYN's sequence number cannot move
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
    ++counters_.reasons[static_cast<uint32_t>(Reason::kCaptureTruncated)];
    if (st != nullptr)
      reasm_.on_peer_ack(st->tcp[dir], data_seq + p.payload_wire_len, feed);
    else
      track_ack(mine, data_seq + p.payload_wire_len);
  }
  if (fin && !mine.fin_seen) {
    mine.fin_seen = true;
    mine.fin_seq = fin_seq;
    if (seq_diff(mine.next_seq, mine.fin_seq) >= 0) mine.closed = true;
    if (f.tcp_state != TcpState::kClosed) f.tcp_state = TcpState::kClosing;
  }
  if ((flags & tcp_flag::kAck) && peer.seq_known) {
    if (st != nullptr)
      reasm_.on_peer_ack(st->tcp[1 - dir], p.ack, peer_feed);
    else
      track_ack(peer, p.ack);
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
  if (!(flags & tcp_flag::kSyn) &&
      (f.tcp_state == TcpState::kSynReceived || f.tcp_state == TcpState::kNone)) {
    f.tcp_state = TcpState::kEstablished;
  }
  if (mine.closed && peer.closed) f.tcp_state = TcpState::kClosed;

  // App stage: metadata callbacks move the flow there; a stream that shows no
  // recognisable protocol after kAppGiveUpBytes is judged without it.
  if (f.stage == Stage::kHeader && st != nullptr &&
      st->tcp[kToServer].delivered + st->tcp[kToClient].delivered > kAppGiveUpBytes) {
    judge(f, Stage::kApp, p.payload_len ? c.ts : now_ns_);
  }
}

void Worker::handle_udp(FlowCall& c, const ParsedPacket& p, int dir) noexcept {
  Flow& f = c.f;
  c.dir = dir;
  const app::AppProtocol ap =
      app::feed_udp(dir == kToServer ? app::Dir::kToServer : app::Dir::kToClient, p.src_port, p.dst_port,
                    std::span<const uint8_t>(p.payload, p.payload_len), c.app);
  if (f.app == AppProto::kUnknown) f.app = to_app_proto(ap);
  if (f.stage == Stage::kHeader) judge(f, Stage::kApp, c.ts);
  // Every datagram is content as sent, whatever its port or protocol (a DNS
  // message's names too: they are also scanned joined, see on_dns). A
  // newline between datagrams keeps identifiers from joining across them.
  if (wants_content(f) && p.payload_len > 0) {
    scan(c, dir, std::span<const uint8_t>(p.payload, p.payload_len), scan_context(c.ts));
    end_unit(c, dir);
  }
}

void Worker::release_held(Flow& f, int dir, bool all, SelfHold self) noexcept {
  if (f.stream == kNil) return;  // only a Stream slot holds segments
  Stream& st = streams_[f.stream];
  uint32_t* link = &st.held_head[dir];
  while (*link != kNil) {
    Held& h = held_[*link];
    const bool delivered = !all && seq_diff(st.tcp[dir].next_seq, h.seq_end) >= 0;
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
        r.reason = Reason::kTcpHoleAtEnd;
      }
      if (self.result != nullptr && h.token == self.token) {
        // Counted once, by the packet's own result.
        self.result->disposition = r.disposition;
        self.result->reason = r.reason;
        self.result->trim = h.trim;
      } else {
        if (r.disposition == Disposition::kForward && h.trim.any()) ++counters_.segments_trimmed;
        push_release(h.token, f.verdict, r.disposition, r.reason, h.trim);
      }
      held_free_.push_back(freed);
    } else {
      link = &h.next;
    }
  }
}

}  // namespace ftz::engine
