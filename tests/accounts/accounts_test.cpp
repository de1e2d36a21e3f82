#include "ftz/accounts/accounts.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

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

TEST(AccountStoreTest, AdministrationKeepsEveryAdministratorRoleHeldAndIsSavedOrNotAtAll) {
  test::TempDir dir("accounts");
  const std::string path = dir.file("accounts.json");
  auto s = AccountStore::create(path, {{"dave", Role::kSysadmin, "System-Admin-2026", false},
                                       {"alice", Role::kSecadmin, "Harbor-Rule-2026", false},
                                       {"bob", Role::kAudadmin, "Audit-Trail-2026", false}});
  ASSERT_TRUE(s) << s.error();
  ASSERT_TRUE(s->add("frank", Role::kOperator, "Frank-Reads-2026", true));
  EXPECT_FALSE(s->add("frank", Role::kOperator, "Frank-Reads-2026", true)) << "a name twice";
  EXPECT_FALSE(s->add("Frank!", Role::kOperator, "Frank-Reads-2026", true));
  EXPECT_FALSE(s->add("gina", Role::kOperator, "weak", true));
  // The only holder of a role keeps it until another holds it too.
  for (const char* only : {"dave", "alice", "bob"}) {
    auto refused = s->remove(only);
    ASSERT_FALSE(refused) << only;
    EXPECT_NE(refused.error().find("is the only"), std::string::npos) << refused.error();
    EXPECT_FALSE(s->set_role(only, Role::kOperator)) << only;
  }
  ASSERT_TRUE(s->set_role("frank", Role::kAudadmin));
  EXPECT_FALSE(s->set_role("frank", Role::kAudadmin)) << "no change is an error";
  ASSERT_TRUE(s->remove("bob")) << "frank is an audadmin too now";
  EXPECT_FALSE(s->remove("bob"));
  auto reloaded = AccountStore::load(path);
  ASSERT_TRUE(reloaded);
  ASSERT_EQ(reloaded->accounts().size(), 3u);
  const Account* frank = reloaded->find("frank");
  ASSERT_NE(frank, nullptr);
  EXPECT_EQ(frank->role, Role::kAudadmin);
  EXPECT_TRUE(frank->must_change);
  EXPECT_EQ(reloaded->find("bob"), nullptr);
  // A file that cannot be written changes nothing: a directory where the
  // file goes makes the rename fail (also as root).
  ASSERT_TRUE(reloaded->add("hank", Role::kOperator, "Hank-Operates-2026", false));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  auto failed = reloaded->add("gina", Role::kOperator, "Gina-Operates-2026", true);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().find("accounts.json"), std::string::npos) << failed.error();
  EXPECT_EQ(reloaded->find("gina"), nullptr);
  EXPECT_FALSE(reloaded->remove("hank"));
  EXPECT_NE(reloaded->find("hank"), nullptr);
  EXPECT_FALSE(reloaded->set_role("hank", Role::kSecadmin));
  EXPECT_EQ(reloaded->find("hank")->role, Role::kOperator);
}

}  // namespace
}  // namespace ftz::accounts
