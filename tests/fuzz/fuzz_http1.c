// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target for user/http1.c.
 *
 * The input is copied to a heap buffer of exactly its size, so ASan reports
 * any read past len. Besides "no crash", it checks the invariants the API
 * promises: slices stay inside the buffer, a complete head's prefixes are
 * -2, max_head is honoured, chunked decoding does not depend on how the
 * bytes are split, and a truncated route is a prefix of the full one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define NHDR		16
#define MAX_HEAD	8192
#define ROUTE_CAP	256

#define CHECK(x)			\
	do {				\
		if (!(x))		\
			abort();	\
	} while (0)

static void check_slice(const char *buf, size_t len, const char *p, size_t n)
{
	CHECK(p >= buf && n <= len && (size_t)(p - buf) <= len - n);
}

static void check_headers(const char *buf, size_t len,
			  const struct http1_header *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		CHECK(h[i].name_len > 0);
		check_slice(buf, len, h[i].name, h[i].name_len);
		check_slice(buf, len, h[i].value, h[i].value_len);
	}
}

static void check_framing(const struct http1_framing *f)
{
	CHECK(f->body <= HTTP1_BODY_UNTIL_CLOSE);
	CHECK(f->body == HTTP1_BODY_LENGTH || f->length == 0);
	CHECK(f->length <= (1ULL << 62));
	CHECK(f->body != HTTP1_BODY_UNTIL_CLOSE || !f->keep_alive);
}

/* Feed the same bytes whole, byte by byte and in two pieces. */
static void fuzz_chunked(const char *buf, size_t len, size_t cut)
{
	struct http1_chunked a, b, c;
	ssize_t na, nb = 0, nc, n;
	size_t i;

	http1_chunked_init(&a);
	na = http1_chunked_feed(&a, buf, len);
	CHECK(na >= -1 && (na < 0 || (size_t)na <= len));
	CHECK(a.error == (na < 0));
	CHECK(na < 0 || (size_t)na == len || a.state == H1C_DONE);

	http1_chunked_init(&b);
	for (i = 0; i < len; i++) {
		n = http1_chunked_feed(&b, buf + i, 1);
		if (n < 0) {
			nb = -1;
			break;
		}
		nb += n;
	}
	CHECK(a.error == b.error);

	if (cut > len)
		cut = len;
	http1_chunked_init(&c);
	nc = http1_chunked_feed(&c, buf, cut);
	if (nc >= 0) {
		n = http1_chunked_feed(&c, buf + cut, len - cut);
		nc = n < 0 ? -1 : nc + n;
	}
	CHECK(a.error == c.error);

	if (!a.error) {
		CHECK(na == nb && na == nc);
		CHECK(a.state == b.state && a.state == c.state);
		CHECK(a.body_bytes == b.body_bytes &&
		      a.body_bytes == c.body_bytes);
		CHECK(a.remaining == b.remaining &&
		      a.remaining == c.remaining);
		CHECK(a.body_bytes <= (uint64_t)na);
	}

	/* Lose part of the current chunk, then carry on. */
	if (!c.error && c.state == H1C_DATA) {
		uint64_t left = c.remaining, body = c.body_bytes;

		CHECK(left > 0);
		CHECK(http1_chunked_skip(&c, left / 2) == 0);
		CHECK(c.body_bytes == body + left / 2);
		CHECK(http1_chunked_skip(&c, c.remaining + 1) == -1);
		CHECK(c.error);
		CHECK(http1_chunked_feed(&c, buf, len) == -1);
	}
}

static void fuzz_route(const char *path, size_t len)
{
	char full[ROUTE_CAP], *small;
	size_t full_n, n, cap;

	full_n = http1_route(path, len, full, sizeof(full));
	CHECK(full_n <= sizeof(full));
	if (len == 0)
		CHECK(full_n == 1 && full[0] == '/');

	/* Exact-size heap outputs, so a write past cap is caught. */
	for (cap = 0; cap <= 24; cap += 3) {
		small = malloc(cap ? cap : 1);
		CHECK(small);
		n = http1_route(path, len, small, cap);
		CHECK(n <= cap && n <= full_n);
		CHECK(n == 0 || memcmp(small, full, n) == 0);
		free(small);
	}
}

static void fuzz_target(const char *t, size_t tlen)
{
	const char *path, *query;
	size_t plen, qlen;

	http1_split_target(t, tlen, &path, &plen, &query, &qlen);
	if (tlen)
		check_slice(t, tlen, path, plen);
	else
		CHECK(plen == 0);
	if (query)
		check_slice(t, tlen, query, qlen);
	else
		CHECK(qlen == 0);
	fuzz_route(path, plen);
}

static int parse_req(const char *buf, size_t len, size_t max_head,
		     struct http1_request *req, struct http1_header *h)
{
	memset(req, 0, sizeof(*req));
	req->headers = h;
	req->num_headers = NHDR;
	return http1_parse_request(buf, len, max_head, req);
}

static int parse_resp(const char *buf, size_t len, size_t max_head,
		      struct http1_response *resp, struct http1_header *h)
{
	memset(resp, 0, sizeof(*resp));
	resp->headers = h;
	resp->num_headers = NHDR;
	return http1_parse_response(buf, len, max_head, resp);
}

static bool is_known_method(const char *m, size_t n)
{
	static const char *const known[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE",
		"CONNECT", "OPTIONS", "TRACE", "PATCH",
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (n == strlen(known[i]) && !memcmp(m, known[i], n))
			return true;
	return false;
}

static void fuzz_request(const char *buf, size_t len, size_t max_head)
{
	struct http1_header h[NHDR], h2[NHDR];
	struct http1_request req, req2;
	struct http1_framing f;
	int r;

	r = parse_req(buf, len, max_head, &req, h);
	CHECK(r == -1 || r == -2 || r > 0);
	if (r == -2)
		CHECK(req.num_headers == NHDR && len < max_head);
	if (r < 0)
		return;

	CHECK((size_t)r <= len && (size_t)r <= max_head);
	CHECK(req.num_headers <= NHDR);
	CHECK(req.minor_version >= 0 && req.minor_version <= 9);
	check_slice(buf, len, req.method, req.method_len);
	check_slice(buf, len, req.target, req.target_len);
	check_headers(buf, len, h, req.num_headers);
	if (req.method == buf && is_known_method(req.method, req.method_len))
		CHECK(http1_looks_like_request(buf, len) == 1);

	/* Same answer with max_head exactly the head; prefixes are -2. */
	CHECK(parse_req(buf, len, (size_t)r, &req2, h2) == r);
	CHECK(parse_req(buf, len, (size_t)r - 1, &req2, h2) == -1);
	CHECK(parse_req(buf, (size_t)r - 1, max_head, &req2, h2) == -2);
	CHECK(parse_req(buf, (size_t)r / 2, max_head, &req2, h2) == -2);

	(void)http1_find_header(h, req.num_headers, "host");
	if (http1_request_framing(&req, &f) == 0) {
		check_framing(&f);
		CHECK(!f.upgrade && f.body != HTTP1_BODY_UNTIL_CLOSE);
		if (f.body == HTTP1_BODY_CHUNKED)
			fuzz_chunked(buf + r, len - (size_t)r,
				     (len - (size_t)r) / 2);
	}
	fuzz_target(req.target, req.target_len);
}

static void fuzz_response(const char *buf, size_t len, size_t max_head)
{
	static const char *const methods[] = { "GET", "HEAD", "CONNECT", NULL };
	struct http1_header h[NHDR], h2[NHDR];
	struct http1_response resp, resp2;
	struct http1_framing f;
	size_t i;
	int r;

	r = parse_resp(buf, len, max_head, &resp, h);
	CHECK(r == -1 || r == -2 || r > 0);
	if (r == -2)
		CHECK(resp.num_headers == NHDR && len < max_head);
	if (r < 0)
		return;

	CHECK((size_t)r <= len && (size_t)r <= max_head);
	CHECK(resp.status >= 100 && resp.status <= 999);
	CHECK(resp.minor_version >= 0 && resp.minor_version <= 9);
	check_slice(buf, len, resp.reason, resp.reason_len);
	check_headers(buf, len, h, resp.num_headers);
	CHECK(http1_looks_like_response(buf, len) == 1);

	CHECK(parse_resp(buf, len, (size_t)r, &resp2, h2) == r);
	CHECK(parse_resp(buf, len, (size_t)r - 1, &resp2, h2) == -1);
	CHECK(parse_resp(buf, (size_t)r - 1, max_head, &resp2, h2) == -2);
	CHECK(parse_resp(buf, (size_t)r / 2, max_head, &resp2, h2) == -2);

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		const char *m = methods[i];

		if (http1_response_framing(&resp, m, m ? strlen(m) : 0, &f))
			continue;
		check_framing(&f);
		if (f.body == HTTP1_BODY_CHUNKED)
			fuzz_chunked(buf + r, len - (size_t)r, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);

	(void)http1_looks_like_request(buf, size);
	(void)http1_looks_like_response(buf, size);
	fuzz_request(buf, size, MAX_HEAD);
	fuzz_request(buf, size, size / 2);
	fuzz_response(buf, size, MAX_HEAD);
	fuzz_response(buf, size, size / 2);
	fuzz_chunked(buf, size, size / 3);
	fuzz_target(buf, size);

	free(buf);
	return 0;
}
