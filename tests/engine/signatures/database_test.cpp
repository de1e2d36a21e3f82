// SignatureDatabase: compile, serialize, deserialize, and the errors an
// operator or a corrupted bundle produce.

#include "ftz/engine/signatures/database.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "catalog_reader.hpp"

namespace ftz::engine::sig {
namespace {

SignatureSpec one(std::string name, std::string regex, bool som = false, std::string validator = "none") {
  SignatureSpec s;
  s.name = std::move(name);
  s.validator = std::move(validator);
  SignaturePattern p;
  p.regex = std::move(regex);
  p.som = som;
  s.patterns.push_back(p);
  return s;
}

// The serialized layout ends with a CRC-32 over everything before it; tests
// that reach the Hyperscan section recompute it (the Hyperscan section begins
// after the header, the pattern table and its length).
size_t hs_section(size_t patterns) {
  return 24 + patterns * 16 + 4;
}
void fix_crc(std::vector<uint8_t>& b);

}  // namespace
}  // namespace ftz::engine::sig

#include <zlib.h>

namespace ftz::engine::sig {
namespace {

void fix_crc(std::vector<uint8_t>& b) {
  const size_t body = b.size() - 4;
  const uint32_t c = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), b.data(), static_cast<uInt>(body)));
  for (int i = 0; i < 4; ++i) b[body + static_cast<size_t>(i)] = static_cast<uint8_t>(c >> (8 * i));
}

TEST(SignatureDatabase, BuiltinCatalogCompilesIntoOneStreamingDatabase) {
  const auto specs = test::read_catalog(test::builtin_catalog_path());
  ASSERT_EQ(specs.size(), 20u);
  auto db = SignatureDatabase::compile(specs);
  ASSERT_TRUE(db) << db.error();
  size_t patterns = 0;
  for (const SignatureSpec& s : specs) patterns += s.patterns.size();
  EXPECT_EQ((*db)->patterns().size(), patterns);
  EXPECT_NE((*db)->info().find("STREAM"), std::string::npos);
  EXPECT_GT((*db)->stream_size(), 0u);
  EXPECT_LE((*db)->max_match_width(), kMaxPatternWidth);
  // Fixed-width patterns have min == max; SOM ones report their start.
  for (const PatternMeta& p : (*db)->patterns()) {
    if (!p.som) {
      EXPECT_EQ(p.min_width, p.max_width) << specs[p.signature].name;
    }
  }
  std::printf(
      "builtin catalog: %zu patterns, database %zu bytes, stream state %zu bytes per flow direction (%s)\n",
      (*db)->patterns().size(), (*db)->database_size(), (*db)->stream_size(), (*db)->info().c_str());
}

// Run rules: patterns that can only match [0-9A-Za-z] bytes, fixed width,
// of signatures with alnum boundaries (database.hpp); the rest stays in the
// streaming database.
TEST(SignatureDatabase, RunRulesAreTheFixedAlnumOnlyPatterns) {
  const auto pat = [](std::string regex, bool som = false, bool utf8 = false) {
    SignaturePattern p;
    p.regex = std::move(regex);
    p.som = som;
    p.utf8 = utf8;
    return p;
  };
  EXPECT_TRUE(is_run_pattern(pat(R"(\d{8})"), 8));
  EXPECT_TRUE(is_run_pattern(pat(R"(62\d{14})"), 16));
  EXPECT_TRUE(is_run_pattern(pat(R"(1(?:(?:3\d|4[5-9]|5[0-35-9])\d{8}|619\d{7}))"), 11));
  EXPECT_TRUE(is_run_pattern(pat(R"([0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10})"), 18));
  EXPECT_TRUE(is_run_pattern(pat(R"(E[0-9A-HJ-NP-Z]\d{7})"), 9));
  EXPECT_FALSE(is_run_pattern(pat(R"(\d{10}\([A-Z]\))"), 13));       // parentheses are not alnum
  EXPECT_FALSE(is_run_pattern(pat(R"(62\d{2}(?:[ \-]\d{4}))"), 9));  // a separator
  EXPECT_FALSE(is_run_pattern(pat(R"([^a]{8})"), 8));                // negated class
  EXPECT_FALSE(is_run_pattern(pat(R"([0-z]{8})"), 8));               // range across kinds
  EXPECT_FALSE(is_run_pattern(pat(R"(\w{8})"), 8));                  // '_' is a word byte
  EXPECT_FALSE(is_run_pattern(pat(R"(a.b)"), 3));
  EXPECT_FALSE(is_run_pattern(pat(R"(\d{8})", true), 8));  // SOM
  EXPECT_FALSE(is_run_pattern(pat(R"(\d{64})"), 64));      // wider than kMaxRunWidth

  const auto specs = test::read_catalog(test::builtin_catalog_path());
  auto db = SignatureDatabase::compile(specs);
  ASSERT_TRUE(db) << db.error();
  ASSERT_NE((*db)->runs_hs(), nullptr);
  size_t runs = 0;
  for (const PatternMeta& p : (*db)->patterns()) {
    const std::string& name = specs[p.signature].name;
    if (p.run_rule) {
      ++runs;
      EXPECT_FALSE(p.som) << name;
      EXPECT_NE((*db)->run_widths() >> p.min_width & 1u, 0u) << name;
    }
    // Markers have no alnum boundary: never run rules, whatever their text.
    if (name == "genomic_data" || name == "medical_record" || name == "email") {
      EXPECT_FALSE(p.run_rule) << name;
    }
  }
  // taiwan_permit \d{8} \d{10}, imei \d{15} \d{16}, the fixed card widths...
  EXPECT_GE(runs, 20u);
  // The block baseline keeps every pattern (the catalog as written).
  EXPECT_TRUE(compile_block_database(specs));
}

// The run automaton (run_automaton.hpp) answers what the runs database
// answers: for runs of every run-rule width, random and built around the
// catalog's prefixes (digits, letters, mixed case, check characters), the
// rules it names are exactly the rules Hyperscan reports for the run on its
// own line. Also for a caseless rule and every repeat form of the syntax.
TEST(SignatureDatabase, RunAutomatonAgreesWithTheRunsDatabase) {
  // `random_matches`: how many of the random runs must match some rule.
  auto check = [](const std::vector<SignatureSpec>& specs, size_t runs_per_width, size_t random_matches,
                  std::initializer_list<std::string_view> examples) {
    auto db = SignatureDatabase::compile(specs);
    ASSERT_TRUE(db) << db.error();
    const RunAutomaton* automaton = (*db)->run_automaton();
    ASSERT_NE(automaton, nullptr);
    ASSERT_NE((*db)->runs_hs(), nullptr);
    auto scratch = (*db)->clone_scratch();
    ASSERT_TRUE(scratch) << scratch.error();
    uint64_t state = 0x2545f4914f6cdd1dull;
    const auto next = [&state](uint64_t n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return (state >> 33) % n;
    };
    static constexpr std::string_view kAlnum =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::vector<std::string> prefixes{""};
    for (const PatternMeta& p : (*db)->patterns()) {
      if (!p.run_rule) continue;
      // Literal starts of the rules ("62", "9", "1", "E", "MA"...).
      const std::string& re = specs[p.signature].patterns[p.pattern].regex;
      std::string lit;
      for (char c : re) {
        if (kAlnum.find(c) == std::string_view::npos) break;
        lit.push_back(c);
      }
      prefixes.push_back(lit);
    }
    size_t matched = 0;
    const auto agree = [&](const std::string& run) {
      std::vector<uint32_t> want;
      const std::string line = run + "\n";
      ASSERT_EQ(hs_scan((*db)->runs_hs(), line.data(), static_cast<unsigned>(line.size()), 0, scratch->get(),
                        [](unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) {
                          static_cast<std::vector<uint32_t>*>(ctx)->push_back(id);
                          return 0;
                        },
                        &want),
                HS_SUCCESS);
      std::sort(want.begin(), want.end());
      const auto got = automaton->match(reinterpret_cast<const uint8_t*>(run.data()), run.size());
      ASSERT_EQ(std::vector<uint32_t>(got.begin(), got.end()), want) << run;
      matched += want.empty() ? 0 : 1;
    };
    for (std::string_view example : examples) {
      const size_t before = matched;
      agree(std::string(example));
      EXPECT_EQ(matched, before + 1) << example << " matches a rule";
    }
    for (uint32_t width = 1; width <= kMaxRunWidth; ++width) {
      if (((*db)->run_widths() >> width & 1u) == 0) continue;
      for (size_t k = 0; k < runs_per_width; ++k) {
        std::string run = prefixes[next(prefixes.size())];
        const int kind = static_cast<int>(next(4));  // digits, digits + X, alnum, upper + digits
        while (run.size() < width) {
          const bool last = run.size() + 1 == width;
          if (kind == 0 || (kind == 1 && !last)) {
            run.push_back(static_cast<char>('0' + next(10)));
          } else if (kind == 1) {
            run.push_back("0123456789Xx"[next(12)]);
          } else if (kind == 2) {
            run.push_back(kAlnum[next(kAlnum.size())]);
          } else {
            run.push_back(kAlnum[next(36)]);
          }
        }
        run.resize(width);
        agree(run);
      }
    }
    EXPECT_GE(matched, examples.size() + random_matches);
    std::printf("run automaton: %zu states, %zu of the runs matched\n", automaton->states(), matched);
  };
  check(test::read_catalog(test::builtin_catalog_path()), 4000, 4000,
        {"11010519491231002X", "13912345678", "6222021234567890", "G12345678", "91350100M000100Y43"});
  // Counted repeats of classes and groups, nested alternatives, a caseless rule.
  SignatureSpec s;
  s.name = "synthetic";
  s.validator = "none";
  s.sid = 1;
  for (const char* re :
       {"a[b-d]c{2}\\d", "(?:x[0-9a-f]{2}|Y\\d{2})(?:Q|q){2}z", "[A-C]{2}(?:7[a-c]|8[0-2]){3}"}) {
    SignaturePattern p;
    p.regex = re;
    s.patterns.push_back(p);
  }
  s.patterns.back().caseless = true;
  SignaturePattern stream;  // a catalog of run rules only keeps them in the stream (database.cpp)
  stream.regex = "key-[0-9]{4}";
  s.patterns.push_back(stream);
  check({s}, 20000, 0, {"adcc7", "x0fQqz", "Y12qqz", "AB7a8080", "ab7C8082", "Ca7b7c7a"});
}

// Grouped patterns (database.hpp): SOM patterns every match of which holds
// a digit, a separator and a digit, proved on the regex text; the catalog's
// identifiers written in groups and its coordinate pairs are, the rest of its
// SOM patterns are not.
TEST(SignatureDatabase, GroupedPatternsAreProvedToHoldASeparatorBetweenDigits) {
  const auto pat = [](std::string regex, bool som = true) {
    SignaturePattern p;
    p.regex = std::move(regex);
    p.som = som;
    return p;
  };
  EXPECT_TRUE(is_grouped_pattern(pat(R"(1[3-9]\d[ \-]\d{4}[ \-]?\d{4})"), 13));
  EXPECT_TRUE(is_grouped_pattern(pat(R"(62\d{2}(?:\xC2\xB7\d{4}|\d{4}[ .])\d{4})"), 14));
  EXPECT_TRUE(is_grouped_pattern(pat(R"(\d(?:\.|-)\d)"), 3));
  EXPECT_FALSE(is_grouped_pattern(pat(R"(1[3-9]\d[ \-]?\d{4}[ \-]?\d{4})"), 13));  // "13812345678" too
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d{3}[ \-]\d{4})", false), 8));           // no SOM: stays fixed
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d[a ]\d)"), 3));                         // "1a2" has no separator
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d\xC2\d)"), 3));                         // half a middle dot
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d[ \n]?[ ]\d)"), 4));                    // may hold a line break
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d\s\d)"), 3));                           // \s: not read
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d.\d)"), 3));                            // any byte
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d[^a] \d)"), 4));                        // negated class
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d \d{1,})"), 40));                       // unbounded
  EXPECT_FALSE(is_grouped_pattern(pat(R"(\d{20} \d{30})"), 51));  // wider than kMaxGroupedWidth

  const auto specs = test::read_catalog(test::builtin_catalog_path());
  auto db = SignatureDatabase::compile(specs);
  ASSERT_TRUE(db) << db.error();
  ASSERT_NE((*db)->grouped_hs(), nullptr);
  size_t grouped = 0;
  for (const PatternMeta& p : (*db)->patterns()) {
    const std::string& name = specs[p.signature].name;
    const std::string& regex = specs[p.signature].patterns[p.pattern].regex;
    if (!p.grouped) continue;
    ++grouped;
    EXPECT_TRUE(p.som) << name;
    EXPECT_FALSE(p.run_rule) << name;
    EXPECT_LE(p.max_width, (*db)->grouped_width()) << name;
    EXPECT_GE(p.min_width, (*db)->grouped_min_width()) << name;
    EXPECT_TRUE(name == "cn_resident_id" || name == "cn_mobile" || name == "bank_card" ||
                name == "geo_coordinates")
        << name << " " << regex;
  }
  // resident ID 6-8-4, mobile 3-4-4 bare and after +86, five card
  // groupings, and the two coordinate pairs ("31.2304, 121.4737" holds
  // "1.2"); the JSON lat/lon pattern is wider than kMaxGroupedWidth.
  EXPECT_EQ(grouped, 10u);
  EXPECT_TRUE((*db)->in_grouped_alphabet('7'));
  EXPECT_TRUE((*db)->in_grouped_alphabet('.'));
  EXPECT_TRUE((*db)->in_grouped_alphabet(0xB7));
  EXPECT_FALSE((*db)->in_grouped_alphabet('"'));
  EXPECT_FALSE((*db)->in_grouped_alphabet('\n'));
  // Without run rules every pattern stays in the stream (the old scanner).
  auto all_stream = SignatureDatabase::compile(specs, nullptr, false);
  ASSERT_TRUE(all_stream) << all_stream.error();
  EXPECT_EQ((*all_stream)->grouped_hs(), nullptr);
}

TEST(SignatureDatabase, SerializeDeserializeRoundTrip) {
  const auto specs = test::read_catalog(test::builtin_catalog_path());
  auto db = SignatureDatabase::compile(specs);
  ASSERT_TRUE(db) << db.error();
  const std::vector<uint8_t> bytes = (*db)->serialize();
  ASSERT_FALSE(bytes.empty());
  auto back = SignatureDatabase::deserialize(bytes, specs);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ((*back)->stream_size(), (*db)->stream_size());
  EXPECT_EQ((*back)->info(), (*db)->info());
  ASSERT_EQ((*back)->patterns().size(), (*db)->patterns().size());
  for (size_t i = 0; i < (*db)->patterns().size(); ++i) {
    EXPECT_EQ((*back)->patterns()[i].signature, (*db)->patterns()[i].signature);
    EXPECT_EQ((*back)->patterns()[i].min_width, (*db)->patterns()[i].min_width);
    EXPECT_EQ((*back)->patterns()[i].max_width, (*db)->patterns()[i].max_width);
    EXPECT_EQ((*back)->patterns()[i].run_rule, (*db)->patterns()[i].run_rule);
    EXPECT_EQ((*back)->patterns()[i].grouped, (*db)->patterns()[i].grouped);
  }
  EXPECT_NE((*back)->runs_hs(), nullptr);
  EXPECT_EQ((*back)->run_widths(), (*db)->run_widths());
  EXPECT_NE((*back)->grouped_hs(), nullptr);
  EXPECT_EQ((*back)->grouped_width(), (*db)->grouped_width());
  EXPECT_EQ((*back)->grouped_min_width(), (*db)->grouped_min_width());
  // Serializing again gives the same bytes.
  EXPECT_EQ((*back)->serialize(), bytes);
  auto scratch = (*back)->clone_scratch();
  EXPECT_TRUE(scratch) << scratch.error();
}

TEST(SignatureDatabase, CorruptedBytesAreRejectedClearly) {
  const auto specs = test::read_catalog(test::builtin_catalog_path());
  auto db = SignatureDatabase::compile(specs);
  ASSERT_TRUE(db);
  const std::vector<uint8_t> good = (*db)->serialize();

  std::vector<uint8_t> flipped = good;
  flipped[flipped.size() / 2] ^= 0x40;
  auto r = SignatureDatabase::deserialize(flipped, specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("checksum mismatch"), std::string::npos) << r.error();

  std::vector<uint8_t> truncated(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() - 100));
  r = SignatureDatabase::deserialize(truncated, specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("checksum mismatch"), std::string::npos) << r.error();

  r = SignatureDatabase::deserialize(std::vector<uint8_t>(10, 0), specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not an ftzgate signature database"), std::string::npos) << r.error();

  // Consistent checksum, broken Hyperscan magic.
  std::vector<uint8_t> bad_hs = good;
  bad_hs[hs_section((*db)->patterns().size())] ^= 0xff;
  fix_crc(bad_hs);
  r = SignatureDatabase::deserialize(bad_hs, specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not a serialized Hyperscan database"), std::string::npos) << r.error();

  // Another catalog than the one it was compiled from.
  auto other = specs;
  other[0].patterns[0].regex += "0";
  r = SignatureDatabase::deserialize(good, other);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("different signature catalog"), std::string::npos) << r.error();
}

TEST(SignatureDatabase, PlatformMismatchIsReportedWithHyperscansCheck) {
  const std::vector<SignatureSpec> specs = {one("digits", "\\d{8}")};
  auto db = SignatureDatabase::compile(specs);
  ASSERT_TRUE(db);
  std::vector<uint8_t> bytes = (*db)->serialize();
  // hs_database header: magic(4) version(4) length(4) platform(8): claim CPU
  // features no x86 CPU has, as a database built for another platform would.
  const size_t platform = hs_section(1) + 12;
  for (size_t i = 0; i < 8; ++i) bytes[platform + i] = 0xff;
  fix_crc(bytes);
  auto r = SignatureDatabase::deserialize(bytes, specs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("HS_DB_PLATFORM_ERROR"), std::string::npos) << r.error();
}

TEST(SignatureDatabase, PatternErrorsNameSignatureAndPattern) {
  auto r = SignatureDatabase::compile(
      std::vector<SignatureSpec>{one("ok", "abc"), one("bad_lookbehind", "(?<![0-9])\\d{8}")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("signature \"bad_lookbehind\" pattern 0"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("Zero-width assertions are not supported"), std::string::npos) << r.error();

  r = SignatureDatabase::compile(std::vector<SignatureSpec>{one("cards", "62\\d{14,17}")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("set `som: true`"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("16..19"), std::string::npos) << r.error();
  EXPECT_TRUE(SignatureDatabase::compile(std::vector<SignatureSpec>{one("cards", "62\\d{14,17}", true)}));

  r = SignatureDatabase::compile(std::vector<SignatureSpec>{one("unbounded", "a\\d+", true)});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("unbounded"), std::string::npos) << r.error();

  r = SignatureDatabase::compile(std::vector<SignatureSpec>{one("v", "abc", false, "no_such_validator")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("unknown validator"), std::string::npos) << r.error();

  EXPECT_FALSE(SignatureDatabase::compile(std::vector<SignatureSpec>{}));
}

TEST(SignatureDatabase, BlockModeBaselineUsesTheSamePatterns) {
  const auto specs = test::read_catalog(test::builtin_catalog_path());
  auto block = compile_block_database(specs);
  ASSERT_TRUE(block) << block.error();
  char* info = nullptr;
  ASSERT_EQ(hs_database_info(block->get(), &info), HS_SUCCESS);
  EXPECT_NE(std::string(info).find("BLOCK"), std::string::npos);
  std::free(info);
}

}  // namespace
}  // namespace ftz::engine::sig
