# Warnings of every target of this project (link ftz_warnings PRIVATE).
# Third-party headers are included as SYSTEM so their warnings are not ours.
#
# FTZ_WERROR turns them into errors. CI (.ci/run) and the Makefile's
# developer-only targets (asan, fuzz, tidy) turn it on; it is off by default
# because the user and packager build must not fail on a warning a newer or
# older compiler invents (GCC 12 at -O3 reports -Wstringop-overread false
# positives in code that is correct), nor on the flags a distribution adds
# (Debian's -D_FORTIFY_SOURCE=2 enables more -Wstringop-* checks).
option(FTZ_WERROR "Treat compiler warnings as errors (CI and developers)" OFF)

add_library(ftz_warnings INTERFACE)
target_compile_options(ftz_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
  -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
  -Wimplicit-fallthrough -Wformat=2)
if(FTZ_WERROR)
  target_compile_options(ftz_warnings INTERFACE -Werror)
  # GCC 12 at -O3 (Release) reports -Wstringop-overread, -Wrestrict and
  # -Warray-bounds inside libstdc++'s vector insert and string operator+ once
  # inlined, in correct code (tests/support, tests/engine/app, tests/drivers,
  # tests/engine/eve_test.cpp): in Release they stay warnings. -O2 builds
  # (CI's) keep them errors.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(ftz_warnings INTERFACE
      $<$<CONFIG:Release>:-Wno-error=stringop-overread -Wno-error=restrict -Wno-error=array-bounds>)
  endif()
endif()
