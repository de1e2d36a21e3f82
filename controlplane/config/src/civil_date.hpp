#pragma once
// Internal: "YYYY-MM-DD" dates of approvals. The calendar is
// ftz/base/civil_date.hpp's (one implementation for config and engine).

#include <optional>
#include <string_view>

#include "ftz/base/civil_date.hpp"

namespace ftz::config {

using CivilDate = civil::Date;

enum class DateError { kSyntax, kImpossible, kOutOfRange };

// Parses exactly "YYYY-MM-DD". kImpossible for e.g. 2026-02-30; kOutOfRange
// before 1970 (unix time before 1970 is never a valid approval).
struct DateParse {
  std::optional<CivilDate> date;
  DateError error = DateError::kSyntax;
};
DateParse parse_civil_date(std::string_view text) noexcept;

}  // namespace ftz::config
