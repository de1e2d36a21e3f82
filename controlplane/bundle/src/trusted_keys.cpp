#include "ftz/bundle/trusted_keys.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "ftz/keys/signing_key.hpp"

namespace ftz::bundle {

tl::expected<TrustedKeys, std::string> TrustedKeys::load(const std::string& dir) {
  // Key files are a few hundred bytes; anything large is not one.
  constexpr std::uintmax_t kMaxKeyFile = 16 << 10;
  TrustedKeys out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return tl::unexpected("trusted keys " + dir + ": " + ec.message());
  for (const auto& entry : it) {
    if (entry.path().extension() != ".pub") continue;
    const std::string file = entry.path().string();
    if (!entry.is_regular_file(ec) || entry.file_size(ec) > kMaxKeyFile || ec) {
      return tl::unexpected("trusted key " + file + ": not a regular file of at most 16 KiB");
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return tl::unexpected("trusted key " + file + ": cannot read");
    if (auto added = out.add(text.str()); !added)
      return tl::unexpected("trusted key " + file + ": " + added.error());
  }
  if (out.keys_.empty()) return tl::unexpected("trusted keys " + dir + ": no *.pub key there");
  return out;
}

tl::expected<std::string, std::string> TrustedKeys::add(std::string_view public_pem) {
  auto id = keys::public_key_id(public_pem);
  if (!id) return tl::unexpected(id.error());
  keys_[*id] = std::string(public_pem);
  return *id;
}

const std::string* TrustedKeys::find(const std::string& key_id) const {
  const auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : &it->second;
}

}  // namespace ftz::bundle
