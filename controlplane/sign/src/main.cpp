// ftzgate-sign: detached signatures for what vendors ship (issue 10
// "Signing"): signature packs now, image manifests later.
//
//   ftzgate-sign keygen [--algorithm ed25519|sm2] KEY       KEY (0600) and KEY.pub
//   ftzgate-sign sign --key KEY FILE [--out SIG]            FILE.sig by default
//   ftzgate-sign verify (--key PUB | --trusted-keys DIR) FILE [--sig SIG]
//
// The .sig format and what is signed: ftz/keys/detached.hpp. Exit status:
// 0 done (verify: the signature holds); 1 an error, or a signature that
// does not hold (the reason on standard error); 2 a bad command line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "ftz/base/atomic_file.hpp"
#include "ftz/bundle/trusted_keys.hpp"
#include "ftz/keys/detached.hpp"
#include "ftz/keys/signing_key.hpp"

namespace {

using namespace ftz;

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(s).str();
}

int error(const std::string& what) {
  std::fprintf(stderr, "ftzgate-sign: %s\n", what.c_str());
  return 1;
}

int keygen(const std::string& algorithm, const std::string& path) {
  if (std::ifstream(path)) return error(path + " exists: a key is never replaced");
  auto key = keys::SigningKey::load_or_generate(path, *keys::algorithm_from_name(algorithm));
  if (!key) return error(key.error());
  auto pub = base::write_file_atomically(path + ".pub", key->public_pem(), 0644, base::IfExists::kKeep);
  if (!pub || !*pub) return error(pub ? path + ".pub exists" : pub.error());
  std::printf("%s key %s: %s (keep it secret), %s.pub (give it to appliances' trusted keys)\n",
              std::string(keys::algorithm_name(key->algorithm())).c_str(), key->key_id().c_str(),
              path.c_str(), path.c_str());
  return 0;
}

int sign(const std::string& key_path, const std::string& file, std::string out) {
  auto key = keys::SigningKey::load(key_path);
  if (!key) return error(key.error());
  auto content = read_whole(file);
  if (!content) return error("cannot read " + file);
  const std::string sig = keys::make_detached(*key, *content);
  if (sig.empty()) return error("cannot sign (OpenSSL)");
  if (out.empty()) out = file + ".sig";
  if (auto w = base::write_file_atomically(out, sig, 0644); !w) return error(w.error());
  std::printf("%s: signed with %s key %s\n", out.c_str(),
              std::string(keys::algorithm_name(key->algorithm())).c_str(), key->key_id().c_str());
  return 0;
}

int verify(const std::string& pub_path, const std::string& trusted_dir, const std::string& file,
           std::string sig) {
  bundle::TrustedKeys trusted;
  if (!trusted_dir.empty()) {
    auto loaded = bundle::TrustedKeys::load(trusted_dir);
    if (!loaded) return error(loaded.error());
    trusted = std::move(*loaded);
  } else {
    auto pem = read_whole(pub_path);
    if (!pem) return error("cannot read " + pub_path);
    if (auto added = trusted.add(*pem); !added) return error(pub_path + ": " + added.error());
  }
  if (sig.empty()) sig = file + ".sig";
  auto content = read_whole(file);
  auto sig_text = read_whole(sig);
  if (!content) return error("cannot read " + file);
  if (!sig_text) return error("cannot read " + sig);
  auto signer =
      keys::verify_detached(*sig_text, *content, [&](const std::string& id) { return trusted.find(id); });
  if (!signer) return error(file + ": " + signer.error());
  std::printf("%s: signature good, key %s\n", file.c_str(), signer->c_str());
  return 0;
}

}  // namespace

static int run(int argc, char** argv) {
  CLI::App app{"Detached signatures for ftzgate signature packs and images.", "ftzgate-sign"};
  app.require_subcommand(1);
  std::string algorithm = "ed25519";
  std::string key;
  std::string file;
  std::string out;
  std::string trusted;
  auto* gen = app.add_subcommand("keygen", "a new key: KEY (0600) and KEY.pub");
  gen->add_option("--algorithm", algorithm, "ed25519 or sm2 (SM2 with SM3)")
      ->check(CLI::IsMember({"ed25519", "sm2"}))
      ->capture_default_str();
  gen->add_option("KEY", key, "where the private key goes")->required();
  auto* sgn = app.add_subcommand("sign", "write FILE.sig");
  sgn->add_option("--key", key, "the private key")->required()->type_name("KEY");
  sgn->add_option("--out", out, "the signature file (default FILE.sig)")->type_name("SIG");
  sgn->add_option("FILE", file, "the file to sign")->required();
  auto* ver = app.add_subcommand("verify", "check FILE.sig against a key or a trusted-keys directory");
  auto* by_key = ver->add_option("--key", key, "a public key (PEM)")->type_name("PUB");
  ver->add_option("--trusted-keys", trusted, "every *.pub there is trusted")
      ->type_name("DIR")
      ->excludes(by_key);
  ver->add_option("--sig", out, "the signature file (default FILE.sig)")->type_name("SIG");
  ver->add_option("FILE", file, "the signed file")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ftzgate-sign: %s\nRun with --help for more information.\n", e.what());
    return 2;
  }
  if (gen->parsed()) return keygen(algorithm, key);
  if (sgn->parsed()) return sign(key, file, out);
  if (key.empty() && trusted.empty()) {
    std::fputs("ftzgate-sign: verify needs --key PUB or --trusted-keys DIR\n", stderr);
    return 2;
  }
  return verify(key, trusted, file, out);
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftzgate-sign: %s\n", e.what());
    return 1;
  }
}
