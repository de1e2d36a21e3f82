#pragma once
// RAII owners of Hyperscan handles (STYLE.md: every C handle is wrapped and the
// library's error style is converted at the wrapper). Deleters are noexcept and
// tolerate null.

#include <hs/hs.h>

#include <memory>

namespace ftz::engine::sig {

struct HsDatabaseDeleter {
  void operator()(hs_database_t* db) const noexcept { hs_free_database(db); }
};
struct HsScratchDeleter {
  void operator()(hs_scratch_t* s) const noexcept { hs_free_scratch(s); }
};
// Closing a stream reports end-of-data matches only when given a scratch and
// a callback; the deleter discards them (the owner calls hs_reset_stream with a
// callback first when it wants them).
struct HsStreamDeleter {
  void operator()(hs_stream_t* s) const noexcept {
    if (s != nullptr) hs_close_stream(s, nullptr, nullptr, nullptr);
  }
};

using HsDatabasePtr = std::unique_ptr<hs_database_t, HsDatabaseDeleter>;
using HsScratchPtr = std::unique_ptr<hs_scratch_t, HsScratchDeleter>;
using HsStreamPtr = std::unique_ptr<hs_stream_t, HsStreamDeleter>;

}  // namespace ftz::engine::sig
