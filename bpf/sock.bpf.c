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

/* Every TCP socket that starts connecting or gets established gets its
 * cookie generated here, from a trusted pointer, so that the syscall path
 * can later read it from the socket. Closed sockets leave the table. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state_btf, struct sock *sk, int oldstate, int newstate)
{
	__u64 key = (__u64)sk;

	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_ESTABLISHED)
		bpf_get_socket_cookie(sk);
	else if (newstate == TCP_CLOSE)
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
