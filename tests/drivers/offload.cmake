# Real DPDK in-process (EAL on net_null/net_ring vdevs, --no-huge): labelled
# integration, not unit.
ftz_unit_test(flow_offload_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/flow_offload_test.cpp
  LIBS ftz_drivers_offload
  LABELS integration)
