# ftz_drivers_offload: rte_flow drop offload for policy-blocked flows
# (docs/offload.md). Runs on the control lcore of ftzgate-dp only.
# drivers/ is added before the top level includes ftz_dpdk.cmake, and an
# imported target is only visible in the directory that creates it and below.
if(NOT TARGET PkgConfig::DPDK)
  include(${PROJECT_SOURCE_DIR}/cmake/ftz_dpdk.cmake)
endif()

add_library(ftz_drivers_offload STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/src/flow_offload.cpp
)
target_include_directories(ftz_drivers_offload PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
# rte_flow validate/create/destroy/query are stable API in DPDK 22.11: no
# ALLOW_EXPERIMENTAL_API.
target_link_libraries(ftz_drivers_offload
  PUBLIC PkgConfig::DPDK ftz_engine
  PRIVATE ftz_warnings)
