#pragma once
// Streaming text decoders run before Hyperscan (bounded, no allocation): URL
// (%XX and '+', form bodies), JSON \uXXXX escapes (JSON bodies) and the
// full-width fold (U+FF10..FF19 digits, U+FF21..FF3A / U+FF41..FF5A letters ->
// ASCII) on every body. Bytes of an escape or UTF-8 sequence cut by a chunk end
// wait in the ScanState. Output never exceeds input + kDecoderSlack.

#include <cstddef>
#include <cstdint>

#include "ftz/engine/signatures/scanner.hpp"

namespace ftz::engine::sig::detail {

inline constexpr size_t kDecoderSlack = 16;

// URL or JSON stage (by st.kind) into `tmp`, then the fold into `out`; raw and
// CSV bodies go straight to the fold. Returns bytes written to out.
size_t decode(ScanState& st, const uint8_t* in, size_t n, uint8_t* tmp, uint8_t* out) noexcept;
// Emits held bytes literally (end of stream). Returns bytes written (<= 16).
size_t flush(ScanState& st, uint8_t* out) noexcept;
// Forgets held bytes (a new body starts).
void reset(ScanState& st) noexcept;

}  // namespace ftz::engine::sig::detail
