# Sanitizer builds. UndefinedBehaviorSanitizer is fatal in both
# (-fno-sanitize-recover): by default it prints "runtime error" and carries
# on, so a fuzz run or a test would pass with undefined behaviour in it, and
# libFuzzer would keep no input to reproduce it.
set(FTZ_UBSAN_FLAGS -fsanitize=undefined -fno-sanitize-recover=undefined)
if(FTZ_SANITIZE)
  add_compile_options(-fsanitize=address ${FTZ_UBSAN_FLAGS} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(FTZ_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "FTZ_FUZZ needs clang (libFuzzer)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address ${FTZ_UBSAN_FLAGS} -fno-omit-frame-pointer)
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
