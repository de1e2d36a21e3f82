// ftzgated: the control plane (issue 10). `--init` creates a state
// directory (device key, CA and TLS certificate, accounts, configuration
// store with generation 1, audit log); without it the daemon serves the
// Management service (ftzctl) and the Dataplane service (ftzgate-dp
// --controller) on a unix socket, and with --listen-tcp over TCP with mutual
// TLS, until SIGTERM or SIGINT.
//
// Exit status: 0 done; 1 an error (named on standard error); 2 a bad
// argument, a state directory already initialised (--init), not initialised
// or held by another ftzgated (serving).
#include <grpcpp/grpcpp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fleet_ledger.hpp"
#include "ftz/accounts/accounts.hpp"
#include "ftz/audit/audit_log.hpp"
#include "ftz/base/atomic_file.hpp"
#include "ftz/base/secret_file.hpp"
#include "ftz/bundle/bundle.hpp"
#include "ftz/bundle/trusted_keys.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/diagnostics.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/fleet/member.hpp"
#include "ftz/keys/detached.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/pki/authority.hpp"
#include "ftz/service/notify.hpp"
#include "ftz/store/config_store.hpp"
#include "metrics_server.hpp"
#include "peer.hpp"
#include "service.hpp"
#include "syslog_exporter.hpp"

namespace {

// An operator's argument as the audit log records it: what is not
// printable ASCII (a path need not be UTF-8; the log's JSON must be) is '?'.
std::string printable_ascii(std::string s) {
  for (char& c : s) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return s;
}

using namespace ftz;

struct Args {
  std::string state_dir = "/var/lib/ftzgate";
  bool init = false;
  std::string accounts_file;
  std::string config_file;
  std::string listen = "unix:/run/ftzgate/ftzgated.sock";
  std::string listen_tcp;                 // HOST:PORT; empty: the unix socket only
  std::vector<std::string> tls_names;     // --init: the names in ftzgated's certificate
  std::string key_algorithm = "ed25519";  // --init: the device key's
  // --init: what set the appliance up (ftzgate-firstboot: identity, data
  // plane, profile), KEY=VALUE, kept in the init record of the audit log.
  std::vector<std::string> init_notes;
  // Vendors' keys for signature packs: never the directory data planes trust
  // bundles from, or a vendor's key would sign policy (decision 0014).
  std::string vendor_keys = "/etc/ftzgate/vendor-keys";
  int64_t idle_timeout_s = 15 * 60;
  int64_t audit_verify_interval_s = 3600;
  int64_t audit_retention_days = audit::kMinRetentionDays;
  int64_t audit_checkpoint_interval_s = 300;
  std::string metrics_listen;    // HOST:PORT; empty: no metrics
  std::string metrics_tls_cert;  // PEM: HTTPS
  std::string metrics_tls_key;
  std::string metrics_users;     // NAME:HASH lines: basic authentication
  daemon::SyslogOptions syslog;  // url empty: no syslog export
  // A fleet (docs/fleet.md): etcd's endpoints and the fleet's name.
  std::string etcd_endpoints;
  std::string fleet;
  std::string fleet_member;                            // default: the host name
  std::string fleet_keys = "/etc/ftzgate/fleet-keys";  // the members' device.pub files
  std::string etcd_ca;
  std::string etcd_cert;
  std::string etcd_key;
  std::string etcd_user;           // etcd's authentication, when on
  std::string etcd_password_file;  // its password, the file's first line
};

// Generation 1 without --config: the smallest configuration that validates,
// exports allowed and alerted until the security administrator commits a
// policy (examples/minimal.yaml without its signature pack).
constexpr const char* kDefaultConfig =
    "# ftzgated --init: the first configuration. Replace it: ftzctl load FILE; ftzctl commit\n"
    "zones:\n"
    "  - name: inside\n"
    "    kind: ftz\n"
    "    prefixes: [10.0.0.0/8]\n"
    "  - name: offshore\n"
    "    kind: offshore\n"
    "    default: true\n"
    "defaults:\n"
    "  - src_zone: inside\n"
    "    dst_zone: offshore\n"
    "    action: allow\n"
    "    alert: true\n";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

std::string random_password() {
  // 18 characters from 64 symbols (108 bits), with every class present.
  static constexpr char kSymbols[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_.+%";
  unsigned char raw[18];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  std::string out = "aZ7-";
  for (const unsigned char b : raw) out.push_back(kSymbols[b % (sizeof kSymbols - 1)]);
  return out;
}

// KEY=VALUE: KEY 1-32 of [a-z0-9_], VALUE at most 200 printable ASCII
// characters (the audit log is read by people and by syslog collectors).
bool valid_init_note(std::string_view n) {
  const size_t eq = n.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq > 32 || n.size() - eq - 1 > 200) return false;
  const auto key_char = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; };
  const auto value_char = [](char c) { return c >= 0x20 && c < 0x7f; };
  return std::all_of(n.begin(), n.begin() + static_cast<std::ptrdiff_t>(eq), key_char) &&
         std::all_of(n.begin() + static_cast<std::ptrdiff_t>(eq) + 1, n.end(), value_char);
}

std::string keys_dir(const Args& a) {
  return a.state_dir + "/keys";
}

std::string compliance_dir(const Args& a) {
  return a.state_dir + "/compliance";
}

// The names ftzgated's TLS certificate carries: --tls-name at --init, else
// loopback and this host's name (TLS clients check the name they dial).
std::vector<std::string> tls_names(const Args& a) {
  if (!a.tls_names.empty()) return a.tls_names;
  std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && pki::valid_server_name(host) && host != names[0])
    names.emplace_back(host);
  return names;
}

// The CA and ftzgated's certificate (STATE/pki), made on first start.
tl::expected<std::unique_ptr<pki::Authority>, std::string> open_authority(const Args& a) {
  return pki::Authority::open(a.state_dir + "/pki", tls_names(a), now_ms() / 1000);
}

int init(const Args& a) {
  // Refused before anything is written when the store has a running
  // configuration.
  if (std::ifstream(a.state_dir + "/config/running")) {
    std::fprintf(stderr, "ftzgated: %s is initialised already\n", a.state_dir.c_str());
    return 2;
  }
  // --config FILE with the files it includes, imported into the store.
  store::Configuration config{kDefaultConfig};
  std::string config_name = "default configuration";
  if (!a.config_file.empty()) {
    auto imported = config::import_config(a.config_file);
    if (!imported) {
      std::fprintf(stderr, "ftzgated: %s does not validate:\n%s", a.config_file.c_str(),
                   config::format_diagnostics(imported.error()).c_str());
      return 1;
    }
    config = {std::move(imported->text), std::move(imported->files)};
    config_name = a.config_file;
  }
  auto checked = daemon::load_checked(config, a.config_file.empty() ? "default" : a.config_file);
  if (!checked) {
    std::fprintf(stderr, "ftzgated: %s does not validate:\n%s", config_name.c_str(), checked.error().c_str());
    return 1;
  }
  for (const std::string& warning : daemon::load_warnings(checked->model))
    std::fprintf(stderr, "ftzgated: warning: %s: %s\n", config_name.c_str(), warning.c_str());
  std::vector<accounts::InitialAccount> initial;
  std::string passwords;  // the generated ones, for the root-only file
  if (!a.accounts_file.empty()) {
    auto text = read_whole(a.accounts_file);
    if (!text) {
      std::fprintf(stderr, "ftzgated: cannot read %s\n", a.accounts_file.c_str());
      return 1;
    }
    auto parsed = accounts::AccountStore::parse_initial(*text, a.accounts_file);
    if (!parsed) {
      std::fprintf(stderr, "ftzgated: %s\n", parsed.error().c_str());
      return 1;
    }
    initial = std::move(*parsed);
  } else {
    for (const auto role :
         {accounts::Role::kSysadmin, accounts::Role::kSecadmin, accounts::Role::kAudadmin}) {
      accounts::InitialAccount acc{std::string(accounts::role_name(role)), role, random_password(), true};
      if (acc.password.size() < 12) {
        std::fputs("ftzgated: no random bytes for the initial passwords (OpenSSL)\n", stderr);
        return 1;
      }
      passwords += acc.name + ":" + acc.password + "\n";
      initial.push_back(std::move(acc));
    }
  }
  if (::mkdir(a.state_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    std::perror(("ftzgated: " + a.state_dir).c_str());
    return 1;
  }
  if (::mkdir(keys_dir(a).c_str(), 0700) != 0 && errno != EEXIST) {
    std::perror(("ftzgated: " + keys_dir(a)).c_str());
    return 1;
  }
  auto key = keys::SigningKey::load_or_generate(keys_dir(a) + "/device.key",
                                                *keys::algorithm_from_name(a.key_algorithm));
  if (!key) {
    std::fprintf(stderr, "ftzgated: %s\n", key.error().c_str());
    return 1;
  }
  // What data planes trust (copied into their --trusted-keys directory):
  // bundles are verified against it, never against a key they carry.
  if (auto w = base::write_file_atomically(keys_dir(a) + "/device.pub", key->public_pem(), 0644); !w) {
    std::fprintf(stderr, "ftzgated: %s\n", w.error().c_str());
    return 1;
  }
  // Mutual TLS: the CA that issues data-plane and administrator
  // certificates, and ftzgated's own.
  auto authority = open_authority(a);
  if (!authority) {
    std::fprintf(stderr, "ftzgated: %s\n", authority.error().c_str());
    return 1;
  }
  // The token key every data plane counts with (compliance_center.hpp).
  if (::mkdir(compliance_dir(a).c_str(), 0700) != 0 && errno != EEXIST) {
    std::perror(("ftzgated: " + compliance_dir(a)).c_str());
    return 1;
  }
  auto token_key = engine::compliance::resolve_token_key({compliance_dir(a) + "/token.key",
                                                          compliance_dir(a) + "/ledger.state",
                                                          engine::compliance::MacAlgo::kHmacSha256, false});
  if (!token_key) {
    std::fprintf(stderr, "ftzgated: %s\n", token_key.error().c_str());
    return 1;
  }
  const std::string accounts_path = a.state_dir + "/accounts.json";
  ::unlink(accounts_path.c_str());  // an interrupted --init's (no running configuration yet)
  auto acc = accounts::AccountStore::create(accounts_path, initial);
  if (!acc) {
    std::fprintf(stderr, "ftzgated: %s\n", acc.error().c_str());
    return 1;
  }
  if (!passwords.empty()) {
    // Written once, readable by root only, never logged: the default
    // accounts must change these at their first login.
    auto w = base::write_file_atomically(a.state_dir + "/initial-passwords", passwords, 0600);
    if (!w) {
      std::fprintf(stderr, "ftzgated: %s\n", w.error().c_str());
      return 1;
    }
  }
  auto log = audit::AuditLog::open(a.state_dir + "/audit", *key, now_ms());
  if (!log) {
    std::fprintf(stderr, "ftzgated: %s\n", log.error().c_str());
    return 1;
  }
  audit::Event e;
  e.user = "ftzgated";
  e.role = "system";
  e.source = "ftzgated --init";
  e.event_type = "init";
  const auto ca = pki::describe_certificate((*authority)->ca_pem());
  e.details = {{"config", config_name},
               {"accounts", initial.size()},
               {"key_id", key->key_id()},
               {"key_algorithm", keys::algorithm_name(key->algorithm())},
               {"ca_sha256", ca ? ca->sha256 : ""}};
  if (!a.init_notes.empty()) {
    nlohmann::ordered_json notes = nlohmann::ordered_json::object();
    for (const std::string& n : a.init_notes) {
      const size_t eq = n.find('=');
      notes[n.substr(0, eq)] = n.substr(eq + 1);
    }
    e.details["notes"] = std::move(notes);
  }
  if (auto w = log->append(e, now_ms()); !w) {
    std::fprintf(stderr, "ftzgated: %s\n", w.error().c_str());
    return 1;
  }
  // Last: the running configuration is what makes the directory initialised.
  if (auto s = store::ConfigStore::init(a.state_dir, config, "ftzgated", now_ms() / 1000); !s) {
    std::fprintf(stderr, "ftzgated: %s\n", s.error().message.c_str());
    return s.error().code == store::StoreErrc::kAlreadyInitialised ? 2 : 1;
  }
  std::printf("ftzgated: initialised %s: generation 1 from %s, %zu accounts%s, device key %s\n",
              a.state_dir.c_str(), config_name.c_str(), initial.size(),
              passwords.empty() ? "" : (" (passwords in " + a.state_dir + "/initial-passwords)").c_str(),
              key->key_id().c_str());
  return 0;
}

// A password file's first line.
tl::expected<std::string, std::string> read_password_file(const std::string& path) {
  auto text = base::read_secret_file(path, 4096);
  if (!text) return tl::unexpected(text.error());
  std::string line = text->substr(0, text->find('\n'));
  if (line.empty()) return tl::unexpected(path + ": no password on its first line");
  return line;
}

// `show fleet`: what etcd holds of every member, or this member's own
// state and why etcd could not be read.
void show_fleet(fleet::FleetMember& m, daemon::ManagementService& service, ftzgate::v1::ShowFleetReply* r) {
  r->set_fleet(m.fleet());
  r->set_member(m.member());
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto view = m.view(now_s);
  r->set_etcd_connected(view.has_value());
  r->set_etcd_endpoint(m.endpoint());
  if (!view) {
    r->set_problem(view.error());
    const auto here = service.local_state();
    ftzgate::v1::FleetMemberStatus* self = r->add_members();
    self->set_member(m.member());
    self->set_self(true);
    self->set_running_generation(here.generation);
    self->set_running_sha256(here.sha256);
    self->set_dataplanes(here.dataplanes);
    self->set_dataplanes_connected(here.dataplanes_connected);
    self->set_dataplanes_current(here.dataplanes_current);
    return;
  }
  if (view->running) {
    r->set_fleet_generation(view->running->generation);
    r->set_fleet_sha256(view->running->config_sha256);
    r->set_committed_by(view->running->member);
    r->set_committed_user(view->running->user);
    r->set_committed_unix_s(view->running->time_s);
    r->set_confirm_by_unix_s(view->running->confirm_by_s);
  }
  for (const fleet::FleetMember::MemberView& v : view->members) {
    ftzgate::v1::FleetMemberStatus* out = r->add_members();
    out->set_member(v.status.member);
    out->set_self(v.status.member == m.member());
    out->set_etcd_connected(v.alive);
    out->set_running_generation(v.status.running_generation);
    out->set_running_sha256(v.status.running_sha256);
    out->set_lag_s(v.lag_s);
    out->set_dataplanes(v.status.dataplanes);
    out->set_dataplanes_connected(v.status.dataplanes_connected);
    out->set_dataplanes_current(v.status.dataplanes_current);
    out->set_reported_unix_s(v.status.time_s);
  }
}

// The audit log's checkpoints, from its record hook (which must not block)
// to the fleet member that anchors them in etcd.
class Checkpoints {
 public:
  void add(std::string_view line) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() || !j.contains("hash") ||
        !j["hash"].is_string())
      return;
    std::lock_guard lock(mu_);
    pending_.emplace_back(j["seq"].get<uint64_t>(), j["hash"].get<std::string>());
    // The newest covers the older ones through the chain.
    if (pending_.size() > kMax) pending_.erase(pending_.begin());
  }
  std::vector<std::pair<uint64_t, std::string>> take() {
    std::lock_guard lock(mu_);
    return std::exchange(pending_, {});
  }

 private:
  static constexpr size_t kMax = 64;
  std::mutex mu_;
  std::vector<std::pair<uint64_t, std::string>> pending_;
};

// etcd as --etcd-* say.
tl::expected<fleet::EtcdOptions, std::string> etcd_options(const Args& a) {
  if (a.etcd_endpoints.empty()) return tl::unexpected(std::string("--fleet needs --etcd-endpoints"));
  auto endpoints = fleet::parse_endpoints(a.etcd_endpoints);
  if (!endpoints) return tl::unexpected("--etcd-endpoints: " + endpoints.error());
  fleet::EtcdOptions etcd;
  etcd.endpoints = std::move(*endpoints);
  etcd.ca_file = a.etcd_ca;
  etcd.cert_file = a.etcd_cert;
  etcd.key_file = a.etcd_key;
  if (!a.etcd_user.empty()) {
    if (a.etcd_password_file.empty())
      return tl::unexpected(std::string("--etcd-user needs --etcd-password-file"));
    auto password = read_password_file(a.etcd_password_file);
    if (!password) return tl::unexpected("--etcd-password-file " + password.error());
    etcd.user = a.etcd_user;
    etcd.password = std::move(*password);
  }
  return etcd;
}

// --fleet-member, or the host's name.
std::string member_name(const Args& a) {
  std::string name = a.fleet_member;
  if (name.empty()) {
    std::array<char, 256> host{};
    ::gethostname(host.data(), host.size() - 1);
    name = host.data();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    name = name.substr(0, name.find('.'));
  }
  return name;
}

// The fleet's count (fleet_ledger.hpp): the data planes' batches go to
// etcd too, and they act on the fleet's threshold states. Before the
// running generation is published, which configures it.
// The fleet's signatures (docs/fleet.md): this member's device key signs
// what it writes to etcd for the fleet, and what it reads there (commit
// points, the ledger's values) is taken only when a member key of
// --fleet-keys signed it.
struct FleetSignatures {
  std::function<std::string(const std::string& content)> sign;
  std::function<fleet::Result<std::string>(const std::string& signature, const std::string& content)> verify;
};

tl::expected<FleetSignatures, std::string> fleet_signatures(const Args& a, const keys::SigningKey& key) {
  // The member keys (this member's too).
  auto members = bundle::TrustedKeys::load(a.fleet_keys);
  if (!members)
    return tl::unexpected("--fleet-keys: " + members.error() +
                          " (each member's keys/device.pub, this one's included: docs/fleet.md)");
  FleetSignatures s;
  s.sign = [&key](const std::string& content) { return keys::make_detached(key, content); };
  s.verify = [trusted = std::make_shared<bundle::TrustedKeys>(std::move(*members))](
                 const std::string& signature, const std::string& content) -> fleet::Result<std::string> {
    if (signature.empty()) return tl::unexpected(std::string("no signature"));
    return keys::verify_detached(signature, content,
                                 [&trusted](const std::string& id) { return trusted->find(id); });
  };
  return s;
}

tl::expected<std::unique_ptr<daemon::FleetLedger>, std::string> open_fleet_ledger(
    const Args& a, const FleetSignatures& signatures, daemon::DataplaneService& dataplanes,
    std::function<int64_t()> clock_ms, daemon::AuditHook audit) {
  auto etcd = etcd_options(a);
  if (!etcd) return tl::unexpected(etcd.error());
  daemon::FleetLedger::Options o;
  o.etcd = std::move(*etcd);
  o.fleet = a.fleet;
  o.member = member_name(a);
  o.key_path = compliance_dir(a) + "/token.key";
  o.clock_ms = std::move(clock_ms);
  o.audit = std::move(audit);
  o.states = [&dataplanes](const ftzgate::v1::ThresholdStates& s) { dataplanes.fleet_states(s); };
  o.sign = signatures.sign;
  o.verify = signatures.verify;
  auto ledger = daemon::FleetLedger::open(std::move(o));
  if (!ledger) return tl::unexpected(ledger.error());
  daemon::FleetLedger* l = ledger->get();
  daemon::DataplaneService::FleetHooks hooks;
  hooks.store = [l](const ftzgate::v1::ReportBatch& b) { return l->store(b); };
  hooks.configured = [l](const engine::PolicySpec& spec, bool fleet_policy) {
    l->configure(spec, fleet_policy);
  };
  dataplanes.set_fleet(std::move(hooks));
  return ledger;
}

// This appliance as a member of the fleet --fleet names (docs/fleet.md):
// commits go through the fleet, the other members' come in.
tl::expected<std::unique_ptr<fleet::FleetMember>, std::string> join_fleet(
    const Args& a, const FleetSignatures& signatures, daemon::ManagementService& service,
    daemon::FleetLedger& ledger, const std::shared_ptr<Checkpoints>& checkpoints) {
  auto etcd = etcd_options(a);
  if (!etcd) return tl::unexpected(etcd.error());
  const std::string name = member_name(a);
  fleet::FleetMember::Local local;
  local.running = [&service] { return service.running(); };
  local.running_configuration = [&service] { return service.running_configuration(); };
  local.apply = [&service](const fleet::FleetCommit& c, const std::string& signed_by,
                           const store::Configuration& config) {
    return service.apply_fleet_commit(c.generation, c.member, c.user, c.comment, signed_by, config);
  };
  local.sign = signatures.sign;
  local.verify = signatures.verify;
  local.runs = [&service](uint64_t generation, const std::string& sha256) {
    service.runs_fleet_generation(generation, sha256);
  };
  local.status = [&service] {
    const auto here = service.local_state();
    fleet::MemberStatus s;
    s.running_generation = here.generation;
    s.running_sha256 = here.sha256;
    s.dataplanes = here.dataplanes;
    s.dataplanes_connected = here.dataplanes_connected;
    s.dataplanes_current = here.dataplanes_current;
    return s;
  };
  local.checkpoints = [checkpoints] { return checkpoints->take(); };
  local.note = [&service, fleet = a.fleet](const std::string& event, bool success,
                                           const std::string& detail) {
    std::fprintf(stderr, "ftzgated: fleet %s: %s: %s\n", fleet.c_str(), event.c_str(), detail.c_str());
    (void)service.record_system(event, success, {{"fleet", fleet}, {"detail", printable_ascii(detail)}});
  };
  auto member = fleet::FleetMember::join(*etcd, a.fleet, name, std::move(local));
  if (!member) return tl::unexpected(member.error());
  fleet::FleetMember* m = member->get();
  daemon::ManagementService::FleetLink link;
  link.publish = [m](uint64_t generation, const std::string& sha, const store::Configuration& config,
                     const std::string& user, const std::string& comment, int64_t now_s,
                     std::optional<int64_t> confirm_by)
      -> tl::expected<daemon::ManagementService::FleetPublished, std::string> {
    auto p = m->publish(generation, sha, config, user, comment, now_s, confirm_by);
    if (!p) return tl::unexpected(p.error());
    using Outcome = daemon::ManagementService::FleetPublished::Outcome;
    daemon::ManagementService::FleetPublished out;
    out.outcome = p->outcome == fleet::FleetMember::Outcome::kWon    ? Outcome::kWon
                  : p->outcome == fleet::FleetMember::Outcome::kLost ? Outcome::kLost
                                                                     : Outcome::kBehind;
    out.generation = p->generation;
    out.member = p->member;
    return out;
  };
  link.show = [m, &service](ftzgate::v1::ShowFleetReply* reply) { show_fleet(*m, service, reply); };
  link.confirm = [m](const std::string& user, int64_t now_s) { return m->confirm(user, now_s); };
  link.compliance = [&ledger](int32_t year, ftzgate::v1::ShowComplianceReply* reply) {
    return ledger.show(year, reply);
  };
  link.anchors = [m, name](ftzgate::v1::AuditVerifyReply* reply)
      -> tl::expected<std::vector<audit::FleetAnchor>, std::string> {
    auto all = m->anchors();
    if (!all) return tl::unexpected(all.error());
    std::map<std::string, ftzgate::v1::FleetAuditMember> by_member;
    std::vector<audit::FleetAnchor> mine;
    for (const fleet::AuditAnchor& x : *all) {
      ftzgate::v1::FleetAuditMember& row = by_member[x.member];
      row.set_member(x.member);
      row.set_anchors(row.anchors() + 1);
      if (x.seq > row.newest_seq()) {
        row.set_newest_seq(x.seq);
        row.set_newest_unix_s(x.time_s);
      }
      if (x.member == name) mine.push_back({x.seq, x.hash});
    }
    for (auto& [_, row] : by_member) *reply->add_fleet_members() = std::move(row);
    return mine;
  };
  // The service knows its fleet before the first fleet commit comes in.
  service.set_fleet(a.fleet, std::move(link), a.state_dir + "/fleet.json");
  m->start();
  return member;
}

int serve(const Args& a) {
  if (a.listen.rfind("unix:", 0) != 0) {
    std::fprintf(stderr,
                 "ftzgated: --listen takes unix:PATH (TCP is --listen-tcp HOST:PORT, with mutual TLS)\n");
    return 2;
  }
  const std::string socket_path = a.listen.substr(5);
  auto store = store::ConfigStore::open(a.state_dir);
  if (!store) {
    std::fprintf(stderr, "ftzgated: %s\n", store.error().message.c_str());
    const auto c = store.error().code;
    return c == store::StoreErrc::kNotInitialised || c == store::StoreErrc::kLocked ? 2 : 1;
  }
  auto key = keys::SigningKey::load(keys_dir(a) + "/device.key");
  auto acc = accounts::AccountStore::load(a.state_dir + "/accounts.json");
  auto authority = open_authority(a);  // a store from before TLS gets its CA here
  if (!key || !acc || !authority) {
    std::fprintf(stderr, "ftzgated: %s\n",
                 (!key   ? key.error()
                  : !acc ? acc.error()
                         : authority.error())
                     .c_str());
    return 1;
  }
  const std::string audit_dir = a.state_dir + "/audit";
  // The syslog export first: the audit log hands it each record.
  std::unique_ptr<daemon::SyslogExporter> syslog;
  if (!a.syslog.url.empty()) {
    auto started = daemon::SyslogExporter::start(a.syslog);
    if (!started) {
      std::fprintf(stderr, "ftzgated: %s\n", started.error().c_str());
      return 2;
    }
    syslog = std::move(*started);
  }
  audit::Options audit_options;
  audit_options.retention_days = a.audit_retention_days;
  audit_options.checkpoint_interval_ms = a.audit_checkpoint_interval_s * 1000;
  auto checkpoints = std::make_shared<Checkpoints>();
  if (syslog || !a.fleet.empty()) {
    audit_options.on_record = [&syslog, checkpoints, fleet = !a.fleet.empty()](const audit::Event& e,
                                                                               std::string_view line) {
      if (fleet && e.event_type == "checkpoint") checkpoints->add(line);
      if (!syslog) return;
      using Severity = daemon::SyslogExporter::Severity;
      if (e.event_type == "compliance_notice") {
        // A line reached or passed: warning; nearing it, a rollover: notice.
        const bool reached = e.details.value("percent", 0) >= 100;
        syslog->post(reached ? Severity::kWarning : Severity::kNotice, "compliance", std::string(line));
      } else {
        syslog->post(e.success ? Severity::kInfo : Severity::kWarning, "audit", std::string(line));
      }
    };
  }
  auto log = audit::AuditLog::open(audit_dir, *key, now_ms(), audit_options);
  if (!log) {
    std::fprintf(stderr, "ftzgated: %s\n", log.error().c_str());
    return 1;
  }
  daemon::ManagementService* management = nullptr;  // set below: the services refer to each other
  const daemon::AuditHook system_audit = [&management](const std::string& type, bool success,
                                                       nlohmann::ordered_json details) {
    return management->record_system(type, success, std::move(details));
  };
  // The count of individuals (its key is generated on first start).
  auto compliance = daemon::ComplianceCenter::open(compliance_dir(a), now_ms, system_audit);
  if (!compliance) {
    std::fprintf(stderr, "ftzgated: %s\n", compliance.error().c_str());
    return 1;
  }
  // Vendors' keys: signature packs signed with one of them load as signed.
  bundle::TrustedKeys vendor_keys;
  std::error_code ec;
  const bool any_key = std::any_of(std::filesystem::directory_iterator(a.vendor_keys, ec),
                                   std::filesystem::directory_iterator(),
                                   [](const auto& e) { return e.path().extension() == ".pub"; });
  if (any_key && !ec) {
    auto loaded = bundle::TrustedKeys::load(a.vendor_keys);
    if (!loaded) {
      std::fprintf(stderr, "ftzgated: %s\n", loaded.error().c_str());
      return 1;
    }
    vendor_keys = std::move(*loaded);
  } else {
    std::printf("ftzgated: no vendor keys in %s: signature packs load unsigned (audited)\n",
                a.vendor_keys.c_str());
  }
  daemon::DataplaneService dataplanes(*key, **authority, now_ms, system_audit, **compliance,
                                      a.state_dir + "/dataplanes.json");
  if (syslog) {
    dataplanes.set_alert_sink([&syslog](const ftzgate::v1::AlertRecord& r) {
      // The keyed token links one person's identifiers across flows: it
      // stays in ftzgated (the security administrator's `show alerts`).
      syslog->post(daemon::SyslogExporter::Severity::kWarning, "alert", daemon::alert_syslog_message(r));
    });
  }
  daemon::ManagementService service(*store, *acc, *log, audit_dir, key->public_pem(), **authority,
                                    vendor_keys, now_ms, a.idle_timeout_s, dataplanes);
  service.set_audit_verify_interval(a.audit_verify_interval_s);
  management = &service;
  // Declared after the service: their threads call the service, so they stop first.
  std::unique_ptr<daemon::FleetLedger> ledger;
  FleetSignatures signatures;
  if (!a.fleet.empty()) {
    auto s = fleet_signatures(a, *key);
    if (!s) {
      std::fprintf(stderr, "ftzgated: %s\n", s.error().c_str());
      return 2;
    }
    signatures = std::move(*s);
    auto opened = open_fleet_ledger(a, signatures, dataplanes, now_ms, system_audit);
    if (!opened) {
      std::fprintf(stderr, "ftzgated: %s\n", opened.error().c_str());
      return 2;
    }
    ledger = std::move(*opened);
  }
  service.publish_running();
  std::unique_ptr<fleet::FleetMember> member;
  if (!a.fleet.empty()) {
    auto joined = join_fleet(a, signatures, service, *ledger, checkpoints);
    if (!joined) {
      std::fprintf(stderr, "ftzgated: %s\n", joined.error().c_str());
      return 2;
    }
    member = std::move(*joined);
    ledger->start();
  }

  // A peer that closes its end (a syslog collector over TLS, whose writes
  // OpenSSL makes without MSG_NOSIGNAL) is a write error, not the end of
  // the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  // Signals are taken by one thread (sigwait), never by a handler.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  // The audit function starts (MLPS: its start and stop are recorded); a
  // daemon that cannot record does not serve.
  if (!service.record_system("ftzgated_start", true,
                             {{"version", FTZ_VERSION},
                              {"running_generation", store->running_generation()},
                              {"listen", printable_ascii(a.listen)},
                              {"listen_tcp", printable_ascii(a.listen_tcp)},
                              {"metrics_listen", printable_ascii(a.metrics_listen)},
                              {"syslog", printable_ascii(a.syslog.url)}})) {
    std::fputs("ftzgated: the audit log refuses the start record: not serving\n", stderr);
    return 1;
  }

  // We hold the state directory's lock: a socket file there is a dead
  // daemon's.
  ::unlink(socket_path.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(a.listen, grpc::InsecureServerCredentials());
  int tcp_port = 0;
  if (!a.listen_tcp.empty()) {
    // Mutual TLS: no handshake without a certificate of our CA that is not
    // revoked; what the certificate allows is checked per call (peer.hpp).
    builder.AddListeningPort(a.listen_tcp, daemon::tls_server_credentials(**authority, system_audit, now_ms),
                             &tcp_port);
  }
  builder.RegisterService(&service);
  builder.RegisterService(&dataplanes);
  builder.SetMaxSendMessageSize(static_cast<int>(bundle::kMaxBundleBytes));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || (!a.listen_tcp.empty() && tcp_port == 0)) {
    std::fprintf(stderr, "ftzgated: cannot listen on %s\n",
                 (a.listen + (a.listen_tcp.empty() ? "" : " and " + a.listen_tcp)).c_str());
    if (server) server->Shutdown();
    service.record_stop("cannot listen");
    return 1;
  }
  // Owner and the ftzgate group only (issue 10: the socket is 0660).
  if (::chmod(socket_path.c_str(), 0660) != 0) {
    std::perror(("ftzgated: chmod " + socket_path).c_str());
    server->Shutdown();
    service.record_stop("cannot set the socket's mode");
    return 1;
  }
  // The TCP port as bound (--listen-tcp HOST:0 picks a free one).
  const std::string tcp = a.listen_tcp.empty()
                              ? ""
                              : " and tcp " + a.listen_tcp.substr(0, a.listen_tcp.rfind(':')) + ":" +
                                    std::to_string(tcp_port) + " (mutual TLS)";
  std::unique_ptr<daemon::MetricsServer> metrics;
  if (!a.metrics_listen.empty()) {
    auto access = daemon::MetricsServer::load_access(a.metrics_listen, a.metrics_tls_cert, a.metrics_tls_key,
                                                     a.metrics_users);
    if (!access) {
      std::fprintf(stderr, "ftzgated: %s\n", access.error().c_str());
      server->Shutdown();
      service.record_stop("cannot serve metrics");
      return 2;
    }
    auto started = daemon::MetricsServer::start(
        a.metrics_listen,
        [&service, &syslog] {
          return service.metrics() +
                 (syslog ? daemon::render_syslog_metrics(syslog->counters()) : std::string());
        },
        std::move(*access));
    if (!started) {
      std::fprintf(stderr, "ftzgated: %s\n", started.error().c_str());
      server->Shutdown();
      service.record_stop("cannot serve metrics");
      return 1;
    }
    metrics = std::move(*started);
    // The port as bound (--metrics-listen HOST:0 picks a free one).
    const std::string host = a.metrics_listen.substr(0, a.metrics_listen.rfind(':'));
    std::printf("ftzgated: metrics on %s://%s:%u/metrics\n", metrics->tls() ? "https" : "http", host.c_str(),
                unsigned{metrics->port()});
  }
  std::printf("ftzgated: serving %s on %s%s, running generation %llu\n", a.state_dir.c_str(),
              a.listen.c_str(), tcp.c_str(), static_cast<unsigned long long>(store->running_generation()));
  std::fflush(stdout);
  ftz::service::Notifier systemd;
  systemd.ready("serving, running generation " + std::to_string(store->running_generation()));

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread timer([&] {
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
      lock.unlock();
      service.tick();
      dataplanes.tick();
      // The watchdog sees the periodic work turn (thresholds, sessions,
      // audit verification), which takes the services' locks.
      systemd.alive(std::chrono::steady_clock::now());
      lock.lock();
    }
  });
  int sig = 0;
  sigwait(&stop, &sig);
  systemd.stopping();
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  timer.join();
  metrics.reset();    // no scrape reads the services while they stop
  member.reset();     // no fleet commit comes in while the data planes stop, none after the last record
  dataplanes.stop();  // the subscriptions and reports end, so Shutdown does not wait for them
  // A report stream waits for its client's next batch: cancelled after 2 s.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  ledger.reset();         // after the reports (which store through it); another member counts from now
  (*compliance)->stop();  // the last batches on disk
  ::unlink(socket_path.c_str());
  service.record_stop(sig == SIGTERM ? "SIGTERM" : "SIGINT");
  std::printf("ftzgated: stopped (%s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  return 0;
}

}  // namespace

static int run(int argc, char** argv) {
  Args a;
  CLI::App app{"The ftzgate control plane: configuration store, commits, audit log.", "ftzgated"};
  app.add_option("--state-dir", a.state_dir, "state directory")->type_name("DIR")->capture_default_str();
  app.add_flag("--init", a.init, "initialise the state directory and exit");
  app.add_option("--accounts", a.accounts_file, "with --init: accounts, one name:role:password a line")
      ->type_name("FILE");
  app.add_option("--config", a.config_file, "with --init: the first configuration (generation 1)")
      ->type_name("FILE");
  app.add_option("--listen", a.listen, "where to serve the Management service")
      ->type_name("unix:PATH")
      ->capture_default_str();
  app.add_option("--listen-tcp", a.listen_tcp, "also serve TCP with mutual TLS (port 0: any free port)")
      ->type_name("HOST:PORT");
  app.add_option("--tls-name", a.tls_names,
                 "with --init: a name (address or DNS name) in ftzgated's TLS certificate; repeatable "
                 "(default: localhost, 127.0.0.1, ::1 and the host name)")
      ->type_name("NAME");
  app.add_option(
         "--vendor-keys", a.vendor_keys,
         "vendors' public keys (*.pub): signature packs whose PACK.sig verifies with one load as signed")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_option("--init-note", a.init_notes,
                 "with --init: KEY=VALUE kept in the audit log's init record (repeatable; KEY is "
                 "[a-z0-9_], VALUE printable ASCII, at most 200 characters)")
      ->type_name("KEY=VALUE");
  app.add_option("--key-algorithm", a.key_algorithm,
                 "with --init: the device key that signs bundles and audit checkpoints")
      ->check(CLI::IsMember({"ed25519", "sm2"}))
      ->capture_default_str();
  app.add_option("--idle-timeout", a.idle_timeout_s, "seconds an idle session lasts")
      ->type_name("SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{86400}))
      ->capture_default_str();
  app.add_option("--audit-verify-interval", a.audit_verify_interval_s,
                 "seconds between ftzgated's own verifications of its audit log (and one at start)")
      ->type_name("SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{7 * 86400}))
      ->capture_default_str();
  app.add_option("--metrics-listen", a.metrics_listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics (numeric address, [..] for IPv6)")
      ->type_name("HOST:PORT");
  app.add_option("--metrics-tls-cert", a.metrics_tls_cert,
                 "serve the metrics over HTTPS with this certificate")
      ->type_name("PEM");
  app.add_option("--metrics-tls-key", a.metrics_tls_key, "and its private key")->type_name("PEM");
  app.add_option("--metrics-users", a.metrics_users,
                 "require HTTP basic authentication: NAME:HASH lines (openssl passwd -6), mode 600")
      ->type_name("FILE");
  app.add_option("--syslog", a.syslog.url,
                 "send audit records, compliance notices and alerts as RFC 5424 messages to a collector")
      ->type_name("udp|tcp|tls://HOST:PORT");
  app.add_option("--syslog-ca", a.syslog.ca_file,
                 "with tls://: the CA the collector's certificate verifies with")
      ->type_name("FILE");
  app.add_option("--syslog-cert", a.syslog.cert_file,
                 "with tls://: a client certificate (chain) for a collector that requires one")
      ->type_name("FILE");
  app.add_option("--syslog-key", a.syslog.key_file, "and its private key")->type_name("FILE");
  app.add_option("--syslog-facility", a.syslog.facility, "auth, authpriv, daemon, audit, local0 to local7")
      ->capture_default_str();
  app.add_option("--syslog-queue", a.syslog.queue,
                 "messages waiting for the collector, at most (then dropped, counted)")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--audit-retention-days", a.audit_retention_days,
                 "days an audit file is kept after its newest record (the law: at least six months)")
      ->type_name("DAYS")
      ->check(CLI::Range(audit::kMinRetentionDays, int64_t{100} * 366))
      ->capture_default_str();
  app.add_option("--audit-checkpoint-interval", a.audit_checkpoint_interval_s,
                 "seconds between signed checkpoints of the audit log while records come (also every "
                 "1,000 records); in a fleet each is anchored in etcd")
      ->type_name("SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}))
      ->capture_default_str();
  app.add_option("--etcd-endpoints", a.etcd_endpoints,
                 "with --fleet: the etcd cluster (https://HOST:PORT, or http:// to loopback only)")
      ->type_name("URL[,URL...]");
  app.add_option("--fleet", a.fleet, "join this fleet: one policy for its members (docs/fleet.md)")
      ->type_name("NAME");
  app.add_option(
         "--fleet-keys", a.fleet_keys,
         "the fleet's member keys (each member's keys/device.pub, this one's too): only commits one of "
         "them signed are applied")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_option("--fleet-member", a.fleet_member,
                 "this appliance's name in the fleet (default: the host name)")
      ->type_name("NAME");
  app.add_option("--etcd-ca", a.etcd_ca, "the CA etcd's certificates verify with")->type_name("PEM");
  app.add_option("--etcd-cert", a.etcd_cert, "this member's client certificate for etcd")->type_name("PEM");
  app.add_option("--etcd-key", a.etcd_key, "and its private key")->type_name("PEM");
  app.add_option("--etcd-user", a.etcd_user,
                 "etcd's authentication: this member's etcd user (without it, with --etcd-cert, etcd takes "
                 "the certificate's common name)");
  app.add_option("--etcd-password-file", a.etcd_password_file,
                 "the etcd user's password: the file's first line (not readable by others)")
      ->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ftzgated: %s\nRun with --help for more information.\n", e.what());
    return 2;
  }
  if (auto cpu = engine::sig::host_cpu_supported(); !cpu) {
    std::fprintf(stderr, "ftzgated: %s\n", cpu.error().c_str());
    return 2;
  }
  if (!a.init && (!a.accounts_file.empty() || !a.config_file.empty() || !a.tls_names.empty() ||
                  !a.init_notes.empty() || app.count("--key-algorithm") != 0)) {
    std::fputs("ftzgated: --accounts, --config, --tls-name, --init-note and --key-algorithm go with --init\n",
               stderr);
    return 2;
  }
  for (const std::string& n : a.init_notes) {
    if (!valid_init_note(n)) {
      std::fprintf(stderr, "ftzgated: --init-note %s: not KEY=VALUE (KEY [a-z0-9_], VALUE printable ASCII)\n",
                   printable_ascii(n).c_str());
      return 2;
    }
  }
  for (const std::string& n : a.tls_names) {
    if (!pki::valid_server_name(n)) {
      std::fprintf(stderr, "ftzgated: --tls-name %s: not an address or a DNS name\n", n.c_str());
      return 2;
    }
  }
  return a.init ? init(a) : serve(a);
}

int main(int argc, char** argv) {
  // A last barrier: what escapes (allocation, I/O) ends the run with a
  // message and the error exit status, not std::terminate.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftzgated: %s\n", e.what());
    return 1;
  }
}
