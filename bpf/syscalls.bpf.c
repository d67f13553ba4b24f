// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Syscall entry and exit: the part of capture that needs no kprobes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "kspan.bpf.h"
#include "httpscan.bpf.h"
#include "tls.bpf.h"

#if defined(__TARGET_ARCH_x86)
#define NR_read		0
#define NR_write	1
#define NR_close	3
#define NR_readv	19
#define NR_writev	20
#define NR_sendfile	40
#define NR_connect	42
#define NR_accept	43
#define NR_sendto	44
#define NR_recvfrom	45
#define NR_sendmsg	46
#define NR_recvmsg	47
#define NR_accept4	288
#else
#error "kspan: syscall numbers for this architecture are not defined"
#endif

struct user_iovec {
	void *base;
	__u64 len;
};

static __always_inline __u8 syscall_op(long id)
{
	switch (id) {
	case NR_read:		return KSPAN_OP_READ;
	case NR_write:		return KSPAN_OP_WRITE;
	case NR_readv:		return KSPAN_OP_READV;
	case NR_writev:		return KSPAN_OP_WRITEV;
	case NR_recvfrom:	return KSPAN_OP_RECVFROM;
	case NR_sendto:		return KSPAN_OP_SENDTO;
	case NR_recvmsg:	return KSPAN_OP_RECVMSG;
	case NR_sendmsg:	return KSPAN_OP_SENDMSG;
	case NR_sendfile:	return KSPAN_OP_SENDFILE;
	case NR_connect:	return KSPAN_OP_CONNECT;
	case NR_accept:
	case NR_accept4:	return KSPAN_OP_ACCEPT;
	case NR_close:		return KSPAN_OP_CLOSE;
	}
	return 0;
}

static __always_inline bool op_is_egress(__u8 op)
{
	return op == KSPAN_OP_WRITE || op == KSPAN_OP_WRITEV ||
	       op == KSPAN_OP_SENDTO || op == KSPAN_OP_SENDMSG ||
	       op == KSPAN_OP_SENDFILE;
}

/* fd of the current task -> struct sock, or NULL when fd is not a TCP
 * socket. Used once per connection, and for data when no socket hook is
 * attached. */
static __always_inline struct sock *fd_to_sk(int fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file;
	struct socket *sock;
	struct sock *sk;
	umode_t mode;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || !sk_is_tcp(sk))
		return NULL;
	return sk;
}

static __always_inline void fill_hdr(struct kspan_event_hdr *h, __u32 type,
				     __u64 pid_tgid, struct active_call *a,
				     __u64 cookie)
{
	h->type = type;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->fd = a->fd;
	h->cookie = cookie;
	h->ts_enter = a->ts;
	h->ts_exit = bpf_ktime_get_ns();
}

/* Copy up to n user bytes to data[off], bounded by the capture length.
 * Returns the new offset. */
static __always_inline __u32 copy_user(struct scratch *s, __u32 off,
				       const void *ubuf, __u64 n)
{
	__u32 cap = targ_cap_len;

	if (off >= cap)
		return off;
	if (n > cap - off)
		n = cap - off;
	off &= KSPAN_CAP_MAX - 1;
	if (n > KSPAN_CAP_MAX)
		n = KSPAN_CAP_MAX;
	if (bpf_probe_read_user(&s->data[off], n, ubuf)) {
		count(KSPAN_CNT_READ_FAULT);
		return off;
	}
	return off + n;
}

struct iov_copy {
	const struct user_iovec *iov;
	__u64 iovcnt;
	__u64 total;		/* bytes the syscall moved, still to account for */
	__u32 off;		/* bytes copied so far */
};

static long copy_iov_step(__u32 i, void *ctx)
{
	struct iov_copy *c = ctx;
	struct user_iovec v;
	struct scratch *s;
	__u32 zero = 0;

	if (i >= c->iovcnt || c->total == 0 || c->off >= targ_cap_len)
		return 1;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || bpf_probe_read_user(&v, sizeof(v), &c->iov[i]))
		return 1;
	if (v.len > c->total)
		v.len = c->total;
	c->off = copy_user(s, c->off, v.base, v.len);
	c->total -= v.len;
	return 0;
}

/* gRPC stacks write every HTTP/2 frame header and payload as an iovec of
 * its own, so many entries are walked; bpf_loop keeps that cheap to verify. */
static __always_inline __u32 copy_iov(const struct user_iovec *iov, __u64 iovcnt, __u64 total)
{
	struct iov_copy c = { .iov = iov, .iovcnt = iovcnt, .total = total };

	bpf_loop(KSPAN_IOV_MAX, copy_iov_step, &c, 0);
	return c.off;
}

/* With injection on: a server request read by this thread gets its trace
 * context here, so that the thread's outgoing requests can carry it without
 * a round trip to userspace. A response written ends one request. */
static __always_inline void server_ctx(struct scratch *s, __u32 len, __u32 tid)
{
	struct thread_ctx *t, fresh = {};
	struct scan_buf *sb;
	struct kspan_ctx *c = &s->ev.ctx;
	struct scan sc;
	__u32 zero = 0;

	if (s->ev.role == KSPAN_ROLE_CLIENT)
		return;
	t = bpf_map_lookup_elem(&thread_ctxs, &tid);
	if (s->ev.dir == KSPAN_DIR_EGRESS) {
		if (t && t->inflight && --t->inflight == 0)
			t->ctx.valid = 0;
		return;
	}
	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	if (!sb || len < 5)
		return;
	if (len > SCAN_MAX - 1)
		len = SCAN_MAX - 1;
	if (bpf_probe_read_kernel(sb->b, scan_bound(len), s->data))
		return;
	if (!starts_request(sb, len))
		return;
	scan_head(&sc, len);
	if (!sc.tp_count && sc.other_ctx) {
		/* B3 or Jaeger context: userspace reads it for the server span;
		 * the kernel does not, so this thread's requests get no parent. */
		if (!t) {
			bpf_map_update_elem(&thread_ctxs, &tid, &fresh, BPF_ANY);
			t = bpf_map_lookup_elem(&thread_ctxs, &tid);
		}
		if (t) {
			t->inflight++;
			t->ctx.valid = 0;
		}
		return;
	}
	if (sc.tp_count == 1 && parse_traceparent(sb, sc.tp_off, sc.len, c)) {
		c->remote = 1;
	} else {
		random_bytes(c->trace_id, 16);
		__builtin_memset(c->parent_id, 0, 8);
		c->flags = 1;
	}
	random_bytes(c->span_id, 8);
	c->valid = 1;
	if (!t) {
		bpf_map_update_elem(&thread_ctxs, &tid, &fresh, BPF_ANY);
		t = bpf_map_lookup_elem(&thread_ctxs, &tid);
		if (!t)
			return;
	}
	/* A thread with several requests in flight (an event loop) gives no
	 * parent: its outgoing requests start traces of their own. */
	t->ctx = *c;
	if (t->inflight++)
		t->ctx.valid = 0;
}

static __always_inline int emit_data(__u64 pid_tgid, struct active_call *a,
				     struct kspan_sock *sock, long ret)
{
	struct user_msghdr msg;
	struct scratch *s;
	__u32 zero = 0, len = 0;
	__u64 size;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	fill_hdr(&s->ev.hdr, KSPAN_EV_DATA, pid_tgid, a, sock->cookie);
	s->ev.tuple = sock->tuple;
	s->ev.ret = ret;
	s->ev.op = a->op;
	s->ev.dir = op_is_egress(a->op) ? KSPAN_DIR_EGRESS : KSPAN_DIR_INGRESS;
	s->ev.role = sock->role;
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));

	switch (a->op) {
	case KSPAN_OP_READ:
	case KSPAN_OP_WRITE:
	case KSPAN_OP_RECVFROM:
	case KSPAN_OP_SENDTO:
		len = copy_user(s, 0, (void *)a->arg, ret);
		break;
	case KSPAN_OP_READV:
	case KSPAN_OP_WRITEV:
		len = copy_iov((void *)a->arg, a->count, ret);
		break;
	case KSPAN_OP_RECVMSG:
	case KSPAN_OP_SENDMSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->arg))
			break;
		len = copy_iov((void *)msg.msg_iov, msg.msg_iovlen, ret);
		break;
	}
	if (len > KSPAN_CAP_MAX)
		len = KSPAN_CAP_MAX;
	if (len < ret && a->op != KSPAN_OP_SENDFILE)
		count(KSPAN_CNT_TRUNCATED);
	s->ev.cap_len = len;
	__builtin_memset(&s->ev.ctx, 0, sizeof(s->ev.ctx));
	if (targ_inject)
		server_ctx(s, len, (__u32)pid_tgid);
	size = sizeof(s->ev) + len;
	if (bpf_ringbuf_output(&events, s, size, wakeup_flags())) {
		count(KSPAN_CNT_RB_FULL);
		return 0;
	}
	count(KSPAN_CNT_EVENTS);
	return 0;
}

static __always_inline int emit_conn(__u64 pid_tgid, struct active_call *a,
				     struct kspan_sock *sock, __u32 type, long ret)
{
	struct kspan_conn_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KSPAN_CNT_RB_FULL);
		return 0;
	}
	fill_hdr(&e->hdr, type, pid_tgid, a, sock->cookie);
	e->tuple = sock->tuple;
	e->ret = ret;
	e->role = sock->role;
	e->op = a->op;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, wakeup_flags());
	count(KSPAN_CNT_EVENTS);
	return 0;
}

static __always_inline int handle_enter(struct pt_regs *regs, long id)
{
	__u64 pid_tgid;
	__u32 tid;
	struct active_call a = {};
	struct kspan_sock *sock;
	struct sock *sk;
	__u64 key;
	__u8 op;

	op = syscall_op(id);
	if (!op)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;

	a.fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
	if (op == KSPAN_OP_CLOSE) {
		/* The socket may stay open through another fd; userspace
		 * ends this fd's HTTP state, the socket entry lives on until
		 * the kernel closes the socket. */
		sk = fd_to_sk(a.fd);
		if (!sk)
			return 0;
		key = (__u64)sk;
		sock = bpf_map_lookup_elem(&socks, &key);
		if (!sock)
			return 0;
		a.ts = bpf_ktime_get_ns();
		a.op = op;
		return emit_conn(pid_tgid, &a, sock, KSPAN_EV_CLOSE, 0);
	}
	a.ts = bpf_ktime_get_ns();
	a.op = op;
	a.arg = PT_REGS_PARM2_CORE_SYSCALL(regs);
	a.count = PT_REGS_PARM3_CORE_SYSCALL(regs);
	tid = (__u32)pid_tgid;
	if (bpf_map_update_elem(&active, &tid, &a, BPF_ANY))
		count(KSPAN_CNT_ACTIVE_FULL);
	return 0;
}

/* A read or write that was already in the kernel when kspan attached has no
 * entry record; its arguments are still in the saved user registers. */
static __always_inline bool recover_entry(struct pt_regs *regs, __u8 op,
					  struct active_call *a)
{
	if (op == KSPAN_OP_CLOSE || op == KSPAN_OP_CONNECT || op == KSPAN_OP_ACCEPT)
		return false;
	a->op = op;
	a->fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
	a->arg = PT_REGS_PARM2_CORE_SYSCALL(regs);
	a->count = PT_REGS_PARM3_CORE_SYSCALL(regs);
	a->ts = bpf_ktime_get_ns();	/* entry time unknown */
	a->sk = 0;
	return true;
}

static __always_inline int handle_exit(struct pt_regs *regs, long id, long ret)
{
	__u8 op = syscall_op(id);
	__u64 pid_tgid;
	__u32 tid;
	struct active_call *ap, a = {};
	struct kspan_sock *sock;
	struct sock *sk;
	__u8 role;

	/* Most syscalls end here, before any map is touched. */
	if (!op)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	tid = (__u32)pid_tgid;
	ap = bpf_map_lookup_elem(&active, &tid);
	if (ap) {
		a = *ap;
		bpf_map_delete_elem(&active, &tid);
	} else if (ret <= 0 || !recover_entry(regs, op, &a)) {
		return 0;
	}

	switch (a.op) {
	case KSPAN_OP_CONNECT:
		if (ret != 0 && ret != -EINPROGRESS)
			return 0;
		sk = fd_to_sk(a.fd);
		role = KSPAN_ROLE_CLIENT;
		break;
	case KSPAN_OP_ACCEPT:
		if (ret < 0)
			return 0;
		a.fd = ret;
		sk = fd_to_sk(a.fd);
		role = KSPAN_ROLE_SERVER;
		break;
	default:
		if (ret <= 0)
			return 0;
		sk = (struct sock *)a.sk;
		if (!sk && (targ_fd_walk || a.op == KSPAN_OP_SENDFILE || !ap))
			sk = fd_to_sk(a.fd);
		if (!sk)
			return 0;
		sock = sock_learn(sk, 0);
		if (!sock)
			return 0;
		/* TLS records: the uprobes send the plaintext instead. */
		if (tls_sys_data(pid_tgid, sk, sock, a.fd, a.op, a.arg, a.ts, ret,
				 !op_is_egress(a.op)))
			return 0;
		return emit_data(pid_tgid, &a, sock, ret);
	}
	if (!sk)
		return 0;
	sock = sock_learn(sk, 0);
	if (!sock)
		return 0;
	sock->role = role;
	sock->tgid = pid_tgid >> 32;
	return emit_conn(pid_tgid, &a, sock, KSPAN_EV_CONN, ret);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long id)
{
	return handle_enter(regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit_btf, struct pt_regs *regs, long ret)
{
	/* A trusted pointer here: a plain load, no helper call. */
	return handle_exit(regs, regs->orig_ax, ret);
}

/* The same bodies for kernels whose tp_btf cannot attach. */
SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter_raw, struct pt_regs *regs, long id)
{
	return handle_enter(regs, id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit_raw, struct pt_regs *regs, long ret)
{
	return handle_exit(regs, BPF_CORE_READ(regs, orig_ax), ret);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
