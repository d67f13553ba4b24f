// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --inject-traceparent: sock_ops puts client connections in a sockhash, and
 * the sk_msg program inserts "traceparent: ..." after the request line of
 * outgoing HTTP/1.x requests from traced threads that carry no context. The
 * trace id and parent come from the thread's current server request (set
 * in the syscall path), the span id is new, and the ids go to userspace so
 * the exported client span has exactly them. The header formats follow
 * OTEL_PROPAGATORS: traceparent, b3, X-B3-* and uber-trace-id.
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

struct tp_hdr {
	char b[512];	/* the headers to insert; KSPAN_INJ_MAX_LEN used at most */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tp_hdr);
} tp_hdrs SEC(".maps");

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
 * settings confuses the BTF that bpftool's linker writes for .rodata. */
static __always_inline char hexdigit(__u8 v)
{
	return v < 10 ? '0' + v : 'a' + v - 10;
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

/* One header block of a known length: built in b, inserted at at. */
#define INSERT_BLOCK(LEN, BUILD)						\
	do {									\
		void *data, *data_end;						\
		BUILD;								\
		if (bpf_msg_push_data(msg, at + added, LEN, 0))			\
			return -1;						\
		if (bpf_msg_pull_data(msg, at + added, at + added + LEN, 0))	\
			return -1;						\
		data = (void *)(long)msg->data;					\
		data_end = (void *)(long)msg->data_end;				\
		if (data + LEN > data_end)					\
			return -1;						\
		_Pragma("unroll")						\
		for (int i = 0; i < LEN; i++)					\
			((char *)data)[i] = b[i];				\
		added += LEN;							\
	} while (0)

/* Insert the headers OTEL_PROPAGATORS names (traceparent, b3, X-B3-*,
 * uber-trace-id) at offset at, and tell userspace. *inserted is how many
 * bytes went in. */
static __always_inline int inject_at(struct sk_msg_md *msg, __u32 at, __u64 pid_tgid,
				     __u64 cookie, __u32 *inserted)
{
	struct kspan_inject_event ev = {};
	struct thread_ctx *t;
	struct tp_hdr *h;
	__u32 tid = (__u32)pid_tgid, zero = 0, added = 0;
	char sampled, *b;

	h = bpf_map_lookup_elem(&tp_hdrs, &zero);
	if (!h)
		return -1;
	b = h->b;
	t = bpf_map_lookup_elem(&thread_ctxs, &tid);
	if (t && t->ctx.valid) {
		__builtin_memcpy(ev.ctx.trace_id, t->ctx.trace_id, 16);
		__builtin_memcpy(ev.ctx.parent_id, t->ctx.span_id, 8);
		ev.ctx.flags = t->ctx.flags;
	} else {
		random_bytes(ev.ctx.trace_id, 16);
		ev.ctx.flags = 1;
	}
	random_bytes(ev.ctx.span_id, 8);
	ev.ctx.valid = 1;
	sampled = (ev.ctx.flags & 1) ? '1' : '0';

	if (targ_inject_fmt & KSPAN_INJ_TRACECONTEXT)
		INSERT_BLOCK(70, {
			put(b, "traceparent: 00-", 16);
			put_hex(b + 16, ev.ctx.trace_id, 16);
			b[48] = '-';
			put_hex(b + 49, ev.ctx.span_id, 8);
			b[65] = '-';
			put_hex(b + 66, &ev.ctx.flags, 1);
			b[68] = '\r';
			b[69] = '\n';
		});
	if (targ_inject_fmt & KSPAN_INJ_B3)
		INSERT_BLOCK(57, {
			put(b, "b3: ", 4);
			put_hex(b + 4, ev.ctx.trace_id, 16);
			b[36] = '-';
			put_hex(b + 37, ev.ctx.span_id, 8);
			b[53] = '-';
			b[54] = sampled;
			b[55] = '\r';
			b[56] = '\n';
		});
	if (targ_inject_fmt & KSPAN_INJ_B3MULTI)
		INSERT_BLOCK(96, {
			put(b, "X-B3-TraceId: ", 14);
			put_hex(b + 14, ev.ctx.trace_id, 16);
			put(b + 46, "\r\nX-B3-SpanId: ", 15);
			put_hex(b + 61, ev.ctx.span_id, 8);
			put(b + 77, "\r\nX-B3-Sampled: ", 16);
			b[93] = sampled;
			b[94] = '\r';
			b[95] = '\n';
		});
	if (targ_inject_fmt & KSPAN_INJ_JAEGER)
		INSERT_BLOCK(71, {
			put(b, "uber-trace-id: ", 15);
			put_hex(b + 15, ev.ctx.trace_id, 16);
			b[47] = ':';
			put_hex(b + 48, ev.ctx.span_id, 8);
			put(b + 64, ":0:", 3);
			put_hex(b + 67, &ev.ctx.flags, 1);
			b[69] = '\r';
			b[70] = '\n';
		});
	if (!added)
		return 0;
	*inserted = added;

	ev.hdr.type = KSPAN_EV_INJECT;
	ev.hdr.pid = pid_tgid >> 32;
	ev.hdr.tid = tid;
	ev.hdr.fd = -1;
	ev.hdr.cookie = cookie;
	ev.hdr.ts_enter = ev.hdr.ts_exit = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wakeup_flags()))
		count(KSPAN_CNT_RB_FULL);
	count(KSPAN_CNT_INJECTED);
	return 0;
}

SEC("sk_msg")
int inject_msg(struct sk_msg_md *msg)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct scan_buf *sb;
	struct inj_sock *st;
	struct bpf_sock *sk;
	__u32 zero = 0, size, off = 0;
	struct scan sc;

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
		scan_head(&sc, n);
		cl = sc.cl_off ? scan_cl(sb, sc.cl_off, sc.len) : 0;
		if (!sc.req_line_end || sc.tp_count || sc.other_ctx || cl < 0 || sc.cl_count > 1) {
			count(KSPAN_CNT_INJECT_SKIPPED);
			if (!sc.req_line_end || cl < 0 || sc.cl_count > 1)
				goto stop;
		} else if (inject_at(msg, off + sc.req_line_end, pid_tgid, st->cookie, &added)) {
			goto stop_failed;
		} else {
			size += added;
			if (sc.head_end)
				sc.head_end += added;
		}
		if (!sc.head_end || sc.has_te)
			goto stop;	/* head split over writes, or chunked: stop here */
		off += sc.head_end;
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
