// The XDP verdict path (docs/xdp.md). In the driver, before the kernel
// stack, it decides the packets whose fate the header stage settles for good
// and leaves every other packet to the engine in user space:
//
//   - forwarded to the paired port: non-IP frames (ARP, ND; the engine lets
//     them through too) and packets whose zone pair is allowed for good
//     without inspection, whichever endpoint the engine takes for the client;
//   - dropped: packets whose zone pair is blocked for good, likewise;
//   - to user space (the AF_XDP socket of its port and queue): everything
//     else, and any header the program does not take whole (IPv4 options,
//     IPv6 extension headers, fragments, a bad IPv4 checksum, a malformed or
//     truncated header, a wrong TCP or UDP checksum on a packet that would
//     open a flow here): the engine parses, judges and counts those exactly
//     as on every other packet path. While user space is away (no socket),
//     the zone pair's fail mode forwards or drops them.
//
// Which end is the client: the engine judges a flow as client zone ->
// server zone, and takes the sender of the flow's first packet for its
// client, except for a SYN-ACK (its receiver), replies from a well-known
// port, and an export seen without a SYN (its inside end:
// Worker::init_flow). Which packet came first is not this packet's to know
// (a flow restarted after a RST or a timeout may turn around), so the
// kernel acts only when the decision for (source -> destination) and for
// (destination -> source) agree: then the engine's verdict is that one
// whatever it chose. The one case with a single answer is a flow between
// an inside zone and an outside one over anything but TCP: its client is
// always the inside end. The policy tables hold only decisions that no
// server port, app or content fact can change (the loader checks every
// port range the rules name: tables.cpp).
//
// Parsing is the engine's (dataplane/engine/src/parser.cpp) restricted to
// the shapes taken here; it never accepts what the engine would call
// malformed. Counters: one per code of the registry's "xdp" group
// (reasons/xdp.def), per CPU.

// The kernel's headers first: libbpf's use their types.
// clang-format off
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
// clang-format on

#include "ftz/xdp/shared.h"

enum ftz_xdp_reason {
#define FTZ_REASON(name, code, key, desc) FTZ_XDP_##name = (code),
#include "ftz/engine/reasons/xdp.def"
#undef FTZ_REASON
  FTZ_XDP_REASONS
};

// Inner map templates: each slot of an outer map holds one of these. Sizes,
// not BTF types: clang emits a struct reached only through an outer map's
// pointer as a forward declaration, whose size libbpf cannot read.
struct lpm {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, FTZ_XDP_MAX_PREFIXES);
  __uint(key_size, sizeof(struct ftz_xdp_lpm_key));
  __uint(value_size, sizeof(__u32));
};
struct zone_array {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, FTZ_XDP_MAX_ZONES);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct ftz_xdp_zone));
};
struct policy_hash {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FTZ_XDP_MAX_POLICY_ENTRIES);
  __uint(key_size, sizeof(struct ftz_xdp_policy_key));
  __uint(value_size, sizeof(struct ftz_xdp_policy));
};
struct config_array {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct ftz_xdp_config));
};

#define FTZ_GENERATION_MAP(name, inner)       \
  struct {                                    \
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); \
    __uint(max_entries, FTZ_XDP_SLOTS);       \
    __type(key, __u32);                       \
    __array(values, struct inner);            \
  } name SEC(".maps")

FTZ_GENERATION_MAP(ftz_zones_v4, lpm);
FTZ_GENERATION_MAP(ftz_zones_v6, lpm);
FTZ_GENERATION_MAP(ftz_tenants_v4, lpm);
FTZ_GENERATION_MAP(ftz_tenants_v6, lpm);
FTZ_GENERATION_MAP(ftz_zone_info, zone_array);
FTZ_GENERATION_MAP(ftz_policy, policy_hash);
FTZ_GENERATION_MAP(ftz_config, config_array);

// The slot in use (0 or 1); a slot without tables leaves every packet to
// user space.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} ftz_active SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, FTZ_XDP_REASONS);
  __type(key, __u32);
  __type(value, __u64);
} ftz_counters SEC(".maps");

// Ingress ifindex -> the paired port's ifindex.
struct {
  __uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
  __uint(max_entries, 64);
  __type(key, __u32);
  __type(value, __u32);
} ftz_egress SEC(".maps");

// Ingress ifindex -> its port's slot in ftz_xsks.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, FTZ_XDP_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} ftz_port_slot SEC(".maps");

// User space's AF_XDP sockets, one per port and receive queue.
struct {
  __uint(type, BPF_MAP_TYPE_XSKMAP);
  __uint(max_entries, FTZ_XDP_MAX_PORTS* FTZ_XDP_MAX_QUEUES);
  __type(key, __u32);
  __type(value, __u32);
} ftz_xsks SEC(".maps");

static __always_inline void count(__u32 reason) {
  __u64* c = bpf_map_lookup_elem(&ftz_counters, &reason);
  if (c) *c += 1;
}

static __always_inline int forward(struct xdp_md* ctx, __u32 reason) {
  const long r = bpf_redirect_map(&ftz_egress, ctx->ingress_ifindex, XDP_DROP);
  count(r == XDP_REDIRECT ? reason : FTZ_XDP_kKernelNoEgress);
  return (int)r;
}

// The engine's turn: to the AF_XDP socket of this port and queue. Without
// one (user space away: not started yet, restarting, stopped with the
// program left attached) the zone pair's fail mode decides.
static __always_inline int to_user(struct xdp_md* ctx, __u32 reason, int fail_open) {
  count(reason);
  const __u32 ifindex = ctx->ingress_ifindex;
  const __u32* slot = bpf_map_lookup_elem(&ftz_port_slot, &ifindex);
  const __u32 queue = ctx->rx_queue_index;
  if (slot && *slot < FTZ_XDP_MAX_PORTS && queue < FTZ_XDP_MAX_QUEUES) {
    // XDP_PASS only stands for "no socket there": it is never returned.
    if (bpf_redirect_map(&ftz_xsks, *slot * FTZ_XDP_MAX_QUEUES + queue, XDP_PASS) == XDP_REDIRECT)
      return XDP_REDIRECT;
  }
  if (fail_open) return forward(ctx, FTZ_XDP_kAwayForwarded);
  count(FTZ_XDP_kAwayDropped);
  return XDP_DROP;
}

// What the header parse hands to the policy lookup: the protocol and both
// addresses as 16 bytes (an IPv4 address in the first 4).
// (Addresses first: lookup_key() reads them as 32-bit words, and the
// verifier refuses a misaligned stack access.)
struct ftz_packet {
  __u8 src[16] __attribute__((aligned(8)));
  __u8 dst[16];
  __u8 v6;
  __u8 proto;
  __u8 tcp_flags;
  __u8 pad;
  __u16 sport;  // the engine's key ports (host order): TCP/UDP ports, an echo's identifier
  __u16 dport;
  __u16 vlan[2];  // outer, inner (IDs), as the engine keys flows
  __u32 l4_off;   // where the transport header starts in the frame
  __u32 l4_len;   // the IP payload's length
};

static __always_inline int is_vlan(__u16 type_be) {
  return type_be == bpf_htons(0x8100) || type_be == bpf_htons(0x88a8) || type_be == bpf_htons(0x9100);
}

// TLV options as the engine's options_well_formed() reads them (0 ends,
// 1 is one byte, any other kind carries a length counting itself and the
// kind). At most 40 bytes of TCP options: the loop's bound.
static __always_inline int tcp_options_ok(const __u8* opt, __u32 len, const void* end) {
  __u32 i = 0;
  for (int n = 0; n < 40; n++) {
    if (i >= len) return 1;
    i &= 63;
    const __u8* at = opt + i;
    if ((const void*)(at + 1) > end) return 0;
    if (at[0] == 0) return 1;
    if (at[0] == 1) {
      i++;
      continue;
    }
    if (i + 1 >= len) return 0;
    if ((const void*)(at + 2) > end) return 0;
    const __u32 olen = at[1];
    if (olen < 2 || i + olen > len) return 0;
    i += olen;
  }
  return i >= len;
}

// L4 as the engine's parse_l4() checks it, over `len` bytes (the whole IP
// payload is in the frame: checked by the caller); ports do not matter to
// the tables. Returns -1 when it takes the header, else the reason to leave
// it to user space.
// A 16-bit length field in host order, with bounds the verifier keeps:
// Debian 12's kernel (6.1) forgets a register's bounds at a byte swap
// (BPF_END), so a length taken from a header could not offset a packet
// pointer ("math between pkt pointer and register with unbounded min
// value"). The mask, behind a barrier the compiler cannot see through,
// gives them back.
static __always_inline __u32 length_of(__u16 field_be) {
  __u32 v = bpf_ntohs(field_be);
  barrier_var(v);
  return v & 0xffff;
}

static __always_inline int parse_l4(const __u8* l4, __u32 len, const void* end, struct ftz_packet* p) {
  p->l4_len = len;
  switch (p->proto) {
    case IPPROTO_TCP: {
      const struct tcphdr* th = (const void*)l4;
      if (len < 20 || (const void*)(th + 1) > end) return FTZ_XDP_kUserHeaders;
      const __u32 hlen = (__u32)th->doff * 4;
      if (hlen < 20 || hlen > len) return FTZ_XDP_kUserHeaders;
      if (hlen > 20 && !tcp_options_ok(l4 + 20, hlen - 20, end)) return FTZ_XDP_kUserHeaders;
      p->sport = bpf_ntohs(th->source);
      p->dport = bpf_ntohs(th->dest);
      p->tcp_flags = l4[13];
      return -1;
    }
    case IPPROTO_UDP: {
      const struct udphdr* uh = (const void*)l4;
      if (len < 8 || (const void*)(uh + 1) > end) return FTZ_XDP_kUserHeaders;
      const __u32 ulen = length_of(uh->len);
      if (ulen < 8 || ulen > len) return FTZ_XDP_kUserHeaders;
      p->l4_len = ulen;  // the datagram's own length is what its checksum covers
      p->sport = bpf_ntohs(uh->source);
      p->dport = bpf_ntohs(uh->dest);
      return -1;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      if (len < 4 || (const void*)(l4 + 4) > end) return FTZ_XDP_kUserHeaders;
      // Echo request and reply: the identifier keys the flow (parser.cpp).
      const __u8 type = l4[0];
      if ((type == 8 || type == 0 || type == 128 || type == 129) && len >= 8 && (const void*)(l4 + 8) <= end)
        p->sport = ((__u16)l4[4] << 8) | l4[5];
      return -1;
    }
    default:
      return -1;
  }
}

static __always_inline int parse_ipv4(const __u8* at, const void* end, struct ftz_packet* p) {
  const struct iphdr* ip = (const void*)at;
  if ((const void*)(ip + 1) > end) return FTZ_XDP_kUserHeaders;
  if (ip->version != 4 || ip->ihl != 5) return FTZ_XDP_kUserHeaders;  // options: the engine checks them
  const __u32 total = length_of(ip->tot_len);
  if (total < 20 || (const void*)(at + total) > end) return FTZ_XDP_kUserHeaders;
  if (ip->frag_off & bpf_htons(0x3fff)) return FTZ_XDP_kUserFragment;
  const __u16* w = (const void*)ip;
  __u32 sum = 0;
#pragma unroll
  for (int i = 0; i < 10; i++) sum += w[i];
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  if (sum != 0xffff) return FTZ_XDP_kUserChecksum;
  p->proto = ip->protocol;
  __builtin_memcpy(p->src, &ip->saddr, 4);
  __builtin_memcpy(p->dst, &ip->daddr, 4);
  return parse_l4(at + 20, total - 20, end, p);
}

static __always_inline int parse_ipv6(const __u8* at, const void* end, struct ftz_packet* p) {
  const struct ipv6hdr* ip6 = (const void*)at;
  if ((const void*)(ip6 + 1) > end) return FTZ_XDP_kUserHeaders;
  if (ip6->version != 6) return FTZ_XDP_kUserHeaders;
  const __u32 plen = length_of(ip6->payload_len);
  if ((const void*)(at + 40 + plen) > end) return FTZ_XDP_kUserHeaders;
  const __u8 next = ip6->nexthdr;
  if (next == 0 || next == 43 || next == 60 || next == 44 || next == 51) return FTZ_XDP_kUserIpv6Extension;
  p->v6 = 1;
  p->proto = next;
  __builtin_memcpy(p->src, &ip6->saddr, 16);
  __builtin_memcpy(p->dst, &ip6->daddr, 16);
  return parse_l4(at + 40, plen, end, p);
}

// Transport checksums, as the engine's l4_checksum() (normalize.cpp) checks
// them before a packet may open a flow: the kernel checks the packets that
// would open one here, so that it never forwards or drops what the engine
// would have dropped as damaged. Sums are of the bytes as loaded (little
// endian here), which folds to the byte-swapped network-order sum: a good
// sum is 0xffff either way, and a sender's partial sum compares alike.
#define FTZ_CSUM_CHUNK 64
#define FTZ_CSUM_MAX (144 * FTZ_CSUM_CHUNK) /* 9,216 bytes: a jumbo frame's payload */

static __always_inline __u16 fold(__u64 s) {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return (__u16)s;
}

// The sum over the transport header and payload: `len` bytes at `l4_off`
// with the pseudo-header's sum `pseudo`; `shape` is the protocol (low 8
// bits), 0x100 for IPv6 and the checksum mode << 9. 1 when the engine would
// take it, 0 when it would drop the packet or the sum is too long to take
// here (then the engine decides). A global function: the verifier checks
// its loops once, not once for every path of the program that calls it.
__attribute__((noinline)) int ftz_l4_sum_ok(struct xdp_md* ctx, __u64 l4_off, __u64 len, __u32 shape,
                                            __u64 pseudo) {
  const __u8* data = (const __u8*)(long)ctx->data;
  const void* end = (const void*)(long)ctx->data_end;
  const __u8 proto = (__u8)shape;
  const int v6 = (shape >> 8) & 1;
  const __u32 mode = shape >> 9;
  if (l4_off > 128 || len > FTZ_CSUM_MAX) return 0;
  // Bounds the verifier reads on the registers used below (the compiler may
  // test a copy, and drops masks it can prove redundant).
  barrier_var(l4_off);
  barrier_var(len);
  l4_off &= 0xff;
  len &= 0x3fff;
  const __u8* l4 = data + l4_off;
  const __u32 field_at = proto == IPPROTO_TCP ? 16 : 6;
  if (len < field_at + 2 || (const void*)(l4 + field_at + 2) > end) return 0;
  const __u16 field = *(const __u16*)(l4 + field_at);
  // UDP over IPv4 may omit the sum (RFC 768); IPv6 requires it (RFC 8200).
  if (proto == IPPROTO_UDP && field == 0) return !v6;
  __u64 sum = pseudo;
  __u32 off = 0;
  for (int i = 0; i < FTZ_CSUM_MAX / FTZ_CSUM_CHUNK; i++) {
    if (off + FTZ_CSUM_CHUNK > len) break;
    const __u8* c = l4 + off;
    if ((const void*)(c + FTZ_CSUM_CHUNK) > end) return 0;
    sum += (__u32)bpf_csum_diff(0, 0, (__be32*)c, FTZ_CSUM_CHUNK, 0);
    off += FTZ_CSUM_CHUNK;
  }
  for (int i = 0; i < FTZ_CSUM_CHUNK / 2; i++) {
    if (off + 2 > len) break;
    const __u8* c = l4 + off;
    if ((const void*)(c + 2) > end) return 0;
    sum += *(const __u16*)c;
    off += 2;
  }
  if (off < len) {
    const __u8* c = l4 + off;
    if ((const void*)(c + 1) > end) return 0;
    sum += *c;  // the last byte, padded with a zero byte behind it
  }
  if (fold(sum) == 0xffff) return 1;
  // A sender's partial sum (checksum offload): the folded pseudo-header.
  const __u16 partial = fold(pseudo);
  return mode == FTZ_XDP_CHECKSUMS_AUTO && (field == partial || field == (__u16)~partial);
}

// Whether the engine would take the packet's transport checksum (TCP and
// UDP only; other protocols have none it checks).
static __always_inline int l4_checksum_ok(struct xdp_md* ctx, const struct ftz_packet* p, __u8 mode) {
  if (mode == FTZ_XDP_CHECKSUMS_OFF || (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)) return 1;
  // The pseudo-header: both addresses, the protocol and the length (the
  // length's upper half is 0 for IPv6 too: it fits 16 bits here).
  const __u32* sw = (const void*)p->src;
  const __u32* dw = (const void*)p->dst;
  __u64 pseudo = (__u64)sw[0] + dw[0];
  if (p->v6) pseudo += (__u64)sw[1] + dw[1] + sw[2] + dw[2] + sw[3] + dw[3];
  pseudo += bpf_htons((__u16)p->proto) + bpf_htons((__u16)p->l4_len);
  return ftz_l4_sum_ok(ctx, p->l4_off, p->l4_len, p->proto | (__u32)p->v6 << 8 | (__u32)mode << 9, pseudo);
}

// The tables of the slot in use.
struct ftz_tables {
  void* zones[2];  // [0] IPv4, [1] IPv6
  void* tenants[2];
  void* zone_info;
  void* policy;
  const struct ftz_xdp_config* config;
};

// The slot in use and its generation's configuration (null without tables).
static __always_inline const struct ftz_xdp_config* config_of(__u32* slot) {
  const __u32 zero = 0;
  const __u32* active = bpf_map_lookup_elem(&ftz_active, &zero);
  if (!active) return 0;
  *slot = *active & 1;
  void* config = bpf_map_lookup_elem(&ftz_config, slot);
  return config ? bpf_map_lookup_elem(config, &zero) : 0;
}

static __always_inline int tables_of(__u32 slot, const struct ftz_xdp_config* config, struct ftz_tables* t) {
  t->zones[0] = bpf_map_lookup_elem(&ftz_zones_v4, &slot);
  t->zones[1] = bpf_map_lookup_elem(&ftz_zones_v6, &slot);
  t->tenants[0] = bpf_map_lookup_elem(&ftz_tenants_v4, &slot);
  t->tenants[1] = bpf_map_lookup_elem(&ftz_tenants_v6, &slot);
  t->zone_info = bpf_map_lookup_elem(&ftz_zone_info, &slot);
  t->policy = bpf_map_lookup_elem(&ftz_policy, &slot);
  t->config = config;
  return t->zones[0] && t->zones[1] && t->tenants[0] && t->tenants[1] && t->zone_info && t->policy;
}

// An address as the prefix tries take it: an IPv4 address, or an IPv6
// address that maps one (::ffff:a.b.c.d, which the engine looks up among
// the IPv4 prefixes too), in the first 4 bytes of the IPv4 trie's key.
struct ftz_lookup {
  struct ftz_xdp_lpm_key key;
  int family;  // 0 IPv4, 1 IPv6: the index into ftz_tables' tries
};

static __always_inline void lookup_key(int v6, const __u8* addr, struct ftz_lookup* l) {
  __builtin_memset(&l->key, 0, sizeof(l->key));
  const __u32* w = (const void*)addr;
  if (!v6 || (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff))) {
    l->family = 0;
    l->key.prefixlen = 32;
    __builtin_memcpy(l->key.addr, v6 ? addr + 12 : addr, 4);
  } else {
    l->family = 1;
    l->key.prefixlen = 128;
    __builtin_memcpy(l->key.addr, addr, 16);
  }
}

// A longest-prefix lookup: the value, or `missing`.
static __always_inline __u32 lpm(void* map, const struct ftz_xdp_lpm_key* k, __u32 missing) {
  const __u32* v = bpf_map_lookup_elem(map, k);
  return v ? *v : missing;
}

// An endpoint's zone, and its tenant when the zone is an FTZ zone (the
// exporter side; PolicyGeneration::tenant_of).
struct ftz_end {
  __u32 zone;
  __u32 tenant;
  int ftz;
  int inside;
};

static __always_inline void resolve(const struct ftz_tables* t, int v6, const __u8* addr, struct ftz_end* e) {
  struct ftz_lookup l;
  lookup_key(v6, addr, &l);
  void* zones = l.family ? t->zones[1] : t->zones[0];
  void* tenants = l.family ? t->tenants[1] : t->tenants[0];
  e->zone = lpm(zones, &l.key, t->config->default_zone);
  e->tenant = FTZ_XDP_NO_TENANT;
  e->ftz = 0;
  e->inside = 0;
  if (e->zone >= FTZ_XDP_MAX_ZONES) return;
  const __u32 z = e->zone;
  const struct ftz_xdp_zone* info = bpf_map_lookup_elem(t->zone_info, &z);
  if (!info) return;
  e->inside = info->inside;
  if (!info->ftz) return;
  e->ftz = 1;
  e->tenant = lpm(tenants, &l.key, info->default_tenant);
}

// The table's entry for client -> server (null without one: to user space,
// under the default fail mode).
static __always_inline const struct ftz_xdp_policy* policy_of(const struct ftz_tables* t,
                                                              const struct ftz_end* client,
                                                              const struct ftz_end* server) {
  struct ftz_xdp_policy_key k = {
      .client_zone = (__u16)client->zone,
      .server_zone = (__u16)server->zone,
      // The tenant is the exporter: the FTZ end, the client's first.
      .tenant = client->ftz ? client->tenant : server->tenant,
  };
  return bpf_map_lookup_elem(t->policy, &k);
}

static __always_inline __u32 proto_class(__u8 proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return FTZ_XDP_PROTO_TCP;
    case IPPROTO_UDP:
      return FTZ_XDP_PROTO_UDP;
    case IPPROTO_ICMP:
      return FTZ_XDP_PROTO_ICMP;
    case IPPROTO_ICMPV6:
      return FTZ_XDP_PROTO_ICMPV6;
    default:
      return FTZ_XDP_PROTO_OTHER;
  }
}

// The flows decided here, for their records (user space reaps them).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, FTZ_XDP_MAX_FLOWS);
  __type(key, struct ftz_xdp_flow_key);
  __type(value, struct ftz_xdp_flow);
} ftz_flows SEC(".maps");

static __always_inline int well_known(__u16 port) {
  return port != 0 && port < 1024;
}

// An address as the engine keeps it (IPv4 mapped) and its four words in
// host order, for the comparison that orders the key's endpoints.
static __always_inline void key_address(int v6, const __u8* in, __u8* out, __u32* words) {
  if (v6) {
    __builtin_memcpy(out, in, 16);
  } else {
    __builtin_memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    __builtin_memcpy(out + 12, in, 4);
  }
  const __u32* w = (const void*)out;
#pragma unroll
  for (int i = 0; i < 4; i++) words[i] = bpf_ntohl(w[i]);
}

// The engine's make_flow_key(): the lower endpoint (address, then port)
// first. Returns whether the packet's sender is the lower endpoint.
static __always_inline int flow_key(const struct ftz_packet* p, struct ftz_xdp_flow_key* k) {
  __u8 src[16] __attribute__((aligned(4)));
  __u8 dst[16] __attribute__((aligned(4)));
  __u32 sw[4], dw[4];
  key_address(p->v6, p->src, src, sw);
  key_address(p->v6, p->dst, dst, dw);
  int cmp = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    if (cmp == 0 && sw[i] != dw[i]) cmp = sw[i] < dw[i] ? -1 : 1;
  }
  const int from_lo = cmp < 0 || (cmp == 0 && p->sport <= p->dport);
  __builtin_memcpy(k->lo, from_lo ? src : dst, 16);
  __builtin_memcpy(k->hi, from_lo ? dst : src, 16);
  k->lo_port = from_lo ? p->sport : p->dport;
  k->hi_port = from_lo ? p->dport : p->sport;
  k->vlan_outer = p->vlan[0];
  k->vlan_inner = p->vlan[1];
  k->proto = p->proto;
  return from_lo;
}

// A new entry for a flow decided here, with the client the engine would
// take from this, its first packet (Worker::init_flow); null when the map
// is full (the flow has no record, its packets are decided all the same).
static __always_inline struct ftz_xdp_flow* new_flow(const struct ftz_packet* p, const struct ftz_end* src,
                                                     const struct ftz_end* dst,
                                                     const struct ftz_xdp_flow_key* k, int from_lo) {
  struct ftz_xdp_flow fresh = {};
  int sender_is_client = 1;
  const __u8 syn_ack = 0x12;
  if (p->proto == IPPROTO_TCP && (p->tcp_flags & syn_ack) == syn_ack) {
    sender_is_client = 0;
  } else if (!(p->proto == IPPROTO_TCP && (p->tcp_flags & 0x02))) {
    if (src->zone < FTZ_XDP_MAX_ZONES && dst->zone < FTZ_XDP_MAX_ZONES && src->inside != dst->inside)
      sender_is_client = src->inside;
    else if (well_known(p->sport) && !well_known(p->dport))
      sender_is_client = 0;
  }
  fresh.client_is_lo = sender_is_client ? from_lo : !from_lo;
  fresh.first_ns = bpf_ktime_get_coarse_ns();
  // Another CPU may have made it meanwhile: then that one counts.
  bpf_map_update_elem(&ftz_flows, k, &fresh, BPF_NOEXIST);
  struct ftz_xdp_flow* f = bpf_map_lookup_elem(&ftz_flows, k);
  if (!f) count(FTZ_XDP_kKernelRecordLost);
  return f;
}

// Ended flows, for their records.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, FTZ_XDP_MAX_ENDED);
  __type(key, struct ftz_xdp_ended_key);
  __type(value, struct ftz_xdp_flow);
} ftz_ended SEC(".maps");

#define FTZ_TCP_FIN 0x01
#define FTZ_TCP_SYN 0x02
#define FTZ_TCP_RST 0x04
#define FTZ_TCP_ACK 0x10

// Both FINs seen: closed, as the engine's tracking makes it. Its record is
// written then; later packets go by the verdict, uncounted.
static __always_inline int tcp_closed(const struct ftz_xdp_flow* f) {
  return ((f->tcp_flags[0] | f->tcp_flags[1]) & FTZ_TCP_RST) ||
         ((f->tcp_flags[0] & FTZ_TCP_FIN) && (f->tcp_flags[1] & FTZ_TCP_FIN));
}

// Moves a flow to ftz_ended (its record is written at once); what follows
// on its 5-tuple is a new flow.
static __always_inline void end_flow(const struct ftz_xdp_flow_key* k, const struct ftz_xdp_flow* f) {
  struct ftz_xdp_ended_key e = {};
  __builtin_memcpy(&e.flow, k, sizeof(*k));
  e.first_ns = f->first_ns;
  if (bpf_map_update_elem(&ftz_ended, &e, f, BPF_ANY) != 0) count(FTZ_XDP_kKernelRecordLost);
  bpf_map_delete_elem(&ftz_flows, k);
}

// Counts a packet decided here into its flow's entry.
static __always_inline void account(struct ftz_xdp_flow* f, const struct ftz_packet* p, int dir, __u8 action,
                                    const struct ftz_xdp_config* config, __u64 len) {
  __sync_fetch_and_add(&f->pkts[dir], 1);
  __sync_fetch_and_add(&f->bytes[dir], len);
  // Coarse (a tick): idle timeouts are seconds, and the precise clock is a
  // sizeable share of a packet here.
  f->last_ns = bpf_ktime_get_coarse_ns();
  f->generation = config->generation;
  f->epoch = config->epoch;
  f->action = action;
  f->tcp_flags[dir] |= p->tcp_flags;
}

// What ftz_parse() returns for a frame whose fate does not wait for the
// policy's configuration: its reason with this bit (non-IP: forwarded;
// a truncated Ethernet header or a third VLAN tag: to user space, fail
// closed).
#define FTZ_PARSE_L2 0x100

// The headers of the frame into `p`: -1 when the program takes them whole,
// else the reason it does not (with FTZ_PARSE_L2, see above). A global
// function: the verifier walks its many header shapes once, not once for
// every path of the policy lookups that follow it.
__attribute__((noinline)) int ftz_parse(struct xdp_md* ctx, struct ftz_packet* p) {
  if (!p) return FTZ_PARSE_L2 | FTZ_XDP_kUserHeaders;
  const void* end = (const void*)(long)ctx->data_end;
  const __u8* data = (const __u8*)(long)ctx->data;
  const __u8* at = data;
  const struct ethhdr* eth = (const void*)at;
  if ((const void*)(eth + 1) > end) return FTZ_PARSE_L2 | FTZ_XDP_kUserHeaders;
  __u16 type = eth->h_proto;
  at += sizeof(*eth);
#pragma unroll
  for (int i = 0; i < 2; i++) {
    if (!is_vlan(type)) break;
    if ((const void*)(at + 4) > end) return FTZ_PARSE_L2 | FTZ_XDP_kUserHeaders;
    p->vlan[i] = bpf_ntohs(*(const __u16*)at) & 0x0fff;
    type = *(const __u16*)(at + 2);
    at += 4;
  }
  if (is_vlan(type)) return FTZ_PARSE_L2 | FTZ_XDP_kUserHeaders;  // a third tag: malformed to the engine
  const int v6 = type == bpf_htons(ETH_P_IPV6);
  if (!v6 && type != bpf_htons(ETH_P_IP)) return FTZ_PARSE_L2 | FTZ_XDP_kNonIp;
  p->l4_off = (__u32)(at - data) + (v6 ? 40 : 20);
  return v6 ? parse_ipv6(at, end, p) : parse_ipv4(at, end, p);
}

SEC("xdp")
int ftz_xdp(struct xdp_md* ctx) {
  struct ftz_packet p = {};
  const int why = ftz_parse(ctx, &p);
  if (why >= 0 && (why & FTZ_PARSE_L2)) {
    const __u32 reason = why & 0xff;
    return reason == FTZ_XDP_kNonIp ? forward(ctx, reason) : to_user(ctx, reason, 0);
  }
  // The configuration before the IP header's reasons: the fail modes of
  // packets for user space are its.
  __u32 slot = 0;
  const struct ftz_xdp_config* config = config_of(&slot);
  if (!config) return to_user(ctx, FTZ_XDP_kUserNoPolicy, 0);
  const int default_open = config->default_fail_open;
  if (why >= 0) return to_user(ctx, (__u32)why, default_open);
  const void* end = (const void*)(long)ctx->data_end;
  const __u64 len = (__u64)(end - (const void*)(long)ctx->data);

  // A flow decided here under this generation is decided again alike (the
  // tables read nothing of a packet but its key's addresses and protocol):
  // its entry is the verdict cache.
  struct ftz_xdp_flow_key k = {};
  const int from_lo = flow_key(&p, &k);
  const int dir = from_lo ? 0 : 1;
  struct ftz_xdp_flow* f = bpf_map_lookup_elem(&ftz_flows, &k);
  if (f && p.proto == IPPROTO_TCP && tcp_closed(f) &&
      (p.tcp_flags & (FTZ_TCP_SYN | FTZ_TCP_ACK)) == FTZ_TCP_SYN) {
    // A new connection on a closed one's 5-tuple: a new flow.
    end_flow(&k, f);
    f = 0;
  }
  __u8 action;
  if (f && f->epoch == config->epoch) {
    action = f->action;
  } else {
    struct ftz_tables t;
    if (!tables_of(slot, config, &t)) return to_user(ctx, FTZ_XDP_kUserNoPolicy, 0);
    struct ftz_end src, dst;
    resolve(&t, p.v6, p.src, &src);
    resolve(&t, p.v6, p.dst, &dst);
    const __u32 pc = proto_class(p.proto);
    if (pc >= FTZ_XDP_PROTO_CLASSES) return to_user(ctx, FTZ_XDP_kUserUndecided, default_open);
    // The entries the engine may judge the flow by: one, or one per end.
    const struct ftz_xdp_policy* first;
    const struct ftz_xdp_policy* second;
    if (p.proto != IPPROTO_TCP && src.zone < FTZ_XDP_MAX_ZONES && dst.zone < FTZ_XDP_MAX_ZONES &&
        src.inside != dst.inside) {
      first = src.inside ? policy_of(&t, &src, &dst) : policy_of(&t, &dst, &src);
      second = first;
    } else {
      first = policy_of(&t, &src, &dst);
      second = policy_of(&t, &dst, &src);
    }
    if (!first || !second) return to_user(ctx, FTZ_XDP_kUserUndecided, default_open);
    action = first->action[pc];
    // (A flow decided here under an older generation that is for user
    // space now keeps its entry: its record, when it goes idle, has what
    // the kernel counted; the engine records the rest.)
    if (action != second->action[pc] || action == FTZ_XDP_USER)
      return to_user(ctx, FTZ_XDP_kUserUndecided, first->fail_open && second->fail_open);
    // The packet opens the flow (the engine has no state for it): the
    // engine would check its transport checksum first.
    if (!l4_checksum_ok(ctx, &p, config->checksums))
      return to_user(ctx, FTZ_XDP_kUserL4Checksum, first->fail_open && second->fail_open);
    if (!f) f = new_flow(&p, &src, &dst, &k, from_lo);
  }
  if (f && !(p.proto == IPPROTO_TCP && tcp_closed(f))) {
    account(f, &p, dir, action, config, len);
    // A reset that passes ends the flow at once; one the verdict drops
    // ended nothing for the endpoints, so the flow stays, closed.
    if (p.proto == IPPROTO_TCP && (p.tcp_flags & FTZ_TCP_RST) && action == FTZ_XDP_FORWARD) end_flow(&k, f);
  }
  if (action == FTZ_XDP_DROP) {
    count(FTZ_XDP_kKernelDropped);
    return XDP_DROP;
  }
  return forward(ctx, FTZ_XDP_kKernelForwarded);
}

// The channel port's program: what comes back from the approved channel is
// the return traffic of flows the engine routed, tagged with the channel's
// VLAN, which user space strips before the engine sees it. All of it goes
// to user space; while user space is away it is dropped (its flows were
// judged there, and the tag would reach the inside).
SEC("xdp")
int ftz_xdp_channel(struct xdp_md* ctx) {
  return to_user(ctx, FTZ_XDP_kUserChannel, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
