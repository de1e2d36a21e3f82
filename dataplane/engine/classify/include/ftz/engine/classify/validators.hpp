#pragma once
// Identifier validators (DOMAIN.md §3). Each one judges the exact bytes a
// signature pattern matched: check characters, calendar dates, allocation
// tables and structure. Pure, noexcept, no allocation, no locale: safe on the
// worker's per-packet path after a Hyperscan scan (STYLE.md: the callback only
// records the match; validation runs after the scan of the chunk).
//
// Boundaries (the byte before and after a match must not be [0-9A-Za-z]) are
// NOT checked here: the candidate has none. See normalize.hpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ftz::engine::classify {

// One registry feeds the enum and the names used by the signature catalog
// (examples/signatures/builtin.yaml `validator:`). Names are stable: the
// catalog and policy bundles refer to them.
#define FTZ_CLASSIFY_VALIDATORS(X)           \
  X(kNone, "none")                           \
  X(kResidentId, "resident_id")              \
  X(kResidentId15, "resident_id_15")         \
  X(kBankCard, "bank_card")                  \
  X(kUscc, "uscc")                           \
  X(kMobile, "mobile")                       \
  X(kPassport, "passport")                   \
  X(kHkMacaoPermit, "hk_macao_permit")       \
  X(kHomeReturnPermit, "home_return_permit") \
  X(kTaiwanPermit, "taiwan_permit")          \
  X(kImei, "imei")                           \
  X(kEmail, "email")                         \
  X(kCoordinates, "coordinates")             \
  X(kTrajectory, "trajectory")               \
  X(kVehiclePlate, "vehicle_plate")          \
  X(kVcf, "vcf")                             \
  X(kFasta, "fasta")                         \
  X(kFastq, "fastq")                         \
  X(kHl7, "hl7")                             \
  X(kDicom, "dicom")                         \
  X(kFhirPatient, "fhir_patient")

enum class ValidatorId : uint8_t {
#define FTZ_X(id, name) id,
  FTZ_CLASSIFY_VALIDATORS(FTZ_X)
#undef FTZ_X
      kCount
};

// What kind of document or account a valid match is; lets policy and records
// tell look-alikes apart (DOMAIN.md §3.1: HMT residence permits and the 2023
// foreigner PR card share the resident-ID format and MOD 11-2).
#define FTZ_CLASSIFY_ID_TYPES(X)                 \
  X(kUnknown, "unknown")                         \
  X(kPrcId, "prc_id")                            \
  X(kPrcIdLegacy, "prc_id_legacy")               \
  X(kHmtResidence, "hmt_residence")              \
  X(kForeignPr, "foreign_pr")                    \
  X(kUnionPay, "unionpay")                       \
  X(kDomesticCard, "domestic_card")              \
  X(kVisa, "visa")                               \
  X(kMastercard, "mastercard")                   \
  X(kAmex, "amex")                               \
  X(kJcb, "jcb")                                 \
  X(kPrcPassport, "prc_passport")                \
  X(kPrcServicePassport, "prc_service_passport") \
  X(kHkSarPassport, "hksar_passport")            \
  X(kMsarPassport, "msar_passport")              \
  X(kHkResident, "hk_resident")                  \
  X(kMacaoResident, "macao_resident")            \
  X(kImeiSv, "imeisv")                           \
  X(kPlateOrdinary, "plate_ordinary")            \
  X(kPlateNev, "plate_nev")

enum class IdType : uint8_t {
#define FTZ_X(id, name) id,
  FTZ_CLASSIFY_ID_TYPES(FTZ_X)
#undef FTZ_X
      kCount
};

// Strength of the evidence in the candidate alone:
//  3 strong: a check character and semantic checks (date, region, BIN), or an
//    unambiguous structural marker (VCF/HL7/DICOM/FHIR headers);
//  2 one independent check: a check digit only, or an allocation table /
//    distinctive structure (mobile prefixes, e-mail, plates, coordinates);
//  1 format only: count it only with context (needs_context is then true).
inline constexpr uint8_t kStrengthStrong = 3;
inline constexpr uint8_t kStrengthChecked = 2;
inline constexpr uint8_t kStrengthFormat = 1;

// Longest canonical form kept in a Verdict. Identifiers fit (an 18-char ID, a
// 19-digit PAN, a 13-byte UTF-8 plate); an e-mail longer than this has
// normalized_len == 0 and the caller tokens the candidate bytes instead.
inline constexpr size_t kMaxNormalized = 40;
// Candidates longer than this are rejected without being read (the longest
// catalog pattern, FASTQ, is < 512 bytes).
inline constexpr size_t kMaxCandidate = 1024;

struct Verdict {
  bool valid = false;
  uint8_t strength = 0;        // kStrength*; 0 when !valid
  bool needs_context = false;  // count only with a context keyword or field name
  bool minor = false;          // resident ID whose holder is under 14 (PIPL art 28)
  IdType id_type = IdType::kUnknown;
  uint8_t normalized_len = 0;
  // Canonical form for tokens (HMAC) and masking: ASCII digits/upper case, no
  // separators, no country code; the 15-digit ID upgraded to 18; the
  // home-return permit without its renewal count. Not NUL-terminated.
  char normalized[kMaxNormalized] = {};

  std::string_view normalized_view() const noexcept { return {normalized, normalized_len}; }
};

struct ValidationContext {
  // Packet time (Unix seconds). Dates are compared in Asia/Shanghai (fixed
  // UTC+08:00, no DST since 1991; PLATFORM.md §8). 0 = unknown: the
  // "not in the future" and minor checks are skipped (minor stays false).
  int64_t now_unix_s = 0;
};

// Judges `candidate` (the exact matched bytes; full-width digits/letters and
// separators inside digit runs are folded internally, see normalize.hpp).
// Never reads past candidate; anything that is not the identifier is
// valid=false. kNone accepts any non-empty candidate (the pattern is the
// evidence) with strength 1.
Verdict validate(ValidatorId id, std::string_view candidate, const ValidationContext& ctx) noexcept;

// Where a match really starts, for patterns that cannot carry their left part
// (Hyperscan rejects a SOM pattern with a 64-byte local part before '@' as
// "too large"). For kEmail, `begin` is the '@' and the result is the start of
// the local part: up to 64 local-part bytes read back from text[begin - 1],
// starting after the last ".." and any leading dots (a dot-atom has
// neither). Every other validator returns `begin`. `text` is what the scanner
// holds (chunk plus tail window): those bytes are already seen, so unlike a
// right boundary nothing waits for the next chunk.
size_t extend_left(ValidatorId id, std::string_view text, size_t begin) noexcept;

// GB 32100-2015 unified social credit code, the one check that config
// (tenants[].uscc) and the kUscc validator share. The alphabet has 31 symbols
// (0-9 and A-Y without I, O, S, V, Z); a character's value is its index, -1
// outside the alphabet. The 18th character is the check character of the
// first 17: C18 = 31 - (sum of value_i * 3^(i-1) mod 31), 31 -> '0'; '\0'
// when `first17` is not 17 characters of the alphabet.
int uscc_char_value(char c) noexcept;
char uscc_check_character(std::string_view first17) noexcept;

// Stable names ("resident_id", ...); "" for out-of-range values.
std::string_view validator_name(ValidatorId id) noexcept;
std::optional<ValidatorId> validator_from_name(std::string_view name) noexcept;
std::string_view id_type_name(IdType type) noexcept;

}  // namespace ftz::engine::classify
