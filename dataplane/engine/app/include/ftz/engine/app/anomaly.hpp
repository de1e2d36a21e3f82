#pragma once
// One registry of app-layer anomaly reasons. The X-macro below generates the
// AppAnomaly enum and its names; counters are indexed by it. Add reasons at
// the end of a protocol's group only when nothing persisted depends on the
// numeric values (names are the stable identifiers exported to metrics).

#include <cstddef>
#include <cstdint>
#include <string_view>

// X(enumerator, "metric_name", "why it is counted")
#define FTZ_APP_ANOMALIES(X)                                                                     \
  X(kTlsBadRecordLength, "tls_bad_record_length", "record length 0 or over 2^14 (RFC 8446 5.1)")            \
  X(kTlsUnexpectedRecord, "tls_unexpected_record", "non-handshake record before ClientHello")  \
  X(kTlsNotClientHello, "tls_not_client_hello", "first handshake message is not ClientHello")  \
  X(kTlsHelloTooLong, "tls_hello_too_long", "ClientHello larger than the accumulation cap")    \
  X(kTlsMalformedHello, "tls_malformed_hello", "fixed ClientHello fields overrun the message") \
  X(kTlsBadExtension, "tls_bad_extension", "extension lengths inconsistent")                   \
  X(kTlsDuplicateExtension, "tls_duplicate_extension", "same extension type twice")            \
  X(kTlsBadSni, "tls_bad_sni", "server_name list malformed or host name not printable ASCII")  \
  X(kTlsBadAlpn, "tls_bad_alpn", "ALPN list malformed")                                        \
  X(kTlsGap, "tls_gap", "stream gap before the ClientHello completed")                         \
  X(kHttpBadRequestLine, "http_bad_request_line", "request line invalid; resynchronising")     \
  X(kHttpHeaderTooLong, "http_header_too_long", "header block over the cap")                   \
  X(kHttpBadHeader, "http_bad_header", "header line without name or colon")                    \
  X(kHttpBadContentLength, "http_bad_content_length", "Content-Length not a number or differs") \
  X(kHttpContentLengthAndChunked, "http_cl_and_te", "both Content-Length and Transfer-Encoding") \
  X(kHttpDuplicateHost, "http_duplicate_host", "more than one Host header")                    \
  X(kHttpUnsupportedTransferEncoding, "http_unsupported_te", "final coding is not chunked")   \
  X(kHttpBadChunk, "http_bad_chunk", "chunk size line or chunk terminator invalid")            \
  X(kHttpHeadersIncomplete, "http_headers_incomplete", "request reported before its header end") \
  X(kHttpBodyTruncated, "http_body_truncated", "stream ended or gapped inside a body")         \
  X(kHttpGap, "http_gap", "stream gap; parser resynchronises on the next request line")        \
  X(kDnsTruncated, "dns_truncated", "message ends inside the header or a question")            \
  X(kDnsBadLabel, "dns_bad_label", "reserved label type (0x40/0x80)")                          \
  X(kDnsBadPointer, "dns_bad_pointer", "compression pointer not strictly backwards")           \
  X(kDnsPointerLoop, "dns_pointer_loop", "too many compression jumps in one name")             \
  X(kDnsNameTooLong, "dns_name_too_long", "name over 255 octets on the wire")                  \
  X(kDnsTooManyQuestions, "dns_too_many_questions", "QDCOUNT over the per-message cap")        \
  X(kDnsGap, "dns_gap", "stream gap in DNS over TCP; framing lost")

namespace ftz::engine::app {

enum class AppAnomaly : uint16_t {
#define FTZ_X(name, str, why) name,
  FTZ_APP_ANOMALIES(FTZ_X)
#undef FTZ_X
};

inline constexpr size_t kAppAnomalyCount = 0
#define FTZ_X(name, str, why) +1
    FTZ_APP_ANOMALIES(FTZ_X)
#undef FTZ_X
    ;

// Stable metric name of a reason ("tls_bad_sni"); "unknown" for out-of-range.
std::string_view app_anomaly_name(AppAnomaly a) noexcept;

}  // namespace ftz::engine::app
