#include "ftz/config/memory_budget.hpp"

#include <hs/hs.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "ftz/engine/defrag.hpp"
#include "ftz/engine/events.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/engine/signatures/scanner.hpp"
#include "ftz/engine/tcp_reassembly.hpp"

namespace ftz::config {

namespace {

// Saturating: a product past 2^64 is "more than any machine has".
uint64_t mul(uint64_t a, double b) {
  const double v = static_cast<double>(a) * b;
  return v >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(v);
}
uint64_t add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max() : a + b;
}

std::string setting(std::string_view name, uint64_t value) {
  return std::string(name) + " = " + std::to_string(value);
}

// The segment pool holds memcap / chunk chunks, each with a free-list entry.
uint64_t segment_pool_bytes(uint64_t memcap) {
  using Chunk = engine::SegmentPool::Chunk;
  return mul(memcap / sizeof(Chunk), static_cast<double>(sizeof(Chunk) + sizeof(uint32_t)));
}

// hs_scratch_size of a scratch cloned from the database's prototype, as each
// worker's scanner holds one.
uint64_t scratch_bytes(const engine::sig::SignatureDatabase& db) {
  auto scratch = db.clone_scratch();
  size_t n = 0;
  if (!scratch || hs_scratch_size(scratch->get(), &n) != HS_SUCCESS) return 0;
  return n;
}

std::optional<uint64_t> read_number(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string word;
  if (!(in >> word) || word == "max") return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(word.c_str(), &end, 10);
  if (end == word.c_str() || *end != '\0') return std::nullopt;
  return v;
}

// Room left under a cgroup memory limit (and every ancestor's), if any: the
// cgroup hierarchy of this process as /proc/self/cgroup names it, under the
// v2 mount (/sys/fs/cgroup) or the v1 memory controller's.
std::optional<std::pair<uint64_t, std::string>> cgroup_room() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::optional<std::pair<uint64_t, std::string>> best;
  const auto consider = [&best](const std::filesystem::path& mount, const std::string& rel,
                                const char* limit_file, const char* usage_file) {
    // v1 reports "no limit" as a huge page-aligned number.
    constexpr uint64_t kNoLimit = uint64_t{1} << 60;
    std::filesystem::path dir = mount / std::filesystem::path(rel).relative_path();
    for (;;) {
      std::error_code ec;
      if (std::filesystem::is_directory(dir, ec)) {
        const auto limit = read_number(dir / limit_file);
        if (limit && *limit < kNoLimit) {
          const uint64_t used = read_number(dir / usage_file).value_or(0);
          const uint64_t room = *limit > used ? *limit - used : 0;
          if (!best || room < best->first)
            best = {{room, "the cgroup limit in " + (dir / limit_file).string()}};
        }
      }
      if (dir == mount || !dir.has_parent_path() || dir.parent_path() == dir) break;
      dir = dir.parent_path();
      if (dir.string().size() < mount.string().size()) break;
    }
  };
  while (std::getline(in, line)) {
    // "hierarchy-id:controllers:path"; v2 is "0::path".
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? std::string::npos : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string rel = line.substr(b + 1);
    if (controllers.empty()) {
      consider("/sys/fs/cgroup", rel, "memory.max", "memory.current");
    } else {
      std::stringstream list(controllers);
      std::string c;
      while (std::getline(list, c, ',')) {
        if (c == "memory")
          consider("/sys/fs/cgroup/memory", rel, "memory.limit_in_bytes", "memory.usage_in_bytes");
      }
    }
  }
  return best;
}

// "8G", "512M", "1073741824": IEC multiples.
std::optional<uint64_t> parse_size(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str()) return std::nullopt;
  const std::string unit(end);
  int shift = 0;
  if (unit.empty() || unit == "B")
    shift = 0;
  else if (unit == "K" || unit == "KiB")
    shift = 10;
  else if (unit == "M" || unit == "MiB")
    shift = 20;
  else if (unit == "G" || unit == "GiB")
    shift = 30;
  else if (unit == "T" || unit == "TiB")
    shift = 40;
  else
    return std::nullopt;
  if (shift > 0 && v > (std::numeric_limits<uint64_t>::max() >> shift)) return std::nullopt;
  return static_cast<uint64_t>(v) << shift;
}

}  // namespace

uint64_t MemoryBudget::per_worker_bytes() const noexcept {
  uint64_t n = 0;
  for (const MemoryItem& i : items) {
    if (i.per_worker) n = add(n, i.bytes);
  }
  return n;
}

uint64_t MemoryBudget::shared_bytes() const noexcept {
  uint64_t n = 0;
  for (const MemoryItem& i : items) {
    if (!i.per_worker) n = add(n, i.bytes);
  }
  return n;
}

uint64_t MemoryBudget::total_bytes() const noexcept {
  return add(mul(per_worker_bytes(), workers), shared_bytes());
}

MemoryBudget memory_budget(const engine::Limits& l, const RunShape& shape) {
  using engine::Defragmenter;
  const engine::WorkerOptions& o = shape.worker;
  const engine::Worker::Footprint fp = engine::Worker::footprint();
  const engine::sig::SignatureDatabase* db = shape.signatures;
  // As the Worker resolves them: an option set by the packet path wins over the limit.
  const uint32_t inspect = o.inspect_max_flows != 0 ? o.inspect_max_flows : l.inspect_max_flows;
  const std::string inspect_from =
      o.inspect_max_flows != 0 ? "inspect_max_flows" : "limits.inspect_max_flows";
  // The Worker allocates no more Stream slots than flows.
  const uint32_t stream_set = o.stream_max_flows != 0 ? o.stream_max_flows : l.stream_max_flows;
  const uint32_t stream_slots = std::min(stream_set, l.flow_table_size);
  const std::string stream_from = o.stream_max_flows != 0 ? "stream_max_flows" : "limits.stream_max_flows";
  const uint32_t events = o.event_queue_capacity != 0 ? o.event_queue_capacity : l.event_queue_size;
  const std::string events_from = o.event_queue_capacity != 0
                                      ? "event queue capacity (" + shape.event_queue_from + ")"
                                      : "limits.event_queue_size";
  const uint64_t streams = db != nullptr ? 2 * uint64_t{inspect} : 0;  // two directions per flow
  const engine::sig::ScannerConfig scanner;  // what Worker::make_scanner leaves at its defaults
  // hs_open_stream allocates each stream on its own (allocator overhead included).
  const double stream_bytes =
      db != nullptr ? static_cast<double>(db->stream_size() + 16 + sizeof(void*) + sizeof(uint32_t)) : 0;

  MemoryBudget b;
  b.workers = shape.workers;
  // One line per allocation a Worker makes up front, sized by one setting:
  // a new limit is a new line here.
  b.items = {
      {"flow table", setting("limits.flow_table_size", l.flow_table_size),
       mul(l.flow_table_size, static_cast<double>(fp.per_flow))},
      {"stream slots (reassembly, app parsers)", setting(stream_from, stream_slots),
       mul(stream_slots, static_cast<double>(fp.per_stream_flow))},
      // Out-of-order data and the kept copy of unacknowledged bytes share this pool.
      {"TCP reassembly segment pool", setting("limits.reassembly_memcap_bytes", l.reassembly_memcap_bytes),
       segment_pool_bytes(l.reassembly_memcap_bytes)},
      {"IP fragment memory", setting("limits.defrag_memcap_bytes", l.defrag_memcap_bytes),
       mul(l.defrag_memcap_bytes, Defragmenter::bytes_per_memcap_byte())},
      {"IP fragment contexts", setting("limits.defrag_max_datagrams", l.defrag_max_datagrams),
       mul(l.defrag_max_datagrams, static_cast<double>(Defragmenter::bytes_per_datagram()))},
      {"held packets", setting("limits.hold_max_packets", l.hold_max_packets),
       mul(l.hold_max_packets, static_cast<double>(fp.per_held_packet))},
      {"event queue", setting(events_from, events),
       mul(std::bit_ceil(std::max(events, 2u)), static_cast<double>(sizeof(engine::Event)))},
      {"scan states", setting(inspect_from, inspect),
       db != nullptr ? mul(inspect, static_cast<double>(fp.per_content_flow)) : 0},
      {"Hyperscan streams", setting("2 x " + inspect_from, streams), mul(streams, stream_bytes)},
      {"Hyperscan scratch", "the signature catalog", db != nullptr ? scratch_bytes(*db) : 0},
      {"inflate arenas", "built in",
       db != nullptr
           ? scanner.inflate_memcap_bytes / engine::sig::kInflateArenaBytes * engine::sig::kInflateArenaBytes
           : 0},
      {"parser and packet buffers", "built in", fp.fixed + Defragmenter::fixed_bytes()},
      {"Hyperscan database", "the signature catalog", db != nullptr ? db->database_size() : 0, false},
  };
  for (const MemoryItem& i : shape.extra) b.items.push_back(i);
  return b;
}

AvailableMemory available_memory() {
  AvailableMemory out{std::numeric_limits<uint64_t>::max(), "no limit found"};
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib) {
      std::getline(in, unit);
      if (key == "MemAvailable:") {
        out = {kib << 10, "MemAvailable in /proc/meminfo"};
        break;
      }
    }
  }
  if (auto room = cgroup_room(); room && room->first < out.bytes) out = {room->first, room->second};
  if (const char* env = std::getenv("FTZGATE_MEMORY_LIMIT")) {
    if (auto v = parse_size(env); v && *v < out.bytes) out = {*v, "FTZGATE_MEMORY_LIMIT"};
  }
  return out;
}

std::string format_bytes(uint64_t bytes) {
  char buf[48];
  if (bytes == std::numeric_limits<uint64_t>::max()) return "more than 16 EiB";
  if (bytes >= (uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= (uint64_t{1} << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%llu KiB", static_cast<unsigned long long>((bytes + 1023) >> 10));
  }
  return buf;
}

tl::expected<void, std::string> check_memory(const MemoryBudget& budget, const AvailableMemory& available) {
  const uint64_t total = budget.total_bytes();
  const uint64_t allowed = mul(available.bytes, kBudgetShareOfAvailable);
  if (total <= allowed) return {};
  std::vector<const MemoryItem*> items;
  for (const MemoryItem& i : budget.items) {
    if (i.bytes > 0) items.push_back(&i);
  }
  // Largest share of the total first: that is what to lower.
  const auto share = [&budget](const MemoryItem* i) {
    return i->per_worker ? mul(i->bytes, budget.workers) : i->bytes;
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const MemoryItem* a, const MemoryItem* b) { return share(a) > share(b); });
  std::string msg = "not enough memory: the configuration and command line need " + format_bytes(total) +
                    " (" + std::to_string(budget.workers) + (budget.workers == 1 ? " worker" : " workers") +
                    " x " + format_bytes(budget.per_worker_bytes()) + " + " +
                    format_bytes(budget.shared_bytes()) + " shared), above " +
                    std::to_string(static_cast<int>(kBudgetShareOfAvailable * 100)) + "% of the " +
                    format_bytes(available.bytes) + " available (" + available.source + "). Largest items:";
  for (size_t k = 0; k < items.size() && k < 5; ++k) {
    const MemoryItem& i = *items[k];
    msg += "\n  " + i.name + ": " + format_bytes(i.bytes);
    if (i.per_worker) msg += " per worker";
    if (i.per_worker && budget.workers > 1)
      msg += ", " + format_bytes(share(&i)) + " for " + std::to_string(budget.workers);
    msg += " (" + i.sized_by + ")";
  }
  msg += "\nlower these settings";
  if (budget.workers > 1) msg += " or the number of workers";
  msg += ", or run on a machine with more memory";
  return tl::unexpected(std::move(msg));
}

}  // namespace ftz::config
