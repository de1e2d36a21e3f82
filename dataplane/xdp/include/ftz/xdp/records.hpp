#pragma once
// The records of flows the kernel decided (ftz_flows): when one is over,
// and its EVE flow record, made by the engine's own Event type and
// formatter so that it reads like every other flow record. Plain C++ over
// the engine (no libbpf).

#include <cstdint>

#include "ftz/engine/events.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/xdp/shared.h"

namespace ftz::xdp {

// Idle past its timeout at `now_mono_ns` (CLOCK_MONOTONIC_COARSE, the program's clock), by
// the engine's timeouts: TCP by the flags seen (a RST or both FINs: closed;
// an ACK: established; else the handshake's), UDP, other.
bool kernel_flow_over(const ftz_xdp_flow_key& key, const ftz_xdp_flow& flow, const engine::Limits& limits,
                      uint64_t now_mono_ns);

// The flow's record under `gen` (zones, tenant and the deciding rule
// resolved as the engine resolves them at the header stage); times in UTC:
// `wall_minus_mono_ns` turns the kernel's clock into wall time.
engine::Event kernel_flow_record(const ftz_xdp_flow_key& key, const ftz_xdp_flow& flow,
                                 const engine::PolicyGeneration& gen, int64_t wall_minus_mono_ns,
                                 engine::FlowEndReason why);

}  // namespace ftz::xdp
