// libFuzzer target: the input as one frame of every link type through
// parse_packet(), then as a sequence of frames (fuzz_input.hpp) through a
// Worker with a deliberately small policy (tiny flow table, memcaps and
// timeouts) so eviction, defragmentation, TCP reassembly limits, holding and
// the app parsers are all reachable. Events are formatted as EVE JSON and
// parsed back strictly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ftz/engine/eve.hpp"
#include "ftz/engine/parser.hpp"
#include "ftz/engine/worker.hpp"
#include "fuzz_common.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace ftz::engine;

Prefix pfx(const char* text) {
  return *parse_prefix(text);
}

std::shared_ptr<const PolicyGeneration> make_generation() {
  PolicySpec s;
  s.name = "fuzz";
  ZoneSpec ftz;
  ftz.name = "ftz";
  ftz.kind = ZoneKind::kFtz;
  ftz.prefixes = {pfx("10.0.0.0/8"), pfx("2001:db8::/32")};
  ftz.default_tenant = 0;
  ZoneSpec off;
  off.name = "offshore";
  off.kind = ZoneKind::kOffshore;
  s.zones = {ftz, off};
  s.default_zone = 1;  // everything else is offshore: most flows are inspected exports
  TenantSpec t;
  t.name = "t";
  t.zone = 0;
  s.tenants = {t};
  RuleSpec block;
  block.name = "block-name";
  block.match.server_name_suffixes = {"block.example"};
  block.verdict.action = Action::kBlock;
  RuleSpec route;
  route.name = "route-dns";
  route.match.protocols = {L4Proto::kUdp};
  route.match.dst_ports = {{53, 53}};
  route.verdict.action = Action::kRoute;
  route.verdict.channel = 0;
  s.channels = {ChannelSpec{}};
  s.rules = {block, route};
  s.limits.flow_table_size = 16;
  s.limits.flow_evict_min_idle_ms = 0;
  s.limits.tcp_syn_timeout_s = 1;
  s.limits.tcp_established_timeout_s = 2;
  s.limits.tcp_closed_timeout_s = 1;
  s.limits.udp_timeout_s = 1;
  s.limits.other_timeout_s = 1;
  s.limits.defrag_memcap_bytes = 8 * 1024;
  s.limits.defrag_max_datagrams = 4;
  s.limits.defrag_timeout_ms = 100;
  s.limits.reassembly_memcap_bytes = 8 * sizeof(SegmentPool::Chunk);
  s.limits.reassembly_per_flow_bytes = 6000;
  s.limits.hold_max_packets = 8;
  s.limits.events_per_second = 0;  // no rate limit: every event gets formatted
  // Checksums off: random frames would almost all stop at the checksum and
  // never reach the stream normalizer this target exists to explore.
  s.limits.checksum_validation = ChecksumMode::kOff;
  s.limits.reassembly_kept_per_flow_bytes = 4096;  // small: the kept copy's limit is reached too
  return PolicyGeneration::build(std::move(s), 1);
}

// Workers are costly to build (the app buffer pool is 16 MiB): one per link
// type, reused; finish() at the end of each input returns it to empty.
Worker& worker_for(uint8_t link) {
  static const auto gen = make_generation();
  static std::unique_ptr<Worker> workers[4];
  auto& w = workers[link];
  if (!w) {
    WorkerOptions options;
    options.event_queue_capacity = 64;
    options.inspect_max_flows = 64;
    w = std::make_unique<Worker>(gen, static_cast<LinkType>(link), options);
  }
  return *w;
}

// Every event must be one strict JSON object (fuzz_common.hpp).
void drain_events(Worker& w) {
  std::string line;
  while (const Event* e = w.events().front()) {
    line.clear();
    format_eve(*e, w.generation(), line);
    (void)ftz::fuzz::parse_json_line(line);
    w.events().pop();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 20) return 0;
  // 1. The whole input as one frame, every link type, from an exact-size copy.
  {
    std::vector<uint8_t> frame(data, data + size);
    for (uint8_t link = 0; link < 4; ++link) {
      ParsedPacket p;
      const ParseResult r =
          parse_packet(static_cast<LinkType>(link), frame.data(), static_cast<uint32_t>(frame.size()), p);
      if (r.status == ParseStatus::kOk && p.payload_len > 0) {
        // The payload view must lie inside the frame.
        if (p.payload < frame.data() || p.payload + p.payload_len > frame.data() + frame.size())
          __builtin_trap();
      }
    }
  }
  if (size < 1) return 0;
  // 2. A sequence of frames through a worker.
  const uint8_t link = data[0] % 4;
  Worker& w = worker_for(link);
  static int64_t clock = 1'772'413'200'000'000'000;  // moves forward across inputs
  std::vector<std::vector<uint8_t>> frames;
  std::vector<int64_t> times;
  size_t off = 1;
  while (off + 3 <= size) {
    clock += data[off] * ftz::engine::fuzz::kTickNs + 1;
    const size_t len = (size_t{data[off + 1]} << 8) | data[off + 2];
    off += 3;
    const size_t n = len < size - off ? len : size - off;
    frames.emplace_back(data + off, data + off + n);
    times.push_back(clock);
    off += n;
  }
  std::vector<PacketView> views;
  for (size_t i = 0; i < frames.size(); ++i) {
    PacketView v;
    v.data = frames[i].data();
    v.caplen = static_cast<uint32_t>(frames[i].size());
    v.wirelen = v.caplen;
    v.ts_ns = times[i];
    v.token = i;
    views.push_back(v);
  }
  PacketResult results[kBurstSize];
  for (size_t i = 0; i < views.size(); i += kBurstSize / 4) {
    // Small bursts so later frames see earlier bursts' releases.
    const size_t n = std::min<size_t>(kBurstSize / 4, views.size() - i);
    w.process_burst(std::span<const PacketView>(views.data() + i, n), std::span<PacketResult>(results, n));
    for (const Release& r : w.released()) {
      if (r.token >= frames.size()) __builtin_trap();  // only tokens we gave
    }
    drain_events(w);
  }
  clock += 10'000'000'000;
  // finish() ends flows while their records have room: drain and call again.
  for (int round = 0; !w.finish(clock); ++round) {
    if (round > 1000) ftz::fuzz::fail("finish() never completes");
    drain_events(w);
  }
  drain_events(w);
  if (w.active_flows() != 0) __builtin_trap();
  return 0;
}
