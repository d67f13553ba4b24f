/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP span attributes, status and name that HTTP/1.x and HTTP/2 share,
 * per the OpenTelemetry semantic conventions. */
#ifndef __KSPAN_HTTPATTR_H
#define __KSPAN_HTTPATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "h1session.h"
#include "redact.h"
#include "span.h"
#include "tracectx.h"

/* One exchange as the protocol parsers saw it. Strings are slices (not
 * NUL-terminated); a zero length means unknown. */
struct http_attrs {
	bool client;			/* this process sent the request */
	const char *method;
	size_t method_len;
	const char *path;
	size_t path_len;
	const char *query;		/* raw: redacted here */
	size_t query_len;
	const char *scheme;		/* unknown: "http" */
	size_t scheme_len;
	const char *authority;		/* Host header or :authority */
	size_t authority_len;
	const char *url_base;		/* "scheme://authority" of an absolute-form
					 * target, when the request had one */
	size_t url_base_len;
	const char *version;		/* network.protocol.version: "1.1", "2" */
	int status;			/* 0: unknown */
	int64_t req_body;		/* bytes; emitted when > 0 */
	int64_t resp_body;		/* bytes; emitted when >= 0 */
	const struct redact_policy *redact;
	bool url_needs_authority;	/* no url.full from the peer's address alone
					 * (HTTP/2 joined late: :authority unknown) */
};

/* Method, URL (query redacted, url.full for clients with userinfo
 * redacted), protocol, server/client/peer endpoints and body sizes. */
void httpattr_fill(struct span *sp, const struct h1_conn_info *ci, const struct http_attrs *a);
/* ERROR status and error.type for 5xx on servers and 4xx/5xx on clients.
 * Returns true when the span is an error. */
bool httpattr_status(struct span *sp, bool client, int status);
/* "{method} {route}" for servers, where a route can be derived, else
 * "{method}" ("HTTP" for an unknown method). */
void httpattr_name(struct span *sp, const struct http_attrs *a);
bool httpattr_known_method(const char *m, size_t len);
/* "host[:port]" or "[v6]:port": the host and the port (-1 when absent). */
void httpattr_split_host(const char *h, size_t len, const char **host, size_t *hlen,
			 long *port);

/* Baggage member values kept per request for span attributes. */
#define HTTP_BAGGAGE_VAL 32
typedef char http_baggage_val[HTTP_BAGGAGE_VAL];

/* Propagated context of a request's headers. With a valid one, trace_id,
 * parent_id and flags take its values and true is returned; a propagated
 * "do not sample" without ids clears flags. */
bool httpattr_read_context(const struct http1_header *h, size_t n, unsigned propagators,
			   struct tracectx_stats *st, uint8_t trace_id[16],
			   uint8_t parent_id[8], uint8_t *flags);
/* The baggage members named by keys: val[k] and len[k] (value length + 1,
 * 0 when absent). */
void httpattr_read_baggage(const struct http1_header *h, size_t n, const char *const *keys,
			   size_t nkeys, struct tracectx_stats *st, http_baggage_val *val,
			   uint8_t *len);
/* The members found become span attributes named by their keys. */
void httpattr_baggage(struct span *sp, const char *const *keys, size_t nkeys,
		      const http_baggage_val *val, const uint8_t *len);

#endif /* __KSPAN_HTTPATTR_H */
