// SPDX-License-Identifier: Apache-2.0
/* The HTTP/1 session tracker fed recorded exchanges: whole, cut at every
 * point, one byte at a time, started mid-stream, and with capture cut short. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1session.h"
#include "ids.h"
#include "nest.h"

#define MAX_SPANS 64

static struct span spans[MAX_SPANS];
static int nspans;
static bool refuse_alloc;

static struct span *t_alloc(void *ctx)
{
	(void)ctx;
	if (refuse_alloc || nspans >= MAX_SPANS)
		return NULL;
	return &spans[nspans];
}

static void t_submit(void *ctx, struct span *s)
{
	(void)ctx;
	assert_ptr_equal(s, &spans[nspans]);
	nspans++;
}

static const uint8_t lo[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };

static struct h1_conn_info info(bool client)
{
	struct h1_conn_info ci = {
		.conn_id = 42, .pid = 7, .client = client,
		.local_addr = lo, .peer_addr = lo,
		.local_port = client ? 40000 : 8080, .peer_port = client ? 8080 : 40000,
	};
	return ci;
}

static const char *sattr(const struct span *s, const char *key)
{
	static char buf[600];
	const struct span_attr *a = span_attr_find(s, key);

	if (!a)
		return NULL;
	assert_int_equal(a->type, SPAN_ATTR_STR);
	snprintf(buf, sizeof(buf), "%.*s", a->v.s.len, span_attr_sval(s, a));
	return buf;
}

static int64_t iattr(const struct span *s, const char *key)
{
	const struct span_attr *a = span_attr_find(s, key);

	if (!a)
		return -1;
	assert_int_equal(a->type, SPAN_ATTR_INT);
	return a->v.i;
}

struct piece {
	bool req;		/* request direction */
	const char *data;
};

static struct h1_ctx *ctx;

static int setup(void **state)
{
	struct h1_sink sink = { t_alloc, t_submit, NULL };

	(void)state;
	ids_init();
	ctx = h1_ctx_new(64, 4, sink);
	nspans = 0;
	refuse_alloc = false;
	return ctx ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	h1_ctx_free(ctx);
	return 0;
}

/* Feed pieces; each piece is split into reads of at most `step` bytes (0:
 * whole), the first piece additionally cut at `cut`. Time advances 1000 ns
 * per read. */
static void feed_all(struct h1_session *s, const struct h1_conn_info *ci,
		     const struct piece *p, size_t n, size_t step, size_t cut)
{
	uint64_t t = 1000;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(p[i].data), off = 0;

		while (off < len) {
			size_t k = step ? step : len - off;
			struct h1_chunk ch;

			if (i == 0 && cut && off < cut && off + k > cut)
				k = cut - off;
			if (k > len - off)
				k = len - off;
			ch.data = p[i].data + off;
			ch.cap_len = k;
			ch.len = k;
			ch.start_ns = t;
			ch.end_ns = t + 500;
			ch.tid = 99;
			ch.kctx = NULL;
			h1_session_feed(ctx, s, ci, p[i].req, &ch);
			off += k;
			t += 1000;
		}
	}
}

static const struct piece keepalive[] = {
	{ true, "GET /users/123?x=1 HTTP/1.1\r\nHost: api.example:8080\r\n\r\n" },
	{ false, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" },
	{ true, "POST /items HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\n\r\nabc" },
	{ false, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n" },
	{ true, "HEAD /h HTTP/1.1\r\nHost: api\r\n\r\n" },
	{ false, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" },
	{ true, "GET /e HTTP/1.0\r\n\r\n" },
	{ false, "HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n" },
};

static void check_keepalive(bool client)
{
	assert_int_equal(nspans, 4);
	assert_string_equal(sattr(&spans[0], "http.request.method"), "GET");
	assert_string_equal(sattr(&spans[0], "url.path"), "/users/123");
	assert_string_equal(sattr(&spans[0], "url.query"), "x=REDACTED");
	assert_int_equal(iattr(&spans[0], "http.response.status_code"), 200);
	assert_int_equal(iattr(&spans[0], "http.response.body.size"), 5);
	assert_string_equal(sattr(&spans[0], "server.address"), "api.example");
	if (client)
		assert_string_equal(sattr(&spans[0], "url.full"),
				    "http://api.example:8080/users/123?x=REDACTED");
	else
		assert_null(sattr(&spans[0], "url.full"));
	assert_string_equal(spans[0].name, client ? "GET" : "GET /users/{id}");
	assert_int_equal(spans[0].kind, client ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER);
	assert_int_equal(iattr(&spans[0], "server.port"), 8080);
	assert_string_equal(sattr(&spans[1], "http.request.method"), "POST");
	assert_int_equal(iattr(&spans[1], "http.response.status_code"), 201);
	assert_int_equal(iattr(&spans[1], "http.request.body.size"), 3);
	assert_int_equal(iattr(&spans[1], "http.response.body.size"), 5);
	assert_string_equal(sattr(&spans[2], "http.request.method"), "HEAD");
	assert_int_equal(iattr(&spans[2], "http.response.status_code"), 200);
	assert_string_equal(sattr(&spans[3], "network.protocol.version"), "1.0");
	assert_int_equal(iattr(&spans[3], "http.response.status_code"), 503);
	assert_int_equal(spans[3].status, SPAN_STATUS_ERROR);
	assert_int_equal(spans[0].status, SPAN_STATUS_UNSET);
	for (int i = 0; i < nspans; i++) {
		assert_true(spans[i].start_ns <= spans[i].end_ns);
		if (i)
			assert_true(spans[i - 1].end_ns <= spans[i].start_ns);
		assert_int_equal(spans[i].pid, 7);
		assert_int_equal(spans[i].tid, 99);
		assert_int_equal(spans[i].conn_id, 42);
	}
}

static void test_keepalive_whole(void **state)
{
	struct h1_session s;
	struct h1_conn_info ci = info(false);

	(void)state;
	h1_session_init(&s);
	feed_all(&s, &ci, keepalive, 8, 0, 0);
	check_keepalive(false);
	h1_session_close(ctx, &s, &ci);
	assert_int_equal(nspans, 4);
}

/* The same spans (names, attributes, count) at every cut of the first
 * request and with reads of every size from 1 to 16 bytes. */
static void test_keepalive_every_split(void **state)
{
	size_t len0 = strlen(keepalive[0].data);

	(void)state;
	for (int client = 0; client < 2; client++) {
		struct h1_conn_info ci = info(client);

		for (size_t cut = 1; cut < len0; cut++) {
			struct h1_session s;

			nspans = 0;
			h1_session_init(&s);
			feed_all(&s, &ci, keepalive, 8, 0, cut);
			check_keepalive(client);
			h1_session_close(ctx, &s, &ci);
		}
		for (size_t step = 1; step <= 16; step++) {
			struct h1_session s;

			nspans = 0;
			h1_session_init(&s);
			feed_all(&s, &ci, keepalive, 8, step, 0);
			check_keepalive(client);
			h1_session_close(ctx, &s, &ci);
		}
	}
}

static void test_pipelined(void **state)
{
	static const struct piece p[] = {
		{ true, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n" },
		{ false, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 No\r\n"
			 "Content-Length: 1\r\n\r\nbHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc" },
	};
	struct h1_conn_info ci = info(true);
	struct h1_session s;

	(void)state;
	h1_session_init(&s);
	feed_all(&s, &ci, p, 2, 0, 0);
	assert_int_equal(nspans, 3);
	assert_string_equal(sattr(&spans[0], "url.path"), "/a");
	assert_string_equal(sattr(&spans[1], "url.path"), "/b");
	assert_string_equal(sattr(&spans[2], "url.path"), "/c");
	assert_int_equal(iattr(&spans[1], "http.response.status_code"), 404);
	assert_int_equal(spans[1].status, SPAN_STATUS_ERROR);	/* client 4xx */
	h1_session_close(ctx, &s, &ci);
}

/* Capture began inside a response body: nothing is invented until a read
 * starts a request, and that exchange is traced. */
static void test_mid_stream(void **state)
{
	static const struct piece p[] = {
		{ false, "lo world, the tail of a body\r\n" },
		{ true, "tail of a request body" },
		{ true, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n" },
		{ false, "HTTP/1.1 204 No Content\r\n\r\n" },
	};
	struct h1_conn_info ci = info(false);
	struct h1_session s;

	(void)state;
	h1_session_init(&s);
	feed_all(&s, &ci, p, 4, 0, 0);
	assert_int_equal(nspans, 1);
	assert_string_equal(sattr(&spans[0], "url.path"), "/next");
	assert_int_equal(iattr(&spans[0], "http.response.status_code"), 204);
	assert_true(h1_ctx_stats(ctx)->parse_errors >= 1);
	h1_session_close(ctx, &s, &ci);
}

/* A response without framing ends with the connection; one whose head was
 * seen but whose request never was counts as an orphan. */
static void test_until_close_and_orphan(void **state)
{
	static const struct piece p[] = {
		{ false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" },
		{ true, "GET /stream HTTP/1.0\r\n\r\n" },
		{ false, "HTTP/1.0 200 OK\r\n\r\nbody until the end" },
		{ false, " and more" },
	};
	struct h1_conn_info ci = info(false);
	struct h1_session s;
	uint64_t orphans = h1_ctx_stats(ctx)->orphan_responses;

	(void)state;
	h1_session_init(&s);
	feed_all(&s, &ci, p, 4, 0, 0);
	assert_int_equal(nspans, 0);
	h1_session_close(ctx, &s, &ci);
	assert_int_equal(nspans, 1);
	assert_int_equal(iattr(&spans[0], "http.response.body.size"), 27);
	assert_int_equal(h1_ctx_stats(ctx)->orphan_responses, orphans + 1);
}

/* Capture cut short: a head beyond the captured bytes is skipped, body
 * bytes beyond it are counted, and the next message is still found. */
static void test_truncated_capture(void **state)
{
	struct h1_conn_info ci = info(false);
	struct h1_session s;
	struct h1_chunk ch = { .tid = 1 };
	const char *req = "GET /big HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaa\r\n\r\n";
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	const char *req2 = "GET /ok HTTP/1.1\r\n\r\n";
	uint64_t too_large = h1_ctx_stats(ctx)->head_too_large;

	(void)state;
	h1_session_init(&s);
	ch.data = req;
	ch.cap_len = 20;		/* head cut by the capture limit */
	ch.len = strlen(req);
	h1_session_feed(ctx, &s, &ci, true, &ch);
	assert_int_equal(h1_ctx_stats(ctx)->head_too_large, too_large + 1);
	ch.data = req2;
	ch.cap_len = ch.len = strlen(req2);
	h1_session_feed(ctx, &s, &ci, true, &ch);
	ch.data = resp;
	ch.cap_len = strlen(resp);
	ch.len = strlen(resp) + 60000;	/* body beyond the capture */
	h1_session_feed(ctx, &s, &ci, false, &ch);
	assert_int_equal(nspans, 0);
	ch.cap_len = 0;
	ch.len = 40000;			/* e.g. sendfile: length only */
	ch.end_ns = 777;
	h1_session_feed(ctx, &s, &ci, false, &ch);
	assert_int_equal(nspans, 1);
	assert_string_equal(sattr(&spans[0], "url.path"), "/ok");
	assert_int_equal(iattr(&spans[0], "http.response.body.size"), 100000);
	h1_session_close(ctx, &s, &ci);
}

/* Garbage and non-HTTP bytes never make spans, and the pools come back. */
static void test_garbage(void **state)
{
	struct h1_conn_info ci = info(false);
	struct h1_session s;
	char junk[3000];

	(void)state;
	srand(1);
	for (int round = 0; round < 200; round++) {
		struct h1_chunk ch = { .data = junk, .tid = 1 };

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)rand();
		if (round % 3 == 0)
			memcpy(junk, "GET / HTTP/1.1\r\nHost", 20);	/* a head that never ends */
		ch.cap_len = ch.len = 1 + rand() % sizeof(junk);
		h1_session_init(&s);
		h1_session_feed(ctx, &s, &ci, round & 1, &ch);
		h1_session_feed(ctx, &s, &ci, !(round & 1), &ch);
		h1_session_close(ctx, &s, &ci);
	}
	assert_int_equal(nspans, 0);
	/* Every head buffer went back: four heads can be buffered at once. */
	for (int i = 0; i < 4; i++) {
		struct h1_session t;
		struct h1_chunk ch = { .data = "GET /x HTTP/1.1\r\n", .cap_len = 17, .len = 17 };

		h1_session_init(&t);
		h1_session_feed(ctx, &t, &ci, true, &ch);
		assert_int_equal(t.req.state, H1S_HEAD);
		h1_session_close(ctx, &t, &ci);
	}
}

/* No span to write into: the exchange is counted, not lost silently. */
static void test_span_pool_empty(void **state)
{
	struct h1_conn_info ci = info(false);
	struct h1_session s;
	uint64_t failed = h1_ctx_stats(ctx)->span_alloc_failed;

	(void)state;
	refuse_alloc = true;
	h1_session_init(&s);
	feed_all(&s, &ci, keepalive, 2, 0, 0);
	assert_int_equal(nspans, 0);
	assert_int_equal(h1_ctx_stats(ctx)->span_alloc_failed, failed + 1);
	refuse_alloc = false;
	h1_session_close(ctx, &s, &ci);
}

/* A span reduced to what must not depend on how the bytes were cut. */
static void span_key(const struct span *sp, char *out, size_t cap)
{
	size_t n = snprintf(out, cap, "%d|%s|%d", sp->kind, sp->name, sp->status);

	for (uint16_t i = 0; i < sp->nattrs && n < cap; i++) {
		const struct span_attr *a = &sp->attrs[i];

		if (a->type == SPAN_ATTR_STR)
			n += snprintf(out + n, cap - n, "|%s=%.*s", a->key, a->v.s.len,
				      span_attr_sval(sp, a));
		else
			n += snprintf(out + n, cap - n, "|%s=%lld", a->key, (long long)a->v.i);
	}
}

/* Replay: the whole recorded conversation, each piece cut into reads at
 * random points (often single bytes), 10,000 seeds. Every cut must give
 * exactly the spans of the uncut replay. */
static void test_split_replay_10k(void **state)
{
	static char want[8][2048], got[2048];
	struct h1_conn_info ci = info(false);
	uint64_t t;
	int nwant;

	(void)state;
	for (int seed = -1; seed < 10000; seed++) {
		struct h1_session s;

		srand(seed < 0 ? 1 : (unsigned)seed);
		nspans = 0;
		t = 1000;
		h1_session_init(&s);
		for (size_t i = 0; i < sizeof(keepalive) / sizeof(keepalive[0]); i++) {
			size_t len = strlen(keepalive[i].data), off = 0;

			while (off < len) {
				struct h1_chunk ch = { .tid = 99 };
				size_t k = len - off;

				if (seed >= 0) {
					int r = rand() % 4;

					/* single bytes, small, medium or the rest */
					k = r == 0 ? 1 : r == 1 ? 1 + (size_t)(rand() % 8) :
					    r == 2 ? 1 + (size_t)(rand() % 64) : k;
					if (k > len - off)
						k = len - off;
				}
				ch.data = keepalive[i].data + off;
				ch.cap_len = ch.len = k;
				ch.start_ns = t;
				ch.end_ns = t + 10;
				t += 100;
				h1_session_feed(ctx, &s, &ci, keepalive[i].req, &ch);
				off += k;
			}
		}
		h1_session_close(ctx, &s, &ci);
		if (seed < 0) {
			nwant = nspans;
			assert_int_equal(nwant, 4);
			for (int i = 0; i < nspans; i++)
				span_key(&spans[i], want[i], sizeof(want[i]));
			continue;
		}
		assert_int_equal(nspans, nwant);
		for (int i = 0; i < nspans; i++) {
			span_key(&spans[i], got, sizeof(got));
			assert_string_equal(got, want[i]);
		}
	}
}

/* The kernel gave ids to the read that began a server head; the head ends
 * in a later read. The span keeps the kernel's ids (its outgoing requests
 * carry them), at every split point. */
static void test_kernel_ids_split_head(void **state)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n"
		"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct h1_conn_info ci = info(false);
	struct kspan_ctx k = { .valid = 1, .remote = 1, .flags = 1 };

	(void)state;
	memcpy(k.trace_id, "\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16);
	memcpy(k.parent_id, "\xb7\xad\x6b\x71\x69\x20\x33\x31", 8);
	memcpy(k.span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	for (size_t cut = 1; cut < sizeof(req) - 1; cut++) {
		struct h1_session s;
		struct h1_chunk a = { .data = req, .cap_len = cut, .len = cut, .start_ns = 10,
				      .end_ns = 20, .tid = 5, .kctx = &k };
		struct h1_chunk b = { .data = req + cut, .cap_len = sizeof(req) - 1 - cut,
				      .len = sizeof(req) - 1 - cut, .start_ns = 30, .end_ns = 40,
				      .tid = 5 };
		struct h1_chunk r = { .data = resp, .cap_len = sizeof(resp) - 1,
				      .len = sizeof(resp) - 1, .start_ns = 50, .end_ns = 60,
				      .tid = 5 };

		nspans = 0;
		h1_session_init(&s);
		h1_session_feed(ctx, &s, &ci, true, &a);
		h1_session_feed(ctx, &s, &ci, true, &b);
		h1_session_feed(ctx, &s, &ci, false, &r);
		h1_session_close(ctx, &s, &ci);
		assert_int_equal(nspans, 1);
		assert_memory_equal(spans[0].span_id, k.span_id, 8);
		assert_memory_equal(spans[0].trace_id, k.trace_id, 16);
		assert_memory_equal(spans[0].parent_span_id, k.parent_id, 8);
		assert_int_equal(spans[0].start_ns, ids_mono_to_unix(10));
	}
	assert_int_equal(h1_ctx_stats(ctx)->context_unseen, 0);
}

/* The kernel saw no context in the first piece (it gave a new trace) but the
 * whole head has one: the kernel's trace is kept and the miss counted. */
static void test_kernel_missed_context(void **state)
{
	static const char req[] = "GET /a HTTP/1.1\r\nHost: x\r\n"
		"traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct h1_conn_info ci = info(false);
	struct kspan_ctx k = { .valid = 1, .flags = 1 };
	struct h1_session s;
	struct h1_chunk a = { .data = req, .cap_len = 20, .len = 20, .start_ns = 10,
			      .end_ns = 20, .tid = 5, .kctx = &k };
	struct h1_chunk b = { .data = req + 20, .cap_len = sizeof(req) - 21,
			      .len = sizeof(req) - 21, .start_ns = 30, .end_ns = 40, .tid = 5 };
	struct h1_chunk r = { .data = resp, .cap_len = sizeof(resp) - 1,
			      .len = sizeof(resp) - 1, .start_ns = 50, .end_ns = 60, .tid = 5 };

	(void)state;
	memset(k.trace_id, 0x11, 16);
	memset(k.span_id, 0x22, 8);
	h1_session_init(&s);
	h1_session_feed(ctx, &s, &ci, true, &a);
	h1_session_feed(ctx, &s, &ci, true, &b);
	h1_session_feed(ctx, &s, &ci, false, &r);
	h1_session_close(ctx, &s, &ci);
	assert_int_equal(nspans, 1);
	assert_memory_equal(spans[0].trace_id, k.trace_id, 16);
	assert_memory_equal(spans[0].span_id, k.span_id, 8);
	assert_true(ids_is_zero(spans[0].parent_span_id, 8));
	assert_int_equal(h1_ctx_stats(ctx)->context_unseen, 1);
}

/* ---- Upgrade: h2c ---- */

#define H2C_REQ "GET /p/1?q=2 HTTP/1.1\r\nHost: h2.test:8080\r\n" \
	"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
#define H2C_SETTINGS "HTTP2-Settings: AAMAAABkAAEAAQAAAAEAAAEA\r\n"
#define H2C_101 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
/* The server's first frames: SETTINGS, then HEADERS of stream 1. */
static const char h2_after[] = "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88";

static void feed_one(struct h1_session *s, const struct h1_conn_info *ci, bool req,
		     const char *p, size_t n, uint64_t t)
{
	struct h1_chunk ch = {
		.data = p, .cap_len = n, .len = n, .start_ns = t, .end_ns = t + 5, .tid = 99,
	};

	h1_session_feed(ctx, s, ci, req, &ch);
}

/* The 101 and HTTP/2 frames in one write, cut at every point: the session
 * stops at the end of the 101's head, says where HTTP/2 starts, and hands
 * over the request as it was, with its HTTP2-Settings table size. No span
 * is made of it here: stream 1 will be its span. */
static void test_h2c_upgrade(void **state)
{
	static const char req[] = H2C_REQ H2C_SETTINGS "\r\n";
	char resp[sizeof(H2C_101) - 1 + sizeof(h2_after) - 1];
	size_t head = sizeof(H2C_101) - 1, len = sizeof(resp);
	struct nest_table *nt = nest_new();

	(void)state;
	assert_non_null(nt);
	h1_ctx_set_nest(ctx, nt);
	memcpy(resp, H2C_101, head);
	memcpy(resp + head, h2_after, sizeof(h2_after) - 1);
	for (size_t cut = 0; cut < len; cut++) {
		for (int client = 0; client < 2; client++) {
			struct h1_conn_info ci = info(client);
			struct h1_upgrade up;
			struct h1_session s;
			size_t first = cut ? cut : len;

			nspans = 0;
			h1_session_init(&s);
			feed_one(&s, &ci, true, req, strlen(req), 1000);
			assert_int_equal(nest_count(nt, 7, 99), client ? 0 : 1);
			feed_one(&s, &ci, false, resp, first, 2000);
			if (first < head) {
				assert_false(s.h2c);
				feed_one(&s, &ci, false, resp + first, len - first, 3000);
				assert_true(s.h2c);
				assert_int_equal(s.h2c_off, head - first);
			} else {
				assert_true(s.h2c);
				assert_int_equal(s.h2c_off, head);
			}
			assert_int_equal(nspans, 0);
			assert_true(h1_session_take_upgrade(ctx, &s, &ci, &up));
			assert_false(s.h2c);
			assert_false(h1_session_take_upgrade(ctx, &s, &ci, &up));
			assert_int_equal(nest_count(nt, 7, 99), 0);
			assert_int_equal(up.method_len, 3);
			assert_memory_equal(up.method, "GET", 3);
			assert_int_equal(up.path_len, 8);
			assert_memory_equal(up.path, "/p/1?q=2", 8);
			assert_int_equal(up.host_len, 12);
			assert_memory_equal(up.host, "h2.test:8080", 12);
			assert_int_equal(up.scheme_len, 0);
			assert_int_equal(up.table_size, 256);
			assert_true(up.first);
			assert_int_equal(up.tid, 99);
			assert_int_equal(up.start_ns, 1000);
			assert_int_equal(up.req_body, 0);
			assert_int_equal(up.flags, 1);
			assert_false(up.remote_parent);
			h1_session_close(ctx, &s, &ci);
			assert_int_equal(nspans, 0);
			/* Nothing more is parsed as HTTP/1 meanwhile. */
			assert_int_equal(h1_ctx_stats(ctx)->parse_errors, 0);
		}
	}
	h1_ctx_set_nest(ctx, NULL);
	nest_free(nt);
}

/* An upgrade offered on the connection's second request: handed over, but
 * neither it nor its stream counts as a request its thread serves (its
 * number would not be the stream's). */
static void test_h2c_upgrade_second(void **state)
{
	static const char req1[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char resp1[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char req2[] = H2C_REQ H2C_SETTINGS "\r\n";
	struct nest_table *nt = nest_new();
	struct h1_conn_info ci = info(false);
	struct h1_upgrade up;
	struct h1_session s;

	(void)state;
	assert_non_null(nt);
	h1_ctx_set_nest(ctx, nt);
	h1_session_init(&s);
	feed_one(&s, &ci, true, req1, strlen(req1), 1000);
	assert_int_equal(nest_count(nt, 7, 99), 1);
	feed_one(&s, &ci, false, resp1, strlen(resp1), 2000);
	assert_int_equal(nspans, 1);
	assert_int_equal(nest_count(nt, 7, 99), 0);
	feed_one(&s, &ci, true, req2, strlen(req2), 3000);
	assert_int_equal(nest_count(nt, 7, 99), 0);
	feed_one(&s, &ci, false, H2C_101, strlen(H2C_101), 4000);
	assert_true(s.h2c);
	assert_true(h1_session_take_upgrade(ctx, &s, &ci, &up));
	assert_false(up.first);
	assert_int_equal(up.start_ns, 3000);
	h1_session_close(ctx, &s, &ci);
	assert_int_equal(nspans, 1);
	h1_ctx_set_nest(ctx, NULL);
	nest_free(nt);
}

/* kspan joined between the upgrade request and the 101: the connection
 * still switches where the 101 ends, with no stream 1 to hand over. */
static void test_h2c_upgrade_joined_late(void **state)
{
	struct h1_conn_info ci = info(true);
	struct h1_upgrade up;
	struct h1_session s;

	(void)state;
	nspans = 0;
	h1_session_init(&s);
	feed_one(&s, &ci, false, H2C_101 "\0\0", strlen(H2C_101) + 2, 1000);
	assert_true(s.h2c);
	assert_int_equal(s.h2c_off, strlen(H2C_101));
	assert_false(h1_session_take_upgrade(ctx, &s, &ci, &up));
	h1_session_close(ctx, &s, &ci);
	assert_int_equal(nspans, 0);
	assert_int_equal(h1_ctx_stats(ctx)->orphan_responses, 1);
}

/* A 101 to something else, or to h2c for a request that did not offer it
 * properly, is an exchange of its own: a 101 span, nothing handed over. */
static void test_upgrade_not_h2c(void **state)
{
	static const char *const reqs[] = {
		"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		H2C_REQ "\r\n",				/* no HTTP2-Settings */
		H2C_REQ H2C_SETTINGS H2C_SETTINGS "\r\n",	/* two */
		H2C_REQ "HTTP2-Settings: AAMAAABkAAQ\r\n\r\n",	/* not whole settings */
		"GET /x HTTP/1.1\r\nHost: a\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
	};
	static const char *const resps[] = {
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		H2C_101, H2C_101, H2C_101, H2C_101,
	};
	struct h1_conn_info ci = info(false);
	struct h1_upgrade up;
	struct h1_session s;

	(void)state;
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		nspans = 0;
		h1_session_init(&s);
		feed_one(&s, &ci, true, reqs[i], strlen(reqs[i]), 1000);
		feed_one(&s, &ci, false, resps[i], strlen(resps[i]), 2000);
		assert_false(s.h2c);
		assert_true(s.upgraded);
		assert_false(h1_session_take_upgrade(ctx, &s, &ci, &up));
		assert_int_equal(nspans, 1);
		assert_int_equal(iattr(&spans[0], "http.response.status_code"), 101);
		h1_session_close(ctx, &s, &ci);
		assert_int_equal(nspans, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keepalive_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_every_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mid_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_until_close_and_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_capture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_span_pool_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_replay_10k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_ids_split_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_missed_context, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2c_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2c_upgrade_second, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2c_upgrade_joined_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_not_h2c, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
