#pragma once
// A real net-snmp master agent and trap receiver on 127.0.0.1 for the tests
// (PLATFORM.md §4): snmpd with ftzgate's shipped snippet
// (mgmt/snmp/ftzgate.conf) on a free UDP port and an AgentX socket in a
// scratch directory, an SNMPv3 authPriv user, notifications to snmptrapd on
// another free port as SNMPv3 authPriv informs (no community anywhere: a
// receiver that does not know the user and both passphrases gets nothing it
// can read, and an unacknowledged inform is sent again). Both stop with the
// object.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ftz/test/files.hpp"
#include "ftz/test/loopback.hpp"

namespace ftz::test {

class SnmpLab {
 public:
  static constexpr const char* kUser = "noc";
  static constexpr const char* kAuth = "auth-phrase-2026";
  static constexpr const char* kPriv = "priv-phrase-2026";
  // The NOC receiver's user (snmptrapd's), distinct from the poller's.
  static constexpr const char* kTrapUser = "noctrap";
  static constexpr const char* kTrapAuth = "trap-auth-2026";
  static constexpr const char* kTrapPriv = "trap-priv-2026";

  explicit SnmpLab(const TempDir& dir) : dir_(dir) {}
  ~SnmpLab() {
    stop(trapd_);
    stop(snmpd_);
  }
  SnmpLab(const SnmpLab&) = delete;
  SnmpLab& operator=(const SnmpLab&) = delete;

  // Starts snmptrapd, then snmpd; false (see log()) if either did not come up.
  bool start() {
    port_ = free_loopback_port(SOCK_DGRAM);
    trap_port_ = free_loopback_port(SOCK_DGRAM);
    for (const char* d : {"snmpd-state", "trapd-state"}) std::filesystem::create_directories(dir_.file(d));
    std::ofstream(dir_.file("snmptrapd.conf"))
        << "createUser " << kTrapUser << " SHA \"" << kTrapAuth << "\" AES \"" << kTrapPriv << "\"\n"
        << "authUser log " << kTrapUser << " priv\n";
    std::ofstream(dir_.file("snmpd.conf"))
        << "includeFile " << source_dir() << "/mgmt/snmp/ftzgate.conf\n"
        << "agentXSocket " << agentx_socket() << "\n"
        << "createUser " << kUser << " SHA \"" << kAuth << "\" AES \"" << kPriv << "\"\n"
        << "rouser " << kUser << " priv\n"
        << "trapsess -Ci -v 3 -u " << kTrapUser << " -l authPriv -a SHA -A " << kTrapAuth << " -x AES -X "
        << kTrapPriv << " udp:127.0.0.1:" << trap_port_ << "\n";
    trapd_ = spawn({"/usr/sbin/snmptrapd", "-f", "-C", "-On", "-c", dir_.file("snmptrapd.conf"), "-Lf",
                    trap_log(), "udp:127.0.0.1:" + std::to_string(trap_port_)},
                   dir_.file("trapd-state"));
    snmpd_ = spawn({"/usr/sbin/snmpd", "-f", "-C", "-c", dir_.file("snmpd.conf"), "-Lf", log(),
                    "udp:127.0.0.1:" + std::to_string(port_)},
                   dir_.file("snmpd-state"));
    for (int i = 0; i < 100 && !std::filesystem::exists(agentx_socket()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return std::filesystem::exists(agentx_socket()) && alive(trapd_);
  }

  [[nodiscard]] std::string agentx_socket() const { return dir_.file("agentx.sock"); }
  [[nodiscard]] std::string log() const { return dir_.file("snmpd.log"); }
  [[nodiscard]] std::string trap_log() const { return dir_.file("snmptrapd.log"); }
  [[nodiscard]] std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  // An SNMPv3 command line for TOOL (snmpget, snmpwalk, ...) at `level`.
  [[nodiscard]] std::string v3(const std::string& tool, const std::string& level = "authPriv") const {
    return "MIBS= " + tool + " -v3 -l " + level + " -u " + kUser + " -a SHA -A " + kAuth + " -x AES -X " +
           kPriv + " -t 2 -r 1 " + target();
  }

 private:
  // In the foreground (-f), its state in `state_dir` (SNMP_PERSISTENT_DIR),
  // no MIB files (Debian has none of the IETF's).
  static pid_t spawn(const std::vector<std::string>& argv, const std::string& state_dir) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const std::string persist = "SNMP_PERSISTENT_DIR=" + state_dir;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::putenv(const_cast<char*>(persist.c_str()));
      ::putenv(const_cast<char*>("MIBS="));
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    return pid;
  }
  static bool alive(pid_t pid) { return pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0; }
  static void stop(pid_t& pid) {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }

  const TempDir& dir_;
  int port_ = 0;
  int trap_port_ = 0;
  pid_t snmpd_ = -1;
  pid_t trapd_ = -1;
};

}  // namespace ftz::test
