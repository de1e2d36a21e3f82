# ftzgate-snmp under a real snmpd and snmptrapd, reading a real ftzgated
# that a real data plane reports to.
if(TARGET ftzgated AND TARGET ftzctl AND TARGET ftzgate-snmp)
  ftz_unit_test(dp_snmp_test
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/snmp_test.cpp
    LIBS ftz_test_support ftz_test_gen nlohmann_json::nlohmann_json
    LABELS integration)
  if(TARGET dp_snmp_test)
    add_dependencies(dp_snmp_test ftzgate-dp ftzgated ftzctl ftzgate-snmp)
  endif()
endif()
