// Writes seed corpora of the fuzz targets whose inputs are binary formats.
// Not a test and not a fuzzer (run-fuzzers skips *_seeds): run by hand when a
// format or the seeds change; the output is committed.
//
//   fuzz_seeds packet DIR CAPTURE...  captures (pcap, pcapng) -> fuzz_packet
//                                     records (tests/engine/fuzz_input.hpp)
//   fuzz_seeds content DIR            conversations for fuzz_worker_content
//   fuzz_seeds state DIR              compliance state files for fuzz_state_file
//   fuzz_seeds pcap DIR               captures for fuzz_pcap (pcap micro and
//                                     nano, pcapng, Linux SLL, raw IP)
//   fuzz_seeds bundle DIR YAML        a policy bundle body of YAML (signatures
//                                     compiled for this host) for fuzz_bundle
//   fuzz_seeds rpc DIR                a call of every RPC for fuzz_rpc
//                                     (rpc_input.hpp)
//   fuzz_seeds outbox DIR             kept outbox files for fuzz_outbox
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/bundle/bundle.hpp"
#include "ftz/engine/compliance/ledger.hpp"
#include "ftz/engine/compliance/token_key.hpp"
#include "ftz/engine/compliance/worker_accounting.hpp"
#include "ftz/keys/signing_key.hpp"
#include "ftz/pki/authority.hpp"
#include "ftz/test/app_payloads.hpp"
#include "ftz/test/files.hpp"
#include "ftz/test/harbor.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/test/pcap_writer.hpp"
#include "ftz/test/tcp_session.hpp"
#include "fuzz_input.hpp"
#include "rpc_input.hpp"
#include "worker_content_input.hpp"

namespace {

using ftz::test::Bytes;

bool write_seed(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return false;
  }
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
  return true;
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<uint8_t> out(in ? static_cast<size_t>(in.tellg()) : 0);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return out;
}

// --- fuzz_packet from captures ---------------------------------------------

// The LinkType numbers of the engine (ftz/engine/packet.hpp), as fuzz_packet
// reads them from its first byte; -1 for link types the engine does not take.
int engine_link(int dlt) {
  switch (dlt) {
    case DLT_EN10MB:
      return 0;
    case DLT_RAW:
#ifdef DLT_IPV4
    case DLT_IPV4:
    case DLT_IPV6:
#endif
      return 1;
    case DLT_LINUX_SLL:
      return 2;
#ifdef DLT_LINUX_SLL2
    case DLT_LINUX_SLL2:
      return 3;
#endif
    default:
      return -1;
  }
}

// At most kMaxSeedBytes per seed (whole records): libFuzzer mutates small
// inputs faster, and the first packets of a capture hold its handshakes.
constexpr size_t kMaxSeedBytes = 16 * 1024;

int packet_seeds(const std::string& dir, const std::vector<std::string>& captures) {
  int status = 0;
  for (const std::string& path : captures) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    if (p == nullptr) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), err);
      status = 1;
      continue;
    }
    const int link = engine_link(pcap_datalink(p));
    if (link < 0) {
      std::fprintf(stderr, "%s: link type %d is not one the engine takes, skipped\n", path.c_str(),
                   pcap_datalink(p));
      pcap_close(p);
      continue;
    }
    std::vector<uint8_t> seed = {static_cast<uint8_t>(link)};
    int64_t last = -1;
    size_t frames = 0;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) {
      const size_t len = std::min<size_t>(h->caplen, 0xffff);
      if (seed.size() + 3 + len > kMaxSeedBytes) break;
      const int64_t ts = int64_t{h->ts.tv_sec} * 1'000'000'000 + h->ts.tv_usec;
      // The harness advances its clock by dt ticks (+1 ns) per record.
      const int64_t ticks = last < 0 || ts <= last ? 0 : (ts - last) / ftz::engine::fuzz::kTickNs;
      last = ts;
      ftz::engine::fuzz::append_record(seed, static_cast<uint8_t>(std::min<int64_t>(ticks, 255)),
                                       std::vector<uint8_t>(data, data + len));
      ++frames;
    }
    pcap_close(p);
    const std::string name = "pcap-" + std::filesystem::path(path).stem().string();
    std::printf("%s: %zu frames\n", name.c_str(), frames);
    if (!write_seed(dir + "/" + name, seed)) status = 1;
  }
  return status;
}

// --- fuzz_worker_content ----------------------------------------------------

namespace fc = ftz::fuzz::content;

std::string as_string(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

int content_seeds(const std::string& dir) {
  struct Seed {
    const char* name;
    uint8_t setup;
    std::vector<std::pair<uint8_t, std::string>> ops;
  };
  const std::string id = "11010519491231002X";  // GB 11643 check digit X
  const std::string id2 = "310115198807214528";
  const std::string json = "{\"name\":\"Li Lei\",\"id_card\":\"" + id + "\",\"phone\":\"13812345678\"}";
  const std::string post =
      "POST /api/v1/customers HTTP/1.1\r\nHost: api.partner.example\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(json.size()) + "\r\n\r\n" + json;
  const std::string mobiles =
      "GET /export?tel=13812345678&tel=13912345678&tel=15012345678&tel=18612345678 "
      "HTTP/1.1\r\nHost: crm.example.com\r\n\r\n";
  ftz::test::TlsClientHelloSpec hello;
  hello.sni = "upload.block.example";
  const std::string tls = as_string(ftz::test::tls_client_hello(hello));
  const std::string dns = as_string(ftz::test::dns_query(0x1234, "cdn.example.cn"));
  const std::vector<Seed> seeds = {
      // HTTP, 64-byte segments: a resident ID in a JSON body -> reset.
      {"http_resident_id_reset",
       0x00 | (3 << 5),
       {{fc::kClientData, post}, {fc::kServerData, "HTTP/1.1 200 OK\r\n\r\n"}}},
      // Mobiles in a query string: three distinct PI identifiers -> reset.
      {"http_bulk_mobiles",
       0x00 | (4 << 5),
       {{fc::kClientData, mobiles}, {fc::kFin, ""}, {fc::kFin | 0x10, ""}}},
      // The ID arrives last segment first (held), then in order again.
      {"http_reversed_segments",
       0x00 | (1 << 5),
       {{fc::kClientReversed, post}, {fc::kServerData, "HTTP/1.1 204 No Content\r\n\r\n"}}},
      // A hole, a conflicting retransmission, the hole filled, then RST.
      {"http_hole_conflict",
       0x00 | (2 << 5),
       {{fc::kClientHole, "POST /x HTTP/1.1\r\nContent-Length: 18\r\n\r\n" + id2},
        {fc::kClientConflict, "000000000000000000"},
        {fc::kFillHoles, ""},
        {fc::kRst | 0x10, ""}}},
      // TLS to a blocked SNI, IPv6, then a second connection after idle time.
      {"tls_blocked_sni_v6",
       0x01 | 0x04 | (5 << 5),
       {{fc::kClientData, tls}, {fc::kIdle | 0x40, ""}, {fc::kNewConnection, ""}, {fc::kClientData, tls}}},
      // Raw TCP (no parser) picked up mid-stream, an import from offshore.
      {"raw_midstream_import",
       0x02 | 0x08 | 0x10 | (3 << 5),
       {{fc::kServerData, "card 6222 0212 3456 7890 123 id " + id}, {fc::kClientData, "ok " + id2}}},
      // DNS over UDP, and UDP from port 53 to a high port.
      {"dns_udp",
       0x03,
       {{fc::kClientData, dns},
        {fc::kServerData, dns},
        {fc::kUdp | 0x10, "id " + id},
        {fc::kIdle | 0xf0, ""}}},
  };
  for (const Seed& s : seeds) {
    std::vector<uint8_t> bytes = {s.setup};
    for (const auto& [op, data] : s.ops) fc::append_op(bytes, op, data);
    if (!write_seed(dir + "/" + s.name, bytes)) return 1;
  }
  return 0;
}

// --- fuzz_state_file --------------------------------------------------------

int state_seeds(const std::string& dir) {
  using namespace ftz::engine;
  using namespace ftz::engine::compliance;
  constexpr int64_t kNow = 1'780'272'000'000'000'000;  // 2026-06-01
  LedgerConfig c;
  c.tenant_names = {"pacific-re", "biogen", "retired-tenant"};
  c.zone_names = {"inside", "offshore", "hk"};
  ThresholdSpec pi;
  pi.name = "pi-scc";
  pi.data_class = DataClass::kPi;
  pi.individuals = 2;
  c.thresholds = {pi};
  c.approvals.push_back(
      {1, "SCC-EXPIRED", kNow / 1'000'000'000 - 86400, 0, Mechanism::kStandardContract, 0x3});
  c.algo = MacAlgo::kHmacSha256;
  c.key_fingerprint = 0x0123456789abcdefULL;
  ComplianceLedger ledger(c, kNow);
  WorkerAccounting acc(64, 3);
  // One set key: two sets of 16 KiB sketch each (the destination and all
  // destinations); small seeds mutate faster.
  for (uint64_t t = 1; t <= 5; ++t) acc.record(0, DataClass::kPi, 1, 1, t * 0x9e3779b97f4a7c15ULL, kNow);
  // Fill the 64-record ring with repeats, then records it drops: the lost
  // section (per tenant and class, and of a tenant the worker did not know).
  for (int i = 5; i < 64; ++i) acc.record(0, DataClass::kPi, 1, 1, 0x9e3779b97f4a7c15ULL, kNow);
  for (uint64_t t = 1; t <= 3; ++t) acc.record(1, DataClass::kSensitivePi, 2, 1, t, kNow);
  acc.record(7, DataClass::kPi, 1, 1, 42, kNow);
  ledger.merge_stopped(acc);
  (void)ledger.evaluate(kNow);
  (void)ledger.check_approval_expiry(kNow);
  const std::string tmp = dir + "/.state.tmp-seed";
  if (auto saved = ledger.save(tmp, kNow); !saved) {
    std::fprintf(stderr, "%s\n", saved.error().c_str());
    return 1;
  }
  const std::vector<uint8_t> file = read_all(tmp);
  std::filesystem::remove(tmp);
  // fuzz_state_file's input: [mode][...]. Mode 4: the body between the
  // 12-byte magic+version and the 32-byte trailer, version 2; mode 1: the
  // whole file. (v1_sets_fired_approvals, mode 0, is a version 1 body kept
  // from before version 2.)
  std::vector<uint8_t> body = {4};
  body.insert(body.end(), file.begin() + 12, file.end() - 32);
  std::vector<uint8_t> whole = {1};
  whole.insert(whole.end(), file.begin(), file.end());
  // The same ledger after a year rollover: summaries instead of sets.
  (void)ledger.evaluate(kNow + int64_t{250} * 86400 * 1'000'000'000);
  if (auto saved = ledger.save(tmp, kNow); !saved) return 1;
  const std::vector<uint8_t> rolled_file = read_all(tmp);
  std::filesystem::remove(tmp);
  std::vector<uint8_t> rolled = {4};
  rolled.insert(rolled.end(), rolled_file.begin() + 12, rolled_file.end() - 32);
  return write_seed(dir + "/sets_fired_approvals", body) && write_seed(dir + "/whole_file", whole) &&
                 write_seed(dir + "/after_rollover", rolled)
             ? 0
             : 1;
}

// --- fuzz_pcap --------------------------------------------------------------

void le16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(static_cast<uint8_t>(x));
  v.push_back(static_cast<uint8_t>(x >> 8));
}
void le32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

// A minimal pcapng (section header, one interface with if_tsresol = 10^-9,
// enhanced packet blocks): libpcap reads it, test support writes only pcap.
std::vector<uint8_t> pcapng(uint16_t linktype, const std::vector<ftz::test::CapturedPacket>& packets) {
  std::vector<uint8_t> out;
  auto block = [&](uint32_t type, const std::vector<uint8_t>& body) {
    const uint32_t len = static_cast<uint32_t>(12 + body.size());
    le32(out, type);
    le32(out, len);
    out.insert(out.end(), body.begin(), body.end());
    le32(out, len);
  };
  std::vector<uint8_t> shb;
  le32(shb, 0x1a2b3c4d);
  le16(shb, 1);
  le16(shb, 0);
  for (int i = 0; i < 8; ++i) shb.push_back(0xff);  // section length unknown
  block(0x0a0d0d0a, shb);
  std::vector<uint8_t> idb;
  le16(idb, linktype);
  le16(idb, 0);
  le32(idb, 262144);
  le16(idb, 9);  // if_tsresol
  le16(idb, 1);
  idb.insert(idb.end(), {9, 0, 0, 0});
  le16(idb, 0);  // opt_endofopt
  le16(idb, 0);
  block(0x00000001, idb);
  for (const auto& p : packets) {
    std::vector<uint8_t> epb;
    le32(epb, 0);
    le32(epb, static_cast<uint32_t>(p.ts_ns >> 32));
    le32(epb, static_cast<uint32_t>(p.ts_ns));
    le32(epb, static_cast<uint32_t>(p.frame.size()));
    le32(epb, static_cast<uint32_t>(p.frame.size()));
    epb.insert(epb.end(), p.frame.begin(), p.frame.end());
    while (epb.size() % 4 != 0) epb.push_back(0);
    block(0x00000006, epb);
  }
  return out;
}

int pcap_seeds(const std::string& dir) {
  using ftz::test::TcpSession;
  using ftz::test::TcpSessionConfig;
  const uint64_t start = 1'780'272'000'000'000'000ULL;
  TcpSessionConfig cfg;
  cfg.start_ns = start;
  cfg.mss = 96;
  TcpSession http(cfg);
  http.handshake()
      .client_send(
          "POST /upload HTTP/1.1\r\nHost: api.partner.example\r\nContent-Length: 37\r\n\r\n"
          "id=11010519491231002X&tel=13812345678")
      .server_send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
      .close();
  const auto& packets = http.packets();

  auto write_pcap = [&](const std::string& name, ftz::test::TimestampPrecision prec, uint32_t linktype,
                        const std::vector<Bytes>& frames, uint32_t snaplen = 262144) {
    const std::string path = dir + "/" + name;
    auto w = ftz::test::PcapWriter::open(path, prec, linktype, snaplen);
    if (!w) return false;
    uint64_t ts = start;
    for (const Bytes& f : frames) w->write(ts += 1000, f);
    if (!w->close()) return false;
    std::printf("%s: %zu frames\n", path.c_str(), frames.size());
    return true;
  };
  std::vector<Bytes> eth;
  for (const auto& p : packets) eth.push_back(p.frame);
  bool ok = write_pcap("http_post_micro.pcap", ftz::test::TimestampPrecision::kMicro, 1, eth);
  ok = ok && write_pcap("http_post_nano_snap128.pcap", ftz::test::TimestampPrecision::kNano, 1, eth, 128);

  // The same frames without Ethernet: raw IP (LINKTYPE_RAW) and Linux SLL.
  std::vector<Bytes> raw, sll;
  for (const Bytes& f : eth) {
    raw.emplace_back(f.begin() + 14, f.end());
    Bytes s = {0, 4, 0, 1, 0, 6, 2, 0x60, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
    s.insert(s.end(), f.begin() + 14, f.end());
    sll.push_back(std::move(s));
  }
  ok = ok && write_pcap("http_post_raw.pcap", ftz::test::TimestampPrecision::kMicro, 101, raw);
  ok = ok && write_pcap("http_post_sll.pcap", ftz::test::TimestampPrecision::kMicro, 113, sll);

  // TLS and DNS in pcapng.
  ftz::test::TlsClientHelloSpec hello;
  hello.sni = "www.example.com";
  cfg.server_port = 443;
  TcpSession tls(cfg);
  tls.handshake().send(ftz::test::Direction::kClientToServer, ftz::test::tls_client_hello(hello)).close();
  std::vector<ftz::test::CapturedPacket> ng = tls.packets();
  const Bytes dns = ftz::test::PacketBuilder()
                        .eth()
                        .ipv4("10.60.1.5", "8.8.8.8")
                        .udp(5353, 53)
                        .payload(ftz::test::dns_query(7, "cdn.example.cn"))
                        .build();
  ng.push_back({tls.now_ns() + 1000, dns});
  ok = ok && write_seed(dir + "/tls_dns.pcapng", pcapng(1, ng));
  return ok ? 0 : 1;
}

}  // namespace

// The body of a bundle built from the YAML file, as mode 1 of fuzz_bundle
// takes it (the fuzzer signs it with its own key).
int bundle_seeds(const std::string& dir, const std::string& yaml_file) {
  const std::string yaml = ftz::test::read_text(yaml_file);
  const std::string key_file = dir + "/.seed-signing.key";
  auto key = ftz::keys::SigningKey::load_or_generate(key_file);
  std::filesystem::remove(key_file);
  if (!key) {
    std::fprintf(stderr, "%s\n", key.error().c_str());
    return 1;
  }
  ftz::bundle::Commit c;
  c.generation = 3;
  c.yaml = yaml;
  auto b = ftz::bundle::build_bundle(c, ftz::bundle::host_platform(), *key);
  if (!b) {
    std::fprintf(stderr, "%s\n", b.error().c_str());
    return 1;
  }
  std::ofstream out(dir + "/body_" + std::filesystem::path(yaml_file).stem().string(), std::ios::binary);
  out << '\x01' << b->body();
  return out ? 0 : 1;
}

// --- fuzz_rpc: one call of each method, as the role that may make it ---------

int rpc_seeds(const std::string& dir) {
  namespace pb = ftzgate::v1;
  namespace rpc = ftz::fuzz::rpc;
  using M = std::vector<std::string>;
  const auto bytes = [](const google::protobuf::Message& m) { return m.SerializeAsString(); };
  bool ok = true;
  const auto seed = [&](const std::string& name, rpc::Caller c, std::string_view method, const M& messages) {
    ok = ok && write_seed(dir + "/" + name, rpc::encode(c, method, messages));
  };

  pb::LoginRequest login;
  login.set_user(rpc::kAccounts[rpc::kOperator].name);
  login.set_password(rpc::kAccounts[rpc::kOperator].password);
  seed("login", rpc::kNoSession, "Login", {bytes(login)});
  login.set_password("wrong");
  seed("login_wrong", rpc::kNoSession, "Login", {bytes(login)});

  pb::LoadRequest load;
  load.set_filename("block.yaml");
  load.set_yaml(
      "zones:\n"
      "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
      "  - {name: offshore, kind: offshore, default: true}\n"
      "  - {name: hk, kind: offshore, prefix_list_files: [data/hk.txt]}\n"
      "defaults:\n"
      "  - {src_zone: inside, dst_zone: offshore, action: allow}\n"
      "rules:\n"
      "  - {name: harbor-to-hk, src_zone: inside, dst_zone: hk, action: block}\n");
  (*load.mutable_files())["data/hk.txt"] = "203.0.113.0/24\n";
  seed("load", rpc::kSecadmin, "Load", {bytes(load)});
  load.set_merge(true);
  seed("load_merge", rpc::kSecadmin, "Load", {bytes(load)});
  seed("load_operator", rpc::kOperator, "Load", {bytes(load)});

  pb::EditRequest edit;
  for (const char* w : {"rules", "harbor-to-hk", "action"}) edit.add_path(w);
  edit.set_set_value("alert");
  seed("edit_set", rpc::kSecadmin, "Edit", {bytes(edit)});
  edit.set_remove(true);
  seed("edit_delete", rpc::kSecadmin, "Edit", {bytes(edit)});

  pb::CommitRequest commit;
  commit.set_comment("block hk");
  seed("commit", rpc::kSecadmin, "Commit", {bytes(commit)});
  commit.set_check_only(true);
  seed("commit_check", rpc::kSecadmin, "Commit", {bytes(commit)});
  commit.set_check_only(false);
  commit.set_confirm_minutes(1);
  seed("commit_confirmed", rpc::kSecadmin, "Commit", {bytes(commit)});
  seed("confirm", rpc::kSecadmin, "Confirm", {bytes(pb::ConfirmRequest{})});
  pb::RollbackRequest rollback;
  rollback.set_generation(1);
  seed("rollback", rpc::kSecadmin, "Rollback", {bytes(rollback)});

  pb::ShowConfigurationRequest show;
  show.set_running(true);
  seed("show_running", rpc::kOperator, "ShowConfiguration", {bytes(show)});
  show.set_rollback(1);
  seed("show_rollback", rpc::kOperator, "ShowConfiguration", {bytes(show)});
  seed("show_commits", rpc::kOperator, "ShowCommits", {bytes(pb::ShowCommitsRequest{})});
  seed("show_dataplanes", rpc::kOperator, "ShowDataplanes", {bytes(pb::ShowDataplanesRequest{})});
  seed("show_compliance", rpc::kOperator, "ShowCompliance", {bytes(pb::ShowComplianceRequest{})});
  seed("show_certificates", rpc::kOperator, "ShowCertificates", {bytes(pb::ShowCertificatesRequest{})});
  seed("show_users", rpc::kOperator, "ShowUsers", {bytes(pb::ShowUsersRequest{})});
  seed("audit_verify", rpc::kAudadmin, "AuditVerify", {bytes(pb::AuditVerifyRequest{})});
  pb::AuditShowRequest audit_show;
  audit_show.set_since_unix_ms(int64_t{1'790'000'000} * 1000);
  audit_show.set_last(5);
  seed("audit_show", rpc::kAudadmin, "AuditShow", {bytes(audit_show)});
  seed("show_system_status", rpc::kOperator, "ShowSystemStatus", {bytes(pb::ShowSystemStatusRequest{})});

  pb::ChangePasswordRequest passwd;
  passwd.set_new_password("Fuzz-New-2026-y");
  seed("change_password", rpc::kOperator, "ChangePassword", {bytes(passwd)});
  pb::AddUserRequest add;
  add.set_name("newop");
  add.set_password("Fuzz-New-2026-z");
  seed("add_user", rpc::kSysadmin, "AddUser", {bytes(add)});
  pb::DeleteUserRequest del;
  del.set_name("newop");
  seed("delete_user", rpc::kSysadmin, "DeleteUser", {bytes(del)});
  pb::GrantRoleRequest grant;
  grant.set_name("newop");
  grant.set_role(pb::ROLE_AUDADMIN);
  seed("grant_role", rpc::kSecadmin, "GrantRole", {bytes(grant)});

  auto request = ftz::pki::make_key_and_request("dp-1");
  if (!request) {
    std::fprintf(stderr, "cannot make a CSR: %s\n", request.error().c_str());
    return 1;
  }
  pb::IssueCertificateRequest issue;
  issue.set_kind(pb::CERTIFICATE_KIND_DATAPLANE);
  issue.set_name("dp-1");
  issue.set_csr_pem(request->csr_pem);
  issue.set_days(30);
  seed("issue_certificate", rpc::kSecadmin, "IssueCertificate", {bytes(issue)});
  pb::RevokeCertificateRequest revoke;
  revoke.set_serial("01");
  seed("revoke_certificate", rpc::kSecadmin, "RevokeCertificate", {bytes(revoke)});

  pb::SubscribeRequest subscribe;
  subscribe.set_dataplane_id("dp-1");
  subscribe.set_host("border-1");
  *subscribe.mutable_platform() = ftz::bundle::host_platform();
  seed("subscribe", rpc::kNoSession, "Subscribe", {bytes(subscribe)});
  pb::AckRequest ack;
  ack.set_dataplane_id("dp-1");
  ack.set_generation(1);
  ack.set_apply_us(1500);
  seed("ack", rpc::kNoSession, "Ack", {bytes(ack)});
  ack.set_nack_reason("signature does not verify");
  seed("nack", rpc::kNoSession, "Ack", {bytes(ack)});

  const std::vector<uint8_t> key_bytes = [] {
    std::vector<uint8_t> k;
    for (size_t i = 0; i + 1 < rpc::kTokenKeyHex.size(); i += 2)
      k.push_back(static_cast<uint8_t>(std::stoi(std::string(rpc::kTokenKeyHex.substr(i, 2)), nullptr, 16)));
    return k;
  }();
  auto token_key =
      ftz::engine::compliance::TokenKey::from_bytes(key_bytes, ftz::engine::compliance::MacAlgo::kHmacSha256);
  if (!token_key) {
    std::fprintf(stderr, "token key: %s\n", token_key.error().c_str());
    return 1;
  }
  M batches;
  for (uint64_t seq = 1; seq <= 2; ++seq) {
    batches.push_back(
        bytes(ftz::test::harbor::pi_batch("dp-1", seq, token_key->fingerprint(), {seq * 100, seq * 100 + 1},
                                          int64_t{1'790'000'000} * 1'000'000'000, 1)));
  }
  seed("report", rpc::kNoSession, "Report", batches);
  pb::ReportBatch counters;
  counters.set_dataplane_id("dp-1");
  counters.set_boot_id(7);
  counters.mutable_stats()->set_packets(1000);
  counters.mutable_stats()->set_dropped(10);
  (*counters.mutable_stats()->mutable_reasons())["policy_block"] = 10;
  seed("report_counters", rpc::kNoSession, "Report", {bytes(counters)});
  pb::Alert* alert = counters.add_alerts();
  alert->set_flow_id(42);
  alert->set_src_ip("10.9.1.2");
  alert->set_dest_ip("203.0.113.5");
  alert->set_src_zone("inside");
  alert->set_dest_zone("offshore");
  alert->set_verdict(pb::ACTION_BLOCK);
  alert->set_rule("default");
  alert->set_signature("cn_resident_id");
  alert->set_data_class(pb::DATA_CLASS_PI);
  alert->set_masked("110***********123X");
  alert->set_token(0x1234);
  seed("report_alerts", rpc::kNoSession, "Report", {bytes(counters)});
  pb::ShowAlertsRequest show_alerts;
  show_alerts.set_last(5);
  seed("show_alerts", rpc::kOperator, "ShowAlerts", {bytes(show_alerts)});
  return ok ? 0 : 1;
}

// --- fuzz_outbox: a data plane's kept outbox file -------------------------

int outbox_seeds(const std::string& dir) {
  namespace pb = ftzgate::v1;
  pb::ReportBatch b;
  b.set_dataplane_id("dp-1");
  b.set_key_fingerprint(1);  // fuzz_outbox decodes under fingerprint 1
  b.add_tenants("harbor");
  b.add_tenants("retail");
  b.add_zones("offshore");
  for (uint64_t t = 0; t < 4; ++t) {
    pb::Token* x = b.add_tokens();
    x->set_tenant(static_cast<uint32_t>(t % 2));
    x->set_data_class(pb::DATA_CLASS_PI);
    x->set_id_type(1);
    x->set_token(1000 + t);
    x->set_ts_unix_ns(int64_t{1'790'000'000} * 1'000'000'000);
  }
  pb::LostTokens* lost = b.add_lost();
  lost->set_any_tenant(true);
  lost->set_data_class(pb::DATA_CLASS_SENSITIVE_PI);
  lost->set_records(3);
  const auto serialized = [](const pb::ReportBatch& m) {
    const std::string s = m.SerializeAsString();
    return std::vector<uint8_t>(s.begin(), s.end());
  };
  bool ok = write_seed(dir + "/kept", serialized(b));
  b.set_key_fingerprint(2);
  ok = ok && write_seed(dir + "/other_key", serialized(b));
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "packet") return packet_seeds(args[1], {args.begin() + 2, args.end()});
  if (args.size() == 2 && args[0] == "content") return content_seeds(args[1]);
  if (args.size() == 2 && args[0] == "state") return state_seeds(args[1]);
  if (args.size() == 2 && args[0] == "pcap") return pcap_seeds(args[1]);
  if (args.size() == 3 && args[0] == "bundle") return bundle_seeds(args[1], args[2]);
  if (args.size() == 2 && args[0] == "rpc") return rpc_seeds(args[1]);
  if (args.size() == 2 && args[0] == "outbox") return outbox_seeds(args[1]);
  std::fprintf(
      stderr,
      "usage: %s packet DIR CAPTURE... | content DIR | state DIR | pcap DIR | bundle DIR YAML | rpc DIR | "
      "outbox DIR\n",
      argv[0]);
  return 2;
}
