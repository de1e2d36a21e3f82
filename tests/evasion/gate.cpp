#include "gate.hpp"

#if __has_include("ftz/engine/normalize.hpp")
#include "ftz/engine/normalize.hpp"
#define FTZ_EVASION_HAS_TRIM 1
#endif

namespace ftz::evasion {

namespace {

const char* disposition_name(engine::Disposition d) {
  switch (d) {
    case engine::Disposition::kForward:
      return "forward";
    case engine::Disposition::kHold:
      return "hold";
    case engine::Disposition::kDrop:
      return "drop";
  }
  return "?";
}

#ifdef FTZ_EVASION_HAS_TRIM
// The payload trimming of the inline contract: the frame keeps only the
// bytes the engine inspected (ftz/engine/normalize.hpp fixes lengths, the
// sequence number, the urgent pointer and the checksums). False when the
// frame cannot be trimmed: the packet path drops it.
bool trim(Bytes& frame, const engine::PayloadTrim& t) {
  if (!t.any()) return true;
  const engine::FrameSpan s =
      engine::apply_trim(engine::LinkType::kEthernet, frame.data(), static_cast<uint32_t>(frame.size()), t);
  if (s.len == 0) return false;
  frame = Bytes(frame.begin() + s.offset, frame.begin() + s.offset + s.len);
  return true;
}
#endif

}  // namespace

InlineGate::InlineGate(std::shared_ptr<const engine::PolicyGeneration> generation, ServerHost& server,
                       GateConfig config, engine::WorkerOptions options)
    : server_(server),
      config_(config),
      // Ethernet framing as on the inline paths (ftzgate-dp).
      worker_(std::move(generation), engine::LinkType::kEthernet, options),
      now_(config.start_ns) {}

Outcome InlineGate::from_inside(Bytes frame) {
  const Outcome o = process(std::move(frame), "in ");
  settle();
  return o;
}

Outcome InlineGate::from_outside(Bytes frame) {
  const Outcome o = process(std::move(frame), "out");
  settle();
  return o;
}

void InlineGate::bypass(const Bytes& frame) {
  trace_.push_back("byp " + describe(frame) + ": around the appliance");
  server_.inject(std::span<const uint8_t>(frame).subspan(kEthHeader));
  for (const Bytes& p : server_.take_output()) {
    Bytes f = with_ethernet(p, config_.server_mac, config_.client_mac);
    trace_.push_back("byp " + describe(f) + ": around the appliance");
    inbox_.push_back(std::move(f));
  }
}

void InlineGate::pump(std::chrono::milliseconds wait) {
  if (wait.count() > 0) server_.wait_output(wait);
  const bool latency = server_latency_;
  server_latency_ = false;
  settle();
  server_latency_ = latency;
}

void InlineGate::settle() {
  if (server_latency_) return;
  // Server replies go through the appliance too; what they release or
  // provoke is handled in the same loop until the wire is quiet.
  for (int rounds = 0; rounds < 1000; ++rounds) {
    for (const Bytes& p : server_.take_output()) {
      from_server_.push_back(with_ethernet(p, config_.server_mac, config_.client_mac));
    }
    if (from_server_.empty()) return;
    std::vector<Bytes> batch;
    batch.swap(from_server_);
    for (Bytes& f : batch) process(std::move(f), "srv");
  }
}

Outcome InlineGate::process(Bytes frame, const char* port) {
  engine::PacketView view;
  view.data = frame.data();
  view.caplen = view.wirelen = static_cast<uint32_t>(frame.size());
  view.ts_ns = now_;
  view.token = next_token_++;
  now_ += config_.packet_gap_ns;
  engine::PacketResult r;
  worker_.process_burst(std::span<const engine::PacketView>(&view, 1),
                        std::span<engine::PacketResult>(&r, 1));
  Outcome o{true, r.disposition, r.reason, r.verdict.action, r.send_resets};
  std::string line = std::string(port) + " " + describe(frame) + ": " + disposition_name(r.disposition);
  if (r.reason != engine::Reason::kNone) line += " (" + std::string(engine::reason_key(r.reason)) + ")";
  if (!tracing_) line.clear();
  trace_.push_back(line);
  switch (r.disposition) {
    case engine::Disposition::kForward:
#ifdef FTZ_EVASION_HAS_TRIM
      if (r.trim.any())
        trace_.back() += " (trimmed " + std::to_string(r.trim.front) + "+" + std::to_string(r.trim.back) +
                         (r.trim.clear_urgent ? ", urgent cleared" : "") + ")";
      if (!trim(frame, r.trim)) {
        trace_.back() += ": cannot trim, dropped";
        break;
      }
#endif
      deliver(std::move(frame), "forwarded");
      break;
    case engine::Disposition::kHold:
      held_.emplace(view.token, std::move(frame));
      break;
    case engine::Disposition::kDrop:
      break;
  }
  if (r.send_resets) {
    const engine::ResetPair& pair = worker_.resets()[r.reset_index];
    for (uint32_t i = 0; i < pair.count; ++i) {
      deliver(Bytes(pair.frame[i].bytes.begin(), pair.frame[i].bytes.begin() + pair.frame[i].len), "reset");
    }
  }
  after_burst();
  return o;
}

void InlineGate::after_burst() {
  // Held packets the burst (or the aging) released, as ftzgate-inspect
  // writes them: after the burst's own packets.
  for (const engine::Release& rel : worker_.released()) {
    auto it = held_.find(rel.token);
    if (it == held_.end()) continue;
    Bytes frame = std::move(it->second);
    held_.erase(it);
    if (rel.disposition == engine::Disposition::kForward) {
      ++releases_forwarded_;
#ifdef FTZ_EVASION_HAS_TRIM
      if (!trim(frame, rel.trim)) {
        trace_.push_back("rel " + describe(frame) + ": released, cannot trim, dropped");
        continue;
      }
#endif
      trace_.push_back("rel " + describe(frame) + ": released, forward");
      deliver(std::move(frame), "released");
    } else {
      ++releases_dropped_;
      trace_.push_back("rel " + describe(frame) + ": released, drop (" +
                       std::string(engine::reason_key(rel.reason)) + ")");
    }
  }
  engine::EventQueue& q = worker_.events();
  while (const engine::Event* e = q.front()) {
    events_.push_back(*e);
    q.pop();
  }
}

void InlineGate::deliver(Bytes frame, const char* why) {
  const auto f = parse_frame(frame);
  const uint32_t mask = config_.outside_prefix == 0 ? 0 : ~uint32_t{0} << (32 - config_.outside_prefix);
  if (!f || (f->dst & mask) != (config_.outside_net & mask)) {
    if (std::string_view(why) == "reset")
      trace_.push_back("    " + describe(frame) + ": reset to the inside");
    inbox_.push_back(std::move(frame));
    return;
  }
  // It left the zone: whatever happens on the way, an offshore peer can read it.
  tap_.record(frame);
  if (std::string_view(why) == "reset") trace_.push_back("    " + describe(frame) + ": reset to the outside");
  if (f->ttl <= config_.router_hops) {
    ++router_losses_;
    trace_.push_back("    " + describe(frame) + ": TTL expires before the server");
    return;
  }
  if (f->dst != config_.server) return;  // nothing else answers out there
  server_.inject(std::span<const uint8_t>(frame).subspan(kEthHeader));
}

void InlineGate::advance(int64_t ns) {
  now_ += ns;
  worker_.advance_time(now_);
  trace_.push_back("--- clock +" + std::to_string(ns / 1'000'000) + " ms");
  after_burst();
  settle();
}

void InlineGate::finish() {
  server_latency_ = false;
  settle();
  worker_.finish(now_);
  trace_.push_back("--- finish");
  after_burst();
  settle();
  server_.drain();
}

std::string InlineGate::trace() const {
  std::string out;
  for (const std::string& l : trace_) {
    if (!l.empty()) out += "  " + l + "\n";
  }
  return out;
}

}  // namespace ftz::evasion
