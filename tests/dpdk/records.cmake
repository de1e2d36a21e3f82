# ftzgate-dp's records and outputs (docs/dpdk.md "Records", "Write errors"):
# no lost flow records, write errors counted and failing the run, outputs
# that would overwrite an input refused, masked logs, the demo token key.
ftz_unit_test(dp_records_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/records_test.cpp
  LIBS ftz_test_support nlohmann_json::nlohmann_json
  LABELS integration)
if(TARGET dp_records_test)
  add_dependencies(dp_records_test ftzgate-dp ftzgate-gen)
endif()
