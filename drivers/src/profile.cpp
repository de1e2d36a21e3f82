// Hardware profile loader: size cap -> yaml-cpp -> schema reader (keys,
// types, ranges, device syntax) -> port rules (unique names and devices,
// roles, pairs). Runs once before EAL starts; nothing here is per packet.

#include "ftz/drivers/profile.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <new>
#include <optional>
#include <unordered_map>
#include <utility>

// controlplane/config's internal helpers, shared so that profile errors read
// exactly like configuration errors: DiagnosticSink (cap, file order),
// SourceMap (field path -> position), quote(), did_you_mean(). See profile.cmake.
#include "ftz/base/ascii.hpp"
#include "ftz/config/diagnostic_sink.hpp"
#include "ftz/config/text.hpp"
#include "ftz/config/yaml_util.hpp"

namespace ftz::drivers {

namespace {

using config::describe;
using config::Diagnostics;
using config::DiagnosticSink;
using config::did_you_mean;
using config::format_loc;
using config::index_path;
using config::is_plain;
using config::Loc;
using config::quote;
using config::quoted_list;
using config::SourceMap;
using engine::PortRole;

// ---- Ranges -----------------------------------------------------------------

// Accepted values of an integer field; `pow2` also requires a power of two.
struct Range {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool pow2 = false;
};

constexpr Range kWorkersRange{1, kMaxWorkers};
constexpr Range kQueuesRange{0, kMaxQueues};
// PMDs size descriptor rings in powers of two and round or refuse others;
// 16384 is above what current NICs take (ixgbe/i40e/ice 4096-8192, mlx5 32768 rounded).
constexpr Range kDescriptorsRange{64, 16384, true};
// rte_ring sizes are powers of two; 1 Mi entries is far beyond any backlog worth holding.
constexpr Range kRingRange{64, 1u << 20, true};
// The floor catches "mbufs: 16" meant as 16 Ki; the ceiling (16 Mi mbufs of
// ~2.4 KiB, 40 GiB of hugepages) is beyond any appliance.
constexpr Range kMbufsRange{1023, (1u << 24) - 1};
// RTE_MEMPOOL_CACHE_MAX_SIZE.
constexpr Range kMbufCacheRange{0, 512};
// rte_pktmbuf_pool_create() takes a uint16_t data_room_size, and it includes
// the 128-byte RTE_PKTMBUF_HEADROOM.
constexpr Range kDataRoomRange{1024, 65535};
// Longer than 100 ms between TX flushes stalls TCP; 0 would spin on flushes.
constexpr Range kTxDrainRange{1, 100'000};
constexpr Range kDropRulesRange{0, 1u << 20};
// Adaptive polling's longest sleep: past 1 ms an idle worker answers the
// first packet of a burst too late for a NIC ring of 1,024 at line rate.
constexpr Range kIdleSleepRange{0, 1'000};

// rte_mempool_create_empty() refuses a cache whose flush threshold
// (cache * 1.5) exceeds the pool; the two ranges above make that impossible.
static_assert(kMbufCacheRange.hi * 3 / 2 <= kMbufsRange.lo);

// RTE_DEV_NAME_MAX_LEN (64) with its terminating NUL.
constexpr std::size_t kMaxDeviceLength = 63;
// Port names appear in logs, counters and the CLI; profile names in logs.
constexpr std::size_t kMaxPortNameLength = 32;
constexpr std::size_t kMaxProfileNameLength = 64;
constexpr std::size_t kMaxDevargsLength = 1024;

// ---- Small text checks ------------------------------------------------------

constexpr std::array<std::pair<std::string_view, PortRole>, 4> kRoleNames{{
    {"inside", PortRole::kInside},
    {"outside", PortRole::kOutside},
    {"channel", PortRole::kChannel},
    {"mirror", PortRole::kMirror},
}};

using ascii::is_alnum;
using ascii::is_digit;
using ascii::is_hex_digit;

// Names: a safe, greppable alphabet ("ge-0/0/0", "lab-vdev").
bool is_valid_name(std::string_view s, std::size_t max_length) {
  if (s.empty() || s.size() > max_length || !is_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
  });
}

std::string name_rule(std::size_t max_length) {
  return "1 to " + std::to_string(max_length) +
         " letters, digits and . _ : / -, starting with a letter or digit";
}

// Only after the shape check: every character is a hex digit.
unsigned hex_value(char c) {
  return static_cast<unsigned>(ascii::hex_value(c));
}

// "BB:DD.F" (or "DDDD:BB:DD.F" when `with_domain`): the shape of a PCI
// address, hex digits and separators only.
bool has_pci_shape(std::string_view s, bool with_domain) {
  static constexpr std::string_view kFull = "hhhh:hh:hh.h";
  const std::string_view shape = with_domain ? kFull : kFull.substr(5);
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'h' ? !is_hex_digit(s[i]) : s[i] != shape[i]) return false;
  }
  return true;
}

std::string device_syntax_error(std::string_view s) {
  return "invalid device " + quote(s) +
         " (expected a PCI address DDDD:BB:DD.F such as \"0000:03:00.0\", or a virtual device "
         "net_<driver><n> such as \"net_tap0\")";
}

// PCI "DDDD:BB:DD.F" (domain, bus, device, function; hex), normalized to
// lower case because DPDK names a PCI ethdev by its lower-case address and the
// data plane looks ports up by that name.
tl::expected<std::string, std::string> parse_pci_address(std::string_view s) {
  if (has_pci_shape(s, false)) {
    return tl::unexpected("PCI address " + quote(s) + " lacks the domain (write " +
                          quote("0000:" + std::string(s)) + ")");
  }
  if (!has_pci_shape(s, true)) return tl::unexpected(device_syntax_error(s));
  // PCI: 32 devices per bus, 8 functions per device.
  const unsigned device = hex_value(s[8]) * 16 + hex_value(s[9]);
  if (device > 0x1f || !is_digit(s[11]) || s[11] > '7') {
    return tl::unexpected("invalid PCI address " + quote(s) + " (device 00-1f, function 0-7)");
  }
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c; });
  return out;
}

// "net_<driver><n>": EAL matches a vdev to its driver by the name prefix
// ("net_tap0" -> net_tap) and needs the instance number to tell devices apart.
tl::expected<std::string, std::string> parse_vdev_name(std::string_view s) {
  std::string_view rest = s.substr(4);  // after "net_"
  std::size_t digits = 0;
  while (digits < rest.size() && is_digit(rest[rest.size() - 1 - digits])) ++digits;
  const std::string_view driver = rest.substr(0, rest.size() - digits);
  const bool driver_ok = !driver.empty() && driver[0] >= 'a' && driver[0] <= 'z' &&
                         std::all_of(driver.begin(), driver.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
                         });
  if (!driver_ok) return tl::unexpected(device_syntax_error(s));
  if (digits == 0) {
    return tl::unexpected("virtual device " + quote(s) + " needs an instance number (e.g. " +
                          quote(std::string(s) + "0") + ")");
  }
  return std::string(s);
}

tl::expected<std::string, std::string> parse_device(std::string_view s) {
  if (s.size() > kMaxDeviceLength) {
    return tl::unexpected("device name longer than " + std::to_string(kMaxDeviceLength) + " characters");
  }
  if (s.substr(0, 4) == "net_") return parse_vdev_name(s);
  return parse_pci_address(s);
}

// Devargs reach EAL as the text after "name," in one argv element and are
// split on commas by rte_kvargs: no blanks or control bytes, no empty items.
std::optional<std::string> devargs_problem(std::string_view s) {
  if (s.size() > kMaxDevargsLength) {
    return "longer than " + std::to_string(kMaxDevargsLength) + " characters";
  }
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return "blanks, control and non-ASCII characters are not allowed";
  }
  if (s.empty() || s.front() == ',' || s.back() == ',' || s.find(",,") != std::string_view::npos) {
    return "empty argument (expected key=value[,key=value...])";
  }
  if (s.front() == '=' || s.find(",=") != std::string_view::npos) {
    return "argument without a key (expected key=value[,key=value...])";
  }
  return std::nullopt;
}

// ---- YAML -------------------------------------------------------------------

// Profiles nest 4 levels (ports[i].devargs); 16 leaves room for flow style.
constexpr std::size_t kMaxProfileDepth = 16;
constexpr config::DocumentLimits kProfileLimits{"profile", "profile", kMaxProfileBytes, kMaxProfileDepth};

// ---- Schema reader ----------------------------------------------------------

// Which fields of a port the reader could use. The port rules skip the rest,
// so one mistake is reported once.
struct PortFieldsRead {
  bool name = false;
  bool device = false;
  bool devargs = false;
  bool role = false;
  bool pair = false;
};

// Walks the document along the schema, so aliases and deep values outside it
// are never visited. Fills the profile with every valid value and reports
// unknown and duplicate keys, wrong types, missing required fields, ranges
// and the syntax of names, devices and devargs.
class ProfileReader {
 public:
  ProfileReader(SourceMap& map, DiagnosticSink& sink) : map_(map), sink_(sink) {}

  // False when the root is empty or not a mapping: nothing else is worth checking.
  bool read_root(const YAML::Node& root, HardwareProfile& out, std::vector<PortFieldsRead>& ports_read);

 private:
  using Field = config::MapField;

  void error(const std::string& path, std::string message) {
    sink_.error(map_.at(path), path, std::move(message));
  }
  Loc node_loc(const YAML::Node& n, const Loc& fallback) const { return config::node_loc(map_, n, fallback); }

  void read_map(const YAML::Node& node, const std::string& path, const std::vector<Field>& fields);
  std::optional<std::string> read_string(const YAML::Node& n, const std::string& path);
  std::optional<uint64_t> read_uint(const YAML::Node& n, const std::string& path, const Range& range);
  std::optional<PortRole> read_role(const YAML::Node& n, const std::string& path);

  template <Range R, typename T>
  Field uint_field(std::string_view key, T* out) {
    static_assert(R.hi <= std::numeric_limits<T>::max());
    return Field{key, false, [this, out](const YAML::Node& n, const std::string& p) {
                   if (auto v = read_uint(n, p, R)) *out = static_cast<T>(*v);
                 }};
  }
  Field name_field(std::string_view key, std::size_t max_length, std::string* out, bool* read);
  Field map_field(std::string_view key, std::vector<Field> fields) {
    return Field{key, false, [this, fields = std::move(fields)](const YAML::Node& n, const std::string& p) {
                   read_map(n, p, fields);
                 }};
  }

  void read_ports(const YAML::Node& n, const std::string& path, std::vector<PortProfile>& ports,
                  std::vector<PortFieldsRead>& ports_read);
  void read_port(const YAML::Node& n, const std::string& path, PortProfile& port, PortFieldsRead& read);

  SourceMap& map_;
  DiagnosticSink& sink_;
};

void ProfileReader::read_map(const YAML::Node& node, const std::string& path,
                             const std::vector<Field>& fields) {
  // A garbage file with many keys stops costing once errors are capped.
  config::read_mapping(node, path, fields, map_, sink_, [&] { return !sink_.full(); });
}

std::optional<std::string> ProfileReader::read_string(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    error(path, "expected a string, got " + describe(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<uint64_t> ProfileReader::read_uint(const YAML::Node& n, const std::string& path,
                                                 const Range& range) {
  // A quoted number is a string in YAML; accepting it would make "0x10" or
  // "4k" look meaningful.
  if (!n.IsScalar() || !is_plain(n)) {
    error(path, "expected an integer, got " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  uint64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || res.ptr != s.data() + s.size()) {
    error(path, "expected an integer, got " + describe(n));
    return std::nullopt;
  }
  if (res.ec == std::errc::result_out_of_range || v < range.lo || v > range.hi) {
    error(path, s + " is out of range [" + std::to_string(range.lo) + ", " + std::to_string(range.hi) + "]");
    return std::nullopt;
  }
  if (range.pow2 && (v & (v - 1)) != 0) {
    error(path, s + " is not a power of two");
    return std::nullopt;
  }
  return v;
}

std::optional<PortRole> ProfileReader::read_role(const YAML::Node& n, const std::string& path) {
  std::vector<std::string_view> names;
  names.reserve(kRoleNames.size());
  for (const auto& [name, role] : kRoleNames) names.push_back(name);
  if (!n.IsScalar()) {
    error(path, "expected a port role (" + quoted_list(names) + "), got " + describe(n));
    return std::nullopt;
  }
  for (const auto& [name, role] : kRoleNames) {
    if (name == n.Scalar()) return role;
  }
  error(path, "invalid port role " + quote(n.Scalar()) + " (expected " + quoted_list(names) + ")");
  return std::nullopt;
}

ProfileReader::Field ProfileReader::name_field(std::string_view key, std::size_t max_length, std::string* out,
                                               bool* read) {
  return Field{key, true, [this, max_length, out, read](const YAML::Node& n, const std::string& p) {
                 auto s = read_string(n, p);
                 if (!s) return;
                 if (!is_valid_name(*s, max_length)) {
                   error(p, "invalid name " + quote(*s) + " (" + name_rule(max_length) + ")");
                 }
                 // Kept even when invalid: pairs that name it still resolve.
                 *out = std::move(*s);
                 if (read != nullptr) *read = true;
               }};
}

bool ProfileReader::read_root(const YAML::Node& root, HardwareProfile& out,
                              std::vector<PortFieldsRead>& ports_read) {
  const Loc root_loc = node_loc(root, Loc{map_.file(), 1, 1});
  map_.set("", root_loc.line, root_loc.column);
  if (root.IsNull()) {
    error("", "the profile is empty");
    return false;
  }
  if (!root.IsMap()) {
    error("", "expected a mapping at the top level, got " + describe(root));
    return false;
  }
  read_map(root, "",
           {
               name_field("profile", kMaxProfileNameLength, &out.name, nullptr),
               Field{"description", false,
                     [this, &out](const YAML::Node& n, const std::string& p) {
                       if (auto s = read_string(n, p)) out.description = std::move(*s);
                     }},
               uint_field<kWorkersRange>("workers", &out.workers),
               map_field("mempool", {uint_field<kMbufsRange>("mbufs", &out.mbufs),
                                     uint_field<kMbufCacheRange>("cache", &out.mbuf_cache),
                                     uint_field<kDataRoomRange>("data_room", &out.mbuf_data_room)}),
               map_field("rings", {uint_field<kRingRange>("events", &out.event_ring_size),
                                   uint_field<kRingRange>("distribution", &out.worker_ring_size)}),
               uint_field<kTxDrainRange>("tx_drain_us", &out.tx_drain_us),
               uint_field<kIdleSleepRange>("idle_sleep_us", &out.idle_sleep_us),
               map_field("offload", {uint_field<kDropRulesRange>("drop_rules", &out.offload_rules)}),
               Field{"ports", true,
                     [this, &out, &ports_read](const YAML::Node& n, const std::string& p) {
                       read_ports(n, p, out.ports, ports_read);
                     }},
           });
  return true;
}

void ProfileReader::read_ports(const YAML::Node& n, const std::string& path, std::vector<PortProfile>& ports,
                               std::vector<PortFieldsRead>& ports_read) {
  if (n.IsNull()) return;  // "ports:" alone: no ports, which the role rules report
  if (!n.IsSequence()) {
    error(path, "expected a sequence, got " + describe(n));
    sink_.mark_broken(path);
    return;
  }
  const Loc seq_loc = map_.at(path);
  std::size_t i = 0;
  for (const auto& item : n) {
    const std::string ip = index_path(path, i);
    const Loc item_loc = node_loc(item, seq_loc);
    map_.set(ip, item_loc.line, item_loc.column);
    if (i == kMaxPorts) {
      // Also bounds the work on hostile input (a long list of aliases).
      error(ip, "a profile has at most " + std::to_string(kMaxPorts) +
                    " ports, one per role (inside, outside, channel, mirror)");
      return;
    }
    read_port(item, ip, ports.emplace_back(), ports_read.emplace_back());
    ++i;
  }
}

void ProfileReader::read_port(const YAML::Node& n, const std::string& path, PortProfile& port,
                              PortFieldsRead& read) {
  read_map(n, path,
           {
               name_field("name", kMaxPortNameLength, &port.name, &read.name),
               Field{"device", true,
                     [this, &port, &read](const YAML::Node& v, const std::string& p) {
                       auto s = read_string(v, p);
                       if (!s) return;
                       auto device = parse_device(*s);
                       if (!device) {
                         error(p, device.error());
                         return;
                       }
                       port.device = std::move(*device);
                       read.device = true;
                     }},
               Field{"devargs", false,
                     [this, &port, &read](const YAML::Node& v, const std::string& p) {
                       auto s = read_string(v, p);
                       if (!s) return;
                       if (auto why = devargs_problem(*s)) {
                         error(p, "invalid devargs " + quote(*s) + ": " + *why);
                         return;
                       }
                       port.devargs = std::move(*s);
                       read.devargs = true;
                     }},
               Field{"role", true,
                     [this, &port, &read](const YAML::Node& v, const std::string& p) {
                       if (auto r = read_role(v, p)) {
                         port.role = *r;
                         read.role = true;
                       }
                     }},
               Field{"pair", false,
                     [this, &port, &read](const YAML::Node& v, const std::string& p) {
                       if (auto s = read_string(v, p)) {
                         port.pair = std::move(*s);
                         read.pair = true;
                       }
                     }},
               map_field("queues", {uint_field<kQueuesRange>("rx", &port.rx_queues),
                                    uint_field<kQueuesRange>("tx", &port.tx_queues)}),
               map_field("descriptors", {uint_field<kDescriptorsRange>("rx", &port.rx_descriptors),
                                         uint_field<kDescriptorsRange>("tx", &port.tx_descriptors)}),
           });
  if (read.devargs && read.device && !port.is_vdev()) {
    error(path + ".devargs",
          "devargs apply only to virtual devices (net_...), not to the PCI device " + quote(port.device));
  }
}

// ---- Port rules -------------------------------------------------------------

// The rules between ports of a bump in the wire: unique names and devices,
// one inside and one outside port that forward to each other, at most one
// channel port (forwarding back to inside) and one mirror port (transmit only).
class PortRules {
 public:
  PortRules(const std::vector<PortProfile>& ports, const std::vector<PortFieldsRead>& read,
            const SourceMap& map, DiagnosticSink& sink)
      : ports_(ports), read_(read), map_(map), sink_(sink) {}

  void check() {
    // A missing or malformed "ports" was reported; rules on it would echo that.
    if (sink_.is_redundant("ports")) return;
    check_unique_names();
    check_unique_devices();
    check_unique_interfaces();
    check_roles();
    check_pairs();
  }

 private:
  static std::string port_path(std::size_t i) { return index_path("ports", i); }
  void error(const std::string& path, std::string message) {
    if (!sink_.is_redundant(path)) sink_.error(map_.at(path), path, std::move(message));
  }
  std::string first_at(std::size_t i, std::string_view field) const {
    return "(first at " + format_loc(map_.at(port_path(i) + "." + std::string(field))) + ")";
  }

  void check_unique_names();
  void check_unique_devices();
  void check_unique_interfaces();
  void check_roles();
  void check_pairs();
  void check_pair(std::size_t i);

  const std::vector<PortProfile>& ports_;
  const std::vector<PortFieldsRead>& read_;
  const SourceMap& map_;
  DiagnosticSink& sink_;
};

void PortRules::check_unique_names() {
  std::unordered_map<std::string_view, std::size_t> first;
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    if (!read_[i].name) continue;
    if (auto [it, inserted] = first.emplace(ports_[i].name, i); !inserted) {
      error(port_path(i) + ".name",
            "duplicate port name " + quote(ports_[i].name) + " " + first_at(it->second, "name"));
    }
  }
}

void PortRules::check_unique_devices() {
  // Two ports on one device would each configure its queues and steal the
  // other's packets. Devices are normalized, so case cannot hide a duplicate.
  std::unordered_map<std::string_view, std::size_t> first;
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    if (!read_[i].device) continue;
    if (auto [it, inserted] = first.emplace(ports_[i].device, i); !inserted) {
      error(port_path(i) + ".device", "device " + quote(ports_[i].device) +
                                          " is already used by another port " +
                                          first_at(it->second, "device"));
    }
  }
}

// The kernel network interfaces a vdev's arguments name: `iface` (net_tap,
// net_tun, net_af_packet, net_af_xdp, net_pcap) and net_pcap's `rx_iface`,
// `rx_iface_in` and `tx_iface`. One port may name its interface twice
// (rx_iface=eth0,tx_iface=eth0); two ports on one interface may not.
std::vector<std::string_view> interfaces_of(std::string_view devargs) {
  static constexpr std::array<std::string_view, 4> kKeys{"iface", "rx_iface", "rx_iface_in", "tx_iface"};
  std::vector<std::string_view> out;
  while (!devargs.empty()) {
    const auto comma = devargs.find(',');
    const std::string_view item = devargs.substr(0, comma);
    devargs = comma == std::string_view::npos ? std::string_view{} : devargs.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq + 1 == item.size()) continue;
    if (std::find(kKeys.begin(), kKeys.end(), item.substr(0, eq)) == kKeys.end()) continue;
    const std::string_view name = item.substr(eq + 1);
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

void PortRules::check_unique_interfaces() {
  // Two ports on one kernel interface (two TAP devices attached to the same
  // interface, two af_packet sockets on one NIC) would both receive every
  // frame and each forward it: one wire seen as inside and outside at once.
  std::unordered_map<std::string_view, std::size_t> first;
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    if (!read_[i].devargs) continue;
    for (const std::string_view iface : interfaces_of(ports_[i].devargs)) {
      auto [it, inserted] = first.emplace(iface, i);
      if (inserted || it->second == i) continue;
      error(port_path(i) + ".devargs", "interface " + quote(iface) + " is already used by port " +
                                           quote(ports_[it->second].name) + " " +
                                           first_at(it->second, "devargs"));
      break;  // one report per port
    }
  }
}

void PortRules::check_roles() {
  std::array<std::optional<std::size_t>, kRoleNames.size()> first;
  bool all_read = true;
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    if (!read_[i].role) {
      all_read = false;
      continue;
    }
    auto& f = first[static_cast<std::size_t>(ports_[i].role)];
    if (!f) {
      f = i;
      continue;
    }
    error(port_path(i) + ".role", "a second " + std::string(port_role_name(ports_[i].role)) + " port " +
                                      first_at(*f, "role") + "; a profile has at most one port per role");
  }
  // With a role unreadable, "no outside port" may only echo that error.
  if (!all_read) return;
  const bool inside = first[static_cast<std::size_t>(PortRole::kInside)].has_value();
  const bool outside = first[static_cast<std::size_t>(PortRole::kOutside)].has_value();
  if (inside && outside) return;
  const std::string missing = !inside && !outside ? "no inside and no outside port"
                              : !inside           ? "no inside port"
                                                  : "no outside port";
  error("ports", missing + " (a profile needs exactly one inside and one outside port)");
}

void PortRules::check_pairs() {
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    if (read_[i].role) check_pair(i);
  }
}

// Inside and outside forward to each other (the wire the appliance sits in);
// the channel port returns traffic from the approved international channel
// to the inside; the mirror port only transmits copies, so nothing is
// forwarded from or to it.
void PortRules::check_pair(std::size_t i) {
  const PortProfile& port = ports_[i];
  const std::string path = port_path(i) + ".pair";
  const std::string role(port_role_name(port.role));
  if (port.role == PortRole::kMirror) {
    if (read_[i].pair) error(path, "a mirror port has no pair (it only transmits copies of traffic)");
    return;
  }
  if (!read_[i].pair) {
    error(path, "missing required field (inside, outside and channel ports forward to their pair)");
    return;
  }
  if (read_[i].name && port.pair == port.name) {
    error(path, "a port cannot pair with itself");
    return;
  }
  std::vector<std::string_view> names;
  const PortProfile* target = nullptr;
  std::size_t target_index = 0;
  for (std::size_t j = 0; j < ports_.size(); ++j) {
    if (!read_[j].name) continue;
    names.push_back(ports_[j].name);
    if (target == nullptr && ports_[j].name == port.pair) {
      target = &ports_[j];
      target_index = j;
    }
  }
  if (target == nullptr) {
    error(path, "unknown port " + quote(port.pair) + did_you_mean(port.pair, names));
    return;
  }
  if (!read_[target_index].role) return;
  if (target->role == PortRole::kMirror) {
    error(path,
          "port " + quote(port.pair) + " is the mirror port, which only transmits copies and is no pair");
    return;
  }
  const PortRole wanted = port.role == PortRole::kInside ? PortRole::kOutside : PortRole::kInside;
  if (target->role != wanted) {
    error(path, "the " + role + " port must pair with the " + std::string(port_role_name(wanted)) +
                    " port, not with the " + std::string(port_role_name(target->role)) + " port " +
                    quote(port.pair));
  }
}

// ---- Loading ----------------------------------------------------------------

tl::expected<HardwareProfile, Diagnostics> load_impl(std::string_view text, const std::string& file) {
  DiagnosticSink sink;
  const auto root = config::parse_document(text, file, "", kProfileLimits, sink);
  if (!root) return tl::unexpected(sink.take(file));
  SourceMap map(file);
  HardwareProfile profile;
  std::vector<PortFieldsRead> ports_read;
  ProfileReader reader(map, sink);
  if (reader.read_root(*root, profile, ports_read)) {
    // After reader errors too: one run reports everything it can.
    PortRules(profile.ports, ports_read, map, sink).check();
  }
  if (sink.has_errors()) return tl::unexpected(sink.take(file));
  return profile;
}

// A failure of the whole file: at 1:1, or at 0:0 ("no position") when the
// file could not be read at all.
Diagnostics file_error(const std::string& file, bool readable, std::string message) {
  const uint32_t pos = readable ? 1 : 0;
  return {config::Diagnostic{file, pos, pos, "", std::move(message)}};
}

// The file's text, or why it cannot be read: at 1:1 when it is too large, at
// 0:0 ("no position") when it could not be read at all.
tl::expected<std::string, Diagnostics> read_profile_file(const std::string& path) {
  auto text = config::read_regular_file(path, kMaxProfileBytes);
  if (text) return std::move(*text);
  if (text.error().size != 0) {
    return tl::unexpected(
        file_error(path, true, config::size_message("profile", text.error().size, kMaxProfileBytes)));
  }
  return tl::unexpected(file_error(path, false, "cannot read profile: " + text.error().reason));
}

}  // namespace

bool PortProfile::is_vdev() const noexcept {
  return device.starts_with("net_");
}

tl::expected<std::string, std::string> kernel_interface(const PortProfile& port, const std::string& sysfs) {
  const std::string what = "port " + port.name + " (" + port.device + ")";
  if (port.is_vdev()) {
    std::string_view args = port.devargs;
    while (!args.empty()) {
      const size_t comma = args.find(',');
      const std::string_view item = args.substr(0, comma);
      if (item.starts_with("iface=") && item.size() > 6) return std::string(item.substr(6));
      args = comma == std::string_view::npos ? std::string_view{} : args.substr(comma + 1);
    }
    return tl::unexpected(what + ": no kernel interface named (devargs iface=NAME)");
  }
  // The netdev hangs off the PCI device itself (ADDRESS/net/NAME), or off
  // the bus device a driver puts between them: virtio-net's is
  // ADDRESS/virtioN/net/NAME.
  const std::filesystem::path device = sysfs + "/bus/pci/devices/" + port.device;
  std::vector<std::filesystem::path> candidates{device / "net"};
  std::error_code ec;
  for (const auto& child : std::filesystem::directory_iterator(device, ec)) {
    if (child.path().filename().string().starts_with("virtio")) candidates.push_back(child.path() / "net");
  }
  for (const auto& dir : candidates) {
    const std::filesystem::directory_iterator netdevs(dir, ec);
    if (!ec && netdevs != std::filesystem::directory_iterator()) return netdevs->path().filename().string();
  }
  return tl::unexpected(what +
                        ": no kernel network interface (is the device bound to vfio-pci? the XDP path "
                        "needs the kernel's own driver)");
}

const PortProfile* HardwareProfile::find(std::string_view port_name) const noexcept {
  for (const auto& p : ports) {
    if (p.name == port_name) return &p;
  }
  return nullptr;
}

const PortProfile* HardwareProfile::first_with_role(engine::PortRole r) const noexcept {
  for (const auto& p : ports) {
    if (p.role == r) return &p;
  }
  return nullptr;
}

std::string_view port_role_name(engine::PortRole r) noexcept {
  for (const auto& [name, role] : kRoleNames) {
    if (role == r) return name;
  }
  return "unknown";
}

// Nothing escapes either entry point: yaml-cpp throws, and so can
// std::filesystem and allocation.
tl::expected<HardwareProfile, config::Diagnostics> load_profile_from_string(std::string_view text,
                                                                            std::string_view file_name) {
  const std::string file(file_name);
  try {
    return load_impl(text, file);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(file_error(file, true, "internal error: out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(file_error(file, true, std::string("internal error: ") + e.what()));
  }
}

tl::expected<HardwareProfile, config::Diagnostics> load_profile(const std::string& path) {
  try {
    auto text = read_profile_file(path);
    if (!text) return tl::unexpected(std::move(text.error()));
    return load_profile_from_string(*text, path);
  } catch (const std::bad_alloc&) {
    return tl::unexpected(file_error(path, true, "internal error: out of memory"));
  } catch (const std::exception& e) {
    return tl::unexpected(file_error(path, true, std::string("internal error: ") + e.what()));
  }
}

}  // namespace ftz::drivers
