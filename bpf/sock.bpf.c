// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Socket hooks: name the socket behind an in-flight syscall, keep the socket
 * table in step with TCP state, and follow forks of traced processes.
 *
 * The socket hook has three interchangeable entry points and the loader
 * enables one: fentry (trusted sock, cookie from the helper), kprobe, or the
 * sock_send_length/sock_recv_length tracepoints. When none can attach the
 * syscall exit walks the fd table instead (targ_fd_walk). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "kspan.bpf.h"

#define TCP_ESTABLISHED	1
#define TCP_SYN_SENT	2
#define TCP_CLOSE	7

SEC("fentry/tcp_sendmsg")
int BPF_PROG(tcp_sendmsg_fentry, struct sock *sk)
{
	stash_sock(sk, bpf_get_socket_cookie(sk));
	return 0;
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(tcp_recvmsg_fentry, struct sock *sk)
{
	stash_sock(sk, bpf_get_socket_cookie(sk));
	return 0;
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(tcp_sendmsg_kprobe, struct sock *sk)
{
	stash_sock(sk, 0);
	return 0;
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(tcp_recvmsg_kprobe, struct sock *sk)
{
	stash_sock(sk, 0);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length_btf, struct sock *sk)
{
	stash_sock(sk, bpf_get_socket_cookie(sk));
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length_btf, struct sock *sk)
{
	stash_sock(sk, bpf_get_socket_cookie(sk));
	return 0;
}

#define TCP_SYN_RECV	3
#define TCP_FIN_WAIT1	4
#define TCP_LAST_ACK	9
#define SHUTDOWN_MASK	3

/* Socket-layer capture: the end of a connection a traced process used, for
 * its owner. Closing both ways (close(2), or shutdown of the second way)
 * ends it at once, in the closing task, after its last bytes; a shutdown of
 * one way leaves the other open for data. A connection the kernel ended
 * first (a reset, even one that came back inside the owner's write) ends
 * when its socket is destroyed, which waits for close(2). */
static __always_inline void sock_closed(struct sock *sk, bool destroyed)
{
	struct kspan_conn_event *e;
	struct kspan_sock *sock;
	__u64 key = (__u64)sk;

	sock = bpf_map_lookup_elem(&socks, &key);
	if (!sock || !sock->seen || sock->closed)
		return;
	if (!destroyed && BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown) != SHUTDOWN_MASK)
		return;
	sock->closed = 1;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KSPAN_CNT_RB_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.type = KSPAN_EV_CLOSE;
	e->hdr.pid = sock->tgid;
	e->hdr.fd = -1;
	e->hdr.cookie = sock->cookie;
	e->hdr.ts_enter = e->hdr.ts_exit = bpf_ktime_get_ns();
	e->tuple = sock->tuple;
	e->role = sock->role;
	e->op = KSPAN_OP_CLOSE;
	bpf_ringbuf_submit(e, wakeup_flags());
	count(KSPAN_CNT_EVENTS);
}

/* Every TCP socket that starts connecting or gets established gets its
 * cookie generated here, from a trusted pointer, so that the syscall path
 * can later read it from the socket. Closed sockets leave the table. With
 * socket-layer capture, an established connection enters the table with
 * its role (the handshake says which side opened it) and leaves it when
 * the socket is destroyed (sock_destroy_btf). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state_btf, struct sock *sk, int oldstate, int newstate)
{
	struct kspan_sock *sock;
	__u64 key = (__u64)sk;

	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT) {
		bpf_get_socket_cookie(sk);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED) {
		__u64 cookie = bpf_get_socket_cookie(sk);

		if (!targ_sock_capture || (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV))
			return 0;
		sock = sock_learn(sk, cookie, true);
		if (sock)
			sock->role = oldstate == TCP_SYN_SENT ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER;
		return 0;
	}
	if (!targ_sock_capture) {
		if (newstate == TCP_CLOSE)
			bpf_map_delete_elem(&socks, &key);
		return 0;
	}
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)
		sock_closed(sk, false);
	return 0;
}

/* Socket-layer capture only: a socket destroyed is past its last call. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(sock_destroy_btf, struct sock *sk)
{
	__u64 key = (__u64)sk;

	sock_closed(sk, true);
	bpf_map_delete_elem(&socks, &key);
	return 0;
}

/* With a pid filter, children of traced processes are traced too (pre-fork
 * servers such as nginx workers). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork_btf, struct task_struct *parent,
	     struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;

	if (!targ_filter_pids || ptgid == ctgid)
		return 0;
	if (is_traced(ptgid))
		pid_set(ctgid, true);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_process_exit_btf, struct task_struct *p)
{
	__u32 tid = p->pid, tgid = p->tgid;

	bpf_map_delete_elem(&active, &tid);
	if (targ_filter_pids && tid == tgid)
		pid_set(tgid, false);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
