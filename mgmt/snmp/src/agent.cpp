#include "agent.hpp"

// net-snmp's headers in the order its documentation gives.
// clang-format off
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>
// clang-format on

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace ftz::snmp {

namespace {

constexpr const char* kAppName = "ftzgate-snmp";

Oid from_netsnmp(const oid* name, size_t len) {
  Oid o(len);
  // Sub-identifiers are 32-bit on the wire (BER); larger ones cannot occur.
  std::transform(name, name + len, o.begin(),
                 [](oid x) { return static_cast<uint32_t>(std::min<oid>(x, 0xffffffffUL)); });
  return o;
}
std::vector<oid> to_netsnmp(const Oid& o) {
  return {o.begin(), o.end()};
}

void set_value(netsnmp_variable_list* var, const Value& v) {
  switch (v.type) {
    case Value::Type::kInteger: {
      const long n = static_cast<long>(v.integer);
      snmp_set_var_typed_value(var, ASN_INTEGER, &n, sizeof n);
      break;
    }
    case Value::Type::kGauge: {
      const u_long n = static_cast<u_long>(v.number);
      snmp_set_var_typed_value(var, ASN_GAUGE, &n, sizeof n);
      break;
    }
    case Value::Type::kCounter64: {
      counter64 c{};
      c.high = static_cast<u_long>(v.number >> 32);
      c.low = static_cast<u_long>(v.number & 0xffffffffULL);
      snmp_set_var_typed_value(var, ASN_COUNTER64, &c, sizeof c);
      break;
    }
    case Value::Type::kOctets:
      snmp_set_var_typed_value(var, ASN_OCTET_STR, v.octets.data(), v.octets.size());
      break;
  }
}

// GET: the instance or noSuchInstance. GETNEXT: the first instance after
// the one asked for; none left leaves the varbind alone, so that the agent
// goes on past this subtree (endOfMibView at the end).
int handle(netsnmp_mib_handler* handler, netsnmp_handler_registration* /*reg*/,
           netsnmp_agent_request_info* reqinfo, netsnmp_request_info* requests) {
  const View& view = *static_cast<const View*>(handler->myvoid);
  for (netsnmp_request_info* r = requests; r != nullptr; r = r->next) {
    if (r->processed != 0) continue;
    netsnmp_variable_list* var = r->requestvb;
    const Oid asked = from_netsnmp(var->name, var->name_length);
    switch (reqinfo->mode) {
      case MODE_GET: {
        const auto at = view.find(asked);
        if (at == view.end())
          netsnmp_set_request_error(reqinfo, r, SNMP_NOSUCHINSTANCE);
        else
          set_value(var, at->second);
        break;
      }
      case MODE_GETNEXT: {
        const auto at = view.upper_bound(asked);
        if (at == view.end()) break;
        const std::vector<oid> name = to_netsnmp(at->first);
        snmp_set_var_objid(var, name.data(), name.size());
        set_value(var, at->second);
        break;
      }
      default:
        netsnmp_set_request_error(reqinfo, r, SNMP_ERR_NOTWRITABLE);
    }
  }
  return SNMP_ERR_NOERROR;
}

// agent_check_and_process(1) waits in select() with no timeout when no
// alarm is pending (PLATFORM.md §4): this one keeps every wait to a second.
void tick(unsigned int /*reg*/, void* /*arg*/) {}

}  // namespace

Agent::Agent(const std::string& agentx_socket, const std::string& persistent_dir, int ping_s) {
  // No MIB files and no configuration files: the subagent only serves
  // numeric OIDs, and Debian's /etc/snmp/snmp.conf names MIBs Debian does
  // not ship (PLATFORM.md §4).
  ::setenv("MIBS", "", 1);
  netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
  netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, persistent_dir.c_str());
  netsnmp_ds_set_boolean(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);
  netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET, agentx_socket.c_str());
  netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL, ping_s);
  snmp_disable_log();
  snmp_enable_stderrlog();
  init_agent(kAppName);

  const std::vector<oid> root = to_netsnmp(mib_root());
  netsnmp_handler_registration* reg =
      netsnmp_create_handler_registration("ftzgateMIB", handle, root.data(), root.size(), HANDLER_CAN_RONLY);
  if (reg == nullptr) {
    error_ = "net-snmp could not make the handler";
    return;
  }
  reg->handler->myvoid = &view_;
  if (netsnmp_register_handler(reg) != MIB_REGISTERED_OK) {
    error_ = "net-snmp could not register FTZGATE-MIB's subtree";
    return;
  }
  init_snmp(kAppName);
  snmp_alarm_register(1, SA_REPEAT, tick, nullptr);
}

Agent::~Agent() {
  snmp_shutdown(kAppName);
}

void Agent::notify(const Notification& n) {
  // snmpTrapOID.0, then the notification's objects (RFC 3416 4.2.6).
  static const oid kSnmpTrapOid[] = {1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};
  Oid trap = mib_root();
  trap.push_back(kNotifications);
  trap.push_back(static_cast<uint32_t>(n.trap));
  const std::vector<oid> trap_oid = to_netsnmp(trap);
  netsnmp_variable_list* vars = nullptr;
  snmp_varlist_add_variable(&vars, kSnmpTrapOid, OID_LENGTH(kSnmpTrapOid), ASN_OBJECT_ID, trap_oid.data(),
                            trap_oid.size() * sizeof(oid));
  for (const Oid& object : n.objects) {
    const auto at = view_.find(object);
    if (at == view_.end()) continue;
    const std::vector<oid> name = to_netsnmp(object);
    netsnmp_variable_list* var =
        snmp_varlist_add_variable(&vars, name.data(), name.size(), ASN_NULL, nullptr, 0);
    if (var != nullptr) set_value(var, at->second);
  }
  send_v2trap(vars);
  snmp_free_varbind(vars);
}

void Agent::run_once() {
  agent_check_and_process(1);
}

}  // namespace ftz::snmp
