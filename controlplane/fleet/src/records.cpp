#include "ftz/fleet/records.hpp"

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "ftz/keys/encoding.hpp"

namespace ftz::fleet {

namespace {

using json = nlohmann::json;

bool hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

bool valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 63 || name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

namespace {

// The fields a signature covers, as JSON (sorted keys: one text per commit).
json unsigned_fields(const FleetCommit& c) {
  json j{{"generation", c.generation},
         {"config_sha256", c.config_sha256},
         {"member", c.member},
         {"user", c.user},
         {"time_s", c.time_s},
         {"comment", keys::base64_encode(c.comment)},
         {"nonce", c.nonce}};
  // Only on a commit confirmed: every other commit point reads, and is
  // signed, as before these fields were.
  if (c.confirm_by_s != 0) {
    j["confirm_by_s"] = c.confirm_by_s;
    j["previous_sha256"] = c.previous_sha256;
  }
  return j;
}

}  // namespace

std::string format_commit(const FleetCommit& c) {
  json j = unsigned_fields(c);
  if (!c.signature.empty()) j["signature"] = c.signature;
  return j.dump();
}

std::string signed_content(const FleetCommit& c) {
  return "ftzgate-fleet-commit-v1\n" + unsigned_fields(c).dump();
}

Result<FleetCommit> parse_commit(std::string_view text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  const auto bad = [&](const std::string& what) { return tl::unexpected(where + ": " + what); };
  if (!j.is_object()) return bad("not a JSON object");
  FleetCommit c;
  const auto gen = j.find("generation");
  if (gen == j.end() || !gen->is_number_unsigned() || gen->get<uint64_t>() == 0)
    return bad("generation: not a number above 0");
  c.generation = gen->get<uint64_t>();
  for (const auto& [field, out] : {std::pair<const char*, std::string*>{"config_sha256", &c.config_sha256},
                                   {"member", &c.member},
                                   {"user", &c.user},
                                   {"comment", &c.comment},
                                   {"nonce", &c.nonce}}) {
    const auto v = j.find(field);
    if (v == j.end() || !v->is_string()) return bad(std::string(field) + ": not a string");
    *out = v->get<std::string>();
  }
  const auto time = j.find("time_s");
  if (time == j.end() || !time->is_number_integer()) return bad("time_s: not a number");
  c.time_s = time->get<int64_t>();
  // Optional here; a member refuses a commit its signature does not hold for.
  if (const auto sig = j.find("signature"); sig != j.end()) {
    if (!sig->is_string() || sig->get<std::string>().size() > 4096) return bad("signature: not a signature");
    c.signature = sig->get<std::string>();
  }
  if (const auto by = j.find("confirm_by_s"); by != j.end()) {
    if (!by->is_number_integer() || by->get<int64_t>() <= 0) return bad("confirm_by_s: not a time");
    c.confirm_by_s = by->get<int64_t>();
    const auto previous = j.find("previous_sha256");
    if (previous == j.end() || !previous->is_string() || !hex64(previous->get<std::string>()))
      return bad("previous_sha256: not a SHA-256 in hex");
    c.previous_sha256 = previous->get<std::string>();
  }
  if (!hex64(c.config_sha256)) return bad("config_sha256: not a SHA-256 in hex");
  if (!valid_name(c.member)) return bad("member: not a member name");
  if (!store::ConfigStore::valid_user(c.user)) return bad("user: not a user name");
  if (!c.comment.empty()) {
    auto comment = keys::base64_decode(c.comment);
    if (!comment) return bad("comment: not base64");
    c.comment = std::move(*comment);
  }
  return c;
}

std::string format_status(const MemberStatus& s) {
  return json{{"member", s.member},
              {"running_generation", s.running_generation},
              {"running_sha256", s.running_sha256},
              {"dataplanes", s.dataplanes},
              {"dataplanes_connected", s.dataplanes_connected},
              {"dataplanes_current", s.dataplanes_current},
              {"time_s", s.time_s}}
      .dump();
}

Result<MemberStatus> parse_status(std::string_view text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  const auto bad = [&](const std::string& what) { return tl::unexpected(where + ": " + what); };
  if (!j.is_object()) return bad("not a JSON object");
  MemberStatus s;
  const auto member = j.find("member");
  if (member == j.end() || !member->is_string() || !valid_name(member->get<std::string>()))
    return bad("member: not a member name");
  s.member = member->get<std::string>();
  const auto sha = j.find("running_sha256");
  if (sha == j.end() || !sha->is_string() || !hex64(sha->get<std::string>()))
    return bad("running_sha256: not a SHA-256 in hex");
  s.running_sha256 = sha->get<std::string>();
  const auto gen = j.find("running_generation");
  if (gen == j.end() || !gen->is_number_unsigned()) return bad("running_generation: not a number");
  s.running_generation = gen->get<uint64_t>();
  for (const auto& [field, out] : {std::pair<const char*, uint32_t*>{"dataplanes", &s.dataplanes},
                                   {"dataplanes_connected", &s.dataplanes_connected},
                                   {"dataplanes_current", &s.dataplanes_current}}) {
    const auto v = j.find(field);
    if (v == j.end() || !v->is_number_unsigned() || v->get<uint64_t>() > UINT32_MAX)
      return bad(std::string(field) + ": not a count");
    *out = v->get<uint32_t>();
  }
  if (s.dataplanes_connected > s.dataplanes || s.dataplanes_current > s.dataplanes_connected)
    return bad("more data planes connected or current than known");
  const auto time = j.find("time_s");
  if (time == j.end() || !time->is_number_integer()) return bad("time_s: not a number");
  s.time_s = time->get<int64_t>();
  return s;
}

std::string format_anchor(const AuditAnchor& a) {
  return json{{"member", a.member}, {"seq", a.seq}, {"hash", a.hash}, {"time_s", a.time_s}}.dump();
}

Result<AuditAnchor> parse_anchor(std::string_view text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  const auto bad = [&](const std::string& what) { return tl::unexpected(where + ": " + what); };
  if (!j.is_object()) return bad("not a JSON object");
  AuditAnchor a;
  const auto member = j.find("member");
  if (member == j.end() || !member->is_string() || !valid_name(member->get<std::string>()))
    return bad("member: not a member name");
  a.member = member->get<std::string>();
  const auto seq = j.find("seq");
  if (seq == j.end() || !seq->is_number_unsigned() || seq->get<uint64_t>() == 0)
    return bad("seq: not a record");
  a.seq = seq->get<uint64_t>();
  const auto hash = j.find("hash");
  if (hash == j.end() || !hash->is_string() || !hex64(hash->get<std::string>()))
    return bad("hash: not a SHA-256 in hex");
  a.hash = hash->get<std::string>();
  const auto time = j.find("time_s");
  if (time == j.end() || !time->is_number_integer()) return bad("time_s: not a number");
  a.time_s = time->get<int64_t>();
  return a;
}

std::string format_ledger_value(const LedgerValue& v) {
  return json{{"payload", keys::base64_encode(v.payload)}, {"signature", v.signature}}.dump();
}

std::string ledger_signed_content(std::string_view key, std::string_view payload) {
  std::string out = "ftzgate-fleet-ledger-v1\n";
  out.append(key);
  out += '\n';
  out.append(payload);
  return out;
}

Result<LedgerValue> parse_ledger_value(std::string_view text, const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  const auto bad = [&](const std::string& what) { return tl::unexpected(where + ": " + what); };
  if (!j.is_object()) return bad("not a JSON object (an unsigned value?)");
  const auto payload = j.find("payload");
  if (payload == j.end() || !payload->is_string()) return bad("payload: not a string");
  // An empty message (states of no tenant) is an empty payload.
  const std::string& text64 = payload->get<std::string>();
  auto bytes = text64.empty() ? std::optional<std::string>("") : keys::base64_decode(text64);
  if (!bytes) return bad("payload: not base64");
  const auto signature = j.find("signature");
  if (signature == j.end() || !signature->is_string() || signature->get<std::string>().empty())
    return bad("signature: none");
  return LedgerValue{std::move(*bytes), signature->get<std::string>()};
}

std::string FleetKeys::audit(const std::string& member, uint64_t seq) const {
  char tail[24];
  std::snprintf(tail, sizeof tail, "%020llu", static_cast<unsigned long long>(seq));
  return audit() + member + "/" + tail;
}

std::string format_configuration(const store::Configuration& c) {
  json files = json::object();
  for (const auto& [path, content] : c.files) files[path] = keys::base64_encode(content);
  return json{{"config", keys::base64_encode(c.text)}, {"files", std::move(files)}}.dump();
}

Result<store::Configuration> parse_configuration(std::string_view text, const std::string& sha256,
                                                 const std::string& where) {
  const json j = json::parse(text, nullptr, false);
  const auto bad = [&](const std::string& what) { return tl::unexpected(where + ": " + what); };
  if (!j.is_object() || !j.contains("config") || !j["config"].is_string() || !j.contains("files") ||
      !j["files"].is_object())
    return bad("not a configuration record");
  auto yaml = keys::base64_decode(j["config"].get<std::string>());
  if (!yaml) return bad("config: not base64");
  store::Configuration c(std::move(*yaml));
  for (const auto& [path, content] : j["files"].items()) {
    auto raw = content.is_string() ? keys::base64_decode(content.get<std::string>()) : std::nullopt;
    if (!raw) return bad("files: " + path + ": not base64");
    c.files.emplace(path, std::move(*raw));
  }
  if (store::content_hash(c) != sha256) return bad("the content does not have the SHA-256 of its key");
  return c;
}

std::string FleetKeys::batch(int32_t year, const std::string& member, const std::string& dataplane,
                             uint64_t boot_id, uint64_t seq, unsigned part) const {
  char tail[48];
  std::snprintf(tail, sizeof tail, "%016llx-%016llx-%02x", static_cast<unsigned long long>(boot_id),
                static_cast<unsigned long long>(seq), part);
  return tokens() + std::to_string(year) + "/" + member + "/" + dataplane + "/" + tail;
}

int32_t FleetKeys::batch_year(const std::string& key) const {
  if (!key.starts_with(tokens())) return 0;
  int32_t year = 0;
  const char* begin = key.data() + tokens().size();
  const char* end = key.data() + key.size();
  const auto [at, ec] = std::from_chars(begin, end, year);
  return ec == std::errc() && at != end && *at == '/' ? year : 0;
}

}  // namespace ftz::fleet
