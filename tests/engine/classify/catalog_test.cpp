// The built-in signature catalog (examples/signatures/builtin.yaml): schema,
// unique names and sids, default classes (DOMAIN.md §2.2), every pattern
// compiles with Hyperscan in STREAM mode, non-SOM patterns are fixed-width,
// and sample texts are found end to end: normalise -> scan -> offset map ->
// boundary on the exact input bytes -> validator. The loader here is a test
// helper; the production loader lives with the scanner.
#include <gtest/gtest.h>
#include <hs.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "classify_test_support.hpp"
#include "ftz/engine/classify/normalize.hpp"
#include "ftz/engine/classify/validators.hpp"

#ifndef FTZ_BUILTIN_CATALOG
#error "FTZ_BUILTIN_CATALOG must name examples/signatures/builtin.yaml"
#endif

namespace ftz::engine::classify {
namespace {

struct PatternSpec {
  std::string regex;
  bool utf8 = false;
  bool som = false;
  bool extend_left = false;
};

struct SignatureSpec {
  std::string name;
  int64_t sid = 0;
  std::string cls;
  std::vector<std::string> tags;
  std::string validator_name;
  std::optional<ValidatorId> validator;
  std::vector<PatternSpec> patterns;
  std::vector<std::string> context;
  bool context_required = false;
  bool boundary_alnum = true;
  bool raw_input = false;
  std::string rationale;
};

struct Catalog {
  std::string version;
  std::vector<SignatureSpec> signatures;
};

std::vector<std::string> string_list(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n) {
    for (const auto& item : n) out.push_back(item.as<std::string>());
  }
  return out;
}

Catalog load_catalog() {
  const YAML::Node root = YAML::LoadFile(FTZ_BUILTIN_CATALOG);
  Catalog c;
  c.version = root["version"].as<std::string>();
  for (const auto& s : root["signatures"]) {
    SignatureSpec sig;
    sig.name = s["name"].as<std::string>();
    sig.sid = s["sid"].as<int64_t>();
    sig.cls = s["class"].as<std::string>();
    sig.tags = string_list(s["tags"]);
    sig.validator_name = s["validator"].as<std::string>();
    sig.validator = validator_from_name(sig.validator_name);
    for (const auto& p : s["patterns"]) {
      PatternSpec ps;
      ps.regex = p["regex"].as<std::string>();
      ps.utf8 = p["utf8"] ? p["utf8"].as<bool>() : false;
      ps.som = p["som"] ? p["som"].as<bool>() : false;
      ps.extend_left = p["extend_left"] ? p["extend_left"].as<bool>() : false;
      sig.patterns.push_back(ps);
    }
    sig.context = string_list(s["context"]);
    sig.context_required = s["context_required"] ? s["context_required"].as<bool>() : false;
    sig.boundary_alnum = !s["boundary"] || s["boundary"].as<std::string>() == "alnum";
    sig.raw_input = s["input"] && s["input"].as<std::string>() == "raw";
    sig.rationale = s["rationale"] ? s["rationale"].as<std::string>() : "";
    c.signatures.push_back(std::move(sig));
  }
  return c;
}

const Catalog& catalog() {
  static const Catalog c = load_catalog();
  return c;
}

const SignatureSpec* find(std::string_view name) {
  for (const auto& s : catalog().signatures)
    if (s.name == name) return &s;
  return nullptr;
}

unsigned flags_of(const PatternSpec& p) {
  unsigned f = 0;
  if (p.utf8) f |= HS_FLAG_UTF8;
  if (p.som) f |= HS_FLAG_SOM_LEFTMOST;
  return f;
}

// RAII for Hyperscan handles.
struct HsDbDeleter {
  void operator()(hs_database_t* d) const { hs_free_database(d); }
};
struct HsScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
using HsDatabase = std::unique_ptr<hs_database_t, HsDbDeleter>;
using HsScratch = std::unique_ptr<hs_scratch_t, HsScratchDeleter>;

std::string compile_error(hs_compile_error_t* err) {
  std::string msg = err != nullptr && err->message != nullptr ? err->message : "unknown";
  if (err != nullptr) hs_free_compile_error(err);
  return msg;
}

TEST(Catalog, VersionAndSchema) {
  EXPECT_EQ(catalog().version, "2026.11.1");
  ASSERT_FALSE(catalog().signatures.empty());
  const std::set<std::string> classes = {"pi", "sensitive_pi", "important", "core", "org_id"};
  for (const auto& s : catalog().signatures) {
    SCOPED_TRACE(s.name);
    EXPECT_TRUE(classes.count(s.cls)) << s.cls;
    EXPECT_TRUE(s.validator.has_value()) << "unknown validator " << s.validator_name;
    EXPECT_FALSE(s.patterns.empty());
    EXPECT_FALSE(s.rationale.empty());
    if (s.context_required) {
      EXPECT_FALSE(s.context.empty());
    }
    for (const auto& p : s.patterns) {
      EXPECT_FALSE(p.regex.empty());
      // Only the e-mail validator knows how to read a match back to its start.
      if (p.extend_left) {
        EXPECT_EQ(s.validator, ValidatorId::kEmail);
      }
    }
  }
}

TEST(Catalog, NamesAndSidsAreUnique) {
  std::set<std::string> names;
  std::set<int64_t> sids;
  for (const auto& s : catalog().signatures) {
    EXPECT_TRUE(names.insert(s.name).second) << "duplicate name " << s.name;
    EXPECT_TRUE(sids.insert(s.sid).second) << "duplicate sid " << s.sid;
    // Built-ins own 9100001..9199999; operators start at 9200000.
    EXPECT_GE(s.sid, 9100001) << s.name;
    EXPECT_LE(s.sid, 9199999) << s.name;
  }
}

TEST(Catalog, RequiredSignaturesWithDefaultClasses) {
  // DOMAIN.md §2.2 default labels.
  const std::map<std::string, std::string> required = {
      {"cn_resident_id", "sensitive_pi"},
      {"cn_mobile", "pi"},
      {"bank_card", "sensitive_pi"},
      {"cn_uscc", "org_id"},
      {"cn_passport", "sensitive_pi"},
      {"hk_macao_permit", "sensitive_pi"},
      {"home_return_permit", "sensitive_pi"},
      {"imei", "pi"},
      {"email", "pi"},
      {"vehicle_plate", "pi"},
      {"geo_coordinates", "sensitive_pi"},
      {"geo_trajectory", "sensitive_pi"},
      {"genomic_data", "sensitive_pi"},
      {"medical_record", "sensitive_pi"},
  };
  for (const auto& [name, cls] : required) {
    const SignatureSpec* s = find(name);
    ASSERT_NE(s, nullptr) << "missing " << name;
    EXPECT_EQ(s->cls, cls) << name;
  }
  for (const auto& s : catalog().signatures) {
    if (s.name.rfind("genomic_", 0) == 0) {
      EXPECT_NE(std::find(s.tags.begin(), s.tags.end(), "hgr"), s.tags.end()) << s.name << " lacks hgr";
    }
  }
  const SignatureSpec* id = find("cn_resident_id");
  ASSERT_NE(id, nullptr);
  EXPECT_NE(std::find(id->tags.begin(), id->tags.end(), "minor"), id->tags.end());
}

TEST(Catalog, EveryPatternCompilesInStreamMode) {
  for (const auto& s : catalog().signatures) {
    for (size_t i = 0; i < s.patterns.size(); ++i) {
      const PatternSpec& p = s.patterns[i];
      hs_database_t* db = nullptr;
      hs_compile_error_t* err = nullptr;
      const unsigned mode = HS_MODE_STREAM | (p.som ? HS_MODE_SOM_HORIZON_LARGE : 0u);
      const hs_error_t rc = hs_compile(p.regex.c_str(), flags_of(p), mode, nullptr, &db, &err);
      HsDatabase owned(db);
      EXPECT_EQ(rc, HS_SUCCESS) << s.name << " pattern " << i << ": "
                                << (rc == HS_SUCCESS ? "" : compile_error(err));
    }
  }
}

TEST(Catalog, NonSomPatternsAreFixedWidthAndAllAreBounded) {
  for (const auto& s : catalog().signatures) {
    for (size_t i = 0; i < s.patterns.size(); ++i) {
      const PatternSpec& p = s.patterns[i];
      hs_expr_info_t* info = nullptr;
      hs_compile_error_t* err = nullptr;
      const hs_error_t rc = hs_expression_info(p.regex.c_str(), flags_of(p), &info, &err);
      ASSERT_EQ(rc, HS_SUCCESS) << s.name << " pattern " << i << ": " << compile_error(err);
      if (!p.som) {
        EXPECT_EQ(info->min_width, info->max_width) << s.name << " pattern " << i << " is variable: mark som";
      }
      // Bounded so a scanner's tail window (max_width + 1) is finite.
      EXPECT_LE(info->max_width, 512u) << s.name << " pattern " << i;
      EXPECT_EQ(info->unordered_matches, 0) << s.name << " pattern " << i;
      std::free(info);
    }
  }
}

// The whole catalog as one streaming database, plus the pattern-id map.
struct CompiledCatalog {
  HsDatabase db;
  HsScratch scratch;
  std::vector<std::pair<size_t, size_t>> owner;  // id -> (signature, pattern)
  std::vector<unsigned> width;                   // fixed width of non-SOM patterns
};

CompiledCatalog compile_catalog() {
  CompiledCatalog cc;
  std::vector<const char*> exprs;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  const auto& sigs = catalog().signatures;
  for (size_t s = 0; s < sigs.size(); ++s) {
    for (size_t p = 0; p < sigs[s].patterns.size(); ++p) {
      const PatternSpec& ps = sigs[s].patterns[p];
      exprs.push_back(ps.regex.c_str());
      flags.push_back(flags_of(ps));
      ids.push_back(static_cast<unsigned>(cc.owner.size()));
      cc.owner.emplace_back(s, p);
      hs_expr_info_t* info = nullptr;
      hs_compile_error_t* err = nullptr;
      unsigned w = 0;
      if (hs_expression_info(ps.regex.c_str(), flags.back(), &info, &err) == HS_SUCCESS) {
        w = info->min_width;
        std::free(info);
      } else {
        hs_free_compile_error(err);
      }
      cc.width.push_back(w);
    }
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                       HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE, nullptr, &db, &err);
  if (rc != HS_SUCCESS) {
    ADD_FAILURE() << "hs_compile_multi: " << compile_error(err);
    return cc;
  }
  cc.db.reset(db);
  hs_scratch_t* scratch = nullptr;
  if (hs_alloc_scratch(db, &scratch) == HS_SUCCESS) cc.scratch.reset(scratch);
  return cc;
}

const CompiledCatalog& compiled() {
  static const CompiledCatalog cc = compile_catalog();
  return cc;
}

TEST(Catalog, WholeCatalogCompilesAsOneStreamDatabase) {
  ASSERT_NE(compiled().db, nullptr);
  ASSERT_NE(compiled().scratch, nullptr);
  size_t stream_size = 0;
  ASSERT_EQ(hs_stream_size(compiled().db.get(), &stream_size), HS_SUCCESS);
  // Per-flow state: keep it small (PLATFORM.md §6 reports ~100 B for 12 patterns).
  EXPECT_LT(stream_size, 4096u);
}

struct RawMatch {
  unsigned id;
  unsigned long long from;
  unsigned long long to;
};

int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned /*flags*/, void* ctx) {
  static_cast<std::vector<RawMatch>*>(ctx)->push_back({id, from, to});
  return 0;
}

std::vector<RawMatch> scan(std::string_view text) {
  std::vector<RawMatch> out;
  const CompiledCatalog& cc = compiled();
  hs_stream_t* stream = nullptr;
  if (hs_open_stream(cc.db.get(), 0, &stream) != HS_SUCCESS) return out;
  hs_scan_stream(stream, text.data(), static_cast<unsigned>(text.size()), 0, cc.scratch.get(), on_match,
                 &out);
  hs_close_stream(stream, cc.scratch.get(), on_match, &out);
  return out;
}

// Signatures with at least one validated, boundary-clear match in `input`
// (the pipeline of DOMAIN.md §3: normalise, match, check boundaries on the
// exact input bytes, validate).
std::set<std::string> detect(std::string_view input) {
  std::set<std::string> found;
  const CompiledCatalog& cc = compiled();
  if (!cc.db) return found;
  const auto& sigs = catalog().signatures;

  std::array<char, 4096> norm{};
  std::array<uint32_t, 4096> offsets{};
  const NormalizeResult nr = normalize_digits(input, norm, offsets);
  const std::string_view normalized(norm.data(), nr.out_len);

  for (bool raw : {false, true}) {
    const std::string_view text = raw ? input : normalized;
    for (const RawMatch& m : scan(text)) {
      const auto [s, p] = cc.owner[m.id];
      const SignatureSpec& sig = sigs[s];
      if (sig.raw_input != raw) continue;
      size_t from = sig.patterns[p].som ? m.from : m.to - cc.width[m.id];
      if (sig.patterns[p].extend_left) from = extend_left(*sig.validator, text, from);
      ByteRange r{from, static_cast<size_t>(m.to)};
      if (!raw) r = input_range(input, offsets, from, m.to);
      if (sig.boundary_alnum && !has_alnum_boundaries(input, r)) continue;
      const Verdict v = validate(*sig.validator, input.substr(r.begin, r.end - r.begin), test::kCtx);
      if (v.valid) found.insert(sig.name);
    }
  }
  return found;
}

TEST(Catalog, SamplesAreDetectedEndToEnd) {
  const std::string card = test::with_luhn("622202123456789");
  const std::string spaced_card =
      card.substr(0, 4) + " " + card.substr(4, 4) + " " + card.substr(8, 4) + " " + card.substr(12);
  std::string dicom(128, '\0');
  dicom += std::string("DICM\x02\x00\x00\x00UL\x04\x00", 12);

  struct Sample {
    const char* label;
    std::string text;
    const char* expect;
  };
  const std::vector<Sample> samples = {
      {"id", "身份证号：11010519491231002X。", "cn_resident_id"},
      {"id full-width",
       "证件号 \xEF\xBC\x91\xEF\xBC\x91"
       "010519491231002X,",
       "cn_resident_id"},
      {"id legacy", "sfzh=110105491231002;", "cn_resident_id_legacy"},
      {"mobile", "手机: 13812345678,", "cn_mobile"},
      {"mobile +86", "tel:+86 138 1234 5678\n", "cn_mobile"},
      {"card", "卡号 " + spaced_card + " ", "bank_card"},
      {"uscc", "统一社会信用代码：91350100M000100Y43", "cn_uscc"},
      {"passport", "护照号 E12345678", "cn_passport"},
      {"hk permit", "通行证 CA1234567", "hk_macao_permit"},
      {"home return", "回乡证 H1234567801", "home_return_permit"},
      {"taiwan", "台胞证 12345678", "taiwan_permit"},
      {"imei", "IMEI: 260531793113837", "imei"},
      {"email", "mail to zhang.san@example.com.", "email"},
      {"coordinates", "{\"loc\":\"31.2304,121.4737\"}", "geo_coordinates"},
      {"geojson", "\"coordinates\":[121.4737,31.2304]", "geo_coordinates"},
      {"nmea", "$GPRMC,123519,A,3114.1234,N,12128.4567,E,0.5,54.7,151126,,*1A", "geo_trajectory"},
      {"gpx", "<trkseg><trkpt lat=\"31.2304\" lon=\"121.4737\">", "geo_trajectory"},
      {"plate", "车牌：沪A·12345，", "vehicle_plate"},
      {"plate nev", "京AD12345 ", "vehicle_plate"},
      {"vcf", "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\n", "genomic_data"},
      {"fastq",
       "@SRR001666.1 071112\nGATTTGGGGTTCAAAGCAGTATCGATCAAATAGT\n+\nIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII\n",
       "genomic_fastq"},
      {"fasta", ">chr1 test\n" + std::string(60, 'A') + "\n", "genomic_fasta"},
      {"fasta body",
       ">NC_000001.11 Homo sapiens chromosome 1, GRCh38.p14 Primary Assembly, a header too long for the SOM "
       "pattern\n" +
           std::string(60, 'N') + "\n" + std::string(60, 'C') + "\n",
       "genomic_fasta"},
      {"fastq separator", "\nGATTTGGGGTTCAAAGCAGTATCGATC\n+SRR001666.1\n!''*((((***+))%%%++)(%%%%).1***\n",
       "genomic_fastq"},
      {"email after dots", "see....me@mail.example.cn, thanks", "email"},
      {"qq email", "QQ邮箱12345678@qq.com。", "email"},
      {"hl7", "MSH|^~\\&|HIS|HOSP|LIS|LAB|20261115||ADT^A01|1|P|2.5\r", "medical_record"},
      {"dicom", dicom, "medical_dicom"},
      {"fhir", "{\"resourceType\": \"Patient\", \"id\": \"p1\"}", "medical_fhir_patient"},
  };
  for (const Sample& s : samples) {
    const std::set<std::string> found = detect(s.text);
    EXPECT_TRUE(found.count(s.expect)) << s.label << ": " << s.expect << " not detected";
  }
}

TEST(Catalog, LookAlikesAreNotDetected) {
  struct Sample {
    const char* label;
    std::string text;
    const char* absent;
  };
  const std::vector<Sample> samples = {
      {"ms timestamp", "ts=1712345678901&x=1", "cn_mobile"},
      {"order number", "order=202611150001234567", "cn_resident_id"},
      {"id in a longer run", "x911010519491231002X1", "cn_resident_id"},
      {"wrong check", "身份证 110105194912310021", "cn_resident_id"},
      {"mobile in a run", "no.138123456789012", "cn_mobile"},
      {"version pair", "v=3.14159,2.71828", "geo_coordinates"},
      {"foreign coordinates", "40.712800,-74.006000", "geo_coordinates"},
      {"two numbers", "1234567 12345678901234", "cn_mobile"},
  };
  for (const Sample& s : samples) {
    const std::set<std::string> found = detect(s.text);
    EXPECT_FALSE(found.count(s.absent)) << s.label << ": " << s.absent << " detected";
  }
}

}  // namespace
}  // namespace ftz::engine::classify
