// The fleet's etcd client (controlplane/fleet) against a real three-member
// etcd cluster on 127.0.0.1; etcdctl says what the cluster holds.
#include "ftz/fleet/etcd.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "ftz/test/etcd.hpp"
#include "ftz/test/openssl_ca.hpp"

namespace {

using ftz::fleet::Etcd;
using ftz::fleet::EtcdOptions;
using ftz::fleet::Put;
using ftz::fleet::WatchEvent;
using ftz::test::EtcdCluster;
using ftz::test::OpensslCa;
using ftz::test::TempDir;

std::unique_ptr<Etcd> client(const std::string& endpoints) {
  EtcdOptions o;
  auto eps = ftz::fleet::parse_endpoints(endpoints);
  EXPECT_TRUE(eps) << eps.error();
  o.endpoints = *eps;
  auto c = Etcd::connect(o);
  EXPECT_TRUE(c) << c.error();
  return c ? std::move(*c) : nullptr;
}

// One cluster for the tests that do not kill members.
class EtcdClient : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("etcd");
    cluster_ = new EtcdCluster(*dir_, 3);
    ASSERT_TRUE(cluster_->start()) << ftz::test::read_text(cluster_->log(0));
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete dir_;
  }
  // A key prefix of the test's own.
  static std::string prefix() {
    return std::string("/t/") + testing::UnitTest::GetInstance()->current_test_info()->name() + "/";
  }
  static TempDir* dir_;
  static EtcdCluster* cluster_;
};
TempDir* EtcdClient::dir_ = nullptr;
EtcdCluster* EtcdClient::cluster_ = nullptr;

TEST_F(EtcdClient, WritesWhatEtcdctlReadsAndReadsWhatItWrites) {
  auto etcd = client(cluster_->endpoints());
  ASSERT_TRUE(etcd);
  const std::string p = prefix();
  auto rev = etcd->put(p + "a", "from the client");
  ASSERT_TRUE(rev) << rev.error();
  const auto r = cluster_->etcdctl("get --print-value-only " + p + "a");
  EXPECT_EQ(r.output, "from the client\n");
  ASSERT_EQ(cluster_->etcdctl("put " + p + "b 'from etcdctl'").status, 0);
  auto b = etcd->get(p + "b");
  ASSERT_TRUE(b) << b.error();
  ASSERT_TRUE(b->has_value());
  EXPECT_EQ((*b)->value, "from etcdctl");
  EXPECT_GT((*b)->mod_revision, *rev);
  // The store's revision at a read: past the key's own once others wrote.
  ASSERT_TRUE(etcd->put(p + "later", "x"));
  int64_t store_revision = 0;
  ASSERT_TRUE(etcd->get(p + "b", &store_revision));
  EXPECT_GT(store_revision, (*b)->mod_revision);
  auto absent = etcd->get(p + "c");
  ASSERT_TRUE(absent) << absent.error();
  EXPECT_FALSE(absent->has_value());
  // A listing is the prefix's keys in order, not a key that only starts alike.
  ASSERT_TRUE(etcd->put(p.substr(0, p.size() - 1) + "x", "outside"));
  auto l = etcd->list(p);
  ASSERT_TRUE(l) << l.error();
  ASSERT_EQ(l->kvs.size(), 3U);
  EXPECT_EQ(l->kvs[0].key, p + "a");
  EXPECT_EQ(l->kvs[1].key, p + "b");
  EXPECT_EQ(l->kvs[2].key, p + "later");
  EXPECT_GE(l->revision, (*b)->mod_revision);
  auto gone = etcd->remove(p + "a");
  ASSERT_TRUE(gone) << gone.error();
  EXPECT_EQ(cluster_->etcdctl("get --print-value-only " + p + "a").output, "");
}

// A listing larger than a page comes in pages, all of one revision: a key
// written while the pages are read is not in it, and none is missed.
TEST_F(EtcdClient, ALongListingComesInPagesOfOneRevision) {
  auto etcd = client(cluster_->endpoints());
  ASSERT_TRUE(etcd);
  const std::string p = prefix();
  for (int i = 0; i < 100; ++i) {
    char k[8];
    std::snprintf(k, sizeof k, "%03d", i);
    ASSERT_TRUE(etcd->put(p + k, std::string(1000, 'v')));
  }
  std::vector<size_t> pages;
  std::vector<std::string> keys;
  auto revision = etcd->list(p, [&](std::vector<ftz::fleet::KeyValue>&& kvs) {
    pages.push_back(kvs.size());
    for (const auto& kv : kvs) keys.push_back(kv.key);
    // Written between pages: after the listing's revision.
    if (pages.size() == 1) {
      ASSERT_TRUE(etcd->put(p + "999", "late"));
    }
  });
  ASSERT_TRUE(revision) << revision.error();
  ASSERT_EQ(keys.size(), 100U);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(keys[static_cast<size_t>(i)].substr(p.size()), std::to_string(1000 + i).substr(1));
  EXPECT_GT(pages.size(), 1U);
  for (const size_t n : pages) EXPECT_LE(n, 32U);
  auto all = etcd->list(p);
  ASSERT_TRUE(all) << all.error();
  EXPECT_EQ(all->kvs.size(), 101U);
  EXPECT_GT(all->revision, *revision);
}

// The fleet's commit point: of writers that read the same revision, exactly
// one moves it; the others learn so and write nothing.
TEST_F(EtcdClient, OfConcurrentCompareAndSwapsExactlyOneWins) {
  const std::string key = prefix() + "running";
  auto setup = client(cluster_->endpoints());
  ASSERT_TRUE(setup);
  for (int round = 0; round < 10; ++round) {
    auto now = setup->get(key);
    ASSERT_TRUE(now) << now.error();
    const int64_t seen = now->has_value() ? (*now)->mod_revision : 0;
    std::atomic<int> won{0};
    std::vector<std::thread> writers;
    writers.reserve(4);
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        auto mine = client(cluster_->endpoint(w % 3));
        const std::string value = "round " + std::to_string(round) + " writer " + std::to_string(w);
        auto ok = mine->put_if(key, seen, {{key, value}, {key + "-by/" + std::to_string(w), value}});
        ASSERT_TRUE(ok) << ok.error();
        if (*ok) ++won;
      });
    }
    for (auto& t : writers) t.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    // Only the winner's second key was written.
    auto l = setup->list(key + "-by/");
    ASSERT_TRUE(l) << l.error();
    size_t written_this_round = 0;
    for (const auto& kv : l->kvs)
      written_this_round += kv.value.starts_with("round " + std::to_string(round) + " ");
    EXPECT_EQ(written_this_round, 1U) << "round " << round;
  }
}

TEST_F(EtcdClient, AWatchSeesEveryChangeInOrderFromItsRevision) {
  auto etcd = client(cluster_->endpoints());
  ASSERT_TRUE(etcd);
  const std::string p = prefix();
  auto first = etcd->put(p + "0", "0");
  ASSERT_TRUE(first) << first.error();
  // From the first write's revision: it is seen although it came before.
  auto w = etcd->watch(p, *first);
  ASSERT_TRUE(w) << w.error();
  for (int i = 1; i < 50; ++i) ASSERT_TRUE(etcd->put(p + std::to_string(i % 7), std::to_string(i)));
  ASSERT_EQ(cluster_->etcdctl("del " + p + "3").status, 0);
  std::vector<WatchEvent> seen;
  while (seen.size() < 51) {
    auto batch = (*w)->next(std::chrono::seconds(5));
    ASSERT_TRUE(batch) << batch.error();
    ASSERT_TRUE(batch->has_value()) << "only " << seen.size() << " events";
    for (auto& e : **batch) seen.push_back(e);
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(seen[i].type, WatchEvent::Type::kPut);
    EXPECT_EQ(seen[i].kv.value, std::to_string(i));
    EXPECT_EQ(seen[i].kv.mod_revision, *first + i);
  }
  EXPECT_EQ(seen[50].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(seen[50].kv.key, p + "3");
  auto quiet = (*w)->next(std::chrono::milliseconds(200));
  ASSERT_TRUE(quiet) << quiet.error();
  EXPECT_FALSE(quiet->has_value());
}

TEST_F(EtcdClient, AKeyOnALeaseGoesWhenTheLeaseIsNotKeptAlive) {
  auto etcd = client(cluster_->endpoints());
  ASSERT_TRUE(etcd);
  const std::string key = prefix() + "owner";
  auto lease = etcd->grant_lease(2);
  ASSERT_TRUE(lease) << lease.error();
  ASSERT_TRUE(etcd->put(key, "member 1", *lease));
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    auto ttl = etcd->keep_alive(*lease);
    ASSERT_TRUE(ttl) << ttl.error();
    EXPECT_GT(*ttl, 0);
  }
  EXPECT_EQ(cluster_->etcdctl("get --print-value-only " + key).output, "member 1\n")
      << "kept alive past its TTL";
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_EQ(cluster_->etcdctl("get --print-value-only " + key).output, "") << "the lease expired";
  auto ttl = etcd->keep_alive(*lease);
  ASSERT_TRUE(ttl) << ttl.error();
  EXPECT_LE(*ttl, 0);
}

TEST(EtcdEndpoints, PlainHttpOnlyToLoopback) {
  using ftz::fleet::parse_endpoints;
  EXPECT_TRUE(
      parse_endpoints("http://127.0.0.1:2379,http://localhost:2379,http://[::1]:2379,http://127.8.9.10:1/"));
  EXPECT_TRUE(parse_endpoints("https://etcd-1.dc.example:2379,https://198.18.0.10:2379"));
  const std::pair<const char*, const char*> refused[] = {
      {"http://198.18.0.10:2379", "plain http only to a loopback address"},
      {"http://127.attacker.example:2379", "plain http only to a loopback address"},
      {"http://[::2]:2379", "plain http only to a loopback address"},
      {"http://127.0.0.1", "no port"},
      {"https://etcd:0", "bad port"},
      {"https://etcd:65536", "bad port"},
      {"unix:///run/etcd.sock", "not http://HOST:PORT"},
      {"", "no etcd endpoint"},
  };
  for (const auto& [list, why] : refused) {
    auto r = parse_endpoints(list);
    ASSERT_FALSE(r) << list;
    EXPECT_NE(r.error().find(why), std::string::npos) << list << ": " << r.error();
  }
  EtcdOptions o;
  o.endpoints = {"https://198.18.0.10:2379"};
  auto c = Etcd::connect(o);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().find("https needs --etcd-ca, --etcd-cert and --etcd-key"), std::string::npos)
      << c.error();
}

// Losing the leader, or a member that stops answering, costs the client a
// retry on another endpoint, not an error.
TEST(EtcdFailover, WritesGoOnWhenTheLeaderIsKilledAndWhenAMemberHangs) {
  TempDir dir("etcd-failover");
  EtcdCluster cluster(dir, 3);
  ASSERT_TRUE(cluster.start()) << ftz::test::read_text(cluster.log(0));
  const int leader = cluster.leader();
  ASSERT_GE(leader, 0);
  // The client starts on the leader's endpoint.
  std::string endpoints = cluster.endpoint(leader);
  for (int i = 0; i < 3; ++i) {
    if (i != leader) endpoints += "," + cluster.endpoint(i);
  }
  auto etcd = client(endpoints);
  ASSERT_TRUE(etcd);
  ASSERT_TRUE(etcd->put("/t/failover", "before"));
  EXPECT_EQ(etcd->endpoint(), cluster.endpoint(leader));
  cluster.kill(leader);
  const auto t0 = std::chrono::steady_clock::now();
  auto after = etcd->put("/t/failover", "after the leader died");
  ASSERT_TRUE(after) << after.error();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(etcd->endpoint(), cluster.endpoint(leader));
  EXPECT_EQ(cluster.etcdctl("get --print-value-only /t/failover").output, "after the leader died\n");
  std::cout << "a write after the leader's kill took " << s << " s (a new election included)\n";
  // The killed member comes back and catches up.
  ASSERT_TRUE(cluster.restart(leader)) << ftz::test::read_text(cluster.log(leader));
  for (int i = 0; i < 50; ++i) {
    if (cluster.etcdctl("--endpoints=" + cluster.endpoint(leader) + " get --print-value-only /t/failover")
            .output == "after the leader died\n")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(cluster.etcdctl("--endpoints=" + cluster.endpoint(leader) + " get --print-value-only /t/failover")
                .output,
            "after the leader died\n");
  // The member the client uses now stops answering (SIGSTOP: its sockets
  // stay open, as a member cut off by the network looks): the next write
  // waits one call timeout, then goes to another.
  int current = -1;
  for (int i = 0; i < 3; ++i) {
    if (etcd->endpoint() == cluster.endpoint(i)) current = i;
  }
  ASSERT_GE(current, 0);
  cluster.pause(current);
  const auto t1 = std::chrono::steady_clock::now();
  auto hung = etcd->put("/t/failover", "around a hung member");
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  cluster.resume(current);
  ASSERT_TRUE(hung) << hung.error();
  EXPECT_NE(etcd->endpoint(), cluster.endpoint(current))
      << "the write went to the member stopped with SIGSTOP (pid " << cluster.pid(current) << ") after "
      << waited << " s";
  EXPECT_EQ(cluster.etcdctl("get --print-value-only /t/failover").output, "around a hung member\n");
}

// etcd with TLS and client certificates (--client-cert-auth), its
// certificates made by openssl: only a client whose certificate the
// cluster's CA issued gets in, and the client trusts only the CA it is
// given.
class EtcdTls : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok() && rogue_.ok());
    const auto server = ca_.issue("etcd");
    const auto admin = ca_.issue("root");
    ASSERT_FALSE(server.cert.empty() || admin.cert.empty());
    cluster_.use_tls({ca_.ca(), server.cert, server.key, admin.cert, admin.key});
    ASSERT_TRUE(cluster_.start()) << ftz::test::read_text(cluster_.log(0));
  }
  // A client of the cluster with `ca` and the certificate `cert` (and
  // etcd's user and password, when given); its first write's error, or
  // "" when it wrote.
  std::string write_as(const std::string& ca, const OpensslCa::Issued& cert, const std::string& key,
                       const std::string& user = "", const std::string& password = "",
                       const std::string& endpoint = "") {
    EtcdOptions o;
    auto eps = ftz::fleet::parse_endpoints(endpoint.empty() ? cluster_.endpoints() : endpoint);
    if (!eps) return eps.error();
    o.endpoints = *eps;
    o.ca_file = ca;
    o.cert_file = cert.cert;
    o.key_file = cert.key;
    o.user = user;
    o.password = password;
    auto c = Etcd::connect(o);
    if (!c) return c.error();
    auto put = (*c)->put(key, "v");
    return put ? "" : put.error();
  }
  // etcdctl (as root) reads `key`'s value.
  std::string value_of(const std::string& key) {
    auto r = cluster_.etcdctl("get --print-value-only " + key);
    return r.output.substr(0, r.output.find('\n'));
  }

  TempDir dir_{"etcd-tls"};
  OpensslCa ca_{dir_, "fleet"};
  OpensslCa rogue_{dir_, "rogue"};
  EtcdCluster cluster_{dir_, 1};
};

TEST_F(EtcdTls, OnlyAClientWithACertificateOfTheClustersCaGetsIn) {
  const auto m0 = ca_.issue("m0");
  EXPECT_EQ(write_as(ca_.ca(), m0, "/t/tls/good"), "");
  EXPECT_EQ(value_of("/t/tls/good"), "v");
  // A certificate of another CA: the handshake fails, nothing is written.
  const std::string foreign = write_as(ca_.ca(), rogue_.issue("m0"), "/t/tls/foreign");
  EXPECT_NE(foreign, "");
  std::printf("a foreign client certificate: %s\n", foreign.c_str());
  // The client trusts only its CA: a cluster it cannot verify is refused.
  EXPECT_NE(write_as(rogue_.ca(), m0, "/t/tls/unverified"), "");
  // Plain http to the https endpoint gets nowhere.
  std::string plain = cluster_.endpoint(0);
  plain.replace(0, 5, "http");
  EXPECT_NE(write_as("", m0, "/t/tls/plain", "", "", plain), "");
  EXPECT_EQ(value_of("/t/tls/foreign") + value_of("/t/tls/unverified") + value_of("/t/tls/plain"), "");
}

// etcd's authentication on top: a member's role holds its fleet's prefix
// only. With a client certificate and no password etcd takes the
// certificate's common name as the user; with a password, the user named.
TEST_F(EtcdTls, WithAuthenticationAMemberWritesOnlyUnderItsFleet) {
  for (const char* cmd :
       {"user add root --new-user-password=root-pw-4711", "role add fleet-lab",
        "role grant-permission fleet-lab --prefix=true readwrite /ftzgate/fleets/lab/",
        "user add m0 --new-user-password=m0-pw-4711", "user grant-role m0 fleet-lab", "auth enable"}) {
    const auto r = cluster_.etcdctl(cmd);
    ASSERT_EQ(r.status, 0) << cmd << ": " << r.output;
  }
  const auto m0 = ca_.issue("m0");
  EXPECT_EQ(write_as(ca_.ca(), m0, "/ftzgate/fleets/lab/by-cn"), "");
  EXPECT_EQ(value_of("/ftzgate/fleets/lab/by-cn"), "v");
  const std::string other = write_as(ca_.ca(), m0, "/ftzgate/fleets/other/by-cn");
  EXPECT_NE(other.find("permission denied"), std::string::npos) << other;
  EXPECT_EQ(write_as(ca_.ca(), m0, "/ftzgate/fleets/lab/by-password", "m0", "m0-pw-4711"), "");
  const std::string wrong = write_as(ca_.ca(), m0, "/ftzgate/fleets/lab/wrong", "m0", "not-the-password");
  EXPECT_NE(wrong.find("authentication failed"), std::string::npos) << wrong;
  // A certificate whose common name is no etcd user gets nothing.
  const std::string nobody = write_as(ca_.ca(), ca_.issue("m9"), "/ftzgate/fleets/lab/nobody");
  EXPECT_NE(nobody, "");
  EXPECT_EQ(value_of("/ftzgate/fleets/other/by-cn") + value_of("/ftzgate/fleets/lab/wrong") +
                value_of("/ftzgate/fleets/lab/nobody"),
            "");
}

}  // namespace
