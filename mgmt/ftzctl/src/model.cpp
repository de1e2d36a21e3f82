// `show zones` and `show tenants` (issue 12 §1): the running
// configuration's zones and tenants as a NOC reads them, the tenants with
// this year's count of individuals and threshold state (show compliance).
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "ftz/proto/enum_word.hpp"
#include "ftzctl.hpp"
#include "ftzgate/v1/management.grpc.pb.h"

namespace ftz::ctl {
namespace {

namespace pb = ftzgate::v1;
using nlohmann::ordered_json;

std::string text_of(const YAML::Node& n, const char* key) {
  return n[key] && n[key].IsScalar() ? n[key].as<std::string>() : std::string();
}
size_t count_of(const YAML::Node& n, const char* key) {
  return n[key] && n[key].IsSequence() ? n[key].size() : 0;
}

// The running configuration's section `key` (a list of named items).
tl::expected<YAML::Node, int> running_section(mgmt::Session& s, const char* key) {
  pb::ShowConfigurationRequest req;
  req.set_running(true);
  pb::ShowConfigurationReply reply;
  if (auto st = s.call(&pb::Management::Stub::ShowConfiguration, req, &reply); !st.ok())
    return tl::unexpected(fail(st));
  try {
    const YAML::Node root = YAML::Load(reply.yaml());
    return root[key] && root[key].IsSequence() ? root[key] : YAML::Node(YAML::NodeType::Sequence);
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "ftzctl: the running configuration does not read as YAML: %s\n", e.what());
    return tl::unexpected(1);
  }
}

}  // namespace

int show_zones(const Args& a, mgmt::Session& s) {
  const auto zones = running_section(s, "zones");
  if (!zones) return zones.error();
  ordered_json j = ordered_json::array();
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %-16s %9s %11s %8s\n", "Zone", "Kind", "Prefixes", "Prefix lists",
                "Default");
  std::string text = line;
  for (const YAML::Node& z : *zones) {
    const std::string name = text_of(z, "name");
    const std::string kind = text_of(z, "kind");
    const bool is_default = text_of(z, "default") == "true";
    j.push_back({{"name", name},
                 {"kind", kind},
                 {"prefixes", count_of(z, "prefixes")},
                 {"prefix_list_files", count_of(z, "prefix_list_files")},
                 {"default", is_default},
                 {"default_tenant", text_of(z, "default_tenant")}});
    std::snprintf(line, sizeof line, "%-24s %-16s %9zu %11zu %8s\n", name.c_str(), kind.c_str(),
                  count_of(z, "prefixes"), count_of(z, "prefix_list_files"), is_default ? "yes" : "-");
    text += line;
  }
  print(a, {{"zones", j}}, text);
  return 0;
}

int show_tenants(const Args& a, mgmt::Session& s) {
  const auto tenants = running_section(s, "tenants");
  if (!tenants) return tenants.error();
  pb::ShowComplianceReply compliance;
  if (auto st = s.call(&pb::Management::Stub::ShowCompliance, pb::ShowComplianceRequest{}, &compliance);
      !st.ok())
    return fail(st);
  std::map<std::string, std::vector<const pb::ComplianceRow*>> counted;
  for (const pb::ComplianceRow& r : compliance.rows()) counted[r.tenant()].push_back(&r);
  ordered_json j = ordered_json::array();
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-16s %9s %10s  %s\n", "Tenant", "Zone", "Prefixes", "Approvals",
                ("In " + std::to_string(compliance.year()) + ": individuals (threshold state)").c_str());
  std::string text = line;
  for (const YAML::Node& t : *tenants) {
    const std::string name = text_of(t, "name");
    ordered_json year = ordered_json::array();
    std::string counts;
    for (const pb::ComplianceRow* r : counted[name]) {
      const std::string cls = proto::enum_word(pb::DataClass_Name(r->data_class()), "DATA_CLASS_");
      const std::string state = proto::enum_word(pb::ThresholdState_Name(r->state()), "THRESHOLD_STATE_");
      year.push_back({{"data_class", cls}, {"individuals", r->individuals()}, {"state", state}});
      if (!counts.empty()) counts += "; ";
      counts += cls;
      counts += ' ';
      counts += std::to_string(r->individuals());
      if (r->saturated()) counts += '+';  // at least
      counts += " (";
      counts += state;
      counts += ')';
    }
    j.push_back({{"name", name},
                 {"zone", text_of(t, "zone")},
                 {"prefixes", count_of(t, "prefixes")},
                 {"approvals", count_of(t, "approvals")},
                 {"year", std::move(year)}});
    std::snprintf(line, sizeof line, "%-24s %-16s %9zu %10zu  %s\n", name.c_str(), text_of(t, "zone").c_str(),
                  count_of(t, "prefixes"), count_of(t, "approvals"),
                  counts.empty() ? "none" : counts.c_str());
    text += line;
  }
  print(a, {{"year", compliance.year()}, {"tenants", j}}, text);
  return 0;
}

}  // namespace ftz::ctl
