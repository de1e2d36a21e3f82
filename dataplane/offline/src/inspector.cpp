#include "ftz/offline/inspector.hpp"

#include <pcap/pcap.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "ftz/capture/capture_reader.hpp"
#include "ftz/report/compliance_desk.hpp"
#include "ftz/report/output_file.hpp"

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

// A packet copied out of libpcap's buffer (valid only until the next read).
struct StoredPacket {
  pcap_pkthdr hdr{};
  std::vector<uint8_t> data;
};

class Run {
 public:
  Run(std::shared_ptr<const engine::PolicyGeneration> gen, engine::LinkType link, const EventCallback& cb,
      const NoticeCallback& notice, const InspectOptions& options, report::ComplianceDesk& compliance)
      : worker_(gen, link,
                compliance.worker_options(0, engine::WorkerOptions{.classify_all = options.classify_all})),
        link_(link),
        gen_(std::move(gen)),
        on_event_(cb),
        on_notice_(notice),
        compliance_(compliance) {}

  engine::Worker& worker() { return worker_; }
  void set_dumper(pcap_dumper_t* d) { dumper_ = d; }

  // Judges the stored burst, writes what is forwarded, keeps what is held.
  void flush_burst(std::vector<StoredPacket>& burst, size_t n, report::InspectSummary& s) {
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
    worker_.process_burst(std::span<const engine::PacketView>(views, n),
                          std::span<engine::PacketResult>(results, n));
    // Held packets a packet released go out right before it, in the order
    // the sender sent them (engine::Release::before).
    const auto released = worker_.released();
    size_t next_release = 0;
    for (size_t i = 0; i < n; ++i) {
      while (next_release < released.size() && released[next_release].before <= i) {
        handle_release(released[next_release++], s);
      }
      switch (results[i].disposition) {
        case engine::Disposition::kForward:
          write(burst[i], results[i].trim, s);
          break;
        case engine::Disposition::kHold:
          held_.emplace(views[i].token, std::move(burst[i]));
          break;
        case engine::Disposition::kDrop:
          break;
      }
      if (results[i].send_resets) write_resets(worker_.resets()[results[i].reset_index], burst[i].hdr, s);
    }
    while (next_release < released.size()) handle_release(released[next_release++], s);
    drain_events(s);
    account(views[n - 1].ts_ns, s, false);
  }

  // Hands the worker's exported identifiers to the ledger and publishes the
  // tenants' threshold states back (one thread here, so merge right away).
  void account(int64_t now_ns, report::InspectSummary& s, bool stopped) {
    if (!compliance_.active()) return;
    if (!stopped) compliance_.accounting(0)->quiescent();  // this thread is the worker
    for (report::ComplianceNotice& n : compliance_.harvest(now_ns, stopped)) {
      if (on_notice_) on_notice_(n);
      s.notices.push_back(std::move(n));
    }
  }

  void handle_releases(report::InspectSummary& s) {
    for (const engine::Release& r : worker_.released()) handle_release(r, s);
  }
  void handle_release(const engine::Release& r, report::InspectSummary& s) {
    auto it = held_.find(r.token);
    if (it == held_.end()) return;
    if (r.disposition == engine::Disposition::kForward) write(it->second, r.trim, s);
    held_.erase(it);
  }

  void drain_events(report::InspectSummary& s) {
    engine::EventQueue& q = worker_.events();
    while (const engine::Event* e = q.front()) {
      if (on_event_) on_event_(*e, *gen_);
      ++s.events;
      q.pop();
    }
  }

 private:
  void write_resets(const engine::ResetPair& pair, const pcap_pkthdr& trigger, report::InspectSummary& s) {
    if (dumper_ == nullptr) return;
    for (uint32_t i = 0; i < pair.count; ++i) {
      pcap_pkthdr h = trigger;
      h.caplen = h.len = pair.frame[i].len;
      pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, pair.frame[i].bytes.data());
      ++s.resets_written;
    }
  }

  // Writes a forwarded packet as it leaves: without the bytes the engine
  // trimmed off (normalize.hpp), so the capture holds what a receiver gets.
  void write(StoredPacket& sp, const engine::PayloadTrim& trim, report::InspectSummary& s) {
    if (dumper_ == nullptr) return;
    pcap_pkthdr hdr = sp.hdr;
    const uint8_t* bytes = sp.data.data();
    if (trim.any()) {
      const engine::FrameSpan out = engine::apply_trim(link_, sp.data.data(), sp.hdr.caplen, trim);
      if (out.len == 0) {
        ++s.packets_untrimmable;  // a record cut by the snap length: the bytes to cut are not all there
        return;
      }
      bytes += out.offset;
      hdr.caplen = out.len;
      hdr.len = out.len;
    }
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &hdr, bytes);
    ++s.packets_written;
  }

  engine::Worker worker_;
  engine::LinkType link_;
  std::shared_ptr<const engine::PolicyGeneration> gen_;
  const EventCallback& on_event_;
  const NoticeCallback& on_notice_;
  report::ComplianceDesk& compliance_;
  pcap_dumper_t* dumper_ = nullptr;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, StoredPacket> held_;
};

}  // namespace

tl::expected<report::InspectSummary, std::string> inspect_capture(
    const InspectOptions& options, const std::shared_ptr<const engine::PolicyGeneration>& generation,
    const EventCallback& on_event, const NoticeCallback& on_notice) {
  auto opened = capture::CaptureReader::open(options.pcap_path);
  if (!opened) return tl::unexpected(opened.error());
  capture::CaptureReader& in = **opened;
  const int dlt = in.dlt();
  report::InspectSummary s;
  s.pcap_path = options.pcap_path;
  s.link_type = in.link_name();
  s.classify_all = options.classify_all;
  auto desk = report::ComplianceDesk::create(*generation, 1, options.demo_token_key);
  if (!desk) return tl::unexpected(desk.error());
  report::ComplianceDesk& compliance = **desk;
  if (options.on_warning) {
    for (const std::string& w : compliance.key_notes()) options.on_warning(w);
  }
  s.compliance_note = compliance.note();
  Run run(generation, in.link(), on_event, on_notice, options, compliance);

  // The dumper writes through a report::OutputFile, which sees every write error
  // (libpcap's own pcap_dump reports none). Declared before the dumper: the
  // dumper is closed first.
  std::unique_ptr<report::OutputFile> pcap_out;
  PcapHandle dead;
  DumperHandle dumper;
  if (!options.pcap_out_path.empty()) {
    auto out = report::OutputFile::open(options.pcap_out_path, /*text=*/false);
    if (!out) return tl::unexpected(out.error());
    pcap_out = std::move(*out);
    dead.reset(pcap_open_dead_with_tstamp_precision(dlt, 262144, PCAP_TSTAMP_PRECISION_NANO));
    FILE* stream = pcap_out->stream();
    if (stream != nullptr) dumper.reset(pcap_dump_fopen(dead.get(), stream));
    if (!dumper) return tl::unexpected(options.pcap_out_path + ": cannot write: " + pcap_geterr(dead.get()));
    run.set_dumper(dumper.get());
  }

  std::vector<StoredPacket> burst(engine::kBurstSize);
  size_t n = 0;
  for (;;) {
    capture::CaptureRecordView rec;
    const capture::CaptureReader::Next rc = in.next(rec);
    if (rc == capture::CaptureReader::Next::kEnd) break;
    if (rc == capture::CaptureReader::Next::kError) {
      s.truncated_file = true;
      s.read_error = in.error();
      break;
    }
    StoredPacket& sp = burst[n];
    sp.hdr.ts.tv_sec = static_cast<time_t>(rec.ts_ns / 1'000'000'000);
    sp.hdr.ts.tv_usec = static_cast<suseconds_t>(rec.ts_ns % 1'000'000'000);  // nano precision
    sp.hdr.caplen = rec.caplen;
    sp.hdr.len = rec.wirelen;
    sp.data.assign(rec.data, rec.data + rec.caplen);
    const int64_t ts = rec.ts_ns;
    if (s.packets == 0) s.first_ts_ns = ts;
    if (ts > s.last_ts_ns) s.last_ts_ns = ts;
    ++s.packets;
    s.bytes += rec.wirelen;
    if (++n == engine::kBurstSize) {
      run.flush_burst(burst, n, s);
      n = 0;
      s.peak_active_flows = std::max<uint64_t>(s.peak_active_flows, run.worker().active_flows());
    }
  }
  if (n > 0) run.flush_burst(burst, n, s);
  s.records_over_snaplen = in.over_snaplen();
  s.capture_warning = in.over_snaplen_warning();
  s.peak_active_flows = std::max<uint64_t>(s.peak_active_flows, run.worker().active_flows());
  // Flows end as the event queue has room for their records: drain between.
  while (!run.worker().finish(s.last_ts_ns)) {
    run.handle_releases(s);
    run.drain_events(s);
  }
  run.handle_releases(s);
  run.drain_events(s);
  run.account(s.last_ts_ns, s, true);
  if (pcap_out) {
    dumper.reset();  // flushes libpcap's stream into pcap_out
    if (auto closed = pcap_out->close(); !closed) {
      return tl::unexpected(closed.error() + " (" + std::to_string(s.packets_written) +
                            " packets were to be written)");
    }
  }
  s.compliance = compliance.rows();
  if (!options.state_out_path.empty()) {
    if (auto saved = compliance.save(options.state_out_path, s.last_ts_ns); !saved)
      return tl::unexpected(saved.error());
  }
  s.flow_capacity = 0;
  report::add_worker_totals(s, run.worker(), *generation);
  return s;
}

}  // namespace ftz::offline
