#include "ftz/accounts/accounts.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <string>

#include "ftz/test/files.hpp"

namespace ftz::accounts {
namespace {

TEST(Passwords, ComplexityRule) {
  EXPECT_NE(password_problem("Short-1"), "");
  EXPECT_NE(password_problem("alllowercaseletters"), "");
  EXPECT_NE(password_problem("lowercase-and-dashes"), "") << "two classes only";
  EXPECT_EQ(password_problem("Lower-and-Upper"), "");
  EXPECT_EQ(password_problem("harbor-rule-2026"), "");
}

TEST(Passwords, ScryptHashesCheckAndResistEditing) {
  const std::string h = hash_password("Harbor-Rule-2026");
  ASSERT_TRUE(h.starts_with("scrypt$32768$8$1$")) << h;
  EXPECT_TRUE(check_password("Harbor-Rule-2026", h));
  EXPECT_FALSE(check_password("Harbor-Rule-2027", h));
  EXPECT_NE(hash_password("Harbor-Rule-2026"), h) << "a fresh salt every time";
  // The same key through OpenSSL's scrypt directly (not our parser).
  const auto f1 = h.find('$', 17), f2 = h.find('$', f1 + 1);
  const std::string salt64 = h.substr(17, f1 - 17), key64 = h.substr(f1 + 1);
  unsigned char salt[32], key[48];
  const int sl = EVP_DecodeBlock(salt, reinterpret_cast<const unsigned char*>(salt64.data()), salt64.size());
  const int kl = EVP_DecodeBlock(key, reinterpret_cast<const unsigned char*>(key64.data()), key64.size());
  ASSERT_EQ(sl, 18);  // 16 bytes and the padding's two
  ASSERT_EQ(kl, 33);  // 32 bytes and one
  (void)f2;
  unsigned char again[32];
  ASSERT_EQ(EVP_PBE_scrypt("Harbor-Rule-2026", 16, salt, 16, 32768, 8, 1, 64 << 20, again, 32), 1);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(again), 32), std::string(reinterpret_cast<char*>(key), 32));
  // A file edited to cheaper parameters is refused, not checked cheaply.
  std::string weak = h;
  weak.replace(7, 5, "00002");
  EXPECT_FALSE(check_password("Harbor-Rule-2026", weak));
  EXPECT_FALSE(check_password("Harbor-Rule-2026", "plain"));
}

TEST(InitialAccounts, ErrorsNameTheLine) {
  auto ok = AccountStore::parse_initial(
      "# admins\nalice:secadmin:Harbor-Rule-2026\n\nbob:audadmin:Audit-Trail-2026\n", "acc");
  ASSERT_TRUE(ok) << ok.error();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].role, Role::kAudadmin);
  const std::pair<const char*, const char*> bad[] = {
      {"alice:secadmin:Harbor-Rule-2026\nbob:admin:Audit-Trail-2026\n", "acc:2: role"},
      {"alice:secadmin:weak\n", "acc:1: password of alice"},
      {"../x:secadmin:Harbor-Rule-2026\n", "acc:1: user name"},
      {"alice\n", "acc:1: expected name:role:password"},
      {"alice:secadmin:Harbor-Rule-2026\nalice:operator:Harbor-Rule-2026\n",
       "acc:2: user alice appears twice"},
      {"# nothing\n", "acc: no accounts"},
  };
  for (const auto& [text, want] : bad) {
    auto r = AccountStore::parse_initial(text, "acc");
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.error().find(want), std::string::npos) << r.error();
  }
}

TEST(AccountStoreTest, LockoutForTenMinutesSurvivesAReload) {
  test::TempDir dir("accounts");
  const std::string path = dir.file("accounts.json");
  auto s = AccountStore::create(path, {{"dave", Role::kSysadmin, "System-Admin-2026", false}});
  ASSERT_TRUE(s) << s.error();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(AccountStore::create(path, {}));  // never replaces
  const int64_t t0 = 1'780'000'000;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s->authenticate("dave", "nope", t0 + i).error(), AuthFailure::kWrong);
  EXPECT_EQ(s->authenticate("dave", "nope", t0 + 4).error(), AuthFailure::kLocked);
  auto reloaded = AccountStore::load(path);
  ASSERT_TRUE(reloaded) << reloaded.error();
  EXPECT_EQ(reloaded->authenticate("dave", "System-Admin-2026", t0 + 599).error(), AuthFailure::kLocked);
  auto in = reloaded->authenticate("dave", "System-Admin-2026", t0 + 4 + AccountStore::kLockSeconds);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->role, Role::kSysadmin);
  EXPECT_EQ(reloaded->authenticate("nobody", "System-Admin-2026", t0).error(), AuthFailure::kWrong);
  ASSERT_FALSE(reloaded->change_password("dave", "weak"));
  ASSERT_TRUE(reloaded->change_password("dave", "Another-Admin-2026"));
  EXPECT_TRUE(AccountStore::load(path)->authenticate("dave", "Another-Admin-2026", t0 + 10'000));
}

}  // namespace
}  // namespace ftz::accounts
