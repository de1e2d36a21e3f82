#pragma once
// Streaming text decoders run before Hyperscan (bounded, no allocation), on
// every kind of content, in this order: UTF-16 text (runs of at least four
// ASCII code units with their NUL bytes: the NULs are dropped, the run is set
// off by line breaks), percent escapes (%XX; '+' is a space in form bodies
// only), \uXXXX escapes (surrogate pairs; "\/" is '/', other escapes stay as
// written so JSON structure is kept), the full-width fold (U+FF10..FF19
// digits, U+FF21..FF3A / U+FF41..FF5A letters -> ASCII) and every digit
// spaced (seven or more single digits each followed by one space: the spaces
// are dropped). Bytes of an escape, a UTF-8 sequence or a candidate run cut
// by a chunk end wait in the ScanState. Output never exceeds input +
// kDecoderSlack.

#include <cstddef>
#include <cstdint>

#include "ftz/engine/signatures/scanner.hpp"

namespace ftz::engine::sig::detail {

inline constexpr size_t kDecoderSlack = 64;

// All stages; tmp and tmp2 are work buffers of at least n + kDecoderSlack
// bytes. Returns bytes written to out.
size_t decode(ScanState& st, const uint8_t* in, size_t n, uint8_t* tmp, uint8_t* tmp2, uint8_t* out) noexcept;
// Emits held bytes literally (end of stream). Returns bytes written (<= kDecoderSlack).
size_t flush(ScanState& st, uint8_t* out) noexcept;
// Emits only what the look-ahead stages (UTF-16, spaced digits) hold, through
// the later stages; escapes and partial UTF-8 stay held (a reload hands them
// over to the next scanner).
size_t flush_lookahead(ScanState& st, uint8_t* out) noexcept;
// Forgets held bytes (a new body starts).
void reset(ScanState& st) noexcept;

}  // namespace ftz::engine::sig::detail
