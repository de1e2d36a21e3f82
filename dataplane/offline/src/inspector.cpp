#include "ftz/offline/inspector.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <optional>

#include "ftz/engine/compliance/ledger.hpp"
#include "ftz/engine/compliance/set_key.hpp"
#include "ftz/engine/eve.hpp"
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

// The compliance side of one run: key, worker accounting, ledger, board.
struct Compliance {
  std::optional<engine::compliance::TokenKey> key;
  std::unique_ptr<engine::compliance::WorkerAccounting> accounting;
  std::unique_ptr<engine::compliance::ThresholdBoard> board;
  std::unique_ptr<engine::compliance::ComplianceLedger> ledger;
};

engine::WorkerOptions worker_options(const InspectOptions& o, Compliance& c) {
  engine::WorkerOptions w;
  w.classify_all = o.classify_all;
  if (c.key) {
    w.token_key = &*c.key;
    w.accounting = c.accounting.get();
    w.thresholds = c.board.get();
  }
  return w;
}

class Run {
 public:
  Run(std::shared_ptr<const engine::PolicyGeneration> gen, engine::LinkType link, const EventCallback& cb,
      const NoticeCallback& notice, const InspectOptions& options, Compliance& compliance)
      : worker_(gen, link, worker_options(options, compliance)),
        gen_(std::move(gen)),
        on_event_(cb),
        on_notice_(notice),
        compliance_(compliance) {}

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
      if (results[i].send_resets) write_resets(worker_.resets()[results[i].reset_index], burst[i].hdr, s);
    }
    handle_releases(s);
    drain_events(s);
    account(views[n - 1].ts_ns, s, false);
  }

  // Hands the worker's exported identifiers to the ledger and publishes the
  // tenants' threshold states back (one thread here, so merge right away).
  void account(int64_t now_ns, InspectSummary& s, bool stopped) {
    if (!compliance_.ledger) {
      if (!compliance_.key) return;
      compliance_.ledger = std::make_unique<engine::compliance::ComplianceLedger>(
          engine::compliance::LedgerConfig::from_policy(gen_->spec(), *compliance_.key), now_ns);
    }
    auto& ledger = *compliance_.ledger;
    if (stopped) {
      ledger.merge_stopped(*compliance_.accounting);
    } else {
      compliance_.accounting->quiescent();
      ledger.merge(*compliance_.accounting);
    }
    auto events = ledger.evaluate(now_ns);
    auto expiries = ledger.check_approval_expiry(now_ns);
    events.insert(events.end(), expiries.begin(), expiries.end());
    for (const auto& e : events) {
      ComplianceNotice n;
      n.kind = engine::compliance::compliance_event_kind_name(e.kind);
      n.ts_ns = e.ts_ns;
      n.tenant = e.tenant_name;
      n.threshold = e.threshold;
      n.mechanism = e.mechanism;
      n.data_class = e.data_class;
      n.percent = e.percent;
      n.individuals = e.individuals;
      n.line = e.line;
      n.approval_id = e.approval_id;
      if (on_notice_) on_notice_(n);
      s.notices.push_back(std::move(n));
    }
    ledger.publish(*compliance_.board);
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
  void write_resets(const engine::ResetPair& pair, const pcap_pkthdr& trigger, InspectSummary& s) {
    if (dumper_ == nullptr) return;
    for (uint32_t i = 0; i < pair.count; ++i) {
      pcap_pkthdr h = trigger;
      h.caplen = h.len = pair.frame[i].len;
      pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, pair.frame[i].bytes.data());
      ++s.resets_written;
    }
  }

  void write(const StoredPacket& sp, InspectSummary& s) {
    if (dumper_ == nullptr) return;
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &sp.hdr, sp.data.data());
    ++s.packets_written;
  }

  engine::Worker worker_;
  std::shared_ptr<const engine::PolicyGeneration> gen_;
  const EventCallback& on_event_;
  const NoticeCallback& on_notice_;
  Compliance& compliance_;
  pcap_dumper_t* dumper_ = nullptr;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, StoredPacket> held_;
};

}  // namespace

tl::expected<InspectSummary, std::string> inspect_capture(const InspectOptions& options,
                                                          std::shared_ptr<const engine::PolicyGeneration> generation,
                                                          const EventCallback& on_event,
                                                          const NoticeCallback& on_notice) {
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
  s.classify_all = options.classify_all;
  Compliance compliance;
  const engine::ComplianceSpec& cspec = generation->spec().compliance;
  if (!cspec.key_file.empty()) {
    auto key = engine::compliance::TokenKey::load(
        cspec.key_file, cspec.use_sm3 ? engine::compliance::MacAlgo::kHmacSm3 : engine::compliance::MacAlgo::kHmacSha256);
    if (!key) return tl::unexpected(key.error());
    compliance.key.emplace(std::move(*key));
    compliance.accounting = std::make_unique<engine::compliance::WorkerAccounting>(cspec.max_tokens_per_set);
    compliance.board = std::make_unique<engine::compliance::ThresholdBoard>(generation->spec().tenants.size());
  } else {
    s.compliance_note = "no compliance.key_file in the configuration: individuals are not counted";
  }
  Run run(generation, link.type, on_event, on_notice, options, compliance);

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
  run.account(s.last_ts_ns, s, true);
  if (compliance.ledger) {
    const auto& ledger = *compliance.ledger;
    const auto& tenants = generation->spec().tenants;
    for (uint32_t t = 0; t < tenants.size(); ++t) {
      for (const engine::DataClass c : {engine::DataClass::kPi, engine::DataClass::kSensitivePi}) {
        const auto count = ledger.individuals(t, c, engine::compliance::kAllDestZones);
        if (count.at_least == 0) continue;
        ComplianceRow row;
        row.tenant = tenants[t].name;
        row.data_class = c;
        row.individuals = count.at_least;
        row.saturated = count.saturated;
        row.estimate = ledger.estimate(t, c, engine::compliance::kAllDestZones);
        row.state = ledger.tenant_state(t);
        s.compliance.push_back(row);
      }
    }
    if (!options.state_out_path.empty()) {
      if (auto saved = ledger.save(options.state_out_path, s.last_ts_ns); !saved) {
        return tl::unexpected(options.state_out_path + ": " + saved.error());
      }
    }
  }

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
  if (const engine::sig::Scanner* sc = w.scanner()) {
    const auto specs = sc->database().specs();
    const auto counters = sc->signature_counters();
    for (size_t i = 0; i < specs.size() && i < counters.size(); ++i) {
      s.signatures.push_back(SignatureRow{specs[i].name, specs[i].sid,
                                          std::string(engine::data_class_name(specs[i].data_class)), counters[i].hits,
                                          counters[i].confirmed, counters[i].suppressed});
    }
    s.stream_state_bytes = sc->stream_state_bytes();
  }
  const auto& per_rule = w.flows_per_rule();
  for (size_t r = 0; r < per_rule.size(); ++r) {
    const bool is_default = r + 1 == per_rule.size();
    s.flows_per_rule.emplace_back(is_default ? std::string("default") : generation->spec().rules[r].name, per_rule[r]);
  }
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
