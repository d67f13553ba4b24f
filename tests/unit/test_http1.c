// SPDX-License-Identifier: Apache-2.0
/* Unit tests for user/http1.c.
 *
 * Every input sits at the very end of a mapping followed by a PROT_NONE
 * page, so a read past len faults instead of passing silently. Heads are
 * parsed cut at every length; bodies are decoded whole, byte by byte and in
 * every two-piece split.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "guard.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http1.h"

#define MAX_HEAD	8192
#define NHDR		16


/* ---- small helpers ---- */

static bool slice_is(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

#define assert_slice(p, n, s) assert_true(slice_is((p), (n), (s)))

/* Length of the head at the start of s: up to the first empty line. */
static size_t head_len(const char *s, size_t len)
{
	const char *crlf = memmem(s, len, "\r\n\r\n", 4);
	const char *lf = memmem(s, len, "\n\n", 2);
	size_t a = crlf ? (size_t)(crlf - s) + 4 : SIZE_MAX;
	size_t b = lf ? (size_t)(lf - s) + 2 : SIZE_MAX;

	return a < b ? a : b;
}

static int parse_req(const char *p, size_t len, size_t max_head,
		     struct http1_request *req, struct http1_header *h)
{
	memset(req, 0, sizeof(*req));
	req->headers = h;
	req->num_headers = NHDR;
	return http1_parse_request(p, len, max_head, req);
}

static int parse_resp(const char *p, size_t len, size_t max_head,
		      struct http1_response *resp, struct http1_header *h)
{
	memset(resp, 0, sizeof(*resp));
	resp->headers = h;
	resp->num_headers = NHDR;
	return http1_parse_response(p, len, max_head, resp);
}

/* ---- chunked decoding in three feeding patterns ---- */

struct chunked_result {
	ssize_t consumed;
	enum http1_chunked_state state;
	uint64_t body_bytes;
	bool error;
};

static struct chunked_result chunked_whole(struct guard *g, const char *s,
					   size_t len)
{
	struct http1_chunked c;
	struct chunked_result r;

	http1_chunked_init(&c);
	r.consumed = http1_chunked_feed(&c, guard_put(g, s, len), len);
	r.state = c.state;
	r.body_bytes = c.body_bytes;
	r.error = c.error;
	return r;
}

static void chunked_check_splits(struct guard *g, const char *s, size_t len,
				 const struct chunked_result *want)
{
	struct http1_chunked c;
	ssize_t n, total;
	size_t i, cut;

	/* One byte at a time. */
	http1_chunked_init(&c);
	for (i = 0, total = 0; i < len; i++) {
		n = http1_chunked_feed(&c, guard_put(g, s + i, 1), 1);
		if (n < 0) {
			total = -1;
			break;
		}
		total += n;
	}
	assert_int_equal(c.error, want->error);
	if (!want->error) {
		assert_int_equal(total, want->consumed);
		assert_int_equal(c.state, want->state);
		assert_int_equal(c.body_bytes, want->body_bytes);
	}

	/* Every two-piece split. */
	for (cut = 0; cut <= len; cut++) {
		http1_chunked_init(&c);
		n = http1_chunked_feed(&c, guard_put(g, s, cut), cut);
		total = n;
		if (n >= 0) {
			n = http1_chunked_feed(&c, guard_put(g, s + cut,
							     len - cut),
					       len - cut);
			total = n < 0 ? -1 : total + n;
		}
		assert_int_equal(c.error, want->error);
		if (!want->error) {
			assert_int_equal(total, want->consumed);
			assert_int_equal(c.state, want->state);
			assert_int_equal(c.body_bytes, want->body_bytes);
		}
	}
}

/* ---- message streams: heads cut everywhere, then framing ---- */

struct exp_msg {
	const char *method;	/* requests */
	const char *target;
	int status;		/* responses */
	int minor;
	size_t num_headers;
	enum http1_body body;
	uint64_t length;	/* Content-Length, or decoded chunked bytes */
	bool keep_alive;
	bool upgrade;
};

struct stream_case {
	const char *name;
	const char *req_method;	/* responses: method of the request */
	const char *data;
	size_t nmsgs;
	struct exp_msg msgs[3];
};

static size_t advance_body(struct guard *g, const char *body, size_t len,
			   const struct exp_msg *e, const struct http1_framing *f)
{
	struct chunked_result r;

	assert_int_equal(f->body, e->body);
	assert_int_equal(f->keep_alive, e->keep_alive);
	assert_int_equal(f->upgrade, e->upgrade);
	if (f->upgrade)
		return len;	/* the rest is another protocol */
	switch (f->body) {
	case HTTP1_BODY_NONE:
		return 0;
	case HTTP1_BODY_LENGTH:
		assert_int_equal(f->length, e->length);
		assert_true(f->length <= len);
		return f->length;
	case HTTP1_BODY_CHUNKED:
		r = chunked_whole(g, body, len);
		assert_false(r.error);
		assert_int_equal(r.state, H1C_DONE);
		assert_int_equal(r.body_bytes, e->length);
		chunked_check_splits(g, body, len, &r);
		return (size_t)r.consumed;
	case HTTP1_BODY_UNTIL_CLOSE:
		return len;
	}
	fail();
	return 0;
}

static void run_stream(const struct stream_case *sc, bool response)
{
	size_t len = strlen(sc->data), off = 0, m, k, rest, head;
	struct http1_header h[NHDR];
	struct http1_request req;
	struct http1_response resp;
	struct http1_framing f;
	const char *method;
	size_t method_len;
	struct guard g;
	char *p;
	int r;

	print_message("stream: %s\n", sc->name);
	guard_init(&g, len);
	method = sc->req_method;
	method_len = method ? strlen(method) : 0;
	for (m = 0; m < sc->nmsgs; m++) {
		const struct exp_msg *e = &sc->msgs[m];

		rest = len - off;
		head = head_len(sc->data + off, rest);
		assert_true(head <= rest);
		for (k = 0; k <= rest; k++) {
			p = guard_put(&g, sc->data + off, k);
			if (response) {
				r = parse_resp(p, k, MAX_HEAD, &resp, h);
				if (r == -2)
					assert_int_equal(resp.num_headers, NHDR);
			} else {
				r = parse_req(p, k, MAX_HEAD, &req, h);
				if (r == -2)
					assert_int_equal(req.num_headers, NHDR);
			}
			if (k < head)
				assert_int_equal(r, -2);
			else
				assert_int_equal(r, head);
		}

		/* Fields come from the last (full) parse. */
		if (response) {
			assert_int_equal(resp.status, e->status);
			assert_int_equal(resp.minor_version, e->minor);
			assert_int_equal(resp.num_headers, e->num_headers);
			assert_int_equal(http1_response_framing(&resp, method,
								method_len, &f), 0);
		} else {
			assert_slice(req.method, req.method_len, e->method);
			assert_slice(req.target, req.target_len, e->target);
			assert_int_equal(req.minor_version, e->minor);
			assert_int_equal(req.num_headers, e->num_headers);
			assert_int_equal(http1_request_framing(&req, &f), 0);
		}
		off += head;
		off += advance_body(&g, sc->data + off, len - off, e, &f);
	}
	assert_int_equal(off, len);
	guard_free(&g);
}

static const struct stream_case request_streams[] = {
	{
		.name = "GET with headers",
		.data = "GET /index.html?x=1 HTTP/1.1\r\n"
			"Host: example.com\r\n"
			"User-Agent: curl/8.0.1\r\n"
			"Accept: */*\r\n"
			"X-Pad:   padded value  \t\r\n"
			"\r\n",
		.nmsgs = 1,
		.msgs = { { "GET", "/index.html?x=1", 0, 1, 4,
			    HTTP1_BODY_NONE, 0, true, false } },
	},
	{
		.name = "POST with Content-Length",
		.data = "POST /api/users HTTP/1.1\r\n"
			"Host: a\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length: 11\r\n"
			"\r\n"
			"hello world",
		.nmsgs = 1,
		.msgs = { { "POST", "/api/users", 0, 1, 3,
			    HTTP1_BODY_LENGTH, 11, true, false } },
	},
	{
		.name = "chunked POST",
		.data = "POST /upload HTTP/1.1\r\n"
			"Host: a\r\n"
			"Transfer-Encoding: chunked\r\n"
			"\r\n"
			"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		.nmsgs = 1,
		.msgs = { { "POST", "/upload", 0, 1, 2,
			    HTTP1_BODY_CHUNKED, 11, true, false } },
	},
	{
		.name = "pipelined",
		.data = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
			"GET /b HTTP/1.1\r\nHost: a\r\n\r\n"
			"POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			"\r\nabc",
		.nmsgs = 3,
		.msgs = {
			{ "GET", "/a", 0, 1, 1, HTTP1_BODY_NONE, 0, true, false },
			{ "GET", "/b", 0, 1, 1, HTTP1_BODY_NONE, 0, true, false },
			{ "POST", "/c", 0, 1, 2, HTTP1_BODY_LENGTH, 3, true,
			  false },
		},
	},
	{
		.name = "CRLF after body before next request",
		.data = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
			"\r\nGET /b HTTP/1.0\r\n\r\n",
		.nmsgs = 2,
		.msgs = {
			{ "POST", "/a", 0, 1, 1, HTTP1_BODY_LENGTH, 2, true,
			  false },
			{ "GET", "/b", 0, 0, 0, HTTP1_BODY_NONE, 0, false,
			  false },
		},
	},
	{
		.name = "absolute-form target",
		.data = "GET http://example.com:8080/p/q?r=1 HTTP/1.1\r\n"
			"Host: example.com:8080\r\n"
			"Proxy-Connection: keep-alive\r\n"
			"\r\n",
		.nmsgs = 1,
		.msgs = { { "GET", "http://example.com:8080/p/q?r=1", 0, 1, 2,
			    HTTP1_BODY_NONE, 0, true, false } },
	},
	{
		.name = "HTTP/1.0 keep-alive",
		.data = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		.nmsgs = 1,
		.msgs = { { "GET", "/", 0, 0, 1, HTTP1_BODY_NONE, 0, true,
			    false } },
	},
	{
		.name = "LF-only line endings",
		.data = "PUT /lf HTTP/1.1\nHost: a\nContent-Length: 1\n\nx",
		.nmsgs = 1,
		.msgs = { { "PUT", "/lf", 0, 1, 2, HTTP1_BODY_LENGTH, 1, true,
			    false } },
	},
	{
		.name = "OPTIONS * and CONNECT",
		.data = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
			"CONNECT example.com:443 HTTP/1.1\r\n"
			"Host: example.com:443\r\n\r\n",
		.nmsgs = 2,
		.msgs = {
			{ "OPTIONS", "*", 0, 1, 1, HTTP1_BODY_NONE, 0, true,
			  false },
			{ "CONNECT", "example.com:443", 0, 1, 1,
			  HTTP1_BODY_NONE, 0, true, false },
		},
	},
	{
		.name = "extension method, no headers, Connection: close",
		.data = "PROPFIND /dav HTTP/1.1\r\nConnection: close\r\n\r\n",
		.nmsgs = 1,
		.msgs = { { "PROPFIND", "/dav", 0, 1, 1, HTTP1_BODY_NONE, 0,
			    false, false } },
	},
};

static const struct stream_case response_streams[] = {
	{
		.name = "200 with Content-Length",
		.req_method = "GET",
		.data = "HTTP/1.1 200 OK\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length: 5\r\n"
			"\r\n"
			"hello",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 200, 1, 2, HTTP1_BODY_LENGTH, 5, true,
			    false } },
	},
	{
		.name = "204",
		.req_method = "DELETE",
		.data = "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 204, 1, 1, HTTP1_BODY_NONE, 0, true,
			    false } },
	},
	{
		.name = "304 with Content-Length",
		.req_method = "GET",
		.data = "HTTP/1.1 304 Not Modified\r\n"
			"ETag: \"abc\"\r\n"
			"Content-Length: 100\r\n"
			"\r\n",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 304, 1, 2, HTTP1_BODY_NONE, 0, true,
			    false } },
	},
	{
		.name = "101 Switching Protocols",
		.req_method = "GET",
		.data = "HTTP/1.1 101 Switching Protocols\r\n"
			"Upgrade: websocket\r\n"
			"Connection: Upgrade\r\n"
			"\r\n"
			"\x81\x05hello",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 101, 1, 2, HTTP1_BODY_NONE, 0, true,
			    true } },
	},
	{
		.name = "response to HEAD",
		.req_method = "HEAD",
		.data = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 200, 1, 1, HTTP1_BODY_NONE, 0, true,
			    false } },
	},
	{
		.name = "chunked with extensions and trailers",
		.req_method = "GET",
		.data = "HTTP/1.1 200 OK\r\n"
			"Transfer-Encoding: chunked\r\n"
			"Trailer: Expires\r\n"
			"\r\n"
			"4;name=value\r\nWiki\r\n"
			"5 ; a=\"b c\"\r\npedia\r\n"
			"E\r\n in\r\n\r\nchunks.\r\n"
			"0;last\r\n"
			"Expires: never\r\n"
			"X-Trailer: 1\r\n"
			"\r\n",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 200, 1, 2, HTTP1_BODY_CHUNKED, 23, true,
			    false } },
	},
	{
		.name = "1xx then 200",
		.req_method = "POST",
		.data = "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 103 Early Hints\r\n"
			"Link: </s.css>; rel=preload\r\n\r\n"
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		.nmsgs = 3,
		.msgs = {
			{ NULL, NULL, 100, 1, 0, HTTP1_BODY_NONE, 0, true,
			  false },
			{ NULL, NULL, 103, 1, 1, HTTP1_BODY_NONE, 0, true,
			  false },
			{ NULL, NULL, 200, 1, 1, HTTP1_BODY_LENGTH, 2, true,
			  false },
		},
	},
	{
		.name = "HTTP/1.0 until close",
		.req_method = "GET",
		.data = "HTTP/1.0 200 OK\r\nServer: old\r\n\r\n"
			"<html>until close</html>",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 200, 0, 1, HTTP1_BODY_UNTIL_CLOSE, 0,
			    false, false } },
	},
	{
		.name = "CONNECT 200 then tunnel",
		.req_method = "CONNECT",
		.data = "HTTP/1.1 200 Connection established\r\n\r\n"
			"\x16\x03\x01\x02",
		.nmsgs = 1,
		.msgs = { { NULL, NULL, 200, 1, 0, HTTP1_BODY_NONE, 0, true,
			    true } },
	},
	{
		.name = "keep-alive responses, no reason phrase, LF only",
		.req_method = "GET",
		.data = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
			"HTTP/1.1 404 Not Found\nContent-Length: 4\n\nnope"
			"HTTP/1.1 500 Oops\r\nConnection: close\r\n"
			"Content-Length: 1\r\n\r\n!",
		.nmsgs = 3,
		.msgs = {
			{ NULL, NULL, 200, 1, 1, HTTP1_BODY_LENGTH, 0, true,
			  false },
			{ NULL, NULL, 404, 1, 1, HTTP1_BODY_LENGTH, 4, true,
			  false },
			{ NULL, NULL, 500, 1, 2, HTTP1_BODY_LENGTH, 1, false,
			  false },
		},
	},
};

static void test_request_streams(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(request_streams) / sizeof(request_streams[0]); i++)
		run_stream(&request_streams[i], false);
}

static void test_response_streams(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(response_streams) / sizeof(response_streams[0]); i++)
		run_stream(&response_streams[i], true);
}

/* ---- field details ---- */

static void test_request_fields(void **state)
{
	static const char msg[] = "GET /x HTTP/1.1\r\n"
				  "Host: example.com\r\n"
				  "X-Pad: \t padded  value \t \r\n"
				  "X-Empty:\r\n"
				  "X-Blank:    \r\n"
				  "X-Utf8: caf\xc3\xa9\r\n"
				  "X-Quote: \"a, b\"\r\n"
				  "\r\n";
	struct http1_header h[NHDR];
	struct http1_request req;
	struct guard g;
	char *p;

	(void)state;
	guard_init(&g, sizeof(msg) - 1);
	p = guard_put(&g, msg, sizeof(msg) - 1);
	assert_int_equal(parse_req(p, sizeof(msg) - 1, MAX_HEAD, &req, h),
			 sizeof(msg) - 1);
	assert_int_equal(req.num_headers, 6);
	assert_slice(h[0].name, h[0].name_len, "Host");
	assert_slice(h[0].value, h[0].value_len, "example.com");
	assert_slice(h[1].name, h[1].name_len, "X-Pad");
	assert_slice(h[1].value, h[1].value_len, "padded  value");
	assert_int_equal(h[2].value_len, 0);
	assert_int_equal(h[3].value_len, 0);
	assert_slice(h[4].value, h[4].value_len, "caf\xc3\xa9");
	assert_slice(h[5].value, h[5].value_len, "\"a, b\"");
	/* Slices point into the caller's buffer. */
	assert_true(h[1].value > p && h[1].value < p + sizeof(msg) - 1);
	guard_free(&g);
}

static void test_response_fields(void **state)
{
	static const char a[] = "HTTP/1.1 404 Not Found \r\nServer: x\r\n\r\n";
	static const char b[] = "HTTP/1.1 200\r\n\r\n";
	static const char c[] = "HTTP/1.1 999 \r\n\r\n";
	struct http1_header h[NHDR];
	struct http1_response resp;
	struct guard g;
	char *p;

	(void)state;
	guard_init(&g, 64);
	p = guard_put(&g, a, sizeof(a) - 1);
	assert_int_equal(parse_resp(p, sizeof(a) - 1, MAX_HEAD, &resp, h),
			 sizeof(a) - 1);
	assert_int_equal(resp.status, 404);
	assert_int_equal(resp.minor_version, 1);
	assert_slice(resp.reason, resp.reason_len, "Not Found");
	assert_int_equal(resp.num_headers, 1);
	assert_slice(h[0].value, h[0].value_len, "x");

	p = guard_put(&g, b, sizeof(b) - 1);
	assert_int_equal(parse_resp(p, sizeof(b) - 1, MAX_HEAD, &resp, h),
			 sizeof(b) - 1);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.reason_len, 0);
	assert_int_equal(resp.num_headers, 0);

	p = guard_put(&g, c, sizeof(c) - 1);
	assert_int_equal(parse_resp(p, sizeof(c) - 1, MAX_HEAD, &resp, h),
			 sizeof(c) - 1);
	assert_int_equal(resp.status, 999);
	assert_int_equal(resp.reason_len, 0);
	guard_free(&g);
}

static void test_max_head(void **state)
{
	static const char msg[] = "GET /abc HTTP/1.1\r\nHost: x\r\n\r\nbody";
	size_t hl = sizeof(msg) - 1 - 4, k;
	struct http1_header h[NHDR];
	struct http1_response resp;
	struct http1_request req;
	struct guard g;
	char *p;

	(void)state;
	guard_init(&g, sizeof(msg));
	p = guard_put(&g, msg, sizeof(msg) - 1);
	/* Head exactly max_head long, with body bytes beyond it. */
	assert_int_equal(parse_req(p, sizeof(msg) - 1, hl, &req, h), hl);
	assert_int_equal(parse_req(p, sizeof(msg) - 1, hl - 1, &req, h), -1);
	for (k = 0; k < hl; k++) {
		p = guard_put(&g, msg, k);
		assert_int_equal(parse_req(p, k, hl - 1, &req, h),
				 k < hl - 1 ? -2 : -1);
	}
	assert_int_equal(parse_req(p, 0, 0, &req, h), -1);

	p = guard_put(&g, "HTTP/1.1 200 OK\r\n\r\n", 19);
	assert_int_equal(parse_resp(p, 19, 19, &resp, h), 19);
	assert_int_equal(parse_resp(p, 19, 18, &resp, h), -1);
	assert_int_equal(parse_resp(p, 17, 18, &resp, h), -2);
	guard_free(&g);
}

static void test_header_capacity(void **state)
{
	struct http1_header h[128];
	struct http1_request req;
	char msg[4096];
	size_t n, i;
	struct guard g;
	char *p;

	(void)state;
	n = (size_t)snprintf(msg, sizeof(msg), "GET / HTTP/1.1\r\n");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n,
				      "X-H%zu: %zu\r\n", i, i);
	n += (size_t)snprintf(msg + n, sizeof(msg) - n, "\r\n");
	assert_true(n < sizeof(msg));

	guard_init(&g, n);
	p = guard_put(&g, msg, n);
	memset(&req, 0, sizeof(req));
	req.headers = h;
	req.num_headers = 8;
	assert_int_equal(http1_parse_request(p, n, MAX_HEAD, &req), -1);

	req.num_headers = 128;
	assert_int_equal(http1_parse_request(p, n, MAX_HEAD, &req), n);
	assert_int_equal(req.num_headers, 100);
	assert_slice(h[99].name, h[99].name_len, "X-H99");

	req.num_headers = 0;
	req.headers = NULL;
	p = guard_put(&g, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(http1_parse_request(p, 18, MAX_HEAD, &req), 18);
	assert_int_equal(req.num_headers, 0);
	guard_free(&g);
}

/* ---- garbage ---- */

struct blob {
	const char *s;
	size_t len;
};

#define BLOB(x) { x, sizeof(x) - 1 }

static const char tls_hello[] =
	"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x1e\x55\x00\x00"
	"\x20\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\x00\x00\x00\x0e\x00";

static const struct blob garbage_both[] = {
	BLOB("\x00\x01\x02\x03\xff\xfe\xfd\x80\x7f"),
	BLOB(tls_hello),
	BLOB("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	BLOB("\r\n\r\n"),
	BLOB(" GET / HTTP/1.1\r\n\r\n"),
	BLOB("\xef\xbb\xbfGET / HTTP/1.1\r\n\r\n"),
	BLOB("SSH-2.0-OpenSSH_9.2p1\r\n"),
};

static const struct blob garbage_requests[] = {
	BLOB("GET\0 / HTTP/1.1\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nHost\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nX-A: 1\r\n\tfolded\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\n: empty\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nA(b: c\r\n\r\n"),
	BLOB("GET / HTTP/1.1\rX"),
	BLOB("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n"),
	BLOB("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n"),
	BLOB("GET /\x7f HTTP/1.1\r\n\r\n"),
	BLOB("GET /a\tb HTTP/1.1\r\n\r\n"),
	BLOB("GET / HTTP/2.0\r\n\r\n"),
	BLOB("GET / HTTP/1.10\r\n\r\n"),
	BLOB("GET / HTTP/1.1 \r\n\r\n"),
	BLOB("GET / http/1.1\r\n\r\n"),
	BLOB("GET /\r\n\r\n"),
	BLOB("GET  HTTP/1.1\r\n\r\n"),
	BLOB("G(T / HTTP/1.1\r\n\r\n"),
	BLOB("\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
	BLOB("HTTP/1.1 200 OK\r\n\r\n"),
};

static const struct blob garbage_responses[] = {
	BLOB("GET / HTTP/1.1\r\n\r\n"),
	BLOB("HTTP/1.1 20 OK\r\n\r\n"),
	BLOB("HTTP/1.1 099 Low\r\n\r\n"),
	BLOB("HTTP/1.1 2000 OK\r\n\r\n"),
	BLOB("HTTP/1.1 20x OK\r\n\r\n"),
	BLOB("HTTP/1.1200 OK\r\n\r\n"),
	BLOB("HTTP/2 200\r\n\r\n"),
	BLOB("HTTP/1.x 200 OK\r\n\r\n"),
	BLOB("HTTP/1.1 200 O\x01K\r\n\r\n"),
	BLOB("HTTP/1.1 200 OK\r\nFoo\r\n\r\n"),
	BLOB("HTTP/1.1 200 OK\r\nFoo : x\r\n\r\n"),
	BLOB("HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n"),
	BLOB("HTTP/1.1 200 OK\r\nA: \0\r\n\r\n"),
	BLOB("HTTP/1.1 200 OK\rA: 1\r\n\r\n"),
};

/* The full blob is -1; every prefix is -1 or -2; nothing faults. */
static void check_garbage(struct guard *g, const struct blob *b, bool response)
{
	struct http1_header h[NHDR];
	struct http1_response resp;
	struct http1_request req;
	size_t k;
	char *p;
	int r;

	for (k = 0; k <= b->len; k++) {
		p = guard_put(g, b->s, k);
		if (response)
			r = parse_resp(p, k, MAX_HEAD, &resp, h);
		else
			r = parse_req(p, k, MAX_HEAD, &req, h);
		if (k == b->len)
			assert_int_equal(r, -1);
		else
			assert_true(r == -1 || r == -2);
	}
}

static void test_garbage(void **state)
{
	struct guard g;
	size_t i;

	(void)state;
	guard_init(&g, 4096);
	for (i = 0; i < sizeof(garbage_both) / sizeof(garbage_both[0]); i++) {
		check_garbage(&g, &garbage_both[i], false);
		check_garbage(&g, &garbage_both[i], true);
	}
	for (i = 0; i < sizeof(garbage_requests) / sizeof(garbage_requests[0]); i++)
		check_garbage(&g, &garbage_requests[i], false);
	for (i = 0; i < sizeof(garbage_responses) / sizeof(garbage_responses[0]); i++)
		check_garbage(&g, &garbage_responses[i], true);
	guard_free(&g);
}

static void test_partial_vs_error(void **state)
{
	struct http1_header h[NHDR];
	struct http1_request req;
	struct guard g;
	char *p;

	(void)state;
	guard_init(&g, 64);
	p = guard_put(&g, "GET", 3);
	assert_int_equal(parse_req(p, 3, MAX_HEAD, &req, h), -2);
	p = guard_put(&g, "GET\0", 4);
	assert_int_equal(parse_req(p, 4, MAX_HEAD, &req, h), -1);
	p = guard_put(&g, "GET / HTTP/1.1\r", 15);
	assert_int_equal(parse_req(p, 15, MAX_HEAD, &req, h), -2);
	p = guard_put(&g, "\r", 1);
	assert_int_equal(parse_req(p, 1, MAX_HEAD, &req, h), -2);
	assert_int_equal(parse_req(p, 0, MAX_HEAD, &req, h), -2);
	guard_free(&g);
}

/* ---- sniffing ---- */

static int sniff_req(struct guard *g, const char *s, size_t len)
{
	return http1_looks_like_request(guard_put(g, s, len), len);
}

static int sniff_resp(struct guard *g, const char *s, size_t len)
{
	return http1_looks_like_response(guard_put(g, s, len), len);
}

static void test_sniff(void **state)
{
	static const char *const methods[] = {
		"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "CONNECT ",
		"OPTIONS ", "TRACE ", "PATCH ",
	};
	struct guard g;
	size_t i, k;

	(void)state;
	guard_init(&g, 64);
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		for (k = 0; k <= strlen(methods[i]); k++)
			assert_int_equal(sniff_req(&g, methods[i], k), 1);
	assert_int_equal(sniff_req(&g, "GET /x HTTP/1.1\r\n", 17), 1);
	assert_int_equal(sniff_req(&g, "GE", 2), 1);
	assert_int_equal(sniff_req(&g, "GX", 2), 0);
	assert_int_equal(sniff_req(&g, "GET/", 4), 0);
	assert_int_equal(sniff_req(&g, "GETX", 4), 0);
	assert_int_equal(sniff_req(&g, "get ", 4), 0);
	assert_int_equal(sniff_req(&g, "PRI * HTTP/2.0", 14), 0);
	assert_int_equal(sniff_req(&g, "HTTP/1.1", 8), 0);
	assert_int_equal(sniff_req(&g, tls_hello, sizeof(tls_hello) - 1), 0);
	assert_int_equal(sniff_req(&g, "\0", 1), 0);

	for (k = 0; k <= 7; k++)
		assert_int_equal(sniff_resp(&g, "HTTP/1.", k), 1);
	assert_int_equal(sniff_resp(&g, "HTTP/1.1 200 OK\r\n", 17), 1);
	assert_int_equal(sniff_resp(&g, "HTTP/2 200", 10), 0);
	assert_int_equal(sniff_resp(&g, "http/1.1", 8), 0);
	assert_int_equal(sniff_resp(&g, "GET ", 4), 0);
	assert_int_equal(sniff_resp(&g, tls_hello, sizeof(tls_hello) - 1), 0);
	guard_free(&g);
}

static void test_find_header(void **state)
{
	static const char msg[] = "GET / HTTP/1.1\r\nHost: a\r\n"
				  "content-length: 1\r\nHOST: b\r\n\r\n";
	struct http1_header h[NHDR];
	const struct http1_header *f;
	struct http1_request req;
	struct guard g;
	char *p;

	(void)state;
	guard_init(&g, sizeof(msg));
	p = guard_put(&g, msg, sizeof(msg) - 1);
	assert_int_equal(parse_req(p, sizeof(msg) - 1, MAX_HEAD, &req, h),
			 sizeof(msg) - 1);
	f = http1_find_header(h, req.num_headers, "host");
	assert_ptr_equal(f, &h[0]);
	assert_slice(f->value, f->value_len, "a");
	assert_ptr_equal(http1_find_header(h, req.num_headers, "Content-Length"),
			 &h[1]);
	assert_null(http1_find_header(h, req.num_headers, "Hos"));
	assert_null(http1_find_header(h, req.num_headers, "Hosts"));
	assert_null(http1_find_header(h, 0, "Host"));
	guard_free(&g);
}

/* ---- framing rules ---- */

struct framing_case {
	const char *head;
	const char *method;	/* responses: request method, may be NULL */
	int rc;
	enum http1_body body;
	uint64_t length;
	bool keep_alive;
	bool upgrade;
};

static const struct framing_case request_framing[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", NULL, 0,
	  HTTP1_BODY_LENGTH, 0, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", NULL, 0,
	  HTTP1_BODY_LENGTH, 5, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n", NULL, 0,
	  HTTP1_BODY_LENGTH, 7, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", NULL, 0,
	  HTTP1_BODY_LENGTH, 5, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	  NULL, 0, HTTP1_BODY_LENGTH, 5, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	  NULL, -1, HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 5,\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 4611686018427387904\r\n\r\n",
	  NULL, 0, HTTP1_BODY_LENGTH, 4611686018427387904ULL, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 4611686018427387905\r\n\r\n",
	  NULL, -1, HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
	  NULL, -1, HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
	  NULL, -1, HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	  "Content-Length: 10\r\n\r\n", NULL, 0,
	  HTTP1_BODY_CHUNKED, 0, true, false },
	{ "POST / HTTP/1.1\r\nContent-Length: bad\r\n"
	  "Transfer-Encoding: chunked\r\n\r\n", NULL, 0,
	  HTTP1_BODY_CHUNKED, 0, true, false },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", NULL, 0,
	  HTTP1_BODY_CHUNKED, 0, true, false },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
	  "Transfer-Encoding: Chunked\r\n\r\n", NULL, 0,
	  HTTP1_BODY_CHUNKED, 0, true, false },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
	  "Content-Length: 5\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", NULL, -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	  NULL, 0, HTTP1_BODY_NONE, 0, true, false },
	{ "GET / HTTP/1.0\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "GET / HTTP/1.0\r\nConnection: foo\r\nConnection: Keep-Alive\r\n\r\n",
	  NULL, 0, HTTP1_BODY_NONE, 0, true, false },
	{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", NULL, 0,
	  HTTP1_BODY_NONE, 0, false, false },
};

static const struct framing_case response_framing[] = {
	{ "HTTP/1.1 100 Continue\r\n\r\n", "POST", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\n", "GET", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
	  "Connection: Upgrade\r\n\r\n", "GET", 0,
	  HTTP1_BODY_NONE, 0, true, true },
	{ "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", "GET", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
	  "GET", 0, HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n", "HEAD", 0,
	  HTTP1_BODY_NONE, 0, true, false },
	{ "HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", 0,
	  HTTP1_BODY_NONE, 0, true, true },
	{ "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 5\r\n\r\n", "CONNECT", 0,
	  HTTP1_BODY_LENGTH, 5, true, false },
	{ "HTTP/1.1 200 OK\r\n\r\n", "GET", 0,
	  HTTP1_BODY_UNTIL_CLOSE, 0, false, false },
	{ "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", "GET", 0,
	  HTTP1_BODY_UNTIL_CLOSE, 0, false, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 0,
	  HTTP1_BODY_LENGTH, 5, true, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", NULL, 0,
	  HTTP1_BODY_LENGTH, 5, true, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "head", 0,
	  HTTP1_BODY_LENGTH, 5, true, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
	  "GET", 0, HTTP1_BODY_LENGTH, 5, false, false },
	{ "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", 0,
	  HTTP1_BODY_LENGTH, 5, false, false },
	{ "HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
	  "GET", 0, HTTP1_BODY_LENGTH, 5, true, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	  "Content-Length: 5\r\n\r\n", "GET", 0,
	  HTTP1_BODY_CHUNKED, 0, true, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "GET", 0,
	  HTTP1_BODY_UNTIL_CLOSE, 0, false, false },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n"
	  "Content-Length: 5\r\n\r\n", "GET", 0,
	  HTTP1_BODY_UNTIL_CLOSE, 0, false, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "GET", -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", "GET", -1,
	  HTTP1_BODY_NONE, 0, false, false },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 6,6\r\n"
	  "Content-Length: 6\r\n\r\n", "GET", 0,
	  HTTP1_BODY_LENGTH, 6, true, false },
};

static void check_framing(const struct framing_case *fc, bool response)
{
	size_t len = strlen(fc->head);
	struct http1_header h[NHDR];
	struct http1_response resp;
	struct http1_request req;
	struct http1_framing f;
	struct guard g;
	char *p;
	int r;

	guard_init(&g, len);
	p = guard_put(&g, fc->head, len);
	if (response) {
		assert_int_equal(parse_resp(p, len, MAX_HEAD, &resp, h), len);
		r = http1_response_framing(&resp, fc->method,
					   fc->method ? strlen(fc->method) : 0,
					   &f);
	} else {
		assert_int_equal(parse_req(p, len, MAX_HEAD, &req, h), len);
		r = http1_request_framing(&req, &f);
	}
	assert_int_equal(r, fc->rc);
	if (!r) {
		assert_int_equal(f.body, fc->body);
		if (f.body == HTTP1_BODY_LENGTH)
			assert_int_equal(f.length, fc->length);
		assert_int_equal(f.keep_alive, fc->keep_alive);
		assert_int_equal(f.upgrade, fc->upgrade);
	}
	guard_free(&g);
}

static void test_request_framing(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(request_framing) / sizeof(request_framing[0]); i++)
		check_framing(&request_framing[i], false);
}

static void test_response_framing(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(response_framing) / sizeof(response_framing[0]); i++)
		check_framing(&response_framing[i], true);
}

/* ---- chunked decoder ---- */

struct chunked_case {
	const char *s;
	size_t len;
	ssize_t consumed;	/* -1: error */
	enum http1_chunked_state state;
	uint64_t body_bytes;
};

#define S(x) x, sizeof(x) - 1

static const struct chunked_case chunked_cases[] = {
	{ S("0\r\n\r\n"), 5, H1C_DONE, 0 },
	{ S("0\n\n"), 3, H1C_DONE, 0 },
	{ S("5\r\nhello\r\n0\r\n\r\nNEXT"), 15, H1C_DONE, 5 },
	{ S("5;ext=1\r\nhello\r\n6 ; foo=\"bar\"\r\n world\r\n"
	    "0\r\nTrailer: x\r\nX-Other: y\r\n\r\nGET / HTTP/1.1"), 68,
	  H1C_DONE, 11 },
	{ S("5\nhello\n0\nT: x\n\n"), 16, H1C_DONE, 5 },
	{ S("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"), 35, H1C_DONE,
	  20 },
	{ S("00000000000000a\r\n0123456789\r\n0\r\n\r\n"), 34, H1C_DONE, 10 },
	{ S("5\r\nhel"), 6, H1C_DATA, 3 },
	{ S("5\r\nhello"), 8, H1C_DATA_CR, 5 },
	{ S("5\r\nhello\r\n0\r\nT: x\r"), 18, H1C_TRAILER_LF, 5 },
	{ S("0000000000000000\r\n\r\n"), -1, H1C_SIZE, 0 },
	{ S("fffffffffffffffff\r\n"), -1, H1C_SIZE, 0 },
	{ S("\r\n"), -1, H1C_SIZE, 0 },
	{ S(";ext\r\n"), -1, H1C_SIZE, 0 },
	{ S("g\r\n"), -1, H1C_SIZE, 0 },
	{ S("5x\r\n"), -1, H1C_SIZE, 0 },
	{ S("-5\r\n"), -1, H1C_SIZE, 0 },
	{ S("5\rhello\r\n"), -1, H1C_SIZE, 0 },
	{ S("5\r\nhelloX\r\n"), -1, H1C_SIZE, 0 },
	{ S("5\r\nhello\rX"), -1, H1C_SIZE, 0 },
	{ S("0\r\n\rX"), -1, H1C_SIZE, 0 },
	{ S("0\r\nT: x\rX"), -1, H1C_SIZE, 0 },
	{ S("5;a\x01\r\nhello\r\n"), -1, H1C_SIZE, 0 },
	{ S("0\r\nT: \x00x\r\n\r\n"), -1, H1C_SIZE, 0 },
};

static void test_chunked_cases(void **state)
{
	struct chunked_result r;
	struct guard g;
	size_t i;

	(void)state;
	guard_init(&g, 256);
	for (i = 0; i < sizeof(chunked_cases) / sizeof(chunked_cases[0]); i++) {
		const struct chunked_case *cc = &chunked_cases[i];

		r = chunked_whole(&g, cc->s, cc->len);
		assert_int_equal(r.consumed, cc->consumed);
		assert_int_equal(r.error, cc->consumed < 0);
		if (cc->consumed >= 0) {
			assert_int_equal(r.state, cc->state);
			assert_int_equal(r.body_bytes, cc->body_bytes);
		}
		chunked_check_splits(&g, cc->s, cc->len, &r);
	}
	guard_free(&g);
}

static void test_chunked_sticky(void **state)
{
	struct http1_chunked c;

	(void)state;
	http1_chunked_init(&c);
	assert_int_equal(c.state, H1C_SIZE);
	assert_int_equal(http1_chunked_feed(&c, "", 0), 0);
	assert_int_equal(http1_chunked_feed(&c, "z", 1), -1);
	assert_true(c.error);
	assert_int_equal(http1_chunked_feed(&c, "0\r\n\r\n", 5), -1);
	assert_int_equal(http1_chunked_skip(&c, 0), -1);

	/* Nothing is consumed once the message is done. */
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_feed(&c, "0\r\n\r\n", 5), 5);
	assert_int_equal(c.state, H1C_DONE);
	assert_int_equal(http1_chunked_feed(&c, "0\r\n\r\n", 5), 0);
	assert_false(c.error);
}

static void test_chunked_skip(void **state)
{
	struct http1_chunked c;

	(void)state;
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_feed(&c, "a\r\n", 3), 3);
	assert_int_equal(c.state, H1C_DATA);
	assert_int_equal(c.remaining, 10);
	assert_int_equal(http1_chunked_skip(&c, 4), 0);
	assert_int_equal(c.remaining, 6);
	assert_int_equal(c.body_bytes, 4);
	assert_int_equal(http1_chunked_skip(&c, 0), 0);
	assert_int_equal(http1_chunked_feed(&c, "ab", 2), 2);
	/* The rest of the chunk exactly: now expecting CRLF. */
	assert_int_equal(http1_chunked_skip(&c, 4), 0);
	assert_int_equal(c.state, H1C_DATA_CR);
	assert_int_equal(c.remaining, 0);
	assert_int_equal(c.body_bytes, 10);
	assert_int_equal(http1_chunked_feed(&c, "\r\n3\r\nxyz\r\n0\r\n\r\n", 15),
			 15);
	assert_int_equal(c.state, H1C_DONE);
	assert_int_equal(c.body_bytes, 13);
	assert_false(c.error);

	/* Across the chunk boundary. */
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_feed(&c, "5\r\nab", 5), 5);
	assert_int_equal(http1_chunked_skip(&c, 4), -1);
	assert_true(c.error);
	assert_int_equal(http1_chunked_feed(&c, "cde\r\n", 5), -1);

	/* Outside chunk data. */
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_skip(&c, 1), -1);
	assert_true(c.error);
	http1_chunked_init(&c);
	assert_int_equal(http1_chunked_feed(&c, "1\r\nx", 4), 4);
	assert_int_equal(c.state, H1C_DATA_CR);
	assert_int_equal(http1_chunked_skip(&c, 1), -1);
}

/* ---- routes and targets ---- */

static void check_route(const char *path, size_t cap, const char *want)
{
	size_t plen = strlen(path), n;
	struct guard in, out;
	char *p, *o;

	guard_init(&in, plen);
	guard_init(&out, cap);
	p = guard_put(&in, path, plen);
	/* Output also ends at the guard page, so an overrun faults. */
	o = out.end - cap;
	n = http1_route(p, plen, o, cap);
	assert_slice(o, n, want);
	guard_free(&in);
	guard_free(&out);
}

static void test_route(void **state)
{
	(void)state;
	check_route("/users/123", 64, "/users/{id}");
	check_route("/orders/550e8400-e29b-41d4-a716-446655440000/items", 64,
		    "/orders/{id}/items");
	check_route("/orders/550E8400-E29B-41D4-A716-446655440000", 64,
		    "/orders/{id}");
	check_route("/static/app.js", 64, "/static/app.js");
	check_route("/a/deadbeefcafe", 64, "/a/{id}");
	check_route("/a/DEADBEEF", 64, "/a/{id}");
	check_route("/a/deadbee", 64, "/a/deadbee");
	check_route("/a/abc123", 64, "/a/abc123");
	check_route("/t/aB3dE5gH7jK9mN1p", 64, "/t/{id}");
	check_route("/t/aB3dE5gH7jK9mN1", 64, "/t/aB3dE5gH7jK9mN1");
	check_route("/t/abcdefghijklmnopqrstuv", 64, "/t/abcdefghijklmnopqrstuv");
	check_route("/t/V1StGXR8_Z5jdHi6B-myT", 64, "/t/{id}");
	check_route("/api/v1/users/42/posts/7", 64, "/api/v1/users/{id}/posts/{id}");
	check_route("/", 64, "/");
	check_route("", 64, "/");
	check_route("/a//b/", 64, "/a//b/");
	check_route("/users/123?token=abc", 64, "/users/{id}");
	check_route("?x", 64, "/");
	check_route("*", 64, "*");
	check_route("/caf\xc3\xa9/1", 64, "/caf\xc3\xa9/{id}");
	check_route("/", 0, "");
	check_route("", 1, "/");
}

static void test_route_truncation(void **state)
{
	static const char path[] = "/users/123/orders";
	static const char full[] = "/users/{id}/orders";
	size_t cap;

	(void)state;
	/* Always a prefix of the full route; "{id}" is never split. */
	for (cap = 0; cap <= sizeof(full) + 2; cap++) {
		char want[sizeof(full)];
		size_t n = cap < sizeof(full) - 1 ? cap : sizeof(full) - 1;

		if (n > 7 && n < 11)
			n = 7;
		memcpy(want, full, n);
		want[n] = '\0';
		check_route(path, cap, want);
	}
	/* A UTF-8 sequence is not cut. */
	check_route("/caf\xc3\xa9", 5, "/caf");
	check_route("/caf\xc3\xa9", 6, "/caf\xc3\xa9");
	check_route("/\xe2\x82\xac", 3, "/");
}

struct target_case {
	const char *t;
	const char *path;
	const char *query;	/* NULL: no '?' */
};

static const struct target_case target_cases[] = {
	{ "/a/b?x=1&y=2", "/a/b", "x=1&y=2" },
	{ "/a/b", "/a/b", NULL },
	{ "/a?", "/a", "" },
	{ "/?q", "/", "q" },
	{ "/a?b?c", "/a", "b?c" },
	{ "/p#frag", "/p", NULL },
	{ "/p?q#frag", "/p", "q" },
	{ "http://example.com:8080/p/q?r=1", "/p/q", "r=1" },
	{ "https://user:pw@h.example/x", "/x", NULL },
	{ "HTTP://EXAMPLE.COM/Up", "/Up", NULL },
	{ "http://example.com", "", NULL },
	{ "http://example.com?q", "", "q" },
	{ "*", "*", NULL },
	{ "example.com:443", "example.com:443", NULL },
	{ "http:/x", "http:/x", NULL },
	{ "", "", NULL },
};

static void test_split_target(void **state)
{
	const char *path, *query;
	size_t plen, qlen, tlen, i;
	struct guard g;
	char *t;

	(void)state;
	guard_init(&g, 256);
	for (i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
		const struct target_case *tc = &target_cases[i];

		tlen = strlen(tc->t);
		t = guard_put(&g, tc->t, tlen);
		http1_split_target(t, tlen, &path, &plen, &query, &qlen);
		assert_slice(path, plen, tc->path);
		assert_true(path >= t && path + plen <= t + tlen);
		if (tc->query) {
			assert_non_null(query);
			assert_slice(query, qlen, tc->query);
			assert_true(query >= t && query + qlen <= t + tlen);
		} else {
			assert_null(query);
			assert_int_equal(qlen, 0);
		}
	}
	guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_streams),
		cmocka_unit_test(test_response_streams),
		cmocka_unit_test(test_request_fields),
		cmocka_unit_test(test_response_fields),
		cmocka_unit_test(test_max_head),
		cmocka_unit_test(test_header_capacity),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_partial_vs_error),
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_find_header),
		cmocka_unit_test(test_request_framing),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_chunked_cases),
		cmocka_unit_test(test_chunked_sticky),
		cmocka_unit_test(test_chunked_skip),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_route_truncation),
		cmocka_unit_test(test_split_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
