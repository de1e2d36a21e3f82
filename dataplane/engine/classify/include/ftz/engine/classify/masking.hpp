#pragma once
// Masking of identifiers for records and evidence (DOMAIN.md §4.3). The output
// has the same length in bytes as the input; each hidden byte becomes '*'.
//   resident ID (18 and upgraded 15): first 6 + last 4   110105********002X
//   bank card: BIN (first 6) + last 4 (PCI DSS 4.0 3.4.1)
//   mobile: first 3 + last 4                             138****5678
//   e-mail: first character of the local part, the rest of it hidden, the
//           domain kept                                  z***@example.com
//   everything else: first 2 + last 2 characters (UTF-8 code points, so a
//           plate keeps its province character whole)
// Never reveals more than the rule: when fewer than 4 characters would be
// hidden (short input), the longer kept side (the tail on a tie) shrinks until at least
// min(4, length) characters are hidden.

#include <cstddef>
#include <span>
#include <string_view>

#include "ftz/engine/classify/validators.hpp"

namespace ftz::engine::classify {

// Writes the masked form of `normalized` (a Verdict's canonical form, or the
// candidate for an e-mail without one) into `out`. Returns the bytes written:
// normalized.size(), or 0 when out is smaller (nothing is written then).
size_t mask(ValidatorId id, std::string_view normalized, std::span<char> out) noexcept;

}  // namespace ftz::engine::classify
