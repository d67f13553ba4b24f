/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* A small HTTP/1.x request-head scanner for BPF, run with bpf_loop over a
 * per-CPU copy of the bytes: where the request line and the head end, the
 * traceparent headers, Content-Length and Transfer-Encoding. Only what
 * injection and in-kernel context need; userspace does the real parsing. */
#ifndef __KSPAN_HTTPSCAN_BPF_H
#define __KSPAN_HTTPSCAN_BPF_H

#include "kspan.bpf.h"

#define SCAN_MAX 2048	/* power of two: indices are masked with SCAN_MAX - 1 */

struct scan_buf {
	char b[SCAN_MAX + 16];	/* slack: 8-byte loads near the end stay inside */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scan_buf);
} scan_bufs SEC(".maps") __weak;

struct scan {
	__u32 len;		/* bytes in the buffer */
	__u32 line_start;
	__u32 req_line_end;	/* offset after the request line's LF, 0: not seen */
	__u32 head_end;		/* offset after the empty line, 0: not seen */
	__u32 tp_off;		/* offset of the first traceparent line */
	__u32 tp_count;
	__u32 cl_off;		/* offset of the Content-Length line, 0: none */
	__u32 cl_count;
	__u8 has_te;		/* Transfer-Encoding: body length unknown here */
	__u8 other_ctx;		/* b3, X-B3-TraceId or uber-trace-id present */
};

/* Bound a length for the verifier: an asm mask, since clang drops a C mask
 * it can prove redundant and then the verifier sees an unbounded copy. */
static __always_inline __u64 scan_bound(__u64 n)
{
	asm volatile("%0 &= 2047" : "+r"(n));
	return n;
}

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
#define W_CONTENT_	0x2d746e65746e6f63ULL	/* "content-" */
#define W_LENGTH_C	0x3a6874676e656cULL	/* "length:" (7 bytes) */
#define W_TRANSFER	0x726566736e617274ULL	/* "transfer" */
#define W_ENCO		0x6f636e652dULL		/* "-enco" (5 bytes) */
#define W_B3_COLON	0x3a3362ULL		/* "b3:" (3 bytes) */
#define W_X_B3_TRA	0x6172742d33622d78ULL	/* "x-b3-tra" */
#define W_CEID		0x64696563U		/* "ceid" */
#define W_UBER_TRA	0x6172742d72656275ULL	/* "uber-tra" */
#define W_CE_ID_C	0x3a64692d6563ULL	/* "ce-id:" (6 bytes) */

static long scan_step(__u32 i, void *ctx)
{
	struct scan *sc = ctx;
	struct scan_buf *sb;
	__u32 zero = 0, l;
	__u64 w;

	if (i >= sc->len)
		return 1;
	sb = bpf_map_lookup_elem(&scan_bufs, &zero);
	if (!sb)
		return 1;
	if (sb->b[i & (SCAN_MAX - 1)] != '\n')
		return 0;
	if (!sc->req_line_end) {
		sc->req_line_end = i + 1;
	} else if (i - sc->line_start <= 1) {
		sc->head_end = i + 1;	/* "\r\n" or "\n" alone: the empty line */
		return 1;
	}
	l = i + 1;
	sc->line_start = l;
	if (l + 18 > sc->len)
		return 0;
	w = word_at(sb, l);
	if (w == W_TRACEPAR && (word_at(sb, l + 8) & 0xffffffffU) == W_ENT_COLON) {
		if (!sc->tp_count)
			sc->tp_off = l;
		sc->tp_count++;
	} else if (w == W_CONTENT_ &&
		   (word_at(sb, l + 8) & 0xffffffffffffffULL) == W_LENGTH_C) {
		sc->cl_off = l;
		sc->cl_count++;
	} else if (w == W_TRANSFER && (word_at(sb, l + 8) & 0xffffffffffULL) == W_ENCO) {
		sc->has_te = 1;
	} else if ((w & 0xffffff) == W_B3_COLON ||
		   (w == W_X_B3_TRA && (word_at(sb, l + 8) & 0xffffffffU) == W_CEID) ||
		   (w == W_UBER_TRA && (word_at(sb, l + 8) & 0xffffffffffffULL) == W_CE_ID_C)) {
		sc->other_ctx = 1;
	}
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

/* Scan len bytes of the per-CPU buffer. */
static __always_inline void scan_head(struct scan *sc, __u32 len)
{
	__builtin_memset(sc, 0, sizeof(*sc));
	sc->len = len > SCAN_MAX ? SCAN_MAX : len;
	bpf_loop(SCAN_MAX, scan_step, sc, 0);
}

/* The Content-Length value on the line at off (after "content-length:"),
 * or -1 when it is not a plain number. */
static __always_inline __s64 scan_cl(const struct scan_buf *sb, __u32 off, __u32 len)
{
	__u64 v = 0;
	bool digits = false;
	__u32 i = off + 15;

	for (int k = 0; k < 20; k++) {
		char c;

		if (i >= len)
			break;
		c = sb->b[i & (SCAN_MAX - 1)];
		if ((c == ' ' || c == '\t') && !digits) {
			i++;
			continue;
		}
		if (c < '0' || c > '9')
			break;
		v = v * 10 + (c - '0');
		digits = true;
		i++;
	}
	return digits && v < (1ULL << 40) ? (__s64)v : -1;
}

static __always_inline int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse "vv-<32>-<16>-<2>" at off into ctx (lowercase hex only, version not
 * ff, ids not zero). Returns true when valid. */
static __always_inline bool parse_traceparent(const struct scan_buf *sb, __u32 off, __u32 len,
					      struct kspan_ctx *ctx)
{
	__u8 acc = 0, nz_t = 0, nz_s = 0;
	int h, l;

	off += 12;	/* "traceparent:" */
	if (off < len && sb->b[off & (SCAN_MAX - 1)] == ' ')
		off++;
	if (off < len && sb->b[off & (SCAN_MAX - 1)] == ' ')
		off++;

	if (off + 55 > len)
		return false;
	if (sb->b[(off + 2) & (SCAN_MAX - 1)] != '-' || sb->b[(off + 35) & (SCAN_MAX - 1)] != '-' ||
	    sb->b[(off + 52) & (SCAN_MAX - 1)] != '-')
		return false;
	h = hexval(sb->b[off & (SCAN_MAX - 1)]);
	l = hexval(sb->b[(off + 1) & (SCAN_MAX - 1)]);
	if (h < 0 || l < 0 || (h == 15 && l == 15))
		return false;
	/* Version 00 is exactly 55 characters. */
	if (h == 0 && l == 0 && off + 55 < len) {
		char c = sb->b[(off + 55) & (SCAN_MAX - 1)];

		if (c != '\r' && c != '\n' && c != ' ' && c != '\t')
			return false;
	}
#pragma unroll
	for (int k = 0; k < 16; k++) {
		h = hexval(sb->b[(off + 3 + 2 * k) & (SCAN_MAX - 1)]);
		l = hexval(sb->b[(off + 4 + 2 * k) & (SCAN_MAX - 1)]);
		if (h < 0 || l < 0)
			return false;
		acc = h << 4 | l;
		ctx->trace_id[k] = acc;
		nz_t |= acc;
	}
#pragma unroll
	for (int k = 0; k < 8; k++) {
		h = hexval(sb->b[(off + 36 + 2 * k) & (SCAN_MAX - 1)]);
		l = hexval(sb->b[(off + 37 + 2 * k) & (SCAN_MAX - 1)]);
		if (h < 0 || l < 0)
			return false;
		acc = h << 4 | l;
		ctx->parent_id[k] = acc;
		nz_s |= acc;
	}
	h = hexval(sb->b[(off + 53) & (SCAN_MAX - 1)]);
	l = hexval(sb->b[(off + 54) & (SCAN_MAX - 1)]);
	if (h < 0 || l < 0 || !nz_t || !nz_s)
		return false;
	ctx->flags = h << 4 | l;
	return true;
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
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);			/* tid */
	__type(value, struct thread_ctx);
} thread_ctxs SEC(".maps") __weak;

const volatile bool targ_inject __weak = false;
/* Headers injected, from OTEL_PROPAGATORS: KSPAN_INJ_* bits. */
const volatile __u32 targ_inject_fmt __weak = KSPAN_INJ_TRACECONTEXT;

#endif /* __KSPAN_HTTPSCAN_BPF_H */
