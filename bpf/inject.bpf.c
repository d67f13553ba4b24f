// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --inject-traceparent: sock_ops puts client connections in a sockhash, and
 * the sk_msg program inserts "traceparent: ..." after the request line of
 * outgoing HTTP/1.x requests from traced threads that carry no context. The
 * trace id and parent come from the thread's current server request (set
 * in the syscall path), the span id is new, and the ids go to userspace so
 * the exported client span has exactly them. The header formats follow
 * OTEL_PROPAGATORS: traceparent, b3, X-B3-* and uber-trace-id; the
 * tracestate (with traceparent) and baggage of the server request follow
 * them as received. All go in as one block: one push, then a copy loop.
 *
 * Per connection it follows message boundaries (heads, Content-Length
 * bodies), so body bytes are never touched. It stops injecting on a
 * connection it cannot follow: not HTTP (TLS included), chunked bodies, a
 * request line beyond the scan window, or a head split over writes (which
 * still gets exactly one header). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "kspan.bpf.h"
#include "httpscan.bpf.h"

#define SK_PASS 1
#define REQS_PER_MSG 4

struct inj_sock {
	__u64 cookie;
	__u64 body_left;	/* body bytes of the current request still to come */
	__u8 stopped;		/* the connection cannot be followed: never inject */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inj_sock);
} inj_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);			/* socket cookie */
	__type(value, __u64);
} inj_hash SEC(".maps");

/* The header block of one request and its event, built before insertion. */
#define BLOCK_MAX 2048	/* power of two; ids, tracestate and baggage lines fit */
_Static_assert(KSPAN_INJ_IDS_LEN + sizeof("tracestate: \r\n") - 1 + KSPAN_INJ_TRACESTATE_MAX +
	       sizeof("baggage: \r\n") - 1 + KSPAN_INJ_BAGGAGE_MAX <= BLOCK_MAX,
	       "the header block does not fit BLOCK_MAX");

struct inj_block {
	struct kspan_inject_event ev;
	char b[2 * BLOCK_MAX];	/* a masked offset plus a bounded length stays inside */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inj_block);
} inj_blocks SEC(".maps");

SEC("sockops")
int inject_sockops(struct bpf_sock_ops *skops)
{
	struct inj_sock *st;
	struct bpf_sock *sk;
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	if (skops->family != AF_INET && skops->family != AF_INET6)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	cookie = bpf_get_socket_cookie(skops);
	st = bpf_sk_storage_get(&inj_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 1;
	st->cookie = cookie;
	bpf_sock_hash_update(skops, &inj_hash, &cookie, BPF_ANY);
	return 1;
}

/* Computed, not looked up: a static table in .rodata beside the __weak
 * settings confuses the BTF that bpftool's linker writes for .rodata. No
 * branch either: (9 - v) >> 8 is -1 from 10 on, and each branch here would
 * multiply the states the verifier walks. */
static __always_inline char hexdigit(__u32 v)
{
	return '0' + v + (((__s32)(9 - v) >> 8) & ('a' - '0' - 10));
}

static __always_inline void put_hex(char *p, const __u8 *v, int n)
{
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (i >= n)
			break;
		p[2 * i] = hexdigit(v[i] >> 4);
		p[2 * i + 1] = hexdigit(v[i] & 15);
	}
}

static __always_inline void put(char *b, const char *s, int n)
{
#pragma unroll
	for (int i = 0; i < 20; i++) {
		if (i >= n)
			break;
		b[i] = s[i];
	}
}

/* An offset into the block, masked where the verifier sees it. */
static __always_inline __u32 blk_off(__u32 o)
{
	asm volatile("%0 &= 2047" : "+r"(o));
	return o;
}

/* Skip bits of kspan_inject_hdrs: headers the request already has. */
#define SKIP_TRACESTATE	1
#define SKIP_BAGGAGE	2

/* Build the headers OTEL_PROPAGATORS names for one request of this thread
 * in inj_blocks: traceparent, b3, X-B3-*, uber-trace-id with the thread's
 * trace and a new span id, then the tracestate and baggage of the thread's
 * server request. Returns the block's length, 0 for none. A global
 * function: the verifier checks it once, not for each request of a
 * message. */
__noinline int kspan_inject_hdrs(__u64 pid_tgid, __u32 skip)
{
	struct thread_props *p = NULL;
	struct kspan_inject_event *ev;
	struct thread_ctx *t;
	struct inj_block *blk;
	__u32 tid = (__u32)pid_tgid, zero = 0, o = 0, n;
	char sampled, *b;

	blk = bpf_map_lookup_elem(&inj_blocks, &zero);
	if (!blk)
		return 0;
	ev = &blk->ev;
	b = blk->b;
	__builtin_memset(ev, 0, sizeof(*ev));
	t = bpf_map_lookup_elem(&thread_ctxs, &tid);
	if (t && t->ctx.valid) {
		__builtin_memcpy(ev->ctx.trace_id, t->ctx.trace_id, 16);
		__builtin_memcpy(ev->ctx.parent_id, t->ctx.span_id, 8);
		ev->ctx.flags = t->ctx.flags;
		if (t->props) {
			p = bpf_map_lookup_elem(&thread_props, &tid);
			/* Not this request's: its entry was evicted. */
			if (p && *(__u64 *)p->span_id != *(__u64 *)t->ctx.span_id)
				p = NULL;
			if (!p)
				count(KSPAN_CNT_PROPS_DROPPED);
		}
	} else {
		random_bytes(ev->ctx.trace_id, 16);
		ev->ctx.flags = 1;
	}
	random_bytes(ev->ctx.span_id, 8);
	ev->ctx.valid = 1;
	sampled = (ev->ctx.flags & 1) ? '1' : '0';

	if (targ_inject_fmt & KSPAN_INJ_TRACECONTEXT) {
		put(b, "traceparent: 00-", 16);
		put_hex(b + 16, ev->ctx.trace_id, 16);
		b[48] = '-';
		put_hex(b + 49, ev->ctx.span_id, 8);
		b[65] = '-';
		put_hex(b + 66, &ev->ctx.flags, 1);
		b[68] = '\r';
		b[69] = '\n';
		o += 70;
	}
	if (targ_inject_fmt & KSPAN_INJ_B3) {
		char *q = b + o;

		put(q, "b3: ", 4);
		put_hex(q + 4, ev->ctx.trace_id, 16);
		q[36] = '-';
		put_hex(q + 37, ev->ctx.span_id, 8);
		q[53] = '-';
		q[54] = sampled;
		q[55] = '\r';
		q[56] = '\n';
		o += 57;
	}
	if (targ_inject_fmt & KSPAN_INJ_B3MULTI) {
		char *q = b + o;

		put(q, "X-B3-TraceId: ", 14);
		put_hex(q + 14, ev->ctx.trace_id, 16);
		put(q + 46, "\r\nX-B3-SpanId: ", 15);
		put_hex(q + 61, ev->ctx.span_id, 8);
		put(q + 77, "\r\nX-B3-Sampled: ", 16);
		q[93] = sampled;
		q[94] = '\r';
		q[95] = '\n';
		o += 96;
	}
	if (targ_inject_fmt & KSPAN_INJ_JAEGER) {
		char *q = b + o;

		put(q, "uber-trace-id: ", 15);
		put_hex(q + 15, ev->ctx.trace_id, 16);
		q[47] = ':';
		put_hex(q + 48, ev->ctx.span_id, 8);
		put(q + 64, ":0:", 3);
		put_hex(q + 67, &ev->ctx.flags, 1);
		q[69] = '\r';
		q[70] = '\n';
		o += 71;
	}
	if (!o)
		return 0;	/* tracestate and baggage go only with the ids */
	if (p && p->ts_len && (targ_inject_fmt & KSPAN_INJ_TRACECONTEXT) &&
	    !(skip & SKIP_TRACESTATE)) {
		n = len_bound(p->ts_len, KSPAN_INJ_TRACESTATE_MAX);
		o = blk_off(o);
		put(b + o, "tracestate: ", 12);
		if (bpf_probe_read_kernel(b + o + 12, n, p->ts))
			return -1;
		o = blk_off(o + 12 + n);
		b[o] = '\r';
		b[o + 1] = '\n';
		o += 2;
	}
	if (p && p->bag_len && (targ_inject_fmt & KSPAN_INJ_BAGGAGE) && !(skip & SKIP_BAGGAGE)) {
		n = len_bound(p->bag_len, KSPAN_INJ_BAGGAGE_MAX);
		o = blk_off(o);
		put(b + o, "baggage: ", 9);
		if (bpf_probe_read_kernel(b + o + 9, n, p->bag))
			return -1;
		o = blk_off(o + 9 + n);
		b[o] = '\r';
		b[o + 1] = '\n';
		o += 2;
	}
	ev->hdr.type = KSPAN_EV_INJECT;
	ev->hdr.pid = pid_tgid >> 32;
	ev->hdr.tid = tid;
	ev->hdr.fd = -1;
	ev->hdr.ts_enter = ev->hdr.ts_exit = bpf_ktime_get_ns();
	return o;
}

struct copy_ctx {
	void *data;		/* the pushed bytes, pulled in */
	void *data_end;
	__u32 len;
	__u32 done;		/* bytes written */
};

/* Eight bytes of the block into the message per step. */
static long copy_step(__u32 i, void *ctx)
{
	struct copy_ctx *cc = ctx;
	struct inj_block *blk;
	__u32 zero = 0, off = i * 8;
	char *p;

	if (off >= cc->len)
		return 1;
	blk = bpf_map_lookup_elem(&inj_blocks, &zero);
	if (!blk)
		return 1;
	off = blk_off(off);
	p = cc->data + off;
	if (cc->len - off >= 8) {
		if ((void *)(p + 8) > cc->data_end)
			return 1;
		*(__u64 *)p = *(__u64 *)&blk->b[off];
		cc->done = off + 8;
		return 0;
	}
#pragma unroll
	for (int k = 0; k < 7; k++) {
		if (off + k >= cc->len || (void *)(p + k + 1) > cc->data_end)
			return 1;
		p[k] = blk->b[off + k];
		cc->done = off + k + 1;
	}
	return 1;
}

/* Insert the block kspan_inject_hdrs() built at offset at, and tell
 * userspace. *inserted is how many bytes went in. */
static __always_inline int inject_at(struct sk_msg_md *msg, __u32 at, __u64 pid_tgid,
				     __u64 cookie, __u32 skip, __u32 *inserted)
{
	struct copy_ctx cc = {};
	struct inj_block *blk;
	__u32 zero = 0;
	int n;

	n = kspan_inject_hdrs(pid_tgid, skip);
	if (n <= 0)
		return n;
	if (n > BLOCK_MAX)
		return -1;
	if (bpf_msg_push_data(msg, at, n, 0))
		return -1;
	if (bpf_msg_pull_data(msg, at, at + n, 0))
		goto undo;
	cc.data = (void *)(long)msg->data;
	cc.data_end = (void *)(long)msg->data_end;
	cc.len = n;
	bpf_loop(BLOCK_MAX / 8 + 1, copy_step, &cc, 0);
	blk = bpf_map_lookup_elem(&inj_blocks, &zero);
	if (cc.done != (__u32)n || !blk)
		goto undo;
	*inserted = n;
	blk->ev.hdr.cookie = cookie;
	if (bpf_ringbuf_output(&events, &blk->ev, sizeof(blk->ev), wakeup_flags()))
		count(KSPAN_CNT_RB_FULL);
	count(KSPAN_CNT_INJECTED);
	return 0;
undo:
	/* Never send a half-written block. */
	bpf_msg_pop_data(msg, at, n, 0);
	return -1;
}

SEC("sk_msg")
int inject_msg(struct sk_msg_md *msg)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct scan_buf *sb;
	struct inj_sock *st;
	struct bpf_sock *sk;
	__u32 zero = 0, size, off = 0;
	struct scan *sc;

	if (!is_traced(pid_tgid >> 32))
		return SK_PASS;
	sk = msg->sk;
	if (!sk)
		return SK_PASS;
	st = bpf_sk_storage_get(&inj_socks, sk, 0, 0);
	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	if (!st || !sb || st->stopped)
		return SK_PASS;
	size = msg->size;

	for (int r = 0; r < REQS_PER_MSG; r++) {
		__u32 n, avail, added = 0;
		__u64 len64;
		__s64 cl;
		void *data, *data_end;

		if (off >= size)
			break;
		if (st->body_left) {
			__u64 take = size - off;

			if (take > st->body_left)
				take = st->body_left;
			st->body_left -= take;
			off += take;
			continue;
		}
		n = size - off;
		if (n > SCAN_MAX - 1)
			n = SCAN_MAX - 1;
		if (bpf_msg_pull_data(msg, off, off + n, 0))
			goto stop_failed;
		data = (void *)(long)msg->data;
		data_end = (void *)(long)msg->data_end;
		avail = data_end - data;
		if (avail < n)
			n = avail;
		len64 = scan_bound(n);
		n = len64;
		if (bpf_probe_read_kernel(sb->b, len64, data))
			goto stop_failed;
		if (!starts_request(sb, n))
			goto stop;		/* not HTTP/1.x (or TLS): never touch */
		scan_head(sb, n, false);
		sc = &sb->sc;
		cl = sc->cl_off ? scan_cl(sb) : 0;
		if (!sc->req_line_end || sc->tp_count || sc->other_ctx || cl < 0 || sc->cl_count > 1) {
			count(KSPAN_CNT_INJECT_SKIPPED);
			if (!sc->req_line_end || cl < 0 || sc->cl_count > 1)
				goto stop;
		} else if (inject_at(msg, off + sc->req_line_end, pid_tgid, st->cookie,
				     (sc->has_ts ? SKIP_TRACESTATE : 0) | (sc->has_bag ? SKIP_BAGGAGE : 0),
				     &added)) {
			goto stop_failed;
		} else {
			size += added;
			if (sc->head_end) {
				sc->head_end += added;
				/* The push left the head in three pieces, which TCP
				 * sends one by one: the peer could read the request
				 * line before the context and its kernel would not
				 * see the context. One piece again; if that fails the
				 * bytes are still right, only split. */
				bpf_msg_pull_data(msg, off, off + sc->head_end, 0);
			}
		}
		if (!sc->head_end || sc->has_te)
			goto stop;	/* head split over writes, or chunked: stop here */
		off += sc->head_end;
		st->body_left = cl;
	}
	return SK_PASS;
stop_failed:
	count(KSPAN_CNT_INJECT_FAILED);
stop:
	st->stopped = 1;
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
