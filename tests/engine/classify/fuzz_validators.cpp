// libFuzzer target for ftz_classify: every validator on the input, then the
// normalisation and masking invariants.
//   - validate() never reads past the candidate (ASan) and keeps its contract:
//     valid <=> strength in 1..3; normalized_len <= kMaxNormalized;
//   - normalize_digits: out_len <= capacity, offsets strictly increasing and
//     inside the input, input_range inside the input;
//   - mask: output length == input length, kept bytes equal the input, no
//     more shown than head + tail of the rule, at least min(4, n) hidden
//     (e-mail: at most one local character shown).
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ftz/engine/classify/masking.hpp"
#include "ftz/engine/classify/normalize.hpp"
#include "ftz/engine/classify/validators.hpp"

using namespace ftz::engine::classify;

namespace {

void check_mask(ValidatorId id, std::string_view value) {
  std::array<char, 2048> out{};
  if (value.size() > out.size()) return;
  const size_t n = mask(id, value, out);
  if (n != value.size()) std::abort();
  size_t shown = 0;
  for (size_t i = 0; i < n; ++i) {
    if (out[i] != '*') {
      if (out[i] != value[i]) std::abort();
      ++shown;
    }
  }
  if (id == ValidatorId::kEmail) return;  // its rule keeps the domain
  // Shown bytes: at most head + tail code points of up to 4 bytes each.
  size_t limit = 4;
  if (id == ValidatorId::kResidentId || id == ValidatorId::kResidentId15 || id == ValidatorId::kBankCard)
    limit = 10;
  if (id == ValidatorId::kMobile) limit = 7;
  if (shown > limit * 4) std::abort();
  bool ascii = true;
  for (char c : value) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {
    if (shown > limit) std::abort();
    const size_t min_hidden = n < 4 ? n : 4;
    if (n - shown < min_hidden) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const ValidationContext ctx{1794715200};

  for (size_t i = 0; i < static_cast<size_t>(ValidatorId::kCount); ++i) {
    const auto id = static_cast<ValidatorId>(i);
    const Verdict v = validate(id, in, ctx);
    if (v.valid != (v.strength >= 1 && v.strength <= 3)) std::abort();
    if (v.normalized_len > kMaxNormalized) std::abort();
    if (!v.valid && (v.normalized_len != 0 || v.minor)) std::abort();
    if (v.minor && id != ValidatorId::kResidentId && id != ValidatorId::kResidentId15) std::abort();
    if (v.valid) check_mask(id, v.normalized_view());
    check_mask(id, in);
    // Unknown packet time never flags a minor.
    if (validate(id, in, ValidationContext{}).minor) std::abort();
  }

  std::array<char, 512> out{};
  std::array<uint32_t, 512> offsets{};
  const NormalizeResult r = normalize_digits(in, out, offsets, (size & 1) == 0);
  if (r.out_len > out.size() || r.in_consumed > in.size()) std::abort();
  if (r.out_len > r.in_consumed) std::abort();  // folding and stripping only shrink
  for (size_t i = 0; i < r.out_len; ++i) {
    if (offsets[i] >= in.size()) std::abort();
    if (i > 0 && offsets[i] <= offsets[i - 1]) std::abort();
  }
  if (r.out_len > 0) {
    const size_t b = size % r.out_len;
    const ByteRange br = input_range(in, offsets, b, r.out_len);
    if (br.begin > br.end || br.end > in.size()) std::abort();
    (void)has_alnum_boundaries(in, br);
    // A normalized window validates like the exact input bytes it came from.
    const std::string_view window(out.data() + b, r.out_len - b);
    const std::string_view source = in.substr(br.begin, br.end - br.begin);
    for (ValidatorId id : {ValidatorId::kResidentId, ValidatorId::kBankCard, ValidatorId::kMobile}) {
      const Verdict a = validate(id, window, ctx);
      const Verdict c = validate(id, source, ctx);
      if (a.valid && c.valid && a.normalized_view() != c.normalized_view()) std::abort();
    }
  }
  return 0;
}
