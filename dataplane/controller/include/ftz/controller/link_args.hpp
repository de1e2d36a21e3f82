#pragma once
// The command line of a data plane that takes its policy from ftzgated
// (ftzgate-dp and ftzgate-xdp alike): one set of options, one help text, one
// check that the policy has exactly one source.

#include <string>
#include <string_view>
#include <utility>

#include "ftz/controller/controller_link.hpp"

// CLI11 is a large header: the options structs that hold LinkArgs are
// included far more widely than the two parsers that need it.
namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's own
class App;
class Validator;
}  // namespace CLI

namespace ftz::controller {

struct LinkArgs {
  // The binary's own state directory; bundles' signers in /etc/ftzgate/trusted-keys.
  explicit LinkArgs(std::string default_state_dir) {
    link.state_dir = std::move(default_state_dir);
    link.trusted_keys_dir = "/etc/ftzgate/trusted-keys";
  }
  LinkOptions link;             // link.target empty: no controller (--config)
  double headless_after_s = 5;  // start from the stored bundle after this long without one
};

// Seconds, 0 or more (CLI::NonNegativeNumber names the whole double range
// in its message).
CLI::Validator non_negative_seconds();

// --controller, --ca, --cert, --key, --dataplane-id, --state-dir,
// --trusted-keys, --headless-after into `args` (defaults: what it holds).
void add_link_options(CLI::App& app, LinkArgs& args);

// Their lines of the usage text, with the binary's default state directory.
std::string link_usage(std::string_view default_state_dir);

// --config or --controller, exactly one; the TLS files only with a
// controller. Empty when the command line is sound, else the message.
std::string check_policy_source(const std::string& config, const LinkArgs& args);

}  // namespace ftz::controller
