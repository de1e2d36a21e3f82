#pragma once
// ftzgated's Dataplane service (proto/ftzgate/v1/dataplane.proto): data
// planes subscribe and receive the running generation's signed bundle, now
// and after every change of the running generation; they ACK or NACK each
// one. The registry behind `show dataplanes` lives here.
//
// Bundles are built (validated, Hyperscan compiled for the subscriber's
// platform, signed) outside the lock and cached per (generation, platform):
// one compile per distinct CPU, however many data planes share it.

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ftz/bundle/bundle.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"
#include "ftzgate/v1/management.pb.h"

namespace ftz::keys {
class SigningKey;
}

namespace ftz::daemon {

// Writes a system audit record (event type, success, details); false when it
// could not be written.
using AuditHook = std::function<bool(const std::string&, bool, nlohmann::ordered_json)>;

class DataplaneService final : public ftzgate::v1::Dataplane::Service {
 public:
  DataplaneService(const keys::SigningKey& key, std::function<int64_t()> clock_ms, AuditHook audit);

  // The running generation changed (start, commit, confirm timeout): every
  // subscriber gets its bundle.
  void publish(bundle::Commit running);
  // Ends every Subscribe stream (before the server shuts down).
  void stop();

  grpc::Status Subscribe(grpc::ServerContext* ctx, const ftzgate::v1::SubscribeRequest* req,
                         grpc::ServerWriter<ftzgate::v1::BundleUpdate>* writer) override;
  grpc::Status Ack(grpc::ServerContext* ctx, const ftzgate::v1::AckRequest* req,
                   ftzgate::v1::AckReply* reply) override;

  void show(ftzgate::v1::ShowDataplanesReply* reply);

 private:
  struct Record {
    std::string host;
    int streams = 0;  // open Subscribe calls
    uint64_t running_generation = 0;
    int64_t last_ack_ms = 0;
    uint64_t last_apply_us = 0;
    uint64_t nack_generation = 0;
    std::string nack_reason;
  };
  using Built = std::shared_ptr<const tl::expected<ftzgate::v1::SignedBundle, std::string>>;

  // The running generation's bundle for `platform`, built on first request.
  Built bundle_for(const bundle::Commit& running, const ftzgate::v1::HyperscanPlatform& platform);

  const keys::SigningKey& key_;
  std::function<int64_t()> clock_ms_;
  AuditHook audit_;

  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  uint64_t epoch_ = 0;  // counts publish() calls
  std::optional<bundle::Commit> running_;
  // (tune, cpu features) -> the running generation's bundle; cleared on publish.
  std::map<std::pair<uint32_t, uint64_t>, Built> cache_;
  std::map<std::string, Record> dataplanes_;

  // Serialises bundle builds: two subscribers of one platform wait for one
  // compile instead of running two.
  std::mutex build_mu_;
};

}  // namespace ftz::daemon
