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
#include "conns.bpf.h"

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
	h->ts_exit = a->ts_end ? a->ts_end : bpf_ktime_get_ns();
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

/* One iovec entry: its bytes appended to data[c->off]. False once nothing
 * more is to be copied. A function of its own, so that the copy's bounds
 * stay in registers wherever it is used (older verifiers lose the bounds
 * of a length spilled to the stack). */
static __noinline bool copy_iov_one(struct scratch *s, struct iov_copy *c,
				    const void *base, __u64 len)
{
	if (c->total == 0 || c->off >= targ_cap_len)
		return false;
	if (len > c->total)
		len = c->total;
	c->off = copy_user(s, c->off, base, len);
	c->total -= len;
	return true;
}

static long copy_iov_step(__u32 i, void *ctx)
{
	struct iov_copy *c = ctx;
	struct user_iovec v;
	struct scratch *s;
	__u32 zero = 0;

	if (i >= c->iovcnt)
		return 1;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || bpf_probe_read_user(&v, sizeof(v), &c->iov[i]))
		return 1;
	return copy_iov_one(s, c, v.base, v.len) ? 0 : 1;
}

#define IOV_HEAD	4

static long copy_iov_rest(__u32 i, void *ctx)
{
	return copy_iov_step(i + IOV_HEAD, ctx);
}

/* The first IOV_HEAD entries are read with one probe read and copied
 * inline (an HTTP/1 response is one or two: head, body), with no callback
 * and no read per entry. Longer arrays go on in bpf_loop (gRPC stacks
 * write every HTTP/2 frame header and payload as an entry of its own),
 * which keeps them cheap to verify. A fault reading the first entries
 * leaves the whole array to the loop, entry by entry. */
static __always_inline __u32 copy_iov(struct scratch *s, const struct user_iovec *iov,
				      __u64 iovcnt, __u64 total)
{
	struct iov_copy c = { .iov = iov, .iovcnt = iovcnt, .total = total };
	struct user_iovec v[IOV_HEAD];
	__u32 n = iovcnt < IOV_HEAD ? iovcnt : IOV_HEAD;

	if (n == 0)
		return 0;
	if (bpf_probe_read_user(v, n * sizeof(v[0]), iov)) {
		bpf_loop(KSPAN_IOV_MAX, copy_iov_step, &c, 0);
		return c.off;
	}
#pragma unroll
	for (__u32 i = 0; i < IOV_HEAD; i++)
		if (i >= n || !copy_iov_one(s, &c, v[i].base, v[i].len))
			return c.off;
	if (iovcnt > IOV_HEAD)
		bpf_loop(KSPAN_IOV_MAX - IOV_HEAD, copy_iov_rest, &c, 0);
	return c.off;
}

/* ---- Trace context of server requests (with injection on) ---- */

#define JAEGER_MAX	69	/* decoded bytes of uber-trace-id: 32:16:16:2 */

/* Parse modes of kspan_parse_value: the field separator in the low byte. */
#define PV_ANY_CASE	(1 << 8)	/* hex digits of either case */
#define PV_DECODE	(1 << 9)	/* percent-decode first (uber-trace-id) */
#define PV_WORD		(1 << 10)	/* no hex: the first 8 bytes, lowercase, in lo[0] */
#define PV_STOP4	(1 << 11)	/* stop at a fifth field (traceparent versions > 00) */

/* One header value split at the separator into hex fields, each kept
 * right-aligned as a 128-bit number hi:lo (ids of fewer digits come out
 * left-padded with zeros, as B3 and Jaeger want). */
struct valparse {
	__u64 hi[4];
	__u64 lo[4];
	__u8 cnt[4];		/* digits (PV_WORD: bytes) per field */
	__u32 pos;		/* first byte of the value in scan_bufs */
	__u32 end;		/* bytes of scan_bufs that hold data */
	__u32 mode;
	__u8 nf;		/* separators seen */
	__u8 bad;
	__u8 ended;		/* the line ended (CR or LF) */
	__u8 started;		/* leading OWS is behind */
	__u8 tail;		/* trailing OWS seen: nothing may follow */
	__u8 pct;		/* percent-decoding: 0, or 1/2 hex digits to come */
	__u8 pv;		/* the first of those */
	__u8 ndec;		/* decoded bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct valparse);
} valparses SEC(".maps");

/* A thread_props value is built here, then copied into the map. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct thread_props);
} props_scratch SEC(".maps");

static __always_inline char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static __always_inline int hexval_any(char c)
{
	return hexval(lower(c));
}

static long value_step(__u32 i, void *ctx)
{
	struct valparse *vp;
	struct scan_buf *sb;
	__u32 zero = 0, pos, f;
	int d;
	__u8 c;

	vp = bpf_map_lookup_elem(&valparses, &zero);
	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	if (!vp || !sb)
		return 1;
	pos = vp->pos + i;
	if (pos >= vp->end)
		return 1;
	c = sb->b[pos & (SCAN_MAX - 1)];
	if (c == '\r' || c == '\n') {
		vp->ended = 1;
		return 1;
	}
	if (!vp->pct && is_ows(c)) {
		if (vp->started)
			vp->tail = 1;
		return 0;
	}
	if (vp->tail)
		goto bad;
	vp->started = 1;
	if (vp->mode & PV_DECODE) {
		if (!vp->pct && c == '%') {
			vp->pct = 1;
			return 0;
		}
		if (vp->pct) {
			d = hexval_any(c);
			if (d < 0)
				goto bad;
			if (vp->pct == 1) {
				vp->pv = d;
				vp->pct = 2;
				return 0;
			}
			c = vp->pv << 4 | d;
			vp->pct = 0;
		}
		if (++vp->ndec > JAEGER_MAX)
			goto bad;
	}
	if (vp->mode & PV_WORD) {
		f = vp->cnt[0];
		if (f >= 8)
			goto bad;
		vp->lo[0] |= (__u64)(__u8)lower(c) << (8 * f);
		vp->cnt[0] = f + 1;
		return 0;
	}
	if (c == (vp->mode & 0xff)) {
		if (++vp->nf <= 3)
			return 0;
		if (!(vp->mode & PV_STOP4))
			goto bad;
		vp->ended = 1;	/* what follows is for later versions */
		return 1;
	}
	d = vp->mode & PV_ANY_CASE ? hexval_any(c) : hexval(c);
	if (d < 0)
		goto bad;
	f = vp->nf & 3;
	if (++vp->cnt[f] > 32)
		goto bad;
	vp->hi[f] = vp->hi[f] << 4 | vp->lo[f] >> 60;
	vp->lo[f] = vp->lo[f] << 4 | d;
	return 0;
bad:
	vp->bad = 1;
	return 1;
}

/* Parse the header value at off (scan_bufs, len bytes of data) into
 * valparses. Returns the number of fields, or -1 when the value is not of
 * the form or its line does not end in the buffer. A global function: the
 * verifier checks it once, not at each caller. */
__noinline int kspan_parse_value(__u32 off, __u32 len, __u32 mode)
{
	struct valparse *vp;
	__u32 zero = 0;

	vp = bpf_map_lookup_elem(&valparses, &zero);
	if (!vp)
		return -1;
	__builtin_memset(vp, 0, sizeof(*vp));
	vp->pos = off;
	vp->end = len;
	vp->mode = mode;
	bpf_loop(SCAN_MAX, value_step, NULL, 0);
	if (vp->bad || !vp->ended || vp->pct)
		return -1;
	return vp->nf + 1;
}

enum { SAMPLING_UNSET = 0, SAMPLING_DROP, SAMPLING_SAMPLE, SAMPLING_DEBUG };
enum { CTX_NONE = 0, CTX_W3C, CTX_OTHER };

static __always_inline void put_id(__u8 *dst, __u64 v)
{
	v = __builtin_bswap64(v);
	__builtin_memcpy(dst, &v, 8);
}

/* B3 sampling state: "0", "1" or "d" (a one-digit field). */
static __always_inline __u8 b3_sampling(__u64 v)
{
	return v == 0 ? SAMPLING_DROP : v == 1 ? SAMPLING_SAMPLE : v == 0xd ? SAMPLING_DEBUG : 0;
}

/* b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]], or a lone
 * sampling state. 1: context in c; 0: none (*sampling may be set); -1:
 * invalid. As tracectx_parse_b3() in userspace. */
static __always_inline int parse_b3(const struct scan *sc, struct valparse *vp,
				    struct kspan_ctx *c, __u8 *sampling)
{
	int n = kspan_parse_value(sc->b3_off + NAME_B3, sc->len, '-');
	__u8 s = 0;

	if (n < 1)
		return -1;
	if (n == 1) {
		s = vp->cnt[0] == 1 ? b3_sampling(vp->lo[0]) : 0;
		if (!s)
			return -1;
		*sampling = s;
		return 0;
	}
	if ((vp->cnt[0] != 16 && vp->cnt[0] != 32) || vp->cnt[1] != 16 ||
	    !(vp->hi[0] | vp->lo[0]) || !vp->lo[1])
		return -1;
	if (n >= 3) {
		s = vp->cnt[2] == 1 ? b3_sampling(vp->lo[2]) : 0;
		if (!s)
			return -1;
	}
	if (n == 4 && (vp->cnt[3] != 16 || !vp->lo[3]))
		return -1;
	put_id(c->trace_id, vp->hi[0]);
	put_id(c->trace_id + 8, vp->lo[0]);
	put_id(c->parent_id, vp->lo[1]);
	*sampling = s;
	return 1;
}

/* One X-B3 id header: digits lowercase hex, a count of want (or want2). */
static __always_inline int b3_id(__u32 off, __u32 len, struct valparse *vp, __u8 want,
				 __u8 want2)
{
	if (kspan_parse_value(off, len, 0) != 1)
		return -1;
	if (vp->cnt[0] != want && vp->cnt[0] != want2)
		return -1;
	return (vp->hi[0] | vp->lo[0]) ? 0 : -1;
}

#define WORD_1		0x31ULL
#define WORD_0		0x30ULL
#define WORD_TRUE	0x65757274ULL		/* "true" */
#define WORD_FALSE	0x65736c6166ULL		/* "false" */

/* X-B3-TraceId, -SpanId, -ParentSpanId, -Sampled, -Flags, as
 * tracectx_parse_b3_multi(): 1 context, 0 none (*sampling may be set), -1
 * invalid (a repeated header, a bad value, one id without the other). */
static __always_inline int parse_b3multi(const struct scan *sc, struct valparse *vp,
					 struct kspan_ctx *c, __u8 *sampling)
{
	__u8 s = 0;
	__u64 tid_hi, tid_lo, sid;

	if (sc->n_xtid > 1 || sc->n_xsid > 1 || sc->n_xpid > 1 || sc->n_xsmp > 1 ||
	    sc->n_xflg > 1)
		return -1;
	if (sc->n_xsmp) {
		if (kspan_parse_value(sc->xsmp_off + NAME_XB3_SAMPLED, sc->len, PV_WORD) != 1)
			return -1;
		if (vp->lo[0] == WORD_1 || vp->lo[0] == WORD_TRUE)
			s = SAMPLING_SAMPLE;
		else if (vp->lo[0] == WORD_0 || vp->lo[0] == WORD_FALSE)
			s = SAMPLING_DROP;
		else
			return -1;
	}
	if (sc->n_xflg) {
		if (kspan_parse_value(sc->xflg_off + NAME_XB3_FLAGS, sc->len, PV_WORD) != 1)
			return -1;
		if (vp->lo[0] == WORD_1)
			s = SAMPLING_DEBUG;
		else if (vp->lo[0] != WORD_0)
			return -1;
	}
	if (!sc->n_xtid && !sc->n_xsid) {
		if (sc->n_xpid)
			return -1;
		*sampling = s;
		return 0;
	}
	if (!sc->n_xtid || !sc->n_xsid)
		return -1;
	if (b3_id(sc->xtid_off + NAME_XB3_TRACEID, sc->len, vp, 16, 32))
		return -1;
	tid_hi = vp->hi[0];
	tid_lo = vp->lo[0];
	if (b3_id(sc->xsid_off + NAME_XB3_SPANID, sc->len, vp, 16, 16))
		return -1;
	sid = vp->lo[0];
	if (sc->n_xpid && b3_id(sc->xpid_off + NAME_XB3_PARENT, sc->len, vp, 16, 16))
		return -1;
	put_id(c->trace_id, tid_hi);
	put_id(c->trace_id + 8, tid_lo);
	put_id(c->parent_id, sid);
	*sampling = s;
	return 1;
}

/* uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}, hex of
 * either case, up to 32/16/16/2 digits, possibly percent-encoded; as
 * tracectx_parse_jaeger(). */
static __always_inline int parse_jaeger(const struct scan *sc, struct valparse *vp,
					struct kspan_ctx *c, __u8 *sampling)
{
	if (kspan_parse_value(sc->uber_off + NAME_UBER, sc->len, ':' | PV_ANY_CASE | PV_DECODE) != 4)
		return -1;
	if (!vp->cnt[0] || !vp->cnt[1] || !vp->cnt[2] || !vp->cnt[3] || vp->cnt[1] > 16 ||
	    vp->cnt[2] > 16 || vp->cnt[3] > 2 || !(vp->hi[0] | vp->lo[0]) || !vp->lo[1])
		return -1;
	put_id(c->trace_id, vp->hi[0]);
	put_id(c->trace_id + 8, vp->lo[0]);
	put_id(c->parent_id, vp->lo[1]);
	*sampling = vp->lo[3] & 2 ? SAMPLING_DEBUG : vp->lo[3] & 1 ? SAMPLING_SAMPLE : SAMPLING_DROP;
	return 1;
}

/* traceparent: {version}-{trace-id}-{parent-id}-{flags}, lowercase hex, as
 * tracectx_parse_traceparent(): version ff is invalid, 00 has nothing
 * after the flags, later versions may append "-..."; ids not zero. */
static __always_inline int parse_traceparent(const struct scan *sc, struct valparse *vp,
					     struct kspan_ctx *c)
{
	int n = kspan_parse_value(sc->tp_off + NAME_TRACEPARENT, sc->len, '-' | PV_STOP4);

	if (n < 4 || vp->cnt[0] != 2 || vp->cnt[1] != 32 || vp->cnt[2] != 16 ||
	    vp->cnt[3] != 2 || vp->lo[0] == 0xff || (vp->lo[0] == 0 && n > 4) ||
	    !(vp->hi[1] | vp->lo[1]) || !vp->lo[2])
		return -1;
	put_id(c->trace_id, vp->hi[1]);
	put_id(c->trace_id + 8, vp->lo[1]);
	put_id(c->parent_id, vp->lo[2]);
	c->flags = vp->lo[3];
	return 1;
}

/* The context of a server request head, tried in the order userspace
 * uses (tracectx_extract): traceparent, b3, X-B3-*, uber-trace-id; the
 * first valid one wins. Returns CTX_W3C, CTX_OTHER or 0 for none (then
 * *sampling may hold a B3 decision). */
static __always_inline int extract_ctx(const struct scan *sc, const struct scan_buf *sb,
				       struct kspan_ctx *c, __u8 *sampling)
{
	struct valparse *vp;
	__u32 zero = 0;
	__u8 s = 0, d = 0;
	int r;

	vp = bpf_map_lookup_elem(&valparses, &zero);
	if (!vp)
		return 0;
	if (sc->tp_count == 1 && parse_traceparent(sc, vp, c) > 0)
		return CTX_W3C;
	if (sc->n_b3) {
		r = sc->n_b3 == 1 ? parse_b3(sc, vp, c, &s) : -1;
		if (r == 0)
			d = s;
		else if (r > 0)
			goto found;
	}
	if (sc->n_xtid | sc->n_xsid | sc->n_xpid | sc->n_xsmp | sc->n_xflg) {
		r = parse_b3multi(sc, vp, c, &s);
		if (r == 0 && !d)
			d = s;
		else if (r > 0)
			goto found;
	}
	if (sc->n_uber == 1 && parse_jaeger(sc, vp, c, &s) > 0)
		goto found;
	*sampling = d;
	return 0;
found:
	c->flags = s == SAMPLING_SAMPLE || s == SAMPLING_DEBUG;
	return CTX_OTHER;
}

static long cut_step(__u32 k, void *ctx)
{
	struct ctx_stage *st;
	__u32 zero = 0, i;
	char ch;

	st = bpf_map_lookup_elem(&ctx_stages, &zero);
	if (!st || k > st->cut_from)
		return 1;
	i = (st->cut_from - k) & (SCAN_MAX - 1);
	ch = st->cut_bag ? st->bag.b[i] : st->ts.b[i];
	if (!st->cut_found) {
		if (ch == ',') {
			st->cut_found = 1;
			st->cut_at = i;
		}
		return 0;
	}
	if (!is_ows(ch))
		return 1;
	st->cut_at = i;		/* OWS before the comma goes too */
	return 0;
}

/* The length of the staged list carried on: all of it when it is whole and
 * fits cap, else the list-members before the last comma that keeps it
 * within cap (W3C: members are dropped from the end, never cut). None when
 * a line of the header had bytes that cannot go on. The search state is in
 * the map: the verifier then walks the loop once. */
static __always_inline __u32 stage_fit(struct ctx_stage *st, struct stage_val *v, __u32 cap,
				       bool bag, enum kspan_counter capped)
{
	if (v->dropped) {
		count(KSPAN_CNT_PROPS_DROPPED);
		return 0;
	}
	if (!v->len)
		return 0;
	if (!v->partial && v->len <= cap)
		return v->len;
	count(capped);
	/* A partial list ends in a member that may be cut. */
	st->cut_from = v->partial ? v->len - 1 : cap;
	if (st->cut_from > cap)
		st->cut_from = cap;
	st->cut_bag = bag;
	st->cut_at = 0;
	st->cut_found = 0;
	bpf_loop(SCAN_MAX, cut_step, NULL, 0);
	return st->cut_at;
}

/* Keep the tracestate (w3c: the context came as traceparent) and baggage
 * staged for the server request just read, for the requests the thread
 * sends while serving it. Returns 1 when something was kept. A global
 * function, verified on its own. */
__noinline int kspan_keep_props(__u32 tid, __u32 w3c)
{
	struct thread_props *p;
	struct ctx_stage *st;
	struct scratch *s;
	__u32 zero = 0, ts = 0, bag = 0;

	st = bpf_map_lookup_elem(&ctx_stages, &zero);
	p = bpf_map_lookup_elem(&props_scratch, &zero);
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!st || !p || !s)
		return 0;
	if (w3c && (targ_inject_fmt & KSPAN_INJ_TRACECONTEXT))
		ts = stage_fit(st, &st->ts, KSPAN_INJ_TRACESTATE_MAX, false,
			       KSPAN_CNT_TRACESTATE_CAPPED);
	if (targ_inject_fmt & KSPAN_INJ_BAGGAGE)
		bag = stage_fit(st, &st->bag, KSPAN_INJ_BAGGAGE_MAX, true, KSPAN_CNT_BAGGAGE_CAPPED);
	if (!ts && !bag)
		return 0;
	ts = len_bound(ts, KSPAN_INJ_TRACESTATE_MAX);
	bag = len_bound(bag, KSPAN_INJ_BAGGAGE_MAX);
	__builtin_memcpy(p->span_id, s->ev.ctx.span_id, 8);
	p->ts_len = ts;
	p->bag_len = bag;
	if (bpf_probe_read_kernel(p->ts, ts, st->ts.b) ||
	    bpf_probe_read_kernel(p->bag, bag, st->bag.b) ||
	    bpf_map_update_elem(&thread_props, &tid, p, BPF_ANY)) {
		count(KSPAN_CNT_PROPS_DROPPED);
		return 0;
	}
	return 1;
}

/* A server request read by this thread (len bytes at the start of the
 * scratch payload) gets its trace context here, so that the thread's
 * outgoing requests can carry it without a round trip to userspace. A
 * global function: the verifier checks it apart from the syscall path. */
__noinline int kspan_server_read(__u32 len, __u32 tid)
{
	struct thread_ctx *t, fresh = {};
	struct ctx_stage *st;
	struct scan_buf *sb;
	struct scratch *s;
	struct kspan_ctx *c;
	struct scan *sc;
	__u32 zero = 0;
	__u8 sampling = 0;
	int src, props = 0;

	s = bpf_map_lookup_elem(&scratch, &zero);
	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	st = bpf_map_lookup_elem(&ctx_stages, &zero);
	if (!s || !sb || !st || len < 5)
		return 0;
	c = &s->ev.ctx;
	if (len > SCAN_MAX - 1)
		len = SCAN_MAX - 1;
	if (bpf_probe_read_kernel(sb->b, scan_bound(len), s->data))
		return 0;
	if (!starts_request(sb, len))
		return 0;
	st->ts.len = st->bag.len = 0;
	st->ts.dropped = st->bag.dropped = 0;
	st->ts.partial = st->bag.partial = 0;
	scan_head(sb, len, true);
	sc = &sb->sc;
	if (sc->stage_kind) {
		/* The line goes on past the window: keep its whole members. */
		if (sc->stage_kind == SK_TRACESTATE)
			st->ts.partial = 1;
		else
			st->bag.partial = 1;
		stage_line(sb);
	}
	src = extract_ctx(sc, sb, c, &sampling);
	if (src) {
		c->remote = 1;
	} else {
		random_bytes(c->trace_id, 16);
		__builtin_memset(c->parent_id, 0, 8);
		c->flags = sampling != SAMPLING_DROP;
	}
	random_bytes(c->span_id, 8);
	c->valid = 1;
	t = bpf_map_lookup_elem(&thread_ctxs, &tid);
	if (!t) {
		bpf_map_update_elem(&thread_ctxs, &tid, &fresh, BPF_ANY);
		t = bpf_map_lookup_elem(&thread_ctxs, &tid);
		if (!t)
			return 0;
	}
	/* A thread with several requests in flight (an event loop) gives no
	 * parent: its outgoing requests start traces of their own. */
	if (t->inflight++) {
		t->ctx.valid = 0;
		t->props = 0;
		return 0;
	}
	t->ctx = *c;
	if (sc->has_ts || sc->has_bag)
		props = kspan_keep_props(tid, src == CTX_W3C);
	t->props = props;
	return 0;
}

/* With injection on: server requests read set the thread's context, a
 * response written ends one request. */
static __always_inline void server_ctx(struct scratch *s, __u32 len, __u32 tid)
{
	struct thread_ctx *t;

	if (s->ev.role == KSPAN_ROLE_CLIENT)
		return;
	if (s->ev.dir == KSPAN_DIR_EGRESS) {
		t = bpf_map_lookup_elem(&thread_ctxs, &tid);
		if (t && t->inflight && --t->inflight == 0)
			t->ctx.valid = 0;
		return;
	}
	kspan_server_read(len, tid);
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
	/* The name is needed once per connection and process (the first
	 * event of a connection names a process that may be gone when its
	 * trace is exported); the helper pads all 16 bytes on every call. */
	if (sock->comm_tgid != pid_tgid >> 32) {
		bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
		sock->comm_tgid = pid_tgid >> 32;
	} else {
		s->ev.comm[0] = 0;
	}

	switch (a->op) {
	case KSPAN_OP_READ:
	case KSPAN_OP_WRITE:
	case KSPAN_OP_RECVFROM:
	case KSPAN_OP_SENDTO:
		len = copy_user(s, 0, (void *)a->arg, ret);
		break;
	case KSPAN_OP_READV:
	case KSPAN_OP_WRITEV:
		len = copy_iov(s, (void *)a->arg, a->count, ret);
		break;
	case KSPAN_OP_RECVMSG:
	case KSPAN_OP_SENDMSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)a->arg))
			break;
		len = copy_iov(s, (void *)msg.msg_iov, msg.msg_iovlen, ret);
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

/* A read or write op (enum kspan_op) from the arguments in the task's saved
 * user registers, dated now: a syscall already in the kernel when kspan
 * attached (no entry record), and every call taken at the socket layer.
 * False for the ops that move no bytes. trusted: regs came from
 * bpf_task_pt_regs(), so plain loads read them. */
static __always_inline bool call_from_regs(struct pt_regs *regs, __u8 op,
					   struct active_call *a, bool trusted, __u64 now)
{
	if (op == KSPAN_OP_CLOSE || op == KSPAN_OP_CONNECT || op == KSPAN_OP_ACCEPT)
		return false;
	a->op = op;
	if (trusted) {
		a->fd = (int)PT_REGS_PARM1_SYSCALL(regs);
		a->arg = PT_REGS_PARM2_SYSCALL(regs);
		a->count = PT_REGS_PARM3_SYSCALL(regs);
	} else {
		a->fd = (int)PT_REGS_PARM1_CORE_SYSCALL(regs);
		a->arg = PT_REGS_PARM2_CORE_SYSCALL(regs);
		a->count = PT_REGS_PARM3_CORE_SYSCALL(regs);
	}
	a->ts = now;	/* entry time unknown */
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
	} else if (ret <= 0 || !call_from_regs(regs, op, &a, false, bpf_ktime_get_ns())) {
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
		/* A socket the hook named was checked against its entry then. */
		sock = sk ? bpf_map_lookup_elem(&socks, &a.sk) : NULL;
		if (!sk && (targ_fd_walk || a.op == KSPAN_OP_SENDFILE || !ap))
			sk = fd_to_sk(a.fd);
		if (!sk)
			return 0;
		if (!sock)
			sock = sock_learn(sk, 0, false);
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
	/* A new connection: an entry already there is an older socket's. */
	sock = sock_learn(sk, 0, true);
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

/* ---- Capture at the socket layer (kernels with sock_send_length) ----
 *
 * Any program on sys_enter/sys_exit puts every task of the host on the
 * kernel's slow syscall path, whatever the program does. Where the socket
 * layer has its length tracepoints (6.3), kspan attaches none: the bytes
 * are taken when sendmsg/recvmsg return, in the calling task, from the
 * buffers the syscall's saved user registers name. Only socket calls of
 * traced processes pay. Connections are named from TCP state changes
 * (inet_sock_set_state, sock.bpf.c) and announced at their first bytes. */

#define PF_IO_WORKER	0x00000010
#define PF_KTHREAD	0x00200000
#define MSG_PEEK	2

/* When a traced thread's send began and ended: sock_send_length fires once
 * the bytes are queued, and on loopback once the peer may already have read
 * them. tcp_sendmsg_locked fires before each chunk is copied (kernels that
 * have it): the first one since the last send is the start, the last one
 * the end (the kernel took the send's last bytes then; the peer cannot have
 * them earlier). Kept in the socket's entry with the thread, not per CPU:
 * the peer woken by the bytes can run on this CPU, and send, before the
 * sender's send returns. A socket with no entry yet (older than kspan) has
 * its first send dated at its return. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(sock_send_start, struct sock *sk)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), key = (__u64)sk, now;
	struct kspan_sock *sock;

	if (!is_traced(pid_tgid >> 32))
		return 0;
	sock = bpf_map_lookup_elem(&socks, &key);
	if (!sock)
		return 0;
	now = bpf_ktime_get_ns();
	if (sock->send_tid != (__u32)pid_tgid) {
		sock->send_tid = (__u32)pid_tgid;
		sock->send_ts = now;
	}
	sock->send_last = now;
	return 0;
}

/* The start and end of this thread's send on the socket of entry sock
 * (NULL: none), taken (cleared), or now for both when they were not seen.
 * Every send takes them, even one that moved no bytes, or the next send of
 * the thread would keep its start. */
static __always_inline __u64 send_take(struct kspan_sock *sock, __u32 tid, __u64 now,
				       __u64 *end)
{
	*end = now;
	if (!sock || sock->send_tid != tid)
		return now;
	sock->send_tid = 0;
	if (sock->send_last <= now)
		*end = sock->send_last;
	return sock->send_ts <= *end ? sock->send_ts : *end;
}

/* The first bytes of a traced process on a socket whose opening kspan saw:
 * the connection event it would have had at connect/accept. The socket's
 * owner is the process that gets its close event. */
static __always_inline void sock_announce(__u64 pid_tgid, struct kspan_sock *sock,
					  const struct active_call *a)
{
	struct active_call c = *a;

	if (sock->seen)
		return;
	sock->seen = 1;
	sock->tgid = pid_tgid >> 32;
	if (sock->role == KSPAN_ROLE_UNKNOWN)
		return;		/* opened before kspan: nothing to announce */
	c.op = sock->role == KSPAN_ROLE_CLIENT ? KSPAN_OP_CONNECT : KSPAN_OP_ACCEPT;
	emit_conn(pid_tgid, &c, sock, KSPAN_EV_CONN, 0);
}

static __always_inline int sock_data(struct sock *sk, int ret, int flags, bool egress)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct active_call a = {};
	struct task_struct *task;
	struct kspan_sock *sock;
	struct pt_regs *regs;
	__u64 ts, end, cookie;
	__u8 op;

	/* The TCP figures' owner naming, for every process but those a pid
	 * filter leaves out (their connections stay unnamed: not traced). */
	if (!is_traced(pid_tgid >> 32)) {
		if (targ_conns_owner && !targ_filter_pids)
			conns_owner(sk, pid_tgid >> 32, 0);
		return 0;
	}
	/* A read that failed (EAGAIN: a non-blocking server's read after
	 * each request): nothing to date, name or send. An end of stream
	 * still names the owner (a connection that only ever sees one, such
	 * as a health check, is still its owner's); a send that failed still
	 * takes its start (below). */
	if (!egress && ret < 0)
		return 0;
	/* The one clock read: a read is dated when it returned, here. */
	ts = bpf_ktime_get_ns();
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	op = syscall_op(regs->orig_ax);
	/* Skipped: nothing moved, a peek, io_uring workers and kernel threads
	 * (no syscall of their own), and socket calls made for other syscalls
	 * (splice, io_uring_enter) or the other way round, which carry no
	 * buffer kspan knows how to read. */
	if (ret <= 0 || (flags & MSG_PEEK) || (task->flags & (PF_IO_WORKER | PF_KTHREAD)) ||
	    !op || op_is_egress(op) != egress || !call_from_regs(regs, op, &a, true, ts) ||
	    !sk_is_tcp_btf(sk)) {
		if (targ_conns_owner)
			conns_owner(sk, pid_tgid >> 32, ts);
		if (egress) {
			__u64 key = (__u64)sk;

			send_take(bpf_map_lookup_elem(&socks, &key), (__u32)pid_tgid, ts, &end);
		}
		return 0;
	}
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie)
		cookie = bpf_get_socket_cookie(sk);
	sock = sock_learn(sk, cookie, false);
	/* The owner's calls look at the TCP-figure table once per interval. */
	if (targ_conns_owner && (!sock || ts >= sock->conns_due)) {
		__u64 due = conns_owner(sk, pid_tgid >> 32, ts);

		if (sock)
			sock->conns_due = due;
	}
	end = ts;
	if (egress)
		ts = send_take(sock, (__u32)pid_tgid, ts, &end);
	if (!sock)
		return 0;
	a.ts = ts;
	a.ts_end = end;
	sock_announce(pid_tgid, sock, &a);
	if (tls_sys_data(pid_tgid, sk, sock, a.fd, op, a.arg, a.ts, ret, !egress))
		return 0;
	return emit_data(pid_tgid, &a, sock, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_data, struct sock *sk, int ret, int flags)
{
	return sock_data(sk, ret, flags, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_data, struct sock *sk, int ret, int flags)
{
	return sock_data(sk, ret, flags, false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
