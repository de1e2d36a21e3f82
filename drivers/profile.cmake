# ftz_drivers_profile: hardware profiles (ports, roles, DPDK sizing) from YAML.
# DPDK-free, so it is built, tested and fuzzed in every build, FTZ_CORE_ONLY too.
add_library(ftz_drivers_profile STATIC ${CMAKE_CURRENT_LIST_DIR}/src/profile.cpp)
target_include_directories(ftz_drivers_profile PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
# The header returns config::Diagnostics (ftz_yaml, the YAML front end shared
# with the configuration loader) and uses engine::PortRole (ftz_policy_spec):
# no protobuf, no config model.
target_link_libraries(ftz_drivers_profile
  PUBLIC ftz_yaml ftz_policy_spec
  PRIVATE ftz_base ftz_warnings)
