/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The TCP figures' table and the helpers that fill it and send its records,
 * shared by the conns programs (conns.bpf.c) and the socket-layer capture
 * (syscalls.bpf.c), which names connection owners in the calls it already
 * runs on (targ_conns_owner). Maps are __weak: one copy after linking. */
#ifndef __KSPAN_CONNS_BPF_H
#define __KSPAN_CONNS_BPF_H

#include "kspan.bpf.h"
#include "kspan_conns.h"

#define TCP_ESTABLISHED	1
#define TCP_SYN_SENT	2
#define TCP_SYN_RECV	3
#define TCP_TIME_WAIT	6
#define TCP_CLOSE	7
#define TCP_NEW_SYN_RECV 12
#define TCPHDR_SYN	0x02

/* The socket-layer capture's send and receive programs name owners
 * (conns_owner) and the conns programs on the same tracepoints are not
 * loaded: one program run per call instead of two. Set by the loader. */
const volatile bool targ_conns_owner __weak = false;
/* Tracing with socket-layer capture: tcp_probe is not loaded, and the calls
 * of a connection's owner send its figures (conns_owner). Set by the loader. */
const volatile bool targ_conns_calls __weak = false;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);			/* socket cookie */
	__type(value, struct kspan_conns_state);
} conns SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSPAN_CONNS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} conns_drops SEC(".maps") __weak;

/* Run-time settings, written by userspace after load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kspan_conns_cfg);
} conns_cfg SEC(".maps") __weak;

/* A new entry is built here, not on the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kspan_conns_state);
} conns_scratch SEC(".maps") __weak;

static __always_inline void conns_count(enum kspan_conns_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&conns_drops, &key);

	if (v)
		*v += 1;
}

static __always_inline __u64 stats_interval(void)
{
	__u32 zero = 0;
	struct kspan_conns_cfg *c = bpf_map_lookup_elem(&conns_cfg, &zero);

	if (c && c->stats_interval_ns)
		return c->stats_interval_ns;
	return 1000000000ULL;
}

/* Copy the kernel's figures for sk into s. Only for full TCP sockets; sk
 * is a tp_btf argument, so the fields are plain loads. */
static __always_inline void read_figures(struct kspan_conns_state *s, struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	__u32 srtt, minrtt;

	if (!tp)
		return;
	srtt = tp->srtt_us;
	minrtt = tp->rtt_min.s[0].v;
	/* srtt_us is kept times 8 and mdev_us times 4 (tcp_rtt_estimator);
	 * 0 means no sample yet. */
	if (srtt) {
		s->ev.srtt_us = srtt >> 3;
		s->ev.rttvar_us = tp->mdev_us >> 2;
		s->ev.flags |= KSPAN_CONNS_F_RTT;
	}
	/* The windowed minimum starts at ~0U (minmax_reset). */
	if (minrtt && minrtt != ~0U) {
		s->ev.min_rtt_us = minrtt;
		s->ev.flags |= KSPAN_CONNS_F_MINRTT;
	}
	s->ev.bytes_acked = tp->bytes_acked;
	s->ev.bytes_received = tp->bytes_received;
	s->ev.total_retrans = tp->total_retrans;
	s->ev.flags |= KSPAN_CONNS_F_BYTES;
}

/* The endpoints, once the local port is bound: it is not yet at SYN_SENT
 * (tcp_v4_connect() binds after setting the state) and no longer at CLOSE
 * (unhashed before the state changes). A connection's tuple never changes,
 * so the first complete one is kept. */
static __always_inline void learn_tuple(struct kspan_conns_state *s, struct sock *sk)
{
	struct kspan_tuple t;

	if (s->ev.tuple.sport)
		return;
	read_tuple(sk, &t);
	if (t.sport || !s->ev.tuple.dport)
		s->ev.tuple = t;
}

/* Learn the owner of an accepted (or older) connection from the socket
 * table the syscall programs fill at accept/connect. Returns whether the
 * connection belongs to a traced process; unknown owners count as traced
 * only without a pid filter. */
static __always_inline bool owner_traced(struct kspan_conns_state *s, struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct kspan_sock *k;

	if (s->traced)
		return true;
	if (!s->ev.tgid) {
		k = bpf_map_lookup_elem(&socks, &key);
		if (k && k->tgid) {
			s->ev.tgid = k->tgid;
			if (!s->ev.role)
				s->ev.role = k->role;
		}
	}
	if (s->ev.tgid)
		s->traced = is_traced(s->ev.tgid);
	else
		return !targ_filter_pids;
	return s->traced;
}

static __always_inline void emit(struct kspan_conns_state *s, struct sock *sk, __u32 type,
				 __u64 now)
{
	struct kspan_conns_event *e;

	learn_tuple(s, sk);
	s->ev.type = type;
	s->ev.ts = now;
	/* Numbered before the reserve: a record lost to a full ring leaves a
	 * gap userspace can see. */
	s->ev.seq++;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		conns_count(KSPAN_CONNS_CNT_RB_FULL);
		return;
	}
	__builtin_memcpy(e, &s->ev, sizeof(*e));
	bpf_ringbuf_submit(e, wakeup_flags());
	conns_count(KSPAN_CONNS_CNT_EVENTS);
	s->last_emit = now;
	s->dirty = 0;
}

/* Send the ESTABLISHED record once the owner is known to be traced (an
 * accepted connection under a pid filter learns its owner at accept, after
 * the handshake). */
static __always_inline bool announce(struct kspan_conns_state *s, struct sock *sk, __u64 now)
{
	if (!owner_traced(s, sk))
		return false;
	/* A connection that predates kspan has no handshake to report:
	 * its first record is a STATS one. */
	if (!s->announced) {
		s->announced = 1;
		emit(s, sk, s->ev.flags & KSPAN_CONNS_F_OPENED ?
			    KSPAN_EV_CONNS_ESTABLISHED : KSPAN_EV_CONNS_STATS, now);
	}
	return true;
}

/* A STATS record when the interval since the last one has passed, with
 * the figures read now (full sockets only: a reset can come for a request
 * or time-wait socket). */
static __always_inline void maybe_stats(struct kspan_conns_state *s, struct sock *sk, __u64 now,
					bool full)
{
	if (!announce(s, sk, now))
		return;
	if (s->dirty && now - s->last_emit >= stats_interval()) {
		if (full)
			read_figures(s, sk);
		emit(s, sk, KSPAN_EV_CONNS_STATS, now);
	}
}

static __always_inline struct kspan_conns_state *state_new(__u64 cookie, struct sock *sk,
						    __u64 now, __u8 role, __u32 tgid,
						    bool opened)
{
	__u32 zero = 0;
	struct kspan_conns_state *n = bpf_map_lookup_elem(&conns_scratch, &zero);

	if (!n)
		return NULL;
	__builtin_memset(n, 0, sizeof(*n));
	n->ev.cookie = cookie;
	n->ev.ts_open = now;
	n->ev.tgid = tgid;
	n->ev.role = role;
	n->ev.flags = opened ? KSPAN_CONNS_F_OPENED : 0;
	n->ev.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	read_tuple(sk, &n->ev.tuple);
	if (tgid)
		bpf_get_current_comm(n->ev.comm, sizeof(n->ev.comm));
	if (bpf_map_update_elem(&conns, &cookie, n, BPF_ANY)) {
		conns_count(KSPAN_CONNS_CNT_TABLE_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &cookie);
}

/* A read or write on the socket by process tgid, in its context, at now:
 * names the owner of accepted connections (and of connections older than
 * kspan) even when their accept() was already blocked when kspan started.
 * Only sockets that already have a cookie can be in `conns`. sk is a
 * tp_btf argument; now 0: the clock is read when needed. Returns the time
 * until which further calls on the connection have nothing to do here (its
 * owner is named and no figures are due), 0 when the next call must look
 * again. */
static __always_inline __u64 conns_owner(struct sock *sk, __u32 tgid, __u64 now)
{
	__u64 cookie, due, iv, key = (__u64)sk;
	struct kspan_conns_state *s = NULL;
	struct kspan_sock *k;

	if (!sk)
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	if (cookie)
		s = bpf_map_lookup_elem(&conns, &cookie);
	if (s && s->ev.tgid) {
		if (!targ_conns_calls)
			return now ? now + stats_interval() : 0;
		/* tcp_probe runs in softirq on every segment that any
		 * connection of the host receives. Tracing does without it:
		 * the owner's calls mark the figures changed and send them at
		 * most once per interval (only the owner's: maybe_stats).
		 * Calls before the next interval would only mark them changed
		 * again: the call that sends them does that itself. */
		if (!now)
			now = bpf_ktime_get_ns();
		s->dirty = 1;
		maybe_stats(s, sk, now, true);
		iv = stats_interval();
		due = s->last_emit + iv;
		return due > now ? due : now + iv;
	}
	if (!now)
		now = bpf_ktime_get_ns();
	if (!s) {
		/* Under a pid filter the packet hooks skip connections of
		 * unknown owner, and without tcp_probe they see none: a
		 * traced process using a connection older than kspan is
		 * where it gets into the table. */
		if (!(targ_filter_pids || targ_conns_calls) || !is_traced(tgid) || !sk_is_tcp(sk) ||
		    BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_ESTABLISHED)
			return 0;
		cookie = bpf_get_socket_cookie(sk);
		k = bpf_map_lookup_elem(&socks, &key);
		s = state_new(cookie, sk, now, k ? k->role : KSPAN_ROLE_UNKNOWN, tgid, false);
		if (!s)
			return 0;
		read_figures(s, sk);
		announce(s, sk, now);
		return 0;
	}
	s->ev.tgid = tgid;
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	/* Tell userspace now: the connection may never send another record
	 * before it closes. */
	if (s->announced && owner_traced(s, sk)) {
		read_figures(s, sk);
		emit(s, sk, KSPAN_EV_CONNS_STATS, now);
	} else {
		announce(s, sk, now);
	}
	return 0;
}

#endif /* __KSPAN_CONNS_BPF_H */
