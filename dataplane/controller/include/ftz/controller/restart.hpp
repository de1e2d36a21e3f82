#pragma once
// A data plane's restart in place (dataplane.proto Restart, `ftzctl request
// dataplane restart`): after its run ended as at SIGTERM, the process
// executes its own binary again with the command line it started with. The
// process id stays, so a supervisor (systemd or none) sees no exit, and the
// new run starts from scratch: the bundle, the ports, EAL or the XDP program.

#include <string>
#include <vector>

namespace ftz::controller {

// The command line as main() received it, copied before anything (EAL)
// could rewrite argv.
std::vector<std::string> command_line(int argc, char** argv);

// Executes /proc/self/exe with `argv`, every descriptor but 0, 1 and 2
// closed on the way (a lock or socket of the old run must not hold the new
// one up), and FTZGATE_RESTARTED=1 in its environment. Returns only when it
// could not: why.
std::string reexecute(const std::vector<std::string>& argv);

// This run was started by reexecute() (the variable is taken out of the
// environment, so that nothing the run starts inherits it): its EVE file
// continues the last run's instead of starting again empty.
bool restarted();

}  // namespace ftz::controller
