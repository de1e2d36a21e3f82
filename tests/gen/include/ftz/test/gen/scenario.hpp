// The Lin-gang demo capture (shared SCENARIO.md): every tenant's traffic as
// real TCP/UDP conversations on the appliance's inside port, 2026-03-02 from
// 09:00 Asia/Shanghai, plus a JSON summary with the exact counts tests assert.
#pragma once

#include <cstdint>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "ftz/test/tcp_session.hpp"

namespace ftz::test::gen {

// 2026-03-02T09:00:00+08:00.
inline constexpr std::int64_t kScenarioStartUnix = 1772413200;

struct Scenario {
  std::vector<CapturedPacket> packets;  // in timestamp order
  std::string summary_json;
};

// Deterministic for a given seed.
Scenario build_scenario(std::uint64_t seed);

// Writes `out_path` (classic pcap, ns timestamps) and `out_path + ".summary.json"`.
tl::expected<std::size_t, std::string> write_scenario(const std::string& out_path, std::uint64_t seed);

}  // namespace ftz::test::gen
