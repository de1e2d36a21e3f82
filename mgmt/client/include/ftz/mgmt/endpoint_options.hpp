#pragma once
// ftzgated's address on a client's command line (ftzctl, ftzgate-snmp):
// --socket PATH, or --controller HOST:PORT with --ca, --cert and --key
// (mutual TLS with an admin certificate naming the account).

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "ftz/mgmt/client.hpp"

namespace ftz::mgmt {

inline void add_endpoint_options(CLI::App& app, Endpoint& at) {
  auto* socket =
      app.add_option("--socket", at.socket, "ftzgated's socket")->type_name("PATH")->capture_default_str();
  auto* controller = app.add_option("--controller", at.controller, "ftzgated over TCP with mutual TLS")
                         ->type_name("HOST:PORT")
                         ->excludes(socket);
  app.add_option("--ca", at.ca, "with --controller: the CA that issued ftzgated's certificate")
      ->type_name("FILE")
      ->needs(controller);
  app.add_option("--cert", at.cert,
                 "with --controller: the account's admin certificate (its name is the account)")
      ->type_name("FILE")
      ->needs(controller);
  app.add_option("--key", at.key, "with --controller: its key")->type_name("FILE")->needs(controller);
}

// What is missing from the options, if anything.
inline std::optional<std::string> endpoint_problem(const Endpoint& at) {
  if (!at.controller.empty() && (at.ca.empty() || at.cert.empty() || at.key.empty()))
    return "--controller needs --ca, --cert and --key";
  return std::nullopt;
}

}  // namespace ftz::mgmt
