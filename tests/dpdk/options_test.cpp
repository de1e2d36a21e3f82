// ftzgate-dp's command line and the EAL arguments it derives.
#include "ftz/dpdk/options.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ftz::dpdk {
namespace {

tl::expected<DpOptions, std::string> parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"ftzgate-dp"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto parsed = parse_dp_args(static_cast<int>(argv.size()), argv.data());
  return parsed;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(DpOptions, ParsesEveryOptionAndPassesEalArgumentsThrough) {
  auto o =
      parse({"--config", "c.yaml", "--eve", "e.json", "--stats", "s.json", "--duration", "2.5", "--workers",
             "2", "--pcap-in", "in.pcap", "--loop", "--", "-l", "0-2", "--vdev", "net_null9"});
  ASSERT_TRUE(o) << o.error();
  EXPECT_EQ(o->config, "c.yaml");
  EXPECT_EQ(o->eve, "e.json");
  EXPECT_EQ(o->stats, "s.json");
  EXPECT_DOUBLE_EQ(o->duration_s, 2.5);
  EXPECT_EQ(o->workers, 2u);
  EXPECT_TRUE(o->loop);
  EXPECT_EQ(o->eal, (std::vector<std::string>{"-l", "0-2", "--vdev", "net_null9"}));
}

TEST(DpOptions, RejectsWithAMessageNamingTheArgument) {
  EXPECT_EQ(parse({}).error(), "--config FILE or --controller unix:PATH is required");
  EXPECT_EQ(parse({"--config", "a.yaml", "--controller", "unix:/x", "--pcap-in", "c.pcap"}).error(),
            "--config and --controller exclude each other");
  // CLI11's wording (issue 9: one argument parser for the tools).
  EXPECT_EQ(parse({"--config", "c", "--frob"}).error(), "The following argument was not expected: --frob");
  EXPECT_EQ(parse({"--config"}).error(), "--config: 1 required TEXT missing");
  EXPECT_EQ(parse({"--config", "c", "--duration", "soon", "--pcap-in", "x"}).error(),
            "--duration: 'soon' is not a non-negative number");
  EXPECT_EQ(parse({"--config", "c", "--duration", "-1", "--pcap-in", "x"}).error(),
            "--duration: '-1' is not a non-negative number");
  EXPECT_EQ(parse({"--config", "c", "--workers", "0", "--pcap-in", "x"}).error(),
            "--workers: Value 0 not in range 1 to 64");
  EXPECT_EQ(parse({"--config", "c", "--workers", "65", "--pcap-in", "x"}).error(),
            "--workers: Value 65 not in range 1 to 64");
  EXPECT_FALSE(parse({"--config", "c", "stray", "--pcap-in", "x"})) << "a positional before -- is not EAL's";
  EXPECT_EQ(parse({"--config", "c", "--loop", "--profile", "p"}).error(), "--loop needs --pcap-in");
  EXPECT_EQ(parse({"--config", "c", "--pcap-out", "d", "--profile", "p"}).error(),
            "--pcap-out needs --pcap-in");
  EXPECT_EQ(parse({"--config", "c"}).error(),
            "give --profile FILE (ports of the appliance) or --pcap-in FILE");
}

TEST(DpOptions, PcapApplianceHasEveryRoleAndWritesOnePcapPerRole) {
  auto o = parse({"--config", "c", "--pcap-in", "/caps/in.pcap", "--pcap-out", "/out"});
  ASSERT_TRUE(o);
  const drivers::HardwareProfile p = pcap_appliance(*o, nullptr, 100);
  ASSERT_EQ(p.ports.size(), 4u);
  EXPECT_EQ(p.ports[0].device, "net_pcap0");
  // A single pass is fed by the main lcore (CaptureReader): the port only transmits.
  EXPECT_EQ(p.ports[0].devargs, "tx_pcap=/out/inside.pcap");
  EXPECT_EQ(p.ports[0].pair, "ge-0/0/1");
  EXPECT_EQ(p.ports[1].devargs, "tx_pcap=/out/outside.pcap");
  EXPECT_EQ(p.ports[1].role, engine::PortRole::kOutside);
  EXPECT_EQ(p.ports[2].devargs, "tx_pcap=/out/channel.pcap");
  EXPECT_EQ(p.ports[2].pair, "ge-0/0/0");  // channel return traffic goes inside
  EXPECT_EQ(p.ports[3].devargs, "tx_pcap=/out/mirror.pcap");
  EXPECT_EQ(p.ports[3].pair, "");
}

TEST(DpOptions, WithoutPcapOutSinksAreNullDevicesAndLoopSizesThePool) {
  auto o = parse({"--config", "c", "--pcap-in", "in.pcap", "--loop"});
  ASSERT_TRUE(o);
  const drivers::HardwareProfile p = pcap_appliance(*o, nullptr, 100'000);
  EXPECT_EQ(p.ports[0].devargs, "rx_pcap=in.pcap,infinite_rx=1");
  EXPECT_EQ(p.ports[1].device, "net_null1");
  EXPECT_EQ(p.ports[1].devargs, "no-rx=1");
  // infinite_rx holds the whole capture in mbufs.
  EXPECT_GE(p.mbufs, 100'000u + 8192u);
  EXPECT_EQ((p.mbufs + 1) & p.mbufs, 0u) << "2^k - 1 mbufs";
}

// A single pass streams the capture: its pool does not grow with the
// capture (a 1 GB capture sized a pool for every packet and failed), only
// with what the workers may hold.
TEST(DpOptions, SinglePassPoolIsSizedForTheWorkersNotTheCapture) {
  auto o = parse({"--config", "c", "--pcap-in", "big.pcap"});
  ASSERT_TRUE(o);
  const drivers::HardwareProfile small = pcap_appliance(*o, nullptr, 1'000);
  const drivers::HardwareProfile big = pcap_appliance(*o, nullptr, 20'000'000);
  EXPECT_EQ(small.mbufs, big.mbufs);
  EXPECT_EQ(big.mbufs, 16383u) << "the default pool holds one worker's 4096 held packets and more";
  EXPECT_EQ(big.ports[0].device, "net_null0") << "no --pcap-out: the inside port is a sink";
  drivers::HardwareProfile sizing;
  sizing.workers = 8;
  const drivers::HardwareProfile eight = pcap_appliance(*o, &sizing, 20'000'000, 4096);
  EXPECT_GE(eight.mbufs, 8u * 4096u + 8192u);
  EXPECT_LT(eight.mbufs, 131072u);
  EXPECT_EQ((eight.mbufs + 1) & eight.mbufs, 0u) << "2^k - 1 mbufs";
}

TEST(DpOptions, HelpIsNoError) {
  for (const char* h : {"--help", "-h"}) {
    auto o = parse({h});
    ASSERT_TRUE(o) << o.error();
    EXPECT_TRUE(o->help);
  }
  auto later = parse({"--config", "c", "--frob", "--help"});
  EXPECT_FALSE(later) << "an unknown argument before --help is still reported";
  auto with = parse({"--config", "c", "--help"});
  ASSERT_TRUE(with);
  EXPECT_TRUE(with->help);
  EXPECT_NE(kDpUsage.find("--help"), std::string::npos);
}

TEST(DpOptions, EalArgumentsAddOnlyWhatTheUserDidNotGive) {
  auto o = parse({"--config", "c", "--pcap-in", "in.pcap"});
  ASSERT_TRUE(o);
  const drivers::HardwareProfile p = pcap_appliance(*o, nullptr, 10);
  const auto a = eal_arguments(*o, p, "ftzgate-dp");
  EXPECT_EQ(a.front(), "ftzgate-dp");
  EXPECT_TRUE(contains(a, "--no-huge"));
  EXPECT_TRUE(contains(a, "--no-pci"));
  EXPECT_TRUE(contains(a, "-m"));
  EXPECT_TRUE(contains(a, "net_null0,no-rx=1"));
  EXPECT_TRUE(contains(a, "net_null3,no-rx=1"));
  EXPECT_TRUE(std::any_of(a.begin(), a.end(),
                          [](const std::string& s) { return s.rfind("--file-prefix=", 0) == 0; }));

  auto user = parse({"--config", "c", "--pcap-in", "in.pcap", "--loop", "--", "-m", "256", "--file-prefix",
                     "mine", "--vdev", "net_pcap0,rx_pcap=other.pcap", "-l", "0-1"});
  ASSERT_TRUE(user);
  const auto b = eal_arguments(*user, pcap_appliance(*user, nullptr, 10), "ftzgate-dp");
  EXPECT_EQ(std::count(b.begin(), b.end(), std::string("-m")), 1);
  EXPECT_FALSE(contains(b, "net_pcap0,rx_pcap=in.pcap,infinite_rx=1"))
      << "the user's --vdev for the device wins";
  EXPECT_TRUE(contains(b, "net_pcap0,rx_pcap=other.pcap"));
  EXPECT_EQ(std::count(b.begin(), b.end(), std::string("-l")), 1);
  EXPECT_FALSE(std::any_of(b.begin(), b.end(),
                           [](const std::string& s) { return s.rfind("--file-prefix=", 0) == 0; }));
}

TEST(DpOptions, ProfileDevicesBecomeVdevOrAllowListArguments) {
  DpOptions o;
  o.config = "c";
  o.profile = "p";
  drivers::HardwareProfile p;
  p.workers = 1;
  drivers::PortProfile in;
  in.name = "ge-0/0/0";
  in.device = "0000:03:00.0";
  drivers::PortProfile out;
  out.name = "ge-0/0/1";
  out.device = "net_tap0";
  out.devargs = "iface=ftz1";
  p.ports = {in, out};
  const auto a = eal_arguments(o, p, "x");
  EXPECT_TRUE(contains(a, "0000:03:00.0"));
  EXPECT_TRUE(contains(a, "net_tap0,iface=ftz1"));
  EXPECT_FALSE(contains(a, "--no-huge")) << "real NICs run on hugepages";

  p.ports[0].device = "net_tap1";  // the lab appliance: virtual devices only
  const auto lab = eal_arguments(o, p, "x");
  EXPECT_TRUE(contains(lab, "--no-huge"));
  EXPECT_TRUE(contains(lab, "--no-pci"));
}

// ftzgate-hostprep reserves what --host-needs prints: EAL's heap for the
// profile as hugepage memory, and the PCI ports for vfio-pci.
TEST(DpOptions, HostNeedsAreTheHeapEalGetsAndThePciPorts) {
  auto o = parse({"--profile", "p.yaml", "--host-needs"});
  ASSERT_TRUE(o) << o.error() << ": --host-needs needs no policy source";
  EXPECT_TRUE(o->host_needs);
  EXPECT_EQ(parse({"--host-needs"}).error(), "--host-needs needs --profile FILE");

  drivers::HardwareProfile p;
  p.workers = 2;
  p.mbufs = 65535;
  drivers::PortProfile in;
  in.device = "0000:03:00.0";
  drivers::PortProfile out;
  out.device = "0000:03:00.1";
  p.ports = {in, out};
  const uint64_t mb = (heap_bytes_needed(p) >> 20) + 1;
  EXPECT_GT(mb, 65535u * 2432 >> 20) << "at least the mbufs themselves";
  EXPECT_EQ(host_needs(p), "hugepage_mb " + std::to_string(mb) + "\npci 0000:03:00.0\npci 0000:03:00.1\n");

  p.ports[0].device = "net_tap0";
  p.ports[1].device = "net_tap1";
  EXPECT_EQ(host_needs(p), "hugepage_mb 0\n") << "virtual devices run without hugepages";
}

}  // namespace
}  // namespace ftz::dpdk
