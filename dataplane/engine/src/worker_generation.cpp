#include "ftz/engine/worker.hpp"

#include "worker_impl.hpp"

namespace ftz::engine {

tl::expected<std::unique_ptr<sig::Scanner>, std::string> Worker::make_scanner(const PolicyGeneration& generation,
                                                                              const WorkerOptions& options) {
  const auto& db = generation.signatures();
  if (!db) return std::unique_ptr<sig::Scanner>{};
  sig::ScannerConfig sc;
  const uint32_t flows =
      options.inspect_max_flows != 0 ? options.inspect_max_flows : generation.spec().limits.inspect_max_flows;
  sc.max_streams = 2 * flows;  // two directions per content flow
  return sig::Scanner::create(db, sc);
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
    // Same database (or none on both sides): streams continue untouched.
    install_generation(std::move(generation));
    return scanner;
  }
  // A scanner for another database than the generation's cannot be used.
  if (scanner && (next_db == nullptr || &scanner->database() != next_db)) scanner.reset();
  if (next_db != nullptr && !scanner) {
    auto built = make_scanner(*generation, options_);
    if (built) scanner = std::move(*built);
    else ++counters_.scanner_build_failed;
  }
  ++counters_.scanner_switches;
  // Signature indices of open detections are indices into the catalog that
  // produced them; the new generation's catalog may order them differently.
  sig_map_ = sig::map_signatures(scanner_ ? scanner_->database().specs() : gen_->spec().signatures,
                                 scanner ? scanner->database().specs() : generation->spec().signatures);
  // Under the OLD scanner and generation: whatever the old streams still
  // report is alerted and recorded with the old indices and generation.
  hand_over_content(scanner.get());
  if (scanner && content_.empty()) allocate_content_pool();  // first database of this worker
  std::unique_ptr<sig::Scanner> old = std::move(scanner_);
  scanner_ = std::move(scanner);
  install_generation(std::move(generation));
  return old;
}

void Worker::install_generation(std::shared_ptr<const PolicyGeneration> generation) noexcept {
  gen_owner_ = std::move(generation);
  gen_ = gen_owner_.get();
  if (zone_pair_bytes_.size() != gen_->zone_count() * gen_->zone_count()) {
    // Zones changed shape: the per-pair report starts over with this generation.
    zone_pair_bytes_.assign(gen_->zone_count() * gen_->zone_count(), 0);
  }
  if (flows_per_rule_.size() != gen_->spec().rules.size() + 1) {
    // Rules changed shape: the per-rule report starts over likewise.
    flows_per_rule_.assign(gen_->spec().rules.size() + 1, 0);
  }
}

void Worker::hand_over_content(sig::Scanner* next) noexcept {
  // Between bursts every packet's detections are settled: pending_ is empty.
  pending_.clear();
  const int64_t now = now_ns_;
  current_ts_ = now;
  sig::ScanContext ctx;
  ctx.now_unix_s = now / 1'000'000'000;
  for (ContentState& cs : content_) {
    if (cs.flow == kNil) continue;
    Flow& f = flows_[cs.flow];
    if (scanner_) {
      current_ = &f;
      for (int d = 0; d < 2; ++d) {
        current_dir_ = d;
        if (cs.scan[d].stream != sig::kNoSlot) ++counters_.scan_handovers;
        scanner_->hand_over(cs.scan[d], ctx, *this, next, sig_map_);
        if (cs.scan[d].uninspectable) mark_uninspectable(f, uninspectable_reason_of(cs.scan[d].reason));
      }
      current_ = nullptr;
      if (content_changed_) {
        content_changed_ = false;
        // Idle since an earlier policy-only reload: judged under the
        // generation its alerts will name.
        if (f.generation != gen_->number()) rejudge(cs.flow, now);
        judge(f, Stage::kContent, now);
      }
      settle_detections(f, false);
    }
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
  }
  current_dir_ = 0;
}

}  // namespace ftz::engine
