#pragma once
// A small reader of examples/signatures/builtin.yaml for the tests and the
// fuzz target (the production loader lives in controlplane/config). Throws on
// malformed input: test code only.

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine::sig::test {

inline DataClass data_class_from(const std::string& s) {
  if (s == "pi") return DataClass::kPi;
  if (s == "sensitive_pi") return DataClass::kSensitivePi;
  if (s == "important") return DataClass::kImportant;
  if (s == "core") return DataClass::kCore;
  if (s == "org_id") return DataClass::kOrgId;
  throw std::runtime_error("unknown class " + s);
}

inline std::vector<SignatureSpec> read_catalog(const std::string& path) {
  const YAML::Node root = YAML::LoadFile(path);
  std::vector<SignatureSpec> out;
  for (const YAML::Node& n : root["signatures"]) {
    SignatureSpec s;
    s.name = n["name"].as<std::string>();
    s.sid = n["sid"].as<uint32_t>();
    s.data_class = data_class_from(n["class"].as<std::string>());
    if (n["tags"]) s.tags = n["tags"].as<std::vector<std::string>>();
    s.validator = n["validator"].as<std::string>();
    for (const YAML::Node& p : n["patterns"]) {
      SignaturePattern sp;
      sp.regex = p["regex"].as<std::string>();
      if (p["utf8"]) sp.utf8 = p["utf8"].as<bool>();
      if (p["som"]) sp.som = p["som"].as<bool>();
      if (p["caseless"]) sp.caseless = p["caseless"].as<bool>();
      s.patterns.push_back(std::move(sp));
    }
    if (n["context"]) s.context = n["context"].as<std::vector<std::string>>();
    if (n["context_required"]) s.context_required = n["context_required"].as<bool>();
    if (n["rationale"]) s.rationale = n["rationale"].as<std::string>();
    out.push_back(std::move(s));
  }
  return out;
}

inline std::string source_dir() {
  if (const char* e = std::getenv("FTZ_SOURCE_DIR"); e != nullptr && *e != '\0') return e;
#ifdef FTZ_DEFAULT_SOURCE_DIR
  return FTZ_DEFAULT_SOURCE_DIR;
#else
  return ".";
#endif
}

inline std::string builtin_catalog_path() {
  return source_dir() + "/examples/signatures/builtin.yaml";
}

}  // namespace ftz::engine::sig::test
