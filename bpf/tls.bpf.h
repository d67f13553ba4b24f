/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* TLS capture state shared by the uprobes (tls.bpf.c) and the syscall path
 * (syscalls.bpf.c): which thread is inside a TLS library call, which
 * sockets carry TLS records, and which socket each SSL* writes to. Include
 * after kspan.bpf.h. Every global is __weak, as in kspan.bpf.h. */
#ifndef __KSPAN_TLS_BPF_H
#define __KSPAN_TLS_BPF_H

#include "kspan_tls.h"

/* Set by the loader when the tls_* programs are loaded. Off, the syscall
 * path behaves as if this file did not exist. */
const volatile bool targ_tls __weak = false;

/* A TLS library call of a thread between its entry and its return. */
struct tls_call {
	__u64 ssl;		/* SSL * or gnutls_session_t */
	__u64 buf;		/* plaintext buffer in user memory */
	__u64 len_ptr;		/* size_t * of the _ex calls, else 0 */
	__u64 sk;		/* struct sock * the library read or wrote during
				 * the call, 0 when none (memory BIOs) */
	__u64 ts;		/* entry, monotonic ns */
	__u64 ts_io;		/* exit of the last socket read or write made
				 * during the call: when the bytes moved */
	__s32 fd;		/* fd of that socket, -1 until seen */
	__u8 op;		/* enum kspan_tls_op */
	__u8 pad[3];
};

/* What the first bytes of a socket said: TLS records or not. Keyed by
 * struct sock *, which the kernel reuses: cookie tells this socket from a
 * later one at the same address. */
struct tls_sock {
	__u64 cookie;		/* kspan_sock.cookie when decided */
	__u64 ssl;		/* the SSL * bound to it, 0 until known */
	__u8 plain;		/* not TLS (until a TLS call touches it) */
	__u8 hello;		/* ServerHello already reported */
	__u8 pad[6];
};

struct tls_ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

/* Where an SSL * writes: the socket and its cookie when bound. */
struct tls_ssl_sock {
	__u64 sk;
	__u64 cookie;
};

/* The TLS socket a thread last read from, for libraries that decrypt from
 * a memory BIO after the read (Node.js): the next SSL_read on that thread
 * is about it. */
struct tls_last_read {
	__u64 sk;
	__u64 ts;		/* monotonic ns of the read */
};

/* A thread's TLS state, in its task's local storage: found without a hash
 * lookup on the path every socket call of a traced thread takes, and freed
 * with the thread. */
struct tls_thread {
	struct tls_call call;		/* the library call in flight, if in_call */
	struct tls_last_read last;	/* last.ts 0: none */
	__u8 in_call;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tls_thread);
} tls_threads SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);			/* struct sock * */
	__type(value, struct tls_sock);
} tls_socks SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_ssl_key);
	__type(value, struct tls_ssl_sock);
} tls_ssls SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSPAN_TLS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tls_counters SEC(".maps") __weak;

static __always_inline void tls_count(enum kspan_tls_counter c, __u64 n)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&tls_counters, &key);

	if (v)
		*v += n;
}

/* The current thread's TLS state; create: make it if missing. */
static __always_inline struct tls_thread *tls_thread(bool create)
{
	return bpf_task_storage_get(&tls_threads, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* The current thread's TLS library call, NULL when it is in none. */
static __always_inline struct tls_call *tls_call_now(void)
{
	struct tls_thread *th = tls_thread(false);

	return th && th->in_call ? &th->call : NULL;
}

struct tls_user_iovec {
	void *base;
	__u64 len;
};

/* First user buffer of a read or write syscall (enum kspan_op). */
static __always_inline const void *tls_first_buf(__u8 op, __u64 arg)
{
	struct tls_user_iovec v;
	struct user_msghdr msg;

	switch (op) {
	case KSPAN_OP_READ:
	case KSPAN_OP_WRITE:
	case KSPAN_OP_RECVFROM:
	case KSPAN_OP_SENDTO:
		return (const void *)arg;
	case KSPAN_OP_READV:
	case KSPAN_OP_WRITEV:
		if (bpf_probe_read_user(&v, sizeof(v), (void *)arg))
			return NULL;
		return v.base;
	case KSPAN_OP_RECVMSG:
	case KSPAN_OP_SENDMSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)arg) ||
		    bpf_probe_read_user(&v, sizeof(v), msg.msg_iov))
			return NULL;
		return v.base;
	}
	return NULL;
}

/* A TLS record header: content type change_cipher_spec, alert, handshake
 * or application_data, version 3.0 to 3.4, and a length a record can have
 * (RFC 8446 5.1: at most 2^14 + 256; older versions 2^14 + 2048). */
static __always_inline bool tls_is_record(const __u8 *b)
{
	__u16 len = (__u16)b[3] << 8 | b[4];

	return b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4 &&
	       len > 0 && len <= 16384 + 2048;
}

/* A ServerHello: in a handshake record, or the record's body when the
 * library read the 5-byte header on its own (OpenSSL does). */
static __always_inline int tls_hello_kind(const __u8 *b)
{
	if (b[0] == 22 && b[1] == 3 && b[5] == 2)
		return 2;		/* with record header */
	if (b[0] == 2 && b[1] == 0 && b[4] == 3 && b[5] <= 4)
		return 1;		/* handshake message alone */
	return 0;
}

static __always_inline void tls_emit_hello(__u64 pid_tgid, __s32 fd, __u64 cookie,
					   __u64 ts_enter, const void *ubuf, long ret,
					   bool ingress, int kind)
{
	struct kspan_tls_hello_event *e;
	__u32 n = ret > KSPAN_TLS_HELLO_MAX ? KSPAN_TLS_HELLO_MAX : ret;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KSPAN_CNT_RB_FULL);
		return;
	}
	e->hdr.type = KSPAN_EV_TLS_HELLO;
	e->hdr.pid = pid_tgid >> 32;
	e->hdr.tid = (__u32)pid_tgid;
	e->hdr.fd = fd;
	e->hdr.cookie = cookie;
	e->hdr.ts_enter = ts_enter;
	e->hdr.ts_exit = bpf_ktime_get_ns();
	e->dir = ingress ? KSPAN_DIR_INGRESS : KSPAN_DIR_EGRESS;
	e->has_record = kind == 2;
	e->pad[0] = e->pad[1] = 0;
	if (n > KSPAN_TLS_HELLO_MAX)
		n = KSPAN_TLS_HELLO_MAX;
	if (bpf_probe_read_user(e->data, n, ubuf))
		n = 0;
	e->len = n;
	bpf_ringbuf_submit(e, wakeup_flags());
	tls_count(KSPAN_TLS_CNT_HELLOS, 1);
}

/* The syscall path calls this for every read or write of ret > 0 bytes on
 * a TCP socket, before it builds a data event. True: the bytes are TLS
 * records, which never become a data event (the uprobes send the
 * plaintext instead). A socket carries TLS when a thread touches it from
 * inside a TLS library call, or when the first read or write kspan sees on
 * it starts with a TLS record header (the handshake, or a connection that
 * predates kspan). Only the first one decides: bytes in the middle of a
 * plaintext stream never turn it into TLS. */
static __always_inline bool tls_sys_data(__u64 pid_tgid, struct sock *sk,
					 struct kspan_sock *sock, __s32 fd,
					 __u8 op, __u64 arg, __u64 ts_enter, long ret,
					 bool ingress)
{
	__u64 key = (__u64)sk;
	struct tls_thread *th;
	struct tls_sock *t, n = {};
	struct tls_call *c;
	const void *ubuf = NULL;
	__u8 b[6] = {};
	int hello = 0;

	if (!targ_tls)
		return false;
	c = tls_call_now();
	/* Known plaintext, and no TLS call in this thread: the common case
	 * decided from the socket's entry and the thread's, without a hash
	 * lookup. */
	if (sock->tls_plain && !c)
		return false;
	t = bpf_map_lookup_elem(&tls_socks, &key);
	if (t && t->cookie != sock->cookie) {
		/* A new socket at the address of an old one. */
		bpf_map_delete_elem(&tls_socks, &key);
		t = NULL;
	}
	if (t && t->plain && !c) {
		sock->tls_plain = 1;
		return false;
	}
	if (!t || !t->hello) {
		ubuf = tls_first_buf(op, arg);
		if (ubuf && ret >= 5) {
			if (bpf_probe_read_user(b, 5, ubuf))
				b[0] = 0;
			else if (ret >= 6 && !bpf_probe_read_user(&b[5], 1, ubuf + 5))
				hello = tls_hello_kind(b);
		} else if (ubuf && bpf_probe_read_user(b, 1, ubuf)) {
			b[0] = 0;
		}
		if (!c && !t && ret < 5) {
			/* Too short to tell. A handshake byte is a peek at
			 * a ClientHello (nginx): skipped, the decision waits. */
			if (b[0] != 22)
				return false;
			tls_count(KSPAN_TLS_CNT_CIPHER, 1);
			tls_count(KSPAN_TLS_CNT_CIPHER_BYTES, ret);
			return true;
		}
		if (!c && !t && !tls_is_record(b)) {
			n.cookie = sock->cookie;
			n.plain = 1;
			bpf_map_update_elem(&tls_socks, &key, &n, BPF_ANY);
			sock->tls_plain = 1;
			return false;
		}
	}
	if (c) {
		c->sk = key;
		c->fd = fd;
		c->ts_io = bpf_ktime_get_ns();
	}
	if (!t) {
		n.cookie = sock->cookie;
		n.ssl = c ? c->ssl : 0;
		bpf_map_update_elem(&tls_socks, &key, &n, BPF_ANY);
		t = bpf_map_lookup_elem(&tls_socks, &key);
	} else if (c) {
		t->plain = 0;
		sock->tls_plain = 0;
		if (!t->ssl)
			t->ssl = c->ssl;
	}
	if (hello && t && !t->hello) {
		t->hello = 1;
		tls_emit_hello(pid_tgid, fd, sock->cookie, ts_enter, ubuf, ret, ingress, hello);
	}
	if (ingress) {
		th = tls_thread(true);
		if (th) {
			th->last.sk = key;
			th->last.ts = bpf_ktime_get_ns();
		}
	}
	tls_count(KSPAN_TLS_CNT_CIPHER, 1);
	tls_count(KSPAN_TLS_CNT_CIPHER_BYTES, ret);
	return true;
}

/* The plaintext of a library call as a KSPAN_EV_TLS_DATA event on sock. */
static __always_inline void tls_emit(__u64 pid_tgid, struct tls_call *c,
				     struct kspan_sock *sock, __u64 n)
{
	bool egress = c->op == KSPAN_TLS_OP_WRITE || c->op == KSPAN_TLS_OP_WRITE_EX;
	struct scratch *s;
	__u32 zero = 0, len;

	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	s->ev.hdr.type = KSPAN_EV_TLS_DATA;
	s->ev.hdr.pid = pid_tgid >> 32;
	s->ev.hdr.tid = (__u32)pid_tgid;
	s->ev.hdr.fd = c->fd;
	s->ev.hdr.cookie = sock->cookie;
	s->ev.hdr.ts_enter = c->ts;
	/* The bytes moved at the socket call inside, if there was one: the
	 * library may return much later. */
	s->ev.hdr.ts_exit = c->ts_io ? c->ts_io : bpf_ktime_get_ns();
	s->ev.tuple = sock->tuple;
	s->ev.ret = n;
	s->ev.dir = egress ? KSPAN_DIR_EGRESS : KSPAN_DIR_INGRESS;
	s->ev.op = c->op;
	s->ev.role = sock->role;
	s->ev.pad = 0;
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	__builtin_memset(&s->ev.ctx, 0, sizeof(s->ev.ctx));

	len = n < targ_cap_len ? n : targ_cap_len;
	if (len > KSPAN_CAP_MAX)
		len = KSPAN_CAP_MAX;
	if (len && bpf_probe_read_user(s->data, len, (void *)c->buf)) {
		count(KSPAN_CNT_READ_FAULT);
		len = 0;
	}
	if (len < n)
		count(KSPAN_CNT_TRUNCATED);
	s->ev.cap_len = len;
	if (bpf_ringbuf_output(&events, s, sizeof(s->ev) + (len & (KSPAN_CAP_MAX * 2 - 1)),
			       wakeup_flags())) {
		count(KSPAN_CNT_RB_FULL);
		return;
	}
	count(KSPAN_CNT_EVENTS);
	tls_count(KSPAN_TLS_CNT_EVENTS, 1);
}

/* A handshake that completed on sock: began at start, ends now. */
static __always_inline void tls_emit_handshake(__u64 pid_tgid, __s32 fd, struct kspan_sock *sock,
					       __u64 start)
{
	struct kspan_tls_handshake_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(KSPAN_CNT_RB_FULL);
		return;
	}
	e->hdr.type = KSPAN_EV_TLS_HANDSHAKE;
	e->hdr.pid = pid_tgid >> 32;
	e->hdr.tid = (__u32)pid_tgid;
	e->hdr.fd = fd;
	e->hdr.cookie = sock->cookie;
	e->hdr.ts_enter = start;
	e->hdr.ts_exit = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, wakeup_flags());
	tls_count(KSPAN_TLS_CNT_HANDSHAKES, 1);
}

#endif /* __KSPAN_TLS_BPF_H */
