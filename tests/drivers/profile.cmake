# Hardware profiles: the shipped profiles load, every rule reports its exact
# position and path, and the fuzzer.
ftz_unit_test(drivers_profile_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/profile_test.cpp
  LIBS ftz_drivers_profile)
# Also when BUILD_TESTING is off (fuzz builds), where ftz_unit_test defines nothing.
target_compile_definitions(drivers_profile_test PRIVATE FTZ_TEST_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
ftz_fuzz_target(fuzz_profile ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_profile.cpp ftz_drivers_profile)
