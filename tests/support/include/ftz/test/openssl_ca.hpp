#pragma once
// A certificate authority made with the openssl command line, for tests
// of TLS peers (etcd): an issuer independent of the code under test.

#include <fstream>
#include <string>

#include "ftz/test/files.hpp"

namespace ftz::test {

class OpensslCa {
 public:
  struct Issued {
    std::string cert;  // PEM files
    std::string key;
  };

  // NAME-ca.pem and its key in `dir`; ok() says whether openssl made them.
  OpensslCa(const TempDir& dir, std::string name) : dir_(dir), name_(std::move(name)) {
    ok_ = run_command("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
                      key() + " -out " + ca() + " -days 2 -subj /CN=" + name_ + "-ca 2>&1")
              .status == 0;
  }
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] std::string ca() const { return dir_.file(name_ + "-ca.pem"); }

  // A certificate for common name `cn`, good for a server on 127.0.0.1 and
  // for a client; empty paths when openssl failed.
  Issued issue(const std::string& cn) const {
    const std::string base = dir_.file(name_ + "-" + cn);
    std::ofstream(base + ".ext") << "subjectAltName=IP:127.0.0.1\n"
                                    "extendedKeyUsage=serverAuth,clientAuth\n";
    const bool made =
        run_command("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + base +
                    ".key -out " + base + ".csr -subj /CN=" + cn + " 2>&1")
                .status == 0 &&
        run_command("openssl x509 -req -in " + base + ".csr -CA " + ca() + " -CAkey " + key() +
                    " -CAcreateserial -days 2 -extfile " + base + ".ext -out " + base + ".pem 2>&1")
                .status == 0;
    return made ? Issued{base + ".pem", base + ".key"} : Issued{};
  }

 private:
  [[nodiscard]] std::string key() const { return dir_.file(name_ + "-ca.key"); }
  const TempDir& dir_;
  std::string name_;
  bool ok_ = false;
};

}  // namespace ftz::test
