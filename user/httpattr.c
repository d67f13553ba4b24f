// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "http1.h"
#include "httpattr.h"

#define URL_MAX 1536

bool httpattr_known_method(const char *m, size_t len)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
		"TRACE", "PATCH",
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i]) == len && memcmp(methods[i], m, len) == 0)
			return true;
	return false;
}

void httpattr_split_host(const char *h, size_t len, const char **host, size_t *hlen,
			 long *port)
{
	const char *colon = NULL, *end = h + len;

	*port = -1;
	*host = h;
	*hlen = len;
	if (len && h[0] == '[') {
		const char *rb = memchr(h, ']', len);

		if (!rb)
			return;
		*host = h + 1;
		*hlen = rb - h - 1;
		if (rb + 1 < end && rb[1] == ':')
			colon = rb + 1;
	} else {
		colon = len ? memchr(h, ':', len) : NULL;
		if (colon)
			*hlen = colon - h;
	}
	if (colon && colon + 1 < end) {
		long p = 0;
		const char *q = colon + 1;

		for (; q < end && *q >= '0' && *q <= '9' && p <= 65535; q++)
			p = p * 10 + (*q - '0');
		if (q == end && p <= 65535)
			*port = p;
	}
}

/* url.full from the request's own words, else the peer; the query redacted
 * and userinfo never leaving the node. */
static void url_full(struct span *sp, const struct http_attrs *a, const char *peer,
		     uint16_t peer_port, const char *rquery, size_t rquery_len)
{
	char full[URL_MAX], safe[URL_MAX];
	size_t n;

	if (a->url_base_len)
		n = snprintf(full, sizeof(full), "%.*s", (int)a->url_base_len, a->url_base);
	else if (a->authority_len)
		n = snprintf(full, sizeof(full), "%.*s://%.*s",
			     a->scheme_len ? (int)a->scheme_len : 4,
			     a->scheme_len ? a->scheme : "http",
			     (int)a->authority_len, a->authority);
	else
		n = snprintf(full, sizeof(full), strchr(peer, ':') ? "%.*s://[%s]:%u" :
			     "%.*s://%s:%u", a->scheme_len ? (int)a->scheme_len : 4,
			     a->scheme_len ? a->scheme : "http", peer, peer_port);
	if (n < sizeof(full))
		n += snprintf(full + n, sizeof(full) - n, "%.*s", (int)a->path_len, a->path);
	if (n >= sizeof(full))
		n = sizeof(full) - 1;
	if (a->query_len && n + 1 + rquery_len < sizeof(full)) {
		full[n++] = '?';
		memcpy(full + n, rquery, rquery_len);
		n += rquery_len;
	}
	n = redact_userinfo(full, n, safe, sizeof(safe));
	span_attr_str(sp, "url.full", safe, n);
}

void httpattr_fill(struct span *sp, const struct h1_conn_info *ci, const struct http_attrs *a)
{
	char local[ADDR_STRLEN], peer[ADDR_STRLEN], rquery[URL_MAX];
	size_t rquery_len = 0, host_len;
	const char *host;
	long host_port;

	addr_fmt(ci->local_addr, local, sizeof(local));
	addr_fmt(ci->peer_addr, peer, sizeof(peer));
	httpattr_split_host(a->authority, a->authority_len, &host, &host_len, &host_port);
	if (a->query_len)
		rquery_len = redact_query(a->redact, a->query, a->query_len, rquery, sizeof(rquery));

	if (a->method_len && httpattr_known_method(a->method, a->method_len)) {
		span_attr_str(sp, "http.request.method", a->method, a->method_len);
	} else if (a->method_len) {
		span_attr_str(sp, "http.request.method", "_OTHER", 6);
		span_attr_str(sp, "http.request.method_original", a->method, a->method_len);
	}
	if (a->path_len)
		span_attr_str(sp, "url.path", a->path, a->path_len);
	if (a->query_len)
		span_attr_str(sp, "url.query", rquery, rquery_len);
	if (a->scheme_len)
		span_attr_str(sp, "url.scheme", a->scheme, a->scheme_len);
	else
		span_attr_str(sp, "url.scheme", "http", 4);
	if (a->status)
		span_attr_int(sp, "http.response.status_code", a->status);
	span_attr_str(sp, "network.protocol.name", "http", 4);
	span_attr_str(sp, "network.protocol.version", a->version, strlen(a->version));
	span_attr_str(sp, "network.transport", "tcp", 3);
	if (!addr_is_zero(ci->peer_addr))
		span_attr_str(sp, "network.type", addr_is_v4(ci->peer_addr) ? "ipv4" : "ipv6", 4);
	if (a->client) {
		if (a->url_base_len || a->authority_len || !a->url_needs_authority)
			url_full(sp, a, peer, ci->peer_port, rquery, rquery_len);
		if (host_len)
			span_attr_str(sp, "server.address", host, host_len);
		else
			span_attr_str(sp, "server.address", peer, strlen(peer));
		span_attr_int(sp, "server.port", ci->peer_port);
	} else {
		if (host_len)
			span_attr_str(sp, "server.address", host, host_len);
		else
			span_attr_str(sp, "server.address", local, strlen(local));
		span_attr_int(sp, "server.port", host_port >= 0 ? host_port : ci->local_port);
		span_attr_str(sp, "client.address", peer, strlen(peer));
		span_attr_int(sp, "client.port", ci->peer_port);
	}
	span_attr_str(sp, "network.peer.address", peer, strlen(peer));
	span_attr_int(sp, "network.peer.port", ci->peer_port);
	if (a->req_body > 0)
		span_attr_int(sp, "http.request.body.size", a->req_body);
	if (a->resp_body >= 0)
		span_attr_int(sp, "http.response.body.size", a->resp_body);
}

bool httpattr_status(struct span *sp, bool client, int status)
{
	char code[8];
	int n;

	if (!(status >= 500 || (client && status >= 400)))
		return false;
	sp->status = SPAN_STATUS_ERROR;
	n = snprintf(code, sizeof(code), "%d", status);
	span_attr_str(sp, "error.type", code, n);
	return true;
}

void httpattr_name(struct span *sp, const struct http_attrs *a)
{
	char route[URL_MAX];
	bool km = a->method_len && httpattr_known_method(a->method, a->method_len);
	size_t n = km ? a->method_len : 4;

	memcpy(sp->name, km ? a->method : "HTTP", n);
	if (!a->client && a->path_len && a->path[0] == '/') {
		size_t rl = http1_route(a->path, a->path_len, route, sizeof(route));
		size_t room = sizeof(sp->name) - n - 2;

		sp->name[n++] = ' ';
		if (rl > room)
			rl = room;
		memcpy(sp->name + n, route, rl);
		n += rl;
	}
	sp->name[n] = '\0';
}

bool httpattr_read_context(const struct http1_header *h, size_t n, unsigned propagators,
			   struct tracectx_stats *st, uint8_t trace_id[16],
			   uint8_t parent_id[8], uint8_t *flags)
{
	struct tracectx tc;

	if (tracectx_extract(h, n, propagators, &tc, st) == 1) {
		memcpy(trace_id, tc.trace_id, 16);
		memcpy(parent_id, tc.span_id, 8);
		*flags = tc.flags;
		return true;
	}
	if (tc.sampling == TRACECTX_SAMPLING_DROP)
		*flags = 0;
	return false;
}

void httpattr_read_baggage(const struct http1_header *h, size_t n, const char *const *keys,
			   size_t nkeys, struct tracectx_stats *st, http_baggage_val *val,
			   uint8_t *len)
{
	struct tracectx_baggage_item items[H1_BAGGAGE_KEYS];

	if (nkeys > H1_BAGGAGE_KEYS)
		nkeys = H1_BAGGAGE_KEYS;
	if (!nkeys)
		return;
	for (size_t k = 0; k < nkeys; k++)
		items[k] = (struct tracectx_baggage_item){
			.key = keys[k], .key_len = strlen(keys[k]),
			.out = val[k], .cap = HTTP_BAGGAGE_VAL,
		};
	tracectx_baggage_lookup(h, n, items, nkeys, st);
	for (size_t k = 0; k < nkeys; k++)
		len[k] = items[k].found ? items[k].len + 1 : 0;
}

void httpattr_baggage(struct span *sp, const char *const *keys, size_t nkeys,
		      const http_baggage_val *val, const uint8_t *len)
{
	for (size_t k = 0; k < nkeys && k < H1_BAGGAGE_KEYS; k++)
		if (len[k])
			span_attr_str(sp, keys[k], val[k], len[k] - 1);
}
