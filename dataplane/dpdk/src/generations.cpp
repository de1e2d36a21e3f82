// Generations: building one off the workers (SIGHUP: a control thread),
// publishing it (one atomic pointer) and freeing the previous one after the
// RCU grace period (docs/dpdk.md "Reload").
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "appliance_impl.hpp"
#include "ftz/config/config.hpp"

namespace ftz::dpdk {

namespace {

uint64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

engine::WorkerOptions Appliance::worker_options(uint32_t w) const {
  engine::WorkerOptions base;
  base.event_queue_capacity = profile.event_ring_size;
  // Inline ports validate every checksum; a replayed capture accepts the
  // offloaded sums of the host that captured it, as ftzgate-inspect does.
  base.checksum_default = options.pcap_in.empty() ? engine::ChecksumMode::kOn : engine::ChecksumMode::kAuto;
  return desk->worker_options(w, base);
}

tl::expected<std::unique_ptr<Published>, std::string> Appliance::build_published(
    config::LoadedConfig cfg, uint64_t number,
    std::shared_ptr<const engine::sig::SignatureDatabase> db) const {
  // An unchanged catalog keeps the running database: no compile, and the
  // workers' scan streams continue untouched (docs/decisions/0002).
  if (!db && running && running->gen->signatures() &&
      running->gen->spec().signatures == cfg.spec.signatures) {
    db = running->gen->signatures();
  }
  if (!db && !cfg.spec.signatures.empty()) {
    // Compiled here so that a pattern Hyperscan refuses is reported at its
    // file:line:col.
    auto compiled = config::compile_signatures(cfg);
    if (!compiled) return tl::unexpected(config::format_diagnostics(compiled.error()));
    db = std::move(*compiled);
  }
  auto built = engine::PolicyGeneration::build_with_signatures(std::move(cfg.spec), number, std::move(db));
  if (!built) return tl::unexpected(built.error());
  auto p = std::make_unique<Published>();
  p->number = number;
  p->gen = std::move(*built);
  for (const engine::ChannelSpec& c : p->gen->spec().channels) {
    ChannelAction a;
    a.vlan = c.vlan;
    a.next_hop = c.next_hop_mac;
    for (size_t i = 0; i < ports.size(); ++i) {
      if (ports[i].profile.role == c.egress_role) a.port = static_cast<uint16_t>(i);
    }
    p->channels.push_back(a);
  }
  p->scanners.resize(nworkers);
  p->retired.resize(nworkers);
  if (number > 1) {
    for (uint32_t w = 0; w < nworkers; ++w) {
      // With the running generation (the one every worker runs: a reload
      // starts only after the last grace period) the signature-name map of
      // the switch is built here too, so the switch allocates nothing on the
      // worker (decision 0005).
      auto scanner =
          engine::Worker::make_scanner(*p->gen, worker_options(w), running ? running->gen.get() : nullptr);
      if (!scanner) return tl::unexpected(scanner.error());
      p->scanners[w] = std::move(*scanner);
    }
  }
  return p;
}

void Appliance::publish(std::unique_ptr<Published> p) {
  Published* raw = p.get();
  logger->add_generation(raw->number, raw->gen);  // before any worker can stamp an event with it
  desk->register_generation(*raw->gen);           // before any worker reads its tenants' states
  previous = std::move(running);
  running = std::move(p);
  published.store(raw, std::memory_order_release);
  grace_token = rte_rcu_qsbr_start(qsbr);
}

bool Appliance::poll_grace() {
  if (!previous) return false;
  if (rte_rcu_qsbr_check(qsbr, grace_token, false) != 1) return false;
  // Every worker has passed a quiescent point since the new pointer was
  // stored, so none still reads the old generation or its scanners.
  reload.last_ms = ms_since(running->requested);
  const uint64_t rss = resident_bytes();
  reload.last_extra_bytes = rss > rss_before_reload ? rss - rss_before_reload : 0;
  reload.max_ms = std::max(reload.max_ms, reload.last_ms);
  reload.max_extra_bytes = std::max(reload.max_extra_bytes, reload.last_extra_bytes);
  ++reload.reloads;
  tel.reloads.store(reload.reloads, std::memory_order_relaxed);
  tel.generation.store(running->number, std::memory_order_relaxed);
  tel.last_reload_us.store(static_cast<uint64_t>(reload.last_ms * 1000), std::memory_order_relaxed);
  std::fprintf(
      stderr, "ftzgate-dp: generation %llu running on %zu workers (%.1f ms after %s, build %.1f ms)\n",
      static_cast<unsigned long long>(running->number), workers.size(), reload.last_ms,
      applying ? ("bundle generation " + std::to_string(applying->opened.generation) + " arrived").c_str()
               : "SIGHUP",
      reload.last_build_ms);
  previous.reset();
  if (applying) {
    tel.bundle_generation.store(applying->opened.generation, std::memory_order_relaxed);
    controller_link->applied(*applying, static_cast<uint64_t>(reload.last_ms * 1000));
    applying.reset();
  }
  return true;
}

void Appliance::start_build(controller::Incoming* in) {
  rss_before_reload = resident_bytes();
  const uint64_t number = next_generation++;
  const auto requested = in != nullptr ? in->received : reload_requested;
  // The config is read (or taken from the bundle) and the Hyperscan database
  // compiled (or deserialized) off the workers and off this loop, on a
  // control thread. The result goes into `reload_result` (the future's
  // completion orders the write before get()); `in` is not touched here until
  // then.
  building = std::async(std::launch::async, [this, number, requested, in]() {
    const auto t0 = std::chrono::steady_clock::now();
    if (in != nullptr) {
      reload_result = build_published(std::move(in->opened.config), number, in->opened.signatures);
    } else {
      auto cfg = config::load_config(options.config);
      if (!cfg) {
        reload_result = tl::unexpected(config::format_diagnostics(cfg.error()));
        return;
      }
      reload_result = build_published(std::move(*cfg), number);
    }
    if (reload_result) {
      (*reload_result)->requested = requested;
      reload.last_build_ms = ms_since(t0);
    }
  });
}

void Appliance::poll_reload() {
  if (signals().reload.exchange(false)) {
    if (controller_link) {
      std::fputs("ftzgate-dp: SIGHUP ignored: the policy comes from the controller\n", stderr);
    } else {
      if (!reload_wanted) reload_requested = std::chrono::steady_clock::now();
      reload_wanted = true;
    }
  }
  if (!building.valid() && !previous && !applying) {
    if (reload_wanted) {
      reload_wanted = false;
      start_build(nullptr);
    } else if (controller_link) {
      if (std::optional<controller::Incoming> in = controller_link->take()) {
        applying = std::move(in);
        start_build(&*applying);
      }
    }
  }
  if (building.valid() && building.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    building.get();
    if (!reload_result) {
      ++reload.failures;
      tel.failures.store(reload.failures, std::memory_order_relaxed);
      reload.last_error = reload_result.error();
      std::fprintf(stderr, "%sftzgate-dp: %s: reload rejected, generation %llu keeps running\n",
                   reload_result.error().c_str(),
                   applying ? ("bundle generation " + std::to_string(applying->opened.generation)).c_str()
                            : options.config.c_str(),
                   static_cast<unsigned long long>(running->number));
      if (applying) controller_link->refused(*applying, reload_result.error());
      applying.reset();
    } else {
      publish(std::move(*reload_result));
    }
  }
  poll_grace();
  free_retired_scanners();
}

void Appliance::free_retired_scanners() {
  for (const auto& slot : workers) {
    if (const std::unique_ptr<engine::sig::Scanner> freed = slot->take_retired_scanner())
      ++reload.scanners_freed;
  }
}

void attach_controller(Appliance& a, std::unique_ptr<controller::ControllerLink> link,
                       const controller::Incoming& first) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                        first.received);
  std::fprintf(stderr, "ftzgate-dp: bundle generation %llu running (generation 1 here)\n",
               static_cast<unsigned long long>(first.opened.generation));
  a.tel.bundle_generation.store(first.opened.generation, std::memory_order_relaxed);
  link->applied(first, static_cast<uint64_t>(us.count()));
  // Under a controller the count is ftzgated's: every harvest's tokens go there too.
  if (auto outbox = a.desk->forward()) link->attach_outbox(std::move(outbox), a.desk->key_fingerprint());
  // ftzgated's states (received, or kept by the last run) before any worker reads the board.
  if (auto states = link->take_thresholds()) a.desk->set_remote_states(std::move(*states));
  // Alerts for the NOC's `show alerts`; the logger stops before the link goes.
  a.logger->set_alert_sink([l = link.get()](const engine::Event& e, const engine::PolicyGeneration& gen) {
    l->post_alert(e, gen);
  });
  a.controller_link = std::move(link);
}

}  // namespace ftz::dpdk
