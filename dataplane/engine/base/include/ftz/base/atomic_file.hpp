#pragma once
// Durable file replacement: whoever reads `path` after a crash at any instant
// finds either the old file or the new one, never a mix and never a
// truncated file. The one way the project writes state that must survive
// (compliance state, key files, the control plane's config store).

#include <sys/types.h>

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace ftz::base {

enum class IfExists {
  kReplace,  // the new contents replace the file (rename(2))
  kKeep,     // an existing file wins and is left alone (link(2) fails)
};

// Writes `bytes` to a temporary file beside `path` with `mode`, fsyncs it,
// renames (or links) it into place and fsyncs the directory, so the new name
// is durable once this returns. Returns true when the file was written,
// false when it existed and `if_exists` is kKeep; an error names the step
// and the file. The temporary file never outlives a failed call.
tl::expected<bool, std::string> write_file_atomically(const std::string& path, std::string_view bytes,
                                                      mode_t mode, IfExists if_exists = IfExists::kReplace);

// Fsyncs a directory: makes the creation, rename or removal of its entries
// durable.
tl::expected<void, std::string> sync_directory(const std::string& dir);

// Crash tests: `hook` runs after each step of write_file_atomically() with
// the step's name ("temp-written", "temp-synced", "renamed",
// "directory-synced"), and a caller may name its own steps through
// fault_point(). A test's hook kills the process there (kill -9 at every
// instant that matters). Null (the default) in every program.
using FaultHook = void (*)(std::string_view step);
void set_fault_hook(FaultHook hook) noexcept;
void fault_point(std::string_view step) noexcept;

}  // namespace ftz::base
