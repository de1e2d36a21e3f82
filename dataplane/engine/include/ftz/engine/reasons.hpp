#pragma once
#include <cstdint>
#include <string_view>

namespace ftz::engine {

enum class Reason : uint16_t {
#define X(name, desc) name,
#include "ftz/engine/reasons.def"
#undef X
  kCount,
  kNone = 0xffff,
};

inline constexpr uint32_t kReasonCount = static_cast<uint32_t>(Reason::kCount);

constexpr std::string_view reason_name(Reason r) noexcept {
  switch (r) {
#define X(name, desc) \
  case Reason::name:  \
    return #name;
#include "ftz/engine/reasons.def"
#undef X
    default:
      return "none";
  }
}

constexpr std::string_view reason_description(Reason r) noexcept {
  switch (r) {
#define X(name, desc) \
  case Reason::name:  \
    return desc;
#include "ftz/engine/reasons.def"
#undef X
    default:
      return "";
  }
}

}  // namespace ftz::engine
