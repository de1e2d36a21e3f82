#pragma once
// Local administrator accounts of ftzgated (issue 10 §3, DOMAIN.md §5, MLPS
// Level 3): the three administrators and the read-only operator, scrypt
// password hashes (OpenSSL), complexity, lockout after repeated failures.
// One JSON file (0600) in the state directory, replaced atomically on every
// change; times come from the caller (tests inject the clock).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

namespace ftz::accounts {

enum class Role : uint8_t { kSysadmin, kSecadmin, kAudadmin, kOperator };

std::optional<Role> role_from_name(std::string_view name) noexcept;
std::string_view role_name(Role role) noexcept;

// Why a password is refused ("" when it is acceptable): at least 12
// characters from at least three of lower case, upper case, digits, others.
std::string password_problem(std::string_view password);

// "scrypt$<N>$<r>$<p>$<salt, base64>$<key, base64>"; check_password() is
// constant time in the key comparison.
std::string hash_password(std::string_view password);
bool check_password(std::string_view password, std::string_view hash);

struct Account {
  std::string name;
  Role role = Role::kOperator;
  std::string hash;
  bool must_change = false;  // default accounts until their first change
  uint32_t failures = 0;     // consecutive failed logins
  int64_t locked_until_s = 0;
};

// One line of an --accounts file: "name:role:password".
struct InitialAccount {
  std::string name;
  Role role;
  std::string password;
  bool must_change = false;
};

enum class AuthFailure : uint8_t {
  kWrong,   // unknown user or wrong password (the caller is not told which)
  kLocked,  // locked after kMaxFailures failures; until locked_until_s
};

class AccountStore {
 public:
  static constexpr uint32_t kMaxFailures = 5;
  static constexpr int64_t kLockSeconds = 10 * 60;

  // Parses an --accounts file: one "name:role:password" a line, '#'
  // comments; errors name the line. Passwords must pass password_problem().
  static tl::expected<std::vector<InitialAccount>, std::string> parse_initial(std::string_view text,
                                                                              const std::string& file);
  // Writes a new account file (refuses to replace one).
  static tl::expected<AccountStore, std::string> create(const std::string& path,
                                                        const std::vector<InitialAccount>& accounts);
  static tl::expected<AccountStore, std::string> load(const std::string& path);

  // The account when `password` is right; a failure counts toward the lock
  // (persisted: a restart does not reset it). A locked account is refused
  // even with the right password until the lock ends.
  tl::expected<Account, AuthFailure> authenticate(std::string_view name, std::string_view password,
                                                  int64_t now_s);
  // authenticate() in two steps, for a caller that must not hold its lock
  // through the ~0.1 s scrypt check: the hash to check the password against
  // (a dummy one for an unknown name, so both take the same time), then
  // the outcome, which counts the failure or clears the count.
  [[nodiscard]] std::string hash_to_check(std::string_view name) const;
  tl::expected<Account, AuthFailure> record_login(std::string_view name, bool password_ok, int64_t now_s);
  // Sets `name`'s password (which must pass password_problem()) and ends
  // its must-change state.
  tl::expected<void, std::string> change_password(std::string_view name, std::string_view password);
  [[nodiscard]] const std::vector<Account>& accounts() const noexcept { return accounts_; }
  [[nodiscard]] const Account* find(std::string_view name) const noexcept;

  // Account administration, each saved before it returns (nothing changes
  // when the file cannot be written). add() refuses a name in use, a
  // password password_problem() refuses, and a store of kMaxAccounts;
  // remove() and set_role() refuse to leave an administrator role
  // (sysadmin, secadmin, audadmin) without an account: its work could no
  // longer be done, and only that role could fix it.
  static constexpr size_t kMaxAccounts = 256;
  tl::expected<void, std::string> add(std::string_view name, Role role, std::string_view password,
                                      bool must_change);
  tl::expected<void, std::string> remove(std::string_view name);
  tl::expected<void, std::string> set_role(std::string_view name, Role role);

 private:
  AccountStore(std::string path, std::vector<Account> accounts)
      : path_(std::move(path)), accounts_(std::move(accounts)) {}
  [[nodiscard]] std::string to_text() const;  // the file's JSON
  // Why `accounts_` without `name`'s current role would leave an
  // administrator role empty ("" when it would not).
  [[nodiscard]] std::string last_of_role(std::string_view name) const;
  // Saves, or puts `before` back and says why.
  tl::expected<void, std::string> save_or_restore(std::vector<Account> before);
  tl::expected<void, std::string> save() const;

  std::string path_;
  std::vector<Account> accounts_;
};

}  // namespace ftz::accounts
