#include "lanes.hpp"

#include <algorithm>
#include <cstring>

#include "ftz/engine/parser.hpp"

namespace ftz::xdp {

namespace {

uint64_t mix(uint64_t x) noexcept {
  // splitmix64's finalizer: every input bit moves every output bit.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t address_hash(const engine::IpAddr& a) noexcept {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::memcpy(&hi, a.bytes.data(), 8);
  std::memcpy(&lo, a.bytes.data() + 8, 8);
  return mix(hi ^ mix(lo));
}

}  // namespace

uint32_t worker_of(std::span<const uint8_t> frame, uint32_t n) noexcept {
  if (n <= 1) return 0;
  engine::ParsedPacket p;
  engine::parse_packet(engine::LinkType::kEthernet, frame.data(), static_cast<uint32_t>(frame.size()), p);
  if (p.ip_version == 0) return 0;
  // Addresses only (a fragment after the first has no ports), summed:
  // the same for (a, b) and (b, a).
  return static_cast<uint32_t>(mix(address_hash(p.src) + address_hash(p.dst)) % n);
}

Lanes::Lanes(uint32_t n, const std::function<std::unique_ptr<engine::Worker>(uint32_t)>& make) {
  n = std::clamp<uint32_t>(n, 1, kMaxWorkers);
  for (uint32_t w = 0; w < n; ++w) {
    lanes_.push_back(std::make_unique<Lane>());
    lanes_.back()->worker = make(w);
  }
  for (uint32_t w = 1; w < n; ++w) {
    Lane& l = *lanes_[w];
    l.thread = std::thread([&l] { run(l); });
  }
}

Lanes::~Lanes() {
  for (auto& l : lanes_) {
    if (!l->thread.joinable()) continue;
    l->round.store(kStop, std::memory_order_release);
    l->round.notify_one();
    l->thread.join();
  }
}

uint32_t Lanes::room() const noexcept {
  uint32_t room = kWaiting;
  for (const auto& l : lanes_) room = std::min(room, kWaiting - l->count);
  return room;
}

void Lanes::add(const engine::PacketView& v) noexcept {
  Lane& l = *lanes_[worker_of({v.data, v.caplen}, size())];
  l.waiting[(l.first + l.count) % kWaiting] = v;
  ++l.count;
}

bool Lanes::waiting() const noexcept {
  return std::any_of(lanes_.begin(), lanes_.end(), [](const auto& l) { return l->count > 0; });
}

void Lanes::take_batch(Lane& l) noexcept {
  l.judged = std::min<uint32_t>(l.count, engine::kBurstSize);
  for (uint32_t i = 0; i < l.judged; ++i) l.views[i] = l.waiting[(l.first + i) % kWaiting];
  l.first = (l.first + l.judged) % kWaiting;
  l.count -= l.judged;
}

void Lanes::judge(int64_t now_ns) noexcept {
  // A round number never kStop (it wraps past it).
  round_ = round_ + 1 == kStop ? 1 : round_ + 1;
  for (auto& l : lanes_) {
    take_batch(*l);
    l->now_ns = now_ns;
  }
  for (uint32_t w = 1; w < size(); ++w) {
    Lane& l = *lanes_[w];
    if (l.judged == 0) continue;  // nothing to wake it for
    l.round.store(round_, std::memory_order_release);
    l.round.notify_one();
  }
  Lane& own = *lanes_[0];
  for (uint32_t i = 0; i < own.judged; ++i) own.views[i].ts_ns = now_ns;
  own.worker->process_burst(std::span(own.views.data(), own.judged),
                            std::span(own.results.data(), own.judged));
  for (uint32_t w = 1; w < size(); ++w) {
    Lane& l = *lanes_[w];
    if (l.judged == 0) continue;
    for (uint32_t done = l.done.load(std::memory_order_acquire); done != round_;
         done = l.done.load(std::memory_order_acquire)) {
      l.done.wait(done, std::memory_order_acquire);
    }
  }
}

void Lanes::run(Lane& l) noexcept {
  uint32_t seen = 0;
  for (;;) {
    l.round.wait(seen, std::memory_order_acquire);
    const uint32_t round = l.round.load(std::memory_order_acquire);
    if (round == kStop) return;
    if (round == seen) continue;  // woken for nothing
    seen = round;
    for (uint32_t i = 0; i < l.judged; ++i) l.views[i].ts_ns = l.now_ns;
    l.worker->process_burst(std::span(l.views.data(), l.judged), std::span(l.results.data(), l.judged));
    l.done.store(round, std::memory_order_release);
    l.done.notify_one();
  }
}

std::span<const engine::PacketView> Lanes::batch(uint32_t w) const noexcept {
  return {lanes_[w]->views.data(), lanes_[w]->judged};
}

std::span<const engine::PacketResult> Lanes::results(uint32_t w) const noexcept {
  return {lanes_[w]->results.data(), lanes_[w]->judged};
}

}  // namespace ftz::xdp
