#pragma once
// Internal: the YAML spelling of every enum of the model. One table per enum
// feeds the reader (parsing, "expected ..." lists) and the validator's
// messages, so a spelling exists in exactly one place.

#include <span>
#include <string_view>

#include "ftzgate/v1/config.pb.h"

namespace ftz::config {

template <typename E>
struct EnumEntry {
  std::string_view name;
  E value;
};

template <typename E>
struct EnumTable {
  std::string_view what;  // "zone kind", for messages
  std::span<const EnumEntry<E>> entries;

  [[nodiscard]] constexpr std::string_view name(E value) const {
    for (const auto& e : entries) {
      if (e.value == value) return e.name;
    }
    return "unspecified";
  }
};

namespace v1 = ftzgate::v1;

inline constexpr EnumEntry<v1::ZoneKind> kZoneKindEntries[] = {
    {"domestic", v1::ZONE_KIND_DOMESTIC},
    {"ftz", v1::ZONE_KIND_FTZ},
    {"offshore", v1::ZONE_KIND_OFFSHORE},
    {"hk_macao_taiwan", v1::ZONE_KIND_HK_MACAO_TAIWAN}};
inline constexpr EnumTable<v1::ZoneKind> kZoneKindNames{"zone kind", kZoneKindEntries};

inline constexpr EnumEntry<v1::Mechanism> kMechanismEntries[] = {
    {"security_assessment", v1::MECHANISM_SECURITY_ASSESSMENT},
    {"standard_contract", v1::MECHANISM_STANDARD_CONTRACT},
    {"certification", v1::MECHANISM_CERTIFICATION},
    {"ftz_list_exempt", v1::MECHANISM_FTZ_LIST_EXEMPT},
    {"scenario_exempt", v1::MECHANISM_SCENARIO_EXEMPT}};
inline constexpr EnumTable<v1::Mechanism> kMechanismNames{"mechanism", kMechanismEntries};

inline constexpr EnumEntry<v1::DataClass> kDataClassEntries[] = {
    {"pi", v1::DATA_CLASS_PI},
    {"sensitive_pi", v1::DATA_CLASS_SENSITIVE_PI},
    {"important", v1::DATA_CLASS_IMPORTANT},
    {"core", v1::DATA_CLASS_CORE},
    {"org_id", v1::DATA_CLASS_ORG_ID}};
inline constexpr EnumTable<v1::DataClass> kDataClassNames{"data class", kDataClassEntries};

inline constexpr EnumEntry<v1::PortRole> kPortRoleEntries[] = {{"inside", v1::PORT_ROLE_INSIDE},
                                                               {"outside", v1::PORT_ROLE_OUTSIDE},
                                                               {"channel", v1::PORT_ROLE_CHANNEL},
                                                               {"mirror", v1::PORT_ROLE_MIRROR}};
inline constexpr EnumTable<v1::PortRole> kPortRoleNames{"port role", kPortRoleEntries};

inline constexpr EnumEntry<v1::Protocol> kProtocolEntries[] = {
    {"tcp", v1::PROTOCOL_TCP}, {"udp", v1::PROTOCOL_UDP}, {"icmp", v1::PROTOCOL_ICMP}};
inline constexpr EnumTable<v1::Protocol> kProtocolNames{"protocol", kProtocolEntries};

inline constexpr EnumEntry<v1::AppProtocol> kAppEntries[] = {{"http", v1::APP_PROTOCOL_HTTP},
                                                             {"tls", v1::APP_PROTOCOL_TLS},
                                                             {"dns", v1::APP_PROTOCOL_DNS},
                                                             {"unknown", v1::APP_PROTOCOL_UNKNOWN}};
inline constexpr EnumTable<v1::AppProtocol> kAppNames{"app protocol", kAppEntries};

inline constexpr EnumEntry<v1::ApprovalState> kApprovalEntries[] = {
    {"approved", v1::APPROVAL_STATE_APPROVED}, {"unapproved", v1::APPROVAL_STATE_UNAPPROVED}};
inline constexpr EnumTable<v1::ApprovalState> kApprovalNames{"approval state", kApprovalEntries};

inline constexpr EnumEntry<v1::ThresholdState> kThresholdEntries[] = {
    {"normal", v1::THRESHOLD_STATE_NORMAL},
    {"warn", v1::THRESHOLD_STATE_WARN},
    {"exceeded", v1::THRESHOLD_STATE_EXCEEDED}};
inline constexpr EnumTable<v1::ThresholdState> kThresholdNames{"threshold state", kThresholdEntries};

inline constexpr EnumEntry<v1::Action> kActionEntries[] = {{"allow", v1::ACTION_ALLOW},
                                                           {"route", v1::ACTION_ROUTE},
                                                           {"block", v1::ACTION_BLOCK},
                                                           {"reset", v1::ACTION_RESET}};
inline constexpr EnumTable<v1::Action> kActionNames{"action", kActionEntries};

inline constexpr EnumEntry<v1::FailMode> kFailModeEntries[] = {{"open", v1::FAIL_MODE_OPEN},
                                                               {"closed", v1::FAIL_MODE_CLOSED}};
inline constexpr EnumTable<v1::FailMode> kFailModeNames{"fail mode", kFailModeEntries};

inline constexpr EnumEntry<v1::TokenAlgorithm> kTokenAlgorithmEntries[] = {
    {"hmac_sha256", v1::TOKEN_ALGORITHM_HMAC_SHA256}, {"hmac_sm3", v1::TOKEN_ALGORITHM_HMAC_SM3}};
inline constexpr EnumTable<v1::TokenAlgorithm> kTokenAlgorithmNames{"token algorithm",
                                                                    kTokenAlgorithmEntries};

inline constexpr EnumEntry<v1::CountMode> kCountModeEntries[] = {
    {"max_over_identifier_types", v1::COUNT_MODE_MAX_OVER_IDENTIFIER_TYPES}, {"sum", v1::COUNT_MODE_SUM}};
inline constexpr EnumTable<v1::CountMode> kCountModeNames{"count mode", kCountModeEntries};

inline constexpr EnumEntry<v1::Boundary> kBoundaryEntries[] = {{"alnum", v1::BOUNDARY_ALNUM},
                                                               {"none", v1::BOUNDARY_NONE}};
inline constexpr EnumTable<v1::Boundary> kBoundaryNames{"boundary", kBoundaryEntries};

inline constexpr EnumEntry<v1::InputForm> kInputFormEntries[] = {{"normalized", v1::INPUT_FORM_NORMALIZED},
                                                                 {"raw", v1::INPUT_FORM_RAW}};
inline constexpr EnumTable<v1::InputForm> kInputFormNames{"input form", kInputFormEntries};

inline constexpr EnumEntry<v1::UninspectableReason> kUninspectableReasonEntries[] = {
    {"encrypted", v1::UNINSPECTABLE_REASON_ENCRYPTED},
    {"gap", v1::UNINSPECTABLE_REASON_GAP},
    {"decode", v1::UNINSPECTABLE_REASON_DECODE},
    {"resource", v1::UNINSPECTABLE_REASON_RESOURCE}};
inline constexpr EnumTable<v1::UninspectableReason> kUninspectableReasonNames{"uninspectable reason",
                                                                              kUninspectableReasonEntries};

inline constexpr EnumEntry<v1::ChecksumValidation> kChecksumValidationEntries[] = {
    {"on", v1::CHECKSUM_VALIDATION_ON},
    {"auto", v1::CHECKSUM_VALIDATION_AUTO},
    {"off", v1::CHECKSUM_VALIDATION_OFF}};
inline constexpr EnumTable<v1::ChecksumValidation> kChecksumValidationNames{"checksum validation",
                                                                            kChecksumValidationEntries};

inline constexpr EnumEntry<v1::TcpMidstream> kTcpMidstreamEntries[] = {{"inspect", v1::TCP_MIDSTREAM_INSPECT},
                                                                       {"drop", v1::TCP_MIDSTREAM_DROP}};
inline constexpr EnumTable<v1::TcpMidstream> kTcpMidstreamNames{"midstream policy", kTcpMidstreamEntries};

}  // namespace ftz::config
