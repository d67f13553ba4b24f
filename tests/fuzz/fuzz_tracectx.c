// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for user/tracectx.c.
 *
 * The input is split at '\n' into up to MAX_VALS pieces. The first byte of
 * each piece picks a header name, the rest is its value, each copied into a
 * heap buffer of exactly its size so ASan reports any read past len. Every
 * parser runs on every value, extract on the synthesized header array, and
 * the invariants the API promises are checked: outputs stay within cap,
 * accepted ids are non-zero, a formatted traceparent parses back to the same
 * context, and a normalized tracestate is a fixed point.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracectx.h"

#define MAX_VALS	8

#define CHECK(x)			\
	do {				\
		if (!(x))		\
			abort();	\
	} while (0)

static const char *const names[] = {
	"traceparent", "tracestate", "b3", "X-B3-TraceId", "x-b3-spanid",
	"X-B3-ParentSpanId", "X-B3-Sampled", "X-B3-Flags", "uber-trace-id",
	"Baggage", "Host", "TRACEPARENT",
};

#define NNAMES	(sizeof(names) / sizeof(names[0]))

static char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);

	CHECK(p);
	if (n)
		memcpy(p, s, n);
	return p;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void check_ctx(const struct tracectx *c, int r)
{
	CHECK(c->valid == (r == 1));
	if (c->valid) {
		CHECK(!all_zero(c->trace_id, 16));
		CHECK(!all_zero(c->span_id, 8));
		CHECK(c->source != TRACECTX_SRC_NONE);
	}
	CHECK(c->sampling <= TRACECTX_SAMPLING_DEBUG);
	CHECK(c->tracestate_len <= TRACECTX_TRACESTATE_MAX);
}

static void fuzz_traceparent(const char *v, size_t len)
{
	char out[TRACECTX_TRACEPARENT_LEN + 1];
	struct tracectx c, d;
	int r;

	r = tracectx_parse_traceparent(v, len, &c);
	CHECK(r == 1 || r == -1);
	check_ctx(&c, r);
	if (r < 0)
		return;
	CHECK(c.version != 0xff);
	CHECK(tracectx_format_traceparent(c.trace_id, c.span_id, c.flags,
					  out) == TRACECTX_TRACEPARENT_LEN);
	CHECK(out[TRACECTX_TRACEPARENT_LEN] == '\0');
	CHECK(tracectx_parse_traceparent(out, TRACECTX_TRACEPARENT_LEN,
					 &d) == 1);
	CHECK(!memcmp(c.trace_id, d.trace_id, 16));
	CHECK(!memcmp(c.span_id, d.span_id, 8));
	CHECK(c.flags == d.flags);
	/* a version 00 header is exactly what we would write */
	if (c.version == 0)
		CHECK(memmem(v, len, out, TRACECTX_TRACEPARENT_LEN));
}

static void fuzz_tracestate(char **vals, const size_t *lens, size_t n)
{
	static const size_t caps[] = { 0, 1, 7, 64, TRACECTX_TRACESTATE_MAX };
	char full[TRACECTX_TRACESTATE_MAX], again[TRACECTX_TRACESTATE_MAX];
	const char *fp = full;
	size_t full_len, len, i, again_len;
	int r, r2;
	char *out;

	r = tracectx_parse_tracestate((const char *const *)vals, lens, n, full,
				      sizeof(full), &full_len, NULL);
	CHECK(r >= -1 && r <= TRACECTX_TRACESTATE_MEMBERS);
	CHECK(full_len <= sizeof(full));
	if (r < 0) {
		CHECK(full_len == 0);
	} else {
		/* normalized output is a fixed point */
		r2 = tracectx_parse_tracestate(&fp, &full_len, 1, again,
					       sizeof(again), &again_len, NULL);
		CHECK(r2 == r && again_len == full_len);
		CHECK(!memcmp(full, again, full_len));
	}

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		out = malloc(caps[i] ? caps[i] : 1);
		CHECK(out);
		r2 = tracectx_parse_tracestate((const char *const *)vals, lens,
					       n, caps[i] ? out : NULL, caps[i],
					       &len, NULL);
		CHECK(len <= caps[i]);
		CHECK((r2 < 0) == (r < 0));
		CHECK(r2 <= r);
		free(out);
	}
}

static void fuzz_baggage(const char *v, size_t len, const char *key,
			 size_t key_len)
{
	size_t cap;
	ssize_t r, full;
	char *out;

	full = tracectx_baggage_get(v, len, key, key_len, NULL, 0);
	CHECK(full == -1 || full == 0);
	for (cap = 1; cap <= 16; cap *= 2) {
		out = malloc(cap);
		CHECK(out);
		r = tracectx_baggage_get(v, len, key, key_len, out, cap);
		CHECK(r >= -1 && r <= (ssize_t)cap);
		CHECK((r < 0) == (full < 0));
		free(out);
	}
}

static void fuzz_single(const char *v, size_t len)
{
	struct tracectx c;
	char *s;
	unsigned mask;
	int r;

	fuzz_traceparent(v, len);

	r = tracectx_parse_b3(v, len, &c);
	CHECK(r >= -1 && r <= 1);
	check_ctx(&c, r);

	r = tracectx_parse_jaeger(v, len, &c);
	CHECK(r == 1 || r == -1);
	check_ctx(&c, r);

	fuzz_baggage(v, len, "k", 1);
	if (len)
		fuzz_baggage(v, len, v, len < 4 ? len : 4);

	s = malloc(len + 1);
	CHECK(s);
	if (len)
		memcpy(s, v, len);
	s[len] = '\0';
	r = tracectx_propagators_parse(s, &mask);
	CHECK(r == 0 || r == -1);
	CHECK(!(mask & ~(TRACECTX_W3C | TRACECTX_BAGGAGE | TRACECTX_B3 |
			 TRACECTX_B3MULTI | TRACECTX_JAEGER)));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_header h[MAX_VALS];
	struct tracectx_baggage_item items[2];
	struct tracectx_stats st = { 0 };
	char *vals[MAX_VALS], *names_buf[MAX_VALS], *whole, ka[8], kb[3];
	size_t lens[MAX_VALS], n = 0, i, start = 0, end, nl;
	struct tracectx c;
	const char *name;
	int r;

	whole = dup_exact((const char *)data, size);
	fuzz_single(whole, size);

	while (n < MAX_VALS && start <= size) {
		for (end = start; end < size && data[end] != '\n'; end++)
			;
		if (end > start) {
			name = names[data[start] % NNAMES];
			start++;
		} else {
			name = names[0];
		}
		nl = strlen(name);
		names_buf[n] = dup_exact(name, nl);
		vals[n] = dup_exact((const char *)data + start, end - start);
		lens[n] = end - start;
		h[n].name = names_buf[n];
		h[n].name_len = nl;
		h[n].value = vals[n];
		h[n].value_len = lens[n];
		n++;
		start = end + 1;
	}

	for (i = 0; i < n; i++)
		fuzz_single(vals[i], lens[i]);
	fuzz_tracestate(vals, lens, n);

	r = tracectx_extract(h, n, ~0u, &c, &st);
	CHECK(r == 0 || r == 1);
	check_ctx(&c, r);
	CHECK(c.tracestate[c.tracestate_len] == '\0');
	CHECK(!c.tracestate_len || c.source == TRACECTX_SRC_TRACECONTEXT);

	r = tracectx_parse_b3_multi(h, n, &c);
	CHECK(r >= -1 && r <= 1);
	check_ctx(&c, r);

	items[0] = (struct tracectx_baggage_item){
		.key = "k", .key_len = 1, .out = ka, .cap = sizeof(ka),
	};
	items[1] = (struct tracectx_baggage_item){
		.key = "kk", .key_len = 2, .out = kb, .cap = sizeof(kb),
	};
	r = tracectx_baggage_lookup(h, n, items, 2, &st);
	CHECK(r >= 0 && r <= 2);
	for (i = 0; i < 2; i++)
		CHECK(items[i].len <= items[i].cap &&
		      (items[i].found || !items[i].len));

	for (i = 0; i < n; i++) {
		free(vals[i]);
		free(names_buf[i]);
	}
	free(whole);
	return 0;
}
