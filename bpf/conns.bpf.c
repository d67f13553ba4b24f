// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Per-connection TCP figures for `kspan conns`: connect latency or the
 * reason a connect failed, smoothed RTT, its variance and minimum,
 * retransmits, resets, bytes and lifetime. Everything is read from the
 * kernel's own TCP state at TCP tracepoints (tp_btf: needs neither kprobes
 * nor tracefs). The programs are named conns_*; `kspan conns` needs them,
 * tracing loads them when it can (loader_opts.conns, .tcp) to put TCP
 * figures on spans and into metrics.
 *
 * State lives in `conns`, an LRU hash keyed by socket cookie. A figure is
 * sent only with its KSPAN_CONNS_F_* bit when the kernel measured it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "kspan.bpf.h"
#include "kspan_conns.h"

#define TCP_ESTABLISHED	1
#define TCP_SYN_SENT	2
#define TCP_SYN_RECV	3
#define TCP_TIME_WAIT	6
#define TCP_CLOSE	7
#define TCP_NEW_SYN_RECV 12
#define TCPHDR_SYN	0x02

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);			/* socket cookie */
	__type(value, struct kspan_conns_state);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSPAN_CONNS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} conns_drops SEC(".maps");

/* Run-time settings, written by userspace after load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kspan_conns_cfg);
} conns_cfg SEC(".maps");

/* A new entry is built here, not on the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kspan_conns_state);
} conns_scratch SEC(".maps");

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

static __always_inline bool sk_is_full_tcp(struct sock *sk)
{
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV &&
	       BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP;
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

/* A record now, whatever the interval: retransmits are dated to the
 * moment they happen, so that userspace can tell which request they
 * belong to. */
static __always_inline void stats_now(struct kspan_conns_state *s, struct sock *sk, __u64 now)
{
	if (!announce(s, sk, now))
		return;
	if (s->last_emit != now || s->dirty)
		emit(s, sk, KSPAN_EV_CONNS_STATS, now);
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

static __always_inline struct kspan_conns_state *state_get(struct sock *sk, __u64 *cookie)
{
	*cookie = bpf_get_socket_cookie(sk);
	return bpf_map_lookup_elem(&conns, cookie);
}

static __always_inline int handle_set_state(struct sock *sk, int oldstate, int newstate)
{
	__u64 now = bpf_ktime_get_ns(), cookie;
	__u32 tgid;
	struct kspan_conns_state *s;
	__u32 srtt;

	if (!sk_is_tcp(sk))
		return 0;
	s = state_get(sk, &cookie);

	if (newstate == TCP_SYN_SENT) {
		/* connect(): the caller is the owner. */
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (!is_traced(tgid))
			return 0;
		s = state_new(cookie, sk, now, KSPAN_ROLE_CLIENT, tgid, true);
		if (!s)
			return 0;
		s->ev.state = newstate;
		s->announced = 1;
		emit(s, sk, KSPAN_EV_CONNS_OPEN, now);
		return 0;
	}

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		/* An accepted child. tcp_rcv_state_process() took its first RTT
		 * sample from the SYN-ACK before setting ESTABLISHED: that is
		 * the server's handshake round trip. */
		s = state_new(cookie, sk, now, KSPAN_ROLE_SERVER, 0, true);
		if (!s)
			return 0;
		s->ev.state = newstate;
		srtt = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us);
		if (srtt) {
			s->ev.connect_us = srtt >> 3;
			s->ev.flags |= KSPAN_CONNS_F_CONNECT;
		}
		read_figures(s, sk);
		announce(s, sk, now);
		return 0;
	}

	if (!s)
		return 0;
	s->ev.state = newstate;

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
		if (s->ev.flags & KSPAN_CONNS_F_OPENED) {
			s->ev.connect_us = (now - s->ev.ts_open) / 1000;
			s->ev.flags |= KSPAN_CONNS_F_CONNECT;
		}
		read_figures(s, sk);
		if (owner_traced(s, sk))
			emit(s, sk, KSPAN_EV_CONNS_ESTABLISHED, now);
		return 0;
	}

	if (newstate == TCP_CLOSE && oldstate == TCP_SYN_SENT) {
		/* tcp_done_with_error() and tcp_v4_err() store the error
		 * before the state changes: ECONNREFUSED after a RST,
		 * ETIMEDOUT after the SYN retries, EHOSTUNREACH or
		 * ENETUNREACH from ICMP; 0 when the caller gave up. */
		s->ev.err = BPF_CORE_READ(sk, sk_err);
		s->ev.total_retrans = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
		s->failed = 1;
		if (owner_traced(s, sk))
			emit(s, sk, KSPAN_EV_CONNS_FAILED, now);
		return 0;
	}

	/* Other transitions: the owner may still be in the socket table,
	 * which forgets the socket at CLOSE. */
	if (newstate == TCP_CLOSE)
		s->ev.err = BPF_CORE_READ(sk, sk_err);
	else
		learn_tuple(s, sk);
	owner_traced(s, sk);
	s->dirty = 1;
	return 0;
}

/* Every segment a connection receives: the figures changed. They are read
 * only when a record is due, so the common case is a table lookup and a
 * clock read. */
static __always_inline int handle_probe(struct sock *sk)
{
	__u64 now = bpf_ktime_get_ns(), cookie, key = (__u64)sk;
	struct kspan_conns_state *s;
	struct kspan_sock *k;

	s = state_get(sk, &cookie);
	if (s && s->announced) {
		s->dirty = 1;
		if (now - s->last_emit < stats_interval())
			return 0;
	}
	if (!s) {
		/* A connection that predates kspan: its figures are still the
		 * kernel's, but connect time and lifetime are unknown. */
		k = bpf_map_lookup_elem(&socks, &key);
		if (k && k->tgid ? !is_traced(k->tgid) : targ_filter_pids)
			return 0;
		if (!sk_is_tcp_btf(sk))
			return 0;
		s = state_new(cookie, sk, now, k ? k->role : KSPAN_ROLE_UNKNOWN,
			      0, false);
		if (!s)
			return 0;
	}
	read_figures(s, sk);
	s->dirty = 1;
	maybe_stats(s, sk, now, false);
	return 0;
}

static __always_inline int handle_retransmit(struct sock *sk, const struct sk_buff *skb)
{
	__u64 now = bpf_ktime_get_ns(), cookie;
	struct tcp_skb_cb *cb;
	struct kspan_conns_state *s;
	__u16 segs;

	s = state_get(sk, &cookie);
	if (!s)
		return 0;
	/* One call can resend several segments (tcp_skb_pcount). */
	cb = (struct tcp_skb_cb *)&skb->cb[0];
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (!segs)
		segs = 1;
	s->ev.retrans += segs;
	if (BPF_CORE_READ(cb, tcp_flags) & TCPHDR_SYN)
		s->ev.syn_retrans += 1;
	if (sk_is_full_tcp(sk))
		read_figures(s, sk);
	s->ev.state = BPF_CORE_READ(sk, __sk_common.skc_state);
	learn_tuple(s, sk);
	s->dirty = 1;
	stats_now(s, sk, now);
	return 0;
}

static __always_inline int handle_reset(struct sock *sk, bool sent)
{
	__u64 now = bpf_ktime_get_ns(), cookie;
	struct kspan_conns_state *s;

	if (!sk)
		return 0;
	s = state_get(sk, &cookie);
	if (!s)
		return 0;
	if (sent) {
		s->ev.rst_sent++;
	} else {
		s->ev.rst_recv++;
		if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_SYN_SENT)
			s->ev.flags |= KSPAN_CONNS_F_RST_IN_SYN;
	}
	learn_tuple(s, sk);
	s->dirty = 1;
	maybe_stats(s, sk, now, sk_is_full_tcp(sk));
	return 0;
}

/* A read or write on the socket, in the context of the process doing it:
 * names the owner of accepted connections (and of connections older than
 * kspan) even when their accept() was already blocked when kspan started.
 * Only sockets that already have a cookie can be in `conns`. */
static __always_inline int handle_owner(struct sock *sk)
{
	__u64 cookie, now, key = (__u64)sk;
	struct kspan_conns_state *s = NULL;
	struct kspan_sock *k;
	__u32 tgid;

	if (!sk)
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	if (cookie)
		s = bpf_map_lookup_elem(&conns, &cookie);
	if (s && s->ev.tgid)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	now = bpf_ktime_get_ns();
	if (!s) {
		/* Under a pid filter the packet hooks skip connections of
		 * unknown owner: a traced process using a connection older
		 * than kspan is where it gets into the table. */
		if (!targ_filter_pids || !is_traced(tgid) || !sk_is_tcp(sk) ||
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

static __always_inline int handle_destroy(struct sock *sk)
{
	__u64 now = bpf_ktime_get_ns(), cookie;
	struct kspan_conns_state *s;

	s = state_get(sk, &cookie);
	if (!s)
		return 0;
	if (!s->failed)
		read_figures(s, sk);
	s->ev.state = TCP_CLOSE;
	if (announce(s, sk, now))
		emit(s, sk, KSPAN_EV_CONNS_CLOSE, now);
	bpf_map_delete_elem(&conns, &cookie);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(conns_set_state, const struct sock *sk, int oldstate, int newstate)
{
	return handle_set_state((struct sock *)sk, oldstate, newstate);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(conns_tcp_probe, struct sock *sk)
{
	return handle_probe(sk);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(conns_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	return handle_retransmit((struct sock *)sk, skb);
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(conns_send_reset, const struct sock *sk)
{
	return handle_reset((struct sock *)sk, true);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(conns_receive_reset, struct sock *sk)
{
	return handle_reset(sk, false);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(conns_sock_send, struct sock *sk)
{
	return handle_owner(sk);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(conns_sock_recv, struct sock *sk)
{
	return handle_owner(sk);
}

/* Where sock_recv_length is missing (before 6.3): the receive path's own
 * tracepoint, also in the reader's context. */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(conns_rcv_space, struct sock *sk)
{
	return handle_owner(sk);
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(conns_destroy_sock, struct sock *sk)
{
	return handle_destroy(sk);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
