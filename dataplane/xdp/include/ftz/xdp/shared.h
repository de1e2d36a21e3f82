/* The XDP program's maps as both sides see them: the program
 * (bpf/ftz_xdp.bpf.c, clang -target bpf) and its loader (C++). Plain C with
 * the kernel's fixed-width types, so both compilers lay the structs out
 * alike; the loader static_asserts the sizes (src/program.cpp).
 *
 * Generations: every policy table sits in slot 0 or 1 of an ARRAY_OF_MAPS,
 * and ftz_active[0] names the slot in use. A reload fills the other slot's
 * inner maps, then writes ftz_active: a packet reads ftz_active once and
 * takes every table from that slot, so no packet sees a mix of two
 * generations. */
#ifndef FTZ_XDP_SHARED_H
#define FTZ_XDP_SHARED_H

#include <linux/types.h>

/* C names, as the kernel's and libbpf's. NOLINTBEGIN(readability-identifier-naming) */

#define FTZ_XDP_SLOTS 2
/* Zones are indexed 0..FTZ_XDP_MAX_ZONES-1; FTZ_XDP_NO_ZONE is "no zone"
 * (an address outside every prefix, with no default zone). */
#define FTZ_XDP_MAX_ZONES 64
#define FTZ_XDP_NO_ZONE 0xffffu
#define FTZ_XDP_NO_TENANT 0xffffffffu
/* Inner map sizes: the Lin-gang example has ~6,300 zone prefixes. */
#define FTZ_XDP_MAX_PREFIXES 65536
#define FTZ_XDP_MAX_POLICY_ENTRIES 65536
/* Flows the kernel decided, kept for their records (ftz_flows), and those
 * a TCP reset or a new connection on their 5-tuple ended (ftz_ended). */
#define FTZ_XDP_MAX_FLOWS 262144
#define FTZ_XDP_MAX_ENDED 65536
/* AF_XDP sockets: ftz_xsks[port slot * FTZ_XDP_MAX_QUEUES + rx queue]. */
#define FTZ_XDP_MAX_PORTS 4
#define FTZ_XDP_MAX_QUEUES 64

/* Protocol classes of the policy table: rules name TCP, UDP, ICMP and
 * ICMPv6 (L4Proto); every other protocol number judges alike. */
enum ftz_xdp_proto_class {
  FTZ_XDP_PROTO_TCP = 0,
  FTZ_XDP_PROTO_UDP = 1,
  FTZ_XDP_PROTO_ICMP = 2,
  FTZ_XDP_PROTO_ICMPV6 = 3,
  FTZ_XDP_PROTO_OTHER = 4,
  FTZ_XDP_PROTO_CLASSES = 5,
};

/* What the kernel may do with a packet of a zone pair. */
enum ftz_xdp_action {
  FTZ_XDP_USER = 0, /* the engine in user space judges it (the default: an absent entry) */
  FTZ_XDP_FORWARD = 1,
  FTZ_XDP_DROP = 2,
};

/* The key of the IPv4 and the IPv6 prefix tries: an IPv4 prefix fills the
 * first 4 bytes (prefixlen <= 32). One layout for both families keeps the
 * program's lookups one code path. */
struct ftz_xdp_lpm_key {
  __u32 prefixlen;
  __u8 addr[16];
};

/* ftz_zone_info[zone]. */
struct ftz_xdp_zone {
  __u32 default_tenant; /* FTZ zones: tenant of hosts outside every tenant prefix */
  __u8 ftz;             /* kind ftz: its hosts are tenants (the exporter side) */
  __u8 inside;          /* kind ftz or domestic: inside China */
  __u8 pad[2];
};

/* ftz_policy: (client zone, server zone, tenant) -> action per protocol
 * class, the header stage's decision for every server port, and the zone
 * pair's fail mode (what becomes of its packets while user space is away). */
struct ftz_xdp_policy_key {
  __u16 client_zone;
  __u16 server_zone;
  __u32 tenant;
};
struct ftz_xdp_policy {
  __u8 action[FTZ_XDP_PROTO_CLASSES];
  __u8 fail_open;
  __u8 pad[2];
};

/* limits.checksum_validation, as the engine applies it to a packet that
 * opens a flow (an inline path: its default is on). */
enum ftz_xdp_checksums {
  FTZ_XDP_CHECKSUMS_ON = 0,   /* a sender's partial sum is wrong */
  FTZ_XDP_CHECKSUMS_AUTO = 1, /* a sender's partial sum passes */
  FTZ_XDP_CHECKSUMS_OFF = 2,
};

/* ftz_config[0]. */
struct ftz_xdp_config {
  __u64 generation;       /* the policy generation, for the records */
  __u64 epoch;            /* unique to this install, across processes: what cached verdicts are valid for */
  __u32 default_zone;     /* zone of addresses outside every prefix, or FTZ_XDP_NO_ZONE */
  __u8 default_fail_open; /* limits.default_fail_mode: for packets of no known zone pair */
  __u8 checksums;         /* enum ftz_xdp_checksums */
  __u8 pad[2];
};

/* ftz_flows: a flow the kernel decided, for its record. User space writes
 * the record once the flow has been idle for its timeout, and removes the
 * entry. The key is the engine's FlowKey byte for byte: addresses as 16
 * bytes (IPv4 mapped, ::ffff:a.b.c.d), the lower endpoint first, then the
 * VLAN IDs and the protocol. */
struct ftz_xdp_flow_key {
  __u8 lo[16];
  __u8 hi[16];
  __u16 lo_port;
  __u16 hi_port;
  __u16 vlan_outer;
  __u16 vlan_inner;
  __u8 proto;
  __u8 pad[3];
};
struct ftz_xdp_flow {
  __u64 first_ns; /* bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE */
  __u64 last_ns;
  __u64 pkts[2]; /* [0] sent by the lower endpoint, [1] by the higher */
  __u64 bytes[2];
  __u64 generation;
  __u64 epoch;       /* the install that decided action: a verdict cache entry is valid under it only */
  __u8 action;       /* FTZ_XDP_FORWARD or FTZ_XDP_DROP: the latest decision */
  __u8 client_is_lo; /* the client as the engine takes it from the flow's first packet */
  __u8 tcp_flags[2]; /* TCP flags seen, per sender as pkts[] */
  __u8 pad[4];
};

/* ftz_ended: a flow a TCP reset ended, or a new connection (a SYN) on the
 * 5-tuple of a closed one, as the engine ends them (Worker::process_ip,
 * lookup_or_create): user space writes its record at once and removes it. */
struct ftz_xdp_ended_key {
  struct ftz_xdp_flow_key flow;
  __u32 pad;
  __u64 first_ns;
};

/* NOLINTEND(readability-identifier-naming) */

#endif
