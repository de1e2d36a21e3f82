// The memory budget: it counts what a worker really allocates, and a
// configuration or command line that cannot fit is refused with the setting
// to lower, before anything is allocated.

#include "ftz/config/memory_budget.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <string>

#include "ftz/config/config.hpp"
#include "ftz/engine/generation.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/engine/worker.hpp"
#include "test_util.hpp"

namespace ftz::config {
namespace {

using ::testing::HasSubstr;

constexpr const char* kPolicy = R"(zones:
  - {name: ftz, kind: ftz, prefixes: [10.60.0.0/16]}
  - {name: offshore, kind: offshore, default: true}
signatures:
  - name: cn_mobile
    sid: 9200001
    class: pi
    validator: none
    patterns: [{regex: '1[3-9]\d{9}'}]
limits:
  flow_table_size: 16384
  reassembly_memcap_bytes: 8388608
  defrag_memcap_bytes: 1048576
  defrag_max_datagrams: 512
  hold_max_packets: 1024
)";

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FTZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FTZ_ASAN 1
#endif
#ifdef FTZ_ASAN
// <sanitizer/allocator_interface.h> ships with clang only; the runtime has it under gcc too.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

// Bytes allocated and not freed: glibc's arena statistics, or ASan's own
// allocator's (it replaces malloc, and mallinfo2 then sees nothing).
uint64_t heap_in_use() {
#ifdef FTZ_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

TEST(MemoryBudget, CountsWhatAWorkerAllocates) {
  auto loaded = load_config_from_string(kPolicy, "policy.yaml");
  ASSERT_TRUE(loaded.has_value()) << format_diagnostics(loaded.error());
  auto db = compile_signatures(*loaded);
  ASSERT_TRUE(db.has_value());
  const engine::Limits limits = loaded->spec.limits;
  auto gen = engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), 1, *db);
  ASSERT_TRUE(gen.has_value()) << gen.error();
  RunShape shape;
  shape.worker.inspect_max_flows = 1024;
  shape.worker.event_queue_capacity = 1024;
  shape.signatures = db->get();
  const MemoryBudget budget = memory_budget(limits, shape);

  const uint64_t before = heap_in_use();
  auto worker = std::make_unique<engine::Worker>(*gen, engine::LinkType::kEthernet, shape.worker);
  const uint64_t actual = heap_in_use() - before;
  const uint64_t counted = budget.per_worker_bytes();
  // Within 10 %: a structure that grows (or a new up-front allocation) shows
  // here and belongs in memory_budget().
  EXPECT_GE(counted, actual * 9 / 10) << "budget " << counted << ", worker " << actual;
  EXPECT_LE(counted, actual * 11 / 10) << "budget " << counted << ", worker " << actual;
}

TEST(MemoryBudget, TotalsPerWorkerAndShared) {
  RunShape shape;
  shape.workers = 4;
  shape.extra.push_back(MemoryItem{"DPDK heap", "-m", 100u << 20, false});
  const MemoryBudget b = memory_budget(engine::Limits{}, shape);
  EXPECT_EQ(b.shared_bytes(), 100u << 20) << "no signatures: no database";
  EXPECT_EQ(b.total_bytes(), 4 * b.per_worker_bytes() + (100u << 20));
  EXPECT_GT(b.per_worker_bytes(), engine::Limits{}.reassembly_memcap_bytes);
}

TEST(MemoryBudget, LimitsInsideTheirRangeThatCannotFitAreRefusedWithTheSettingToLower) {
  // 12 GiB: the widest flow table (67,108,864 x 252 bytes, decision 0006) must not fit.
  const AvailableMemory box{uint64_t{12} << 30, "MemAvailable in /proc/meminfo"};
  engine::Limits defaults;
  EXPECT_TRUE(check_memory(memory_budget(defaults, RunShape{}), box).has_value());

  engine::Limits flows;
  flows.flow_table_size = 67108864;  // the top of its accepted range
  auto r = check_memory(memory_budget(flows, RunShape{}), box);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error(), HasSubstr("not enough memory: the configuration and command line need "));
  EXPECT_THAT(r.error(),
              HasSubstr("available (MemAvailable in /proc/meminfo). Largest items:\n  flow table: "));
  EXPECT_THAT(r.error(), HasSubstr("per worker (limits.flow_table_size = 67108864)"));

  engine::Limits memcap;
  memcap.reassembly_memcap_bytes = uint64_t{64} << 30;  // 64 GiB, accepted by the reader
  r = check_memory(memory_budget(memcap, RunShape{}), box);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error(), HasSubstr("Largest items:\n  TCP reassembly segment pool: 64.1 GiB per worker "
                                   "(limits.reassembly_memcap_bytes = 68719476736)"));

  // Defaults, but 64 workers on a small box: the worker count is named.
  RunShape many;
  many.workers = 64;
  r = check_memory(memory_budget(defaults, many), AvailableMemory{uint64_t{2} << 30, "FTZGATE_MEMORY_LIMIT"});
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error(), HasSubstr("(64 workers x "));
  EXPECT_THAT(r.error(), HasSubstr("or the number of workers"));
}

TEST(MemoryBudget, AvailableMemoryCanOnlyBeLoweredByTheEnvironment) {
  const AvailableMemory real = available_memory();
  EXPECT_GT(real.bytes, 0u);
  setenv("FTZGATE_MEMORY_LIMIT", "1G", 1);
  const AvailableMemory lowered = available_memory();
  unsetenv("FTZGATE_MEMORY_LIMIT");
  if (real.bytes > (uint64_t{1} << 30)) {
    EXPECT_EQ(lowered.bytes, uint64_t{1} << 30);
    EXPECT_EQ(lowered.source, "FTZGATE_MEMORY_LIMIT");
  }
  // MemAvailable moves while other processes run: the source says which
  // figure was taken, the size only roughly matches the first reading.
  auto near_real = [&](const AvailableMemory& m) {
    return m.bytes > real.bytes / 2 && m.bytes < real.bytes + real.bytes / 2;
  };
  setenv("FTZGATE_MEMORY_LIMIT", "1000000T", 1);
  const AvailableMemory raised = available_memory();
  EXPECT_NE(raised.source, "FTZGATE_MEMORY_LIMIT") << "raising is ignored";
  EXPECT_TRUE(near_real(raised));
  setenv("FTZGATE_MEMORY_LIMIT", "lots", 1);
  const AvailableMemory garbage = available_memory();
  EXPECT_NE(garbage.source, "FTZGATE_MEMORY_LIMIT") << "garbage is ignored";
  EXPECT_TRUE(near_real(garbage));
  unsetenv("FTZGATE_MEMORY_LIMIT");
}

TEST(MemoryBudget, Formats) {
  EXPECT_EQ(format_bytes(512), "1 KiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 20), "3.0 MiB");
  EXPECT_EQ(format_bytes(uint64_t{64} << 30), "64.0 GiB");
}

}  // namespace
}  // namespace ftz::config
