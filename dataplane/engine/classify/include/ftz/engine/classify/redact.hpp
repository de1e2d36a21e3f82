#pragma once
// Output masking: THE function every string goes through before it reaches an
// event, a report, a statistics file, a metric or a log line
// (ARCHITECTURE.md "Fail closed": no identifier is ever written in clear).
// It runs the same validators as the scanner over the text and hides each
// span one confirms with mask()'s rule (DOMAIN.md §4.3), in place.
//
// What it looks at (docs/eve.md "Masking at output"):
//  - percent-escapes ("%31", "%40") and '+' are read decoded, so a query
//    string is judged as the application reads it; a hidden escaped
//    character becomes "***";
//  - runs of digits and letters with the scanner's normalisation (full-width
//    folded, one space/-/·/. between digits removed) and its boundary rule
//    (no [0-9A-Za-z] before or after); inside a run joined by separators,
//    every part between separators is a candidate too;
//  - e-mail addresses, coordinate pairs, vehicle plates.
// A span is masked when a validator accepts it and the verdict needs no
// context, or needs context and a context keyword (passport, 护照, imei,
// card, 卡号, ...) stands within 64 bytes before it. An 18-digit code that
// passes only the USCC check (1 in 31 random numbers do) needs context too.
// A dotted-quad IPv4 literal is never masked (it is an address, and "139.x"
// would otherwise pass as a mobile number).
//
// Length-preserving: kept characters stay as they were written, each byte of
// a hidden character becomes '*', separators between digits stay. Pure,
// noexcept, no allocation (about 24 KiB of stack); meant for the logger side,
// never per packet. Idempotent: masked text masks to itself.

#include <cstddef>
#include <span>

namespace ftz::engine::classify {

// Masks every confirmed identifier in `text`; returns how many were masked.
size_t mask_identifiers(std::span<char> text) noexcept;

}  // namespace ftz::engine::classify
