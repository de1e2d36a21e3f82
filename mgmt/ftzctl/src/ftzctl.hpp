#pragma once
// ftzctl's commands, shared by its one-shot form (main.cpp) and its
// interactive shell (shell.cpp): one command tree, one way to run each.

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
// From the environment variable `env`, else the terminal without echo.
std::string read_secret(const char* env, const char* prompt);

// The interactive shell: operational and configuration mode, completion,
// help, abbreviations, history, pipes and a pager (docs/controlplane.md,
// "The ftzctl shell"). Returns ftzctl's exit status.
int run_shell(const Args& a, ftz::mgmt::Session& s);

}  // namespace ftz::ctl
