#include "ftz/engine/classify/masking.hpp"

#include "text_units.hpp"

namespace ftz::engine::classify {
namespace {

// At least this many characters are hidden (or all, when shorter): keeping
// 2 + 2 of a 5-character value would reveal nearly all of it.
constexpr size_t kMinHidden = 4;

struct KeepRule {
  size_t head;
  size_t tail;
};

// DOMAIN.md §4.3 conventions; PCI DSS 4.0 3.4.1 caps PAN display at BIN + last 4.
KeepRule keep_rule(ValidatorId id) noexcept {
  switch (id) {
    case ValidatorId::kResidentId:
    case ValidatorId::kResidentId15:
      return {6, 4};  // 110105********002X
    case ValidatorId::kBankCard:
      return {6, 4};
    case ValidatorId::kMobile:
      return {3, 4};  // 138****5678
    default:
      return {2, 2};
  }
}

// Masks `s` by UTF-8 code points (a multi-byte character is kept or hidden
// whole; each hidden byte becomes '*', so the length in bytes is unchanged).
void mask_code_points(std::string_view s, KeepRule rule, char* out) noexcept {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); i += detail::utf8_len(detail::byte_at(s, i))) ++count;
  size_t head = rule.head;
  size_t tail = rule.tail;
  const size_t need_hidden = count < kMinHidden ? count : kMinHidden;
  while (head + tail > 0 && (head + tail > count || count - head - tail < need_hidden)) {
    if (tail >= head) {  // shrink the longer side, the tail on a tie
      --tail;
    } else {
      --head;
    }
  }
  size_t cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = detail::utf8_len(detail::byte_at(s, i));
    const bool keep = cp < head || cp >= count - tail;
    for (size_t k = 0; k < len && i + k < s.size(); ++k) out[i + k] = keep ? s[i + k] : '*';
    i += len;
    ++cp;
  }
}

}  // namespace

size_t mask(ValidatorId id, std::string_view normalized, std::span<char> out) noexcept {
  if (out.size() < normalized.size()) return 0;
  if (normalized.empty()) return 0;
  char* dst = out.data();
  if (id == ValidatorId::kEmail) {
    const size_t at = normalized.rfind('@');
    if (at != std::string_view::npos && at > 0) {
      // z***@domain: the first character of the local part, the domain kept
      // (it names the provider, e.g. qq.com, not the person).
      const size_t keep = at >= 2 ? 1 : 0;
      for (size_t i = 0; i < normalized.size(); ++i) {
        dst[i] = (i < keep || i >= at) ? normalized[i] : '*';
      }
      return normalized.size();
    }
  }
  mask_code_points(normalized, keep_rule(id), dst);
  return normalized.size();
}

}  // namespace ftz::engine::classify
