#include "ftz/fleet/etcd.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace ftz::fleet {

namespace {

using Clock = std::chrono::system_clock;

// Keys per listing page, and the largest response taken: a page of values
// of up to etcd's 1.5 MiB request limit each fits.
constexpr int64_t kListPage = 32;
constexpr int kMaxReceiveBytes = 64 << 20;

// A transaction whose operations run only if `key`'s mod_revision is
// `mod_revision` (0: the key does not exist).
etcdserverpb::TxnRequest guarded_by(const std::string& key, int64_t mod_revision) {
  etcdserverpb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(key);
  cmp->set_target(etcdserverpb::Compare::MOD);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_mod_revision(mod_revision);
  return req;
}

// The end of the key range that holds every key starting with `prefix`
// (etcd's idiom: the prefix with its last byte that can grow grown).
std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(std::string(what) + " " + path + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

KeyValue from_pb(const mvccpb::KeyValue& kv) {
  return {kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

// Another endpoint may answer: this one is down, cut off from its peers,
// without a leader, or too slow.
bool try_another(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

struct Endpoint {
  std::string url;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth;
  std::string token;  // etcd authentication's, for this endpoint
};

struct Etcd::Impl {
  EtcdOptions options;
  std::vector<Endpoint> endpoints;
  mutable std::mutex mutex;  // current, tokens: calls may come from several threads
  size_t current = 0;

  [[nodiscard]] std::chrono::system_clock::time_point deadline() const {
    return Clock::now() + options.timeout;
  }

  grpc::Status authenticate(Endpoint& e) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    etcdserverpb::AuthenticateRequest req;
    req.set_name(options.user);
    req.set_password(options.password);
    etcdserverpb::AuthenticateResponse resp;
    grpc::Status s = e.auth->Authenticate(&ctx, req, &resp);
    if (s.ok()) e.token = resp.token();
    return s;
  }

  void prepare(Endpoint& e, grpc::ClientContext& ctx) const {
    ctx.set_deadline(deadline());
    if (!e.token.empty()) ctx.AddMetadata("token", e.token);
  }

  // `c(endpoint, context)` on the endpoint that answered last, then on each
  // other one while they are unavailable.
  template <typename Call>
  Result<void> call(const std::string& what, Call&& c) {
    const std::lock_guard lock(mutex);
    std::string last;
    for (size_t tried = 0; tried < endpoints.size(); ++tried) {
      const size_t i = (current + tried) % endpoints.size();
      Endpoint& e = endpoints[i];
      grpc::Status s;
      for (int attempt = 0; attempt < 2; ++attempt) {
        if (!options.user.empty() && e.token.empty()) {
          s = authenticate(e);
          if (!s.ok()) break;
        }
        grpc::ClientContext ctx;
        prepare(e, ctx);
        s = c(e, ctx);
        // A token etcd no longer knows (expired, or the member restarted):
        // once more with a new one.
        if (s.error_code() != grpc::StatusCode::UNAUTHENTICATED || options.user.empty()) break;
        e.token.clear();
      }
      if (s.ok()) {
        current = i;
        return {};
      }
      last = e.url + ": " + s.error_message();
      if (!try_another(s)) return tl::unexpected(what + ": " + std::move(last));
    }
    return tl::unexpected(what + ": no etcd endpoint answered (last: " + last + ")");
  }
};

Etcd::Etcd(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Etcd::~Etcd() = default;

Result<std::unique_ptr<Etcd>> Etcd::connect(const EtcdOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::shared_ptr<grpc::ChannelCredentials> tls;
  for (const std::string& url : options.endpoints) {
    auto p = parse_endpoint(url);
    if (!p) return tl::unexpected(p.error());
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (p->tls) {
      if (!tls) {
        if (options.ca_file.empty() || options.cert_file.empty() || options.key_file.empty())
          return tl::unexpected(url + ": https needs --etcd-ca, --etcd-cert and --etcd-key");
        grpc::SslCredentialsOptions o;
        auto ca = read_file(options.ca_file, "--etcd-ca");
        auto cert = read_file(options.cert_file, "--etcd-cert");
        auto key = read_file(options.key_file, "--etcd-key");
        for (const auto* r : {&ca, &cert, &key}) {
          if (!*r) return tl::unexpected(r->error());
        }
        o.pem_root_certs = *ca;
        o.pem_cert_chain = *cert;
        o.pem_private_key = *key;
        tls = grpc::SslCredentials(o);
      }
      creds = tls;
    }
    grpc::ChannelArguments args;
    // A member that went away is found again quickly once it is back.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // A host that vanished without a reset (power, a cut link) is found
    // by pings: a watch on it ends within 15 s, not hours. 10 s is above
    // etcd's --grpc-keepalive-min-time (5 s), which refuses faster pings.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // A listing page or a watch response may hold several values of up to
    // etcd's request limit (1.5 MiB by default): above gRPC's 4 MiB default.
    args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
    Endpoint e;
    e.url = url;
    e.channel = grpc::CreateCustomChannel(p->target, creds, args);
    e.kv = etcdserverpb::KV::NewStub(e.channel);
    e.lease = etcdserverpb::Lease::NewStub(e.channel);
    e.watch = etcdserverpb::Watch::NewStub(e.channel);
    e.auth = etcdserverpb::Auth::NewStub(e.channel);
    impl->endpoints.push_back(std::move(e));
  }
  if (impl->endpoints.empty()) return tl::unexpected(std::string("no etcd endpoint"));
  return std::unique_ptr<Etcd>(new Etcd(std::move(impl)));
}

std::string Etcd::endpoint() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->endpoints[impl_->current].url;
}

Result<std::optional<KeyValue>> Etcd::get(const std::string& key, int64_t* store_revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  etcdserverpb::RangeResponse resp;
  auto ok = impl_->call("etcd get " + key,
                        [&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Range(&ctx, req, &resp); });
  if (!ok) return tl::unexpected(ok.error());
  if (store_revision != nullptr) *store_revision = resp.header().revision();
  if (resp.kvs_size() == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(from_pb(resp.kvs(0)));
}

Result<Etcd::Listing> Etcd::list(const std::string& prefix) {
  Listing l;
  auto revision = list(prefix, [&l](std::vector<KeyValue>&& kvs) {
    std::move(kvs.begin(), kvs.end(), std::back_inserter(l.kvs));
  });
  if (!revision) return tl::unexpected(revision.error());
  l.revision = *revision;
  return l;
}

Result<int64_t> Etcd::list(const std::string& prefix,
                           const std::function<void(std::vector<KeyValue>&&)>& page) {
  // In pages, all at the first page's revision: one consistent snapshot,
  // however many keys there are, in responses of bounded size.
  etcdserverpb::RangeRequest req;
  req.set_key(prefix);
  req.set_range_end(prefix_end(prefix));
  req.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  req.set_sort_target(etcdserverpb::RangeRequest::KEY);
  req.set_limit(kListPage);
  int64_t revision = 0;
  for (;;) {
    etcdserverpb::RangeResponse resp;
    auto ok = impl_->call("etcd list " + prefix, [&](Endpoint& e, grpc::ClientContext& ctx) {
      return e.kv->Range(&ctx, req, &resp);
    });
    if (!ok) return tl::unexpected(ok.error());
    if (revision == 0) {
      revision = resp.header().revision();
      req.set_revision(revision);
    }
    std::vector<KeyValue> kvs;
    kvs.reserve(static_cast<size_t>(resp.kvs_size()));
    for (const auto& kv : resp.kvs()) kvs.push_back(from_pb(kv));
    const bool more = resp.more() && resp.kvs_size() > 0;
    if (more) req.set_key(resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0'));
    page(std::move(kvs));
    if (!more) return revision;
  }
}

Result<int64_t> Etcd::put(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  etcdserverpb::PutResponse resp;
  auto ok = impl_->call("etcd put " + key,
                        [&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Put(&ctx, req, &resp); });
  if (!ok) return tl::unexpected(ok.error());
  return resp.header().revision();
}

Result<int64_t> Etcd::remove(const std::string& key) {
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  etcdserverpb::DeleteRangeResponse resp;
  auto ok = impl_->call("etcd delete " + key, [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.kv->DeleteRange(&ctx, req, &resp);
  });
  if (!ok) return tl::unexpected(ok.error());
  return resp.header().revision();
}

Result<bool> Etcd::put_if(const std::string& key, int64_t mod_revision, const std::vector<Put>& puts) {
  etcdserverpb::TxnRequest req = guarded_by(key, mod_revision);
  for (const Put& p : puts) {
    auto* put = req.add_success()->mutable_request_put();
    put->set_key(p.key);
    put->set_value(p.value);
    put->set_lease(p.lease);
  }
  etcdserverpb::TxnResponse resp;
  int attempts = 0;
  auto ok = impl_->call("etcd transaction on " + key, [&](Endpoint& e, grpc::ClientContext& ctx) {
    ++attempts;
    return e.kv->Txn(&ctx, req, &resp);
  });
  if (!ok) return tl::unexpected(ok.error());
  if (resp.succeeded() || attempts == 1) return resp.succeeded();
  // A retry after an attempt that timed out: that attempt may have been
  // applied, and the retry then fails its own compare. It was ours when
  // `key` holds what we wrote there.
  const auto mine = std::find_if(puts.begin(), puts.end(), [&](const Put& p) { return p.key == key; });
  if (mine == puts.end()) return false;
  auto now = get(key);
  if (!now) return tl::unexpected(now.error());
  return now->has_value() && (*now)->value == mine->value;
}

Result<std::optional<int64_t>> Etcd::delete_range_if(const std::string& key, int64_t mod_revision,
                                                     const std::string& from, const std::string& to) {
  etcdserverpb::TxnRequest req = guarded_by(key, mod_revision);
  auto* del = req.add_success()->mutable_request_delete_range();
  del->set_key(from);
  del->set_range_end(to);
  etcdserverpb::TxnResponse resp;
  auto ok = impl_->call("etcd transaction on " + key,
                        [&](Endpoint& e, grpc::ClientContext& ctx) { return e.kv->Txn(&ctx, req, &resp); });
  if (!ok) return tl::unexpected(ok.error());
  // A retry after a timed-out attempt that was applied deletes nothing
  // more: the range is deleted either way.
  if (!resp.succeeded() || resp.responses_size() != 1) return std::optional<int64_t>();
  return std::optional<int64_t>(resp.responses(0).response_delete_range().deleted());
}

Result<int64_t> Etcd::grant_lease(int64_t ttl_s) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl_s);
  etcdserverpb::LeaseGrantResponse resp;
  auto ok = impl_->call("etcd lease grant", [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.lease->LeaseGrant(&ctx, req, &resp);
  });
  if (!ok) return tl::unexpected(ok.error());
  if (!resp.error().empty()) return tl::unexpected("etcd lease grant: " + resp.error());
  return resp.id();
}

Result<int64_t> Etcd::keep_alive(int64_t lease) {
  etcdserverpb::LeaseKeepAliveResponse resp;
  auto ok = impl_->call("etcd lease keep-alive", [&](Endpoint& e, grpc::ClientContext& ctx) {
    auto stream = e.lease->LeaseKeepAlive(&ctx);
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(lease);
    if (!stream->Write(req) || !stream->Read(&resp)) {
      stream->WritesDone();
      grpc::Status s = stream->Finish();
      return s.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "keep-alive stream ended") : s;
    }
    stream->WritesDone();
    ctx.TryCancel();  // one keep-alive: the stream's end is not waited for
    (void)stream->Finish();
    return grpc::Status::OK;
  });
  if (!ok) return tl::unexpected(ok.error());
  return resp.ttl();
}

Result<void> Etcd::revoke_lease(int64_t lease) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseRevokeResponse resp;
  return impl_->call("etcd lease revoke", [&](Endpoint& e, grpc::ClientContext& ctx) {
    return e.lease->LeaseRevoke(&ctx, req, &resp);
  });
}

struct Watch::State {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::vector<WatchEvent>> batches;
  std::string error;  // the stream ended (set once)
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> stream;
};

Watch::Watch(std::shared_ptr<State> state, std::thread reader)
    : state_(std::move(state)), reader_(std::move(reader)) {}

Watch::~Watch() {
  state_->context.TryCancel();
  if (reader_.joinable()) reader_.join();
}

Result<std::optional<std::vector<WatchEvent>>> Watch::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait_for(lock, timeout, [&] { return !state_->batches.empty() || !state_->error.empty(); });
  if (!state_->batches.empty()) {
    std::vector<WatchEvent> b = std::move(state_->batches.front());
    state_->batches.pop_front();
    return std::optional<std::vector<WatchEvent>>(std::move(b));
  }
  if (!state_->error.empty()) return tl::unexpected(state_->error);
  return std::optional<std::vector<WatchEvent>>();
}

Result<std::unique_ptr<Watch>> Etcd::watch(const std::string& prefix, int64_t start_revision) {
  auto state = std::make_shared<Watch::State>();
  std::string url;
  {
    const std::lock_guard lock(impl_->mutex);
    Endpoint& e = impl_->endpoints[impl_->current];
    url = e.url;
    if (!e.token.empty()) state->context.AddMetadata("token", e.token);
    // A member cut off from its cluster's leader ends the watch (etcd's
    // require-leader metadata) instead of keeping a silent stream open.
    state->context.AddMetadata("hasleader", "true");
    state->stream = e.watch->Watch(&state->context);
  }
  etcdserverpb::WatchRequest req;
  auto* create = req.mutable_create_request();
  create->set_key(prefix);
  create->set_range_end(prefix_end(prefix));
  create->set_start_revision(start_revision);
  if (!state->stream->Write(req)) {
    state->context.TryCancel();
    return tl::unexpected("etcd watch " + prefix + ": " + url + ": " +
                          state->stream->Finish().error_message());
  }
  std::thread reader([state, url] {
    etcdserverpb::WatchResponse resp;
    std::string why;
    while (state->stream->Read(&resp)) {
      if (resp.canceled()) {
        why = "etcd watch cancelled by " + url + ": " + resp.cancel_reason();
        break;
      }
      if (resp.events_size() == 0) continue;  // created, progress
      std::vector<WatchEvent> batch;
      batch.reserve(static_cast<size_t>(resp.events_size()));
      for (const auto& ev : resp.events()) {
        batch.push_back(
            {ev.type() == mvccpb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut,
             from_pb(ev.kv())});
      }
      const std::lock_guard lock(state->mutex);
      state->batches.push_back(std::move(batch));
      state->changed.notify_all();
    }
    state->context.TryCancel();
    const grpc::Status s = state->stream->Finish();
    if (why.empty())
      why = "etcd watch ended: " + url + ": " + (s.ok() ? std::string("closed") : s.error_message());
    const std::lock_guard lock(state->mutex);
    state->error = why;
    state->changed.notify_all();
  });
  return std::unique_ptr<Watch>(new Watch(std::move(state), std::move(reader)));
}

}  // namespace ftz::fleet
