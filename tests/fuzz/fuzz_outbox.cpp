// libFuzzer target: a data plane's kept outbox file (STATE/outbox, written
// at exit and mirrored while it runs) as its next start reads it:
// decode_outbox(), restored into a small outbox, then sent and acknowledged
// until nothing waits. Every kept record is queued or becomes a lost count,
// never dropped.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ftz/controller/controller_link.hpp"
#include "ftz/engine/compliance/report_outbox.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ftz::engine::compliance::ReportOutbox;
  size_t other_key = 0;
  // The seeds are made under fingerprint 1 (fuzz_seeds outbox).
  const auto kept = ftz::controller::decode_outbox(
      std::string_view(reinterpret_cast<const char*>(data), size), 1, &other_key);
  if (!kept) return 0;
  if (other_key != 0 && !kept->records.empty()) ftz::fuzz::fail("tokens of another key kept as tokens");
  ReportOutbox box(64);
  box.restore(*kept);
  const ReportOutbox::Counters c = box.counters();
  if (c.restored + c.overflow != kept->records.size()) ftz::fuzz::fail("a kept record was dropped");
  for (int batches = 0; auto next = box.next(); ++batches) {
    if (batches > 1000) ftz::fuzz::fail("the outbox never empties");
    box.acked(next->seq);
  }
  if (!box.empty()) ftz::fuzz::fail("acknowledged, yet something waits");
  return 0;
}
