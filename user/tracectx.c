// SPDX-License-Identifier: Apache-2.0
/* Trace context propagation formats: W3C Trace Context (traceparent,
 * tracestate), W3C Baggage, B3 (single and multi header) and Jaeger.
 *
 * As in http1.c, positions are indices checked against an end index, so no
 * pointer is formed past the input and an empty input is never offset.
 */
#include <string.h>

#include "tracectx.h"

#define TS_SCAN_MAX	128	/* tracestate members examined at most */
#define JAEGER_MAX	69	/* 32:16:16:2 */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lcalpha(unsigned char c)
{
	return c >= 'a' && c <= 'z';
}

static unsigned char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c | 0x20 : c;
}

/* Lowercase hex only, as traceparent and b3 require. */
static int lhex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int hex_value(unsigned char c)
{
	return lhex_value(to_lower(c));
}

static bool ci_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (to_lower(a[i]) != to_lower(b[i]))
			return false;
	return true;
}

static void trim(const char **v, size_t *len)
{
	size_t s = 0, e = *len;

	while (s < e && is_ows((*v)[s]))
		s++;
	while (e > s && is_ows((*v)[e - 1]))
		e--;
	if (s < e)
		*v += s;
	*len = e - s;
}

/* n hex digits into dst, right-aligned (left-padded with zero bytes). */
static int hex_parse(const char *s, size_t n, uint8_t *dst, size_t dst_len,
		     bool any_case)
{
	unsigned char c;
	size_t i;
	int d;

	if (n > 2 * dst_len)
		return -1;
	memset(dst, 0, dst_len);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[n - 1 - i];
		d = any_case ? hex_value(c) : lhex_value(c);
		if (d < 0)
			return -1;
		dst[dst_len - 1 - i / 2] |= (uint8_t)(i & 1 ? d << 4 : d);
	}
	return 0;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Next comma-separated element of v from *pos, OWS trimmed, as [*s, *e). */
static bool next_elem(const char *v, size_t len, size_t *pos, size_t *s, size_t *e)
{
	const char *p;
	size_t n;

	if (!http1_list_next(v, len, pos, &p, &n))
		return false;
	*s = p - v;
	*e = *s + n;
	return true;
}

/* The values of a list header: either explicit arrays or the headers of h
 * named name. */
struct vsrc {
	const char *const *vals;
	const size_t *lens;
	const struct http1_header *h;
	const char *name;
	size_t n;
};

static bool vsrc_get(const struct vsrc *src, size_t i, const char **v,
		     size_t *len)
{
	if (!src->h) {
		*v = src->vals[i];
		*len = src->lens[i];
		return true;
	}
	if (!ci_equal(src->h[i].name, src->h[i].name_len, src->name,
		      strlen(src->name)))
		return false;
	*v = src->h[i].value;
	*len = src->h[i].value_len;
	return true;
}

/* The only header named name: 1 found, 0 absent, -1 repeated. */
static int find_unique(const struct http1_header *h, size_t n,
		       const char *name, const char **v, size_t *len)
{
	size_t i, nlen = strlen(name);
	int found = 0;

	for (i = 0; i < n; i++) {
		if (!ci_equal(h[i].name, h[i].name_len, name, nlen))
			continue;
		if (found)
			return -1;
		found = 1;
		*v = h[i].value;
		*len = h[i].value_len;
		trim(v, len);
	}
	return found;
}

static void set_sampling(struct tracectx *out, uint8_t sampling)
{
	out->sampling = sampling;
	if (sampling == TRACECTX_SAMPLING_SAMPLE ||
	    sampling == TRACECTX_SAMPLING_DEBUG)
		out->flags |= 1;
}

/* ---- traceparent ---- */

int tracectx_parse_traceparent(const char *v, size_t len, struct tracectx *out)
{
	uint8_t version, flags;

	memset(out, 0, sizeof(*out));
	trim(&v, &len);
	if (len < TRACECTX_TRACEPARENT_LEN)
		return -1;
	if (hex_parse(v, 2, &version, 1, false) || version == 0xff)
		return -1;
	/* Version 00 is exactly 55 bytes; later versions may append
	 * "-<anything>", which is ignored. */
	if (version == 0 && len != TRACECTX_TRACEPARENT_LEN)
		return -1;
	if (len > TRACECTX_TRACEPARENT_LEN &&
	    v[TRACECTX_TRACEPARENT_LEN] != '-')
		return -1;
	if (v[2] != '-' || v[35] != '-' || v[52] != '-')
		return -1;
	if (hex_parse(v + 3, 32, out->trace_id, 16, false) ||
	    hex_parse(v + 36, 16, out->span_id, 8, false) ||
	    hex_parse(v + 53, 2, &flags, 1, false) ||
	    all_zero(out->trace_id, 16) || all_zero(out->span_id, 8)) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->version = version;
	out->flags = flags;
	out->sampling = flags & 1 ? TRACECTX_SAMPLING_SAMPLE :
				    TRACECTX_SAMPLING_DROP;
	out->source = TRACECTX_SRC_TRACECONTEXT;
	out->valid = true;
	return 1;
}

size_t tracectx_format_traceparent(const uint8_t trace_id[16],
				   const uint8_t span_id[8], uint8_t flags,
				   char out[TRACECTX_TRACEPARENT_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i, o = 0;

	out[o++] = '0';
	out[o++] = '0';
	out[o++] = '-';
	for (i = 0; i < 16; i++) {
		out[o++] = digits[trace_id[i] >> 4];
		out[o++] = digits[trace_id[i] & 15];
	}
	out[o++] = '-';
	for (i = 0; i < 8; i++) {
		out[o++] = digits[span_id[i] >> 4];
		out[o++] = digits[span_id[i] & 15];
	}
	out[o++] = '-';
	out[o++] = digits[flags >> 4];
	out[o++] = digits[flags & 15];
	out[o] = '\0';
	return o;
}

/* ---- tracestate ---- */

static bool ts_key_char(unsigned char c)
{
	return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' ||
	       c == '*' || c == '/';
}

static bool ts_key_chars(const char *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!ts_key_char(k[i]))
			return false;
	return true;
}

/* simple-key = lcalpha 0*255(keychar); multi-tenant-key =
 * (lcalpha / DIGIT) 0*240(keychar) "@" lcalpha 0*13(keychar) */
static bool ts_key_ok(const char *k, size_t n)
{
	size_t at, sys;

	for (at = 0; at < n && k[at] != '@'; at++)
		;
	if (at == n)
		return n >= 1 && n <= 256 && is_lcalpha(k[0]) &&
		       ts_key_chars(k + 1, n - 1);
	sys = n - at - 1;
	if (at < 1 || at > 241 || sys < 1 || sys > 14)
		return false;
	if (!is_lcalpha(k[0]) && !is_digit(k[0]))
		return false;
	return ts_key_chars(k + 1, at - 1) && is_lcalpha(k[at + 1]) &&
	       ts_key_chars(k + at + 2, sys - 1);
}

/* 1-256 of 0x20-0x7e except ',' and '=', not ending in a space. */
static bool ts_value_ok(const char *v, size_t n)
{
	size_t i;

	if (n < 1 || n > 256 || v[n - 1] == ' ')
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e ||
		    v[i] == ',' || v[i] == '=')
			return false;
	return true;
}

struct ts_member {
	const char *p;
	uint16_t len;
	uint16_t key_len;
	bool drop;
};

static bool ts_long(const struct ts_member *m)
{
	return m->len > TRACECTX_TRACESTATE_LONG;
}

/* Collect and validate every member; -1 when the list must be discarded. */
static int ts_collect(const struct vsrc *src, struct ts_member *m,
		      size_t *count, struct tracectx_stats *st)
{
	size_t i, j, k, pos, s, e, len, key_len, n = 0;
	const char *v;

	for (i = 0; i < src->n; i++) {
		if (!vsrc_get(src, i, &v, &len))
			continue;
		pos = 0;
		while (next_elem(v, len, &pos, &s, &e)) {
			if (s == e)
				continue;
			for (key_len = 0; s + key_len < e &&
			     v[s + key_len] != '='; key_len++)
				;
			if (s + key_len == e ||
			    !ts_key_ok(v + s, key_len) ||
			    !ts_value_ok(v + s + key_len + 1,
					 e - s - key_len - 1))
				goto invalid;
			if (n == TS_SCAN_MAX)
				goto too_many;
			m[n].p = v + s;
			m[n].len = (uint16_t)(e - s);
			m[n].key_len = (uint16_t)key_len;
			m[n].drop = false;
			n++;
		}
	}
	for (j = 1; j < n; j++)
		for (k = 0; k < j; k++)
			if (m[j].key_len == m[k].key_len &&
			    !memcmp(m[j].p, m[k].p, m[j].key_len))
				goto invalid;
	*count = n;
	return 0;
invalid:
	if (st)
		st->tracestate_invalid++;
	return -1;
too_many:
	if (st)
		st->tracestate_too_many++;
	return -1;
}

static int tracestate_parse(const struct vsrc *src, char *out, size_t cap,
			    size_t *out_len, struct tracectx_stats *st)
{
	struct ts_member m[TS_SCAN_MAX];
	size_t i, n, kept, total, o = 0;
	ssize_t victim;

	*out_len = 0;
	if (ts_collect(src, m, &n, st))
		return -1;

	kept = n;
	if (kept > TRACECTX_TRACESTATE_MEMBERS) {
		for (i = 0; i < n; i++) {
			if (ts_long(&m[i])) {
				m[i].drop = true;
				kept--;
			}
		}
		if (kept > TRACECTX_TRACESTATE_MEMBERS) {
			if (st)
				st->tracestate_too_many++;
			return -1;
		}
	}

	/* Fit cap: long members go first, then members from the end. */
	for (;;) {
		total = 0;
		for (i = 0; i < n; i++)
			if (!m[i].drop)
				total += m[i].len + (total ? 1 : 0);
		if (total <= cap)
			break;
		victim = -1;
		for (i = n; i-- > 0;) {
			if (!m[i].drop && ts_long(&m[i])) {
				victim = (ssize_t)i;
				break;
			}
		}
		if (victim < 0)
			for (i = n; i-- > 0 && victim < 0;)
				if (!m[i].drop)
					victim = (ssize_t)i;
		m[victim].drop = true;
		kept--;
	}
	if (st)
		st->tracestate_dropped += n - kept;

	for (i = 0; i < n; i++) {
		if (m[i].drop)
			continue;
		if (o)
			out[o++] = ',';
		memcpy(out + o, m[i].p, m[i].len);
		o += m[i].len;
	}
	*out_len = o;
	return (int)kept;
}

int tracectx_parse_tracestate(const char *const *vals, const size_t *lens,
			      size_t n, char *out, size_t cap, size_t *out_len,
			      struct tracectx_stats *st)
{
	struct vsrc src = { .vals = vals, .lens = lens, .n = n };

	return tracestate_parse(&src, out, cap, out_len, st);
}

/* ---- B3 ---- */

static uint8_t b3_sampling(char c)
{
	switch (c) {
	case '0':
		return TRACECTX_SAMPLING_DROP;
	case '1':
		return TRACECTX_SAMPLING_SAMPLE;
	case 'd':
		return TRACECTX_SAMPLING_DEBUG;
	}
	return TRACECTX_SAMPLING_UNSET;
}

static int b3_ids(const char *tid, size_t tid_len, const char *sid,
		  size_t sid_len, const char *pid, size_t pid_len,
		  struct tracectx *out)
{
	uint8_t parent[8];

	if ((tid_len != 16 && tid_len != 32) || sid_len != 16)
		return -1;
	if (hex_parse(tid, tid_len, out->trace_id, 16, false) ||
	    hex_parse(sid, 16, out->span_id, 8, false) ||
	    all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return -1;
	if (pid && (pid_len != 16 || hex_parse(pid, 16, parent, 8, false) ||
		    all_zero(parent, 8)))
		return -1;
	out->valid = true;
	return 1;
}

/* {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]] or a lone state */
static int b3_parse(const char *v, size_t len, struct tracectx *out)
{
	size_t tlen, i;
	uint8_t s = TRACECTX_SAMPLING_UNSET;
	const char *pid = NULL;
	size_t pid_len = 0;

	trim(&v, &len);
	if (len == 1) {
		s = b3_sampling(v[0]);
		if (!s)
			return -1;
		set_sampling(out, s);
		return 0;
	}
	for (tlen = 0; tlen < len && v[tlen] != '-'; tlen++)
		;
	i = tlen;
	if (len - i < 17 || v[i] != '-')
		return -1;
	i += 17;
	if (i < len) {
		if (len - i < 2 || v[i] != '-')
			return -1;
		s = b3_sampling(v[i + 1]);
		if (!s)
			return -1;
		i += 2;
		if (i < len) {
			if (v[i] != '-')
				return -1;
			pid = v + i + 1;
			pid_len = len - i - 1;
		}
	}
	if (b3_ids(v, tlen, v + tlen + 1, 16, pid, pid_len, out) < 0)
		return -1;
	set_sampling(out, s);
	out->source = TRACECTX_SRC_B3;
	return 1;
}

int tracectx_parse_b3(const char *v, size_t len, struct tracectx *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = b3_parse(v, len, out);
	if (r < 0)
		memset(out, 0, sizeof(*out));
	return r;
}

static bool is_str(const char *v, size_t len, const char *s)
{
	return ci_equal(v, len, s, strlen(s));
}

static int b3_multi_parse(const struct http1_header *h, size_t n,
			  struct tracectx *out)
{
	const char *tid = NULL, *sid = NULL, *pid = NULL, *smp = NULL,
		   *flg = NULL;
	size_t tid_len = 0, sid_len = 0, pid_len = 0, smp_len = 0,
	       flg_len = 0;
	int rt, rs, rp, rsm, rf;
	uint8_t s = TRACECTX_SAMPLING_UNSET;

	rt = find_unique(h, n, "x-b3-traceid", &tid, &tid_len);
	rs = find_unique(h, n, "x-b3-spanid", &sid, &sid_len);
	rp = find_unique(h, n, "x-b3-parentspanid", &pid, &pid_len);
	rsm = find_unique(h, n, "x-b3-sampled", &smp, &smp_len);
	rf = find_unique(h, n, "x-b3-flags", &flg, &flg_len);
	if (rt < 0 || rs < 0 || rp < 0 || rsm < 0 || rf < 0)
		return -1;

	if (rsm) {
		if (is_str(smp, smp_len, "1") || is_str(smp, smp_len, "true"))
			s = TRACECTX_SAMPLING_SAMPLE;
		else if (is_str(smp, smp_len, "0") ||
			 is_str(smp, smp_len, "false"))
			s = TRACECTX_SAMPLING_DROP;
		else
			return -1;
	}
	if (rf) {
		if (is_str(flg, flg_len, "1"))
			s = TRACECTX_SAMPLING_DEBUG;
		else if (!is_str(flg, flg_len, "0"))
			return -1;
	}
	if (!rt && !rs) {
		if (rp)
			return -1;
		set_sampling(out, s);
		return 0;
	}
	if (!rt || !rs)
		return -1;
	if (b3_ids(tid, tid_len, sid, sid_len, rp ? pid : NULL, pid_len,
		   out) < 0)
		return -1;
	set_sampling(out, s);
	out->source = TRACECTX_SRC_B3MULTI;
	return 1;
}

int tracectx_parse_b3_multi(const struct http1_header *h, size_t n,
			    struct tracectx *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = b3_multi_parse(h, n, out);
	if (r < 0)
		memset(out, 0, sizeof(*out));
	return r;
}

/* ---- Jaeger ---- */

/* {trace-id}:{span-id}:{parent-span-id}:{flags} */
static int jaeger_parse(const char *v, size_t len, struct tracectx *out)
{
	static const size_t max_digits[4] = { 32, 16, 16, 2 };
	char buf[JAEGER_MAX];
	size_t i, n = 0, f = 0, start[4], flen[4];
	uint8_t parent[8], flags;
	int hi, lo;
	char c;

	trim(&v, &len);
	for (i = 0; i < len;) {
		c = v[i];
		if (c == '%') {
			if (len - i < 3)
				return -1;
			hi = hex_value(v[i + 1]);
			lo = hex_value(v[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 3;
		} else {
			i++;
		}
		if (n == sizeof(buf))
			return -1;
		buf[n++] = c;
	}

	start[0] = 0;
	for (i = 0; i < n; i++) {
		if (buf[i] != ':')
			continue;
		if (f == 3)
			return -1;
		flen[f] = i - start[f];
		start[++f] = i + 1;
	}
	if (f != 3)
		return -1;
	flen[3] = n - start[3];
	for (f = 0; f < 4; f++)
		if (flen[f] < 1 || flen[f] > max_digits[f])
			return -1;
	if (hex_parse(buf + start[0], flen[0], out->trace_id, 16, true) ||
	    hex_parse(buf + start[1], flen[1], out->span_id, 8, true) ||
	    hex_parse(buf + start[2], flen[2], parent, 8, true) ||
	    hex_parse(buf + start[3], flen[3], &flags, 1, true) ||
	    all_zero(out->trace_id, 16) || all_zero(out->span_id, 8))
		return -1;
	if (flags & 2)
		set_sampling(out, TRACECTX_SAMPLING_DEBUG);
	else
		set_sampling(out, flags & 1 ? TRACECTX_SAMPLING_SAMPLE :
					      TRACECTX_SAMPLING_DROP);
	out->source = TRACECTX_SRC_JAEGER;
	out->valid = true;
	return 1;
}

int tracectx_parse_jaeger(const char *v, size_t len, struct tracectx *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = jaeger_parse(v, len, out);
	if (r < 0)
		memset(out, 0, sizeof(*out));
	return r;
}

/* ---- extraction ---- */

static int extract_w3c(const struct http1_header *h, size_t n,
		       struct tracectx *out, struct tracectx_stats *st)
{
	struct vsrc src = { .h = h, .name = "tracestate", .n = n };
	const char *v = NULL;
	size_t len = 0, ts_len;
	int r;

	r = find_unique(h, n, "traceparent", &v, &len);
	if (r < 0) {
		if (st)
			st->traceparent_duplicate++;
		return -1;
	}
	if (!r)
		return 0;
	if (tracectx_parse_traceparent(v, len, out) < 0) {
		if (st)
			st->traceparent_invalid++;
		return -1;
	}
	if (tracestate_parse(&src, out->tracestate, TRACECTX_TRACESTATE_MAX,
			     &ts_len, st) < 0)
		ts_len = 0;
	out->tracestate_len = (uint16_t)ts_len;
	out->tracestate[ts_len] = '\0';
	return 1;
}

int tracectx_extract(const struct http1_header *h, size_t n,
		     unsigned propagators, struct tracectx *out,
		     struct tracectx_stats *st)
{
	uint8_t decision = TRACECTX_SAMPLING_UNSET;
	const char *v = NULL;
	size_t len = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((propagators & TRACECTX_W3C) && extract_w3c(h, n, out, st) == 1)
		return 1;

	if (propagators & TRACECTX_B3) {
		r = find_unique(h, n, "b3", &v, &len);
		if (r > 0)
			r = tracectx_parse_b3(v, len, out);
		else if (r < 0)
			r = -1;
		else
			r = -2;	/* absent */
		if (r == 1)
			return 1;
		if (r == 0)
			decision = out->sampling;
		else if (r == -1 && st)
			st->b3_invalid++;
	}

	if (propagators & TRACECTX_B3MULTI) {
		r = tracectx_parse_b3_multi(h, n, out);
		if (r == 1)
			return 1;
		if (r == 0 && !decision)
			decision = out->sampling;
		else if (r < 0 && st)
			st->b3_invalid++;
	}

	if (propagators & TRACECTX_JAEGER) {
		r = find_unique(h, n, "uber-trace-id", &v, &len);
		if (r > 0 && tracectx_parse_jaeger(v, len, out) == 1)
			return 1;
		if (r != 0 && st)
			st->jaeger_invalid++;
	}

	memset(out, 0, sizeof(*out));
	set_sampling(out, decision);
	return 0;
}

/* ---- baggage ---- */

/* RFC 9110 token character */
static bool is_tchar(unsigned char c)
{
	if (is_digit(c) || is_lcalpha(to_lower(c)))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool tracectx_baggage_key_ok(const char *key)
{
	if (!*key)
		return false;
	for (; *key; key++)
		if (!is_tchar((unsigned char)*key))
			return false;
	return true;
}

/* %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
static bool is_bag_octet(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' &&
	       c != '\\';
}

static size_t skip_ows(const char *v, size_t i, size_t e)
{
	while (i < e && is_ows(v[i]))
		i++;
	return i;
}

/* key OWS "=" OWS value *( OWS ";" OWS property ) over [s, e) */
static bool bag_member(const char *v, size_t s, size_t e, size_t *ks,
		       size_t *ke, size_t *vs, size_t *ve)
{
	size_t i = s, k;

	while (i < e && is_tchar(v[i]))
		i++;
	if (i == s)
		return false;
	*ks = s;
	*ke = i;
	i = skip_ows(v, i, e);
	if (i == e || v[i] != '=')
		return false;
	i = skip_ows(v, i + 1, e);
	*vs = i;
	while (i < e && is_bag_octet(v[i]))
		i++;
	*ve = i;
	for (;;) {
		i = skip_ows(v, i, e);
		if (i == e)
			return true;
		if (v[i] != ';')
			return false;
		i = skip_ows(v, i + 1, e);
		k = i;
		while (i < e && is_tchar(v[i]))
			i++;
		if (i == k)
			return false;
		i = skip_ows(v, i, e);
		if (i < e && v[i] == '=') {
			i = skip_ows(v, i + 1, e);
			while (i < e && is_bag_octet(v[i]))
				i++;
		}
	}
}

struct pct_iter {
	const char *s;
	size_t i, n;
};

/* Next percent-decoded byte, or -1 at the end. A '%' not followed by two
 * hex digits stands for itself. */
static int pct_next(struct pct_iter *it)
{
	const char *s = it->s;
	size_t i = it->i;
	int hi, lo;

	if (i >= it->n)
		return -1;
	if (s[i] == '%' && it->n - i >= 3) {
		hi = hex_value(s[i + 1]);
		lo = hex_value(s[i + 2]);
		if (hi >= 0 && lo >= 0) {
			it->i = i + 3;
			return hi << 4 | lo;
		}
	}
	it->i = i + 1;
	return (unsigned char)s[i];
}

/* Percent-decode s into out, replacing ill-formed UTF-8 with U+FFFD
 * (maximal subparts, as Unicode chapter 3 recommends). Stops writing at the
 * first character that does not fit. */
static size_t pct_decode(const char *s, size_t n, char *out, size_t cap,
			 bool *truncated)
{
	struct pct_iter it = { .s = s, .n = n }, q;
	unsigned char ch[4];
	size_t o = 0, cl, need, k;
	int b, c, lo, hi;

	*truncated = false;
	while ((b = pct_next(&it)) >= 0) {
		ch[0] = (unsigned char)b;
		cl = 1;
		if (b >= 0x80) {
			lo = 0x80;
			hi = 0xbf;
			if (b >= 0xc2 && b <= 0xdf)
				need = 1;
			else if (b >= 0xe0 && b <= 0xef)
				need = 2;
			else if (b >= 0xf0 && b <= 0xf4)
				need = 3;
			else
				need = 0;
			if (b == 0xe0)
				lo = 0xa0;
			else if (b == 0xed)
				hi = 0x9f;
			else if (b == 0xf0)
				lo = 0x90;
			else if (b == 0xf4)
				hi = 0x8f;
			for (k = 0; k < need; k++) {
				q = it;
				c = pct_next(&q);
				if (c < (k ? 0x80 : lo) || c > (k ? 0xbf : hi))
					break;
				ch[1 + k] = (unsigned char)c;
				it = q;
			}
			if (need && k == need) {
				cl = need + 1;
			} else {
				ch[0] = 0xef;
				ch[1] = 0xbf;
				ch[2] = 0xbd;
				cl = 3;
			}
		}
		if (*truncated || cap - o < cl) {
			*truncated = true;
			continue;
		}
		memcpy(out + o, ch, cl);
		o += cl;
	}
	return o;
}

static int bag_scan(const struct vsrc *src, struct tracectx_baggage_item *items,
		    size_t nitems, struct tracectx_stats *st)
{
	size_t i, j, len, pos, s, e, ks, ke, vs, ve, base = 0, members = 0;
	const char *v;
	int found = 0;

	for (j = 0; j < nitems; j++) {
		items[j].found = false;
		items[j].truncated = false;
		items[j].len = 0;
	}
	for (i = 0; i < src->n; i++) {
		if (!vsrc_get(src, i, &v, &len))
			continue;
		pos = 0;
		while (next_elem(v, len, &pos, &s, &e)) {
			if (s == e)
				continue;
			if (members == TRACECTX_BAGGAGE_MEMBERS ||
			    base + e > TRACECTX_BAGGAGE_BYTES) {
				if (st)
					st->baggage_over_limit++;
				goto out;
			}
			members++;
			if (!bag_member(v, s, e, &ks, &ke, &vs, &ve)) {
				if (st)
					st->baggage_invalid++;
				continue;
			}
			for (j = 0; j < nitems; j++) {
				struct tracectx_baggage_item *it = &items[j];

				if (it->key_len != ke - ks ||
				    memcmp(it->key, v + ks, ke - ks))
					continue;
				it->len = pct_decode(v + vs, ve - vs, it->out,
						     it->cap, &it->truncated);
				it->found = true;
			}
		}
		base += len + 1;	/* joined with "," */
	}
out:
	for (j = 0; j < nitems; j++)
		found += items[j].found;
	return found;
}

int tracectx_baggage_lookup(const struct http1_header *h, size_t n,
			    struct tracectx_baggage_item *items, size_t nitems,
			    struct tracectx_stats *st)
{
	struct vsrc src = { .h = h, .name = "baggage", .n = n };

	return bag_scan(&src, items, nitems, st);
}

ssize_t tracectx_baggage_get(const char *v, size_t len, const char *key,
			     size_t key_len, char *out, size_t cap)
{
	struct vsrc src = { .vals = &v, .lens = &len, .n = 1 };
	struct tracectx_baggage_item it = {
		.key = key, .key_len = key_len, .out = out, .cap = cap,
	};

	if (!bag_scan(&src, &it, 1, NULL))
		return -1;
	return (ssize_t)it.len;
}

/* ---- OTEL_PROPAGATORS ---- */

int tracectx_propagators_parse(const char *s, unsigned *mask)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "tracecontext", TRACECTX_W3C },
		{ "baggage", TRACECTX_BAGGAGE },
		{ "b3", TRACECTX_B3 },
		{ "b3multi", TRACECTX_B3MULTI },
		{ "jaeger", TRACECTX_JAEGER },
		{ "none", 0 },
	};
	size_t len, pos = 0, a, b, i;
	unsigned m = 0;
	bool any = false;
	int ret = 0;

	len = s ? strlen(s) : 0;
	while (s && next_elem(s, len, &pos, &a, &b)) {
		if (a == b)
			continue;
		any = true;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (is_str(s + a, b - a, names[i].name))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			ret = -1;
		else
			m |= names[i].bit;
	}
	*mask = any ? m : TRACECTX_DEFAULT;
	return ret;
}
