#pragma once
// An alert as ftzgated keeps it (management.proto AlertRecord), as JSON:
// `ftzctl show alerts --json` prints it and ftzgated's syslog export sends
// it, with the same keys. Never an identifier: the masked form, and the
// keyed token only where the record still carries one (null otherwise).

#include <cstdio>
#include <nlohmann/json.hpp>

#include "ftz/proto/enum_word.hpp"
#include "ftzgate/v1/management.pb.h"

namespace ftz::proto {

inline nlohmann::ordered_json alert_json(const ftzgate::v1::AlertRecord& r) {
  namespace pb = ftzgate::v1;
  const pb::Alert& x = r.alert();
  char token[24] = "";
  if (x.token() != 0)
    std::snprintf(token, sizeof token, "%016llx", static_cast<unsigned long long>(x.token()));
  return {{"dataplane", r.dataplane()},
          {"received_unix_s", r.received_unix_s()},
          {"time_unix_ns", x.ts_unix_ns()},
          {"flow_id", x.flow_id()},
          {"src_ip", x.src_ip()},
          {"src_port", x.src_port()},
          {"dest_ip", x.dest_ip()},
          {"dest_port", x.dest_port()},
          {"ip_proto", x.ip_proto()},
          {"src_zone", x.src_zone()},
          {"dest_zone", x.dest_zone()},
          {"tenant", x.tenant()},
          {"verdict", enum_word(pb::Action_Name(x.verdict()), "ACTION_")},
          {"rule", x.rule()},
          {"signature_id", x.signature_id()},
          {"signature", x.signature()},
          {"data_class", enum_word(pb::DataClass_Name(x.data_class()), "DATA_CLASS_")},
          {"masked", x.masked()},
          {"token", x.token() != 0 ? nlohmann::ordered_json(token) : nlohmann::ordered_json(nullptr)},
          {"direction", x.to_server() ? "to_server" : "to_client"},
          {"stream_offset", x.stream_offset()}};
}

}  // namespace ftz::proto
