#pragma once
// Offline inspection: a capture file in, the engine's verdicts, events and a
// report out. The same Worker as every other packet path; this file only
// adapts libpcap records to PacketViews and collects the results.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/generation.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/report/summary.hpp"

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

// Called with each event as the logger drains the worker's queue.
using EventCallback = std::function<void(const engine::Event&, const engine::PolicyGeneration&)>;
// Called with each compliance notice (threshold crossing, approval expiry).
using NoticeCallback = std::function<void(const report::ComplianceNotice&)>;

// Runs the capture through one worker. Fails (with a message naming the file)
// when the capture cannot be opened or its link type is not supported, and
// when --pcap-out or --state-out cannot be written (a write error is an
// error); a file truncated mid-record is reported in the summary, with
// everything before it. Every flow record reaches on_event: the worker ends
// flows only as the event queue has room, and the queue is drained between.
tl::expected<report::InspectSummary, std::string> inspect_capture(
    const InspectOptions& options, const std::shared_ptr<const engine::PolicyGeneration>& generation,
    const EventCallback& on_event, const NoticeCallback& on_notice = {});

}  // namespace ftz::offline
