// The "harbor" fixture of the control plane's tests and fuzz targets: one
// tenant with a PI line of three individuals (small enough to cross in a
// test), and the report batches its data planes send to ftzgated.
//
// Header-only: it needs the consumer's ftzgate/v1 protobuf library, which
// ftz_test_support itself does not link.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ftzgate/v1/dataplane.pb.h"

namespace ftz::test::harbor {

inline constexpr const char* kConfig =
    "zones:\n"
    "  - {name: inside, kind: ftz, prefixes: [10.0.0.0/8]}\n"
    "  - {name: offshore, kind: offshore, default: true}\n"
    "tenants:\n"
    "  - {name: harbor, zone: inside, prefixes: [10.1.0.0/16]}\n"
    "compliance:\n"
    "  key_file: ignored/token.key\n"
    "  state_file: ignored/compliance.state\n"
    "  thresholds:\n"
    "    - {name: pi-three, data_class: pi, individuals: 3, mechanism: a line of three}\n"
    "defaults:\n"
    "  - {src_zone: inside, dst_zone: offshore, action: allow}\n";

// Batch `seq` of data plane `dataplane` (boot 7) under the token key with
// `fingerprint`: harbor's PI `tokens`, seen at `ts_unix_ns`, and `lost`
// records the data plane could not tokenise.
inline ftzgate::v1::ReportBatch pi_batch(const std::string& dataplane, uint64_t seq, uint64_t fingerprint,
                                         const std::vector<uint64_t>& tokens, int64_t ts_unix_ns,
                                         uint64_t lost = 0) {
  ftzgate::v1::ReportBatch b;
  b.set_dataplane_id(dataplane);
  b.set_boot_id(7);
  b.set_seq(seq);
  b.set_key_fingerprint(fingerprint);
  b.add_tenants("harbor");
  b.add_zones("offshore");
  for (const uint64_t t : tokens) {
    ftzgate::v1::Token* x = b.add_tokens();
    x->set_data_class(ftzgate::v1::DATA_CLASS_PI);
    x->set_id_type(1);
    x->set_token(t);
    x->set_ts_unix_ns(ts_unix_ns);
  }
  if (lost > 0) {
    ftzgate::v1::LostTokens* l = b.add_lost();
    l->set_tenant(0);
    l->set_data_class(ftzgate::v1::DATA_CLASS_PI);
    l->set_records(lost);
  }
  return b;
}

}  // namespace ftz::test::harbor
