#include "ftz/offline/inspector.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <unordered_map>

namespace ftz::offline {

namespace {

struct PcapCloser {
  void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
struct DumperCloser {
  void operator()(pcap_dumper_t* d) const noexcept { pcap_dump_close(d); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;
using DumperHandle = std::unique_ptr<pcap_dumper_t, DumperCloser>;

struct LinkInfo {
  engine::LinkType type;
  const char* name;
};

bool link_of(int dlt, LinkInfo& out) noexcept {
  switch (dlt) {
    case DLT_EN10MB: out = {engine::LinkType::kEthernet, "EN10MB"}; return true;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
      out = {engine::LinkType::kRawIp, "RAW"};
      return true;
    case DLT_LINUX_SLL: out = {engine::LinkType::kLinuxSll, "LINUX_SLL"}; return true;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2: out = {engine::LinkType::kLinuxSll2, "LINUX_SLL2"}; return true;
#endif
    default: return false;
  }
}

// A packet copied out of libpcap's buffer (valid only until the next read).
struct StoredPacket {
  pcap_pkthdr hdr{};
  std::vector<uint8_t> data;
};

class Run {
 public:
  Run(std::shared_ptr<const engine::PolicyGeneration> gen, engine::LinkType link, const EventCallback& cb)
      : worker_(gen, link), gen_(std::move(gen)), on_event_(cb) {}

  engine::Worker& worker() { return worker_; }
  void set_dumper(pcap_dumper_t* d) { dumper_ = d; }

  // Judges the stored burst, writes what is forwarded, keeps what is held.
  void flush_burst(std::vector<StoredPacket>& burst, size_t n, InspectSummary& s) {
    engine::PacketView views[engine::kBurstSize];
    engine::PacketResult results[engine::kBurstSize];
    for (size_t i = 0; i < n; ++i) {
      const StoredPacket& sp = burst[i];
      views[i].data = sp.data.data();
      views[i].caplen = sp.hdr.caplen;
      views[i].wirelen = sp.hdr.len;
      views[i].ts_ns = int64_t{sp.hdr.ts.tv_sec} * 1'000'000'000 + sp.hdr.ts.tv_usec;  // nano precision
      views[i].token = next_token_++;
    }
    worker_.process_burst(std::span<const engine::PacketView>(views, n), std::span<engine::PacketResult>(results, n));
    for (size_t i = 0; i < n; ++i) {
      switch (results[i].disposition) {
        case engine::Disposition::kForward: write(burst[i], s); break;
        case engine::Disposition::kHold: held_.emplace(views[i].token, std::move(burst[i])); break;
        case engine::Disposition::kDrop: break;
      }
    }
    handle_releases(s);
    drain_events(s);
  }

  void handle_releases(InspectSummary& s) {
    for (const engine::Release& r : worker_.released()) {
      auto it = held_.find(r.token);
      if (it == held_.end()) continue;
      if (r.disposition == engine::Disposition::kForward) write(it->second, s);
      held_.erase(it);
    }
  }

  void drain_events(InspectSummary& s) {
    engine::EventQueue& q = worker_.events();
    while (const engine::Event* e = q.front()) {
      if (on_event_) on_event_(*e, *gen_);
      ++s.events;
      q.pop();
    }
  }

 private:
  void write(const StoredPacket& sp, InspectSummary& s) {
    if (dumper_ == nullptr) return;
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &sp.hdr, sp.data.data());
    ++s.packets_written;
  }

  engine::Worker worker_;
  std::shared_ptr<const engine::PolicyGeneration> gen_;
  const EventCallback& on_event_;
  pcap_dumper_t* dumper_ = nullptr;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, StoredPacket> held_;
};

}  // namespace

tl::expected<InspectSummary, std::string> inspect_capture(const InspectOptions& options,
                                                          std::shared_ptr<const engine::PolicyGeneration> generation,
                                                          const EventCallback& on_event) {
  char err[PCAP_ERRBUF_SIZE] = {};
  PcapHandle in(pcap_open_offline_with_tstamp_precision(options.pcap_path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err));
  if (!in) return tl::unexpected(options.pcap_path + ": cannot read capture: " + err);
  const int dlt = pcap_datalink(in.get());
  LinkInfo link{};
  if (!link_of(dlt, link)) {
    const char* name = pcap_datalink_val_to_name(dlt);
    return tl::unexpected(options.pcap_path + ": unsupported link type " + std::to_string(dlt) + " (" +
                          (name ? name : "unknown") + "); supported: EN10MB, RAW, LINUX_SLL, LINUX_SLL2");
  }
  InspectSummary s;
  s.pcap_path = options.pcap_path;
  s.link_type = link.name;
  Run run(generation, link.type, on_event);

  PcapHandle dead;
  DumperHandle dumper;
  if (!options.pcap_out_path.empty()) {
    dead.reset(pcap_open_dead_with_tstamp_precision(dlt, 262144, PCAP_TSTAMP_PRECISION_NANO));
    dumper.reset(pcap_dump_open(dead.get(), options.pcap_out_path.c_str()));
    if (!dumper) return tl::unexpected(options.pcap_out_path + ": cannot write: " + pcap_geterr(dead.get()));
    run.set_dumper(dumper.get());
  }

  std::vector<StoredPacket> burst(engine::kBurstSize);
  size_t n = 0;
  for (;;) {
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(in.get(), &hdr, &data);
    if (rc == PCAP_ERROR_BREAK) break;
    if (rc == PCAP_ERROR) {
      s.truncated_file = true;
      s.read_error = options.pcap_path + ": " + pcap_geterr(in.get());
      break;
    }
    if (rc != 1) continue;
    StoredPacket& sp = burst[n];
    sp.hdr = *hdr;
    sp.data.assign(data, data + hdr->caplen);
    const int64_t ts = int64_t{hdr->ts.tv_sec} * 1'000'000'000 + hdr->ts.tv_usec;
    if (s.packets == 0) s.first_ts_ns = ts;
    if (ts > s.last_ts_ns) s.last_ts_ns = ts;
    ++s.packets;
    s.bytes += hdr->len;
    if (++n == engine::kBurstSize) {
      run.flush_burst(burst, n, s);
      n = 0;
      s.peak_active_flows = std::max<uint64_t>(s.peak_active_flows, run.worker().active_flows());
    }
  }
  if (n > 0) run.flush_burst(burst, n, s);
  s.peak_active_flows = std::max<uint64_t>(s.peak_active_flows, run.worker().active_flows());
  run.worker().finish(s.last_ts_ns);
  run.handle_releases(s);
  run.drain_events(s);

  const engine::Worker& w = run.worker();
  s.flow_capacity = generation->spec().limits.flow_table_size;
  s.bytes_per_flow = engine::Worker::bytes_per_flow();
  s.counters = w.counters();
  s.reassembly = w.reassembly_counters();
  s.defrag = w.defrag_counters();
  s.app_tls = w.app_counters().tls_hellos;
  s.app_http = w.app_counters().http_requests;
  s.app_dns = w.app_counters().dns_messages;
  s.events_dropped = run.worker().events().dropped();
  const auto& zpb = w.zone_pair_bytes();
  const size_t nz = generation->zone_count();
  for (size_t a = 0; a < nz; ++a) {
    for (size_t b = 0; b < nz; ++b) {
      if (zpb[a * nz + b] == 0) continue;
      s.zone_pair_bytes[{std::string(generation->zone_name(static_cast<uint32_t>(a))),
                         std::string(generation->zone_name(static_cast<uint32_t>(b)))}] = zpb[a * nz + b];
    }
  }
  return s;
}

}  // namespace ftz::offline
