#include "civil_date.hpp"

#include "ftz/config/config.hpp"

namespace ftz::config {

DateParse parse_civil_date(std::string_view text) noexcept {
  DateParse r;
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return r;
  unsigned v[3] = {0, 0, 0};
  const std::size_t starts[3] = {0, 5, 8};
  const std::size_t lens[3] = {4, 2, 2};
  for (int f = 0; f < 3; ++f) {
    for (std::size_t i = 0; i < lens[f]; ++i) {
      const char c = text[starts[f] + i];
      if (c < '0' || c > '9') return r;
      v[f] = v[f] * 10 + static_cast<unsigned>(c - '0');
    }
  }
  const CivilDate date{v[0], v[1], v[2]};
  if (!civil::is_real_date(date)) {
    r.error = DateError::kImpossible;
    return r;
  }
  if (date.year < 1970) {
    r.error = DateError::kOutOfRange;
    return r;
  }
  r.date = date;
  return r;
}

int64_t shanghai_midnight(int year, unsigned month, unsigned day) noexcept {
  return civil::shanghai_midnight_s(year, month, day);
}

}  // namespace ftz::config
