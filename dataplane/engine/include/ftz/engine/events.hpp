#pragma once
// Events as the worker records them: fixed-size plain structs copied into a
// bounded single-producer/single-consumer queue, formatted as EVE JSON later
// by the logger (eve.hpp) — the worker never formats text and never waits.
// A full queue drops app events and alerts (counted). Flow records are never
// dropped: the worker ends a flow only when its record has a place, in the
// queue or in its bounded record backlog (worker.hpp, docs/eve.md "No lost
// records").

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

#include "ftz/engine/ip_addr.hpp"
#include "ftz/engine/policy_spec.hpp"

namespace ftz::engine {

enum class EventType : uint8_t { kFlow, kTls, kHttp, kDns, kAlert };

// A bounded string copied into the event (truncation is flagged).
template <size_t N>
struct FixedString {
  uint16_t len = 0;
  bool truncated = false;
  char data[N];
  void assign(std::string_view s) noexcept {
    truncated = s.size() > N;
    len = static_cast<uint16_t>(truncated ? N : s.size());
    if (len > 0) std::memcpy(data, s.data(), len);
  }
  [[nodiscard]] std::string_view view() const noexcept { return {data, len}; }
};

enum class FlowEndReason : uint8_t { kTimeout, kClosed, kEvicted, kShutdown, kReplaced };

// Confirmed detections of one flow, per signature (index into the
// generation's signatures) and per data class; not rate-limited.
inline constexpr uint32_t kMaxFlowDetectionKinds = 24;
struct FlowDetections {
  uint8_t kinds = 0;
  uint16_t signature[kMaxFlowDetectionKinds];
  uint32_t count[kMaxFlowDetectionKinds];
  uint32_t per_class[static_cast<int>(DataClass::kCount)];
  uint32_t distinct = 0;                // distinct identifiers (by token) in the flow
  UninspectableMask uninspectable = 0;  // why the content was not (fully) inspected
};

struct FlowEventData {
  uint64_t pkts_toserver, pkts_toclient, bytes_toserver, bytes_toclient;
  int64_t start_ns;
  int64_t end_ns;  // last packet of the flow (the event's time is when it ended)
  FlowEndReason reason;
  uint8_t tcp_state;
  uint8_t app;  // AppProto
  uint32_t gaps;
  uint32_t conflicts;
  FlowDetections detections;
  bool fail_closed;  // blocked because it was uninspectable (its pair's fail mode)
  bool midstream;    // TCP picked up without a seen handshake
};
struct TlsEventData {
  FixedString<256> sni;
  FixedString<64> alpn[4];
  uint8_t alpn_count;
  uint16_t version;
};
struct HttpEventData {
  FixedString<32> method;
  FixedString<256> hostname;
  FixedString<2048> url;
  FixedString<16> protocol;
  FixedString<128> content_type;
  uint64_t length;
  bool has_length;
  bool chunked;
};
// One confirmed identifier. Never the identifier itself: its masked form
// and a keyed 64-bit token (the same token the compliance ledger counts), so
// a SIEM can correlate without seeing the PI.
struct AlertEventData {
  uint16_t signature;  // index into the generation's signatures
  DataClass category;
  bool minor;
  FixedString<48> masked;
  uint64_t token;
  uint64_t stream_offset;
  bool to_server;
};

struct DnsEventData {
  FixedString<256> rrname;
  uint16_t rrtype;
  uint16_t id;
  bool is_response;
};

struct Event {
  EventType type = EventType::kFlow;
  int64_t ts_ns = 0;
  uint64_t flow_id = 0;
  uint64_t generation = 0;
  IpAddr src;  // client
  IpAddr dst;  // server
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t proto = 0;
  uint16_t vlan[2] = {0, 0};
  uint8_t vlan_count = 0;
  // The ftz object.
  uint32_t src_zone = kNoIndex;
  uint32_t dst_zone = kNoIndex;
  uint32_t tenant = kNoIndex;
  Verdict verdict;
  uint32_t rule = kNoIndex;
  bool is_export = false;  // crosses the border: domestic/FTZ <-> offshore or HK/Macao/Taiwan
  // Its content was scanned, all of it so far: an export (or --classify-all)
  // with signatures and no uninspectable reason (FlowDetections says which).
  bool inspected = false;
  // Flow records: decided and counted by the XDP program in the kernel
  // (docs/xdp.md), not by a worker: no app metadata, TCP packets counted
  // up to the flags that close the flow.
  bool kernel = false;
  union {
    FlowEventData flow;
    TlsEventData tls;
    HttpEventData http;
    DnsEventData dns;
    AlertEventData alert;
  };
  Event() noexcept : flow{} {}
};

// Single producer (a worker), single consumer (the logger). Capacity is a
// power of two fixed at construction.
class EventQueue {
 public:
  explicit EventQueue(uint32_t capacity);
  // Returns a slot to fill, or nullptr when full (counted as dropped); the
  // event becomes visible to the consumer at commit().
  Event* reserve() noexcept {
    Event* e = try_reserve();
    if (e == nullptr) ++dropped_;
    return e;
  }
  // The same without counting a drop (the caller keeps the event elsewhere).
  Event* try_reserve() noexcept {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) >= slots_.size()) return nullptr;
    return &slots_[head & mask_];
  }
  // Producer side: slots free now (the consumer may free more meanwhile).
  [[nodiscard]] uint32_t free_slots() const noexcept {
    return static_cast<uint32_t>(
        slots_.size() - (head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_acquire)));
  }
  [[nodiscard]] uint32_t capacity() const noexcept { return static_cast<uint32_t>(slots_.size()); }
  void commit() noexcept {
    head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  // Consumer side.
  const Event* front() const noexcept {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) return nullptr;
    return &slots_[tail & mask_];
  }
  void pop() noexcept { tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }
  [[nodiscard]] uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::unique_ptr<Event[]> storage_;
  std::span<Event> slots_;
  uint64_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t dropped_ = 0;
};

}  // namespace ftz::engine
