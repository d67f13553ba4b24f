// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TLS plaintext from uprobes on the TLS libraries (OpenSSL, the OpenSSL
 * symbols node exports, GnuTLS). The entry probe saves the buffer keyed by
 * thread; the syscall path notes the socket the library touches during the
 * call (tls_sys_data in tls.bpf.h); the return probe copies the bytes that
 * moved into a KSPAN_EV_TLS_DATA event with that socket's cookie, tuple and
 * role, so that a TLS connection is followed exactly as a plaintext one.
 *
 * Attached by user/tls.c, one uprobe per library file (pid -1), never
 * auto-attached: the SEC names carry no target. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "kspan.bpf.h"
#include "tls.bpf.h"

/* Processes that map a TLS library, so that their exit is reported. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);			/* tgid */
	__type(value, __u8);
} tls_pids SEC(".maps");

/* exec and exit of processes, for library discovery: a small ring of its
 * own, read by user/tls.c. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 10);
} tls_procs SEC(".maps");

/* Handshakes of SSL *s in progress or done, for their duration: the first
 * handshake call's entry, kept until the call that completes it returns. */
struct tls_hs {
	__u64 start;		/* monotonic ns */
	__u8 done;		/* reported: later calls are not a handshake */
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_ssl_key);
	__type(value, struct tls_hs);
} tls_hs SEC(".maps");

static __always_inline bool op_is_handshake(__u8 op)
{
	return op == KSPAN_TLS_OP_HANDSHAKE || op == KSPAN_TLS_OP_HANDSHAKE_GNUTLS;
}

static __always_inline int tls_enter(void *ssl, const void *buf, void *len_ptr, __u8 op)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct tls_thread *th;
	struct tls_call n = {};

	if (!is_traced(pid_tgid >> 32))
		return 0;
	/* None of the probed functions calls another probed one, so a call
	 * still recorded for this thread is one whose return was missed. */
	n.ssl = (__u64)ssl;
	n.buf = (__u64)buf;
	n.len_ptr = (__u64)len_ptr;
	n.ts = bpf_ktime_get_ns();
	n.fd = -1;
	n.op = op;
	th = tls_thread(true);
	if (th) {
		th->call = n;
		th->in_call = 1;
	} else {
		tls_count(KSPAN_TLS_CNT_CALLS_FULL, 1);
	}
	if (op_is_handshake(op)) {
		struct tls_ssl_key k = { .tgid = pid_tgid >> 32, .ssl = (__u64)ssl };
		struct tls_hs h = { .start = n.ts };

		/* Only the first call of a non-blocking handshake starts it. */
		bpf_map_update_elem(&tls_hs, &k, &h, BPF_NOEXIST);
	}
	return 0;
}

/* The socket of a call's SSL *: the one touched during the call, else the
 * one bound earlier, else (memory BIOs) the TLS socket this thread just read
 * from when no other SSL * owns it. Binds the SSL * to it. */
static __always_inline struct kspan_sock *tls_resolve(__u64 pid_tgid, struct tls_call *c)
{
	struct tls_ssl_key k = { .tgid = pid_tgid >> 32, .ssl = c->ssl };
	struct tls_ssl_sock *m, b = {};
	struct kspan_sock *sock;
	struct tls_thread *th;
	struct tls_sock *t;
	__u64 sk = c->sk;

	if (sk) {
		sock = bpf_map_lookup_elem(&socks, &sk);
		if (!sock)
			return NULL;
		m = bpf_map_lookup_elem(&tls_ssls, &k);
		if (m && m->sk == sk && m->cookie == sock->cookie)
			return sock;
		b.sk = sk;
		b.cookie = sock->cookie;
		bpf_map_update_elem(&tls_ssls, &k, &b, BPF_ANY);
		return sock;
	}
	m = bpf_map_lookup_elem(&tls_ssls, &k);
	if (m) {
		sk = m->sk;
		sock = bpf_map_lookup_elem(&socks, &sk);
		if (sock && sock->cookie == m->cookie)
			return sock;
		/* The socket closed: the SSL * was freed and reused. */
		bpf_map_delete_elem(&tls_ssls, &k);
	}
	th = tls_thread(false);
	if (!th || !th->last.ts || bpf_ktime_get_ns() - th->last.ts > 1000000000ULL)
		return NULL;
	sk = th->last.sk;
	t = bpf_map_lookup_elem(&tls_socks, &sk);
	sock = bpf_map_lookup_elem(&socks, &sk);
	if (!t || !sock || t->plain || t->cookie != sock->cookie ||
	    (t->ssl && t->ssl != c->ssl))
		return NULL;
	t->ssl = c->ssl;
	b.sk = sk;
	b.cookie = sock->cookie;
	bpf_map_update_elem(&tls_ssls, &k, &b, BPF_ANY);
	return sock;
}

/* A handshake call succeeded: report the handshake once, from the entry of
 * the first call on this SSL *. */
static __always_inline void tls_handshake_done(__u64 pid_tgid, struct tls_call *c,
					       struct kspan_sock *sock)
{
	struct tls_ssl_key k = { .tgid = pid_tgid >> 32, .ssl = c->ssl };
	struct tls_hs *h = bpf_map_lookup_elem(&tls_hs, &k);

	if (!h || h->done)
		return;
	h->done = 1;
	tls_emit_handshake(pid_tgid, c->fd, sock, h->start);
}

/* ret: the function's return value, sign-extended from its C type. */
static __always_inline int tls_return(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct tls_thread *th = tls_thread(false);
	struct kspan_sock *sock;
	struct tls_call c;
	__u64 n = 0;

	if (!th || !th->in_call)
		return 0;
	c = th->call;
	th->in_call = 0;

	if (c.op == KSPAN_TLS_OP_READ_EX || c.op == KSPAN_TLS_OP_WRITE_EX) {
		/* 1 on success, the count in *readbytes or *written */
		if (ret == 1 && bpf_probe_read_user(&n, sizeof(n), (void *)c.len_ptr))
			n = 0;
	} else if (!op_is_handshake(c.op) && ret > 0) {
		n = ret;
	}
	/* A read or write that moved nothing and touched no socket (a
	 * non-blocking server's read once the records are used up: one per
	 * request) has nothing to send and nothing to bind. */
	if (!n && !c.sk && !op_is_handshake(c.op))
		return 0;
	/* Every call binds its SSL * when it can, so that later calls which
	 * touch no socket (data already decrypted) still know theirs. */
	sock = tls_resolve(pid_tgid, &c);
	if (op_is_handshake(c.op) && sock &&
	    ret == (c.op == KSPAN_TLS_OP_HANDSHAKE ? 1 : 0))
		tls_handshake_done(pid_tgid, &c, sock);
	if (!n)
		return 0;
	if (!sock) {
		tls_count(KSPAN_TLS_CNT_NO_SOCK, 1);
		return 0;
	}
	tls_emit(pid_tgid, &c, sock, n);
	return 0;
}

/* int SSL_write(SSL *ssl, const void *buf, int num);
 * ssize_t gnutls_record_send(gnutls_session_t s, const void *data, size_t n);
 * ssize_t gnutls_record_send_range(gnutls_session_t s, const void *data,
 *				    size_t n, const gnutls_range_st *range) */
SEC("uprobe")
int BPF_KPROBE(tls_write, void *ssl, const void *buf)
{
	return tls_enter(ssl, buf, NULL, KSPAN_TLS_OP_WRITE);
}

/* int SSL_read(SSL *ssl, void *buf, int num);
 * ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t n) */
SEC("uprobe")
int BPF_KPROBE(tls_read, void *ssl, void *buf)
{
	return tls_enter(ssl, buf, NULL, KSPAN_TLS_OP_READ);
}

/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_KPROBE(tls_write_ex, void *ssl, const void *buf, __u64 num, void *written)
{
	return tls_enter(ssl, buf, written, KSPAN_TLS_OP_WRITE_EX);
}

/* int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(tls_read_ex, void *ssl, void *buf, __u64 num, void *readbytes)
{
	return tls_enter(ssl, buf, readbytes, KSPAN_TLS_OP_READ_EX);
}

/* int SSL_do_handshake(SSL *s): 1 when done. SSL_connect and SSL_accept
 * end in a call to it. */
SEC("uprobe")
int BPF_KPROBE(tls_handshake, void *ssl)
{
	return tls_enter(ssl, NULL, NULL, KSPAN_TLS_OP_HANDSHAKE);
}

/* int gnutls_handshake(gnutls_session_t s): 0 when done. */
SEC("uprobe")
int BPF_KPROBE(tls_handshake_gnutls, void *ssl)
{
	return tls_enter(ssl, NULL, NULL, KSPAN_TLS_OP_HANDSHAKE_GNUTLS);
}

/* Functions returning int: the upper half of the register is undefined. */
SEC("uretprobe")
int BPF_KRETPROBE(tls_ret_int, int ret)
{
	return tls_return(ret);
}

/* Functions returning ssize_t (GnuTLS). */
SEC("uretprobe")
int BPF_KRETPROBE(tls_ret_long, long ret)
{
	return tls_return(ret);
}

/* void SSL_free(SSL *s); void gnutls_deinit(gnutls_session_t s): the
 * address may come back for another connection. */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct tls_ssl_key k = { .tgid = pid_tgid >> 32, .ssl = (__u64)ssl };

	bpf_map_delete_elem(&tls_ssls, &k);
	bpf_map_delete_elem(&tls_hs, &k);
	return 0;
}

static __always_inline void tls_proc_event(__u32 type, __u32 pid)
{
	struct kspan_tls_proc_event *e;

	e = bpf_ringbuf_reserve(&tls_procs, sizeof(*e), 0);
	if (!e)
		return;
	e->type = type;
	e->pid = pid;
	bpf_ringbuf_submit(e, 0);
}

/* A traced process ran a new program: userspace looks for TLS libraries
 * in its maps once the dynamic loader has mapped them. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(tls_exec, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	if (!targ_tls || !is_traced(tgid))
		return 0;
	tls_proc_event(KSPAN_EV_TLS_EXEC, tgid);
	return 0;
}

/* With per-process probes (see user/tls.c; loaded only then) a new child
 * of a process that maps a TLS library has none yet: userspace attaches
 * its own. Threads share their process's. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(tls_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid), pid = BPF_CORE_READ(child, pid);

	if (pid != (__u32)BPF_CORE_READ(child, tgid) ||
	    !bpf_map_lookup_elem(&tls_pids, &ptgid))
		return 0;
	tls_proc_event(KSPAN_EV_TLS_FORK, pid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tls_exit, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);

	if (!targ_tls)
		return 0;
	/* The thread's own state (tls_threads) goes with its task. */
	if (tid != tgid || !bpf_map_lookup_elem(&tls_pids, &tgid))
		return 0;
	bpf_map_delete_elem(&tls_pids, &tgid);
	tls_proc_event(KSPAN_EV_TLS_EXIT, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
