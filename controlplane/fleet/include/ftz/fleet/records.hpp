#pragma once
// What the fleet keeps in etcd for its policy (decision 0022 §2), as text:
// the commit point and the committed configurations. Apart from the client,
// gRPC-free, so that the fuzz build reads them (fuzz_fleet_records): a
// value in etcd is checked, never trusted.
//
// Keys under /ftzgate/fleets/NAME/:
//   running        the fleet's commit point (FleetCommit, JSON)
//   configs/SHA    a committed configuration, content-addressed (JSON: the
//                  text and the included files, base64)

#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/fleet/endpoints.hpp"
#include "ftz/store/config_store.hpp"

namespace ftz::fleet {

struct FleetCommit {
  uint64_t generation = 0;
  std::string config_sha256;  // store::content_hash of the configuration
  std::string member;         // the member that committed it
  std::string user;           // the account that committed it there
  int64_t time_s = 0;
  std::string comment;
  std::string nonce;  // makes every commit point's value unique (Etcd::put_if)
};

std::string format_commit(const FleetCommit& c);
// The error names what is wrong; `where` is the key it was read from.
Result<FleetCommit> parse_commit(std::string_view text, const std::string& where);

std::string format_configuration(const store::Configuration& c);
// Also checks the content against `sha256` (its key).
Result<store::Configuration> parse_configuration(std::string_view text, const std::string& sha256,
                                                 const std::string& where);

// A fleet or member name: 1-63 of [a-z0-9-], starting with a letter (a DNS
// label: it is part of etcd keys and of audit records).
bool valid_name(std::string_view name) noexcept;

struct FleetKeys {
  explicit FleetKeys(const std::string& fleet) : prefix("/ftzgate/fleets/" + fleet + "/") {}
  [[nodiscard]] std::string running() const { return prefix + "running"; }
  [[nodiscard]] std::string config(const std::string& sha256) const { return prefix + "configs/" + sha256; }
  std::string prefix;
};

}  // namespace ftz::fleet
