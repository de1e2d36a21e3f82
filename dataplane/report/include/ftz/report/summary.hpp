#pragma once
// What a run reports, whichever packet path ran it (ftzgate-inspect,
// ftzgate-dp): the summary of totals, the compliance table and notices, and
// their formatting as text, JSON and EVE lines. DPDK-, gRPC- and
// protobuf-free, like the engine it summarises.

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::report {

// One line of the compliance table: a tenant's distinct individuals of one
// data class exported this year (all destinations), exact and estimated.
struct ComplianceRow {
  std::string tenant;
  engine::DataClass data_class = engine::DataClass::kPi;
  uint64_t individuals = 0;  // exact (a lower bound when saturated)
  bool saturated = false;
  double estimate = 0;  // HyperLogLog
  engine::ThresholdState state = engine::ThresholdState::kNormal;
};

struct ComplianceNotice {
  std::string kind;  // warn, exceeded, approval_expired, year_rollover
  int64_t ts_ns = 0;
  std::string tenant;
  std::string threshold;
  std::string mechanism;
  engine::DataClass data_class = engine::DataClass::kPi;
  uint32_t percent = 0;
  uint64_t individuals = 0;
  uint64_t line = 0;
  std::string approval_id;
};

struct SignatureRow {
  std::string name;
  uint32_t sid = 0;
  std::string data_class;
  uint64_t hits = 0;
  uint64_t confirmed = 0;
  uint64_t suppressed = 0;
};

// Totals of one run, copied out of the worker for the report.
struct InspectSummary {
  std::string pcap_path;
  std::string link_type;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t packets_written = 0;
  // Forwarded packets that needed a trim (normalize.hpp) but whose record is
  // not a whole segment (cut by the snap length; dp: a chained mbuf): the
  // trim cannot be applied, so they are dropped instead of leaving whole.
  uint64_t packets_untrimmable = 0;
  uint64_t events = 0;
  uint64_t events_dropped = 0;
  uint64_t records_backlog = 0;  // flow records still waiting for the event queue (dp: at the moment)
  int64_t first_ts_ns = 0;
  int64_t last_ts_ns = 0;
  bool truncated_file = false;  // the capture ended mid-record
  std::string read_error;
  // Records stored longer than the file's snap length, which libpcap would
  // have cut (read in full: see capture_reader.hpp), and the warning saying so.
  uint64_t records_over_snaplen = 0;
  std::string capture_warning;
  engine::WorkerCounters counters;
  engine::ReassemblyCounters reassembly;
  engine::DefragCounters defrag;
  engine::app::AppCounters app;                           // summed over the workers
  engine::Worker::ScanReasonCounts scan_uninspectable{};  // scan directions, by reasons/scan.def
  std::map<std::pair<std::string, std::string>, uint64_t> zone_pair_bytes;
  // Classification and compliance.
  bool classify_all = false;
  std::vector<SignatureRow> signatures;
  std::vector<std::pair<std::string, uint64_t>> flows_per_rule;  // rule name ("default" last), flows
  uint64_t stream_state_bytes = 0;
  uint64_t resets_written = 0;
  std::vector<ComplianceRow> compliance;
  std::vector<ComplianceNotice> notices;
  std::string compliance_note;  // why there is no ledger, if there is none
  // Memory budget of the worker, from the configuration's limits.
  uint64_t flow_capacity = 0;
  uint64_t bytes_per_flow = 0;    // hot: the flow record and its table share (Worker::bytes_per_flow)
  uint64_t stream_capacity = 0;   // Stream slots per worker (limits.stream_max_flows)
  uint64_t bytes_per_stream = 0;  // Worker::bytes_per_stream
  uint64_t peak_active_flows = 0;
};

// A notice as an EVE line (event_type "ftz_compliance"), no newline.
std::string format_notice_eve(const ComplianceNotice& n);

// Sections a run's report and ftzgate-dp's per-worker statistics both show,
// built in one place: ended flows by final action, packet reasons by
// registry key (every key, zero or not), flow records.
nlohmann::ordered_json verdicts_json(const engine::WorkerCounters& c);
nlohmann::ordered_json reasons_json(const engine::WorkerCounters& c);
nlohmann::ordered_json records_json(const engine::WorkerCounters& c, uint64_t backlog_now);

// Report of a run, as text for people or JSON for scripts.
std::string format_report_text(const InspectSummary& s);
std::string format_report_json(const InspectSummary& s);

}  // namespace ftz::report
