#pragma once
// EVE JSON formatting of engine events (Suricata's field names, so SIEM
// pipelines that ingest Suricata ingest ftzgate), plus the `ftz` object.
// Runs on the logger side, never on a worker's per-packet path.

#include <cstdint>
#include <string>

#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"

namespace ftz::engine {

// "2026-03-02T09:00:00.123456+0800" (Suricata's timestamp form), the
// Asia/Shanghai wall clock (ftz/base/civil_date.hpp).
std::string format_eve_timestamp(int64_t ts_ns);

// Appends one JSON object (no trailing newline) for `e` to `out`.
void format_eve(const Event& e, const PolicyGeneration& gen, std::string& out);

// An alert a data plane reported to ftzgated, with its names resolved.
struct AlertRecordFields {
  int64_t ts_ns = 0;
  uint64_t flow_id = 0;
  std::string_view src_ip, dest_ip;
  uint16_t src_port = 0, dest_port = 0;
  uint8_t proto = 0;
  bool to_server = true;
  Action verdict = Action::kAllow;
  uint32_t signature_id = 0;
  std::string_view signature;
  DataClass data_class = DataClass::kPi;
  std::string_view src_zone, dest_zone, tenant, rule;
  std::string_view masked;
  uint64_t stream_offset = 0;
  std::string_view dataplane;
};
// The alert event as format_eve writes it (the same EVE fields, the same
// masking), for ftzgated's syslog export. Under `ftz`: the zones, tenant,
// verdict, rule and `match` without the token (pseudonymous: it stays in
// ftzgated), and the data plane that raised it.
void format_eve_alert_record(const AlertRecordFields& a, std::string& out);

std::string_view action_name(Action a) noexcept;
std::string_view app_proto_name(AppProto a) noexcept;
std::string_view data_class_name(DataClass c) noexcept;
void append_json_string(std::string& out, std::string_view s);
// The text append_json_string writes, before JSON escaping, for writers that
// build JSON with a library (reports, stats): masked, valid UTF-8 kept, each
// stray byte b as U+00bb (the character its \u00bb escape names), so the
// result is always valid UTF-8.
std::string json_text(std::string_view s);

}  // namespace ftz::engine
