#include "ftz/controller/controller_link.hpp"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <regex>
#include <thread>

#include "ftz/base/atomic_file.hpp"
#include "ftz/config/yaml_util.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"

namespace ftz::controller {

namespace {

namespace pb = ftzgate::v1;

constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(5);
constexpr auto kAckDeadline = std::chrono::seconds(5);
constexpr auto kWaitingNotice = std::chrono::seconds(10);

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// The generation an unopened bundle claims, for the NACK only (nothing of
// it is trusted).
uint64_t claimed_generation(const pb::SignedBundle& s) {
  pb::PolicyBundle b;
  return b.ParseFromString(s.body()) ? b.generation() : 0;
}

}  // namespace

struct ControllerLink::Impl {
  struct Report {
    uint64_t generation = 0;
    std::string sha256;
    std::optional<uint64_t> apply_us;  // else a NACK with `reason`
    std::string reason;
    std::string store;  // the bundle to store first (applied ones)
  };

  LinkOptions options;
  bundle::TrustedKeys trusted;
  pb::HyperscanPlatform platform = bundle::host_platform();
  std::string host = host_name();
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Dataplane::Stub> stub;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::optional<Incoming> pending;
  std::deque<Report> reports;
  grpc::ClientContext* stream_ctx = nullptr;  // the open Subscribe, for stop()
  uint64_t running_gen = 0;
  std::string running_sha;
  std::atomic<uint64_t> nacks{0};

  std::thread subscriber;
  std::thread reporter;

  std::string stored_path() const { return options.state_dir + "/bundle"; }

  // Opens a bundle as it arrived (wire or disk), the compliance paths
  // pointed at the state directory.
  tl::expected<Incoming, std::string> open(const pb::SignedBundle& s) {
    auto opened = bundle::open_bundle(s, trusted, platform);
    if (!opened) return tl::unexpected(opened.error());
    engine::ComplianceSpec& c = opened->config.spec.compliance;
    if (!c.key_file.empty() || !c.state_file.empty()) {
      c.key_file = options.state_dir + "/token.key";
      c.state_file = options.state_dir + "/compliance.state";
    }
    return Incoming{std::move(*opened), s.SerializeAsString(), std::chrono::steady_clock::now()};
  }

  void report(Report r) {
    {
      std::lock_guard lock(mu);
      reports.push_back(std::move(r));
    }
    cv.notify_all();
  }

  void on_bundle(const pb::SignedBundle& s) {
    {
      std::lock_guard lock(mu);
      if (running_gen != 0 && s.body_sha256() == running_sha) return;  // a resend of what runs
    }
    auto in = open(s);
    if (!in) {
      ++nacks;
      const uint64_t g = claimed_generation(s);
      std::fprintf(stderr, "ftzgate-dp: bundle (generation %llu by its own account) refused: %s\n",
                   static_cast<unsigned long long>(g), in.error().c_str());
      report(Report{g, s.body_sha256(), std::nullopt, in.error(), {}});
      return;
    }
    {
      std::lock_guard lock(mu);
      pending = std::move(*in);
    }
    cv.notify_all();
  }

  void subscribe_loop() {
    auto backoff = std::chrono::milliseconds(kFirstBackoff);
    std::string last_problem;
    for (;;) {
      grpc::ClientContext ctx;
      pb::SubscribeRequest req;
      {
        std::lock_guard lock(mu);
        if (stopping) return;
        stream_ctx = &ctx;
        req.set_running_generation(running_gen);
        req.set_running_sha256(running_sha);
      }
      req.set_dataplane_id(options.dataplane_id);
      req.set_host(host);
      *req.mutable_platform() = platform;
      auto reader = stub->Subscribe(&ctx, req);
      pb::BundleUpdate update;
      bool got = false;
      while (reader->Read(&update)) {
        if (!got && !last_problem.empty())
          std::fprintf(stderr, "ftzgate-dp: controller %s reached\n", options.target.c_str());
        got = true;
        last_problem.clear();
        backoff = kFirstBackoff;
        on_bundle(update.bundle());
      }
      const grpc::Status st = reader->Finish();
      std::unique_lock lock(mu);
      stream_ctx = nullptr;
      if (stopping) return;
      const std::string problem = st.ok() ? "the stream ended" : st.error_message();
      if (problem != last_problem) {
        std::fprintf(stderr, "ftzgate-dp: controller %s: %s; retrying (backoff up to %lld s)\n",
                     options.target.c_str(), problem.c_str(), static_cast<long long>(kMaxBackoff.count()));
        last_problem = problem;
      }
      cv.wait_for(lock, backoff, [&] { return stopping; });
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
  }

  void report_loop() {
    for (;;) {
      Report r;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !reports.empty(); });
        if (reports.empty()) return;  // stopping, and everything sent
        r = std::move(reports.front());
        reports.pop_front();
      }
      if (!r.store.empty()) {
        if (auto w = base::write_file_atomically(stored_path(), r.store, 0600); !w) {
          std::fprintf(stderr,
                       "ftzgate-dp: warning: cannot store bundle generation %llu for a headless start: %s\n",
                       static_cast<unsigned long long>(r.generation), w.error().c_str());
        }
      }
      pb::AckRequest req;
      req.set_dataplane_id(options.dataplane_id);
      req.set_generation(r.generation);
      req.set_body_sha256(r.sha256);
      if (r.apply_us) {
        req.set_apply_us(*r.apply_us);
      } else {
        req.set_nack_reason(r.reason);
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kAckDeadline);
      pb::AckReply reply;
      // Not retried: a resubscription reports the running generation anyway.
      if (const grpc::Status st = stub->Ack(&ctx, req, &reply); !st.ok()) {
        std::fprintf(stderr, "ftzgate-dp: cannot report generation %llu to the controller: %s\n",
                     static_cast<unsigned long long>(r.generation), st.error_message().c_str());
      }
    }
  }
};

tl::expected<std::unique_ptr<ControllerLink>, std::string> ControllerLink::create(LinkOptions options) {
  if (options.target.rfind("unix:", 0) != 0) {
    return tl::unexpected("--controller " + options.target +
                          ": only unix:PATH is served yet (TCP with mutual TLS is not built)");
  }
  if (options.dataplane_id.empty()) options.dataplane_id = host_name();
  static const std::regex kId("[A-Za-z0-9_.-]{1,64}");
  if (!std::regex_match(options.dataplane_id, kId)) {
    return tl::unexpected("--dataplane-id " + options.dataplane_id + ": 1-64 of [A-Za-z0-9_.-]");
  }
  auto trusted = bundle::TrustedKeys::load(options.trusted_keys_dir);
  if (!trusted) return tl::unexpected(trusted.error());
  if (::mkdir(options.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return tl::unexpected("--state-dir " + options.state_dir + ": cannot create: " + std::strerror(errno));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->trusted = std::move(*trusted);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(bundle::kMaxBundleBytes));
  impl->channel = grpc::CreateCustomChannel(impl->options.target, grpc::InsecureChannelCredentials(), args);
  impl->stub = pb::Dataplane::NewStub(impl->channel);
  Impl* raw = impl.get();
  impl->subscriber = std::thread([raw] { raw->subscribe_loop(); });
  impl->reporter = std::thread([raw] { raw->report_loop(); });
  return std::unique_ptr<ControllerLink>(new ControllerLink(std::move(impl)));
}

ControllerLink::ControllerLink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControllerLink::~ControllerLink() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    if (impl_->stream_ctx != nullptr) impl_->stream_ctx->TryCancel();
  }
  impl_->cv.notify_all();
  impl_->subscriber.join();
  impl_->reporter.join();
}

std::optional<Incoming> ControllerLink::first_bundle(const std::atomic<bool>& stop,
                                                     std::chrono::milliseconds headless_after) {
  const auto start = std::chrono::steady_clock::now();
  auto next_notice = start + kWaitingNotice;
  bool tried_stored = false;
  for (;;) {
    {
      std::unique_lock lock(impl_->mu);
      impl_->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return impl_->pending.has_value(); });
      if (impl_->pending) {
        std::optional<Incoming> out = std::move(impl_->pending);
        impl_->pending.reset();
        return out;
      }
    }
    if (stop.load()) return std::nullopt;
    const auto now = std::chrono::steady_clock::now();
    if (!tried_stored && now - start >= headless_after) {
      tried_stored = true;
      // Regular files only, and no larger than a bundle may be.
      const auto bytes = config::read_regular_file(impl_->stored_path(), bundle::kMaxBundleBytes);
      if (!bytes && bytes.error().reason != "no such file") {
        std::fprintf(stderr, "ftzgate-dp: the stored bundle %s cannot be read: %s\n",
                     impl_->stored_path().c_str(), bytes.error().reason.c_str());
      }
      if (bytes) {
        pb::SignedBundle s;
        auto in =
            s.ParseFromString(*bytes) ? impl_->open(s) : tl::unexpected(std::string("not a signed bundle"));
        if (in) {
          std::fprintf(stderr,
                       "ftzgate-dp: no bundle from %s: starting headless on the stored generation %llu\n",
                       impl_->options.target.c_str(), static_cast<unsigned long long>(in->opened.generation));
          return std::move(*in);
        }
        std::fprintf(stderr, "ftzgate-dp: the stored bundle %s is refused: %s\n",
                     impl_->stored_path().c_str(), in.error().c_str());
      }
    }
    if (now >= next_notice) {
      std::fprintf(stderr, "ftzgate-dp: waiting for the first bundle from %s (ports stay down)\n",
                   impl_->options.target.c_str());
      next_notice = now + kWaitingNotice;
    }
  }
}

std::optional<Incoming> ControllerLink::take() {
  std::lock_guard lock(impl_->mu);
  std::optional<Incoming> out = std::move(impl_->pending);
  impl_->pending.reset();
  return out;
}

void ControllerLink::applied(const Incoming& b, uint64_t apply_us) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->running_gen = b.opened.generation;
    impl_->running_sha = b.opened.body_sha256;
  }
  impl_->report({b.opened.generation, b.opened.body_sha256, apply_us, {}, b.serialized});
}

void ControllerLink::refused(const Incoming& b, const std::string& reason) {
  ++impl_->nacks;
  impl_->report({b.opened.generation, b.opened.body_sha256, std::nullopt, reason, {}});
}

uint64_t ControllerLink::running_generation() const {
  std::lock_guard lock(impl_->mu);
  return impl_->running_gen;
}

uint64_t ControllerLink::nacks() const noexcept {
  return impl_->nacks.load();
}

}  // namespace ftz::controller
