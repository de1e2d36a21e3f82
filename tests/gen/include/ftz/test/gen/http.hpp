// HTTP/1.1 message text for the generators.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ftz/test/gen/rng.hpp"

namespace ftz::test::gen {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Request line + Host + the given headers + Content-Length (or
// Transfer-Encoding: chunked when `chunk_sizes` is non-empty: the body is cut
// into chunks of those sizes, the last size repeating) + body.
std::string http_request(std::string_view method, std::string_view uri, std::string_view host,
                         const HeaderList& headers, std::string_view body,
                         const std::vector<std::size_t>& chunk_sizes = {});

// Length of the head (request/status line and headers, with the blank line).
std::size_t http_head_length(std::string_view message);

std::string http_response(int status, std::string_view reason, std::string_view content_type,
                          std::string_view body, std::uint64_t ts_ns);

// RFC 9110 IMF-fixdate, e.g. "Mon, 02 Mar 2026 01:00:00 GMT".
std::string http_date(std::uint64_t ts_ns);

// Chunk sizes between lo and hi bytes, enough to cover `total`.
std::vector<std::size_t> random_chunk_sizes(Rng& rng, std::size_t total, std::size_t lo, std::size_t hi);

// Body offset -> offset in the chunked encoding produced by http_request for
// the same sizes (for locating a body byte on the wire).
std::size_t chunked_wire_offset(std::size_t body_offset, const std::vector<std::size_t>& sizes,
                                std::size_t body_size);

}  // namespace ftz::test::gen
