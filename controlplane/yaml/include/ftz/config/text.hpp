#pragma once
// Small text helpers shared by the YAML readers and the validator.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ftz::config {

// Levenshtein distance, capped: returns > cap as soon as it exceeds cap.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t cap);

// The candidate closest to `word` if it is close enough to be a likely typo
// (distance <= 2, and less than half the word), else nullopt.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates);

// " (did you mean \"x\"?)" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

// `"a", "b" or "c"`, for lists of allowed values.
std::string quoted_list(const std::vector<std::string_view>& items);

std::string quote(std::string_view s);

// `text` with every lone CR (old Mac line ends) turned into LF. YAML 1.2
// (§5.4) counts CR, LF and CRLF as line breaks, but yaml-cpp 0.7 knows only
// LF and CRLF: a CR-only file reads as one line (a comment, "empty", or a
// syntax error at 1:N). One byte for one byte, so positions stay the same.
// Returns `text` unchanged when it has no lone CR.
std::string normalize_line_breaks(std::string_view text);

// The offset of the first byte that is not part of well-formed UTF-8
// (RFC 3629: shortest form, no surrogates, at most U+10FFFF), if any. YAML
// text is Unicode, and every string of the model is a protobuf `string`,
// which must be UTF-8: a policy bundle with a raw byte in a regex would be
// signed, sent, and refused by every data plane (found by fuzz_bundle).
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// At most `max` bytes of `text`, cut where it stops being UTF-8 (a
// character cut in two at `max`, or a bad byte): what a client sent, made
// fit for JSON records, which must be UTF-8.
std::string utf8_prefix(std::string_view text, std::size_t max);

}  // namespace ftz::config
