// The reason registry (dataplane/engine/reasons): every group's codes are
// unique and dense, each reason has a key and a description, and the keys
// are exactly the documented ones in code order. The keys are the report's
// and --stats' API and the codes become BPF codes and MIB rows: a rename, a
// reorder or a removal must fail here, an addition must be added here.
#include "ftz/engine/reasons.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ftz::engine {
namespace {

struct GroupView {
  std::string_view name;
  ReasonGroup group;
  std::vector<ReasonInfo> entries;
  std::vector<size_t> enum_values;  // the generated enumerator of each entry
};

template <class E>
GroupView view() {
  GroupView g{ReasonTable<E>::kName, ReasonTable<E>::kGroup, {}, {}};
  for (const ReasonInfo& info : ReasonTable<E>::kEntries) {
    g.entries.push_back(info);
    const E r = static_cast<E>(info.code);
    // The enumerator, key and description read through the generated API.
    EXPECT_EQ(reason_key(r), info.key);
    EXPECT_EQ(reason_description(r), info.description);
    g.enum_values.push_back(static_cast<size_t>(r));
  }
  EXPECT_EQ(static_cast<size_t>(E::kCount), kReasonCountOf<E>) << g.name;
  return g;
}

std::vector<GroupView> all_groups() {
  return {view<Reason>(), view<app::AppAnomaly>(), view<sig::Uninspectable>(), view<PathDrop>(),
          view<XdpPath>()};
}

bool is_snake_case(std::string_view s) {
  if (s.empty() || s.front() == '_' || s.back() == '_') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

TEST(ReasonRegistry, CodesAreUniqueAndDensePerGroup) {
  std::set<ReasonGroup> groups;
  for (const GroupView& g : all_groups()) {
    EXPECT_TRUE(groups.insert(g.group).second) << g.name << ": group id used twice";
    ASSERT_FALSE(g.entries.empty()) << g.name;
    ASSERT_LE(g.entries.size(), 256u) << g.name << ": a code must fit the low byte of a wire code";
    std::set<uint16_t> codes;
    for (size_t i = 0; i < g.entries.size(); ++i) {
      EXPECT_TRUE(codes.insert(g.entries[i].code).second)
          << g.name << ": code " << g.entries[i].code << " twice";
      EXPECT_EQ(g.entries[i].code, i)
          << g.name << " " << g.entries[i].key << ": codes are 0, 1, 2, ... in order";
      EXPECT_EQ(g.enum_values[i], g.entries[i].code)
          << g.name << " " << g.entries[i].key << ": enum value = code";
    }
    EXPECT_EQ(*codes.rbegin() + 1u, codes.size()) << g.name << ": codes are dense";
  }
}

TEST(ReasonRegistry, EveryReasonHasAKeyAndADescription) {
  std::set<std::string_view> keys;  // across groups: one key names one reason
  for (const GroupView& g : all_groups()) {
    for (const ReasonInfo& r : g.entries) {
      EXPECT_TRUE(is_snake_case(r.key)) << g.name << " code " << r.code << ": key \"" << r.key << "\"";
      EXPECT_TRUE(keys.insert(r.key).second) << g.name << ": key \"" << r.key << "\" used twice";
      EXPECT_FALSE(r.description.empty()) << g.name << " " << r.key;
      EXPECT_EQ(r.description.find('\n'), std::string_view::npos) << g.name << " " << r.key << ": one line";
    }
  }
}

TEST(ReasonRegistry, OutOfRangeValuesHaveNoKey) {
  EXPECT_EQ(reason_key(Reason::kNone), "none");
  EXPECT_EQ(reason_description(Reason::kNone), "");
  EXPECT_EQ(reason_info(Reason::kCount), nullptr);
  EXPECT_EQ(reason_key(static_cast<PathDrop>(kPathDropCount)), "none");
}

TEST(ReasonRegistry, WireCodesCarryTheGroupInTheHighByte) {
  EXPECT_EQ(reason_wire_code(Reason::kEthTruncated), 0x0100);
  EXPECT_EQ(reason_wire_code(app::AppAnomaly::kDnsGap), 0x0200 + 27);
  EXPECT_EQ(reason_wire_code(sig::Uninspectable::kStreamPoolExhausted), 0x0301);
  EXPECT_EQ(reason_wire_code(PathDrop::kTxDropped), 0x0400);
  EXPECT_EQ(reason_wire_code(XdpPath::kKernelDropped), 0x0501);
}

std::vector<std::string_view> keys_of(const GroupView& g) {
  std::vector<std::string_view> out;
  for (const ReasonInfo& r : g.entries) out.push_back(r.key);
  return out;
}

// The keys in code order, as the report ("reasons"), ftzgate-dp --stats
// (workers[].reasons, workers[].path) and docs name them today.
TEST(ReasonRegistry, KeysAndCodesAreTheDocumentedOnes) {
  const std::vector<std::string_view> packet = {
      "eth_truncated",
      "vlan_truncated",
      "vlan_too_many_tags",
      "sll_truncated",
      "ipv4_truncated",
      "ipv4_bad_version",
      "ipv4_bad_ihl",
      "ipv4_bad_total_length",
      "ipv4_bad_options",
      "ipv6_truncated",
      "ipv6_ext_truncated",
      "ipv6_ext_chain_too_long",
      "ipv6_bad_fragment",
      "tcp_truncated",
      "tcp_bad_data_offset",
      "tcp_bad_options",
      "udp_truncated",
      "udp_bad_length",
      "icmp_truncated",
      "capture_truncated",
      "frag_bad_length",
      "frag_overlap_conflict",
      "frag_too_many",
      "frag_table_full",
      "frag_memcap",
      "frag_timeout",
      "frag_inconsistent_end",
      "flow_table_full",
      "tcp_overlap_conflict",
      "tcp_ooo_limit",
      "tcp_reassembly_memcap",
      "hold_overflow",
      "policy_block",
      "policy_reset",
      "fail_closed",
      "ipv4_bad_checksum",
      "tcp_bad_checksum",
      "udp_bad_checksum",
      "tcp_paws",
      "tcp_syn_invalid",
      "tcp_rst_invalid",
      "tcp_fin_invalid",
      "tcp_out_of_window",
      "tcp_data_after_fin",
      "tcp_stale_bytes",
      "tcp_hole_at_end",
      "tcp_midstream",
      "tcp_reassembled_trim",
      "uninspectable_fail_closed",
      "record_backlog_full",
  };
  const std::vector<std::string_view> app = {
      "tls_bad_record_length",
      "tls_unexpected_record",
      "tls_not_client_hello",
      "tls_hello_too_long",
      "tls_malformed_hello",
      "tls_bad_extension",
      "tls_duplicate_extension",
      "tls_bad_sni",
      "tls_bad_alpn",
      "tls_gap",
      "http_bad_request_line",
      "http_header_too_long",
      "http_bad_header",
      "http_bad_content_length",
      "http_cl_and_te",
      "http_duplicate_host",
      "http_unsupported_te",
      "http_bad_chunk",
      "http_headers_incomplete",
      "http_body_truncated",
      "http_gap",
      "dns_truncated",
      "dns_bad_label",
      "dns_bad_pointer",
      "dns_pointer_loop",
      "dns_name_too_long",
      "dns_too_many_questions",
      "dns_gap",
  };
  const std::vector<std::string_view> scan = {
      "none",           "stream_pool_exhausted", "inflate_memcap",
      "inflate_limit",  "decode_error",          "match_overflow",
      "scan_error",     "decode_depth",          "protocol_decode",
      "aside_too_long",
  };
  const std::vector<std::string_view> path = {
      "tx_dropped",
      "no_egress",
      "route_failed",
      "trim_failed",
      "mirror_nombuf",
      "reset_nombuf",
      "offload_requests_dropped",
  };
  EXPECT_EQ(keys_of(view<Reason>()), packet);
  EXPECT_EQ(keys_of(view<app::AppAnomaly>()), app);
  EXPECT_EQ(keys_of(view<sig::Uninspectable>()), scan);
  EXPECT_EQ(keys_of(view<PathDrop>()), path);
  const std::vector<std::string_view> xdp = {
      "kernel_forwarded",    "kernel_dropped",     "non_ip",
      "user_no_policy",      "user_headers",       "user_fragment",
      "user_ipv6_extension", "user_ipv4_checksum", "user_undecided",
      "kernel_no_egress",    "away_forwarded",     "away_dropped",
      "kernel_records_lost", "user_channel",       "user_l4_checksum",
  };
  EXPECT_EQ(keys_of(view<XdpPath>()), xdp);
}

}  // namespace
}  // namespace ftz::engine
