// ftzgate-xdp: the appliance on the kernel's XDP hook (docs/xdp.md). The
// program (bpf/ftz_xdp.bpf.c) forwards and drops what the header stage
// decides for good, in the driver; everything else reaches this process
// through AF_XDP sockets and is judged by the same engine as ftzgate-dp and
// ftzgate-inspect, then sent on (a copy into the paired port's TX ring),
// held, reset or dropped.
//
// Ports by role: inside, outside, and optionally the approved channel
// (routed exports leave there, rewritten for it; its return traffic comes
// back through user space) and a mirror (copies of what the policy mirrors).
//
// The main thread reads the sockets of every port and hands each frame to
// the engine worker of its flow (--workers N, lanes.hpp: it runs worker 0
// itself); it sends what they decide and writes EVE. The kernel's decisions
// never wait for it.

#include <bpf/libbpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/controller/link_args.hpp"
#include "ftz/controller/restart.hpp"
#include "ftz/drivers/profile.hpp"
#include "ftz/engine/channel.hpp"
#include "ftz/engine/eve.hpp"
#include "ftz/engine/normalize.hpp"
#include "ftz/engine/signatures/database.hpp"
#include "ftz/engine/worker.hpp"
#include "ftz/report/compliance_desk.hpp"
#include "ftz/report/flow_tally.hpp"
#include "ftz/report/output_file.hpp"
#include "ftz/report/summary.hpp"
#include "ftz/service/notify.hpp"
#include "ftz/xdp/program.hpp"
#include "ftz/xdp/records.hpp"
#include "ftz/xdp/tables.hpp"
#include "lanes.hpp"
#include "xsk.hpp"

namespace ftz::xdp {
namespace {

// Lock-free, so a signal handler may store it (static_assert below);
// ControllerLink::first_bundle() waits on it too.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);
volatile std::sig_atomic_t g_reload = 0;
// The run ended because ftzgated asked for a restart: main() executes the
// same command line again once everything is released.
std::atomic<bool> g_restart{false};

extern "C" void on_stop(int) {
  g_stop.store(true);
}
extern "C" void on_hup(int) {
  g_reload = 1;
}
extern "C" void on_usr1(int) {
  report::request_reopen();  // logrotate moved the event file away
}

struct Options {
  std::string config;
  // The policy from ftzgated instead (as ftzgate-dp --controller).
  controller::LinkArgs link{"/var/lib/ftzgate/xdp"};
  // By engine::PortRole: inside, outside[, channel[, mirror]]; "" when a
  // role has no port (a mirror without a channel).
  std::vector<std::string> ports;
  std::string profile;  // a hardware profile names them instead
  std::string mode = "auto";
  std::string eve;
  std::string stats;
  double duration_s = 0;
  uint32_t workers = 0;  // 0: the hardware profile's, else 1
  bool demo_token_key = false;
  std::string pin_dir;  // default: /sys/fs/bpf/ftzgate/INSIDE-OUTSIDE
  bool keep_attached = false;
};

int64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

tl::expected<std::shared_ptr<const engine::PolicyGeneration>, std::string> load_generation(
    const std::string& path, uint64_t number) {
  auto loaded = config::load_config(path);
  if (!loaded)
    return tl::unexpected(config::format_diagnostics(loaded.error()) + path + ": configuration rejected");
  auto db = config::compile_signatures(*loaded);
  if (!db) return tl::unexpected(config::format_diagnostics(db.error()) + path + ": configuration rejected");
  return engine::PolicyGeneration::build_with_signatures(std::move(loaded->spec), number, *db);
}

constexpr uint32_t kNoPort = UINT32_MAX;

// One port: its interface, how the program is attached, its sockets. Ports
// are indexed by their role (engine::PortRole).
struct Port {
  std::string name;
  uint32_t ifindex = 0;
  uint32_t xdp_flags = 0;  // XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE
  bool attached = false;
  uint32_t pair = kNoPort;  // where what it receives is forwarded
  // One per receive queue; the mirror port has one, for sending only.
  std::vector<std::unique_ptr<XskSocket>> sockets;
};

// A channel of the generation as this process sends to it.
struct ChannelOut {
  uint16_t vlan = 0;
  std::array<uint8_t, 6> next_hop{};
  uint32_t port = kNoPort;  // its egress port; kNoPort: not given (--ports)
};

// The interfaces by role, from --ports or from the hardware profile's
// ports (drivers::kernel_interface): inside and outside always, each at most
// once. The profile also names the workers, unless --workers does.
tl::expected<void, std::string> resolve_ports(Options& o) {
  if (o.ports.empty() == o.profile.empty())
    return tl::unexpected(std::string(o.ports.empty()
                                          ? "--ports IN,OUT[,CHANNEL[,MIRROR]] or --profile FILE is required"
                                          : "--ports and --profile exclude each other"));
  std::vector<std::string> names = o.ports;
  if (!o.profile.empty()) {
    auto profile = drivers::load_profile(o.profile);
    if (!profile)
      return tl::unexpected(config::format_diagnostics(profile.error()) + o.profile + ": profile rejected");
    for (const drivers::PortProfile& port : profile->ports) {
      auto ifname = drivers::kernel_interface(port);
      if (!ifname) return tl::unexpected(o.profile + ": " + ifname.error());
      const auto role = static_cast<size_t>(port.role);
      if (names.size() <= role) names.resize(role + 1);
      names[role] = *ifname;
    }
    if (o.workers == 0) o.workers = profile->workers;
  }
  if (names.size() < 2 || names.size() > engine::kPortRoleCount || names[0].empty() || names[1].empty())
    return tl::unexpected(
        std::string("an inside and an outside port are required, a channel and a mirror port may follow"));
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t k = 0; k < i; ++k) {
      if (!names[i].empty() && names[i] == names[k]) return tl::unexpected(names[i] + " is given twice");
    }
  }
  o.ports = std::move(names);
  if (o.workers == 0) o.workers = 1;
  if (o.workers > Lanes::kMaxWorkers)
    return tl::unexpected("at most " + std::to_string(Lanes::kMaxWorkers) + " workers");
  return {};
}

const char* mode_name(uint32_t flags) {
  return (flags & XDP_FLAGS_DRV_MODE) != 0 ? "native" : "skb";
}

// An ethtool query of `ifname` in this process's network namespace (sysfs
// shows the namespace it was mounted in, which need not be ours); false
// when the driver does not answer it.
template <class Request>
bool ethtool(const std::string& ifname, Request& request) {
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
  ifr.ifr_data = reinterpret_cast<char*>(&request);
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const bool answered = fd >= 0 && ioctl(fd, SIOCETHTOOL, &ifr) == 0;
  if (fd >= 0) close(fd);
  return answered;
}

// The receive queues in use (rx-only plus combined channels); a socket is
// bound to each. A queue without one would hand its frames to nobody
// ("away": the fail mode decides), so the count must be exact. A driver
// without channel counts has one queue.
uint32_t rx_queues(const std::string& ifname) {
  ethtool_channels channels{};
  channels.cmd = ETHTOOL_GCHANNELS;
  if (!ethtool(ifname, channels)) return 1;
  return std::max<uint32_t>(1, channels.rx_count + channels.combined_count);
}

// auto: native on a device with a driver of its own (a NIC), skb mode on
// virtual ones: native redirect into a veth needs NAPI on its far peer,
// which a bump in the wire does not control.
uint32_t mode_flags(const std::string& mode, const std::string& ifname) {
  if (mode == "native") return XDP_FLAGS_DRV_MODE;
  if (mode == "skb") return XDP_FLAGS_SKB_MODE;
  // A device on a bus (a NIC) names it; virtual ones do not.
  ethtool_drvinfo info{};
  info.cmd = ETHTOOL_GDRVINFO;
  return ethtool(ifname, info) && info.bus_info[0] != '\0' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

// Token of a received frame: port, socket, UMEM address.
uint64_t token_of(uint32_t port, uint32_t socket, uint64_t addr) {
  return (uint64_t{port} << 56) | (uint64_t{socket} << 40) | addr;
}

class Appliance {
 public:
  // `ports` stay the caller's (it detaches the program from them).
  Appliance(Options o, std::unique_ptr<Program> program, std::vector<Port>& ports,
            std::shared_ptr<const engine::PolicyGeneration> gen, std::unique_ptr<report::ComplianceDesk> desk,
            std::unique_ptr<report::OutputFile> eve)
      : options_(std::move(o)),
        program_(std::move(program)),
        ports_(ports),
        gen_(std::move(gen)),
        desk_(std::move(desk)),
        eve_(std::move(eve)),
        lanes_(options_.workers, [this](uint32_t w) {
          return std::make_unique<engine::Worker>(gen_, engine::LinkType::kEthernet, worker_options(w));
        }) {
    adopt_channels();
  }

  // Under a controller: `first` (generation 1 here) is applied; the count
  // is ftzgated's from now on, alerts go to its `show alerts`, and every
  // later bundle is applied between two bursts.
  void attach_controller(std::unique_ptr<controller::ControllerLink> link, const controller::Incoming& first);

  // Until SIGINT/SIGTERM or --duration; false when an output failed.
  bool run();

 private:
  [[nodiscard]] engine::WorkerOptions worker_options(uint32_t w) const {
    engine::WorkerOptions base;
    base.checksum_default = engine::ChecksumMode::kOn;  // inline
    return desk_->worker_options(w, base);
  }
  XskSocket& socket_of(uint64_t token) { return *ports_[token >> 56].sockets[(token >> 40) & 0xffff]; }
  static uint64_t addr_of(uint64_t token) { return token & ((uint64_t{1} << 40) - 1); }
  void drop_path(engine::PathDrop why) { ++path_drops_[static_cast<size_t>(why)]; }
  void adopt_channels();
  // Reads the sockets while every worker has room; how many frames it read.
  uint32_t receive();
  // Return traffic from a channel: its tag off (engine::strip_channel_vlan),
  // as ftzgate-dp does, so that both directions are one flow.
  void strip_channel_tags(uint32_t port, uint32_t queue, std::span<XskSocket::Frame> frames);
  void mirror(std::span<const uint8_t> frame);
  // The route action: the frame rewritten for the channel, on its port.
  void route(std::span<const uint8_t> bytes, uint32_t channel);
  // One round of the workers (Lanes::judge), then what they decided.
  void process(int64_t now);
  // What worker w decided this round, in order.
  void act_on(uint32_t w);
  void act_released(uint32_t w);
  // Lets time pass in every worker (timeouts end flows, release what they held).
  void advance_time(int64_t now);
  void act(uint64_t token, engine::Disposition d, const engine::Verdict& v, const engine::PayloadTrim& trim);
  void send_resets(const engine::ResetPair& pair, uint32_t in);
  void drain_events();
  // Every worker's compliance records to the ledger, its notices to EVE.
  void harvest(int64_t now, bool stopped);
  // Writes the records of the flows the kernel decided that are over (all
  // of them with `all`: at the end) and forgets them.
  void reap_kernel_flows(bool all);
  void write_kernel_record(const Program::KernelFlow& f, int64_t wall_minus_mono, engine::FlowEndReason why);
  // The next generation: from the configuration file (SIGHUP) or from the
  // bundle in applying_.
  void start_reload();
  void finish_reload();
  void publish_stats();
  bool write_stats(double elapsed_s);

  Options options_;
  std::unique_ptr<Program> program_;
  std::vector<Port>& ports_;
  std::shared_ptr<const engine::PolicyGeneration> gen_;
  std::unique_ptr<report::ComplianceDesk> desk_;
  std::unique_ptr<report::OutputFile> eve_;
  Lanes lanes_;
  struct Prepared {
    std::shared_ptr<const engine::PolicyGeneration> gen;
    std::vector<std::unique_ptr<engine::sig::Scanner>> scanners;  // by worker
  };
  std::future<tl::expected<Prepared, std::string>> reload_;
  uint64_t next_number_ = 2;
  std::unique_ptr<controller::ControllerLink> link_;
  std::optional<controller::Incoming> applying_;  // the bundle reload_ builds
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  std::array<XskSocket::Frame, engine::kBurstSize> frames_{};
  std::array<uint64_t, engine::kPathDropCount> path_drops_{};
  std::vector<ChannelOut> channels_;  // by the generation's channel index
  uint64_t resets_sent_ = 0;
  uint64_t routed_ = 0;
  uint64_t mirrored_ = 0;
  uint64_t mirror_not_sent_ = 0;  // no mirror port given
  uint64_t channel_vlan_stripped_ = 0;
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
  uint64_t events_ = 0;
  report::FlowTally tally_;  // ended flows by zone pair and rule name (the kernel's too)
  uint64_t kernel_records_ = 0;
  std::string line_;
};

void Appliance::adopt_channels() {
  channels_.clear();
  for (const engine::ChannelSpec& c : gen_->spec().channels) {
    const auto role = static_cast<uint32_t>(c.egress_role);
    const bool given =
        role < ports_.size() && !ports_[role].name.empty() && c.egress_role != engine::PortRole::kMirror;
    channels_.push_back(ChannelOut{c.vlan, c.next_hop_mac, given ? role : kNoPort});
  }
}

void Appliance::strip_channel_tags(uint32_t port, uint32_t queue, std::span<XskSocket::Frame> frames) {
  XskSocket& socket = *ports_[port].sockets[queue];
  for (XskSocket::Frame& f : frames) {
    for (const ChannelOut& c : channels_) {
      if (c.port != port) continue;
      const uint32_t removed = engine::strip_channel_vlan(socket.frame(f.addr), c.vlan);
      if (removed == 0) continue;
      f.addr += removed;
      f.data += removed;
      f.len -= removed;
      ++channel_vlan_stripped_;
      break;
    }
  }
}

uint32_t Appliance::receive() {
  uint32_t n = 0;
  for (uint32_t p = 0; p < ports_.size(); ++p) {
    for (uint32_t q = 0; q < ports_[p].sockets.size(); ++q) {
      const uint32_t room = std::min<uint32_t>(lanes_.room(), engine::kBurstSize);
      if (room == 0) return n;
      const std::span<XskSocket::Frame> got =
          std::span(frames_).first(ports_[p].sockets[q]->receive(std::span(frames_).first(room)));
      strip_channel_tags(p, q, got);
      for (const XskSocket::Frame& f : got)
        lanes_.add(engine::PacketView{f.data, f.len, f.len, 0, token_of(p, q, f.addr), 0});
      n += static_cast<uint32_t>(got.size());
    }
  }
  return n;
}

void Appliance::process(int64_t now) {
  lanes_.judge(now);
  for (uint32_t w = 0; w < lanes_.size(); ++w) act_on(w);
}

void Appliance::act_on(uint32_t w) {
  const engine::Worker& worker = lanes_.worker(w);
  const std::span<const engine::PacketView> views = lanes_.batch(w);
  const std::span<const engine::PacketResult> results = lanes_.results(w);
  // Held packets a packet released go out right before it (engine::Release::before).
  const auto released = worker.released();
  size_t next = 0;
  for (uint32_t i = 0; i < views.size(); ++i) {
    for (; next < released.size() && released[next].before <= i; ++next) {
      act(released[next].token, released[next].disposition, released[next].verdict, released[next].trim);
    }
    const engine::PacketResult& r = results[i];
    const uint64_t token = views[i].token;
    if (r.send_resets) send_resets(worker.resets()[r.reset_index], static_cast<uint32_t>(token >> 56));
    if (r.disposition != engine::Disposition::kHold) act(token, r.disposition, r.verdict, r.trim);
  }
  for (; next < released.size(); ++next) {
    act(released[next].token, released[next].disposition, released[next].verdict, released[next].trim);
  }
}

void Appliance::act_released(uint32_t w) {
  for (const engine::Release& r : lanes_.worker(w).released()) act(r.token, r.disposition, r.verdict, r.trim);
}

void Appliance::advance_time(int64_t now) {
  for (uint32_t w = 0; w < lanes_.size(); ++w) {
    lanes_.worker(w).advance_time(now);
    act_released(w);
  }
}

void Appliance::act(uint64_t token, engine::Disposition d, const engine::Verdict& v,
                    const engine::PayloadTrim& trim) {
  XskSocket& socket = socket_of(token);
  const uint64_t addr = addr_of(token);
  if (d != engine::Disposition::kDrop) {
    const auto in = static_cast<uint32_t>(token >> 56);
    std::span<uint8_t> frame = socket.frame(addr);
    std::span<const uint8_t> bytes = frame;
    bool send = true;
    if (v.mirror) mirror(frame);
    if (trim.any()) {
      // Bytes an inspected flow's receiver must not get uninspected: cut
      // off in place (docs/decisions/0003).
      const engine::FrameSpan fs = engine::apply_trim(engine::LinkType::kEthernet, frame.data(),
                                                      static_cast<uint32_t>(frame.size()), trim);
      if (fs.len == 0) {
        drop_path(engine::PathDrop::kTrimFailed);
        send = false;
      } else {
        bytes = frame.subspan(fs.offset, fs.len);
      }
    }
    // Route applies to exports: packets entering on the inside port.
    // Replies come back through the channel's port, whose pair is inside.
    if (send && v.action == engine::Action::kRoute &&
        in == static_cast<uint32_t>(engine::PortRole::kInside)) {
      route(bytes, v.channel);
    } else if (send && ports_[in].pair == kNoPort) {
      drop_path(engine::PathDrop::kNoEgress);
    } else if (send && !ports_[ports_[in].pair].sockets[0]->transmit(bytes)) {
      drop_path(engine::PathDrop::kTxDropped);
    }
  }
  socket.recycle(addr);
}

void Appliance::mirror(std::span<const uint8_t> frame) {
  // The mirror gets the frame as it arrived, before any rewrite.
  constexpr auto kMirror = static_cast<uint32_t>(engine::PortRole::kMirror);
  if (ports_.size() <= kMirror || ports_[kMirror].sockets.empty()) {
    ++mirror_not_sent_;
  } else if (ports_[kMirror].sockets[0]->transmit(frame)) {
    ++mirrored_;
  } else {
    drop_path(engine::PathDrop::kMirrorNoMbuf);
  }
}

void Appliance::route(std::span<const uint8_t> bytes, uint32_t channel) {
  // Without the channel's port, or a frame that cannot carry the rewrite,
  // the export does not leave the ordinary way either (fail closed).
  engine::ChannelHeader h;
  if (channel >= channels_.size() || channels_[channel].port == kNoPort ||
      !engine::channel_header(bytes, channels_[channel].vlan, channels_[channel].next_hop, h)) {
    drop_path(engine::PathDrop::kRouteFailed);
    return;
  }
  if (ports_[channels_[channel].port].sockets[0]->transmit(std::span<const uint8_t>(h.bytes.data(), h.len),
                                                           bytes.subspan(h.replaces))) {
    ++routed_;
  } else {
    drop_path(engine::PathDrop::kTxDropped);
  }
}

void Appliance::send_resets(const engine::ResetPair& pair, uint32_t in) {
  for (uint32_t i = 0; i < pair.count; ++i) {
    const engine::ResetFrame& f = pair.frame[i];
    // Towards the sender: back out of the port it came in on; towards the
    // receiver: where the packet was going.
    const uint32_t port = f.to_packet_source ? in : ports_[in].pair;
    if (port == kNoPort) continue;
    if (ports_[port].sockets[0]->transmit(std::span<const uint8_t>(f.bytes.data(), f.len)))
      ++resets_sent_;
    else
      drop_path(engine::PathDrop::kTxDropped);
  }
}

void Appliance::drain_events() {
  for (uint32_t w = 0; w < lanes_.size(); ++w) {
    engine::EventQueue& q = lanes_.worker(w).events();
    while (const engine::Event* e = q.front()) {
      tally_.count(*e, *gen_);
      if (eve_) {
        line_.clear();
        engine::format_eve(*e, *gen_, line_);
        line_.push_back('\n');
        eve_->write(line_);
      }
      if (link_ && e->type == engine::EventType::kAlert) link_->post_alert(*e, *gen_);
      ++events_;
      q.pop();
    }
  }
}

void Appliance::harvest(int64_t now, bool stopped) {
  // The workers are parked between rounds: their records so far are the
  // ledger's (the desk merges only what quiescent() published).
  for (uint32_t w = 0; w < lanes_.size(); ++w) {
    if (engine::compliance::WorkerAccounting* a = desk_->accounting(w)) a->quiescent();
  }
  for (const report::ComplianceNotice& n : desk_->harvest(now, stopped)) {
    if (eve_) eve_->write(report::format_notice_eve(n) + "\n");
  }
}

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // the program's bpf_ktime_get_coarse_ns()
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void Appliance::write_kernel_record(const Program::KernelFlow& f, int64_t wall_minus_mono,
                                    engine::FlowEndReason why) {
  const engine::Event e = kernel_flow_record(f.key, f.value, *gen_, wall_minus_mono, why);
  tally_.count(e, *gen_);
  if (eve_) {
    line_.clear();
    engine::format_eve(e, *gen_, line_);
    line_.push_back('\n');
    eve_->write(line_);
  }
  ++kernel_records_;
}

void Appliance::reap_kernel_flows(bool all) {
  // The program stamps flows with CLOCK_MONOTONIC_COARSE.
  const int64_t mono = mono_ns();
  const int64_t wall_minus_mono = wall_ns() - mono;
  // A bounded share a second; at the end, every entry (the cursor goes
  // round the map once more at most).
  constexpr size_t kPerPass = 4096;
  // Ended by a reset or a new connection: due now, in the order they come.
  for (std::vector<Program::KernelFlow> ended; !(ended = program_->take_ended(kPerPass)).empty();) {
    for (const Program::KernelFlow& f : ended) {
      write_kernel_record(f, wall_minus_mono, engine::FlowEndReason::kClosed);
    }
    if (!all) break;
  }
  for (int pass = 0; pass < (all ? 1 + FTZ_XDP_MAX_FLOWS / static_cast<int>(kPerPass) : 1); ++pass) {
    const std::vector<Program::KernelFlow> flows = program_->flows(kPerPass);
    for (const Program::KernelFlow& f : flows) {
      if (!all && !kernel_flow_over(f.key, f.value, gen_->spec().limits, static_cast<uint64_t>(mono)))
        continue;
      write_kernel_record(f, wall_minus_mono,
                          all ? engine::FlowEndReason::kShutdown : engine::FlowEndReason::kTimeout);
      program_->forget_flow(f.key);
    }
    if (flows.empty()) break;
  }
}

// The new generation is built off the packet loop (configuration, Hyperscan
// compile, tables into the kernel's idle slot and the flip, the engine's
// scanner): the loop goes on judging under the old one and adopts the new
// one between two bursts.
void Appliance::start_reload() {
  const std::string path = options_.config;
  const uint64_t number = next_number_++;
  std::vector<engine::WorkerOptions> options;
  for (uint32_t w = 0; w < lanes_.size(); ++w) options.push_back(worker_options(w));
  std::shared_ptr<const engine::PolicyGeneration> running = gen_;
  Program* program = program_.get();
  // applying_ is not touched until the build is over (finish_reload).
  bundle::OpenedBundle* opened = applying_ ? &applying_->opened : nullptr;
  reload_ = std::async(std::launch::async, [=]() -> tl::expected<Prepared, std::string> {
    auto next = opened != nullptr ? engine::PolicyGeneration::build_with_signatures(
                                        std::move(opened->config.spec), number, opened->signatures)
                                  : load_generation(path, number);
    if (!next) return tl::unexpected(next.error());
    auto tables = compile_tables(**next);
    if (!tables) return tl::unexpected(tables.error());
    Prepared ready{*next, {}};
    for (const engine::WorkerOptions& wo : options) {
      auto scanner = engine::Worker::make_scanner(**next, wo, running.get());
      if (!scanner) return tl::unexpected(scanner.error());
      ready.scanners.push_back(std::move(*scanner));
    }
    // Last: once the kernel runs the new tables there is no way back.
    if (auto ok = program->install(*tables); !ok) return tl::unexpected(ok.error());
    return ready;
  });
}

void Appliance::finish_reload() {
  auto ready = reload_.get();
  std::optional<controller::Incoming> applied = std::move(applying_);
  applying_.reset();
  if (!ready) {
    // The running generation stays, in the kernel and here.
    std::fprintf(stderr, "ftzgate-xdp: reload refused, generation %llu stays:\n%s\n",
                 static_cast<unsigned long long>(gen_->number()), ready.error().c_str());
    ++reload_failures_;
    if (applied) link_->refused(*applied, ready.error());
    return;
  }
  desk_->register_generation(*ready->gen);
  gen_ = ready->gen;
  adopt_channels();
  // Between rounds: a scanner a worker hands back is no other thread's,
  // and is freed here.
  for (uint32_t w = 0; w < lanes_.size(); ++w)
    (void)lanes_.worker(w).set_generation(gen_, std::move(ready->scanners[w]));
  ++reloads_;
  std::fprintf(stderr, "ftzgate-xdp: generation %llu running\n",
               static_cast<unsigned long long>(gen_->number()));
  if (applied) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                          applied->received);
    std::fprintf(stderr, "ftzgate-xdp: bundle generation %llu applied\n",
                 static_cast<unsigned long long>(applied->opened.generation));
    link_->applied(*applied, static_cast<uint64_t>(us.count()));
  }
}

void Appliance::attach_controller(std::unique_ptr<controller::ControllerLink> link,
                                  const controller::Incoming& first) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                        first.received);
  std::fprintf(stderr, "ftzgate-xdp: bundle generation %llu running (generation 1 here)\n",
               static_cast<unsigned long long>(first.opened.generation));
  link->applied(first, static_cast<uint64_t>(us.count()));
  if (auto outbox = desk_->forward()) link->attach_outbox(std::move(outbox), desk_->key_fingerprint());
  if (auto states = link->take_thresholds()) desk_->set_remote_states(std::move(*states));
  link_ = std::move(link);
}

// What `show dataplanes` shows: the kernel's decisions and the engine's.
void Appliance::publish_stats() {
  controller::Stats s;
  s.uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  std::array<uint64_t, engine::kReasonCount> reasons{};
  for (uint32_t w = 0; w < lanes_.size(); ++w) {
    const engine::WorkerCounters& c = lanes_.worker(w).counters();
    s.packets += c.packets;
    s.bytes += c.bytes;
    s.forwarded += c.forwarded;
    s.dropped += c.dropped;
    s.flows_active += lanes_.worker(w).active_flows();
    s.flows_capacity += lanes_.worker(w).flow_capacity();
    s.scan_states_active += lanes_.worker(w).scan_states_in_use();
    s.scan_states_capacity += lanes_.worker(w).scan_state_capacity();
    s.flows_created += c.flows_created;
    s.alerts += c.alerts;
    s.detections += c.detections;
    for (size_t r = 0; r < engine::kReasonCount; ++r) reasons[r] += c.reasons[r];
  }
  for (size_t r = 0; r < engine::kReasonCount; ++r) {
    if (reasons[r] != 0)
      s.reasons.emplace_back(engine::reason_key(static_cast<engine::Reason>(r)), reasons[r]);
  }
  for (size_t r = 0; r < path_drops_.size(); ++r) {
    if (path_drops_[r] == 0) continue;
    s.dropped += path_drops_[r];
    s.reasons.emplace_back(engine::reason_key(static_cast<engine::PathDrop>(r)), path_drops_[r]);
  }
  if (auto k = program_->counters(); k) {
    const auto at = [&](engine::XdpPath r) { return (*k)[static_cast<size_t>(r)]; };
    const uint64_t forwarded = at(engine::XdpPath::kKernelForwarded) + at(engine::XdpPath::kNonIp) +
                               at(engine::XdpPath::kAwayForwarded);
    const uint64_t dropped = at(engine::XdpPath::kKernelDropped) + at(engine::XdpPath::kAwayDropped) +
                             at(engine::XdpPath::kKernelNoEgress);
    s.packets += forwarded + dropped;
    s.forwarded += forwarded;
    s.dropped += dropped;
    for (size_t r = 0; r < k->size(); ++r) {
      if ((*k)[r] != 0) s.reasons.emplace_back(engine::reason_key(static_cast<engine::XdpPath>(r)), (*k)[r]);
    }
  }
  s.flows = tally_.counts();
  link_->publish_stats(std::move(s));
}

bool Appliance::run() {
  // Said once the engine is built: a supervisor (or a test) that waits for
  // it sends traffic and signals to a loop that runs.
  std::fprintf(stderr, "ftzgate-xdp: generation %llu running\n",
               static_cast<unsigned long long>(gen_->number()));
  const auto start = std::chrono::steady_clock::now();
  auto next_harvest = start + std::chrono::seconds(1);
  service::Notifier systemd;
  systemd.ready("forwarding, generation " + std::to_string(gen_->number()));
  std::vector<pollfd> fds;
  for (const Port& p : ports_) {
    for (const auto& s : p.sockets) fds.push_back(pollfd{s->fd(), POLLIN, 0});
  }
  while (!g_stop.load()) {
    if (link_ && link_->restart_requested()) {
      g_restart.store(true);
      break;
    }
    const auto now_steady = std::chrono::steady_clock::now();
    systemd.alive(now_steady);
    if (options_.duration_s > 0 &&
        std::chrono::duration<double>(now_steady - start).count() >= options_.duration_s)
      break;
    // A SIGHUP during a reload is served after it (the latest file wins).
    if (reload_.valid() && reload_.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      finish_reload();
    if (g_reload != 0 && !reload_.valid()) {
      g_reload = 0;
      if (link_) {
        std::fputs("ftzgate-xdp: SIGHUP ignored: the policy comes from the controller\n", stderr);
      } else {
        start_reload();
      }
    }
    if (link_ && !reload_.valid()) {
      if (std::optional<controller::Incoming> in = link_->take()) {
        applying_ = std::move(in);
        start_reload();
      }
    }
    for (uint32_t w = 0; w < lanes_.size(); ++w) {
      lanes_.worker(w).hand_over_idle();
      (void)lanes_.worker(w).take_retired_scanner();
    }
    receive();
    const int64_t now = wall_ns();
    if (lanes_.waiting()) {
      process(now);
    } else {
      // Nothing waiting: sleep on the sockets, then let time pass in the
      // engine (timeouts end flows, release what they held).
      poll(fds.data(), fds.size(), 10);
      advance_time(wall_ns());
    }
    drain_events();
    for (Port& p : ports_) {
      for (auto& s : p.sockets) s->flush();
    }
    if (now_steady >= next_harvest) {
      if (link_) {
        if (auto states = link_->take_thresholds()) desk_->set_remote_states(std::move(*states));
        publish_stats();
      }
      harvest(now, false);
      reap_kernel_flows(false);
      // What a NOC tails is at most a second old.
      if (eve_) {
        eve_->flush();
        eve_->reopen_if_requested();  // after a log rotation (SIGUSR1)
      }
      next_harvest = now_steady + std::chrono::seconds(1);
    }
  }
  systemd.stopping();
  if (reload_.valid()) finish_reload();
  // What the kernel handed over before the stop is judged too (bounded:
  // the rings hold at most 2,048 frames a socket).
  for (int burst = 0; burst < 1024; ++burst) {
    receive();
    if (!lanes_.waiting()) break;
    process(wall_ns());
    drain_events();
    for (Port& p : ports_) {
      for (auto& s : p.sockets) s->flush();
    }
  }
  // Every flow ends with its record; held frames go by their verdicts.
  const int64_t end = wall_ns();
  for (uint32_t w = 0; w < lanes_.size(); ++w) {
    while (!lanes_.worker(w).finish(end)) {
      act_released(w);
      drain_events();
    }
    act_released(w);
    drain_events();
  }
  for (Port& p : ports_) {
    for (auto& s : p.sockets) s->flush();
  }
  harvest(end, true);
  if (options_.keep_attached) {
    // The program goes on deciding in the kernel (what it leaves to user
    // space follows the fail modes) and its flows wait, pinned, for the
    // next ftzgate-xdp.
    std::fprintf(stderr, "ftzgate-xdp: the program stays attached; its flows and counters stay in %s\n",
                 options_.pin_dir.c_str());
    for (Port& p : ports_) p.attached = false;  // no longer ours to detach
  } else {
    // Nothing is decided in the kernel any more: every flow it decided gets
    // its record, and nothing is left behind.
    for (Port& p : ports_) {
      if (p.attached) Program::detach(p.ifindex, p.xdp_flags);
      p.attached = false;
    }
    reap_kernel_flows(true);
    program_->unpin();
  }
  // The run's last counters, sent to the controller before the link closes.
  if (link_) publish_stats();
  bool ok = write_stats(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (eve_) {
    if (auto closed = eve_->close(); !closed) {
      std::fprintf(stderr, "ftzgate-xdp: %s\n", closed.error().c_str());
      ok = false;
    }
  }
  return ok;
}

// Adds the numbers of `from` into `into`, key by key, objects within objects.
void add_counts(nlohmann::ordered_json& into, const nlohmann::ordered_json& from) {
  if (!into.is_object()) into = nlohmann::ordered_json::object();
  for (const auto& [key, value] : from.items()) {
    if (value.is_object()) {
      add_counts(into[key], value);
    } else if (value.is_number_unsigned()) {
      into[key] = into.value(key, uint64_t{0}) + value.get<uint64_t>();
    }
  }
}

bool Appliance::write_stats(double elapsed_s) {
  nlohmann::ordered_json j;
  j["generation"] = gen_->number();
  j["elapsed_s"] = elapsed_s;
  j["reloads"] = reloads_;
  j["reload_failures"] = reload_failures_;
  nlohmann::ordered_json ports = nlohmann::ordered_json::array();
  for (const Port& p : ports_) {
    if (p.name.empty()) continue;
    nlohmann::ordered_json pj;
    pj["name"] = p.name;
    pj["role"] = drivers::port_role_name(static_cast<engine::PortRole>(&p - ports_.data()));
    pj["mode"] = p.xdp_flags == 0 ? "none" : mode_name(p.xdp_flags);
    uint64_t rx = 0, tx = 0, tx_no_frame = 0, rx_lost = 0;
    for (const auto& s : p.sockets) {
      rx += s->counters().rx;
      tx += s->counters().tx;
      tx_no_frame += s->counters().tx_no_frame + s->counters().tx_too_long;
      rx_lost += s->kernel_drops();
    }
    // What the kernel dropped before this process saw it (a full RX ring,
    // no free frame in the fill ring).
    pj["user_rx_dropped"] = rx_lost;
    pj["queues"] = p.sockets.size();
    pj["user_rx"] = rx;
    nlohmann::ordered_json by_queue = nlohmann::ordered_json::array();
    for (const auto& s : p.sockets) by_queue.push_back(s->counters().rx);
    pj["user_rx_by_queue"] = by_queue;
    pj["user_tx"] = tx;
    pj["user_tx_dropped"] = tx_no_frame;
    ports.push_back(pj);
  }
  j["ports"] = ports;
  nlohmann::ordered_json kernel;
  if (auto c = program_->counters(); c) {
    for (size_t i = 0; i < c->size(); ++i)
      kernel[std::string(engine::reason_key(static_cast<engine::XdpPath>(i)))] = (*c)[i];
  }
  j["xdp"] = kernel;
  nlohmann::ordered_json path;
  for (size_t i = 0; i < path_drops_.size(); ++i) {
    path[std::string(engine::reason_key(static_cast<engine::PathDrop>(i)))] = path_drops_[i];
  }
  j["path"] = path;
  j["resets_sent"] = resets_sent_;
  j["routed"] = routed_;
  j["mirrored"] = mirrored_;
  j["mirror_not_sent"] = mirror_not_sent_;
  j["channel_vlan_stripped"] = channel_vlan_stripped_;
  j["kernel_flow_records"] = kernel_records_;
  // Every worker's, and their sum.
  nlohmann::ordered_json eng;
  nlohmann::ordered_json workers = nlohmann::ordered_json::array();
  for (uint32_t w = 0; w < lanes_.size(); ++w) {
    const engine::WorkerCounters& wc = lanes_.worker(w).counters();
    nlohmann::ordered_json one;
    one["packets"] = wc.packets;
    one["bytes"] = wc.bytes;
    one["verdicts"] = report::verdicts_json(wc);
    one["reasons"] = report::reasons_json(wc);
    one["records"] = report::records_json(wc, lanes_.worker(w).record_backlog());
    add_counts(eng, one);
    workers.push_back(std::move(one));
  }
  eng["events"] = events_;
  eng["workers"] = std::move(workers);
  j["engine"] = eng;
  // As ftzgate-dp reports its event file (docs/dpdk.md "Write errors").
  if (eve_) eve_->flush();
  j["outputs"] = {{"eve", options_.eve},
                  {"eve_write_errors", eve_ ? eve_->write_errors() : uint64_t{0}},
                  {"eve_lines_lost", eve_ ? eve_->lines_lost() : uint64_t{0}},
                  {"eve_error", eve_ ? eve_->error() : std::string()}};
  if (options_.stats.empty()) return true;
  auto out = report::OutputFile::open(options_.stats);
  if (!out) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", out.error().c_str());
    return false;
  }
  (*out)->write(j.dump(2) + "\n");
  if (auto closed = (*out)->close(); !closed) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", closed.error().c_str());
    return false;
  }
  return true;
}

const std::string kUsage =
    "usage: ftzgate-xdp (--config FILE | --controller unix:PATH|HOST:PORT [controller options])\n"
    "                   (--ports IF_INSIDE,IF_OUTSIDE[,IF_CHANNEL[,IF_MIRROR]] | --profile FILE)\n"
    "                   [--mode auto|native|skb] [--workers N]\n"
    "                   [--eve FILE] [--stats FILE] [--duration SECONDS] [--demo-token-key]\n"
    "                   [--pin-dir DIR] [--keep-attached]\n"
    "  --config FILE     operator configuration (YAML); SIGHUP re-reads it\n" +
    controller::link_usage(Options{}.link.link.state_dir) +

    "  --ports IN,OUT[,CHANNEL[,MIRROR]]\n"
    "                    the inside and the outside interface (a bump in the wire between them),\n"
    "                    the approved channel's (routed exports) and the mirror's (copies; an empty\n"
    "                    CHANNEL when there is none)\n"
    "  --profile FILE    a hardware profile (drivers/profiles/*.yaml) names the ports instead: a\n"
    "                    vdev's iface=NAME, or the kernel's interface of a PCI device\n"
    "  --mode M          how the program is attached: native (in the driver), skb (generic),\n"
    "                    auto (default: native on NICs, skb on virtual interfaces)\n"
    "  --workers N       engine threads; each flow, both ways, goes to one of them (default: the\n"
    "                    profile's, else 1)\n"
    "  --eve FILE        write events as EVE JSON lines; SIGUSR1 reopens it (log rotation)\n"
    "  --stats FILE      write kernel, AF_XDP and engine statistics as JSON on exit\n"
    "  --duration S      stop after S seconds (SIGINT/SIGTERM also stop cleanly)\n"
    "  --demo-token-key  use the published demo token key of the examples (demos and tests only)\n"
    "  --pin-dir DIR     where the flows the kernel decided and the counters are pinned, for the\n"
    "                    next ftzgate-xdp (default /sys/fs/bpf/ftzgate/INSIDE-OUTSIDE)\n"
    "  --keep-attached   on SIGINT/SIGTERM leave the program attached: flows decided in the kernel\n"
    "                    keep flowing until the next ftzgate-xdp replaces it (in one step)\n"
    "  -h, --help        print this help and exit\n"
    "exit status: 0 clean stop, 1 interfaces, BPF or an output not written, 2 arguments or configuration\n";

int main_xdp(int argc, char** argv) {
  Options o;
  CLI::App app("ftzgate-xdp");
  app.set_help_flag();
  bool help = false;
  app.add_flag("-h,--help", help);
  app.add_option("--config", o.config);
  controller::add_link_options(app, o.link);
  // Split here, not by CLI11, which drops an empty item (no channel).
  std::string ports_text;
  app.add_option("--ports", ports_text);
  app.add_option("--profile", o.profile);
  app.add_option("--mode", o.mode)->check(CLI::IsMember({"auto", "native", "skb"}));
  app.add_option("--eve", o.eve);
  app.add_option("--stats", o.stats);
  app.add_option("--duration", o.duration_s)->check(controller::non_negative_seconds());
  app.add_option("--workers", o.workers)->check(CLI::Range(1u, Lanes::kMaxWorkers));
  app.add_flag("--demo-token-key", o.demo_token_key);
  app.add_option("--pin-dir", o.pin_dir);
  app.add_flag("--keep-attached", o.keep_attached);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n%s", e.what(), kUsage.c_str());
    return 2;
  }
  if (help) {
    std::fputs(kUsage.c_str(), stdout);
    return 0;
  }
  if (auto cpu = engine::sig::host_cpu_supported(); !cpu) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", cpu.error().c_str());
    return 2;
  }
  for (size_t at = 0; !ports_text.empty();) {
    const size_t comma = ports_text.find(',', at);
    o.ports.push_back(ports_text.substr(at, comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (std::string why = controller::check_policy_source(o.config, o.link); !why.empty()) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n%s", why.c_str(), kUsage.c_str());
    return 2;
  }
  if (auto ok = resolve_ports(o); !ok) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n%s", ok.error().c_str(), kUsage.c_str());
    return 2;
  }
  if (o.pin_dir.empty()) o.pin_dir = "/sys/fs/bpf/ftzgate/" + o.ports[0] + "-" + o.ports[1];
  if (auto ok = report::check_outputs({{"--config", o.config}}, {{"--eve", o.eve}, {"--stats", o.stats}});
      !ok) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", ok.error().c_str());
    return 2;
  }
  std::signal(SIGINT, on_stop);
  std::signal(SIGTERM, on_stop);
  std::signal(SIGHUP, on_hup);
  std::signal(SIGUSR1, on_usr1);
  // The policy: a signed bundle from the controller, else the file.
  std::unique_ptr<controller::ControllerLink> link;
  std::optional<controller::Incoming> first_bundle;
  std::string policy = o.config;  // names the policy in messages
  tl::expected<std::shared_ptr<const engine::PolicyGeneration>, std::string> gen;
  if (!o.link.link.target.empty()) {
    auto created = controller::ControllerLink::create(o.link.link);
    if (!created) {
      std::fprintf(stderr, "ftzgate-xdp: %s\n", created.error().c_str());
      return 2;
    }
    link = std::move(*created);
    // Nothing is attached until a bundle opens.
    first_bundle = link->first_bundle(
        g_stop, std::chrono::milliseconds(static_cast<int64_t>(o.link.headless_after_s * 1000)));
    if (!first_bundle) {
      std::fputs("ftzgate-xdp: stopped before any bundle arrived\n", stderr);
      return 1;
    }
    policy = "bundle generation " + std::to_string(first_bundle->opened.generation);
    gen = engine::PolicyGeneration::build_with_signatures(std::move(first_bundle->opened.config.spec), 1,
                                                          first_bundle->opened.signatures);
  } else {
    gen = load_generation(o.config, 1);
  }
  if (!gen) {
    std::fprintf(stderr, "%s\n", gen.error().c_str());
    if (link) link->refused(*first_bundle, gen.error());
    return 2;
  }
  auto tables = compile_tables(**gen);
  if (!tables) {
    std::fprintf(stderr, "ftzgate-xdp: %s: %s\n", policy.c_str(), tables.error().c_str());
    if (link) link->refused(*first_bundle, tables.error());
    return 2;
  }
  auto desk = report::ComplianceDesk::create(**gen, o.workers, o.demo_token_key);
  if (!desk) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", desk.error().c_str());
    return 2;
  }
  for (const std::string& note : (*desk)->key_notes())
    std::fprintf(stderr, "ftzgate-xdp: %s\n", note.c_str());
  std::unique_ptr<report::OutputFile> eve;
  if (!o.eve.empty()) {
    // After a restart in place the file goes on (what the last run wrote stays).
    auto f = report::OutputFile::open(o.eve, true, controller::restarted());
    if (!f) {
      std::fprintf(stderr, "ftzgate-xdp: %s\n", f.error().c_str());
      return 1;
    }
    eve = std::move(*f);
  }

  auto program = Program::load(o.pin_dir);
  if (!program) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", program.error().c_str());
    return 1;
  }
  if (auto ok = (*program)->install(*tables); !ok) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", ok.error().c_str());
    return 1;
  }
  constexpr auto kInside = static_cast<uint32_t>(engine::PortRole::kInside);
  constexpr auto kOutside = static_cast<uint32_t>(engine::PortRole::kOutside);
  constexpr auto kChannel = static_cast<uint32_t>(engine::PortRole::kChannel);
  constexpr auto kMirror = static_cast<uint32_t>(engine::PortRole::kMirror);
  std::vector<Port> ports(o.ports.size());
  for (uint32_t i = 0; i < ports.size(); ++i) {
    if (o.ports[i].empty()) continue;  // no port in this role
    ports[i].name = o.ports[i];
    ports[i].ifindex = if_nametoindex(o.ports[i].c_str());
    // What comes back from the channel goes inside; the mirror only sends.
    ports[i].pair = i == kInside ? kOutside : i == kMirror ? kNoPort : kInside;
    if (ports[i].ifindex == 0) {
      std::fprintf(stderr, "ftzgate-xdp: %s: no such interface\n", o.ports[i].c_str());
      return 1;
    }
  }
  // Detached again however this ends early (an exception, an error); a
  // clean stop detaches in Appliance::run(), unless --keep-attached.
  struct Detach {
    std::vector<Port>* ports;
    ~Detach() {
      for (Port& p : *ports) {
        p.sockets.clear();
        if (p.attached) Program::detach(p.ifindex, p.xdp_flags);
      }
    }
  } detach{&ports};
  for (uint32_t i = 0; i < ports.size(); ++i) {
    Port& p = ports[i];
    if (p.name.empty()) continue;
    if (i == kMirror) {
      // Copies only: a socket to send with, no program (what arrives there
      // is the kernel's).
      auto s = XskSocket::open(p.name, 0, XDP_FLAGS_SKB_MODE);
      if (!s) {
        std::fprintf(stderr, "ftzgate-xdp: %s\n", s.error().c_str());
        return 1;
      }
      p.sockets.push_back(std::move(*s));
      std::fprintf(stderr, "ftzgate-xdp: %s: mirror, sending only\n", p.name.c_str());
      continue;
    }
    if (auto ok = (*program)->pair_ports(p.ifindex, ports[p.pair].ifindex); !ok) {
      std::fprintf(stderr, "ftzgate-xdp: %s\n", ok.error().c_str());
      return 1;
    }
    if (auto ok = (*program)->set_port_slot(p.ifindex, i); !ok) {
      std::fprintf(stderr, "ftzgate-xdp: %s\n", ok.error().c_str());
      return 1;
    }
    const Program::Entry entry = i == kChannel ? Program::Entry::kChannel : Program::Entry::kVerdict;
    p.xdp_flags = mode_flags(o.mode, p.name);
    auto attached = (*program)->attach(p.ifindex, p.xdp_flags, entry);
    if (!attached && o.mode == "auto" && p.xdp_flags == XDP_FLAGS_DRV_MODE) {
      p.xdp_flags = XDP_FLAGS_SKB_MODE;  // the driver has no XDP of its own
      attached = (*program)->attach(p.ifindex, p.xdp_flags, entry);
    }
    if (!attached) {
      std::fprintf(stderr, "ftzgate-xdp: %s (%s mode): %s\n", p.name.c_str(), mode_name(p.xdp_flags),
                   attached.error().c_str());
      return 1;
    }
    p.attached = true;
    for (uint32_t q = 0; q < rx_queues(p.name); ++q) {
      auto s = XskSocket::open(p.name, q, p.xdp_flags);
      if (!s) {
        std::fprintf(stderr, "ftzgate-xdp: %s\n", s.error().c_str());
        return 1;
      }
      if (auto ok = (*program)->bind_socket(i, q, (*s)->fd()); !ok) {
        std::fprintf(stderr, "ftzgate-xdp: %s\n", ok.error().c_str());
        return 1;
      }
      p.sockets.push_back(std::move(*s));
    }
    std::fprintf(stderr, "ftzgate-xdp: %s: %s mode, %zu queue(s)\n", p.name.c_str(), mode_name(p.xdp_flags),
                 p.sockets.size());
  }
  Appliance appliance(o, std::move(*program), ports, *gen, std::move(*desk), std::move(eve));
  if (link) appliance.attach_controller(std::move(link), *first_bundle);
  return appliance.run() ? 0 : 1;
}

}  // namespace
}  // namespace ftz::xdp

int main(int argc, char** argv) {
  // A last barrier: what escapes (allocation, I/O) ends the run with a
  // message and the error exit status (the program is detached on the way
  // out), not std::terminate.
  try {
    const std::vector<std::string> command = ftz::controller::command_line(argc, argv);
    (void)ftz::controller::restarted();  // taken out of the environment first
    const int rc = ftz::xdp::main_xdp(argc, argv);
    if (!ftz::xdp::g_restart.load() || ftz::xdp::g_stop.load()) return rc;
    if (rc != 0) {
      std::fputs("ftzgate-xdp: not restarting: the run ended with an error (above)\n", stderr);
      return rc;
    }
    std::fprintf(stderr, "ftzgate-xdp: restart failed: %s\n", ftz::controller::reexecute(command).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftzgate-xdp: %s\n", e.what());
    return 1;
  }
}
