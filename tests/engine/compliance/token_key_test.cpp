// HMAC-SHA-256 / HMAC-SM3 tokens: known vectors, self-consistency against
// OpenSSL, key files, zero allocation per token, and the cost per token.
// No identifier is ever printed.
#include "ftz/engine/compliance/token_key.hpp"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "ftz/engine/compliance/hmac.hpp"

// ---- allocation counters: OpenSSL's allocator and C++ operator new ----
namespace {
std::atomic<long> g_ossl_allocs{0};
std::atomic<long> g_new_allocs{0};
void* count_malloc(size_t n, const char*, int) {
  ++g_ossl_allocs;
  return std::malloc(n);
}
void* count_realloc(void* p, size_t n, const char*, int) {
  ++g_ossl_allocs;
  return std::realloc(p, n);
}
void count_free(void* p, const char*, int) {
  std::free(p);
}
// Before main and before any OpenSSL allocation.
const bool g_hooks = CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) == 1;
}  // namespace

// Replaced global operator new/delete (malloc-based) to count C++ allocations.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t n) {
  ++g_new_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace ftz::engine::compliance {
namespace {

std::string hex(const MacBytes& m) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : m) {
    s.push_back(d[b >> 4]);
    s.push_back(d[b & 15]);
  }
  return s;
}
std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct Vector {
  const char* name;
  std::vector<uint8_t> key;
  std::string data;
  const char* sha256;
  const char* sm3;  // from `openssl dgst -sm3 -mac HMAC -macopt hexkey:...` (OpenSSL 3.0.19)
};

std::vector<Vector> vectors() {
  const std::string long_key_msg = "Test Using Larger Than Block-Size Key - Hash Key First";
  const std::string long_data =
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to "
      "be hashed before being used by the HMAC algorithm.";
  std::vector<uint8_t> k4;
  for (uint8_t i = 1; i <= 25; ++i) k4.push_back(i);
  // RFC 4231 test cases 1, 2, 3, 4, 6, 7 (case 5 is a truncation of the same construction).
  return {
      {"rfc4231-1", std::vector<uint8_t>(20, 0x0b), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
       "51b00d1fb49832bfb01c3ce27848e59f871d9ba938dc563b338ca964755cce70"},
      {"rfc4231-2",
       {'J', 'e', 'f', 'e'},
       "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
       "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882"},
      {"rfc4231-3", std::vector<uint8_t>(20, 0xaa), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
       "dd9421e1c725bdf52ec1aa34edadb3c97f5951a83a2fa93f73a7902bc1dcc777"},
      {"rfc4231-4", k4, std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
       "b57c79be03472aeb8cada581dea332cb2ba83d19cb1b052dd07194def75fb8cd"},
      {"rfc4231-6", std::vector<uint8_t>(131, 0xaa), long_key_msg,
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", nullptr},
      {"rfc4231-7", std::vector<uint8_t>(131, 0xaa), long_data,
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
       "5acbdeb0c8c1ef3a99088fe51c0a1d5f4e1c175935f016aee74eb8056db18acb"},
  };
}

TEST(Hmac, Rfc4231Sha256) {
  for (const auto& v : vectors()) {
    auto h = Hmac::create(MacAlgo::kHmacSha256, v.key);
    ASSERT_TRUE(h) << v.name << ": " << h.error();
    EXPECT_EQ(hex(h->mac(v.data)), v.sha256) << v.name;
  }
}

TEST(Hmac, Sm3VectorsFromOpensslCli) {
  for (const auto& v : vectors()) {
    if (v.sm3 == nullptr) continue;
    auto h = Hmac::create(MacAlgo::kHmacSm3, v.key);
    ASSERT_TRUE(h) << v.name << ": " << h.error();
    EXPECT_EQ(hex(h->mac(v.data)), v.sm3) << v.name;
  }
}

TEST(Hmac, Sm3DigestStandardVectors) {
  // GB/T 32905-2016 Annex A: "abc" and "abcd" x 16.
  Sm3State s;
  uint8_t out[32];
  s.init();
  s.update(reinterpret_cast<const uint8_t*>("abc"), 3);
  s.final(out);
  MacBytes m;
  std::copy(out, out + 32, m.begin());
  EXPECT_EQ(hex(m), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
  std::string abcd;
  for (int i = 0; i < 16; ++i) abcd += "abcd";
  s.init();
  s.update(reinterpret_cast<const uint8_t*>(abcd.data()), abcd.size());
  s.final(out);
  std::copy(out, out + 32, m.begin());
  EXPECT_EQ(hex(m), "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

TEST(Hmac, FastPathMatchesEvpMacForAllLengths) {
  // Every message length across the padding boundaries, random keys of 1..150 bytes.
  std::mt19937_64 rng(7);
  for (MacAlgo algo : {MacAlgo::kHmacSha256, MacAlgo::kHmacSm3}) {
    for (size_t len = 0; len < 200; ++len) {
      std::vector<uint8_t> key(1 + rng() % 150), msg(len);
      for (auto& b : key) b = static_cast<uint8_t>(rng());
      for (auto& b : msg) b = static_cast<uint8_t>(rng());
      auto h = Hmac::create(algo, key);
      ASSERT_TRUE(h) << h.error();
      auto ref = Hmac::reference(algo, key, msg);
      ASSERT_TRUE(ref) << ref.error();
      MacBytes got{};
      const size_t split = len / 3;
      h->mac(std::span(msg).first(split), std::span(msg).subspan(split), got);
      EXPECT_EQ(got, *ref) << mac_algo_name(algo) << " length " << len;
    }
  }
}

std::vector<uint8_t> test_key(uint8_t seed) {
  std::vector<uint8_t> k(32);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 31 + i);
  return k;
}

TEST(TokenKey, TokenIsFirst8BytesOfHmacOverTypeAndIdentifier) {
  for (MacAlgo algo : {MacAlgo::kHmacSha256, MacAlgo::kHmacSm3}) {
    auto k = TokenKey::from_bytes(test_key(1), algo);
    ASSERT_TRUE(k) << k.error();
    const std::string id = "11010519491231002X";
    std::string msg = std::string(1, '\x03') + id;
    auto ref = Hmac::reference(algo, test_key(1), bytes(msg));
    ASSERT_TRUE(ref);
    uint64_t want = 0;
    for (int i = 0; i < 8; ++i) want = (want << 8) | (*ref)[static_cast<size_t>(i)];
    EXPECT_EQ(k->token(id, 3), want);
    EXPECT_NE(k->token(id, 3), k->token(id, 4)) << "identifier type is part of the token";
  }
}

// derive(): the fingerprint is derive() of its published label, and the
// flow table's secret is the MAC of another label (independent of it).
TEST(TokenKey, DeriveIsFirst8BytesOfHmacOverTheLabel) {
  for (MacAlgo algo : {MacAlgo::kHmacSha256, MacAlgo::kHmacSm3}) {
    auto k = TokenKey::from_bytes(test_key(1), algo);
    ASSERT_TRUE(k) << k.error();
    for (std::string_view label : {kFingerprintLabel, kFlowHashLabel}) {
      auto ref = Hmac::reference(algo, test_key(1), bytes(std::string(label)));
      ASSERT_TRUE(ref);
      uint64_t want = 0;
      for (int i = 0; i < 8; ++i) want = (want << 8) | (*ref)[static_cast<size_t>(i)];
      EXPECT_EQ(k->derive(label), want) << label;
    }
    EXPECT_EQ(k->fingerprint(), k->derive(kFingerprintLabel));
    EXPECT_NE(k->derive(kFlowHashLabel), k->fingerprint());
  }
}

TEST(TokenKey, TwoKeysGiveDifferentTokens) {
  auto a = TokenKey::from_bytes(test_key(1), MacAlgo::kHmacSha256);
  auto b = TokenKey::from_bytes(test_key(2), MacAlgo::kHmacSha256);
  auto c = TokenKey::from_bytes(test_key(1), MacAlgo::kHmacSm3);
  ASSERT_TRUE(a && b && c);
  EXPECT_NE(a->token("13812345678", 1), b->token("13812345678", 1));
  EXPECT_NE(a->token("13812345678", 1), c->token("13812345678", 1));
  EXPECT_NE(a->fingerprint(), b->fingerprint());
  EXPECT_NE(a->fingerprint(), c->fingerprint());
  EXPECT_EQ(a->token("13812345678", 1), a->token("13812345678", 1));
}

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ftz_key_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;  // not system("rm -rf"): its result may not be ignored (_FORTIFY_SOURCE)
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p, std::ios::binary) << content;
    ::chmod(p.c_str(), mode);
    return p;
  }
  std::string dir_;
};

TEST_F(KeyFile, HexAndBinaryGiveTheSameKey) {
  std::string raw(32, '\0');
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(0x80 + i);  // not all hex digits
  std::string hx;
  for (unsigned char c : raw) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", c);
    hx += b;
  }
  auto a = TokenKey::load(write("bin.key", raw, 0600), MacAlgo::kHmacSha256);
  auto b = TokenKey::load(write("hex.key", hx + "\n", 0600), MacAlgo::kHmacSha256);
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(a->fingerprint(), b->fingerprint());
  EXPECT_TRUE(a->warnings().empty());
}

TEST_F(KeyFile, ShortKeyRefusedMissingFileRefused) {
  auto a = TokenKey::load(write("short.key", "00112233445566778899aabbccddee", 0600),
                          MacAlgo::kHmacSha256);  // 15 bytes
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().find("too short"), std::string::npos) << a.error();
  EXPECT_EQ(a.error().find("0011"), std::string::npos) << "key material in an error";
  auto b = TokenKey::load(dir_ + "/absent.key", MacAlgo::kHmacSm3);
  EXPECT_FALSE(b);
  auto c = TokenKey::load(write("empty.key", "", 0600), MacAlgo::kHmacSm3);
  EXPECT_FALSE(c);
}

TEST_F(KeyFile, WorldReadableKeyIsAWarning) {
  auto a = TokenKey::load(write("open.key", std::string(32, 'k'), 0644), MacAlgo::kHmacSm3);
  ASSERT_TRUE(a) << a.error();
  ASSERT_EQ(a->warnings().size(), 1u);
  EXPECT_NE(a->warnings()[0].find("644"), std::string::npos) << a->warnings()[0];
}

// The demo key shipped in examples/ is recognised by its marker line and,
// without it, by its bytes; an ordinary key is not a demo key.
TEST_F(KeyFile, DemoKeyRecognisedByMarkerAndByItsBytes) {
  const char* src = std::getenv("FTZ_SOURCE_DIR");
  const std::string shipped = std::string(src ? src : FTZ_DEFAULT_SOURCE_DIR) + "/examples/keys/token.key";
  auto demo = TokenKey::load(shipped, MacAlgo::kHmacSha256);
  ASSERT_TRUE(demo) << demo.error();
  EXPECT_TRUE(demo->is_demo());
  // The same key bytes without the marker (copied by hand) are still the demo key.
  std::ifstream in(shipped);
  std::string line;
  std::string hex_key;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') hex_key = line;
  }
  ASSERT_EQ(hex_key.size(), 64u);
  auto copied = TokenKey::load(write("copied.key", hex_key + "\n", 0600), MacAlgo::kHmacSha256);
  ASSERT_TRUE(copied) << copied.error();
  EXPECT_TRUE(copied->is_demo());
  EXPECT_EQ(copied->fingerprint(), demo->fingerprint());
  // Any key can be declared a demo key by the marker.
  const std::string other(64, 'a');
  auto marked =
      TokenKey::load(write("marked.key", std::string(kDemoKeyMarker) + ": test\n" + other + "\n", 0600),
                     MacAlgo::kHmacSha256);
  ASSERT_TRUE(marked) << marked.error();
  EXPECT_TRUE(marked->is_demo());
  auto plain = TokenKey::load(write("plain.key", other + "\n", 0600), MacAlgo::kHmacSha256);
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_FALSE(plain->is_demo());
  EXPECT_EQ(plain->fingerprint(), marked->fingerprint()) << "the marker line is not key material";
}

class KeyResolution : public KeyFile {
 protected:
  std::string demo_key() {
    return write("demo.key", std::string(kDemoKeyMarker) + "\n" + std::string(64, 'd') + "\n", 0644);
  }
  static mode_t mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  }
};

TEST_F(KeyResolution, DemoKeyRefusedWithoutTheOptionAndAKeyIsGeneratedBesideTheState) {
  KeyRequest req{demo_key(), dir_ + "/state/compliance.state", MacAlgo::kHmacSha256, false};
  auto r = resolve_token_key(req);
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->key.is_demo());
  EXPECT_EQ(r->path, dir_ + "/state/token.key");
  EXPECT_EQ(mode_of(r->path), 0600u);
  ASSERT_EQ(r->notes.size(), 2u);
  EXPECT_NE(r->notes[0].find("published demo key: not used"), std::string::npos) << r->notes[0];
  EXPECT_NE(r->notes[1].find("generated a new token key"), std::string::npos) << r->notes[1];
  // The next start uses the same key, silently except for the demo note.
  auto again = resolve_token_key(req);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->key.fingerprint(), r->key.fingerprint());
  EXPECT_EQ(again->notes.size(), 1u);
  // A key generated elsewhere is another key.
  KeyRequest elsewhere{demo_key(), dir_ + "/other/compliance.state", MacAlgo::kHmacSha256, false};
  auto third = resolve_token_key(elsewhere);
  ASSERT_TRUE(third) << third.error();
  EXPECT_NE(third->key.fingerprint(), r->key.fingerprint());
}

TEST_F(KeyResolution, DemoKeyUsedOnlyWithTheOption) {
  KeyRequest req{demo_key(), dir_ + "/state/compliance.state", MacAlgo::kHmacSha256, true};
  auto r = resolve_token_key(req);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->key.is_demo());
  EXPECT_EQ(r->path, req.key_file);
  EXPECT_FALSE(std::ifstream(dir_ + "/state/token.key").good()) << "nothing generated";
  bool noted = false;
  for (const auto& n : r->notes) noted = noted || n.find("--demo-token-key") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_F(KeyResolution, DemoKeyWithoutStateFileIsAnError) {
  auto r = resolve_token_key(KeyRequest{demo_key(), "", MacAlgo::kHmacSha256, false});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("--demo-token-key"), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find("dddd"), std::string::npos) << "key material in an error";
}

TEST_F(KeyResolution, OwnKeyIsUsedAndAMissingKeyFileIsGenerated) {
  const std::string own = write("own.key", std::string(64, 'e') + "\n", 0600);
  auto r = resolve_token_key(KeyRequest{own, dir_ + "/compliance.state", MacAlgo::kHmacSha256, false});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->path, own);
  EXPECT_TRUE(r->notes.empty());
  const std::string fresh = dir_ + "/keys/appliance.key";
  auto g = resolve_token_key(KeyRequest{fresh, dir_ + "/compliance.state", MacAlgo::kHmacSha256, false});
  ASSERT_TRUE(g) << g.error();
  EXPECT_EQ(g->path, fresh);
  EXPECT_EQ(mode_of(fresh), 0600u);
  ASSERT_EQ(g->notes.size(), 1u);
  EXPECT_NE(g->notes[0].find("generated"), std::string::npos);
}

TEST_F(KeyResolution, DemoKeyWhereTheOwnKeyBelongsIsRefused) {
  ::mkdir((dir_ + "/state").c_str(), 0700);
  write("state/token.key", std::string(kDemoKeyMarker) + "\n" + std::string(64, 'f') + "\n", 0600);
  auto r = resolve_token_key(
      KeyRequest{demo_key(), dir_ + "/state/compliance.state", MacAlgo::kHmacSha256, false});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("refused as the appliance's own key"), std::string::npos) << r.error();
}

TEST_F(KeyResolution, UnwritableDirectoryIsAnError) {
  // /proc refuses new directories even to root (CI runs as root).
  auto r =
      resolve_token_key(KeyRequest{"/proc/self/ftz-no-such-dir/token.key", "", MacAlgo::kHmacSha256, false});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("cannot create"), std::string::npos) << r.error();
}

TEST(TokenKey, NoAllocationPerToken) {
  ASSERT_TRUE(g_hooks) << "CRYPTO_set_mem_functions must run before OpenSSL allocates";
  for (MacAlgo algo : {MacAlgo::kHmacSha256, MacAlgo::kHmacSm3}) {
    auto k = TokenKey::from_bytes(test_key(3), algo);
    ASSERT_TRUE(k);
    char id[19] = "110105194912310000";
    uint64_t acc = 0;
    const long o0 = g_ossl_allocs.load(), n0 = g_new_allocs.load();
    for (int i = 0; i < 1000; ++i) {
      id[17] = static_cast<char>('0' + i % 10);
      acc += k->token(std::string_view(id, 18), 1);
    }
    EXPECT_EQ(g_ossl_allocs.load() - o0, 0) << mac_algo_name(algo);
    EXPECT_EQ(g_new_allocs.load() - n0, 0) << mac_algo_name(algo);
    EXPECT_NE(acc, 0u);
  }
}

// The cost measurement reported in docs/compliance.md: 18-byte identifiers,
// one thread, steady_clock over 1M tokens (best of 3).
}  // namespace
}  // namespace ftz::engine::compliance
