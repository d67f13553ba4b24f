/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A small HTTP/1.x request-head scanner for BPF, run with bpf_loop over a
 * per-CPU copy of the bytes: where the request line and the head end, the
 * traceparent headers, Content-Length and Transfer-Encoding. Only what
 * injection and in-kernel context need; userspace does the real parsing. */
#ifndef __KSPAN_HTTPSCAN_BPF_H
#define __KSPAN_HTTPSCAN_BPF_H

#include "kspan.bpf.h"

#define SCAN_MAX 2048	/* power of two: indices are masked with SCAN_MAX - 1 */

/* Context headers a server request may carry, parsed in the kernel. */
enum scan_kind {
	SK_NONE = 0,
	SK_TRACESTATE,
	SK_BAGGAGE,
	SK_B3,
	SK_XB3_TRACEID,
	SK_XB3_SPANID,
	SK_XB3_PARENT,
	SK_XB3_SAMPLED,
	SK_XB3_FLAGS,
	SK_UBER,
};

/* Lengths of the header names, colon included. */
#define NAME_TRACEPARENT	12
#define NAME_TRACESTATE		11
#define NAME_BAGGAGE		8
#define NAME_B3			3
#define NAME_XB3_TRACEID	13
#define NAME_XB3_SPANID		12
#define NAME_XB3_PARENT		18
#define NAME_XB3_SAMPLED	13
#define NAME_XB3_FLAGS		11
#define NAME_UBER		14

struct scan {
	__u32 len;		/* bytes in the buffer */
	__u32 line_start;
	__u32 req_line_end;	/* offset after the request line's LF, 0: not seen */
	__u32 head_end;		/* offset after the empty line, 0: not seen */
	__u32 tp_off;		/* offset of the first traceparent line */
	__u32 tp_count;
	__u32 cl_off;		/* offset of the Content-Length line, 0: none */
	__u32 cl_count;
	__u64 cl_val;		/* scan_cl(): the value */
	__u32 cl_digits;	/* and its digits */
	__u8 has_te;		/* Transfer-Encoding: body length unknown here */
	__u8 other_ctx;		/* b3, X-B3-TraceId/SpanId or uber-trace-id present */
	__u8 has_ts;		/* a tracestate line */
	__u8 has_bag;		/* a baggage line */
	/* With collect set (server requests): where the first line of each
	 * context header starts and how many there are, and the values of
	 * tracestate and baggage lines staged in ctx_stages. */
	__u8 collect;
	__u8 stage_kind;	/* SK_TRACESTATE/SK_BAGGAGE: the current line is staged */
	__u8 bad_line;		/* the staged line has a byte that is not VCHAR, SP or HTAB */
	__u32 val_from;		/* the staged line's value: bytes from here on, */
	__u32 val_start;	/* its first byte that is not OWS (0: none yet) */
	__u32 val_end;		/* and the end of its last */
	__u8 n_b3, n_xtid, n_xsid, n_xpid, n_xsmp, n_xflg, n_uber;	/* lines, up to 2 */
	__u16 b3_off, xtid_off, xsid_off, xpid_off, xsmp_off, xflg_off, uber_off;
};

/* The bytes scanned and what the scan found. The findings live here, not
 * on the stack: the verifier tracks no values in a map, so the scan loop's
 * states agree from one step to the next instead of multiplying. */
struct scan_buf {
	char b[SCAN_MAX + 16];	/* slack: 8-byte loads near the end stay inside */
	struct scan sc;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scan_buf);
} scan_bufs SEC(".maps") __weak;

/* The tracestate and baggage values of a server request head, as they are
 * scanned: lines of one header joined with ",", OWS trimmed. Twice the scan
 * window so that a masked offset plus a masked length stays inside. */
struct stage_val {
	__u32 len;
	__u8 dropped;		/* a line was left out: bad bytes */
	__u8 partial;		/* the last line did not end in the window */
	__u8 pad[2];
	char b[2 * SCAN_MAX];
};

struct ctx_stage {
	struct stage_val ts;
	struct stage_val bag;
	/* The search for where to cut a list that does not fit. */
	__u32 cut_from;		/* search down from here */
	__u32 cut_bag;		/* in bag, else in ts */
	__u32 cut_at;		/* where the members kept end, 0: none */
	__u32 cut_found;	/* the comma is found: now skipping OWS before it */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ctx_stage);
} ctx_stages SEC(".maps") __weak;

/* Bound a length for the verifier: an asm mask, since clang drops a C mask
 * it can prove redundant and then the verifier sees an unbounded copy. */
static __always_inline __u64 scan_bound(__u64 n)
{
	asm volatile("%0 &= 2047" : "+r"(n));
	return n;
}

/* n, seen by the verifier as at most max (a constant): the compare is asm,
 * so clang can neither drop it nor move it to a copy of n. */
#define len_bound(n, max) ({							\
	__u64 __n = (n);							\
	asm volatile("if %0 <= %1 goto +1\n\t%0 = %1" : "+r"(__n) : "i"(max));	\
	__n;									\
})

/* Eight bytes at off, ASCII letters folded to lowercase (OR 0x20 leaves
 * '-', ':' and digits as they are). */
static __always_inline __u64 word_at(const struct scan_buf *sb, __u32 off)
{
	__u64 w;

	__builtin_memcpy(&w, &sb->b[off & (SCAN_MAX - 1)], 8);
	return w | 0x2020202020202020ULL;
}

/* Little-endian words of the header names, lowercase. */
#define W_TRACEPAR	0x7261706563617274ULL	/* "tracepar" */
#define W_ENT_COLON	0x3a746e65U		/* "ent:" */
#define W_TRACESTA	0x6174736563617274ULL	/* "tracesta" */
#define W_TE_COLON	0x3a6574U		/* "te:" */
#define W_BAGGAGE	0x3a65676167676162ULL	/* "baggage:" */
#define W_CONTENT_	0x2d746e65746e6f63ULL	/* "content-" */
#define W_LENGTH_C	0x3a6874676e656cULL	/* "length:" (7 bytes) */
#define W_TRANSFER	0x726566736e617274ULL	/* "transfer" */
#define W_ENCO		0x6f636e652dULL		/* "-enco" (5 bytes) */
#define W_B3_COLON	0x3a3362ULL		/* "b3:" (3 bytes) */
#define W_X_B3_TRA	0x6172742d33622d78ULL	/* "x-b3-tra" */
#define W_CEID_C	0x3a64696563ULL		/* "ceid:" (5 bytes) */
#define W_X_B3_SPA	0x6170732d33622d78ULL	/* "x-b3-spa" */
#define W_NID_C		0x3a64696eULL		/* "nid:" */
#define W_X_B3_PAR	0x7261702d33622d78ULL	/* "x-b3-par" */
#define W_ENTSPANI	0x696e617073746e65ULL	/* "entspani" */
#define W_D_C		0x3a64ULL		/* "d:" (2 bytes) */
#define W_X_B3_SAM	0x6d61732d33622d78ULL	/* "x-b3-sam" */
#define W_PLED_C	0x3a64656c70ULL		/* "pled:" (5 bytes) */
#define W_X_B3_FLA	0x616c662d33622d78ULL	/* "x-b3-fla" */
#define W_GS_C		0x3a7367ULL		/* "gs:" (3 bytes) */
#define W_UBER_TRA	0x6172742d72656275ULL	/* "uber-tra" */
#define W_CE_ID_C	0x3a64692d6563ULL	/* "ce-id:" (6 bytes) */

#define LOW(n)		((1ULL << (8 * (n))) - 1)	/* the first n bytes of a word */

/* One more line of a header: the first one's offset, a count kept at 2
 * (enough to tell "repeated"). */
#define NOTE(n, off, l) do {			\
		if (!(n))			\
			(off) = (l);		\
		if ((n) < 2)			\
			(n)++;			\
	} while (0)

static __always_inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* The staged line's value joined to its header's stage: OWS trimmed (the
 * scan noted where the value starts and ends), lines of one header joined
 * with ",". */
static __always_inline void stage_line(struct scan_buf *sb)
{
	struct scan *sc = &sb->sc;
	struct ctx_stage *st;
	struct stage_val *v;
	__u32 zero = 0, vs = sc->val_start, n = sc->val_end - vs, at;

	st = bpf_map_lookup_elem(&ctx_stages, &zero);
	if (!st)
		return;
	v = sc->stage_kind == SK_TRACESTATE ? &st->ts : &st->bag;
	if (sc->bad_line) {
		v->dropped = 1;
		return;
	}
	if (!vs)
		return;
	at = v->len;
	if (at >= SCAN_MAX || n >= SCAN_MAX)
		return;
	if (at)
		v->b[at++ & (SCAN_MAX - 1)] = ',';
	if (bpf_probe_read_kernel(&v->b[at & (SCAN_MAX - 1)], scan_bound(n), &sb->b[vs & (SCAN_MAX - 1)]))
		return;
	v->len = at + n;
}

/* Which header the line at l is (avail bytes of it are in the buffer). */
static __always_inline void scan_line(struct scan_buf *sb, __u32 l, __u32 avail)
{
	struct scan *sc = &sb->sc;
	__u64 w, w2;

	if (avail < NAME_B3)
		return;
	w = word_at(sb, l);
	w2 = word_at(sb, l + 8);
	if ((w & LOW(3)) == W_B3_COLON) {
		sc->other_ctx = 1;
		NOTE(sc->n_b3, sc->b3_off, l);
		return;
	}
	if (avail < NAME_BAGGAGE)
		return;
	if (w == W_BAGGAGE) {
		sc->has_bag = 1;
		if (sc->collect) {
			sc->stage_kind = SK_BAGGAGE;
			sc->val_from = l + NAME_BAGGAGE;
		}
		return;
	}
	if (avail < NAME_TRACESTATE)
		return;
	if (w == W_TRACESTA && (w2 & LOW(3)) == W_TE_COLON) {
		sc->has_ts = 1;
		if (sc->collect) {
			sc->stage_kind = SK_TRACESTATE;
			sc->val_from = l + NAME_TRACESTATE;
		}
	} else if (w == W_X_B3_FLA && (w2 & LOW(3)) == W_GS_C) {
		NOTE(sc->n_xflg, sc->xflg_off, l);
	} else if (avail < NAME_TRACEPARENT) {
		return;
	} else if (w == W_TRACEPAR && (w2 & LOW(4)) == W_ENT_COLON) {
		if (!sc->tp_count)
			sc->tp_off = l;
		sc->tp_count++;
	} else if (w == W_X_B3_SPA && (w2 & LOW(4)) == W_NID_C) {
		sc->other_ctx = 1;
		NOTE(sc->n_xsid, sc->xsid_off, l);
	} else if (avail < NAME_XB3_TRACEID) {
		return;
	} else if (w == W_X_B3_TRA && (w2 & LOW(5)) == W_CEID_C) {
		sc->other_ctx = 1;
		NOTE(sc->n_xtid, sc->xtid_off, l);
	} else if (w == W_X_B3_SAM && (w2 & LOW(5)) == W_PLED_C) {
		NOTE(sc->n_xsmp, sc->xsmp_off, l);
	} else if (w == W_TRANSFER && (w2 & LOW(5)) == W_ENCO) {
		sc->has_te = 1;
	} else if (avail < NAME_UBER) {
		return;
	} else if (w == W_UBER_TRA && (w2 & LOW(6)) == W_CE_ID_C) {
		sc->other_ctx = 1;
		NOTE(sc->n_uber, sc->uber_off, l);
	} else if (avail < 15) {
		return;
	} else if (w == W_CONTENT_ && (w2 & LOW(7)) == W_LENGTH_C) {
		sc->cl_off = l;
		sc->cl_count++;
	} else if (avail >= NAME_XB3_PARENT && w == W_X_B3_PAR && w2 == W_ENTSPANI &&
		   (word_at(sb, l + 16) & LOW(2)) == W_D_C) {
		NOTE(sc->n_xpid, sc->xpid_off, l);
	}
}

static long scan_step(__u32 i, void *ctx)
{
	struct scan_buf *sb;
	struct scan *sc;
	__u32 zero = 0, l;
	__u8 c;

	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	if (!sb)
		return 1;
	sc = &sb->sc;
	if (i >= sc->len)
		return 1;
	c = sb->b[i & (SCAN_MAX - 1)];
	if (c != '\n') {
		/* A staged value goes on as it came: VCHAR, SP and HTAB only,
		 * and the CR of its CRLF. */
		if (!sc->stage_kind || i < sc->val_from || c == ' ' || c == '\t' ||
		    (c == '\r' && sb->b[(i + 1) & (SCAN_MAX - 1)] == '\n'))
			return 0;
		if (c < 0x20 || c > 0x7e)
			sc->bad_line = 1;
		if (!sc->val_start)
			sc->val_start = i;
		sc->val_end = i + 1;
		return 0;
	}
	if (sc->stage_kind) {
		stage_line(sb);
		sc->stage_kind = 0;
		sc->bad_line = 0;
		sc->val_start = 0;
	}
	if (!sc->req_line_end) {
		sc->req_line_end = i + 1;
	} else if (i - sc->line_start <= 1) {
		sc->head_end = i + 1;	/* "\r\n" or "\n" alone: the empty line */
		return 1;
	}
	l = i + 1;
	sc->line_start = l;
	if (l < sc->len)
		scan_line(sb, l, sc->len - l);
	return 0;
}

/* Does the buffer start with a request method and a space? */
static __always_inline bool starts_request(const struct scan_buf *sb, __u32 len)
{
	__u32 w;

	if (len < 5)
		return false;
	w = (__u8)sb->b[0] | (__u8)sb->b[1] << 8 | (__u8)sb->b[2] << 16 | (__u32)(__u8)sb->b[3] << 24;
	switch (w) {
	case 0x20544547:	/* "GET " */
	case 0x20545550:	/* "PUT " */
		return true;
	case 0x54534f50:	/* "POST" */
	case 0x44414548:	/* "HEAD" */
		return sb->b[4] == ' ';
	case 0x454c4544:	/* "DELE"TE */
	case 0x43544150:	/* "PATC"H */
	case 0x4954504f:	/* "OPTI"ONS */
		return true;
	}
	return false;
}

/* Scan len bytes of the per-CPU buffer. With collect, also note the context
 * headers and stage the tracestate and baggage values (server requests). */
static __always_inline void scan_head(struct scan_buf *sb, __u32 len, bool collect)
{
	struct scan *sc = &sb->sc;

	__builtin_memset(sc, 0, sizeof(*sc));
	sc->len = len > SCAN_MAX ? SCAN_MAX : len;
	sc->collect = collect;
	bpf_loop(SCAN_MAX, scan_step, NULL, 0);
}

static long cl_step(__u32 k, void *ctx)
{
	struct scan_buf *sb;
	struct scan *sc;
	__u32 zero = 0, i;
	char c;

	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	if (!sb)
		return 1;
	sc = &sb->sc;
	i = sc->cl_off + 15 + k;
	if (i >= sc->len)
		return 1;
	c = sb->b[i & (SCAN_MAX - 1)];
	if ((c == ' ' || c == '\t') && !sc->cl_digits)
		return 0;
	if (c < '0' || c > '9')
		return 1;
	if (sc->cl_digits >= 13) {
		sc->cl_val = 1ULL << 40;	/* too long */
		return 1;
	}
	sc->cl_val = sc->cl_val * 10 + (c - '0');
	sc->cl_digits++;
	return 0;
}

/* The Content-Length value of the line the scan found, or -1 when it is
 * not a plain number (below 2^40). A loop callback with its state in the
 * map, so the verifier walks it once, not once per digit. */
static __always_inline __s64 scan_cl(struct scan_buf *sb)
{
	struct scan *sc = &sb->sc;

	sc->cl_val = 0;
	sc->cl_digits = 0;
	bpf_loop(32, cl_step, NULL, 0);
	return sc->cl_digits && sc->cl_val < (1ULL << 40) ? (__s64)sc->cl_val : -1;
}

static __always_inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static __always_inline void random_bytes(__u8 *p, int n)
{
	for (int i = 0; i < n; i += 4) {
		__u32 r = bpf_get_prandom_u32();

		__builtin_memcpy(p + i, &r, 4);
	}
}

/* The server request a thread is serving, for the requests it sends. */
struct thread_ctx {
	struct kspan_ctx ctx;
	__u32 inflight;		/* requests read and not yet answered */
	__u8 props;		/* thread_props holds its tracestate/baggage */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);			/* tid */
	__type(value, struct thread_ctx);
} thread_ctxs SEC(".maps") __weak;

/* The tracestate and baggage a thread's server request came with, carried
 * on to the requests the thread sends while serving it. */
struct thread_props {
	__u8 span_id[8];	/* the server request's span: stale entries never match */
	__u16 ts_len;
	__u16 bag_len;
	__u32 pad;
	char ts[KSPAN_INJ_TRACESTATE_MAX];
	char bag[KSPAN_INJ_BAGGAGE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);		/* 1 without injection: set by the loader */
	__type(key, __u32);			/* tid */
	__type(value, struct thread_props);
} thread_props SEC(".maps") __weak;

const volatile bool targ_inject __weak = false;
/* Headers injected, from OTEL_PROPAGATORS: KSPAN_INJ_* bits. */
const volatile __u32 targ_inject_fmt __weak = KSPAN_INJ_TRACECONTEXT;

#endif /* __KSPAN_HTTPSCAN_BPF_H */
