// libFuzzer target: the fleet's records as a member reads them from etcd
// (ftz::fleet::parse_commit, parse_configuration): a value in etcd is
// checked, never trusted (decision 0022).
//
// Input: a record's text; its first byte chooses the reader (the commit
// point, a configuration, a member's status, an audit anchor, a value of
// the ledger's owner). Invariants:
//   - a refusal says why and names the key;
//   - an accepted commit point has a generation above 0, a SHA-256 in hex,
//     a valid member and user name, and reads back the same from its own
//     format_commit();
//   - an accepted configuration has the content hash of its key (the
//     fuzzer cannot forge one: the key is the hash of what it wrote), and
//     reads back the same from format_configuration();
//   - an accepted status has a valid member name, a SHA-256 in hex, no more
//     data planes connected than known nor current than connected, and
//     reads back the same from format_status();
//   - an accepted audit anchor has a member name, a seq above 0 and a
//     SHA-256 in hex, and reads back the same from format_anchor();
//   - an accepted ledger value has a signature (checked by the caller),
//     and reads back the same from format_ledger_value().
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/fleet/records.hpp"
#include "fuzz_common.hpp"

namespace {

void commit_point(std::string_view text) {
  auto c = ftz::fleet::parse_commit(text, "running");
  if (!c) {
    if (!c.error().starts_with("running: "))
      ftz::fuzz::fail("a refusal that does not name the key", c.error());
    return;
  }
  if (c->generation == 0 || c->config_sha256.size() != 64 || !ftz::fleet::valid_name(c->member) ||
      c->confirm_by_s < 0 || (c->confirm_by_s > 0 && c->previous_sha256.size() != 64) ||
      !ftz::store::ConfigStore::valid_user(c->user))
    ftz::fuzz::fail("accepted a commit point that breaks its rules", text);
  auto again = ftz::fleet::parse_commit(ftz::fleet::format_commit(*c), "running");
  if (!again || again->generation != c->generation || again->config_sha256 != c->config_sha256 ||
      again->member != c->member || again->user != c->user || again->time_s != c->time_s ||
      again->comment != c->comment || again->nonce != c->nonce || again->signature != c->signature ||
      again->confirm_by_s != c->confirm_by_s || again->previous_sha256 != c->previous_sha256 ||
      ftz::fleet::signed_content(*again) != ftz::fleet::signed_content(*c))
    ftz::fuzz::fail("a commit point does not read back as written", text);
}

void configuration(std::string_view text) {
  // The key's hash: the hash of the configuration the input would be if it
  // were the plain YAML text (so that some inputs can pass).
  const std::string sha = ftz::store::content_hash(ftz::store::Configuration(std::string(text)));
  auto c = ftz::fleet::parse_configuration(text, sha, "configs/x");
  if (!c) {
    if (!c.error().starts_with("configs/x: "))
      ftz::fuzz::fail("a refusal that does not name the key", c.error());
    return;
  }
  if (ftz::store::content_hash(*c) != sha)
    ftz::fuzz::fail("accepted a configuration with another hash", text);
  auto again = ftz::fleet::parse_configuration(ftz::fleet::format_configuration(*c), sha, "configs/x");
  if (!again || again->text != c->text || again->files != c->files)
    ftz::fuzz::fail("a configuration does not read back as written", text);
}

void status(std::string_view text) {
  auto s = ftz::fleet::parse_status(text, "status/m");
  if (!s) {
    if (!s.error().starts_with("status/m: "))
      ftz::fuzz::fail("a refusal that does not name the key", s.error());
    return;
  }
  if (!ftz::fleet::valid_name(s->member) || s->running_sha256.size() != 64 ||
      s->dataplanes_connected > s->dataplanes || s->dataplanes_current > s->dataplanes_connected)
    ftz::fuzz::fail("accepted a status that breaks its rules", text);
  auto again = ftz::fleet::parse_status(ftz::fleet::format_status(*s), "status/m");
  if (!again || !again->same_state(*s) || again->time_s != s->time_s)
    ftz::fuzz::fail("a status does not read back as written", text);
}

void anchor(std::string_view text) {
  auto a = ftz::fleet::parse_anchor(text, "audit/m/1");
  if (!a) {
    if (!a.error().starts_with("audit/m/1: "))
      ftz::fuzz::fail("a refusal that does not name the key", a.error());
    return;
  }
  if (!ftz::fleet::valid_name(a->member) || a->seq == 0 || a->hash.size() != 64)
    ftz::fuzz::fail("accepted an anchor that breaks its rules", text);
  auto again = ftz::fleet::parse_anchor(ftz::fleet::format_anchor(*a), "audit/m/1");
  if (!again || again->member != a->member || again->seq != a->seq || again->hash != a->hash ||
      again->time_s != a->time_s)
    ftz::fuzz::fail("an anchor does not read back as written", text);
}

void ledger_value(std::string_view text) {
  auto v = ftz::fleet::parse_ledger_value(text, "ledger/states");
  if (!v) {
    if (!v.error().starts_with("ledger/states: "))
      ftz::fuzz::fail("a refusal that does not name the key", v.error());
    return;
  }
  if (v->signature.empty()) ftz::fuzz::fail("accepted a ledger value without a signature", text);
  auto again = ftz::fleet::parse_ledger_value(ftz::fleet::format_ledger_value(*v), "ledger/states");
  if (!again || again->payload != v->payload || again->signature != v->signature)
    ftz::fuzz::fail("a ledger value does not read back as written", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      commit_point(text);
      break;
    case 1:
      configuration(text);
      break;
    case 2:
      status(text);
      break;
    case 3:
      anchor(text);
      break;
    default:
      ledger_value(text);
  }
  return 0;
}
