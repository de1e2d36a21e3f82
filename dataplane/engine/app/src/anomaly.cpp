#include "ftz/engine/app/anomaly.hpp"

#include <array>

namespace ftz::engine::app {
namespace {
constexpr std::array<std::string_view, kAppAnomalyCount> kNames = {
#define FTZ_X(name, str, why) std::string_view{str},
    FTZ_APP_ANOMALIES(FTZ_X)
#undef FTZ_X
};
}  // namespace

std::string_view app_anomaly_name(AppAnomaly a) noexcept {
  const auto i = static_cast<size_t>(a);
  return i < kNames.size() ? kNames[i] : std::string_view{"unknown"};
}

}  // namespace ftz::engine::app
