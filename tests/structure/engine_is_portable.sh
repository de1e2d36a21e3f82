#!/usr/bin/env bash
# The engine is shared by every packet path (ftzgate-inspect, ftzgate-dp,
# the XDP fallback's user space) and gives them identical verdicts, so it
# includes no DPDK, libbpf/libxdp, gRPC or protobuf header and links none of
# their libraries (ARCHITECTURE.md). Fails naming each offending line or
# library. The report library (dataplane/report), which both ftzgate-inspect
# and ftzgate-dp use, is held to the same rule for its headers.
#
#   engine_is_portable.sh SOURCE_DIR ENGINE_TEST_BINARY
set -uo pipefail
src=$1
bin=$2
status=0

forbidden='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](rte_[^>"]*|dpdk/[^>"]*|bpf/[^>"]*|libbpf[^>"]*|xdp/[^>"]*|grpc[^>"]*|grpcpp/[^>"]*|google/protobuf/[^>"]*|[^>"]*\.pb\.h)[>"]'
hits=$(grep -rnE --include='*.h' --include='*.hpp' --include='*.cpp' --include='*.c' --include='*.def' \
  "$forbidden" "$src/dataplane/engine" "$src/dataplane/report" || true)
if [ -n "$hits" ]; then
  echo "engine_is_portable: the engine (or the report library) includes a header of a packet path or the control plane:" >&2
  echo "$hits" >&2
  status=1
fi

if [ ! -x "$bin" ]; then
  echo "engine_is_portable: $bin is not built" >&2
  exit 1
fi
libs=$(ldd "$bin" | grep -E 'librte_|libbpf|libxdp|libgrpc|libprotobuf' || true)
if [ -n "$libs" ]; then
  echo "engine_is_portable: $bin (engine only) loads:" >&2
  echo "$libs" >&2
  status=1
fi
[ $status -eq 0 ] && echo "engine_is_portable: no DPDK, libbpf, gRPC or protobuf header or library in the engine"
exit $status
