#pragma once
// Files that hold a secret (a password, password hashes): read only when
// nobody but their user can read them, as ssh refuses a private key that
// others can read. The one check every program makes of such a file.

#include <cstddef>
#include <string>
#include <tl/expected.hpp>

namespace ftz::base {

// The content of `path`, or why not: it must be a regular file of at most
// `max_bytes`, belong to this user or root, and give group and others no
// access (mode 600 or 400).
tl::expected<std::string, std::string> read_secret_file(const std::string& path, size_t max_bytes);

}  // namespace ftz::base
