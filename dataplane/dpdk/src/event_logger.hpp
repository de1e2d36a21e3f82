#pragma once
// Internal to ftzgate-dp: the logger thread (ARCHITECTURE.md, data path step
// 9). It drains every worker's event queue, formats EVE and writes it, and
// writes the compliance notices the main lcore hands it. A slow or blocked
// EVE sink stalls only this thread: the workers' queues fill (app events and
// alerts dropped and counted, flow records wait: docs/dpdk.md "Records")
// while the main lcore keeps distributing packets and serving reloads.
//
// Hand-overs: worker -> logger through the engine's SPSC event queues
// (bounded); main lcore -> logger (generations for formatting, notices)
// under a mutex held only to swap containers, never while writing; logger ->
// main lcore (offloaded drop rules of ended flows, to remove) through a
// bounded SPSC ring the logger waits on when full (a rule must not outlive
// its flow).

#include <pthread.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/drivers/flow_offload.hpp"
#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/report/flow_tally.hpp"
#include "ftz/report/output_file.hpp"
#include "ftz/report/summary.hpp"

namespace ftz::dpdk {

class EventLogger {
 public:
  // `queues`: one per worker; `eve`: null without --eve (events are still
  // drained and counted); `removals`: ring of drivers::OffloadFlow elements
  // for the main lcore, null when offload is off.
  EventLogger(std::vector<engine::EventQueue*> queues, std::unique_ptr<report::OutputFile> eve,
              rte_ring* removals);
  ~EventLogger();
  EventLogger(const EventLogger&) = delete;
  EventLogger& operator=(const EventLogger&) = delete;

  // Before start(): where alerts go besides EVE (--controller: ftzgated's
  // `show alerts`), called on the logger's thread, never on a worker's.
  using AlertSink = std::function<void(const engine::Event&, const engine::PolicyGeneration&)>;
  void set_alert_sink(AlertSink sink) { alert_sink_ = std::move(sink); }

  // Starts the thread (a DPDK control thread: off the worker lcores).
  tl::expected<void, std::string> start();
  // Drains every queue and every notice, flushes and joins. The file stays
  // open (close it with eve()).
  void stop();

  // Main lcore: a generation events may name (the logger keeps the newest 8).
  void add_generation(uint64_t number, std::shared_ptr<const engine::PolicyGeneration> gen);
  // Main lcore: a notice to write as an EVE line.
  void post_notice(const report::ComplianceNotice& n);

  [[nodiscard]] report::OutputFile* eve() noexcept { return eve_.get(); }
  // Ended flows by zone pair and rule name, from the records drained so far.
  [[nodiscard]] const report::FlowTally& tally() const noexcept { return tally_; }
  // What it did, readable from any thread.
  [[nodiscard]] uint64_t events() const noexcept { return events_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t write_errors() const noexcept {
    return write_errors_.load(std::memory_order_acquire);
  }
  [[nodiscard]] uint64_t lines_lost() const noexcept { return lines_lost_.load(std::memory_order_relaxed); }
  // Set once, before write_errors() first turns non-zero.
  [[nodiscard]] std::string first_error() const;
  // How long the thread last spent in one write/flush of the file, at most (µs).
  [[nodiscard]] uint64_t max_write_us() const noexcept {
    return max_write_us_.load(std::memory_order_relaxed);
  }

 private:
  static void* entry(void* self) noexcept;
  void run() noexcept;
  // One pass over the queues (up to `max_per_worker` each) and the notices;
  // whether anything was written.
  bool drain(uint32_t max_per_worker);
  void write_line(const std::string& line);
  void flush();
  void remove_rules(const engine::Event& e);
  const engine::PolicyGeneration* generation(uint64_t number);

  std::vector<engine::EventQueue*> queues_;
  std::unique_ptr<report::OutputFile> eve_;
  report::FlowTally tally_;
  rte_ring* removals_;
  AlertSink alert_sink_;
  pthread_t thread_{};
  bool running_ = false;
  std::atomic<bool> stop_{false};

  std::mutex mutex_;  // guards the two hand-overs below
  std::map<uint64_t, std::shared_ptr<const engine::PolicyGeneration>> posted_gens_;
  // Bounded by the policy, not by traffic: the ledger raises each notice
  // once a year per (tenant, threshold, percent) and per approval, plus one
  // rollover (ComplianceLedger::evaluate), so even a logger blocked for a
  // year holds no more than the policy defines.
  std::vector<report::ComplianceNotice> posted_notices_;
  std::atomic<uint64_t> gens_version_{0};
  std::atomic<bool> notices_waiting_{false};

  // The thread's own.
  std::map<uint64_t, std::shared_ptr<const engine::PolicyGeneration>> gens_;
  uint64_t gens_seen_ = 0;
  std::vector<report::ComplianceNotice> notices_;
  std::string line_;

  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> lines_lost_{0};
  std::atomic<uint64_t> max_write_us_{0};
};

}  // namespace ftz::dpdk
