ftz_unit_test(dp_binary_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/binary_test.cpp
  LIBS ftz_test_support ftz_test_gen nlohmann_json::nlohmann_json
  LABELS integration)
if(TARGET dp_binary_test)
  add_dependencies(dp_binary_test ftzgate-dp ftzgate-inspect ftzgate-gen)
endif()
