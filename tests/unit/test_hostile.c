// SPDX-License-Identifier: Apache-2.0
/* Hostile traffic against the session trackers, with the memory they hold
 * checked before and after: Content-Length 2^63, 100k headers, a chunked
 * stream that never ends (and a chunk size that never ends), and HPACK
 * table-size bombs. Each must cost at most one pool chunk per kind, leave
 * the counters telling what happened, and leave the connection usable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1session.h"
#include "h2session.h"
#include "ids.h"
#include "kspan.h"

#include "h2build.h"

#define MAX_SPANS 64
/* What one pool chunk of each kind may add (chunks are about 64 KiB): the
 * bound on a hostile connection's memory, whatever it sends. */
#define CHUNKS_CAP (192u << 10)

static struct span spans[MAX_SPANS];
static int nspans;
static uint64_t now = 1000;

static struct span *t_alloc(void *ctx)
{
	(void)ctx;
	return nspans < MAX_SPANS ? &spans[nspans] : NULL;
}

static void t_submit(void *ctx, struct span *s)
{
	(void)ctx;
	assert_ptr_equal(s, &spans[nspans]);
	nspans++;
}

static const char *sattr(const struct span *s, const char *key)
{
	static char buf[600];
	const struct span_attr *a = span_attr_find(s, key);

	if (!a)
		return NULL;
	snprintf(buf, sizeof(buf), "%.*s", a->v.s.len, span_attr_sval(s, a));
	return buf;
}

static int64_t iattr(const struct span *s, const char *key)
{
	const struct span_attr *a = span_attr_find(s, key);

	return a && a->type == SPAN_ATTR_INT ? a->v.i : -1;
}

static const uint8_t lo[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };

static struct h1_conn_info server_info(void)
{
	struct h1_conn_info ci = {
		.conn_id = 42, .pid = 7, .client = false, .local_addr = lo, .peer_addr = lo,
		.local_port = 8080, .peer_port = 40000, .seen_open = true,
	};
	return ci;
}

static struct h1_chunk chunk(const void *p, uint32_t cap, uint64_t len)
{
	struct h1_chunk ch = { .data = p, .cap_len = cap, .len = len, .start_ns = now,
			       .end_ns = now + 10, .tid = 5 };

	now += 100;
	return ch;
}

/* ---- HTTP/1 ---- */

static struct h1_ctx *h1;

static int h1_setup(void **state)
{
	struct h1_sink sink = { t_alloc, t_submit, NULL };

	(void)state;
	ids_init();
	/* Sized as kspan sizes them for 16384 connections. */
	h1 = h1_ctx_new(32768, 1040, sink);
	nspans = 0;
	return h1 ? 0 : -1;
}

static int h1_teardown(void **state)
{
	(void)state;
	h1_ctx_free(h1);
	return 0;
}

static void h1_feed_str(struct h1_session *s, const struct h1_conn_info *ci, bool req,
			const char *p)
{
	struct h1_chunk ch = chunk(p, strlen(p), strlen(p));

	h1_session_feed(h1, s, ci, req, &ch);
}

/* A plain exchange on the session: the connection is still traced right. */
static void h1_exchange_ok(struct h1_session *s, const struct h1_conn_info *ci,
			   const char *path)
{
	char req[128];
	int before = nspans;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	h1_feed_str(s, ci, true, req);
	h1_feed_str(s, ci, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(nspans, before + 1);
	assert_string_equal(sattr(&spans[before], "url.path"), path);
	assert_int_equal(iattr(&spans[before], "http.response.status_code"), 200);
}

static void test_content_length_2_63(void **state)
{
	struct h1_conn_info ci = server_info();
	const struct h1_stats *st = h1_ctx_stats(h1);
	size_t base = h1_ctx_bytes(h1);
	uint64_t errs = st->parse_errors, lost = st->lost_events, unanswered = st->unanswered;
	static char body[4096];
	struct h1_session s;

	(void)state;
	nspans = 0;
	memset(body, 'b', sizeof(body));
	/* Request: not a length kspan can believe; the body after it is not
	 * taken for messages. */
	h1_session_init(&s);
	h1_feed_str(&s, &ci, true, "POST /up HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n");
	assert_int_equal(st->parse_errors, errs + 1);
	for (int i = 0; i < 100; i++) {
		struct h1_chunk ch = chunk(body, sizeof(body), sizeof(body));

		h1_session_feed(h1, &s, &ci, true, &ch);
	}
	assert_int_equal(st->lost_events, lost + 100);
	assert_int_equal(nspans, 0);
	h1_exchange_ok(&s, &ci, "/after-request");
	h1_session_close(h1, &s, &ci);
	/* Response: the same, from the other side. */
	h1_session_init(&s);
	h1_feed_str(&s, &ci, true, "GET /r HTTP/1.1\r\n\r\n");
	h1_feed_str(&s, &ci, false, "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n");
	assert_int_equal(st->parse_errors, errs + 2);
	h1_session_close(h1, &s, &ci);
	assert_int_equal(st->unanswered, unanswered + 1);
	assert_int_equal(nspans, 1);
	/* 2^62 is a length kspan follows: 1 TiB of body costs nothing. */
	h1_session_init(&s);
	h1_feed_str(&s, &ci, true, "GET /big HTTP/1.1\r\n\r\n");
	h1_feed_str(&s, &ci, false, "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\n");
	for (int i = 0; i < 1024; i++) {
		struct h1_chunk ch = chunk(body, 0, 1ull << 30);	/* length only */

		h1_session_feed(h1, &s, &ci, false, &ch);
	}
	assert_int_equal(s.resp.state, H1S_BODY_LEN);
	assert_true(h1_ctx_bytes(h1) <= base + CHUNKS_CAP);
	/* Closed mid-body: the exchange ends as a span all the same. */
	h1_session_close(h1, &s, &ci);
	assert_int_equal(nspans, 2);
	assert_string_equal(sattr(&spans[1], "url.path"), "/big");
}

static void test_100k_headers(void **state)
{
	struct h1_conn_info ci = server_info();
	const struct h1_stats *st = h1_ctx_stats(h1);
	size_t base = h1_ctx_bytes(h1), len = 0, n;
	uint64_t errs = st->parse_errors, big = st->head_too_large;
	const char *line = "X-Header-Number: 1234567\r\n";
	char *head = malloc(100000 * strlen(line) + 64);
	struct h1_session s;

	(void)state;
	nspans = 0;
	len = sprintf(head, "GET /many HTTP/1.1\r\n");
	for (int i = 0; i < 100000; i++)
		len += sprintf(head + len, "X-Header-Number: %07d\r\n", i);
	len += sprintf(head + len, "\r\n");
	/* All captured, 4 KiB per read: buffered until it cannot be a head. */
	h1_session_init(&s);
	for (size_t off = 0; off < len; off += n) {
		struct h1_chunk ch;

		n = len - off < 4096 ? len - off : 4096;
		ch = chunk(head + off, n, n);
		h1_session_feed(h1, &s, &ci, true, &ch);
		assert_true(h1_ctx_bytes(h1) <= base + CHUNKS_CAP);
	}
	assert_int_equal(st->parse_errors + st->head_too_large, errs + big + 1);
	assert_int_equal(nspans, 0);
	h1_exchange_ok(&s, &ci, "/after-headers");
	/* One read of it all, of which 2048 bytes were captured. */
	{
		struct h1_chunk ch = chunk(head, 2048, len);

		h1_session_feed(h1, &s, &ci, true, &ch);
	}
	assert_int_equal(st->parse_errors + st->head_too_large, errs + big + 2);
	h1_exchange_ok(&s, &ci, "/after-one-read");
	assert_true(h1_ctx_bytes(h1) <= base + CHUNKS_CAP);
	h1_session_close(h1, &s, &ci);
	free(head);
}

static void test_endless_chunked(void **state)
{
	struct h1_conn_info ci = server_info();
	const struct h1_stats *st = h1_ctx_stats(h1);
	size_t base = h1_ctx_bytes(h1);
	static char piece[6 + 4096 + 2];
	static char digits[8192];
	uint64_t errs;
	struct h1_session s;

	(void)state;
	nspans = 0;
	memcpy(piece, "1000\r\n", 6);
	memset(piece + 6, 'c', 4096);
	memcpy(piece + 6 + 4096, "\r\n", 2);
	/* A request body of 20000 chunks (80 MiB), answered early, then ended. */
	h1_session_init(&s);
	h1_feed_str(&s, &ci, true, "POST /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 20000; i++) {
		struct h1_chunk ch = chunk(piece, sizeof(piece), sizeof(piece));

		h1_session_feed(h1, &s, &ci, true, &ch);
	}
	assert_int_equal(s.req.state, H1S_BODY_CHUNKED);
	h1_feed_str(&s, &ci, true, "0\r\n\r\n");
	h1_feed_str(&s, &ci, false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	assert_int_equal(nspans, 1);
	assert_int_equal(iattr(&spans[0], "http.request.body.size"), 20000 * 4096);
	assert_true(h1_ctx_bytes(h1) <= base + CHUNKS_CAP);
	/* A response that streams chunks forever, until the connection ends. */
	h1_feed_str(&s, &ci, true, "GET /forever HTTP/1.1\r\n\r\n");
	h1_feed_str(&s, &ci, false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 20000; i++) {
		struct h1_chunk ch = chunk(piece, sizeof(piece), sizeof(piece));

		h1_session_feed(h1, &s, &ci, false, &ch);
	}
	assert_int_equal(s.resp.state, H1S_BODY_CHUNKED);
	assert_int_equal(nspans, 1);
	/* A chunk size that never ends: hex digits past any 64-bit size. */
	memset(digits, 'f', sizeof(digits));
	errs = st->parse_errors;
	for (int i = 0; i < 100; i++) {
		struct h1_chunk ch = chunk(digits, sizeof(digits), sizeof(digits));

		h1_session_feed(h1, &s, &ci, false, &ch);
	}
	assert_int_equal(st->parse_errors, errs + 1);
	assert_true(h1_ctx_bytes(h1) <= base + CHUNKS_CAP);
	h1_session_close(h1, &s, &ci);
	assert_int_equal(nspans, 2);
	assert_string_equal(sattr(&spans[1], "url.path"), "/forever");
}

/* ---- HTTP/2: HPACK table-size bombs ---- */

static void put_lit(struct bytes *o, uint32_t name_idx, const char *name, const char *value,
		    size_t vlen)
{
	put_int(o, 0x40, 6, name_idx);		/* with incremental indexing */
	if (!name_idx)
		put_str(o, name);
	put_int(o, 0, 7, vlen);
	put(o, value, vlen);
}

static struct h2_ctx *h2;

static void h2_feed(int32_t s, const struct h1_conn_info *ci, bool egress, const struct bytes *b)
{
	struct h1_chunk ch = chunk(b->b, b->n, b->n);

	h2_session_feed(h2, s, ci, egress, &ch);
}

static void test_hpack_table_size_bomb(void **state)
{
	struct h1_sink sink = { t_alloc, t_submit, NULL };
	struct h1_conn_info ci = server_info();
	static char big[4000];
	struct bytes b, hb;
	struct h2_session *sess;
	size_t base;
	int32_t s;

	(void)state;
	nspans = 0;
	/* Sized as kspan sizes them for 16384 connections. */
	h2 = h2_ctx_new(272, 4352, 72, sink);
	assert_non_null(h2);
	base = h2_ctx_bytes(h2);
	memset(big, 'z', sizeof(big));
	s = h2_session_open(h2, true, KSPAN_ROLE_SERVER);
	assert_true(s >= 0);
	sess = h2_session_get(h2, s);
	/* The client's preface; the server allows a table of 2^32 - 1 bytes. */
	b.n = 0;
	put(&b, H2_PREFACE, H2_PREFACE_LEN);
	frame(&b, H2_SETTINGS, 0, 0, "", 0);
	h2_feed(s, &ci, false, &b);
	b.n = 0;
	frame(&b, H2_SETTINGS, 0, 0, "\x00\x01\xff\xff\xff\xff", 6);
	h2_feed(s, &ci, true, &b);
	/* 200 requests, each growing the table by 12 KB towards 2^28 - 1. */
	for (uint32_t i = 0; i < 200; i++) {
		char path[32];

		hb.n = 0;
		if (i == 0)
			put_int(&hb, 0x20, 5, (1u << 28) - 1);	/* size update */
		put_int(&hb, 0x80, 7, 2);			/* :method GET */
		put_int(&hb, 0x80, 7, 6);			/* :scheme http */
		snprintf(path, sizeof(path), "/bomb/%u", i);
		put_int(&hb, 0x00, 4, 4);			/* :path, not indexed */
		put_int(&hb, 0, 7, strlen(path));
		put(&hb, path, strlen(path));
		for (int k = 0; k < 3; k++)
			put_lit(&hb, 0, "x-bomb", big, sizeof(big));
		b.n = 0;
		frame(&b, H2_HEADERS, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS, 2 * i + 1,
		      hb.b, hb.n);
		h2_feed(s, &ci, false, &b);
		/* Held: at most the ring, whatever the peer believes. */
		assert_true(hpack_table_size(&sess->dir[1].hp) <= HPACK_RING);
		b.n = 0;
		hb.n = 0;
		put_int(&hb, 0x80, 7, 8);			/* :status 200 */
		frame(&b, H2_HEADERS, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS, 2 * i + 1,
		      hb.b, hb.n);
		h2_feed(s, &ci, true, &b);
	}
	assert_int_equal(nspans, 64);		/* the test's span pool is full */
	assert_string_equal(sattr(&spans[0], "url.path"), "/bomb/0");
	assert_int_equal(h2_ctx_stats(h2)->hpack_errors, 0);
	/* Fields naming entries long gone from the ring are unknown, never
	 * wrong: a request that indexes the oldest entry still has its path. */
	nspans = 0;
	hb.n = 0;
	put_int(&hb, 0x80, 7, 2);
	put_int(&hb, 0x80, 7, 6);
	put_int(&hb, 0x00, 4, 4);
	put_int(&hb, 0, 7, 6);
	put(&hb, "/after", 6);
	put_int(&hb, 0x80, 7, 61 + 600);		/* the first x-bomb */
	b.n = 0;
	frame(&b, H2_HEADERS, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS, 1001, hb.b, hb.n);
	h2_feed(s, &ci, false, &b);
	b.n = 0;
	hb.n = 0;
	put_int(&hb, 0x80, 7, 8);
	frame(&b, H2_HEADERS, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS, 1001, hb.b, hb.n);
	h2_feed(s, &ci, true, &b);
	assert_int_equal(nspans, 1);
	assert_string_equal(sattr(&spans[0], "url.path"), "/after");
	assert_int_equal(iattr(&spans[0], "http.response.status_code"), 200);
	assert_true(sess->dir[1].hp.unknown_refs > 0);
	/* A block of 2000 size updates (up and down) is only bytes too. */
	hb.n = 0;
	for (int i = 0; i < 1000; i++) {
		put_int(&hb, 0x20, 5, 0);
		put_int(&hb, 0x20, 5, (1u << 28) - 1);
	}
	put_int(&hb, 0x80, 7, 2);
	put_int(&hb, 0x80, 7, 6);
	put_int(&hb, 0x80, 7, 4);			/* :path / */
	b.n = 0;
	frame(&b, H2_HEADERS, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS, 1003, hb.b, hb.n);
	h2_feed(s, &ci, false, &b);
	assert_int_equal(h2_ctx_stats(h2)->hpack_errors, 0);
	assert_int_equal(h2_ctx_stats(h2)->requests, 202);
	assert_true(h2_ctx_bytes(h2) <= base + CHUNKS_CAP);
	h2_session_close(h2, s, &ci);
	h2_ctx_free(h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length_2_63),
		cmocka_unit_test(test_100k_headers),
		cmocka_unit_test(test_endless_chunked),
		cmocka_unit_test(test_hpack_table_size_bomb),
	};

	return cmocka_run_group_tests(tests, h1_setup, h1_teardown);
}
