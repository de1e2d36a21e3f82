// perf/bench-fleet-ledger's data plane: streams `count` distinct tokens of
// one tenant to ftzgated's Report call as a data plane does (batches of
// 16,384, one in flight, each sent once acknowledged), and prints how long
// it took until the last was acknowledged, as JSON. Tokens are
// splitmix64(first + i): distinct for distinct i, spread like HMAC output.
//
//   bench_report --socket PATH --dataplane-id ID --key TOKEN_KEY --tenant T
//                --zone Z --first F --count N

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

#include "ftz/engine/compliance/token_key.hpp"
#include "ftzgate/v1/dataplane.grpc.pb.h"

namespace {

namespace pb = ftzgate::v1;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("bench_report: a data plane's token batches to ftzgated, timed");
  std::string socket, id, key_path, tenant, zone;
  uint64_t first = 0, count = 0;
  int batch = 16384;
  app.add_option("--socket", socket, "ftzgated's unix socket")->required();
  app.add_option("--dataplane-id", id, "the data plane's id")->required();
  app.add_option("--key", key_path, "ftzgated's token key file (for its fingerprint)")->required();
  app.add_option("--tenant", tenant, "the tenant the tokens are of")->required();
  app.add_option("--zone", zone, "their destination zone")->required();
  app.add_option("--first", first, "the first token's index");
  app.add_option("--count", count, "how many tokens")->required();
  app.add_option("--batch", batch, "tokens per batch")->check(CLI::Range(1, 65536));
  CLI11_PARSE(app, argc, argv);

  auto key = ftz::engine::compliance::TokenKey::load(key_path, ftz::engine::compliance::MacAlgo::kHmacSha256);
  if (!key) {
    std::fprintf(stderr, "bench_report: %s\n", key.error().c_str());
    return 2;
  }
  auto stub =
      pb::Dataplane::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->Report(&ctx);
  const uint64_t boot = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t seq = 0;
  for (uint64_t sent = 0; sent < count;) {
    pb::ReportBatch b;
    b.set_dataplane_id(id);
    b.set_boot_id(boot);
    b.set_seq(++seq);
    b.set_key_fingerprint(key->fingerprint());
    b.add_tenants(tenant);
    b.add_zones(zone);
    for (int i = 0; i < batch && sent < count; ++i, ++sent) {
      pb::Token* t = b.add_tokens();
      t->set_token(splitmix64(first + sent));
      t->set_ts_unix_ns(now_ns);
      t->set_data_class(pb::DATA_CLASS_PI);
      t->set_id_type(1);
    }
    pb::ReportAck ack;
    if (!stream->Write(b) || !stream->Read(&ack) || ack.seq() != seq) {
      stream->WritesDone();
      const grpc::Status st = stream->Finish();
      std::fprintf(stderr, "bench_report: batch %llu not acknowledged: %s\n",
                   static_cast<unsigned long long>(seq), st.error_message().c_str());
      return 1;
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stream->WritesDone();
  (void)stream->Finish();
  std::printf(
      "{\"dataplane\": \"%s\", \"tokens\": %llu, \"batches\": %llu, \"seconds\": %.3f, \"tokens_per_s\": "
      "%.0f}\n",
      id.c_str(), static_cast<unsigned long long>(count), static_cast<unsigned long long>(seq), s,
      static_cast<double>(count) / s);
  return 0;
}
