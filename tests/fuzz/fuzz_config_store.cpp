// libFuzzer target: the configuration store's readers (ConfigStore::open:
// the running pointer, the commit it names, the sweep; candidate()).
//
// Input: up to three files separated by the byte 0xff: DIR/config/running,
// DIR/config/commits/00000000000000000001.json and
// DIR/config/candidates/secadmin.json (missing parts: no such file).
// Invariants:
//   - open() accepts or refuses with a message, never crashes;
//   - an opened store's running text hashes to what `running` says (open()
//     checked it), its history lists the running generation, and a commit
//     on top of it works and reopens as the new running generation;
//   - candidate() returns a candidate, none, or an error with a message.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ftz/store/config_store.hpp"
#include "fuzz_common.hpp"

using ftz::store::ConfigStore;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = ftz::fuzz::ScratchDir::path() + "/state";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  for (const char* d : {"", "/config", "/config/commits", "/config/candidates"})
    std::filesystem::create_directory(dir + d, ec);
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (parts.size() < 3) {
    const size_t sep = in.find('\xff', start);
    parts.push_back(in.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start));
    if (sep == std::string_view::npos) break;
    start = sep + 1;
  }
  const char* files[] = {"/config/running", "/config/commits/00000000000000000001.json",
                         "/config/candidates/secadmin.json"};
  for (size_t i = 0; i < parts.size(); ++i)
    ftz::fuzz::write_file(dir + files[i], parts[i].data(), parts[i].size(), 0640);

  auto store = ConfigStore::open(dir);
  if (!store) {
    if (store.error().message.empty()) ftz::fuzz::fail("a refusal without a message");
    return 0;
  }
  auto text = store->running_text();
  if (!text) ftz::fuzz::fail("an opened store cannot read its running text", text.error().message);
  auto history = store->history();
  if (!history || history->empty() || history->front().generation < store->running_generation())
    ftz::fuzz::fail("the history does not hold the running generation");
  auto cand = store->candidate("secadmin");
  if (!cand && cand.error().message.empty()) ftz::fuzz::fail("a candidate error without a message");
  const uint64_t before = store->running_generation();
  auto c = store->commit("secadmin", {"zones: []\n", {{"data/cn.txt", "1.0.1.0/24\n"}}}, before, "fuzz",
                         1'780'000'000);
  if (!c) ftz::fuzz::fail("a commit on an opened store failed", c.error().message);
  { ConfigStore released = std::move(*store); }
  auto again = ConfigStore::open(dir);
  if (!again || again->running_generation() != c->generation || *again->running_text() != "zones: []\n")
    ftz::fuzz::fail("a committed generation does not reopen as the running one");
  return 0;
}
