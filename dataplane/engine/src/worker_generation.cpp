#include "ftz/engine/worker.hpp"
#include "worker_impl.hpp"

namespace ftz::engine {

tl::expected<std::unique_ptr<sig::Scanner>, std::string> Worker::make_scanner(
    const PolicyGeneration& generation, const WorkerOptions& options, const PolicyGeneration* replacing) {
  const auto& db = generation.signatures();
  if (!db) return std::unique_ptr<sig::Scanner>{};
  sig::ScannerConfig sc;
  const uint32_t flows =
      options.inspect_max_flows != 0 ? options.inspect_max_flows : generation.spec().limits.inspect_max_flows;
  sc.max_streams = 2 * flows;  // two directions per content flow
  auto scanner = sig::Scanner::create(db, sc);
  if (scanner && replacing != nullptr && replacing->signatures() && replacing->signatures() != db) {
    (*scanner)->prepare_hand_over_from(replacing->signatures());
  }
  return scanner;
}

void Worker::set_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept {
  (void)set_generation(std::move(generation), nullptr);
}

std::unique_ptr<sig::Scanner> Worker::set_generation(std::shared_ptr<const PolicyGeneration> generation,
                                                     std::unique_ptr<sig::Scanner> scanner) noexcept {
  ++counters_.generation_switches;
  const sig::SignatureDatabase* const current_db = scanner_ ? &scanner_->database() : nullptr;
  const sig::SignatureDatabase* const next_db = generation->signatures().get();
  if (next_db == current_db) {
    // Same database (or none on both sides): streams continue untouched (a
    // hand-over still under way goes on under its own generation).
    install_generation(std::move(generation));
    return scanner ? std::move(scanner) : std::move(retired_);
  }
  // A scanner for another database than the generation's cannot be used.
  if (scanner && (next_db == nullptr || &scanner->database() != next_db)) scanner.reset();
  if (next_db != nullptr && !scanner) {
    auto built = make_scanner(*generation, options_);
    if (built)
      scanner = std::move(*built);
    else
      ++counters_.scanner_build_failed;
  }
  ++counters_.scanner_switches;
  // An earlier switch still under way: its streams first (O(streams left);
  // only back-to-back reloads pay it), so one scanner retires at a time.
  while (retiring_left_ != 0) sweep_hand_overs(static_cast<uint32_t>(content_.size()));
  std::unique_ptr<sig::Scanner> give_back = std::move(retired_);
  // Signature indices of open detections are indices into the catalog that
  // produced them; the new generation's catalog may order them differently.
  // Prepared off the worker when the caller built `scanner` with make_scanner(..., replacing).
  const std::vector<uint32_t>* prepared =
      scanner && scanner_ ? scanner->hand_over_map(&scanner_->database()) : nullptr;
  if (prepared != nullptr) {
    sig_map_ = *prepared;  // the new scanner outlives every hand-over of this switch
  } else {
    sig_map_own_ = sig::map_signatures(scanner_ ? scanner_->database().specs() : gen_->spec().signatures,
                                       scanner ? scanner->database().specs() : generation->spec().signatures);
    sig_map_ = sig_map_own_;
  }
  if (scanner && content_.empty()) allocate_content_pool();  // first database of this worker
  // O(1) from here: every content state in use now belongs to the old
  // scanner (its epoch differs) until hand_over() moves it.
  retiring_ = std::move(scanner_);
  retiring_gen_ = gen_owner_;
  retiring_left_ = static_cast<uint32_t>(content_.size() - content_free_.size());
  sweep_cursor_ = 0;
  ++scanner_epoch_;
  scanner_ = std::move(scanner);
  install_generation(std::move(generation));
  retire_if_done();  // nothing was open: the old scanner retires at once
  if (!give_back) give_back = std::move(retired_);
  return give_back;
}

void Worker::adopt_checksum_mode() noexcept {
  const ChecksumMode configured = gen_->spec().limits.checksum_validation;
  checksum_mode_ = configured != ChecksumMode::kDefault ? configured : options_.checksum_default;
  if (checksum_mode_ == ChecksumMode::kDefault) checksum_mode_ = ChecksumMode::kOn;
}

void Worker::install_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept {
  gen_owner_ = std::move(generation);
  gen_ = gen_owner_.get();
  // Not a size: the running generation's, from its next packet on (the XDP
  // program takes each generation's too).
  adopt_checksum_mode();
  if (zone_pair_bytes_.size() != gen_->zone_count() * gen_->zone_count()) {
    // Zones changed shape: the per-pair report starts over with this generation.
    zone_pair_bytes_.assign(gen_->zone_count() * gen_->zone_count(), 0);
  }
  if (flows_per_rule_.size() != gen_->spec().rules.size() + 1) {
    // Rules changed shape: the per-rule report starts over likewise.
    flows_per_rule_.assign(gen_->spec().rules.size() + 1, 0);
  }
}

void Worker::hand_over(ContentState& cs) noexcept {
  cs.epoch = scanner_epoch_;
  --retiring_left_;
  const uint32_t idx = cs.flow;
  Flow& f = flows_[idx];
  // Under the OLD scanner and generation, as if at the switch: whatever the
  // old streams still report is alerted and recorded with the old indices
  // and generation; the caller re-judges the flow under the new one.
  const PolicyGeneration* const running = gen_;
  gen_ = retiring_gen_.get();
  // A hand-over may run while a packet of another flow is judged (its
  // catch_up, or an ending it causes): that flow's own flag stays as it was.
  const bool saved_changed = content_changed_;
  const int64_t now = now_ns_;
  content_changed_ = false;
  if (retiring_) {
    const sig::ScanContext ctx = scan_context(now);
    for (int d = 0; d < 2; ++d) {
      if (cs.scan[d].stream != sig::kNoSlot) ++counters_.scan_handovers;
      ScanSink sink(*this, f, d, now);
      retiring_->hand_over(cs.scan[d], ctx, sink, scanner_.get(), sig_map_);
      if (cs.scan[d].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs.scan[d].reason));
    }
    if (content_changed_) {
      content_changed_ = false;
      // Idle since an earlier policy-only reload: judged under the
      // generation its alerts will name.
      if (f.generation != gen_->number()) rejudge(idx, now);
      judge(f, Stage::kContent, now);
    }
    settle_detections(f, false, now);
  }
  gen_ = running;
  content_changed_ = saved_changed;
  // Per-signature counts follow their signature into the new catalog.
  FlowDetections& det = cs.det;
  uint8_t kept = 0;
  for (uint8_t k = 0; k < det.kinds; ++k) {
    const uint32_t to = det.signature[k] < sig_map_.size() ? sig_map_[det.signature[k]] : sig::kNoSignature;
    if (to > UINT16_MAX) continue;
    det.signature[kept] = static_cast<uint16_t>(to);
    det.count[kept] = det.count[k];
    ++kept;
  }
  det.kinds = kept;
  retire_if_done();
}

void Worker::retire_if_done() noexcept {
  if (retiring_left_ != 0 || !retiring_gen_) return;
  // Nothing left on it: the caller frees it, never the worker. retired_ is
  // empty here: set_generation() takes it before another scanner retires.
  if (retiring_) {
    // Its counts outlive it (the report sums every scanner a run used).
    for (size_t r = 0; r < sig::kUninspectableCount; ++r)
      retired_scan_uninspectable_[r] += retiring_->counters().uninspectable[r];
    retired_ = std::move(retiring_);
  }
  retiring_gen_.reset();
}

Worker::ScanReasonCounts Worker::scan_uninspectable() const noexcept {
  ScanReasonCounts total = retired_scan_uninspectable_;
  for (const sig::Scanner* s : {scanner_.get(), retiring_.get()}) {
    if (s == nullptr) continue;
    for (size_t r = 0; r < sig::kUninspectableCount; ++r) total[r] += s->counters().uninspectable[r];
  }
  return total;
}

void Worker::catch_up(Flow& f) noexcept {
  if (f.content != kNil && content_[f.content].epoch != scanner_epoch_) [[unlikely]]
    hand_over(content_[f.content]);
}

void Worker::sweep_hand_overs(uint32_t slots) noexcept {
  const auto n = static_cast<uint32_t>(content_.size());
  for (uint32_t i = 0; i < slots && retiring_left_ != 0 && n != 0; ++i) {
    ContentState& cs = content_[sweep_cursor_];
    sweep_cursor_ = sweep_cursor_ + 1 == n ? 0 : sweep_cursor_ + 1;
    if (cs.flow != kNil && cs.epoch != scanner_epoch_) hand_over(cs);
  }
}

}  // namespace ftz::engine
