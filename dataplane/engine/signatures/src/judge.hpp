#pragma once
// Internal to ftz_signatures: what scanner.cpp (streams, decoding, the scan
// of a block) and judge.cpp (judging the recorded matches: boundaries,
// validators, context bound to the candidate's field, one identifier per
// span) share.

#include <cstddef>
#include <cstdint>

#include "ftz/engine/classify/validators.hpp"
#include "ftz/engine/signatures/scanner.hpp"

namespace ftz::engine::sig {

namespace detail {
// Candidates judged at once (raw matches of a slice + pending spans).
inline constexpr size_t kMaxCandidates = 2048;
}  // namespace detail

struct Scanner::Candidate {
  uint64_t from;
  uint64_t to;
  uint32_t sig;
  bool satisfied;      // context established (bound), possibly in an earlier slice
  bool needs;          // counts only with context (validator or catalog)
  bool pending_right;  // right boundary not visible yet
  bool pending_ctx;    // right context not visible yet
  bool dropped;
  classify::Verdict verdict;
};

}  // namespace ftz::engine::sig
