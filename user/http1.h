/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.x message heads and body framing over captured bytes.
 *
 * Parsers take (buf, len), never read past len, never need a NUL terminator,
 * allocate nothing, and return slices into buf. Return values follow
 * picohttpparser: bytes consumed by the head (> 0), -2 when the input is a
 * valid prefix that needs more bytes, -1 when it cannot be HTTP/1.x.
 */
#ifndef __KSPAN_HTTP1_H
#define __KSPAN_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct http1_header {
	const char *name;
	size_t name_len;
	const char *value;	/* leading/trailing spaces and tabs stripped */
	size_t value_len;
};

struct http1_request {
	const char *method;
	size_t method_len;
	const char *target;	/* request-target as sent: "/a?b", "http://h/a", "*" */
	size_t target_len;
	int minor_version;	/* HTTP/1.<minor> */
	size_t num_headers;
	struct http1_header *headers;	/* caller's array */
};

struct http1_response {
	int minor_version;
	int status;		/* 100..999 */
	const char *reason;
	size_t reason_len;
	size_t num_headers;
	struct http1_header *headers;
};

/* On entry *num_headers (req->num_headers / resp->num_headers) is the
 * capacity of the headers array; on success it is the count found. More
 * headers than capacity is -1. Heads longer than max_head bytes are -1 even
 * when incomplete (a bound on buffering). */
int http1_parse_request(const char *buf, size_t len, size_t max_head,
			struct http1_request *req);
int http1_parse_response(const char *buf, size_t len, size_t max_head,
			 struct http1_response *resp);

/* Cheap sniff of the first bytes of a stream: 1 when they can start an HTTP/1
 * request (a known method token followed by a space, or a prefix of one),
 * 0 when they cannot. Same for a response ("HTTP/1."). */
int http1_looks_like_request(const char *buf, size_t len);
int http1_looks_like_response(const char *buf, size_t len);

/* Next element of a comma-separated list (RFC 9110 section 5.6.1) from
 * *pos, OWS trimmed; empty elements come back with *elen == 0. Returns false
 * once the value is exhausted. */
bool http1_list_next(const char *v, size_t vlen, size_t *pos, const char **e, size_t *elen);

/* Case-insensitive header lookup; returns the first match or NULL. */
const struct http1_header *http1_find_header(const struct http1_header *h,
					     size_t n, const char *name);

enum http1_body {
	HTTP1_BODY_NONE = 0,	/* no body bytes follow the head */
	HTTP1_BODY_LENGTH,	/* exactly framing.length bytes */
	HTTP1_BODY_CHUNKED,	/* chunked transfer coding */
	HTTP1_BODY_UNTIL_CLOSE,	/* response delimited by connection close */
};

struct http1_framing {
	enum http1_body body;
	uint64_t length;	/* for HTTP1_BODY_LENGTH */
	bool keep_alive;	/* connection persists after this message */
	bool upgrade;		/* 101 Switching Protocols or CONNECT 2xx */
};

/* Body framing per RFC 9112 section 6.3. Conflicting or invalid
 * Content-Length (non-digits, overflow past 2^62, differing duplicates) is -1.
 * Transfer-Encoding whose final coding is chunked wins over Content-Length. */
int http1_request_framing(const struct http1_request *req,
			  struct http1_framing *f);
/* req_method is the method of the request this answers (HEAD and CONNECT
 * change the framing); 1xx, 204 and 304 have no body. */
int http1_response_framing(const struct http1_response *resp,
			   const char *req_method, size_t req_method_len,
			   struct http1_framing *f);

/* Streaming chunked-body decoder. It only tracks framing; chunk data is
 * counted, not copied. */
enum http1_chunked_state {
	H1C_SIZE = 0,		/* reading hex chunk size */
	H1C_EXT,		/* chunk extension, up to CRLF */
	H1C_SIZE_LF,		/* expecting LF after size line CR */
	H1C_DATA,		/* inside chunk data */
	H1C_DATA_CR,		/* expecting CR after chunk data */
	H1C_DATA_LF,		/* expecting LF after chunk data */
	H1C_TRAILER,		/* at start of a trailer line */
	H1C_TRAILER_LINE,	/* inside a trailer line */
	H1C_TRAILER_LF,		/* expecting LF after a trailer line CR */
	H1C_END_LF,		/* expecting the final LF */
	H1C_DONE,
};

struct http1_chunked {
	enum http1_chunked_state state;
	uint64_t remaining;	/* bytes left in the current chunk */
	uint64_t body_bytes;	/* decoded payload bytes so far */
	unsigned size_digits;
	bool error;		/* sticky */
};

void http1_chunked_init(struct http1_chunked *c);
/* Feed len bytes. Returns bytes consumed (<= len); stops right after the
 * message ends (state H1C_DONE) so the caller can hand the rest to the next
 * message. Returns -1 (and sets error) on malformed framing. */
ssize_t http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);
/* n bytes of the stream were not captured. Succeeds (returns 0) only when
 * they all fall inside the current chunk's data; otherwise -1 and error. */
int http1_chunked_skip(struct http1_chunked *c, uint64_t n);

/* Split a request-target into path and query (no '?'). An absolute-form
 * target ("http://host:port/p?q") yields its path; "*" yields "*". */
void http1_split_target(const char *t, size_t tlen, const char **path,
			size_t *path_len, const char **query, size_t *query_len);

/* Cardinality-safe route from a path: segments that look like ids (all
 * digits, UUIDs, hex of 8+ chars, long mixed alnum tokens with digits) become
 * "{id}". Writes at most cap bytes (no NUL) and returns the length written. */
size_t http1_route(const char *path, size_t len, char *out, size_t cap);

#endif /* __KSPAN_HTTP1_H */
