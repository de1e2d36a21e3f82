#pragma once
// ftzctl's commands, shared by its one-shot form (main.cpp) and its
// interactive shell (shell.cpp): one command tree, one way to run each.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ftz/mgmt/client.hpp"

namespace ftz::ctl {

struct Args {
  ftz::mgmt::Endpoint at;
  std::string user;
  bool json = false;
  std::vector<std::string> words;
};

// A command line ftzctl knows (before any password is asked for).
bool known_command(const std::vector<std::string>& words);
// Runs a known command in a logged-in session: its exit status (0 done, 1
// refused or failed, 2 a bad command line), output on stdout, errors on stderr.
int execute(const Args& a, ftz::mgmt::Session& s, const std::vector<std::string>& words);
// "sysadmin", "secadmin", "audadmin", "operator".
std::string role_word(ftzgate::v1::Role r);
// A refusal or failure on stderr ("ftzctl: CODE: message"); returns 1.
int fail(const grpc::Status& s);
// "2026-12-06 17:43:44 CST", in the local time zone.
std::string local_time(int64_t unix_s);
// `j` with --json, else `text`.
void print(const Args& a, const nlohmann::ordered_json& j, const std::string& text);

// The data planes' ports (interfaces.cpp): show interfaces [NAME]
// [extensive], monitor interface [NAME] (until Ctrl-C), clear statistics.
int show_interfaces(const Args& a, ftz::mgmt::Session& s, const std::vector<std::string>& words);
int monitor_interface(const Args& a, ftz::mgmt::Session& s, const std::vector<std::string>& words);
int clear_statistics(const Args& a, ftz::mgmt::Session& s);
// show flows summary (flows.cpp): zone pairs by bytes, flows by rule.
int show_flows_summary(const Args& a, ftz::mgmt::Session& s);
// show zones, show tenants (model.cpp): the running configuration's, the
// tenants with this year's counts.
int show_zones(const Args& a, ftz::mgmt::Session& s);
int show_tenants(const Args& a, ftz::mgmt::Session& s);

// From the environment variable `env`, else the terminal without echo.
std::string read_secret(const char* env, const char* prompt);

// The interactive shell: operational and configuration mode, completion,
// help, abbreviations, history, pipes and a pager (docs/controlplane.md,
// "The ftzctl shell"). Returns ftzctl's exit status.
int run_shell(const Args& a, ftz::mgmt::Session& s);

}  // namespace ftz::ctl
