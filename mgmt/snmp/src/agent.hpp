#pragma once
// The net-snmp side of ftzgate-snmp: an AgentX subagent that registers
// FTZGATE-MIB's subtree with the master agent (the system snmpd) and answers
// GET and GETNEXT (GETBULK becomes GETNEXTs in net-snmp) from the view it was
// last given; notifications go to the master, which sends them to its
// trap sinks. One thread: net-snmp's agent loop.

#include <string>

#include "view.hpp"

namespace ftz::snmp {

class Agent {
 public:
  // Connects as a subagent through `agentx_socket` (the master may come
  // later: net-snmp retries every `ping_s`); `persistent_dir` is where
  // net-snmp keeps its state.
  Agent(const std::string& agentx_socket, const std::string& persistent_dir, int ping_s);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // False (and why) if the subtree could not be registered.
  [[nodiscard]] bool ok() const { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }

  void publish(View v) { view_ = std::move(v); }
  // A notification with its objects' values from the view published last.
  void notify(const Notification& n);
  // Runs net-snmp's loop once: waits up to a second for a request or an alarm.
  void run_once();

 private:
  View view_;
  std::string error_;
};

}  // namespace ftz::snmp
