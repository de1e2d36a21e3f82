# ftz_drivers_profile: hardware profiles (ports, roles, DPDK sizing) from YAML.
# DPDK-free, so it is built, tested and fuzzed in every build, FTZ_CORE_ONLY too.
add_library(ftz_drivers_profile STATIC ${CMAKE_CURRENT_LIST_DIR}/src/profile.cpp)
target_include_directories(ftz_drivers_profile PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
# ftz_config is PUBLIC: the header returns config::Diagnostics and uses
# engine::PortRole, whose header ftz_config already exports (ftz_engine comes
# along through it; the profile code uses none of it).
# Diagnostics, the source map and did-you-mean come from config's public
# helpers (ftz/config/diagnostic_sink.hpp, ftz/config/text.hpp).
target_link_libraries(ftz_drivers_profile
  PUBLIC ftz_config
  PRIVATE ftz_base PkgConfig::YAMLCPP ftz_warnings)
