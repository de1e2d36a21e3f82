# ftzgate-dp --controller against a real ftzgated: bundles over gRPC on a
# unix socket, ACK/NACK, headless start.
if(TARGET ftzgated AND TARGET ftzctl)
  ftz_unit_test(dp_controller_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/controller_test.cpp
    LIBS ftz_test_support ftz_test_gen nlohmann_json::nlohmann_json
    LABELS integration)
  if(TARGET dp_controller_test)
    add_dependencies(dp_controller_test ftzgate-dp ftzgate-gen ftzgated ftzctl)
  endif()
endif()
