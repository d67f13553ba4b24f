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
#include "conns.bpf.h"

static __always_inline bool sk_is_full_tcp(struct sock *sk)
{
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);

	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV &&
	       BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) == IPPROTO_TCP;
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
	conns_owner(sk, bpf_get_current_pid_tgid() >> 32, 0);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(conns_sock_recv, struct sock *sk)
{
	conns_owner(sk, bpf_get_current_pid_tgid() >> 32, 0);
	return 0;
}

/* Where sock_recv_length is missing (before 6.3): the receive path's own
 * tracepoint, also in the reader's context. */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(conns_rcv_space, struct sock *sk)
{
	conns_owner(sk, bpf_get_current_pid_tgid() >> 32, 0);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(conns_destroy_sock, struct sock *sk)
{
	return handle_destroy(sk);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
