# Sanitizer builds. UndefinedBehaviorSanitizer is fatal in both
# (-fno-sanitize-recover): by default it prints "runtime error" and carries
# on, so a fuzz run or a test would pass with undefined behaviour in it, and
# libFuzzer would keep no input to reproduce it.
set(FTZ_UBSAN_FLAGS -fsanitize=undefined -fno-sanitize-recover=undefined)
# FTZ_FUZZ implies FTZ_SANITIZE: the fuzz build also builds and runs the unit
# tests under both sanitizers (make asan), so CI compiles the libraries with
# sanitizers once, not once for the tests and again for the fuzz targets.
# libFuzzer's coverage hooks (fuzzer-no-link) are inert in the test binaries:
# the sanitizer runtime defines them, and only the fuzz targets link libFuzzer.
if(FTZ_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "FTZ_FUZZ needs clang (libFuzzer)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(FTZ_SANITIZE OR FTZ_FUZZ)
  add_compile_options(-fsanitize=address ${FTZ_UBSAN_FLAGS} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# ftz_fuzz_target(NAME SOURCE LIBS...): a libFuzzer binary, built only with FTZ_FUZZ.
function(ftz_fuzz_target name source)
  if(FTZ_FUZZ)
    add_executable(${name} ${source})
    target_link_libraries(${name} PRIVATE ${ARGN} ftz_warnings)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()
