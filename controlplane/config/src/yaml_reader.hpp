#pragma once
// Internal: YAML document -> ftzgate.v1.Config.
//
// The reader owns everything about the shape of the document: unknown keys
// (with a "did you mean" hint), duplicate keys (yaml-cpp keeps both pairs and
// silently answers lookups with the first), wrong node types, missing
// required fields, enum spellings and scalar syntax (integers and their
// ranges, booleans, ports). It records the location of every value it maps
// in the SourceMap so that the validator, which sees only the proto, can
// still point at the line. References between objects, prefixes and dates
// are the validator's.

#include <yaml-cpp/yaml.h>

#include "ftz/config/diagnostic_sink.hpp"
#include "ftzgate/v1/config.pb.h"

namespace ftz::config {

// Never throws on document content. Returns false when the model is not
// worth validating: the root is no mapping, or the walk stopped at
// kMaxWalkNodes and the model is partial.
bool read_config(const YAML::Node& root, ftzgate::v1::Config& out, SourceMap& map, DiagnosticSink& sink);

// A signature pack file ("version", "signatures"). Field paths start with
// `path`, the reference in the configuration ("signature_packs[0]"), so they
// never collide with the configuration's own; `map` is the pack file's.
bool read_signature_pack(const YAML::Node& root, const std::string& path, ftzgate::v1::SignaturePack& out,
                         SourceMap& map, DiagnosticSink& sink);

}  // namespace ftz::config
