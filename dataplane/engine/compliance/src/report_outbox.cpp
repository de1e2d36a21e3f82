#include "ftz/engine/compliance/report_outbox.hpp"

#include <algorithm>

namespace ftz::engine::compliance {

uint32_t ReportOutbox::intern(std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it != names.end()) return static_cast<uint32_t>(it - names.begin());
  names.push_back(name);
  return static_cast<uint32_t>(names.size() - 1);
}

void ReportOutbox::push(const Taken& taken, const std::vector<std::string>& tenant_names,
                        const std::vector<std::string>& zone_names) {
  std::lock_guard lock(mu_);
  // The ledger's indexes, translated once per name.
  std::vector<uint32_t> tenant_map(tenant_names.size(), UINT32_MAX);
  std::vector<uint32_t> zone_map(zone_names.size(), UINT32_MAX);
  auto tenant = [&](uint32_t t) {
    if (t >= tenant_names.size()) return ComplianceLedger::kAnyTenant;
    if (tenant_map[t] == UINT32_MAX) tenant_map[t] = intern(tenants_, tenant_names[t]);
    return tenant_map[t];
  };
  for (const TokenRecord& r : taken.records) {
    ++counters_.pushed;
    if (pending_.size() >= capacity_ || r.dest_zone >= zone_names.size()) {
      ++counters_.overflow;
      ++lost_[{tenant(r.tenant), r.data_class}];
      continue;
    }
    TokenRecord out = r;
    out.tenant = tenant(r.tenant);
    if (out.tenant == ComplianceLedger::kAnyTenant) {  // not a tenant the ledger names: never happens
      ++counters_.overflow;
      ++lost_[{out.tenant, r.data_class}];
      continue;
    }
    if (zone_map[r.dest_zone] == UINT32_MAX) zone_map[r.dest_zone] = intern(zones_, zone_names[r.dest_zone]);
    out.dest_zone = zone_map[r.dest_zone];
    pending_.push_back(out);
  }
  for (const LostRecords& l : taken.lost) {
    if (l.records == 0) continue;
    const uint32_t t = l.tenant == ComplianceLedger::kAnyTenant ? l.tenant : tenant(l.tenant);
    lost_[{t, l.data_class}] += l.records;
  }
  if (!taken.records.empty() || !taken.lost.empty()) ++version_;
}

std::optional<OutboxBatch> ReportOutbox::next() {
  std::lock_guard lock(mu_);
  if (in_flight_) return in_flight_;
  if (pending_.empty() && lost_.empty()) return std::nullopt;
  OutboxBatch b;
  b.seq = next_seq_++;
  b.tenants = tenants_;
  b.zones = zones_;
  const size_t n = std::min(pending_.size(), kBatchRecords);
  b.records.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  for (const auto& [key, records] : lost_) b.lost.push_back({key.first, key.second, records});
  lost_.clear();
  in_flight_ = std::move(b);
  return in_flight_;
}

void ReportOutbox::acked(uint64_t seq) {
  std::lock_guard lock(mu_);
  if (!in_flight_ || in_flight_->seq != seq) return;
  counters_.acked += in_flight_->records.size();
  in_flight_.reset();
  ++version_;
}

OutboxBatch ReportOutbox::take_all() {
  std::lock_guard lock(mu_);
  OutboxBatch b = collect();
  in_flight_.reset();
  pending_.clear();
  lost_.clear();
  ++version_;
  return b;
}

OutboxBatch ReportOutbox::snapshot() const {
  std::lock_guard lock(mu_);
  return collect();
}

uint64_t ReportOutbox::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

OutboxBatch ReportOutbox::collect() const {
  OutboxBatch b;
  b.tenants = tenants_;
  b.zones = zones_;
  // The batch in flight uses the outbox's indexes too (names only grow).
  if (in_flight_) {
    b.records = in_flight_->records;
    b.lost = in_flight_->lost;
  }
  b.records.insert(b.records.end(), pending_.begin(), pending_.end());
  for (const auto& [key, records] : lost_) b.lost.push_back({key.first, key.second, records});
  return b;
}

void ReportOutbox::restore(const OutboxBatch& b) {
  std::lock_guard lock(mu_);
  const auto tenant = [&](uint32_t t) {
    return t < b.tenants.size() ? intern(tenants_, b.tenants[t]) : ComplianceLedger::kAnyTenant;
  };
  std::deque<TokenRecord> restored;
  for (const TokenRecord& r : b.records) {
    if (r.tenant >= b.tenants.size() || r.dest_zone >= b.zones.size() ||
        pending_.size() + restored.size() >= capacity_) {
      ++counters_.overflow;
      ++lost_[{tenant(r.tenant), r.data_class}];
      continue;
    }
    TokenRecord out = r;
    out.tenant = tenant(r.tenant);
    out.dest_zone = intern(zones_, b.zones[r.dest_zone]);
    restored.push_back(out);
  }
  for (const LostRecords& l : b.lost) {
    if (l.records != 0) lost_[{tenant(l.tenant), l.data_class}] += l.records;
  }
  counters_.restored += restored.size();
  pending_.insert(pending_.begin(), restored.begin(), restored.end());
  ++version_;
}

ReportOutbox::Counters ReportOutbox::counters() const {
  std::lock_guard lock(mu_);
  Counters c = counters_;
  c.pending = pending_.size() + (in_flight_ ? in_flight_->records.size() : 0);
  for (const auto& [key, records] : lost_) c.lost_pending += records;
  if (in_flight_) {
    for (const LostRecords& l : in_flight_->lost) c.lost_pending += l.records;
  }
  return c;
}

bool ReportOutbox::empty() const {
  const Counters c = counters();
  return c.pending == 0 && c.lost_pending == 0;
}

}  // namespace ftz::engine::compliance
