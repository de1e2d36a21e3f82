// Hyperscan needs SSSE3: every program that scans or compiles signatures
// says so plainly on a CPU without it, before it reads its configuration.
// The CPU is emulated: qemu-user runs the programs with QEMU's qemu64 model
// (no SSSE3) and, as the control, its max model. ftzgate-dp is not among
// them: Debian's DPDK needs SSE4.2 and its libraries' constructors die of an
// illegal instruction before main() on a CPU without it (QEMU's Penryn), so
// first boot chooses XDP there (images/ftzgate-firstboot).
#include <gtest/gtest.h>

#include <string>

#include "ftz/test/files.hpp"

namespace {

using ftz::test::binary;
using ftz::test::run_command;
using ftz::test::source_dir;

constexpr const char* kRefusal =
    "this CPU lacks SSSE3, which the signature matcher (Hyperscan) needs: run on an x86-64 CPU with SSSE3";

std::string under(const char* cpu, const std::string& program, const std::string& args) {
  return std::string("qemu-x86_64 -cpu ") + cpu + " " + binary(program) + " " + args;
}

TEST(CpuCheck, EveryScanningProgramRefusesACpuWithoutSsse3) {
  ASSERT_EQ(run_command("command -v qemu-x86_64").status, 0)
      << "qemu-user is missing: run scripts/install-deps";
  ftz::test::TempDir dir("cpu");
  const std::string config = source_dir() + "/examples/lingang.yaml";
  const std::pair<std::string, std::string> programs[] = {
      {"ftzgate-inspect", "--config " + config + " --pcap " + dir.file("none.pcap")},
      {"ftzgate-xdp", "--config " + config + " --ports a,b"},
      {"ftzgated", "--state-dir " + dir.file("state")},
  };
  for (const auto& [program, args] : programs) {
    const auto r = run_command(under("qemu64", program, args));
    EXPECT_EQ(r.status, 2) << program << ": " << r.output;
    EXPECT_NE(r.output.find(program + ": " + kRefusal), std::string::npos) << program << ": " << r.output;
  }
}

// The control: the same emulator with a CPU that has SSSE3 runs the demo.
TEST(CpuCheck, AnEmulatedCpuWithSsse3Inspects) {
  ftz::test::TempDir dir("cpu");
  const std::string pcap = dir.file("scenario.pcap");
  ASSERT_EQ(run_command(binary("ftzgate-gen") + " scenario --out " + pcap).status, 0);
  const auto r = run_command(
      under("max", "ftzgate-inspect",
            "--config " + source_dir() + "/examples/lingang.yaml --demo-token-key --pcap " + pcap));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("SSSE3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("flow records       20 written"), std::string::npos) << r.output;
}

}  // namespace
