// SPDX-License-Identifier: Apache-2.0
/* HTTP/1.x heads and body framing (RFC 9110, RFC 9112) over captured bytes.
 *
 * Positions are indices checked against an end index, so no pointer is ever
 * formed past the input and an empty input is never offset.
 */
#include <limits.h>
#include <string.h>

#include "http1.h"

#define CONTENT_LENGTH_MAX	(1ULL << 62)
#define CHUNK_SIZE_DIGITS_MAX	15

static const char *const known_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE",
	"CONNECT", "OPTIONS", "TRACE", "PATCH",
};

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 9110 section 5.6.2 */
static bool is_tchar(unsigned char c)
{
	if (is_digit(c) || is_alpha(c))
		return true;
	return memchr("!#$%&'*+-.^_`|~", c, 15) != NULL;
}

/* Bytes allowed inside a field value or reason phrase: VCHAR, obs-text,
 * SP and HTAB. */
static bool is_field_byte(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

/* request-target: visible bytes; obs-text is let through as servers do. */
static bool is_target_byte(unsigned char c)
{
	return c > ' ' && c != 0x7f;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? c | 0x20 : c;
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

/* CRLF, or a bare LF, at buf[*pos]. */
static int parse_eol(const char *buf, size_t end, size_t *pos)
{
	size_t i = *pos;

	if (i == end)
		return -2;
	if (buf[i] == '\r' && ++i == end)
		return -2;
	if (buf[i] != '\n')
		return -1;
	*pos = i + 1;
	return 0;
}

/* Field text from *pos to the end of the line (reason phrase or header
 * value): *stop is where the text ends without trailing whitespace, *pos
 * moves past the line end. */
static int parse_field_text(const char *buf, size_t end, size_t *pos, size_t *stop)
{
	size_t i = *pos, start = *pos;

	while (i < end && buf[i] != '\r' && buf[i] != '\n') {
		if (!is_field_byte(buf[i]))
			return -1;
		i++;
	}
	if (i == end)
		return -2;
	*stop = i;
	while (*stop > start && is_ows(buf[*stop - 1]))
		(*stop)--;
	*pos = i;
	return parse_eol(buf, end, pos);
}

/* "HTTP/1." DIGIT, checked byte by byte so that any prefix is -2. */
static int parse_version(const char *buf, size_t end, size_t *pos, int *minor)
{
	static const char prefix[] = "HTTP/1.";
	size_t i = *pos, k;

	for (k = 0; k < sizeof(prefix) - 1; k++, i++) {
		if (i == end)
			return -2;
		if (buf[i] != prefix[k])
			return -1;
	}
	if (i == end)
		return -2;
	if (!is_digit(buf[i]))
		return -1;
	*minor = buf[i] - '0';
	*pos = i + 1;
	return 0;
}

static size_t skip_spaces(const char *buf, size_t end, size_t i)
{
	while (i < end && buf[i] == ' ')
		i++;
	return i;
}

static int parse_request_line(const char *buf, size_t end, size_t *pos,
			      struct http1_request *req)
{
	size_t i = *pos, start = *pos;
	int r;

	while (i < end && is_tchar(buf[i]))
		i++;
	if (i == end)
		return -2;
	if (i == start || buf[i] != ' ')
		return -1;
	req->method = buf + start;
	req->method_len = i - start;

	/* RFC 9112 section 3 allows splitting on runs of whitespace. */
	start = i = skip_spaces(buf, end, i);
	while (i < end && is_target_byte(buf[i]))
		i++;
	if (i == end)
		return -2;
	if (i == start || buf[i] != ' ')
		return -1;
	req->target = buf + start;
	req->target_len = i - start;

	i = skip_spaces(buf, end, i);
	r = parse_version(buf, end, &i, &req->minor_version);
	if (r)
		return r;
	r = parse_eol(buf, end, &i);
	if (r)
		return r;
	*pos = i;
	return 0;
}

static int parse_status_line(const char *buf, size_t end, size_t *pos,
			     struct http1_response *resp)
{
	size_t i = *pos, start, stop;
	int r, k, status = 0;

	r = parse_version(buf, end, &i, &resp->minor_version);
	if (r)
		return r;
	if (i == end)
		return -2;
	if (buf[i] != ' ')
		return -1;
	i = skip_spaces(buf, end, i);
	for (k = 0; k < 3; k++, i++) {
		if (i == end)
			return -2;
		if (!is_digit(buf[i]) || (k == 0 && buf[i] == '0'))
			return -1;
		status = status * 10 + (buf[i] - '0');
	}
	if (i == end)
		return -2;
	/* Some servers send "HTTP/1.1 200\r\n" with no reason at all. */
	if (buf[i] == ' ')
		i = skip_spaces(buf, end, i);
	else if (buf[i] != '\r' && buf[i] != '\n')
		return -1;

	start = i;
	r = parse_field_text(buf, end, &i, &stop);
	if (r)
		return r;
	resp->status = status;
	resp->reason = buf + start;
	resp->reason_len = stop - start;
	*pos = i;
	return 0;
}

/* Header fields up to and including the empty line. *num is the capacity on
 * entry and the count on success. */
static int parse_headers(const char *buf, size_t end, size_t *pos,
			 struct http1_header *h, size_t *num)
{
	size_t i = *pos, n = 0, start, vstart, vend;
	int r;

	for (;;) {
		if (i == end)
			return -2;
		if (buf[i] == '\r' || buf[i] == '\n') {
			r = parse_eol(buf, end, &i);
			if (r)
				return r;
			*pos = i;
			*num = n;
			return 0;
		}

		/* A line starting with SP/HTAB is obs-fold (or, right after
		 * the start line, a smuggling vector): not a tchar, so -1. */
		start = i;
		while (i < end && is_tchar(buf[i]))
			i++;
		if (i == end)
			return -2;
		if (i == start || buf[i] != ':')
			return -1;
		if (n == *num)
			return -1;
		h[n].name = buf + start;
		h[n].name_len = i - start;

		i++;
		while (i < end && is_ows(buf[i]))
			i++;
		vstart = i;
		r = parse_field_text(buf, end, &i, &vend);
		if (r)
			return r;
		h[n].value = buf + vstart;
		h[n].value_len = vend - vstart;
		n++;
	}
}

static size_t head_limit(size_t max_head)
{
	return max_head < INT_MAX ? max_head : INT_MAX;
}

/* An incomplete head that already fills max_head bytes can never fit. */
static int head_result(int r, size_t pos, size_t len, size_t limit)
{
	if (r == 0)
		return (int)pos;
	if (r == -2 && len >= limit)
		return -1;
	return r;
}

int http1_parse_request(const char *buf, size_t len, size_t max_head,
			struct http1_request *req)
{
	size_t limit = head_limit(max_head);
	size_t end = len < limit ? len : limit;
	size_t pos = 0, num = req->num_headers;
	int r = 0;

	/* RFC 9112 section 2.2: tolerate one empty line before a request,
	 * as some clients send CRLF after a body. */
	if (end && (buf[0] == '\r' || buf[0] == '\n'))
		r = parse_eol(buf, end, &pos);
	if (!r)
		r = parse_request_line(buf, end, &pos, req);
	if (!r)
		r = parse_headers(buf, end, &pos, req->headers, &num);
	if (!r)
		req->num_headers = num;
	return head_result(r, pos, len, limit);
}

int http1_parse_response(const char *buf, size_t len, size_t max_head,
			 struct http1_response *resp)
{
	size_t limit = head_limit(max_head);
	size_t end = len < limit ? len : limit;
	size_t pos = 0, num = resp->num_headers;
	int r;

	r = parse_status_line(buf, end, &pos, resp);
	if (!r)
		r = parse_headers(buf, end, &pos, resp->headers, &num);
	if (!r)
		resp->num_headers = num;
	return head_result(r, pos, len, limit);
}

int http1_looks_like_request(const char *buf, size_t len)
{
	size_t i, mlen;

	if (!len)
		return 1;
	for (i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++) {
		mlen = strlen(known_methods[i]);
		if (memcmp(buf, known_methods[i], len < mlen ? len : mlen))
			continue;
		if (len <= mlen || buf[mlen] == ' ')
			return 1;
	}
	return 0;
}

int http1_looks_like_response(const char *buf, size_t len)
{
	static const char prefix[] = "HTTP/1.";
	size_t n = sizeof(prefix) - 1;

	if (!len)
		return 1;
	return memcmp(buf, prefix, len < n ? len : n) == 0;
}

const struct http1_header *http1_find_header(const struct http1_header *h,
					     size_t n, const char *name)
{
	size_t i, nlen = strlen(name);

	for (i = 0; i < n; i++)
		if (ci_equal(h[i].name, h[i].name_len, name, nlen))
			return &h[i];
	return NULL;
}

static bool header_is(const struct http1_header *h, const char *name)
{
	return ci_equal(h->name, h->name_len, name, strlen(name));
}

bool http1_list_next(const char *v, size_t vlen, size_t *pos,
		      const char **e, size_t *elen)
{
	size_t i = *pos, s, t;

	if (i > vlen)
		return false;
	s = i;
	while (i < vlen && v[i] != ',')
		i++;
	t = i;
	while (s < t && is_ows(v[s]))
		s++;
	while (t > s && is_ows(v[t - 1]))
		t--;
	*e = v + s;
	*elen = t - s;
	*pos = i + 1;
	return true;
}

static bool keep_alive(const struct http1_header *h, size_t n, int minor)
{
	bool close = false, keep = false;
	const char *e;
	size_t i, pos, elen;

	for (i = 0; i < n; i++) {
		if (!header_is(&h[i], "connection"))
			continue;
		pos = 0;
		while (http1_list_next(h[i].value, h[i].value_len, &pos, &e, &elen)) {
			if (ci_equal(e, elen, "close", 5))
				close = true;
			else if (ci_equal(e, elen, "keep-alive", 10))
				keep = true;
		}
	}
	if (close)
		return false;
	return minor >= 1 || keep;
}

enum te_kind {
	TE_ABSENT,
	TE_OTHER,	/* present, final coding is not chunked */
	TE_CHUNKED,
};

static enum te_kind transfer_encoding(const struct http1_header *h, size_t n)
{
	enum te_kind te = TE_ABSENT;
	const char *e;
	size_t i, pos, elen;

	for (i = 0; i < n; i++) {
		if (!header_is(&h[i], "transfer-encoding"))
			continue;
		if (te == TE_ABSENT)
			te = TE_OTHER;
		pos = 0;
		while (http1_list_next(h[i].value, h[i].value_len, &pos, &e, &elen)) {
			if (!elen)
				continue;
			te = ci_equal(e, elen, "chunked", 7) ? TE_CHUNKED
							     : TE_OTHER;
		}
	}
	return te;
}

static int parse_length(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	if (!n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		d = s[i] - '0';
		if (v > (CONTENT_LENGTH_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* All Content-Length values, in one list or several fields, must agree. */
static int content_length(const struct http1_header *h, size_t n,
			  bool *present, uint64_t *len)
{
	const char *e;
	size_t i, pos, elen;
	uint64_t v;

	*present = false;
	*len = 0;
	for (i = 0; i < n; i++) {
		if (!header_is(&h[i], "content-length"))
			continue;
		pos = 0;
		while (http1_list_next(h[i].value, h[i].value_len, &pos, &e, &elen)) {
			if (parse_length(e, elen, &v))
				return -1;
			if (*present && v != *len)
				return -1;
			*present = true;
			*len = v;
		}
	}
	return 0;
}

int http1_request_framing(const struct http1_request *req,
			  struct http1_framing *f)
{
	enum te_kind te;
	uint64_t len;
	bool has_len;

	memset(f, 0, sizeof(*f));
	f->body = HTTP1_BODY_NONE;
	f->keep_alive = keep_alive(req->headers, req->num_headers,
				   req->minor_version);

	te = transfer_encoding(req->headers, req->num_headers);
	if (te == TE_CHUNKED) {
		f->body = HTTP1_BODY_CHUNKED;
		return 0;
	}
	/* RFC 9112 section 6.3 rule 4: no way to find the request's end. */
	if (te == TE_OTHER)
		return -1;

	if (content_length(req->headers, req->num_headers, &has_len, &len))
		return -1;
	if (has_len) {
		f->body = HTTP1_BODY_LENGTH;
		f->length = len;
	}
	return 0;
}

static bool method_is(const char *m, size_t mlen, const char *name)
{
	size_t n = strlen(name);

	return mlen == n && memcmp(m, name, n) == 0;
}

int http1_response_framing(const struct http1_response *resp,
			   const char *req_method, size_t req_method_len,
			   struct http1_framing *f)
{
	int status = resp->status;
	enum te_kind te;
	uint64_t len;
	bool has_len;

	memset(f, 0, sizeof(*f));
	f->body = HTTP1_BODY_NONE;
	f->keep_alive = keep_alive(resp->headers, resp->num_headers,
				   resp->minor_version);

	if (status >= 100 && status < 200) {
		f->upgrade = status == 101;
		return 0;
	}
	if (method_is(req_method, req_method_len, "HEAD"))
		return 0;
	if (status >= 200 && status < 300 &&
	    method_is(req_method, req_method_len, "CONNECT")) {
		f->upgrade = true;
		return 0;
	}
	if (status == 204 || status == 304)
		return 0;

	te = transfer_encoding(resp->headers, resp->num_headers);
	if (te == TE_CHUNKED) {
		f->body = HTTP1_BODY_CHUNKED;
		return 0;
	}
	if (te == TE_ABSENT) {
		if (content_length(resp->headers, resp->num_headers, &has_len,
				   &len))
			return -1;
		if (has_len) {
			f->body = HTTP1_BODY_LENGTH;
			f->length = len;
			return 0;
		}
	}
	f->body = HTTP1_BODY_UNTIL_CLOSE;
	f->keep_alive = false;
	return 0;
}

void http1_chunked_init(struct http1_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = H1C_SIZE;
}

static void chunk_size_start(struct http1_chunked *c)
{
	c->state = H1C_SIZE;
	c->remaining = 0;
	c->size_digits = 0;
}

/* The size line is over: data follows, or trailers after the last chunk. */
static void chunk_size_done(struct http1_chunked *c)
{
	c->state = c->remaining ? H1C_DATA : H1C_TRAILER;
}

/* Extensions and trailer lines are skipped, but control bytes there mean
 * we are not looking at chunked framing any more. */
static bool is_line_byte(unsigned char c)
{
	return c == '\t' || c >= ' ';
}

/* One byte in any state but H1C_DATA and H1C_DONE. */
static int chunked_step(struct http1_chunked *c, unsigned char ch)
{
	int d;

	switch (c->state) {
	case H1C_SIZE:
		d = hex_value(ch);
		if (d >= 0) {
			if (c->size_digits == CHUNK_SIZE_DIGITS_MAX)
				return -1;
			c->size_digits++;
			c->remaining = c->remaining << 4 | (unsigned)d;
			return 0;
		}
		if (!c->size_digits)
			return -1;
		if (ch == ';' || ch == ' ' || ch == '\t')
			c->state = H1C_EXT;
		else if (ch == '\r')
			c->state = H1C_SIZE_LF;
		else if (ch == '\n')
			chunk_size_done(c);
		else
			return -1;
		return 0;
	case H1C_EXT:
		if (ch == '\r')
			c->state = H1C_SIZE_LF;
		else if (ch == '\n')
			chunk_size_done(c);
		else if (!is_line_byte(ch))
			return -1;
		return 0;
	case H1C_SIZE_LF:
		if (ch != '\n')
			return -1;
		chunk_size_done(c);
		return 0;
	case H1C_DATA_CR:
		if (ch == '\r')
			c->state = H1C_DATA_LF;
		else if (ch == '\n')
			chunk_size_start(c);
		else
			return -1;
		return 0;
	case H1C_DATA_LF:
		if (ch != '\n')
			return -1;
		chunk_size_start(c);
		return 0;
	case H1C_TRAILER:
		if (ch == '\r')
			c->state = H1C_END_LF;
		else if (ch == '\n')
			c->state = H1C_DONE;
		else if (is_line_byte(ch))
			c->state = H1C_TRAILER_LINE;
		else
			return -1;
		return 0;
	case H1C_TRAILER_LINE:
		if (ch == '\r')
			c->state = H1C_TRAILER_LF;
		else if (ch == '\n')
			c->state = H1C_TRAILER;
		else if (!is_line_byte(ch))
			return -1;
		return 0;
	case H1C_TRAILER_LF:
		if (ch != '\n')
			return -1;
		c->state = H1C_TRAILER;
		return 0;
	case H1C_END_LF:
		if (ch != '\n')
			return -1;
		c->state = H1C_DONE;
		return 0;
	default:
		return -1;
	}
}

ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len)
{
	size_t i = 0;
	uint64_t n;

	if (c->error)
		return -1;
	while (i < len && c->state != H1C_DONE) {
		if (c->state == H1C_DATA) {
			n = len - i;
			if (n > c->remaining)
				n = c->remaining;
			c->remaining -= n;
			c->body_bytes += n;
			i += n;
			if (!c->remaining)
				c->state = H1C_DATA_CR;
			continue;
		}
		if (chunked_step(c, buf[i]) < 0) {
			c->error = true;
			return -1;
		}
		i++;
	}
	return (ssize_t)i;
}

int http1_chunked_skip(struct http1_chunked *c, uint64_t n)
{
	if (c->error || c->state != H1C_DATA || n > c->remaining) {
		c->error = true;
		return -1;
	}
	c->remaining -= n;
	c->body_bytes += n;
	if (!c->remaining)
		c->state = H1C_DATA_CR;
	return 0;
}

/* Offset of the path in an absolute-form target ("scheme://authority/p"),
 * 0 for any other form. */
static size_t origin_offset(const char *t, size_t tlen)
{
	size_t i = 1;

	if (!tlen || !is_alpha(t[0]))
		return 0;
	while (i < tlen && (is_alpha(t[i]) || is_digit(t[i]) ||
			    t[i] == '+' || t[i] == '-' || t[i] == '.'))
		i++;
	if (tlen - i < 3 || memcmp(t + i, "://", 3))
		return 0;
	for (i += 3; i < tlen; i++)
		if (t[i] == '/' || t[i] == '?' || t[i] == '#')
			break;
	return i;
}

void http1_split_target(const char *t, size_t tlen, const char **path,
			size_t *path_len, const char **query, size_t *query_len)
{
	size_t start, i, q;

	*query = NULL;
	*query_len = 0;
	if (!tlen) {
		*path = t;
		*path_len = 0;
		return;
	}
	start = origin_offset(t, tlen);
	for (i = start; i < tlen && t[i] != '?' && t[i] != '#'; i++)
		;
	*path = t + start;
	*path_len = i - start;
	if (i < tlen && t[i] == '?') {
		q = ++i;
		while (i < tlen && t[i] != '#')
			i++;
		*query = t + q;
		*query_len = i - q;
	}
}

static bool is_uuid(const char *s, size_t n)
{
	size_t i;

	if (n != 36)
		return false;
	for (i = 0; i < n; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (hex_value(s[i]) < 0) {
			return false;
		}
	}
	return true;
}

static bool is_id_segment(const char *s, size_t n)
{
	size_t i, digits = 0, hex = 0, alpha = 0;
	unsigned char c;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (is_digit(c)) {
			digits++;
			hex++;
		} else if (is_alpha(c)) {
			alpha++;
			if (hex_value(c) >= 0)
				hex++;
		} else if (c != '-' && c != '_') {
			return false;
		}
	}
	if (digits == n)
		return true;
	if (n >= 8 && hex == n)
		return true;
	if (is_uuid(s, n))
		return true;
	return n >= 16 && digits && alpha;
}

static bool is_utf8_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

struct route_buf {
	char *out;
	size_t cap;
	size_t len;
	bool full;
};

/* Append s unless the output is already truncated. "{id}" is atomic; a
 * literal is cut, but not inside a UTF-8 sequence. */
static void route_put(struct route_buf *b, const char *s, size_t n, bool atomic)
{
	size_t room, k;

	if (b->full)
		return;
	room = b->cap - b->len;
	if (n > room) {
		b->full = true;
		if (atomic)
			return;
		n = room;
		for (k = 0; k < 3 && n && is_utf8_cont(s[n]); k++)
			n--;
	}
	if (n)
		memcpy(b->out + b->len, s, n);
	b->len += n;
}

size_t http1_route(const char *path, size_t len, char *out, size_t cap)
{
	struct route_buf b = { .out = out, .cap = cap };
	size_t i, start, n;

	if (!cap)
		return 0;
	/* Stop at a query or fragment if the caller passed a whole target. */
	for (n = 0; n < len && path[n] != '?' && path[n] != '#'; n++)
		;
	if (!n) {
		route_put(&b, "/", 1, true);
		return b.len;
	}
	for (i = 0; i < n && !b.full;) {
		if (path[i] == '/') {
			route_put(&b, "/", 1, false);
			i++;
			continue;
		}
		start = i;
		while (i < n && path[i] != '/')
			i++;
		if (is_id_segment(path + start, i - start))
			route_put(&b, "{id}", 4, true);
		else
			route_put(&b, path + start, i - start, false);
	}
	return b.len;
}
