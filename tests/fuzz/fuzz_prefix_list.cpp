// libFuzzer target: a prefix-list file (zones[].prefix_list_files) read by
// the configuration loader, as an operator's monthly list would be. The
// input is the file; the configuration around it is fixed: an ftz zone with
// inline prefixes, a domestic zone from the file, the offshore default.
// Invariants:
//   - a refused list says why (file:line:col of the first bad line);
//   - a loaded list gave one prefix per line that is not blank or a comment,
//     each of which formats and parses back to itself;
//   - in the compiled generation the first and the last address of each of
//     them are in the domestic zone (zones may not overlap), and the ftz
//     zone's addresses stay in the ftz zone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ftz/config/config.hpp"
#include "ftz/engine/generation.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace ftz::engine;

constexpr const char* kConfig = R"(zones:
  - name: inside
    kind: ftz
    prefixes: [10.60.0.0/16, "2001:db8:60::/48"]
  - name: domestic
    kind: domestic
    prefix_list_files: [list.txt]
  - name: offshore
    kind: offshore
    default: true
)";
constexpr uint32_t kInside = 0;
constexpr uint32_t kDomestic = 1;

// Lines that must hold a prefix: not blank once the comment is cut off.
// Line ends are LF, CR LF and a lone CR (an old Mac editor's file is not one
// line).
size_t prefix_lines(std::string_view text) {
  size_t n = 0;
  while (!text.empty()) {
    const size_t end = text.find_first_of("\r\n");
    std::string_view line = text.substr(0, end);
    size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end != std::string_view::npos && text[end] == '\r' && next < text.size() && text[next] == '\n')
      ++next;
    text = text.substr(next);
    if (const size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) ++n;
  }
  return n;
}

IpAddr last_address(const Prefix& p) {
  IpAddr a = p.addr;
  const unsigned bits = p.v4 ? 96u + p.length : p.length;
  for (unsigned i = bits; i < 128; ++i) a.bytes[i / 8] |= static_cast<uint8_t>(0x80u >> (i % 8));
  return a;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  const std::string& dir = ftz::fuzz::ScratchDir::path();
  ftz::fuzz::write_file(dir + "/list.txt", data, size);
  auto loaded = ftz::config::load_config_from_string(kConfig, dir + "/fuzz.yaml");
  if (!loaded) {
    if (loaded.error().empty()) ftz::fuzz::fail("a refused prefix list without a reason");
    (void)ftz::config::format_diagnostics(loaded.error());
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& prefixes = loaded->spec.zones.at(kDomestic).prefixes;
  if (prefixes.size() != prefix_lines(text)) ftz::fuzz::fail("prefixes loaded != prefix lines in the file");
  for (const Prefix& p : prefixes) {
    const std::string s = format_prefix(p);
    const auto back = parse_prefix(s);
    if (!back || !(*back == p))
      ftz::fuzz::fail("a loaded prefix does not format and parse back to itself", s);
  }
  const auto gen = PolicyGeneration::build(loaded->spec, 1);
  for (const Prefix& p : prefixes) {
    if (gen->zone_of(p.addr) != kDomestic || gen->zone_of(last_address(p)) != kDomestic)
      ftz::fuzz::fail("an address of the list is not in the domestic zone", format_prefix(p));
  }
  if (gen->zone_of(*parse_ip("10.60.1.2")) != kInside || gen->zone_of(*parse_ip("2001:db8:60::1")) != kInside)
    ftz::fuzz::fail("the ftz zone lost an address to the list");
  return 0;
}
