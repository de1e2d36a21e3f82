#pragma once
// The memory a data plane allocates up front for a configuration and a
// command line, checked against what the machine (or the cgroup it runs in)
// can give before anything is allocated.
//
// Every limit that sizes an up-front allocation is one line of
// memory_budget() (src/memory_budget.cpp): per worker the flow table, the
// TCP segment pool, the defragmenter, the hold table, the event queue, the
// scan states and the scanner's Hyperscan streams, scratch and inflate
// arenas; once the Hyperscan database; plus what the caller adds (the DPDK
// heap of a run without hugepages). Workers allocate all of it in their
// constructors and touch every page, so an unchecked limit inside its
// accepted range ends in std::bad_alloc or the OOM killer instead of an
// error message. ftzgate-inspect and ftzgate-dp both check before they
// build anything.

#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/engine/policy_spec.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::engine::sig {
class SignatureDatabase;
}

namespace ftz::config {

struct MemoryItem {
  std::string name;      // "flow table"
  std::string sized_by;  // "limits.flow_table_size = 67108864": what to lower
  uint64_t bytes = 0;
  bool per_worker = true;
};

struct MemoryBudget {
  uint32_t workers = 1;
  std::vector<MemoryItem> items;

  [[nodiscard]] uint64_t per_worker_bytes() const noexcept;
  [[nodiscard]] uint64_t shared_bytes() const noexcept;
  [[nodiscard]] uint64_t total_bytes() const noexcept;  // per worker x workers + shared
};

// What a run needs besides the configuration's limits.
struct RunShape {
  uint32_t workers = 1;
  // Event queue capacity and inspect_max_flows when the packet path sets
  // them (0: the configuration's limits.event_queue_size and
  // limits.inspect_max_flows, as the Worker resolves them).
  engine::WorkerOptions worker;
  std::string event_queue_from = "built in";  // names what set event_queue_capacity ("rings.events ...")
  // The compiled catalog (stream and scratch sizes); null: no content scanning.
  const engine::sig::SignatureDatabase* signatures = nullptr;
  std::vector<MemoryItem> extra;  // the caller's own items (DPDK heap, ...)
};

// The budget of `limits` for `shape`, item by item.
[[nodiscard]] MemoryBudget memory_budget(const engine::Limits& limits, const RunShape& shape);

struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;  // "MemAvailable", "cgroup limit /sys/fs/cgroup/...", "FTZGATE_MEMORY_LIMIT"
};

// What this process may still allocate: MemAvailable (/proc/meminfo), lowered
// to the room left under the memory limit of its cgroup and every ancestor
// (cgroup v2 memory.max - memory.current, v1 memory.limit_in_bytes -
// memory.usage_in_bytes), and to FTZGATE_MEMORY_LIMIT when set (bytes, or
// with a K, M, G or T suffix: a box shared with other services reserves
// their memory this way; it can only lower the figure).
[[nodiscard]] AvailableMemory available_memory();

// Share of the available memory the budget may take: the rest is for what no
// limit sizes (libraries, the configuration, compliance token sets, EVE and
// report buffers, the kernel's page tables).
inline constexpr double kBudgetShareOfAvailable = 0.9;

// Ok, or a message that gives the total, what is available and where that
// figure comes from, and the largest items with the setting that sizes each.
tl::expected<void, std::string> check_memory(const MemoryBudget& budget, const AvailableMemory& available);

// "1.5 GiB", "640.0 MiB", "12 KiB": for messages.
std::string format_bytes(uint64_t bytes);

}  // namespace ftz::config
