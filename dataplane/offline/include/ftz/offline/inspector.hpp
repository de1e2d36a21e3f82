#pragma once
// Offline inspection: a capture file in, the engine's verdicts, events and a
// report out. The same Worker as every other packet path; this file only
// adapts libpcap records to PacketViews and collects the results.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::offline {

struct InspectOptions {
  std::string pcap_path;
  std::string pcap_out_path;  // empty: do not write forwarded packets (and resets)
  // Audit mode: classify every flow's content whatever the policy says.
  bool classify_all = false;
  // Persist the compliance ledger here at the end (the appliance's state
  // file); empty: an offline run leaves the year's counts untouched.
  std::string state_out_path;
  // The published demo token key may be used (--demo-token-key: demos and
  // tests); otherwise the appliance's own key (docs/compliance.md).
  bool demo_token_key = false;
  // Operator warnings raised during the run (the token key), as they arise.
  std::function<void(const std::string&)> on_warning;
};

// One line of the compliance table: a tenant's distinct individuals of one
// data class exported this year (all destinations), exact and estimated.
struct ComplianceRow {
  std::string tenant;
  engine::DataClass data_class = engine::DataClass::kPi;
  uint64_t individuals = 0;  // exact (a lower bound when saturated)
  bool saturated = false;
  double estimate = 0;       // HyperLogLog
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
  uint64_t app_tls = 0;
  uint64_t app_http = 0;
  uint64_t app_dns = 0;
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
  uint64_t bytes_per_flow = 0;
  uint64_t peak_active_flows = 0;
};

// Called with each event as the logger drains the worker's queue.
using EventCallback = std::function<void(const engine::Event&, const engine::PolicyGeneration&)>;
// Called with each compliance notice (threshold crossing, approval expiry).
using NoticeCallback = std::function<void(const ComplianceNotice&)>;

// Runs the capture through one worker. Fails (with a message naming the file)
// when the capture cannot be opened or its link type is not supported, and
// when --pcap-out or --state-out cannot be written (a write error is an
// error); a file truncated mid-record is reported in the summary, with
// everything before it. Every flow record reaches on_event: the worker ends
// flows only as the event queue has room, and the queue is drained between.
tl::expected<InspectSummary, std::string> inspect_capture(const InspectOptions& options,
                                                          std::shared_ptr<const engine::PolicyGeneration> generation,
                                                          const EventCallback& on_event,
                                                          const NoticeCallback& on_notice = {});

// A notice as an EVE line (event_type "ftz_compliance"), no newline.
std::string format_notice_eve(const ComplianceNotice& n);

// Report of a run, as text for people or JSON for scripts.
std::string format_report_text(const InspectSummary& s);
std::string format_report_json(const InspectSummary& s);

}  // namespace ftz::offline
