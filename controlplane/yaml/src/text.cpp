#include "ftz/config/text.hpp"

#include <algorithm>

namespace ftz::config {

std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions, the
  // most common typo in a key ("nmae").
  const std::size_t la = a.size();
  const std::size_t lb = b.size();
  if ((la > lb ? la - lb : lb - la) > cap) return cap + 1;
  std::vector<std::size_t> prev2(lb + 1);
  std::vector<std::size_t> prev(lb + 1);
  std::vector<std::size_t> cur(lb + 1);
  for (std::size_t j = 0; j <= lb; ++j) prev[j] = j;
  for (std::size_t i = 1; i <= la; ++i) {
    cur[0] = i;
    std::size_t row_min = cur[0];
    for (std::size_t j = 1; j <= lb; ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > cap) return cap + 1;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[lb];
}

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates) {
  constexpr std::size_t kMaxDistance = 2;
  std::optional<std::string> best;
  std::size_t best_d = kMaxDistance + 1;
  for (const auto c : candidates) {
    const std::size_t d = edit_distance(word, c, kMaxDistance);
    // Half the length: "ab" -> "cd" is not a typo of one another.
    if (d < best_d && d * 2 < std::max(word.size(), c.size())) {
      best_d = d;
      best = std::string(c);
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  if (auto m = closest_match(word, candidates)) return " (did you mean \"" + *m + "\"?)";
  return "";
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      // Control bytes would corrupt a one-error-per-line report.
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string quoted_list(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += (i + 1 == items.size()) ? " or " : ", ";
    out += quote(items[i]);
  }
  return out;
}

std::string normalize_line_breaks(std::string_view text) {
  std::string out(text);
  for (std::size_t i = out.find('\r'); i != std::string::npos; i = out.find('\r', i + 1)) {
    if (i + 1 == out.size() || out[i + 1] != '\n') out[i] = '\n';
  }
  return out;
}

std::optional<std::size_t> first_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b == 0xe0) lo = 0xa0;  // overlong
      if (b == 0xed) hi = 0x9f;  // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b == 0xf0) lo = 0x90;  // overlong
      if (b == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xbf) return i;
    }
    i += len;
  }
  return std::nullopt;
}

std::string utf8_prefix(std::string_view text, std::size_t max) {
  text = text.substr(0, max);
  if (const auto bad = first_invalid_utf8(text)) text = text.substr(0, *bad);
  return std::string(text);
}

}  // namespace ftz::config
