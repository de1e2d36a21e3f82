// Software distribution on the main lcore: ports without RSS and the
// single-pass capture replay, spread over the workers' rings by the
// symmetric hash; and the shared TX rings of ports with fewer TX queues than
// workers. A full ring stops reading (backpressure), nothing is dropped.
#include <rte_ethdev.h>
#include <rte_mbuf_dyn.h>

#include <algorithm>
#include <cstring>

#include "appliance_impl.hpp"
#include "ftz/dpdk/symmetric_hash.hpp"

namespace ftz::dpdk {

namespace {
constexpr int kSharedTxBursts = 8;
}  // namespace

uint16_t Appliance::push_stash(Stash& s) {
  if (workers.size() == 1) {
    // One worker: the burst goes whole or waits, so the worker judges the
    // bursts as they were read (a replay then expires flows at the same
    // packets as ftzgate-inspect, which judges the capture 32 at a time).
    if (rte_ring_sp_enqueue_bulk(workers[0]->distribution_ring(), reinterpret_cast<void* const*>(s.mbufs),
                                 s.count, nullptr) == 0) {
      ++distribution_waits;
      return 0;
    }
    const uint16_t pushed = s.count;
    s.count = 0;
    return pushed;
  }
  // In arrival order per worker; a full ring blocks that worker's later
  // packets too (backpressure: nothing is dropped, RX simply waits).
  uint16_t kept = 0;
  uint16_t pushed = 0;
  bool blocked[64] = {};
  for (uint16_t i = 0; i < s.count; ++i) {
    const uint16_t w = s.worker[i];
    if (!blocked[w] && rte_ring_sp_enqueue(workers[w]->distribution_ring(), s.mbufs[i]) == 0) {
      ++pushed;
      continue;
    }
    blocked[w] = true;
    s.mbufs[kept] = s.mbufs[i];
    s.worker[kept] = w;
    ++kept;
  }
  if (kept > 0) ++distribution_waits;
  s.count = kept;
  return pushed;
}

bool Appliance::distribute(bool receive) {
  bool busy = replay.reader != nullptr && replay_step(receive);
  const uint32_t nw = static_cast<uint32_t>(workers.size());
  for (uint16_t p : distributed_ports) {
    Stash& s = stash[p];
    if (s.count == 0 && receive) {
      s.count = rte_eth_rx_burst(ports[p].id, 0, s.mbufs, engine::kBurstSize);
      for (uint16_t i = 0; i < s.count; ++i) {
        const rte_mbuf* m = s.mbufs[i];
        s.worker[i] = static_cast<uint16_t>(
            frame_hash(link, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)) % nw);
      }
    }
    if (s.count == 0) continue;
    busy = true;
    distributed += push_stash(s);
  }
  return busy;
}

namespace {

// The record in mbufs of `pool`: one segment when the mbufs were sized for
// the capture's longest record (main.cpp), chained otherwise. Null, with
// nothing allocated, when the pool is empty.
rte_mbuf* record_to_mbuf(rte_mempool* pool, const capture::CaptureRecordView& r) {
  rte_mbuf* head = nullptr;
  uint32_t done = 0;
  while (done < r.caplen || head == nullptr) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      if (head != nullptr) rte_pktmbuf_free(head);
      return nullptr;
    }
    const uint32_t n = std::min<uint32_t>(r.caplen - done, rte_pktmbuf_tailroom(m));
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(n)), r.data + done, n);
    done += n;
    if (head == nullptr) {
      head = m;
    } else if (rte_pktmbuf_chain(head, m) != 0) {
      rte_pktmbuf_free(m);
      rte_pktmbuf_free(head);
      return nullptr;
    }
  }
  return head;
}

}  // namespace

uint64_t Appliance::processed() const {
  uint64_t n = 0;
  for (const auto& w : workers) n += w->counters().rx.load(std::memory_order_acquire);
  return n;
}

bool Appliance::replay_step(bool receive) {
  Replay& r = replay;
  Stash& s = r.stash;
  if (s.count == 0 && receive && !r.at_end) {
    const uint32_t nw = static_cast<uint32_t>(workers.size());
    const uint16_t port_id = ports[r.port].id;
    while (s.count < engine::kBurstSize) {
      if (!r.pending) {
        const capture::CaptureReader::Next next = r.reader->next(r.record);
        if (next != capture::CaptureReader::Next::kRecord) {
          if (next == capture::CaptureReader::Next::kError) r.error = r.reader->error();
          r.at_end = true;
          break;
        }
        r.pending = true;
      }
      rte_mbuf* m = record_to_mbuf(pool, r.record);
      if (m == nullptr) {
        // The workers hold the pool (held segments and fragments, rings):
        // wait for them. A pool they fill without ever judging another
        // packet cannot drain, and the run says so instead of hanging.
        ++r.nombuf_waits;
        const auto now = std::chrono::steady_clock::now();
        const uint64_t done = processed();
        if (r.starved_since == std::chrono::steady_clock::time_point{} || done != r.processed_when_starved) {
          r.starved_since = now;
          r.processed_when_starved = done;
        } else if (now - r.starved_since > std::chrono::seconds(5)) {
          fatal = "replay stalled after " + std::to_string(r.read) + " packets: the workers hold all " +
                  std::to_string(profile.mbufs) + " mbufs (held segments and fragments); raise mempool.mbufs";
        }
        break;
      }
      r.starved_since = {};
      r.pending = false;
      m->port = port_id;
      *RTE_MBUF_DYNFIELD(m, capture_clock.offset, CaptureRecord*) =
          CaptureRecord{r.record.ts_ns, r.record.wirelen};
      r.bytes += r.record.caplen;
      if (r.read++ == 0) r.first_ts_ns = r.record.ts_ns;
      r.last_ts_ns = std::max(r.last_ts_ns, r.record.ts_ns);
      s.mbufs[s.count] = m;
      s.worker[s.count] = static_cast<uint16_t>(
          frame_hash(link, rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)) % nw);
      ++s.count;
    }
  }
  tel.replayed.store(r.read, std::memory_order_relaxed);
  if (s.count == 0) return false;
  distributed += push_stash(s);  // the replay's hand-over is software distribution too
  return true;
}

bool Appliance::drain_shared_tx() {
  bool busy = false;
  rte_mbuf* mbufs[engine::kBurstSize];
  for (size_t p = 0; p < shared_tx.size(); ++p) {
    if (shared_tx[p] == nullptr) continue;
    // A few bursts per call: the ring empties at the workers' pace, and a
    // port that takes nothing costs one burst each time.
    for (int burst = 0; burst < kSharedTxBursts; ++burst) {
      const unsigned n = rte_ring_sc_dequeue_burst(shared_tx[p], reinterpret_cast<void**>(mbufs),
                                                   engine::kBurstSize, nullptr);
      if (n == 0) break;
      busy = true;
      const uint16_t sent = rte_eth_tx_burst(ports[p].id, 0, mbufs, static_cast<uint16_t>(n));
      if (sent < n) {
        // A full queue: dropped and counted, never waited on (a stuck port
        // must not stall distribution and the other ports).
        rte_pktmbuf_free_bulk(mbufs + sent, n - sent);
        shared_tx_dropped[p] += n - sent;
        tel_shared_tx_dropped[p].store(shared_tx_dropped[p], std::memory_order_relaxed);
        break;
      }
    }
  }
  return busy;
}

bool Appliance::capture_done() const {
  if (replay.reader == nullptr) return false;
  return replay.at_end && replay.stash.count == 0 && processed() >= replay.read;
}

}  // namespace ftz::dpdk
