// SPDX-License-Identifier: Apache-2.0
/* Unit tests for user/tracectx.c.
 *
 * Every value (and header name) is copied to the very end of its own
 * mapping, followed by a PROT_NONE page, so a read past len faults. Valid
 * values are also parsed cut at every length.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tracectx.h"

#define SLOTS		64
#define SLOT_ROOM	(16 * 1024)

/* ---- guard pages: a ring of slots, each ending at a PROT_NONE page ---- */

static char *slot_end[SLOTS];
static unsigned slot_next;

static int guards_setup(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), i;
	char *map;

	for (i = 0; i < SLOTS; i++) {
		map = mmap(NULL, SLOT_ROOM + pg, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (map == MAP_FAILED)
			return -1;
		if (mprotect(map + SLOT_ROOM, pg, PROT_NONE))
			return -1;
		slot_end[i] = map + SLOT_ROOM;
	}
	return 0;
}

static int guards_teardown(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), i;

	for (i = 0; i < SLOTS; i++)
		munmap(slot_end[i] - SLOT_ROOM, SLOT_ROOM + pg);
	return 0;
}

/* Copy len bytes so that they end right at a guard page. */
static const char *gputn(const char *s, size_t len)
{
	char *end = slot_end[slot_next++ % SLOTS];

	assert_true(len <= SLOT_ROOM);
	if (len)
		memcpy(end - len, s, len);
	return end - len;
}

static const char *gput(const char *s)
{
	return gputn(s, strlen(s));
}

static void hdr(struct http1_header *h, const char *name, const char *value)
{
	h->name_len = strlen(name);
	h->name = gput(name);
	h->value_len = strlen(value);
	h->value = gput(value);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void assert_ids(const struct tracectx *c, const char *tid,
		       const char *sid)
{
	char t[33], s[17];

	hex_of(c->trace_id, 16, t);
	hex_of(c->span_id, 8, s);
	assert_string_equal(t, tid);
	assert_string_equal(s, sid);
}

static bool zeroed(const struct tracectx *c)
{
	static const struct tracectx zero;

	return !memcmp(c, &zero, sizeof(zero));
}

#define TID	"4bf92f3577b34da6a3ce929d0e0e4736"
#define SID	"00f067aa0ba902b7"
#define TP	"00-" TID "-" SID "-01"

static int tp(const char *s, struct tracectx *c)
{
	return tracectx_parse_traceparent(gput(s), strlen(s), c);
}

/* ---- traceparent ---- */

static void test_traceparent_valid(void **state)
{
	struct tracectx c;

	assert_int_equal(tp(TP, &c), 1);
	assert_true(c.valid);
	assert_int_equal(c.source, TRACECTX_SRC_TRACECONTEXT);
	assert_int_equal(c.version, 0);
	assert_int_equal(c.flags, 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(c.tracestate_len, 0);
	assert_ids(&c, TID, SID);

	assert_int_equal(tp("00-" TID "-" SID "-00", &c), 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);
	/* unknown flag bits are kept */
	assert_int_equal(tp("00-" TID "-" SID "-09", &c), 1);
	assert_int_equal(c.flags, 9);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(tp("00-" TID "-" SID "-fe", &c), 1);
	assert_int_equal(c.flags, 0xfe);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);

	/* OWS around the value */
	assert_int_equal(tp(" \t" TP "\t ", &c), 1);
	assert_ids(&c, TID, SID);
	assert_int_equal(tp("   ", &c), -1);
	assert_int_equal(tracectx_parse_traceparent(NULL, 0, &c), -1);
}

static void test_traceparent_invalid(void **state)
{
	static const char *const bad[] = {
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
		"00-" TID "-00F067AA0BA902B7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473A-" SID "-01",
		"00-" TID "-" SID "-0A",
		"ff-" TID "-" SID "-01",
		"FF-" TID "-" SID "-01",
		"0A-" TID "-" SID "-01",
		"00-00000000000000000000000000000000-" SID "-01",
		"00-" TID "-0000000000000000-01",
		"00-" TID "-" SID "-0",			/* 54 */
		"00-" TID "-" SID "-011",		/* 56 */
		"00-" TID "-" SID "-01-",
		"00-" TID "-" SID "-01-what-the-future-will-be-like",
		"00-4bf92f3577b34da6a3ce929d0e0e473-" SID "-011",
		"00-4bf92f3577b34da6a3ce929d0e0e47366-" SID "-1",
		"00-" TID "-00f067aa0ba902b-701",
		"00-" TID "-00f067aa0ba902b77-1",
		"00-" TID "-" SID "-0g",
		"00-4bf92f3577b34da6a3ce929d0e0e473g-" SID "-01",
		"00-" TID "-00f067aa0ba902bx-01",
		"00-" TID "-" SID "-.1",
		"0x-" TID "-" SID "-01",
		"00" TID "-" SID "-01--",
		"00-" TID SID "-01-",
		"00-" TID "-" SID "01-",
		"00_" TID "-" SID "-01",
		"00-" TID "_" SID "-01",
		"00-" TID "-" SID "_01",
		"00-" TID "-" SID "-01,00-" TID "-" SID "-01",
		"01-" TID "-" SID "-01.what-the-future",
		"01-" TID "-" SID "-01what",
		"01-" TID "-" SID "-1",
		"02-" TID "-" SID "-0X",
		"cc-00000000000000000000000000000000-" SID "-01-x",
		"",
		"00",
		"00-",
	};
	struct tracectx c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		if (tp(bad[i], &c) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_true(zeroed(&c));
	}
}

static void test_traceparent_future(void **state)
{
	static const char fut[] = "01-" TID "-" SID "-01"
				  "-what-the-future-will-be-like";
	struct tracectx c;
	size_t cut;
	int r;

	assert_int_equal(tp(fut, &c), 1);
	assert_int_equal(c.version, 1);
	assert_ids(&c, TID, SID);
	assert_int_equal(tp("cc-" TID "-" SID "-08", &c), 1);
	assert_int_equal(c.version, 0xcc);
	assert_int_equal(c.flags, 8);
	assert_int_equal(tp("fe-" TID "-" SID "-01-", &c), 1);

	/* Every prefix of 55 bytes or more is a valid future header. */
	for (cut = 0; cut <= strlen(fut); cut++) {
		r = tracectx_parse_traceparent(gputn(fut, cut), cut, &c);
		assert_int_equal(r, cut >= 55 ? 1 : -1);
	}
}

static void test_traceparent_prefixes(void **state)
{
	static const char *const vals[] = {
		TP, " " TP " ", "00-" TID "-" SID "-00",
	};
	struct tracectx c;
	size_t i, cut, len;
	int r;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		len = strlen(vals[i]);
		for (cut = 0; cut <= len; cut++) {
			r = tracectx_parse_traceparent(gputn(vals[i], cut),
						       cut, &c);
			if (cut == len)
				assert_int_equal(r, 1);
			else if (r == 1)
				/* only trailing OWS may be cut */
				assert_true(len - cut <= 1 &&
					    vals[i][len - 1] == ' ');
			else
				assert_int_equal(r, -1);
		}
	}
}

static void test_format_round_trip(void **state)
{
	char out[TRACECTX_TRACEPARENT_LEN + 1];
	struct tracectx a, b;

	assert_int_equal(tp("00-" TID "-" SID "-09", &a), 1);
	memset(out, 'x', sizeof(out));
	assert_int_equal(tracectx_format_traceparent(a.trace_id, a.span_id,
						     a.flags, out), 55);
	assert_string_equal(out, "00-" TID "-" SID "-09");
	assert_int_equal(tp(out, &b), 1);
	assert_memory_equal(a.trace_id, b.trace_id, 16);
	assert_memory_equal(a.span_id, b.span_id, 8);
	assert_int_equal(a.flags, b.flags);

	/* a future version formats as 00 */
	assert_int_equal(tp("7f-" TID "-" SID "-01-zz", &a), 1);
	tracectx_format_traceparent(a.trace_id, a.span_id, a.flags, out);
	assert_string_equal(out, TP);
}

/* ---- tracestate ---- */

static int ts(const char *const *v, size_t n, char *out, size_t cap,
	      size_t *out_len, struct tracectx_stats *st)
{
	const char *vals[8];
	size_t lens[8], i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++) {
		lens[i] = strlen(v[i]);
		vals[i] = gput(v[i]);
	}
	return tracectx_parse_tracestate(vals, lens, n, out, cap, out_len, st);
}

/* Parse one value with a 512-byte output; NULL when discarded. */
static const char *ts1(const char *v, int *members)
{
	static char out[TRACECTX_TRACESTATE_MAX + 1];
	size_t len;
	int r;

	r = ts(&v, 1, out, TRACECTX_TRACESTATE_MAX, &len, NULL);
	if (members)
		*members = r;
	if (r < 0) {
		assert_int_equal(len, 0);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

static char *repeat(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst + n;
}

static void test_tracestate_valid(void **state)
{
	const char *const two[] = { "foo=1, bar=2", " baz=3 " };
	struct tracectx_stats st = { 0 };
	char out[64];
	size_t len;
	int n;

	assert_string_equal(ts1("rojo=00f067aa0ba902b7", &n),
			    "rojo=00f067aa0ba902b7");
	assert_int_equal(n, 1);
	assert_string_equal(
		ts1("rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE, "
		    "t61rcwkgmzfdkhzx@dt=fw4;0;0;0 , 1tenant@vendor=x, "
		    "a-b_c*d/e=v, a9@z_1-*/=w", &n),
		"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,"
		"t61rcwkgmzfdkhzx@dt=fw4;0;0;0,1tenant@vendor=x,"
		"a-b_c*d/e=v,a9@z_1-*/=w");
	assert_int_equal(n, 6);
	/* empty members are skipped; leading spaces belong to the value */
	assert_string_equal(ts1(",,foo=1,,  ,\t, bar= 2 x,", &n),
			    "foo=1,bar= 2 x");
	assert_int_equal(n, 2);
	assert_string_equal(ts1("", &n), "");
	assert_int_equal(n, 0);
	assert_string_equal(ts1(" , ", &n), "");
	assert_string_equal(ts1("k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~", NULL),
			    "k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~");

	/* two headers are one list */
	assert_int_equal(ts(two, 2, out, sizeof(out), &len, &st), 3);
	assert_int_equal(len, strlen("foo=1,bar=2,baz=3"));
	assert_memory_equal(out, "foo=1,bar=2,baz=3", len);
	assert_int_equal(st.tracestate_dropped, 0);
	assert_int_equal(st.tracestate_invalid, 0);
}

static void test_tracestate_keys(void **state)
{
	char buf[1024], *p;

	/* simple-key: 1 + 255 */
	p = repeat(buf, 'a', 256);
	strcpy(p, "=v");
	assert_non_null(ts1(buf, NULL));
	p = repeat(buf, 'a', 257);
	strcpy(p, "=v");
	assert_null(ts1(buf, NULL));

	/* tenant-id: 1 + 240, system-id: 1 + 13 */
	p = repeat(buf, '1', 241);
	strcpy(p, "@vendor=v");
	assert_non_null(ts1(buf, NULL));
	p = repeat(buf, '1', 242);
	strcpy(p, "@vendor=v");
	assert_null(ts1(buf, NULL));
	p = repeat(buf, 't', 1);
	p = repeat(p, '@', 1);
	p = repeat(p, 's', 14);
	strcpy(p, "=v");
	assert_non_null(ts1(buf, NULL));
	p = repeat(buf, 't', 1);
	p = repeat(p, '@', 1);
	p = repeat(p, 's', 15);
	strcpy(p, "=v");
	assert_null(ts1(buf, NULL));

	/* value: 1-256 */
	p = repeat(buf, 'k', 1);
	p = repeat(p, '=', 1);
	repeat(p, 'v', 256);
	assert_non_null(ts1(buf, NULL));
	repeat(p, 'v', 257);
	assert_null(ts1(buf, NULL));

	assert_null(ts1("Foo=bar", NULL));
	assert_null(ts1("1foo=bar", NULL));
	assert_null(ts1("_foo=bar", NULL));
	assert_null(ts1("foo.bar=x", NULL));
	assert_null(ts1("foo =bar", NULL));
	assert_null(ts1("foo=bar,=x", NULL));
	assert_null(ts1("foo=bar,baz", NULL));
	assert_null(ts1("foo=", NULL));
	assert_null(ts1("foo=   ", NULL));
	assert_null(ts1("foo=b=ar", NULL));
	assert_null(ts1("foo=b\x7f", NULL));
	assert_null(ts1("foo=b\x80", NULL));
	assert_null(ts1("foo=b\tr", NULL));
	assert_null(ts1("@vendor=x", NULL));
	assert_null(ts1("tenant@=x", NULL));
	assert_null(ts1("tenant@1vendor=x", NULL));
	assert_null(ts1("t@v@w=x", NULL));
	assert_null(ts1("Tenant@vendor=x", NULL));
	assert_null(ts1("ok=1,Bad=2", NULL));
}

static void test_tracestate_duplicates(void **state)
{
	const char *const two[] = { "foo=1,bar=2", "foo=3" };
	struct tracectx_stats st = { 0 };
	char out[64];
	size_t len = 99;

	assert_null(ts1("foo=1,bar=2,foo=1", NULL));
	assert_null(ts1("t@v=1,t@v=2", NULL));
	assert_non_null(ts1("t@v=1,t@w=2,v=3,t=4", NULL));
	assert_int_equal(ts(two, 2, out, sizeof(out), &len, &st), -1);
	assert_int_equal(len, 0);
	assert_int_equal(st.tracestate_invalid, 1);
}

/* n members "kNN=vNN"; member long_at (if < n) gets a 200-byte value. */
static void members(char *buf, size_t n, size_t long_at)
{
	size_t i;
	char *p = buf;

	*p = '\0';
	for (i = 0; i < n; i++) {
		p += sprintf(p, "%sk%02zu=", i ? "," : "", i);
		if (i == long_at)
			p = repeat(p, 'x', 200);
		else
			p += sprintf(p, "v%02zu", i);
	}
}

static void test_tracestate_limits(void **state)
{
	struct tracectx_stats st = { 0 };
	char buf[4096], want[4096], out[TRACECTX_TRACESTATE_MAX];
	const char *v = buf;
	size_t len;
	int n;

	members(buf, 32, 99);
	assert_string_equal(ts1(buf, &n), buf);
	assert_int_equal(n, 32);

	/* 33 short members: all gone */
	members(buf, 33, 99);
	assert_int_equal(ts(&v, 1, out, sizeof(out), &len, &st), -1);
	assert_int_equal(st.tracestate_too_many, 1);

	/* 33 with one long: the long one goes, the rest stay */
	members(buf, 33, 7);
	memset(&st, 0, sizeof(st));
	assert_int_equal(ts(&v, 1, out, sizeof(out), &len, &st), 32);
	assert_int_equal(st.tracestate_dropped, 1);
	{
		char *p = want;
		size_t i;

		for (i = 0; i < 33; i++) {
			if (i == 7)
				continue;
			p += sprintf(p, "%sk%02zu=v%02zu", p == want ? "" : ",",
				     i, i);
		}
	}
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);

	/* 34 with one long: still 33, all gone */
	members(buf, 34, 3);
	assert_null(ts1(buf, NULL));

	/* at most 32 members: a long member is kept */
	members(buf, 3, 1);
	assert_string_equal(ts1(buf, &n), buf);

	/* Over 128 scanned members: discarded, never overflowing */
	{
		char *p = buf;
		size_t i;

		for (i = 0; i < 200; i++)
			p += sprintf(p, "%sk%zu=1", i ? "," : "", i);
	}
	assert_null(ts1(buf, NULL));
}

static void test_tracestate_cap(void **state)
{
	struct tracectx_stats st = { 0 };
	char buf[4096], out[TRACECTX_TRACESTATE_MAX], *p = buf, small[10];
	const char *v = buf;
	size_t i, len;

	/* six 100-byte members: 605 bytes, five fit */
	for (i = 0; i < 6; i++) {
		p += sprintf(p, "%sk%zu=", i ? "," : "", i);
		p = repeat(p, 'a' + (char)i, 100 - 3);
	}
	assert_int_equal(ts(&v, 1, out, sizeof(out), &len, &st), 5);
	assert_int_equal(len, 504);
	assert_memory_equal(out, buf, 504);
	assert_int_equal(st.tracestate_dropped, 1);

	/* a long member in the middle goes first */
	p = buf;
	for (i = 0; i < 5; i++) {
		p += sprintf(p, "%sk%zu=", i ? "," : "", i);
		p = repeat(p, 'a' + (char)i, i == 1 ? 200 : 97);
	}
	assert_int_equal(ts(&v, 1, out, sizeof(out), &len, &st), 4);
	assert_int_equal(len, 403);
	assert_null(memmem(out, len, "k1=", 3));
	assert_non_null(memmem(out, len, "k4=", 3));

	/* tiny buffers */
	v = "a=1,b=2,c=3";
	assert_int_equal(ts(&v, 1, small, 7, &len, NULL), 2);
	assert_int_equal(len, 7);
	assert_memory_equal(small, "a=1,b=2", 7);
	assert_int_equal(ts(&v, 1, small, 2, &len, NULL), 0);
	assert_int_equal(len, 0);
	assert_int_equal(ts(&v, 1, NULL, 0, &len, NULL), 0);
}

static void test_tracestate_prefixes(void **state)
{
	static const char v[] = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE, "
				"t61rcwkgmzfdkhzx@dt=fw4;0;0;0";
	char out[TRACECTX_TRACESTATE_MAX];
	const char *p;
	size_t cut, len;
	int r;

	for (cut = 0; cut <= sizeof(v) - 1; cut++) {
		p = gputn(v, cut);
		r = tracectx_parse_tracestate(&p, &cut, 1, out, sizeof(out),
					      &len, NULL);
		assert_true(r >= -1 && r <= 3);
		assert_true(len <= cut);
		if (r > 0)
			assert_memory_equal(out, "rojo=", 5);
	}
}

/* ---- extraction from header arrays ---- */

static void test_extract_w3c(void **state)
{
	struct tracectx_stats st = { 0 };
	struct http1_header h[6];
	struct tracectx c;

	hdr(&h[0], "Host", "example.com");
	hdr(&h[1], "TraceParent", TP);
	hdr(&h[2], "TRACESTATE", "a=1 , b=2");
	hdr(&h[3], "tracestate", "c=3");
	assert_int_equal(tracectx_extract(h, 4, TRACECTX_W3C, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_TRACECONTEXT);
	assert_ids(&c, TID, SID);
	assert_string_equal(c.tracestate, "a=1,b=2,c=3");
	assert_int_equal(c.tracestate_len, 11);

	/* a duplicated traceparent restarts the trace */
	hdr(&h[4], "traceparent", TP);
	assert_int_equal(tracectx_extract(h, 5, TRACECTX_W3C, &c, &st), 0);
	assert_false(c.valid);
	assert_int_equal(st.traceparent_duplicate, 1);
	hdr(&h[4], "traceparent", "00-" TID "-" SID "-00");
	assert_int_equal(tracectx_extract(h, 5, TRACECTX_W3C, &c, &st), 0);

	/* a bad tracestate leaves the traceparent */
	hdr(&h[3], "tracestate", "a=9");
	assert_int_equal(tracectx_extract(h, 4, TRACECTX_W3C, &c, &st), 1);
	assert_int_equal(c.tracestate_len, 0);
	assert_string_equal(c.tracestate, "");
	assert_int_equal(st.tracestate_invalid, 1);

	/* a bad traceparent: no context, tracestate ignored */
	hdr(&h[1], "traceparent", "00-" TID "-" SID "-0");
	assert_int_equal(tracectx_extract(h, 4, TRACECTX_W3C, &c, &st), 0);
	assert_true(zeroed(&c));
	assert_int_equal(st.traceparent_invalid, 1);
	assert_int_equal(st.tracestate_invalid, 1);

	/* mask without W3C ignores it */
	hdr(&h[1], "traceparent", TP);
	assert_int_equal(tracectx_extract(h, 4, TRACECTX_B3, &c, &st), 0);
	assert_int_equal(tracectx_extract(h, 0, TRACECTX_W3C, &c, &st), 0);
	assert_int_equal(tracectx_extract(NULL, 0, ~0u, &c, NULL), 0);
}

static void test_extract_precedence(void **state)
{
	static const unsigned all = TRACECTX_W3C | TRACECTX_B3 |
				    TRACECTX_B3MULTI | TRACECTX_JAEGER;
	struct tracectx_stats st = { 0 };
	struct http1_header h[8];
	struct tracectx c;

	hdr(&h[0], "uber-trace-id", "1:2:0:1");
	hdr(&h[1], "X-B3-TraceId", "0000000000000003");
	hdr(&h[2], "X-B3-SpanId", "0000000000000004");
	hdr(&h[3], "B3", "0000000000000005-0000000000000006-1");
	hdr(&h[4], "traceparent", TP);

	assert_int_equal(tracectx_extract(h, 5, all, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_TRACECONTEXT);
	assert_int_equal(tracectx_extract(h, 4, all, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_B3);
	assert_int_equal(c.span_id[7], 6);
	assert_int_equal(tracectx_extract(h, 3, all, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_B3MULTI);
	assert_int_equal(c.span_id[7], 4);
	assert_int_equal(tracectx_extract(h, 1, all, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_JAEGER);
	assert_int_equal(c.span_id[7], 2);
	assert_int_equal(tracectx_extract(h, 5, TRACECTX_JAEGER, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_JAEGER);

	/* invalid ones are counted and skipped */
	hdr(&h[4], "traceparent", "00-" TID "-" SID "-0x");
	hdr(&h[3], "b3", "bogus");
	assert_int_equal(tracectx_extract(h, 5, all, &c, &st), 1);
	assert_int_equal(c.source, TRACECTX_SRC_B3MULTI);
	assert_int_equal(st.traceparent_invalid, 1);
	assert_int_equal(st.b3_invalid, 1);

	/* a sampling decision alone survives */
	hdr(&h[0], "b3", "d");
	assert_int_equal(tracectx_extract(h, 1, all, &c, &st), 0);
	assert_false(c.valid);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DEBUG);
	assert_int_equal(c.flags, 1);
	hdr(&h[0], "x-b3-sampled", "0");
	assert_int_equal(tracectx_extract(h, 1, all, &c, &st), 0);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);
	assert_int_equal(c.flags, 0);

	/* repeated b3 / uber-trace-id */
	hdr(&h[0], "b3", "0000000000000005-0000000000000006");
	hdr(&h[1], "b3", "0000000000000005-0000000000000006");
	hdr(&h[2], "uber-trace-id", "1:2:0:1");
	hdr(&h[3], "uber-trace-id", "1:2:0:1");
	memset(&st, 0, sizeof(st));
	assert_int_equal(tracectx_extract(h, 4, all, &c, &st), 0);
	assert_int_equal(st.b3_invalid, 1);
	assert_int_equal(st.jaeger_invalid, 1);
}

/* ---- B3 ---- */

#define B3T	"80f198ee56343ba864fe8b2a57d3eff7"
#define B3S	"e457b5a2e4d86bd1"
#define B3P	"05e3ac9a4f6e3b90"

static int b3(const char *s, struct tracectx *c)
{
	return tracectx_parse_b3(gput(s), strlen(s), c);
}

static void test_b3_single(void **state)
{
	static const char *const bad[] = {
		"", "2", "x", "D", "00",
		B3T,
		B3T "-",
		B3T "-" B3S "-",
		B3T "-" B3S "-2",
		B3T "-" B3S "-11",
		B3T "-" B3S "-1-",
		B3T "-" B3S "-1-" B3P "0",
		B3T "-" B3S "-1-05e3ac9a4f6e3b9",
		B3T "-" B3S "-1-0000000000000000",
		B3T "-" B3S "--" B3P,
		B3T "-" B3S "-" B3P,
		"80f198ee56343ba864fe8b2a57d3eff-" B3S,
		"0" B3T "-" B3S,
		"64fe8b2a57d3eff-" B3S,
		"64fe8b2a57d3eff77-" B3S,
		B3T "-e457b5a2e4d86bd",
		B3T "-e457b5a2e4d86bd11",
		"80F198EE56343BA864FE8B2A57D3EFF7-" B3S,
		B3T "-E457B5A2E4D86BD1",
		"00000000000000000000000000000000-" B3S,
		"0000000000000000-" B3S,
		B3T "-0000000000000000",
		B3T "-" B3S "-1-" B3P "-x",
		B3T "_" B3S,
	};
	static const char full[] = B3T "-" B3S "-1-" B3P;
	struct tracectx c;
	size_t i, cut;
	int r;

	assert_int_equal(b3(full, &c), 1);
	assert_int_equal(c.source, TRACECTX_SRC_B3);
	assert_ids(&c, B3T, B3S);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(c.flags, 1);

	assert_int_equal(b3("64fe8b2a57d3eff7-" B3S, &c), 1);
	assert_ids(&c, "000000000000000064fe8b2a57d3eff7", B3S);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_UNSET);
	assert_int_equal(c.flags, 0);
	assert_int_equal(b3(" " B3T "-" B3S "-0 ", &c), 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);
	assert_int_equal(b3(B3T "-" B3S "-d-" B3P, &c), 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DEBUG);
	assert_int_equal(c.flags, 1);

	assert_int_equal(b3("0", &c), 0);
	assert_false(c.valid);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);
	assert_int_equal(b3("1", &c), 0);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(b3(" d\t", &c), 0);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DEBUG);
	assert_int_equal(c.flags, 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		if (b3(bad[i], &c) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_true(zeroed(&c));
	}

	/* prefixes: ids alone (49), with a state (51), full (68) */
	for (cut = 0; cut <= sizeof(full) - 1; cut++) {
		r = tracectx_parse_b3(gputn(full, cut), cut, &c);
		assert_int_equal(r, cut == 49 || cut == 51 || cut == 68 ?
				 1 : -1);
	}
}

static int b3m(const char *const *kv, size_t n, struct tracectx *c)
{
	struct http1_header h[8];
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		hdr(&h[i], kv[2 * i], kv[2 * i + 1]);
	return tracectx_parse_b3_multi(h, n, c);
}

static void test_b3_multi(void **state)
{
	const char *const full[] = {
		"X-B3-TraceId", B3T, "x-b3-spanid", B3S,
		"X-B3-PARENTSPANID", B3P, "X-B3-Sampled", "1",
	};
	const char *const short_t[] = {
		"X-B3-TraceId", "64fe8b2a57d3eff7", "X-B3-SpanId", B3S,
		"X-B3-Sampled", "true",
	};
	const char *const sfalse[] = {
		"X-B3-TraceId", B3T, "X-B3-SpanId", B3S,
		"X-B3-Sampled", "false",
	};
	const char *const dbg[] = {
		"X-B3-TraceId", B3T, "X-B3-SpanId", B3S,
		"X-B3-Sampled", "0", "X-B3-Flags", "1",
	};
	const char *const only_sampled[] = { "X-B3-Sampled", " 1 " };
	const char *const only_flags[] = { "x-b3-flags", "1" };
	const char *const none[] = { "Host", "x" };
	const char *const bad[][8] = {
		{ "X-B3-TraceId", B3T },
		{ "X-B3-SpanId", B3S },
		{ "X-B3-ParentSpanId", B3P },
		{ "X-B3-TraceId", B3T, "X-B3-SpanId", B3S,
		  "X-B3-Sampled", "yes" },
		{ "X-B3-TraceId", B3T, "X-B3-SpanId", B3S,
		  "X-B3-Flags", "2" },
		{ "X-B3-TraceId", B3T, "X-B3-SpanId", B3S,
		  "X-B3-TraceId", B3T },
		{ "X-B3-Sampled", "1", "X-B3-Sampled", "1" },
		{ "X-B3-TraceId", B3T, "X-B3-SpanId", "e457b5a2e4d86bd" },
		{ "X-B3-TraceId", "80F198EE56343BA864FE8B2A57D3EFF7",
		  "X-B3-SpanId", B3S },
		{ "X-B3-TraceId", B3T, "X-B3-SpanId", "0000000000000000" },
		{ "X-B3-TraceId", B3T, "X-B3-SpanId", B3S,
		  "X-B3-ParentSpanId", "xyz" },
	};
	static const size_t bad_n[] = { 1, 1, 1, 3, 3, 3, 2, 2, 2, 2, 3 };
	struct tracectx c;
	size_t i;

	assert_int_equal(b3m(full, 4, &c), 1);
	assert_int_equal(c.source, TRACECTX_SRC_B3MULTI);
	assert_ids(&c, B3T, B3S);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);

	assert_int_equal(b3m(short_t, 3, &c), 1);
	assert_ids(&c, "000000000000000064fe8b2a57d3eff7", B3S);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(c.flags, 1);
	assert_int_equal(b3m(short_t, 2, &c), 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_UNSET);

	assert_int_equal(b3m(sfalse, 3, &c), 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);
	assert_int_equal(c.flags, 0);

	assert_int_equal(b3m(dbg, 4, &c), 1);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DEBUG);
	assert_int_equal(c.flags, 1);

	assert_int_equal(b3m(only_sampled, 1, &c), 0);
	assert_false(c.valid);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(b3m(only_flags, 1, &c), 0);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DEBUG);
	assert_int_equal(b3m(none, 1, &c), 0);
	assert_true(zeroed(&c));

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		if (b3m(bad[i], bad_n[i], &c) != -1)
			fail_msg("accepted case %zu", i);
		assert_true(zeroed(&c));
	}
}

/* ---- Jaeger ---- */

static int jg(const char *s, struct tracectx *c)
{
	return tracectx_parse_jaeger(gput(s), strlen(s), c);
}

static void test_jaeger(void **state)
{
	static const char *const bad[] = {
		"", ":::", "1:2:0", "1:2:0:1:", "1:2::1", ":2:0:1", "1::0:1",
		"1:2:0:", "0:2:0:1", "00000000000000000000000000000000:2:0:1",
		"1:0:0:1", "1:0000000000000000:0:1", "1:2:0:100",
		"14bf92f3577b34da6a3ce929d0e0e4736:2:0:1",
		"1:100f067aa0ba902b7:0:1", "1:2:100f067aa0ba902b7:1",
		"1:2:0:g", "x:2:0:1", "1 :2:0:1", "1:2:0:1%", "1%3:2:0:1",
		"1%3A2%3A0%3", "1%zz2:0:1", "1-2-0-1",
		TID "%3A" SID "%3A" SID "%3A01%3A",
	};
	static const char plain[] = TID ":" SID ":0:1";
	static const char enc[] = TID "%3A" SID "%3a0%3A3";
	struct tracectx c;
	size_t i, cut;

	assert_int_equal(jg(plain, &c), 1);
	assert_int_equal(c.source, TRACECTX_SRC_JAEGER);
	assert_ids(&c, TID, SID);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_SAMPLE);
	assert_int_equal(c.flags, 1);

	assert_int_equal(jg(enc, &c), 1);
	assert_ids(&c, TID, SID);
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DEBUG);
	assert_int_equal(c.flags, 1);

	assert_int_equal(jg(" abc:DEF:0:0 ", &c), 1);
	assert_ids(&c, "00000000000000000000000000000abc", "0000000000000def");
	assert_int_equal(c.sampling, TRACECTX_SAMPLING_DROP);
	assert_int_equal(c.flags, 0);
	assert_int_equal(jg("1:2:" SID ":01", &c), 1);
	assert_int_equal(jg("%31:2:0:1", &c), 1);
	assert_int_equal(c.trace_id[15], 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0xa5, sizeof(c));
		if (jg(bad[i], &c) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_true(zeroed(&c));
	}

	for (cut = 0; cut <= sizeof(plain) - 1; cut++)
		assert_int_equal(tracectx_parse_jaeger(gputn(plain, cut), cut,
						       &c),
				 cut == sizeof(plain) - 1 ? 1 : -1);
	for (cut = 0; cut <= sizeof(enc) - 1; cut++)
		assert_int_equal(tracectx_parse_jaeger(gputn(enc, cut), cut,
						       &c),
				 cut == sizeof(enc) - 1 ? 1 : -1);
}

/* ---- baggage ---- */

static ssize_t bg(const char *v, const char *key, char *out, size_t cap)
{
	ssize_t r = tracectx_baggage_get(gput(v), strlen(v), gput(key),
					 strlen(key), out, cap);

	if (r >= 0 && (size_t)r < cap)
		out[r] = '\0';
	return r;
}

/* --baggage-attributes keys become attribute keys written unescaped: only
 * tokens pass. */
static void test_baggage_key_ok(void **state)
{
	static const char *const good[] = { "tenant", "user.tier", "a", "Az09!#$%&'*+-.^_`|~" };
	static const char *const bad[] = { "", "a b", "a\"b", "a\\b", "a,b", "a;b", "a=b",
					   "caf\xc3\xa9", "a\tb", "a\x7f", "(x)", "{x}" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(tracectx_baggage_key_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(tracectx_baggage_key_ok(bad[i]));
}

static void test_baggage_get(void **state)
{
	static const char v[] = " userId=alice , serverNode = DF%2028 ;"
				" prop1 ; p2 = v2,isProduction=false,"
				"euro=%E2%82%AC,empty=,pct=%zz%4,"
				"bad=%FF%C3x%E2%82";
	char out[64];

	assert_int_equal(bg(v, "userId", out, sizeof(out)), 5);
	assert_string_equal(out, "alice");
	assert_int_equal(bg(v, "serverNode", out, sizeof(out)), 5);
	assert_string_equal(out, "DF 28");
	assert_int_equal(bg(v, "isProduction", out, sizeof(out)), 5);
	assert_string_equal(out, "false");
	assert_int_equal(bg(v, "euro", out, sizeof(out)), 3);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(bg(v, "empty", out, sizeof(out)), 0);
	assert_int_equal(bg(v, "pct", out, sizeof(out)), 5);
	assert_string_equal(out, "%zz%4");
	/* ill-formed UTF-8 becomes U+FFFD per maximal subpart */
	assert_int_equal(bg(v, "bad", out, sizeof(out)), 10);
	assert_string_equal(out, "\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbd");

	assert_int_equal(bg(v, "userid", out, sizeof(out)), -1);
	assert_int_equal(bg(v, "prop1", out, sizeof(out)), -1);
	assert_int_equal(bg(v, "p2", out, sizeof(out)), -1);
	assert_int_equal(bg(v, "absent", out, sizeof(out)), -1);
	assert_int_equal(bg("", "a", out, sizeof(out)), -1);
	assert_int_equal(tracectx_baggage_get(NULL, 0, "a", 1, out, 1), -1);

	/* truncation never splits a character */
	assert_int_equal(bg(v, "euro", out, 2), 0);
	assert_int_equal(bg(v, "userId", out, 3), 3);
	assert_memory_equal(out, "ali", 3);
	assert_int_equal(bg(v, "userId", NULL, 0), 0);

	/* malformed members are skipped, the last duplicate wins */
	assert_int_equal(bg("a b=1,k=1,=2,k2,k3=\"q\",k=2;,x=3", "x", out,
			    sizeof(out)), 1);
	assert_string_equal(out, "3");
	assert_int_equal(bg("k=1,k=2", "k", out, sizeof(out)), 1);
	assert_string_equal(out, "2");
	assert_int_equal(bg("k=1;p=\\,x=1", "k", out, sizeof(out)), -1);
	assert_int_equal(bg("k=1;;p,x=1", "k", out, sizeof(out)), -1);
	assert_int_equal(bg("k=1 2", "k", out, sizeof(out)), -1);
	assert_int_equal(bg("k\t=\t1\t;\tp\t=\tq\t", "k", out, sizeof(out)),
			 1);
}

static void test_baggage_lookup(void **state)
{
	struct tracectx_stats st = { 0 };
	struct http1_header h[4];
	char a[16], b[16], c[16];
	struct tracectx_baggage_item it[3] = {
		{ .key = "a", .key_len = 1, .out = a, .cap = sizeof(a) },
		{ .key = "b", .key_len = 1, .out = b, .cap = sizeof(b) },
		{ .key = "c", .key_len = 1, .out = c, .cap = 2 },
	};

	hdr(&h[0], "Baggage", "a=1, bad member");
	hdr(&h[1], "traceparent", TP);
	hdr(&h[2], "BAGGAGE", "c=%41%42%43,a=2");
	assert_int_equal(tracectx_baggage_lookup(h, 3, it, 3, &st), 2);
	assert_true(it[0].found);
	assert_int_equal(it[0].len, 1);
	assert_memory_equal(a, "2", 1);
	assert_false(it[1].found);
	assert_true(it[2].found);
	assert_true(it[2].truncated);
	assert_int_equal(it[2].len, 2);
	assert_memory_equal(c, "AB", 2);
	assert_int_equal(st.baggage_invalid, 1);

	assert_int_equal(tracectx_baggage_lookup(h, 2, it, 3, &st), 1);
	assert_int_equal(tracectx_baggage_lookup(h + 1, 1, it, 3, &st), 0);
	assert_false(it[0].found);
}

static void test_baggage_limits(void **state)
{
	struct tracectx_stats st = { 0 };
	static char buf[12000];
	struct http1_header h[2];
	char out[16], *p;
	struct tracectx_baggage_item it = {
		.key = "w", .key_len = 1, .out = out, .cap = sizeof(out),
	};
	size_t i;

	/* the 180th member counts, the 181st does not */
	p = buf;
	for (i = 0; i < 179; i++)
		p += sprintf(p, "k%zu=1,", i);
	strcpy(p, "w=yes");
	assert_int_equal(bg(buf, "w", out, sizeof(out)), 3);
	strcpy(p, "x=1,w=yes");
	assert_int_equal(bg(buf, "w", out, sizeof(out)), -1);

	/* ... also across headers */
	p = buf;
	for (i = 0; i < 100; i++)
		p += sprintf(p, "%sk%zu=1", i ? "," : "", i);
	hdr(&h[0], "baggage", buf);
	hdr(&h[1], "baggage", buf);
	it.key = "k99";
	it.key_len = 3;
	assert_int_equal(tracectx_baggage_lookup(h, 2, &it, 1, &st), 1);
	it.key = "k80";
	assert_int_equal(tracectx_baggage_lookup(h, 2, &it, 1, &st), 1);
	assert_int_equal(st.baggage_over_limit, 2);

	/* 8192 bytes in all */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "big=");
	memset(buf + 4, 'x', 8192 - 4 - 6);
	strcat(buf, ",w=123");
	assert_int_equal(strlen(buf), 8192);
	assert_int_equal(bg(buf, "w", out, sizeof(out)), 3);
	strcat(buf, "4");
	assert_int_equal(bg(buf, "w", out, sizeof(out)), -1);
	/* the byte budget counts the "," joining headers */
	buf[8192 - 6] = '\0';
	hdr(&h[0], "baggage", buf);
	hdr(&h[1], "baggage", "w=12345");
	it.key = "w";
	it.key_len = 1;
	assert_int_equal(tracectx_baggage_lookup(h, 2, &it, 1, &st), 0);
	hdr(&h[1], "baggage", "w=1234");
	assert_int_equal(tracectx_baggage_lookup(h, 2, &it, 1, &st), 0);
	hdr(&h[1], "baggage", "w=123");
	assert_int_equal(tracectx_baggage_lookup(h, 2, &it, 1, &st), 1);
}

static void test_baggage_prefixes(void **state)
{
	static const char v[] = "k1=v%201;p=q, k2 = %E2%82%AC ,k3=x";
	char out[8];
	size_t cut;
	ssize_t r;

	for (cut = 0; cut <= sizeof(v) - 1; cut++) {
		r = tracectx_baggage_get(gputn(v, cut), cut, "k2", 2, out,
					 sizeof(out));
		assert_true(r >= -1 && r <= (ssize_t)sizeof(out));
		r = tracectx_baggage_get(gputn(v, cut), cut, "k1", 2, out,
					 sizeof(out));
		assert_true(r >= -1 && r <= 3);
	}
}

/* ---- OTEL_PROPAGATORS ---- */

static void test_propagators(void **state)
{
	unsigned m = 12345;

	assert_int_equal(tracectx_propagators_parse(NULL, &m), 0);
	assert_int_equal(m, TRACECTX_W3C);
	assert_int_equal(tracectx_propagators_parse("", &m), 0);
	assert_int_equal(m, TRACECTX_W3C);
	assert_int_equal(tracectx_propagators_parse(" , ", &m), 0);
	assert_int_equal(m, TRACECTX_W3C);
	assert_int_equal(tracectx_propagators_parse(
		"tracecontext,baggage,b3,b3multi,jaeger", &m), 0);
	assert_int_equal(m, TRACECTX_W3C | TRACECTX_BAGGAGE | TRACECTX_B3 |
			 TRACECTX_B3MULTI | TRACECTX_JAEGER);
	assert_int_equal(tracectx_propagators_parse(" B3 ,\tJaeger ", &m), 0);
	assert_int_equal(m, TRACECTX_B3 | TRACECTX_JAEGER);
	assert_int_equal(tracectx_propagators_parse("none", &m), 0);
	assert_int_equal(m, 0);
	assert_int_equal(tracectx_propagators_parse("xray,b3multi", &m), -1);
	assert_int_equal(m, TRACECTX_B3MULTI);
	assert_int_equal(tracectx_propagators_parse("b3 multi", &m), -1);
	assert_int_equal(m, 0);
	assert_int_equal(tracectx_propagators_parse("tracecontext,", &m), 0);
	assert_int_equal(m, TRACECTX_W3C);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_traceparent_valid),
		cmocka_unit_test(test_traceparent_invalid),
		cmocka_unit_test(test_traceparent_future),
		cmocka_unit_test(test_traceparent_prefixes),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_tracestate_valid),
		cmocka_unit_test(test_tracestate_keys),
		cmocka_unit_test(test_tracestate_duplicates),
		cmocka_unit_test(test_tracestate_limits),
		cmocka_unit_test(test_tracestate_cap),
		cmocka_unit_test(test_tracestate_prefixes),
		cmocka_unit_test(test_extract_w3c),
		cmocka_unit_test(test_extract_precedence),
		cmocka_unit_test(test_b3_single),
		cmocka_unit_test(test_b3_multi),
		cmocka_unit_test(test_jaeger),
		cmocka_unit_test(test_baggage_key_ok),
		cmocka_unit_test(test_baggage_get),
		cmocka_unit_test(test_baggage_lookup),
		cmocka_unit_test(test_baggage_limits),
		cmocka_unit_test(test_baggage_prefixes),
		cmocka_unit_test(test_propagators),
	};

	return cmocka_run_group_tests(tests, guards_setup, guards_teardown);
}
