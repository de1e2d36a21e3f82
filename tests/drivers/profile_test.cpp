// Hardware profiles: the shipped profiles load, every field round-trips, and
// each rule reports its exact file:line:column and field path. Line numbers
// in comments count from the first line of the YAML text.

#include "ftz/drivers/profile.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ftz::drivers {
namespace {

using engine::PortRole;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

std::filesystem::path source_dir() {
  if (const char* env = std::getenv("FTZ_SOURCE_DIR")) return env;
  return FTZ_TEST_SOURCE_DIR;
}

// The formatted diagnostics of a profile that must be rejected.
std::vector<std::string> errors_of(const std::string& yaml) {
  auto r = load_profile_from_string(yaml, "hw.yaml");
  EXPECT_FALSE(r.has_value()) << "profile unexpectedly loaded";
  std::vector<std::string> out;
  if (r) return out;
  for (const auto& d : r.error()) out.push_back(config::format_diagnostic(d));
  return out;
}

HardwareProfile loaded(const std::string& yaml) {
  auto r = load_profile_from_string(yaml, "hw.yaml");
  EXPECT_TRUE(r.has_value()) << (r ? "" : config::format_diagnostics(r.error()));
  return r ? *r : HardwareProfile{};
}

// A valid profile: lines 1-10. Tests of top-level fields append from line 11.
constexpr const char* kMinimal = R"(profile: t
ports:
  - name: in
    device: net_tap0
    role: inside
    pair: out
  - name: out
    device: net_tap1
    role: outside
    pair: in
)";

std::string minimal_with(const std::string& rest) {
  return std::string(kMinimal) + rest;
}

// "profile: t" then the given ports block (starting at line 2).
std::string with_ports(const std::string& ports) {
  return "profile: t\nports:\n" + ports;
}

// The inside/outside pair (lines 3-10 of with_ports()).
constexpr const char* kPair = R"(  - name: in
    device: net_tap0
    role: inside
    pair: out
  - name: out
    device: net_tap1
    role: outside
    pair: in
)";

// The pair, then more ports from line 11.
std::string with_pair_and(const std::string& more_ports) {
  return with_ports(kPair + more_ports);
}

// ---- Shipped profiles -------------------------------------------------------

std::vector<std::filesystem::path> shipped_profiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() / "drivers" / "profiles")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ProfileShipped, EveryProfileLoads) {
  const auto files = shipped_profiles();
  ASSERT_THAT(files, SizeIs(6));
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    auto r = load_profile(f.string());
    ASSERT_TRUE(r.has_value()) << config::format_diagnostics(r.error());
    EXPECT_EQ(r->name, f.stem().string()) << "a profile is named after its file";
    EXPECT_FALSE(r->description.empty());
    const PortProfile* inside = r->first_with_role(PortRole::kInside);
    const PortProfile* outside = r->first_with_role(PortRole::kOutside);
    ASSERT_NE(inside, nullptr);
    ASSERT_NE(outside, nullptr);
    EXPECT_EQ(inside->pair, outside->name);
    EXPECT_EQ(outside->pair, inside->name);
  }
}

TEST(ProfileShipped, HardwareExamplesSayPmdBindingRssAndUntested) {
  for (const auto& f : shipped_profiles()) {
    if (f.stem() == "lab-vdev") continue;
    SCOPED_TRACE(f.string());
    std::ifstream in(f);
    std::ostringstream text_stream;
    text_stream << in.rdbuf();
    const std::string text = text_stream.str();
    EXPECT_THAT(text, HasSubstr("UNTESTED on real hardware"));
    EXPECT_THAT(text, HasSubstr("PMD: net_"));
    EXPECT_THAT(text, HasSubstr("Binding:"));
    EXPECT_THAT(text, HasSubstr("RSS:"));
  }
}

TEST(ProfileShipped, LabVdevIsFourTapPorts) {
  auto r = load_profile((source_dir() / "drivers/profiles/lab-vdev.yaml").string());
  ASSERT_TRUE(r.has_value()) << config::format_diagnostics(r.error());
  ASSERT_THAT(r->ports, SizeIs(4));
  const PortRole roles[] = {PortRole::kInside, PortRole::kOutside, PortRole::kChannel, PortRole::kMirror};
  const char* pairs[] = {"ge-0/0/1", "ge-0/0/0", "ge-0/0/0", ""};
  for (std::size_t i = 0; i < 4; ++i) {
    const PortProfile& p = r->ports[i];
    const std::string n = std::to_string(i);
    EXPECT_EQ(p.name, "ge-0/0/" + n);
    EXPECT_EQ(p.device, "net_tap" + n);
    EXPECT_EQ(p.devargs, "iface=ftz-ge" + n);
    EXPECT_TRUE(p.is_vdev());
    EXPECT_EQ(p.role, roles[i]);
    EXPECT_EQ(p.pair, pairs[i]);
  }
  EXPECT_EQ(r->offload_rules, 0u) << "net_tap has no working rte_flow on the lab kernel";
  EXPECT_EQ(r->idle_sleep_us, 100u) << "a lab VM's idle worker backs off (adaptive polling)";
}

TEST(ProfileShipped, HardwareProfilesBusyPoll) {
  for (const auto& f : shipped_profiles()) {
    if (f.stem() == "lab-vdev") continue;
    SCOPED_TRACE(f.string());
    auto r = load_profile(f.string());
    ASSERT_TRUE(r.has_value()) << config::format_diagnostics(r.error());
    EXPECT_EQ(r->idle_sleep_us, 0u);
  }
}

// ---- Loading ----------------------------------------------------------------

TEST(ProfileLoad, RoundTripsEveryField) {
  const auto p = loaded(R"(profile: full
description: every field set
workers: 8
mempool: {mbufs: 65535, cache: 512, data_room: 9344}
rings: {events: 8192, distribution: 16384}
tx_drain_us: 250
idle_sleep_us: 50
offload: {drop_rules: 1024}
ports:
  - name: xe-0/0/0
    device: "0000:3B:00.0"
    role: inside
    pair: xe-0/0/1
    queues: {rx: 8, tx: 9}
    descriptors: {rx: 4096, tx: 2048}
  - name: xe-0/0/1
    device: "0000:3b:00.1"
    role: outside
    pair: xe-0/0/0
  - name: ch0
    device: net_pcap0
    devargs: rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap
    role: channel
    pair: xe-0/0/0
  - name: mir
    device: net_af_packet12
    role: mirror
)");
  EXPECT_EQ(p.name, "full");
  EXPECT_EQ(p.description, "every field set");
  EXPECT_EQ(p.workers, 8u);
  EXPECT_EQ(p.mbufs, 65535u);
  EXPECT_EQ(p.mbuf_cache, 512u);
  EXPECT_EQ(p.mbuf_data_room, 9344u);
  EXPECT_EQ(p.event_ring_size, 8192u);
  EXPECT_EQ(p.worker_ring_size, 16384u);
  EXPECT_EQ(p.tx_drain_us, 250u);
  EXPECT_EQ(p.idle_sleep_us, 50u);
  EXPECT_EQ(p.offload_rules, 1024u);
  ASSERT_THAT(p.ports, SizeIs(4));

  const PortProfile& in = p.ports[0];
  EXPECT_EQ(in.name, "xe-0/0/0");
  EXPECT_EQ(in.device, "0000:3b:00.0") << "PCI addresses are lower-cased, as DPDK names them";
  EXPECT_EQ(in.devargs, "");
  EXPECT_FALSE(in.is_vdev());
  EXPECT_EQ(in.role, PortRole::kInside);
  EXPECT_EQ(in.pair, "xe-0/0/1");
  EXPECT_EQ(in.rx_queues, 8);
  EXPECT_EQ(in.tx_queues, 9);
  EXPECT_EQ(in.rx_descriptors, 4096);
  EXPECT_EQ(in.tx_descriptors, 2048);

  const PortProfile& out = p.ports[1];
  EXPECT_EQ(out.role, PortRole::kOutside);
  EXPECT_EQ(out.pair, "xe-0/0/0");
  EXPECT_EQ(out.rx_queues, 0) << "default: one per worker";
  EXPECT_EQ(out.rx_descriptors, 1024);

  const PortProfile& ch = p.ports[2];
  EXPECT_EQ(ch.device, "net_pcap0");
  EXPECT_EQ(ch.devargs, "rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap");
  EXPECT_TRUE(ch.is_vdev());
  EXPECT_EQ(ch.role, PortRole::kChannel);
  EXPECT_EQ(ch.pair, "xe-0/0/0");

  const PortProfile& mir = p.ports[3];
  EXPECT_EQ(mir.device, "net_af_packet12");
  EXPECT_EQ(mir.role, PortRole::kMirror);
  EXPECT_EQ(mir.pair, "");

  EXPECT_EQ(p.find("ch0"), &p.ports[2]);
  EXPECT_EQ(p.find("ch1"), nullptr);
  EXPECT_EQ(p.first_with_role(PortRole::kMirror), &p.ports[3]);
}

TEST(ProfileLoad, DefaultsAreTheDocumentedOnes) {
  const auto p = loaded(kMinimal);
  EXPECT_EQ(p.description, "");
  EXPECT_EQ(p.workers, 1u);
  EXPECT_EQ(p.mbufs, 16383u);
  EXPECT_EQ(p.mbuf_cache, 256u);
  EXPECT_EQ(p.mbuf_data_room, 2176u);
  EXPECT_EQ(p.event_ring_size, 4096u);
  EXPECT_EQ(p.worker_ring_size, 4096u);
  EXPECT_EQ(p.tx_drain_us, 100u);
  EXPECT_EQ(p.idle_sleep_us, 0u) << "busy polling unless a profile asks";
  EXPECT_EQ(p.offload_rules, 4096u);
  ASSERT_THAT(p.ports, SizeIs(2));
  EXPECT_EQ(p.ports[0].rx_queues, 0);
  EXPECT_EQ(p.ports[0].tx_queues, 0);
  EXPECT_EQ(p.ports[0].rx_descriptors, 1024);
  EXPECT_EQ(p.ports[0].tx_descriptors, 1024);
  EXPECT_EQ(p.first_with_role(PortRole::kChannel), nullptr);
}

TEST(ProfileLoad, RangeLimitsAreAccepted) {
  const auto low =
      loaded(minimal_with("workers: 1\nmempool: {mbufs: 1023, cache: 0, data_room: 1024}\n"
                          "rings: {events: 64, distribution: 64}\ntx_drain_us: 1\n"
                          "offload: {drop_rules: 0}\n"));
  EXPECT_EQ(low.mbufs, 1023u);
  EXPECT_EQ(low.offload_rules, 0u);
  const auto high =
      loaded(minimal_with("workers: 64\nmempool: {mbufs: 16777215, cache: 512, data_room: 65535}\n"
                          "rings: {events: 1048576, distribution: 1048576}\n"
                          "tx_drain_us: 100000\nidle_sleep_us: 1000\noffload: {drop_rules: 1048576}\n"));
  EXPECT_EQ(high.workers, 64u);
  EXPECT_EQ(high.mbuf_data_room, 65535u);
  EXPECT_EQ(high.event_ring_size, 1048576u);
  EXPECT_EQ(high.idle_sleep_us, 1000u);
}

TEST(ProfileLoad, RoleNames) {
  EXPECT_EQ(port_role_name(PortRole::kInside), "inside");
  EXPECT_EQ(port_role_name(PortRole::kOutside), "outside");
  EXPECT_EQ(port_role_name(PortRole::kChannel), "channel");
  EXPECT_EQ(port_role_name(PortRole::kMirror), "mirror");
}

class ProfileFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("ftz-profile-test-" + std::to_string(::getpid()) + "-" + info->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  std::filesystem::path dir_;
};

// The XDP path's interface of a port: a vdev's iface= devarg, or the
// kernel's interface of a PCI device (a sysfs tree made here).
TEST_F(ProfileFiles, KernelInterfaceOfAVdevAndOfAPciDevice) {
  PortProfile tap;
  tap.name = "ge-0/0/0";
  tap.device = "net_af_packet0";
  tap.devargs = "qpairs=2,iface=ens1f0,blocksz=4096";
  EXPECT_EQ(kernel_interface(tap, dir_.string()), "ens1f0");
  tap.devargs = "qpairs=2";
  ASSERT_FALSE(kernel_interface(tap, dir_.string()).has_value());
  EXPECT_NE(kernel_interface(tap, dir_.string()).error().find("ge-0/0/0"), std::string::npos);

  PortProfile nic;
  nic.name = "ge-0/0/1";
  nic.device = "0000:03:00.1";
  ASSERT_FALSE(kernel_interface(nic, dir_.string()).has_value()) << "no netdev: bound to vfio-pci";
  EXPECT_NE(kernel_interface(nic, dir_.string()).error().find("vfio-pci"), std::string::npos);
  std::filesystem::create_directories(dir_ / "bus/pci/devices/0000:03:00.1/net/ens1f1");
  EXPECT_EQ(kernel_interface(nic, dir_.string()), "ens1f1");
}

// Against the kernel's own sysfs: every interface in /sys/class/net that a
// PCI device carries (directly, or through virtio-net's virtioN device) is
// what kernel_interface finds for that device's address.
TEST(KernelInterface, FindsEveryPciInterfaceOfThisHost) {
  std::error_code ec;
  int checked = 0;
  for (const auto& netdev : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    std::filesystem::path dev = std::filesystem::canonical(netdev.path() / "device", ec);
    if (ec) continue;  // virtual: no device
    // Up to the PCI device: its name is an address (dddd:bb:dd.f).
    while (!dev.empty() && dev.filename().string().size() != 12) dev = dev.parent_path();
    const std::string address = dev.filename().string();
    if (address.size() != 12 || address[4] != ':' || address[7] != ':' || address[10] != '.') continue;
    PortProfile port;
    port.name = "ge-0/0/0";
    port.device = address;
    const auto found = kernel_interface(port);
    ASSERT_TRUE(found.has_value()) << address << " (" << netdev.path().filename() << "): " << found.error();
    EXPECT_EQ(*found, netdev.path().filename().string()) << address;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no PCI network interface on this host";
}

std::vector<std::string> file_errors(const std::string& path) {
  auto r = load_profile(path);
  EXPECT_FALSE(r.has_value());
  std::vector<std::string> out;
  if (!r) {
    for (const auto& d : r.error()) out.push_back(config::format_diagnostic(d));
  }
  return out;
}

TEST_F(ProfileFiles, LoadsAFileAndNamesItInErrors) {
  EXPECT_TRUE(load_profile(write("ok.yaml", kMinimal)).has_value());
  const std::string bad = write("bad.yaml", minimal_with("workers: 0\n"));
  EXPECT_THAT(file_errors(bad), ElementsAre(bad + ":11:10: workers: 0 is out of range [1, 64]"));
}

TEST_F(ProfileFiles, UnreadableFiles) {
  const std::string missing = (dir_ / "missing.yaml").string();
  EXPECT_THAT(file_errors(missing), ElementsAre(missing + ":0:0: cannot read profile: no such file"));
  EXPECT_THAT(file_errors(dir_.string()),
              ElementsAre(dir_.string() + ":0:0: cannot read profile: not a regular file"));
}

TEST_F(ProfileFiles, SizeCap) {
  // A valid profile padded with a comment past 1 MiB: refused before parsing.
  const std::string text = std::string(kMinimal) + "# " + std::string(kMaxProfileBytes, 'x') + "\n";
  const std::string big = write("big.yaml", text);
  const std::string expected =
      ":1:1: profile is " + std::to_string(text.size()) + " bytes, above the 1 MiB limit";
  EXPECT_THAT(file_errors(big), ElementsAre(big + expected));
  EXPECT_THAT(errors_of(text), ElementsAre("hw.yaml" + expected));
}

// ---- Document-level errors ----------------------------------------------------

TEST(ProfileErrors, Document) {
  EXPECT_THAT(errors_of(""), ElementsAre("hw.yaml:1:1: the profile is empty"));
  EXPECT_THAT(errors_of("# only a comment\n"), ElementsAre("hw.yaml:1:1: the profile is empty"));
  EXPECT_THAT(errors_of("- a\n- b\n"),
              ElementsAre("hw.yaml:1:1: expected a mapping at the top level, got a sequence"));
  EXPECT_THAT(errors_of(std::string(kMinimal) + "---\nprofile: u\n"),
              ElementsAre("hw.yaml:11:1: only one YAML document per profile"));
  EXPECT_THAT(errors_of("profile: [t\n"),
              ElementsAre("hw.yaml:2:1: YAML syntax error: end of sequence flow not found"));
  EXPECT_THAT(errors_of(",\n"), ElementsAre("hw.yaml:1:1: YAML syntax error: unexpected token"));
  EXPECT_THAT(errors_of("profile: " + std::string(10000, '[')),
              ElementsAre("hw.yaml:1:25: nesting deeper than 16 levels"));
}

TEST(ProfileErrors, UnknownKeysWithAndWithoutHint) {
  EXPECT_THAT(errors_of(minimal_with("worker: 2\n"
                                     "mempool: {mbuf: 4095}\n"
                                     "colour: blue\n")),
              ElementsAre("hw.yaml:11:1: unknown key \"worker\" (did you mean \"workers\"?)",
                          "hw.yaml:12:11: mempool: unknown key \"mbuf\" (did you mean \"mbufs\"?)",
                          "hw.yaml:13:1: unknown key \"colour\""));
  EXPECT_THAT(errors_of(with_pair_and("  - name: ch\n"
                                      "    devcie: net_tap2\n"
                                      "    role: channel\n"
                                      "    pair: in\n"
                                      "    descriptors: {rx: 512, txx: 512}\n")),
              ElementsAre("hw.yaml:11:5: ports[2].device: missing required field",
                          "hw.yaml:12:5: ports[2]: unknown key \"devcie\" (did you mean \"device\"?)",
                          "hw.yaml:15:28: ports[2].descriptors: unknown key \"txx\" (did you mean \"tx\"?)"));
}

TEST(ProfileErrors, DuplicateKeys) {
  // yaml-cpp keeps both pairs and would silently use the first.
  EXPECT_THAT(errors_of(minimal_with("workers: 2\n"
                                     "mempool: {mbufs: 4095, mbufs: 8191}\n"
                                     "workers: 4\n")),
              ElementsAre("hw.yaml:12:24: mempool.mbufs: duplicate key \"mbufs\" (first at hw.yaml:12:11)",
                          "hw.yaml:13:1: workers: duplicate key \"workers\" (first at hw.yaml:11:1)"));
}

TEST(ProfileErrors, MissingRequiredFields) {
  EXPECT_THAT(errors_of("description: no profile, no ports\n"),
              ElementsAre("hw.yaml:1:1: profile: missing required field",
                          "hw.yaml:1:1: ports: missing required field"));
  EXPECT_THAT(errors_of(with_pair_and("  - pair: in\n")),
              ElementsAre("hw.yaml:11:5: ports[2].name: missing required field",
                          "hw.yaml:11:5: ports[2].device: missing required field",
                          "hw.yaml:11:5: ports[2].role: missing required field"));
}

TEST(ProfileErrors, WrongTypes) {
  EXPECT_THAT(errors_of(minimal_with("workers: \"4\"\n"
                                     "mempool: 12\n"
                                     "rings: {events: four}\n"
                                     "description: [a, b]\n")),
              ElementsAre("hw.yaml:11:10: workers: expected an integer, got the quoted string \"4\"",
                          "hw.yaml:12:10: mempool: expected a mapping, got \"12\"",
                          "hw.yaml:13:17: rings.events: expected an integer, got \"four\"",
                          "hw.yaml:14:14: description: expected a string, got a sequence"));
  EXPECT_THAT(errors_of("profile: t\nports: {name: in}\n"),
              ElementsAre("hw.yaml:2:8: ports: expected a sequence, got a mapping"));
  EXPECT_THAT(errors_of(with_ports("  - name: {a: b}\n"
                                   "    device: net_tap0\n"
                                   "    role: [inside]\n"
                                   "    pair: out\n"
                                   "  - 7\n")),
              ElementsAre("hw.yaml:3:11: ports[0].name: expected a string, got a mapping",
                          "hw.yaml:5:11: ports[0].role: expected a port role (\"inside\", \"outside\", "
                          "\"channel\" or \"mirror\"), got a sequence",
                          "hw.yaml:7:5: ports[1]: expected a mapping, got \"7\""));
}

// ---- Ranges -------------------------------------------------------------------

TEST(ProfileErrors, NumbersOutOfRange) {
  EXPECT_THAT(errors_of(minimal_with("workers: 65\n"
                                     "mempool: {mbufs: 1000, cache: 513, data_room: 65536}\n"
                                     "rings: {events: 32, distribution: 2097152}\n"
                                     "tx_drain_us: 0\n"
                                     "offload: {drop_rules: 1048577}\n")),
              ElementsAre("hw.yaml:11:10: workers: 65 is out of range [1, 64]",
                          "hw.yaml:12:18: mempool.mbufs: 1000 is out of range [1023, 16777215]",
                          "hw.yaml:12:31: mempool.cache: 513 is out of range [0, 512]",
                          "hw.yaml:12:47: mempool.data_room: 65536 is out of range [1024, 65535]",
                          "hw.yaml:13:17: rings.events: 32 is out of range [64, 1048576]",
                          "hw.yaml:13:35: rings.distribution: 2097152 is out of range [64, 1048576]",
                          "hw.yaml:14:14: tx_drain_us: 0 is out of range [1, 100000]",
                          "hw.yaml:15:23: offload.drop_rules: 1048577 is out of range [0, 1048576]"));
  EXPECT_THAT(errors_of(minimal_with("mempool: {data_room: 1023}\n"
                                     "tx_drain_us: 100001\n"
                                     "workers: -1\n"
                                     "offload: {drop_rules: 99999999999999999999999}\n")),
              ElementsAre("hw.yaml:11:22: mempool.data_room: 1023 is out of range [1024, 65535]",
                          "hw.yaml:12:14: tx_drain_us: 100001 is out of range [1, 100000]",
                          "hw.yaml:13:10: workers: expected an integer, got \"-1\"",
                          "hw.yaml:14:23: offload.drop_rules: 99999999999999999999999 is out of range "
                          "[0, 1048576]"));
}

TEST(ProfileErrors, PowersOfTwo) {
  EXPECT_THAT(errors_of(minimal_with("rings: {events: 5000, distribution: 4095}\n")),
              ElementsAre("hw.yaml:11:17: rings.events: 5000 is not a power of two",
                          "hw.yaml:11:37: rings.distribution: 4095 is not a power of two"));
  EXPECT_THAT(errors_of(with_ports("  - name: in\n"
                                   "    device: net_tap0\n"
                                   "    role: inside\n"
                                   "    pair: out\n"
                                   "    descriptors: {rx: 1000, tx: 32768}\n"
                                   "  - name: out\n"
                                   "    device: net_tap1\n"
                                   "    role: outside\n"
                                   "    pair: in\n"
                                   "    descriptors: {rx: 32}\n")),
              ElementsAre("hw.yaml:7:23: ports[0].descriptors.rx: 1000 is not a power of two",
                          "hw.yaml:7:33: ports[0].descriptors.tx: 32768 is out of range [64, 16384]",
                          "hw.yaml:12:23: ports[1].descriptors.rx: 32 is out of range [64, 16384]"));
}

TEST(ProfileErrors, QueuesPerPort) {
  EXPECT_THAT(errors_of(with_ports("  - name: in\n"
                                   "    device: net_tap0\n"
                                   "    role: inside\n"
                                   "    pair: out\n"
                                   "    queues: {rx: 65, tx: 64}\n"
                                   "  - name: out\n"
                                   "    device: net_tap1\n"
                                   "    role: outside\n"
                                   "    pair: in\n")),
              ElementsAre("hw.yaml:7:18: ports[0].queues.rx: 65 is out of range [0, 64]"));
}

// ---- Ports ----------------------------------------------------------------------

TEST(ProfileErrors, PortNames) {
  EXPECT_THAT(
      errors_of(with_ports("  - name: ge 0/0/0\n"
                           "    device: net_tap0\n"
                           "    role: inside\n"
                           "    pair: out\n"
                           "  - name: out\n"
                           "    device: net_tap1\n"
                           "    role: outside\n"
                           "    pair: ge 0/0/0\n")),
      ElementsAre("hw.yaml:3:11: ports[0].name: invalid name \"ge 0/0/0\" (1 to 32 letters, digits and "
                  ". _ : / -, starting with a letter or digit)"));
  EXPECT_THAT(errors_of("profile: -lab\nports:\n" + std::string(kPair)),
              ElementsAre("hw.yaml:1:10: profile: invalid name \"-lab\" (1 to 64 letters, digits and "
                          ". _ : / -, starting with a letter or digit)"));
}

TEST(ProfileErrors, DuplicateNamesAndDevices) {
  EXPECT_THAT(
      errors_of(with_ports("  - name: in\n"
                           "    device: \"0000:03:00.0\"\n"
                           "    role: inside\n"
                           "    pair: out\n"
                           "  - name: out\n"
                           "    device: \"0000:03:00.1\"\n"
                           "    role: outside\n"
                           "    pair: in\n"
                           "  - name: ch\n"
                           "    device: \"0000:03:00.0\"\n"
                           "    role: channel\n"
                           "    pair: in\n"
                           "  - name: in\n"
                           "    device: \"0000:03:00.1\"\n"
                           "    role: mirror\n")),
      ElementsAre("hw.yaml:12:13: ports[2].device: device \"0000:03:00.0\" is already used by another "
                  "port (first at hw.yaml:4:13)",
                  "hw.yaml:15:11: ports[3].name: duplicate port name \"in\" (first at hw.yaml:3:11)",
                  "hw.yaml:16:13: ports[3].device: device \"0000:03:00.1\" is already used by another "
                  "port (first at hw.yaml:8:13)"));
  // Case cannot hide a duplicate PCI address: both are 0000:0a:00.0.
  EXPECT_THAT(errors_of(with_ports("  - name: in\n"
                                   "    device: \"0000:0a:00.0\"\n"
                                   "    role: inside\n"
                                   "    pair: out\n"
                                   "  - name: out\n"
                                   "    device: \"0000:0A:00.0\"\n"
                                   "    role: outside\n"
                                   "    pair: in\n")),
              ElementsAre("hw.yaml:8:13: ports[1].device: device \"0000:0a:00.0\" is already used by another "
                          "port (first at hw.yaml:4:13)"));
}

TEST(ProfileErrors, DeviceSyntax) {
  auto profile_with = [](const std::string& device) {
    return with_ports(
        "  - name: in\n"
        "    device: \"" +
        device +
        "\"\n"
        "    role: inside\n"
        "    pair: out\n"
        "  - name: out\n"
        "    device: net_tap1\n"
        "    role: outside\n"
        "    pair: in\n");
  };
  auto device_error = [&](const std::string& device) {
    auto errors = errors_of(profile_with(device));
    return errors.size() == 1 ? errors[0] : "(" + std::to_string(errors.size()) + " errors)";
  };
  const std::string generic =
      "\" (expected a PCI address DDDD:BB:DD.F such as \"0000:03:00.0\", or a virtual device "
      "net_<driver><n> such as \"net_tap0\")";
  EXPECT_EQ(device_error("eth0"), "hw.yaml:4:13: ports[0].device: invalid device \"eth0" + generic);
  EXPECT_EQ(device_error("0000:03:00"),
            "hw.yaml:4:13: ports[0].device: invalid device \"0000:03:00" + generic);
  EXPECT_EQ(device_error("0000:g3:00.0"),
            "hw.yaml:4:13: ports[0].device: invalid device \"0000:g3:00.0" + generic);
  EXPECT_EQ(device_error("net_Tap0"), "hw.yaml:4:13: ports[0].device: invalid device \"net_Tap0" + generic);
  EXPECT_EQ(device_error("net_0"), "hw.yaml:4:13: ports[0].device: invalid device \"net_0" + generic);
  EXPECT_EQ(
      device_error("03:00.0"),
      "hw.yaml:4:13: ports[0].device: PCI address \"03:00.0\" lacks the domain (write \"0000:03:00.0\")");
  EXPECT_EQ(
      device_error("0000:03:20.0"),
      "hw.yaml:4:13: ports[0].device: invalid PCI address \"0000:03:20.0\" (device 00-1f, function 0-7)");
  EXPECT_EQ(
      device_error("0000:03:00.8"),
      "hw.yaml:4:13: ports[0].device: invalid PCI address \"0000:03:00.8\" (device 00-1f, function 0-7)");
  EXPECT_EQ(device_error("net_tap"),
            "hw.yaml:4:13: ports[0].device: virtual device \"net_tap\" needs an instance number (e.g. "
            "\"net_tap0\")");
  EXPECT_EQ(device_error("net_" + std::string(60, 'a') + "0"),
            "hw.yaml:4:13: ports[0].device: device name longer than 63 characters");
  EXPECT_EQ(loaded(profile_with("ffff:ff:1f.7")).ports[0].device, "ffff:ff:1f.7") << "highest of every part";
}

TEST(ProfileErrors, Devargs) {
  EXPECT_THAT(
      errors_of(with_ports("  - name: in\n"
                           "    device: \"0000:03:00.0\"\n"
                           "    devargs: txq_inline=128\n"
                           "    role: inside\n"
                           "    pair: out\n"
                           "  - name: out\n"
                           "    device: net_tap1\n"
                           "    devargs: iface=a b\n"
                           "    role: outside\n"
                           "    pair: in\n"
                           "  - name: ch\n"
                           "    device: net_tap2\n"
                           "    devargs: iface=ch,,mac=fixed\n"
                           "    role: channel\n"
                           "    pair: in\n"
                           "  - name: mir\n"
                           "    device: net_tap3\n"
                           "    devargs: =x\n"
                           "    role: mirror\n")),
      ElementsAre("hw.yaml:5:14: ports[0].devargs: devargs apply only to virtual devices (net_...), "
                  "not to the PCI device \"0000:03:00.0\"",
                  "hw.yaml:10:14: ports[1].devargs: invalid devargs \"iface=a b\": blanks, control and "
                  "non-ASCII characters are not allowed",
                  "hw.yaml:15:14: ports[2].devargs: invalid devargs \"iface=ch,,mac=fixed\": empty "
                  "argument (expected key=value[,key=value...])",
                  "hw.yaml:20:14: ports[3].devargs: invalid devargs \"=x\": argument without a key "
                  "(expected key=value[,key=value...])"));
}

TEST(ProfileErrors, TwoPortsOnOneInterface) {
  // Different devices, one kernel interface: each port would receive every
  // frame of the wire and forward it.
  EXPECT_THAT(errors_of(with_ports("  - name: in\n"                              // 3
                                   "    device: net_tap0\n"                      // 4
                                   "    devargs: iface=ftz-ge0\n"                // 5
                                   "    role: inside\n"                          // 6
                                   "    pair: out\n"                             // 7
                                   "  - name: out\n"                             // 8
                                   "    device: net_tap1\n"                      // 9
                                   "    devargs: iface=ftz-ge0\n"                // 10
                                   "    role: outside\n"                         // 11
                                   "    pair: in\n"                              // 12
                                   "  - name: ch\n"                              // 13
                                   "    device: net_pcap2\n"                     // 14
                                   "    devargs: rx_iface=eth1,tx_iface=eth1\n"  // 15: one port, fine
                                   "    role: channel\n"                         // 16
                                   "    pair: in\n"                              // 17
                                   "  - name: mir\n"                             // 18
                                   "    device: net_af_packet3\n"                // 19
                                   "    devargs: qpairs=1,iface=eth1\n"          // 20
                                   "    role: mirror\n")),
              ElementsAre("hw.yaml:10:14: ports[1].devargs: interface \"ftz-ge0\" is already used by port "
                          "\"in\" (first at hw.yaml:5:14)",
                          "hw.yaml:20:14: ports[3].devargs: interface \"eth1\" is already used by port "
                          "\"ch\" (first at hw.yaml:15:14)"));
  // The shipped lab profile names one interface per port.
  EXPECT_TRUE(load_profile((source_dir() / "drivers/profiles/lab-vdev.yaml").string()).has_value());
}

TEST(ProfileErrors, CrOnlyLineEndsAreLineBreaks) {
  // Old Mac line ends: YAML counts a lone CR as a line break; yaml-cpp does
  // not, and called such a file "empty" (it read one long comment).
  std::string text = "# lab profile\n" + minimal_with("workers: 2\n");
  std::replace(text.begin(), text.end(), '\n', '\r');
  const auto p = loaded(text);
  EXPECT_EQ(p.workers, 2u);
  ASSERT_EQ(p.ports.size(), 2u);
  EXPECT_EQ(p.ports[1].name, "out");
  std::string bad = "# lab profile\n" + minimal_with("workers: 0\n");
  std::replace(bad.begin(), bad.end(), '\n', '\r');
  EXPECT_THAT(errors_of(bad), ElementsAre("hw.yaml:12:10: workers: 0 is out of range [1, 64]"));
}

TEST(ProfileErrors, Roles) {
  EXPECT_THAT(errors_of(with_pair_and("  - name: ch\n"
                                      "    device: net_tap2\n"
                                      "    role: chanel\n"
                                      "    pair: in\n")),
              ElementsAre("hw.yaml:13:11: ports[2].role: invalid port role \"chanel\" (expected \"inside\", "
                          "\"outside\", \"channel\" or \"mirror\")"));
  // Two inside ports, no outside port.
  EXPECT_THAT(
      errors_of(with_ports("  - name: a\n"
                           "    device: net_tap0\n"
                           "    role: inside\n"
                           "    pair: b\n"
                           "  - name: b\n"
                           "    device: net_tap1\n"
                           "    role: inside\n"
                           "    pair: a\n")),
      ElementsAre("hw.yaml:3:3: ports: no outside port (a profile needs exactly one inside and one "
                  "outside port)",
                  "hw.yaml:6:11: ports[0].pair: the inside port must pair with the outside port, not with "
                  "the inside port \"b\"",
                  "hw.yaml:9:11: ports[1].role: a second inside port (first at hw.yaml:5:11); a profile "
                  "has at most one port per role",
                  "hw.yaml:10:11: ports[1].pair: the inside port must pair with the outside port, not "
                  "with the inside port \"a\""));
  EXPECT_THAT(errors_of(with_pair_and("  - name: m1\n"
                                      "    device: net_tap2\n"
                                      "    role: mirror\n"
                                      "  - name: m2\n"
                                      "    device: net_tap3\n"
                                      "    role: mirror\n")),
              ElementsAre("hw.yaml:16:11: ports[3].role: a second mirror port (first at hw.yaml:13:11); a "
                          "profile has at most one port per role"));
  EXPECT_THAT(errors_of("profile: t\nports: []\n"),
              ElementsAre("hw.yaml:2:8: ports: no inside and no outside port (a profile needs exactly one "
                          "inside and one outside port)"));
}

TEST(ProfileErrors, AtMostFourPorts) {
  EXPECT_THAT(
      errors_of(with_pair_and("  - {name: ch, device: net_tap2, role: channel, pair: in}\n"
                              "  - {name: mir, device: net_tap3, role: mirror}\n"
                              "  - {name: extra, device: net_tap4, role: mirror}\n")),
      ElementsAre("hw.yaml:13:5: ports[4]: a profile has at most 4 ports, one per role (inside, outside, "
                  "channel, mirror)"));
}

TEST(ProfileErrors, Pairs) {
  // Inside pairs with the channel, outside with a typo, channel with the outside.
  EXPECT_THAT(
      errors_of(with_ports("  - name: in\n"
                           "    device: net_tap0\n"
                           "    role: inside\n"
                           "    pair: ch\n"
                           "  - name: out\n"
                           "    device: net_tap1\n"
                           "    role: outside\n"
                           "    pair: inn\n"
                           "  - name: ch\n"
                           "    device: net_tap2\n"
                           "    role: channel\n"
                           "    pair: out\n")),
      ElementsAre("hw.yaml:6:11: ports[0].pair: the inside port must pair with the outside port, not "
                  "with the channel port \"ch\"",
                  "hw.yaml:10:11: ports[1].pair: unknown port \"inn\" (did you mean \"in\"?)",
                  "hw.yaml:14:11: ports[2].pair: the channel port must pair with the inside port, not "
                  "with the outside port \"out\""));
  // Outside pairs with itself, channel with the mirror, mirror has a pair.
  EXPECT_THAT(
      errors_of(with_ports("  - name: in\n"
                           "    device: net_tap0\n"
                           "    role: inside\n"
                           "    pair: out\n"
                           "  - name: out\n"
                           "    device: net_tap1\n"
                           "    role: outside\n"
                           "    pair: out\n"
                           "  - name: ch\n"
                           "    device: net_tap2\n"
                           "    role: channel\n"
                           "    pair: mir\n"
                           "  - name: mir\n"
                           "    device: net_tap3\n"
                           "    role: mirror\n"
                           "    pair: in\n")),
      ElementsAre("hw.yaml:10:11: ports[1].pair: a port cannot pair with itself",
                  "hw.yaml:14:11: ports[2].pair: port \"mir\" is the mirror port, which only transmits "
                  "copies and is no pair",
                  "hw.yaml:18:11: ports[3].pair: a mirror port has no pair (it only transmits copies of "
                  "traffic)"));
  // Outside pairs with the mirror; inside and channel have no pair.
  EXPECT_THAT(
      errors_of(with_ports("  - name: in\n"
                           "    device: net_tap0\n"
                           "    role: inside\n"
                           "  - name: out\n"
                           "    device: net_tap1\n"
                           "    role: outside\n"
                           "    pair: mir\n"
                           "  - name: ch\n"
                           "    device: net_tap2\n"
                           "    role: channel\n"
                           "  - name: mir\n"
                           "    device: net_tap3\n"
                           "    role: mirror\n")),
      ElementsAre("hw.yaml:3:5: ports[0].pair: missing required field (inside, outside and channel ports "
                  "forward to their pair)",
                  "hw.yaml:9:11: ports[1].pair: port \"mir\" is the mirror port, which only transmits "
                  "copies and is no pair",
                  "hw.yaml:10:5: ports[2].pair: missing required field (inside, outside and channel ports "
                  "forward to their pair)"));
}

// ---- Several errors, caps -------------------------------------------------------

TEST(ProfileErrors, SeveralErrorsInOneRunInFileOrder) {
  EXPECT_THAT(errors_of(R"(profile: multi
workers: 0
mempool: {mbufs: 100}
ports:
  - name: in
    device: "03:00.0"
    role: inside
    pair: outt
  - name: out
    device: net_tap1
    role: outside
    pair: in
    queues: {rx: 100}
tx_drian_us: 5
)"),
              ElementsAre("hw.yaml:2:10: workers: 0 is out of range [1, 64]",
                          "hw.yaml:3:18: mempool.mbufs: 100 is out of range [1023, 16777215]",
                          "hw.yaml:6:13: ports[0].device: PCI address \"03:00.0\" lacks the domain (write "
                          "\"0000:03:00.0\")",
                          "hw.yaml:8:11: ports[0].pair: unknown port \"outt\" (did you mean \"out\"?)",
                          "hw.yaml:13:18: ports[1].queues.rx: 100 is out of range [0, 64]",
                          "hw.yaml:14:1: unknown key \"tx_drian_us\" (did you mean \"tx_drain_us\"?)"));
}

TEST(ProfileErrors, ErrorsAreCapped) {
  std::string yaml = kMinimal;
  for (int i = 0; i < 1000; ++i) yaml += "unknown" + std::to_string(i) + ": 1\n";
  const auto errors = errors_of(yaml);
  ASSERT_THAT(errors, SizeIs(201));
  EXPECT_EQ(errors.front(), "hw.yaml:11:1: unknown key \"unknown0\"");
  EXPECT_EQ(errors.back(), "hw.yaml:211:1: too many errors; stopping after 200");
}

TEST(ProfileErrors, AliasesDoNotMultiplyWork) {
  // Aliases share one node; the walk follows the schema and reads at most
  // kMaxPorts ports, so a long list of aliases costs nothing. An alias has
  // the position of its anchor (line 3).
  std::string yaml = "profile: t\nports:\n  - &p {name: in, device: net_tap0, role: inside, pair: out}\n";
  for (int i = 0; i < 10000; ++i) yaml += "  - *p\n";
  const auto errors = errors_of(yaml);
  EXPECT_THAT(errors, Contains("hw.yaml:3:5: ports[4]: a profile has at most 4 ports, one per role (inside, "
                               "outside, channel, mirror)"));
  // "no outside port", ports[4], and for ports[0..3]: 3 duplicate names,
  // 3 duplicate devices, 3 second inside ports, 4 unknown pairs.
  EXPECT_THAT(errors, SizeIs(15));
}

}  // namespace
}  // namespace ftz::drivers
