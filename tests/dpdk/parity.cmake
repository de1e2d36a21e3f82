# Parity: ftzgate-dp (the real DPDK fast path on net_pcap) must judge, log and
# forward a capture exactly as ftzgate-inspect (the offline reference) does.
# The test runs the binaries, so it builds after them.
ftz_unit_test(dp_parity_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/parity_test.cpp
  LIBS nlohmann_json::nlohmann_json ftz_test_support ftz_test_gen PkgConfig::PCAP
  LABELS integration)
add_dependencies(dp_parity_test ftzgate-dp ftzgate-inspect ftzgate-gen)
