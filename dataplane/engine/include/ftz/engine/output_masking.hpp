#pragma once
// Masking at output, for the code that writes records, reports, statistics
// and logs. Every helper here applies the ONE masking function,
// classify::mask_identifiers (the scanner's validators run over the text, a
// span one confirms is masked; see classify/redact.hpp and docs/eve.md
// "Masking at output"). Writers use these helpers (or append_json_string in
// eve.hpp, which applies it to every JSON string); the only text written
// without it is what a writer builds itself from numbers and fixed names
// (addresses, times, counters, the alert token, enum names).
// Logger side and slow path only: never call these per packet.

#include <string>
#include <string_view>

namespace ftz::engine {

// A copy of `s` with every confirmed identifier masked.
std::string masked_text(std::string_view s);
// The same, in place.
void mask_in_place(std::string& s) noexcept;

// Replaces the process's stderr (fprintf(stderr, ...), and DPDK's log once
// it is pointed at stderr with rte_openlog_stream) by a stream that masks
// each line before it reaches file descriptor 2. A partial line waits for
// its newline (or exit), so an identifier is never cut in two. Call it first
// in main(), before anything is logged; false when the stream cannot be made
// (the caller exits: it cannot promise masked logs). Idempotent.
bool mask_standard_error() noexcept;

}  // namespace ftz::engine
