// Hex helpers for fixtures that compare against reference bytes.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "ftz/test/net_types.hpp"

namespace ftz::test {

// "45 00 00 73" or "45000073"; whitespace ignored. Throws std::invalid_argument.
Bytes from_hex(std::string_view hex);
std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace ftz::test
