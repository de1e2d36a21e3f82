#include "compile.hpp"

#include <cctype>
#include <charconv>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "ftz/base/ascii.hpp"

namespace ftz::config {

namespace {

namespace v1 = ftzgate::v1;
using engine::kNoIndex;

engine::ZoneKind zone_kind(v1::ZoneKind k) {
  switch (k) {
    case v1::ZONE_KIND_DOMESTIC:
      return engine::ZoneKind::kDomestic;
    case v1::ZONE_KIND_FTZ:
      return engine::ZoneKind::kFtz;
    case v1::ZONE_KIND_HK_MACAO_TAIWAN:
      return engine::ZoneKind::kHkMacaoTaiwan;
    default:
      return engine::ZoneKind::kOffshore;
  }
}

engine::Mechanism mechanism(v1::Mechanism m) {
  switch (m) {
    case v1::MECHANISM_SECURITY_ASSESSMENT:
      return engine::Mechanism::kSecurityAssessment;
    case v1::MECHANISM_CERTIFICATION:
      return engine::Mechanism::kCertification;
    case v1::MECHANISM_FTZ_LIST_EXEMPT:
      return engine::Mechanism::kFtzListExempt;
    case v1::MECHANISM_SCENARIO_EXEMPT:
      return engine::Mechanism::kScenarioExempt;
    default:
      return engine::Mechanism::kStandardContract;
  }
}

engine::DataClass data_class(int c) {
  switch (c) {
    case v1::DATA_CLASS_SENSITIVE_PI:
      return engine::DataClass::kSensitivePi;
    case v1::DATA_CLASS_IMPORTANT:
      return engine::DataClass::kImportant;
    case v1::DATA_CLASS_CORE:
      return engine::DataClass::kCore;
    case v1::DATA_CLASS_ORG_ID:
      return engine::DataClass::kOrgId;
    default:
      return engine::DataClass::kPi;
  }
}

engine::DataClassMask class_mask(const google::protobuf::RepeatedField<int>& classes) {
  engine::DataClassMask mask = 0;
  for (const int c : classes) {
    mask = static_cast<engine::DataClassMask>(mask | (1u << static_cast<unsigned>(data_class(c))));
  }
  return mask;
}

engine::PortRole port_role(v1::PortRole r) {
  switch (r) {
    case v1::PORT_ROLE_INSIDE:
      return engine::PortRole::kInside;
    case v1::PORT_ROLE_OUTSIDE:
      return engine::PortRole::kOutside;
    case v1::PORT_ROLE_MIRROR:
      return engine::PortRole::kMirror;
    default:
      return engine::PortRole::kChannel;  // the default egress of a channel
  }
}

engine::AppProto app(int a) {
  switch (a) {
    case v1::APP_PROTOCOL_HTTP:
      return engine::AppProto::kHttp;
    case v1::APP_PROTOCOL_TLS:
      return engine::AppProto::kTls;
    case v1::APP_PROTOCOL_DNS:
      return engine::AppProto::kDns;
    default:
      return engine::AppProto::kUnknown;
  }
}

engine::Action action(v1::Action a) {
  switch (a) {
    case v1::ACTION_ROUTE:
      return engine::Action::kRoute;
    case v1::ACTION_BLOCK:
      return engine::Action::kBlock;
    case v1::ACTION_RESET:
      return engine::Action::kReset;
    default:
      return engine::Action::kAllow;
  }
}

// The validator accepted the text as aa:bb:cc:dd:ee:ff.
std::array<uint8_t, 6> mac(const std::string& s) {
  std::array<uint8_t, 6> out{};
  if (s.size() != 17) return out;
  for (std::size_t i = 0; i < 6; ++i) {
    unsigned v = 0;
    std::from_chars(s.data() + i * 3, s.data() + i * 3 + 2, v, 16);
    out[i] = static_cast<uint8_t>(v);
  }
  return out;
}

class Compiler {
 public:
  Compiler(const v1::Config& c, const std::vector<LoadedPack>& packs, const Resolved& r)
      : c_(c), packs_(packs), r_(r) {
    for (int i = 0; i < c.zones_size(); ++i) zones_[c.zones(i).name()] = static_cast<uint32_t>(i);
    for (int i = 0; i < c.tenants_size(); ++i) tenants_[c.tenants(i).name()] = static_cast<uint32_t>(i);
    for (int i = 0; i < c.channels_size(); ++i) channels_[c.channels(i).name()] = static_cast<uint32_t>(i);
  }

  engine::PolicySpec run() {
    engine::PolicySpec spec;
    spec.name = c_.name();
    compile_limits(spec.limits);
    for (int i = 0; i < c_.zones_size(); ++i) {
      const auto& z = c_.zones(i);
      engine::ZoneSpec zs;
      zs.name = z.name();
      zs.kind = zone_kind(z.kind());
      zs.prefixes = r_.zone_prefixes[static_cast<std::size_t>(i)];
      zs.default_tenant = z.default_tenant().empty() ? kNoIndex : tenants_.at(z.default_tenant());
      if (z.is_default()) spec.default_zone = static_cast<uint32_t>(i);
      spec.zones.push_back(std::move(zs));
    }
    for (int i = 0; i < c_.tenants_size(); ++i) spec.tenants.push_back(tenant(i));
    for (const auto& ch : c_.channels()) {
      engine::ChannelSpec cs;
      cs.name = ch.name();
      cs.egress_role = port_role(ch.egress_role());
      cs.vlan = static_cast<uint16_t>(ch.vlan());
      cs.next_hop_mac = mac(ch.next_hop_mac());
      spec.channels.push_back(std::move(cs));
    }
    for (const auto& r : c_.rules()) {
      engine::RuleSpec rs;
      rs.name = r.name();
      rs.match = match(r.match());
      rs.verdict = verdict(r.verdict());
      spec.rules.push_back(std::move(rs));
    }
    for (const auto& d : c_.defaults()) {
      engine::ZonePairDefault zd;
      zd.src_zone = zones_.at(d.src_zone());
      zd.dst_zone = zones_.at(d.dst_zone());
      zd.verdict = verdict(d.verdict());
      zd.fail_mode = fail_mode(d.fail_mode(), spec.limits.default_fail_mode);
      spec.defaults.push_back(zd);
    }
    if (c_.has_export_default()) {
      spec.export_default = verdict(c_.export_default());
    } else {
      // Fail safe: an export nobody wrote a rule or default for is stopped
      // and reported, never silently allowed.
      spec.export_default.action = engine::Action::kBlock;
      spec.export_default.alert = true;
    }
    // The packs' signatures first, in pack order, then the operator's.
    for (const auto& pack : packs_) {
      for (const auto& sig : pack.model.signatures()) spec.signatures.push_back(signature(sig));
      if (!spec.signature_pack_version.empty()) spec.signature_pack_version += ',';
      spec.signature_pack_version +=
          std::filesystem::path(pack.file).stem().string() + "@" + pack.model.version();
    }
    for (const auto& sig : c_.signatures()) spec.signatures.push_back(signature(sig));
    if (c_.has_compliance()) compile_compliance(spec.compliance);
    return spec;
  }

 private:
  static engine::FailMode fail_mode(v1::FailMode f, engine::FailMode fallback) {
    switch (f) {
      case v1::FAIL_MODE_OPEN:
        return engine::FailMode::kOpen;
      case v1::FAIL_MODE_CLOSED:
        return engine::FailMode::kClosed;
      default:
        return fallback;
    }
  }

  engine::TenantSpec tenant(int i) {
    const auto& t = c_.tenants(i);
    engine::TenantSpec ts;
    ts.name = t.name();
    ts.uscc = t.uscc();
    ts.ftz_registration = t.ftz_registration();
    ts.is_ciio = t.is_ciio();
    ts.sector = t.sector();
    ts.zone = zones_.at(t.zone());
    ts.prefixes = r_.tenant_prefixes[static_cast<std::size_t>(i)];
    for (int j = 0; j < t.approvals_size(); ++j) {
      const auto& a = t.approvals(j);
      engine::ApprovalSpec as;
      as.id = a.id();
      as.mechanism = mechanism(a.mechanism());
      as.classes = class_mask(a.data_classes());
      for (const auto& z : a.dest_zones()) as.dest_zones.push_back(zones_.at(z));
      const auto& times = r_.approval_times[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
      as.valid_from = times.valid_from;
      as.valid_until = times.valid_until;
      for (const auto& cap : a.max_individuals()) {
        as.max_individuals[static_cast<int>(data_class(cap.data_class()))] = cap.max();
      }
      ts.approvals.push_back(std::move(as));
    }
    return ts;
  }

  engine::RuleMatch match(const v1::RuleMatch& m) {
    engine::RuleMatch out;
    for (const auto& z : m.src_zones()) out.src_zones.push_back(zones_.at(z));
    for (const auto& z : m.dst_zones()) out.dst_zones.push_back(zones_.at(z));
    for (const auto& t : m.tenants()) out.tenants.push_back(tenants_.at(t));
    for (const int p : m.protocols()) {
      switch (p) {
        case v1::PROTOCOL_TCP:
          out.protocols.push_back(engine::L4Proto::kTcp);
          break;
        case v1::PROTOCOL_UDP:
          out.protocols.push_back(engine::L4Proto::kUdp);
          break;
        default:
          // "icmp" means ping in either family.
          out.protocols.push_back(engine::L4Proto::kIcmp);
          out.protocols.push_back(engine::L4Proto::kIcmpv6);
          break;
      }
    }
    for (const auto& r : m.dst_ports()) {
      out.dst_ports.push_back(
          engine::PortRange{static_cast<uint16_t>(r.lo()), static_cast<uint16_t>(r.hi())});
    }
    for (const int a : m.apps()) {
      out.apps = static_cast<engine::AppMask>(out.apps | (1u << static_cast<unsigned>(app(a))));
    }
    // Host names compare case-insensitively; the engine lowercases what it sees.
    for (const auto& s : m.server_name_suffixes())
      out.server_name_suffixes.push_back(ascii::to_lower_copy(s));
    out.data_classes = class_mask(m.data_classes());
    out.min_count = m.min_count();
    switch (m.approval()) {
      case v1::APPROVAL_STATE_APPROVED:
        out.approval = engine::ApprovalMatch::kApproved;
        break;
      case v1::APPROVAL_STATE_UNAPPROVED:
        out.approval = engine::ApprovalMatch::kUnapproved;
        break;
      default:
        out.approval = engine::ApprovalMatch::kAny;
        break;
    }
    switch (m.threshold()) {
      case v1::THRESHOLD_STATE_NORMAL:
        out.threshold = engine::ThresholdState::kNormal;
        break;
      case v1::THRESHOLD_STATE_WARN:
        out.threshold = engine::ThresholdState::kWarn;
        break;
      case v1::THRESHOLD_STATE_EXCEEDED:
        out.threshold = engine::ThresholdState::kExceeded;
        break;
      default:
        break;
    }
    if (m.has_uninspectable()) {
      engine::UninspectableMatch um;
      if (m.uninspectable().has_reasons()) {
        um.named = true;
        for (const int r : m.uninspectable().reasons().reasons()) um.reasons |= uninspectable_bit(r);
      } else if (m.uninspectable().any()) {
        um.reasons = engine::kUninspectableAny;
      }
      out.uninspectable = um;
    }
    return out;
  }

  engine::Verdict verdict(const v1::Verdict& v) {
    engine::Verdict out;
    out.action = action(v.action());
    out.channel = v.action() == v1::ACTION_ROUTE ? channels_.at(v.channel()) : kNoIndex;
    out.alert = v.alert();
    out.mirror = v.mirror();
    return out;
  }

  static engine::SignatureSpec signature(const v1::Signature& s) {
    engine::SignatureSpec out;
    out.name = s.name();
    out.sid = s.sid();
    out.data_class = data_class(s.data_class());
    out.tags.assign(s.tags().begin(), s.tags().end());
    out.validator = s.validator();
    for (const auto& p : s.patterns()) {
      out.patterns.push_back(engine::SignaturePattern{p.regex(), p.utf8(), p.som(), p.caseless()});
    }
    out.context.assign(s.context().begin(), s.context().end());
    out.context_required = s.context_required();
    out.rationale = s.rationale();
    return out;
  }

  void compile_compliance(engine::ComplianceSpec& out) {
    const auto& c = c_.compliance();
    out.key_file = r_.key_file;
    out.state_file = r_.state_file;
    out.use_sm3 = c.token_algorithm() == v1::TOKEN_ALGORITHM_HMAC_SM3;
    for (const auto& t : c.thresholds()) {
      out.thresholds.push_back(
          engine::ThresholdSpec{t.name(), data_class(t.data_class()), t.individuals(), t.mechanism(), {}});
      for (const int m : t.satisfied_by()) {
        out.thresholds.back().satisfied_by.push_back(mechanism(static_cast<v1::Mechanism>(m)));
      }
    }
    if (c.warn_percents_size() > 0)
      out.warn_percents.assign(c.warn_percents().begin(), c.warn_percents().end());
    out.count_mode = c.count_mode() == v1::COUNT_MODE_SUM ? engine::CountMode::kSumOverIdentifierTypes
                                                          : engine::CountMode::kMaxOverIdentifierTypes;
    if (c.has_max_tokens_per_set()) out.max_tokens_per_set = c.max_tokens_per_set();
    if (c.has_bulk_min_count()) out.bulk_min_count = c.bulk_min_count();
  }

  void compile_limits(engine::Limits& out) {
    const auto& l = c_.limits();
    if (l.has_flow_table_size()) out.flow_table_size = l.flow_table_size();
    if (l.has_flow_evict_min_idle_ms()) out.flow_evict_min_idle_ms = l.flow_evict_min_idle_ms();
    if (l.has_tcp_syn_timeout_s()) out.tcp_syn_timeout_s = l.tcp_syn_timeout_s();
    if (l.has_tcp_established_timeout_s()) out.tcp_established_timeout_s = l.tcp_established_timeout_s();
    if (l.has_tcp_closed_timeout_s()) out.tcp_closed_timeout_s = l.tcp_closed_timeout_s();
    if (l.has_udp_timeout_s()) out.udp_timeout_s = l.udp_timeout_s();
    if (l.has_other_timeout_s()) out.other_timeout_s = l.other_timeout_s();
    if (l.has_defrag_memcap_bytes()) out.defrag_memcap_bytes = l.defrag_memcap_bytes();
    if (l.has_defrag_max_datagrams()) out.defrag_max_datagrams = l.defrag_max_datagrams();
    if (l.has_defrag_timeout_ms()) out.defrag_timeout_ms = l.defrag_timeout_ms();
    if (l.has_reassembly_memcap_bytes()) out.reassembly_memcap_bytes = l.reassembly_memcap_bytes();
    if (l.has_reassembly_per_flow_bytes()) out.reassembly_per_flow_bytes = l.reassembly_per_flow_bytes();
    if (l.has_hold_max_packets()) out.hold_max_packets = l.hold_max_packets();
    if (l.has_events_per_second()) out.events_per_second = l.events_per_second();
    if (l.has_alerts_per_flow()) out.alerts_per_flow = l.alerts_per_flow();
    out.default_fail_mode = fail_mode(l.default_fail_mode(), out.default_fail_mode);
    if (l.has_inspect_max_flows()) out.inspect_max_flows = l.inspect_max_flows();
    if (l.has_stream_max_flows()) out.stream_max_flows = l.stream_max_flows();
    if (l.has_header_decided_metadata()) out.header_decided_metadata = l.header_decided_metadata();
    if (l.has_event_queue_size()) out.event_queue_size = l.event_queue_size();
    if (l.has_reassembly_kept_per_flow_bytes())
      out.reassembly_kept_per_flow_bytes = l.reassembly_kept_per_flow_bytes();
    switch (l.checksum_validation()) {
      case v1::CHECKSUM_VALIDATION_ON:
        out.checksum_validation = engine::ChecksumMode::kOn;
        break;
      case v1::CHECKSUM_VALIDATION_AUTO:
        out.checksum_validation = engine::ChecksumMode::kAuto;
        break;
      case v1::CHECKSUM_VALIDATION_OFF:
        out.checksum_validation = engine::ChecksumMode::kOff;
        break;
      default:
        break;
    }
    if (l.tcp_midstream() == v1::TCP_MIDSTREAM_DROP) out.tcp_midstream = engine::TcpMidstream::kDrop;
  }

  static engine::UninspectableMask uninspectable_bit(int r) {
    switch (r) {
      case v1::UNINSPECTABLE_REASON_ENCRYPTED:
        return engine::uninspectable_bit(engine::UninspectableReason::kEncrypted);
      case v1::UNINSPECTABLE_REASON_GAP:
        return engine::uninspectable_bit(engine::UninspectableReason::kGap);
      case v1::UNINSPECTABLE_REASON_DECODE:
        return engine::uninspectable_bit(engine::UninspectableReason::kDecode);
      case v1::UNINSPECTABLE_REASON_RESOURCE:
        return engine::uninspectable_bit(engine::UninspectableReason::kResource);
      default:
        return 0;
    }
  }

  const v1::Config& c_;
  const std::vector<LoadedPack>& packs_;
  const Resolved& r_;
  std::unordered_map<std::string, uint32_t> zones_;
  std::unordered_map<std::string, uint32_t> tenants_;
  std::unordered_map<std::string, uint32_t> channels_;
};

}  // namespace

engine::PolicySpec compile_config(const v1::Config& config, const std::vector<LoadedPack>& packs,
                                  const Resolved& resolved) {
  return Compiler(config, packs, resolved).run();
}

}  // namespace ftz::config
