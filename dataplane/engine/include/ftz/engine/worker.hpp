#pragma once
// Worker: one run-to-completion instance of the engine, owned by one thread
// (a DPDK lcore, the XDP slow path, ftzgate-inspect). It parses, defragments,
// tracks flows, reassembles TCP, extracts app metadata and judges flows with
// the current PolicyGeneration. All memory is allocated in the constructor
// from the generation's limits; process_burst() does not allocate, lock, make
// syscalls or throw. Reloads go through set_generation() between bursts
// (docs/decisions/0002-reload-and-scan-state.md).
//
// Inline contract with the packet path, per packet of a burst:
//  - kForward: send it (to the channel when verdict.action is kRoute), after
//    cutting `trim` off its TCP payload (apply_trim, normalize.hpp) when it
//    is set: bytes an inspected flow's receiver must not get uninspected;
//  - kDrop: discard it, counted under `reason`;
//  - kHold: keep the packet (its token) until a later burst lists it in
//    released(): an out-of-order TCP segment of an inspected flow may not
//    reach the receiver before the bytes before it were inspected, and an IP
//    fragment waits for its datagram. Held packets are bounded by
//    limits.hold_max_packets; past it the segment is dropped (hold_overflow)
//    and the sender retransmits it.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/app/app_parser.hpp"
#include "ftz/engine/compliance/threshold_board.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"
#include "ftz/engine/defrag.hpp"
#include "ftz/engine/events.hpp"
#include "ftz/engine/flow_table.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/normalize.hpp"
#include "ftz/engine/packet.hpp"
#include "ftz/engine/parser.hpp"
#include "ftz/engine/reasons.hpp"
#include "ftz/engine/reset.hpp"
#include "ftz/engine/signatures/scanner.hpp"
#include "ftz/engine/tcp_reassembly.hpp"

namespace ftz::engine {

// Packets per process_burst() call at most. Also the prefetch distance of the
// flow lookup: every bucket and record of a burst is prefetched before the
// first packet is judged. 32 (DPDK's default burst): perf/bench_worker
// BM_WorkerHeaderOnly/*/burst:N, perf/README.md "Burst size and prefetch".
inline constexpr uint32_t kBurstSize = 32;

enum class Disposition : uint8_t { kForward, kHold, kDrop };

struct WorkerOptions {
  // 0: limits.event_queue_size of the configuration.
  uint32_t event_queue_capacity = 0;
  // Flow records waiting for room in the event queue (a per-worker FIFO,
  // allocated up front): where a packet forces a flow to end while the
  // logger is behind. Timeouts and shutdown never need it: they wait.
  uint32_t record_backlog = 256;
  // Audit mode: scan every flow's content whatever the policy says.
  bool classify_all = false;
  // Flows whose content is scanned at once (two scan states each); 0:
  // limits.inspect_max_flows of the configuration.
  uint32_t inspect_max_flows = 0;
  // Flows reassembled and app-parsed at once (a Stream slot each: TCP
  // reassembly, app parser state, SNI/Host); 0: limits.stream_max_flows of
  // the configuration. Never more than limits.flow_table_size.
  uint32_t stream_max_flows = 0;
  // Checksum validation when the configuration leaves it to the packet path
  // (limits.checksum_validation unset): inline paths kOn, captures kAuto.
  ChecksumMode checksum_default = ChecksumMode::kAuto;
  // Compliance: tokens for distinct counting and alerts. Without a key the
  // worker draws a random one (tokens then only deduplicate within the run).
  const compliance::TokenKey* token_key = nullptr;
  compliance::WorkerAccounting* accounting = nullptr;      // exported individuals
  const compliance::ThresholdBoard* thresholds = nullptr;  // tenants' threshold states
};

struct PacketResult {
  Disposition disposition = Disposition::kForward;
  Reason reason = Reason::kNone;
  Verdict verdict;
  // A reset verdict decided on this packet: resets()[reset_index] holds the
  // two RSTs the packet path sends (towards both ends).
  bool send_resets = false;
  uint8_t reset_index = 0;
  PayloadTrim trim;  // kForward: cut this off the TCP payload first
};

inline constexpr uint32_t kNoBurstIndex = UINT32_MAX;

struct Release {
  uint64_t token = 0;
  // The packet of this burst whose judging released it: the packet path
  // sends it right BEFORE that packet, in the order the sender sent them
  // (held segments came first; a receiver that got the hole's filler first
  // would take their older timestamps as PAWS duplicates). kNoBurstIndex:
  // released by time or flow end, sent after the burst.
  uint32_t before = kNoBurstIndex;
  Disposition disposition = Disposition::kForward;  // kForward or kDrop
  Reason reason = Reason::kNone;
  Verdict verdict;
  PayloadTrim trim;  // kForward: cut this off the TCP payload first
};

enum class TcpState : uint8_t { kNone, kSynSent, kSynReceived, kEstablished, kClosing, kClosed };

struct WorkerCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t non_ip = 0;
  // Every packet ends forwarded or dropped, at once or when released after a
  // hold: packets == forwarded + dropped + (packets still held).
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  uint64_t held = 0;  // times a packet was held (each is later released)
  uint64_t reasons[kReasonCount] = {};
  uint64_t flows_created = 0;
  uint64_t flows_ended = 0;
  uint64_t flows_timed_out = 0;
  uint64_t flows_evicted = 0;
  uint64_t flows_untracked = 0;
  uint64_t flows_by_action[4] = {};  // final verdict of ended flows
  uint64_t flows_inspected = 0;
  uint64_t events_rate_limited = 0;
  // Flow records (never dropped, never rate-limited; docs/eve.md "No lost records").
  uint64_t records_backlogged = 0;  // records kept in the record backlog: the event queue was full
  uint64_t record_waits = 0;        // times expiry or shutdown stopped to wait for room in the queue
  uint64_t records_refused = 0;     // flow endings a packet asked for, refused for want of a place
                                    // (reason record_backlog_full; the packet followed the fail mode)
  uint64_t records_lost = 0;        // records with no place at all: a defect, always 0
  uint64_t route_too_late = 0;
  uint64_t rejudged = 0;
  // Content inspection.
  uint64_t content_flows = 0;            // flows that got scan states
  uint64_t inspect_pool_exhausted = 0;   // inspected flows left unscanned (uninspectable)
  uint64_t stream_flows = 0;             // flows that got a Stream slot (reassembly, app parsing)
  uint64_t stream_pool_exhausted = 0;    // flows that needed one and found none (uninspectable:
                                         // resource, their pair's fail mode applied)
  uint64_t stream_metadata_skipped = 0;  // header-decided flows left without app metadata
                                         // (no spare slot, or header_decided_metadata off)
  uint64_t uninspectable_flows = 0;
  uint64_t uninspectable_by_reason[static_cast<int>(UninspectableReason::kCount)] = {};
  uint64_t fail_closed_flows = 0;  // uninspectable exports blocked by their fail mode
  // Inline normalization of exports (docs/decisions/0003).
  uint64_t segments_trimmed = 0;  // forwarded without some of their bytes
  uint64_t urgent_cleared = 0;    // urgent flag and pointer taken off
  uint64_t midstream_flows = 0;   // exports picked up without a handshake
  uint64_t scan_states_released_at_close = 0;
  uint64_t detections = 0;  // confirmed identifiers
  uint64_t detections_per_class[static_cast<int>(DataClass::kCount)] = {};
  uint64_t alerts = 0;
  uint64_t alerts_suppressed = 0;         // over limits.alerts_per_flow
  uint64_t identifiers_not_exported = 0;  // in packets that were dropped
  uint64_t resets = 0;
  // Reloads (set_generation).
  uint64_t generation_switches = 0;
  uint64_t scanner_switches = 0;  // switches to another signature database
  uint64_t scan_handovers = 0;    // open scan streams closed at a scanner switch
  uint64_t scanner_build_failed =
      0;  // no scanner for a generation with signatures: its content flows are uninspectable
};

class Worker {
 public:
  Worker(std::shared_ptr<const PolicyGeneration> generation, LinkType link, WorkerOptions options = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Judges a burst (at most kBurstSize packets). results[i] is for pkts[i].
  // Packets held earlier that may now go are listed in released() until the
  // next call. Returns the number of packets processed.
  uint32_t process_burst(std::span<const PacketView> pkts, std::span<PacketResult> results) noexcept;
  [[nodiscard]] std::span<const Release> released() const noexcept { return released_; }
  // Reset frames of this burst (see PacketResult::send_resets).
  [[nodiscard]] std::span<const ResetPair> resets() const noexcept { return {resets_.data(), reset_count_}; }

  // Ages flows and fragments at time `now_ns` (packet time); call when no
  // packets arrive so idle flows still end. Like a burst, it starts a new
  // released() list: held packets whose fragments timed out or whose flows
  // ended are listed there until the next call.
  void advance_time(int64_t now_ns) noexcept;
  // Ends every flow (shutdown / end of capture); releases held packets.
  // Flows end only while their records have room in the event queue: false
  // means flows (or records in the backlog) remain; drain events() and call
  // again until it returns true. Flows past their timeout end as timeouts.
  bool finish(int64_t now_ns) noexcept;

  // The scanner this worker needs for `generation`, sized as the constructor
  // sizes its own (2 * options.inspect_max_flows streams, default
  // ScannerConfig otherwise): null when the generation has no signatures, an
  // error when Hyperscan could not allocate. Slow path, any thread: the packet
  // path builds one per worker next to the new generation and hands it to
  // set_generation() at a burst boundary. With `replacing` (the generation
  // running when it is installed) the signature-name map of the switch is
  // built here too, so that set_generation() allocates nothing.
  static tl::expected<std::unique_ptr<sig::Scanner>, std::string> make_scanner(
      const PolicyGeneration& generation, const WorkerOptions& options,
      const PolicyGeneration* replacing = nullptr);

  // Installs a new generation between two bursts (never inside
  // process_burst()); flows are re-judged on their next packet (or when they
  // end), zones and tenant resolved again. Returns a scanner the caller frees
  // after its RCU grace period (or null); the worker frees nothing here.
  //  - Same signature database as the current scanner's (or none before and
  //    after): `scanner` is not needed and is returned as given; open scan
  //    streams continue untouched.
  //  - Another database: `scanner` is installed at once (O(1): pointer swaps)
  //    and the old one retires. Each open scan stream is handed over lazily
  //    (decision 0005): at its flow's next packet or end, or by a sweep of
  //    kHandOversPerBurst content slots at the end of each process_burst(),
  //    whichever comes first. A hand-over closes the stream under the OLD
  //    scanner and generation (sig::Scanner::hand_over: end-of-data matches
  //    and pending boundaries decided as at stream end; their alerts and
  //    compliance records carry the old generation), then the flow goes on
  //    with `scanner`, opening a new stream on its next bytes; its
  //    detections, classes and verdict stay, per-signature counts are carried
  //    to the new catalog by signature name (signatures it lacks leave the
  //    per-signature list). The old scanner is returned by the first
  //    set_generation() (or take_retired_scanner()) after its last stream was
  //    handed over: at once when it had no open stream. A switch that comes
  //    while an earlier one is still under way first hands over the rest of
  //    the earlier one (O(streams left)). Without `scanner` when one is needed
  //    (tests, offline) it is built here with make_scanner(); a scanner built
  //    for another database is discarded likewise.
  // The worker drops its reference to the previous generation once its
  // streams are handed over: the caller keeps one until the grace period
  // ends. docs/decisions/0002 and 0005.
  [[nodiscard]] std::unique_ptr<sig::Scanner> set_generation(
      std::shared_ptr<const PolicyGeneration> generation, std::unique_ptr<sig::Scanner> scanner) noexcept;
  // The scanner whose streams were all handed over since the last switch
  // (null while some are not, or when there is none); the caller frees it.
  [[nodiscard]] std::unique_ptr<sig::Scanner> take_retired_scanner() noexcept { return std::move(retired_); }
  // Content slots the end of each burst visits to hand over streams of a
  // retiring scanner: bounds the worker's share of a reload per burst
  // (perf/bench_reload measures the gap).
  static constexpr uint32_t kHandOversPerBurst = 128;
  // The same share for a worker with no packets (the packet path calls it
  // from its idle passes): without it an idle worker would keep the old
  // scanner until traffic came. False when no stream is left to hand over.
  bool hand_over_idle() noexcept {
    if (retiring_left_ == 0) return false;
    sweep_hand_overs(kHandOversPerBurst);
    return true;
  }
  // The same, building the scanner here when needed and freeing the old one
  // at once (offline use, tests).
  void set_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept;
  [[nodiscard]] const PolicyGeneration& generation() const noexcept { return *gen_; }

  [[nodiscard]] EventQueue& events() noexcept { return events_; }
  // Flow records waiting in the record backlog for room in events().
  [[nodiscard]] uint32_t record_backlog() const noexcept { return backlog_count_; }
  [[nodiscard]] const WorkerCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const ReassemblyCounters& reassembly_counters() const noexcept { return reasm_.counters(); }
  [[nodiscard]] const DefragCounters& defrag_counters() const noexcept { return defrag_.counters(); }
  [[nodiscard]] const app::AppCounters& app_counters() const noexcept { return app_counters_; }
  // Null without signatures in the generation.
  [[nodiscard]] const sig::Scanner* scanner() const noexcept { return scanner_.get(); }
  // Scan directions the scanners could not (fully) inspect, by the scanner's
  // reason (reasons/scan.def): the retired scanners' counts (kept when a
  // reload retires one) plus the running and retiring ones'.
  using ScanReasonCounts = std::array<uint64_t, sig::kUninspectableCount>;
  [[nodiscard]] ScanReasonCounts scan_uninspectable() const noexcept;
  // Flows ended per deciding rule (index = rule; the last entry: defaults).
  [[nodiscard]] const std::vector<uint64_t>& flows_per_rule() const noexcept { return flows_per_rule_; }
  // Bytes by (packet source zone, packet destination zone), zones x zones.
  [[nodiscard]] const std::vector<uint64_t>& zone_pair_bytes() const noexcept { return zone_pair_bytes_; }
  [[nodiscard]] uint32_t active_flows() const noexcept { return table_.size(); }
  [[nodiscard]] uint32_t flow_capacity() const noexcept { return table_.capacity(); }
  // Content-inspection (scan) states: limits.inspect_max_flows, and those in use.
  [[nodiscard]] uint32_t scan_state_capacity() const noexcept;
  [[nodiscard]] uint32_t scan_states_in_use() const noexcept;
  // Hot bytes per tracked flow: the flow record and its flow-table record
  // (the Stream and content slots are pools of their own, footprint()).
  [[nodiscard]] static size_t bytes_per_flow() noexcept;
  // Bytes per Stream slot (limits.stream_max_flows of them).
  [[nodiscard]] static size_t bytes_per_stream() noexcept;
  // Stream slots of this worker, and those in use.
  [[nodiscard]] uint32_t stream_capacity() const noexcept;
  [[nodiscard]] uint32_t streams_in_use() const noexcept;
  // What the constructor allocates per unit of a limit or option, and once,
  // for the memory budget checked before workers are built
  // (ftz/config/memory_budget.hpp). The scanner (streams, scratch, inflate
  // arenas), the defragmenter and the segment pool are sized there from
  // their own public types.
  struct Footprint {
    size_t per_flow = 0;          // limits.flow_table_size: flow record and table slot
    size_t per_content_flow = 0;  // options.inspect_max_flows: scan state (with signatures)
    size_t per_stream_flow = 0;   // options.stream_max_flows: reassembly and app parser state
    size_t per_held_packet = 0;   // limits.hold_max_packets: hold slot and release entry
    size_t fixed = 0;             // app parser buffers, release list for fragments, resets
  };
  [[nodiscard]] static Footprint footprint() noexcept;

 private:
  struct Flow;
  struct ContentState;
  struct Stream;
  struct StreamFeed;
  struct FlowCall;
  struct ScanSink;
  // A confirmed identifier of the packet being judged: recorded for
  // compliance and alerted once the packet's fate is known.
  struct PendingDetection {
    uint16_t signature;
    DataClass data_class;
    bool minor;
    bool to_server;
    uint8_t id_type;
    uint8_t masked_len;
    char masked[48];
    uint64_t token;
    uint64_t offset;
  };
  struct Held {
    uint64_t token;
    uint32_t seq_end;
    uint32_t next;
    PayloadTrim trim;
  };

  // A packet of the burst being judged: parsed, keyed and its flow-table
  // buckets prefetched before the first packet of the burst is judged.
  struct BurstPacket {
    ParsedPacket p;
    ParseResult parsed;
    FlowKey key;
    uint64_t hash = 0;
    // The record prefetch_flow() found for the key (FlowTable::find's guess).
    uint32_t guess = FlowTable::kNone;
    bool from_lo = true;
    bool keyed = false;  // an IP packet with its flow key (not a fragment)
  };
  // Counters of one burst, flushed into counters_ once at its end.
  struct BurstCounters {
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t forwarded = 0;
    uint64_t dropped = 0;
    uint64_t held = 0;
  };

  // Parses and keys a burst and prefetches each packet's primary bucket.
  void prepare_burst(std::span<const PacketView> pkts) noexcept;
  // Prefetches the flow a packet most likely belongs to: its table record and
  // the flow state the short path reads.
  void prefetch_flow(BurstPacket& b) const noexcept;
  // How many packets ahead of the one being judged prefetch_flow() runs.
  // Issuing all 32 packets' lines at once (four a packet) queued more misses
  // than the core keeps in flight; 8 ahead measured best on 64-byte frames
  // at 4k and 1M flows (4 lost at 1M).
  static constexpr uint32_t kRecordLookahead = 8;
  void process_one(const PacketView& pv, BurstPacket& bp, PacketResult& res) noexcept;
  // Ends timed-out flows and fragments, adding to the current released();
  // ends at most `budget` flows (a burst bounds its share of the work).
  void expire(int64_t now_ns, uint32_t budget = UINT32_MAX) noexcept;
  void process_ip(const PacketView& pv, ParsedPacket& p, const FlowKey& key, uint64_t hash, bool from_lo,
                  PacketResult& res) noexcept;
  uint32_t lookup_or_create(const PacketView& pv, const ParsedPacket& p, const FlowKey& key, uint64_t hash,
                            bool from_lo, PacketResult& res) noexcept;
  // The header-only short path of the burst loop (issue 9 goal 2): a
  // packet of an existing flow that only counts, touches the flow and
  // takes its verdict is handled here, without process_one() and
  // process_ip(), with exactly their effects; false (nothing changed) for
  // any other packet.
  bool settle(const PacketView& pv, const BurstPacket& bp, PacketResult& res) noexcept;
  // The packet changes nothing of its flow but counters, age and the
  // verdict it gets: same generation, no scan or Stream slot, judged past
  // the header stage, and not a TCP segment (whose state tracking may close
  // the flow) nor a UDP datagram the app parsers would read (DNS, HTTP over
  // UDP: app events).
  bool settled(const Flow& f, const ParsedPacket& p) const noexcept;
  // Bytes per (source zone, destination zone) of the packet's direction.
  void count_zone_pair(const Flow& f, int dir, uint32_t bytes) noexcept;
  void init_flow(uint32_t idx, const ParsedPacket& p, bool from_lo, int64_t now) noexcept;
  // A packet whose flow cannot start because an old flow's record has no
  // place: counted (record_backlog_full), untracked, the zone pair's fail mode.
  uint32_t refuse_untracked(const ParsedPacket& p, PacketResult& res) noexcept;
  void judge(Flow& f, Stage stage, int64_t now) noexcept;
  // The flow under a generation other than the one that last judged it.
  void rejudge(uint32_t idx, int64_t now) noexcept;
  void resolve_endpoints(uint32_t idx) noexcept;
  void install_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept;
  // limits.checksum_validation of gen_, or the packet path's default.
  void adopt_checksum_mode() noexcept;
  // Reload with another signature database (lazy, decision 0005): the flow's
  // scan states from retiring_ to scanner_ under the retiring generation,
  // detection indices to the new catalog (sig_map_).
  void hand_over(ContentState& cs) noexcept;
  // Hands over the flow's content state if it is still on retiring_.
  void catch_up(Flow& f) noexcept;
  // Visits up to `slots` content slots from the sweep cursor.
  void sweep_hand_overs(uint32_t slots) noexcept;
  // The last stream left retiring_ (by any path): it becomes retired_.
  void retire_if_done() noexcept;
  void allocate_content_pool();
  void handle_tcp(FlowCall& c, const ParsedPacket& p, int dir, const PacketView& pv,
                  PacketResult& res) noexcept;
  // Checks before a segment may change a flow's state (RFC 5961, RFC 7323).
  static bool rst_acceptable(const TcpTrack& mine, const TcpTrack& peer, const ParsedPacket& p) noexcept;
  static bool syn_acceptable(const TcpTrack& mine, const TcpTrack& peer, const ParsedPacket& p) noexcept;
  // Stream slots (docs/decisions/0006). A flow needs one unless the header
  // stage decided it for good and nothing of it is inspected or normalized.
  bool needs_stream(const Flow& f) const noexcept;
  // The flow's slot, taken from the pool when it needs one and has none;
  // null when it needs none, or the pool is empty (then the flow is
  // uninspectable for `resource`, counted, and its fail mode applies).
  Stream* stream_of(Flow& f) noexcept;
  void release_stream(Flow& f) noexcept;
  // A flow decided for good at the header stage takes a slot for its app
  // metadata only while more than half of the pool is free
  // (limits.header_decided_metadata); otherwise it goes without, for good.
  void take_spare_stream(Flow& f) noexcept;
  Stream& acquire_stream(Flow& f) noexcept;
  // A direction's sequence tracking: in the flow's Stream slot if it has
  // one, else in the hot record.
  TcpTrack& track(Flow& f, int dir) noexcept;
  std::string_view server_name(const Flow& f) const noexcept;
  // The last kServerNameTail bytes of the SNI / Host, for app-stage rules.
  void set_server_name(Flow& f, std::string_view name) noexcept;
  bool holds_segments(const Flow& f) const noexcept;
  // Checksums (IPv4 header, TCP/UDP) under the configured mode and the NIC's
  // hints; false with the reason to count.
  bool checksums_ok(const PacketView& pv, const ParsedPacket& p, bool l4, Reason& why) const noexcept;
  // The IPv4 header's part of checksums_ok() (l4 false), inline for the
  // short path.
  bool ip_checksum_ok(const PacketView& pv, const ParsedPacket& p, Reason& why) const noexcept;
  // Both directions closed and drained: content finished, record written,
  // scan state returned; the flow stays for stragglers until it times out.
  void close_flow(uint32_t idx, int64_t now) noexcept;
  void write_flow_record(Flow& f, FlowEndReason why, int64_t now) noexcept;
  // Returns the flow's scan state (if any) to the pool.
  void release_content(Flow& f) noexcept;
  void handle_udp(FlowCall& c, const ParsedPacket& p, int dir) noexcept;
  // Hands back held segments of `dir` whose bytes were delivered, under the
  // flow's verdict; with `all`, drops every one still held (behind a hole
  // that was never filled). `self`: the packet being judged, held by this
  // very call and already deliverable (a snap-length cut turns the rest of
  // its segment into a gap that moves the delivery point past it): its fate
  // goes into its own result instead of a Release the packet path could not
  // match with a packet it has not stored yet.
  struct SelfHold {
    uint64_t token;
    PacketResult* result;
  };
  void release_held(Flow& f, int dir, bool all, SelfHold self = {0, nullptr}) noexcept;
  void end_flow(uint32_t idx, FlowEndReason why, int64_t now) noexcept;
  void apply_verdict(const Flow& f, PacketResult& res) const noexcept;
  void push_release(uint64_t token, const Verdict& v, Disposition d, Reason r,
                    PayloadTrim trim = {}) noexcept;
  void count(const PacketResult& res, BurstCounters& bc) noexcept;
  Event* new_event(EventType type, const Flow& f, int64_t now, bool rate_limited) noexcept;
  // Flow records: a place in the event queue or, when it is full, in the
  // record backlog. record_room(): a flow may end now (a packet asks for it);
  // wait_room(): a timeout or shutdown may end one now, leaving a burst's
  // worth of queue slots to app events and alerts.
  [[nodiscard]] bool record_room() const noexcept;
  [[nodiscard]] bool wait_room() const noexcept;
  void commit_record(Event* e) noexcept;
  // Moves backlogged records into the event queue while it has room.
  void drain_backlog() noexcept;
  bool take_event_token(int64_t now) noexcept;
  uint32_t timeout_s(const Flow& f) const noexcept;
  uint8_t age_class_of(const Flow& f) const noexcept;
  void age(uint32_t idx) noexcept;
  void unlink_age(uint32_t idx) noexcept;

  // Content inspection.
  // A flow's content is scanned: signatures are loaded, the flow is an
  // export (or classify_all) and not blocked at the header stage for good.
  bool wants_content(const Flow& f) const noexcept;
  ContentState* content_of(Flow& f) noexcept;
  void scan(const FlowCall& c, int dir, std::span<const uint8_t> bytes, const sig::ScanContext& ctx) noexcept;
  void mark_uninspectable(Flow& f, UninspectableReason why) noexcept;
  void finish_content(Flow& f, int64_t now) noexcept;
  // Records the pending detections for compliance (unless the packet that
  // carried them was dropped) and raises their alerts, at time `now`.
  void settle_detections(Flow& f, bool dropped, int64_t now) noexcept;
  // Bytes the app parsers hand over (AppSink::on_content), by how they are to
  // be scanned: the direction's stream, or on their own (aside units).
  void stream_content(const FlowCall& c, int dir, app::Content what, std::span<const uint8_t> bytes) noexcept;
  // A unit inspected on its own (chunk extension, trailer, control payload,
  // DNS name): a scan state of its own, finished at once.
  void scan_aside(const FlowCall& c, int dir, std::span<const uint8_t> bytes) noexcept;
  // End of a message in `dir` of the call's flow (Scanner::end_unit).
  void end_unit(const FlowCall& c, int dir) noexcept;
  // The direction is not fully decoded but stays under inspection.
  void degrade(Flow& f, int dir, sig::Uninspectable why) noexcept;
  static sig::ScanContext scan_context(int64_t now) noexcept;
  // Content-Encoding of a request body -> the two codings the scanner decodes.
  void set_body_codings(Flow& f, ContentState& cs, std::string_view list) noexcept;

  // What the app parsers and the scanner report, for the flow (and
  // direction) of the call that fed them (FlowCall, ScanSink).
  void on_tls_client_hello(const FlowCall& c, const app::TlsClientHello& h) noexcept;
  void on_http_request(const FlowCall& c, const app::HttpRequest& r) noexcept;
  void on_http_body(const FlowCall& c, std::span<const uint8_t> body) noexcept;
  void on_dns(const FlowCall& c, const app::DnsQuery& q) noexcept;
  void on_undecodable(const FlowCall& c, app::Dir dir, app::Undecodable why) noexcept;
  void on_detection(const ScanSink& s, const sig::Detection& d) noexcept;

  std::shared_ptr<const PolicyGeneration> gen_owner_;
  const PolicyGeneration* gen_;
  LinkType link_;
  Limits limits_;
  // The table's hash key: derived from the token key (kFlowHashLabel), or
  // random with a random token key.
  FlowHashKey hash_key_;
  FlowTable table_;
  HugeArray<Flow> flows_;
  Defragmenter defrag_;
  SegmentPool segments_;
  TcpReassembler reasm_;
  app::BufferPool app_pool_;
  app::AppCounters app_counters_;
  std::vector<Held> held_;
  std::vector<uint32_t> held_free_;
  std::vector<Release> released_;
  EventQueue events_;
  std::vector<Event> backlog_;  // record backlog, a ring: oldest at backlog_head_
  uint32_t backlog_head_ = 0;
  uint32_t backlog_count_ = 0;
  // An expiry pass cut short at this packet time: flows already expired
  // then keep it as their end time, however late room is found.
  int64_t expiry_due_ns_ = 0;
  uint32_t finish_cursor_ = 0;   // finish(): the next flow-table slot to end
  bool finish_waiting_ = false;  // finish() stopped for room (counted once)
  WorkerCounters counters_;
  std::vector<uint64_t> zone_pair_bytes_;
  // Aging lists, one per timeout class (see age_class_of()).
  static constexpr uint8_t kAgeTcpSyn = 0;
  static constexpr uint8_t kAgeTcpEstablished = 1;
  static constexpr uint8_t kAgeTcpClosed = 2;
  static constexpr uint8_t kAgeUdp = 3;
  static constexpr uint8_t kAgeOther = 4;
  static constexpr uint8_t kAgeClasses = 5;
  static constexpr uint8_t kAgeNone = 0xff;
  uint32_t age_head_[kAgeClasses];
  uint32_t age_tail_[kAgeClasses];
  uint32_t age_timeout_s_[kAgeClasses] = {};
  int64_t now_ns_ = 0;
  double event_tokens_ = 0;
  int64_t event_refill_ns_ = 0;
  WorkerOptions options_;
  std::unique_ptr<sig::Scanner> scanner_;
  std::vector<ContentState> content_;
  std::vector<uint32_t> content_free_;
  std::vector<Stream> streams_;
  std::vector<uint32_t> stream_free_;
  // At a scanner switch: old signature index -> new. Into the new scanner's
  // prepared map (Scanner::prepare_hand_over_from) or sig_map_own_ when the
  // switch was not prepared for this database (built here, slow path).
  std::span<const uint32_t> sig_map_;
  std::vector<uint32_t> sig_map_own_;
  // Lazy hand-over (decision 0005): content states whose epoch differs from
  // scanner_epoch_ still hold streams of retiring_, judged under retiring_gen_.
  std::unique_ptr<sig::Scanner> retiring_;
  std::shared_ptr<const PolicyGeneration> retiring_gen_;
  std::unique_ptr<sig::Scanner> retired_;          // nothing left on it: for the caller to free
  ScanReasonCounts retired_scan_uninspectable_{};  // of every scanner retire_if_done() retired
  uint32_t scanner_epoch_ = 0;
  uint32_t retiring_left_ = 0;  // content states still on retiring_
  uint32_t sweep_cursor_ = 0;
  std::unique_ptr<compliance::TokenKey> own_key_;  // when options_ has none
  const compliance::TokenKey* key_ = nullptr;
  std::vector<PendingDetection> pending_;
  bool content_changed_ = false;
  std::vector<uint64_t> flows_per_rule_;
  std::vector<ResetPair> resets_;
  std::vector<BurstPacket> burst_;  // kBurstSize
  uint32_t reset_count_ = 0;
  // Earlier fragments of the datagram being judged: held with it if it is held.
  std::span<const uint64_t> extra_hold_tokens_;
  // The packet being judged was rebuilt from IP fragments (it cannot be
  // trimmed: its bytes travel in the fragments).
  bool from_fragments_ = false;
  uint32_t burst_index_ = kNoBurstIndex;  // the packet of the burst being judged
  ChecksumMode checksum_mode_ = ChecksumMode::kAuto;
};

}  // namespace ftz::engine
