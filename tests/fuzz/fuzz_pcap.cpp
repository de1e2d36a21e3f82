// libFuzzer target: the capture reader path of ftzgate-inspect. The input is
// a capture file (pcap or pcapng, any link type) given to
// ftz::offline::inspect_capture() as ftzgate-inspect gives it, with the
// built-in signatures, content rules that reset and --pcap-out on; inputs of
// odd size also run with --classify-all.
// Invariants:
//   - a capture that cannot be read or has an unsupported link type is an
//     error naming the file; one cut mid-record is reported as truncated
//     (read_error set), with what was read before it;
//   - every event and notice formats to one strict JSON object, and the JSON
//     report parses too;
//   - the summary adds up: forwarded + dropped == packets (nothing stays
//     held at the end of a capture), every forwarded packet is written or
//     counted as untrimmable.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/offline/inspector.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace ftz::engine;

// Small tables (scan states, event queue, flows): inspect_capture() builds a
// worker per capture.
constexpr const char* kConfig = R"(zones:
  - name: inside
    kind: ftz
    prefixes: [10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12, "fc00::/7"]
  - name: offshore
    kind: offshore
    default: true
signature_packs: [signatures/builtin.yaml]
rules:
  - name: reset-sensitive
    match:
      src_zone: inside
      dst_zone: offshore
      data_class: sensitive_pi
    action: reset
    alert: true
  - name: block-important
    match:
      data_class: important
    action: block
defaults:
  - src_zone: inside
    dst_zone: offshore
    action: allow
    alert: true
limits:
  flow_table_size: 1024
  tcp_established_timeout_s: 60
  defrag_memcap_bytes: 65536
  defrag_max_datagrams: 16
  reassembly_memcap_bytes: 1048576
  reassembly_per_flow_bytes: 65536
  hold_max_packets: 64
  events_per_second: 10000000
  inspect_max_flows: 16
  event_queue_size: 64
)";

std::shared_ptr<const PolicyGeneration> generation() {
  static const auto gen = [] {
    auto loaded =
        ftz::config::load_config_from_string(kConfig, ftz::fuzz::source_dir() + "/examples/fuzz.yaml");
    if (!loaded)
      ftz::fuzz::fail("the fuzz configuration does not load",
                      ftz::config::format_diagnostics(loaded.error()));
    auto g = PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1);
    if (!g) ftz::fuzz::fail("the fuzz generation does not build", g.error());
    return *g;
  }();
  return gen;
}

}  // namespace

// The generation (and its Hyperscan compile) before the first input: -timeout
// counts per input.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)generation();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  const auto gen = generation();
  const std::string& dir = ftz::fuzz::ScratchDir::path();
  ftz::offline::InspectOptions options;
  options.pcap_path = dir + "/in.pcap";
  options.pcap_out_path = dir + "/out.pcap";
  options.classify_all = size % 2 == 1;
  ftz::fuzz::write_file(options.pcap_path, data, size);

  std::string line;
  uint64_t events = 0;
  auto on_event = [&](const Event& e, const PolicyGeneration& g) {
    line.clear();
    format_eve(e, g, line);
    (void)ftz::fuzz::parse_json_line(line);
    ++events;
  };
  auto on_notice = [&](const ftz::report::ComplianceNotice& n) {
    (void)ftz::fuzz::parse_json_line(ftz::report::format_notice_eve(n));
  };
  auto summary = ftz::offline::inspect_capture(options, gen, on_event, on_notice);
  if (!summary) {
    if (summary.error().find(options.pcap_path) == std::string::npos)
      ftz::fuzz::fail("a capture error that does not name the file", summary.error());
    return 0;
  }
  const auto& s = *summary;
  if (s.truncated_file && s.read_error.empty()) ftz::fuzz::fail("a truncated capture without a reason");
  if (s.counters.packets != s.packets) ftz::fuzz::fail("packets read != packets judged");
  if (s.counters.forwarded + s.counters.dropped != s.counters.packets)
    ftz::fuzz::fail("forwarded + dropped != packets at the end of a capture");
  // Every forwarded packet is written, or counted as one whose trim its
  // cut record cannot take (regression: fuzz_pcap-untrimmable-forward-unwritten).
  if (s.packets_written + s.packets_untrimmable != s.counters.forwarded)
    ftz::fuzz::fail("packets written + untrimmable != packets forwarded",
                    std::to_string(s.packets_written) + " written, " + std::to_string(s.packets_untrimmable) +
                        " untrimmable, " + std::to_string(s.counters.forwarded) + " forwarded, " +
                        std::to_string(s.counters.dropped) + " dropped, " + std::to_string(s.packets) +
                        " read");
  (void)ftz::report::format_report_text(s);
  std::string report = ftz::report::format_report_json(s);
  if (!report.empty() && report.back() == '\n') report.pop_back();
  (void)ftz::fuzz::parse_json_line(report);
  (void)events;
  return 0;
}
