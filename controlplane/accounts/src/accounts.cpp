#include "ftz/accounts/accounts.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ftz/base/atomic_file.hpp"
#include "ftz/keys/encoding.hpp"
#include "ftz/store/config_store.hpp"

namespace ftz::accounts {

namespace {

using nlohmann::json;

// scrypt parameters: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s a check here):
// OWASP's minimum for scrypt, and slow enough that the file's hashes resist
// an offline guess far longer than the lockout does online.
constexpr uint64_t kN = uint64_t{1} << 15;
constexpr uint64_t kR = 8;
constexpr uint64_t kP = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kKeyBytes = 32;
constexpr uint64_t kMaxMem = uint64_t{64} << 20;

constexpr std::string_view kRoleNames[] = {"sysadmin", "secadmin", "audadmin", "operator"};

std::optional<std::string> scrypt(std::string_view password, std::string_view salt, uint64_t n, uint64_t r,
                                  uint64_t p) {
  std::string key(kKeyBytes, '\0');
  if (EVP_PBE_scrypt(password.data(), password.size(), reinterpret_cast<const unsigned char*>(salt.data()),
                     salt.size(), n, r, p, kMaxMem, reinterpret_cast<unsigned char*>(key.data()),
                     key.size()) != 1)
    return std::nullopt;
  return key;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::optional<uint64_t> to_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::optional<Role> role_from_name(std::string_view name) noexcept {
  for (size_t i = 0; i < std::size(kRoleNames); ++i) {
    if (kRoleNames[i] == name) return static_cast<Role>(i);
  }
  return std::nullopt;
}

std::string_view role_name(Role role) noexcept {
  return kRoleNames[static_cast<size_t>(role)];
}

std::string password_problem(std::string_view password) {
  if (password.size() < 12) return "a password has at least 12 characters";
  int lower = 0, upper = 0, digit = 0, other = 0;
  for (const char c : password) {
    if (c >= 'a' && c <= 'z') {
      lower = 1;
    } else if (c >= 'A' && c <= 'Z') {
      upper = 1;
    } else if (c >= '0' && c <= '9') {
      digit = 1;
    } else {
      other = 1;
    }
  }
  if (lower + upper + digit + other < 3)
    return "a password mixes at least three of: lower case, upper case, digits, other characters";
  return {};
}

std::string hash_password(std::string_view password) {
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) != 1)
    return {};
  const auto key = scrypt(password, salt, kN, kR, kP);
  if (!key) return {};
  return "scrypt$" + std::to_string(kN) + "$" + std::to_string(kR) + "$" + std::to_string(kP) + "$" +
         keys::base64_encode(salt) + "$" + keys::base64_encode(*key);
}

bool check_password(std::string_view password, std::string_view hash) {
  const auto f = split(hash, '$');
  if (f.size() != 6 || f[0] != "scrypt") return false;
  const auto n = to_u64(f[1]), r = to_u64(f[2]), p = to_u64(f[3]);
  const auto salt = keys::base64_decode(f[4]), want = keys::base64_decode(f[5]);
  // Parameters no stronger than ours are refused too: a file edited down to
  // N = 2 must not make every guess cheap.
  if (!n || !r || !p || !salt || !want || *n < kN || *r < kR || *p < kP || *p > 16 ||
      *n > (uint64_t{1} << 20) || want->size() != kKeyBytes)
    return false;
  const auto got = scrypt(password, *salt, *n, *r, *p);
  return got && CRYPTO_memcmp(got->data(), want->data(), kKeyBytes) == 0;
}

namespace {

// One "name:role:password" line; `at` is "file:line: ".
tl::expected<InitialAccount, std::string> parse_account_line(std::string_view line, const std::string& at) {
  const size_t a = line.find(':');
  const size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
  if (b == std::string_view::npos) return tl::unexpected(at + "expected name:role:password");
  InitialAccount acc;
  acc.name = std::string(line.substr(0, a));
  const std::string_view role_text = line.substr(a + 1, b - a - 1);
  const auto role = role_from_name(role_text);
  acc.password = std::string(line.substr(b + 1));
  if (!store::ConfigStore::valid_user(acc.name))
    return tl::unexpected(at + "user name: 1-32 of a-z 0-9 _ -, starting with a letter or _");
  if (!role)
    return tl::unexpected(at + "role: one of sysadmin, secadmin, audadmin, operator (not \"" +
                          std::string(role_text) + "\")");
  acc.role = *role;
  if (const std::string why = password_problem(acc.password); !why.empty())
    return tl::unexpected(at + "password of " + acc.name + ": " + why);
  return acc;
}

}  // namespace

tl::expected<std::vector<InitialAccount>, std::string> AccountStore::parse_initial(std::string_view text,
                                                                                   const std::string& file) {
  std::vector<InitialAccount> out;
  size_t lineno = 0;
  for (std::string_view line : split(text, '\n')) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::string at = file;
    at += ':';
    at += std::to_string(lineno);
    at += ": ";
    auto acc = parse_account_line(line, at);
    if (!acc) return tl::unexpected(acc.error());
    const bool twice = std::any_of(out.begin(), out.end(),
                                   [&](const InitialAccount& other) { return other.name == acc->name; });
    if (twice) {
      at += "user ";
      at += acc->name;
      at += " appears twice";
      return tl::unexpected(at);
    }
    out.push_back(std::move(*acc));
  }
  if (out.empty()) return tl::unexpected(file + ": no accounts");
  return out;
}

tl::expected<AccountStore, std::string> AccountStore::create(const std::string& path,
                                                             const std::vector<InitialAccount>& initial) {
  std::vector<Account> accounts;
  for (const auto& i : initial) {
    Account a;
    a.name = i.name;
    a.role = i.role;
    a.hash = hash_password(i.password);
    a.must_change = i.must_change;
    if (a.hash.empty()) return tl::unexpected(std::string("cannot hash a password (OpenSSL scrypt)"));
    accounts.push_back(std::move(a));
  }
  AccountStore s(path, std::move(accounts));
  auto w = base::write_file_atomically(path, s.to_text(), 0600, base::IfExists::kKeep);
  if (!w) return tl::unexpected("accounts: " + w.error());
  if (!*w) return tl::unexpected(path + " exists already");
  return s;
}

tl::expected<AccountStore, std::string> AccountStore::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  const json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("accounts") || !j["accounts"].is_array())
    return tl::unexpected(path + ": not an account file");
  std::vector<Account> accounts;
  size_t i = 0;
  for (const json& e : j["accounts"]) {
    const std::string at = path + ": accounts[" + std::to_string(i++) + "]";
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("role") ||
        !e["role"].is_string() || !e.contains("hash") || !e["hash"].is_string())
      return tl::unexpected(at + ": name, role and hash are required");
    Account a;
    a.name = e["name"].get<std::string>();
    const auto role = role_from_name(e["role"].get<std::string>());
    if (!role || !store::ConfigStore::valid_user(a.name)) return tl::unexpected(at + ": bad name or role");
    a.role = *role;
    a.hash = e["hash"].get<std::string>();
    a.must_change = e.value("must_change", false);
    a.failures = e.value("failures", 0u);
    a.locked_until_s = e.value("locked_until_s", int64_t{0});
    accounts.push_back(std::move(a));
  }
  return AccountStore(path, std::move(accounts));
}

std::string AccountStore::to_text() const {
  json arr = json::array();
  for (const auto& a : accounts_)
    arr.push_back({{"name", a.name},
                   {"role", role_name(a.role)},
                   {"hash", a.hash},
                   {"must_change", a.must_change},
                   {"failures", a.failures},
                   {"locked_until_s", a.locked_until_s}});
  return json{{"accounts", arr}}.dump(1) + "\n";
}

tl::expected<void, std::string> AccountStore::save() const {
  auto w = base::write_file_atomically(path_, to_text(), 0600);
  if (!w) return tl::unexpected("accounts: " + w.error());
  return {};
}

tl::expected<void, std::string> AccountStore::change_password(std::string_view name,
                                                              std::string_view password) {
  if (const std::string why = password_problem(password); !why.empty()) return tl::unexpected(why);
  for (auto& a : accounts_) {
    if (a.name != name) continue;
    const Account before = a;
    a.hash = hash_password(password);
    if (a.hash.empty()) {
      a = before;
      return tl::unexpected(std::string("cannot hash the password (OpenSSL scrypt)"));
    }
    a.must_change = false;
    if (auto saved = save(); !saved) {
      a = before;
      return saved;
    }
    return {};
  }
  return tl::unexpected("no account " + std::string(name));
}

const Account* AccountStore::find(std::string_view name) const noexcept {
  for (const auto& a : accounts_) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string AccountStore::last_of_role(std::string_view name) const {
  const Account* a = find(name);
  if (a == nullptr || a->role == Role::kOperator) return {};
  const auto holders = std::count_if(accounts_.begin(), accounts_.end(),
                                     [&](const Account& other) { return other.role == a->role; });
  if (holders > 1) return {};
  return std::string(name) + " is the only " + std::string(role_name(a->role)) +
         ": another account must hold the role first";
}

tl::expected<void, std::string> AccountStore::save_or_restore(std::vector<Account> before) {
  if (auto saved = save(); !saved) {
    accounts_ = std::move(before);
    return saved;
  }
  return {};
}

tl::expected<void, std::string> AccountStore::add(std::string_view name, Role role, std::string_view password,
                                                  bool must_change) {
  if (!store::ConfigStore::valid_user(name))
    return tl::unexpected(std::string("user name: 1-32 of a-z 0-9 _ -, starting with a letter or _"));
  if (find(name) != nullptr) return tl::unexpected("an account " + std::string(name) + " exists");
  if (accounts_.size() >= kMaxAccounts)
    return tl::unexpected("at most " + std::to_string(kMaxAccounts) + " accounts");
  if (const std::string why = password_problem(password); !why.empty()) return tl::unexpected(why);
  Account a;
  a.name = std::string(name);
  a.role = role;
  a.hash = hash_password(password);
  a.must_change = must_change;
  if (a.hash.empty()) return tl::unexpected(std::string("cannot hash the password (OpenSSL scrypt)"));
  std::vector<Account> before = accounts_;
  accounts_.push_back(std::move(a));
  return save_or_restore(std::move(before));
}

tl::expected<void, std::string> AccountStore::remove(std::string_view name) {
  if (find(name) == nullptr) return tl::unexpected("no account " + std::string(name));
  if (const std::string why = last_of_role(name); !why.empty()) return tl::unexpected(why);
  std::vector<Account> before = accounts_;
  std::erase_if(accounts_, [&](const Account& a) { return a.name == name; });
  return save_or_restore(std::move(before));
}

tl::expected<void, std::string> AccountStore::set_role(std::string_view name, Role role) {
  const Account* a = find(name);
  if (a == nullptr) return tl::unexpected("no account " + std::string(name));
  if (a->role == role)
    return tl::unexpected(std::string(name) + " is " + std::string(role_name(role)) + " already");
  if (const std::string why = last_of_role(name); !why.empty()) return tl::unexpected(why);
  std::vector<Account> before = accounts_;
  for (auto& acc : accounts_) {
    if (acc.name == name) acc.role = role;
  }
  return save_or_restore(std::move(before));
}

namespace {
// Checked against when the name is unknown: the same work as for a real
// account, so the time does not tell which names exist.
constexpr std::string_view kNoAccountHash =
    "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
}  // namespace

std::string AccountStore::hash_to_check(std::string_view name) const {
  for (const auto& a : accounts_) {
    if (a.name == name) return a.hash;
  }
  return std::string(kNoAccountHash);
}

tl::expected<Account, AuthFailure> AccountStore::record_login(std::string_view name, bool password_ok,
                                                              int64_t now_s) {
  Account* found = nullptr;
  for (auto& a : accounts_) {
    if (a.name == name) found = &a;
  }
  if (found == nullptr) return tl::unexpected(AuthFailure::kWrong);
  // Locked (also by a login that ended while this one was checking): the
  // right password does not open it.
  if (found->locked_until_s > now_s) return tl::unexpected(AuthFailure::kLocked);
  if (!password_ok) {
    if (++found->failures >= kMaxFailures) {
      found->locked_until_s = now_s + kLockSeconds;
      found->failures = 0;
    }
    (void)save();  // best effort: the count also lives in memory
    return tl::unexpected(found->locked_until_s > now_s ? AuthFailure::kLocked : AuthFailure::kWrong);
  }
  if (found->failures != 0) {
    found->failures = 0;
    (void)save();
  }
  return *found;
}

tl::expected<Account, AuthFailure> AccountStore::authenticate(std::string_view name,
                                                              std::string_view password, int64_t now_s) {
  return record_login(name, check_password(password, hash_to_check(name)), now_s);
}

}  // namespace ftz::accounts
