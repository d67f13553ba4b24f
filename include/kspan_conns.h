/* SPDX-License-Identifier: Apache-2.0 */
/* Types shared by the conns BPF programs (bpf/conns.bpf.c) and `kspan conns`:
 * per-connection TCP figures taken from the kernel's own TCP state. */
#ifndef __KSPAN_CONNS_H
#define __KSPAN_CONNS_H

#include "kspan.h"

/* Ring-buffer record types. They share the `events` ring with the records of
 * include/kspan.h and start at 16 so that they never collide with
 * enum kspan_event_type. Every one carries struct kspan_conns_event. */
enum kspan_conns_event_type {
	KSPAN_EV_CONNS_FIRST = 16,
	KSPAN_EV_CONNS_OPEN = 16,	/* connect() sent a SYN (SYN_SENT) */
	KSPAN_EV_CONNS_ESTABLISHED = 17,	/* handshake done, either side */
	KSPAN_EV_CONNS_FAILED = 18,	/* SYN_SENT -> CLOSE; see err */
	KSPAN_EV_CONNS_STATS = 19,	/* figures changed: at most once per interval,
					 * and at once for every retransmit */
	KSPAN_EV_CONNS_CLOSE = 20,	/* socket destroyed: final figures */
	KSPAN_EV_CONNS_LAST = 20,
};

/* Which figures of an event were measured. A figure whose bit is clear is
 * unknown, never zero. */
enum kspan_conns_flag {
	KSPAN_CONNS_F_CONNECT = 1 << 0,	/* connect_us is valid */
	KSPAN_CONNS_F_RTT = 1 << 1,	/* srtt_us, rttvar_us valid */
	KSPAN_CONNS_F_MINRTT = 1 << 2,	/* min_rtt_us valid */
	KSPAN_CONNS_F_OPENED = 1 << 3,	/* seen from SYN_SENT/SYN_RECV: ts_open
					 * is the start, lifetime is exact */
	KSPAN_CONNS_F_RST_IN_SYN = 1 << 4,	/* a RST arrived in SYN_SENT */
	KSPAN_CONNS_F_BYTES = 1 << 5,	/* bytes_acked/bytes_received valid */
};

/* Per-CPU counters of the conns programs, indices into `conns_drops`. */
enum kspan_conns_counter {
	KSPAN_CONNS_CNT_RB_FULL = 0,	/* ring buffer reserve failed */
	KSPAN_CONNS_CNT_TABLE_FULL,	/* `conns` update failed */
	KSPAN_CONNS_CNT_EVENTS,		/* events submitted */
	KSPAN_CONNS_CNT_MAX,
};

/* Run-time settings, slot 0 of the `conns_cfg` array. */
struct kspan_conns_cfg {
	__u64 stats_interval_ns;	/* least time between two STATS events of a
					 * connection; 0 means 1 s */
};

struct kspan_conns_event {
	__u32 type;		/* enum kspan_conns_event_type */
	__u32 tgid;		/* owning process; 0 while unknown (accepted
				 * connections learn it at accept) */
	__u64 cookie;		/* socket cookie, as in struct kspan_sock */
	__u64 ts;		/* CLOCK_MONOTONIC ns of this event */
	__u64 ts_open;		/* CLOCK_MONOTONIC ns of SYN_SENT / SYN_RECV, or
				 * when first seen (no KSPAN_CONNS_F_OPENED) */
	struct kspan_tuple tuple;
	__u64 bytes_acked;	/* bytes sent and acknowledged by the peer */
	__u64 bytes_received;	/* bytes received in sequence */
	__u32 flags;		/* enum kspan_conns_flag */
	__u32 connect_us;	/* client: SYN_SENT -> ESTABLISHED; server: the
				 * SYN-ACK -> ACK round trip (the kernel's first
				 * RTT sample of the child socket), microseconds */
	__u32 srtt_us;		/* smoothed RTT, microseconds (tcp_sock srtt_us >> 3) */
	__u32 rttvar_us;	/* RTT mean deviation, microseconds (mdev_us >> 2,
				 * what ss shows as rttvar) */
	__u32 min_rtt_us;	/* windowed minimum RTT, microseconds */
	__u32 retrans;		/* segments retransmitted, counted at each
				 * tcp_retransmit_skb (SYNs included) */
	__u32 syn_retrans;	/* of which SYN retransmits */
	__u32 total_retrans;	/* the kernel's tcp_sock total_retrans, read at
				 * the last event */
	__u32 rst_sent;		/* RSTs sent on this connection */
	__u32 rst_recv;		/* RSTs received */
	__s32 err;		/* FAILED/CLOSE: sk_err at the failure (positive
				 * errno: ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH,
				 * ...), 0 when none */
	__u8 role;		/* enum kspan_role */
	__u8 state;		/* TCP state at the event (TCP_ESTABLISHED=1 ...) */
	__u16 seq;		/* record number on this connection, counting
				 * records the ring buffer had no room for: a
				 * jump says records were lost */
	char comm[KSPAN_COMM_LEN];	/* process at connect; empty when unknown */
};

/* Value of the `conns` map, keyed by socket cookie. Userspace reads it to
 * refresh figures that changed after the last record. */
struct kspan_conns_state {
	struct kspan_conns_event ev;	/* latest figures: what gets sent */
	__u64 last_emit;	/* CLOCK_MONOTONIC ns of the last record sent */
	__u8 dirty;		/* figures changed since last_emit */
	__u8 announced;		/* OPEN or ESTABLISHED (or first STATS) went out */
	__u8 traced;		/* the owner was traced once: stays so after it
				 * exits and leaves the pid filter */
	__u8 failed;		/* SYN_SENT -> CLOSE: figures frozen there (a
				 * failed connect() resets them afterwards) */
	__u8 pad[4];
};

#endif /* __KSPAN_CONNS_H */
