# DPDK 22.11 from Debian (libdpdk-dev). The imported target's include
# directories are SYSTEM, so DPDK's own headers do not trip -Werror; its
# cflags (-include rte_config.h -march=corei7) come with it.
pkg_check_modules(DPDK REQUIRED IMPORTED_TARGET libdpdk)
