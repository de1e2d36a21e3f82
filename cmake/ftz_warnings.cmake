# Warnings are errors for every target of this project. Third-party headers are
# included as SYSTEM so their warnings do not fail our build.
add_library(ftz_warnings INTERFACE)
target_compile_options(ftz_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor
  -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
  -Wimplicit-fallthrough -Wformat=2)
