#pragma once
// A real etcd cluster on 127.0.0.1 for the tests (Debian's etcd-server
// 3.4): N members on free ports with their data in a scratch directory, fast
// elections (heartbeat 50 ms, election timeout 500 ms); members can be
// killed (SIGKILL) and started again. etcdctl, the cluster's own client, is
// the tests' independent view of what the cluster holds. Every member is
// killed with the object.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ftz/test/files.hpp"
#include "ftz/test/loopback.hpp"
#include "ftz/test/spawn.hpp"

namespace ftz::test {

class EtcdCluster {
 public:
  EtcdCluster(const TempDir& dir, int members) : dir_(dir), members_(static_cast<size_t>(members)) {}
  ~EtcdCluster() {
    for (size_t i = 0; i < members_.size(); ++i) kill(static_cast<int>(i));
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Clients over https only, with a certificate `ca` verifies
  // (--client-cert-auth); the members serve `server`, and etcdctl is
  // `admin` (with etcd's authentication on, its common name is its user).
  struct Tls {
    std::string ca;
    std::string server_cert, server_key;
    std::string admin_cert, admin_key;
  };
  void use_tls(Tls tls) { tls_ = std::move(tls); }

  // Starts every member; true once each answers as healthy. A port picked
  // free can be taken by another test before etcd binds it (ctest -j): a
  // member that dies at start makes the cluster start again, on new ports.
  bool start() {
    for (int attempt = 0; attempt < 3; ++attempt) {
      for (Member& m : members_) {
        m.client_port = free_loopback_port(SOCK_STREAM);
        m.peer_port = free_loopback_port(SOCK_STREAM);
      }
      for (size_t i = 0; i < members_.size(); ++i) {
        std::filesystem::remove_all(dir_.file("etcd" + std::to_string(i)));
        spawn(i, "new");
      }
      if (wait_healthy()) return true;
      for (size_t i = 0; i < members_.size(); ++i) kill(static_cast<int>(i));
    }
    return false;
  }
  void kill(int i) {
    Member& m = members_[static_cast<size_t>(i)];
    if (m.pid <= 0) return;
    ::kill(m.pid, SIGKILL);
    ::waitpid(m.pid, nullptr, 0);
    m.pid = -1;
  }
  // Starts a killed member again on its data; true once it is healthy.
  bool restart(int i) {
    spawn(static_cast<size_t>(i), "existing");
    return wait_healthy();
  }
  // SIGSTOP / SIGCONT: a member that stops answering without its sockets
  // closing, as a member cut off by the network looks.
  void pause(int i) { signal(i, SIGSTOP); }
  void resume(int i) { signal(i, SIGCONT); }
  [[nodiscard]] pid_t pid(int i) const { return members_[static_cast<size_t>(i)].pid; }

  [[nodiscard]] std::string endpoint(int i) const {
    return std::string(tls_.ca.empty() ? "http" : "https") +
           "://127.0.0.1:" + std::to_string(members_[static_cast<size_t>(i)].client_port);
  }
  // Every member's, comma-separated (--etcd-endpoints).
  [[nodiscard]] std::string endpoints() const {
    std::string out;
    for (size_t i = 0; i < members_.size(); ++i) out += (i == 0 ? "" : ",") + endpoint(static_cast<int>(i));
    return out;
  }
  // The index of the leader (-1 without one among the members running).
  [[nodiscard]] int leader() const {
    for (size_t i = 0; i < members_.size(); ++i) {
      if (members_[i].pid <= 0) continue;
      const RunResult r =
          etcdctl("--endpoints=" + endpoint(static_cast<int>(i)) + " endpoint status -w json");
      const auto j = nlohmann::json::parse(r.output, nullptr, false);
      if (!j.is_array() || j.empty()) continue;
      const auto& s = j[0]["Status"];
      if (s["header"]["member_id"] == s["leader"]) return static_cast<int>(i);
    }
    return -1;
  }
  // etcdctl (API v3) with `args`; the whole cluster unless args name
  // --endpoints.
  [[nodiscard]] RunResult etcdctl(const std::string& args) const {
    const std::string eps =
        args.find("--endpoints") == std::string::npos ? "--endpoints=" + endpoints() + " " : "";
    const std::string tls = tls_.ca.empty() ? ""
                                            : "--cacert " + tls_.ca + " --cert " + tls_.admin_cert +
                                                  " --key " + tls_.admin_key + " ";
    return run_command("ETCDCTL_API=3 etcdctl --command-timeout=5s " + eps + tls + args);
  }
  [[nodiscard]] std::string log(int i) const { return dir_.file("etcd" + std::to_string(i) + ".log"); }

 private:
  struct Member {
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
  };

  void spawn(size_t i, const std::string& state) {
    std::string cluster;
    for (size_t k = 0; k < members_.size(); ++k) {
      cluster += (k == 0 ? "" : ",") + std::string("m") + std::to_string(k) +
                 "=http://127.0.0.1:" + std::to_string(members_[k].peer_port);
    }
    const std::string client = endpoint(static_cast<int>(i));
    const std::string peer = "http://127.0.0.1:" + std::to_string(members_[i].peer_port);
    std::vector<std::string> argv = {"/usr/bin/etcd",
                                     "--name",
                                     "m" + std::to_string(i),
                                     "--data-dir",
                                     dir_.file("etcd" + std::to_string(i)),
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     cluster,
                                     "--initial-cluster-token",
                                     "ftz-test-" + std::to_string(::getpid()),
                                     "--initial-cluster-state",
                                     state,
                                     "--heartbeat-interval",
                                     "50",
                                     "--election-timeout",
                                     "500",
                                     "--logger",
                                     "zap",
                                     "--log-outputs",
                                     log(static_cast<int>(i))};
    if (!tls_.ca.empty()) {
      argv.insert(argv.end(), {"--cert-file", tls_.server_cert, "--key-file", tls_.server_key,
                               "--client-cert-auth", "--trusted-ca-file", tls_.ca});
    }
    members_[i].pid = ftz::test::spawn(argv);
  }

  // Never kill(-1, ...): that would signal every process the test may.
  void signal(int i, int sig) const {
    if (pid(i) > 0) ::kill(pid(i), sig);
  }

  // True once every running member answers as healthy (at most 10 s); false
  // at once when one has exited (a port taken, a bad flag: its log says).
  bool wait_healthy() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      bool all = true;
      for (size_t i = 0; i < members_.size() && all; ++i) {
        Member& m = members_[i];
        if (m.pid <= 0) continue;
        if (::waitpid(m.pid, nullptr, WNOHANG) == m.pid) {
          m.pid = -1;
          return false;
        }
        all =
            etcdctl("--endpoints=" + endpoint(static_cast<int>(i)) + " --command-timeout=1s endpoint health")
                .status == 0;
      }
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  }

  const TempDir& dir_;
  std::vector<Member> members_;
  Tls tls_;
};

}  // namespace ftz::test
