#include "ftz/xdp/program.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <thread>
#include <vector>

#include "ftz_xdp.skel.h"

namespace ftz::xdp {

namespace {

static_assert(sizeof(ftz_xdp_lpm_key) == 20 && sizeof(ftz_xdp_zone) == 8 && sizeof(ftz_xdp_policy_key) == 8 &&
                  sizeof(ftz_xdp_policy) == 8 && sizeof(ftz_xdp_config) == 24 &&
                  sizeof(ftz_xdp_flow_key) == 44 && sizeof(ftz_xdp_flow) == 72,
              "the program's struct layouts (clang -target bpf) and the loader's agree");

// A packet that read the slot in use just before a flip may still be
// taking its tables from the old slot: the program runs for microseconds,
// so a slot is written again no sooner than this after it went out of use.
constexpr auto kSlotQuiet = std::chrono::milliseconds(20);

std::string error_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err < 0 ? -err : err);
}

// A map file descriptor, closed when it goes (an outer map keeps its inner
// maps alive on its own).
class MapFd {
 public:
  explicit MapFd(int fd) noexcept : fd_(fd) {}
  ~MapFd() {
    if (fd_ >= 0) close(fd_);
  }
  MapFd(const MapFd&) = delete;
  MapFd& operator=(const MapFd&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// An inner map like the program's template for it (bpf/ftz_xdp.bpf.c).
tl::expected<std::unique_ptr<MapFd>, std::string> inner_map(bpf_map_type type, const char* name,
                                                            uint32_t key_size, uint32_t value_size,
                                                            uint32_t max_entries) {
  // libbpf's option structs zeroed with their size set: LIBBPF_OPTS is a
  // compound literal in a statement expression, C extensions in C++.
  bpf_map_create_opts opts{};
  opts.sz = sizeof(opts);
  if (type == BPF_MAP_TYPE_LPM_TRIE) opts.map_flags = BPF_F_NO_PREALLOC;
  const int fd = bpf_map_create(type, name, key_size, value_size, max_entries, &opts);
  if (fd < 0) return tl::unexpected(error_text(name, fd));
  return std::make_unique<MapFd>(fd);
}

tl::expected<void, std::string> put(int fd, const void* key, const void* value, const char* name) {
  if (const int err = bpf_map_update_elem(fd, key, value, BPF_ANY); err != 0) {
    return tl::unexpected(error_text(name, err));
  }
  return {};
}

tl::expected<std::unique_ptr<MapFd>, std::string> prefix_map(const char* name,
                                                             const std::vector<PrefixEntry>& entries) {
  auto m =
      inner_map(BPF_MAP_TYPE_LPM_TRIE, name, sizeof(ftz_xdp_lpm_key), sizeof(uint32_t), FTZ_XDP_MAX_PREFIXES);
  if (!m) return m;
  for (const PrefixEntry& e : entries) {
    if (auto r = put((*m)->get(), &e.key, &e.value, name); !r) return tl::unexpected(r.error());
  }
  return m;
}

constexpr std::string_view kBpffs = "/sys/fs/bpf";

// Pins live on a BPF filesystem. Its usual place, /sys/fs/bpf, is mounted
// when it is not yet (a fresh host, a new mount namespace), as bpftool and
// iproute2 do; a pin directory elsewhere must already be on one.
tl::expected<void, std::string> ensure_bpffs(const std::string& pin_dir) {
  std::filesystem::path at = std::filesystem::absolute(pin_dir);
  std::error_code ec;
  while (at.has_relative_path() && !std::filesystem::exists(at, ec)) at = at.parent_path();
  struct statfs st {};
  if (statfs(at.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC) return {};
  if (at != kBpffs) return tl::unexpected(pin_dir + ": not on a BPF filesystem (mount -t bpf bpf DIR)");
  if (mount("bpf", at.c_str(), "bpf", 0, "mode=0700") != 0)
    return tl::unexpected(error_text("mounting the BPF filesystem on " + at.string(), errno));
  return {};
}

// Why the verifier refused the program: a second load of a fresh copy with
// the full log (level 1), whose last lines name the instruction and the
// rule. Only after a refusal: a full log of a program that passes is far
// larger than any buffer, and kernels before 6.4 fail a load whose log
// does not fit (ENOSPC), keeping its start rather than its end.
std::string verifier_reason() {
  ftz_xdp* skel = ftz_xdp::open();
  if (skel == nullptr) return "";
  std::vector<char> log(16U << 20U);
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->obj) {
    bpf_program__set_log_buf(prog, log.data(), log.size());
    bpf_program__set_log_level(prog, 1);
  }
  const int err = ftz_xdp::load(skel);
  ftz_xdp::destroy(skel);
  if (err == 0 || log[0] == '\0') return "";
  log.back() = '\0';
  std::string_view text(log.data());
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  // The last lines: the refused instruction, the rule, the count.
  size_t from = text.size();
  for (int lines = 0; lines < 3 && from != std::string_view::npos && from > 0; ++lines)
    from = text.rfind('\n', from - 1);
  from = from == std::string_view::npos ? 0 : from + 1;
  std::string tail(text.substr(from));
  std::replace(tail.begin(), tail.end(), '\n', ';');
  return "; the verifier's log ends: " + tail;
}

}  // namespace

tl::expected<std::unique_ptr<Program>, std::string> Program::load(const std::string& pin_dir) {
  ftz_xdp* skel = ftz_xdp::open();
  if (skel == nullptr) return tl::unexpected(error_text("opening the XDP program", errno));
  std::unique_ptr<Program> p(new Program(skel));
  if (!pin_dir.empty()) {
    if (auto ok = ensure_bpffs(pin_dir); !ok) return tl::unexpected(ok.error());
    std::error_code ec;
    std::filesystem::create_directories(pin_dir, ec);
    if (ec) return tl::unexpected(pin_dir + ": " + ec.message());
    for (bpf_map* m : {skel->maps.ftz_flows, skel->maps.ftz_ended, skel->maps.ftz_counters}) {
      const std::string path = pin_dir + "/" + bpf_map__name(m);
      if (const int err = bpf_map__set_pin_path(m, path.c_str()); err != 0)
        return tl::unexpected(error_text(path, err));
    }
    p->pin_dir_ = pin_dir;
  }
  // The verifier's statistics of the verdict program (BPF_LOG_STATS): how
  // many instructions it walked, against its limit of 1,000,000.
  std::array<char, 4096> stats{};
  bpf_program__set_log_buf(skel->progs.ftz_xdp, stats.data(), stats.size());
  bpf_program__set_log_level(skel->progs.ftz_xdp, 4);
  const int err = ftz_xdp::load(skel);
  const char* processed = std::strstr(stats.data(), "processed ");
  if (processed != nullptr) p->verifier_instructions_ = std::strtoull(processed + 10, nullptr, 10);
  if (err != 0) {
    return tl::unexpected(
        error_text("loading the XDP program" + (pin_dir.empty() ? "" : " (pins in " + pin_dir + ")"), err) +
        verifier_reason());
  }
  return p;
}

tl::expected<void, std::string> Program::attach(uint32_t ifindex, uint32_t mode, Entry entry) {
  bpf_xdp_attach_opts opts{};
  opts.sz = sizeof(opts);
  uint32_t flags = mode | XDP_FLAGS_UPDATE_IF_NOEXIST;
  uint32_t id = 0;
  int old_fd = -1;
  if (bpf_xdp_query_id(static_cast<int>(ifindex), static_cast<int>(mode), &id) == 0 && id != 0) {
    old_fd = bpf_prog_get_fd_by_id(id);
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (old_fd < 0 || bpf_obj_get_info_by_fd(old_fd, &info, &len) != 0 ||
        (std::string_view(info.name) != "ftz_xdp" && std::string_view(info.name) != "ftz_xdp_channel")) {
      if (old_fd >= 0) close(old_fd);
      return tl::unexpected("another XDP program (id " + std::to_string(id) + ", \"" +
                            std::string(info.name) + "\") is attached; ftzgate-xdp replaces only its own");
    }
    opts.old_prog_fd = old_fd;
    flags = mode | XDP_FLAGS_REPLACE;
  }
  const int fd = entry == Entry::kChannel ? bpf_program__fd(skel_->progs.ftz_xdp_channel) : prog_fd();
  const int err = bpf_xdp_attach(static_cast<int>(ifindex), fd, flags, &opts);
  if (old_fd >= 0) close(old_fd);
  if (err != 0) return tl::unexpected(error_text("attaching the XDP program", err));
  return {};
}

void Program::detach(uint32_t ifindex, uint32_t mode) noexcept {
  bpf_xdp_detach(static_cast<int>(ifindex), mode, nullptr);
}

void Program::unpin() noexcept {
  if (pin_dir_.empty()) return;
  for (bpf_map* m : {skel_->maps.ftz_flows, skel_->maps.ftz_ended, skel_->maps.ftz_counters})
    bpf_map__unpin(m, nullptr);
  std::error_code ec;
  std::filesystem::remove(pin_dir_, ec);  // only when empty: never another's pins
}

Program::~Program() {
  ftz_xdp::destroy(skel_);
}

int Program::prog_fd() const noexcept {
  return bpf_program__fd(skel_->progs.ftz_xdp);
}

tl::expected<void, std::string> Program::install(const Tables& t) {
  const uint32_t slot = installed_ ? 1 - active_ : 0;
  if (installed_) std::this_thread::sleep_until(last_flip_ + kSlotQuiet);

  auto zones_v4 = prefix_map("ftz_zones_v4", t.zones_v4);
  if (!zones_v4) return tl::unexpected(zones_v4.error());
  auto zones_v6 = prefix_map("ftz_zones_v6", t.zones_v6);
  if (!zones_v6) return tl::unexpected(zones_v6.error());
  auto tenants_v4 = prefix_map("ftz_tenants_v4", t.tenants_v4);
  if (!tenants_v4) return tl::unexpected(tenants_v4.error());
  auto tenants_v6 = prefix_map("ftz_tenants_v6", t.tenants_v6);
  if (!tenants_v6) return tl::unexpected(tenants_v6.error());
  auto zone_info = inner_map(BPF_MAP_TYPE_ARRAY, "ftz_zone_info", sizeof(uint32_t), sizeof(ftz_xdp_zone),
                             FTZ_XDP_MAX_ZONES);
  if (!zone_info) return tl::unexpected(zone_info.error());
  for (uint32_t z = 0; z < t.zones.size(); ++z) {
    if (auto r = put((*zone_info)->get(), &z, &t.zones[z], "ftz_zone_info"); !r) return r;
  }
  auto policy = inner_map(BPF_MAP_TYPE_HASH, "ftz_policy", sizeof(ftz_xdp_policy_key), sizeof(ftz_xdp_policy),
                          FTZ_XDP_MAX_POLICY_ENTRIES);
  if (!policy) return tl::unexpected(policy.error());
  for (const auto& [k, v] : t.policy) {
    if (auto r = put((*policy)->get(), &k, &v, "ftz_policy"); !r) return r;
  }
  auto config = inner_map(BPF_MAP_TYPE_ARRAY, "ftz_config", sizeof(uint32_t), sizeof(ftz_xdp_config), 1);
  if (!config) return tl::unexpected(config.error());
  const uint32_t zero = 0;
  // Verdicts cached in the (pinned) flow map are valid under the install
  // that made them only: an epoch no earlier install, of this process or a
  // previous one, had (nanoseconds of the wall clock, or one more).
  ftz_xdp_config c = t.config;
  const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  epoch_ = std::max(epoch_ + 1, now);
  c.epoch = epoch_;
  if (auto r = put((*config)->get(), &zero, &c, "ftz_config"); !r) return r;

  // Into the idle slot (no packet reads it), then the flip.
  const std::pair<const bpf_map*, const MapFd*> slots[] = {
      {skel_->maps.ftz_zones_v4, zones_v4->get()},     {skel_->maps.ftz_zones_v6, zones_v6->get()},
      {skel_->maps.ftz_tenants_v4, tenants_v4->get()}, {skel_->maps.ftz_tenants_v6, tenants_v6->get()},
      {skel_->maps.ftz_zone_info, zone_info->get()},   {skel_->maps.ftz_policy, policy->get()},
      {skel_->maps.ftz_config, config->get()},
  };
  for (const auto& [outer, inner] : slots) {
    const int fd = inner->get();
    if (auto r = put(bpf_map__fd(outer), &slot, &fd, bpf_map__name(outer)); !r) return r;
  }
  if (auto r = put(bpf_map__fd(skel_->maps.ftz_active), &zero, &slot, "ftz_active"); !r) return r;
  active_ = slot;
  installed_ = true;
  generation_ = t.config.generation;
  last_flip_ = std::chrono::steady_clock::now();
  return {};
}

tl::expected<void, std::string> Program::pair_ports(uint32_t in_ifindex, uint32_t out_ifindex) {
  return put(bpf_map__fd(skel_->maps.ftz_egress), &in_ifindex, &out_ifindex, "ftz_egress");
}

tl::expected<void, std::string> Program::set_port_slot(uint32_t ifindex, uint32_t slot) {
  return put(bpf_map__fd(skel_->maps.ftz_port_slot), &ifindex, &slot, "ftz_port_slot");
}

tl::expected<void, std::string> Program::bind_socket(uint32_t slot, uint32_t queue, int xsk_fd) {
  if (slot >= FTZ_XDP_MAX_PORTS || queue >= FTZ_XDP_MAX_QUEUES) {
    return tl::unexpected("AF_XDP socket of port slot " + std::to_string(slot) + ", queue " +
                          std::to_string(queue) + ": the program takes " + std::to_string(FTZ_XDP_MAX_PORTS) +
                          " ports of " + std::to_string(FTZ_XDP_MAX_QUEUES) + " queues");
  }
  const uint32_t key = slot * FTZ_XDP_MAX_QUEUES + queue;
  return put(bpf_map__fd(skel_->maps.ftz_xsks), &key, &xsk_fd, "ftz_xsks");
}

tl::expected<TestRun, std::string> test_run(int prog_fd, std::span<const uint8_t> frame,
                                            uint32_t ingress_ifindex, uint32_t repeat) {
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(frame.size());  // the kernel insists
  ctx.ingress_ifindex = ingress_ifindex;
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof ctx;
  opts.repeat = repeat;
  if (const int err = bpf_prog_test_run_opts(prog_fd, &opts); err != 0) {
    return tl::unexpected(error_text("BPF_PROG_TEST_RUN", err));
  }
  return TestRun{opts.retval, opts.duration};
}

tl::expected<uint32_t, std::string> Program::run(std::span<const uint8_t> frame, uint32_t ingress_ifindex) {
  auto r = test_run(prog_fd(), frame, ingress_ifindex);
  if (!r) return tl::unexpected(r.error());
  return r->action;
}

std::vector<Program::KernelFlow> Program::flows(size_t max) {
  std::vector<KernelFlow> out;
  const int fd = bpf_map__fd(skel_->maps.ftz_flows);
  ftz_xdp_flow_key next{};
  while (out.size() < max) {
    const void* from = flow_cursor_ ? &*flow_cursor_ : nullptr;
    if (bpf_map_get_next_key(fd, from, &next) != 0) {
      flow_cursor_.reset();  // the end: the next call starts over
      break;
    }
    flow_cursor_ = next;
    KernelFlow f;
    f.key = next;
    if (bpf_map_lookup_elem(fd, &next, &f.value) == 0) out.push_back(f);
  }
  return out;
}

std::vector<Program::KernelFlow> Program::take_ended(size_t max) {
  std::vector<KernelFlow> out;
  const int fd = bpf_map__fd(skel_->maps.ftz_ended);
  ftz_xdp_ended_key key{};
  while (out.size() < max && bpf_map_get_next_key(fd, nullptr, &key) == 0) {
    KernelFlow f;
    f.key = key.flow;
    if (bpf_map_lookup_elem(fd, &key, &f.value) == 0) out.push_back(f);
    bpf_map_delete_elem(fd, &key);
  }
  return out;
}

void Program::forget_flow(const ftz_xdp_flow_key& key) noexcept {
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.ftz_flows), &key);
}

tl::expected<Program::Counters, std::string> Program::counters() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return tl::unexpected(error_text("possible CPUs", cpus));
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  Counters out{};
  const int fd = bpf_map__fd(skel_->maps.ftz_counters);
  for (uint32_t i = 0; i < out.size(); ++i) {
    if (const int err = bpf_map_lookup_elem(fd, &i, per_cpu.data()); err != 0) {
      return tl::unexpected(error_text("ftz_counters", err));
    }
    for (const uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

}  // namespace ftz::xdp
