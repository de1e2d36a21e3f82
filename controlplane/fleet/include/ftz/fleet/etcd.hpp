#pragma once
// A client of etcd's v3 API (gRPC, Debian's etcd-server 3.4) for the fleet
// (docs/fleet.md): reads, writes, a compare-and-swap transaction, leases and
// watches; nothing of the fleet's own meaning, which lives in its callers.
//
// Several endpoints, one cluster: a call that finds its endpoint unavailable
// (down, cut off, without a leader) goes on to the next one, so losing a
// member or the leader costs a retry, not an error. Plain http only to a
// loopback address (labs, tests); elsewhere https with a client certificate,
// and etcd's own authentication (user and password) on top when configured.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/fleet/endpoints.hpp"

namespace ftz::fleet {

struct EtcdOptions {
  // "http://127.0.0.1:2379" (loopback only) or "https://HOST:PORT".
  std::vector<std::string> endpoints;
  // https: the CA etcd's certificates verify with, and this client's
  // certificate (chain) and key.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // etcd authentication (`etcdctl user add`), when the cluster has it on.
  std::string user;
  std::string password;
  std::chrono::milliseconds timeout{3000};  // of one call on one endpoint
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct Put {
  std::string key;
  std::string value;
  int64_t lease = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete } type = Type::kPut;
  KeyValue kv;  // a deletion carries the key and its revision
};

class Etcd;

// The changes under a prefix from a revision on, as etcd sends them (in
// revision order). A broken stream (the endpoint went away) is an error
// from next(): watch again from the last revision seen plus one.
class Watch {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  // The next batch of events (one revision's), or nullopt after `timeout`
  // without one.
  Result<std::optional<std::vector<WatchEvent>>> next(std::chrono::milliseconds timeout);

 private:
  friend class Etcd;
  struct State;
  explicit Watch(std::shared_ptr<State> state, std::thread reader);
  std::shared_ptr<State> state_;
  std::thread reader_;
};

class Etcd {
 public:
  static Result<std::unique_ptr<Etcd>> connect(const EtcdOptions& options);
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;

  // Linearizable reads (the leader's view). `store_revision`, when given,
  // receives the store's revision at the read (a watch from it + 1 misses
  // nothing, however long ago the key itself was written).
  Result<std::optional<KeyValue>> get(const std::string& key, int64_t* store_revision = nullptr);
  // Every key under `prefix`, in key order, and the store's revision then.
  struct Listing {
    std::vector<KeyValue> kvs;
    int64_t revision = 0;
  };
  Result<Listing> list(const std::string& prefix);
  // The same, page by page (at most a few dozen keys each), to `page` as
  // they come: a listing larger than memory should hold at once. The store's
  // revision of the listing.
  Result<int64_t> list(const std::string& prefix, const std::function<void(std::vector<KeyValue>&&)>& page);

  // The revision of the write.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  Result<int64_t> remove(const std::string& key);
  // One transaction: if `key`'s mod_revision is `mod_revision` (0: the key
  // does not exist), writes every one of `puts`; true if it did, false if
  // another write to `key` came first (nothing written).
  Result<bool> put_if(const std::string& key, int64_t mod_revision, const std::vector<Put>& puts);
  // One transaction: if `key`'s mod_revision is `mod_revision`, deletes the
  // keys in [from, to): how many, or nullopt if another write to `key` came
  // first (nothing deleted).
  Result<std::optional<int64_t>> delete_range_if(const std::string& key, int64_t mod_revision,
                                                 const std::string& from, const std::string& to);

  // A lease of `ttl_s` seconds: its id. Keys written with it go when it
  // expires, unless kept alive.
  Result<int64_t> grant_lease(int64_t ttl_s);
  // One keep-alive: the lease's remaining TTL (0: it has expired).
  Result<int64_t> keep_alive(int64_t lease);
  Result<void> revoke_lease(int64_t lease);

  // Changes under `prefix` from `start_revision` on (0: from now).
  Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t start_revision);

  // The endpoint the last call succeeded on.
  [[nodiscard]] std::string endpoint() const;

 private:
  struct Impl;
  explicit Etcd(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftz::fleet
