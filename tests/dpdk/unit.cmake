ftz_unit_test(dp_options_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/options_test.cpp
  LIBS ftz_dpdk)
ftz_unit_test(dp_l2_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/l2_test.cpp
  LIBS ftz_dpdk ftz_test_support
  LABELS integration)
