#pragma once
// Internal: validated model -> ftz::engine::PolicySpec. Names become indices,
// prefix text becomes Prefix values (already parsed by the validator), dates
// become unix seconds. Call only after validate_config() returned true: the
// compiler re-checks nothing.

#include <vector>

#include "ftz/engine/policy_spec.hpp"
#include "ftzgate/v1/config.pb.h"
#include "validate.hpp"

namespace ftz::config {

engine::PolicySpec compile_config(const ftzgate::v1::Config& config, const std::vector<LoadedPack>& packs,
                                  const Resolved& resolved);

}  // namespace ftz::config
