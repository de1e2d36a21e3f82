#include "service.hpp"

#include <openssl/rand.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "ftz/base/atomic_file.hpp"
#include "ftz/config/config.hpp"
#include "ftz/config/diagnostics.hpp"
#include "ftz/config/diff.hpp"
#include "ftz/config/edit.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"
#include "ftz/keys/detached.hpp"
#include "ftz/keys/encoding.hpp"

namespace ftz::daemon {

namespace {

using grpc::Status;
using grpc::StatusCode;
using ojson = nlohmann::ordered_json;
namespace pb = ftzgate::v1;

constexpr const char* kSessionKey = "x-ftzgate-session";

std::string random_token() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

pb::Role to_proto(accounts::Role r) {
  switch (r) {
    case accounts::Role::kSysadmin:
      return pb::ROLE_SYSADMIN;
    case accounts::Role::kSecadmin:
      return pb::ROLE_SECADMIN;
    case accounts::Role::kAudadmin:
      return pb::ROLE_AUDADMIN;
    case accounts::Role::kOperator:
      return pb::ROLE_OPERATOR;
  }
  return pb::ROLE_UNSPECIFIED;
}

void to_proto(const store::CommitInfo& c, pb::CommitInfo* out) {
  out->set_generation(c.generation);
  out->set_user(c.user);
  out->set_time_unix_s(c.time_s);
  out->set_comment(c.comment);
  out->set_sha256(c.sha256);
  out->set_based_on(c.based_on);
}

// Store errors as the status codes of the contract.
Status status_of(const store::StoreError& e) {
  switch (e.code) {
    case store::StoreErrc::kStale:
    case store::StoreErrc::kNoPendingConfirm:
      return {StatusCode::FAILED_PRECONDITION, e.message};
    case store::StoreErrc::kInvalid:
      return {StatusCode::INVALID_ARGUMENT, e.message};
    default:
      return {StatusCode::INTERNAL, e.message};
  }
}

// A generation's text that is not there: NOT_FOUND (pruned or never made).
Status generation_status(const store::StoreError& e) {
  if (e.code == store::StoreErrc::kInvalid) return {StatusCode::NOT_FOUND, e.message};
  return status_of(e);
}

void to_proto(const pki::CertInfo& c, pb::Certificate* out) {
  out->set_serial(c.serial);
  out->set_kind(c.kind == pki::CertKind::kDataplane ? pb::CERTIFICATE_KIND_DATAPLANE
                : c.kind == pki::CertKind::kAdmin   ? pb::CERTIFICATE_KIND_ADMIN
                                                    : pb::CERTIFICATE_KIND_UNSPECIFIED);
  out->set_name(c.name);
  out->set_not_before_unix_s(c.not_before_s);
  out->set_not_after_unix_s(c.not_after_s);
  out->set_revoked_unix_s(c.revoked_s);
  out->set_sha256(c.sha256);
}

ojson certificate_json(const pki::CertInfo& c) {
  return {{"serial", c.serial},
          {"kind", c.kind ? pki::kind_name(*c.kind) : "?"},
          {"name", c.name},
          {"not_after_unix_s", c.not_after_s},
          {"sha256", c.sha256}};
}

}  // namespace

tl::expected<config::LoadedConfig, std::string> load_checked(const store::Configuration& config,
                                                             const std::string& filename) {
  config::LoadOptions options;
  options.read_included = config::read_from(config.files);
  auto loaded = config::load_config_from_string(config.text,
                                                std::filesystem::path(filename).filename().string(), options);
  if (!loaded) return tl::unexpected(config::format_diagnostics(loaded.error()));
  return std::move(*loaded);
}

std::vector<std::string> load_warnings(const ftzgate::v1::Config& model) {
  std::vector<std::string> out;
  // The token key and the count are ftzgated's own (decision 0012).
  if (!model.compliance().key_file().empty() || !model.compliance().state_file().empty()) {
    out.emplace_back(
        "compliance.key_file and compliance.state_file are ignored: ftzgated keeps the token key and the "
        "count for every data plane (docs/compliance.md, \"Counting in the control plane\")");
  }
  return out;
}

std::string validate_config(const store::Configuration& config, const std::string& filename) {
  auto loaded = load_checked(config, filename);
  return loaded ? std::string() : loaded.error();
}

tl::expected<ojson, std::string> check_pack_signatures(const ftzgate::v1::Config& model,
                                                       const std::map<std::string, std::string>& files,
                                                       const bundle::TrustedKeys& trusted) {
  ojson packs = ojson::object();
  for (const std::string& written : model.signature_packs()) {
    const std::string ref = std::filesystem::path(written).lexically_normal().string();
    const auto pack = files.find(ref);
    if (pack == files.end()) continue;  // the loader reported it already
    ojson entry{{"sha256", keys::sha256_hex(pack->second)}, {"signed_by", nullptr}};
    if (const auto sig = files.find(ref + ".sig"); sig != files.end()) {
      auto signer = keys::verify_detached(sig->second, pack->second,
                                          [&](const std::string& id) { return trusted.find(id); });
      if (!signer) return tl::unexpected(ref + ": the vendor's signature does not hold: " + signer.error());
      entry["signed_by"] = *signer;
    }
    packs[ref] = std::move(entry);
  }
  return packs;
}

ManagementService::ManagementService(store::ConfigStore& store, accounts::AccountStore& accounts,
                                     audit::AuditLog& audit, std::string audit_dir,
                                     std::string audit_public_pem, pki::Authority& authority,
                                     const bundle::TrustedKeys& vendor_keys, Clock clock,
                                     int64_t idle_timeout_s, DataplaneService& dataplanes)
    : store_(store),
      accounts_(accounts),
      audit_(audit),
      audit_dir_(std::move(audit_dir)),
      audit_pem_(std::move(audit_public_pem)),
      authority_(authority),
      vendor_keys_(vendor_keys),
      clock_(std::move(clock)),
      started_ms_(clock_()),
      idle_timeout_ms_(idle_timeout_s * 1000),
      dataplanes_(dataplanes) {}

void ManagementService::publish_running() {
  std::lock_guard lock(mu_);
  publish_running_locked();
}

void ManagementService::publish_running_locked() {
  bundle::Commit c;
  c.generation = store_.running_generation();
  auto config = store_.configuration(c.generation);
  auto history = store_.history();
  if (!config || !history) {
    // The store's files are damaged: the data planes keep what they run.
    std::fprintf(stderr, "ftzgated: cannot read generation %llu for the data planes: %s\n",
                 static_cast<unsigned long long>(c.generation),
                 (!config ? config.error() : history.error()).message.c_str());
    return;
  }
  c.yaml = std::move(config->text);
  c.files = std::move(config->files);
  for (const store::CommitInfo& h : *history) {
    if (h.generation != c.generation) continue;
    c.config_sha256 = h.sha256;
    c.committed_by = h.user;
    c.committed_unix_s = h.time_s;
  }
  dataplanes_.publish(std::move(c), override_generation_ == 0);
}

bool ManagementService::record_system(const std::string& event_type, bool success, ojson details) {
  Session system;
  system.user = "ftzgated";
  return !record(system, nullptr, event_type, success, std::move(details));
}

void ManagementService::record_stop(const std::string& reason) {
  if (!record_system("ftzgated_stop", true, ojson{{"reason", reason}}))
    std::fputs("ftzgated: the stop could not be recorded in the audit log\n", stderr);
  std::lock_guard audit_lock(audit_mu_);
  if (auto sealed = audit_.checkpoint_now(clock_()); !sealed)
    std::fprintf(stderr, "ftzgated: %s\n", sealed.error().c_str());
}

std::optional<Status> ManagementService::record(const Session& s, grpc::ServerContext* ctx,
                                                const std::string& event_type, bool success, ojson details) {
  audit::Event e;
  e.user = s.user;
  e.role = s.authenticated ? std::string(accounts::role_name(s.role)) : ctx == nullptr ? "system" : "";
  if (ctx == nullptr) {
    e.source = "ftzgated";
  } else {
    auto peer = identify(*ctx, authority_);
    e.source = peer ? peer->source() : ctx->peer();
  }
  e.event_type = event_type;
  e.success = success;
  e.details = std::move(details);
  std::lock_guard lock(audit_mu_);
  auto written = audit_.append(e, clock_());
  if (!written)
    return Status(StatusCode::INTERNAL, "refused: the audit record cannot be written: " + written.error());
  return std::nullopt;
}

std::optional<Status> ManagementService::authorize(grpc::ServerContext* ctx, Need need,
                                                   const char* event_type, Session& out) {
  // Over TCP only an administrator's certificate, not revoked, reaches a
  // session.
  auto peer = require_certificate(*ctx, authority_, pki::CertKind::kAdmin, "");
  if (!peer) {
    Session caller;
    caller.user = "(certificate)";
    if (auto failed = record(caller, ctx, event_type, false, ojson{{"denied", peer.error().error_message()}}))
      return failed;
    return peer.error();
  }
  const auto& md = ctx->client_metadata();
  const auto it = md.find(kSessionKey);
  const int64_t now = clock_();
  if (it == md.end()) return Status(StatusCode::UNAUTHENTICATED, "no session: log in first");
  const std::string token(it->second.data(), it->second.size());
  auto s = sessions_.find(token);
  if (s == sessions_.end()) return Status(StatusCode::UNAUTHENTICATED, "unknown session: log in again");
  // A token is no use without the certificate it logged in with (a token
  // read off one connection does not work on another).
  if (s->second.cert_serial != peer->serial)
    return Status(StatusCode::UNAUTHENTICATED, "the session belongs to another certificate: log in again");
  if (now - s->second.last_ms > idle_timeout_ms_) {
    Session gone = s->second;
    sessions_.erase(s);
    (void)record(gone, ctx, "session_timeout", true, ojson::object());
    return Status(StatusCode::UNAUTHENTICATED, "the session was idle too long: log in again");
  }
  s->second.last_ms = now;
  out = s->second;
  if (out.must_change && need != Need::kAny)
    return Status(StatusCode::FAILED_PRECONDITION, "change the password first (ftzctl user passwd)");
  bool allowed = false;
  switch (need) {
    case Need::kAny:
      allowed = true;
      break;
    case Need::kRead:
      allowed = out.role != accounts::Role::kAudadmin;
      break;
    case Need::kPolicy:
      allowed = out.role == accounts::Role::kSecadmin;
      break;
    case Need::kAudit:
      allowed = out.role == accounts::Role::kAudadmin;
      break;
    case Need::kSystem:
      allowed = out.role == accounts::Role::kSysadmin;
      break;
  }
  if (allowed) return std::nullopt;
  const std::string role(accounts::role_name(out.role));
  if (auto failed = record(out, ctx, event_type, false, ojson{{"denied", "role " + role}})) return failed;
  return Status(StatusCode::PERMISSION_DENIED, "role " + role + " may not do this");
}

Status ManagementService::Login(grpc::ServerContext* ctx, const pb::LoginRequest* req,
                                pb::LoginReply* reply) {
  std::unique_lock lock(mu_);
  // The first factor over TCP: an admin certificate naming this account.
  auto peer = require_certificate(*ctx, authority_, pki::CertKind::kAdmin, req->user());
  if (!peer) {
    Session s;
    s.user = store::ConfigStore::valid_user(req->user()) ? req->user() : "(invalid name)";
    if (auto failed = record(s, ctx, "login", false, ojson{{"reason", peer.error().error_message()}}))
      return *failed;
    return peer.error();
  }
  const std::string hash = accounts_.hash_to_check(req->user());
  // scrypt outside the lock: a flood of logins does not stall the other
  // administrators' calls.
  lock.unlock();
  const bool password_ok = accounts::check_password(req->password(), hash);
  lock.lock();
  const int64_t now = clock_();
  auto acc = accounts_.record_login(req->user(), password_ok, now / 1000);
  Session s;
  if (!acc) {
    // The record names the user as typed: an unknown name is an event too.
    s.user = store::ConfigStore::valid_user(req->user()) ? req->user() : "(invalid name)";
    const bool locked = acc.error() == accounts::AuthFailure::kLocked;
    if (auto failed =
            record(s, ctx, "login", false, ojson{{"reason", locked ? "locked" : "wrong user or password"}}))
      return *failed;
    if (locked)
      return {StatusCode::PERMISSION_DENIED,
              "the account is locked after repeated failures; try again later"};
    return {StatusCode::UNAUTHENTICATED, "wrong user or password"};
  }
  s.user = acc->name;
  s.role = acc->role;
  s.authenticated = true;
  s.must_change = acc->must_change;
  s.last_ms = now;
  s.cert_serial = peer->serial;
  const std::string token = random_token();
  if (token.empty()) return {StatusCode::INTERNAL, "no random bytes for a session (OpenSSL)"};
  if (auto failed = record(s, ctx, "login", true, ojson::object())) return *failed;
  sessions_[token] = s;
  reply->set_session(token);
  reply->set_role(to_proto(s.role));
  reply->set_must_change_password(s.must_change);
  reply->set_idle_timeout_s(idle_timeout_ms_ / 1000);
  return Status::OK;
}

Status ManagementService::ChangePassword(grpc::ServerContext* ctx, const pb::ChangePasswordRequest* req,
                                         pb::ChangePasswordReply*) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kAny, "password_change", s)) return *denied;
  const std::string why = accounts::password_problem(req->new_password());
  if (!why.empty()) {
    if (auto failed = record(s, ctx, "password_change", false, ojson{{"reason", why}})) return *failed;
    return {StatusCode::INVALID_ARGUMENT, why};
  }
  if (auto failed = record(s, ctx, "password_change", true, ojson::object())) return *failed;
  if (auto changed = accounts_.change_password(s.user, req->new_password()); !changed)
    return {StatusCode::INTERNAL, changed.error()};
  for (auto& [token, session] : sessions_) {
    if (session.user == s.user) session.must_change = false;
  }
  return Status::OK;
}

Status ManagementService::ShowConfiguration(grpc::ServerContext* ctx, const pb::ShowConfigurationRequest* req,
                                            pb::ShowConfigurationReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_configuration", s)) return *denied;
  uint64_t generation = store_.running_generation();
  if (req->which_case() == pb::ShowConfigurationRequest::kCandidate) {
    auto c = store_.candidate(s.user);
    if (!c) return status_of(c.error());
    if (*c) {
      reply->set_generation((*c)->based_on);
      reply->set_yaml((*c)->text);
      return Status::OK;
    }
  } else if (req->which_case() == pb::ShowConfigurationRequest::kRollback) {
    generation = req->rollback();
  }
  auto text = store_.config_text(generation);
  if (!text) return generation_status(text.error());
  reply->set_generation(generation);
  reply->set_yaml(std::move(*text));
  return Status::OK;
}

Status ManagementService::Load(grpc::ServerContext* ctx, const pb::LoadRequest* req, pb::LoadReply* reply) {
  const std::lock_guard change(change_mu_);
  const std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, "load", s)) return *denied;
  const std::string filename = req->filename().empty() ? "candidate.yaml" : req->filename();
  store::Candidate c{store_.running_generation(), req->yaml(), {req->files().begin(), req->files().end()}};
  if (req->merge()) {
    auto base = candidate_or_running(s.user);
    if (!base) return base.error();
    auto merged = config::edit_merge(base->text, req->yaml());
    if (!merged) {
      if (auto failed = record(s, ctx, "load", false,
                               ojson{{"file", filename}, {"merge", true}, {"reason", merged.error()}}))
        return *failed;
      return {StatusCode::INVALID_ARGUMENT, filename + ": " + merged.error()};
    }
    c.based_on = base->based_on;
    c.text = std::move(*merged);
    for (auto& [path, content] : base->files) c.files.try_emplace(path, std::move(content));
  }
  auto loaded = load_checked({c.text, c.files}, filename);
  if (!loaded) {
    if (auto failed =
            record(s, ctx, "load", false, ojson{{"file", filename}, {"reason", "does not validate"}}))
      return *failed;
    return {StatusCode::INVALID_ARGUMENT, loaded.error()};
  }
  // Packs are accepted signed by a trusted vendor key, or unsigned on the
  // security administrator's word (only secadmin loads); a signature that
  // is there and does not hold refuses the load.
  auto packs = check_pack_signatures(loaded->model, c.files, vendor_keys_);
  if (!packs) {
    if (auto failed = record(s, ctx, "load", false, ojson{{"file", filename}, {"reason", packs.error()}}))
      return *failed;
    return {StatusCode::INVALID_ARGUMENT, packs.error()};
  }
  // Which files came with it, and their hashes: what an auditor needs to
  // tell which prefix lists and signature packs were installed, and who
  // signed each pack.
  ojson files = ojson::object();
  for (const auto& [path, content] : c.files) files[path] = keys::sha256_hex(content);
  if (auto failed = record(s, ctx, "load", true,
                           ojson{{"file", filename},
                                 {"merge", req->merge()},
                                 {"based_on", c.based_on},
                                 {"files", std::move(files)},
                                 {"packs", std::move(*packs)}}))
    return *failed;
  for (std::string& warning : load_warnings(loaded->model)) reply->add_warnings(std::move(warning));
  if (auto saved = store_.save_candidate(s.user, c); !saved) return status_of(saved.error());
  reply->set_based_on(c.based_on);
  return Status::OK;
}

ojson ManagementService::change_summary(const store::Candidate& c) {
  auto running = store_.configuration(store_.running_generation());
  if (!running) return ojson{{"unknown", running.error().message}};
  const config::DiffSummary d = config::summarize_diff(running->text, c.text);
  ojson files{{"added", ojson::array()}, {"removed", ojson::array()}, {"changed", ojson::array()}};
  for (const auto& [path, content] : c.files) {
    const auto old = running->files.find(path);
    if (old == running->files.end())
      files["added"].push_back(path);
    else if (old->second != content)
      files["changed"].push_back(path);
  }
  for (const auto& [path, content] : running->files) {
    if (!c.files.contains(path)) files["removed"].push_back(path);
  }
  return ojson{{"from_generation", store_.running_generation()},
               {"lines_added", d.lines_added},
               {"lines_removed", d.lines_removed},
               {"sections", d.sections},
               {"files", std::move(files)}};
}

tl::expected<store::Candidate, Status> ManagementService::candidate_or_running(const std::string& user) {
  auto cand = store_.candidate(user);
  if (!cand) return tl::unexpected(status_of(cand.error()));
  if (*cand) return std::move(**cand);
  auto running = store_.configuration(store_.running_generation());
  if (!running) return tl::unexpected(status_of(running.error()));
  return store::Candidate{store_.running_generation(), std::move(running->text), std::move(running->files)};
}

Status ManagementService::Edit(grpc::ServerContext* ctx, const pb::EditRequest* req, pb::EditReply* reply) {
  const std::lock_guard change(change_mu_);
  const std::lock_guard lock(mu_);
  Session s;
  const bool set = req->operation_case() == pb::EditRequest::kSetValue;
  const char* event = set ? "set" : "delete";
  if (auto denied = authorize(ctx, Need::kPolicy, event, s)) return *denied;
  if (!set && req->operation_case() != pb::EditRequest::kRemove)
    return {StatusCode::INVALID_ARGUMENT, "an edit sets a value or deletes"};
  const std::vector<std::string> path(req->path().begin(), req->path().end());
  auto base = candidate_or_running(s.user);
  if (!base) return base.error();
  store::Candidate c = std::move(*base);
  auto edited = set ? config::edit_set(c.text, path, req->set_value()) : config::edit_delete(c.text, path);
  std::string words;
  for (const std::string& w : path) words += (words.empty() ? "" : " ") + config::utf8_prefix(w, 256);
  ojson details{{"path", words}};
  if (set) details["value"] = config::utf8_prefix(req->set_value(), 256);
  if (!edited) {
    details["reason"] = edited.error();
    if (auto failed = record(s, ctx, event, false, std::move(details))) return *failed;
    return {StatusCode::INVALID_ARGUMENT, edited.error()};
  }
  c.text = std::move(*edited);
  details["based_on"] = c.based_on;
  if (auto failed = record(s, ctx, event, true, std::move(details))) return *failed;
  if (auto saved = store_.save_candidate(s.user, c); !saved) return status_of(saved.error());
  reply->set_based_on(c.based_on);
  reply->set_problems(validate_config({c.text, c.files}, "candidate.yaml"));
  return Status::OK;
}

Status ManagementService::Commit(grpc::ServerContext* ctx, const pb::CommitRequest* req,
                                 pb::CommitReply* reply) {
  const std::lock_guard change(change_mu_);
  std::unique_lock lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, req->check_only() ? "commit_check" : "commit", s))
    return *denied;
  auto cand = store_.candidate(s.user);
  if (!cand) return status_of(cand.error());
  if (!*cand) {
    // A plain `commit` with nothing edited confirms a pending commit
    // confirmed (Junos); in a fleet, the fleet's, on any member.
    if (!req->check_only() && req->confirm_minutes() == 0 && (store_.pending_confirm() || !fleet_.empty())) {
      auto g = confirm_locked(s, ctx, lock);
      if (g) {
        reply->mutable_commit()->set_generation(*g);
        return Status::OK;
      }
      if (store_.pending_confirm() || g.error().error_code() != StatusCode::FAILED_PRECONDITION)
        return g.error();
    }
    return {StatusCode::FAILED_PRECONDITION, "no candidate: load a configuration first"};
  }
  const store::Candidate& c = **cand;
  const auto loaded = load_checked({c.text, c.files}, "candidate.yaml");
  if (!loaded) return {StatusCode::INVALID_ARGUMENT, loaded.error()};
  if (c.based_on != store_.running_generation()) {
    return {StatusCode::FAILED_PRECONDITION,
            "the candidate was edited from generation " + std::to_string(c.based_on) + ", generation " +
                std::to_string(store_.running_generation()) + " is running now: load again"};
  }
  // The packs against the vendor keys trusted now, whatever loaded them
  // (a candidate loaded, or rolled back, before a key was withdrawn).
  if (auto packs = check_pack_signatures(loaded->model, c.files, vendor_keys_); !packs)
    return refuse(s, ctx, req->check_only() ? "commit_check" : "commit", ojson::object(),
                  StatusCode::FAILED_PRECONDITION, packs.error());
  if (req->check_only()) {
    if (auto failed = record(s, ctx, "commit_check", true, ojson::object())) return *failed;
    return Status::OK;
  }
  const int64_t now_s = clock_() / 1000;
  std::optional<int64_t> confirm_by;
  if (req->confirm_minutes() > 0) confirm_by = now_s + int64_t{req->confirm_minutes()} * 60;
  if (req->local_only() && fleet_.empty())
    return {StatusCode::INVALID_ARGUMENT, "commit local-only is for a member of a fleet: commit"};
  if (req->local_only() && (req->comment().empty() || confirm_by))
    return {StatusCode::INVALID_ARGUMENT,
            "commit local-only needs its reason (comment TEXT), and no confirmed"};
  // The request is recorded first: a commit that cannot be recorded does not
  // happen. Its outcome follows (generation and content hash).
  ojson details{{"based_on", c.based_on}, {"comment", req->comment()}};
  if (confirm_by) details["confirm_by_unix_s"] = *confirm_by;
  if (auto failed = record(s, ctx, "commit_requested", true, details)) return *failed;
  ojson changes = change_summary(c);
  // In a fleet the fleet's commit point moves first: a commit it does not
  // take does not happen here either. etcd is called without mu_
  // (change_mu_ keeps the running generation and the candidate as they are).
  std::optional<uint64_t> as_generation;
  if (!fleet_.empty() && !req->local_only()) {
    const FleetPublisher publish = fleet_link_.publish;
    const uint64_t running = store_.running_generation();
    const std::string running_sha256 = store_.running_sha256();
    lock.unlock();
    auto published =
        publish(running, running_sha256, {c.text, c.files}, s.user, req->comment(), now_s, confirm_by);
    lock.lock();
    using Outcome = FleetPublished::Outcome;
    if (!published) {
      (void)record(s, ctx, "commit", false, ojson{{"fleet", fleet_}, {"reason", published.error()}});
      return {StatusCode::UNAVAILABLE,
              "fleet " + fleet_ + ": " + published.error() +
                  ": nothing committed here (this appliance keeps its running generation; should etcd "
                  "have taken the commit after all, this member applies it once etcd answers: show fleet)"};
    }
    if (published->outcome != Outcome::kWon) {
      const std::string why =
          published->outcome == Outcome::kLost
              ? "another member (" + published->member + ") committed generation " +
                    std::to_string(published->generation) + " first: load again"
          : override_generation_ != 0
              ? "this member runs a local-only override (generation " + std::to_string(override_generation_) +
                    ") instead of the fleet's generation " + std::to_string(published->generation) +
                    ": commit on a member that follows the fleet (its commit ends the override "
                    "here too)"
              : "this member does not run the fleet's generation " + std::to_string(published->generation) +
                    " (committed on " + published->member +
                    ") yet: wait until it is applied, then load again";
      (void)record(s, ctx, "commit", false, ojson{{"fleet", fleet_}, {"reason", why}});
      return {StatusCode::FAILED_PRECONDITION, "fleet " + fleet_ + ": " + why};
    }
    as_generation = published->generation;
  }
  // A fleet's commit confirmed waits in the fleet (every member goes back
  // together), not in this member's store.
  auto info = store_.commit(s.user, {c.text, c.files}, c.based_on, req->comment(), now_s,
                            as_generation ? std::nullopt : confirm_by, as_generation);
  if (!info) {
    (void)record(s, ctx, "commit", false, ojson{{"reason", info.error().message}});
    return status_of(info.error());
  }
  if (as_generation) {
    ran_fleet_generation_locked(*as_generation);
  } else if (req->local_only()) {
    // The override and what it departs from, for the auditor; it holds
    // across restarts until the fleet's next commit.
    override_generation_ = info->generation;
    const bool saved = save_fleet_state();
    (void)record(s, ctx, "fleet_local_override", saved,
                 ojson{{"fleet", fleet_},
                       {"generation", info->generation},
                       {"fleet_generation", fleet_generation_},
                       {"reason", req->comment()}});
  }
  // The bundles of this generation (one per data-plane CPU) are recorded as
  // bundle_build with their hashes, by generation.
  (void)record(
      s, ctx, "commit", true,
      ojson{{"generation", info->generation}, {"sha256", info->sha256}, {"changes", std::move(changes)}});
  publish_running_locked();
  to_proto(*info, reply->mutable_commit());
  if (confirm_by) reply->set_confirm_by_unix_s(*confirm_by);
  return Status::OK;
}

void ManagementService::set_fleet(std::string fleet, FleetLink link, std::string state_file) {
  const std::lock_guard lock(mu_);
  fleet_ = std::move(fleet);
  fleet_link_ = std::move(link);
  fleet_state_file_ = std::move(state_file);
  // What this member ran of this fleet before a restart. A file of another
  // fleet, or none, starts from nothing: the fleet's commit point decides.
  const ojson saved =
      ojson::parse(config::read_regular_file(fleet_state_file_, 4096).value_or(""), nullptr, false);
  if (!saved.is_object() || saved.value("fleet", "") != fleet_) return;
  fleet_generation_ = saved.value("fleet_generation", uint64_t{0});
  // An override counts only while it is what runs.
  const uint64_t override_generation = saved.value("override_generation", uint64_t{0});
  override_generation_ = override_generation == store_.running_generation() ? override_generation : 0;
  // Published before the fleet was known: the count learns of the override.
  if (override_generation_ != 0) publish_running_locked();
}

bool ManagementService::save_fleet_state() {
  const std::string text = ojson{{"fleet", fleet_},
                                 {"fleet_generation", fleet_generation_},
                                 {"override_generation", override_generation_}}
                               .dump() +
                           "\n";
  auto written = base::write_file_atomically(fleet_state_file_, text, 0640);
  if (!written) std::fprintf(stderr, "ftzgated: fleet %s: %s\n", fleet_.c_str(), written.error().c_str());
  return written.has_value();
}

void ManagementService::count_dataplanes(LocalState& out) {
  pb::ShowDataplanesReply planes;
  dataplanes_.show(&planes);
  out.dataplanes = static_cast<uint32_t>(planes.dataplanes_size());
  for (const pb::DataplaneInfo& d : planes.dataplanes()) {
    if (d.connected()) ++out.dataplanes_connected;
    if (d.connected() && d.state() == "running") ++out.dataplanes_current;
  }
}

ManagementService::LocalState ManagementService::local_state() {
  LocalState out;
  {
    const std::lock_guard lock(mu_);
    out.generation = store_.running_generation();
    out.sha256 = store_.running_sha256();
  }
  count_dataplanes(out);
  return out;
}

Status ManagementService::ShowFleet(grpc::ServerContext* ctx, const pb::ShowFleetRequest*,
                                    pb::ShowFleetReply* reply) {
  FleetShower show;
  {
    std::lock_guard lock(mu_);
    Session s;
    if (auto denied = authorize(ctx, Need::kRead, "show_fleet", s)) return *denied;
    if (fleet_.empty())
      return {StatusCode::FAILED_PRECONDITION,
              "this ftzgated is not in a fleet (ftzgated --fleet, docs/fleet.md)"};
    show = fleet_link_.show;
  }
  // etcd is read without the lock: commits and the data planes go on.
  show(reply);
  return Status::OK;
}

void ManagementService::runs_fleet_generation(uint64_t generation, const std::string& sha256) {
  const std::lock_guard change(change_mu_);
  const std::lock_guard lock(mu_);
  if (sha256 == store_.running_sha256() && ran_fleet_generation_locked(generation)) publish_running_locked();
}

bool ManagementService::ran_fleet_generation_locked(uint64_t generation) {
  if (generation <= fleet_generation_) return false;
  const bool ended = override_generation_ != 0;
  fleet_generation_ = generation;
  override_generation_ = 0;
  (void)save_fleet_state();
  return ended;
}

std::pair<uint64_t, std::string> ManagementService::running() {
  const std::lock_guard lock(mu_);
  return {store_.running_generation(), store_.running_sha256()};
}

tl::expected<store::Configuration, std::string> ManagementService::running_configuration() {
  const std::lock_guard lock(mu_);
  auto c = store_.configuration(store_.running_generation());
  if (!c) return tl::unexpected(c.error().message);
  return std::move(*c);
}

tl::expected<void, std::string> ManagementService::apply_fleet_commit(
    uint64_t generation, const std::string& member, const std::string& user, const std::string& comment,
    const std::string& signed_by, const store::Configuration& config) {
  const std::lock_guard change(change_mu_);
  const std::lock_guard lock(mu_);
  const std::string sha = store::content_hash(config);
  if (sha == store_.running_sha256()) {
    if (ran_fleet_generation_locked(generation)) publish_running_locked();
    return {};
  }
  // A local-only override holds until the fleet moves past what it
  // departed from.
  if (override_generation_ != 0 && generation <= fleet_generation_) return {};
  // A fleet commit not newer than one this member ran is history, not a
  // change: applying it would roll the member back. (The follower read the
  // commit point just before this member's own commit won; or the fleet's
  // etcd was restored from an older backup, which a new commit moves past.)
  if (generation <= fleet_generation_)
    return tl::unexpected("fleet generation " + std::to_string(generation) +
                          " is not newer than fleet generation " + std::to_string(fleet_generation_) +
                          ", which this member ran: not applied");
  const ojson details{{"fleet", fleet_},
                      {"fleet_generation", generation},
                      {"member", member},
                      {"user", user},
                      {"signed_by", signed_by},
                      {"sha256", sha},
                      {"based_on", store_.running_generation()}};
  // As a commit here is checked: the configuration, then its packs against
  // the vendor keys this appliance trusts.
  auto loaded = load_checked(config, "fleet-generation-" + std::to_string(generation) + ".yaml");
  tl::expected<ojson, std::string> packs =
      loaded ? check_pack_signatures(loaded->model, config.files, vendor_keys_)
             : tl::expected<ojson, std::string>(tl::unexpected(loaded.error()));
  if (!packs) {
    ojson refused = details;
    refused["reason"] = packs.error();
    (void)record_system("fleet_commit_applied", false, std::move(refused));
    return tl::unexpected(packs.error());
  }
  if (!record_system("fleet_commit_applied", true, details))
    return tl::unexpected(std::string("the audit log refuses the record"));
  // The fleet's number when it is above ours (it always is for a member
  // that follows the fleet); else the next one here.
  const std::optional<uint64_t> as =
      generation > store_.running_generation() ? std::optional<uint64_t>(generation) : std::nullopt;
  const std::string note = "fleet " + fleet_ + " generation " + std::to_string(generation) + " by " + user +
                           " on " + member + (comment.empty() ? "" : ": " + comment);
  // Committed here by ftzgated itself (as an expired commit confirmed is):
  // a commit by `user` would consume that user's candidate on this member.
  auto info =
      store_.commit("ftzgated", config, store_.running_generation(), note, clock_() / 1000, std::nullopt, as);
  if (!info && as)
    info = store_.commit("ftzgated", config, store_.running_generation(), note, clock_() / 1000);
  if (!info) return tl::unexpected(info.error().message);
  ran_fleet_generation_locked(generation);
  publish_running_locked();
  return {};
}

tl::expected<uint64_t, Status> ManagementService::confirm_locked(const Session& s, grpc::ServerContext* ctx,
                                                                 std::unique_lock<std::mutex>& lock) {
  const auto pending = store_.pending_confirm();
  if (!pending && !fleet_.empty() && fleet_link_.confirm) {
    // The fleet's commit confirmed, whichever member committed it; etcd is
    // called without mu_.
    const auto confirm = fleet_link_.confirm;
    const int64_t now_s = clock_() / 1000;
    lock.unlock();
    auto g = confirm(s.user, now_s);
    lock.lock();
    if (!g) {
      (void)record(s, ctx, "commit_confirm", false, ojson{{"fleet", fleet_}, {"reason", g.error()}});
      return tl::unexpected(
          Status(StatusCode::UNAVAILABLE, "fleet " + fleet_ + ": " + g.error() + ": nothing confirmed"));
    }
    if (*g) {
      if (auto failed = record(s, ctx, "commit_confirm", true, ojson{{"fleet", fleet_}, {"generation", **g}}))
        return tl::unexpected(*failed);
      return **g;
    }
  }
  if (!pending)
    return tl::unexpected(Status(StatusCode::FAILED_PRECONDITION, "no commit confirmed is pending"));
  if (auto failed = record(s, ctx, "commit_confirm", true, ojson{{"generation", pending->generation}}))
    return tl::unexpected(*failed);
  if (auto done = store_.confirm(); !done) return tl::unexpected(status_of(done.error()));
  return pending->generation;
}

Status ManagementService::Confirm(grpc::ServerContext* ctx, const pb::ConfirmRequest*,
                                  pb::ConfirmReply* reply) {
  const std::lock_guard change(change_mu_);
  std::unique_lock lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, "commit_confirm", s)) return *denied;
  auto g = confirm_locked(s, ctx, lock);
  if (!g) return g.error();
  reply->set_generation(*g);
  return Status::OK;
}

Status ManagementService::Rollback(grpc::ServerContext* ctx, const pb::RollbackRequest* req,
                                   pb::RollbackReply* reply) {
  const std::lock_guard change(change_mu_);
  const std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, "rollback", s)) return *denied;
  auto config = store_.configuration(req->generation());
  if (!config) return generation_status(config.error());
  // Its packs are checked again against the vendor keys trusted today: a
  // key withdrawn since does not come back with an old generation. (A
  // generation the loader no longer accepts is copied anyway: commit check
  // names what is wrong with it.)
  ojson packs = ojson::object();
  const std::string filename = "generation-" + std::to_string(req->generation()) + ".yaml";
  if (auto loaded = load_checked({config->text, config->files}, filename)) {
    auto checked = check_pack_signatures(loaded->model, config->files, vendor_keys_);
    if (!checked) {
      if (auto failed = record(s, ctx, "rollback", false,
                               ojson{{"to_generation", req->generation()}, {"reason", checked.error()}}))
        return *failed;
      return {StatusCode::FAILED_PRECONDITION, filename + ": " + checked.error()};
    }
    packs = std::move(*checked);
  }
  if (auto failed = record(s, ctx, "rollback", true,
                           ojson{{"to_generation", req->generation()},
                                 {"based_on", store_.running_generation()},
                                 {"packs", std::move(packs)}}))
    return *failed;
  if (auto saved = store_.save_candidate(
          s.user, {store_.running_generation(), std::move(config->text), std::move(config->files)});
      !saved)
    return status_of(saved.error());
  reply->set_based_on(store_.running_generation());
  return Status::OK;
}

Status ManagementService::ShowCommits(grpc::ServerContext* ctx, const pb::ShowCommitsRequest*,
                                      pb::ShowCommitsReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_commits", s)) return *denied;
  auto history = store_.history();
  if (!history) return status_of(history.error());
  for (const auto& c : *history) to_proto(c, reply->add_commits());
  reply->set_running_generation(store_.running_generation());
  if (const auto& p = store_.pending_confirm()) {
    reply->set_pending_confirm_generation(p->generation);
    reply->set_confirm_by_unix_s(p->deadline_s);
  }
  return Status::OK;
}

Status ManagementService::AuditVerify(grpc::ServerContext* ctx, const pb::AuditVerifyRequest* req,
                                      pb::AuditVerifyReply* reply) {
  FleetAnchors fleet;
  Session s;
  {
    std::lock_guard lock(mu_);
    if (auto denied = authorize(ctx, Need::kAudit, "audit_verify", s)) return *denied;
    if (req->fleet()) {
      if (fleet_.empty() || !fleet_link_.anchors)
        return {StatusCode::FAILED_PRECONDITION,
                "this ftzgated is not in a fleet (ftzgated --fleet, docs/fleet.md)"};
      fleet = fleet_link_.anchors;
    }
  }
  // etcd is read without the lock; the anchors are read before the log, so
  // that every anchor names a record the log held when it was read.
  std::vector<audit::FleetAnchor> anchors;
  if (fleet) {
    auto read = fleet(reply);
    if (!read) return {StatusCode::UNAVAILABLE, "the fleet's audit anchors: " + read.error()};
    anchors = std::move(*read);
  }
  std::lock_guard lock(mu_);
  audit::VerifyReport r;
  {
    // No record half written while it reads (a truncation it would report).
    std::lock_guard audit_lock(audit_mu_);
    r = fleet ? audit::verify(audit_dir_, audit_pem_, anchors) : audit::verify(audit_dir_, audit_pem_);
    note_audit_verification(r, clock_(), s.user.c_str());
  }
  reply->set_fleet_anchors_checked(anchors.size());
  if (auto failed = record(s, ctx, "audit_verify", true,
                           ojson{{"ok", r.ok}, {"last_seq", r.last_seq}, {"fleet", req->fleet()}}))
    return *failed;
  reply->set_ok(r.ok);
  reply->set_problem(r.problem);
  reply->set_where(r.where);
  reply->set_records(r.records);
  reply->set_checkpoints(r.checkpoints);
  reply->set_last_seq(r.last_seq);
  reply->set_unsigned_tail(r.unsigned_tail);
  reply->set_removed_through(r.removed_through);
  return Status::OK;
}

void ManagementService::note_audit_verification(const audit::VerifyReport& r, int64_t now_ms,
                                                const char* by) {
  const bool newly_broken = !r.ok && (audit_check_.ok || audit_check_.problem != r.problem);
  audit_check_ = {now_ms, r.ok,
                  r.ok ? std::string() : r.problem + (r.where.empty() ? "" : " (" + r.where + ")")};
  if (!newly_broken) return;
  std::fprintf(stderr, "ftzgated: the audit log does not verify: %s\n", audit_check_.problem.c_str());
  // As record_system() records, here with audit_mu_ already held.
  audit::Event e;
  e.user = "ftzgated";
  e.role = "system";
  e.source = "ftzgated";
  e.event_type = "audit_verify_failed";
  e.success = false;
  e.details = ojson{{"problem", audit_check_.problem}, {"last_seq", r.last_seq}, {"verified_by", by}};
  if (auto written = audit_.append(e, now_ms); !written)
    std::fprintf(stderr, "ftzgated: %s\n", written.error().c_str());
}

void ManagementService::warn_of_expiring_certificates(int64_t now_ms) {
  if (now_ms < next_expiry_check_ms_) return;
  next_expiry_check_ms_ = now_ms + int64_t{86400} * 1000;
  std::vector<pki::CertInfo> certs;
  if (auto issued = authority_.issued()) certs = std::move(*issued);
  if (auto server = pki::describe_certificate(authority_.server_cert_pem())) certs.push_back(*server);
  const int64_t now_s = now_ms / 1000;
  for (const pki::CertInfo& c : certs) {
    // Said until 30 days past its end: by then it is a certificate to
    // revoke or forget, not news.
    if (c.revoked_s != 0 || c.not_after_s - now_s >= kExpiringSeconds ||
        now_s - c.not_after_s > kExpiringSeconds)
      continue;
    const std::string who = std::string(c.kind ? pki::kind_name(*c.kind) : "server") + " " + c.name;
    const int64_t days = (c.not_after_s - now_s) / 86400;
    std::fprintf(
        stderr, "ftzgated: certificate %s (%s) %s\n", c.serial.c_str(), who.c_str(),
        c.not_after_s <= now_s ? "has expired" : ("expires in " + std::to_string(days) + " days").c_str());
    (void)record_system("certificate_expiring", c.not_after_s > now_s,
                        ojson{{"serial", c.serial},
                              {"kind", c.kind ? pki::kind_name(*c.kind) : "server"},
                              {"name", c.name},
                              {"not_after_unix_s", c.not_after_s},
                              {"days_left", days}});
  }
}

void ManagementService::tick() {
  std::lock_guard lock(mu_);
  const int64_t now = clock_();
  {
    std::lock_guard audit_lock(audit_mu_);
    (void)audit_.checkpoint_if_due(now);
    if (auto kept = audit_.apply_retention(now); !kept)
      std::fprintf(stderr, "ftzgated: %s\n", kept.error().c_str());
    if (now >= next_audit_check_ms_) {
      next_audit_check_ms_ = now + audit_verify_interval_ms_;
      note_audit_verification(audit::verify(audit_dir_, audit_pem_), now, "ftzgated");
    }
  }
  warn_of_expiring_certificates(now);
  const auto pending = store_.pending_confirm();
  if (!pending || now / 1000 < pending->deadline_s) return;
  // Not while a change waits on etcd (it holds change_mu_, not mu_): the
  // next tick expires it. try_lock after mu_ cannot deadlock.
  const std::unique_lock change(change_mu_, std::try_to_lock);
  if (!change.owns_lock()) return;
  Session system;
  system.user = "ftzgated";
  if (record(system, nullptr, "commit_confirm_timeout", true,
             ojson{{"generation", pending->generation}, {"rollback_to", pending->previous}}))
    return;  // unrecorded: tried again on the next tick
  auto rolled = store_.expire_confirm("ftzgated", now / 1000);
  if (rolled && *rolled) {
    (void)record(
        system, nullptr, "commit", true,
        ojson{{"generation", (*rolled)->generation}, {"sha256", (*rolled)->sha256}, {"rollback", true}});
    publish_running_locked();
  }
}

Status ManagementService::ShowDataplanes(grpc::ServerContext* ctx, const pb::ShowDataplanesRequest*,
                                         pb::ShowDataplanesReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_dataplanes", s)) return *denied;
  dataplanes_.show(reply);
  return Status::OK;
}

Status ManagementService::RestartDataplane(grpc::ServerContext* ctx, const pb::RestartDataplaneRequest* req,
                                           pb::RestartDataplaneReply*) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kSystem, "dataplane_restart", s)) return *denied;
  const ojson details{{"dataplane", config::utf8_prefix(req->dataplane_id(), 64)}};
  // Recorded before it is sent: a restart nobody can account for never happens.
  if (auto failed = record(s, ctx, "dataplane_restart_requested", true, details)) return *failed;
  const Status sent = dataplanes_.request_restart(req->dataplane_id(), s.user);
  if (!sent.ok())
    return refuse(s, ctx, "dataplane_restart", details, sent.error_code(), sent.error_message());
  (void)record(s, ctx, "dataplane_restart", true, details);
  return Status::OK;
}

Status ManagementService::ShowCompliance(grpc::ServerContext* ctx, const pb::ShowComplianceRequest* req,
                                         pb::ShowComplianceReply* reply) {
  FleetCount fleet;
  {
    std::lock_guard lock(mu_);
    Session s;
    if (auto denied = authorize(ctx, Need::kRead, "show_compliance", s)) return *denied;
    if (!req->fleet() && req->year() != 0)
      return {StatusCode::INVALID_ARGUMENT,
              "a past year's count is the fleet's: show compliance fleet year YEAR"};
    if (!req->fleet()) {
      dataplanes_.show_compliance(reply);
      return Status::OK;
    }
    if (fleet_.empty() || !fleet_link_.compliance)
      return {StatusCode::FAILED_PRECONDITION,
              "this ftzgated is not in a fleet (ftzgated --fleet, docs/fleet.md)"};
    fleet = fleet_link_.compliance;
  }
  // etcd is read without the lock.
  return fleet(req->year(), reply);
}

Status ManagementService::ShowAlerts(grpc::ServerContext* ctx, const pb::ShowAlertsRequest* req,
                                     pb::ShowAlertsReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_alerts", s)) return *denied;
  if (req->last() > 10'000) return {StatusCode::INVALID_ARGUMENT, "last: 1 to 10000"};
  dataplanes_.show_alerts(*req, reply);
  // A token links one person's identifiers across flows and data planes
  // (pseudonymous, still personal information): the security
  // administrator's, who approves exports; other roles see the masked form.
  if (s.role != accounts::Role::kSecadmin) {
    for (pb::AlertRecord& r : *reply->mutable_alerts()) r.mutable_alert()->clear_token();
  }
  return Status::OK;
}

Status ManagementService::IssueCertificate(grpc::ServerContext* ctx, const pb::IssueCertificateRequest* req,
                                           pb::IssueCertificateReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, "certificate_issue", s)) return *denied;
  const bool admin = req->kind() == pb::CERTIFICATE_KIND_ADMIN;
  if (!admin && req->kind() != pb::CERTIFICATE_KIND_DATAPLANE)
    return {StatusCode::INVALID_ARGUMENT, "a certificate is a data plane's or an administrator's"};
  const auto kind = admin ? pki::CertKind::kAdmin : pki::CertKind::kDataplane;
  ojson details{{"kind", pki::kind_name(kind)}, {"name", req->name().substr(0, 64)}};
  if (admin && accounts_.find(req->name()) == nullptr) {
    return refuse(s, ctx, "certificate_issue", details, StatusCode::NOT_FOUND,
                  "no account " + req->name().substr(0, 64));
  }
  // The request first (a certificate is never issued unrecorded), then
  // what was issued: its serial is the authority's.
  if (auto failed = record(s, ctx, "certificate_issue_requested", true, details)) return *failed;
  std::string pem;
  const int days = req->days() == 0 ? 365 : static_cast<int>(std::min<uint32_t>(req->days(), 1u << 20));
  auto issued = authority_.issue(req->csr_pem(), kind, req->name(), days, clock_() / 1000, &pem);
  if (!issued)
    return refuse(s, ctx, "certificate_issue", details, StatusCode::INVALID_ARGUMENT, issued.error());
  (void)record(s, ctx, "certificate_issue", true, certificate_json(*issued));
  to_proto(*issued, reply->mutable_certificate());
  reply->set_certificate_pem(std::move(pem));
  reply->set_ca_pem(authority_.ca_pem());
  return Status::OK;
}

Status ManagementService::RevokeCertificate(grpc::ServerContext* ctx, const pb::RevokeCertificateRequest* req,
                                            pb::RevokeCertificateReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, "certificate_revoke", s)) return *denied;
  // The request first: a revocation is never unrecorded.
  if (auto failed = record(s, ctx, "certificate_revoke_requested", true,
                           ojson{{"serial", req->serial().substr(0, 64)}}))
    return *failed;
  auto revoked = authority_.revoke(req->serial(), clock_() / 1000);
  if (!revoked)
    return refuse(s, ctx, "certificate_revoke", ojson{{"serial", req->serial().substr(0, 64)}},
                  StatusCode::FAILED_PRECONDITION, revoked.error());
  (void)record(s, ctx, "certificate_revoke", true, certificate_json(*revoked));
  // Sessions that logged in with it end now (their next call would be
  // refused anyway).
  std::erase_if(sessions_, [&](const auto& entry) { return entry.second.cert_serial == revoked->serial; });
  to_proto(*revoked, reply->mutable_certificate());
  return Status::OK;
}

Status ManagementService::ShowCertificates(grpc::ServerContext* ctx, const pb::ShowCertificatesRequest*,
                                           pb::ShowCertificatesReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_certificates", s)) return *denied;
  auto issued = authority_.issued();
  if (!issued) return {StatusCode::INTERNAL, issued.error()};
  for (const pki::CertInfo& c : *issued) to_proto(c, reply->add_certificates());
  auto ca = pki::describe_certificate(authority_.ca_pem());
  if (ca) reply->set_ca_sha256(ca->sha256);
  return Status::OK;
}

Status ManagementService::AuditShow(grpc::ServerContext* ctx, const pb::AuditShowRequest* req,
                                    pb::AuditShowReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kAudit, "audit_show", s)) return *denied;
  const size_t last = req->last() == 0 ? 100 : std::min<size_t>(req->last(), 10'000);
  // Below gRPC's 4 MiB message limit, whatever the records hold.
  constexpr size_t kMaxReplyBytes = size_t{3} << 20;
  // Without audit_mu_: a long read must not hold up the writers (data
  // planes' ACKs, TLS refusals); read_records leaves a line being written.
  audit::Records r = audit::read_records(audit_dir_, req->since_unix_ms(), last, kMaxReplyBytes);
  if (auto failed = record(s, ctx, "audit_show", true,
                           ojson{{"since_unix_ms", req->since_unix_ms()}, {"returned", r.lines.size()}}))
    return *failed;
  for (std::string& line : r.lines) reply->add_records(std::move(line));
  reply->set_matched(r.matched);
  return Status::OK;
}

Status ManagementService::ShowSystemStatus(grpc::ServerContext* ctx, const pb::ShowSystemStatusRequest*,
                                           pb::ShowSystemStatusReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_system_status", s)) return *denied;
  return system_status_locked(reply);
}

std::string ManagementService::metrics() {
  MetricsInput in;
  {
    std::lock_guard lock(mu_);
    if (Status st = system_status_locked(&in.system); !st.ok()) in.system.clear_certificates_expiring();
  }
  dataplanes_.show(&in.dataplanes);
  dataplanes_.show_compliance(&in.compliance);
  pb::ShowAlertsRequest last_one;
  last_one.set_last(1);
  dataplanes_.show_alerts(last_one, &in.alerts);
  return render_metrics(in);
}

Status ManagementService::system_status_locked(pb::ShowSystemStatusReply* reply) {
  const int64_t now = clock_();
  reply->set_version(FTZ_VERSION);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) reply->set_host(host);
  reply->set_started_unix_s(started_ms_ / 1000);
  reply->set_now_unix_s(now / 1000);
  reply->set_running_generation(store_.running_generation());
  if (const auto& p = store_.pending_confirm()) {
    reply->set_pending_confirm_generation(p->generation);
    reply->set_confirm_by_unix_s(p->deadline_s);
  }
  LocalState planes;
  count_dataplanes(planes);
  reply->set_dataplanes(planes.dataplanes);
  reply->set_dataplanes_connected(planes.dataplanes_connected);
  reply->set_dataplanes_current(planes.dataplanes_current);
  {
    std::lock_guard audit_lock(audit_mu_);
    reply->set_audit_last_seq(audit_.last_seq());
  }
  reply->set_audit_verified_unix_s(audit_check_.at_ms / 1000);
  reply->set_audit_verify_ok(audit_check_.ok);
  reply->set_audit_verify_problem(audit_check_.problem);
  struct statvfs fs {};
  if (::statvfs(audit_dir_.c_str(), &fs) == 0)
    reply->set_state_free_bytes(static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize);
  if (auto id = keys::public_key_id(audit_pem_)) reply->set_device_key_id(*id);
  pb::ShowComplianceReply compliance;
  dataplanes_.show_compliance(&compliance);
  reply->set_token_key_fingerprint(compliance.key_fingerprint());
  auto issued = authority_.issued();
  if (!issued) return {StatusCode::INTERNAL, issued.error()};
  for (const pki::CertInfo& c : *issued) {
    if (c.revoked_s == 0 && c.not_after_s - now / 1000 < kExpiringSeconds)
      to_proto(c, reply->add_certificates_expiring());
  }
  return Status::OK;
}

Status ManagementService::refuse(const Session& s, grpc::ServerContext* ctx, const std::string& event_type,
                                 ojson details, StatusCode code, const std::string& why) {
  details["reason"] = why;
  if (auto failed = record(s, ctx, event_type, false, std::move(details))) return *failed;
  return {code, why};
}

void ManagementService::end_sessions_of(const std::string& user) {
  std::erase_if(sessions_, [&](const auto& entry) { return entry.second.user == user; });
}

Status ManagementService::AddUser(grpc::ServerContext* ctx, const pb::AddUserRequest* req,
                                  pb::AddUserReply*) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kSystem, "user_add", s)) return *denied;
  // The name only: a password is never in a record.
  const ojson details{{"name", req->name().substr(0, 64)}, {"role", "operator"}};
  if (auto failed = record(s, ctx, "user_add_requested", true, details)) return *failed;
  // An operator, who changes the given password at first login: the role
  // is the security administrator's to grant.
  auto added = accounts_.add(req->name(), accounts::Role::kOperator, req->password(), true);
  if (!added) return refuse(s, ctx, "user_add", details, StatusCode::INVALID_ARGUMENT, added.error());
  (void)record(s, ctx, "user_add", true, details);
  return Status::OK;
}

Status ManagementService::DeleteUser(grpc::ServerContext* ctx, const pb::DeleteUserRequest* req,
                                     pb::DeleteUserReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kSystem, "user_delete", s)) return *denied;
  ojson details{{"name", req->name().substr(0, 64)}};
  if (req->name() == s.user)
    return refuse(s, ctx, "user_delete", details, StatusCode::FAILED_PRECONDITION,
                  "an account does not delete itself");
  if (accounts_.find(req->name()) == nullptr)
    return refuse(s, ctx, "user_delete", details, StatusCode::NOT_FOUND,
                  "no account " + details["name"].get<std::string>());
  if (auto failed = record(s, ctx, "user_delete_requested", true, details)) return *failed;
  if (auto removed = accounts_.remove(req->name()); !removed)
    return refuse(s, ctx, "user_delete", details, StatusCode::FAILED_PRECONDITION, removed.error());
  end_sessions_of(req->name());
  // Its certificates go with it: a later account of the same name does not
  // inherit them.
  ojson revoked = ojson::array();
  if (auto issued = authority_.issued()) {
    for (const pki::CertInfo& c : *issued) {
      if (c.kind != pki::CertKind::kAdmin || c.name != req->name() || c.revoked_s != 0) continue;
      if (authority_.revoke(c.serial, clock_() / 1000)) {
        revoked.push_back(c.serial);
        reply->add_revoked_certificates(c.serial);
      }
    }
  }
  details["revoked_certificates"] = std::move(revoked);
  (void)record(s, ctx, "user_delete", true, details);
  return Status::OK;
}

Status ManagementService::GrantRole(grpc::ServerContext* ctx, const pb::GrantRoleRequest* req,
                                    pb::GrantRoleReply*) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kPolicy, "user_grant", s)) return *denied;
  const std::optional<accounts::Role> role =
      req->role() == pb::ROLE_SYSADMIN   ? std::optional(accounts::Role::kSysadmin)
      : req->role() == pb::ROLE_SECADMIN ? std::optional(accounts::Role::kSecadmin)
      : req->role() == pb::ROLE_AUDADMIN ? std::optional(accounts::Role::kAudadmin)
      : req->role() == pb::ROLE_OPERATOR ? std::optional(accounts::Role::kOperator)
                                         : std::nullopt;
  if (!role) return {StatusCode::INVALID_ARGUMENT, "a role is sysadmin, secadmin, audadmin or operator"};
  ojson details{{"name", req->name().substr(0, 64)}, {"role", accounts::role_name(*role)}};
  const accounts::Account* target = accounts_.find(req->name());
  if (target != nullptr) details["from_role"] = accounts::role_name(target->role);
  // Granting oneself a role is how one administrator would take another's
  // powers: never.
  if (req->name() == s.user)
    return refuse(s, ctx, "user_grant", details, StatusCode::FAILED_PRECONDITION,
                  "an account does not change its own role");
  if (target == nullptr)
    return refuse(s, ctx, "user_grant", details, StatusCode::NOT_FOUND,
                  "no account " + details["name"].get<std::string>());
  if (auto failed = record(s, ctx, "user_grant_requested", true, details)) return *failed;
  if (auto set = accounts_.set_role(req->name(), *role); !set)
    return refuse(s, ctx, "user_grant", details, StatusCode::FAILED_PRECONDITION, set.error());
  end_sessions_of(req->name());  // the new role from the next login on
  (void)record(s, ctx, "user_grant", true, details);
  return Status::OK;
}

Status ManagementService::ShowUsers(grpc::ServerContext* ctx, const pb::ShowUsersRequest*,
                                    pb::ShowUsersReply* reply) {
  std::lock_guard lock(mu_);
  Session s;
  if (auto denied = authorize(ctx, Need::kRead, "show_users", s)) return *denied;
  const int64_t now_s = clock_() / 1000;
  for (const accounts::Account& a : accounts_.accounts()) {
    pb::UserInfo* u = reply->add_users();
    u->set_name(a.name);
    u->set_role(to_proto(a.role));
    u->set_must_change_password(a.must_change);
    u->set_locked_until_unix_s(a.locked_until_s > now_s ? a.locked_until_s : 0);
    u->set_failures(a.failures);
  }
  return Status::OK;
}

}  // namespace ftz::daemon
