// SPDX-License-Identifier: Apache-2.0
/* The HTTP/2 session tracker fed frame sequences: whole, cut at every point,
 * one byte at a time, from either end, joined mid-connection, 100 streams
 * at once, gRPC with trailers and trailers-only errors, RST_STREAM,
 * CONTINUATION and padding, capture cut short, and garbage. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h2session.h"
#include "ids.h"
#include "kspan.h"
#include "nest.h"
#include "redact.h"

#include "h2build.h"

#define MAX_SPANS 256

static struct span spans[MAX_SPANS];
static int nspans;

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

static const uint8_t lo[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
static struct h2_ctx *ctx;

static struct h1_conn_info info(bool client)
{
	struct h1_conn_info ci = {
		.conn_id = 42, .pid = 7, .client = client,
		.local_addr = lo, .peer_addr = lo,
		.local_port = client ? 40000 : 8080, .peer_port = client ? 8080 : 40000,
		.seen_open = true,
	};
	return ci;
}

static int setup(void **state)
{
	static const struct redact_policy policy = { .allow = { "x" }, .nallow = 1 };
	struct h1_sink sink = { t_alloc, t_submit, NULL };

	(void)state;
	ids_init();
	ctx = h2_ctx_new(4, 512, 2, sink);
	assert_non_null(ctx);
	h2_ctx_set_redact(ctx, &policy);
	nspans = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	h2_ctx_free(ctx);
	return 0;
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

/* ---- building frames and header blocks ---- */

static void h_idx(struct bytes *o, uint32_t i)
{
	put_int(o, 0x80, 7, i);
}

/* Literal: with incremental indexing when inc, else without indexing. */
static void h_lit(struct bytes *o, bool inc, uint32_t name_idx, const char *name,
		  const char *value)
{
	if (inc)
		put_int(o, 0x40, 6, name_idx);
	else
		put_int(o, 0x00, 4, name_idx);
	if (!name_idx)
		put_str(o, name);
	put_str(o, value);
}

static void preface(struct bytes *o)
{
	put(o, H2_PREFACE, H2_PREFACE_LEN);
	frame(o, H2_SETTINGS, 0, 0, "\x00\x03\x00\x00\x00\x64\x00\x04\x00\x00\xff\xff", 12);
}

/* ---- a conversation: pieces each moved by one syscall ---- */

#define MAX_PIECES 512

struct script {
	int n;
	bool c2s[MAX_PIECES];	/* client to server */
	struct bytes *b[MAX_PIECES];
};

static struct bytes pool[MAX_PIECES];
static int npool;

static struct bytes *piece(struct script *sc, bool c2s)
{
	struct bytes *b = &pool[npool++];

	assert_true(npool <= MAX_PIECES && sc->n < MAX_PIECES);
	b->n = 0;
	sc->c2s[sc->n] = c2s;
	sc->b[sc->n++] = b;
	return b;
}

struct guard {
	uint8_t *map;
	size_t map_len;
	uint8_t *end;
};

static struct guard g;

static void guard_init(size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + pg - 1) / pg * pg;

	g.map_len = data + pg;
	g.map = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	assert_true(g.map != MAP_FAILED);
	g.end = g.map + data;
	assert_int_equal(mprotect(g.end, pg, PROT_NONE), 0);
}

static uint64_t now = 1000;

/* The threads moving written and read bytes. */
#define TID_WRITER 11
#define TID_READER 12
static uint32_t one_tid;	/* nonzero: the one thread moving both ways */

/* One syscall: cap of len bytes captured, placed against the guard page. */
static void feed_raw(int32_t s, const struct h1_conn_info *ci, bool egress, const uint8_t *p,
		     uint32_t cap, uint64_t len)
{
	uint8_t *q = g.end - cap;
	struct h1_chunk ch;

	memcpy(q, p, cap);
	ch.data = (const char *)q;
	ch.cap_len = cap;
	ch.len = len;
	ch.start_ns = now;
	ch.end_ns = now + 10;
	ch.tid = one_tid ? one_tid : egress ? TID_WRITER : TID_READER;
	now += 100;
	h2_session_feed(ctx, s, ci, egress, &ch);
}

/* Feed a script from one end; each piece split at `cut` (0: whole) or in
 * pieces of `step` bytes. */
static void run(int32_t s, const struct h1_conn_info *ci, bool client, const struct script *sc,
		size_t cut, size_t step)
{
	for (int i = 0; i < sc->n; i++) {
		const struct bytes *b = sc->b[i];
		bool egress = sc->c2s[i] == client;

		if (step) {
			for (size_t o = 0; o < b->n; o += step)
				feed_raw(s, ci, egress, b->b + o, b->n - o < step ? b->n - o : step,
					 b->n - o < step ? b->n - o : step);
		} else if (cut && cut < b->n) {
			feed_raw(s, ci, egress, b->b, cut, cut);
			feed_raw(s, ci, egress, b->b + cut, b->n - cut, b->n - cut);
		} else {
			feed_raw(s, ci, egress, b->b, b->n, b->n);
		}
	}
}

static int32_t open_session(bool from_start, uint8_t role)
{
	int32_t s = h2_session_open(ctx, from_start, role);

	assert_true(s >= 0);
	return s;
}

static void close_session(int32_t s, const struct h1_conn_info *ci)
{
	h2_session_close(ctx, s, ci);
}

/* ---- plain HTTP/2 ---- */

#define TRACEPARENT "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static void plain_script(struct script *sc)
{
	struct bytes hb = { .n = 0 }, *b;

	npool = 0;
	sc->n = 0;
	b = piece(sc, true);
	preface(b);
	b = piece(sc, false);
	frame(b, H2_SETTINGS, 0, 0, "\x00\x01\x00\x00\x10\x00", 6);
	frame(b, H2_SETTINGS, 1, 0, "", 0);
	b = piece(sc, true);
	frame(b, H2_SETTINGS, 1, 0, "", 0);
	h_idx(&hb, 2);					/* :method GET */
	h_idx(&hb, 6);					/* :scheme http */
	h_lit(&hb, false, 4, NULL, "/users/42?x=1&sig=abc");	/* :path */
	h_lit(&hb, true, 1, NULL, "example.test:8080");	/* :authority */
	h_lit(&hb, false, 0, "traceparent", TRACEPARENT);
	frame(b, H2_HEADERS, H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS, 1, hb.b, hb.n);
	b = piece(sc, false);
	hb.n = 0;
	h_idx(&hb, 8);					/* :status 200 */
	h_lit(&hb, true, 31, NULL, "text/plain");	/* content-type */
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 1, hb.b, hb.n);
	frame(b, H2_DATA, 0, 1, "hello ", 6);
	b = piece(sc, false);
	frame(b, H2_DATA, H2_FLAG_END_STREAM, 1, "world", 5);
	/* A second request reuses the table: :authority is index 62. */
	b = piece(sc, true);
	hb.n = 0;
	h_idx(&hb, 3);					/* :method POST */
	h_idx(&hb, 6);
	h_lit(&hb, false, 4, NULL, "/upload");
	h_idx(&hb, 62);
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 3, hb.b, hb.n);
	frame(b, H2_DATA, H2_FLAG_END_STREAM, 3, "0123456789", 10);
	b = piece(sc, false);
	hb.n = 0;
	h_lit(&hb, false, 8, NULL, "503");
	h_idx(&hb, 62);					/* content-type: text/plain */
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 3, hb.b, hb.n);
}

static void check_plain(bool client, uint32_t local_port)
{
	const struct span *a = &spans[0], *b = &spans[1];

	assert_int_equal(nspans, 2);
	assert_int_equal(a->kind, client ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER);
	assert_string_equal(a->name, client ? "GET" : "GET /users/{id}");
	assert_string_equal(sattr(a, "http.request.method"), "GET");
	assert_string_equal(sattr(a, "url.path"), "/users/42");
	assert_string_equal(sattr(a, "url.query"), "x=1&sig=REDACTED");
	assert_string_equal(sattr(a, "url.scheme"), "http");
	assert_string_equal(sattr(a, "network.protocol.version"), "2");
	assert_string_equal(sattr(a, "server.address"), "example.test");
	assert_int_equal(iattr(a, "server.port"), 8080);
	assert_int_equal(iattr(a, "http.response.status_code"), 200);
	assert_int_equal(iattr(a, "http.response.body.size"), 11);
	assert_int_equal(iattr(a, "network.peer.port"), client ? 8080 : 40000);
	if (client) {
		assert_string_equal(sattr(a, "url.full"), "http://example.test:8080/users/42"
				    "?x=1&sig=REDACTED");
		assert_null(sattr(a, "client.address"));
	} else {
		assert_string_equal(sattr(a, "client.address"), "127.0.0.1");
		assert_int_equal(iattr(a, "client.port"), 40000);
	}
	assert_int_equal(a->status, SPAN_STATUS_UNSET);
	assert_int_equal(a->seq, 1);
	assert_int_equal(a->req_no, 1);
	assert_int_equal(a->local_port, local_port);
	/* propagated context */
	assert_true(a->remote_parent);
	assert_int_equal(a->trace_id[0], 0x0a);
	assert_int_equal(a->parent_span_id[0], 0xb7);
	assert_true(a->end_ns > a->start_ns);

	assert_string_equal(sattr(b, "http.request.method"), "POST");
	assert_string_equal(sattr(b, "url.path"), "/upload");
	assert_string_equal(sattr(b, "server.address"), "example.test");
	assert_int_equal(iattr(b, "http.response.status_code"), 503);
	assert_int_equal(iattr(b, "http.request.body.size"), 10);
	assert_int_equal(b->seq, 3);
	assert_int_equal(b->status, SPAN_STATUS_ERROR);
	assert_string_equal(sattr(b, "error.type"), "503");
	assert_false(b->remote_parent);
}

static void plain_from(bool client, size_t cut, size_t step)
{
	struct h1_conn_info ci = info(client);
	struct script sc;
	int32_t s;

	plain_script(&sc);
	nspans = 0;
	s = open_session(true, client ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER);
	run(s, &ci, client, &sc, cut, step);
	close_session(s, &ci);
	check_plain(client, client ? 40000 : 8080);
}

static void test_plain_whole(void **state)
{
	(void)state;
	plain_from(true, 0, 0);
	plain_from(false, 0, 0);
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, 0);
	assert_int_equal(h2_ctx_stats(ctx)->protocol_errors, 0);
}

static void test_plain_every_cut(void **state)
{
	(void)state;
	for (size_t cut = 1; cut < 160; cut++)
		plain_from(cut & 1, cut, 0);
	plain_from(true, 0, 1);
	plain_from(false, 0, 1);
	assert_int_equal(h2_ctx_stats(ctx)->protocol_errors, 0);
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, 0);
}

/* Roles unknown (a connection kspan did not see open): the preface says
 * which end is the client. */
static void test_role_from_preface(void **state)
{
	struct h1_conn_info ci = info(false);
	struct script sc;
	int32_t s;

	(void)state;
	plain_script(&sc);
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_UNKNOWN);
	run(s, &ci, false, &sc, 0, 0);
	assert_int_equal(h2_session_role(ctx, s), KSPAN_ROLE_SERVER);
	close_session(s, &ci);
	check_plain(false, 8080);
}

/* ---- joined mid-connection ---- */

static void test_midstream(void **state)
{
	struct h1_conn_info ci = info(true);
	struct bytes hb = { .n = 0 }, *b;
	struct script sc = { .n = 0 };
	int32_t s;

	(void)state;
	npool = 0;
	/* A third request: :authority (62) and user-agent (63) were indexed
	 * before kspan came; the rest is static or literal. */
	b = piece(&sc, true);
	h_idx(&hb, 3);
	h_idx(&hb, 6);
	h_idx(&hb, 62);
	h_idx(&hb, 64);
	h_lit(&hb, true, 4, NULL, "/pkg.Svc/Get");	/* becomes 62 */
	h_lit(&hb, false, 31, NULL, "application/grpc");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 5, hb.b, hb.n);
	frame(b, H2_DATA, H2_FLAG_END_STREAM, 5, "\0\0\0\0\0", 5);
	b = piece(&sc, false);
	hb.n = 0;
	h_idx(&hb, 8);
	h_idx(&hb, 63);				/* unknown to us */
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 5, hb.b, hb.n);
	frame(b, H2_DATA, 0, 5, "\0\0\0\0\0", 5);
	hb.n = 0;
	h_lit(&hb, false, 0, "grpc-status", "0");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 5, hb.b, hb.n);
	/* The next request names the :path just added: index 62, known. */
	b = piece(&sc, true);
	hb.n = 0;
	h_idx(&hb, 3);
	h_idx(&hb, 62);
	h_idx(&hb, 63);				/* unknown: was 62 before */
	h_lit(&hb, false, 31, NULL, "application/grpc");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 7, hb.b, hb.n);
	frame(b, H2_DATA, H2_FLAG_END_STREAM, 7, "\0\0\0\0\0", 5);
	b = piece(&sc, false);
	hb.n = 0;
	h_idx(&hb, 8);
	h_lit(&hb, false, 0, "grpc-status", "7");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 7, hb.b, hb.n);

	nspans = 0;
	ci.seen_open = false;
	s = open_session(false, KSPAN_ROLE_UNKNOWN);
	/* The first bytes kspan sees are frames, not the preface. */
	assert_int_equal(h2_looks_like_frames(sc.b[0]->b, sc.b[0]->n, sc.b[0]->n), 1);
	run(s, &ci, true, &sc, 0, 0);
	assert_int_equal(h2_session_role(ctx, s), KSPAN_ROLE_CLIENT);
	close_session(s, &ci);
	assert_int_equal(nspans, 2);
	assert_string_equal(spans[0].name, "pkg.Svc/Get");
	assert_string_equal(sattr(&spans[0], "rpc.service"), "pkg.Svc");
	assert_string_equal(sattr(&spans[0], "rpc.method"), "Get");
	assert_string_equal(sattr(&spans[0], "http.request.method"), "POST");
	/* :authority unknown: the peer address stands in, nothing guessed */
	assert_string_equal(sattr(&spans[0], "server.address"), "127.0.0.1");
	assert_null(sattr(&spans[0], "url.full"));
	assert_int_equal(iattr(&spans[0], "rpc.grpc.status_code"), 0);
	assert_int_equal(spans[0].status, SPAN_STATUS_UNSET);
	assert_int_equal(spans[0].seq, 5);
	assert_string_equal(spans[1].name, "pkg.Svc/Get");
	assert_int_equal(iattr(&spans[1], "rpc.grpc.status_code"), 7);
	assert_int_equal(spans[1].status, SPAN_STATUS_ERROR);	/* client: any non-OK */
	assert_true(h2_ctx_stats(ctx)->hpack_unknown >= 3);
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, 0);
}

/* ---- gRPC ---- */

/* One call on stream id: request, then a response with trailers carrying
 * status, or trailers-only when trailers_only. */
static void grpc_call(struct script *sc, uint32_t id, const char *path, int status,
		      bool trailers_only)
{
	struct bytes hb = { .n = 0 }, *b;
	char st[8];

	b = piece(sc, true);
	h_idx(&hb, 3);
	h_idx(&hb, 6);
	h_lit(&hb, false, 4, NULL, path);
	h_lit(&hb, false, 1, NULL, "localhost:50051");
	h_lit(&hb, false, 31, NULL, "application/grpc");
	h_lit(&hb, false, 0, "te", "trailers");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, id, hb.b, hb.n);
	frame(b, H2_DATA, H2_FLAG_END_STREAM, id, "\0\0\0\0\3abc", 8);
	b = piece(sc, false);
	hb.n = 0;
	snprintf(st, sizeof(st), "%d", status);
	h_idx(&hb, 8);
	h_lit(&hb, false, 31, NULL, "application/grpc");
	if (trailers_only) {
		h_lit(&hb, false, 0, "grpc-status", st);
		h_lit(&hb, false, 0, "grpc-message", "nope");
		frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, id, hb.b, hb.n);
		return;
	}
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, id, hb.b, hb.n);
	frame(b, H2_DATA, 0, id, "\0\0\0\0\2hi", 7);
	hb.n = 0;
	h_lit(&hb, false, 0, "grpc-status", st);
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, id, hb.b, hb.n);
}

static void test_grpc(void **state)
{
	static const struct {
		int code;
		bool server_error;
	} codes[] = {
		{ 0, false }, { 1, false }, { 2, true }, { 3, false }, { 4, true }, { 5, false },
		{ 12, true }, { 13, true }, { 14, true }, { 15, true }, { 16, false },
	};
	struct script sc = { .n = 0 };
	size_t nc = sizeof(codes) / sizeof(codes[0]);

	(void)state;
	npool = 0;
	preface(piece(&sc, true));
	for (size_t i = 0; i < nc; i++)
		grpc_call(&sc, 1 + 2 * i, "/helloworld.Greeter/SayHello", codes[i].code, i & 1);
	for (int client = 0; client < 2; client++) {
		struct h1_conn_info ci = info(client);
		int32_t s = open_session(true, client ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER);

		nspans = 0;
		run(s, &ci, client, &sc, 0, 0);
		close_session(s, &ci);
		assert_int_equal(nspans, nc);
		for (size_t i = 0; i < nc; i++) {
			const struct span *sp = &spans[i];
			bool err = client ? codes[i].code != 0 : codes[i].server_error;

			assert_string_equal(sp->name, "helloworld.Greeter/SayHello");
			assert_string_equal(sattr(sp, "rpc.system"), "grpc");
			assert_string_equal(sattr(sp, "rpc.service"), "helloworld.Greeter");
			assert_string_equal(sattr(sp, "rpc.method"), "SayHello");
			assert_int_equal(iattr(sp, "rpc.grpc.status_code"), codes[i].code);
			assert_int_equal(iattr(sp, "http.response.status_code"), 200);
			assert_string_equal(sattr(sp, "server.address"), "localhost");
			assert_int_equal(sp->status, err ? SPAN_STATUS_ERROR : SPAN_STATUS_UNSET);
			assert_int_equal(sp->seq, 1 + 2 * i);
			if (err)
				assert_non_null(sattr(sp, "error.type"));
		}
	}
}

/* 100 streams open at once, answered in reverse, the request fields
 * indexed in the dynamic table after the first. */
static void test_100_streams(void **state)
{
	struct script sc = { .n = 0 };
	struct bytes hb, *b;
	char path[32];

	(void)state;
	npool = 0;
	b = piece(&sc, true);
	preface(b);
	for (int i = 0; i < 100; i++) {
		hb.n = 0;
		h_idx(&hb, 3);
		h_idx(&hb, 6);
		snprintf(path, sizeof(path), "/pkg.S/M%d", i);
		h_lit(&hb, false, 4, NULL, path);
		if (i == 0) {
			h_lit(&hb, true, 1, NULL, "svc:50051");
			h_lit(&hb, true, 31, NULL, "application/grpc");
		} else {
			h_idx(&hb, 63);
			h_idx(&hb, 62);
		}
		frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 1 + 2 * i, hb.b, hb.n);
		frame(b, H2_DATA, H2_FLAG_END_STREAM, 1 + 2 * i, "\0\0\0\0\0", 5);
	}
	b = piece(&sc, false);
	for (int i = 99; i >= 0; i--) {
		hb.n = 0;
		h_idx(&hb, 8);
		h_lit(&hb, false, 0, "grpc-status", i % 10 ? "0" : "13");
		frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1 + 2 * i, hb.b,
		      hb.n);
	}
	for (int client = 0; client < 2; client++) {
		struct h1_conn_info ci = info(client);
		int32_t s = open_session(true, client ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER);

		nspans = 0;
		run(s, &ci, client, &sc, 0, client ? 0 : 7);
		assert_int_equal(h2_session_get(ctx, s)->nstreams, 0);
		close_session(s, &ci);
		assert_int_equal(nspans, 100);
		for (int k = 0; k < 100; k++) {
			int i = 99 - k;

			snprintf(path, sizeof(path), "pkg.S/M%d", i);
			assert_string_equal(spans[k].name, path);
			assert_int_equal(spans[k].seq, 1 + 2 * i);
			assert_string_equal(sattr(&spans[k], "server.address"), "svc");
			assert_int_equal(iattr(&spans[k], "rpc.grpc.status_code"), i % 10 ? 0 : 13);
		}
	}
}

/* More than 128 streams open: the rest are counted, not tracked. */
static void test_stream_limit(void **state)
{
	struct h1_conn_info ci = info(true);
	struct script sc = { .n = 0 };
	struct bytes hb, *b;
	uint64_t full = h2_ctx_stats(ctx)->streams_full;
	int32_t s;

	(void)state;
	npool = 0;
	b = piece(&sc, true);
	for (int i = 0; i < 130; i++) {
		hb.n = 0;
		h_idx(&hb, 2);
		h_idx(&hb, 6);
		h_idx(&hb, 4);
		frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1 + 2 * i, hb.b,
		      hb.n);
	}
	b = piece(&sc, false);
	for (int i = 0; i < 130; i++) {
		hb.n = 0;
		h_idx(&hb, 8);
		frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1 + 2 * i, hb.b,
		      hb.n);
	}
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	run(s, &ci, true, &sc, 0, 0);
	close_session(s, &ci);
	assert_int_equal(nspans, 128);
	assert_int_equal(h2_ctx_stats(ctx)->streams_full, full + 2);
}

/* RST_STREAM ends a stream with an error; CONTINUATION and padding. */
static void test_rst_continuation_padding(void **state)
{
	struct h1_conn_info ci = info(false);
	struct script sc = { .n = 0 };
	struct bytes hb = { .n = 0 }, *b;
	uint8_t pl[256];
	int32_t s;

	(void)state;
	npool = 0;
	b = piece(&sc, true);
	preface(b);
	h_idx(&hb, 2);
	h_idx(&hb, 6);
	h_lit(&hb, false, 4, NULL, "/slow");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1, hb.b, hb.n);
	b = piece(&sc, true);
	frame(b, H2_RST_STREAM, 0, 1, "\0\0\0\x08", 4);
	/* stream 3: HEADERS (padded, priority) + two CONTINUATIONs, across reads */
	hb.n = 0;
	h_idx(&hb, 2);
	h_idx(&hb, 6);
	h_lit(&hb, false, 4, NULL, "/continued/path");
	h_lit(&hb, true, 0, "x-long", "0123456789abcdefghijklmnopqrstuvwxyz");
	pl[0] = 3;
	memcpy(pl + 1, "\x80\0\0\x01\x10", 5);
	memcpy(pl + 6, hb.b, 4);
	memset(pl + 10, 0, 3);
	b = piece(&sc, true);
	frame(b, H2_HEADERS, H2_FLAG_PADDED | H2_FLAG_PRIORITY | H2_FLAG_END_STREAM, 3, pl, 13);
	frame(b, H2_CONTINUATION, 0, 3, hb.b + 4, 10);
	b = piece(&sc, true);
	frame(b, H2_CONTINUATION, H2_FLAG_END_HEADERS, 3, hb.b + 14, hb.n - 14);
	b = piece(&sc, false);
	hb.n = 0;
	h_idx(&hb, 8);
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS, 3, hb.b, hb.n);
	pl[0] = 4;
	memcpy(pl + 1, "abcdef", 6);
	memset(pl + 7, 0, 4);
	frame(b, H2_DATA, H2_FLAG_PADDED | H2_FLAG_END_STREAM, 3, pl, 11);
	frame(b, H2_PING, 0, 0, "01234567", 8);
	frame(b, H2_WINDOW_UPDATE, 0, 0, "\0\0\x10\0", 4);
	frame(b, H2_GOAWAY, 0, 0, "\0\0\0\x03\0\0\0\0bye", 11);

	for (size_t step = 0; step < 4; step++) {
		nspans = 0;
		s = open_session(true, KSPAN_ROLE_SERVER);
		run(s, &ci, false, &sc, 0, step);
		close_session(s, &ci);
		assert_int_equal(nspans, 2);
		assert_string_equal(spans[0].name, "GET /slow");
		assert_int_equal(spans[0].status, SPAN_STATUS_ERROR);
		assert_string_equal(sattr(&spans[0], "error.type"), "CANCEL");
		assert_int_equal(iattr(&spans[0], "http.response.status_code"), -1);
		assert_string_equal(spans[1].name, "GET /continued/path");
		assert_int_equal(iattr(&spans[1], "http.response.body.size"), 6);
		assert_int_equal(spans[1].status, SPAN_STATUS_UNSET);
	}
	assert_int_equal(h2_ctx_stats(ctx)->protocol_errors, 0);
}

/* Capture cut short: DATA payload beyond it is counted; a header block
 * beyond it is lost, and its table changes with it. */
static void test_truncated_capture(void **state)
{
	struct h1_conn_info ci = info(true);
	struct bytes hb = { .n = 0 }, req = { .n = 0 }, resp = { .n = 0 };
	static uint8_t big[3000];
	int32_t s;

	(void)state;
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	h_idx(&hb, 2);
	h_idx(&hb, 6);
	h_lit(&hb, false, 4, NULL, "/big");
	frame(&req, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1, hb.b, hb.n);
	feed_raw(s, &ci, true, req.b, req.n, req.n);
	hb.n = 0;
	h_idx(&hb, 8);
	frame(&resp, H2_HEADERS, H2_FLAG_END_HEADERS, 1, hb.b, hb.n);
	frame(&resp, H2_DATA, H2_FLAG_END_STREAM, 1, big, sizeof(big));
	/* only 100 bytes of the read captured */
	feed_raw(s, &ci, false, resp.b, 100, resp.n);
	assert_int_equal(nspans, 1);
	assert_int_equal(iattr(&spans[0], "http.response.body.size"), 3000);

	/* a request whose header block goes past the capture */
	req.n = 0;
	hb.n = 0;
	h_idx(&hb, 2);
	h_idx(&hb, 6);
	h_lit(&hb, true, 0, "x-pad", "0123456789012345678901234567890123456789");
	frame(&req, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 3, hb.b, hb.n);
	feed_raw(s, &ci, true, req.b, 20, req.n);
	assert_true(h2_session_get(ctx, s)->dir[0].hp.partial);
	/* the stream was never opened: its response is an orphan */
	resp.n = 0;
	frame(&resp, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 3, "\x88", 1);
	feed_raw(s, &ci, false, resp.b, resp.n, resp.n);
	assert_int_equal(nspans, 1);
	/* a frame header past the capture: the direction waits for frames */
	req.n = 0;
	frame(&req, H2_DATA, 0, 5, big, 50);
	frame(&req, H2_DATA, 0, 5, big, 50);
	feed_raw(s, &ci, true, req.b, 40, req.n);
	assert_int_equal(h2_session_get(ctx, s)->dir[0].fs, H2F_LOST);
	feed_raw(s, &ci, true, big, 30, 30);
	assert_int_equal(h2_session_get(ctx, s)->dir[0].fs, H2F_LOST);
	feed_raw(s, &ci, true, req.b, 59, 59);
	assert_int_equal(h2_session_get(ctx, s)->dir[0].fs, H2F_HDR);
	close_session(s, &ci);
}

/* ---- recorded traffic ---- */

struct rec {
	bool c2s;
	const char *hex;
};

/* grpcio 1.51 client and server (tests/e2e/test_h2.py's script, an older
 * version of it): Say a, Say b, three failing Says, Stream, Collect, Chat.
 * Each line is one read or write; true: client to server. */
static const struct rec grpc_rec[] = {
	{ true,
	  "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a0000240400000000"
	  "000002000000000003000000000004003fffff0005003fffff000600002000fe"
	  "0300000001000004080000000000003f0000" },
	{ false,
	  "0000180400000000000004003fffff0005003fffff000600002000fe03000000"
	  "01000004080000000000003f0000000000040100000000" },
	{ true,
	  "0000000401000000000000cb01040000000140053a706174680e2f64656d6f2e"
	  "4563686f2f536179400a3a617574686f726974790f3132372e302e302e313a31"
	  "383038338386400c636f6e74656e742d74797065106170706c69636174696f6e"
	  "2f677270634002746508747261696c6572734014677270632d6163636570742d"
	  "656e636f64696e67176964656e746974792c206465666c6174652c20677a6970"
	  "400a757365722d6167656e7430677270632d707974686f6e2f312e35312e3120"
	  "677270632d632f32392e302e3020286c696e75783b2063687474703229000004"
	  "0800000000010000000500000600010000000100000000016100000408000000"
	  "000000000005" },
	{ false,
	  "0000080600000000000000000000000000" },
	{ true,
	  "0000080601000000000000000000000000" },
	{ false,
	  "00004e01040000000188400c636f6e74656e742d74797065106170706c696361"
	  "74696f6e2f677270634014677270632d6163636570742d656e636f64696e6717"
	  "6964656e746974792c206465666c6174652c20677a6970000009000000000001"
	  "00000000046869206100000f010500000001400b677270632d73746174757301"
	  "3000000408000000000000000006" },
	{ true,
	  "0000080600000000000000000000000000" },
	{ true,
	  "000008010400000003c3c28386c1c0bfbe000004080000000003000000050000"
	  "0600010000000300000000016200000408000000000000000009" },
	{ false,
	  "0000080601000000000000000000000000" },
	{ false,
	  "00000301040000000388c0bf0000090000000000030000000004686920620000"
	  "01010500000003be00000408000000000000000006" },
	{ true,
	  "000008010400000005c3c28386c1c0bfbe000004080000000005000000050000"
	  "1500010000000500000000106661696c2d756e617661696c61626c6500000408"
	  "000000000000000009" },
	{ false,
	  "00003201050000000588c0400b677270632d737461747573023134000c677270"
	  "632d6d657373616765116661696c6564206f6e20707572706f73650000040800"
	  "0000000000000015" },
	{ true,
	  "000008010400000007c3c28386c1c0bfbe000004080000000007000000050000"
	  "13000100000007000000000e6661696c2d6e6f745f666f756e64" },
	{ false,
	  "00003101050000000788c1400b677270632d7374617475730135000c67727063"
	  "2d6d657373616765116661696c6564206f6e20707572706f7365000004080000"
	  "00000000000013" },
	{ true,
	  "000008010400000009c3c28386c1c0bfbe000004080000000009000000050000"
	  "12000100000009000000000d6661696c2d696e7465726e616c" },
	{ false,
	  "00003201050000000988c2400b677270632d737461747573023133000c677270"
	  "632d6d657373616765116661696c6564206f6e20707572706f73650000040800"
	  "0000000000000012" },
	{ true,
	  "00002001040000000b40053a70617468112f64656d6f2e4563686f2f53747265"
	  "616dc38386c2c1c0bf00000600010000000b000000000133" },
	{ false,
	  "00000301040000000b88c3c200000b00000000000b0000000006706172742030"
	  "00000408000000000000000006" },
	{ false,
	  "00000b00000000000b0000000006706172742031" },
	{ false,
	  "00000b00000000000b0000000006706172742032" },
	{ false,
	  "00000101050000000bc1" },
	{ true,
	  "00000408000000000b000000100000040800000000000000000b" },
	{ true,
	  "00002101040000000d40053a70617468122f64656d6f2e4563686f2f436f6c6c"
	  "656374c48386c3c2c1c000000408000000000d00000005000004080000000000"
	  "00000016" },
	{ true,
	  "00000600000000000d000000000178" },
	{ true,
	  "00000600000000000d000000000179" },
	{ true,
	  "00000600000000000d00000000017a" },
	{ true,
	  "00000000010000000d" },
	{ false,
	  "00000301040000000d88c3c200000a00000000000d0000000005787c797c7a00"
	  "000101050000000dc100000408000000000000000012" },
	{ true,
	  "00001e01040000000f40053a706174680f2f64656d6f2e4563686f2f43686174"
	  "c58386c4c3c2c100000408000000000000000005" },
	{ true,
	  "00000600000000000f000000000131" },
	{ true,
	  "00000408000000000f0000000500000600000000000f00000000013200000408"
	  "000000000000000005" },
	{ true,
	  "00000000010000000f" },
	{ true,
	  "0000080600000000000000000000000001" },
	{ false,
	  "00000408000000000f0000000500000408000000000000000005000008060000"
	  "0000000000000000000001" },
	{ true,
	  "0000080601000000000000000000000001" },
	{ false,
	  "000008060100000000000000000000000100000301040000000f88c3c2000009"
	  "00000000000f00000000047265203100000408000000000000000007" },
	{ true,
	  "00000408000000000f0000000900000408000000000000000009" },
	{ false,
	  "00000900000000000f000000000472652032" },
	{ false,
	  "00000101050000000fc1" },
	{ true,
	  "00000408000000000f0000000900000408000000000000000009" },
};

static void load_recording(struct script *sc, const struct rec *r, size_t n)
{
	npool = 0;
	sc->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct bytes *b = piece(sc, r[i].c2s);
		const char *h = r[i].hex;

		for (; h[0] && h[1]; h += 2) {
			unsigned v;

			assert_int_equal(sscanf(h, "%2x", &v), 1);
			b->b[b->n++] = v;
		}
	}
}

/* Real grpcio traffic from either end, whole, cut at every point of every
 * read and write, and one byte at a time. */
static void test_recorded_grpc(void **state)
{
	static const struct {
		const char *method;
		int code;
	} want[] = {
		{ "Say", 0 }, { "Say", 0 }, { "Say", 14 }, { "Say", 5 }, { "Say", 13 },
		{ "Stream", 0 }, { "Collect", 0 }, { "Chat", 0 },
	};
	struct script sc;
	size_t longest = 0;
	char name[64];

	(void)state;
	load_recording(&sc, grpc_rec, sizeof(grpc_rec) / sizeof(grpc_rec[0]));
	for (int i = 0; i < sc.n; i++)
		if (sc.b[i]->n > longest)
			longest = sc.b[i]->n;
	for (size_t cut = 0; cut <= longest + 1; cut++) {
		bool client = cut & 1;
		struct h1_conn_info ci = info(client);
		int32_t s = open_session(true, client ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER);

		nspans = 0;
		run(s, &ci, client, &sc, cut == longest + 1 ? 0 : cut, cut == longest + 1 ? 1 : 0);
		close_session(s, &ci);
		assert_int_equal(nspans, 8);
		for (int k = 0; k < 8; k++) {
			const struct span *sp = &spans[k];
			bool err = client ? want[k].code != 0 :
				   (want[k].code == 14 || want[k].code == 13);

			snprintf(name, sizeof(name), "demo.Echo/%s", want[k].method);
			assert_string_equal(sp->name, name);
			assert_string_equal(sattr(sp, "rpc.method"), want[k].method);
			assert_string_equal(sattr(sp, "server.address"), "127.0.0.1");
			assert_int_equal(iattr(sp, "rpc.grpc.status_code"), want[k].code);
			assert_int_equal(sp->status, err ? SPAN_STATUS_ERROR : SPAN_STATUS_UNSET);
			assert_int_equal(sp->seq, 1 + 2 * k);
		}
	}
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, 0);
	assert_int_equal(h2_ctx_stats(ctx)->protocol_errors, 0);
}

/* The same, joined after the first three calls: what their blocks put in
 * the tables is unknown, so Say's :path, content-type and grpc-status,
 * named by index, are left out; the paths of methods not called before are
 * literals and come through. */
static void test_recorded_midstream(void **state)
{
	static const char *const paths[] = {
		NULL, NULL, "/demo.Echo/Stream", "/demo.Echo/Collect", "/demo.Echo/Chat",
	};
	struct h1_conn_info ci = info(false);
	struct script sc;
	int first = 0, calls = 0;
	int32_t s;

	(void)state;
	load_recording(&sc, grpc_rec, sizeof(grpc_rec) / sizeof(grpc_rec[0]));
	/* skip to the write that opens stream 7 */
	for (first = 0; first < sc.n; first++) {
		const struct bytes *b = sc.b[first];

		if (sc.c2s[first] && b->n > 9 && b->b[3] == H2_HEADERS && b->b[8] == 7)
			break;
	}
	assert_true(first < sc.n);
	sc.n -= first;
	memmove(sc.b, sc.b + first, sc.n * sizeof(sc.b[0]));
	memmove(sc.c2s, sc.c2s + first, sc.n * sizeof(sc.c2s[0]));
	nspans = 0;
	ci.seen_open = false;
	s = open_session(false, KSPAN_ROLE_UNKNOWN);
	run(s, &ci, false, &sc, 0, 0);
	assert_int_equal(h2_session_role(ctx, s), KSPAN_ROLE_SERVER);
	close_session(s, &ci);
	for (int k = 0; k < nspans; k++) {
		const struct span *sp = &spans[k];

		assert_true(k < 5);
		assert_int_equal(sp->kind, SPAN_KIND_SERVER);
		assert_string_equal(sattr(sp, "http.request.method"), "POST");
		assert_int_equal(iattr(sp, "http.response.status_code"), 200);
		assert_int_equal(sp->seq, 7 + 2 * k);
		/* Nothing is guessed: no gRPC, no address but the connection's,
		 * a path only where it was a literal. */
		if (paths[k])
			assert_string_equal(sattr(sp, "url.path"), paths[k]);
		else
			assert_null(sattr(sp, "url.path"));
		assert_null(sattr(sp, "rpc.system"));
		assert_int_equal(iattr(sp, "rpc.grpc.status_code"), -1);
		assert_string_equal(sattr(sp, "server.address"), "127.0.0.1");
		calls++;
	}
	assert_int_equal(calls, 5);
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, 0);
}

/* Requests whose pseudo-headers cannot be (a NUL or space in :path, no
 * leading slash, a CR in :authority) open no stream and make no span. */
static void test_malformed_request(void **state)
{
	static const char *const bad_paths[] = { "/a\0b", "/a b", "relative", "" };
	struct h1_conn_info ci = info(false);
	uint64_t before = h2_ctx_stats(ctx)->malformed;
	struct bytes hb, req;
	int32_t s;

	(void)state;
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_SERVER);
	for (size_t i = 0; i < 5; i++) {
		hb.n = 0;
		req.n = 0;
		h_idx(&hb, 2);
		h_idx(&hb, 6);
		if (i < 4) {
			put_int(&hb, 0x00, 4, 4);
			put_int(&hb, 0, 7, i == 0 ? 4 : strlen(bad_paths[i]));
			put(&hb, bad_paths[i], i == 0 ? 4 : strlen(bad_paths[i]));
		} else {
			h_idx(&hb, 4);
			h_lit(&hb, false, 1, NULL, "host\r\nx: y");
		}
		frame(&req, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1 + 2 * i, hb.b,
		      hb.n);
		feed_raw(s, &ci, false, req.b, req.n, req.n);
		req.n = 0;
		frame(&req, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1 + 2 * i, "\x88",
		      1);
		feed_raw(s, &ci, true, req.b, req.n, req.n);
	}
	close_session(s, &ci);
	assert_int_equal(nspans, 0);
	assert_int_equal(h2_ctx_stats(ctx)->malformed, before + 5);
}

/* Garbage invents nothing, and a connection of garbage recovers nothing. */
static void test_garbage(void **state)
{
	struct h1_conn_info ci = info(true);
	uint8_t buf[512];
	int32_t s;

	(void)state;
	srand(1);
	nspans = 0;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + rand() % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = rand();
		s = open_session(round & 1, round % 3);
		feed_raw(s, &ci, round & 2, buf, n, n);
		feed_raw(s, &ci, !(round & 2), buf, n / 2, n);
		close_session(s, &ci);
	}
	assert_int_equal(nspans, 0);
}

/* ---- nesting ---- */

/* A request HEADERS frame for stream id, path given, no context. */
static void req_headers(struct bytes *b, uint32_t id, const char *path, bool end)
{
	struct bytes hb = { .n = 0 };

	h_idx(&hb, 2);
	h_idx(&hb, 6);
	h_lit(&hb, false, 4, NULL, path);
	h_lit(&hb, false, 1, NULL, "svc.test");
	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | (end ? H2_FLAG_END_STREAM : 0), id, hb.b, hb.n);
}

static void resp_headers(struct bytes *b, uint32_t id, bool end)
{
	uint8_t st200 = 0x88;

	frame(b, H2_HEADERS, H2_FLAG_END_HEADERS | (end ? H2_FLAG_END_STREAM : 0), id, &st200, 1);
}

/* Server streams count as requests served by the thread that read their
 * HEADERS, until their response HEADERS are written (or they end); two
 * read together leave the thread with no parent to give. */
static void test_nest_server_streams(void **state)
{
	struct h1_conn_info ci = info(false);
	struct nest_table *nt = nest_new();
	struct bytes b;
	uint64_t conn;
	uint32_t seq;
	int32_t s;

	(void)state;
	assert_non_null(nt);
	h2_ctx_set_nest(ctx, nt);
	one_tid = TID_READER;
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_SERVER);
	b.n = 0;
	preface(&b);
	req_headers(&b, 1, "/one", true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 1);
	assert_true(nest_parent(nt, 7, TID_READER, &conn, &seq));
	assert_int_equal(conn, 42);
	assert_int_equal(seq, 1);
	/* Other threads serve nothing. */
	assert_int_equal(nest_count(nt, 7, TID_WRITER), 0);
	b.n = 0;
	resp_headers(&b, 1, false);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 0);
	b.n = 0;
	frame(&b, H2_DATA, H2_FLAG_END_STREAM, 1, "ok", 2);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	assert_int_equal(nspans, 1);

	/* Two streams in one read: no parent, then none while one is left. */
	b.n = 0;
	req_headers(&b, 3, "/a", true);
	req_headers(&b, 5, "/b", true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 2);
	assert_false(nest_parent(nt, 7, TID_READER, &conn, &seq));
	assert_int_equal(nest_stats(nt)->ambiguous, 1);
	b.n = 0;
	resp_headers(&b, 3, true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 1);
	assert_false(nest_parent(nt, 7, TID_READER, &conn, &seq));
	assert_int_equal(nest_stats(nt)->stale, 1);
	/* A reset ends the other. */
	b.n = 0;
	frame(&b, H2_RST_STREAM, 0, 5, "\0\0\0\x08", 4);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 0);
	assert_int_equal(nspans, 3);

	/* A stream whose connection closes unanswered leaves too. */
	b.n = 0;
	req_headers(&b, 7, "/c", false);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 1);
	close_session(s, &ci);
	assert_int_equal(nest_count(nt, 7, TID_READER), 0);
	assert_int_equal(nest_stats(nt)->entered, 4);

	/* A connection another thread reads too: its streams are not
	 * requests either thread can be said to serve. */
	s = open_session(true, KSPAN_ROLE_SERVER);
	b.n = 0;
	preface(&b);
	req_headers(&b, 1, "/x", true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_READER), 1);
	one_tid = TID_WRITER;
	b.n = 0;
	req_headers(&b, 3, "/y", true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, TID_WRITER), 0);
	close_session(s, &ci);
	assert_int_equal(nest_count(nt, 7, TID_READER), 0);
	assert_int_equal(nest_stats(nt)->entered, 5);
	one_tid = 0;
	h2_ctx_set_nest(ctx, NULL);
	nest_free(nt);
}

/* A client stream written by a thread serving one request names it; one
 * carrying its own context, or written by a thread serving several, does
 * not. */
static void test_nest_client_streams(void **state)
{
	struct h1_conn_info ci = info(true);
	struct nest_table *nt = nest_new();
	struct script sc;
	int32_t s;

	(void)state;
	assert_non_null(nt);
	h2_ctx_set_nest(ctx, nt);
	one_tid = TID_WRITER;
	assert_true(nest_enter(nt, 7, TID_WRITER, 0x99, 4));
	plain_script(&sc);	/* stream 1 has a traceparent, stream 3 none */
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	run(s, &ci, true, &sc, 0, 0);
	close_session(s, &ci);
	check_plain(true, 40000);
	assert_int_equal(spans[0].nest_conn, 0);
	assert_int_equal(spans[1].nest_conn, 0x99);
	assert_int_equal(spans[1].nest_seq, 4);
	assert_int_equal(spans[1].tid, TID_WRITER);

	assert_true(nest_enter(nt, 7, TID_WRITER, 0x98, 1));
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	run(s, &ci, true, &sc, 0, 0);
	close_session(s, &ci);
	check_plain(true, 40000);
	assert_int_equal(spans[0].nest_conn, 0);
	assert_int_equal(spans[1].nest_conn, 0);
	assert_int_equal(nest_stats(nt)->ambiguous, 1);
	assert_int_equal(nest_stats(nt)->parents, 1);

	/* Another thread reads the connection (a shared client, an I/O
	 * thread): the nesting decided at the write is withdrawn once it is
	 * seen, and none is given after; both counted. */
	nest_leave(nt, 7, TID_WRITER);
	nest_leave(nt, 7, TID_WRITER);
	assert_true(nest_enter(nt, 7, TID_WRITER, 0x99, 5));
	one_tid = 0;
	{
		uint64_t refused = h2_ctx_stats(ctx)->nest_refused;
		uint64_t parents = nest_stats(nt)->parents;
		struct bytes b;

		nspans = 0;
		s = open_session(true, KSPAN_ROLE_CLIENT);
		b.n = 0;
		preface(&b);
		req_headers(&b, 1, "/a", true);
		feed_raw(s, &ci, true, b.b, b.n, b.n);
		assert_int_equal(nest_stats(nt)->parents, parents + 1);
		b.n = 0;
		resp_headers(&b, 1, true);
		feed_raw(s, &ci, false, b.b, b.n, b.n);
		assert_int_equal(nspans, 1);
		assert_int_equal(spans[0].nest_conn, 0);
		assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 1);
		b.n = 0;
		req_headers(&b, 3, "/b", true);
		feed_raw(s, &ci, true, b.b, b.n, b.n);
		assert_int_equal(nest_stats(nt)->parents, parents + 1);
		assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 2);
		close_session(s, &ci);
	}
	h2_ctx_set_nest(ctx, NULL);
	nest_free(nt);
}

/* A multiplexing client may flush frames other threads queued: a request
 * HEADERS that shares its write with another, or goes out while another
 * stream is open on the connection, may not be the writing thread's own
 * call. None of them nests; each is counted. */
static void test_nest_client_multiplexed(void **state)
{
	struct h1_conn_info ci = info(true);
	struct nest_table *nt = nest_new();
	uint64_t refused = h2_ctx_stats(ctx)->nest_refused;
	struct bytes b;
	int32_t s;

	(void)state;
	assert_non_null(nt);
	h2_ctx_set_nest(ctx, nt);
	one_tid = TID_WRITER;
	assert_true(nest_enter(nt, 7, TID_WRITER, 0x99, 4));
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	/* two in one write */
	b.n = 0;
	preface(&b);
	req_headers(&b, 1, "/a", true);
	req_headers(&b, 3, "/b", true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 2);
	b.n = 0;
	resp_headers(&b, 1, true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	/* alone in its write, but stream 3 is still open */
	b.n = 0;
	req_headers(&b, 5, "/c", true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 3);
	b.n = 0;
	resp_headers(&b, 3, true);
	resp_headers(&b, 5, true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	/* alone on the connection again: nested */
	b.n = 0;
	req_headers(&b, 7, "/d", true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	b.n = 0;
	resp_headers(&b, 7, true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	close_session(s, &ci);
	assert_int_equal(nspans, 4);
	for (int i = 0; i < 4; i++) {
		bool last = !strcmp(sattr(&spans[i], "url.path"), "/d");

		assert_int_equal(spans[i].nest_conn, last ? 0x99 : 0);
		assert_int_equal(spans[i].nest_seq, last ? 4 : 0);
	}
	assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 3);
	/* Connection setup may share the first request's write; flow-control
	 * updates another thread may have queued, or frames of another stream,
	 * may not share the write of a request that nests. */
	nspans = 0;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	b.n = 0;
	preface(&b);
	frame(&b, H2_WINDOW_UPDATE, 0, 0, "\0\x0f\0\x01", 4);
	req_headers(&b, 1, "/d", true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	b.n = 0;
	resp_headers(&b, 1, true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	b.n = 0;
	frame(&b, H2_WINDOW_UPDATE, 0, 0, "\0\0\x40\0", 4);
	req_headers(&b, 3, "/e", true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	b.n = 0;
	resp_headers(&b, 3, true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	b.n = 0;
	req_headers(&b, 5, "/f", true);
	frame(&b, H2_WINDOW_UPDATE, 0, 3, "\0\0\x40\0", 4);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	b.n = 0;
	resp_headers(&b, 5, true);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	close_session(s, &ci);
	assert_int_equal(nspans, 3);
	assert_int_equal(spans[0].nest_conn, 0x99);
	assert_int_equal(spans[1].nest_conn, 0);
	assert_int_equal(spans[2].nest_conn, 0);
	assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 5);
	/* A thread serving nothing loses nothing: not counted. */
	nest_leave(nt, 7, TID_WRITER);
	s = open_session(true, KSPAN_ROLE_CLIENT);
	b.n = 0;
	preface(&b);
	req_headers(&b, 1, "/a", true);
	req_headers(&b, 3, "/b", true);
	feed_raw(s, &ci, true, b.b, b.n, b.n);
	close_session(s, &ci);
	assert_int_equal(h2_ctx_stats(ctx)->nest_refused, refused + 5);
	one_tid = 0;
	h2_ctx_set_nest(ctx, NULL);
	nest_free(nt);
}

/* A request whose :scheme is not known (none sent, or named by an index from
 * before kspan joined) takes the connection's: https over TLS. */
static void test_scheme_from_connection(void **state)
{
	(void)state;
	for (int tls = 0; tls < 2; tls++) {
		struct h1_conn_info ci = info(false);
		struct bytes b, hb = { .n = 0 };
		int32_t s;

		ci.tls = tls;
		nspans = 0;
		s = open_session(true, KSPAN_ROLE_SERVER);
		b.n = 0;
		preface(&b);
		h_idx(&hb, 2);
		h_lit(&hb, false, 4, NULL, "/s");
		frame(&b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1, hb.b, hb.n);
		feed_raw(s, &ci, false, b.b, b.n, b.n);
		b.n = 0;
		resp_headers(&b, 1, true);
		feed_raw(s, &ci, true, b.b, b.n, b.n);
		close_session(s, &ci);
		assert_int_equal(nspans, 1);
		assert_string_equal(sattr(&spans[0], "url.scheme"), tls ? "https" : "http");
	}
}

/* ---- Upgrade: h2c ---- */

/* Stream 1 of an upgraded connection is the HTTP/1.1 request: method,
 * path, authority, thread, start and ids from it; status and body from the
 * HTTP/2 response. The client announced a table size of 65536 in
 * HTTP2-Settings, so the server's encoder may raise its table to that. */
static void upgraded_from(bool client, bool first)
{
	struct h1_conn_info ci = info(client);
	struct nest_table *nt = nest_new();
	struct h1_upgrade up = {
		.tid = 99, .start_ns = 500, .req_body = 0, .trace_id = { 1, 2, 3 },
		.span_id = { 4, 5, 6 }, .flags = 1, .table_size = 65536, .first = first,
		.nest_conn = client ? 0x77 : 0, .nest_seq = client ? 2 : 0,
		.method_len = 3, .method = "GET", .host_len = 12, .host = "h2.test:8080",
		.path_len = 8, .path = "/p/1?x=2",
	};
	struct h2_stats before = *h2_ctx_stats(ctx);
	struct bytes b, hb = { .n = 0 };
	int32_t s;

	assert_non_null(nt);
	h2_ctx_set_nest(ctx, nt);
	one_tid = 99;
	nspans = 0;
	s = open_session(true, client ? KSPAN_ROLE_CLIENT : KSPAN_ROLE_SERVER);
	assert_true(h2_session_upgraded(ctx, s, &ci, &up));
	/* A server's stream 1 is a request its thread serves, if it was the
	 * connection's first (numbered 1 both ways). */
	assert_int_equal(nest_count(nt, 7, 99), !client && first);
	/* The server: SETTINGS, then the response on stream 1, its block
	 * raising the table to 65536 first. */
	b.n = 0;
	frame(&b, H2_SETTINGS, 0, 0, "", 0);
	put_int(&hb, 0x20, 5, 65536);
	h_idx(&hb, 8);
	h_lit(&hb, true, 0, "x-long", "v");
	frame(&b, H2_HEADERS, H2_FLAG_END_HEADERS, 1, hb.b, hb.n);
	feed_raw(s, &ci, !client, b.b, b.n, b.n);
	assert_int_equal(nest_count(nt, 7, 99), 0);
	/* The client's preface, then the rest of the response. */
	b.n = 0;
	preface(&b);
	feed_raw(s, &ci, client, b.b, b.n, b.n);
	b.n = 0;
	frame(&b, H2_DATA, H2_FLAG_END_STREAM, 1, "hello", 5);
	feed_raw(s, &ci, !client, b.b, b.n, b.n);
	assert_int_equal(nspans, 1);
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, before.hpack_errors);
	assert_int_equal(h2_ctx_stats(ctx)->protocol_errors, before.protocol_errors);
	assert_int_equal(h2_ctx_stats(ctx)->header_blocks, before.header_blocks + 1);
	assert_string_equal(spans[0].name, client ? "GET" : "GET /p/{id}");
	assert_string_equal(sattr(&spans[0], "http.request.method"), "GET");
	assert_string_equal(sattr(&spans[0], "url.path"), "/p/1");
	assert_string_equal(sattr(&spans[0], "url.query"), "x=2");
	assert_string_equal(sattr(&spans[0], "url.scheme"), "http");
	assert_string_equal(sattr(&spans[0], "network.protocol.version"), "2");
	assert_string_equal(sattr(&spans[0], "server.address"), "h2.test");
	assert_int_equal(iattr(&spans[0], "server.port"), 8080);
	assert_int_equal(iattr(&spans[0], "http.response.status_code"), 200);
	assert_int_equal(iattr(&spans[0], "http.response.body.size"), 5);
	if (client)
		assert_string_equal(sattr(&spans[0], "url.full"), "http://h2.test:8080/p/1?x=2");
	assert_int_equal(spans[0].kind, client ? SPAN_KIND_CLIENT : SPAN_KIND_SERVER);
	assert_int_equal(spans[0].tid, 99);
	assert_int_equal(spans[0].seq, 1);
	assert_int_equal(spans[0].req_no, 1);
	assert_int_equal(spans[0].start_ns, ids_mono_to_unix(500));
	assert_true(spans[0].end_ns > spans[0].start_ns);
	assert_memory_equal(spans[0].trace_id, up.trace_id, 16);
	assert_memory_equal(spans[0].span_id, up.span_id, 8);
	assert_int_equal(spans[0].nest_conn, client ? 0x77 : 0);
	assert_int_equal(spans[0].nest_seq, client ? 2 : 0);
	close_session(s, &ci);
	assert_int_equal(nspans, 1);
	one_tid = 0;
	h2_ctx_set_nest(ctx, NULL);
	nest_free(nt);
}

static void test_upgraded(void **state)
{
	uint64_t n = h2_ctx_stats(ctx)->upgrades;

	(void)state;
	upgraded_from(true, true);
	upgraded_from(false, true);
	upgraded_from(false, false);
	assert_int_equal(h2_ctx_stats(ctx)->upgrades, n + 3);
}

/* Without the client's HTTP2-Settings table size, the same raise is an
 * HPACK error: the check above is not vacuous. */
static void test_upgraded_default_table(void **state)
{
	struct h1_conn_info ci = info(true);
	struct h1_upgrade up = {
		.tid = 99, .start_ns = 500, .flags = 1, .table_size = UINT32_MAX,
		.method_len = 3, .method = "GET", .path_len = 1, .path = "/",
	};
	uint64_t errs = h2_ctx_stats(ctx)->hpack_errors;
	struct bytes b, hb = { .n = 0 };
	int32_t s;

	(void)state;
	s = open_session(true, KSPAN_ROLE_CLIENT);
	assert_true(h2_session_upgraded(ctx, s, &ci, &up));
	b.n = 0;
	put_int(&hb, 0x20, 5, 65536);
	h_idx(&hb, 8);
	frame(&b, H2_HEADERS, H2_FLAG_END_HEADERS | H2_FLAG_END_STREAM, 1, hb.b, hb.n);
	feed_raw(s, &ci, false, b.b, b.n, b.n);
	assert_int_equal(h2_ctx_stats(ctx)->hpack_errors, errs + 1);
	close_session(s, &ci);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_whole),
		cmocka_unit_test(test_plain_every_cut),
		cmocka_unit_test(test_role_from_preface),
		cmocka_unit_test(test_midstream),
		cmocka_unit_test(test_grpc),
		cmocka_unit_test(test_100_streams),
		cmocka_unit_test(test_stream_limit),
		cmocka_unit_test(test_rst_continuation_padding),
		cmocka_unit_test(test_truncated_capture),
		cmocka_unit_test(test_recorded_grpc),
		cmocka_unit_test(test_recorded_midstream),
		cmocka_unit_test(test_malformed_request),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_nest_server_streams),
		cmocka_unit_test(test_nest_client_streams),
		cmocka_unit_test(test_nest_client_multiplexed),
		cmocka_unit_test(test_scheme_from_connection),
		cmocka_unit_test(test_upgraded),
		cmocka_unit_test(test_upgraded_default_table),
	};
	int rc;

	guard_init(16384);
	rc = cmocka_run_group_tests(tests, setup, teardown);
	return rc;
}
