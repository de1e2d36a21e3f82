#pragma once
// The one registry of reasons: why a packet was malformed or dropped, why an
// app parser flagged a message, why a flow direction could not be inspected,
// why the packet path around the engine dropped a frame. One table per
// group, all in this directory and in one form:
//
//   FTZ_REASON(enumerator, code, "key", "description")
//
// Each table generates its enum (value = code, plus a trailing kCount), the
// count that sizes the group's counter array, and a ReasonTable<Enum> of
// {code, key, description} indexed by code that the reports, stats and
// tests read. Adding a reason is one line at the end of its group's .def.
//
// Codes are stable and explicit because they leave the process: the stats
// and report keys are documented API, and the codes become the BPF drop
// codes (a generated C header) and MIB rows. A code is the entry's position
// in its table (dense from 0, append only): checked at compile time below
// and by tests/engine/reasons. A reason is never renumbered or reused.
//
// Plain constexpr data, no allocation: usable on the hot path and from any
// module (ftz_reasons is header-only and depends on nothing; the app parsers
// and the scanner link nothing else of the engine).
//
// Groups (tables in this directory):
//   packet.def  ftz::engine::Reason            engine: malformed / dropped packets
//   app.def     ftz::engine::app::AppAnomaly   app parsers: anomalies (not drops)
//   scan.def    ftz::engine::sig::Uninspectable scanner: why not (fully) inspected
//   path.def    ftz::engine::PathDrop          ftzgate-dp path: frames dropped
//   xdp.def     ftz::engine::XdpPath           XDP program: kernel outcomes

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ftz::engine {

struct ReasonInfo {
  uint16_t code = 0;
  std::string_view key;          // stats/report key, snake_case
  std::string_view description;  // one line, for reports and docs
};

// Specialised for each group's enum below.
template <class E>
struct ReasonTable;

// Group identifiers: the high byte of a wire code (BPF, MIB), so one number
// names a reason across groups. Append only, like the codes.
enum class ReasonGroup : uint8_t { kPacket = 1, kApp = 2, kScan = 3, kPath = 4, kXdp = 5 };

template <class E>
inline constexpr size_t kReasonCountOf = ReasonTable<E>::kEntries.size();

template <class E>
constexpr const ReasonInfo* reason_info(E r) noexcept {
  const auto i = static_cast<size_t>(r);
  return i < kReasonCountOf<E> ? &ReasonTable<E>::kEntries[i] : nullptr;
}
// The stats/report key; "none" for a value outside the table (Reason::kNone).
template <class E>
constexpr std::string_view reason_key(E r) noexcept {
  const ReasonInfo* info = reason_info(r);
  return info != nullptr ? info->key : std::string_view{"none"};
}
template <class E>
constexpr std::string_view reason_description(E r) noexcept {
  const ReasonInfo* info = reason_info(r);
  return info != nullptr ? info->description : std::string_view{};
}
// Group in the high byte, code in the low byte: the future BPF/MIB number.
template <class E>
constexpr uint16_t reason_wire_code(E r) noexcept {
  return static_cast<uint16_t>((static_cast<unsigned>(ReasonTable<E>::kGroup) << 8) |
                               static_cast<unsigned>(r));
}

namespace detail {
// Every entry's code is its position: dense from 0, in order, no duplicates.
template <size_t N>
constexpr bool codes_are_positions(const std::array<ReasonInfo, N>& t) noexcept {
  for (size_t i = 0; i < N; ++i) {
    if (t[i].code != i) return false;
  }
  return true;
}
}  // namespace detail

}  // namespace ftz::engine

// The group blocks: an enum and its table each, from the group's .def.
// (A macro cannot #include, so the blocks are spelled out.)
#define FTZ_REASON_ENUMERATOR_(name, code, key, desc) name = (code),
#define FTZ_REASON_ENTRY_(name, code, key, desc) ReasonInfo{(code), key, desc},

namespace ftz::engine {
enum class Reason : uint16_t {
#define FTZ_REASON FTZ_REASON_ENUMERATOR_
#include "ftz/engine/reasons/packet.def"
#undef FTZ_REASON
  kCount,
  kNone = 0xffff,  // not a reason: the packet is fine
};
template <>
struct ReasonTable<Reason> {
  static constexpr ReasonGroup kGroup = ReasonGroup::kPacket;
  static constexpr std::string_view kName = "packet";
  static constexpr std::array kEntries = {
#define FTZ_REASON FTZ_REASON_ENTRY_
#include "ftz/engine/reasons/packet.def"
#undef FTZ_REASON
  };
};
inline constexpr uint32_t kReasonCount = static_cast<uint32_t>(kReasonCountOf<Reason>);

enum class PathDrop : uint16_t {
#define FTZ_REASON FTZ_REASON_ENUMERATOR_
#include "ftz/engine/reasons/path.def"
#undef FTZ_REASON
  kCount,
};
template <>
struct ReasonTable<PathDrop> {
  static constexpr ReasonGroup kGroup = ReasonGroup::kPath;
  static constexpr std::string_view kName = "path";
  static constexpr std::array kEntries = {
#define FTZ_REASON FTZ_REASON_ENTRY_
#include "ftz/engine/reasons/path.def"
#undef FTZ_REASON
  };
};
inline constexpr size_t kPathDropCount = kReasonCountOf<PathDrop>;

enum class XdpPath : uint16_t {
#define FTZ_REASON FTZ_REASON_ENUMERATOR_
#include "ftz/engine/reasons/xdp.def"
#undef FTZ_REASON
  kCount,
};
template <>
struct ReasonTable<XdpPath> {
  static constexpr ReasonGroup kGroup = ReasonGroup::kXdp;
  static constexpr std::string_view kName = "xdp";
  static constexpr std::array kEntries = {
#define FTZ_REASON FTZ_REASON_ENTRY_
#include "ftz/engine/reasons/xdp.def"
#undef FTZ_REASON
  };
};
inline constexpr size_t kXdpPathCount = kReasonCountOf<XdpPath>;
}  // namespace ftz::engine

namespace ftz::engine::app {
enum class AppAnomaly : uint16_t {
#define FTZ_REASON FTZ_REASON_ENUMERATOR_
#include "ftz/engine/reasons/app.def"
#undef FTZ_REASON
  kCount,
};
}  // namespace ftz::engine::app
template <>
struct ftz::engine::ReasonTable<ftz::engine::app::AppAnomaly> {
  static constexpr ReasonGroup kGroup = ReasonGroup::kApp;
  static constexpr std::string_view kName = "app";
  static constexpr std::array kEntries = {
#define FTZ_REASON FTZ_REASON_ENTRY_
#include "ftz/engine/reasons/app.def"
#undef FTZ_REASON
  };
};
namespace ftz::engine::app {
inline constexpr size_t kAppAnomalyCount = kReasonCountOf<AppAnomaly>;
}  // namespace ftz::engine::app

namespace ftz::engine::sig {
// kNone (code 0) is "not degraded", so that a zero-initialised scan state is.
enum class Uninspectable : uint8_t {
#define FTZ_REASON FTZ_REASON_ENUMERATOR_
#include "ftz/engine/reasons/scan.def"
#undef FTZ_REASON
  kCount,
};
}  // namespace ftz::engine::sig
template <>
struct ftz::engine::ReasonTable<ftz::engine::sig::Uninspectable> {
  static constexpr ReasonGroup kGroup = ReasonGroup::kScan;
  static constexpr std::string_view kName = "scan";
  static constexpr std::array kEntries = {
#define FTZ_REASON FTZ_REASON_ENTRY_
#include "ftz/engine/reasons/scan.def"
#undef FTZ_REASON
  };
};
namespace ftz::engine::sig {
inline constexpr size_t kUninspectableCount = kReasonCountOf<Uninspectable>;
}  // namespace ftz::engine::sig

#undef FTZ_REASON_ENUMERATOR_
#undef FTZ_REASON_ENTRY_

// Append only, dense from 0 (see the top of this file); a code fits the
// low byte of a wire code; kCount follows the last entry.
namespace ftz::engine::detail {
template <class E>
constexpr bool group_is_sound() noexcept {
  return codes_are_positions(ReasonTable<E>::kEntries) && kReasonCountOf<E> <= 256 &&
         static_cast<size_t>(E::kCount) == kReasonCountOf<E>;
}
static_assert(group_is_sound<Reason>(), "packet.def: codes must be 0, 1, 2, ... in order (append only)");
static_assert(group_is_sound<app::AppAnomaly>(),
              "app.def: codes must be 0, 1, 2, ... in order (append only)");
static_assert(group_is_sound<sig::Uninspectable>(),
              "scan.def: codes must be 0, 1, 2, ... in order (append only)");
static_assert(group_is_sound<PathDrop>(), "path.def: codes must be 0, 1, 2, ... in order (append only)");
static_assert(group_is_sound<XdpPath>(), "xdp.def: codes must be 0, 1, 2, ... in order (append only)");
}  // namespace ftz::engine::detail
