// The XDP verdict program alone, against an empty XDP_PASS program on the
// same frames in the same run (issue 11, §3: "BPF_PROG_TEST_RUN with repeat
// is acceptable for the program-only figure"). Both run in the kernel
// through BPF_PROG_TEST_RUN with `repeat`, which reports the mean time of
// one run; neither transmits (a redirect is only decided), so the figure is
// the program's own cost per packet.
//
//   bench_xdp [REPEAT]   (default 200000 runs per frame)
//   bench_xdp --attach-pass IFNAME
//       attaches the same empty program to IFNAME in skb mode and exits
//       (perf/bench-xdp-pps's baseline on a veth; `ip link set dev IFNAME
//       xdpgeneric off` takes it off)
//
// Frames: 64-byte UDP, 256 flows under examples/lingang.yaml (its full
// mainland prefix lists, both LPM tries): FTZ hosts -> mainland hosts (the
// domestic fast path: forwarded in the kernel, its flow counted in the flow
// map) and mainland hosts -> offshore (an export: to user space; no AF_XDP
// socket here, so the zone pair's fail mode decides). Needs root.

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ftz/config/config.hpp"
#include "ftz/test/packet_builder.hpp"
#include "ftz/xdp/program.hpp"
#include "ftz/xdp/tables.hpp"

namespace {

std::string source_dir() {
  const char* env = std::getenv("FTZ_SOURCE_DIR");
  return env != nullptr ? env : FTZ_DEFAULT_SOURCE_DIR;
}

// Mean ns of one run of `prog_fd` over `frames`, each run `repeat` times.
double mean_ns(int prog_fd, const std::vector<ftz::test::Bytes>& frames, uint32_t repeat) {
  double total = 0;
  for (const auto& f : frames) {
    auto r = ftz::xdp::test_run(prog_fd, f, 1, repeat);
    if (!r) {
      std::fprintf(stderr, "bench_xdp: %s\n", r.error().c_str());
      std::exit(1);
    }
    total += r->mean_ns;
  }
  return total / static_cast<double>(frames.size());
}

ftz::test::Bytes udp64(const std::string& src, const std::string& dst, uint16_t sport) {
  ftz::test::Bytes f =
      ftz::test::PacketBuilder().eth().ipv4(src, dst).udp(sport, 40001).payload("pppppppppppppppppp").build();
  f.resize(60, 0x70);  // 64 bytes on the wire with the FCS
  return f;
}

// An XDP program that passes every frame: the baseline.
int empty_program() {
  const bpf_insn pass[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_PASS},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  const int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_pass", "GPL", pass, 2, nullptr);
  if (fd < 0) {
    std::perror("bench_xdp: loading the empty program");
    std::exit(1);
  }
  return fd;
}

int attach_pass(const char* ifname) {
  const unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    std::fprintf(stderr, "bench_xdp: no interface %s\n", ifname);
    return 1;
  }
  const int fd = empty_program();
  if (const int err = bpf_xdp_attach(static_cast<int>(ifindex), fd, XDP_FLAGS_SKB_MODE, nullptr); err != 0) {
    std::fprintf(stderr, "bench_xdp: attaching to %s: %s\n", ifname, std::strerror(-err));
    return 1;
  }
  close(fd);  // the attachment holds the program
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--attach-pass") return attach_pass(argv[2]);
  const uint32_t repeat = argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 200000;
  auto loaded = ftz::config::load_config(source_dir() + "/examples/lingang.yaml");
  if (!loaded) {
    std::fputs(ftz::config::format_diagnostics(loaded.error()).c_str(), stderr);
    return 1;
  }
  // Hosts of the mainland lists, every 23rd prefix.
  std::vector<std::string> mainland;
  for (const auto& z : loaded->spec.zones) {
    if (z.name != "domestic") continue;
    for (size_t i = 0; i < z.prefixes.size() && mainland.size() < 128; i += 23) {
      if (!z.prefixes[i].v4) continue;
      ftz::engine::IpAddr a = z.prefixes[i].addr;
      a.bytes[15] = static_cast<uint8_t>(a.bytes[15] | 1);
      mainland.push_back(ftz::engine::format_ip(a));
    }
  }
  const auto gen = ftz::engine::PolicyGeneration::build(std::move(loaded->spec), 1);
  auto tables = ftz::xdp::compile_tables(*gen);
  auto program = ftz::xdp::Program::load();
  if (!tables || !program) {
    std::fprintf(stderr, "bench_xdp: %s\n", !tables ? tables.error().c_str() : program.error().c_str());
    return 1;
  }
  if (auto ok = (*program)->install(*tables); !ok || !(*program)->pair_ports(1, 1)) {
    std::fprintf(stderr, "bench_xdp: tables not installed\n");
    return 1;
  }
  const int empty = empty_program();
  std::vector<ftz::test::Bytes> domestic, exports;
  for (size_t i = 0; i < mainland.size(); ++i) {
    const std::string ftz = "10.60." + std::to_string(1 + i % 4) + "." + std::to_string(10 + i);
    domestic.push_back(udp64(ftz, mainland[i], static_cast<uint16_t>(1024 + i)));
    exports.push_back(
        udp64(mainland[i], "203.0.113." + std::to_string(1 + i % 250), static_cast<uint16_t>(1024 + i)));
  }
  // Warm both, then alternate so that drift hits both alike.
  mean_ns(empty, domestic, repeat / 10);
  mean_ns((*program)->prog_fd(), domestic, repeat / 10);
  double e = 0, d = 0, x = 0;
  constexpr int kRounds = 3;
  for (int r = 0; r < kRounds; ++r) {
    e += mean_ns(empty, domestic, repeat);
    d += mean_ns((*program)->prog_fd(), domestic, repeat);
    x += mean_ns((*program)->prog_fd(), exports, repeat);
  }
  e /= kRounds;
  d /= kRounds;
  x /= kRounds;
  close(empty);
  std::printf(
      "bench_xdp: BPF_PROG_TEST_RUN, 60-byte frames (64 on the wire), %zu flows, %u runs each, %d rounds\n",
      domestic.size(), repeat, kRounds);
  std::printf("  empty XDP_PASS program            %7.1f ns a packet  (baseline)\n", e);
  std::printf("  ftz_xdp, FTZ -> mainland (kernel) %7.1f ns a packet  ratio %.2f  goal >= 0.6\n", d, e / d);
  std::printf("  ftz_xdp, mainland -> offshore     %7.1f ns a packet  ratio %.2f  (to user space)\n", x,
              e / x);
  return 0;
}
