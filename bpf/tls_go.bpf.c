// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Go crypto/tls plaintext and handshakes, from uprobes at the entry of
 * crypto/tls.(*Conn).Read, Write, clientHandshake and serverHandshake and
 * at every RET instruction of Read and the handshakes (never uretprobes:
 * they break Go's stack copying). Write is read at entry.
 *
 * Go's register ABI (ABIInternal, Go 1.17 on amd64): the receiver in RAX,
 * a []byte argument in RBX (pointer), RCX (length), RDI (capacity); the
 * results n in RAX and err in RBX (itab) and RCX (data); the running
 * goroutine's g in R14, always. A goroutine can block in Read and resume
 * on another thread, so calls in flight are keyed by g, not by thread.
 *
 * The socket comes from the tls.Conn itself: its net.Conn, when that is a
 * *net.TCPConn (checked by its itab), leads to the netFD and the fd, and
 * the fd through the task's file table to the struct sock. Offsets come
 * from user/tls_go.c per binary, in tls_go_cfgs; the uprobe's cookie says
 * which binary and which function. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "kspan.bpf.h"
#include "tls.bpf.h"

#if defined(__TARGET_ARCH_x86)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KSPAN_TLS_GO_SLOTS);
	__type(key, __u32);
	__type(value, struct kspan_tls_go_cfg);
} tls_go_cfgs SEC(".maps");

/* A goroutine inside a probed function. Read and Write never nest, but a
 * handshake runs inside the first Read or Write: two kinds of key. */
struct go_call_key {
	__u32 tgid;
	__u32 handshake;	/* 1 for clientHandshake/serverHandshake */
	__u64 g;		/* runtime.g of the goroutine */
};

struct go_call {
	__u64 buf;		/* the []byte's array */
	__u64 stack_lo;		/* the goroutine's stack at entry */
	__u64 stack_hi;
	__u64 sk;		/* struct sock *, 0 when not found */
	__u64 ts;		/* entry, monotonic ns */
	__s32 fd;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_call_key);
	__type(value, struct go_call);
} tls_go_calls SEC(".maps");

struct go_iface {
	__u64 itab;
	__u64 data;
};

struct go_stack {
	__u64 lo;
	__u64 hi;
};

static __always_inline bool fn_is_handshake(__u32 fn)
{
	return fn == KSPAN_TLS_GO_CLIENT_HS || fn == KSPAN_TLS_GO_SERVER_HS;
}

/* The socket under a *tls.Conn: conn.(*net.TCPConn).fd.pfd.Sysfd. */
static __always_inline struct sock *go_conn_sock(const struct kspan_tls_go_cfg *cfg,
						 __u64 conn, __u64 bias, __s32 *fd)
{
	struct go_iface nc;
	__u64 netfd;
	__s64 sysfd;

	if (bpf_probe_read_user(&nc, sizeof(nc), (void *)(conn + cfg->conn_off)))
		return NULL;
	if (nc.itab != cfg->tcpconn_itab + bias) {
		tls_count(KSPAN_TLS_CNT_GO_NOT_TCP, 1);
		return NULL;
	}
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(nc.data + cfg->tcpconn_fd_off)) ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + cfg->netfd_sysfd_off)))
		return NULL;
	if (sysfd < 0 || sysfd > 0x7fffffff)
		return NULL;
	*fd = sysfd;
	return fd_to_sk(sysfd);
}

static __always_inline void go_emit(__u64 pid_tgid, const struct go_call *c, __u8 op, __s64 n)
{
	struct kspan_sock *sock;
	struct tls_call tc = {};

	if (n <= 0)
		return;
	sock = sock_learn((struct sock *)c->sk, 0, false);
	if (!sock) {
		tls_count(KSPAN_TLS_CNT_NO_SOCK, 1);
		return;
	}
	tc.buf = c->buf;
	tc.ssl = c->sk;
	tc.sk = c->sk;
	tc.ts = c->ts;
	tc.fd = c->fd;
	tc.op = op;
	tls_emit(pid_tgid, &tc, sock, n);
}

SEC("uprobe")
int tls_go_enter(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), pid_tgid = bpf_get_current_pid_tgid();
	__u32 slot = cookie & 0xffff, fn = (cookie >> 16) & 0xff;
	const struct kspan_tls_go_cfg *cfg;
	struct go_call_key k = {};
	struct go_call c = {};
	struct go_stack st;
	__u64 bias;

	if (!is_traced(pid_tgid >> 32) || fn >= KSPAN_TLS_GO_FN_MAX)
		return 0;
	cfg = bpf_map_lookup_elem(&tls_go_cfgs, &slot);
	if (!cfg)
		return 0;
	/* The probe's address minus the function's link-time address: the
	 * load bias of a PIE, 0 otherwise. */
	bias = PT_REGS_IP(ctx) - cfg->fn_vaddr[fn];
	k.tgid = pid_tgid >> 32;
	k.handshake = fn_is_handshake(fn);
	k.g = ctx->r14;
	c.fd = -1;
	c.sk = (__u64)go_conn_sock(cfg, ctx->ax, bias, &c.fd);
	if (!c.sk)
		return 0;
	c.ts = bpf_ktime_get_ns();
	c.buf = ctx->bx;
	if (fn == KSPAN_TLS_GO_WRITE) {
		/* Sent at entry: Write returns only once the bytes are out,
		 * and another goroutine may read the answer before this one
		 * runs again; the request must come first. Write sends all of
		 * b unless it fails. */
		go_emit(pid_tgid, &c, KSPAN_TLS_OP_WRITE, (__s64)ctx->cx);
		return 0;
	}
	if (!bpf_probe_read_user(&st, sizeof(st), (void *)(k.g + cfg->g_stack_off))) {
		c.stack_lo = st.lo;
		c.stack_hi = st.hi;
	}
	/* A second entry of the same call (after the prologue grew the
	 * stack) replaces the first with the same values. */
	if (bpf_map_update_elem(&tls_go_calls, &k, &c, BPF_ANY))
		tls_count(KSPAN_TLS_CNT_CALLS_FULL, 1);
	return 0;
}

SEC("uprobe")
int tls_go_ret(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), pid_tgid = bpf_get_current_pid_tgid();
	__u32 slot = cookie & 0xffff, fn = (cookie >> 16) & 0xff;
	const struct kspan_tls_go_cfg *cfg;
	struct go_call_key k = {};
	struct go_call *cp, c;
	struct kspan_sock *sock;
	struct go_stack st;

	if (fn >= KSPAN_TLS_GO_FN_MAX)
		return 0;
	k.tgid = pid_tgid >> 32;
	k.handshake = fn_is_handshake(fn);
	k.g = ctx->r14;
	cp = bpf_map_lookup_elem(&tls_go_calls, &k);
	if (!cp)
		return 0;
	c = *cp;
	bpf_map_delete_elem(&tls_go_calls, &k);
	if (k.handshake) {
		/* err == nil: its itab word is 0. */
		sock = ctx->ax ? NULL : sock_learn((struct sock *)c.sk, 0, false);
		if (sock)
			tls_emit_handshake(pid_tgid, c.fd, sock, c.ts);
		return 0;
	}
	/* A buffer on the goroutine's stack moved with it if the stack was
	 * copied meanwhile: Go keeps its distance to the stack's top. */
	cfg = bpf_map_lookup_elem(&tls_go_cfgs, &slot);
	if (cfg && c.buf >= c.stack_lo && c.buf < c.stack_hi &&
	    !bpf_probe_read_user(&st, sizeof(st), (void *)(k.g + cfg->g_stack_off)) &&
	    st.hi != c.stack_hi)
		c.buf = c.buf - c.stack_hi + st.hi;
	go_emit(pid_tgid, &c, KSPAN_TLS_OP_READ, (__s64)ctx->ax);
	return 0;
}

#endif /* __TARGET_ARCH_x86 */

char LICENSE[] SEC("license") = "Dual BSD/GPL";
