#include "event_logger.hpp"

#include <rte_lcore.h>
#include <rte_pause.h>

#include <chrono>
#include <cstring>

#include "ftz/engine/eve.hpp"

namespace ftz::dpdk {

namespace {

// A full disk shows within this time (docs/dpdk.md "Write errors").
constexpr auto kFlushEvery = std::chrono::milliseconds(100);
// Events per worker per pass: one busy worker must not starve the others.
constexpr uint32_t kPassPerWorker = 1024;
constexpr size_t kGenerationsKept = 8;  // events of older flows are long gone
// Nothing to do: the logger sleeps this long (it is not a polling lcore).
constexpr auto kIdleSleep = std::chrono::microseconds(200);

}  // namespace

EventLogger::EventLogger(std::vector<engine::EventQueue*> queues, std::unique_ptr<report::OutputFile> eve,
                         rte_ring* removals)
    : queues_(std::move(queues)), eve_(std::move(eve)), removals_(removals) {}

EventLogger::~EventLogger() {
  stop();
}

tl::expected<void, std::string> EventLogger::start() {
  // A control thread runs on the CPUs EAL leaves to control threads (not a
  // worker's), so formatting and a blocked write never take a worker's core.
  const int rc = rte_ctrl_thread_create(&thread_, "ftz-logger", nullptr, &EventLogger::entry, this);
  if (rc != 0) return tl::unexpected("logger thread: " + std::string(std::strerror(rc)));
  running_ = true;
  return {};
}

void* EventLogger::entry(void* self) noexcept {
  static_cast<EventLogger*>(self)->run();
  return nullptr;
}

void EventLogger::stop() {
  if (!running_) return;
  stop_.store(true, std::memory_order_release);
  pthread_join(thread_, nullptr);
  running_ = false;
}

void EventLogger::add_generation(uint64_t number, std::shared_ptr<const engine::PolicyGeneration> gen) {
  const std::lock_guard lock(mutex_);
  posted_gens_[number] = std::move(gen);
  while (posted_gens_.size() > kGenerationsKept) posted_gens_.erase(posted_gens_.begin());
  gens_version_.fetch_add(1, std::memory_order_release);
}

void EventLogger::post_notice(const report::ComplianceNotice& n) {
  const std::lock_guard lock(mutex_);
  posted_notices_.push_back(n);
  notices_waiting_.store(true, std::memory_order_release);
}

std::string EventLogger::first_error() const {
  // OutputFile keeps its first error and never changes it afterwards; the
  // release store of write_errors_ after it makes it visible here.
  return write_errors() > 0 && eve_ ? eve_->error() : std::string();
}

const engine::PolicyGeneration* EventLogger::generation(uint64_t number) {
  const uint64_t version = gens_version_.load(std::memory_order_acquire);
  if (version != gens_seen_) {
    const std::lock_guard lock(mutex_);
    gens_ = posted_gens_;
    gens_seen_ = version;
  }
  auto it = gens_.find(number);
  if (it != gens_.end()) return it->second.get();
  // Older than the generations kept: the newest one names its rules.
  return gens_.empty() ? nullptr : gens_.rbegin()->second.get();
}

void EventLogger::write_line(const std::string& line) {
  const auto t0 = std::chrono::steady_clock::now();
  eve_->write(line);
  const auto us = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
  if (us > max_write_us_.load(std::memory_order_relaxed)) max_write_us_.store(us, std::memory_order_relaxed);
}

void EventLogger::flush() {
  if (!eve_) return;
  eve_->flush();
  eve_->reopen_if_requested();  // after a log rotation (SIGUSR1)
  lines_lost_.store(eve_->lines_lost(), std::memory_order_relaxed);
  write_errors_.store(eve_->write_errors(), std::memory_order_release);
}

void EventLogger::remove_rules(const engine::Event& e) {
  if (removals_ == nullptr || e.type != engine::EventType::kFlow ||
      (e.verdict.action != engine::Action::kBlock && e.verdict.action != engine::Action::kReset)) {
    return;
  }
  // The flow ended: its offloaded drop rules (both directions) go. The
  // main lcore owns the rules; a full ring is waited on, never dropped.
  drivers::OffloadFlow both[2] = {{e.src, e.dst, e.src_port, e.dst_port, e.proto, e.vlan[0]},
                                  {e.dst, e.src, e.dst_port, e.src_port, e.proto, e.vlan[0]}};
  for (drivers::OffloadFlow& f : both) {
    while (rte_ring_sp_enqueue_elem(removals_, &f, sizeof(f)) != 0) {
      if (stop_.load(std::memory_order_acquire)) return;  // the main lcore is past its loop: rules go at exit
      std::this_thread::sleep_for(kIdleSleep);
    }
  }
}

bool EventLogger::drain(uint32_t max_per_worker) {
  bool busy = false;
  for (engine::EventQueue* q : queues_) {
    for (uint32_t taken = 0; taken < max_per_worker; ++taken) {
      const engine::Event* e = q->front();
      if (e == nullptr) break;
      if (const engine::PolicyGeneration* gen = generation(e->generation)) {
        tally_.count(*e, *gen);
        if (eve_) {
          line_.clear();
          engine::format_eve(*e, *gen, line_);
          line_ += '\n';
          write_line(line_);
        }
        if (alert_sink_ && e->type == engine::EventType::kAlert) alert_sink_(*e, *gen);
      }
      remove_rules(*e);
      q->pop();
      events_.store(events_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      busy = true;
    }
  }
  if (notices_waiting_.load(std::memory_order_acquire)) {
    {
      const std::lock_guard lock(mutex_);
      notices_.swap(posted_notices_);
      notices_waiting_.store(false, std::memory_order_relaxed);
    }
    for (const report::ComplianceNotice& n : notices_) {
      if (!eve_) break;
      line_ = report::format_notice_eve(n);
      line_ += '\n';
      write_line(line_);
    }
    busy = busy || !notices_.empty();
    notices_.clear();
  }
  return busy;
}

void EventLogger::run() noexcept {
  auto next_flush = std::chrono::steady_clock::now() + kFlushEvery;
  for (;;) {
    // Read before draining: after stop() every event a worker committed
    // before it finished is in a queue, and the last pass takes it.
    const bool stopping = stop_.load(std::memory_order_acquire);
    const bool busy = drain(stopping ? UINT32_MAX : kPassPerWorker);
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_flush) {
      flush();
      next_flush = now + kFlushEvery;
    }
    if (stopping && !busy) break;
    if (!busy) std::this_thread::sleep_for(kIdleSleep);
  }
  flush();
}

}  // namespace ftz::dpdk
